//! `/containers/{id}/exec` and `/exec/{id}/...`: an exec is a record here
//! until started; started, it is a child `isola exec` relayed to the
//! hijacked connection (see [`crate::streams`] for why a child).

use crate::http::{json, read_json, ApiError, Reply, Result};
use crate::routes::State;
use bollard_stubs::models as m;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use std::sync::{Arc, Mutex};

/// An exec as Docker reports it (`GET /exec/{id}/json`).
pub(crate) struct Record {
    pub container: String,
    pub config: m::ExecConfig,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i64,
}

fn new_id() -> String {
    let mut b = [0u8; 32];
    let _ = getrandom::getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) async fn create(s: &State, id: &str, req: Request<Incoming>) -> Result<Reply> {
    let engine = s.engine.clone();
    let key = id.to_string();
    let c = crate::http::blocking(move || Ok(engine.lookup(&key)?)).await?;
    if c.state.status != isola_engine::Status::Running || !c.state.init_alive() {
        return Err(ApiError::conflict(format!(
            "container {} is not running",
            c.id()
        )));
    }
    let config: m::ExecConfig = read_json(req.into_body()).await?;
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::bad("no exec command specified: set Cmd"));
    }
    let exec_id = new_id();
    let record = Record {
        container: c.id().to_string(),
        config,
        running: false,
        exit_code: None,
        pid: 0,
    };
    if let Ok(mut e) = s.execs.lock() {
        e.insert(exec_id.clone(), Arc::new(Mutex::new(record)));
    }
    // Docker's key is `Id` (bollard's IdResponse says `ID`, which
    // case-sensitive clients such as docker-py do not find).
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": exec_id }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartBody {
    #[serde(default)]
    detach: bool,
    #[serde(default)]
    tty: Option<bool>,
    #[serde(default)]
    console_size: Option<Vec<i32>>,
}

fn record(s: &State, id: &str) -> Result<Arc<Mutex<Record>>> {
    s.execs
        .lock()
        .ok()
        .and_then(|e| e.get(id).cloned())
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
}

pub(crate) async fn start(s: &State, id: &str, mut req: Request<Incoming>) -> Result<Reply> {
    let rec = record(s, id)?;
    let upgrade = hyper::upgrade::on(&mut req);
    let (parts, body) = req.into_parts();
    let body: StartBody = read_json(body).await?;
    let (args, tty, stdin, stdout, stderr, size) = {
        let mut r = rec.lock().map_err(|_| ApiError::internal("exec record"))?;
        if r.running || r.exit_code.is_some() {
            return Err(ApiError::conflict(format!(
                "exec {id} has already been started"
            )));
        }
        r.running = true;
        let c = &r.config;
        let tty = body.tty.unwrap_or(false) || c.tty.unwrap_or(false);
        let stdin = c.attach_stdin.unwrap_or(false) && !body.detach;
        let mut args = s.child_args();
        args.push("exec".into());
        if stdin {
            args.push("-i".into());
        }
        if tty {
            args.push("-t".into());
        }
        // `--flag=value`: a value from the request is never read as a flag
        // of the child's command line, whatever it starts with.
        for e in c.env.iter().flatten() {
            args.push(format!("--env={e}"));
        }
        if let Some(w) = c.working_dir.as_ref().filter(|w| !w.is_empty()) {
            args.push(format!("--workdir={w}"));
        }
        if let Some(u) = c.user.as_ref().filter(|u| !u.is_empty()) {
            args.push(format!("--user={u}"));
        }
        args.push(r.container.clone());
        args.extend(c.cmd.clone().unwrap_or_default());
        (
            args,
            tty,
            stdin,
            c.attach_stdout.unwrap_or(true),
            c.attach_stderr.unwrap_or(true),
            crate::streams::console_size(body.console_size.as_ref())
                .or_else(|| crate::streams::console_size(c.console_size.as_ref())),
        )
    };
    let spawned = crate::streams::spawn(&s.exe, &args, tty && !body.detach, stdin, size);
    let mut spawned = match spawned {
        Ok(sp) => sp,
        Err(e) => {
            if let Ok(mut r) = rec.lock() {
                r.running = false;
                r.exit_code = Some(126);
            }
            return Err(ApiError::internal(format!(
                "starting the exec process: {e}"
            )));
        }
    };
    if let Ok(mut r) = rec.lock() {
        r.pid = spawned.child.id().map_or(0, i64::from);
    }
    if let Ok(mut sessions) = s.sessions.lock() {
        sessions.insert(id.to_string(), spawned.session.clone());
    }
    let finish = move |code: i32| {
        if let Ok(mut r) = rec.lock() {
            r.running = false;
            r.exit_code = Some(code);
        }
    };
    if body.detach {
        tokio::spawn(async move {
            let code = spawned
                .child
                .wait()
                .await
                .ok()
                .and_then(|s| s.code())
                .unwrap_or(137);
            finish(code);
        });
        return Ok(crate::http::reply(
            StatusCode::OK,
            "",
            crate::http::empty_body(),
        ));
    }
    let req = Request::from_parts(parts, ());
    let hijack = crate::containers::hijack_reply(&req, tty);
    tokio::spawn(async move {
        let code = crate::streams::relay_upgraded(upgrade, spawned, stdin, stdout, stderr).await;
        finish(code);
    });
    Ok(hijack)
}

pub(crate) fn resize(s: &State, id: &str, req: &Request<Incoming>) -> Result<Reply> {
    record(s, id)?;
    crate::containers::resize_exec(s.session(id), req)
}

pub(crate) fn inspect(s: &State, id: &str) -> Result<Reply> {
    let rec = record(s, id)?;
    let r = rec.lock().map_err(|_| ApiError::internal("exec record"))?;
    let c = &r.config;
    let cmd = c.cmd.clone().unwrap_or_default();
    let v = m::ExecInspectResponse {
        can_remove: Some(false),
        detach_keys: Some(String::new()),
        id: Some(id.to_string()),
        running: Some(r.running),
        exit_code: r.exit_code.map(i64::from),
        process_config: Some(m::ProcessConfig {
            privileged: Some(c.privileged.unwrap_or(false)),
            user: Some(c.user.clone().unwrap_or_default()),
            tty: Some(c.tty.unwrap_or(false)),
            entrypoint: cmd.first().cloned(),
            arguments: Some(cmd.iter().skip(1).cloned().collect()),
        }),
        open_stdin: Some(c.attach_stdin.unwrap_or(false)),
        open_stderr: Some(c.attach_stderr.unwrap_or(true)),
        open_stdout: Some(c.attach_stdout.unwrap_or(true)),
        container_id: Some(r.container.clone()),
        pid: Some(r.pid),
    };
    Ok(json(StatusCode::OK, &v))
}
