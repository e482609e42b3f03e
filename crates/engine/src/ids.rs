//! Container ids (64 hex digits, like Docker's), generated names
//! (`adjective_noun`), name validation and timestamps.

use crate::{Error, Result};
use std::time::SystemTime;

const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly",
    "keen", "lucid", "merry", "nimble", "proud", "quiet", "rapid", "sharp", "sleepy", "steady",
    "swift", "tender", "vivid", "witty", "zealous", "amber", "crisp", "dapper", "epic", "frosty",
];
const NOUNS: &[&str] = &[
    "otter", "falcon", "lynx", "heron", "badger", "marten", "puffin", "ibex", "gecko", "koala",
    "lemur", "newt", "orca", "panda", "quokka", "raven", "stoat", "tapir", "viper", "walrus",
    "yak", "zebra", "bison", "crane", "dingo", "egret", "ferret", "gibbon", "hyena", "jackal",
];

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("the kernel's random source is available");
    b
}

/// A new random 64-hex-digit container id.
pub(crate) fn new_id() -> String {
    hex(&random_bytes::<32>())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random `adjective_noun` name with a numeric suffix: 900 * 900 * 100
/// combinations, and the caller retries on the rare collision.
pub(crate) fn new_name() -> String {
    let r = random_bytes::<4>();
    let a = ADJECTIVES[r[0] as usize % ADJECTIVES.len()];
    let n = NOUNS[r[1] as usize % NOUNS.len()];
    format!("{a}_{n}{}", u16::from_le_bytes([r[2], r[3]]) % 100)
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, with an optional
/// leading `/` that is not part of the name.
pub(crate) fn validate_name(name: &str) -> Result<String> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::Invalid(format!(
            "invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// `KEY=VALUE` labels (a bare `KEY` has an empty value), as `--label`
/// takes them for containers and volumes.
pub(crate) fn parse_labels(
    labels: &[String],
) -> Result<std::collections::BTreeMap<String, String>> {
    labels
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() {
                return Err(Error::Invalid(format!(
                    "invalid label {l:?}: use KEY=VALUE"
                )));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// RFC 3339 with nanoseconds in UTC, as Docker writes times.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// Docker's `HumanDuration` ("5 seconds", "About a minute", "3 hours"),
/// for `ps`'s STATUS and CREATED in the CLI and the API alike.
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let h = s / 3600;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

/// Time since an RFC 3339 timestamp.
pub fn since(rfc3339: &str) -> std::time::Duration {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Seconds since the epoch of an RFC 3339 timestamp (0 when unparsable).
pub(crate) fn rfc3339_to_unix(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_durations_as_docker_prints_them() {
        use super::human_duration;
        use std::time::Duration;
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(7200)), "2 hours");
    }

    use super::*;

    #[test]
    fn ids_and_names_have_docker_shape() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, new_id());
        let n = new_name();
        assert!(validate_name(&n).is_ok(), "{n}");
        assert_eq!(validate_name("/web-1").unwrap(), "web-1");
        assert!(validate_name("bad name").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("").is_err());
    }
}
