//! The status port: what the host cannot see of the container while the
//! VM runs, its restarts and its health, one [`StatusRecord`] line per
//! change (QEMU appends them to the container's `status.json`). Opened on
//! first use, so containers without a restart policy or health check never
//! wait for it.

use crate::port;
use isola_proto::layout::{StatusRecord, STATUS_PORT};
use std::fs::File;
use std::time::{Duration, Instant};

/// How long the host may take to accept a record.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct StatusPort {
    file: Option<File>,
    /// Opening failed: the host gave no such port; records are dropped.
    missing: bool,
}

impl StatusPort {
    pub fn write(&mut self, record: &StatusRecord) {
        if self.file.is_none() && !self.missing {
            match port::open(STATUS_PORT) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    eprintln!("isola-agent: {e}; restarts and health stay unreported");
                    self.missing = true;
                }
            }
        }
        let Some(file) = &self.file else { return };
        let mut line = serde_json::to_vec(record).expect("a StatusRecord serializes");
        line.push(b'\n');
        if let Err(e) = port::write_all(file, &line, Instant::now() + WRITE_TIMEOUT) {
            eprintln!("isola-agent: writing a status record: {e}");
        }
    }
}
