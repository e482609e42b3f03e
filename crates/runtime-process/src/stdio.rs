//! The container process's standard streams: either fds the caller made
//! (pipes), or a terminal allocated *inside* the container's own devpts,
//! like runc's console socket, so `tty` names `/dev/pts/0` as under Docker
//! and programs that look up their terminal find it. The pty master travels
//! back to the caller over a socketpair (SCM_RIGHTS).

use crate::{mounts, sys, Context, Error, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::unistd::{dup2, setsid};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The container process's standard streams.
pub enum Stdio {
    /// Ready-made fds for the process's 0, 1 and 2.
    Fds {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A new terminal of this size; its master is returned in
    /// [`crate::Spawned::pty_master`].
    Pty { size: Option<sys::Winsize> },
}

/// The channel on which the child sends the pty master to its parent.
pub(crate) struct ConsoleChannel {
    pub(crate) parent: OwnedFd,
    pub(crate) child: OwnedFd,
}

impl ConsoleChannel {
    /// A channel when `stdio` asks for a terminal.
    pub(crate) fn for_stdio(stdio: &Stdio) -> Result<Option<ConsoleChannel>> {
        if !matches!(stdio, Stdio::Pty { .. }) {
            return Ok(None);
        }
        let (parent, child) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .ctx(|| "socketpair for the console".into())?;
        Ok(Some(ConsoleChannel { parent, child }))
    }
}

/// Receives the pty master; `None` when the child closed the channel
/// without sending one (it failed, and says why on its error pipe).
pub(crate) fn receive_master(parent_end: &OwnedFd) -> Option<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        parent_end.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    for cmsg in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                // SAFETY: SCM_RIGHTS just installed this fd in our table; we own it now.
                return Some(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    None
}

/// Sends `fd` over the Unix socket `socket` (SCM_RIGHTS) with `payload`
/// as the message's data: the pty master to our parent, or to an OCI
/// runtime's `--console-socket`, which takes the terminal's name as data.
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, payload: &[u8]) -> nix::Result<()> {
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map(drop)
}

/// Child side: installs the streams as fds 0-2 in a new session. With a
/// terminal, allocates it in the container's devpts, sends the master over
/// `channel` and, for a container's init (`console`), binds the slave over
/// /dev/console as Docker does.
pub(crate) fn install(stdio: Stdio, channel: Option<&OwnedFd>, console: bool) -> Result<()> {
    setsid().ctx(|| "setsid".into())?;
    match stdio {
        Stdio::Fds {
            stdin,
            stdout,
            stderr,
        } => install_fds([stdin, stdout, stderr]),
        Stdio::Pty { size } => {
            let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
                .ctx(|| "opening /dev/ptmx in the container".into())?;
            grantpt(&master).ctx(|| "grantpt".into())?;
            unlockpt(&master).ctx(|| "unlockpt".into())?;
            let name = ptsname_r(&master).ctx(|| "ptsname".into())?;
            if let Some(ws) = size {
                sys::set_winsize(master.as_fd(), &ws);
            }
            let slave: OwnedFd = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&name)
                .map_err(|e| Error::Setup(format!("opening {name}: {e}")))?
                .into();
            if console {
                mounts::bind_console(Path::new(&name))?;
            }
            let channel = channel.ok_or_else(|| Error::Setup("no console channel".into()))?;
            send_fd(channel.as_fd(), master.as_fd(), &[0])
                .ctx(|| "sending the pty master".into())?;
            drop(master);
            let copies = [
                slave
                    .try_clone()
                    .map_err(|e| Error::Setup(format!("dup pty: {e}")))?,
                slave
                    .try_clone()
                    .map_err(|e| Error::Setup(format!("dup pty: {e}")))?,
                slave,
            ];
            install_fds(copies)?;
            // SAFETY: fd 0 was just installed and stays open for the process's life.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            sys::set_controlling_tty(stdin).ctx(|| "setting the controlling terminal".into())
        }
    }
}

fn install_fds(fds: [OwnedFd; 3]) -> Result<()> {
    // Move the fds out of the 0..=2 range first so one dup2 cannot
    // overwrite a source of another.
    let mut high = Vec::with_capacity(3);
    for fd in &fds {
        high.push(fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(10)).ctx(|| "dup stdio".into())?);
    }
    drop(fds);
    for (target, fd) in high.into_iter().enumerate() {
        dup2(fd, target as RawFd).ctx(|| format!("dup2 to fd {target}"))?;
        let _ = nix::unistd::close(fd);
    }
    Ok(())
}
