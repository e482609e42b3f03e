//! The host platform in the Go vocabulary (GOARCH/GOOS) that image configs
//! and index entries use.

use oci_spec::image::{Arch, Os};

/// Architecture recorded in imported images and preferred when an archive
/// offers several platforms.
pub(crate) fn host_arch() -> Arch {
    Arch::from(match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "loongarch64" => "loong64",
        other => other,
    })
}

/// Whether an index entry's platform can run here; entries without a
/// platform are assumed to.
pub(crate) fn runs_here(arch: &Arch, os: &Os) -> bool {
    *os == Os::Linux && *arch == host_arch()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_arch_uses_go_names() {
        let arch = host_arch().to_string();
        assert!(!arch.is_empty());
        assert_ne!(arch, "x86_64");
        assert_ne!(arch, "aarch64");
        assert!(runs_here(&host_arch(), &Os::Linux));
        assert!(!runs_here(&host_arch(), &Os::Windows));
    }
}
