//! Docker's default capability set and how the container init reduces its
//! own capabilities to it.
//!
//! The init starts as root with every capability and must end, right
//! before `execve`, with only the container's set. The order is forced by
//! what each step needs:
//!
//! 1. [`drop_bounding`], still as root: dropping from the bounding set
//!    needs `CAP_SETPCAP` in the effective set, which a non-root user
//!    loses at step 2. It also sets `PR_SET_KEEPCAPS`, without which the
//!    kernel would empty the permitted set at step 2, leaving nothing for
//!    step 3 to keep.
//! 2. The caller's `setgroups`, `setgid`, `setuid`: they need `CAP_SETGID`
//!    and `CAP_SETUID` in the effective set, which the container's set may
//!    not include, so capabilities must not be reduced before them.
//! 3. [`set_process`]: permitted and effective become exactly the
//!    container's set (a subset of what was kept), the inheritable and
//!    ambient sets are emptied, and `PR_SET_KEEPCAPS` is reset.
//!
//! A container that keeps uid 0 may call [`apply`], which is steps 1 and 3.
//!
//! What the program finally gets is decided by the kernel at `execve`: as
//! root, the bounding set, which is the container's set; as another user,
//! only what file capabilities grant (within the bounding set). That is
//! Docker's behaviour: it leaves the ambient set empty, and since the fix
//! for CVE-2022-24769 also the inheritable set, which would otherwise let a
//! non-root program gain capabilities through a binary with inheritable
//! file capabilities.
//!
//! Everything here is raw `prctl`/`capset` with no allocation unless it
//! fails, because it runs in a child forked from a multi-threaded process.
//! Capabilities the `caps` crate does not know yet are still dropped from
//! the bounding set: we ask the kernel which ones exist.

use crate::{Error, Result};
use caps::Capability;

/// The names of every capability this build knows (`CAP_CHOWN`, ...).
pub fn known() -> Vec<String> {
    let mut names: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    names.sort();
    names
}

/// Capabilities by their names (`CAP_CHOWN`; `CHOWN` is accepted too).
/// `ALL` stands for every capability this process may hand on (its
/// permitted set): that is what `--privileged` means, on the host as in a
/// VM's guest, even where the engine itself runs with fewer capabilities.
pub fn parse(names: &[String]) -> Result<Vec<Capability>> {
    if names.iter().any(|n| n == "ALL") {
        let permitted = current()?.permitted;
        return Ok(caps::all()
            .into_iter()
            .filter(|c| permitted & c.bitmask() != 0)
            .collect());
    }
    names
        .iter()
        .map(|n| {
            let full = if n.starts_with("CAP_") {
                n.to_uppercase()
            } else {
                format!("CAP_{}", n.to_uppercase())
            };
            full.parse::<Capability>()
                .map_err(|_| Error::Capabilities(format!("unknown capability {n:?}")))
        })
        .collect()
}

/// Docker's 14 default capabilities, for the tests here (the engine holds
/// the policy).
#[cfg(test)]
fn docker_default() -> Vec<Capability> {
    vec![
        Capability::CAP_CHOWN,
        Capability::CAP_DAC_OVERRIDE,
        Capability::CAP_FSETID,
        Capability::CAP_FOWNER,
        Capability::CAP_MKNOD,
        Capability::CAP_NET_RAW,
        Capability::CAP_SETGID,
        Capability::CAP_SETUID,
        Capability::CAP_SETFCAP,
        Capability::CAP_SETPCAP,
        Capability::CAP_NET_BIND_SERVICE,
        Capability::CAP_SYS_CHROOT,
        Capability::CAP_KILL,
        Capability::CAP_AUDIT_WRITE,
    ]
}

/// Reduces the calling process to `keep` when it does not change its uid
/// afterwards: [`drop_bounding`] then [`set_process`].
pub fn apply(keep: &[Capability]) -> Result<()> {
    drop_bounding(keep)?;
    // SAFETY: geteuid cannot fail.
    set_process(keep, unsafe { libc::geteuid() } == 0)
}

