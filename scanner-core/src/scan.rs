//! Orchestration: layers in order → overlay → analyzers → inventory with layer attribution.
//!
//! Layers are read in parallel (each on its own thread, decompressing and hashing its stream and keeping
//! only the files analyzers want) and applied to the overlay strictly in order. Every layer is also
//! analyzed on its own, the way Trivy does, so each package can be attributed to the first layer whose own
//! package database already lists it at its current version.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Mutex;

use crate::analyzers;
use crate::cache::{CachedLayer, LayerCache};
use crate::dirfs::DirFs;
use crate::entrytrace::ImageConfig;
use crate::layer::{read_layer_with, LayerChanges, LayerError, Limits};
use crate::model::{Digest, Inventory, LayerInfo, LayerRef, PackageKind};
use crate::overlay::{LayerView, Overlay};

/// Opens a layer's raw (possibly compressed) byte stream.
pub type OpenLayer<'a> =
    Box<dyn Fn() -> std::io::Result<Box<dyn Read + Send + 'a>> + Send + Sync + 'a>;

/// One layer to scan, as the image source describes it.
pub struct LayerInput<'a> {
    /// Blob digest the manifest states; the bytes read are checked against it.
    pub expected_digest: Option<Digest>,
    /// diffID the image config states; the uncompressed stream is checked against it.
    pub expected_diff_id: Option<Digest>,
    /// Blob media type, when known.
    pub media_type: Option<String>,
    /// Blob size, when known.
    pub size: Option<u64>,
    /// History `created_by`, when known.
    pub created_by: Option<String>,
    /// How to open the raw stream.
    pub open: OpenLayer<'a>,
}

impl std::fmt::Debug for LayerInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerInput")
            .field("expected_digest", &self.expected_digest)
            .field("expected_diff_id", &self.expected_diff_id)
            .field("media_type", &self.media_type)
            .finish_non_exhaustive()
    }
}

/// Why an image scan failed as a whole (per-file problems are diagnostics instead).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A layer stream could not be opened.
    #[error("layer {index} ({what}): cannot open: {source}")]
    Open {
        /// Layer position.
        index: usize,
        /// Digest or description of the layer.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A layer stream was corrupt, truncated, or over a limit.
    #[error("layer {index} ({what}): {source}")]
    Layer {
        /// Layer position.
        index: usize,
        /// Digest or description of the layer.
        what: String,
        /// What went wrong.
        source: LayerError,
    },
    /// Bytes did not match the digest the manifest or config promised.
    #[error("layer {index}: {kind} mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Layer position.
        index: usize,
        /// `blob digest` or `diffID`.
        kind: &'static str,
        /// What the manifest/config stated.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
}

/// Options for a scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Resource limits against hostile layers.
    pub limits: Limits,
    /// Worker threads for reading layers (at least 1).
    pub threads: usize,
    /// The image config's Entrypoint/Cmd/Env/WorkingDir: when given, EntryTrace runs and the usage
    /// view is marked ([`crate::usage`]).
    pub entrypoint: Option<ImageConfig>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            limits: Limits::default(),
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            entrypoint: None,
        }
    }
}

/// Result of scanning the layers of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageScan {
    /// The merged inventory, packages attributed to layers.
    pub inventory: Inventory,
    /// The layers, with diffIDs as computed from the bytes.
    pub layers: Vec<LayerInfo>,
}

/// What a worker hands back for one layer.
struct LayerDone {
    changes: LayerChanges,
    /// Package identities the layer's own databases list.
    identities: BTreeSet<Identity>,
    /// SHA-256s of this layer's files a scan re-read earlier (from the cache), by relative path.
    digests: Digests,
    /// Blob digests known to hold this layer (see [`CachedLayer::blobs`]).
    blobs: BTreeSet<Digest>,
}

/// SHA-256s of a layer's files by root-relative path (`None`: the layer gave no content).
type Digests = BTreeMap<String, Option<Digest>>;

/// What makes a package "the same" across layers: OS packages by kind, name, version and epoch; a
/// language package also by namespace and the file it was read from (the same npm package can sit in
/// several `node_modules`).
type Identity = crate::cache::Identity;

