//! Replies in Docker's shapes: JSON bodies, `{"message": …}` errors with
//! Docker's status codes, streamed bodies, and the headers clients
//! negotiate the API version with.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Frame, Incoming};
use hyper::{header, Response, StatusCode};
use serde::Serialize;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;
pub(crate) type Reply = Response<Body>;

/// JSON request bodies are read whole, up to this size; image archives
/// (load, import) are streamed to disk instead.
pub(crate) const MAX_JSON_BODY: usize = 64 << 20;

/// A request's failure, as Docker reports it.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    /// An endpoint isola does not serve (yet): Docker's shape, 501.
    pub fn not_implemented(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("{what} is not implemented by isola yet"),
        )
    }
}

impl From<isola_engine::Error> for ApiError {
    fn from(e: isola_engine::Error) -> ApiError {
        use isola_engine::Error as E;
        use isola_image::Error as I;
        let status = match &e {
            E::NoSuchContainer(_) | E::NotFound(_) | E::Image(I::NotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            E::NameInUse { .. } | E::Conflict(_) | E::Image(I::InUse { .. }) => {
                StatusCode::CONFLICT
            }
            E::Image(I::MultipleTags { .. }) => StatusCode::CONFLICT,
            E::Invalid(_)
            | E::AmbiguousId(_)
            | E::Image(
                I::AmbiguousId { .. }
                | I::InvalidReference { .. }
                | I::InvalidChange { .. }
                | I::InvalidArchive(_)
                | I::UnsafeEntry { .. }
                | I::UnsupportedCompression(_),
            ) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Docker's words for what clients match on ("No such container").
        let message = match &e {
            E::NoSuchContainer(id) => format!("No such container: {id}"),
            E::Image(I::NotFound(r)) => format!("No such image: {r}"),
            _ => e.to_string(),
        };
        ApiError::new(status, message)
    }
}

impl From<isola_image::Error> for ApiError {
    fn from(e: isola_image::Error) -> ApiError {
        isola_engine::Error::Image(e).into()
    }
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn empty_body() -> Body {
    full(Bytes::new())
}

pub(crate) fn reply(status: StatusCode, content_type: &str, body: Body) -> Reply {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if !content_type.is_empty() {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, content_type.parse().expect("valid"));
    }
    r
}

pub(crate) fn json<T: Serialize>(status: StatusCode, v: &T) -> Reply {
    let body = serde_json::to_vec(v).unwrap_or_default();
    reply(status, "application/json", full(body))
}

pub(crate) fn no_content() -> Reply {
    reply(StatusCode::NO_CONTENT, "", empty_body())
}

pub(crate) fn text(status: StatusCode, s: &'static str) -> Reply {
    reply(status, "text/plain; charset=utf-8", full(s))
}

pub(crate) fn error_reply(e: ApiError) -> Reply {
    json(e.status, &serde_json::json!({ "message": e.message }))
}

/// The headers every reply carries, as dockerd sends them; clients read
/// `Api-Version` to negotiate.
pub(crate) fn add_server_headers(r: &mut Reply) {
    let h = r.headers_mut();
    h.insert("Api-Version", crate::API_VERSION.parse().expect("valid"));
    h.insert("Docker-Experimental", "false".parse().expect("valid"));
    h.insert("Ostype", "linux".parse().expect("valid"));
    h.insert(
        header::SERVER,
        concat!("isola/", env!("CARGO_PKG_VERSION"), " (linux)")
            .parse()
            .expect("valid"),
    );
}

/// A streamed body fed from a channel; the sender learns that the client
/// went away when `send` fails.
pub(crate) struct ChanBody(pub mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChanBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

pub(crate) fn stream(status: StatusCode, content_type: &str) -> (mpsc::Sender<Bytes>, Reply) {
    let (tx, rx) = mpsc::channel(16);
    (tx, reply(status, content_type, ChanBody(rx).boxed()))
}

/// The query string, decoded; a repeated key keeps its last value.
pub(crate) fn query(q: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Docker's boolean query values: `1`, `true`, `True` (anything else false).
pub(crate) fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key)
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE"))
}

/// Docker's `filters` query parameter (`{"key":["v",…]}` or the older
/// `{"key":{"v":true}}`), as `key=v` strings.
pub(crate) fn filters(q: &HashMap<String, String>) -> Result<Vec<String>> {
    let Some(raw) = q.get("filters").filter(|s| !s.is_empty()) else {
        return Ok(vec![]);
    };
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| ApiError::bad(format!("invalid filters: {e}")))?;
    let mut out = Vec::new();
    for (k, vals) in v.as_object().into_iter().flatten() {
        match vals {
            serde_json::Value::Array(a) => out.extend(
                a.iter()
                    .filter_map(|x| x.as_str())
                    .map(|x| format!("{k}={x}")),
            ),
            serde_json::Value::Object(o) => {
                out.extend(o.keys().map(|x| format!("{k}={x}")));
            }
            _ => return Err(ApiError::bad(format!("invalid filter {k}"))),
        }
    }
    Ok(out)
}

/// Reads a JSON body of at most [`MAX_JSON_BODY`] bytes; an empty body is
/// the type's default (clients send none for optional bodies).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned + Default>(
    body: Incoming,
) -> Result<T> {
    if body.size_hint().lower() > MAX_JSON_BODY as u64 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {} MiB", MAX_JSON_BODY >> 20),
        ));
    }
    let bytes = Limited::new(body, MAX_JSON_BODY)
        .collect()
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("reading the request body: {e}"),
            )
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
}

/// Streams a request body to a new temporary file (image archives can be
/// far larger than memory).
pub(crate) async fn body_to_file(
    mut body: Incoming,
    dir: &std::path::Path,
) -> Result<std::fs::File> {
    use tokio::io::AsyncWriteExt;
    let tmp = tempfile::tempfile_in(dir).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut f = tokio::fs::File::from_std(
        tmp.try_clone()
            .map_err(|e| ApiError::internal(e.to_string()))?,
    );
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            f.write_all(&data)
                .await
                .map_err(|e| ApiError::internal(format!("storing the upload: {e}")))?;
        }
    }
    f.flush()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut tmp = tmp;
    std::io::Seek::seek(&mut tmp, std::io::SeekFrom::Start(0))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(tmp)
}

/// Runs engine work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("internal error: {e}")))?
}
