//! Connecting to one registry: its scheme (HTTPS, or plain HTTP where
//! Docker allows it), its CAs, its credentials.

use std::path::Path;
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::{Error, Options, Result};

/// A parsed reference and the names isola uses for it.
pub(crate) struct Target {
    pub(crate) reference: Reference,
    /// `host[:port]` as the user wrote it ("docker.io" for Docker Hub).
    pub(crate) registry: String,
    /// What the user typed, for messages.
    pub(crate) input: String,
}

impl Target {
    pub(crate) fn parse(input: &str) -> Result<Target> {
        let reference: Reference =
            input
                .parse()
                .map_err(|e: oci_client::ParseError| Error::InvalidReference {
                    reference: input.to_string(),
                    reason: e.to_string(),
                })?;
        Ok(Target {
            registry: reference.registry().to_string(),
            reference,
            input: input.to_string(),
        })
    }

    /// "registry/repository" without tag or digest.
    pub(crate) fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.reference.repository())
    }

    /// The error for a failed request about this reference.
    pub(crate) fn error(&self, action: &'static str, cause: String) -> Error {
        Error::Registry {
            action,
            reference: self.input.clone(),
            registry: self.registry.clone(),
            cause,
        }
    }
}

/// Where the host part of `registry` may be spoken to in plain HTTP
/// without configuration: loopback, as in Docker.
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The CAs `certs.d` directories hold for `registry` (`*.crt`, PEM).
fn registry_cas(registry: &str, options: &Options) -> Vec<Certificate> {
    let mut certs = Vec::new();
    for dir in &options.certs_dirs {
        let Ok(entries) = std::fs::read_dir(dir.join(registry)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "crt") {
                if let Ok(data) = std::fs::read(&path) {
                    certs.push(Certificate {
                        encoding: CertificateEncoding::Pem,
                        data,
                    });
                }
            }
        }
    }
    certs
}

/// How to reach a registry: whether over HTTPS, with which extra CAs, and
/// whether certificate errors are ignored (only for registries the user
/// listed as insecure).
pub(crate) struct Transport {
    pub(crate) https: bool,
    pub(crate) cas: Vec<Certificate>,
    pub(crate) insecure: bool,
}

/// For loopback and configured insecure registries this probes like
/// Docker: HTTPS first (verified, except for registries the user listed as
/// insecure), plain HTTP if that fails and HTTP answers.
pub(crate) async fn transport(registry: &str, resolved: &str, options: &Options) -> Transport {
    let insecure = options
        .insecure_registries
        .iter()
        .any(|r| r == registry || r == resolved);
    let cas = registry_cas(registry, options);
    let https = !(insecure || is_loopback(resolved))
        || speaks_https(resolved, &cas, insecure).await
        || !speaks_http(resolved).await;
    Transport {
        https,
        cas,
        insecure,
    }
}

/// A client for `target`'s registry.
pub(crate) async fn connect(target: &Target, options: &Options) -> Result<Client> {
    let registry = target.reference.resolve_registry().to_string();
    let transport = transport(&target.registry, &registry, options).await;
    let protocol = if transport.https {
        ClientProtocol::Https
    } else {
        ClientProtocol::HttpsExcept(vec![registry.clone()])
    };
    let config = ClientConfig {
        protocol,
        accept_invalid_certificates: transport.insecure,
        extra_root_certificates: transport.cas,
        platform_resolver: None,
        // Layers are streamed from disk in one PUT each: one request, and
        // no layer is ever held in memory whole.
        use_monolithic_push: true,
        connect_timeout: Some(Duration::from_secs(15)),
        read_timeout: Some(Duration::from_secs(60)),
        user_agent: concat!("isola/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    };
    Ok(Client::new(config))
}

pub(crate) fn probe_client(cas: &[Certificate], insecure: bool) -> Option<reqwest::Client> {
    probe_client_with_timeout(cas, insecure, Duration::from_secs(5))
}

pub(crate) fn probe_client_with_timeout(
    cas: &[Certificate],
    insecure: bool,
    timeout: Duration,
) -> Option<reqwest::Client> {
    let certs = cas
        .iter()
        .filter_map(|c| reqwest::Certificate::from_pem(&c.data).ok())
        .collect::<Vec<_>>();
    reqwest::Client::builder()
        .timeout(timeout)
        .tls_certs_merge(certs)
        .danger_accept_invalid_certs(insecure)
        .build()
        .ok()
}

async fn speaks_https(registry: &str, cas: &[Certificate], insecure: bool) -> bool {
    let Some(client) = probe_client(cas, insecure) else {
        return false;
    };
    client
        .get(format!("https://{registry}/v2/"))
        .send()
        .await
        .is_ok()
}

/// Whether a registry answers `/v2/` in plain HTTP: 200, or 401 asking for
/// credentials. A TLS server answers plain HTTP with 400, which is not.
async fn speaks_http(registry: &str) -> bool {
    let Some(client) = probe_client(&[], false) else {
        return false;
    };
    client
        .get(format!("http://{registry}/v2/"))
        .send()
        .await
        .is_ok_and(|r| matches!(r.status().as_u16(), 200 | 401))
}

/// The key Docker's `config.json` uses for a registry.
pub(crate) fn credential_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        other => other.to_string(),
    }
}

/// The user's credentials for `registry` from Docker's config, or
/// anonymous access when there are none.
pub(crate) fn credentials(registry: &str) -> Result<RegistryAuth> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let key = credential_key(registry);
    let result = match config_dir() {
        Some(dir) => match std::fs::File::open(dir.join("config.json")) {
            Ok(file) => {
                docker_credential::get_credential_from_reader(std::io::BufReader::new(file), &key)
            }
            Err(_) => Err(E::ConfigNotFound),
        },
        None => Err(E::ConfigNotFound),
    };
    match result {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        Ok(DockerCredential::IdentityToken(token)) => Ok(RegistryAuth::Bearer(token)),
        Err(E::NoCredentialConfigured | E::ConfigNotFound) => Ok(RegistryAuth::Anonymous),
        Err(E::ConfigReadError) => Err(Error::Credentials(format!(
            "{} is not valid JSON: fix or remove it",
            config_path().map_or_else(|| "config.json".into(), |p| p.display().to_string())
        ))),
        Err(e) => Err(Error::Credentials(format!(
            "for {registry}: {}",
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        ))),
    }
}

/// `$DOCKER_CONFIG`, else `~/.docker`, as Docker does.
pub(crate) fn config_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
}

pub(crate) fn config_path() -> Option<std::path::PathBuf> {
    config_dir().map(|d| d.join("config.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries() {
        for r in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["docker.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn parses_references_like_docker() {
        let t = Target::parse("busybox").unwrap();
        assert_eq!(t.registry, "docker.io");
        assert_eq!(t.reference.repository(), "library/busybox");
        assert_eq!(t.reference.tag(), Some("latest"));
        let t = Target::parse("127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(t.repository_name(), "127.0.0.1:5000/a/b");
        let digest = format!("sha256:{}", "a".repeat(64));
        let t = Target::parse(&format!("localhost:5000/x@{digest}")).unwrap();
        assert_eq!(t.reference.digest(), Some(digest.as_str()));
        assert!(Target::parse("Bad Name").is_err());
    }
}
