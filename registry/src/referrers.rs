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

/// BuildKit's in-index attestations of an image index: for each platform manifest of the index, the
/// attestation manifests that describe it.
///
/// BuildKit (`docker buildx build --attest …`, `--sbom`, `--provenance`) does not push referrers: it
/// adds to the image index, next to each platform manifest, an *attestation manifest* — an ordinary
/// OCI image manifest with platform `unknown/unknown` and the annotations
/// `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest: <the platform
/// manifest's digest>`. Its layers are in-toto statements (media type [`ARTIFACT_IN_TOTO`], the
/// predicate type in the layer annotation [`ANNOTATION_IN_TOTO_PREDICATE_TYPE`]); fetch them with
/// [`crate::target::fetch_in_toto_layers`].
///
/// `index` is the index's bytes exactly as fetched (and verified against its digest by the caller, e.g.
/// [`crate::target::top_manifest`]); pass those, not a re-serialisation. The result maps every
/// platform manifest digest of the index (entries that are not attestations and not `unknown/unknown`;
/// a platform with no attestation maps to an empty list) to the descriptors of its attestation
/// manifests, in index order, annotations kept. An attestation entry whose reference digest is not a
/// platform manifest of *this* index, or whose digests do not parse, is left out: it attests nothing
/// here. Entries that are not well-formed descriptors are skipped, not fatal (one bad entry does not
/// hide the others).
///
/// Errors: the bytes are larger than [`crate::MAX_MANIFEST_BYTES`], not JSON, or have no `manifests`
/// array (not an index).
///
/// ```
/// use registry::referrers::in_index_attestations;
/// let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
///   {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":7,
///    "digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111",
///    "platform":{"os":"linux","architecture":"amd64"}},
///   {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":9,
///    "digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222",
///    "platform":{"os":"unknown","architecture":"unknown"},
///    "annotations":{"vnd.docker.reference.type":"attestation-manifest",
///      "vnd.docker.reference.digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}}]}"#;
/// let found = in_index_attestations(index).unwrap();
/// let amd64 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
/// assert_eq!(found[amd64].len(), 1);
/// assert!(found[amd64][0].digest.starts_with("sha256:2222"));
/// ```
pub fn in_index_attestations(
    index: &[u8],
) -> Result<BTreeMap<String, Vec<Descriptor>>, crate::SourceError> {
    const WHERE: &str = "the image index";
    if index.len() as u64 > crate::MAX_MANIFEST_BYTES {
        return Err(crate::SourceError::TooLarge {
            what: "image index".to_owned(),
            location: WHERE.to_owned(),
            limit: crate::MAX_MANIFEST_BYTES,
        });
    }
    let doc: serde_json::Value = serde_json::from_slice(index)
        .map_err(|e| crate::SourceError::malformed("image index", WHERE, e))?;
    let entries = doc
        .get("manifests")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| {
            crate::SourceError::malformed("image index", WHERE, "no 'manifests' array")
        })?;
    let descriptors: Vec<Descriptor> = entries
        .iter()
        .filter_map(|e| serde_json::from_value::<Descriptor>(e.clone()).ok())
        .filter(|d| Digest::parse(&d.digest).is_ok())
        .collect();
    let mut out: BTreeMap<String, Vec<Descriptor>> = BTreeMap::new();
    for d in descriptors.iter().filter(|d| is_platform_manifest(d)) {
        out.entry(d.digest.clone()).or_default();
    }
    for d in &descriptors {
        let Some(of) = attestation_subject(d) else {
            continue;
        };
        if let Some(list) = out.get_mut(of) {
            list.push(d.clone());
        }
    }
    Ok(out)
}

