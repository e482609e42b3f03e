//! `isola image inspect`: an image described in Docker's JSON shape, so
//! scripts written against `docker image inspect` keep working.

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::store::{parse_config, Store};

impl Store {
    /// Returns Docker's shape: Id, RepoTags, Created, Architecture, Os,
    /// Size, Config{Env,Cmd,Entrypoint,WorkingDir,User,...},
    /// RootFS{Type:"layers",Layers:[diff-ids]}.
    pub fn inspect(&self, reference: &str) -> Result<Value> {
        let repos = self.repositories()?;
        let found = repos.find(reference)?;
        let manifest = self.manifest(&found.manifest)?;
        let config_digest = manifest.config().digest().to_string();
        let bytes = self.read_blob(&config_digest)?;
        let corrupt = |e: serde_json::Error| {
            Error::Corrupt(format!("config {config_digest} is invalid ({e})"))
        };
        let raw: Value = serde_json::from_slice(&bytes).map_err(corrupt)?;
        let config = parse_config(&bytes).map_err(corrupt)?;

        // Docker always shows these keys; the image's own settings override.
        let mut run_config = json!({
            "User": "",
            "Env": null,
            "Cmd": null,
            "Entrypoint": null,
            "WorkingDir": "",
            "Labels": null,
            "Volumes": null,
            "ExposedPorts": null,
            "StopSignal": null,
        });
        if let (Some(defaults), Some(Value::Object(own))) =
            (run_config.as_object_mut(), raw.get("config"))
        {
            defaults.extend(own.clone());
        }
        let text = |key: &str| {
            raw.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut inspect = json!({
            "Id": found.id,
            "RepoTags": repos.tags(&found.id),
            "RepoDigests": [],
            "Parent": "",
            "Comment": text("comment"),
            "Created": text("created"),
            "Author": text("author"),
            "Config": run_config,
            "Architecture": config.architecture().to_string(),
            "Os": config.os().to_string(),
            "Size": self.image_size(&config)?,
            "RootFS": {"Type": "layers", "Layers": config.rootfs().diff_ids()},
        });
        if let Some(variant) = config.variant() {
            inspect["Variant"] = json!(variant);
        }
        Ok(inspect)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::test_support::layer;

    #[test]
    fn inspect_has_dockers_shape() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let rootfs = tmp.path().join("rootfs.tar");
        fs::write(&rootfs, layer("bin/app", b"12345")).unwrap();
        let changes = ["CMD sh -c 'echo hi'", "ENV PATH=/bin", "USER 1:1"].map(String::from);
        let id = store.import(&rootfs, "app:v1", &changes).unwrap();

        let json = store.inspect("app:v1").unwrap();
        assert_eq!(json["Id"], id);
        assert_eq!(json["RepoTags"], json!(["app:v1"]));
        assert_eq!(json["Os"], "linux");
        assert_eq!(json["Size"], 5);
        assert!(json["Created"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            json["Config"]["Cmd"],
            json!(["/bin/sh", "-c", "sh -c 'echo hi'"])
        );
        assert_eq!(json["Config"]["Env"], json!(["PATH=/bin"]));
        assert_eq!(json["Config"]["User"], "1:1");
        assert_eq!(json["Config"]["WorkingDir"], "");
        assert_eq!(json["Config"]["Entrypoint"], Value::Null);
        assert_eq!(json["RootFS"]["Type"], "layers");
        assert_eq!(json["RootFS"]["Layers"].as_array().unwrap().len(), 1);
        assert!(store.inspect("nope").is_err());
    }
}
