//! Copying an image with everything attached to it (`stella cp`): to carry attested images into an
//! air-gapped site, or between registries and OCI layouts.
//!
//! [`copy`] takes the manifest or image index a [`Target`] names and copies, byte for byte (digests
//! are never changed: nothing is re-serialised), every child manifest of an index (BuildKit's in-index
//! attestation manifests included, they are ordinary children), every config and layer, and then —
//! unless [`CopyOptions::referrers`] is off — the OCI 1.1 referrers of every manifest copied,
//! recursively (a Sigstore bundle that refers to an SBOM that refers to the image comes along).
//!
//! - **Discovery at the source**: a registry's referrers API, else the `sha256-<hex>` tag-schema
//!   fallback index; in a layout, the manifests reachable from `index.json` whose `subject` is the
//!   manifest ([`crate::layout_target::referrers_by_subject_layout`]).
//! - **At the destination** each referrer is made discoverable the way it supports: a registry that
//!   acknowledges the subject on the manifest PUT (`OCI-Subject`, i.e. it has the referrers API)
//!   indexes it itself; otherwise the `sha256-<hex>` fallback index is read-modify-written, as
//!   [`crate::push_referrer`] does. In a layout the referrer manifest is added to `index.json`
//!   untagged, as [`crate::layout_target::push_referrer_layout`] does.
//! - **Verification**: every manifest and blob read is checked against its digest and size before it is
//!   written anywhere. Blobs are streamed (through a file, never held in memory whole); a blob the
//!   destination already has (`HEAD` answers 2xx, or the layout file exists with the right size) is not
//!   copied again.
//! - **Order**: blobs before the manifest that names them, children before their index, the tag last:
//!   a registry never sees the tag move before everything under it is there. A layout gets its
//!   `index.json` last, atomically, under the layout lock; a layout directory this copy created is
//!   removed again when the copy fails, so a failed copy never leaves a half-written layout.
//!
//! What it does **not** do: cross-repository mounts, converting media types, or signing anything. With
//! [`CopyOptions::platform`] only that platform's manifest of an index is copied (as a single-platform
//! image, like `skopeo copy` without `--all`); its referrers come along, but the index's own referrers
//! and BuildKit attestation manifests (children of the index) do not.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde::Serialize;
use serde_json::Value;

use crate::digest::{Digest, Hasher};
use crate::error::SourceError;
use crate::image::{
    self, ManifestDoc, DOCKER_MANIFEST_LIST, MAX_MANIFEST_BYTES, OCI_INDEX, OCI_MANIFEST,
};
use crate::layout::{choose_top, read_top_index, Store, REF_NAME};
use crate::layout_target::{self, LayoutLock};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::referrers::{Descriptor, Referrer};
use crate::remote::{Client, ReqBody};
use crate::target::Target;

/// Manifests (image, index, referrer) one copy handles before it gives up: a guard against a source
/// whose referrers never end.
pub const MAX_MANIFESTS: usize = 10_000;
/// How deep children and referrers of referrers are followed.
const MAX_DEPTH: usize = 16;

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Plain HTTP to loopback registries (either side).
    pub insecure: bool,
    /// Docker config (`auths`, credential helpers); `None` means the default location.
    pub docker_config: Option<PathBuf>,
    /// Copy only this platform's manifest of a multi-platform image.
    pub platform: Option<Platform>,
    /// Copy referrers (recursively). On by default.
    pub referrers: bool,
    /// Where blobs pass through on their way from one registry to another (created if missing; each
    /// file removed once uploaded).
    pub scratch_dir: PathBuf,
}

impl CopyOptions {
    /// HTTPS, default docker config, all platforms, referrers on.
    pub fn new(scratch_dir: PathBuf) -> Self {
        CopyOptions {
            insecure: false,
            docker_config: None,
            platform: None,
            referrers: true,
            scratch_dir,
        }
    }
}

/// Which side of a copy failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Reading: the source is missing, unreachable, corrupt.
    Source,
    /// Writing: the destination is unreachable, refused a write, or is not writable.
    Destination,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

/// A failed copy: which side, and the error (it names the object: digest, URL or path).
#[derive(Debug, thiserror::Error)]
#[error("{side}: {error}")]
pub struct CopyError {
    /// Where it failed.
    pub side: Side,
    /// What failed.
    #[source]
    pub error: SourceError,
}

