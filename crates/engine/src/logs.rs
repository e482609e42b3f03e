//! Container logs in Docker's json-file format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, split at
//! newlines and at 16 KiB like Docker. The monitor writes, `isola logs` reads.

use crate::ids::now_rfc3339;
use crate::store::{Container, Status};
use crate::{io_err, Engine, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use isola_proto::jsonlog::JsonLog;
pub(crate) use isola_proto::Stream;

#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    log: std::borrow::Cow<'a, str>,
    stream: std::borrow::Cow<'a, str>,
    time: std::borrow::Cow<'a, str>,
}

/// Appends a container's output to its log, line by line, in the format
/// the guest agent writes too (`isola_proto::jsonlog`).
pub(crate) struct LogWriter {
    file: File,
    lines: JsonLog,
    buf: Vec<u8>,
}

impl LogWriter {
    pub(crate) fn open(c: &Container) -> Result<LogWriter> {
        let path = c.log_path();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(format!("opening log {}", path.display())))?;
        Ok(LogWriter {
            file,
            lines: JsonLog::default(),
            buf: Vec::new(),
        })
    }

    /// Logs `data`; complete lines are written now, the rest kept until
    /// its newline arrives (or it reaches 16 KiB).
    pub(crate) fn write(&mut self, stream: Stream, data: &[u8]) {
        // One timestamp per read: every line of it arrived at once, and
        // formatting a time per line dominated the cost of chatty output.
        let time = now_rfc3339();
        self.lines.push(stream, data, &time, &mut self.buf);
        self.flush();
    }

    /// Writes out unterminated output at the end of the container.
    pub(crate) fn finish(&mut self) {
        self.lines.finish(&now_rfc3339(), &mut self.buf);
        self.flush();
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.file.write_all(&self.buf);
            self.buf.clear();
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
    /// `--details`: the log's extra attributes before each line (none are
    /// recorded, so Docker's separating space alone).
    pub details: bool,
    /// Only lines logged at or after this time (`--since`).
    pub since: Option<std::time::SystemTime>,
    /// Only lines logged before this time (`--until`).
    pub until: Option<std::time::SystemTime>,
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
        let Ok(mut file) = File::open(&path) else {
            return Ok(()); // never started: no output yet
        };
        // Memory stays bounded whatever the log's size: --tail seeks back
        // from the end, and lines are streamed one at a time.
        let mut pos = match opts.tail {
            Some(n) => tail_start(&mut file, n).map_err(io_err("reading the log"))?,
            None => 0,
        };
        loop {
            // Looked up before reading, so nothing written before the
            // container stopped is missed.
            let running = opts.follow
                && matches!(self.lookup(c.id()), Ok(now) if now.state.status == Status::Running);
            file.seek(SeekFrom::Start(pos))
                .map_err(io_err("reading the log"))?;
            let mut reader = BufReader::new(&mut file);
            let mut line = String::new();
            // A partial last line is left for the next round.
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
                if emit(&line, opts, out, err).is_err() {
                    return Ok(()); // the reader went away: nothing to follow for
                }
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

/// The offset of the start of the last `n` complete lines of `file`,
/// found by reading backwards in 64 KiB blocks.
fn tail_start(file: &mut File, n: usize) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    if n == 0 {
        return Ok(len);
    }
    let mut buf = vec![0u8; BLOCK as usize];
    let mut end = len;
    // The newline ending the last line does not start a line.
    let mut newlines = 0usize;
    let mut skip_last = true;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        std::io::Read::read_exact(file, chunk)?;
        for (i, b) in chunk.iter().enumerate().rev() {
            if *b != b'\n' {
                continue;
            }
            if skip_last && start + i as u64 == len - 1 {
                skip_last = false;
                continue;
            }
            newlines += 1;
            if newlines == n {
                return Ok(start + i as u64 + 1);
            }
        }
        end = start;
    }
    Ok(0)
}

/// Writes one log line in one write (a framing writer, as the API's, sees
/// whole lines); fails when the reader has gone.
fn emit(
    line: &str,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let Ok(e) = serde_json::from_str::<Entry>(line) else {
        return Ok(());
    };
    if opts.since.is_some() || opts.until.is_some() {
        let Ok(t) = humantime::parse_rfc3339_weak(&e.time) else {
            return Ok(());
        };
        if opts.since.is_some_and(|s| t < s) || opts.until.is_some_and(|u| t >= u) {
            return Ok(());
        }
    }
    let w: &mut dyn Write = if e.stream == "stderr" { err } else { out };
    // `--details`: the (absent) attributes and their separating space.
    let details = if opts.details { " " } else { "" };
    let text = if opts.timestamps {
        format!("{} {details}{}", e.time, e.log)
    } else {
        format!("{details}{}", e.log)
    };
    w.write_all(text.as_bytes())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::tail_start;
    use std::io::Write;

    fn start_of_tail(content: &[u8], n: usize) -> String {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        let pos = tail_start(&mut f, n).unwrap() as usize;
        String::from_utf8_lossy(&content[pos..]).into_owned()
    }

    #[test]
    fn tail_counts_lines_from_the_end() {
        assert_eq!(start_of_tail(b"a\nb\nc\n", 1), "c\n");
        assert_eq!(start_of_tail(b"a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(start_of_tail(b"a\nb\nc\n", 9), "a\nb\nc\n");
        assert_eq!(start_of_tail(b"a\nb\nc\n", 0), "");
        assert_eq!(start_of_tail(b"", 3), "");
        // An unfinished last line counts as one.
        assert_eq!(start_of_tail(b"a\nb\npart", 1), "part");
    }

    #[test]
    fn tail_crosses_block_boundaries() {
        let mut data = Vec::new();
        for i in 0..50_000 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        assert_eq!(start_of_tail(&data, 2), "line 49998\nline 49999\n");
        let all = start_of_tail(&data, 30_000);
        assert!(all.starts_with("line 20000\n"), "{}", &all[..20]);
    }
}
