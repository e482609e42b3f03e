//! Host-wide settings: `ROOT/config.toml`, else `/etc/isola/config.toml`,
//! else the environment. They choose the default isolation mode (servers
//! leave it at `process`, desktops may set `vm`) and where VM mode finds
//! its accelerator, guest kernel and agent.

use crate::backend::{Isolation, VmSettings};
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

const SYSTEM_CONFIG: &str = "/etc/isola/config.toml";
const ENV_DEFAULT_ISOLATION: &str = "ISOLA_DEFAULT_ISOLATION";
const ENV_DEFAULT_NETWORK: &str = "ISOLA_DEFAULT_NETWORK";
/// Where the set-up puts the guest kernel and the agent's initramfs.
const ENV_CACHE: &str = "ISOLA_CACHE";
const DEFAULT_CACHE: &str = "/var/cache/isola";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default_isolation: Option<String>,
    /// `auto`, `kvm` or `tcg`.
    vm_accel: Option<String>,
    vm_kernel: Option<PathBuf>,
    vm_initrd: Option<PathBuf>,
    /// The network of `run`/`create` without `--network` (containers.conf's
    /// `default_network`): `bridge` unless set.
    default_network: Option<String>,
    /// The default bridge's subnet.
    default_subnet: Option<String>,
    /// `[[isolation_rule]]` tables: the isolation of images by reference.
    #[serde(default)]
    isolation_rule: Vec<IsolationRule>,
    /// Registries (`host[:port]`) that may be reached over plain HTTP or
    /// with unverified TLS, as Docker's `insecure-registries`.
    #[serde(default)]
    insecure_registries: Vec<String>,
}

/// Runs images whose normalised reference matches `image` (a pattern
/// where `*` matches any run of characters) in `isolation`, unless the
/// user asks for a mode with `--isolation`. The first matching rule wins.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationRule {
    pub image: String,
    pub isolation: String,
}

/// The resolved host settings and where the default came from (`info`).
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub default_isolation: Isolation,
    pub default_isolation_source: String,
    pub isolation_rules: Vec<IsolationRule>,
    /// `insecure_registries` from the config file.
    pub insecure_registries: Vec<String>,
    pub(crate) vm: VmSettings,
    /// `default_network`, else env `ISOLA_DEFAULT_NETWORK`, else `bridge`.
    pub default_network: String,
    /// `default_subnet`, else 10.89.0.0/24.
    pub default_subnet: String,
}

impl HostConfig {
    pub(crate) fn load(root: &Path) -> Result<HostConfig> {
        let mut file = File::default();
        let mut source = String::new();
        for path in [root.join("config.toml"), PathBuf::from(SYSTEM_CONFIG)] {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            file = toml::from_str(&text).map_err(|e| {
                Error::Invalid(format!(
                    "{}: {}: fix or remove the file",
                    path.display(),
                    e.message().trim()
                ))
            })?;
            source = path.display().to_string();
            break;
        }
        let (default_isolation, default_isolation_source) = match file.default_isolation {
            Some(v) => (parse_default(&v, &source)?, source.clone()),
            None => match std::env::var(ENV_DEFAULT_ISOLATION) {
                Ok(v) => (
                    parse_default(&v, ENV_DEFAULT_ISOLATION)?,
                    ENV_DEFAULT_ISOLATION.to_string(),
                ),
                Err(_) => (Isolation::Process, "built-in default".to_string()),
            },
        };
        for (n, rule) in file.isolation_rule.iter().enumerate() {
            Isolation::parse(&rule.isolation).map_err(|_| {
                Error::Invalid(format!(
                    "isolation_rule {} in {source}: isolation {:?} is invalid: use process or vm",
                    n + 1,
                    rule.isolation
                ))
            })?;
        }
        let cache = std::env::var_os(ENV_CACHE)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));
        let vm = VmSettings {
            accel: file.vm_accel.unwrap_or_else(|| "auto".into()),
            kernel: file
                .vm_kernel
                .unwrap_or_else(|| cache.join("kernel/vmlinux")),
            initrd: file
                .vm_initrd
                .unwrap_or_else(|| cache.join("agent/initrd.img")),
            layer_cache: root.join("vm/layers"),
        };
        let default_network = file
            .default_network
            .or_else(|| std::env::var(ENV_DEFAULT_NETWORK).ok())
            .unwrap_or_else(|| isola_network::DEFAULT_NETWORK.to_string());
        let default_subnet = file
            .default_subnet
            .unwrap_or_else(|| isola_network::DEFAULT_SUBNET.to_string());
        isola_network::Cidr::parse(&default_subnet)
            .map_err(|e| Error::Invalid(format!("default_subnet in {source}: {e}")))?;
        Ok(HostConfig {
            default_isolation,
            default_isolation_source,
            isolation_rules: file.isolation_rule,
            insecure_registries: file.insecure_registries,
            vm,
            default_network,
            default_subnet,
        })
    }

    /// Resolves a `--isolation` value for `image` (its normalised
    /// reference), and says what chose it: an explicit mode wins, then the
    /// first matching isolation rule, then the host default.
    pub fn resolve(&self, requested: Option<&str>, image: &str) -> Result<(Isolation, String)> {
        if let Some(v) = requested.filter(|v| *v != "default") {
            return Ok((Isolation::parse(v)?, "--isolation".into()));
        }
        for (n, rule) in self.isolation_rules.iter().enumerate() {
            if glob_match(&rule.image, image) {
                let mode = Isolation::parse(&rule.isolation)?;
                return Ok((
                    mode,
                    format!("isolation_rule {} (image {:?})", n + 1, rule.image),
                ));
            }
        }
        Ok((
            self.default_isolation,
            format!("default ({})", self.default_isolation_source),
        ))
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of
/// characters (also `/`) and everything else itself. Written here rather
/// than pulling in a glob crate: references are not paths, and this is the
/// whole of the syntax.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
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
    fn glob_patterns() {
        assert!(glob_match(
            "docker.io/library/*",
            "docker.io/library/busybox:latest"
        ));
        assert!(glob_match("*busybox*", "docker.io/library/busybox:latest"));
        assert!(glob_match(
            "registry.example:5000/untrusted/*",
            "registry.example:5000/untrusted/a/b:1"
        ));
        assert!(!glob_match("docker.io/library/*", "quay.io/x/busybox:1"));
        assert!(!glob_match("busybox", "docker.io/library/busybox:latest"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn root_config_wins_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, "default_isolation = \"hyperv\"\nvm_kernel = \"/k\"\n").unwrap();
        let c = HostConfig::load(dir.path()).unwrap();
        assert_eq!(c.default_isolation, Isolation::Vm);
        assert_eq!(c.vm.kernel, PathBuf::from("/k"));
        assert_eq!(
            c.resolve(Some("process"), "x").unwrap().0,
            Isolation::Process
        );
        assert_eq!(c.resolve(Some("default"), "x").unwrap().0, Isolation::Vm);
        assert!(c.resolve(Some("bogus"), "x").is_err());

        std::fs::write(&cfg, "default_isolation = \"x\"\n").unwrap();
        let e = HostConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("use process or vm"), "{e}");
        std::fs::write(&cfg, "bogus = 1\n").unwrap();
        assert!(HostConfig::load(dir.path()).is_err());
    }
}
