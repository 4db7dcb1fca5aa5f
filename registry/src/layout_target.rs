//! An OCI image layout on disk (`oci:DIR[:TAG]`) as a full referrers target: push an SBOM or
//! attestation next to the image, and discover what refers to it, with no registry at all.
//!
//! - **Push** writes the empty config, the artifact and its manifest as blobs (temporary file, fsync,
//!   rename; blobs already there are kept) and adds the manifest to `index.json` *without* a
//!   `org.opencontainers.image.ref.name` (the image-layout spec allows untagged manifests there). The
//!   read-modify-write of `index.json` happens under an exclusive lock file, `index.json.lock`, so
//!   concurrent stella processes never lose each other's referrers, and the new `index.json` replaces the
//!   old one atomically, so readers never see half of it.
//! - **Discovery** reads every manifest reachable from `index.json` (each verified against its digest,
//!   size-bounded) and returns those whose `subject` is the image's manifest, plus BuildKit's attestation
//!   manifests inside the image's index (`vnd.docker.reference.type: attestation-manifest`).
//!
//! What the subject is: the manifest the tag names; for a multi-platform index, each platform manifest
//! (BuildKit attestation entries skipped), or the one `--platform` picks. Discovery also reports
//! referrers of the index itself.
//!
//! - **Images** we built ourselves ([`write_image_layout`]): blobs and manifest written the same way,
//!   the manifest added to `index.json` with its tag (the tag moved off any entry that had it); an
//!   empty or missing directory becomes a new layout.
//!
//! A process that dies while holding the lock leaves `index.json.lock` behind; the next push waits
//! [`LOCK_WAIT`] and then fails naming the file, rather than guessing that the holder is gone.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::digest::Digest;
use crate::error::SourceError;
use crate::image::{
    self, select_platform, ManifestDoc, DOCKER_MANIFEST_LIST, MAX_INDEX_DEPTH, MAX_MANIFEST_BYTES,
    OCI_INDEX, OCI_MANIFEST,
};
use crate::layout::{choose_top, read_top_index, Store, REF_NAME};
use crate::platform::Platform;
use crate::referrers::{
    artifact_manifest, Artifact, Descriptor, Discovery, Referrer,
    ANNOTATION_BUILDKIT_REFERENCE_DIGEST, ANNOTATION_BUILDKIT_REFERENCE_TYPE,
    ANNOTATION_IN_TOTO_PREDICATE_TYPE, ARTIFACT_IN_TOTO, BUILDKIT_ATTESTATION_MANIFEST,
    EMPTY_CONFIG, EMPTY_CONFIG_MEDIA_TYPE, MAX_ARTIFACT_BYTES,
};
use crate::upload::ImageUpload;
use crate::PushedReferrer;

/// How long a push waits for another process's lock on `index.json`.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);
/// Manifests reachable from `index.json` that discovery reads before giving up.
const MAX_CANDIDATES: usize = 10_000;

/// Pushes `artifact` as a referrer of the image `tag` names in the layout at `dir` (see the module
/// docs for what the subject is). Returns one entry per subject manifest. Pushing the same artifact
/// again changes nothing and returns the same digests.
pub fn push_referrer_layout(
    dir: &Path,
    tag: Option<&str>,
    artifact: &Artifact,
    platform: Option<&Platform>,
) -> Result<Vec<PushedReferrer>, SourceError> {
    push_with_wait(dir, tag, artifact, platform, LOCK_WAIT)
}

