//! The one translator from a seccomp policy to the kernel's classic BPF.
//!
//! The policy arrives as the OCI runtime spec's `linux.seccomp`: syscalls by
//! *name*, each rule with an action and optional argument conditions, as
//! Docker's profiles and every OCI runtime take them. Which syscalls are
//! allowed is therefore data decided by the caller (the engine holds
//! Docker's default profile); this module only knows how syscalls are
//! numbered on each architecture (`syscalls.rs`, generated from the
//! kernel's own tables) and how to compile rules with seccompiler.
//!
//! seccompiler gives a filter one action for a match and one for a
//! mismatch, so a policy is compiled as one part per action: the rules of
//! each non-default action (mismatch: go on), most severe first, then the
//! allowed syscalls (mismatch: the default action). The parts are chained
//! into one program, so the first part that matches decides: that is how
//! `clone3 → ENOSYS` wins over the default `EPERM`.
//!
//! On x86_64 a policy that lists `SCMP_ARCH_X86` also governs the 32-bit
//! ABI (`int 0x80`, 32-bit programs), as Docker's default profile does:
//! each program starts with a dispatch on the audit architecture, then the
//! x86_64 program, then the same rules compiled with the i386 numbers.
//! seccompiler knows only x86_64 and aarch64, so the i386 half is compiled
//! as x86_64 and its architecture constant patched; any other architecture
//! is killed, as before.

use crate::syscalls;
use crate::{Error, Result};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator,
};
use seccompiler::{
    sock_filter, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::path::Path;

pub use seccompiler::BpfProgram;

/// Syscalls of architectures this runtime has no table for (arm, ppc,
/// s390, mips, riscv, alpha, ia64): real profiles list them (podman's and
/// containerd's defaults do), so they are skipped like a name of another
/// table, while a name no kernel has is still refused as a typo.
const OTHER_ARCH_SYSCALLS: &[&str] = &[
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "breakpoint",
    "cacheflush",
    "multiplexer",
    "pciconfig_iobase",
    "pciconfig_read",
    "pciconfig_write",
    "recv",
    "riscv_flush_icache",
    "riscv_hwprobe",
    "rtas",
    "s390_guarded_storage",
    "s390_pci_mmio_read",
    "s390_pci_mmio_write",
    "s390_runtime_instr",
    "s390_sthyi",
    "send",
    "set_tls",
    "spu_create",
    "spu_run",
    "subpage_prot",
    "swapcontext",
    "switch_endian",
    "sync_file_range2",
    "sys_debug_setcontext",
    "syscall",
    "sysmips",
    "timerfd",
    "usr26",
    "usr32",
];

/// Compiles `policy` (none: no filter) or reads its programs from `cache`,
/// where they are kept by the SHA-256 of the policy: a profile is
/// translated once, not at every start. Called by the parent before it
/// creates the container, so the child only installs what it is given
/// (and never reaches a host path from inside the container).
pub fn compile_cached(
    policy: Option<&LinuxSeccomp>,
    cache: Option<&Path>,
) -> Result<Vec<BpfProgram>> {
    let Some(policy) = policy else {
        return Ok(Vec::new());
    };
    let Some(dir) = cache else {
        return compile(policy);
    };
    use sha2::Digest;
    let json = serde_json::to_vec(policy).map_err(|e| Error::Seccomp(format!("policy: {e}")))?;
    let mut hash = sha2::Sha256::new();
    // The format of the file and the architecture it was compiled for.
    hash.update(format!("isola-bpf-1 {}\n", std::env::consts::ARCH));
    hash.update(&json);
    let path = dir.join(format!("{:x}.bpf", hash.finalize()));
    if let Some(programs) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
        return Ok(programs);
    }
    let programs = compile(policy)?;
    // A cache that cannot be written costs only time.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::create_dir_all(dir).is_ok() && std::fs::write(&tmp, encode(&programs)).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
    let _ = std::fs::remove_file(&tmp);
    Ok(programs)
}

/// Programs as bytes: per program its instruction count (u32 LE), then
/// the instructions (code u16, jt, jf, k u32; little endian).
fn encode(programs: &[BpfProgram]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in programs {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        for i in p {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.extend_from_slice(&[i.jt, i.jf]);
            out.extend_from_slice(&i.k.to_le_bytes());
        }
    }
    out
}

