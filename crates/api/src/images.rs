//! `/images/...`: the image store behind Docker's endpoints. Pull and push
//! run the CLI's `isola pull`/`isola push` as children (the registry client
//! has its own runtime) and report Docker's JSON progress stream.

use crate::http::{blocking, body_to_file, flag, json, query, stream, ApiError, Reply, Result};
use crate::routes::State;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::sync::mpsc;

pub(crate) async fn list(s: &State) -> Result<Reply> {
    let engine = s.engine.clone();
    let rows = blocking(move || Ok(engine.image_summaries()?)).await?;
    Ok(json(StatusCode::OK, &rows))
}

pub(crate) async fn inspect(s: &State, name: &str) -> Result<Reply> {
    let engine = s.engine.clone();
    let name = name.to_string();
    let v = blocking(move || Ok(engine.images().inspect(&name)?)).await?;
    Ok(json(StatusCode::OK, &v))
}

pub(crate) async fn remove(s: &State, name: &str, req: &Request<Incoming>) -> Result<Reply> {
    let force = flag(&query(req.uri().query()), "force");
    let engine = s.engine.clone();
    let name = name.to_string();
    let lines = blocking(move || {
        let containers = engine.list()?;
        let in_use = |id: &str| containers.iter().any(|c| c.config.image_id == id);
        Ok(engine.images().remove(&name, force, &in_use)?)
    })
    .await?;
    Ok(json(StatusCode::OK, &untag_lines(&lines)))
}

pub(crate) async fn tag(s: &State, name: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let repo = q
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad("tag needs repo"))?;
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.clone(),
    };
    let engine = s.engine.clone();
    let name = name.to_string();
    blocking(move || Ok(engine.images().tag(&name, &target)?)).await?;
    Ok(crate::http::reply(
        StatusCode::CREATED,
        "",
        crate::http::empty_body(),
    ))
}

fn progress(v: serde_json::Value) -> Bytes {
    Bytes::from(v.to_string() + "\n")
}

pub(crate) async fn load(s: &State, req: Request<Incoming>) -> Result<Reply> {
    let mut file = body_to_file(req.into_body(), &s.root.join("cache")).await?;
    let engine = s.engine.clone();
    let loaded = blocking(move || Ok(engine.images().load(&mut file)?)).await?;
    let (tx, r) = stream(StatusCode::OK, "application/json");
    tokio::spawn(async move {
        for l in loaded {
            let line = if l.starts_with("sha256:") {
                format!("Loaded image ID: {l}\n")
            } else {
                format!("Loaded image: {l}\n")
            };
            let _ = tx
                .send(progress(serde_json::json!({ "stream": line })))
                .await;
        }
    });
    Ok(r)
}

/// `GET /images/get?names=…`: every `names` value (the key repeats).
pub(crate) async fn save(s: &State, req: &Request<Incoming>) -> Result<Reply> {
    let names: Vec<String> = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v.into_owned())
        .collect();
    if names.is_empty() {
        return Err(ApiError::bad("save needs at least one image in names"));
    }
    save_images(s, names).await
}

pub(crate) async fn save_one(s: &State, name: &str) -> Result<Reply> {
    save_images(s, vec![name.to_string()]).await
}

/// The archive is written to a temporary file first, so that a failure is
/// an error reply rather than a truncated download.
async fn save_images(s: &State, names: Vec<String>) -> Result<Reply> {
    let engine = s.engine.clone();
    let dir = s.root.join("cache");
    let file = blocking(move || {
        let mut f = tempfile::tempfile_in(&dir).map_err(|e| ApiError::internal(e.to_string()))?;
        engine.images().save(&names, &mut f)?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(f)
    })
    .await?;
    let (tx, r) = stream(StatusCode::OK, "application/x-tar");
    tokio::spawn(async move {
        let mut f = tokio::fs::File::from_std(file);
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(n) = f.read(&mut buf).await {
            if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                break;
            }
        }
    });
    Ok(r)
}