fn at(side: Side) -> impl Fn(SourceError) -> CopyError {
    move |error| CopyError { side, error }
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    /// The manifest or index copied (and tagged at the destination).
    pub top: Descriptor,
    /// True when `top` is an image index.
    pub index: bool,
    /// Child manifests of the index copied (platform images and BuildKit attestation manifests).
    pub manifests: usize,
    /// Blobs (configs, layers) written to the destination.
    pub blobs_copied: usize,
    /// Blobs the destination already had.
    pub blobs_present: usize,
    /// Bytes of the blobs written.
    pub bytes_copied: u64,
    /// The referrers copied, as found at the source (subject, descriptor, how found), in copy order.
    pub referrers: Vec<Referrer>,
    /// The tag set at the destination, if any.
    pub tag: Option<String>,
}

/// Copies the image `src` names, with its referrers, to `dst` (see the module docs). Returns what was
/// copied; on failure, which side failed and why.
pub async fn copy(src: &Target, dst: &Target, opts: &CopyOptions) -> Result<CopyReport, CopyError> {
    let source = Endpoint::open(src, opts.insecure, opts.docker_config.as_deref(), false)
        .map_err(at(Side::Source))?;
    let (mut top_bytes, mut top) = source.top().await.map_err(at(Side::Source))?;
    if let Some(p) = &opts.platform {
        if top.media_type == OCI_INDEX || top.media_type == DOCKER_MANIFEST_LIST {
            let here = format!("{}@{}", source.location(), top.digest);
            let chosen = match ManifestDoc::parse(&top_bytes, Some(&top.media_type), &here)
                .map_err(at(Side::Source))?
            {
                ManifestDoc::Index(entries) => image::select_platform(&entries, Some(p), &here)
                    .map_err(at(Side::Source))?
                    .clone(),
                ManifestDoc::Manifest { .. } => {
                    return Err(at(Side::Source)(SourceError::malformed(
                        "index",
                        &here,
                        "declared an index but has no 'manifests'",
                    )))
                }
            };
            let desc = public_descriptor(&chosen);
            top_bytes = source.manifest(&desc).await.map_err(at(Side::Source))?;
            top = Descriptor {
                media_type: media_type_of(&top_bytes, Some(&desc.media_type)),
                ..desc
            };
        }
    }
    let tag = destination_tag(src, dst, &top).map_err(at(Side::Destination))?;
    let destination = Dest::open(dst, opts).await.map_err(at(Side::Destination))?;
    let created = destination.created_dir();
    let mut copier = Copier {
        src: source,
        dst: destination,
        opts,
        layout_referrers: None,
        prefetched: Some((top.digest.clone(), top_bytes.clone())),
        done: BTreeMap::new(),
        artifact_types: BTreeMap::new(),
        blobs_seen: BTreeSet::new(),
        report: CopyReport {
            top: top.clone(),
            index: is_index(&top.media_type),
            manifests: 0,
            blobs_copied: 0,
            blobs_present: 0,
            bytes_copied: 0,
            referrers: Vec::new(),
            tag: tag.clone(),
        },
    };
    let result = async {
        copier.copy_manifest(top.clone(), 0, Role::Top).await?;
        copier
            .dst
            .finish(&top, &top_bytes, tag.as_deref())
            .await
            .map_err(at(Side::Destination))
    }
    .await;
    match result {
        Ok(()) => Ok(copier.report),
        Err(e) => {
            // Drop the lock first: removing the directory removes the lock file too.
            drop(copier.dst);
            if let Some(dir) = created {
                let _ = std::fs::remove_dir_all(dir);
            }
            Err(e)
        }
    }
}

