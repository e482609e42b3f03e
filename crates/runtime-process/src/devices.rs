//! The device allow-list of a container.
//!
//! cgroup v1 enforces it with the `devices` controller's `devices.allow`
//! rules. cgroup v2 has no such files: the kernel instead runs an eBPF
//! program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup on
//! every open and mknod of a device node, as runc and crun attach. Without
//! one, a container on a pure-v2 host (or inside the VM guest, which uses
//! cgroup v2) can mknod and open any device: `/dev/kvm`, the disks,
//! `/dev/kmsg`.
//!
//! We assemble the few instructions ourselves instead of pulling in a BPF
//! toolchain (aya, libbpf): the program is a straight list of compares,
//! the guest agent must stay a small static binary, and the unit tests run
//! it through an interpreter of the same instruction subset.

use crate::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// Device type of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Char,
    Block,
    Any,
}

/// One allow rule: `c 1:3 rwm` in cgroup v1 syntax (`None` = `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Bits of [`READ`], [`WRITE`], [`MKNOD`].
    pub access: u32,
}

pub const MKNOD: u32 = 1;
pub const READ: u32 = 2;
pub const WRITE: u32 = 4;
const RWM: u32 = READ | WRITE | MKNOD;

impl Rule {
    /// Parses cgroup v1's `TYPE MAJOR:MINOR ACCESS`.
    pub fn parse(s: &str) -> Option<Rule> {
        let mut parts = s.split_whitespace();
        let kind = match parts.next()? {
            "c" => Kind::Char,
            "b" => Kind::Block,
            "a" => Kind::Any,
            _ => return None,
        };
        let (major, minor) = parts.next()?.split_once(':')?;
        let num = |v: &str| -> Option<Option<u32>> {
            if v == "*" {
                Some(None)
            } else {
                v.parse().ok().map(Some)
            }
        };
        let mut access = 0;
        for ch in parts.next()?.chars() {
            access |= match ch {
                'r' => READ,
                'w' => WRITE,
                'm' => MKNOD,
                _ => return None,
            };
        }
        Some(Rule {
            kind,
            major: num(major)?,
            minor: num(minor)?,
            access,
        })
    }
}