fn push_with_wait(
    dir: &Path,
    tag: Option<&str>,
    artifact: &Artifact,
    platform: Option<&Platform>,
    wait: Duration,
) -> Result<Vec<PushedReferrer>, SourceError> {
    let location = location(dir);
    if artifact.content.len() as u64 > MAX_ARTIFACT_BYTES {
        return Err(SourceError::TooLarge {
            what: format!("artifact ({})", artifact.artifact_type),
            location: location.clone(),
            limit: MAX_ARTIFACT_BYTES,
        });
    }
    let store = Store::Dir(dir);
    let _lock = LayoutLock::acquire(dir, wait)?;
    let top = read_top_index(&store, &location)?;
    let image = subjects(&store, &top, tag, Which::Push(platform), &location)?;

    write_blob(dir, EMPTY_CONFIG)?;
    write_blob(dir, &artifact.content)?;
    let mut pushed = Vec::with_capacity(image.subjects.len());
    for subject in image.subjects {
        let (bytes, manifest) = artifact_manifest(&subject, artifact);
        write_blob(dir, &bytes)?;
        pushed.push(PushedReferrer {
            subject,
            manifest,
            fallback_tag: None,
        });
    }
    let manifests: Vec<&Descriptor> = pushed.iter().map(|p| &p.manifest).collect();
    add_to_index(dir, &location, &manifests)?;
    Ok(pushed)
}

/// The manifests [`push_referrer_layout`] attaches a referrer to, without writing anything (see the
/// module docs for what the subject is).
pub fn referrer_subjects_layout(
    dir: &Path,
    tag: Option<&str>,
    platform: Option<&Platform>,
) -> Result<Vec<Descriptor>, SourceError> {
    let location = location(dir);
    let store = Store::Dir(dir);
    let top = read_top_index(&store, &location)?;
    Ok(subjects(&store, &top, tag, Which::Push(platform), &location)?.subjects)
}

/// Lists the referrers of the image `tag` names: of its manifest, or of its index and every platform
/// manifest in it. `artifact_type` filters exactly. Sorted by subject, artifact type, creation time
/// (the `org.opencontainers.image.created` annotation), digest.
pub fn list_referrers_layout(
    dir: &Path,
    tag: Option<&str>,
    artifact_type: Option<&str>,
) -> Result<Vec<Referrer>, SourceError> {
    list_impl(dir, tag, None, artifact_type)
}

/// Like [`list_referrers_layout`], but only the referrers of the one manifest `platform` picks from a
/// multi-platform image (for a single-platform image, its manifest, if the platform matches).
pub fn list_referrers_layout_for_platform(
    dir: &Path,
    tag: Option<&str>,
    platform: &Platform,
    artifact_type: Option<&str>,
) -> Result<Vec<Referrer>, SourceError> {
    list_impl(dir, tag, Some(platform), artifact_type)
}

fn list_impl(
    dir: &Path,
    tag: Option<&str>,
    platform: Option<&Platform>,
    artifact_type: Option<&str>,
) -> Result<Vec<Referrer>, SourceError> {
    let location = location(dir);
    let store = Store::Dir(dir);
    let top = read_top_index(&store, &location)?;
    let which = match platform {
        Some(p) => Which::Push(Some(p)),
        None => Which::All,
    };
    let image = subjects(&store, &top, tag, which, &location)?;
    let mut wanted: BTreeSet<String> = image.subjects.iter().map(|s| s.digest.clone()).collect();
    if platform.is_none() {
        if let Some(index) = &image.index {
            wanted.insert(index.digest.clone());
        }
    }

    let mut found: BTreeMap<(String, String, Discovery), Referrer> = BTreeMap::new();
    let mut add = |r: Referrer| {
        if artifact_type.is_none() || r.descriptor.artifact_type.as_deref() == artifact_type {
            found.insert(
                (r.subject.clone(), r.descriptor.digest.clone(), r.discovery),
                r,
            );
        }
    };

    walk(&store, &top, &location, |desc, digest, doc| {
        if let Some(entries) = &doc.manifests {
            for entry in entries {
                if let Some(r) = buildkit_referrer(&store, entry, &wanted, &location)? {
                    add(r);
                }
            }
            return Ok(());
        }
        if let Some(r) = subject_referrer(desc, digest, doc) {
            if wanted.contains(&r.subject) {
                add(r);
            }
        }
        Ok(())
    })?;

    let mut out: Vec<Referrer> = found.into_values().collect();
    sort_referrers(&mut out);
    Ok(out)
}

