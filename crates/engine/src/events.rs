//! The event journal: a daemonless engine has no process to stream events
//! from, so every command that changes something appends one JSON line in
//! Docker's event shape to `ROOT/events.jsonl` (Docker's `/events` JSON),
//! and `isola events` (or the API server) reads and follows that file.
//!
//! Each event is one `write` of one line on a file opened `O_APPEND`, which
//! the kernel never interleaves with another writer's on a local file
//! system; the journal is bounded by rotating it to `events.jsonl.1` under
//! a lock once it passes [`MAX_BYTES`], so two generations are kept.

use crate::store::Container;
use crate::{io_err, Engine, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Size at which the journal is rotated.
const MAX_BYTES: u64 = 4 << 20;
/// How often a follower looks for new events.
const POLL: Duration = Duration::from_millis(100);

/// Who an event is about (Docker's `Actor`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as Docker's `/events` streams it (`events.Message`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `container`, `image`, `network`, `volume`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `pause`, `tag`, ...
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`: there is no swarm.
    pub scope: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    // Docker's deprecated fields, still printed by its API and read by
    // older clients (`status`, `id`, `from`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
}

impl Event {
    /// A new event of `kind`/`action` about `id`, stamped now.
    pub fn new(kind: &str, action: &str, id: &str) -> Event {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i64;
        Event {
            kind: kind.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes: BTreeMap::new(),
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
            ..Event::default()
        }
    }

    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Event {
        self.actor.attributes.insert(key.into(), value.into());
        self
    }
}

/// Which events `isola events --filter` keeps: values of one key are
/// alternatives, different keys must all match (as Docker's).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    filters: BTreeMap<String, Vec<String>>,
}

impl EventFilter {
    /// Parses `KEY=VALUE` filters: type, event, container, image, label,
    /// network, volume.
    pub fn parse(items: &[String]) -> Result<EventFilter> {
        let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in items {
            let Some((k, v)) = f.split_once('=') else {
                return Err(crate::Error::Invalid(format!(
                    "bad format of filter {f:?}: use KEY=VALUE"
                )));
            };
            if ![
                "type",
                "event",
                "container",
                "image",
                "label",
                "network",
                "volume",
            ]
            .contains(&k)
            {
                return Err(crate::Error::Invalid(format!(
                    "invalid filter '{k}': use type, event, container, image, label, network or volume"
                )));
            }
            filters.entry(k.into()).or_default().push(v.into());
        }
        Ok(EventFilter { filters })
    }

    pub fn matches(&self, e: &Event) -> bool {
        let a = &e.actor.attributes;
        self.filters.iter().all(|(k, values)| {
            values.iter().any(|v| match k.as_str() {
                "type" => e.kind == *v,
                "event" => e.action == *v || e.action.split(':').next() == Some(v),
                "container" => {
                    e.kind == "container"
                        && (e.actor.id.starts_with(v.as_str())
                            || a.get("name").is_some_and(|n| n == v))
                }
                "image" => {
                    a.get("image").is_some_and(|i| i == v)
                        || (e.kind == "image"
                            && (e.actor.id == *v || a.get("name").is_some_and(|n| n == v)))
                }
                "network" => {
                    e.kind == "network"
                        && (e.actor.id.starts_with(v.as_str())
                            || a.get("name").is_some_and(|n| n == v))
                }
                "volume" => e.kind == "volume" && e.actor.id == *v,
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => a.get(lk).is_some_and(|x| x == lv),
                    None => a.contains_key(v.as_str()),
                },
                _ => false,
            })
        })
    }
}

impl Engine {
    fn journal(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    /// Appends `event` to the journal. Best effort: a full disk must not
    /// fail the operation the event reports.
    pub fn record_event(&self, event: Event) {
        let _ = self.append_event(&event);
    }

    fn append_event(&self, event: &Event) -> Result<()> {
        append(&self.root, event)
    }

    /// Records a container event (see [`container_event`]).
    pub(crate) fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        self.record_event(container_event(c, action, extra));
    }

    /// An event about anything else (`image`, `network`, `volume`).
    pub fn object_event(&self, kind: &str, action: &str, id: &str, name: &str) {
        let mut e = Event::new(kind, action, id);
        if !name.is_empty() {
            e = e.attr("name", name);
        }
        self.record_event(e);
    }

    /// The journal's events from `since` to `until` (nanoseconds since
    /// the epoch, inclusive), oldest first, through `keep`. With `follow`,
    /// waits for new events until `until` has passed or `keep` returns
    /// false (a reader that went away).
    pub fn events(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        follow: bool,
        keep: &mut dyn FnMut(&Event) -> bool,
    ) -> Result<()> {
        let in_range = |e: &Event| {
            since.is_none_or(|s| e.time_nano >= s) && until.is_none_or(|u| e.time_nano <= u)
        };
        let past_until = |e: &Event| until.is_some_and(|u| e.time_nano > u);
        let path = self.journal();
        // The rotated generation first, then the current file, which is
        // followed from where the reading stopped.
        if let Ok(f) = File::open(path.with_extension("jsonl.1")) {
            let mut r = BufReader::new(f);
            for e in read_lines(&mut r) {
                if past_until(&e) {
                    return Ok(());
                }
                if in_range(&e) && !keep(&e) {
                    return Ok(());
                }
            }
        }
        let mut reader: Option<(BufReader<File>, u64)> = None;
        loop {
            if reader.is_none() {
                if let Ok(f) = File::open(&path) {
                    let ino = f.metadata().map(|m| m.ino()).unwrap_or(0);
                    reader = Some((BufReader::new(f), ino));
                }
            }
            if let Some((r, ino)) = &mut reader {
                for e in read_lines(r) {
                    if past_until(&e) {
                        return Ok(());
                    }
                    if in_range(&e) && !keep(&e) {
                        return Ok(());
                    }
                }
                // Rotated under us: what we have read of it was all of it.
                if fs::metadata(&path).map(|m| m.ino()).ok() != Some(*ino) {
                    reader = None;
                    continue;
                }
            }
            if !follow {
                return Ok(());
            }
            let now = now_nanos();
            if until.is_some_and(|u| now > u) {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Appends `event` to the journal of the state directory `root` (for the
/// parts of the engine that have no [`Engine`] at hand, like a monitor's
/// health checker).
pub(crate) fn append(root: &std::path::Path, event: &Event) -> Result<()> {
    let path = root.join("events.jsonl");
    let mut line = serde_json::to_vec(event).expect("event serializes");
    line.push(b'\n');
    if fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES) {
        let _lock = crate::store::lock_file(&root.join("events.lock"))?;
        // Another writer may have rotated it while we waited.
        if fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES) {
            let _ = fs::rename(&path, path.with_extension("jsonl.1"));
        }
    }
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err(format!("opening {}", path.display())))?;
    f.write_all(&line)
        .map_err(io_err(format!("writing {}", path.display())))
}

/// A container event with Docker's attributes: the image, the name and
/// the container's labels, plus `extra`.
pub(crate) fn container_event(c: &Container, action: &str, extra: &[(&str, String)]) -> Event {
    let mut e = Event::new("container", action, c.id())
        .attr("image", c.config.config.image.clone())
        .attr("name", c.name());
    for (k, v) in &c.config.config.labels {
        e.actor.attributes.insert(k.clone(), v.clone());
    }
    for (k, v) in extra {
        e.actor.attributes.insert((*k).into(), v.clone());
    }
    e.status = action.into();
    e.id = c.id().into();
    e.from = c.config.config.image.clone();
    e
}

/// The complete lines available now; a partly written last line is left
/// for the next read.
fn read_lines(r: &mut BufReader<File>) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let pos = r.stream_position().unwrap_or(0);
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if !line.ends_with('\n') => {
                let _ = r.seek(SeekFrom::Start(pos));
                break;
            }
            Ok(_) => {
                if let Ok(e) = serde_json::from_str(&line) {
                    out.push(e);
                }
            }
        }
    }
    out
}

/// Now, in nanoseconds since the epoch.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as i64
}

/// A `--since`/`--until` value as Docker takes it: a Unix timestamp
/// (`1700000000`, `1700000000.5`), an RFC 3339 time, or a duration back
/// from now (`10m`, `1h30m`). Nanoseconds since the epoch.
pub fn parse_time(v: &str) -> Result<i64> {
    if let Ok(secs) = v.parse::<f64>() {
        return Ok((secs * 1e9) as i64);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        return Ok(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64);
    }
    if let Ok(d) = humantime::parse_duration(v) {
        return Ok(now_nanos() - d.as_nanos() as i64);
    }
    Err(crate::Error::Invalid(format!(
        "invalid time {v:?}: give a Unix timestamp, an RFC 3339 time or a duration such as 10m"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_of_keys_or_of_values() {
        let e = Event::new("container", "die", "abc123")
            .attr("name", "web")
            .attr("image", "busybox")
            .attr("exitCode", "3");
        let f = |v: &[&str]| {
            EventFilter::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        assert!(f(&["type=container", "event=die"]).matches(&e));
        assert!(f(&["event=start", "event=die"]).matches(&e));
        assert!(!f(&["type=image"]).matches(&e));
        assert!(f(&["container=web"]).matches(&e));
        assert!(f(&["container=abc"]).matches(&e));
        assert!(f(&["image=busybox"]).matches(&e));
        assert!(!f(&["container=web", "event=start"]).matches(&e));
        assert!(EventFilter::parse(&["bogus=1".into()]).is_err());
    }

    #[test]
    fn journal_round_trip_and_range() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        engine.object_event("image", "tag", "sha256:1", "a:b");
        let mid = now_nanos();
        std::thread::sleep(Duration::from_millis(2));
        engine.object_event("volume", "create", "v", "");
        let mut all = Vec::new();
        engine
            .events(None, None, false, &mut |e| {
                all.push(e.clone());
                true
            })
            .unwrap();
        assert_eq!(all.len(), 2);
        let mut later = Vec::new();
        engine
            .events(Some(mid), None, false, &mut |e| {
                later.push(e.action.clone());
                true
            })
            .unwrap();
        assert_eq!(later, vec!["create"]);
        assert!(parse_time("10m").unwrap() < now_nanos());
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000_000_000);
    }
}
