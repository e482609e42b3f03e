//! The OCI runtime spec as this runtime's input: [`from_spec`] turns a
//! `config.json` into what [`crate::spawn`] runs, on the host or (the same
//! spec, sent by the engine) inside a VM's guest. It is the one place that
//! knows the spec's shape; everything after it uses the runtime's own
//! types.
//!
//! Supported: the process (args, env, cwd, terminal, user, capabilities,
//! rlimits, noNewPrivileges), hostname, the root's read-only flag, Docker's
//! standard mounts (proc, /dev tmpfs, devpts, /dev/shm with its size,
//! mqueue, sysfs read-only or not, cgroup), binds and tmpfs mounts with
//! their options, the pid, ipc,
//! uts, mount, cgroup and network namespaces (without a network namespace
//! the container shares the runtime's; the network namespace alone may
//! name a `path` to join), masked and read-only paths,
//! devices, memory/cpu/pids/device resources, seccomp and sysctls. Anything
//! else is refused by name rather than silently ignored.
//!
//! isola's extensions travel as annotations, the spec's extension point:
//! the user as given (`--user name`, resolved inside the container at
//! start, as Docker does for exec), `--group-add` names, where a device is
//! read from (in a VM: the guest's device, never the host's) and
//! `--privileged`'s "every device".

