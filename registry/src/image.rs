//! What resolving a source yields ([`ResolvedImage`]) and the OCI / Docker v2 JSON it is built from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::SourceError;
use crate::platform::Platform;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker schema 1 (unsupported; long deprecated).
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The `Accept` header for manifest requests: every manifest and index type we can read.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or index we read (the distribution spec suggests registries accept at least 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Largest image config we read.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// Index nesting we follow before giving up.
pub(crate) const MAX_INDEX_DEPTH: usize = 4;

/// An image, resolved: verified manifest and config, and where to read each layer.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// What to show the user: the reference, tag or file name.
    pub name: String,
    /// `registry/repository` when known.
    pub repository: Option<String>,
    /// The tag, when known.
    pub tag: Option<String>,
    /// `sha256:…` of the image manifest; `None` for docker archives (they have no manifest).
    pub manifest_digest: Option<String>,
    /// `sha256:…` of the config blob (the image ID).
    pub config_digest: String,
    /// The parsed config.
    pub config: ImageConfig,
    /// The config bytes exactly as stored.
    pub config_raw: Vec<u8>,
    /// Layers, base first.
    pub layers: Vec<LayerBlob>,
}

/// The parts of the image config an SBOM needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `linux`, …
    pub os: Option<String>,
    /// `amd64`, …
    pub architecture: Option<String>,
    /// `v8`, …
    pub variant: Option<String>,
    /// RFC 3339 creation time.
    pub created: Option<String>,
    /// `rootfs.diff_ids`: digests of the uncompressed layers, base first.
    pub diff_ids: Vec<String>,
    /// Build history, including empty layers.
    pub history: Vec<History>,
    /// `config.Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `config.Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `config.Env`.
    pub env: Option<Vec<String>>,
    /// `config.WorkingDir` (absent when empty).
    pub working_dir: Option<String>,
}

/// One `history` entry of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The Dockerfile instruction, roughly.
    pub created_by: Option<String>,
    /// True when the step made no layer.
    pub empty_layer: bool,
}

/// One layer and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// Digest of the stored (possibly compressed) bytes at `location`; the scanner verifies it while
    /// streaming. `None` when the source does not address the layer by content (old `docker save`).
    pub digest: Option<String>,
    /// Digest of the uncompressed tar, from the config.
    pub diff_id: Option<String>,
    /// Media type from the manifest (`None` for docker archives; sniff the compression).
    pub media_type: Option<String>,
    /// Stored size in bytes.
    pub size: Option<u64>,
    /// Where to read it.
    pub location: BlobLocation,
}

/// Where a blob's bytes can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// `len` bytes at `offset` of `path`: a whole blob file, or a member inside an uncompressed tar.
    File {
        /// The file.
        path: PathBuf,
        /// Where the blob starts.
        offset: u64,
        /// Its length.
        len: u64,
    },
}

impl ImageConfig {
    /// Parses an OCI / Docker image config. Unknown fields are ignored; wrong types are errors.
    pub fn parse(bytes: &[u8], location: &str) -> Result<Self, SourceError> {
        let raw: RawConfig = serde_json::from_slice(bytes)
            .map_err(|e| SourceError::malformed("image config", location, e))?;
        let inner = raw.config.unwrap_or_default();
        Ok(ImageConfig {
            os: raw.os,
            architecture: raw.architecture,
            variant: raw.variant,
            created: raw.created,
            diff_ids: raw
                .rootfs
                .map(|r| r.diff_ids.unwrap_or_default())
                .unwrap_or_default(),
            history: raw
                .history
                .unwrap_or_default()
                .into_iter()
                .map(|h| History {
                    created_by: h.created_by,
                    empty_layer: h.empty_layer.unwrap_or(false),
                })
                .collect(),
            entrypoint: inner.entrypoint,
            cmd: inner.cmd,
            env: inner.env,
            working_dir: inner.working_dir.filter(|w| !w.is_empty()),
        })
    }
}

#[derive(Deserialize)]
struct RawConfig {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
    created: Option<String>,
    rootfs: Option<RawRootfs>,
    history: Option<Vec<RawHistory>>,
    config: Option<RawRunConfig>,
}

#[derive(Deserialize)]
struct RawRootfs {
    diff_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawHistory {
    created_by: Option<String>,
    empty_layer: Option<bool>,
}

#[derive(Deserialize, Default)]
struct RawRunConfig {
    #[serde(rename = "Entrypoint")]
    entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd")]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Env")]
    env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir")]
    working_dir: Option<String>,
}

