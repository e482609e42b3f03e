//! Host-wide settings: `ROOT/config.toml`, else `/etc/isola/config.toml`,
//! else the environment. Today it holds the default isolation mode, which
//! servers leave at `process` and desktops may set to `vm`.

use crate::backend::Isolation;
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

const SYSTEM_CONFIG: &str = "/etc/isola/config.toml";
const ENV_DEFAULT_ISOLATION: &str = "ISOLA_DEFAULT_ISOLATION";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_isolation: Option<String>,
}

/// The resolved host settings and where each came from (shown by `info`).
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub default_isolation: Isolation,
    pub default_isolation_source: String,
}

impl HostConfig {
    pub(crate) fn load(root: &Path) -> Result<HostConfig> {
        for path in [root.join("config.toml"), PathBuf::from(SYSTEM_CONFIG)] {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let file: File = toml::from_str(&text).map_err(|e| {
                Error::Invalid(format!(
                    "{}: {}: fix or remove the file",
                    path.display(),
                    e.message()
                ))
            })?;
            if let Some(v) = file.default_isolation {
                return Ok(HostConfig {
                    default_isolation: parse_default(&v, &path.display().to_string())?,
                    default_isolation_source: path.display().to_string(),
                });
            }
        }
        if let Ok(v) = std::env::var(ENV_DEFAULT_ISOLATION) {
            return Ok(HostConfig {
                default_isolation: parse_default(&v, ENV_DEFAULT_ISOLATION)?,
                default_isolation_source: ENV_DEFAULT_ISOLATION.to_string(),
            });
        }
        Ok(HostConfig {
            default_isolation: Isolation::Process,
            default_isolation_source: "built-in default".to_string(),
        })
    }

    /// Resolves a `--isolation` value (`None` or `default` use the host default).
    pub fn resolve(&self, requested: Option<&str>) -> Result<Isolation> {
        match requested {
            None | Some("default") => Ok(self.default_isolation),
            Some(v) => Isolation::parse(v),
        }
    }
}

fn parse_default(value: &str, source: &str) -> Result<Isolation> {
    Isolation::parse(value).map_err(|_| {
        Error::Invalid(format!(
            "default_isolation {value:?} in {source} is invalid: use process or vm"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_config_wins_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.toml"),
            "default_isolation = \"hyperv\"\n",
        )
        .unwrap();
        let c = HostConfig::load(dir.path()).unwrap();
        assert_eq!(c.default_isolation, Isolation::Vm);
        assert_eq!(c.resolve(Some("process")).unwrap(), Isolation::Process);
        assert_eq!(c.resolve(Some("default")).unwrap(), Isolation::Vm);
        assert!(c.resolve(Some("bogus")).is_err());

        std::fs::write(
            dir.path().join("config.toml"),
            "default_isolation = \"x\"\n",
        )
        .unwrap();
        let e = HostConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("use process or vm"), "{e}");
        std::fs::write(dir.path().join("config.toml"), "bogus = 1\n").unwrap();
        assert!(HostConfig::load(dir.path()).is_err());
    }
}