/// Visits every manifest reachable from `index.json`, breadth first, each read (verified against its
/// digest, size-bounded) once: `visit` gets its descriptor, digest and parsed document. Docker v2
/// manifests (which cannot carry a subject) and non-manifests are skipped.
fn walk(
    store: &Store<'_>,
    top: &[image::Descriptor],
    location: &str,
    mut visit: impl FnMut(&image::Descriptor, &Digest, &RawDoc) -> Result<(), SourceError>,
) -> Result<(), SourceError> {
    let mut queue: VecDeque<(image::Descriptor, usize)> =
        top.iter().cloned().map(|d| (d, 0)).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while let Some((desc, depth)) = queue.pop_front() {
        if !seen.insert(desc.digest.clone()) {
            continue;
        }
        if seen.len() > MAX_CANDIDATES {
            return Err(SourceError::TooLarge {
                what: format!("the set of manifests reachable from index.json ({MAX_CANDIDATES})"),
                location: location.to_owned(),
                limit: MAX_CANDIDATES as u64,
            });
        }
        let declared = desc.media_type.as_deref();
        if matches!(declared, Some(t) if t != OCI_MANIFEST && t != OCI_INDEX && t != DOCKER_MANIFEST_LIST)
        {
            continue;
        }
        let digest = desc.digest(location)?;
        let bytes = store.read_blob(&desc, MAX_MANIFEST_BYTES, "manifest", location)?;
        let here = format!("{location}@{digest}");
        let doc: RawDoc = serde_json::from_slice(&bytes)
            .map_err(|e| SourceError::malformed("manifest", &here, e))?;
        if doc.manifests.is_some() && depth >= MAX_INDEX_DEPTH {
            return Err(SourceError::malformed(
                "index",
                &here,
                "indexes nested too deeply",
            ));
        }
        visit(&desc, &digest, &doc)?;
        if let Some(entries) = doc.manifests {
            queue.extend(entries.into_iter().map(|d| (d, depth + 1)));
        }
    }
    Ok(())
}

/// A manifest with a `subject`, as a referrer of that subject (found in a layout).
fn subject_referrer(desc: &image::Descriptor, digest: &Digest, doc: &RawDoc) -> Option<Referrer> {
    let subject = doc.subject.as_ref()?.digest.clone();
    let artifact_type = doc.artifact_type.clone().or_else(|| {
        doc.config
            .as_ref()
            .and_then(|c| c.media_type.clone())
            .filter(|t| t != EMPTY_CONFIG_MEDIA_TYPE)
    });
    Some(Referrer {
        subject,
        descriptor: Descriptor {
            media_type: doc
                .media_type
                .clone()
                .or(desc.media_type.clone())
                .unwrap_or_else(|| OCI_MANIFEST.to_owned()),
            digest: digest.to_string(),
            size: desc.size,
            artifact_type,
            annotations: doc.annotations.clone().unwrap_or_default(),
            platform: None,
        },
        discovery: Discovery::Layout,
    })
}

/// Every manifest in the layout at `dir` that names a `subject` (OCI 1.1 referrers, as `stella sbom
/// push` and `stella cp` store them: reachable from `index.json`), grouped by subject digest, each
/// list sorted by [`sort_referrers`]. BuildKit's in-index attestation manifests are not included: they
/// are children of their image index, not referrers (see
/// [`crate::referrers::in_index_attestations`]).
pub fn referrers_by_subject_layout(
    dir: &Path,
) -> Result<BTreeMap<String, Vec<Referrer>>, SourceError> {
    let location = location(dir);
    let store = Store::Dir(dir);
    let top = read_top_index(&store, &location)?;
    let mut out: BTreeMap<String, Vec<Referrer>> = BTreeMap::new();
    walk(&store, &top, &location, |desc, digest, doc| {
        if doc.manifests.is_none() {
            if let Some(r) = subject_referrer(desc, digest, doc) {
                out.entry(r.subject.clone()).or_default().push(r);
            }
        }
        Ok(())
    })?;
    for list in out.values_mut() {
        sort_referrers(list);
    }
    Ok(out)
}

/// Sorts referrers deterministically: subject, artifact type, creation time, digest, discovery.
pub fn sort_referrers(referrers: &mut [Referrer]) {
    referrers.sort_by_cached_key(|r| {
        (
            r.subject.clone(),
            r.descriptor.artifact_type.clone(),
            r.descriptor
                .annotations
                .get(crate::referrers::ANNOTATION_CREATED)
                .and_then(|c| crate::timestamp::parse_rfc3339(c)),
            r.descriptor.digest.clone(),
            r.discovery,
        )
    });
}

