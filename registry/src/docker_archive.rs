//! `docker save` / `skopeo copy … docker-archive:` tarballs.
//!
//! Both the legacy layout (`<id>/layer.tar` symlinks to `<sha>.tar`) and Docker ≥ 25's OCI-layout-in-tar
//! (`blobs/sha256/…` plus `manifest.json`) are read through `manifest.json`. Layers stay inside the
//! archive: each is a byte range of the outer tar.

use std::path::Path;

use serde::Deserialize;

use crate::digest::{Algorithm, Digest};
use crate::error::SourceError;
use crate::image::{
    check_layer_count, BlobLocation, ImageConfig, LayerBlob, ResolvedImage, MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
};
use crate::reference::Reference;
use crate::tarindex::{read_range, TarIndex};

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// Resolves the image named by `wanted` (a `RepoTags` reference, or `@N` for the N-th image).
pub(crate) fn resolve(
    index: &TarIndex,
    wanted: Option<&str>,
    location: &str,
) -> Result<ResolvedImage, SourceError> {
    let manifest = read_member(index, "manifest.json", MAX_MANIFEST_BYTES, location)?;
    let entries: Vec<Entry> = serde_json::from_slice(&manifest)
        .map_err(|e| SourceError::malformed("manifest.json", location, e))?;
    let names: Vec<String> = entries
        .iter()
        .enumerate()
        .flat_map(|(i, e)| match e.repo_tags.as_deref() {
            Some(tags) if !tags.is_empty() => tags.to_vec(),
            _ => vec![format!("@{i}")],
        })
        .collect();

    let (entry, chosen_tag) = match wanted {
        None => match entries.as_slice() {
            [only] => (
                only,
                only.repo_tags.as_ref().and_then(|t| t.first()).cloned(),
            ),
            [] => {
                return Err(SourceError::malformed(
                    "manifest.json",
                    location,
                    "lists no images",
                ))
            }
            _ => {
                return Err(SourceError::Ambiguous {
                    location: location.to_owned(),
                    hint: format!(
                        "{location}:{}",
                        names.first().map_or("REPO:TAG", String::as_str)
                    ),
                    available: names,
                })
            }
        },
        Some(w) => {
            let not_found = || SourceError::NotFound {
                kind: "reference",
                wanted: w.to_owned(),
                location: location.to_owned(),
                available: names.clone(),
            };
            if let Some(n) = w.strip_prefix('@') {
                let i: usize = n.parse().map_err(|_| not_found())?;
                let e = entries.get(i).ok_or_else(not_found)?;
                (e, e.repo_tags.as_ref().and_then(|t| t.first()).cloned())
            } else {
                let want_norm = Reference::parse(w).ok();
                entries
                    .iter()
                    .find_map(|e| {
                        e.repo_tags
                            .as_ref()?
                            .iter()
                            .find(|t| {
                                *t == w
                                    || (want_norm.is_some()
                                        && Reference::parse(t).ok() == want_norm)
                            })
                            .map(|t| (e, Some(t.clone())))
                    })
                    .ok_or_else(not_found)?
            }
        }
    };

    let config_raw = read_member(index, &entry.config, MAX_CONFIG_BYTES, location)?;
    let config_digest = Digest::sha256_of(&config_raw);
    if let Some(named) = content_address(&entry.config) {
        if named != config_digest {
            return Err(SourceError::DigestMismatch {
                what: format!("config {}", entry.config),
                location: location.to_owned(),
                expected: named.to_string(),
                actual: config_digest.to_string(),
            });
        }
    }
    let config = ImageConfig::parse(&config_raw, &format!("{location}:{}", entry.config))?;
    check_layer_count(&config, entry.layers.len(), location)?;

    let mut layers = Vec::with_capacity(entry.layers.len());
    for (member, diff_id) in entry.layers.iter().zip(&config.diff_ids) {
        let (target, offset, len) =
            index
                .resolve(member)
                .ok_or_else(|| SourceError::MissingMember {
                    archive: location.to_owned(),
                    member: member.clone(),
                })?;
        layers.push(LayerBlob {
            // `<id>/layer.tar` links to `<sha>.tar`: the link target carries the content address.
            digest: content_address(&target).map(|d| d.to_string()),
            diff_id: Some(diff_id.clone()),
            media_type: None,
            size: Some(len),
            location: BlobLocation::File {
                path: index.path().to_owned(),
                offset,
                len,
            },
        });
    }

    let parsed_tag = chosen_tag.as_deref().and_then(|t| Reference::parse(t).ok());
    Ok(ResolvedImage {
        name: chosen_tag
            .clone()
            .unwrap_or_else(|| file_name(index.path())),
        repository: parsed_tag.as_ref().map(Reference::name),
        tag: parsed_tag.as_ref().and_then(|r| r.tag().map(str::to_owned)),
        manifest_digest: None,
        config_digest: config_digest.to_string(),
        config,
        config_raw,
        layers,
    })
}

fn read_member(
    index: &TarIndex,
    member: &str,
    limit: u64,
    location: &str,
) -> Result<Vec<u8>, SourceError> {
    let (offset, len) = index
        .get(member)
        .ok_or_else(|| SourceError::MissingMember {
            archive: location.to_owned(),
            member: member.to_owned(),
        })?;
    if len > limit {
        return Err(SourceError::TooLarge {
            what: member.to_owned(),
            location: location.to_owned(),
            limit,
        });
    }
    read_range(index.path(), offset, len)
}

/// The digest a member's name promises: `blobs/sha256/<hex>` (OCI layout) or `<hex>.tar` / `<hex>.json`
/// (docker and skopeo name blobs by their sha256).
fn content_address(member: &str) -> Option<Digest> {
    let name = crate::tarindex::normalize(member)?;
    if let Some(rest) = name.strip_prefix("blobs/") {
        let (alg, hex) = rest.split_once('/')?;
        return Digest::parse(&format!("{alg}:{hex}")).ok();
    }
    if name.contains('/') {
        return None;
    }
    let stem = name
        .strip_suffix(".tar")
        .or_else(|| name.strip_suffix(".json"))?;
    let d = Digest::parse(&format!("sha256:{stem}")).ok()?;
    (d.algorithm() == Algorithm::Sha256).then_some(d)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addresses() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(content_address(&format!("{hex}.tar")).is_some());
        assert!(content_address(&format!("./blobs/sha256/{hex}")).is_some());
        assert!(content_address(&format!("{hex}/layer.tar")).is_none());
        assert!(content_address("abc.json").is_none());
    }
}
