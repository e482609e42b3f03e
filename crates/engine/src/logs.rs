//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, split at
//! newlines and at 16 KiB like Docker. The monitor writes, `isola logs` reads.

use crate::ids::now_rfc3339;
use crate::store::{Container, Status};
use crate::{io_err, Engine, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::time::Duration;

const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    log: std::borrow::Cow<'a, str>,
    stream: std::borrow::Cow<'a, str>,
    time: std::borrow::Cow<'a, str>,
}

/// Appends a container's output to its log, line by line.
pub(crate) struct LogWriter {
    file: BufWriter<File>,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    pub(crate) fn open(c: &Container) -> Result<LogWriter> {
        let path = c.log_path();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(format!("opening log {}", path.display())))?;
        Ok(LogWriter {
            file: BufWriter::new(file),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Logs `data`; complete lines are written now, the rest kept until
    /// its newline arrives (or it reaches 16 KiB).
    pub(crate) fn write(&mut self, stream: Stream, data: &[u8]) {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        // One timestamp per read: every line of it arrived at once, and
        // formatting a time per line dominated the cost of chatty output.
        let time = now_rfc3339();
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = (start + pos + 1).min(start + MAX_LINE);
            self.entry(stream, &buf[start..end], &time);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE], &time);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
        let _ = self.file.flush();
    }

    /// Writes out unterminated output at the end of the container.
    pub(crate) fn finish(&mut self) {
        let time = now_rfc3339();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.partial[stream as usize]);
            if !rest.is_empty() {
                self.entry(stream, &rest, &time);
            }
        }
        let _ = self.file.flush();
    }

    fn entry(&mut self, stream: Stream, line: &[u8], time: &str) {
        let e = Entry {
            log: String::from_utf8_lossy(line),
            stream: stream.name().into(),
            time: time.into(),
        };
        if serde_json::to_writer(&mut self.file, &e).is_ok() {
            let _ = self.file.write_all(b"\n");
        }
    }
}

/// `isola logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    pub timestamps: bool,
}

impl Engine {
    /// Writes the container's log to `out` (stdout lines) and `err`
    /// (stderr lines); with `follow`, keeps going until the container stops.
    pub fn logs(
        &self,
        c: &Container,
        opts: &LogOptions,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<()> {
        let path = c.log_path();
        let Ok(file) = File::open(&path) else {
            return Ok(()); // never started: no output yet
        };
        let mut reader = BufReader::new(file);
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
            lines.push(std::mem::take(&mut line));
        }
        let mut pos = reader.stream_position().unwrap_or(0) - line.len() as u64;
        let skip = opts.tail.map_or(0, |n| lines.len().saturating_sub(n));
        for l in &lines[skip..] {
            emit(l, opts.timestamps, out, err);
        }
        if !opts.follow {
            return Ok(());
        }
        loop {
            let running =
                matches!(self.lookup(c.id()), Ok(now) if now.state.status == Status::Running);
            let mut file = reader.into_inner();
            file.seek(SeekFrom::Start(pos))
                .map_err(io_err("reading the log"))?;
            reader = BufReader::new(file);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
                emit(&line, opts.timestamps, out, err);
                pos += line.len() as u64;
                line.clear();
            }
            if !running {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn emit(line: &str, timestamps: bool, out: &mut dyn Write, err: &mut dyn Write) {
    let Ok(e) = serde_json::from_str::<Entry>(line) else {
        return;
    };
    let w: &mut dyn Write = if e.stream == "stderr" { err } else { out };
    if timestamps {
        let _ = write!(w, "{} ", e.time);
    }
    let _ = w.write_all(e.log.as_bytes());
    let _ = w.flush();
}
