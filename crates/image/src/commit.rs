//! `isola commit`: a container's writable layer on top of its image
//! becomes a new image.

use std::io::Read;
use std::time::SystemTime;

use oci_spec::image::Config;
use serde_json::json;

use crate::changes::apply_changes;
use crate::error::{to_json, IoContext, Result};
use crate::reference::normalize_reference;
use crate::staging::Staging;
use crate::store::Store;

/// What `commit` records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The container's configuration (its command, environment, ...).
    pub config: Config,
    /// `-c` instructions applied on top, as `import -c` takes them.
    pub changes: Vec<String>,
    pub comment: String,
    pub author: String,
    /// The history line (`created_by`).
    pub created_by: String,
    /// `REPO[:TAG]`; untagged without it.
    pub reference: Option<String>,
}

impl Store {
    /// Adds `layer` (an OCI layer tar) on top of image `base` (an id) as a
    /// new image; returns its id.
    pub fn commit(&self, base: &str, layer: &mut dyn Read, opts: CommitOptions) -> Result<String> {
        let reference = opts
            .reference
            .as_deref()
            .map(normalize_reference)
            .transpose()?;
        let mut run_config = opts.config;
        let run_config = apply_changes(&mut run_config, &opts.changes)?;

        let _lock = self.lock()?;
        let mut repos = self.repositories()?;
        let found = repos.find(base)?;
        let base_manifest = self.manifest(&found.manifest)?;
        let base_config = self.config(&base_manifest)?;

        let mut staging = Staging::new(self)?;
        let blob = staging.write_file(|out| {
            std::io::copy(layer, out)
                .map(drop)
                .context(|| "reading the container's changes".to_string())
        })?;
        let (diff_id, compression) = staging.add_layer(&blob, None)?;
        staging.add_blob(&blob)?;

        let created = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let mut diff_ids = base_config.rootfs().diff_ids().clone();
        diff_ids.push(diff_id);
        let mut history = serde_json::to_value(base_config.history())
            .ok()
            .and_then(|h| h.as_array().cloned())
            .unwrap_or_default();
        history.push(json!({
            "created": created,
            "created_by": opts.created_by,
            "author": opts.author,
            "comment": opts.comment,
        }));
        let config = json!({
            "created": created,
            "author": opts.author,
            "architecture": base_config.architecture().to_string(),
            "os": base_config.os().to_string(),
            "config": run_config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        let config = staging.write_bytes(&to_json("image config", &config)?)?;
        staging.add_blob(&config)?;
        let mut layers: Vec<serde_json::Value> = base_manifest
            .layers()
            .iter()
            .map(|d| json!({"mediaType": d.media_type().to_string(), "digest": d.digest().to_string(), "size": d.size()}))
            .collect();
        layers.push(json!({
            "mediaType": compression.layer_media_type().to_string(),
            "digest": blob.digest,
            "size": blob.size,
        }));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": oci_spec::image::MediaType::ImageManifest.to_string(),
            "config": {"mediaType": oci_spec::image::MediaType::ImageConfig.to_string(), "digest": config.digest, "size": config.size},
            "layers": layers,
        });
        let manifest = staging.write_bytes(&to_json("image manifest", &manifest)?)?;
        staging.add_blob(&manifest)?;

        repos.add_image(&config.digest, manifest.digest);
        if let Some(r) = reference {
            repos.set_tag(r, &config.digest);
        }
        staging.commit(&repos)?;
        Ok(config.digest)
    }
}