/// The tag to set at the destination: the destination's own, else the source's (a layout destination
/// only), else `latest`. A destination pinned by digest must name what is copied and gets no tag.
fn destination_tag(
    src: &Target,
    dst: &Target,
    top: &Descriptor,
) -> Result<Option<String>, SourceError> {
    let pinned = |d: &str, shown: String| {
        if d == top.digest {
            Ok(None)
        } else {
            Err(SourceError::InvalidReference {
                input: shown,
                reason: format!("it names digest {d}, but what is copied is {}", top.digest),
            })
        }
    };
    match dst {
        Target::Remote(r) => match (r.tag(), r.digest()) {
            (Some(t), _) => Ok(Some(t.to_owned())),
            (None, Some(d)) => pinned(&d.to_string(), r.to_string()),
            (None, None) => Ok(Some("latest".to_owned())),
        },
        Target::Layout { tag: Some(t), .. } if t.starts_with("sha256:") => {
            pinned(t, dst.to_string())
        }
        Target::Layout { tag: Some(t), .. } => {
            if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(SourceError::InvalidSource {
                    input: dst.to_string(),
                    reason: "the tag is empty or has white space or control characters".to_owned(),
                });
            }
            Ok(Some(t.clone()))
        }
        Target::Layout { tag: None, .. } => Ok(Some(
            match src {
                Target::Remote(r) => r.tag().map(str::to_owned),
                Target::Layout { tag, .. } => tag.clone().filter(|t| !t.starts_with("sha256:")),
            }
            .unwrap_or_else(|| "latest".to_owned()),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Top,
    Child,
    Referrer,
}

struct Copier<'a> {
    src: Endpoint,
    dst: Dest,
    opts: &'a CopyOptions,
    /// A layout source's referrers by subject, read once.
    layout_referrers: Option<BTreeMap<String, Vec<Referrer>>>,
    /// The top manifest's digest and bytes, read before the copy started.
    prefetched: Option<(String, Vec<u8>)>,
    /// Manifests handled: digest → whether the destination acknowledged its subject.
    done: BTreeMap<String, bool>,
    /// The artifact type of each referrer manifest copied (its `artifactType`, else its config's
    /// media type), for destinations that record it next to the descriptor.
    artifact_types: BTreeMap<String, String>,
    blobs_seen: BTreeSet<String>,
    report: CopyReport,
}

type Boxed<'b, T> = Pin<Box<dyn Future<Output = Result<T, CopyError>> + 'b>>;

impl Copier<'_> {
    /// Copies one manifest: its children, its blobs, itself, then its referrers. Returns whether the
    /// destination acknowledged its `subject` (registries with the referrers API).
    fn copy_manifest(&mut self, desc: Descriptor, depth: usize, role: Role) -> Boxed<'_, bool> {
        Box::pin(async move {
            if let Some(ack) = self.done.get(&desc.digest) {
                return Ok(*ack);
            }
            if self.done.len() >= MAX_MANIFESTS || depth > MAX_DEPTH {
                return Err(at(Side::Source)(SourceError::TooLarge {
                    what: format!(
                        "the graph of manifests and referrers under {} (at most {MAX_MANIFESTS} manifests, {MAX_DEPTH} levels)",
                        self.report.top.digest
                    ),
                    location: self.src.location(),
                    limit: MAX_MANIFESTS as u64,
                }));
            }
            let bytes = match self.prefetched.take() {
                // The top manifest, read (and verified) already.
                Some((digest, bytes)) if digest == desc.digest => bytes,
                _ => self.src.manifest(&desc).await.map_err(at(Side::Source))?,
            };
            let here = format!("{}@{}", self.src.location(), desc.digest);
            let doc: Value = serde_json::from_slice(&bytes)
                .map_err(|e| at(Side::Source)(SourceError::malformed("manifest", &here, e)))?;
            let media_type = media_type_of(&bytes, Some(&desc.media_type));
            if let Some(t) = doc
                .get("artifactType")
                .and_then(Value::as_str)
                .or_else(|| doc.pointer("/config/mediaType").and_then(Value::as_str))
            {
                self.artifact_types
                    .insert(desc.digest.clone(), t.to_owned());
            }
            // Mark before recursing: an index that (maliciously) lists itself ends here.
            self.done.insert(desc.digest.clone(), false);

            if let Some(children) = doc.get("manifests").and_then(Value::as_array) {
                for child in children {
                    let child = parse_descriptor(child, &here).map_err(at(Side::Source))?;
                    let new = !self.done.contains_key(&child.digest);
                    self.copy_manifest(child, depth + 1, Role::Child).await?;
                    if new && role != Role::Referrer {
                        self.report.manifests += 1;
                    }
                }
            }
            let blobs = doc.get("config").into_iter().chain(
                doc.get("layers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
            for blob in blobs {
                let blob = parse_descriptor(blob, &here).map_err(at(Side::Source))?;
                self.copy_blob(&blob).await?;
            }
            let digest = Digest::parse(&desc.digest).map_err(at(Side::Source))?;
            let ack = self
                .dst
                .put_manifest(&digest, &bytes, &media_type)
                .await
                .map_err(at(Side::Destination))?;
            self.done.insert(desc.digest.clone(), ack);

            if self.opts.referrers {
                let subject = Descriptor {
                    media_type: media_type.clone(),
                    digest: desc.digest.clone(),
                    size: bytes.len() as u64,
                    artifact_type: None,
                    annotations: BTreeMap::new(),
                    platform: None,
                };
                for r in self.referrers_of(&desc.digest).await? {
                    if r.descriptor.digest == desc.digest {
                        continue; // a manifest that names itself as its subject
                    }
                    if !self.done.contains_key(&r.descriptor.digest) {
                        self.report.referrers.push(r.clone());
                    }
                    let acknowledged = self
                        .copy_manifest(r.descriptor.clone(), depth + 1, Role::Referrer)
                        .await?;
                    let mut listed = r.descriptor.clone();
                    if listed.artifact_type.is_none() {
                        listed.artifact_type = self.artifact_types.get(&listed.digest).cloned();
                    }
                    listed.platform = None;
                    self.dst
                        .link_referrer(&subject, &listed, acknowledged)
                        .await
                        .map_err(at(Side::Destination))?;
                }
            }
            Ok(ack)
        })
    }

    async fn referrers_of(&mut self, digest: &str) -> Result<Vec<Referrer>, CopyError> {
        match &self.src {
            Endpoint::Remote { client, .. } => {
                let d = Digest::parse(digest).map_err(at(Side::Source))?;
                client
                    .referrers_of(&d, None)
                    .await
                    .map_err(at(Side::Source))
            }
            Endpoint::Layout { dir, .. } => {
                if self.layout_referrers.is_none() {
                    let dir = dir.clone();
                    let all = blocking(move || layout_target::referrers_by_subject_layout(&dir))
                        .await
                        .map_err(at(Side::Source))?;
                    self.layout_referrers = Some(all);
                }
                Ok(self
                    .layout_referrers
                    .as_ref()
                    .and_then(|m| m.get(digest))
                    .cloned()
                    .unwrap_or_default())
            }
        }
    }

    /// Copies one blob unless the destination has it, verified on the way.
    async fn copy_blob(&mut self, blob: &Descriptor) -> Result<(), CopyError> {
        if !self.blobs_seen.insert(blob.digest.clone()) {
            return Ok(());
        }
        let digest = Digest::parse(&blob.digest).map_err(at(Side::Source))?;
        if self
            .dst
            .has_blob(&digest, blob.size)
            .await
            .map_err(at(Side::Destination))?
        {
            self.report.blobs_present += 1;
            return Ok(());
        }
        match (&self.src, &self.dst) {
            (
                Endpoint::Layout {
                    dir: from,
                    location,
                    ..
                },
                Dest::Layout { dir: to, .. },
            ) => {
                let (from, to, location, d, size) = (
                    from.clone(),
                    to.clone(),
                    location.clone(),
                    digest.clone(),
                    blob.size,
                );
                blocking_copy(move || copy_layout_blob(&from, &location, &to, &d, size)).await?;
            }
            (
                Endpoint::Layout {
                    dir: from,
                    location,
                    ..
                },
                Dest::Remote { client, .. },
            ) => {
                let path = layout_blob_path(from, location, &digest, blob.size)
                    .map_err(at(Side::Source))?;
                let (actual, len) = crate::remote::digest_file(&path)
                    .await
                    .map_err(at(Side::Source))?;
                check_blob(&digest, blob.size, &actual, len, location).map_err(at(Side::Source))?;
                client
                    .ensure_blob(blob, ReqBody::File { path, len })
                    .await
                    .map_err(at(Side::Destination))?;
            }
            (Endpoint::Remote { client, .. }, Dest::Layout { dir, .. }) => {
                let into = dir.join(
                    Path::new(&digest.layout_path())
                        .parent()
                        .unwrap_or(Path::new("blobs")),
                );
                std::fs::create_dir_all(&into)
                    .map_err(|e| at(Side::Destination)(SourceError::io(&into, e)))?;
                client
                    .blob_to_file(&digest, blob.size, &into, "blob")
                    .await
                    .map_err(|e| match e {
                        SourceError::Io { .. } => at(Side::Destination)(e),
                        other => at(Side::Source)(other),
                    })?;
            }
            (Endpoint::Remote { client: from, .. }, Dest::Remote { client: to, .. }) => {
                let scratch = &self.opts.scratch_dir;
                std::fs::create_dir_all(scratch)
                    .map_err(|e| at(Side::Destination)(SourceError::io(scratch, e)))?;
                let path = from
                    .blob_to_file(&digest, blob.size, scratch, "blob")
                    .await
                    .map_err(at(Side::Source))?;
                let pushed = to
                    .ensure_blob(
                        blob,
                        ReqBody::File {
                            path: path.clone(),
                            len: blob.size,
                        },
                    )
                    .await;
                let _ = std::fs::remove_file(&path);
                pushed.map_err(at(Side::Destination))?;
            }
        }
        self.report.blobs_copied += 1;
        self.report.bytes_copied += blob.size;
        Ok(())
    }
}

/// Where an image is read from (a copy's source, or what the [`crate::target`] readers read).
pub(crate) enum Endpoint {
    Layout {
        dir: PathBuf,
        tag: Option<String>,
        location: String,
    },
    Remote {
        reference: Reference,
        client: Box<Client>,
    },
}

impl Endpoint {
    pub(crate) fn open(
        target: &Target,
        insecure: bool,
        docker_config: Option<&Path>,
        push: bool,
    ) -> Result<Endpoint, SourceError> {
        Ok(match target {
            Target::Layout { path, tag } => Endpoint::Layout {
                dir: path.clone(),
                tag: tag.clone(),
                location: layout_target::location(path),
            },
            Target::Remote(r) => Endpoint::Remote {
                reference: r.clone(),
                client: Box::new(Client::with(r, insecure, docker_config, push, None)?),
            },
        })
    }

    pub(crate) fn location(&self) -> String {
        match self {
            Endpoint::Layout { location, .. } => location.clone(),
            Endpoint::Remote { client, .. } => client.repo_display(),
        }
    }

    /// The manifest or index the target names: its bytes (verified) and descriptor.
    pub(crate) async fn top(&self) -> Result<(Vec<u8>, Descriptor), SourceError> {
        match self {
            Endpoint::Layout { dir, tag, location } => {
                let (dir, tag, location) = (dir.clone(), tag.clone(), location.clone());
                blocking(move || {
                    let store = Store::Dir(&dir);
                    let entries = read_top_index(&store, &location)?;
                    let chosen = choose_top(&entries, tag.as_deref(), None, &location)?;
                    let bytes =
                        store.read_blob(&chosen, MAX_MANIFEST_BYTES, "manifest", &location)?;
                    let desc = public_descriptor(&chosen);
                    let media_type = media_type_of(&bytes, chosen.media_type.as_deref());
                    Ok((bytes, Descriptor { media_type, ..desc }))
                })
                .await
            }
            Endpoint::Remote { reference, client } => {
                let expected = reference.digest().map(|d| (d, None));
                let (bytes, digest, content_type) = client
                    .manifest(&reference.manifest_reference(), expected)
                    .await?;
                let declared = content_type
                    .as_deref()
                    .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned());
                let media_type = media_type_of(&bytes, declared.as_deref());
                let mut desc = Descriptor::of(&media_type, &bytes);
                desc.digest = digest.to_string();
                Ok((bytes, desc))
            }
        }
    }

    /// A manifest by descriptor, verified against its digest and size.
    pub(crate) async fn manifest(&self, desc: &Descriptor) -> Result<Vec<u8>, SourceError> {
        self.small_blob(desc, MAX_MANIFEST_BYTES, "manifest", true)
            .await
    }

    /// A small blob (manifest, statement) by descriptor, verified against its digest and size.
    pub(crate) async fn small_blob(
        &self,
        desc: &Descriptor,
        limit: u64,
        what: &str,
        is_manifest: bool,
    ) -> Result<Vec<u8>, SourceError> {
        let digest = Digest::parse(&desc.digest)?;
        match self {
            Endpoint::Layout { dir, location, .. } => {
                let (dir, location, what) = (dir.clone(), location.clone(), what.to_owned());
                let raw = private_descriptor(desc);
                blocking(move || Store::Dir(&dir).read_blob(&raw, limit, &what, &location)).await
            }
            Endpoint::Remote { client, .. } if is_manifest => {
                if desc.size > limit {
                    return Err(SourceError::TooLarge {
                        what: format!("{what} {digest}"),
                        location: client.repo_display(),
                        limit,
                    });
                }
                let (bytes, _, _) = client
                    .manifest(&digest.to_string(), Some((&digest, Some(desc.size))))
                    .await?;
                Ok(bytes)
            }
            Endpoint::Remote { client, .. } => {
                client.small_blob(&digest, desc.size, limit, what).await
            }
        }
    }

    /// Every referrer of one manifest: the registry's referrers API or its tag fallback; in a layout
    /// the manifests whose `subject` it is.
    pub(crate) async fn referrers_of(&self, subject: &str) -> Result<Vec<Referrer>, SourceError> {
        let digest = Digest::parse(subject)?;
        match self {
            Endpoint::Remote { client, .. } => client.referrers_of(&digest, None).await,
            Endpoint::Layout { dir, .. } => {
                let dir = dir.clone();
                let mut all =
                    blocking(move || layout_target::referrers_by_subject_layout(&dir)).await?;
                Ok(all.remove(&digest.to_string()).unwrap_or_default())
            }
        }
    }
}

