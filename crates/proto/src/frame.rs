//! Frames: encoding, decoding of one frame's body, and an incremental
//! [`Decoder`] for event loops that read whatever bytes are available.

use crate::{Error, Message, Result, SessionId};

/// Upper bound of a frame's length field (kind byte + payload).
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// Frame kind of a JSON control message.
pub const KIND_CONTROL: u8 = 0x01;
/// Frame kind of stream data.
pub const KIND_DATA: u8 = 0x02;
/// Session (4) + stream (1) bytes in front of a data frame's bytes.
pub const DATA_HEADER_LEN: usize = 5;
/// The most stream bytes one data frame carries; longer data is split.
pub const MAX_DATA_CHUNK: usize = MAX_FRAME_LEN - 1 - DATA_HEADER_LEN;

const LEN_PREFIX: usize = 4;

/// A process's standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

impl TryFrom<u8> for Stream {
    type Error = Error;
    fn try_from(v: u8) -> Result<Stream> {
        match v {
            0 => Ok(Stream::Stdin),
            1 => Ok(Stream::Stdout),
            2 => Ok(Stream::Stderr),
            other => Err(Error::UnknownStream(other)),
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Control(Message),
    Data {
        session: SessionId,
        stream: Stream,
        data: Vec<u8>,
    },
}

/// Appends the encoding of `msg` to `out`.
pub fn encode_message(msg: &Message, out: &mut Vec<u8>) -> Result<()> {
    let json = serde_json::to_vec(msg).map_err(Error::BadMessage)?;
    if json.len() + 1 > MAX_FRAME_LEN {
        return Err(Error::MessageTooLarge {
            len: json.len() + 1,
            max: MAX_FRAME_LEN,
        });
    }
    push_header(out, json.len() + 1, KIND_CONTROL);
    out.extend_from_slice(&json);
    Ok(())
}

/// Appends `data` as one or more data frames (split at [`MAX_DATA_CHUNK`])
/// to `out`. Empty data produces one empty data frame.
pub fn encode_data(session: SessionId, stream: Stream, data: &[u8], out: &mut Vec<u8>) {
    let mut chunks = data.chunks(MAX_DATA_CHUNK).peekable();
    if chunks.peek().is_none() {
        push_data(out, session, stream, &[]);
    }
    for chunk in chunks {
        push_data(out, session, stream, chunk);
    }
}

/// Appends the encoding of `frame` to `out`.
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) -> Result<()> {
    match frame {
        Frame::Control(msg) => encode_message(msg, out),
        Frame::Data {
            session,
            stream,
            data,
        } => {
            encode_data(*session, *stream, data, out);
            Ok(())
        }
    }
}

fn push_header(out: &mut Vec<u8>, len: usize, kind: u8) {
    // `len` <= MAX_FRAME_LEN, which fits in a u32.
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(kind);
}

fn push_data(out: &mut Vec<u8>, session: SessionId, stream: Stream, chunk: &[u8]) {
    push_header(out, 1 + DATA_HEADER_LEN + chunk.len(), KIND_DATA);
    out.extend_from_slice(&session.to_be_bytes());
    out.push(stream as u8);
    out.extend_from_slice(chunk);
}

/// Validates a frame's length field before anything is allocated for it.
pub(crate) fn check_len(len: u32) -> Result<usize> {
    let len = len as usize;
    if len == 0 {
        Err(Error::EmptyFrame)
    } else if len > MAX_FRAME_LEN {
        Err(Error::FrameTooLarge {
            len,
            max: MAX_FRAME_LEN,
        })
    } else {
        Ok(len)
    }
}

/// Decodes a frame's body (kind byte + payload), already length-checked.
pub(crate) fn decode_body(body: &[u8]) -> Result<Frame> {
    let (&kind, payload) = body.split_first().ok_or(Error::EmptyFrame)?;
    match kind {
        KIND_CONTROL => serde_json::from_slice(payload)
            .map(Frame::Control)
            .map_err(Error::BadMessage),
        KIND_DATA => {
            if payload.len() < DATA_HEADER_LEN {
                return Err(Error::ShortDataFrame(payload.len()));
            }
            let (head, data) = payload.split_at(DATA_HEADER_LEN);
            Ok(Frame::Data {
                session: SessionId::from_be_bytes([head[0], head[1], head[2], head[3]]),
                stream: Stream::try_from(head[4])?,
                data: data.to_vec(),
            })
        }
        other => Err(Error::UnknownKind(other)),
    }
}

/// Turns a byte stream fed in arbitrary pieces into frames, for
/// non-blocking readers. After an error the stream is out of sync and the
/// decoder must not be used further.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed by returned frames.
    start: usize,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Adds bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        let avail = &self.buf[self.start..];
        if avail.len() < LEN_PREFIX {
            return Ok(None);
        }
        let len = check_len(u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]))?;
        if avail.len() < LEN_PREFIX + len {
            return Ok(None);
        }
        let frame = decode_body(&avail[LEN_PREFIX..LEN_PREFIX + len]);
        self.start += LEN_PREFIX + len;
        // Reclaim consumed space once it dominates the buffer.
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        frame.map(Some)
    }

    /// Buffered bytes of an incomplete frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Call when the connection reached EOF: `Closed` if it ended between
    /// frames, `Truncated` if inside one.
    pub fn finish(&self) -> Error {
        let avail = &self.buf[self.start..];
        if avail.is_empty() {
            return Error::Closed;
        }
        let expected = if avail.len() >= LEN_PREFIX {
            LEN_PREFIX + u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]) as usize
        } else {
            LEN_PREFIX
        };
        Error::Truncated {
            expected,
            got: avail.len(),
        }
    }
}
