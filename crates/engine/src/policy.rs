//! Docker's security defaults, as data, in one place: the capabilities a
//! container keeps and the seccomp profile (`profiles/seccomp.json`, in the
//! format of Docker's `profiles/seccomp/default.json`, which is also what
//! `--security-opt seccomp=FILE` takes). The runtimes only carry out what
//! this module decides, through the OCI runtime spec's process fields.
//!
//! A profile is resolved once per container against its capabilities, the
//! architecture and the kernel (Docker's `includes`/`excludes`), giving the
//! spec's `linux.seccomp`, which `isola_runtime_process::seccomp` compiles.

use crate::{Error, Result};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSyscall};
use serde::Deserialize;

/// The 14 capabilities Docker grants a container (moby `oci/caps/defaults.go`).
pub(crate) const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from containers (moby `oci/defaults.go`).
pub(crate) const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only.
pub(crate) const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's device allow-list (cgroup v1 syntax): mknod of anything, use
/// of the nodes above, the console, ptmx, the ptys and tun.
pub(crate) const DEVICE_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// sysctls that live in a container's own namespaces (IPC, UTS, network)
/// and may therefore be set per container, as in Docker; a prefix ends
/// with a dot.
const NAMESPACED_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
    "kernel.domainname",
    "fs.mqueue.",
    "net.",
];

/// The container's `linux` settings: Docker's defaults, or with
/// `--privileged` every device, nothing masked and /sys writable; plus
/// its `--device`s, `--sysctl`s and `--shm-size`. (The backend adds the
/// `--init` binary's path, which depends on where the runtime runs.)
pub(crate) fn linux(h: &crate::store::HostSettings) -> isola_runtime_process::LinuxSettings {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    isola_runtime_process::LinuxSettings {
        masked_paths: if h.privileged {
            Vec::new()
        } else {
            strings(MASKED_PATHS)
        },
        readonly_paths: if h.privileged {
            Vec::new()
        } else {
            strings(READONLY_PATHS)
        },
        // Docker's nodes (null, zero, ...) are the OCI spec's default
        // devices, which the runtime creates; `--device`s go in the spec.
        devices: Vec::new(),
        all_devices: h.privileged,
        exclude_devices: Vec::new(),
        device_rules: strings(DEVICE_RULES),
        sysctls: h.sysctls.clone(),
        shm_size: h.shm_size,
        sys_writable: h.privileged,
        init: None,
    }
}

/// `--sysctl KEY=VALUE` values: only namespaced ones (others would change
/// the host), and no `net.*` with the host's network.
pub(crate) fn check_sysctls(
    values: &[String],
    host_network: bool,
) -> Result<std::collections::BTreeMap<String, String>> {
    values
        .iter()
        .map(|v| {
            let Some((k, val)) = v.split_once('=') else {
                return Err(Error::Invalid(format!("invalid --sysctl {v:?}: use KEY=VALUE")));
            };
            let namespaced = NAMESPACED_SYSCTLS
                .iter()
                .any(|n| if n.ends_with('.') { k.starts_with(n) } else { k == *n });
            if !namespaced || k.contains("..") || k.contains('/') {
                return Err(Error::Invalid(format!(
                    "--sysctl {k} is not allowed: it is not namespaced, so it would change the host \
                     (allowed: kernel.msg*, kernel.sem, kernel.shm*, kernel.domainname, fs.mqueue.*, net.*)"
                )));
            }
            if host_network && k.starts_with("net.") {
                return Err(Error::Invalid(format!(
                    "--sysctl {k} is not allowed with --network host: it would change the host's network"
                )));
            }
            Ok((k.to_string(), val.to_string()))
        })
        .collect()
}