use crate::linux::{DeviceNode, LinuxSettings, INIT_PATH};
use crate::spawn::{Network, ProcessSpec, Rlimit};
use crate::volume::{UserMount, ANNOTATION_COPY_UP};
use crate::{Error, Limits, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::PathBuf;

/// The user as given to `--user` (name or number, optionally `:group`).
pub const ANNOTATION_USER: &str = "org.isola.user";
/// VM mode: JSON `{"interfaces": [{"mac", "address": "IP/PREFIX",
/// "gateway"}], "hosts": ..., "resolv": ...}`: how the guest agent
/// configures the guest's NIC(s) and the container's /etc/hosts and
/// /etc/resolv.conf (the host's runtime ignores it: the engine set the
/// namespace up and binds those files itself).
pub const ANNOTATION_GUEST_NETWORK: &str = "org.isola.guest-network";
/// `--group-add` values, comma-separated (names resolved in the container).
pub const ANNOTATION_GROUPS: &str = "org.isola.group-add";
/// JSON object: device path in the container → `[source, access]`: where
/// the runtime reads the device (so in a VM the guest's numbers are used)
/// and what the container may do with it.
pub const ANNOTATION_DEVICE_SOURCES: &str = "org.isola.device-sources";

/// The devices every OCI runtime provides (the spec's "default devices";
/// the console and ptmx come with the terminal and devpts). Their access is
/// granted by the spec's device rules.
const DEFAULT_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// What the default devices, the console, ptmx and the ptys need, granted
/// whatever the spec's rules say, as runc does: a spec cannot take them away.
const DEFAULT_DEVICE_RULES: &[&str] = &[
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];
/// "true": every device of the kernel the runtime runs on.
pub const ANNOTATION_ALL_DEVICES: &str = "org.isola.all-devices";

/// What a spec asks this runtime to run.
#[derive(Debug, Clone, PartialEq)]
pub struct FromSpec {
    pub process: ProcessSpec,
    pub terminal: bool,
    pub hostname: String,
    pub network: Network,
    pub root: PathBuf,
    pub readonly: bool,
    /// The user's binds, volumes and tmpfs mounts, in the spec's order.
    pub mounts: Vec<UserMount>,
    pub linux: LinuxSettings,
    pub limits: Limits,
    /// Namespaces (ipc, uts, pid) joined by path instead of created.
    pub join_namespaces: Vec<(LinuxNamespaceType, PathBuf)>,
}

fn unsupported(what: String) -> Error {
    Error::Setup(format!("unsupported in the OCI spec: {what}"))
}

/// Translates `spec` (see the module documentation for what is supported).
pub fn from_spec(spec: &Spec) -> Result<FromSpec> {
    let empty = Default::default();
    let annotations = spec.annotations().as_ref().unwrap_or(&empty);
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| unsupported("a spec without a process".into()))?;
    let user = process.user();
    let user_spec = annotations
        .get(ANNOTATION_USER)
        .cloned()
        .unwrap_or_else(|| format!("{}:{}", user.uid(), user.gid()));
    let mut groups: Vec<String> = annotations
        .get(ANNOTATION_GROUPS)
        .map(|g| {
            g.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for gid in user.additional_gids().iter().flatten() {
        groups.push(gid.to_string());
    }
    let caps: Vec<String> = process
        .capabilities()
        .as_ref()
        .and_then(|c| c.bounding().clone())
        .map(|set| set.iter().map(|c| format!("CAP_{c}")).collect())
        .unwrap_or_default();
    // Every capability there is: hand on all the runtime holds itself.
    let caps = if !caps.is_empty()
        && crate::capabilities::known()
            .iter()
            .all(|k| caps.contains(k))
    {
        vec!["ALL".to_string()]
    } else {
        caps
    };
    let rlimits = process
        .rlimits()
        .iter()
        .flatten()
        .map(|r| Rlimit {
            kind: format!("{:?}", r.typ())
                .trim_start_matches("Rlimit")
                .to_ascii_lowercase(),
            soft: r.soft(),
            hard: r.hard(),
        })
        .collect();
    let process_spec = ProcessSpec {
        args: process.args().clone().unwrap_or_default(),
        env: process.env().clone().unwrap_or_default(),
        cwd: process.cwd().display().to_string(),
        user: user_spec,
        capabilities: caps,
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        rlimits,
        additional_groups: groups,
        oom_score_adj: process.oom_score_adj(),
    };

    let linux_spec = spec
        .linux()
        .as_ref()
        .ok_or_else(|| unsupported("a spec without a linux section".into()))?;
    let mut network_path = None;
    let mut join_namespaces = Vec::new();
    let namespaces: Vec<LinuxNamespaceType> = linux_spec
        .namespaces()
        .iter()
        .flatten()
        .map(|n| {
            if let (LinuxNamespaceType::Network, Some(p)) = (n.typ(), n.path()) {
                network_path = Some(p.clone());
                return Ok(n.typ());
            }
            // A pod's containers join its sandbox's namespaces by path.
            if let (
                LinuxNamespaceType::Ipc | LinuxNamespaceType::Uts | LinuxNamespaceType::Pid,
                Some(p),
            ) = (n.typ(), n.path())
            {
                join_namespaces.push((n.typ(), p.clone()));
                return Ok(n.typ());
            }
            if matches!(n.typ(), LinuxNamespaceType::User | LinuxNamespaceType::Time) {
                return Err(unsupported(format!(
                    "a {:?} namespace (uidMappings/gidMappings)",
                    n.typ()
                )));
            }
            if n.path().is_some() {
                return Err(unsupported(format!(
                    "joining the {:?} namespace of another process",
                    n.typ()
                )));
            }
            Ok(n.typ())
        })
        .collect::<Result<_>>()?;
    if !namespaces.contains(&LinuxNamespaceType::Mount) {
        return Err(unsupported(
            "sharing the runtime's Mount namespace".to_string(),
        ));
    }
    // A PID, UTS or IPC namespace left out is the runtime's own (Docker's
    // `--pid host`): an empty join path, neither created nor joined.
    for shared in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
    ] {
        if !namespaces.contains(&shared) {
            join_namespaces.push((shared, PathBuf::new()));
        }
    }
    let network = if let Some(path) = network_path {
        Network::Join(path)
    } else if namespaces.contains(&LinuxNamespaceType::Network) {
        Network::None
    } else {
        Network::Host
    };

    let mut linux = LinuxSettings {
        masked_paths: linux_spec.masked_paths().clone().unwrap_or_default(),
        readonly_paths: linux_spec.readonly_paths().clone().unwrap_or_default(),
        sysctls: linux_spec
            .sysctl()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        all_devices: annotations
            .get(ANNOTATION_ALL_DEVICES)
            .is_some_and(|v| v == "true"),
        ..LinuxSettings::default()
    };
    for path in DEFAULT_DEVICES {
        linux.devices.push(DeviceNode {
            source: path.to_string(),
            path: path.to_string(),
            access: String::new(),
        });
    }
    let sources: std::collections::HashMap<String, (String, String)> = annotations
        .get(ANNOTATION_DEVICE_SOURCES)
        .map(|j| {
            serde_json::from_str(j)
                .map_err(|e| unsupported(format!("{ANNOTATION_DEVICE_SOURCES}: {e}")))
        })
        .transpose()?
        .unwrap_or_default();
    for d in linux_spec.devices().iter().flatten() {
        let path = d.path().display().to_string();
        let (source, access) = sources
            .get(&path)
            .cloned()
            // Without isola's annotation: the node by the spec's type and
            // numbers, its access granted by the spec's device rules.
            .map_or_else(
                || {
                    let kind = match d.typ() {
                        oci_spec::runtime::LinuxDeviceType::B => "b",
                        oci_spec::runtime::LinuxDeviceType::C
                        | oci_spec::runtime::LinuxDeviceType::U => "c",
                        other => {
                            return Err(unsupported(format!(
                                "device {path} of type {}",
                                other.as_str()
                            )))
                        }
                    };
                    Ok((format!("{kind}:{}:{}", d.major(), d.minor()), String::new()))
                },
                Ok,
            )?;
        linux.devices.retain(|n| n.path != path);
        linux.devices.push(DeviceNode {
            source,
            path,
            access,
        });
    }

    linux.device_rules = DEFAULT_DEVICE_RULES.iter().map(|r| r.to_string()).collect();
    let mut limits = Limits::default();
    if let Some(r) = linux_spec.resources() {
        limits = limits_of(r);
        for d in r.devices().iter().flatten() {
            let kind = d.typ().map_or("a".to_string(), |t| t.as_str().to_string());
            let num = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
            let access = d.access().clone().unwrap_or_else(|| "rwm".into());
            if !d.allow() {
                // The list is an allow-list on a deny-all base (the leading
                // deny-all is implied). A later deny takes its access away
                // from an allow rule for exactly the same devices and is a
                // no-op otherwise: cgroup v1's own semantics, which Docker's
                // specs (a deny for a device no rule allowed) rely on.
                let key = format!("{kind} {}:{} ", num(d.major()), num(d.minor()));
                for r in linux.device_rules.iter_mut() {
                    if let Some(old) = r.strip_prefix(&key) {
                        let left: String = old.chars().filter(|c| !access.contains(*c)).collect();
                        *r = format!("{key}{left}");
                    }
                }
                linux.device_rules.retain(|r| !r.ends_with(' '));
                continue;
            }
            linux.device_rules.push(format!(
                "{kind} {}:{} {access}",
                num(d.major()),
                num(d.minor())
            ));
        }
    }

    let copy_up: Vec<String> = annotations
        .get(ANNOTATION_COPY_UP)
        .map(|j| {
            serde_json::from_str(j).map_err(|e| unsupported(format!("{ANNOTATION_COPY_UP}: {e}")))
        })
        .transpose()?
        .unwrap_or_default();
    let mut mounts = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination().display().to_string();
        let typ = m.typ().clone().unwrap_or_default();
        let options = m.options().clone().unwrap_or_default();
        match (dest.as_str(), typ.as_str()) {
            ("/proc", "proc")
            | ("/dev", "tmpfs")
            | ("/dev/pts", "devpts")
            | ("/dev/mqueue", "mqueue") => {}
            ("/sys/fs/cgroup", "cgroup" | "cgroup2") => {}
            ("/sys", "sysfs") => linux.sys_writable = !options.iter().any(|o| o == "ro"),
            ("/dev/shm", "tmpfs") => {
                linux.shm_size = options
                    .iter()
                    .find_map(|o| o.strip_prefix("size="))
                    .and_then(parse_size);
            }
            (INIT_PATH, _) if typ == "bind" || options.iter().any(|o| o == "bind") => {
                linux.init = Some(m.source().clone().ok_or_else(|| {
                    unsupported(format!("bind mount of {dest} without a source"))
                })?);
            }
            (_, "bind" | "" | "tmpfs") => {
                let mut um = UserMount::from_options(dest, &typ, m.source().clone(), &options)?;
                um.copy_up = copy_up.contains(&um.destination);
                mounts.push(um);
            }
            _ => return Err(unsupported(format!("a {typ} mount on {dest}"))),
        }
    }

    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| unsupported("a spec without a root".into()))?;
    Ok(FromSpec {
        process: process_spec,
        terminal: process.terminal().unwrap_or(false),
        hostname: spec.hostname().clone().unwrap_or_default(),
        network,
        root: root.path().clone(),
        readonly: root.readonly().unwrap_or(false),
        mounts,
        linux,
        limits,
        join_namespaces,
    })
}