/// The inverse of [`encode`]; `None` for anything malformed.
fn decode(mut b: &[u8]) -> Option<Vec<BpfProgram>> {
    let mut programs = Vec::new();
    while !b.is_empty() {
        let n = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        b = &b[4..];
        if n == 0 || n > MAX_INSNS || b.len() < n * 8 {
            return None;
        }
        let prog = b[..n * 8]
            .chunks_exact(8)
            .map(|c| sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        programs.push(prog);
        b = &b[n * 8..];
    }
    Some(programs)
}

/// The architecture the filters are compiled for: the one we run on.
#[cfg(target_arch = "x86_64")]
const NATIVE: (TargetArch, &[(&str, u32)]) = (TargetArch::x86_64, syscalls::X86_64);
#[cfg(target_arch = "aarch64")]
const NATIVE: (TargetArch, &[(&str, u32)]) = (TargetArch::aarch64, syscalls::AARCH64);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("isola's seccomp translator (and seccompiler) supports x86_64 and aarch64 only");

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

/// An action, as the programs group rules by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
    Trace(u32),
}

impl Action {
    fn of(action: LinuxSeccompAction, errno: Option<u32>) -> Result<Action> {
        use LinuxSeccompAction::*;
        Ok(match action {
            ScmpActAllow => Action::Allow,
            ScmpActErrno => Action::Errno(errno.unwrap_or(libc::EPERM as u32)),
            ScmpActKill | ScmpActKillThread => Action::KillThread,
            ScmpActKillProcess => Action::KillProcess,
            ScmpActTrap => Action::Trap,
            ScmpActLog => Action::Log,
            ScmpActTrace => Action::Trace(errno.unwrap_or(0)),
            ScmpActNotify => {
                return Err(Error::Seccomp(
                    "SCMP_ACT_NOTIFY needs a seccomp agent, which isola does not run".into(),
                ))
            }
        })
    }

    /// The kernel's precedence: the most severe result of all rules wins.
    fn severity(self) -> u8 {
        match self {
            Action::KillProcess => 7,
            Action::KillThread => 6,
            Action::Trap => 5,
            Action::Errno(_) => 4,
            Action::Trace(_) => 3,
            Action::Log => 2,
            Action::Allow => 1,
        }
    }

    fn seccompiler(self) -> SeccompAction {
        match self {
            Action::Allow => SeccompAction::Allow,
            Action::Errno(n) => SeccompAction::Errno(n),
            Action::KillThread => SeccompAction::KillThread,
            Action::KillProcess => SeccompAction::KillProcess,
            Action::Trap => SeccompAction::Trap,
            Action::Log => SeccompAction::Log,
            Action::Trace(n) => SeccompAction::Trace(n),
        }
    }
}

type Rules = BTreeMap<i64, Vec<SeccompRule>>;

