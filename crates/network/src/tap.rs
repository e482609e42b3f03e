//! VM mode's NIC, the Kata way: in the container's network namespace a tap
//! device joined to the veth netavark made (`eth0`) by two tc `mirred
//! redirect` filters, one per direction. The hypervisor gets the tap's
//! file descriptor; the guest's virtio-net NIC then sits on the bridge
//! with the veth's MAC and address, so DNS, ports and NAT work unchanged.

use crate::{io_err, Error, Result};
use nix::sched::{setns, CloneFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// Opens a new tap device `tap` in the network namespace at `netns`, joins
/// it to `veth` with tc redirects, and returns its descriptor (inheritable,
/// for the hypervisor).
pub fn attach(netns: &Path, veth: &str, tap: &str) -> Result<OwnedFd> {
    let netns = netns.to_path_buf();
    let (veth, tap) = (veth.to_string(), tap.to_string());
    std::thread::spawn(move || in_netns(&netns, &veth, &tap))
        .join()
        .unwrap_or_else(|_| Err(Error::Invalid("tap thread panicked".into())))
}

fn in_netns(netns: &PathBuf, veth: &str, tap: &str) -> Result<OwnedFd> {
    let ns = std::fs::File::open(netns).map_err(io_err(format!("opening {}", netns.display())))?;
    setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
        context: "joining the container's network namespace".into(),
        source: e.into(),
    })?;
    // Not close-on-exec: the hypervisor inherits it.
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(io_err("opening /dev/net/tun"))?;
    let fd = OwnedFd::from(fd);
    // SAFETY: an all-zero `ifreq` is a valid value of this plain C struct.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(tap.bytes().take(15)) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads the valid `req` for the open tun descriptor.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &req) };
    nix::errno::Errno::result(rc).map_err(|e| Error::Io {
        context: format!("creating tap device {tap}"),
        source: e.into(),
    })?;
    nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(|e| Error::Io {
        context: "fcntl".into(),
        source: e.into(),
    })?;
    // Commands forked from this thread run in its network namespace.
    for args in [
        vec!["ip", "link", "set", tap, "up"],
        vec!["tc", "qdisc", "add", "dev", veth, "ingress"],
        vec!["tc", "qdisc", "add", "dev", tap, "ingress"],
        vec![
            "tc", "filter", "add", "dev", veth, "parent", "ffff:", "protocol", "all", "u32",
            "match", "u8", "0", "0", "action", "mirred", "egress", "redirect", "dev", tap,
        ],
        vec![
            "tc", "filter", "add", "dev", tap, "parent", "ffff:", "protocol", "all", "u32",
            "match", "u8", "0", "0", "action", "mirred", "egress", "redirect", "dev", veth,
        ],
    ] {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .map_err(io_err(format!("running {} (install iproute2)", args[0])))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "{}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(fd)
}