/// The memory, CPU quota and pids limits of a spec's `resources` (also
/// what `update --resources` gives).
pub fn limits_of(r: &oci_spec::runtime::LinuxResources) -> Limits {
    let mut limits = Limits {
        memory_bytes: r
            .memory()
            .as_ref()
            .and_then(|m| m.limit())
            .map(|l| l.max(0) as u64),
        pids: r.pids().as_ref().map(|p| p.limit()),
        ..Limits::default()
    };
    if let Some(cpu) = r.cpu() {
        if let (Some(q), Some(p)) = (cpu.quota(), cpu.period()) {
            if q > 0 && p > 0 {
                limits.nano_cpus = Some(q as u64 * 1_000_000_000 / p);
            }
        }
        limits.cpu_shares = cpu.shares();
        limits.cpuset_cpus = cpu.cpus().clone();
    }
    // Only a swap limit other than the default (twice the memory) is
    // kept, so the cgroup code applies Docker's default otherwise.
    if let Some(m) = r.memory() {
        limits.oom_kill_disable = m.disable_oom_killer().unwrap_or(false);
        if let Some(swap) = m.swap() {
            if Some(swap) != m.limit().map(|l| 2 * l) {
                limits.memory_swap = Some(swap);
            }
        }
    }
    limits
}