/// Where a copy writes.
enum Dest {
    Layout {
        dir: PathBuf,
        location: String,
        /// Held for the whole copy; `index.json` is written under it, last.
        _lock: LayoutLock,
        /// The directory did not exist: it is removed again if the copy fails.
        created: bool,
        /// `oci-layout` and `index.json` were there already.
        existing: bool,
        /// Referrer manifests to list in `index.json` (untagged), in order.
        referrers: Vec<Descriptor>,
    },
    Remote {
        client: Box<Client>,
    },
}

impl Dest {
    async fn open(target: &Target, opts: &CopyOptions) -> Result<Dest, SourceError> {
        match target {
            Target::Remote(r) => Ok(Dest::Remote {
                client: Box::new(Client::with(
                    r,
                    opts.insecure,
                    opts.docker_config.as_deref(),
                    true,
                    None,
                )?),
            }),
            Target::Layout { path, .. } => {
                let dir = path.clone();
                blocking(move || {
                    let location = layout_target::location(&dir);
                    let created = !dir.exists();
                    std::fs::create_dir_all(&dir).map_err(|e| SourceError::io(&dir, e))?;
                    let lock = match LayoutLock::acquire(&dir, layout_target::LOCK_WAIT) {
                        Ok(l) => l,
                        Err(e) => {
                            if created {
                                let _ = std::fs::remove_dir_all(&dir);
                            }
                            return Err(e);
                        }
                    };
                    let existing = dir.join("oci-layout").is_file();
                    let problem = if existing {
                        (!dir.join("index.json").is_file())
                            .then_some("it has an 'oci-layout' file but no 'index.json'")
                    } else {
                        let others = std::fs::read_dir(&dir)
                            .map_err(|e| SourceError::io(&dir, e))?
                            .filter_map(Result::ok)
                            .any(|e| e.file_name() != "index.json.lock");
                        others.then_some(
                            "the directory is not empty and has no 'oci-layout' file; refusing to write an image into it",
                        )
                    };
                    if let Some(reason) = problem {
                        return Err(SourceError::NotOciLayout {
                            location,
                            reason: reason.to_owned(),
                        });
                    }
                    if existing {
                        // Fail before copying anything when index.json is unreadable.
                        read_top_index(&Store::Dir(&dir), &location)?;
                    }
                    Ok(Dest::Layout {
                        dir,
                        location,
                        _lock: lock,
                        created,
                        existing,
                        referrers: Vec::new(),
                    })
                })
                .await
            }
        }
    }

