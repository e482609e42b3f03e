//! `isola import FILE|DIR NAME[:TAG]`: a root filesystem becomes a one-layer
//! image.

use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::time::SystemTime;

use oci_spec::image::Config;
use serde_json::json;

use crate::changes::apply_changes;
use crate::error::{to_json, IoContext, Result};
use crate::pack::pack_dir;
use crate::platform::host_arch;
use crate::reference::normalize_reference;
use crate::staging::Staging;
use crate::store::Store;

impl Store {
    /// Imports a rootfs tarball (plain, gzip or zstd, detected by magic
    /// bytes) or a directory (tarred deterministically) as a one-layer image
    /// named `reference`. `changes` are Dockerfile-style instructions as in
    /// `docker import -c`: `CMD`, `ENTRYPOINT`, `ENV`, `WORKDIR`, `USER`.
    /// Returns the image id.
    pub fn import(&self, src: &Path, reference: &str, changes: &[String]) -> Result<String> {
        let reference = normalize_reference(reference)?;
        let run_config = apply_changes(&mut Config::default(), changes)?;
        let source =
            fs::metadata(src).context(|| format!("cannot read import source {}", src.display()))?;

        let _lock = self.lock()?;
        let mut repos = self.repositories()?;
        let mut staging = Staging::new(self)?;
        let layer = staging.write_file(|out| {
            if source.is_dir() {
                pack_dir(src, out)
            } else {
                let mut file = File::open(src).context(|| format!("opening {}", src.display()))?;
                io::copy(&mut file, out)
                    .map(drop)
                    .context(|| format!("copying {}", src.display()))
            }
        })?;
        let (diff_id, compression) = staging.add_layer(&layer, None)?;
        staging.add_blob(&layer)?;

        let created = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let config = json!({
            "created": created,
            "architecture": host_arch().to_string(),
            "os": "linux",
            "config": run_config,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{
                "created": created,
                "created_by": "isola import",
                "comment": format!("Imported from {}", src.display()),
            }],
        });
        let config = staging.write_bytes(&to_json("image config", &config)?)?;
        staging.add_blob(&config)?;
        let manifest = staging.add_manifest(&config, &[(&layer, compression)])?;

        repos.add_image(&config.digest, manifest);
        repos.set_tag(reference, &config.digest);
        staging.commit(&repos)?;
        Ok(config.digest)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::test_support::{gzip, layer, snapshot, temp_store, zstd, TarBuilder};
    use crate::Error;

    #[test]
    fn imports_plain_gzip_and_zstd_tarballs() {
        let (tmp, store) = temp_store();
        let tar = layer("bin/hello", b"hi");
        for (name, bytes, media_type) in [
            (
                "plain",
                tar.clone(),
                "application/vnd.oci.image.layer.v1.tar",
            ),
            (
                "gzip",
                gzip(&tar),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            ),
            (
                "zstd",
                zstd(&tar),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
        ] {
            let file = tmp.path().join(format!("{name}.tar"));
            fs::write(&file, &bytes).unwrap();
            let id = store.import(&file, name, &[]).unwrap();

            let image = store.resolve(name).unwrap();
            assert_eq!(image.id, id);
            assert_eq!(image.repo_tags, [format!("{name}:latest")]);
            assert_eq!(fs::read(image.layers[0].join("bin/hello")).unwrap(), b"hi");
            // The layer blob is stored exactly as received.
            let repos = store.repositories().unwrap();
            let manifest = store.manifest(&repos.images[&id]).unwrap();
            let blob = manifest.layers()[0].digest().to_string();
            assert_eq!(fs::read(store.blob_path(&blob).unwrap()).unwrap(), bytes);
            assert_eq!(manifest.layers()[0].media_type().to_string(), media_type);
        }
        // All three share one unpacked layer.
        assert_eq!(fs::read_dir(store.layers_dir()).unwrap().count(), 1);
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn imports_a_directory_with_changes() {
        let (tmp, store) = temp_store();
        let src = tmp.path().join("rootfs");
        fs::create_dir_all(src.join("bin")).unwrap();
        fs::write(src.join("bin/busybox"), b"elf").unwrap();
        std::os::unix::fs::symlink("busybox", src.join("bin/sh")).unwrap();
        std::os::unix::fs::lchown(src.join("bin/sh"), Some(7), Some(8)).unwrap();
        let changes = [
            "CMD [\"sh\"]",
            "ENV A=1",
            "WORKDIR /srv",
            "USER nobody",
            "ENTRYPOINT /init",
        ]
        .map(String::from);
        let id = store
            .import(&src, "registry:5000/me/rootfs:v1", &changes)
            .unwrap();

        let image = store.resolve(&id).unwrap();
        assert_eq!(image.repo_tags, ["registry:5000/me/rootfs:v1"]);
        assert_eq!(snapshot(&image.layers[0]), snapshot(&src));
        assert_eq!(
            fs::symlink_metadata(image.layers[0].join("bin/sh"))
                .unwrap()
                .uid(),
            7
        );
        let config = image.config.config().clone().unwrap();
        assert_eq!(config.cmd().clone().unwrap(), ["sh"]);
        assert_eq!(
            config.entrypoint().clone().unwrap(),
            ["/bin/sh", "-c", "/init"]
        );
        assert_eq!(config.env().clone().unwrap(), ["A=1"]);
        assert_eq!(config.working_dir().as_deref(), Some("/srv"));
        assert_eq!(config.user().as_deref(), Some("nobody"));
        assert_eq!(image.config.os().to_string(), "linux");
    }

    #[test]
    fn failed_imports_leave_the_store_untouched() {
        let (tmp, store) = temp_store();
        let good = tmp.path().join("good.tar");
        fs::write(&good, layer("a", b"1")).unwrap();
        store.import(&good, "good", &[]).unwrap();
        let before = snapshot(tmp.path());

        let err = store
            .import(&good, "x", &["RUN rm -rf /".to_string()])
            .unwrap_err();
        assert!(matches!(err, Error::InvalidChange { .. }), "{err}");
        let mut hostile = TarBuilder::new();
        hostile
            .file("ok", b"fine", 0o644)
            .file("../escape", b"x", 0o644);
        let bad = tmp.path().join("bad.tar");
        fs::write(&bad, hostile.finish()).unwrap();
        let err = store.import(&bad, "bad", &[]).unwrap_err();
        assert!(matches!(err, Error::UnsafeEntry { .. }), "{err}");
        fs::remove_file(&bad).unwrap();
        assert_eq!(snapshot(tmp.path()), before);
    }
}
