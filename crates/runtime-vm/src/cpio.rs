//! A minimal writer for the kernel's initramfs format (cpio "newc"), for
//! the one small archive we append per container: the kernel unpacks
//! concatenated archives in order, so `base agent initramfs + config cpio`
//! gives the agent its configuration without rebuilding the base. Written
//! here because it is ~40 lines and the format is fixed by the kernel
//! (Documentation/driver-api/early-userspace/buffer-format.rst).

/// One entry: a directory (`data: None`) or a regular file.
pub(crate) struct Entry<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub data: Option<&'a [u8]>,
}

/// Builds an uncompressed newc archive with a trailer.
pub(crate) fn archive(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (ino, e) in entries.iter().enumerate() {
        let (kind, data) = match e.data {
            Some(d) => (0o100000, d),
            None => (0o040000, &[][..]),
        };
        header(&mut out, ino as u32 + 1, kind | e.mode, data.len(), e.name);
        out.extend_from_slice(data);
        pad4(&mut out);
    }
    header(&mut out, 0, 0, 0, "TRAILER!!!");
    // The kernel reads archives in 512-byte blocks; pad like cpio does.
    while !out.len().is_multiple_of(512) {
        out.push(0);
    }
    out
}

fn header(out: &mut Vec<u8>, ino: u32, mode: u32, size: usize, name: &str) {
    let nlink = if mode & 0o040000 != 0 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        size as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Writes `out` = the agent's base initramfs `base` followed by a small
/// archive holding `config` at [`isola_proto::layout::CONFIG_PATH`].
pub fn write_initrd(
    base: &std::path::Path,
    config: &[u8],
    out: &std::path::Path,
) -> crate::Result<()> {
    let mut data = std::fs::read(base).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            crate::Error::Missing {
                what: "the guest agent's initramfs",
                path: base.to_path_buf(),
                fix: "run guest/build-initrd.sh (scripts/setup.sh does)",
            }
        } else {
            crate::io_err(format!("reading {}", base.display()))(e)
        }
    })?;
    // The kernel needs each archive to start 4-byte aligned.
    while !data.len().is_multiple_of(4) {
        data.push(0);
    }
    data.extend(archive(&[
        Entry {
            name: "isola",
            mode: 0o755,
            data: None,
        },
        Entry {
            name: isola_proto::layout::CONFIG_PATH,
            mode: 0o600,
            data: Some(config),
        },
    ]));
    std::fs::write(out, data).map_err(crate::io_err(format!("writing {}", out.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout_is_what_cpio_reads() {
        let a = archive(&[
            Entry {
                name: "isola",
                mode: 0o755,
                data: None,
            },
            Entry {
                name: "isola/config.json",
                mode: 0o600,
                data: Some(b"{}"),
            },
        ]);
        assert_eq!(&a[..6], b"070701");
        assert_eq!(a.len() % 512, 0);
        // Cross-check with the real cpio, when installed.
        let Ok(mut child) = std::process::Command::new("cpio")
            .args(["-t", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            return;
        };
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&a).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "isola\nisola/config.json\n"
        );
    }
}