impl std::fmt::Display for Rule {
    /// cgroup v1 syntax, as `devices.allow` takes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Char => "c",
            Kind::Block => "b",
            Kind::Any => "a",
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let mut access = String::new();
        for (bit, ch) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(ch);
            }
        }
        write!(f, "{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes of the subset we emit.
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV32_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// `struct bpf_cgroup_dev_ctx`: access_type (type | access << 16), major, minor.
/// Registers after the prologue: r2 type, r3 access, r4 major, r5 minor.
pub(crate) fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV32_X, 3, 2, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        // Each check jumps past the rest of this rule's block on mismatch.
        let mut checks: Vec<(u8, u8, i32)> = Vec::new(); // (code-ish, reg, imm)
        match r.kind {
            Kind::Char => checks.push((JNE_K, 2, 2)), // BPF_DEVCG_DEV_CHAR
            Kind::Block => checks.push((JNE_K, 2, 1)), // BPF_DEVCG_DEV_BLOCK
            Kind::Any => {}
        }
        let access_check = r.access & RWM != RWM;
        if let Some(m) = r.major {
            checks.push((JNE_K, 4, m as i32));
        }
        if let Some(m) = r.minor {
            checks.push((JNE_K, 5, m as i32));
        }
        // Block length after each check: remaining checks + access (2 insns
        // + 1 jump) + the allow (2).
        let total = checks.len() + if access_check { 3 } else { 0 } + 2;
        let mut emitted = 0;
        for (code, reg, imm) in checks {
            emitted += 1;
            p.push(insn(code, reg, 0, (total - emitted) as i16, imm));
        }
        if access_check {
            // r1 = requested access & !allowed; any bit left means no.
            p.push(insn(MOV32_X, 1, 3, 0, 0));
            p.push(insn(AND32_K, 1, 0, 0, (!r.access & RWM) as i32));
            emitted += 3;
            p.push(insn(JNE_K, 1, 0, (total - emitted) as i16, 0));
        }
        p.push(insn(MOV64_K, 0, 0, 0, 1));
        p.push(insn(EXIT, 0, 0, 0, 0));
        if emitted == 0 {
            // This rule allows everything: what follows would be
            // unreachable, which the kernel's verifier refuses.
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The parts of `union bpf_attr` that BPF_PROG_LOAD reads, zero-padded to
/// the size of the union's largest member the kernel may look at.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    rest: [u8; 96],
}

/// The parts of `union bpf_attr` that BPF_PROG_ATTACH reads.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    rest: [u8; 108],
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-initialised, correctly laid out prefix of
    // `union bpf_attr`, valid for the size we pass; the kernel reads it
    // and the buffers it points to, which outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Loads the program for `rules` and attaches it to the cgroup directory
/// `dir`. The attachment lives as long as the cgroup: nothing to clean up.
pub fn attach(dir: &Path, rules: &[Rule]) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| Error::Cgroup {
        path: dir.display().to_string(),
        source: std::io::Error::new(e.kind(), format!("{what}: {e}")),
    };
    let insns = program(rules);
    let license = b"Apache-2.0\0";
    let mut load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        rest: [0; 96],
    };
    let fd = bpf(BPF_PROG_LOAD, &mut load).map_err(|e| {
        fail(
            "loading the device policy (BPF_PROG_LOAD; the kernel needs CONFIG_CGROUP_BPF)",
            e,
        )
    })?;
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that we now own.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = std::fs::File::open(dir).map_err(|e| fail("opening the cgroup", e))?;
    let mut attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        // Programs of ancestors (systemd attaches its own) keep running
        // too: a device must pass every one of them.
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
        rest: [0; 108],
    };
    bpf(BPF_PROG_ATTACH, &mut attach).map_err(|e| fail("attaching the device policy", e))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An allow-list in the shape of Docker's (the engine holds the real
    /// one): mknod of anything, null, the ptys and tun.
    pub(crate) fn docker_default() -> Vec<Rule> {
        [
            "c *:* m",
            "b *:* m",
            "c 1:3 rwm",
            "c 136:* rwm",
            "c 10:200 rwm",
        ]
        .iter()
        .map(|r| Rule::parse(r).unwrap())
        .collect()
    }

    #[test]
    fn rules_print_as_cgroup_v1() {
        for r in ["c *:* m", "b 8:0 rw", "a *:* rwm", "c 136:* rwm"] {
            assert_eq!(Rule::parse(r).unwrap().to_string(), r);
        }
    }

    /// Runs `prog` on a device access the way the kernel would, for the
    /// instruction subset [`program`] emits.
    fn run(prog: &[Insn], block: bool, major: u32, minor: u32, access: u32) -> bool {
        let ctx = [(access << 16) | if block { 1 } else { 2 }, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = ctx[i.off as usize / 4] as u64,
                MOV32_X => r[dst] = r[src] as u32 as u64,
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_K => r[dst] = (r[dst] as u32 >> i.imm) as u64,
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                MOV64_K => r[dst] = i.imm as i64 as u64,
                EXIT => return r[0] == 1,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn docker_defaults_allow_only_the_listed_devices() {
        let p = program(&docker_default());
        let rw = READ | WRITE;
        assert!(run(&p, false, 1, 3, rw), "null");
        assert!(run(&p, false, 136, 7, rw), "pts");
        assert!(run(&p, false, 10, 200, READ), "tun");
        assert!(run(&p, false, 10, 232, MKNOD), "mknod of anything");
        assert!(run(&p, true, 8, 0, MKNOD), "mknod of a disk");
        assert!(!run(&p, false, 10, 232, READ), "kvm");
        assert!(!run(&p, false, 10, 237, rw), "loop-control");
        assert!(!run(&p, false, 1, 11, WRITE), "kmsg");
        assert!(!run(&p, true, 8, 0, READ), "a disk");
        assert!(!run(&p, true, 1, 3, READ), "block 1:3 is not null");
        assert!(!run(&p, false, 10, 229, rw), "fuse");
    }

    #[test]
    fn allow_all_has_no_unreachable_code() {
        let p = program(&[
            Rule::parse("a *:* rwm").unwrap(),
            Rule::parse("c 1:3 r").unwrap(),
        ]);
        assert_eq!(p.last().unwrap().code, EXIT);
        assert_eq!(p.len(), 6 + 2, "prologue and one allow");
        assert!(run(&p, true, 8, 0, READ | WRITE));
    }

    #[test]
    fn access_bits_are_honoured() {
        let p = program(&[Rule::parse("c 1:3 r").unwrap()]);
        assert!(run(&p, false, 1, 3, READ));
        assert!(!run(&p, false, 1, 3, WRITE));
        assert!(!run(&p, false, 1, 3, READ | WRITE));
        assert!(!run(&p, false, 1, 3, MKNOD));
    }

    #[test]
    fn rules_parse() {
        assert_eq!(
            Rule::parse("c 136:* rwm"),
            Some(Rule {
                kind: Kind::Char,
                major: Some(136),
                minor: None,
                access: RWM
            })
        );
        assert_eq!(Rule::parse("x 1:1 r"), None);
        assert_eq!(Rule::parse("c 1:1 q"), None);
    }

    /// The real kernel: a child in a cgroup with the policy cannot open
    /// /dev/kvm's kind of device but can open /dev/null. Needs root and a
    /// cgroup2 mount (the hybrid host has one at /sys/fs/cgroup/unified).
    #[test]
    fn the_kernel_enforces_the_program() {
        let base = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.subtree_control").exists());
        let Some(base) = base else {
            panic!("no cgroup2 mount: this test needs one (run as root on Linux)");
        };
        let dir = base.join(format!("isola-devtest-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        attach(&dir, &docker_default()).unwrap();
        let node = tempfile::tempdir().unwrap();
        let kvm = node.path().join("kvm");
        nix::sys::stat::mknod(
            &kvm,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            nix::sys::stat::makedev(1, 11), // kmsg: exists on every kernel
        )
        .unwrap();
        // SAFETY: the child only writes a file, opens two and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let _ = std::fs::write(dir.join("cgroup.procs"), "0");
                let denied = std::fs::File::open(&kvm).is_err();
                let null_ok = std::fs::File::open("/dev/null").is_ok();
                // SAFETY: ends the forked test child.
                unsafe { libc::_exit(if denied && null_ok { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                let _ = std::fs::remove_dir(&dir);
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
