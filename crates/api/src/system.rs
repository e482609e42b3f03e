//! `/_ping`, `/version`, `/info`: what clients negotiate with.

use crate::http::{blocking, json, reply, Reply, Result};
use crate::routes::State;
use bollard_stubs::models as m;
use hyper::StatusCode;

pub(crate) fn ping(head: bool) -> Reply {
    let body = if head {
        crate::http::empty_body()
    } else {
        crate::http::full(bytes::Bytes::from_static(b"OK"))
    };
    let mut r = reply(StatusCode::OK, "text/plain; charset=utf-8", body);
    let h = r.headers_mut();
    h.insert(
        "Cache-Control",
        "no-cache, no-store, must-revalidate"
            .parse()
            .expect("valid"),
    );
    h.insert("Pragma", "no-cache".parse().expect("valid"));
    h.insert("Builder-Version", "1".parse().expect("valid"));
    r
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub(crate) async fn version(_s: &State) -> Result<Reply> {
    let v = m::SystemVersion {
        platform: Some(m::SystemVersionPlatform {
            name: "isola".into(),
        }),
        components: Some(vec![m::SystemVersionComponents {
            name: "Engine".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            details: None,
        }]),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        api_version: Some(crate::API_VERSION.into()),
        min_api_version: Some(crate::MIN_API_VERSION.into()),
        git_commit: Some(String::new()),
        go_version: Some(String::new()),
        os: Some("linux".into()),
        arch: Some(arch().into()),
        kernel_version: Some(kernel()),
        experimental: Some(false),
        build_time: Some(String::new()),
    };
    let mut v = serde_json::to_value(v).unwrap_or_default();
    // What `docker version` prints under "Engine" (the model types Details
    // as an empty map, so it is filled in here).
    v["Components"][0]["Details"] = serde_json::json!({
        "ApiVersion": crate::API_VERSION,
        "MinAPIVersion": crate::MIN_API_VERSION,
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": kernel(),
        "Experimental": "false",
        "GitCommit": "",
        "GoVersion": "",
        "BuildTime": "",
    });
    Ok(json(StatusCode::OK, &v))
}

pub(crate) async fn info(s: &State) -> Result<Reply> {
    let engine = s.engine.clone();
    let (i, containers) = blocking(move || Ok((engine.info()?, engine.list()?))).await?;
    let count = |st: isola_engine::Status| {
        containers.iter().filter(|c| c.state.status == st).count() as i64
    };
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    // Docker's enum names the VM mode `hyperv`.
    let isolation = match i.default_isolation.as_str() {
        "vm" => m::SystemInfoIsolationEnum::HYPERV,
        _ => m::SystemInfoIsolationEnum::PROCESS,
    };
    let info = m::SystemInfo {
        id: Some(format!("isola:{hostname}")),
        containers: Some(i.containers as i64),
        containers_running: Some(count(isola_engine::Status::Running)),
        containers_paused: Some(0),
        containers_stopped: Some(i.containers as i64 - count(isola_engine::Status::Running)),
        images: Some(i.images as i64),
        driver: Some("overlay".into()),
        docker_root_dir: Some(i.root_dir.clone()),
        memory_limit: Some(true),
        swap_limit: Some(false),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        oom_kill_disable: Some(false),
        ipv4_forwarding: Some(true),
        debug: Some(false),
        nfd: Some(0),
        n_goroutines: Some(0),
        system_time: Some(
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        ),
        logging_driver: Some("json-file".into()),
        cgroup_driver: Some(m::SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: serde_json::from_value(serde_json::json!(i.cgroup_version)).ok(),
        n_events_listener: Some(0),
        kernel_version: Some(i.kernel_version.clone()),
        operating_system: Some(i.operating_system.clone()),
        os_version: Some(String::new()),
        os_type: Some("linux".into()),
        architecture: Some(std::env::consts::ARCH.into()),
        ncpu: std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as i64),
        mem_total: Some(mem),
        index_server_address: Some("https://index.docker.io/v1/".into()),
        name: Some(hostname),
        labels: Some(vec![]),
        experimental_build: Some(false),
        server_version: Some(env!("CARGO_PKG_VERSION").into()),
        default_runtime: Some("isola".into()),
        live_restore_enabled: Some(true),
        isolation: Some(isolation),
        security_options: Some(vec!["name=seccomp,profile=builtin".into()]),
        warnings: Some(vec![]),
        ..Default::default()
    };
    let mut v = serde_json::to_value(info).unwrap_or_default();
    // isola's own view: modes available here and where the default came from.
    v["IsolaIsolationModes"] = serde_json::to_value(&i.isolation_modes).unwrap_or_default();
    v["IsolaDefaultIsolation"] = serde_json::json!(i.default_isolation);
    v["IsolaDefaultIsolationSource"] = serde_json::json!(i.default_isolation_source);
    Ok(json(StatusCode::OK, &v))
}

/// `GET /system/df`: the engine's disk usage in Docker's shape (the docker
/// CLI's `system df` sums it itself). isola has no build cache.
pub(crate) async fn df(s: &State) -> Result<Reply> {
    let engine = s.engine.clone();
    let body = blocking(move || {
        let du = engine.disk_usage()?;
        let mut images = engine.image_summaries()?;
        for image in &mut images {
            image.containers = du
                .image_rows
                .iter()
                .find(|row| row.1 == image.id)
                .map_or(0, |row| row.3 as i64);
            image.shared_size = 0;
        }
        let containers: Vec<m::ContainerSummary> = engine
            .list()?
            .iter()
            .map(|c| {
                let mut row = engine.summary(c);
                row.size_rw = du
                    .container_rows
                    .iter()
                    .find(|r| r.1 == c.id())
                    .map(|r| r.3 as i64);
                row
            })
            .collect();
        let volumes: Vec<serde_json::Value> = engine
            .volume_list()
            .into_iter()
            .map(|v| {
                let (refs, size) = du
                    .volume_rows
                    .iter()
                    .find(|r| r.0 == v.name)
                    .map_or((0, 0), |r| (r.1, r.2));
                let mut value = serde_json::to_value(&v).unwrap_or_default();
                value["UsageData"] = serde_json::json!({"Size": size, "RefCount": refs});
                value
            })
            .collect();
        Ok(serde_json::json!({
            "LayersSize": du.images.size,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        }))
    })
    .await?;
    Ok(json(StatusCode::OK, &body))
}