/// Step 1, as root before `setuid`: removes every capability but `keep`
/// from the bounding set, so no later `execve` (of a setuid-root or
/// file-capability binary) can regain it, and sets `PR_SET_KEEPCAPS` so
/// that the permitted set survives the caller's `setuid` to a non-root
/// user.
pub fn drop_bounding(keep: &[Capability]) -> Result<()> {
    let keep = mask(keep);
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_READ takes a capability number and reads nothing
        // from memory.
        let present = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if present < 0 {
            // EINVAL: past the last capability this kernel knows.
            break;
        }
        if present == 1 && keep & (1 << cap) == 0 {
            // SAFETY: as above, with PR_CAPBSET_DROP.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if rc != 0 {
                return Err(os_error("dropping a capability from the bounding set"));
            }
        }
    }
    // SAFETY: PR_SET_KEEPCAPS takes a flag and reads nothing from memory.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1 as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(os_error("setting PR_SET_KEEPCAPS"));
    }
    Ok(())
}

/// Step 3, after the caller's `setgroups`/`setgid`/`setuid`: sets the
/// permitted and effective sets to exactly `keep`, empties the inheritable
/// and ambient sets and resets `PR_SET_KEEPCAPS`.
///
/// The sets are the same whatever the uid; `uid_is_root` (whether the
/// process now runs as uid 0) only serves to explain a failure: when a
/// non-root process lacks part of `keep`, it left uid 0 without
/// [`drop_bounding`] having set `PR_SET_KEEPCAPS` first.
pub fn set_process(keep: &[Capability], uid_is_root: bool) -> Result<()> {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL reads nothing from memory.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc != 0 {
        return Err(os_error("clearing the ambient capabilities"));
    }
    let keep = mask(keep);
    let permitted = current()?.permitted;
    if keep & !permitted != 0 {
        return Err(Error::Capabilities(if uid_is_root {
            format!(
                "capabilities {:#x} are not permitted to this process",
                keep & !permitted
            )
        } else {
            "the capabilities were lost when leaving uid 0: call drop_bounding, which sets \
             PR_SET_KEEPCAPS, before setuid"
                .to_string()
        }));
    }
    capset(CapSets {
        effective: keep,
        permitted: keep,
        inheritable: 0,
    })?;
    // SAFETY: PR_SET_KEEPCAPS takes a flag and reads nothing from memory.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0 as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(os_error("resetting PR_SET_KEEPCAPS"));
    }
    Ok(())
}

/// The capability sets of the calling thread, as bit masks (bit n is
/// capability number n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// The bit mask of `caps`, as the kernel numbers them.
pub fn mask(caps: &[Capability]) -> u64 {
    caps.iter().fold(0, |m, c| m | c.bitmask())
}

/// Reads the calling thread's capability sets.
pub fn current() -> Result<CapSets> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget reads `header` and, for version 3, writes two
    // `CapData` into `data`; both are valid, owned and correctly sized.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(os_error("reading the capability sets"));
    }
    let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | u64::from(f(&data[1])) << 32;
    Ok(CapSets {
        effective: join(|d| d.effective),
        permitted: join(|d| d.permitted),
        inheritable: join(|d| d.inheritable),
    })
}

