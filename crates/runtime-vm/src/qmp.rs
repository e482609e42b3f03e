//! The VM's QEMU Machine Protocol socket, for what only the hypervisor can
//! do: stop and continue the vCPUs (`pause`/`unpause`). A frozen guest
//! cannot be asked to freeze itself reliably, and QMP's `stop` halts every
//! vCPU at once without the guest's cooperation, as Kata does.
//!
//! QMP is line-delimited JSON; its handshake and the two commands need no
//! library (the crates that exist are async or unmaintained), so this is
//! hand-written and kept to what isola sends.

use crate::{io_err, Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket's file name, relative to the container directory (QEMU's
/// working directory; see [`crate::control_socket`] for why relative).
pub fn qmp_socket() -> PathBuf {
    PathBuf::from("qmp.sock")
}

/// Runs one QMP command (`stop`, `cont`) on the VM whose directory is
/// `dir`, and returns once QEMU has answered it.
pub fn execute(dir: &Path, command: &str) -> Result<()> {
    let dir_fd = File::open(dir).map_err(io_err(format!("opening {}", dir.display())))?;
    let path = Path::new("/proc/self/fd")
        .join(dir_fd.as_raw_fd().to_string())
        .join(qmp_socket());
    if !dir.join(qmp_socket()).exists() {
        return Err(Error::Unreachable(
            "its hypervisor has no control socket (started by an older isola): restart the container"
                .into(),
        ));
    }
    let stream = UnixStream::connect(&path).map_err(io_err("connecting to the VM's QMP socket"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io_err("socket timeout"))?;
    let mut writer = stream.try_clone().map_err(io_err("dup socket"))?;
    let mut reader = BufReader::new(stream);
    // The greeting, then capabilities negotiation, then the command; QEMU
    // may interleave asynchronous events (`{"event": ...}`), skipped here.
    let answer = |reader: &mut BufReader<UnixStream>| -> Result<serde_json::Value> {
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(io_err("reading QMP"))? == 0 {
                return Err(Error::Unreachable("QMP socket closed".into()));
            }
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v.get("event").is_none() {
                return Ok(v);
            }
        }
    };
    answer(&mut reader)?; // {"QMP": {...}}
    for cmd in ["qmp_capabilities", command] {
        writeln!(writer, "{}", serde_json::json!({ "execute": cmd }))
            .map_err(io_err("writing QMP"))?;
        let v = answer(&mut reader)?;
        if let Some(e) = v.get("error") {
            return Err(Error::Tool {
                tool: "QEMU".into(),
                detail: format!("{cmd}: {}", e["desc"].as_str().unwrap_or("failed")),
            });
        }
    }
    Ok(())
}
