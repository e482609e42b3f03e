//! Health checks as data: Docker's `Config.Healthcheck`, merged from the
//! image's HEALTHCHECK and the `--health-*` flags with Docker's defaults,
//! and turned into the [`Probe`] that the container's supervisor runs
//! (the monitor in process mode, the guest agent in VM mode).

use crate::store::Container;
use crate::{Error, Result};
use isola_runtime_process::health::Probe;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Docker's defaults.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: u32 = 3;
/// The shortest interval and timeout Docker accepts.
const MINIMUM: Duration = Duration::from_millis(1);

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// Docker's `Config.Healthcheck`, times in nanoseconds (0: the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["CMD", args...]`, `["CMD-SHELL", command]` or `["NONE"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: u64,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retries: u32,
}

/// The `--health-*` flags as parsed.
#[derive(Debug, Clone, Default)]
pub struct HealthOptions {
    pub cmd: Option<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub retries: Option<u32>,
    /// `--no-healthcheck`: none, whatever the image says.
    pub disable: bool,
}

impl HealthOptions {
    fn any_flag(&self) -> bool {
        self.cmd.is_some()
            || self.interval.is_some()
            || self.timeout.is_some()
            || self.start_period.is_some()
            || self.retries.is_some()
    }
}

/// The image's HEALTHCHECK, from its configuration's `config` object.
pub(crate) fn from_image(config: &serde_json::Value) -> Option<HealthConfig> {
    serde_json::from_value(config.get("Healthcheck")?.clone()).ok()
}

/// Docker's merge: each flag given overrides the image's field;
/// `--no-healthcheck` turns the check off.
pub(crate) fn resolve(
    image: Option<HealthConfig>,
    o: &HealthOptions,
) -> Result<Option<HealthConfig>> {
    if o.disable {
        if o.any_flag() {
            return Err(Error::Invalid(
                "--no-healthcheck conflicts with --health-* options: give one or the other".into(),
            ));
        }
        return Ok(Some(HealthConfig {
            test: vec!["NONE".into()],
            ..HealthConfig::default()
        }));
    }
    for (flag, value) in [
        ("--health-interval", o.interval),
        ("--health-timeout", o.timeout),
    ] {
        if let Some(d) = value {
            if d < MINIMUM {
                return Err(Error::Invalid(format!(
                    "{flag} must be at least 1ms (e.g. 30s), not {}",
                    humantime::format_duration(d)
                )));
            }
        }
    }
    if o.cmd.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(Error::Invalid(
            "--health-cmd is empty: give the command that checks the container".into(),
        ));
    }
    let ns = |d: Duration| d.as_nanos().min(u64::MAX as u128) as u64;
    let mut h = image.unwrap_or_default();
    if let Some(cmd) = &o.cmd {
        h.test = vec!["CMD-SHELL".into(), cmd.clone()];
    }
    if let Some(d) = o.interval {
        h.interval = ns(d);
    }
    if let Some(d) = o.timeout {
        h.timeout = ns(d);
    }
    if let Some(d) = o.start_period {
        h.start_period = ns(d);
    }
    if let Some(r) = o.retries {
        h.retries = r;
    }
    Ok((h != HealthConfig::default()).then_some(h))
}

/// The check to run for `c`, with Docker's defaults; `None` when it has
/// none (no test, or `NONE`).
pub(crate) fn probe(c: &Container) -> Option<Probe> {
    let h = c.config.config.healthcheck.as_ref()?;
    let args: Vec<String> = match h.test.first().map(String::as_str) {
        Some("CMD") => h.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
        _ => return None,
    };
    if args.is_empty() {
        return None;
    }
    let or = |v: u64, d: Duration| if v == 0 { d.as_nanos() as u64 } else { v };
    let mut process = crate::backend::main_process(c);
    process.args = args;
    Some(Probe {
        process,
        interval_ns: or(h.interval, DEFAULT_INTERVAL),
        timeout_ns: or(h.timeout, DEFAULT_TIMEOUT),
        start_period_ns: h.start_period,
        retries: if h.retries == 0 {
            DEFAULT_RETRIES
        } else {
            h.retries
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_image_field_by_field() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: 5_000_000_000,
            ..HealthConfig::default()
        };
        let o = HealthOptions {
            retries: Some(7),
            ..HealthOptions::default()
        };
        let h = resolve(Some(image.clone()), &o).unwrap().unwrap();
        assert_eq!(h.test, image.test);
        assert_eq!((h.interval, h.retries), (5_000_000_000, 7));
        let none = HealthOptions {
            disable: true,
            ..HealthOptions::default()
        };
        assert_eq!(resolve(Some(image), &none).unwrap().unwrap().test, ["NONE"]);
        assert_eq!(resolve(None, &HealthOptions::default()).unwrap(), None);
    }

    #[test]
    fn zero_interval_and_conflicts_are_refused() {
        let zero = HealthOptions {
            interval: Some(Duration::ZERO),
            ..HealthOptions::default()
        };
        assert!(resolve(None, &zero).is_err());
        let both = HealthOptions {
            cmd: Some("true".into()),
            disable: true,
            ..HealthOptions::default()
        };
        assert!(resolve(None, &both).is_err());
    }
}