/// Compiles `spec` into the programs to [`apply`], in order. Names no
/// architecture knows are an error (a typo must not silently allow or deny
/// nothing); names missing on one architecture only are skipped there.
pub fn compile(spec: &LinuxSeccomp) -> Result<Vec<BpfProgram>> {
    let default = Action::of(spec.default_action(), spec.default_errno_ret())?;
    let compat = cfg!(target_arch = "x86_64")
        && spec
            .architectures()
            .as_ref()
            .is_some_and(|a| a.contains(&Arch::ScmpArchX86));
    let tables: Vec<&[(&str, u32)]> = if compat {
        vec![NATIVE.1, syscalls::I386]
    } else {
        vec![NATIVE.1]
    };

    // Rules grouped by action, per table.
    let mut groups: BTreeMap<Action, Vec<Rules>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for rule in spec.syscalls().iter().flatten() {
        let action = Action::of(rule.action(), rule.errno_ret())?;
        let conditions = conditions(rule.args().as_deref().unwrap_or(&[]))?;
        let per_table = groups
            .entry(action)
            .or_insert_with(|| vec![Rules::new(); tables.len()]);
        for name in rule.names() {
            let mut known = false;
            for (t, table) in tables.iter().enumerate() {
                let Some(nr) = number(table, name) else {
                    continue;
                };
                known = true;
                add(&mut per_table[t], nr, &conditions)?;
            }
            let anywhere = || {
                [syscalls::X86_64, syscalls::I386, syscalls::AARCH64]
                    .iter()
                    .any(|t| t.iter().any(|(n, _)| n == name))
                    || OTHER_ARCH_SYSCALLS.contains(&name.as_str())
            };
            if !known && !anywhere() {
                unknown.push(name.clone());
            }
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        return Err(Error::Seccomp(format!(
            "unknown syscall names: {}",
            unknown.join(", ")
        )));
    }

    // One program per action that differs from the default, most severe
    // first; then the allow-list, whose mismatch is the default action.
    // They are chained into a single program (see `chain`): installing a
    // second filter would need the first to allow `seccomp` itself.
    let allowed = groups
        .remove(&Action::Allow)
        .unwrap_or_else(|| vec![Rules::new(); tables.len()]);
    let mut parts = Vec::new();
    let mut others: Vec<(Action, Vec<Rules>)> =
        groups.into_iter().filter(|(a, _)| *a != default).collect();
    others.sort_by_key(|(a, _)| std::cmp::Reverse(a.severity()));
    for (action, rules) in others {
        parts.push(program(rules, Action::Allow, action)?);
    }
    if default != Action::Allow {
        parts.push(program(allowed, default, Action::Allow)?);
    }
    let prog = chain(parts);
    if prog.len() > MAX_INSNS {
        return Err(Error::Seccomp(format!(
            "the policy compiles to {} instructions, more than the kernel's {MAX_INSNS}",
            prog.len()
        )));
    }
    Ok(if prog.is_empty() {
        Vec::new()
    } else {
        vec![prog]
    })
}

/// Joins programs into one: in every program but the last, a return of
/// ALLOW (its "no rule matched") becomes a jump to the next program.
fn chain(parts: Vec<BpfProgram>) -> BpfProgram {
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const JA: u16 = 0x05; // BPF_JMP | BPF_JA
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    let count = parts.len();
    let mut out = Vec::new();
    for (i, mut part) in parts.into_iter().enumerate() {
        if i + 1 < count {
            let len = part.len();
            for (at, insn) in part.iter_mut().enumerate() {
                if insn.code == RET_K && insn.k == SECCOMP_RET_ALLOW {
                    *insn = sock_filter {
                        code: JA,
                        jt: 0,
                        jf: 0,
                        k: (len - at - 1) as u32,
                    };
                }
            }
        }
        out.extend(part);
    }
    out
}

fn number(table: &[(&str, u32)], name: &str) -> Option<i64> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, nr)| i64::from(*nr))
}

/// Adds a rule for `nr`. An empty condition list means "whatever the
/// arguments" and absorbs conditional rules of the same syscall.
fn add(rules: &mut Rules, nr: i64, conditions: &[SeccompCondition]) -> Result<()> {
    if conditions.is_empty() {
        rules.insert(nr, Vec::new());
        return Ok(());
    }
    let rule = SeccompRule::new(conditions.to_vec()).map_err(backend)?;
    match rules.get_mut(&nr) {
        Some(existing) if existing.is_empty() => {}
        Some(existing) => existing.push(rule),
        None => {
            rules.insert(nr, vec![rule]);
        }
    }
    Ok(())
}

fn conditions(args: &[LinuxSeccompArg]) -> Result<Vec<SeccompCondition>> {
    args.iter()
        .map(|a| {
            use LinuxSeccompOperator::*;
            let (op, value) = match a.op() {
                ScmpCmpNe => (SeccompCmpOp::Ne, a.value()),
                ScmpCmpLt => (SeccompCmpOp::Lt, a.value()),
                ScmpCmpLe => (SeccompCmpOp::Le, a.value()),
                ScmpCmpEq => (SeccompCmpOp::Eq, a.value()),
                ScmpCmpGe => (SeccompCmpOp::Ge, a.value()),
                ScmpCmpGt => (SeccompCmpOp::Gt, a.value()),
                // OCI: (arg & value) == valueTwo.
                ScmpCmpMaskedEq => (
                    SeccompCmpOp::MaskedEq(a.value()),
                    a.value_two().unwrap_or(0),
                ),
            };
            let index = u8::try_from(a.index())
                .ok()
                .filter(|i| *i < 6)
                .ok_or_else(|| Error::Seccomp(format!("argument index {} (0-5)", a.index())))?;
            SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(backend)
        })
        .collect()
}