/// `--ulimit NAME=SOFT[:HARD]` (-1: unlimited), as Docker parses it.
pub(crate) fn check_ulimits(values: &[String]) -> Result<Vec<isola_runtime_process::Rlimit>> {
    values
        .iter()
        .map(|v| {
            let bad = |why: &str| Error::Invalid(format!("invalid --ulimit {v:?}: {why}"));
            let (name, limits) = v
                .split_once('=')
                .ok_or_else(|| bad("use NAME=SOFT[:HARD]"))?;
            if !isola_runtime_process::is_rlimit(name) {
                return Err(bad(
                    "unknown name (nofile, nproc, core, memlock, stack, ...)",
                ));
            }
            let num = |s: &str| -> Result<u64> {
                if s == "-1" {
                    return Ok(u64::MAX);
                }
                s.parse::<u64>()
                    .map_err(|_| bad("limits are whole numbers or -1"))
            };
            let (soft, hard) = match limits.split_once(':') {
                Some((s, h)) => (num(s)?, num(h)?),
                None => (num(limits)?, num(limits)?),
            };
            if soft > hard {
                return Err(bad("the soft limit is above the hard limit"));
            }
            Ok(isola_runtime_process::Rlimit {
                kind: name.to_string(),
                soft,
                hard,
            })
        })
        .collect()
}

/// `--device HOST[:CONTAINER[:rwm]]`. The host path is read by the runtime
/// where it runs: in VM mode it names a device of the guest, never of the
/// host.
pub(crate) fn check_devices(values: &[String]) -> Result<Vec<isola_runtime_process::DeviceNode>> {
    values
        .iter()
        .map(|v| {
            let bad = |why: &str| Error::Invalid(format!("invalid --device {v:?}: {why}"));
            let parts: Vec<&str> = v.split(':').collect();
            let (source, path, access) = match parts.as_slice() {
                [s] => (*s, *s, "rwm"),
                [s, p] if p.chars().all(|c| "rwm".contains(c)) && !p.starts_with('/') => {
                    (*s, *s, *p)
                }
                [s, p] => (*s, *p, "rwm"),
                [s, p, a] => (*s, *p, *a),
                _ => return Err(bad("use HOST[:CONTAINER[:rwm]]")),
            };
            if !source.starts_with('/') || !path.starts_with('/') {
                return Err(bad("paths must be absolute"));
            }
            if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
                return Err(bad("permissions are a combination of r, w and m"));
            }
            Ok(isola_runtime_process::DeviceNode {
                source: source.into(),
                path: path.into(),
                access: access.into(),
            })
        })
        .collect()
}

/// isola's default seccomp profile, in Docker's profile format.
pub(crate) const DEFAULT_SECCOMP_PROFILE: &str = include_str!("../profiles/seccomp.json");

/// A seccomp profile in Docker's format.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Profile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    /// Profiles without an archMap may list architectures directly.
    #[serde(default)]
    architectures: Vec<Arch>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Option<Vec<Arch>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    /// Docker's older single-name form.
    #[serde(default)]
    name: Option<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// Go's name for the architecture we run on, as profiles' `arches` use it.
#[cfg(target_arch = "x86_64")]
const GOARCH: &str = "amd64";
#[cfg(target_arch = "aarch64")]
const GOARCH: &str = "arm64";
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: Arch = Arch::ScmpArchX86_64;
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: Arch = Arch::ScmpArchAarch64;

impl Profile {
    /// Parses a profile; `what` names it in errors (a flag and a file).
    pub(crate) fn parse(json: &str, what: &str) -> Result<Profile> {
        serde_json::from_str(json).map_err(|e| {
            Error::Invalid(format!(
                "{what}: not a seccomp profile in Docker's format: {e}"
            ))
        })
    }

