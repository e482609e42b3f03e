//! Noticing clients connect to control ports nobody is connected to.
//!
//! Such a port polls as POLLHUP|POLLIN all the time, so putting it in the
//! event loop's `poll` would spin, and probing it on a timer costs wake-ups
//! (host CPU under TCG) and latency. Instead each idle port sits in an epoll
//! set, edge-triggered: the driver wakes the port's wait queue when the
//! host side connects (and on data), which queues exactly one event, and
//! the epoll fd itself is one readable fd in the event loop's `poll`. An
//! idle VM thus wakes the agent for nothing at all.

use crate::error::{Context, Result};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};

pub struct Watcher {
    epoll: Epoll,
}

impl Watcher {
    pub fn new() -> Result<Watcher> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).ctx(|| "epoll_create".into())?;
        Ok(Watcher { epoll })
    }

    /// The fd to poll for POLLIN: readable once a watched port had an event.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }

    /// Starts watching control port `index`. The port's current state
    /// counts as its first event, so a client that connected in the
    /// meantime is not missed.
    pub fn add(&self, port: &File, index: usize) -> Result<()> {
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET;
        self.epoll
            .add(port, EpollEvent::new(flags, index as u64))
            .ctx(|| format!("watching control port {index}"))
    }

    pub fn remove(&self, port: &File, index: usize) -> Result<()> {
        self.epoll
            .delete(port)
            .ctx(|| format!("unwatching control port {index}"))
    }

    /// The ports that had an event since the last call; never blocks.
    pub fn events(&self) -> Result<Vec<usize>> {
        let mut events = [EpollEvent::empty(); 16];
        let n = self
            .epoll
            .wait(&mut events, EpollTimeout::ZERO)
            .ctx(|| "epoll_wait".into())?;
        Ok(events[..n].iter().map(|e| e.data() as usize).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::io::Write;

    fn readable(w: &Watcher) -> bool {
        let mut fds = [PollFd::new(w.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
    }

    #[test]
    fn reports_a_ready_fd_once_per_wake_up() {
        // A pipe's read end stands in for a port: readable = "an event".
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
        let (r, mut w) = (File::from(r), File::from(w));
        let watcher = Watcher::new().unwrap();
        watcher.add(&r, 3).unwrap();
        assert!(!readable(&watcher), "nothing happened yet");
        w.write_all(b"x").unwrap();
        assert!(readable(&watcher));
        assert_eq!(watcher.events().unwrap(), [3]);
        // Still readable, but edge-triggered: no new event, no spinning.
        assert!(!readable(&watcher));
        w.write_all(b"y").unwrap();
        assert_eq!(watcher.events().unwrap(), [3]);
        watcher.remove(&r, 3).unwrap();
        w.write_all(b"z").unwrap();
        assert!(watcher.events().unwrap().is_empty());
    }
}
