//! The container's OCI runtime spec: the one contract between the engine
//! and both runtimes. The engine turns the image config, the user's flags
//! and Docker's defaults (`policy`) into a `config.json` as runc's bundle
//! would hold it; process mode runs it with `isola_runtime_process::oci`,
//! VM mode sends it to the guest agent, which runs it with the same code.
//! VM-only settings (guest RAM, vCPUs, kernel) live beside it, not in it.

use crate::backend::main_process;
use crate::net::NetworkMode;
use crate::policy;
use crate::store::Container;
use crate::{io_err, Error, Result};
use isola_runtime_process::linux::INIT_PATH;
use isola_runtime_process::oci::{
    ANNOTATION_ALL_DEVICES, ANNOTATION_DEVICE_SOURCES, ANNOTATION_GROUPS, ANNOTATION_USER,
};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Where the runtime that will run the spec finds things: these differ
/// between the host and a VM's guest, the rest of the spec does not.
pub(crate) struct Placement {
    /// The container's root file system, as the runtime mounts it.
    pub root: PathBuf,
    /// Files bound into the container: (source, destination).
    pub binds: Vec<(PathBuf, String)>,
    /// `--init`'s binary, if asked for.
    pub init: Option<PathBuf>,
    /// Where the runtime finds the sources of binds and volumes: `None`
    /// at their host paths; `Some(dir)` at `dir/<n>` for the n-th of them
    /// (a VM's guest, which gets them as shares in that order).
    pub shares: Option<PathBuf>,
    /// The runtime is a VM's guest agent: a networked container uses the
    /// guest's own network stack (whose NIC sits in the container's
    /// namespace on the host), not a namespace path of the host's.
    pub vm_guest: bool,
}