/// `65536k`, `64m`, `1g` or bytes, as mount options write sizes.
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: serde_json::Value) -> Spec {
        let mut base = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"user": {"uid": 1000, "gid": 100, "additionalGids": [5]}, "args": ["true"], "cwd": "/"},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]},
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn a_plain_runc_spec_runs_with_numeric_ids_and_default_devices() {
        let run = from_spec(&spec(serde_json::json!({}))).unwrap();
        assert_eq!(run.process.user, "1000:100");
        assert_eq!(run.process.additional_groups, vec!["5".to_string()]);
        assert_eq!(run.network, Network::Host, "no network namespace listed");
        let paths: Vec<&str> = run.linux.devices.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, DEFAULT_DEVICES);
    }

    #[test]
    fn a_later_deny_rule_takes_access_from_the_same_devices_only() {
        let run = from_spec(&spec(serde_json::json!({"linux": {
        "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
        "resources": {"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 200, "access": "w"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
        ]}}})))
        .unwrap();
        assert!(run.linux.device_rules.contains(&"c 10:200 rm".to_string()));
        assert!(!run.linux.device_rules.iter().any(|r| r.contains("10:229")));
    }

    #[test]
    fn what_is_not_supported_is_refused_by_name() {
        let cases = [
            (
                serde_json::json!({"mounts": [{"destination": "/data", "type": "nfs", "source": "x"}]}),
                "a nfs mount on /data",
            ),
            (
                serde_json::json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "mount", "path": "/proc/1/ns/mnt"}]}}),
                "joining the Mount namespace",
            ),
            (
                serde_json::json!({"linux": {"namespaces": [{"type": "pid"}]}}),
                "sharing the runtime's Mount namespace",
            ),
        ];
        for (extra, needle) in cases {
            let e = from_spec(&spec(extra)).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
