//! `/containers/...`: the engine's lifecycle behind Docker's endpoints.

use crate::http::{
    blocking, filters, flag, json, no_content, query, read_json, reply, stream, ApiError, Reply,
    Result,
};
use crate::routes::{PendingAttach, State};
use bollard_stubs::models as m;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{header, Request, StatusCode};
use isola_engine::{Container, CreateOptions, NetworkOptions, Status};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The body of `POST /containers/create`: the container's `Config` with
/// `HostConfig` and `NetworkingConfig` beside its keys.
#[derive(Debug, Default, Deserialize)]
struct CreateBody {
    #[serde(flatten)]
    config: m::ContainerConfig,
    #[serde(rename = "HostConfig", default)]
    host_config: Option<m::HostConfig>,
}

async fn lookup(s: &State, id: &str) -> Result<Container> {
    let engine = s.engine.clone();
    let id = id.to_string();
    blocking(move || Ok(engine.lookup(&id)?)).await
}

/// Docker's `HostConfig.Isolation`: `hyperv` is isola's VM mode, an empty
/// value or `default` the host's default (and its isolation rules).
fn isolation(h: &m::HostConfig) -> Option<String> {
    let v = serde_json::to_value(h.isolation?).ok()?;
    match v.as_str()? {
        "" | "default" => None,
        other => Some(other.to_string()),
    }
}

fn create_options(name: Option<String>, body: CreateBody) -> Result<CreateOptions> {
    let c = body.config;
    let h = body.host_config.unwrap_or_default();
    let image = c
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad("config without an image: set Image"))?;
    // isola's --entrypoint is one program; further entrypoint words lead
    // the command, which gives the container the same argv.
    let mut command = c.cmd.clone().unwrap_or_default();
    let entrypoint = c.entrypoint.clone().map(|mut ep| {
        if ep.is_empty() {
            String::new()
        } else {
            let first = ep.remove(0);
            ep.append(&mut command);
            command = ep;
            first
        }
    });
    let mut publish = Vec::new();
    for (port, bindings) in h.port_bindings.clone().unwrap_or_default() {
        for b in bindings.unwrap_or_default() {
            let ip = b.host_ip.unwrap_or_default();
            let hp = b.host_port.unwrap_or_default();
            publish.push(match (ip.is_empty(), hp.is_empty()) {
                (true, true) => port.clone(),
                (true, false) => format!("{hp}:{port}"),
                (false, _) => format!("{ip}:{hp}:{port}"),
            });
        }
    }
    let mounts = h
        .mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|mt| {
            let typ = serde_json::to_value(mt.typ).ok();
            let mut parts = vec![format!(
                "type={}",
                typ.as_ref().and_then(|t| t.as_str()).unwrap_or("volume")
            )];
            if let Some(src) = mt.source.filter(|s| !s.is_empty()) {
                parts.push(format!("source={src}"));
            }
            if let Some(t) = mt.target {
                parts.push(format!("target={t}"));
            }
            if mt.read_only == Some(true) {
                parts.push("readonly".into());
            }
            parts.join(",")
        })
        .collect();
    let network = h
        .network_mode
        .clone()
        .filter(|n| !n.is_empty() && n != "default");
    Ok(CreateOptions {
        image,
        name,
        command,
        entrypoint,
        env: c.env.clone().unwrap_or_default(),
        workdir: c.working_dir.clone().filter(|w| !w.is_empty()),
        user: c.user.clone().filter(|u| !u.is_empty()),
        hostname: c.hostname.clone().filter(|h| !h.is_empty()),
        tty: c.tty.unwrap_or(false),
        open_stdin: c.open_stdin.unwrap_or(false),
        read_only: h.readonly_rootfs.unwrap_or(false),
        memory: h.memory.filter(|m| *m > 0).map(|m| m as u64),
        nano_cpus: h.nano_cpus.filter(|n| *n > 0).map(|n| n as u64),
        pids_limit: h.pids_limit.filter(|p| *p != 0),
        network: NetworkOptions {
            network,
            publish,
            publish_all: h.publish_all_ports.unwrap_or(false),
            add_hosts: h.extra_hosts.clone().unwrap_or_default(),
            dns: h.dns.clone().unwrap_or_default(),
            dns_search: h.dns_search.clone().unwrap_or_default(),
            ..Default::default()
        },
        isolation: isolation(&h),
        auto_remove: h.auto_remove.unwrap_or(false),
        cap_add: h.cap_add.clone().unwrap_or_default(),
        cap_drop: h.cap_drop.clone().unwrap_or_default(),
        privileged: h.privileged.unwrap_or(false),
        security_opt: h.security_opt.clone().unwrap_or_default(),
        labels: c
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        stop_signal: c.stop_signal.clone().filter(|s| !s.is_empty()),
        stop_timeout: c.stop_timeout,
        devices: h
            .devices
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| {
                let host = d.path_on_host?;
                let inside = d.path_in_container.unwrap_or_else(|| host.clone());
                Some(format!("{host}:{inside}"))
            })
            .collect(),
        sysctls: h
            .sysctls
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        shm_size: h.shm_size.filter(|s| *s > 0).map(|s| s as u64),
        ulimits: h
            .ulimits
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|u| Some(format!("{}={}:{}", u.name?, u.soft?, u.hard?)))
            .collect(),
        group_add: h.group_add.clone().unwrap_or_default(),
        init: h.init.unwrap_or(false),
        volumes: h.binds.clone().unwrap_or_default(),
        mounts,
        tmpfs: h
            .tmpfs
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(d, o)| if o.is_empty() { d } else { format!("{d}:{o}") })
            .collect(),
        restart: restart_policy(h.restart_policy.as_ref())?.unwrap_or_default(),
        health: Default::default(),
        pid_mode: h.pid_mode.clone().filter(|m| !m.is_empty()),
        ipc_mode: h.ipc_mode.clone().filter(|m| !m.is_empty()),
        uts_mode: h.uts_mode.clone().filter(|m| !m.is_empty()),
        memory_swap: h.memory_swap.filter(|m| *m != 0),
        cpu_shares: h.cpu_shares.filter(|v| *v > 0).map(|v| v as u64),
        cpuset_cpus: h.cpuset_cpus.clone().filter(|v| !v.is_empty()),
        oom_kill_disable: h.oom_kill_disable.unwrap_or(false),
        // The client sends `--expose`d ports (and -p's) as ExposedPorts.
        expose: c
            .exposed_ports
            .clone()
            .unwrap_or_default()
            .into_keys()
            .collect(),
    })
}

