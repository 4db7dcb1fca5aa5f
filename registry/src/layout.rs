//! OCI image layouts, on disk (`oci:DIR[:TAG]`) or inside a tar (`oci-archive:FILE[:TAG]`).
//!
//! Every index, manifest and config read is checked against its descriptor's digest and size; layer
//! blobs are only checked for presence and size (the scanner hashes them while streaming).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::SourceError;
use crate::image::{
    check_layer_count, select_platform, verify, BlobLocation, Descriptor, ImageConfig, LayerBlob,
    ManifestDoc, ResolvedImage, MAX_CONFIG_BYTES, MAX_INDEX_DEPTH, MAX_MANIFEST_BYTES,
};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::tarindex::{read_range, TarIndex};

pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Where a layout's files are: a directory, or members of a tar.
pub(crate) enum Store<'a> {
    Dir(&'a Path),
    Tar(&'a TarIndex),
}

impl Store<'_> {
    /// `(file, offset, len)` of a layout-relative path, if present.
    fn locate(&self, rel: &str) -> Result<Option<(PathBuf, u64, u64)>, SourceError> {
        match self {
            Store::Dir(root) => {
                let path = root.join(rel);
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() => Ok(Some((path, 0, m.len()))),
                    Ok(_) => Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(SourceError::io(path, e)),
                }
            }
            Store::Tar(idx) => Ok(idx.get(rel).map(|(o, l)| (idx.path().to_owned(), o, l))),
        }
    }

    pub(crate) fn read(
        &self,
        rel: &str,
        limit: u64,
        what: &str,
        location: &str,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        let Some((path, offset, len)) = self.locate(rel)? else {
            return Ok(None);
        };
        if len > limit {
            return Err(SourceError::TooLarge {
                what: what.to_owned(),
                location: location.to_owned(),
                limit,
            });
        }
        read_range(&path, offset, len).map(Some)
    }

    /// Reads a small blob and verifies it against its descriptor.
    pub(crate) fn read_blob(
        &self,
        desc: &Descriptor,
        limit: u64,
        what: &str,
        location: &str,
    ) -> Result<Vec<u8>, SourceError> {
        let digest = desc.digest(location)?;
        if desc.size > limit {
            return Err(SourceError::TooLarge {
                what: format!("{what} {digest}"),
                location: location.to_owned(),
                limit,
            });
        }
        let bytes = self
            .read(&digest.layout_path(), limit, what, location)?
            .ok_or_else(|| SourceError::MissingBlob {
                what: what.to_owned(),
                digest: digest.to_string(),
                location: location.to_owned(),
            })?;
        verify(&bytes, &digest, Some(desc.size), what, location)?;
        Ok(bytes)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciLayoutFile {
    image_layout_version: String,
}

/// Reads `oci-layout` (checking the version) and `index.json`; returns the index's entries.
pub(crate) fn read_top_index(
    store: &Store<'_>,
    location: &str,
) -> Result<Vec<Descriptor>, SourceError> {
    let not_layout = |reason: &str| SourceError::NotOciLayout {
        location: location.to_owned(),
        reason: reason.to_owned(),
    };
    let marker = store
        .read("oci-layout", 4096, "oci-layout", location)?
        .ok_or_else(|| not_layout("no 'oci-layout' file"))?;
    let marker: OciLayoutFile = serde_json::from_slice(&marker)
        .map_err(|e| SourceError::malformed("oci-layout", location, e))?;
    if !marker.image_layout_version.starts_with("1.") {
        return Err(not_layout(&format!(
            "unsupported imageLayoutVersion '{}'",
            marker.image_layout_version
        )));
    }
    let index_bytes = store
        .read("index.json", MAX_MANIFEST_BYTES, "index.json", location)?
        .ok_or_else(|| not_layout("no 'index.json' file"))?;
    match ManifestDoc::parse(&index_bytes, None, &format!("{location}/index.json"))? {
        ManifestDoc::Index(entries) => Ok(entries),
        ManifestDoc::Manifest { .. } => Err(SourceError::malformed(
            "index.json",
            location,
            "is a manifest, not an index",
        )),
    }
}

/// The `index.json` entry an image reference names: the one tagged `tag` (or, for a `sha256:<hex>`
/// "tag", the entry with that digest), else the only image, else
/// (untagged per-platform entries) the platform's. Referrer manifests that `stella sbom push` added
/// (entries with an `artifactType`) are not images and never chosen.
pub(crate) fn choose_top(
    top: &[Descriptor],
    tag: Option<&str>,
    platform: Option<&Platform>,
    location: &str,
) -> Result<Descriptor, SourceError> {
    let images: Vec<Descriptor> = top
        .iter()
        .filter(|d| d.artifact_type.is_none())
        .cloned()
        .collect();
    let tags: Vec<String> = images
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME).cloned())
        .collect();
    match tag {
        // A tag cannot contain `:`, so `sha256:<hex>` is never a tag: it names the entry by digest
        // (`oci:DIR:sha256:<hex>`, an image pinned by digest).
        Some(t) => images
            .iter()
            .find(|d| d.annotations.get(REF_NAME).is_some_and(|n| n == t))
            .or_else(|| {
                t.starts_with("sha256:")
                    .then(|| images.iter().find(|d| d.digest == t))
                    .flatten()
            })
            .cloned()
            .ok_or_else(|| SourceError::NotFound {
                kind: "tag",
                wanted: t.to_owned(),
                location: location.to_owned(),
                available: tags.clone(),
            }),
        None => match images.as_slice() {
            [] => Err(SourceError::NotOciLayout {
                location: location.to_owned(),
                reason: "index.json lists no images".to_owned(),
            }),
            [only] => Ok(only.clone()),
            // Untagged, per-platform entries: index.json itself is the image index.
            many if tags.is_empty() && many.iter().all(|d| d.platform.is_some()) => {
                select_platform(many, platform, location).cloned()
            }
            _ => Err(SourceError::Ambiguous {
                location: location.to_owned(),
                hint: format!("{location}:{}", tags.first().map_or("TAG", String::as_str)),
                available: tags,
            }),
        },
    }
}