/// The spec of container `c` for a runtime placed as `placement`.
pub(crate) fn build(c: &Container, placement: &Placement) -> Result<Spec> {
    let h = &c.config.host_config;
    let cfg = &c.config.config;
    let process = main_process(c);
    let linux = policy::linux(h);

    // Capabilities by the spec's names; "every capability" as all we know.
    let caps: Vec<String> = if process.capabilities.iter().any(|c| c == "ALL") {
        isola_runtime_process::capabilities::known()
    } else {
        process.capabilities.clone()
    };
    let rlimits: Vec<Value> = process
        .rlimits
        .iter()
        .map(|r| json!({"type": format!("RLIMIT_{}", r.kind.to_uppercase()), "soft": r.soft, "hard": r.hard}))
        .collect();

    let nosuid_noexec_nodev = ["nosuid", "noexec", "nodev"];
    let shm_kib = linux.shm_size.unwrap_or(64 << 20).div_ceil(1024);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": nosuid_noexec_nodev}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": [if linux.sys_writable { "rw" } else { "ro" }, "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": nosuid_noexec_nodev}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_kib}k")]}),
    ];
    let mut copy_up = Vec::new();
    for (n, m) in c.config.mounts.iter().filter(|m| m.is_shared()).enumerate() {
        let source = match &placement.shares {
            Some(dir) => dir.join(n.to_string()),
            None => m.source.clone(),
        };
        mounts.push(json!({"destination": m.destination, "type": "bind", "source": source, "options": m.oci_options()}));
        if m.copy_up {
            copy_up.push(m.destination.clone());
        }
    }
    for m in c.config.mounts.iter().filter(|m| !m.is_shared()) {
        mounts.push(json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": m.oci_options()}));
    }
    // The engine's files go over the user's mounts (a bind of /etc keeps
    // the container's own hosts and resolv.conf), as Docker does.
    // With --read-only they are read-only too, as in Docker.
    let access = if h.readonly_rootfs { "ro" } else { "rw" };
    for (source, dest) in &placement.binds {
        mounts.push(json!({"destination": dest, "type": "bind", "source": source, "options": ["rbind", "rprivate", access]}));
    }
    if let Some(init) = &placement.init {
        mounts.push(json!({"destination": INIT_PATH, "type": "bind", "source": init, "options": ["bind", "ro"]}));
    }

    let mut namespaces = vec![json!({"type": "mount"}), json!({"type": "cgroup"})];
    // `--pid`/`--ipc`/`--uts`: left out for the host's, a path for another
    // container's (its namespace while it runs).
    for (kind, ns, mode) in [
        ("pid", "pid", &h.pid_mode),
        ("ipc", "ipc", &h.ipc_mode),
        ("uts", "uts", &h.uts_mode),
    ] {
        match mode.strip_prefix("container:") {
            // Left out: the runtime's own (the host's, on the host).
            _ if mode == "host" => {}
            Some(id) => namespaces
                .push(json!({"type": kind, "path": crate::net::container_ns(c.root(), id, ns)?})),
            None => namespaces.push(json!({"type": kind})),
        }
    }
    match (c.network_mode(), placement.vm_guest) {
        (NetworkMode::Host, _) | (NetworkMode::Bridge(_), true) => {}
        (NetworkMode::None, _) | (NetworkMode::Container(_), true) => {
            namespaces.push(json!({"type": "network"}))
        }
        (NetworkMode::Bridge(_), false) => {
            namespaces.push(json!({"type": "network", "path": c.netns_path()}))
        }
        (NetworkMode::Container(id), false) => namespaces
            .push(json!({"type": "network", "path": crate::net::container_netns(c.root(), &id)?})),
    }

    // The allow-list on top of a deny-all, as Docker writes it.
    let mut device_rules = vec![json!({"allow": false, "access": "rwm"})];
    let rules = if linux.all_devices {
        vec!["a *:* rwm".to_string()]
    } else {
        linux.device_rules.clone()
    };
    for r in &rules {
        let rule = isola_runtime_process::devices::Rule::parse(r)
            .ok_or_else(|| Error::Invalid(format!("device rule {r:?}")))?;
        device_rules.push(device_rule(&rule));
    }
    // `--device`s: listed with the numbers they have here where they exist
    // (informative for other runtimes); the runtime reads them again from
    // their source where it runs.
    let mut devices = Vec::new();
    let mut sources = serde_json::Map::new();
    for d in &h.devices {
        let (typ, major, minor) = host_numbers(Path::new(&d.source)).unwrap_or(("c", 0, 0));
        devices.push(
            json!({"path": d.path, "type": typ, "major": major, "minor": minor, "fileMode": 0o666}),
        );
        sources.insert(d.path.clone(), json!([d.source, d.access]));
    }

    let limits = crate::backend::limits(c);
    let mut resources = json!({"devices": device_rules});
    if let Some(m) = limits.memory_bytes {
        // Docker's default --memory-swap is twice --memory.
        resources["memory"] = json!({"limit": m, "swap": 2 * m});
    }
    if limits.oom_kill_disable {
        resources["memory"]["disableOOMKiller"] = json!(true);
    }
    if let Some(swap) = limits.memory_swap {
        resources["memory"]["swap"] = json!(swap);
    }
    if let Some(n) = limits.nano_cpus {
        resources["cpu"] = json!({"quota": n / 10_000, "period": 100_000});
    }
    if let Some(shares) = limits.cpu_shares {
        resources["cpu"]["shares"] = json!(shares);
    }
    if let Some(cpus) = &limits.cpuset_cpus {
        resources["cpu"]["cpus"] = json!(cpus);
    }
    if let Some(p) = limits.pids {
        resources["pids"] = json!({"limit": p});
    }

    let mut annotations = serde_json::Map::new();
    annotations.insert(ANNOTATION_USER.into(), json!(process.user));
    if !process.additional_groups.is_empty() {
        annotations.insert(
            ANNOTATION_GROUPS.into(),
            json!(process.additional_groups.join(",")),
        );
    }
    if !sources.is_empty() {
        annotations.insert(
            ANNOTATION_DEVICE_SOURCES.into(),
            json!(Value::Object(sources).to_string()),
        );
    }
    if linux.all_devices {
        annotations.insert(ANNOTATION_ALL_DEVICES.into(), json!("true"));
    }
    if !copy_up.is_empty() {
        annotations.insert(
            isola_runtime_process::volume::ANNOTATION_COPY_UP.into(),
            json!(json!(copy_up).to_string()),
        );
    }
    for (k, v) in &cfg.labels {
        annotations.insert(k.clone(), json!(v));
    }
    if placement.vm_guest {
        // The guest configures its NIC (if any) like the container's veth,
        // and the container gets the engine's hosts and resolv.conf (with
        // --network none too: loopback names and the host's resolvers).
        let mut endpoints: Vec<&crate::net::Endpoint> = h.networks.values().collect();
        endpoints.sort_by(|a, b| a.interface.cmp(&b.interface));
        let interfaces: Vec<Value> = endpoints
            .iter()
            .map(|e| json!({"mac": e.mac_address, "address": format!("{}/{}", e.ip_address, e.ip_prefix_len), "gateway": e.gateway}))
            .collect();
        let read = |f: &str| std::fs::read_to_string(c.dir.join(f)).unwrap_or_default();
        annotations.insert(
            isola_runtime_process::oci::ANNOTATION_GUEST_NETWORK.into(),
            json!(json!({"interfaces": interfaces, "hosts": read("hosts"), "resolv": read("resolv.conf")}).to_string()),
        );
    }

    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": cfg.tty,
            "user": {"uid": 0, "gid": 0},
            "args": process.args,
            "env": process.env,
            "cwd": if process.cwd.is_empty() { "/".to_string() } else { process.cwd.clone() },
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": rlimits,
            "noNewPrivileges": process.no_new_privileges,
        },
        "root": {"path": placement.root, "readonly": h.readonly_rootfs},
        "hostname": cfg.hostname,
        "mounts": mounts,
        "annotations": annotations,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": linux.masked_paths,
            "readonlyPaths": linux.readonly_paths,
            "devices": devices,
            "resources": resources,
            "seccomp": process.seccomp,
            "sysctl": linux.sysctls,
        },
    });
    serde_json::from_value(spec).map_err(|e| Error::Invalid(format!("building the OCI spec: {e}")))
}

