//! Running isola from a sealed, in-memory copy of its own binary.
//!
//! A process that joins a running container's namespaces (`isola exec`) is,
//! until it executes the container's command, a copy of the host's isola
//! binary, visible in the container as `/proc/PID/exe`. CVE-2019-5736 used
//! exactly that to overwrite runc on the host. The helper is made
//! non-dumpable ([`crate::sys::set_dumpable`]), which already denies the
//! open; as runc does, the binary it runs is moreover a memfd copy with
//! write, grow and shrink seals, so even a process that could open it
//! (one granted `CAP_SYS_PTRACE`) could not change a byte of the host's
//! file.

use crate::{Error, Result};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NAME: &str = "isola-sealed";

/// Whether this process already runs from the sealed copy.
pub fn is_sealed() -> bool {
    std::fs::read_link("/proc/self/exe")
        .is_ok_and(|p| p.to_string_lossy().starts_with(&format!("/memfd:{NAME}")))
}

/// Re-executes this process, with the same arguments and environment, from
/// a sealed memfd copy of its binary. Returns `Ok(())` at once when already
/// sealed; otherwise returns only on failure.
pub fn reexec_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    let fail = |what: &str, e: std::io::Error| {
        Error::Setup(format!("sealing the isola binary: {what}: {e}"))
    };
    let name = CString::new(NAME).expect("no NUL");
    // SAFETY: memfd_create reads the NUL-terminated name and returns a new
    // descriptor that we own from here on.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(fail("memfd_create", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor owned by nothing else.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut copy = File::from(memfd);
    let mut exe = File::open("/proc/self/exe").map_err(|e| fail("opening /proc/self/exe", e))?;
    // Through a buffer, not std::io::copy: its zero-copy paths (splice,
    // copy_file_range) can leave the memfd's pages pinned for a moment,
    // and the write seal is refused (EBUSY) while they are.
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut exe, &mut buf).map_err(|e| fail("reading", e))?;
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut copy, &buf[..n]).map_err(|e| fail("copying", e))?;
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    let mut tries = 0;
    loop {
        // SAFETY: F_ADD_SEALS takes an int argument and reads no memory.
        if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, seals) } == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        tries += 1;
        if e.raw_os_error() != Some(libc::EBUSY) || tries == 50 {
            return Err(fail("F_ADD_SEALS", e));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let cstrings = |items: Vec<std::ffi::OsString>| -> Vec<CString> {
        use std::os::unix::ffi::OsStringExt;
        items
            .into_iter()
            .filter_map(|s| CString::new(s.into_vec()).ok())
            .collect()
    };
    let args = cstrings(std::env::args_os().collect());
    let env = cstrings(
        std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                kv
            })
            .collect(),
    );
    let err = nix::unistd::fexecve(copy.as_raw_fd(), &args, &env).unwrap_err();
    Err(fail("fexecve", err.into()))
}
