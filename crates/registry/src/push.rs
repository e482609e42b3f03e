//! `isola push`: layers and config the registry lacks (checked with HEAD
//! first, a few at a time), then the manifest exactly as stored, so the
//! pushed digest equals the local one.

use futures_util::{StreamExt, TryStreamExt};
use isola_image::Store;
use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;

use crate::client::{connect, credentials, Target};
use crate::error::cause;
use crate::progress::{Display, Task};
use crate::{block_on, Error, Options, Result};
use tokio::io::AsyncReadExt;

const PARALLEL: usize = 3;

/// Pushes the local image `reference` to the registry it names; returns
/// the manifest digest.
pub fn push(store: &Store, reference: &str, options: &Options) -> Result<String> {
    let target = Target::parse(reference)?;
    if target.reference.digest().is_some() {
        return Err(Error::InvalidReference {
            reference: reference.to_string(),
            reason: "push needs a tag, not a digest: tag the image with 'isola tag' first".into(),
        });
    }
    let image = store.outgoing(reference)?;
    let display = Display::new(options.progress);
    display.line(&format!(
        "The push refers to repository [{}]",
        target.repository_name()
    ));
    block_on(async {
        let fail = |e: OciDistributionError| target.error("pushing", cause(&e));
        let auth = credentials(&target.registry)?;
        let client = connect(&target, options).await?;
        let r = &target.reference;
        client
            .auth(r, &auth, RegistryOperation::Push)
            .await
            .map_err(fail)?;
        let mut blobs: Vec<(String, u64, Option<std::path::PathBuf>)> = image
            .layers
            .iter()
            .map(|(d, s, p)| (d.clone(), *s, Some(p.clone())))
            .collect();
        blobs.push((image.config_digest.clone(), image.config.len() as u64, None));
        let (client, display, config) = (&client, &display, &image.config);
        let (target, pulled_from) = (&target, &image.pulled_from);
        futures_util::stream::iter(blobs.iter().map(|(digest, size, path)| async move {
            let task = display.task(digest, *size, "Preparing");
            if client.blob_exists(r, digest).await.map_err(fail)? {
                task.finish("Layer already exists");
                return Ok::<_, Error>(());
            }
            if let Some(from) = mount_from(target, pulled_from) {
                if client.mount_blob(r, &from, digest).await.is_ok()
                    && client.blob_exists(r, digest).await.unwrap_or(false)
                {
                    task.finish(&format!("Mounted from {}", from.repository()));
                    return Ok(());
                }
            }
            task.event("Pushing");
            match path {
                Some(path) => {
                    let file = tokio::fs::File::open(path)
                        .await
                        .map_err(|e| Error::Local(format!("reading {}: {e}", path.display())))?;
                    client
                        .push_blob_stream(r, file_stream(file, task.clone()), digest, Some(*size))
                        .await
                        .map_err(fail)?;
                }
                None => {
                    client
                        .push_blob(r, config.clone(), digest)
                        .await
                        .map_err(fail)?;
                }
            }
            task.set_position(*size);
            task.finish("Pushed");
            Ok(())
        }))
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
        let content_type = image
            .manifest_media_type
            .parse()
            .map_err(|_| Error::Local("invalid manifest media type".into()))?;
        client
            .push_manifest_raw(r, image.manifest.clone(), content_type)
            .await
            .map_err(fail)?;
        Ok::<_, Error>(())
    })??;
    let digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&image.manifest))
    );
    display.line(&format!(
        "{}: digest: {digest} size: {}",
        target.reference.tag().unwrap_or("latest"),
        image.manifest.len()
    ));
    Ok(digest)
}

/// A file as a stream of chunks for an upload, moving `task`'s bar.
fn file_stream(
    file: tokio::fs::File,
    task: Task,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::unfold((file, task, 0u64), |(mut file, task, sent)| async move {
        let mut buf = vec![0; 1 << 18];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                let sent = sent + n as u64;
                task.set_position(sent);
                Some((Ok(bytes::Bytes::from(buf)), (file, task, sent)))
            }
            Err(e) => Some((Err(OciDistributionError::IoError(e)), (file, task, sent))),
        }
    })
}

/// A repository on the target's registry the image was pulled from (other
/// than the target itself), from which the registry can mount blobs
/// instead of receiving them again.
fn mount_from(target: &Target, pulled_from: &[String]) -> Option<oci_client::Reference> {
    pulled_from.iter().find_map(|name| {
        let source = Target::parse(name).ok()?;
        (source.registry == target.registry
            && source.reference.repository() != target.reference.repository())
        .then_some(source.reference)
    })
}
