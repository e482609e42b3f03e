//! Compression detection by magic bytes: file names and media types in
//! archives are not trustworthy, the bytes are.

use std::io::{self, Cursor, Read};

use oci_spec::image::MediaType;

use crate::error::{Error, IoContext, Result};

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2: &[u8] = b"BZh";

/// How a tar stream was compressed; decides the layer media type we record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn layer_media_type(self) -> MediaType {
        match self {
            Compression::None => MediaType::ImageLayer,
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
        }
    }
}

/// Sniffs the first bytes of `input` and returns a reader of the
/// decompressed stream (plain input passes through unchanged).
pub(crate) fn decompress<'a>(
    mut input: impl Read + 'a,
) -> Result<(Compression, Box<dyn Read + 'a>)> {
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut input, &mut magic).context(|| "reading input".to_string())?;
    let head = &magic[..n];
    let rejoined = Cursor::new(head.to_vec()).chain(input);
    if head.starts_with(GZIP) {
        Ok((
            Compression::Gzip,
            Box::new(flate2::read::MultiGzDecoder::new(rejoined)),
        ))
    } else if head.starts_with(ZSTD) {
        let decoder = zstd::stream::read::Decoder::new(rejoined)
            .context(|| "starting zstd decompression".to_string())?;
        Ok((Compression::Zstd, Box::new(decoder)))
    } else if head.starts_with(XZ) {
        Err(Error::UnsupportedCompression("xz"))
    } else if head.starts_with(BZIP2) {
        Err(Error::UnsupportedCompression("bzip2"))
    } else {
        Ok((Compression::None, Box::new(rejoined)))
    }
}

/// Fills as much of `buf` as the stream allows; pipes may deliver the magic
/// bytes in several short reads.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{gzip, zstd};

    fn roundtrip(data: &[u8]) -> (Compression, Vec<u8>) {
        let (kind, mut reader) = decompress(data).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        (kind, out)
    }

    #[test]
    fn detects_plain_gzip_and_zstd() {
        let data = b"hello tar".repeat(100);
        assert_eq!(roundtrip(&data), (Compression::None, data.clone()));
        assert_eq!(roundtrip(&gzip(&data)), (Compression::Gzip, data.clone()));
        assert_eq!(roundtrip(&zstd(&data)), (Compression::Zstd, data.clone()));
        assert_eq!(roundtrip(b"x"), (Compression::None, b"x".to_vec()));
    }

    #[test]
    fn rejects_xz_with_advice() {
        let err = decompress(&[0xfd, b'7', b'z', b'X', b'Z', 0, 1][..])
            .err()
            .unwrap();
        assert!(err
            .to_string()
            .contains("xz-compressed input is not supported"));
    }
}