/// Runs `isola ARGS…` and turns its output into Docker's progress stream:
/// each line a `status`, a failure an `errorDetail` (clients print it and
/// fail; the HTTP status is already sent).
fn run_with_progress(s: &State, args: Vec<String>, tx: mpsc::Sender<Bytes>) {
    let mut cmd = tokio::process::Command::new(&s.exe);
    cmd.args(s.child_args())
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // A client that goes away mid-pull ends the pull.
        .kill_on_drop(true);
    tokio::spawn(async move {
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let m = format!("starting isola: {e}");
                let _ = tx
                    .send(progress(
                        serde_json::json!({"errorDetail": {"message": m}, "error": m}),
                    ))
                    .await;
                return;
            }
        };
        let mut out = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut err_text = String::new();
        let mut stderr = child.stderr.take().expect("piped");
        let err_task = tokio::spawn(async move {
            let _ = stderr.read_to_string(&mut err_text).await;
            err_text
        });
        while let Ok(Some(line)) = out.next_line().await {
            if tx
                .send(progress(serde_json::json!({ "status": line })))
                .await
                .is_err()
            {
                return; // dropping the child kills it
            }
        }
        let status = child.wait().await;
        let err_text = err_task.await.unwrap_or_default();
        if !status.is_ok_and(|s| s.success()) {
            let m = err_text
                .lines()
                .find_map(|l| l.strip_prefix("isola: "))
                .unwrap_or("failed")
                .to_string();
            let _ = tx
                .send(progress(
                    serde_json::json!({"errorDetail": {"message": m}, "error": m}),
                ))
                .await;
        }
    });
}

/// `POST /images/create`: `fromImage` pulls, `fromSrc=-` imports the body.
pub(crate) async fn create(s: &State, req: Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let tag = q.get("tag").filter(|t| !t.is_empty());
    if let Some(image) = q.get("fromImage").filter(|i| !i.is_empty()) {
        let reference = match tag {
            Some(t) if t.contains(':') => format!("{image}@{t}"),
            Some(t) => format!("{image}:{t}"),
            None => image.clone(),
        };
        let mut args = vec!["pull".to_string()];
        if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
            args.extend(["--platform".into(), p.clone()]);
        }
        args.push(reference);
        let (tx, r) = stream(StatusCode::OK, "application/json");
        run_with_progress(s, args, tx);
        return Ok(r);
    }
    match q.get("fromSrc").map(String::as_str) {
        Some("-") => {
            let reference = match (q.get("repo").filter(|r| !r.is_empty()), tag) {
                (Some(r), Some(t)) => format!("{r}:{t}"),
                (Some(r), None) => r.clone(),
                _ => String::new(),
            };
            let changes: Vec<String> =
                form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                    .filter(|(k, _)| k == "changes")
                    .map(|(_, v)| v.into_owned())
                    .collect();
            let dir = s.root.join("cache");
            let mut file = body_to_file(req.into_body(), &dir).await?;
            let engine = s.engine.clone();
            let id = blocking(move || {
                let mut named = tempfile::NamedTempFile::new_in(&dir)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                std::io::copy(&mut file, &mut named)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                Ok(engine.images().import(named.path(), &reference, &changes)?)
            })
            .await?;
            Ok(json(StatusCode::OK, &serde_json::json!({ "status": id })))
        }
        Some(_) => Err(ApiError::not_implemented("importing from a URL")),
        None => Err(ApiError::bad("images/create needs fromImage or fromSrc")),
    }
}

pub(crate) async fn push(s: &State, name: &str, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    let reference = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let (tx, r) = stream(StatusCode::OK, "application/json");
    run_with_progress(s, vec!["push".into(), reference], tx);
    Ok(r)
}

/// `GET /images/{name}/history`: the engine's Docker-shaped items.
pub(crate) async fn history(s: &State, name: &str) -> Result<Reply> {
    let engine = s.engine.clone();
    let name = name.to_string();
    let items = blocking(move || Ok(engine.history(&name)?)).await?;
    Ok(json(StatusCode::OK, &items))
}

/// `POST /images/prune` (`filters`: `dangling=false` prunes every unused
/// image, `until`, `label`).
pub(crate) async fn prune(s: &State, req: &Request<Incoming>) -> Result<Reply> {
    let mut items = crate::http::filters(&query(req.uri().query()))?;
    let all = items
        .iter()
        .any(|f| f == "dangling=false" || f == "dangling=0");
    items.retain(|f| !f.starts_with("dangling="));
    let filter = isola_engine::PruneFilter::parse(&items)?;
    let engine = s.engine.clone();
    let pruned = blocking(move || Ok(engine.image_prune(all, &filter)?)).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"ImagesDeleted": untag_lines(&pruned.removed), "SpaceReclaimed": pruned.reclaimed}),
    ))
}

/// The store's "Untagged: x" / "Deleted: y" lines as Docker's items.
fn untag_lines(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| serde_json::json!({ k: v }))
        .collect()
}