fn device_rule(r: &isola_runtime_process::devices::Rule) -> Value {
    use isola_runtime_process::devices::{Kind, MKNOD, READ, WRITE};
    let mut access = String::new();
    for (bit, ch) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
        if r.access & bit != 0 {
            access.push(ch);
        }
    }
    let mut v = json!({"allow": true, "access": access});
    match r.kind {
        Kind::Char => v["type"] = json!("c"),
        Kind::Block => v["type"] = json!("b"),
        Kind::Any => v["type"] = json!("a"),
    }
    if let Some(m) = r.major {
        v["major"] = json!(m);
    }
    if let Some(m) = r.minor {
        v["minor"] = json!(m);
    }
    v
}

fn host_numbers(path: &Path) -> Option<(&'static str, u64, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::metadata(path).ok()?;
    let typ = if m.file_type().is_block_device() {
        "b"
    } else if m.file_type().is_char_device() {
        "c"
    } else {
        return None;
    };
    Some((
        typ,
        nix::sys::stat::major(m.rdev()),
        nix::sys::stat::minor(m.rdev()),
    ))
}

/// Writes `spec` as the container's bundle, `DIR/bundle/config.json`, the
/// file runc would read (root-only, like the rest of the state).
pub(crate) fn write_bundle(c: &Container, spec: &Spec) -> Result<PathBuf> {
    let dir = c.dir.join("bundle");
    crate::store::secure_dir(&dir, crate::store::PRIVATE_DIR)?;
    let path = dir.join("config.json");
    crate::store::write_json_atomic(&path, spec)?;
    Ok(path)
}

