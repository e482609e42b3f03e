//! The crate's error type: one line naming the registry, the reference and
//! the cause.

use oci_client::errors::OciDistributionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry request failed.
    #[error("{action} {reference}: registry {registry}: {cause}")]
    Registry {
        action: &'static str,
        reference: String,
        registry: String,
        cause: String,
    },
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid platform {0:?}: use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")]
    InvalidPlatform(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error(transparent)]
    Image(#[from] isola_image::Error),
    #[error("{0}")]
    Local(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A short cause for a protocol error: the innermost message of a network
/// error ("Connection refused", "failed to lookup address"), the
/// registry's own error codes, or what 401/404 mean to the user.
pub(crate) fn cause(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RequestError(e) => network_cause(e),
        OciDistributionError::UnauthorizedError { .. } => {
            "unauthorized (401): log in with 'isola login' or check the credentials".to_string()
        }
        OciDistributionError::AuthenticationFailure(reason) => {
            format!("authentication failed: {}", reason.trim())
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| {
                    let code = format!("{:?}", e.code);
                    if e.message.is_empty() {
                        code
                    } else {
                        format!("{} ({})", e.message, code)
                    }
                })
                .collect();
            codes.join("; ")
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            let message: String = message.chars().take(200).collect();
            match code {
                404 => "not found (404)".to_string(),
                code if message.is_empty() => format!("HTTP {code}"),
                code => format!("HTTP {code}: {message}"),
            }
        }
        OciDistributionError::ImageManifestNotFoundError(_) => "manifest not found".to_string(),
        other => one_line(&other.to_string()),
    }
}

pub(crate) fn network_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        innermost = s.to_string();
        source = s.source();
    }
    let what = if let Some(r) = e.downcast_ref::<reqwest::Error>() {
        if r.is_timeout() {
            "timed out: "
        } else if r.is_connect() {
            "cannot connect: "
        } else {
            ""
        }
    } else {
        ""
    };
    one_line(&format!("{what}{innermost}"))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether retrying may help: connection resets, timeouts, 5xx.
pub(crate) fn transient(e: &OciDistributionError) -> bool {
    match e {
        // An unknown host or a refused connection will not change in a
        // second: fail at once. A reset or a timeout mid-way may.
        OciDistributionError::RequestError(e) => {
            !e.is_builder()
                && !e.is_redirect()
                && !e.is_connect()
                && e.status().is_none_or(|s| s.is_server_error())
        }
        OciDistributionError::ServerError { code, .. } => *code >= 500,
        OciDistributionError::IoError(_) => true,
        _ => false,
    }
}