    /// The profile for a container holding `caps`, on this architecture
    /// and a kernel of release `kernel`, as the runtime spec's
    /// `linux.seccomp`.
    pub(crate) fn resolve(&self, caps: &[String], kernel: Option<(u32, u32)>) -> LinuxSeccomp {
        let mut architectures = self.architectures.clone();
        for m in &self.arch_map {
            if m.architecture == NATIVE_ARCH {
                architectures.push(m.architecture);
                architectures.extend(m.sub_architectures.iter().flatten().copied());
            }
        }
        let holds = |c: &String| caps.iter().any(|have| have == "ALL" || have == c);
        let has_all = |wanted: &[String]| wanted.iter().all(holds);
        let syscalls: Vec<LinuxSyscall> = self
            .syscalls
            .iter()
            .filter(|r| {
                let inc = &r.includes;
                let exc = &r.excludes;
                (inc.arches.is_empty() || inc.arches.iter().any(|a| a == GOARCH))
                    && (inc.caps.is_empty() || has_all(&inc.caps))
                    && inc.min_kernel.as_deref().is_none_or(|min| {
                        // An unknown kernel counts as old: the safe side.
                        kernel.is_some_and(|k| parse_release(min).is_some_and(|m| k >= m))
                    })
                    && !exc.arches.iter().any(|a| a == GOARCH)
                    && !exc.caps.iter().any(holds)
            })
            .map(|r| {
                let mut names = r.names.clone();
                names.extend(r.name.clone());
                let mut s = LinuxSyscall::default();
                s.set_names(names);
                s.set_action(r.action);
                s.set_errno_ret(r.errno_ret);
                s.set_args(r.args.clone());
                s
            })
            .collect();
        let mut spec = LinuxSeccomp::default();
        spec.set_default_action(self.default_action);
        spec.set_default_errno_ret(self.default_errno_ret);
        spec.set_architectures(Some(architectures));
        spec.set_syscalls(Some(syscalls));
        spec
    }
}

/// The capability set of a container: Docker's defaults with `--cap-add`
/// and `--cap-drop` applied as Docker applies them (`ALL` in either;
/// dropping ALL keeps what is added), or every capability when privileged.
/// "Every capability" is passed on as `ALL`, which the runtime expands to
/// what it holds itself.
pub(crate) fn capabilities(h: &crate::store::HostSettings) -> Vec<String> {
    let has_all = |v: &[String]| v.iter().any(|c| c == "ALL");
    if h.privileged || (has_all(&h.cap_add) && h.cap_drop.is_empty()) {
        return vec!["ALL".into()];
    }
    let mut caps: Vec<String> = if has_all(&h.cap_add) {
        isola_runtime_process::capabilities::known()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    if has_all(&h.cap_drop) {
        caps.clear();
    } else {
        caps.retain(|c| !h.cap_drop.contains(c));
    }
    for c in h.cap_add.iter().filter(|c| *c != "ALL") {
        if !caps.contains(c) {
            caps.push(c.clone());
        }
    }
    caps
}

/// Normalises `--cap-add`/`--cap-drop` values (`net_admin`, `CAP_NET_ADMIN`
/// and `ALL`), refusing unknown ones with the flag's name.
pub(crate) fn normalize_caps(flag: &str, values: &[String]) -> Result<Vec<String>> {
    let known = isola_runtime_process::capabilities::known();
    values
        .iter()
        .map(|v| {
            let up = v.to_ascii_uppercase();
            if up == "ALL" {
                return Ok(up);
            }
            let name = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
            if known.contains(&name) {
                Ok(name)
            } else {
                Err(Error::Invalid(format!(
                    "invalid {flag} value {v:?}: not a capability (see capabilities(7), e.g. NET_ADMIN or ALL)"
                )))
            }
        })
        .collect()
}

/// `--security-opt` values, validated; `seccomp=FILE` is read here, once,
/// and recorded by content. The profile must resolve and compile: unknown
/// syscall names, bad JSON or an unsupported action fail the create.
pub(crate) fn normalize_security_opts(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for v in values {
        let (key, value) = v
            .split_once(['=', ':'])
            .map_or((v.as_str(), None), |(k, val)| (k, Some(val)));
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => out.push("no-new-privileges=true".into()),
            ("no-new-privileges", Some("false")) => {}
            ("seccomp", Some("unconfined")) => out.push("seccomp=unconfined".into()),
            ("seccomp", Some(file)) => {
                let what = format!("--security-opt seccomp={file}");
                let json = std::fs::read_to_string(file)
                    .map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
                let profile = Profile::parse(&json, &what)?;
                let all = isola_runtime_process::capabilities::known();
                isola_runtime_process::seccomp::compile(&profile.resolve(&all, kernel_version()))
                    .map_err(|e| Error::Invalid(format!("{what}: {e}")))?;
                out.push(format!("seccomp={json}"));
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "invalid --security-opt {v:?}: use seccomp=FILE, seccomp=unconfined or no-new-privileges"
                )))
            }
        }
    }
    Ok(out)
}