/// A content descriptor (the subset we use).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub(crate) media_type: Option<String>,
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) platform: Option<RawPlatform>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    /// Set on referrer (artifact) manifests, e.g. an SBOM that `stella sbom push` added to a layout.
    #[serde(default)]
    pub(crate) artifact_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawPlatform {
    pub(crate) os: String,
    pub(crate) architecture: String,
    pub(crate) variant: Option<String>,
}

impl Descriptor {
    pub(crate) fn digest(&self, location: &str) -> Result<Digest, SourceError> {
        Digest::parse(&self.digest).map_err(|e| SourceError::malformed("descriptor", location, e))
    }

    pub(crate) fn platform(&self) -> Option<Platform> {
        self.platform
            .as_ref()
            .map(|p| Platform::new(&p.os, &p.architecture, p.variant.as_deref()))
    }

    /// BuildKit attestation manifests and other non-runnable entries in an index.
    pub(crate) fn is_attestation(&self) -> bool {
        self.annotations
            .get("vnd.docker.reference.type")
            .is_some_and(|t| t == "attestation-manifest")
            || self
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }
}

/// An image manifest or an index, as far as we need either.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifestOrIndex {
    schema_version: Option<u32>,
    media_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed manifest document.
#[derive(Debug)]
pub(crate) enum ManifestDoc {
    Index(Vec<Descriptor>),
    Manifest {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

impl ManifestDoc {
    /// Parses `bytes` as an index or image manifest. `declared` is the media type from the descriptor
    /// or `Content-Type` header, when there was one.
    pub(crate) fn parse(
        bytes: &[u8],
        declared: Option<&str>,
        location: &str,
    ) -> Result<Self, SourceError> {
        let declared = declared.map(|d| d.split(';').next().unwrap_or(d).trim());
        if let Some(d) = declared.filter(|d| DOCKER_SCHEMA1.contains(d)) {
            return Err(schema1(d, location));
        }
        let raw: RawManifestOrIndex = serde_json::from_slice(bytes)
            .map_err(|e| SourceError::malformed("manifest", location, e))?;
        if raw.schema_version == Some(1) {
            return Err(schema1("schemaVersion 1", location));
        }
        let media_type = raw.media_type.as_deref().or(declared);
        let is_index = match media_type {
            Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
            // Media types are optional in OCI; decide by shape.
            Some("application/json" | "text/plain") | None => raw.manifests.is_some(),
            Some(other) => {
                return Err(SourceError::UnsupportedMediaType {
                    media_type: other.to_owned(),
                    what: "manifest".to_owned(),
                    location: location.to_owned(),
                    hint: None,
                })
            }
        };
        if is_index {
            let manifests = raw
                .manifests
                .ok_or_else(|| SourceError::malformed("index", location, "no 'manifests' array"))?;
            return Ok(ManifestDoc::Index(manifests));
        }
        let config = raw.config.ok_or_else(|| {
            SourceError::malformed("manifest", location, "no 'config' descriptor")
        })?;
        match config.media_type.as_deref() {
            None | Some(OCI_CONFIG | DOCKER_CONFIG) => {}
            Some(other) => {
                return Err(SourceError::UnsupportedMediaType {
                    media_type: other.to_owned(),
                    what: "config".to_owned(),
                    location: location.to_owned(),
                    hint: Some("this is an OCI artifact, not a container image".to_owned()),
                })
            }
        }
        Ok(ManifestDoc::Manifest {
            config,
            layers: raw.layers.unwrap_or_default(),
        })
    }
}

fn schema1(media_type: &str, location: &str) -> SourceError {
    SourceError::UnsupportedMediaType {
        media_type: media_type.to_owned(),
        what: "manifest".to_owned(),
        location: location.to_owned(),
        hint: Some(
            "Docker schema 1 manifests are deprecated; re-push the image with a current tool"
                .to_owned(),
        ),
    }
}

/// Picks the manifest for `wanted` from an index's entries. With no platform asked for and exactly one
/// runnable entry, that entry is taken whatever its platform; otherwise the host platform is wanted.
pub(crate) fn select_platform<'a>(
    entries: &'a [Descriptor],
    wanted: Option<&Platform>,
    location: &str,
) -> Result<&'a Descriptor, SourceError> {
    let runnable: Vec<&Descriptor> = entries.iter().filter(|d| !d.is_attestation()).collect();
    if wanted.is_none() {
        if let [only] = runnable.as_slice() {
            return Ok(only);
        }
    }
    let want = wanted.cloned().unwrap_or_else(Platform::host);
    let with_platform = || {
        runnable
            .iter()
            .filter_map(|d| d.platform().map(|p| (*d, p)))
    };
    if let Some((d, _)) = with_platform().find(|(_, p)| want.matches_exactly(p)) {
        return Ok(d);
    }
    if let Some((d, _)) = with_platform().find(|(_, p)| want.matches(p)) {
        return Ok(d);
    }
    let mut available: Vec<String> = with_platform().map(|(_, p)| p.to_string()).collect();
    available.dedup();
    Err(SourceError::NoMatchingPlatform {
        wanted: want.to_string(),
        location: location.to_owned(),
        available,
    })
}