/// A BuildKit attestation manifest inside an index that describes one of the `wanted` manifests.
fn buildkit_referrer(
    store: &Store<'_>,
    entry: &image::Descriptor,
    wanted: &BTreeSet<String>,
    location: &str,
) -> Result<Option<Referrer>, SourceError> {
    let is_attestation = entry
        .annotations
        .get(ANNOTATION_BUILDKIT_REFERENCE_TYPE)
        .is_some_and(|t| t == BUILDKIT_ATTESTATION_MANIFEST);
    let Some(subject) = entry
        .annotations
        .get(ANNOTATION_BUILDKIT_REFERENCE_DIGEST)
        .filter(|d| is_attestation && wanted.contains(*d))
    else {
        return Ok(None);
    };
    let digest = entry.digest(location)?;
    let bytes = store.read_blob(entry, MAX_MANIFEST_BYTES, "attestation manifest", location)?;
    let here = format!("{location}@{digest}");
    let doc: RawDoc = serde_json::from_slice(&bytes)
        .map_err(|e| SourceError::malformed("attestation manifest", &here, e))?;
    let mut annotations = entry.annotations.clone();
    if let Some(predicate) = doc
        .layers
        .iter()
        .flatten()
        .find(|l| l.media_type.as_deref() == Some(ARTIFACT_IN_TOTO))
        .and_then(|l| l.annotations.get(ANNOTATION_IN_TOTO_PREDICATE_TYPE))
    {
        annotations.insert(
            ANNOTATION_IN_TOTO_PREDICATE_TYPE.to_owned(),
            predicate.clone(),
        );
    }
    Ok(Some(Referrer {
        subject: subject.clone(),
        descriptor: Descriptor {
            media_type: entry
                .media_type
                .clone()
                .unwrap_or_else(|| OCI_MANIFEST.to_owned()),
            digest: digest.to_string(),
            size: entry.size,
            artifact_type: Some(ARTIFACT_IN_TOTO.to_owned()),
            annotations,
            platform: None,
        },
        discovery: Discovery::BuildkitIndex,
    }))
}

/// Reads a referrer found in the layout: its manifest (verified), the media type of its artifact layer
/// and the layer's bytes (verified). For a BuildKit attestation manifest, the first in-toto statement.
pub fn fetch_referrer_layout(
    dir: &Path,
    referrer: &Referrer,
) -> Result<(Vec<u8>, String, Vec<u8>), SourceError> {
    let location = location(dir);
    let store = Store::Dir(dir);
    let desc = image::Descriptor {
        media_type: Some(referrer.descriptor.media_type.clone()),
        digest: referrer.descriptor.digest.clone(),
        size: referrer.descriptor.size,
        platform: None,
        annotations: BTreeMap::new(),
        artifact_type: None,
    };
    let digest = desc.digest(&location)?;
    let here = format!("{location}@{digest}");
    let manifest = store.read_blob(&desc, MAX_MANIFEST_BYTES, "referrer manifest", &location)?;
    let doc: RawDoc = serde_json::from_slice(&manifest)
        .map_err(|e| SourceError::malformed("referrer manifest", &here, e))?;
    if referrer.discovery != Discovery::BuildkitIndex {
        let subject = doc.subject.as_ref().map(|s| s.digest.as_str());
        if subject != Some(referrer.subject.as_str()) {
            return Err(SourceError::malformed(
                "referrer manifest",
                &here,
                format!(
                    "its subject is {}, not {}",
                    subject.unwrap_or("(none)"),
                    referrer.subject
                ),
            ));
        }
    }
    let layers = doc.layers.unwrap_or_default();
    let layer = if referrer.discovery == Discovery::BuildkitIndex {
        layers
            .into_iter()
            .find(|l| l.media_type.as_deref() == Some(ARTIFACT_IN_TOTO))
    } else {
        layers.into_iter().next()
    }
    .ok_or_else(|| SourceError::malformed("referrer manifest", &here, "has no artifact layer"))?;
    let media_type = layer
        .media_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let bytes = store.read_blob(&layer, MAX_ARTIFACT_BYTES, "referrer layer", &location)?;
    Ok((manifest, media_type, bytes))
}