/// The container's seccomp policy: none when privileged or unconfined,
/// else its own profile or Docker's default, for its capabilities.
pub(crate) fn seccomp(h: &crate::store::HostSettings, caps: &[String]) -> Option<LinuxSeccomp> {
    let custom = h
        .security_opt
        .iter()
        .find_map(|o| o.strip_prefix("seccomp="));
    match custom {
        _ if h.privileged => None,
        Some("unconfined") => None,
        Some(json) => Profile::parse(json, "the container's seccomp profile")
            .ok()
            .map(|p| p.resolve(caps, kernel_version())),
        None => Some(default_seccomp(caps)),
    }
}

/// Whether `--security-opt no-new-privileges` was given.
pub(crate) fn no_new_privileges(h: &crate::store::HostSettings) -> bool {
    h.security_opt.iter().any(|o| o == "no-new-privileges=true")
}

/// Docker's default profile for a container holding `caps`.
pub(crate) fn default_seccomp(caps: &[String]) -> LinuxSeccomp {
    Profile::parse(DEFAULT_SECCOMP_PROFILE, "the built-in seccomp profile")
        .expect("the built-in profile parses (tested)")
        .resolve(caps, kernel_version())
}

/// The running kernel's `major.minor`.
pub(crate) fn kernel_version() -> Option<(u32, u32)> {
    let uts = nix::sys::utsname::uname().ok()?;
    parse_release(&uts.release().to_string_lossy())
}

fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use isola_runtime_process::seccomp::{apply, compile};
    use isola_runtime_process::testing::{errno_of, in_child, require_root};
    use nix::errno::Errno;

    fn default_caps() -> Vec<String> {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    }

    /// The action of `name` in a resolved profile: Some(errno) for an
    /// unconditional ERRNO rule, Some(0) for an unconditional ALLOW, None
    /// when only conditional rules or the default apply.
    fn unconditional(spec: &LinuxSeccomp, name: &str) -> Option<u32> {
        spec.syscalls().iter().flatten().find_map(|s| {
            (s.names().iter().any(|n| n == name) && s.args().is_none()).then(|| match s.action() {
                LinuxSeccompAction::ScmpActAllow => 0,
                _ => s.errno_ret().unwrap_or(1),
            })
        })
    }

    /// The defaults, item by item, against Docker 28's (moby
    /// `oci/defaults.go`, `oci/caps/defaults.go`, `daemon/oci_linux.go`
    /// and `profiles/seccomp/default.json`).
    #[test]
    fn defaults_equal_dockers_item_by_item() {
        let docker_caps = "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FSETID CAP_FOWNER CAP_MKNOD CAP_NET_RAW \
            CAP_SETGID CAP_SETUID CAP_SETFCAP CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_SYS_CHROOT \
            CAP_KILL CAP_AUDIT_WRITE";
        assert_eq!(DEFAULT_CAPABILITIES.join(" "), docker_caps);
        let docker_masked = "/proc/asound /proc/acpi /proc/interrupts /proc/kcore /proc/keys \
            /proc/latency_stats /proc/timer_list /proc/timer_stats /proc/sched_debug /proc/scsi \
            /sys/firmware /sys/devices/virtual/powercap";
        assert_eq!(MASKED_PATHS.join(" "), docker_masked);
        assert_eq!(
            READONLY_PATHS.join(" "),
            "/proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger"
        );
        let mut rules = DEVICE_RULES.to_vec();
        rules.sort();
        assert_eq!(
            rules.join(", "),
            "b *:* m, c *:* m, c 10:200 rwm, c 136:* rwm, c 1:3 rwm, c 1:5 rwm, c 1:7 rwm, \
             c 1:8 rwm, c 1:9 rwm, c 5:0 rwm, c 5:1 rwm, c 5:2 rwm"
        );
        // Seccomp, per syscall: Docker's unconditional allow-list for amd64
        // with the default capabilities includes these ...
        let spec = default_seccomp(&default_caps());
        for name in [
            "accept4",
            "arch_prctl",
            "bind",
            "chroot",
            "epoll_wait",
            "execveat",
            "fchmodat2",
            "landlock_create_ruleset",
            "mmap",
            "modify_ldt",
            "name_to_handle_at",
            "pidfd_open",
            "process_vm_readv",
            "ptrace",
            "rseq",
            "seccomp",
            "socketcall",
            "statx",
            "tkill",
        ] {
            assert_eq!(
                unconditional(&spec, name),
                Some(0),
                "{name} is allowed by Docker"
            );
        }
        // ... ENOSYS for clone3, conditions on clone, socket, personality,
        assert_eq!(unconditional(&spec, "clone3"), Some(38));
        for name in ["clone", "socket", "personality"] {
            let conditional = spec
                .syscalls()
                .iter()
                .flatten()
                .any(|s| s.names().iter().any(|n| n == name) && s.args().is_some());
            assert!(
                conditional && unconditional(&spec, name).is_none(),
                "{name}"
            );
        }
        // ... and the default (EPERM) for the rest, io_uring included
        // (Docker 25 on), keyctl and the mount family without CAP_SYS_ADMIN.
        for name in [
            "add_key",
            "bpf",
            "io_uring_setup",
            "keyctl",
            "mount",
            "open_by_handle_at",
            "pivot_root",
            "request_key",
            "setns",
            "umount2",
            "unshare",
            "userfaultfd",
        ] {
            assert_eq!(
                unconditional(&spec, name),
                None,
                "{name} is denied by Docker"
            );
        }
        assert_eq!(spec.default_errno_ret(), Some(1));
    }

    #[test]
    fn parses_kernel_releases() {
        assert_eq!(parse_release("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_release("4.19.0"), Some((4, 19)));
        assert_eq!(parse_release("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(parse_release("garbage"), None);
        assert!(kernel_version().is_some());
    }

    #[test]
    fn the_default_profile_follows_capabilities_and_kernel() {
        let p = Profile::parse(DEFAULT_SECCOMP_PROFILE, "built-in").unwrap();
        let spec = p.resolve(&default_caps(), Some((6, 1)));
        assert_eq!(spec.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(spec.default_errno_ret(), Some(1));
        for allowed in [
            "read",
            "execve",
            "chroot",
            "ptrace",
            "socketcall",
            "_llseek",
        ] {
            assert_eq!(unconditional(&spec, allowed), Some(0), "{allowed}");
        }
        for denied in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "sethostname",
            "bpf",
            "perf_event_open",
            "kexec_load",
            "init_module",
            "reboot",
            "swapon",
            "acct",
            "clock_settime",
            "keyctl",
            "userfaultfd",
            "io_uring_setup",
        ] {
            assert_eq!(
                unconditional(&spec, denied),
                None,
                "{denied} must be denied"
            );
        }
        assert_eq!(unconditional(&spec, "clone3"), Some(38), "clone3 is ENOSYS");
        // Before 4.8, tracing needs CAP_SYS_PTRACE; an unknown kernel is old.
        assert_eq!(
            unconditional(&p.resolve(&default_caps(), Some((4, 4))), "ptrace"),
            None
        );
        assert_eq!(
            unconditional(&p.resolve(&default_caps(), None), "ptrace"),
            None
        );
        // CAP_SYS_ADMIN unlocks mount & co. and clone3, never pivot_root.
        let mut admin = default_caps();
        admin.push("CAP_SYS_ADMIN".into());
        let spec = p.resolve(&admin, Some((6, 1)));
        for allowed in ["mount", "unshare", "clone", "clone3"] {
            assert_eq!(unconditional(&spec, allowed), Some(0), "{allowed}");
        }
        assert_eq!(unconditional(&spec, "pivot_root"), None);
        // Every name in the profile is known, and it compiles.
        compile(&p.resolve(&admin, Some((6, 1)))).unwrap();
        let compiled = compile(&p.resolve(&default_caps(), Some((6, 1)))).unwrap();
        assert_eq!(compiled.len(), 1, "one chained program");
        eprintln!("default policy: {} BPF instructions", compiled[0].len());
    }

    /// Docker's default profile for Docker's default capabilities,
    /// compiled and applied in a child (as root, so every EPERM below
    /// comes from seccomp, not a missing capability), then `check` run.
    fn under_default_policy(check: impl FnOnce() -> i32) -> i32 {
        require_root();
        let filters = compile(&default_seccomp(&default_caps())).expect("filters");
        in_child(|| {
            if apply(&filters).is_err() {
                return 100;
            }
            check()
        })
    }

    #[test]
    fn unshare_mount_and_namespaced_clone_are_eperm_clone3_enosys() {
        let code = under_default_policy(|| {
            // SAFETY: raw syscalls that take flags, literals or null
            // pointers the kernel never reads (clone3 with size 0).
            unsafe {
                if errno_of(libc::unshare(libc::CLONE_NEWNS).into()) != libc::EPERM {
                    return 1;
                }
                let rc = libc::mount(
                    c"none".as_ptr(),
                    c"/nonexistent-isola-seccomp-test".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                );
                if errno_of(rc.into()) != libc::EPERM {
                    return 2;
                }
                let rc = libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize);
                if errno_of(rc) != libc::ENOSYS {
                    return 3;
                }
                let flags = (libc::CLONE_NEWUTS | libc::SIGCHLD) as libc::c_ulong;
                let rc = libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize);
                if rc == 0 {
                    libc::_exit(0);
                }
                if errno_of(rc) != libc::EPERM {
                    return 4;
                }
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn fork_threads_personality_and_sockets_under_the_default_policy() {
        let code = under_default_policy(|| {
            // SAFETY: fork's child only calls `_exit`; the rest take integers.
            unsafe {
                let pid = libc::fork();
                if pid == 0 {
                    libc::_exit(7);
                }
                let mut status = 0;
                if pid < 0
                    || libc::waitpid(pid, &mut status, 0) != pid
                    || libc::WEXITSTATUS(status) != 7
                {
                    return 1;
                }
                if libc::personality(0xffff_ffff) < 0 {
                    return 2;
                }
                if libc::personality(0x0004_0000) != -1 || Errno::last_raw() != libc::EPERM {
                    return 3;
                }
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                if fd < 0 {
                    return 4;
                }
                libc::close(fd);
                // AF_VSOCK reaches the host; other families (AF_ALG too)
                // are allowed, as in Docker.
                if libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) != -1
                    || Errno::last_raw() != libc::EPERM
                {
                    return 5;
                }
            }
            // glibc creates threads with clone3 and falls back to clone on ENOSYS.
            match std::thread::spawn(|| 5).join() {
                Ok(5) => 0,
                _ => 6,
            }
        });
        assert_eq!(code, 0);
    }

    /// Docker's profile allows the 32-bit x86 ABI on amd64: a 32-bit
    /// getpid works and a 32-bit unshare is refused, not killed.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_syscalls_follow_the_default_policy() {
        let code = under_default_policy(|| {
            let int80 = |nr: i64, arg: i64| -> i32 {
                let ret: i64;
                // SAFETY: an i386 syscall with one integer argument.
                unsafe {
                    // rbx is LLVM's: swap the argument in and out around the call.
                    std::arch::asm!(
                        "xchg {arg}, rbx",
                        "int 0x80",
                        "xchg {arg}, rbx",
                        arg = inout(reg) arg => _,
                        inlateout("rax") nr => ret,
                    );
                }
                ret as i32
            };
            if int80(20, 0) <= 0 {
                return 1; // getpid
            }
            if int80(310, libc::CLONE_NEWNS as i64) != -libc::EPERM {
                return 2; // unshare
            }
            0
        });
        assert_eq!(code, 0);
    }
}
