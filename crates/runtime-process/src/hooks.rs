//! OCI runtime hooks: programs the spec names at points of a container's
//! life, each run with the container's state JSON on stdin. Run here so the
//! container's init (for `startContainer`, inside the container's
//! namespaces) and the OCI front end (the others, in the runtime's) share
//! one implementation.

use crate::{Error, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One hook as the spec's `hooks` section gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub path: PathBuf,
    /// argv, including argv[0]; empty means just the path.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<Duration>,
}

impl From<&oci_spec::runtime::Hook> for Hook {
    fn from(h: &oci_spec::runtime::Hook) -> Hook {
        Hook {
            path: h.path().clone(),
            args: h.args().clone().unwrap_or_default(),
            env: h.env().clone().unwrap_or_default(),
            timeout: h
                .timeout()
                .filter(|t| *t > 0)
                .map(|t| Duration::from_secs(t as u64)),
        }
    }
}

impl Hook {
    /// Runs the hook with `state` on stdin; an error names the hook and
    /// why it failed (its exit status, a timeout, or why it did not start).
    pub fn run(&self, state: &str) -> Result<()> {
        let fail = |why: String| Error::Setup(format!("hook {}: {why}", self.path.display()));
        let mut cmd = Command::new(&self.path);
        if let Some((argv0, rest)) = self.args.split_first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
            cmd.args(rest);
        }
        cmd.env_clear()
            .envs(self.env.iter().filter_map(|e| e.split_once('=')))
            .stdin(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A hook that does not read its stdin is fine.
            let _ = stdin.write_all(state.as_bytes());
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        loop {
            match child.try_wait().map_err(|e| fail(e.to_string()))? {
                Some(st) if st.success() => return Ok(()),
                Some(st) => return Err(fail(format!("failed with {st}"))),
                None if deadline.is_some_and(|d| Instant::now() >= d) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail("timed out".into()));
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_gets_the_state_on_stdin_and_its_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let hook = Hook {
            path: "/bin/sh".into(),
            args: vec![
                "sh".into(),
                "-c".into(),
                format!("cat > {}; test \"$X\" = 1", out.display()),
            ],
            env: vec!["X=1".into()],
            timeout: None,
        };
        hook.run("{\"id\":\"c\"}").unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"id\":\"c\"}");
        let bad = Hook {
            env: vec![],
            ..hook.clone()
        };
        assert!(bad.run("{}").unwrap_err().to_string().contains("failed"));
        let slow = Hook {
            args: vec!["sh".into(), "-c".into(), "sleep 5".into()],
            timeout: Some(Duration::from_millis(100)),
            ..hook
        };
        assert!(slow
            .run("{}")
            .unwrap_err()
            .to_string()
            .contains("timed out"));
    }
}
