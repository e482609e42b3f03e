//! `isola exec` and `isola top`: reaching into a running container.

use crate::backend::{main_process, Top};
use crate::lifecycle::merge_env;
use crate::store::{Container, Status};
use crate::{Engine, Error, Result};

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

fn require_running(c: &Container) -> Result<()> {
    if c.state.status == Status::Running && c.state.init_alive() {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "container {} is not running: start it first",
            c.name()
        )))
    }
}

impl Engine {
    /// Runs the command in the container and returns its exit code.
    /// Must be called while this process has a single thread.
    pub fn exec(&self, c: &Container, opts: &ExecOptions, streams: crate::Streams) -> Result<i32> {
        require_running(c)?;
        if opts.command.is_empty() {
            return Err(Error::Invalid("exec needs a command to run".into()));
        }
        let mut process = main_process(c);
        process.args = opts.command.clone();
        process.env = merge_env(&process.env, &opts.env);
        if let Some(w) = &opts.workdir {
            crate::lifecycle::check_workdir(w)?;
            process.cwd = w.clone();
        }
        if let Some(u) = &opts.user {
            process.user = u.clone();
        }
        self.backend(c).exec(c, &process, streams, opts.tty)
    }

    /// The container's processes: host PIDs in process mode (through the
    /// host's `ps` and `ps_args`), guest PIDs in VM mode.
    pub fn top(&self, c: &Container, ps_args: &[String]) -> Result<Top> {
        require_running(c)?;
        self.backend(c).top(c, ps_args)
    }
}
