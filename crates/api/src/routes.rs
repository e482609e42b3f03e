//! Request routing: API version prefixes, then one handler per endpoint.
//! Endpoints whose engine feature is not there yet are answered by
//! [`NOT_YET`], Docker-shaped 501s, so wiring one later is a line here.

use crate::http::{add_server_headers, error_reply, text, ApiError, Reply, Result};
use crate::streams::Session;
use crate::{containers, exec, images, resources as res, system};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use isola_engine::Engine;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A client attached before start (`docker run`: attach, then start).
pub(crate) struct PendingAttach {
    pub upgrade: hyper::upgrade::OnUpgrade,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

pub(crate) struct State {
    pub engine: Arc<Engine>,
    /// This `isola` binary, run as a child for attach and exec.
    pub exe: PathBuf,
    pub root: PathBuf,
    pub pending: Mutex<HashMap<String, PendingAttach>>,
    /// Relayed children by container id (attach) or exec id.
    pub sessions: Mutex<HashMap<String, Arc<Session>>>,
    pub execs: Mutex<HashMap<String, Arc<Mutex<exec::Record>>>>,
    /// The terminal size a client created a TTY container with.
    pub console: Mutex<HashMap<String, (u16, u16)>>,
}

impl State {
    pub fn new(engine: Engine, exe: PathBuf, root: PathBuf) -> State {
        State {
            engine: Arc::new(engine),
            exe,
            root,
            pending: Mutex::default(),
            sessions: Mutex::default(),
            execs: Mutex::default(),
            console: Mutex::default(),
        }
    }

    /// The CLI's global arguments for a child `isola`.
    pub fn child_args(&self) -> Vec<String> {
        vec!["--root".into(), self.root.display().to_string()]
    }

    pub fn session(&self, key: &str) -> Option<Arc<Session>> {
        self.sessions.lock().ok()?.get(key).cloned()
    }
}

/// Endpoints isola does not serve (yet): `(method, path pattern, what)`;
/// `*` is one path segment.
const NOT_YET: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/containers/*/changes",
        "container diff over the API",
    ),
    (
        "GET",
        "/containers/*/export",
        "container export over the API",
    ),
    (
        "GET",
        "/containers/*/archive",
        "copying from a container over the API",
    ),
    (
        "HEAD",
        "/containers/*/archive",
        "copying from a container over the API",
    ),
    (
        "PUT",
        "/containers/*/archive",
        "copying into a container over the API",
    ),
    ("POST", "/build", "image build"),
    ("POST", "/commit", "commit over the API"),
    ("GET", "/images/search", "image search"),
    ("POST", "/auth", "registry login over the API"),
    ("GET", "/swarm", "swarm mode"),
    ("GET", "/services", "swarm services"),
    ("GET", "/nodes", "swarm nodes"),
    ("GET", "/plugins", "plugins"),
    ("GET", "/secrets", "swarm secrets"),
    ("GET", "/configs", "swarm configs"),
];

fn not_yet(method: &Method, segs: &[&str]) -> Option<&'static str> {
    NOT_YET.iter().find_map(|(m, pattern, what)| {
        let pat: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
        (method.as_str() == *m
            && pat.len() == segs.len()
            && pat.iter().zip(segs).all(|(p, s)| *p == "*" || p == s))
        .then_some(*what)
    })
}

/// Strips `/v1.NN`; versions outside what is served are refused as dockerd
/// refuses them.
fn strip_version(path: &str) -> Result<&str> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (ver, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(minor) = ver.strip_prefix("1.").and_then(|m| m.parse::<u32>().ok()) else {
        return Ok(path); // not a version: a route of its own (e.g. /volumes)
    };
    if minor < 24 {
        return Err(ApiError::bad(format!(
            "client version {ver} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            crate::MIN_API_VERSION
        )));
    }
    if minor > 47 {
        return Err(ApiError::bad(format!(
            "client version {ver} is too new. Maximum supported API version is {}",
            crate::API_VERSION
        )));
    }
    Ok(tail)
}