/// Docker's `RestartPolicy` object as the engine's policy (`None`: not given).
fn restart_policy(p: Option<&m::RestartPolicy>) -> Result<Option<isola_engine::RestartPolicy>> {
    let Some(p) = p else { return Ok(None) };
    let name = serde_json::to_value(p.name).ok();
    let name = name.as_ref().and_then(|n| n.as_str()).unwrap_or("");
    let text = match (name, p.maximum_retry_count.unwrap_or(0)) {
        ("" | "no", _) => "no".to_string(),
        ("on-failure", n) if n > 0 => format!("on-failure:{n}"),
        (other, _) => other.to_string(),
    };
    isola_engine::RestartPolicy::parse(&text)
        .map(Some)
        .map_err(|e| ApiError::bad(format!("RestartPolicy: {e}")))
}

/// `POST /containers/{id}/update`: Docker's resources object plus
/// `RestartPolicy`. Zero means "not given", as the docker CLI leaves out
/// what was not asked for.
#[derive(Default, Deserialize)]
struct UpdateBody {
    #[serde(flatten)]
    resources: m::Resources,
    #[serde(rename = "RestartPolicy")]
    restart_policy: Option<m::RestartPolicy>,
}

pub(crate) async fn update(s: &State, id: &str, req: Request<Incoming>) -> Result<Reply> {
    let c = lookup(s, id).await?;
    let body: UpdateBody = read_json(req.into_body()).await?;
    let r = &body.resources;
    let positive = |v: Option<i64>| v.filter(|v| *v > 0).map(|v| v as u64);
    let nano_cpus = match (
        positive(r.nano_cpus),
        positive(r.cpu_quota),
        positive(r.cpu_period),
    ) {
        (Some(n), _, _) => Some(n),
        // --cpu-quota/--cpu-period as a CPU count, as the engine keeps it.
        (None, Some(quota), period) => Some(quota * 1_000_000_000 / period.unwrap_or(100_000)),
        _ => None,
    };
    let options = isola_engine::UpdateOptions {
        memory: positive(r.memory),
        memory_swap: r.memory_swap.filter(|v| *v != 0),
        nano_cpus,
        cpu_shares: positive(r.cpu_shares),
        cpuset_cpus: r.cpuset_cpus.clone().filter(|v| !v.is_empty()),
        pids_limit: r.pids_limit.filter(|v| *v != 0),
        restart: restart_policy(body.restart_policy.as_ref())?,
    };
    let engine = s.engine.clone();
    blocking(move || Ok(engine.update(&c, &options)?)).await?;
    Ok(json(
        StatusCode::OK,
        &m::ContainerUpdateResponse {
            warnings: Some(Vec::new()),
        },
    ))
}

