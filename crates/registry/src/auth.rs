//! `isola login` / `logout`: checks credentials against the registry, then
//! keeps them where Docker does (`config.json`: a credential helper when one
//! is configured, else `auths`), so `docker login` and `isola login` share
//! them. Passwords never go into process arguments or output.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::client::{config_path, credential_key, probe_client_with_timeout, transport};
use crate::{block_on, Error, Options, Result};

const DOCKER_HUB: &str = "docker.io";

/// The registry `login`/`logout` talk to: Docker Hub unless named.
fn registry_name(registry: Option<&str>) -> String {
    let r = registry.unwrap_or(DOCKER_HUB);
    let r = r
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let r = r.split('/').next().unwrap_or(r);
    match r {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// Verifies `user`/`password` with `registry` and stores them. Returns the
/// registry name.
pub fn login(
    registry: Option<&str>,
    user: &str,
    password: &str,
    options: &Options,
) -> Result<String> {
    let registry = registry_name(registry);
    block_on(check(&registry, user, password, options))??;
    store(&registry, user, password)?;
    Ok(registry)
}

/// Forgets the credentials for `registry`; `Ok(false)` if there were none.
pub fn logout(registry: Option<&str>) -> Result<bool> {
    let registry = registry_name(registry);
    let key = credential_key(&registry);
    let (path, mut config) = read_config()?;
    let erased = match helper_for(&config, &key) {
        Some(helper) => {
            run_helper(&helper, "erase", key.as_bytes())?;
            true
        }
        None => false,
    };
    let removed = config
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|auths| auths.remove(&key))
        .is_some();
    if removed {
        write_config(&path, &config)?;
    }
    Ok(removed || erased)
}

fn login_error(registry: &str, cause: String) -> Error {
    Error::Registry {
        action: "logging in to",
        reference: registry.to_string(),
        registry: registry.to_string(),
        cause,
    }
}

/// Docker's check: `GET /v2/`, answering a Basic challenge with the
/// credentials or a Bearer challenge by getting a token with them.
async fn check(registry: &str, user: &str, password: &str, options: &Options) -> Result<()> {
    let resolved = if registry == DOCKER_HUB {
        "index.docker.io"
    } else {
        registry
    };
    let transport = transport(registry, resolved, options).await;
    let scheme = if transport.https { "https" } else { "http" };
    let client =
        probe_client_with_timeout(&transport.cas, transport.insecure, Duration::from_secs(30))
            .ok_or_else(|| Error::Local("cannot create an HTTP client".into()))?;
    let fail = |e: reqwest::Error| login_error(registry, crate::error::network_cause(&e));
    let url = format!("{scheme}://{resolved}/v2/");
    let response = client.get(&url).send().await.map_err(fail)?;
    if response.status().is_success() {
        return Ok(());
    }
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let status = if challenge.to_ascii_lowercase().starts_with("bearer") {
        let params = parse_challenge(&challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(|| login_error(registry, "the Bearer challenge has no realm".into()))?;
        let mut query: Vec<(&str, &str)> = vec![("account", user)];
        if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
            query.push(("service", service));
        }
        client
            .get(&realm)
            .query(&query)
            .basic_auth(user, Some(password))
            .send()
            .await
            .map_err(fail)?
            .status()
    } else {
        client
            .get(&url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .map_err(fail)?
            .status()
    };
    match status.as_u16() {
        200..=299 => Ok(()),
        401 | 403 => Err(login_error(
            registry,
            format!(
                "unauthorized ({}): wrong user name or password",
                status.as_u16()
            ),
        )),
        code => Err(login_error(registry, format!("HTTP {code}"))),
    }
}

/// `Bearer realm="…",service="…"` -> [(realm, …), (service, …)].
fn parse_challenge(header: &str) -> Vec<(String, String)> {
    let rest = header.split_once(' ').map_or("", |(_, r)| r);
    let mut out = Vec::new();
    let mut rest = rest.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, n)) => (v.to_string(), n),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v.trim().to_string(), n),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = next.trim_start_matches(',').trim();
    }
    out
}

fn store(registry: &str, user: &str, password: &str) -> Result<()> {
    let key = credential_key(registry);
    let (path, mut config) = read_config()?;
    if let Some(helper) = helper_for(&config, &key) {
        let input = json!({"ServerURL": key, "Username": user, "Secret": password});
        return run_helper(&helper, "store", input.to_string().as_bytes());
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let object = config
        .as_object_mut()
        .ok_or_else(|| Error::Credentials(format!("{} is not a JSON object", path.display())))?;
    let auths = object
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    if let Some(auths) = auths.as_object_mut() {
        auths.insert(key, json!({ "auth": auth }));
    }
    write_config(&path, &config)
}

fn helper_for(config: &Value, key: &str) -> Option<String> {
    config
        .get("credHelpers")
        .and_then(|h| h.get(key))
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Runs `docker-credential-<helper> <verb>` with `input` on stdin.
fn run_helper(helper: &str, verb: &str, input: &[u8]) -> Result<()> {
    let program = format!("docker-credential-{helper}");
    let fail = |why: String| Error::Credentials(format!("{program} {verb}: {why}"));
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| fail(e.to_string()))?;
    }
    let output = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
        return Err(fail(if text.is_empty() {
            output.status.to_string()
        } else {
            text
        }));
    }
    Ok(())
}

fn read_config() -> Result<(std::path::PathBuf, Value)> {
    let path = config_path().ok_or_else(|| {
        Error::Credentials("neither DOCKER_CONFIG nor HOME is set: set one".into())
    })?;
    let value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::Credentials(format!(
                "{} is not valid JSON ({e}): fix or remove it",
                path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => {
            return Err(Error::Credentials(format!(
                "reading {}: {e}",
                path.display()
            )))
        }
    };
    Ok((path, value))
}

/// Replaces the config atomically, readable by its owner only.
fn write_config(path: &std::path::Path, config: &Value) -> Result<()> {
    let fail = |e: std::io::Error| Error::Credentials(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(fail)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(config)
        .map_err(|e| Error::Local(format!("encoding {}: {e}", path.display())))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let p = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn names_registries_like_docker() {
        assert_eq!(registry_name(None), "docker.io");
        assert_eq!(
            registry_name(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(registry_name(Some("localhost:5000")), "localhost:5000");
        assert_eq!(credential_key("docker.io"), "https://index.docker.io/v1/");
    }
}
