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

fn sockaddr_in(ip: std::net::Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel reads
    // the family to interpret the rest.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Gives interface `name` the address `ip/prefix`, brings it up and, with
/// a `gateway`, adds the default route through it: what the guest agent
/// does for a VM's NIC (the guest has no `ip` tool).
pub fn configure_interface(
    name: &str,
    ip: std::net::Ipv4Addr,
    prefix: u8,
    gateway: Option<std::net::Ipv4Addr>,
) -> Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx(|| format!("socket for configuring {name}"))?;
    let fd = sock.as_raw_fd();
    let request = || {
        // SAFETY: an all-zero `ifreq` is a valid value of this plain C struct.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes().take(15)) {
            *dst = src as libc::c_char;
        }
        req
    };
    let mask = std::net::Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0));
    for (what, op, addr) in [
        ("address", libc::SIOCSIFADDR, ip),
        ("netmask", libc::SIOCSIFNETMASK, mask),
    ] {
        let mut req = request();
        req.ifr_ifru.ifru_addr = sockaddr_in(addr);
        // SAFETY: the ioctl reads the valid `req`.
        let rc = unsafe { libc::ioctl(fd, op as _, &req) };
        nix::errno::Errno::result(rc).ctx(|| format!("setting the {what} of {name}"))?;
    }
    let mut req = request();
    // SAFETY: SIOCGIFFLAGS fills `ifr_ifru.ifru_flags` of the valid `req`.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) };
    nix::errno::Errno::result(rc).ctx(|| format!("reading flags of {name}"))?;
    // SAFETY: the union member was just written by SIOCGIFFLAGS; SIOCSIFFLAGS reads it.
    let rc = unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req)
    };
    nix::errno::Errno::result(rc).ctx(|| format!("bringing up {name}"))?;
    if let Some(gw) = gateway {
        // SAFETY: an all-zero `rtentry` is a valid value of this plain C struct.
        let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
        rt.rt_dst = sockaddr_in(std::net::Ipv4Addr::UNSPECIFIED);
        rt.rt_genmask = sockaddr_in(std::net::Ipv4Addr::UNSPECIFIED);
        rt.rt_gateway = sockaddr_in(gw);
        rt.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
        // SAFETY: SIOCADDRT reads the valid `rt`.
        let rc = unsafe { libc::ioctl(fd, libc::SIOCADDRT as _, &rt) };
        nix::errno::Errno::result(rc).ctx(|| format!("adding the default route via {gw}"))?;
    }
    Ok(())
}
