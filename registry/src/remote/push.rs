//! Pushing an image we built ourselves: every blob (HEAD first, uploaded only when missing), then the
//! manifest, put under the reference's tag (or its digest). The blob upload, manifest PUT, auth and
//! retries are the referrers push's own ([`Client::ensure_blob`], [`Client::put_manifest_of_blobs`]).

use std::sync::Arc;

use super::{Client, ReqBody};
use crate::error::SourceError;
use crate::image::OCI_MANIFEST;
use crate::reference::Reference;
use crate::referrers::Descriptor;
use crate::upload::ImageUpload;
use crate::PushOptions;

/// Pushes `image` to the repository `reference` names and tags it with the reference's tag (`latest`
/// when it has neither tag nor digest). A reference with a digest must name this very manifest.
/// Credentials, `--insecure` (loopback only) and retries as for referrers; `opts.platform` is unused.
/// Returns the manifest's descriptor.
pub async fn push_image(
    reference: &Reference,
    image: &ImageUpload,
    opts: &PushOptions,
) -> Result<Descriptor, SourceError> {
    let descriptor = image.descriptor();
    if let Some(d) = reference.digest() {
        if d.to_string() != descriptor.digest {
            return Err(SourceError::InvalidReference {
                input: reference.to_string(),
                reason: format!(
                    "it names digest {d}, but the image's manifest is {}",
                    descriptor.digest
                ),
            });
        }
    }
    let client = Client::with(
        reference,
        opts.insecure,
        opts.docker_config.as_deref(),
        true,
        opts.mount_from.clone(),
    )?;
    let blobs: Vec<(Descriptor, ReqBody)> = image
        .blobs()
        .iter()
        .map(|(desc, bytes)| (desc.clone(), ReqBody::Bytes(Arc::new(bytes.clone()))))
        .collect();
    for (desc, body) in &blobs {
        client.ensure_blob(desc, body.clone()).await?;
    }
    let target = reference
        .tag()
        .map_or_else(|| reference.manifest_reference(), str::to_owned);
    client
        .put_manifest_of_blobs(&target, image.manifest(), OCI_MANIFEST, &blobs)
        .await?;
    Ok(descriptor.clone())
}
