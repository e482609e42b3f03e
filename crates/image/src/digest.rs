//! SHA-256 content addresses: computing them while data streams past, and
//! parsing the `sha256:<hex>` strings that name blobs, layers and images.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

pub(crate) const SHA256: &str = "sha256:";

/// Wraps a reader or writer and hashes every byte that passes through, so a
/// blob's digest is known after a single pass over it.
pub(crate) struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    len: u64,
}

impl<T> Hashing<T> {
    pub(crate) fn new(inner: T) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Returns the inner stream, the `sha256:<hex>` digest and the byte count.
    pub(crate) fn finish(self) -> (T, String, u64) {
        let digest = format!("{SHA256}{}", hex::encode(self.hasher.finalize()));
        (self.inner, digest, self.len)
    }

    fn record(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.record(&buf[..n]);
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.record(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Returns the hex part of a well-formed `sha256:<64 lowercase hex>` digest;
/// anything else is `None`, so a digest can safely become a file name.
pub(crate) fn sha256_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix(SHA256).filter(|hex| is_hex(hex, 64))
}

/// Returns the hex prefix when `reference` can only mean an image id
/// (`sha256:<hex prefix>`) or may mean one (`<hex prefix>`), with whether
/// it was explicitly marked as an id.
pub(crate) fn id_prefix(reference: &str) -> Option<(&str, bool)> {
    match reference.strip_prefix(SHA256) {
        Some(hex) => is_id_prefix(hex).then_some((hex, true)),
        None => is_id_prefix(reference).then_some((reference, false)),
    }
}

fn is_id_prefix(hex: &str) -> bool {
    (1..=64).contains(&hex.len()) && is_hex(hex, hex.len())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_reader_and_writer_agree_with_known_digest() {
        // sha256("abc")
        let expected = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let mut reader = Hashing::new(&b"abc"[..]);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        let (_, digest, len) = reader.finish();
        assert_eq!((digest.as_str(), len), (expected, 3));

        let mut writer = Hashing::new(Vec::new());
        writer.write_all(b"abc").unwrap();
        let (out, digest, _) = writer.finish();
        assert_eq!((out.as_slice(), digest.as_str()), (&b"abc"[..], expected));
    }

    #[test]
    fn parses_digests_and_id_prefixes() {
        let hex = "a".repeat(64);
        assert_eq!(sha256_hex(&format!("sha256:{hex}")), Some(hex.as_str()));
        assert_eq!(sha256_hex(&format!("sha256:{}", "A".repeat(64))), None);
        assert_eq!(sha256_hex("sha256:../../etc"), None);
        assert_eq!(sha256_hex(&hex), None);

        assert_eq!(id_prefix("sha256:ab"), Some(("ab", true)));
        assert_eq!(id_prefix("ab"), Some(("ab", false)));
        assert_eq!(id_prefix("busybox"), None);
        assert_eq!(id_prefix("sha256:"), None);
        assert_eq!(id_prefix(&"a".repeat(65)), None);
    }
}
