//! `isola top`: the container's processes as the host's `ps` shows them,
//! so the PIDs are host PIDs (like `docker top`).

use crate::backend;
use crate::store::{Container, Status};
use crate::{io_err, Engine, Error, Result};
use std::process::Command;

impl Engine {
    /// Runs `ps ps_args` (default `-ef`) and keeps the header and the rows
    /// of the container's processes.
    pub fn top(&self, c: &Container, ps_args: &[String]) -> Result<Vec<String>> {
        if c.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                c.name()
            )));
        }
        let pids = backend::for_container(c)?.processes(c);
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = Command::new("ps")
            .args(&args)
            .output()
            .map_err(io_err("running ps (install procps)"))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
            return Err(Error::Invalid(format!(
                "ps {} printed no PID column: include pid in the ps options",
                args.join(" ")
            )));
        };
        let mut rows = vec![header.to_string()];
        rows.extend(
            lines
                .filter(|l| {
                    l.split_whitespace()
                        .nth(col)
                        .and_then(|p| p.parse::<i32>().ok())
                        .is_some_and(|p| pids.contains(&p))
                })
                .map(str::to_string),
        );
        Ok(rows)
    }
}