    fn created_dir(&self) -> Option<PathBuf> {
        match self {
            Dest::Layout {
                dir, created: true, ..
            } => Some(dir.clone()),
            _ => None,
        }
    }

    async fn has_blob(&self, digest: &Digest, size: u64) -> Result<bool, SourceError> {
        match self {
            Dest::Layout { dir, .. } => Ok(std::fs::metadata(dir.join(digest.layout_path()))
                .is_ok_and(|m| m.is_file() && m.len() == size)),
            Dest::Remote { client } => client.blob_exists(digest).await,
        }
    }

    /// Writes a manifest (by digest); true when a registry acknowledged its subject.
    async fn put_manifest(
        &self,
        digest: &Digest,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<bool, SourceError> {
        match self {
            Dest::Layout { dir, .. } => {
                let path = dir.join(digest.layout_path());
                if std::fs::metadata(&path)
                    .is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
                {
                    return Ok(false);
                }
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| SourceError::io(parent, e))?;
                }
                layout_target::write_atomic(&path, bytes)?;
                Ok(false)
            }
            Dest::Remote { client } => {
                client
                    .put_manifest(&digest.to_string(), bytes, media_type)
                    .await
            }
        }
    }

    /// Makes `referrer` discoverable as a referrer of `subject`.
    async fn link_referrer(
        &mut self,
        subject: &Descriptor,
        referrer: &Descriptor,
        acknowledged: bool,
    ) -> Result<(), SourceError> {
        match self {
            Dest::Layout { referrers, .. } => {
                if !referrers.iter().any(|r| r.digest == referrer.digest) {
                    referrers.push(referrer.clone());
                }
                Ok(())
            }
            Dest::Remote { client } => {
                if !acknowledged {
                    client.add_to_fallback(subject, referrer).await?;
                }
                Ok(())
            }
        }
    }

    /// Tags the copied image: a registry gets the manifest PUT under the tag; a layout gets its
    /// `index.json` (new, or edited: the tag moved, the referrers added), atomically.
    async fn finish(
        &mut self,
        top: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), SourceError> {
        match self {
            Dest::Remote { client } => {
                if let Some(t) = tag {
                    client.put_manifest(t, bytes, &top.media_type).await?;
                }
                Ok(())
            }
            Dest::Layout {
                dir,
                location,
                existing,
                referrers,
                ..
            } => {
                let mut top_entry = serde_json::Map::new();
                top_entry.insert("mediaType".to_owned(), Value::from(top.media_type.clone()));
                top_entry.insert("digest".to_owned(), Value::from(top.digest.clone()));
                top_entry.insert("size".to_owned(), Value::from(top.size));
                if let Some(t) = tag {
                    top_entry.insert("annotations".to_owned(), serde_json::json!({ REF_NAME: t }));
                }
                let top_entry = Value::Object(top_entry);
                let referrer_entries: Vec<Value> = referrers
                    .iter()
                    .filter_map(|r| serde_json::to_value(r).ok())
                    .collect();
                if !*existing {
                    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
                        .map_err(|e| SourceError::io(dir.join("oci-layout"), e))?;
                    let mut manifests = vec![top_entry];
                    manifests.extend(referrer_entries);
                    let index = serde_json::json!({
                        "schemaVersion": 2,
                        "mediaType": OCI_INDEX,
                        "manifests": manifests,
                    });
                    let out = serde_json::to_vec(&index)
                        .map_err(|e| SourceError::malformed("index.json", location, e))?;
                    return layout_target::write_atomic(&dir.join("index.json"), &out);
                }
                layout_target::edit_index(
                    dir,
                    location,
                    "index.json with the copied image",
                    |entries| {
                        let before = entries.clone();
                        let is_tagged = |e: &Value| {
                            tag.is_some_and(|t| {
                                e.pointer("/annotations").and_then(|a| a.get(REF_NAME))
                                    == Some(&Value::from(t))
                            })
                        };
                        // The tag moves to the copied image (an entry that had it is dropped, its
                        // blobs stay), unless it is already there as it would be written.
                        let already = entries.contains(&top_entry);
                        if !already {
                            entries.retain(|e| !is_tagged(e));
                            let untagged_there = tag.is_none()
                                && entries.iter().any(|e| {
                                    e.get("digest").and_then(Value::as_str)
                                        == Some(top.digest.as_str())
                                });
                            if !untagged_there {
                                entries.push(top_entry);
                            }
                        }
                        let present = |entries: &[Value], digest: &str| {
                            entries
                                .iter()
                                .any(|e| e.get("digest").and_then(Value::as_str) == Some(digest))
                        };
                        for r in referrer_entries {
                            let d = r
                                .get("digest")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned();
                            if !present(entries, &d) {
                                entries.push(r);
                            }
                        }
                        *entries != before
                    },
                )
            }
        }
    }
}