/// Whether `cap` is in the calling thread's bounding set.
pub fn in_bounding_set(cap: Capability) -> Result<bool> {
    // SAFETY: PR_CAPBSET_READ takes a capability number and reads nothing
    // from memory.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap.index() as libc::c_ulong, 0, 0, 0) };
    if rc < 0 {
        return Err(os_error("reading the bounding set"));
    }
    Ok(rc == 1)
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, split in two 32-bit halves.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`: one 32-bit half of each set.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capset(sets: CapSets) -> Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| CapData {
        effective: (sets.effective >> shift) as u32,
        permitted: (sets.permitted >> shift) as u32,
        inheritable: (sets.inheritable >> shift) as u32,
    };
    let data = [half(0), half(32)];
    // SAFETY: capset reads `header` and two `CapData` from `data`; both are
    // valid and correctly sized for version 3. (The kernel may write the
    // preferred version into `header`, which is owned and mutable.)
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if rc != 0 {
        return Err(os_error("setting the capability sets"));
    }
    Ok(())
}

/// An error for the failed `what`, from `errno`. Allocates, but only on the
/// failure path.
fn os_error(what: &str) -> Error {
    Error::Capabilities(format!("{what}: {}", std::io::Error::last_os_error()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{in_child, require_root};
    use nix::errno::Errno;

    #[test]
    fn docker_default_is_dockers_fourteen() {
        let caps = docker_default();
        assert_eq!(caps.len(), 14);
        assert_eq!(mask(&caps).count_ones(), 14);
        assert!(!caps.contains(&Capability::CAP_SYS_ADMIN));
        assert!(!caps.contains(&Capability::CAP_NET_ADMIN));
        assert!(!caps.contains(&Capability::CAP_SYS_PTRACE));
    }

    #[test]
    fn mask_uses_kernel_numbers() {
        assert_eq!(mask(&[Capability::CAP_CHOWN]), 1);
        assert_eq!(mask(&[Capability::CAP_SYS_ADMIN]), 1 << 21);
        assert_eq!(mask(&[]), 0);
    }

    /// `sethostname` in a private UTS namespace, so a broken test can never
    /// rename the host. Returns the errno, or 0 on success.
    fn sethostname_errno() -> i32 {
        let name = b"isola-test";
        // SAFETY: `name` is valid for `name.len()` bytes.
        let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
        if rc == 0 {
            0
        } else {
            Errno::last_raw()
        }
    }

    fn unshare_uts() -> bool {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).is_ok()
    }

    #[test]
    fn apply_as_root_keeps_exactly_the_docker_set() {
        require_root();
        let keep = docker_default();
        let code = in_child(|| {
            if !unshare_uts() {
                return 10;
            }
            if apply(&keep).is_err() {
                return 11;
            }
            match in_bounding_set(Capability::CAP_SYS_ADMIN) {
                Ok(false) => {}
                _ => return 12,
            }
            match in_bounding_set(Capability::CAP_CHOWN) {
                Ok(true) => {}
                _ => return 13,
            }
            let want = CapSets {
                effective: mask(&keep),
                permitted: mask(&keep),
                inheritable: 0,
            };
            if current().ok() != Some(want) {
                return 14;
            }
            if sethostname_errno() != libc::EPERM {
                return 15;
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn root_to_non_root_in_the_documented_order() {
        require_root();
        let keep = docker_default();
        let code = in_child(|| {
            if !unshare_uts() {
                return 10;
            }
            if drop_bounding(&keep).is_err() {
                return 11;
            }
            // SAFETY: plain syscalls on the child's own credentials.
            let ok = unsafe {
                libc::setgroups(0, std::ptr::null()) == 0
                    && libc::setgid(65534) == 0
                    && libc::setuid(65534) == 0
            };
            if !ok {
                return 12;
            }
            if set_process(&keep, false).is_err() {
                return 13;
            }
            let sets = match current() {
                Ok(s) => s,
                Err(_) => return 14,
            };
            if sets.effective != mask(&keep)
                || sets.permitted != mask(&keep)
                || sets.inheritable != 0
            {
                return 15;
            }
            if in_bounding_set(Capability::CAP_SYS_ADMIN).ok() != Some(false) {
                return 16;
            }
            // SAFETY: PR_CAP_AMBIENT_IS_SET reads nothing from memory.
            let ambient = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
                    Capability::CAP_CHOWN.index() as libc::c_ulong,
                    0,
                    0,
                )
            };
            if ambient != 0 {
                return 17;
            }
            // SAFETY: getuid cannot fail.
            if unsafe { libc::getuid() } != 65534 {
                return 18;
            }
            if sethostname_errno() != libc::EPERM {
                return 19;
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn setuid_without_keepcaps_loses_the_permitted_set() {
        require_root();
        let keep = docker_default();
        let code = in_child(|| {
            // SAFETY: plain syscall on the child's own credentials.
            if unsafe { libc::setuid(65534) } != 0 {
                return 10;
            }
            match set_process(&keep, false) {
                Err(_) => 0,
                Ok(()) => 11,
            }
        });
        assert_eq!(code, 0, "set_process must fail when step 1 was skipped");
    }
}
