//! `isola exec`: another process in a running container, attached to this
//! process's stdio (through a pty with `-t`).

use crate::backend::{self, main_process};
use crate::lifecycle::merge_env;
use crate::pump::{make_stdio, pump, Input, Sinks};
use crate::store::{Container, Status};
use crate::{io_err, Engine, Error, Result};
use isola_runtime_process::{wait_exit_code, Stdio};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};

/// `isola exec` options.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub interactive: bool,
    pub tty: bool,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd> {
    fd.try_clone_to_owned().map_err(io_err("dup"))
}

impl Engine {
    /// Runs the command in the container and returns its exit code.
    /// Must be called while this process has a single thread.
    pub fn exec(&self, c: &Container, opts: &ExecOptions) -> Result<i32> {
        if c.state.status != Status::Running || !c.state.init_alive() {
            return Err(Error::Conflict(format!(
                "container {} is not running: start it first",
                c.name()
            )));
        }
        if opts.command.is_empty() {
            return Err(Error::Invalid("exec needs a command to run".into()));
        }
        let backend = backend::for_container(c)?;
        let mut process = main_process(c);
        process.args = opts.command.clone();
        process.env = merge_env(&process.env, &opts.env);
        if let Some(w) = &opts.workdir {
            process.cwd = w.clone();
        }
        if let Some(u) = &opts.user {
            process.user = u.clone();
        }
        if opts.tty {
            let input = if opts.interactive {
                Input::Forward
            } else {
                Input::Null
            };
            let (stdio, ends) = make_stdio(true, input)?;
            let mut spawned = backend.exec(c, &process, stdio)?;
            let ends = ends.with_master(spawned.pty_master.take())?;
            let sinks = Sinks {
                log: None,
                forward_output: true,
                forward_input: opts.interactive,
                proxy: true,
            };
            return pump(ends, sinks, Pid::from_raw(spawned.pid));
        }
        // Without a terminal the process gets our own streams directly.
        let stdin = if opts.interactive {
            dup(std::io::stdin().as_fd())?
        } else {
            std::fs::File::open("/dev/null")
                .map_err(io_err("/dev/null"))?
                .into()
        };
        let stdio = Stdio::Fds {
            stdin,
            stdout: dup(std::io::stdout().as_fd())?,
            stderr: dup(std::io::stderr().as_fd())?,
        };
        let spawned = backend.exec(c, &process, stdio)?;
        Ok(wait_exit_code(spawned.pid))
    }
}