/// An explicitly requested platform must be the image's own, also when there was no index to choose
/// from: an amd64-only image scanned for `--platform linux/arm64` would otherwise be described as if it
/// were what was asked for. A config without `os`/`architecture` contradicts nothing, and the variant is
/// compared only when the config names one (many arm64 configs omit `v8`).
pub(crate) fn check_config_platform(
    config: &ImageConfig,
    wanted: Option<&Platform>,
    location: &str,
) -> Result<(), SourceError> {
    let (Some(want), Some(os), Some(arch)) =
        (wanted, config.os.as_deref(), config.architecture.as_deref())
    else {
        return Ok(());
    };
    let actual = Platform::new(os, arch, config.variant.as_deref());
    let ok = if actual.variant.is_some() {
        want.matches(&actual)
    } else {
        want.os == actual.os && want.architecture == actual.architecture
    };
    if ok {
        return Ok(());
    }
    Err(SourceError::NoMatchingPlatform {
        wanted: want.to_string(),
        location: location.to_owned(),
        available: vec![actual.to_string()],
    })
}

/// Checks `bytes` against the descriptor's digest and size.
pub(crate) fn verify(
    bytes: &[u8],
    digest: &Digest,
    size: Option<u64>,
    what: &str,
    location: &str,
) -> Result<(), SourceError> {
    if let Some(size) = size {
        if bytes.len() as u64 != size {
            return Err(SourceError::SizeMismatch {
                what: what.to_owned(),
                digest: digest.to_string(),
                location: location.to_owned(),
                expected: size,
                actual: bytes.len() as u64,
            });
        }
    }
    let actual = digest.compute_same(bytes);
    if &actual != digest {
        return Err(SourceError::DigestMismatch {
            what: what.to_owned(),
            location: location.to_owned(),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// Checks that a config's diff_ids line up with the manifest's layers.
pub(crate) fn check_layer_count(
    config: &ImageConfig,
    layers: usize,
    location: &str,
) -> Result<(), SourceError> {
    if config.diff_ids.len() != layers {
        return Err(SourceError::malformed(
            "image",
            location,
            format!(
                "the manifest lists {layers} layers but the config has {} diff_ids",
                config.diff_ids.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config() {
        let c = ImageConfig::parse(
            br#"{"os":"linux","architecture":"arm64","variant":"v8","created":"2024-01-01T00:00:00Z",
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},
            "history":[{"created_by":"RUN x"},{"created_by":"ENV y","empty_layer":true}],
            "config":{"Entrypoint":null,"Cmd":["sh"],"Env":["A=b"],"WorkingDir":""}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.architecture.as_deref(), Some("arm64"));
        assert_eq!(c.diff_ids, vec!["sha256:aa"]);
        assert_eq!(c.history.len(), 2);
        assert!(c.history[1].empty_layer);
        assert_eq!(c.entrypoint, None);
        assert_eq!(c.cmd, Some(vec!["sh".to_owned()]));
        assert_eq!(c.working_dir, None);
        assert!(ImageConfig::parse(b"[]", "t").is_err());
    }

    #[test]
    fn rejects_schema1_and_artifacts() {
        let e = ManifestDoc::parse(br#"{"schemaVersion":1}"#, None, "t").unwrap_err();
        assert!(e.to_string().contains("schema 1"), "{e}");
        let art = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:00","size":1},"layers":[]}"#;
        let e = ManifestDoc::parse(art, None, "t").unwrap_err();
        assert!(e.to_string().contains("artifact"), "{e}");
    }
}
