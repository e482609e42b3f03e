//! The exit record: one JSON line on the exit port, which QEMU writes to
//! the container's `exit.json`. The engine reads it after QEMU exited, so
//! every way out of the guest writes it, exactly once: the container's
//! end, a start failure, `Shutdown`, and fatal errors and panics of the
//! agent itself. Hence a process-wide slot rather than a value threaded
//! through the event loop: the panic hook has nothing else to reach.

use crate::clock;
use crate::error::Result;
use crate::port;
use isola_proto::layout::{ExitRecord, EXIT_PORT};
use std::fs::File;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the host may take to accept the record.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The exit port until the record is written.
static PORT: Mutex<Option<File>> = Mutex::new(None);

/// Opens the exit port; done first at boot so that later failures can be
/// recorded.
pub fn open() -> Result<()> {
    let file = port::open(EXIT_PORT)?;
    if let Ok(mut slot) = PORT.try_lock() {
        *slot = Some(file);
    }
    Ok(())
}

/// Writes the record unless one was written already, then closes the port
/// so the guest waits until the host has it. Returns whether it wrote.
pub fn write(code: i32, oom_killed: bool, error: &str) -> bool {
    // try_lock: the agent is single-threaded, so the lock is only ever
    // held here, and a panic in here must not deadlock the panic hook.
    let Some(file) = PORT.try_lock().ok().and_then(|mut slot| slot.take()) else {
        return false;
    };
    let record = ExitRecord {
        code,
        oom_killed,
        finished_at: clock::now_rfc3339(),
        error: error.to_string(),
    };
    let mut line = serde_json::to_vec(&record).expect("an ExitRecord serializes");
    line.push(b'\n');
    if let Err(e) = port::write_all(&file, &line, Instant::now() + WRITE_TIMEOUT) {
        eprintln!("isola-agent: writing the exit record: {e}");
    }
    drop(file);
    true
}