pub(crate) async fn create(s: &State, req: Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let name = q.get("name").filter(|n| !n.is_empty()).cloned();
    let mut raw: serde_json::Value = read_json(req.into_body()).await?;
    // isola's own name for the VM mode, which Docker's enum lacks.
    if raw["HostConfig"]["Isolation"] == "vm" {
        raw["HostConfig"]["Isolation"] = "hyperv".into();
    }
    let body: CreateBody = if raw.is_null() {
        CreateBody::default()
    } else {
        serde_json::from_value(raw).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))?
    };
    let size = crate::streams::console_size(
        body.host_config
            .as_ref()
            .and_then(|h| h.console_size.as_ref()),
    );
    let opts = create_options(name, body)?;
    let engine = s.engine.clone();
    let c = blocking(move || Ok(engine.create(opts)?)).await?;
    if let (Some(size), true, Ok(mut m)) = (size, c.config.config.tty, s.console.lock()) {
        m.insert(c.id().to_string(), size);
    }
    Ok(json(
        StatusCode::CREATED,
        &m::ContainerCreateResponse {
            id: c.id().to_string(),
            warnings: vec![],
        },
    ))
}

pub(crate) async fn list(s: &State, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let all = flag(&q, "all");
    let limit: Option<usize> = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let f = isola_engine::Filters::parse(&filters(&q)?)?;
    let engine = s.engine.clone();
    let rows = blocking(move || {
        let mut list: Vec<Container> = engine
            .list()?
            .into_iter()
            .filter(|c| all || limit.is_some() || c.state.status == Status::Running)
            .filter(|c| f.matches(c))
            .collect();
        // Docker lists the newest first.
        list.sort_by(|a, b| b.config.created.cmp(&a.config.created));
        if let Some(n) = limit {
            list.truncate(n);
        }
        Ok(list.iter().map(|c| engine.summary(c)).collect::<Vec<_>>())
    })
    .await?;
    Ok(json(StatusCode::OK, &rows))
}

pub(crate) async fn inspect(s: &State, id: &str) -> Result<Reply> {
    let engine = s.engine.clone();
    let id = id.to_string();
    let v = blocking(move || Ok(engine.inspect(&engine.lookup(&id)?))).await?;
    Ok(json(StatusCode::OK, &v))
}

/// Whether the container has run since `before` was looked at (or is gone:
/// `--rm` removed it after it ran).
async fn has_run_since(s: &State, before: &Container) -> bool {
    match lookup(s, before.id()).await {
        Ok(now) => {
            now.state.status == Status::Running
                || now.state.started_at != before.state.started_at
                || now.state.finished_at != before.state.finished_at
        }
        Err(_) => true,
    }
}

