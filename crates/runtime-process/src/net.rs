//! Brings up the loopback interface of a fresh network namespace, which is
//! all `--network none` provides (as in Docker). Public because the guest
//! agent does the same for the VM's own network namespace.

use crate::{Context, Result};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use std::os::fd::AsRawFd;

/// Sets `lo` up in the calling process's network namespace.
pub fn loopback_up() -> Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx(|| "socket for configuring lo".into())?;
    // SAFETY: an all-zero `ifreq` is a valid value of this plain C struct.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills `ifr_ifru.ifru_flags` of the valid `req`.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) };
    nix::errno::Errno::result(rc).ctx(|| "reading flags of lo".into())?;
    // SAFETY: the union member was just written by SIOCGIFFLAGS; SIOCSIFFLAGS reads it.
    let rc = unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req)
    };
    nix::errno::Errno::result(rc).ctx(|| "bringing up lo".into())?;
    Ok(())
}

/// Docker's /etc/hosts for a container with only loopback, written by the
/// engine (process mode) and the guest agent (VM mode) alike.
pub const LOOPBACK_HOSTS: &str =
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