/// The manifests an image reference makes subjects of referrers.
struct Subjects {
    /// The image index the tag names, if it names one.
    index: Option<Descriptor>,
    /// Its platform manifests (or the single manifest the tag names).
    subjects: Vec<Descriptor>,
}

enum Which<'a> {
    /// Every platform manifest of an index.
    All,
    /// Push: every platform manifest when `None`, else the one for the platform.
    Push(Option<&'a Platform>),
}

fn subjects(
    store: &Store<'_>,
    top: &[image::Descriptor],
    tag: Option<&str>,
    which: Which<'_>,
    location: &str,
) -> Result<Subjects, SourceError> {
    let platform = match which {
        Which::All | Which::Push(None) => None,
        Which::Push(Some(p)) => Some(p),
    };
    let images: Vec<&image::Descriptor> =
        top.iter().filter(|d| d.artifact_type.is_none()).collect();
    if let Some(found) = platform_manifest_by_digest(store, &images, tag, location)? {
        let bytes = store.read_blob(&found, MAX_MANIFEST_BYTES, "manifest", location)?;
        let subject = to_descriptor(&found, &bytes);
        if let Some(p) = platform {
            check_platform(&subject, store, &bytes, p, location)?;
        }
        return Ok(Subjects {
            index: None,
            subjects: vec![subject],
        });
    }
    // Untagged per-platform entries: index.json itself is the image index.
    let index_json_is_index = tag.is_none()
        && images.len() > 1
        && images
            .iter()
            .all(|d| d.platform.is_some() && !d.annotations.contains_key(REF_NAME));
    let (index, entries) = if index_json_is_index {
        (None, images.into_iter().cloned().collect::<Vec<_>>())
    } else {
        let chosen = choose_top(top, tag, None, location)?;
        let digest = chosen.digest(location)?;
        let bytes = store.read_blob(&chosen, MAX_MANIFEST_BYTES, "manifest", location)?;
        let here = format!("{location}@{digest}");
        match ManifestDoc::parse(&bytes, chosen.media_type.as_deref(), &here)? {
            ManifestDoc::Manifest { .. } => {
                let subject = to_descriptor(&chosen, &bytes);
                if let Some(p) = platform {
                    check_platform(&subject, store, &bytes, p, location)?;
                }
                return Ok(Subjects {
                    index: None,
                    subjects: vec![subject],
                });
            }
            ManifestDoc::Index(entries) => (Some(to_descriptor(&chosen, &bytes)), entries),
        }
    };
    let chosen: Vec<&image::Descriptor> = match platform {
        Some(p) => vec![select_platform(&entries, Some(p), location)?],
        None => entries.iter().filter(|d| !d.is_attestation()).collect(),
    };
    let mut subjects = Vec::with_capacity(chosen.len());
    for d in chosen {
        let bytes = store.read_blob(d, MAX_MANIFEST_BYTES, "manifest", location)?;
        subjects.push(to_descriptor(d, &bytes));
    }
    Ok(Subjects { index, subjects })
}

/// For a `sha256:<hex>` "tag" that names no entry of `index.json` but a platform manifest of one of
/// its image indexes (an image pinned by the digest of the manifest it runs): that manifest's entry.
fn platform_manifest_by_digest(
    store: &Store<'_>,
    images: &[&image::Descriptor],
    tag: Option<&str>,
    location: &str,
) -> Result<Option<image::Descriptor>, SourceError> {
    let Some(wanted) = tag.filter(|t| t.starts_with("sha256:")) else {
        return Ok(None);
    };
    let named = |d: &&image::Descriptor| {
        d.digest == wanted || d.annotations.get(REF_NAME).is_some_and(|n| n == wanted)
    };
    if images.iter().any(named) {
        return Ok(None);
    }
    for d in images {
        if !matches!(
            d.media_type.as_deref(),
            Some(OCI_INDEX | DOCKER_MANIFEST_LIST)
        ) {
            continue;
        }
        let digest = d.digest(location)?;
        let bytes = store.read_blob(d, MAX_MANIFEST_BYTES, "index", location)?;
        let here = format!("{location}@{digest}");
        if let ManifestDoc::Index(entries) =
            ManifestDoc::parse(&bytes, d.media_type.as_deref(), &here)?
        {
            if let Some(e) = entries
                .into_iter()
                .find(|e| e.digest == wanted && !e.is_attestation())
            {
                return Ok(Some(e));
            }
        }
    }
    Ok(None)
}