/// Resolves an image in a layout. `location` is how the layout is shown in errors (`oci:/x`).
pub(crate) fn resolve(
    store: &Store<'_>,
    tag: Option<&str>,
    platform: Option<&Platform>,
    location: &str,
    fallback_name: &str,
) -> Result<ResolvedImage, SourceError> {
    let top = read_top_index(store, location)?;
    let chosen = choose_top(&top, tag, platform, location)?;

    let chosen_tag = chosen
        .annotations
        .get(REF_NAME)
        .cloned()
        .or(tag.map(str::to_owned));
    let full_name = chosen
        .annotations
        .get(CONTAINERD_NAME)
        .and_then(|n| Reference::parse(n).ok());

    let mut desc = chosen;
    let mut depth = 0;
    let (manifest_digest, config_desc, layer_descs) = loop {
        let bytes = store.read_blob(&desc, MAX_MANIFEST_BYTES, "manifest", location)?;
        let digest = desc.digest(location)?;
        let here = format!("{location}@{digest}");
        match ManifestDoc::parse(&bytes, desc.media_type.as_deref(), &here)? {
            ManifestDoc::Index(entries) => {
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(SourceError::malformed(
                        "index",
                        &here,
                        "indexes nested too deeply",
                    ));
                }
                desc = select_platform(&entries, platform, &here)?.clone();
            }
            ManifestDoc::Manifest { config, layers } => break (digest, config, layers),
        }
    };

    let config_digest = config_desc.digest(location)?;
    let config_raw = store.read_blob(&config_desc, MAX_CONFIG_BYTES, "config", location)?;
    let config = ImageConfig::parse(&config_raw, &format!("{location}@{config_digest}"))?;
    check_layer_count(&config, layer_descs.len(), location)?;

    let mut layers = Vec::with_capacity(layer_descs.len());
    for (desc, diff_id) in layer_descs.iter().zip(&config.diff_ids) {
        let digest: Digest = desc.digest(location)?;
        let (path, offset, len) =
            store
                .locate(&digest.layout_path())?
                .ok_or_else(|| SourceError::MissingBlob {
                    what: "layer".to_owned(),
                    digest: digest.to_string(),
                    location: location.to_owned(),
                })?;
        if len != desc.size {
            return Err(SourceError::SizeMismatch {
                what: "layer".to_owned(),
                digest: digest.to_string(),
                location: location.to_owned(),
                expected: desc.size,
                actual: len,
            });
        }
        layers.push(LayerBlob {
            digest: Some(digest.to_string()),
            diff_id: Some(diff_id.clone()),
            media_type: desc.media_type.clone(),
            size: Some(desc.size),
            location: BlobLocation::File { path, offset, len },
        });
    }

    Ok(ResolvedImage {
        name: full_name
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| chosen_tag.clone())
            .unwrap_or_else(|| fallback_name.to_owned()),
        repository: full_name.as_ref().map(Reference::name),
        tag: full_name
            .as_ref()
            .and_then(|r| r.tag().map(str::to_owned))
            .or(chosen_tag),
        manifest_digest: Some(manifest_digest.to_string()),
        config_digest: config_digest.to_string(),
        config,
        config_raw,
        layers,
    })
}
