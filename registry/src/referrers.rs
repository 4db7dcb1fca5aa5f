//! OCI 1.1 referrers: SBOMs and attestations attached to an image manifest through `subject`.
//!
//! This module holds what every target (a registry, an OCI layout on disk) shares: the artifact
//! manifest we push (image manifest with `subject`, `artifactType`, the empty config and one layer,
//! built byte-for-byte deterministically), the descriptor type, and what discovery returns. Talking to a
//! registry lives in `remote`, the on-disk layout in `layout`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// CycloneDX JSON SBOM.
pub const ARTIFACT_CYCLONEDX: &str = "application/vnd.cyclonedx+json";
/// SPDX JSON SBOM.
pub const ARTIFACT_SPDX: &str = "application/spdx+json";
/// Sigstore bundle v0.3 (as cosign v3 pushes attestations).
pub const ARTIFACT_SIGSTORE_BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// An in-toto statement (the layers of BuildKit attestation manifests).
pub const ARTIFACT_IN_TOTO: &str = "application/vnd.in-toto+json";
/// Annotation on an in-toto layer: the statement's predicate type.
pub const ANNOTATION_IN_TOTO_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// Largest SBOM or attestation (one referrer layer) we read or push.
pub const MAX_ARTIFACT_BYTES: u64 = 256 << 20;
/// The empty config of artifact manifests.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Its bytes: `{}`.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// Annotation: creation time (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Annotation on Sigstore bundle referrers: the predicate type inside the bundle.
pub const ANNOTATION_BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
/// BuildKit's annotation on attestation manifests inside an image index.
pub const ANNOTATION_BUILDKIT_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// BuildKit's annotation naming the image manifest an attestation manifest describes.
pub const ANNOTATION_BUILDKIT_REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// The value of [`ANNOTATION_BUILDKIT_REFERENCE_TYPE`] on attestation manifests.
pub const BUILDKIT_ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// An OCI content descriptor, as it appears in manifests, indexes and referrers responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// `sha256:…` of the content.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// The artifact type (referrers, artifact manifests).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    /// Platform (entries of an image index).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<DescriptorPlatform>,
}

/// The `platform` object of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptorPlatform {
    /// `linux`, …
    pub os: String,
    /// `amd64`, …
    pub architecture: String,
    /// `v8`, …
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::sha256_of(bytes).to_string(),
            size: bytes.len() as u64,
            artifact_type: None,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// An SBOM or attestation to attach to an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `artifactType` of the manifest, also the media type of its one layer (e.g. [`ARTIFACT_CYCLONEDX`]).
    pub artifact_type: String,
    /// The document itself.
    pub content: Vec<u8>,
    /// Manifest annotations ([`ANNOTATION_CREATED`] is expected; [`ANNOTATION_BUNDLE_PREDICATE_TYPE`] for
    /// bundles).
    pub annotations: BTreeMap<String, String>,
}

/// The artifact manifest for `artifact` attached to `subject`: an OCI image manifest with `subject`,
/// `artifactType`, the empty config and one layer. Returns the manifest bytes and their descriptor (with
/// `artifactType` and annotations, as a referrers list shows it). Deterministic: same input, same bytes.
pub fn artifact_manifest(subject: &Descriptor, artifact: &Artifact) -> (Vec<u8>, Descriptor) {
    let config = Descriptor::of(EMPTY_CONFIG_MEDIA_TYPE, EMPTY_CONFIG);
    let layer = Descriptor::of(&artifact.artifact_type, &artifact.content);
    let subject = Descriptor {
        media_type: subject.media_type.clone(),
        digest: subject.digest.clone(),
        size: subject.size,
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    };
    let manifest = ArtifactManifest {
        schema_version: 2,
        media_type: crate::image::OCI_MANIFEST,
        artifact_type: &artifact.artifact_type,
        config,
        layers: vec![layer],
        subject,
        annotations: &artifact.annotations,
    };
    // Serialising plain structs of strings and maps cannot fail; an empty body would be caught by
    // the digest check of any reader.
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let mut descriptor = Descriptor::of(crate::image::OCI_MANIFEST, &bytes);
    descriptor.artifact_type = Some(artifact.artifact_type.clone());
    descriptor.annotations = artifact.annotations.clone();
    (bytes, descriptor)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactManifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    artifact_type: &'a str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    subject: Descriptor,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

/// How a referrer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Discovery {
    /// The registry's referrers API (`GET /v2/<name>/referrers/<digest>`).
    Api,
    /// The tag-schema fallback index (`sha256-<hex>`).
    TagFallback,
    /// A BuildKit attestation manifest inside the image index.
    BuildkitIndex,
    /// A manifest with a matching `subject` in an OCI image layout.
    Layout,
}

/// One referrer of a subject manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referrer {
    /// The subject manifest it refers to (`sha256:…`).
    pub subject: String,
    /// The referrer manifest's descriptor (with `artifactType` and annotations).
    pub descriptor: Descriptor,
    /// Where it was found.
    pub discovery: Discovery,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_manifest_is_deterministic_and_well_formed() {
        let subject = Descriptor::of(crate::image::OCI_MANIFEST, b"{\"schemaVersion\":2}");
        let mut annotations = BTreeMap::new();
        annotations.insert(
            ANNOTATION_CREATED.to_owned(),
            "2024-05-01T12:00:00Z".to_owned(),
        );
        let artifact = Artifact {
            artifact_type: ARTIFACT_CYCLONEDX.to_owned(),
            content: b"{\"bomFormat\":\"CycloneDX\"}".to_vec(),
            annotations,
        };
        let (a, da) = artifact_manifest(&subject, &artifact);
        let (b, db) = artifact_manifest(&subject, &artifact);
        assert_eq!(a, b);
        assert_eq!(da, db);
        assert_eq!(da.digest, Digest::sha256_of(&a).to_string());
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], crate::image::OCI_MANIFEST);
        assert_eq!(v["artifactType"], ARTIFACT_CYCLONEDX);
        assert_eq!(v["config"]["mediaType"], EMPTY_CONFIG_MEDIA_TYPE);
        assert_eq!(
            v["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(v["config"]["size"], 2);
        assert_eq!(v["layers"][0]["mediaType"], ARTIFACT_CYCLONEDX);
        assert_eq!(v["subject"]["digest"], subject.digest);
        assert_eq!(v["annotations"][ANNOTATION_CREATED], "2024-05-01T12:00:00Z");
        assert_eq!(da.artifact_type.as_deref(), Some(ARTIFACT_CYCLONEDX));
    }
}