/// The platform manifest a BuildKit attestation entry describes (its
/// [`ANNOTATION_BUILDKIT_REFERENCE_DIGEST`]), or `None` for any other entry.
pub fn attestation_subject(entry: &Descriptor) -> Option<&str> {
    if entry
        .annotations
        .get(ANNOTATION_BUILDKIT_REFERENCE_TYPE)
        .map(String::as_str)
        != Some(BUILDKIT_ATTESTATION_MANIFEST)
    {
        return None;
    }
    entry
        .annotations
        .get(ANNOTATION_BUILDKIT_REFERENCE_DIGEST)
        .map(String::as_str)
        .filter(|d| Digest::parse(d).is_ok())
}

/// An index entry that is an image for a platform: not a BuildKit attestation, not `unknown/unknown`.
fn is_platform_manifest(d: &Descriptor) -> bool {
    d.annotations
        .get(ANNOTATION_BUILDKIT_REFERENCE_TYPE)
        .map(String::as_str)
        != Some(BUILDKIT_ATTESTATION_MANIFEST)
        && !d
            .platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

/// One in-toto statement layer of a BuildKit attestation manifest, fetched and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InTotoLayer {
    /// The layer's descriptor, as the attestation manifest lists it.
    pub descriptor: Descriptor,
    /// Its [`ANNOTATION_IN_TOTO_PREDICATE_TYPE`] annotation (e.g. `https://spdx.dev/Document`,
    /// `https://slsa.dev/provenance/v0.2`), when present. Taken from the manifest, not from the
    /// statement: a verifier must still read the statement's own `predicateType`.
    pub predicate_type: Option<String>,
    /// The statement's bytes (checked against the descriptor's digest and size).
    pub statement: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest_byte: char, platform: (&str, &str), of: Option<char>) -> serde_json::Value {
        let digest = format!("sha256:{}", digest_byte.to_string().repeat(64));
        let mut v = serde_json::json!({
            "mediaType": crate::image::OCI_MANIFEST, "digest": digest, "size": 10,
            "platform": {"os": platform.0, "architecture": platform.1},
        });
        if let Some(of) = of {
            v["annotations"] = serde_json::json!({
                ANNOTATION_BUILDKIT_REFERENCE_TYPE: BUILDKIT_ATTESTATION_MANIFEST,
                ANNOTATION_BUILDKIT_REFERENCE_DIGEST: format!("sha256:{}", of.to_string().repeat(64)),
            });
        }
        v
    }

    #[test]
    fn in_index_attestations_by_platform_manifest() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [
            entry('a', ("linux", "amd64"), None),
            entry('b', ("linux", "arm64"), None),
            entry('c', ("unknown", "unknown"), Some('a')),
            entry('e', ("unknown", "unknown"), Some('a')),
            // names a manifest that is not in this index: attests nothing here
            entry('f', ("unknown", "unknown"), Some('9')),
            // a bad digest does not hide the others
            {"mediaType": crate::image::OCI_MANIFEST, "digest": "sha256:zz", "size": 1},
            // unknown/unknown without BuildKit's annotations is no platform manifest
            entry('7', ("unknown", "unknown"), None),
        ]});
        let found = in_index_attestations(&serde_json::to_vec(&index).unwrap()).unwrap();
        assert_eq!(found.keys().cloned().collect::<Vec<_>>(), [d('a'), d('b')]);
        let of_a: Vec<&str> = found[&d('a')].iter().map(|x| x.digest.as_str()).collect();
        assert_eq!(of_a, [d('c'), d('e')]);
        assert_eq!(
            found[&d('a')][0].annotations[ANNOTATION_BUILDKIT_REFERENCE_DIGEST],
            d('a')
        );
        assert!(found[&d('b')].is_empty());
        assert!(in_index_attestations(b"{}").is_err());
        assert!(in_index_attestations(b"not json").is_err());
        let single = serde_json::json!({"schemaVersion": 2, "manifests": [entry('a', ("linux", "amd64"), None)]});
        let found = in_index_attestations(&serde_json::to_vec(&single).unwrap()).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[&d('a')].is_empty());
    }

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