/// One program over every table: a dispatch on the architecture when there
/// is a compat table, then each table's rules compiled alike.
fn program(per_table: Vec<Rules>, mismatch: Action, matched: Action) -> Result<BpfProgram> {
    let mut compiled = Vec::new();
    for (t, rules) in per_table.into_iter().enumerate() {
        let filter = SeccompFilter::new(
            rules,
            mismatch.seccompiler(),
            matched.seccompiler(),
            NATIVE.0,
        )
        .map_err(backend)?;
        let mut prog = BpfProgram::try_from(filter).map_err(backend)?;
        if t == 1 {
            retarget(&mut prog, AUDIT_ARCH_I386)?;
        }
        compiled.push(prog);
    }
    let prog = match compiled.len() {
        1 => compiled.pop().expect("one program"),
        _ => {
            let compat = compiled.pop().expect("compat program");
            let native = compiled.pop().expect("native program");
            dispatch(native, compat)
        }
    };
    Ok(prog)
}

/// Points seccompiler's architecture check (its second instruction) at
/// `arch`.
fn retarget(prog: &mut BpfProgram, arch: u32) -> Result<()> {
    match prog.get_mut(1) {
        Some(check) if check.k == AUDIT_ARCH_X86_64 => {
            check.k = arch;
            Ok(())
        }
        _ => Err(Error::Seccomp(
            "unexpected program layout from seccompiler (no architecture check)".into(),
        )),
    }
}