pub(crate) async fn start(s: &Arc<State>, id: &str) -> Result<Reply> {
    let c = lookup(s, id).await?;
    if c.state.status == Status::Running {
        return Ok(reply(
            StatusCode::NOT_MODIFIED,
            "",
            crate::http::empty_body(),
        ));
    }
    let pending = s.pending.lock().ok().and_then(|mut p| p.remove(c.id()));
    let Some(p) = pending else {
        start_detached(s, c.id()).await?;
        return Ok(no_content());
    };
    // Attached: the CLI's `isola start -a [-i]` relays the streams.
    let mut args = s.child_args();
    args.extend(["start".into(), "-a".into()]);
    if p.stdin {
        args.push("-i".into());
    }
    args.push(c.id().to_string());
    let tty = c.config.config.tty;
    let size = s.console.lock().ok().and_then(|mut m| m.remove(c.id()));
    let mut spawned = crate::streams::spawn(&s.exe, &args, tty, p.stdin, size)
        .map_err(|e| ApiError::internal(format!("starting the attach process: {e}")))?;
    // Known before the container can end: a `wait` that sees it removed
    // (`--rm`) takes the exit code from here.
    if let Ok(mut sessions) = s.sessions.lock() {
        sessions.insert(c.id().to_string(), spawned.session.clone());
    }
    // Reply once the container runs (or ran), or with the child's error.
    let failed = loop {
        if has_run_since(s, &c).await {
            break None;
        }
        if let Ok(Some(_)) = spawned.child.try_wait() {
            if has_run_since(s, &c).await {
                break None;
            }
            break Some(child_error(&mut spawned).await);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    if let Some(message) = failed {
        let now = lookup(s, c.id()).await.ok();
        let status = match now.map(|n| n.state.exit_code) {
            Some(126 | 127) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        return Err(ApiError::new(status, message));
    }
    let (stdin, stdout, stderr) = (p.stdin, p.stdout, p.stderr);
    let (state, key, session) = (s.clone(), c.id().to_string(), spawned.session.clone());
    tokio::spawn(async move {
        crate::streams::relay_upgraded(p.upgrade, spawned, stdin, stdout, stderr).await;
        // Kept a while for a `wait` that has yet to look, then forgotten.
        tokio::time::sleep(Duration::from_secs(60)).await;
        if let Ok(mut m) = state.sessions.lock() {
            if m.get(&key).is_some_and(|cur| Arc::ptr_eq(cur, &session)) {
                m.remove(&key);
            }
        }
    });
    Ok(no_content())
}

/// Starts a container with the CLI's `isola start` as a child: the
/// container's monitor is then the child of a process that exits at once,
/// never of this long-lived service (which would have to reap it, and a
/// reaper of any pid would take the exit statuses tokio waits for).
async fn start_detached(s: &State, id: &str) -> Result<()> {
    let out = tokio::process::Command::new(&s.exe)
        .args(s.child_args())
        .args(["start", id])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("running isola start: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let message = crate::streams::error_line(&String::from_utf8_lossy(&out.stderr));
    Err(ApiError::new(
        match out.status.code() {
            Some(126 | 127) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        message,
    ))
}

/// The error line of a child `isola` that failed before the container ran.
async fn child_error(spawned: &mut crate::streams::Spawned) -> String {
    use tokio::io::AsyncReadExt;
    let mut text = String::new();
    match &mut spawned.ends {
        crate::streams::Ends::Pipes { stderr, .. } => {
            let _ = stderr.read_to_string(&mut text).await;
        }
        crate::streams::Ends::Pty { master } => {
            let mut buf = vec![0u8; 4096];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(200), master.read(&mut buf)).await
            {
                text = String::from_utf8_lossy(&buf[..n]).into_owned();
            }
        }
    }
    crate::streams::error_line(&text)
}

fn timeout(q: &HashMap<String, String>) -> Option<Duration> {
    q.get("t")
        .or_else(|| q.get("timeout"))
        .and_then(|t| t.parse::<i64>().ok())
        .map(|t| Duration::from_secs(t.max(0) as u64))
}

pub(crate) async fn stop(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let c = lookup(s, id).await?;
    if c.state.status != Status::Running {
        return Ok(reply(
            StatusCode::NOT_MODIFIED,
            "",
            crate::http::empty_body(),
        ));
    }
    let t = timeout(&q);
    let engine = s.engine.clone();
    blocking(move || Ok(engine.stop(&c, t)?)).await?;
    Ok(no_content())
}

pub(crate) async fn restart(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let c = lookup(s, id).await?;
    let t = timeout(&q);
    let engine = s.engine.clone();
    let key = c.id().to_string();
    blocking(move || Ok(engine.stop(&c, t)?)).await?;
    start_detached(s, &key).await?;
    Ok(no_content())
}

pub(crate) async fn kill(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let sig = q
        .get("signal")
        .filter(|v| !v.is_empty())
        .map_or("SIGKILL", String::as_str);
    let sig = isola_engine::parse_signal(sig).map_err(|e| ApiError::bad(e.to_string()))?;
    let c = lookup(s, id).await?;
    let engine = s.engine.clone();
    blocking(move || Ok(engine.kill(&c, sig)?)).await?;
    Ok(no_content())
}

pub(crate) async fn remove(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let (force, volumes) = (flag(&q, "force"), flag(&q, "v"));
    let c = lookup(s, id).await?;
    let engine = s.engine.clone();
    blocking(move || Ok(engine.remove(&c, force, volumes)?)).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/wait`: the headers go out at once (the docker CLI
/// starts the container only after it has them), the exit code when the
/// condition is met.
pub(crate) async fn wait(s: &Arc<State>, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let condition = q
        .get("condition")
        .cloned()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "not-running".into());
    if !matches!(condition.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad(format!(
            "invalid condition {condition:?}: use not-running, next-exit or removed"
        )));
    }
    let asked = std::time::Instant::now();
    let before = lookup(s, id).await?;
    let (tx, r) = stream(StatusCode::OK, "application/json");
    let s = s.clone();
    tokio::spawn(async move {
        let code = wait_for(&s, &before, &condition, asked).await;
        let body = serde_json::json!({"StatusCode": code, "Error": null});
        let _ = tx.send(Bytes::from(body.to_string() + "\n")).await;
    });
    Ok(r)
}

async fn wait_for(
    s: &State,
    before: &Container,
    condition: &str,
    asked: std::time::Instant,
) -> i64 {
    let mut last = before.state.exit_code as i64;
    loop {
        // An attached run (`docker run`): its child reports the exit code
        // the moment the container ends, no polling needed.
        if condition != "not-running" {
            let session = s.session(before.id()).filter(|x| x.created >= asked);
            if let Some(session) = session {
                if let Some(code) = session.wait().await {
                    if condition == "removed" {
                        while lookup(s, before.id()).await.is_ok() {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    return code.into();
                }
            }
        }
        match lookup(s, before.id()).await {
            Ok(now) => {
                last = now.state.exit_code as i64;
                let stopped = now.state.status != Status::Running;
                let done = match condition {
                    "not-running" => stopped,
                    "next-exit" => {
                        stopped
                            && (now.state.finished_at != before.state.finished_at
                                || (now.state.status == Status::Created
                                    && now.state.exit_code != 0))
                    }
                    _ => false,
                };
                if done {
                    if let Some(session) = s.session(before.id()) {
                        // The attached client's own code, which is final.
                        if let Some(code) = session.wait().await {
                            return code.into();
                        }
                    }
                    return last;
                }
            }
            Err(_) => {
                // Removed (`--rm`): the attach child saw the exit code.
                if let Some(session) = s.session(before.id()) {
                    if let Some(code) = session.wait().await {
                        if let Ok(mut m) = s.sessions.lock() {
                            m.remove(before.id());
                        }
                        return code.into();
                    }
                }
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POST /containers/{id}/attach`: before start, the client is kept
/// and its streams are relayed once the container starts (`docker run`).
/// Attaching to a running container needs the monitor to hand over its
/// streams, which it cannot yet.
pub(crate) async fn attach(s: &State, id: &str, mut req: Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let c = lookup(s, id).await?;
    if c.state.status == Status::Running {
        return Err(ApiError::not_implemented(
            "attaching to a running container (attach before start, as docker run and docker start -a do)",
        ));
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let pending = PendingAttach {
        upgrade,
        stdin: flag(&q, "stdin"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
    };
    if let Ok(mut p) = s.pending.lock() {
        p.insert(c.id().to_string(), pending);
    }
    Ok(hijack_reply(&req, c.config.config.tty))
}

/// The reply that hands the connection over: 101 with `Upgrade: tcp`
/// (or 200 for clients that hijack without asking).
pub(crate) fn hijack_reply<B>(req: &Request<B>, tty: bool) -> Reply {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"));
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let mut r = reply(
        if upgrade {
            StatusCode::SWITCHING_PROTOCOLS
        } else {
            StatusCode::OK
        },
        ct,
        crate::http::empty_body(),
    );
    if upgrade {
        r.headers_mut()
            .insert(header::CONNECTION, "Upgrade".parse().expect("valid"));
        r.headers_mut()
            .insert(header::UPGRADE, "tcp".parse().expect("valid"));
    }
    r
}

fn size(q: &HashMap<String, String>) -> Result<(u16, u16)> {
    let get = |k: &str| {
        q.get(k)
            .and_then(|v| v.parse::<u16>().ok())
            .ok_or_else(|| ApiError::bad(format!("resize needs a numeric {k}")))
    };
    Ok((get("h")?, get("w")?))
}

pub(crate) fn resize(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let (h, w) = size(&query(req.uri().query()))?;
    let key = s
        .engine
        .lookup(id)
        .map(|c| c.id().to_string())
        .map_err(ApiError::from)?;
    if let Some(session) = s.session(&key) {
        session.resize(h, w);
    }
    Ok(reply(StatusCode::OK, "", crate::http::empty_body()))
}

pub(crate) fn resize_exec(
    session: Option<Arc<crate::streams::Session>>,
    req: &Request<Incoming>,
) -> Result<Reply> {
    let (h, w) = size(&query(req.uri().query()))?;
    if let Some(session) = session {
        session.resize(h, w);
    }
    Ok(reply(StatusCode::OK, "", crate::http::empty_body()))
}

pub(crate) async fn top(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let ps_args: Vec<String> = q
        .get("ps_args")
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let c = lookup(s, id).await?;
    let engine = s.engine.clone();
    let top = blocking(move || Ok(engine.top(&c, &ps_args)?)).await?;
    Ok(json(
        StatusCode::OK,
        &m::ContainerTopResponse {
            titles: Some(top.titles),
            processes: Some(top.processes),
        },
    ))
}

/// A log stream's writer: lines to the client, framed unless the
/// container has a TTY, filtered by `since` and with the timestamps the
/// engine added removed unless asked for. Fails once the client is gone,
/// which ends a `follow`.
struct LogSink {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    stream: u8,
    since: Option<std::time::SystemTime>,
    timestamps: bool,
}

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (stamp, rest) = text.split_once(' ').unwrap_or(("", &text));
        if let (Some(since), Ok(t)) = (self.since, humantime::parse_rfc3339_weak(stamp)) {
            if t < since {
                return Ok(buf.len());
            }
        }
        let line = if self.timestamps { text.as_ref() } else { rest };
        let chunk = if self.stream == 0 {
            Bytes::copy_from_slice(line.as_bytes())
        } else {
            let mut v = vec![self.stream, 0, 0, 0];
            v.extend_from_slice(&(line.len() as u32).to_be_bytes());
            v.extend_from_slice(line.as_bytes());
            v.into()
        };
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(crate) async fn logs(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let c = lookup(s, id).await?;
    let tty = c.config.config.tty;
    let tail = match q.get("tail").map(String::as_str) {
        None | Some("all") | Some("") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::bad(format!("invalid tail {n:?}: a number or all")))?,
        ),
    };
    let since = match q.get("since").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(v) => {
            let secs: f64 = v
                .parse()
                .map_err(|_| ApiError::bad(format!("invalid since {v:?}: a Unix time")))?;
            Some(std::time::UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0)))
        }
    };
    let opts = isola_engine::LogOptions {
        follow: flag(&q, "follow"),
        tail,
        // Always asked for: `since` needs them; stripped unless wanted.
        timestamps: true,
        ..Default::default()
    };
    let (want_out, want_err, timestamps) = (
        flag(&q, "stdout"),
        flag(&q, "stderr"),
        flag(&q, "timestamps"),
    );
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let (tx, r) = stream(StatusCode::OK, ct);
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || {
        let sink = |stream: u8| LogSink {
            tx: tx.clone(),
            stream: if tty { 0 } else { stream },
            since,
            timestamps,
        };
        let mut out: Box<dyn std::io::Write> = if want_out {
            Box::new(sink(1))
        } else {
            Box::new(std::io::sink())
        };
        let mut err: Box<dyn std::io::Write> = if want_err {
            Box::new(sink(2))
        } else {
            Box::new(std::io::sink())
        };
        let _ = engine.logs(&c, &opts, &mut out, &mut err);
    });
    Ok(r)
}

/// `POST /containers/{id}/rename?name=`, `/pause`, `/unpause`: the engine's
/// verbs, one call each.
pub(crate) async fn manage(
    s: &State,
    id: &str,
    verb: &str,
    req: &Request<Incoming>,
) -> Result<Reply> {
    let q = query(req.uri().query());
    let c = lookup(s, id).await?;
    let engine = s.engine.clone();
    let (verb, name) = (verb.to_string(), q.get("name").cloned().unwrap_or_default());
    blocking(move || {
        match verb.as_str() {
            "rename" => engine.rename(&c, &name)?,
            "pause" => engine.pause(&c)?,
            _ => engine.unpause(&c)?,
        }
        Ok(())
    })
    .await?;
    Ok(no_content())
}

/// `GET /events`: the engine's journal as Docker's stream of JSON lines
/// (`since`/`until` in Unix seconds or RFC 3339, `filters`); follows until
/// `until` or until the client goes away.
pub(crate) async fn events(s: &State, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let time = |k: &str| -> Result<Option<i64>> {
        q.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| isola_engine::parse_time(v).map_err(ApiError::from))
            .transpose()
    };
    let (since, until) = (time("since")?, time("until")?);
    let filter = isola_engine::EventFilter::parse(&filters(&q)?)?;
    let (tx, r) = stream(StatusCode::OK, "application/json");
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || {
        let _ = engine.events(since, until, true, &mut |e| {
            if !filter.matches(e) {
                return !tx.is_closed();
            }
            let line = serde_json::to_string(e).unwrap_or_default() + "\n";
            tx.blocking_send(Bytes::from(line)).is_ok()
        });
    });
    Ok(r)
}