/// A single-platform image asked for with `--platform`: its config must say that platform.
fn check_platform(
    subject: &Descriptor,
    store: &Store<'_>,
    manifest: &[u8],
    wanted: &Platform,
    location: &str,
) -> Result<(), SourceError> {
    let here = format!("{location}@{}", subject.digest);
    let ManifestDoc::Manifest { config, .. } =
        ManifestDoc::parse(manifest, Some(&subject.media_type), &here)?
    else {
        return Ok(());
    };
    let raw = store.read_blob(&config, crate::MAX_CONFIG_BYTES, "config", location)?;
    let config = crate::ImageConfig::parse(&raw, &here)?;
    image::check_config_platform(&config, Some(wanted), location)
}

/// The public descriptor of a manifest: media type from the index entry, else from the document.
fn to_descriptor(d: &image::Descriptor, bytes: &[u8]) -> Descriptor {
    let from_doc = || {
        serde_json::from_slice::<RawDoc>(bytes)
            .ok()
            .and_then(|doc| doc.media_type)
    };
    Descriptor {
        media_type: d
            .media_type
            .clone()
            .or_else(from_doc)
            .unwrap_or_else(|| OCI_MANIFEST.to_owned()),
        digest: d.digest.clone(),
        size: d.size,
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    }
}

/// What discovery reads of a manifest or index.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<image::Descriptor>,
    layers: Option<Vec<image::Descriptor>>,
    manifests: Option<Vec<image::Descriptor>>,
    subject: Option<image::Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

pub(crate) fn location(dir: &Path) -> String {
    format!("oci:{}", dir.display())
}

/// A name for a temporary file no other thread or process uses.
pub(crate) fn temp_name(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        ".{stem}.stella-tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SourceError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(temp_name(&stem));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(SourceError::io(path, e));
    }
    // Make the rename itself durable; not every platform lets a directory be opened for this.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Stores `bytes` as a blob of the layout, unless a blob of that digest and size is already there.
fn write_blob(dir: &Path, bytes: &[u8]) -> Result<(), SourceError> {
    let digest = Digest::sha256_of(bytes);
    let path = dir.join(digest.layout_path());
    if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| SourceError::io(parent, e))?;
    }
    write_atomic(&path, bytes)
}

/// Adds the referrer manifests to `index.json` (untagged), keeping everything else in it as it was.
/// Must be called with the layout locked.
fn add_to_index(dir: &Path, location: &str, manifests: &[&Descriptor]) -> Result<(), SourceError> {
    edit_index(
        dir,
        location,
        "index.json with the new referrers",
        |entries| {
            let mut changed = false;
            for m in manifests {
                let present = entries
                    .iter()
                    .any(|e| e.get("digest").and_then(Value::as_str) == Some(m.digest.as_str()));
                if present {
                    continue;
                }
                let mut entry = serde_json::Map::new();
                entry.insert("mediaType".to_owned(), Value::from(m.media_type.clone()));
                entry.insert("digest".to_owned(), Value::from(m.digest.clone()));
                entry.insert("size".to_owned(), Value::from(m.size));
                if let Some(t) = &m.artifact_type {
                    entry.insert("artifactType".to_owned(), Value::from(t.clone()));
                }
                entries.push(Value::Object(entry));
                changed = true;
            }
            changed
        },
    )
}