/// Scans an image's layers, bottom first. `progress` is called with (layers done, total) after each
/// layer is read.
pub fn scan_layers(
    layers: &[LayerInput<'_>],
    opts: &ScanOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImageScan, ScanError> {
    scan_layers_cached(layers, opts, None, progress)
}

/// [`scan_layers`] with a per-layer [`LayerCache`]: a layer whose diffID the image config declares
/// (and whose blob digest the manifest states) is taken from the cache when it holds it, without
/// opening the blob; every layer read is stored under the diffID its bytes hashed to. A cache entry
/// that does not decode is deleted, warned about and the layer read instead, so the result is always
/// the one [`scan_layers`] gives.
pub fn scan_layers_cached(
    layers: &[LayerInput<'_>],
    opts: &ScanOptions,
    cache: Option<&dyn LayerCache>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ImageScan, ScanError> {
    let total = layers.len();
    let results: Mutex<BTreeMap<usize, Result<LayerDone, ScanError>>> = Mutex::new(BTreeMap::new());
    let next = Mutex::new(0usize);
    let threads = opts.threads.clamp(1, total.max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let index = {
                    let Ok(mut n) = next.lock() else { return };
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(input) = layers.get(index) else {
                    return;
                };
                let done = match cache.map(|c| (c, from_cache(c, input, &opts.limits))) {
                    Some((_, Ok(hit))) => Ok(hit),
                    Some((c, Err(prior))) => {
                        read_one(index, input, &opts.limits).map(|mut done| {
                            // Keep what the entry knew of other blobs of the same layer.
                            // (The stored changes carry no blob digest: compare the rest.)
                            let same = |p: &CachedLayer| {
                                p.changes.entries == done.changes.entries
                                    && p.changes.diagnostics == done.changes.diagnostics
                                    && p.changes.uncompressed_size == done.changes.uncompressed_size
                            };
                            if let Some(prior) = prior.filter(|p| same(p)) {
                                let prior = *prior;
                                done.blobs.extend(prior.blobs);
                                done.digests = prior.digests;
                            }
                            put(c, &done, &done.digests, &opts.limits);
                            done
                        })
                    }
                    None => read_one(index, input, &opts.limits),
                };
                let failed = done.is_err();
                if let Ok(mut r) = results.lock() {
                    r.insert(index, done);
                    progress(r.len(), total);
                }
                if failed {
                    // Stop handing out more work; the error is reported below.
                    if let Ok(mut n) = next.lock() {
                        *n = total;
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();

    let mut overlay = Overlay::new(&opts.limits);
    let mut infos = Vec::with_capacity(total);
    let mut per_layer = Vec::with_capacity(total);
    let mut known = Vec::with_capacity(total);
    let mut dones = Vec::with_capacity(total);
    let mut diagnostics = Vec::new();
    for (index, input) in layers.iter().enumerate() {
        // Workers take layers in order and stop after a failure, so a layer that was never read
        // comes after a failed one, whose error has been returned already.
        let done = match results.remove(&index) {
            Some(Ok(done)) => done,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(ScanError::Open {
                    index,
                    what: describe(input),
                    source: std::io::Error::other("layer was not read"),
                })
            }
        };
        let changes = &done.changes;
        diagnostics.extend(changes.diagnostics.iter().cloned());
        overlay.apply(index, changes);
        infos.push(LayerInfo {
            index,
            diff_id: changes.diff_id.clone(),
            digest: input.expected_digest.clone().or_else(|| {
                // A layer given without a manifest: the blob digest is what we computed.
                (changes.blob_digest != changes.diff_id).then(|| changes.blob_digest.clone())
            }),
            media_type: input.media_type.clone(),
            size: input.size,
            created_by: input.created_by.clone(),
        });
        per_layer.push(done.identities.clone());
        known.push(done.digests.clone());
        // Kept only to store digests learned below.
        dones.push(cache.is_some().then_some(done));
    }

    let learned = Mutex::new(BTreeMap::new());
    let inventory = compose(
        &overlay,
        &infos,
        &per_layer,
        diagnostics,
        opts.entrypoint.as_ref(),
        &|missing| rehash(layers, &overlay, missing, &opts.limits, &known, &learned),
    )?;
    // Digests a scan had to read a blob for are kept with the layer, so the next scan needs no blob.
    if let Some(c) = cache {
        for (index, digests) in learned.into_inner().unwrap_or_default() {
            if let Some(Some(done)) = dones.get(index) {
                let mut all = done.digests.clone();
                all.extend(digests);
                put(c, done, &all, &opts.limits);
            }
        }
    }
    Ok(ImageScan {
        inventory,
        layers: infos,
    })
}

/// The SHA-256s of unowned native files (absolute paths), however the caller can read them.
type Rehash<'a> = dyn Fn(&[String]) -> Result<BTreeMap<String, Digest>, ScanError> + 'a;

/// Analyzes the merged view and attributes each package to a layer: what [`scan_layers`] and
/// [`scan_changes`] share once their layers are applied.
fn compose(
    overlay: &Overlay,
    infos: &[LayerInfo],
    per_layer: &[BTreeSet<Identity>],
    diagnostics: Vec<crate::model::Diagnostic>,
    entrypoint: Option<&ImageConfig>,
    rehash: &Rehash<'_>,
) -> Result<Inventory, ScanError> {
    let mut inventory = analyzers::analyze(overlay);
    let missing = crate::ownership::binaries_without_digest(&inventory);
    if !missing.is_empty() {
        let digests = rehash(&missing)?;
        crate::ownership::fill_binary_digests(&mut inventory, &digests);
    }
    if let Some(config) = entrypoint {
        crate::usage::apply(overlay, config, &mut inventory);
    }
    inventory.diagnostics.extend(diagnostics);
    inventory
        .diagnostics
        .extend(overlay.diagnostics().iter().cloned());
    for pkg in &mut inventory.packages {
        let id = identity_of(pkg);
        // A package only the merged view knows (e.g. a lockfile entry whose installed copy a later
        // layer deleted) belongs to the layer that last wrote the file it was read from.
        let last_writer = || {
            let outer = pkg.found_in.split("!/").next().unwrap_or(&pkg.found_in);
            overlay
                .node(outer.trim_start_matches('/'))
                .map(|n| n.layer_index)
        };
        let found = per_layer.iter().position(|ids| ids.contains(&id));
        if let Some(index) = found.or_else(last_writer) {
            if let Some(info) = infos.get(index) {
                pkg.layer = Some(LayerRef {
                    index,
                    diff_id: info.diff_id.clone(),
                    digest: info.digest.clone(),
                });
            }
        }
    }
    inventory.normalize();
    Ok(inventory)
}

/// Scans layers already read into [`LayerChanges`] — a stored [`crate::fragment`] of a base image and
/// the changes a build made on top of it, say — bottom first, as [`scan_layers`] scans image layers.
/// `read` gives the bytes of a file by absolute path; it is asked only for the few native files no
/// package owns whose SHA-256 the changes do not carry already. Packages are attributed to a layer only
/// when its `diff_id` is known (not empty).
pub fn scan_changes(
    layers: &[LayerChanges],
    entrypoint: Option<&ImageConfig>,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Inventory {
    let limits = Limits::default();
    let mut overlay = Overlay::new(&limits);
    let mut infos = Vec::with_capacity(layers.len());
    let mut per_layer = Vec::with_capacity(layers.len());
    let mut diagnostics = Vec::new();
    for (index, changes) in layers.iter().enumerate() {
        diagnostics.extend(changes.diagnostics.iter().cloned());
        overlay.apply(index, changes);
        infos.push(LayerInfo {
            index,
            diff_id: changes.diff_id.clone(),
            digest: None,
            media_type: None,
            size: None,
            created_by: None,
        });
        per_layer.push(if changes.diff_id.0.is_empty() {
            BTreeSet::new()
        } else {
            let own = analyzers::analyze(&LayerView::new(changes, &limits));
            own.packages.iter().map(identity_of).collect()
        });
    }
    let rehash = |missing: &[String]| {
        Ok(missing
            .iter()
            .filter_map(|p| read(p).map(|b| (p.clone(), Digest::sha256_of(&b))))
            .collect())
    };
    let mut inventory = compose(
        &overlay,
        &infos,
        &per_layer,
        diagnostics,
        entrypoint,
        &rehash,
    )
    .unwrap_or_default();
    for p in &mut inventory.packages {
        if p.layer.as_ref().is_some_and(|l| l.diff_id.0.is_empty()) {
            p.layer = None;
        }
    }
    inventory
}

/// Re-reads the layers that last wrote the unowned native files (`paths`, absolute) and returns their
/// SHA-256s. Only these few files need a digest, so hashing every binary during the first pass is
/// avoided; in the common image (every binary owned by a package) this reads nothing.
///
/// A digest `known` already holds (from the cache) is taken from there; the ones read are added to
/// `learned`, by layer.
fn rehash(
    layers: &[LayerInput<'_>],
    overlay: &Overlay,
    paths: &[String],
    limits: &Limits,
    known: &[Digests],
    learned: &Mutex<BTreeMap<usize, Digests>>,
) -> Result<BTreeMap<String, Digest>, ScanError> {
    let mut by_layer: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for p in paths {
        let rel = p.trim_start_matches('/');
        if let Some(n) = overlay.node(rel) {
            match known.get(n.layer_index).and_then(|k| k.get(rel)) {
                Some(Some(d)) => {
                    out.insert(format!("/{rel}"), d.clone());
                }
                Some(None) => {}
                None => {
                    by_layer
                        .entry(n.layer_index)
                        .or_default()
                        .insert(rel.to_owned());
                }
            }
        }
    }
    for (index, wanted) in by_layer {
        let Some(input) = layers.get(index) else {
            continue;
        };
        let what = describe(input);
        let raw = (input.open)().map_err(|source| ScanError::Open {
            index,
            what: what.clone(),
            source,
        })?;
        let wants = |p: &str| wanted.contains(p);
        let changes =
            crate::layer::read_layer(raw, &wants, limits).map_err(|source| ScanError::Layer {
                index,
                what,
                source,
            })?;
        let mut read = BTreeMap::new();
        for c in &changes.entries {
            if let crate::layer::Change::Entry(e) = c {
                if let Some(content) = &e.content {
                    read.insert(e.path.clone(), Digest::sha256_of(content));
                }
            }
        }
        if let Ok(mut l) = learned.lock() {
            let for_layer = l.entry(index).or_default();
            for p in &wanted {
                for_layer.insert(p.clone(), read.get(p).cloned());
            }
        }
        for (p, d) in read {
            out.insert(format!("/{p}"), d);
        }
    }
    Ok(out)
}

/// A layer from the cache, when the image states its diffID and blob digest and the cache holds a
/// usable entry for that pair. Otherwise `Err` with the entry found for the diffID, if any (another
/// blob of the same layer). An entry that does not decode is deleted (and warned about): a miss.
fn from_cache(
    cache: &dyn LayerCache,
    input: &LayerInput<'_>,
    limits: &Limits,
) -> Result<LayerDone, Option<Box<CachedLayer>>> {
    // Only a diffID the image config declares is looked up, and only for a blob a scan has seen
    // hash to it: with no manifest digest the blob digest could only come from reading the blob.
    let (Some(diff_id), Some(blob_digest)) = (&input.expected_diff_id, &input.expected_digest)
    else {
        return Err(None);
    };
    let key = crate::cache::key(diff_id, limits);
    let bytes = cache.get(&key).ok_or(None)?;
    let cached = match crate::cache::decode(&bytes, &key, diff_id, limits) {
        Ok(cached) => cached,
        Err(e) => {
            cache.remove(&key);
            cache.warn(format!(
                "layer cache entry for {diff_id} is unusable ({e}); deleted, the layer is read again"
            ));
            return Err(None);
        }
    };
    if !cached.blobs.contains(blob_digest) {
        return Err(Some(Box::new(cached)));
    }
    let CachedLayer {
        mut changes,
        digests,
        identities,
        blobs,
    } = cached;
    changes.blob_digest = blob_digest.clone();
    Ok(LayerDone {
        changes,
        identities,
        digests,
        blobs,
    })
}

/// Stores a layer under the diffID its bytes hashed to, with the file digests `digests`.
fn put(cache: &dyn LayerCache, done: &LayerDone, digests: &Digests, limits: &Limits) {
    if done.changes.diff_id.0.is_empty() {
        return;
    }
    let key = crate::cache::key(&done.changes.diff_id, limits);
    let layer = CachedLayer {
        changes: LayerChanges {
            blob_digest: Digest(String::new()),
            ..done.changes.clone()
        },
        digests: digests.clone(),
        identities: done.identities.clone(),
        blobs: done.blobs.clone(),
    };
    cache.put(&key, &crate::cache::encode(&key, &layer));
}

/// SHA-256s of a rootfs's unowned native files, read again from the directory.
fn rehash_dir(fs: &DirFs, inv: &mut Inventory) {
    let missing = crate::ownership::binaries_without_digest(inv);
    let mut digests = BTreeMap::new();
    for p in missing {
        if let Ok(Some(content)) = crate::fs::FsView::read(fs, &p) {
            digests.insert(p, Digest::sha256_of(&content));
        }
    }
    crate::ownership::fill_binary_digests(inv, &digests);
}

/// Scans a rootfs directory (every analyzer).
pub fn scan_dir(fs: &DirFs) -> Inventory {
    scan_dir_with(fs, None)
}

/// Scans a rootfs directory and, when `entrypoint` is given, traces it for the usage view.
pub fn scan_dir_with(fs: &DirFs, entrypoint: Option<&ImageConfig>) -> Inventory {
    let mut inv = analyzers::analyze(fs);
    rehash_dir(fs, &mut inv);
    if let Some(config) = entrypoint {
        crate::usage::apply(fs, config, &mut inv);
        inv.normalize();
    }
    inv
}

fn read_one(index: usize, input: &LayerInput<'_>, limits: &Limits) -> Result<LayerDone, ScanError> {
    let what = describe(input);
    let raw = (input.open)().map_err(|source| ScanError::Open {
        index,
        what: what.clone(),
        source,
    })?;
    let wants = |p: &str| analyzers::wants(p);
    let mut changes =
        read_layer_with(raw, &wants, &crate::lang::Standard, limits).map_err(|source| {
            ScanError::Layer {
                index,
                what: what.clone(),
                source,
            }
        })?;
    if let Some(expected) = &input.expected_digest {
        if expected != &changes.blob_digest {
            return Err(ScanError::DigestMismatch {
                index,
                kind: "blob digest",
                expected: expected.clone(),
                actual: changes.blob_digest.clone(),
            });
        }
    }
    if let Some(expected) = &input.expected_diff_id {
        if expected != &changes.diff_id {
            return Err(ScanError::DigestMismatch {
                index,
                kind: "diffID",
                expected: expected.clone(),
                actual: changes.diff_id.clone(),
            });
        }
    }
    for d in &mut changes.diagnostics {
        d.layer.get_or_insert_with(|| changes.diff_id.clone());
    }
    let own = analyzers::analyze(&LayerView::new(&changes, limits));
    let identities = own.packages.iter().map(identity_of).collect();
    Ok(LayerDone {
        digests: BTreeMap::new(),
        blobs: BTreeSet::from([changes.blob_digest.clone()]),
        changes,
        identities,
    })
}

fn identity_of(p: &crate::model::Package) -> Identity {
    let os = p.kind.is_some_and(PackageKind::is_os);
    (
        p.kind,
        p.namespace.clone(),
        p.name.clone(),
        p.version.clone(),
        p.epoch,
        (!os).then(|| p.found_in.clone()),
    )
}

fn describe(input: &LayerInput<'_>) -> String {
    input
        .expected_digest
        .as_ref()
        .or(input.expected_diff_id.as_ref())
        .map_or_else(|| "layer".to_owned(), ToString::to_string)
}