/// Reads a bundle's spec back.
pub(crate) fn read_bundle(path: &Path) -> Result<Spec> {
    let data = std::fs::read(path).map_err(io_err(format!("reading {}", path.display())))?;
    serde_json::from_slice(&data).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Container, ContainerConfig};
    use isola_runtime_process::oci::from_spec;
    use isola_runtime_process::Network;

    fn container(host: Value) -> Container {
        let mut host_config = json!({
            "Isolation": "process", "Memory": 64 << 20, "NanoCpus": 500_000_000u64, "PidsLimit": 10,
            "NetworkMode": "none", "ReadonlyRootfs": true, "AutoRemove": false,
        });
        for (k, v) in host.as_object().unwrap() {
            host_config[k] = v.clone();
        }
        let config: ContainerConfig = serde_json::from_value(json!({
            "id": "0".repeat(64), "name": "t", "created": "", "image_id": "", "path": "sh",
            "args": ["-c", "true"],
            "config": {"Hostname": "h0st", "User": "nobody", "Env": ["A=1"], "Cmd": [], "Entrypoint": [],
                       "WorkingDir": "/w", "Tty": true, "OpenStdin": false, "Image": "busybox",
                       "Labels": {"team": "infra"}},
            "host_config": host_config,
            "layers": [],
        }))
        .unwrap();
        Container { config, state: serde_json::from_value(json!({
            "status": "created", "pid": 0, "pid_start": 0, "monitor_pid": 0, "monitor_start": 0,
            "exit_code": 0, "error": "", "oom_killed": false, "started_at": null, "finished_at": null,
        })).unwrap(), dir: "/c".into() }
    }

    fn placement() -> Placement {
        Placement {
            root: "/c/rootfs".into(),
            binds: vec![("/c/hosts".into(), "/etc/hosts".into())],
            init: Some("/usr/bin/tini-static".into()),
            shares: None,
            vm_guest: false,
        }
    }

    #[test]
    fn the_spec_translates_back_to_what_the_engine_meant() {
        let c = container(json!({
            "CapAdd": ["CAP_NET_ADMIN"], "CapDrop": ["CAP_MKNOD"],
            "SecurityOpt": ["no-new-privileges=true"],
            "Ulimits": [{"kind": "nofile", "soft": 100, "hard": 200}],
            "GroupAdd": ["audio"], "Sysctls": {"kernel.shmmni": "1234"}, "ShmSize": 33554432,
            "Devices": [{"source": "/dev/null", "path": "/dev/mynull", "access": "r"}],
            "Init": true,
        }));
        let spec = build(&c, &placement()).unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        // It serialises and reads back as a spec.
        let _: Spec = serde_json::from_str(&json).unwrap();
        let run = from_spec(&spec).unwrap();
        let mut want = main_process(&c);
        want.capabilities.sort();
        let mut got = run.process.clone();
        got.capabilities.sort();
        assert_eq!(got, want);
        assert!(got.capabilities.contains(&"CAP_NET_ADMIN".into()));
        assert!(!got.capabilities.contains(&"CAP_MKNOD".into()));
        assert!(run.terminal && run.readonly);
        assert_eq!(run.hostname, "h0st");
        assert_eq!(run.network, Network::None);
        assert_eq!(run.root, PathBuf::from("/c/rootfs"));
        let mut hosts = isola_runtime_process::UserMount::bind("/c/hosts", "/etc/hosts");
        hosts.kind = isola_runtime_process::MountKind::Bind {
            source: "/c/hosts".into(),
            recursive: true,
        };
        // --read-only: the engine's /etc files are read-only too (Docker).
        hosts.readonly = true;
        assert_eq!(run.mounts, vec![hosts]);
        assert_eq!(run.linux.init, Some(PathBuf::from("/usr/bin/tini-static")));
        assert_eq!(run.linux.shm_size, Some(32 << 20));
        assert_eq!(
            run.linux.sysctls.get("kernel.shmmni").map(String::as_str),
            Some("1234")
        );
        assert_eq!(run.linux.masked_paths, policy::MASKED_PATHS);
        assert_eq!(run.linux.readonly_paths, policy::READONLY_PATHS);
        for rule in policy::DEVICE_RULES {
            assert!(run.linux.device_rules.iter().any(|r| r == rule), "{rule}");
        }
        let mine = run
            .linux
            .devices
            .iter()
            .find(|d| d.path == "/dev/mynull")
            .unwrap();
        assert_eq!(
            (mine.source.as_str(), mine.access.as_str()),
            ("/dev/null", "r")
        );
        assert_eq!(run.limits, crate::backend::limits(&c));
        assert!(!run.linux.sys_writable && !run.linux.all_devices);
    }

    #[test]
    fn user_mounts_keep_their_order_options_and_guest_sources() {
        use crate::volumes::{parse_tmpfs_flag, parse_volume_flag};
        use isola_runtime_process::MountKind;
        let mut c = container(json!({}));
        let mut vol = parse_volume_flag("data:/data").unwrap().point;
        vol.source = "/root/volumes/data/_data".into();
        c.config.mounts = vec![
            parse_volume_flag("/srv:/srv:ro").unwrap().point,
            vol,
            parse_tmpfs_flag("/t:size=1k").unwrap().point,
        ];
        let host = from_spec(&build(&c, &placement()).unwrap()).unwrap();
        assert_eq!(host.mounts.len(), 4, "{:?}", host.mounts);
        assert_eq!(
            host.mounts[0].kind,
            MountKind::Bind {
                source: "/srv".into(),
                recursive: true
            }
        );
        assert!(host.mounts[0].readonly && !host.mounts[0].copy_up);
        assert!(host.mounts[1].copy_up, "volumes are filled from the image");
        assert_eq!(
            host.mounts[2].kind,
            MountKind::Tmpfs {
                data: "size=1024".into()
            }
        );
        assert!(host.mounts[2].noexec && host.mounts[2].nosuid);
        assert_eq!(
            host.mounts[3].destination, "/etc/hosts",
            "engine files last"
        );
        // In a VM the same mounts come from the shares, in order.
        let mut guest = placement();
        guest.shares = Some("/run/isola/shares".into());
        let vm = from_spec(&build(&c, &guest).unwrap()).unwrap();
        assert_eq!(
            vm.mounts[1].kind,
            MountKind::Bind {
                source: "/run/isola/shares/1".into(),
                recursive: true
            }
        );
    }

    #[test]
    fn privileged_and_host_network_round_trip() {
        let c = container(json!({"Privileged": true, "NetworkMode": "host"}));
        let run = from_spec(&build(&c, &placement()).unwrap()).unwrap();
        assert_eq!(run.process.capabilities, vec!["ALL".to_string()]);
        assert_eq!(run.process.seccomp, None);
        assert!(run.linux.all_devices && run.linux.sys_writable);
        assert!(run.linux.masked_paths.is_empty() && run.linux.readonly_paths.is_empty());
        assert_eq!(run.network, Network::Host);
    }

    #[test]
    fn a_bridged_container_joins_its_namespace_and_a_guest_gets_its_nic() {
        let mut c = container(json!({"NetworkMode": "bridge", "Networks": {"bridge": {
            "NetworkID": "n", "IPAddress": "10.89.0.7", "IPPrefixLen": 24, "Gateway": "10.89.0.1",
            "MacAddress": "02:42:0a:59:00:07", "Aliases": [], "Interface": "eth0"}}}));
        c.dir = "/r/containers/abc".into();
        let run = from_spec(&build(&c, &placement()).unwrap()).unwrap();
        assert_eq!(
            run.network,
            Network::Join(
                "/r/netns/0000000000000000000000000000000000000000000000000000000000000000".into()
            )
        );
        // In a VM the container uses the guest's stack, which the agent
        // configures from the annotation.
        let guest = Placement {
            vm_guest: true,
            ..placement()
        };
        let spec = build(&c, &guest).unwrap();
        assert_eq!(from_spec(&spec).unwrap().network, Network::Host);
        let ann = &spec.annotations().as_ref().unwrap()
            [isola_runtime_process::oci::ANNOTATION_GUEST_NETWORK];
        let v: Value = serde_json::from_str(ann).unwrap();
        assert_eq!(v["interfaces"][0]["address"], "10.89.0.7/24");
        assert_eq!(v["interfaces"][0]["mac"], "02:42:0a:59:00:07");
        assert_eq!(v["interfaces"][0]["gateway"], "10.89.0.1");
        // --network none stays loopback only in both; the guest still gets
        // the container's hosts and resolv.conf, and no interface.
        let none = container(json!({"NetworkMode": "none"}));
        let spec = build(&none, &guest).unwrap();
        assert_eq!(from_spec(&spec).unwrap().network, Network::None);
        let ann = &spec.annotations().as_ref().unwrap()
            [isola_runtime_process::oci::ANNOTATION_GUEST_NETWORK];
        let v: Value = serde_json::from_str(ann).unwrap();
        assert_eq!(v["interfaces"], json!([]));
    }
}