/// Read-modify-write of `index.json`'s `manifests`: `edit` changes the entries and says whether it
/// did; only then is the file replaced (atomically), everything else in it kept as it was. Must be
/// called with the layout locked. `what` names the result in a size error.
pub(crate) fn edit_index(
    dir: &Path,
    location: &str,
    what: &str,
    edit: impl FnOnce(&mut Vec<Value>) -> bool,
) -> Result<(), SourceError> {
    let path = dir.join("index.json");
    let store = Store::Dir(dir);
    let bytes = store
        .read("index.json", MAX_MANIFEST_BYTES, "index.json", location)?
        .ok_or_else(|| SourceError::NotOciLayout {
            location: location.to_owned(),
            reason: "no 'index.json' file".to_owned(),
        })?;
    let mut doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| SourceError::malformed("index.json", location, e))?;
    let entries = doc
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| SourceError::malformed("index.json", location, "no 'manifests' array"))?;
    if !edit(entries) {
        return Ok(());
    }
    let out =
        serde_json::to_vec(&doc).map_err(|e| SourceError::malformed("index.json", location, e))?;
    if out.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(SourceError::TooLarge {
            what: what.to_owned(),
            location: location.to_owned(),
            limit: MAX_MANIFEST_BYTES,
        });
    }
    write_atomic(&path, &out)
}