/// `i386 ? compat : native`, each keeping its own architecture check.
fn dispatch(native: BpfProgram, compat: BpfProgram) -> BpfProgram {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JA: u16 = 0x05; // BPF_JMP | BPF_JA
    let insn = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let mut prog = vec![
        insn(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        insn(JEQ_K, 0, 1, AUDIT_ARCH_I386),
        insn(JA, 0, 0, native.len() as u32),
    ];
    prog.extend(native);
    prog.extend(compat);
    prog
}

/// Installs `filters` on the calling thread, in order.
///
/// Unlike `seccompiler::apply_filter`, this does not set `no_new_privs`:
/// Docker sets that only when asked (`--security-opt no-new-privileges`),
/// so the container init installs the filters while it still holds
/// `CAP_SYS_ADMIN`, which is what the kernel requires instead.
///
/// Meant for the container init right before `execve`: it does not
/// allocate, so it is safe in a child forked from a multi-threaded
/// process. Only the calling thread is filtered (no TSYNC): the init is
/// single-threaded, and every process it starts inherits the filters.
/// Once installed, filters cannot be removed.
pub fn apply(filters: &[BpfProgram]) -> Result<()> {
    for filter in filters {
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            // seccompiler's instruction type has sock_filter's layout.
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the kernel copies `len` instructions from `filter`, which
        // stays alive and unchanged for the duration of the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(Error::Seccomp(format!(
                "installing the filter: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

fn backend(e: seccompiler::BackendError) -> Error {
    Error::Seccomp(format!("compiling the filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{errno_of, in_child, require_root};

    fn spec(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    fn small(arches: &[&str]) -> LinuxSeccomp {
        spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": arches,
            "syscalls": [
                {"names": ["read", "write", "exit", "exit_group", "getpid", "rt_sigreturn",
                           "sigreturn", "getppid", "brk", "mmap", "munmap", "futex"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            ]
        }))
    }

    #[test]
    fn one_program_whatever_the_actions() {
        let progs = compile(&small(&["SCMP_ARCH_X86_64"])).unwrap();
        assert_eq!(progs.len(), 1);
        let allow_all = spec(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        assert!(
            compile(&allow_all).unwrap().is_empty(),
            "nothing to install"
        );
    }

    #[test]
    fn the_cache_returns_what_compile_does() {
        let dir = tempfile::tempdir().unwrap();
        let policy = small(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        let fresh = compile(&policy).unwrap();
        let first = compile_cached(Some(&policy), Some(dir.path())).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let second = compile_cached(Some(&policy), Some(dir.path())).unwrap();
        let same = |a: &[BpfProgram], b: &[BpfProgram]| encode(a) == encode(b);
        assert!(same(&fresh, &first) && same(&fresh, &second));
        // A damaged cache file is recompiled, not trusted.
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&file, b"garbage").unwrap();
        let third = compile_cached(Some(&policy), Some(dir.path())).unwrap();
        assert!(same(&fresh, &third));
        assert!(compile_cached(None, Some(dir.path())).unwrap().is_empty());
    }

    #[test]
    fn unknown_names_are_refused_by_name() {
        let s = spec(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read", "no_such_call", "also_bogus"], "action": "SCMP_ACT_ALLOW"}]
        }));
        let e = compile(&s).unwrap_err().to_string();
        assert!(
            e.contains("unknown syscall names: also_bogus, no_such_call"),
            "{e}"
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn compat_programs_dispatch_on_the_architecture() {
        let allow = |arches: &[&str]| {
            spec(serde_json::json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": arches,
                "syscalls": [{"names": ["read", "getpid"], "action": "SCMP_ACT_ALLOW"}]
            }))
        };
        let native = compile(&allow(&["SCMP_ARCH_X86_64"])).unwrap();
        let both = compile(&allow(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])).unwrap();
        assert_eq!(both[0][1].k, AUDIT_ARCH_I386);
        assert_eq!(both[0][2].k as usize, native[0].len());
        assert_eq!(both[0][3 + native[0].len() + 1].k, AUDIT_ARCH_I386);
    }

    #[test]
    fn the_kernel_runs_the_rules() {
        require_root();
        let progs = compile(&small(&["SCMP_ARCH_X86_64"])).unwrap();
        let code = in_child(|| {
            if apply(&progs).is_err() {
                return 100;
            }
            // SAFETY: raw syscalls without memory arguments (or with a null
            // pointer the kernel never reads when size is 0).
            unsafe {
                if libc::syscall(libc::SYS_getpid) <= 0 {
                    return 1;
                }
                if errno_of(libc::syscall(libc::SYS_getuid)) != libc::EPERM {
                    return 2;
                }
                if errno_of(libc::syscall(
                    libc::SYS_clone3,
                    std::ptr::null::<u8>(),
                    0usize,
                )) != libc::ENOSYS
                {
                    return 3;
                }
                if errno_of(libc::syscall(libc::SYS_uname, std::ptr::null::<u8>())) != libc::EACCES
                {
                    return 4;
                }
                if libc::syscall(libc::SYS_personality, 0xffff_ffffu64) < 0 {
                    return 5;
                }
                if errno_of(libc::syscall(libc::SYS_personality, 0x0004_0000u64)) != libc::EPERM {
                    return 6;
                }
            }
            0
        });
        assert_eq!(code, 0);
    }

    /// The 32-bit ABI follows the same rules when the policy lists x86,
    /// and is killed when it does not.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_syscalls_follow_the_policy() {
        require_root();
        let int80 = |nr: i32| -> i64 {
            let ret: i64;
            // SAFETY: syscall `nr` through the i386 entry point, with no
            // arguments and no memory touched (getpid 20, getuid 24).
            unsafe {
                std::arch::asm!("int 0x80", inlateout("rax") nr as i64 => ret, options(nostack));
            }
            // The 32-bit ABI returns in eax.
            i64::from(ret as i32)
        };
        let with = compile(&small(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])).unwrap();
        let code = in_child(|| {
            if apply(&with).is_err() {
                return 100;
            }
            if int80(20) <= 0 {
                return 1; // getpid allowed
            }
            if int80(24) != -(libc::EPERM as i64) {
                return 2; // getuid denied with the default errno
            }
            0
        });
        assert_eq!(code, 0);
        let without = compile(&small(&["SCMP_ARCH_X86_64"])).unwrap();
        let code = in_child(|| {
            if apply(&without).is_err() {
                return 100;
            }
            int80(20);
            0
        });
        assert_eq!(code, 128 + libc::SIGSYS);
    }
}
