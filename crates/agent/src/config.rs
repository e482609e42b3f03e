//! The boot configuration: the host appends it to the agent's initramfs
//! (`isola_runtime_vm::write_initrd`), so the container starts without any
//! host process talking to the guest.

use crate::error::{Error, Result};
use isola_proto::layout::{BootConfig, CONFIG_PATH};
use std::path::{Path, PathBuf};

/// Where the configuration is in the guest.
pub fn path() -> PathBuf {
    Path::new("/").join(CONFIG_PATH)
}

/// Reads and parses the configuration at `path`.
pub fn load(path: &Path) -> Result<BootConfig> {
    let fail = |reason: String| Error::Config {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| {
        fail(format!(
            "{e}; the host appends it to the initramfs (isola_runtime_vm::write_initrd)"
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a valid BootConfig: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_configurations_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let err = load(&p).unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("No such file"),
            "{err}"
        );
        std::fs::write(&p, "{\"container\": 1}").unwrap();
        let err = load(&p).unwrap_err().to_string();
        assert!(err.contains("not a valid BootConfig"), "{err}");
        assert_eq!(path(), Path::new("/isola/config.json"));
    }
}
