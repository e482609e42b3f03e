//! Blocking reader and writer of frames over any byte stream (a Unix
//! socket on the host, the virtio-serial port in the guest).

use crate::frame::{check_len, decode_body, encode_data, encode_message};
use crate::{Error, Frame, Message, Result, SessionId, Stream};
use std::io::{ErrorKind, Read, Write};

/// Reads frames one at a time.
pub struct FrameReader<R: Read> {
    inner: R,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader { inner }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads the next frame. [`Error::Closed`] when the peer closed the
    /// connection between frames; a read timeout of the underlying stream
    /// surfaces as [`Error::Io`] (and leaves the stream out of sync if it
    /// struck inside a frame).
    pub fn read_frame(&mut self) -> Result<Frame> {
        let mut prefix = [0u8; 4];
        match self.fill(&mut prefix)? {
            0 => return Err(Error::Closed),
            4 => {}
            got => return Err(Error::Truncated { expected: 4, got }),
        }
        let len = check_len(u32::from_be_bytes(prefix))?;
        let mut body = vec![0u8; len];
        let got = self.fill(&mut body)?;
        if got < len {
            return Err(Error::Truncated {
                expected: 4 + len,
                got: 4 + got,
            });
        }
        decode_body(&body)
    }

    /// Reads the next frame and requires it to be a control message.
    pub fn read_message(&mut self) -> Result<Message> {
        match self.read_frame()? {
            Frame::Control(msg) => Ok(msg),
            Frame::Data { .. } => Err(Error::Unexpected {
                expected: "a control message",
                got: "stream data",
            }),
        }
    }

    /// Fills `buf` unless EOF comes first; returns how many bytes it got.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(got)
    }
}

/// Writes frames, each with one `write_all` and a flush, so frames from
/// one writer never interleave.
pub struct FrameWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(inner: W) -> FrameWriter<W> {
        FrameWriter {
            inner,
            buf: Vec::new(),
        }
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    pub fn send(&mut self, msg: &Message) -> Result<()> {
        self.buf.clear();
        encode_message(msg, &mut self.buf)?;
        self.flush_buf()
    }

    /// Sends stream bytes, split into as many frames as needed.
    pub fn send_data(&mut self, session: SessionId, stream: Stream, data: &[u8]) -> Result<()> {
        self.buf.clear();
        encode_data(session, stream, data, &mut self.buf);
        self.flush_buf()
    }

    pub fn write_frame(&mut self, frame: &Frame) -> Result<()> {
        match frame {
            Frame::Control(msg) => self.send(msg),
            Frame::Data {
                session,
                stream,
                data,
            } => self.send_data(*session, *stream, data),
        }
    }

    fn flush_buf(&mut self) -> Result<()> {
        self.inner.write_all(&self.buf)?;
        self.inner.flush()?;
        Ok(())
    }
}