/// The public descriptor of an index entry (media type defaulting to an OCI manifest).
fn public_descriptor(d: &image::Descriptor) -> Descriptor {
    Descriptor {
        media_type: d
            .media_type
            .clone()
            .unwrap_or_else(|| OCI_MANIFEST.to_owned()),
        digest: d.digest.clone(),
        size: d.size,
        artifact_type: d.artifact_type.clone(),
        annotations: d.annotations.clone(),
        platform: None,
    }
}

fn private_descriptor(d: &Descriptor) -> image::Descriptor {
    image::Descriptor {
        media_type: Some(d.media_type.clone()),
        digest: d.digest.clone(),
        size: d.size,
        platform: None,
        annotations: BTreeMap::new(),
        artifact_type: None,
    }
}

/// A descriptor inside a manifest (a child, config or layer): digest and size must be there.
fn parse_descriptor(v: &Value, here: &str) -> Result<Descriptor, SourceError> {
    let digest = v
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| SourceError::malformed("manifest", here, "a descriptor has no 'digest'"))?;
    Digest::parse(digest).map_err(|e| SourceError::malformed("manifest", here, e))?;
    let size = v.get("size").and_then(Value::as_u64).ok_or_else(|| {
        SourceError::malformed(
            "manifest",
            here,
            format!("descriptor {digest} has no 'size'"),
        )
    })?;
    let mut d: Descriptor = Descriptor::of("", b"");
    d.media_type = v
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(OCI_MANIFEST)
        .to_owned();
    d.digest = digest.to_owned();
    d.size = size;
    d.artifact_type = v
        .get("artifactType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(a) = v.get("annotations") {
        d.annotations = serde_json::from_value(a.clone()).unwrap_or_default();
    }
    Ok(d)
}