/// `GET /containers/{id}/stats`: the engine's Docker-shaped samples, one
/// a second; `stream=false` answers one sample (after a second one for the
/// CPU delta unless `one-shot`), as dockerd does.
pub(crate) async fn stats(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let stream_it = q
        .get("stream")
        .is_none_or(|v| flag(&q, "stream") || v.is_empty());
    let one_shot = flag(&q, "one-shot");
    let c = lookup(s, id).await?;
    let engine = s.engine.clone();
    if !stream_it {
        let sample = blocking(move || {
            let first = engine.stats(&c)?;
            if one_shot {
                return Ok(first);
            }
            std::thread::sleep(Duration::from_secs(1));
            let mut second = engine.stats(&c)?;
            second.follows(&first);
            Ok(second)
        })
        .await?;
        return Ok(json(StatusCode::OK, &sample));
    }
    let (tx, r) = stream(StatusCode::OK, "application/json");
    tokio::task::spawn_blocking(move || {
        let mut previous: Option<isola_engine::Stats> = None;
        while let Ok(mut now) = engine.lookup(c.id()).and_then(|c| engine.stats(&c)) {
            if let Some(p) = &previous {
                now.follows(p);
            }
            let line = serde_json::to_string(&now).unwrap_or_default() + "\n";
            if tx.blocking_send(Bytes::from(line)).is_err() {
                return;
            }
            previous = Some(now);
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    Ok(r)
}

/// `POST /containers/prune` (`filters`: `until`, `label`).
pub(crate) async fn prune(s: &State, req: &Request<Incoming>) -> Result<Reply> {
    let filter = isola_engine::PruneFilter::parse(&filters(&query(req.uri().query()))?)?;
    let engine = s.engine.clone();
    let pruned = blocking(move || Ok(engine.container_prune(&filter)?)).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"ContainersDeleted": pruned.removed, "SpaceReclaimed": pruned.reclaimed}),
    ))
}
