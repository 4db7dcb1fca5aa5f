//! Storing a whole image we built ourselves — its blobs (config and layers) and its manifest — in an
//! OCI layout on disk ([`crate::layout_target::write_image_layout`]) or in a registry
//! ([`crate::push_image`]).
//!
//! An [`ImageUpload`] is checked once, when it is made: the manifest is an OCI image manifest and
//! every blob it names (config and layers) is among the blobs given, with the same digest and size. So
//! neither target can be left holding a manifest that points at something missing, and the targets
//! only have to write what they are handed.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::SourceError;
use crate::image::OCI_MANIFEST;
use crate::referrers::{Descriptor, DescriptorPlatform};

/// Largest manifest we store.
const MAX_MANIFEST: u64 = crate::image::MAX_MANIFEST_BYTES;

/// An image manifest and every blob it references, verified to agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUpload {
    manifest: Vec<u8>,
    descriptor: Descriptor,
    /// By digest; config first in [`ImageUpload::blobs`] order, then the layers.
    blobs: Vec<(Descriptor, Vec<u8>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestRefs {
    schema_version: Option<u32>,
    media_type: Option<String>,
    config: BlobRef,
    layers: Vec<BlobRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlobRef {
    media_type: String,
    digest: String,
    size: u64,
}

impl ImageUpload {
    /// Checks that `manifest` is an OCI image manifest whose config and layers are all in `blobs`
    /// (matched by digest and size). Blobs the manifest does not name are refused too, so a caller's
    /// mistake shows here rather than as garbage in a registry. `platform` is recorded in the index
    /// entry of a layout.
    pub fn new(
        manifest: Vec<u8>,
        blobs: Vec<Vec<u8>>,
        platform: Option<DescriptorPlatform>,
    ) -> Result<ImageUpload, SourceError> {
        const WHAT: &str = "image manifest";
        const HERE: &str = "the image to store";
        if manifest.len() as u64 > MAX_MANIFEST {
            return Err(SourceError::TooLarge {
                what: WHAT.to_owned(),
                location: HERE.to_owned(),
                limit: MAX_MANIFEST,
            });
        }
        let refs: ManifestRefs =
            serde_json::from_slice(&manifest).map_err(|e| SourceError::malformed(WHAT, HERE, e))?;
        if refs.schema_version != Some(2) || refs.media_type.as_deref() != Some(OCI_MANIFEST) {
            return Err(SourceError::malformed(
                WHAT,
                HERE,
                format!("not schemaVersion 2 with mediaType {OCI_MANIFEST}"),
            ));
        }
        let mut by_digest: BTreeMap<String, Vec<u8>> = blobs
            .into_iter()
            .map(|b| (Digest::sha256_of(&b).to_string(), b))
            .collect();
        let mut ordered = Vec::with_capacity(refs.layers.len() + 1);
        for r in std::iter::once(&refs.config).chain(&refs.layers) {
            Digest::parse(&r.digest)?;
            if ordered
                .iter()
                .any(|(d, _): &(Descriptor, _)| d.digest == r.digest)
            {
                continue; // the same blob named twice is stored once
            }
            let bytes = by_digest.remove(&r.digest).ok_or_else(|| {
                SourceError::malformed(
                    WHAT,
                    HERE,
                    format!("names blob {} but it was not given", r.digest),
                )
            })?;
            if bytes.len() as u64 != r.size {
                return Err(SourceError::SizeMismatch {
                    what: r.media_type.clone(),
                    digest: r.digest.clone(),
                    location: HERE.to_owned(),
                    expected: r.size,
                    actual: bytes.len() as u64,
                });
            }
            let mut d = Descriptor::of(&r.media_type, &bytes);
            d.digest.clone_from(&r.digest);
            ordered.push((d, bytes));
        }
        if let Some(extra) = by_digest.keys().next() {
            return Err(SourceError::malformed(
                WHAT,
                HERE,
                format!("blob {extra} was given but the manifest does not name it"),
            ));
        }
        let mut descriptor = Descriptor::of(OCI_MANIFEST, &manifest);
        descriptor.platform = platform;
        Ok(ImageUpload {
            manifest,
            descriptor,
            blobs: ordered,
        })
    }

    /// The manifest's bytes.
    pub fn manifest(&self) -> &[u8] {
        &self.manifest
    }

    /// The manifest's descriptor (OCI image manifest media type, digest, size, platform).
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The config, then the layers, each with its descriptor.
    pub fn blobs(&self) -> &[(Descriptor, Vec<u8>)] {
        &self.blobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(config: &[u8], layer: &[u8], layer_size: usize) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": crate::OCI_CONFIG, "digest": Digest::sha256_of(config).to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::sha256_of(layer).to_string(), "size": layer_size}],
        }))
        .unwrap()
    }

    #[test]
    fn accepts_a_consistent_image_and_keeps_config_first() {
        let m = manifest(b"{}", b"layer", 5);
        let up =
            ImageUpload::new(m.clone(), vec![b"layer".to_vec(), b"{}".to_vec()], None).unwrap();
        assert_eq!(up.manifest(), m.as_slice());
        assert_eq!(up.descriptor().digest, Digest::sha256_of(&m).to_string());
        assert_eq!(up.blobs()[0].1, b"{}");
        assert_eq!(up.blobs()[0].0.media_type, crate::OCI_CONFIG);
        assert_eq!(up.blobs()[1].1, b"layer");
    }

    #[test]
    fn refuses_missing_extra_and_mis_sized_blobs() {
        let m = manifest(b"{}", b"layer", 5);
        let e = ImageUpload::new(m.clone(), vec![b"{}".to_vec()], None).unwrap_err();
        assert!(e.to_string().contains("not given"), "{e}");
        let e = ImageUpload::new(
            m,
            vec![b"{}".to_vec(), b"layer".to_vec(), b"x".to_vec()],
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("does not name it"), "{e}");
        let m = manifest(b"{}", b"layer", 6);
        let e = ImageUpload::new(m, vec![b"{}".to_vec(), b"layer".to_vec()], None).unwrap_err();
        assert!(matches!(e, SourceError::SizeMismatch { .. }), "{e}");
        let e = ImageUpload::new(b"{\"schemaVersion\":2}".to_vec(), vec![], None).unwrap_err();
        assert!(matches!(e, SourceError::Malformed { .. }), "{e}");
        let e = ImageUpload::new(b"[]".to_vec(), vec![], None).unwrap_err();
        assert!(matches!(e, SourceError::Malformed { .. }), "{e}");
    }
}
