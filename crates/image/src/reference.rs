//! Image names: one canonical spelling per image so "busybox",
//! "busybox:latest" and "docker.io/library/busybox" all find the same tag.

use crate::error::{Error, Result};

const DEFAULT_TAG: &str = "latest";
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: &[&str] = &["docker.io/", "index.docker.io/", "registry-1.docker.io/"];
const OFFICIAL_NAMESPACE: &str = "library/";

/// Where containerd and Docker 25+ put an image's full name in an OCI index.
pub(crate) const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

/// Normalizes "busybox" -> "busybox:latest"; tag is after the last ':' not
/// followed by '/'. Docker Hub names are shortened the way Docker shows them
/// ("docker.io/library/busybox" -> "busybox"). Rejects empty/invalid names
/// with a clear error.
pub fn normalize_reference(r: &str) -> Result<String> {
    let invalid = |reason| Error::InvalidReference {
        reference: r.to_string(),
        reason,
    };
    if r.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if r.contains('@') {
        return Err(invalid(
            "a digest reference (name@sha256:...) cannot name an image here; use name:tag",
        ));
    }
    let (name, tag) = split_tag(r);
    let tag = tag.unwrap_or(DEFAULT_TAG);
    if !valid_tag(tag) {
        return Err(invalid(
            "a tag is 1-128 letters, digits, '_', '.' or '-' and cannot start with '.' or '-'",
        ));
    }
    let name = familiar_name(name);
    if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "a 64-character hex string is an image id, not a name; choose another name",
        ));
    }
    if !valid_name(name) {
        return Err(invalid(
            "names are lowercase letters and digits separated by '.', '_', '__', '-' or '/', optionally after a registry host[:port]/",
        ));
    }
    Ok(format!("{name}:{tag}"))
}

/// Splits "name[:tag]" at the last ':' that is not part of a registry port.
pub(crate) fn split_tag(r: &str) -> (&str, Option<&str>) {
    match r.rfind(':') {
        Some(i) if !r[i + 1..].contains('/') => (&r[..i], Some(&r[i + 1..])),
        _ => (r, None),
    }
}

/// Expands a normalized reference to the fully qualified form containerd
/// tools expect in `io.containerd.image.name` annotations.
pub(crate) fn fully_qualified(normalized: &str) -> String {
    match normalized.split_once('/') {
        Some((first, _)) if is_registry(first) => normalized.to_string(),
        Some(_) => format!("{DOCKER_HUB}/{normalized}"),
        None => format!("{DOCKER_HUB}/{OFFICIAL_NAMESPACE}{normalized}"),
    }
}

fn familiar_name(name: &str) -> &str {
    let rest = DOCKER_HUB_ALIASES
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    match rest.strip_prefix(OFFICIAL_NAMESPACE) {
        Some(official) if !official.contains('/') => official,
        _ => rest,
    }
}

/// A first path component is a registry host if it looks like one, as in
/// Docker's reference grammar.
fn is_registry(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn valid_name(name: &str) -> bool {
    if name.len() > 255 {
        return false;
    }
    let mut components = name.split('/').peekable();
    if let Some(first) = components.next_if(|first| is_registry(first) && name.contains('/')) {
        if !valid_registry(first) {
            return false;
        }
    }
    components.peek().is_some() && components.all(valid_path_component)
}

fn valid_registry(host_port: &str) -> bool {
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && match port {
            Some(port) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
            None => true,
        }
}

/// `[a-z0-9]+` runs joined by exactly one of `.`, `_`, `__` or a run of `-`.
fn valid_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        if !matches!(separator, "." | "_" | "__") && !separator.bytes().all(|b| b == b'-') {
            return false;
        }
    }
    true
}

fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    (1..=128).contains(&bytes.len())
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names_and_tags() {
        let cases = [
            ("busybox", "busybox:latest"),
            ("busybox:1.36", "busybox:1.36"),
            ("docker.io/library/busybox", "busybox:latest"),
            ("index.docker.io/library/alpine:3", "alpine:3"),
            ("docker.io/foo/bar:v1", "foo/bar:v1"),
            ("library/busybox", "busybox:latest"),
            ("registry:5000/a/b:tag", "registry:5000/a/b:tag"),
            ("registry:5000/a/b", "registry:5000/a/b:latest"),
            ("localhost/app", "localhost/app:latest"),
            (
                "ghcr.io/o-r/my__img.x:V_1.0-rc",
                "ghcr.io/o-r/my__img.x:V_1.0-rc",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_reference(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects_invalid_references_with_reason() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "-a",
            "a..b",
            "busybox@sha256:abc",
            "/abs",
            "reg:port/x",
            &"a".repeat(64),
        ] {
            let err = normalize_reference(bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid image reference {bad:?}: ")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn splits_tag_and_qualifies_names() {
        assert_eq!(split_tag("reg:5000/a:b"), ("reg:5000/a", Some("b")));
        assert_eq!(split_tag("reg:5000/a"), ("reg:5000/a", None));
        assert_eq!(
            fully_qualified("busybox:latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(fully_qualified("foo/bar:1"), "docker.io/foo/bar:1");
        assert_eq!(fully_qualified("reg:5000/a:b"), "reg:5000/a:b");
    }
}
