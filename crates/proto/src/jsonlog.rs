//! Container logs in Docker's json-file format, one JSON object per line:
//! `{"log":"line\n","stream":"stdout","time":"2026-11-27T21:40:00.123456789Z"}`,
//! split at newlines and at 16 KiB like Docker. Shared by the guest agent
//! (which writes a VM container's log through its log port) and the
//! engine's process-mode monitor, so both modes write the same file that
//! `isola logs` reads. It only formats; the caller owns the I/O.

use crate::Stream;

/// Docker's longest log entry; longer lines become several entries.
pub const MAX_LINE: usize = 16 * 1024;

/// Cuts each stream into entries; holds a stream's unterminated line
/// until its newline arrives, it reaches [`MAX_LINE`], or the end.
#[derive(Debug, Default)]
pub struct JsonLog {
    partial: [Vec<u8>; 2],
}

impl JsonLog {
    /// Appends the entries that `data` completes to `out`.
    pub fn push(&mut self, stream: Stream, data: &[u8], time: &str, out: &mut Vec<u8>) {
        let i = index(stream);
        let mut buf = std::mem::take(&mut self.partial[i]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = (start + pos + 1).min(start + MAX_LINE);
            entry(stream, &buf[start..end], time, out);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            entry(stream, &buf[start..start + MAX_LINE], time, out);
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[i] = buf;
    }

    /// Appends the unterminated rest of each stream to `out`.
    pub fn finish(&mut self, time: &str, out: &mut Vec<u8>) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.partial[index(stream)]);
            if !rest.is_empty() {
                entry(stream, &rest, time, out);
            }
        }
    }
}

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Stderr => 1,
        Stream::Stdout | Stream::Stdin => 0,
    }
}

/// One entry; bytes that are not UTF-8 become U+FFFD, as in Docker.
fn entry(stream: Stream, line: &[u8], time: &str, out: &mut Vec<u8>) {
    let name = match stream {
        Stream::Stderr => "stderr",
        Stream::Stdout | Stream::Stdin => "stdout",
    };
    let text = String::from_utf8_lossy(line);
    out.extend_from_slice(b"{\"log\":");
    serde_json::to_writer(&mut *out, &text).expect("a string serializes");
    out.extend_from_slice(b",\"stream\":\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-27T21:40:00.123456789Z";

    fn entries(out: &[u8]) -> Vec<(String, String)> {
        out.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_slice(l).unwrap();
                assert_eq!(v["time"], T);
                assert_eq!(v.as_object().unwrap().len(), 3);
                (
                    v["log"].as_str().unwrap().to_string(),
                    v["stream"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn one_entry_per_line_per_stream_with_partial_lines_held() {
        let mut log = JsonLog::default();
        let mut out = Vec::new();
        log.push(Stream::Stdout, b"out 1\nout", T, &mut out);
        log.push(Stream::Stderr, b"err \"quoted\"\n", T, &mut out);
        log.push(Stream::Stdout, b" 2\n\nlast", T, &mut out);
        log.finish(T, &mut out);
        let got = entries(&out);
        let want = [
            ("out 1\n", "stdout"),
            ("err \"quoted\"\n", "stderr"),
            ("out 2\n", "stdout"),
            ("\n", "stdout"),
            ("last", "stdout"),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((l, s), (wl, ws)) in got.iter().zip(want) {
            assert_eq!((l.as_str(), s.as_str()), (wl, ws));
        }
        assert!(out.starts_with(b"{\"log\":\"out 1\\n\",\"stream\":\"stdout\",\"time\":\""));
    }

    #[test]
    fn long_lines_are_split_at_16_kib() {
        let mut log = JsonLog::default();
        let mut out = Vec::new();
        let mut data = vec![b'a'; MAX_LINE * 2 + 5];
        data.push(b'\n');
        log.push(Stream::Stdout, &data[..MAX_LINE + 1], T, &mut out);
        assert_eq!(entries(&out).len(), 1, "a full 16 KiB goes out at once");
        log.push(Stream::Stdout, &data[MAX_LINE + 1..], T, &mut out);
        let got = entries(&out);
        let lens: Vec<usize> = got.iter().map(|(l, _)| l.len()).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, 6]);
        assert!(got[2].0.ends_with('\n'));
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters() {
        let mut log = JsonLog::default();
        let mut out = Vec::new();
        log.push(Stream::Stderr, b"\xff\x00ok\x1b[0m\n", T, &mut out);
        assert_eq!(entries(&out)[0].0, "\u{fffd}\u{0}ok\u{1b}[0m\n");
    }
}