pub(crate) async fn handle(state: Arc<State>, req: Request<Incoming>) -> Reply {
    let mut reply = match route(state, req).await {
        Ok(r) => r,
        Err(e) => error_reply(e),
    };
    add_server_headers(&mut reply);
    reply
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Result<Reply> {
    let path = req.uri().path().to_string();
    let path = strip_version(&path)?.to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    let head = method == Method::HEAD;
    let get = method == Method::GET || head;
    let post = method == Method::POST;
    let delete = method == Method::DELETE;
    let s = state;
    match segs.as_slice() {
        ["_ping"] if get => Ok(system::ping(head)),
        ["version"] if get => system::version(&s).await,
        ["info"] if get => system::info(&s).await,
        ["containers", "json"] if get => containers::list(&s, &req).await,
        ["containers", "create"] if post => containers::create(&s, req).await,
        ["containers", "prune"] if post => containers::prune(&s, &req).await,
        ["images", "prune"] if post => images::prune(&s, &req).await,
        ["containers", id, "json"] if get => containers::inspect(&s, id).await,
        ["containers", id, "start"] if post => containers::start(&s, id).await,
        ["containers", id, "stop"] if post => containers::stop(&s, id, &req).await,
        ["containers", id, "restart"] if post => containers::restart(&s, id, &req).await,
        ["containers", id, "kill"] if post => containers::kill(&s, id, &req).await,
        ["containers", id, "wait"] if post => containers::wait(&s, id, &req).await,
        ["containers", id, "attach"] if post => containers::attach(&s, id, req).await,
        ["containers", id, "resize"] if post => containers::resize(&s, id, &req),
        ["containers", id, "logs"] if get => containers::logs(&s, id, &req).await,
        ["containers", id, "top"] if get => containers::top(&s, id, &req).await,
        ["containers", id] if delete => containers::remove(&s, id, &req).await,
        ["containers", id, verb @ ("rename" | "pause" | "unpause")] if post => {
            containers::manage(&s, id, verb, &req).await
        }
        ["containers", id, "update"] if post => containers::update(&s, id, req).await,
        ["system", "df"] if get => system::df(&s).await,
        ["events"] if get => containers::events(&s, &req).await,
        ["containers", id, "stats"] if get => containers::stats(&s, id, &req).await,
        ["containers", id, "exec"] if post => exec::create(&s, id, req).await,
        ["exec", id, "start"] if post => exec::start(&s, id, req).await,
        ["exec", id, "resize"] if post => exec::resize(&s, id, &req),
        ["exec", id, "json"] if get => exec::inspect(&s, id),
        ["images", "json"] if get => images::list(&s).await,
        ["images", "load"] if post => images::load(&s, req).await,
        ["images", "get"] if get => images::save(&s, &req).await,
        ["images", "create"] if post => images::create(&s, req).await,
        // Image names contain slashes: /images/{name}/{verb}.
        ["images", name @ .., "json"] if get && !name.is_empty() => {
            images::inspect(&s, &name.join("/")).await
        }
        ["images", name @ .., "tag"] if post && !name.is_empty() => {
            images::tag(&s, &name.join("/"), &req).await
        }
        ["images", name @ .., "get"] if get && !name.is_empty() => {
            images::save_one(&s, &name.join("/")).await
        }
        ["images", name @ .., "push"] if post && !name.is_empty() => {
            images::push(&s, &name.join("/"), &req).await
        }
        ["images", name @ .., "history"] if get && !name.is_empty() => {
            images::history(&s, &name.join("/")).await
        }
        ["images", name @ ..] if delete && !name.is_empty() => {
            images::remove(&s, &name.join("/"), &req).await
        }
        ["networks"] if get => res::network_list(&s).await,
        ["networks", "create"] if post => res::network_create(&s, req).await,
        ["networks", "prune"] if post => res::network_prune(&s).await,
        ["networks", id] if get => res::network_inspect(&s, id).await,
        ["networks", id] if delete => res::network_remove(&s, id).await,
        ["networks", id, "connect"] if post => res::network_connect(&s, id, req, true).await,
        ["networks", id, "disconnect"] if post => {
            res::network_connect(&s, id, req, false).await
        }
        ["volumes"] if get => res::volume_list(&s).await,
        ["volumes", "create"] if post => res::volume_create(&s, req).await,
        ["volumes", "prune"] if post => res::volume_prune(&s, &req).await,
        ["volumes", name] if get => res::volume_inspect(&s, name).await,
        ["volumes", name] if delete => res::volume_remove(&s, name).await,
        _ => match not_yet(&method, &segs) {
            Some(what) => Err(ApiError::not_implemented(what)),
            None if segs.first() == Some(&"") => Ok(text(StatusCode::NOT_FOUND, "page not found")),
            None => Err(ApiError::not_found(format!(
                "page not found: {method} {path} is not an endpoint of the Docker Engine API that isola serves"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_stripped_and_bounded() {
        assert_eq!(
            strip_version("/v1.43/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.24/_ping").unwrap(), "/_ping");
        assert_eq!(strip_version("/_ping").unwrap(), "/_ping");
        assert_eq!(strip_version("/volumes").unwrap(), "/volumes");
        assert!(strip_version("/v1.12/info").is_err());
        assert!(strip_version("/v1.99/info").is_err());
    }

    #[test]
    fn not_yet_matches_segments() {
        assert_eq!(
            not_yet(&Method::POST, &["containers", "x", "archive"]),
            None
        );
        assert_eq!(
            not_yet(&Method::PUT, &["containers", "x", "archive"]),
            Some("copying into a container over the API")
        );
    }
}