/// Writes an image we built into the OCI layout at `dir` and tags it `tag`
/// (`org.opencontainers.image.ref.name`): creates the layout when `dir` is missing or empty, or adds
/// to the layout already there (a directory with other content and no `oci-layout` file is refused).
/// Blobs are written first (each atomically; those already present are kept), then `index.json` is
/// replaced atomically under the layout lock: an entry that had the tag loses it (the entry is
/// dropped, its blobs stay), the new manifest gets it. Writing the same image again changes nothing.
/// Returns the manifest's descriptor.
pub fn write_image_layout(
    dir: &Path,
    tag: &str,
    image: &ImageUpload,
) -> Result<Descriptor, SourceError> {
    let location = location(dir);
    if tag.is_empty() || tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SourceError::InvalidSource {
            input: format!("{location}:{tag}"),
            reason: "the tag is empty or has white space or control characters".to_owned(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| SourceError::io(dir, e))?;
    let _lock = LayoutLock::acquire(dir, LOCK_WAIT)?;
    ensure_layout(dir, &location)?;
    for (_, bytes) in image.blobs() {
        write_blob(dir, bytes)?;
    }
    write_blob(dir, image.manifest())?;
    let descriptor = image.descriptor();
    let mut entry = serde_json::to_value(descriptor)
        .map_err(|e| SourceError::malformed("index entry", &location, e))?;
    if let Some(map) = entry.as_object_mut() {
        let mut annotations = serde_json::Map::new();
        annotations.insert(REF_NAME.to_owned(), Value::from(tag));
        map.insert("annotations".to_owned(), Value::Object(annotations));
    }
    edit_index(dir, &location, "index.json with the new image", |entries| {
        let tagged = |e: &Value| {
            e.pointer("/annotations").and_then(|a| a.get(REF_NAME)) == Some(&Value::from(tag))
        };
        if entries.iter().filter(|e| tagged(e)).count() == 1 && entries.contains(&entry) {
            return false;
        }
        entries.retain(|e| !tagged(e));
        entries.push(entry);
        true
    })?;
    Ok(descriptor.clone())
}

/// Makes `dir` (locked, existing) an OCI layout if it is empty; leaves an existing layout alone.
fn ensure_layout(dir: &Path, location: &str) -> Result<(), SourceError> {
    if dir.join("oci-layout").is_file() {
        if !dir.join("index.json").is_file() {
            return Err(SourceError::NotOciLayout {
                location: location.to_owned(),
                reason: "it has an 'oci-layout' file but no 'index.json'".to_owned(),
            });
        }
        return Ok(());
    }
    let others = std::fs::read_dir(dir)
        .map_err(|e| SourceError::io(dir, e))?
        .filter_map(Result::ok)
        .any(|e| e.file_name() != "index.json.lock");
    if others {
        return Err(SourceError::NotOciLayout {
            location: location.to_owned(),
            reason: "the directory is not empty and has no 'oci-layout' file; refusing to write an image into it".to_owned(),
        });
    }
    write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
    let bytes = serde_json::to_vec(&index)
        .map_err(|e| SourceError::malformed("index.json", location, e))?;
    write_atomic(&dir.join("index.json"), &bytes)
}

/// An exclusive lock on a layout's `index.json`: the file `index.json.lock`, created with
/// `create_new` (atomic on every local file system) and removed on drop.
#[derive(Debug)]
pub(crate) struct LayoutLock {
    path: PathBuf,
}

impl LayoutLock {
    pub(crate) fn acquire(dir: &Path, wait: Duration) -> Result<LayoutLock, SourceError> {
        let path = dir.join("index.json.lock");
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match File::create_new(&path) {
                Ok(mut f) => {
                    // Who holds it, for the error message of whoever waits.
                    let _ = writeln!(f, "stella pid {}", std::process::id());
                    return Ok(LayoutLock { path });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if start.elapsed() >= wait {
                        let holder = std::fs::read_to_string(&path)
                            .ok()
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "unknown holder".to_owned());
                        return Err(SourceError::LayoutLocked {
                            lock: path,
                            holder,
                            waited_secs: wait.as_secs(),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) if e.kind() == ErrorKind::NotFound && !dir.is_dir() => {
                    return Err(SourceError::NotOciLayout {
                        location: location(dir),
                        reason: "no such directory".to_owned(),
                    })
                }
                Err(e) => return Err(SourceError::io(path, e)),
            }
        }
    }
}

impl Drop for LayoutLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_image(layer: &[u8]) -> ImageUpload {
        let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": Descriptor::of(crate::OCI_CONFIG, &config),
            "layers": [Descriptor::of("application/vnd.oci.image.layer.v1.tar", layer)],
        });
        ImageUpload::new(
            serde_json::to_vec(&manifest).unwrap(),
            vec![config, layer.to_vec()],
            None,
        )
        .unwrap()
    }

    #[test]
    fn writes_images_into_new_and_existing_layouts_moving_the_tag() {
        let tmp = std::env::temp_dir().join(format!("stella-write-image-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let dir = tmp.join("layout");
        let a = tiny_image(b"a");
        let d = write_image_layout(&dir, "t", &a).unwrap();
        assert_eq!(&d, a.descriptor());
        let index = std::fs::read(dir.join("index.json")).unwrap();
        write_image_layout(&dir, "t", &a).unwrap();
        assert_eq!(
            std::fs::read(dir.join("index.json")).unwrap(),
            index,
            "unchanged"
        );
        let store = Store::Dir(&dir);
        let top = read_top_index(&store, "x").unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].annotations[REF_NAME], "t");

        let b = tiny_image(b"b");
        write_image_layout(&dir, "other", &a).unwrap();
        write_image_layout(&dir, "t", &b).unwrap();
        let top = read_top_index(&store, "x").unwrap();
        let tags: Vec<(&str, &str)> = top
            .iter()
            .map(|e| (e.annotations[REF_NAME].as_str(), e.digest.as_str()))
            .collect();
        assert_eq!(
            tags,
            [
                ("other", a.descriptor().digest.as_str()),
                ("t", b.descriptor().digest.as_str())
            ]
        );
        for (desc, _) in b.blobs() {
            let digest = Digest::parse(&desc.digest).unwrap();
            assert!(dir.join(digest.layout_path()).is_file());
        }
        assert!(!dir.join("index.json.lock").exists());

        let busy = tmp.join("busy");
        std::fs::create_dir_all(&busy).unwrap();
        std::fs::write(busy.join("mine.txt"), "x").unwrap();
        let e = write_image_layout(&busy, "t", &a).unwrap_err();
        assert!(matches!(e, SourceError::NotOciLayout { .. }), "{e}");
        assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
        assert!(write_image_layout(&dir, "a b", &a).is_err());
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn a_held_lock_times_out_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("stella-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = LayoutLock::acquire(&dir, Duration::ZERO).unwrap();
        let e = LayoutLock::acquire(&dir, Duration::from_millis(30)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("index.json.lock"), "{msg}");
        assert!(
            msg.contains(&format!("stella pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        let again = LayoutLock::acquire(&dir, Duration::ZERO).unwrap();
        drop(again);
        assert!(!dir.join("index.json.lock").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