/// A manifest's media type: its own `mediaType`, else the declared one (descriptor, `Content-Type`),
/// else by shape (`manifests` → index).
pub(crate) fn media_type_of(bytes: &[u8], declared: Option<&str>) -> String {
    let doc: Option<Value> = serde_json::from_slice(bytes).ok();
    let own = doc
        .as_ref()
        .and_then(|d| d.get("mediaType"))
        .and_then(Value::as_str);
    let declared =
        declared.filter(|d| !d.is_empty() && *d != "application/json" && *d != "text/plain");
    match own.or(declared) {
        Some(t) => t.to_owned(),
        None if doc.as_ref().is_some_and(|d| d.get("manifests").is_some()) => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    }
}

fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The file of a blob in a layout, present with the right size.
fn layout_blob_path(
    dir: &Path,
    location: &str,
    digest: &Digest,
    size: u64,
) -> Result<PathBuf, SourceError> {
    let path = dir.join(digest.layout_path());
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => {
            if m.len() != size {
                return Err(SourceError::SizeMismatch {
                    what: "blob".to_owned(),
                    digest: digest.to_string(),
                    location: location.to_owned(),
                    expected: size,
                    actual: m.len(),
                });
            }
            Ok(path)
        }
        _ => Err(SourceError::MissingBlob {
            what: "blob".to_owned(),
            digest: digest.to_string(),
            location: location.to_owned(),
        }),
    }
}

