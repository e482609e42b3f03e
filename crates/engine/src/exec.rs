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
        if c.is_paused() {
            return Err(Error::Conflict(format!(
                "container {} is paused: unpause the container before exec",
                c.name()
            )));
        }
        // Docker's exec events: the action names the command.
        let exec_id = crate::ids::new_id();
        let command = opts.command.join(" ");
        let id_attr = [("execID", exec_id.clone())];
        self.container_event(c, &format!("exec_create: {command}"), &id_attr);
        self.container_event(c, &format!("exec_start: {command}"), &id_attr);
        let code = self.backend(c).exec(c, &process, streams, opts.tty);
        let exit = code.as_ref().map_or(126, |c| *c).to_string();
        self.container_event(c, "exec_die", &[id_attr[0].clone(), ("exitCode", exit)]);
        code
    }

    /// The container's processes: host PIDs in process mode (through the
    /// host's `ps` and `ps_args`), guest PIDs in VM mode.
    pub fn top(&self, c: &Container, ps_args: &[String]) -> Result<Top> {
        require_running(c)?;
        self.backend(c).top(c, ps_args)
    }
}