fn check_blob(
    digest: &Digest,
    size: u64,
    actual: &Digest,
    len: u64,
    location: &str,
) -> Result<(), SourceError> {
    if len != size {
        return Err(SourceError::SizeMismatch {
            what: "blob".to_owned(),
            digest: digest.to_string(),
            location: location.to_owned(),
            expected: size,
            actual: len,
        });
    }
    if actual != digest {
        return Err(SourceError::DigestMismatch {
            what: format!("blob {digest}"),
            location: location.to_owned(),
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// Copies a blob from one layout into another: streamed into a temporary file beside its final name
/// while hashed, checked, fsynced, renamed. Nothing unverified ever gets the final name.
fn copy_layout_blob(
    from: &Path,
    location: &str,
    to: &Path,
    digest: &Digest,
    size: u64,
) -> Result<(), CopyError> {
    let src = layout_blob_path(from, location, digest, size).map_err(at(Side::Source))?;
    let dst = to.join(digest.layout_path());
    let parent = dst.parent().unwrap_or(to).to_owned();
    std::fs::create_dir_all(&parent)
        .map_err(|e| at(Side::Destination)(SourceError::io(&parent, e)))?;
    let tmp = parent.join(layout_target::temp_name(digest.hex()));
    let result = (|| {
        let mut input =
            std::fs::File::open(&src).map_err(|e| at(Side::Source)(SourceError::io(&src, e)))?;
        let mut output = std::fs::File::create(&tmp)
            .map_err(|e| at(Side::Destination)(SourceError::io(&tmp, e)))?;
        let mut hasher = Hasher::new(digest.algorithm());
        let mut buf = vec![0u8; 1 << 16];
        let mut len = 0u64;
        loop {
            let n = input
                .read(&mut buf)
                .map_err(|e| at(Side::Source)(SourceError::io(&src, e)))?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            len += n as u64;
            output
                .write_all(chunk)
                .map_err(|e| at(Side::Destination)(SourceError::io(&tmp, e)))?;
        }
        check_blob(digest, size, &hasher.finish(), len, location).map_err(at(Side::Source))?;
        output
            .sync_all()
            .map_err(|e| at(Side::Destination)(SourceError::io(&tmp, e)))?;
        std::fs::rename(&tmp, &dst).map_err(|e| at(Side::Destination)(SourceError::io(&dst, e)))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SourceError::Task(e.to_string()))?
}

async fn blocking_copy(
    f: impl FnOnce() -> Result<(), CopyError> + Send + 'static,
) -> Result<(), CopyError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CopyError {
            side: Side::Destination,
            error: SourceError::Task(e.to_string()),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_from_the_document_then_the_declaration_then_the_shape() {
        assert_eq!(
            media_type_of(br#"{"mediaType":"x/y","manifests":[]}"#, Some("a/b")),
            "x/y"
        );
        assert_eq!(media_type_of(br#"{"manifests":[]}"#, Some("a/b")), "a/b");
        assert_eq!(
            media_type_of(br#"{"manifests":[]}"#, Some("application/json")),
            OCI_INDEX
        );
        assert_eq!(media_type_of(br#"{"layers":[]}"#, None), OCI_MANIFEST);
    }

    #[test]
    fn destination_tags() {
        let top = Descriptor::of(OCI_MANIFEST, b"m");
        let t = |s: &str| Target::parse(s).unwrap();
        let src = t("127.0.0.1:5000/a:v1");
        assert_eq!(
            destination_tag(&src, &t("oci:/x"), &top)
                .unwrap()
                .as_deref(),
            Some("v1")
        );
        assert_eq!(
            destination_tag(&src, &t("oci:/x:mine"), &top)
                .unwrap()
                .as_deref(),
            Some("mine")
        );
        assert_eq!(
            destination_tag(&src, &t("127.0.0.1:5000/b"), &top)
                .unwrap()
                .as_deref(),
            Some("latest")
        );
        let pinned = format!("127.0.0.1:5000/b@{}", top.digest);
        assert_eq!(destination_tag(&src, &t(&pinned), &top).unwrap(), None);
        let other = format!(
            "127.0.0.1:5000/b@{}",
            Descriptor::of(OCI_MANIFEST, b"n").digest
        );
        assert!(destination_tag(&src, &t(&other), &top).is_err());
    }
}
