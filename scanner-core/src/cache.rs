//! The per-layer cache: a layer read once is never read again.
//!
//! A layer's [`LayerChanges`] (its entries, the bytes of the files analyzers want and the facts the
//! extractors found) depend only on the layer's uncompressed tar — its diffID — on the analyzers and on
//! the [`Limits`]. [`key`] derives the cache key from exactly those, and [`encode`] / [`decode`] store
//! the changes losslessly (unlike a [`crate::fragment`], hardlinks, symlink modes and sizes survive), so
//! [`crate::scan::scan_layers_cached`] can apply a cached layer in place of reading its blob and give
//! byte-identical results.
//!
//! [`LayerCache`] is the storage behind it, bytes by key; [`DiskCache`] is the embedded on-disk one:
//! - size-bounded, least recently used entries evicted first (use is the file's mtime, set on each hit);
//! - crash-safe: an entry is written to a temporary file in the cache directory, synced and renamed into
//!   place, so a reader sees a whole entry or none;
//! - safe for concurrent processes: renames are atomic, the last writer of a key wins with an equally
//!   valid entry, and a file that vanishes between listing and reading is a miss;
//! - corruption-detecting: each entry stores the SHA-256 of its payload; a mismatch, a truncated file or
//!   a payload that does not decode is a miss, the entry is deleted and a warning recorded — never a
//!   panic, never a wrong result.
//!
//! What this does *not* do: share entries between machines (a registry or object-store backend can
//! implement [`LayerCache`]), or lock a layer against being scanned twice by parallel processes (both
//! scan it; both write the same entry).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::fragment::EncodedFacts;
use crate::layer::{Change, Entry, EntryKind, LayerChanges, Limits};
use crate::model::{hex, Diagnostic, Digest, PackageKind};

/// Bump whenever an analyzer, extractor or the layer reader changes what it keeps from a layer: old
/// entries then simply miss.
pub const ANALYZER_EPOCH: &str = "1";

/// The analyzer/format version in every key: the crate version and [`ANALYZER_EPOCH`].
pub fn analyzer_version() -> String {
    format!("{}+{ANALYZER_EPOCH}", env!("CARGO_PKG_VERSION"))
}

/// The `format` of an encoded entry.
const FORMAT: &str = "stella-layer-cache";

/// Storage of encoded layers by key. Implementations must never return bytes other than those `put`
/// under the key (or nothing), and must not fail the scan: every problem is a miss.
pub trait LayerCache: Send + Sync {
    /// The bytes stored under `key`, if any.
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores `bytes` under `key` (best effort).
    fn put(&self, key: &str, bytes: &[u8]);
    /// Drops the entry under `key` (one that did not decode).
    fn remove(&self, _key: &str) {}
    /// Records a problem worth telling the user about (a corrupt entry).
    fn warn(&self, _message: String) {}
}

/// The cache key of a layer: the SHA-256 (hex) of the analyzer version, the limits that shaped what
/// was kept, and the diffID.
pub fn key(diff_id: &Digest, limits: &Limits) -> String {
    key_with_version(diff_id, limits, &analyzer_version())
}

/// [`key`] for a given analyzer version.
pub fn key_with_version(diff_id: &Digest, limits: &Limits, version: &str) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update([0]);
    h.update(version.as_bytes());
    h.update([0]);
    h.update(format!("{limits:?}").as_bytes());
    h.update([0]);
    h.update(diff_id.0.as_bytes());
    hex(&h.finalize())
}

/// A layer as the cache holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedLayer {
    /// The layer's changes; `blob_digest` is empty (it depends on the compression, not the layer).
    pub changes: LayerChanges,
    /// SHA-256s of files of this layer that a scan had to re-read (unowned native files), by
    /// root-relative path; `None` when the layer gave no content for the path.
    pub digests: BTreeMap<String, Option<Digest>>,
    /// The identities of the packages the layer's own databases list (for layer attribution), so a
    /// warm scan need not analyze the layer alone again.
    pub identities: BTreeSet<Identity>,
    /// Blob digests seen to hold this layer: a scan read the blob and its uncompressed bytes hashed
    /// to the diffID. Only these blobs are served from the cache, so an image whose config and
    /// manifest disagree fails as it does cold instead of getting another blob's layer.
    pub blobs: BTreeSet<Digest>,
}

/// What makes a package "the same" across layers (kind, namespace, name, version, epoch, and for a
/// language package the file it was read from).
pub type Identity = (
    Option<PackageKind>,
    Option<String>,
    String,
    String,
    Option<u64>,
    Option<String>,
);

/// Why a stored entry was refused.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The zstd payload is corrupt or too large.
    #[error("cache entry does not decompress: {0}")]
    Zstd(std::io::Error),
    /// Not JSON of the expected shape.
    #[error("cache entry is not valid {FORMAT} JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Stored for another key or layer.
    #[error("cache entry belongs to another key or layer")]
    WrongKey,
    /// An entry breaks a rule or a limit.
    #[error("cache entry change {index} ({path:?}): {reason}")]
    Entry {
        /// Position in `entries`.
        index: usize,
        /// The path as stored.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Stored {
    format: String,
    key: String,
    diff_id: Digest,
    uncompressed_size: u64,
    entries: Vec<StoredChange>,
    #[serde(default)]
    diagnostics: Vec<Diagnostic>,
    #[serde(default)]
    digests: BTreeMap<String, Option<Digest>>,
    #[serde(default)]
    blobs: BTreeSet<Digest>,
    identities: BTreeSet<Identity>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
enum StoredChange {
    W { p: String },
    O { p: String },
    E(StoredEntry),
}

#[derive(Serialize, Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Other,
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    p: String,
    k: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    m: u32,
    s: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<Box<EncodedFacts>>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Encodes a layer for the cache under `key`: compact JSON, zstd-compressed.
pub fn encode(key: &str, layer: &CachedLayer) -> Vec<u8> {
    let c = &layer.changes;
    let entries = c
        .entries
        .iter()
        .map(|ch| match ch {
            Change::Whiteout(p) => StoredChange::W { p: p.clone() },
            Change::Opaque(p) => StoredChange::O { p: p.clone() },
            Change::Entry(e) => {
                let (k, l) = match &e.kind {
                    EntryKind::File => (Kind::File, None),
                    EntryKind::Dir => (Kind::Dir, None),
                    EntryKind::Symlink(t) => (Kind::Symlink, Some(t.clone())),
                    EntryKind::Hardlink(t) => (Kind::Hardlink, Some(t.clone())),
                    EntryKind::Other => (Kind::Other, None),
                };
                StoredChange::E(StoredEntry {
                    p: e.path.clone(),
                    k,
                    l,
                    m: e.mode,
                    s: e.size,
                    c: e.content.as_ref().map(|b| b64().encode(b)),
                    x: e.facts.as_ref().map(|f| Box::new(EncodedFacts::of(f))),
                })
            }
        })
        .collect();
    let doc = Stored {
        format: FORMAT.to_owned(),
        key: key.to_owned(),
        diff_id: c.diff_id.clone(),
        uncompressed_size: c.uncompressed_size,
        entries,
        diagnostics: c.diagnostics.clone(),
        digests: layer.digests.clone(),
        blobs: layer.blobs.clone(),
        identities: layer.identities.clone(),
    };
    let json = serde_json::to_vec(&doc).unwrap_or_default();
    zstd::bulk::compress(&json, 1).unwrap_or_default()
}

/// Decodes an entry stored under `key` for the layer `diff_id`, holding it to `limits` as the layer
/// reader holds a tar stream (the cache directory is not trusted more than a layer).
pub fn decode(
    bytes: &[u8],
    key: &str,
    diff_id: &Digest,
    limits: &Limits,
) -> Result<CachedLayer, CacheError> {
    // Kept content is base64 (4/3) plus paths, facts and JSON syntax: bound the inflated size.
    let bound = limits
        .max_wanted_total
        .saturating_mul(2)
        .saturating_add(limits.max_entries.saturating_mul(8192));
    let mut json = Vec::new();
    zstd::stream::read::Decoder::new(bytes)
        .map_err(CacheError::Zstd)?
        .take(bound.saturating_add(1))
        .read_to_end(&mut json)
        .map_err(CacheError::Zstd)?;
    if json.len() as u64 > bound {
        return Err(CacheError::Zstd(std::io::Error::other(
            "payload over the size bound",
        )));
    }
    let doc: Stored = serde_json::from_slice(&json)?;
    if doc.format != FORMAT || doc.key != key || &doc.diff_id != diff_id {
        return Err(CacheError::WrongKey);
    }
    if doc.entries.len() as u64 > limits.max_entries {
        return Err(CacheError::Entry {
            index: 0,
            path: String::new(),
            reason: format!("more than {} entries", limits.max_entries),
        });
    }
    let mut entries = Vec::with_capacity(doc.entries.len());
    for (index, change) in doc.entries.into_iter().enumerate() {
        entries.push(decode_change(index, change, limits)?);
    }
    if doc.identities.len() as u64 > limits.max_entries {
        return Err(CacheError::Entry {
            index: 0,
            path: String::new(),
            reason: format!("more than {} package identities", limits.max_entries),
        });
    }
    for b in &doc.blobs {
        check_sha256(b).map_err(|reason| CacheError::Entry {
            index: 0,
            path: String::new(),
            reason,
        })?;
    }
    for (path, d) in &doc.digests {
        crate::fragment::check_path(path, limits).map_err(|reason| CacheError::Entry {
            index: 0,
            path: path.clone(),
            reason,
        })?;
        if let Some(d) = d {
            check_sha256(d).map_err(|reason| CacheError::Entry {
                index: 0,
                path: path.clone(),
                reason,
            })?;
        }
    }
    Ok(CachedLayer {
        changes: LayerChanges {
            blob_digest: Digest(String::new()),
            diff_id: doc.diff_id,
            uncompressed_size: doc.uncompressed_size,
            entries,
            diagnostics: doc.diagnostics,
        },
        digests: doc.digests,
        identities: doc.identities,
        blobs: doc.blobs,
    })
}

fn check_sha256(d: &Digest) -> Result<(), String> {
    let hex = d.0.strip_prefix("sha256:").unwrap_or("");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("bad sha256 {:?}", d.0));
    }
    Ok(())
}

fn decode_change(
    index: usize,
    change: StoredChange,
    limits: &Limits,
) -> Result<Change, CacheError> {
    let bad = |path: &str, reason: String| CacheError::Entry {
        index,
        path: path.to_owned(),
        reason,
    };
    let e = match change {
        StoredChange::W { p } => {
            crate::fragment::check_path(&p, limits).map_err(|r| bad(&p, r))?;
            return Ok(Change::Whiteout(p));
        }
        StoredChange::O { p } => {
            // `""` is the root.
            if !p.is_empty() {
                crate::fragment::check_path(&p, limits).map_err(|r| bad(&p, r))?;
            }
            return Ok(Change::Opaque(p));
        }
        StoredChange::E(e) => e,
    };
    let p = e.p;
    crate::fragment::check_path(&p, limits).map_err(|r| bad(&p, r))?;
    if e.m > 0o7777 {
        return Err(bad(&p, format!("mode {:o} has bits beyond 7777", e.m)));
    }
    let link = |l: Option<String>| -> Result<String, CacheError> {
        match l {
            Some(l) if l.len() <= limits.max_path_len && !l.contains('\0') => Ok(l),
            _ => Err(bad(&p, "link target missing, too long or holds NUL".into())),
        }
    };
    let kind = match e.k {
        Kind::File => EntryKind::File,
        Kind::Dir => EntryKind::Dir,
        Kind::Other => EntryKind::Other,
        Kind::Symlink => EntryKind::Symlink(link(e.l)?),
        Kind::Hardlink => {
            let t = link(e.l)?;
            crate::fragment::check_path(&t, limits).map_err(|r| bad(&p, r))?;
            EntryKind::Hardlink(t)
        }
    };
    let content = match e.c {
        None => None,
        Some(c) => {
            if !matches!(kind, EntryKind::File | EntryKind::Hardlink(_)) {
                return Err(bad(&p, "content on an entry that is not a file".into()));
            }
            let bytes = b64()
                .decode(c.as_bytes())
                .map_err(|err| bad(&p, format!("content is not base64: {err}")))?;
            if bytes.len() as u64 > limits.max_wanted_file {
                return Err(bad(
                    &p,
                    format!("content over the {} byte limit", limits.max_wanted_file),
                ));
            }
            Some(Arc::<[u8]>::from(bytes))
        }
    };
    let facts = match e.x {
        None => None,
        Some(x) => Some(Arc::new(x.into_facts().map_err(|r| bad(&p, r))?)),
    };
    Ok(Change::Entry(Entry {
        path: p,
        kind,
        mode: e.m,
        size: e.s,
        content,
        facts,
    }))
}

/// The first bytes of every [`DiskCache`] entry file; the payload's SHA-256 and length follow.
const MAGIC: &[u8] = b"STELLA-LAYER-CACHE-1\n";
/// Magic, SHA-256, little-endian length.
const HEADER_LEN: usize = MAGIC.len() + 32 + 8;
/// Entry files end with this; temporary files start with [`TMP_PREFIX`].
const SUFFIX: &str = ".entry";
const TMP_PREFIX: &str = ".tmp-";
/// A temporary file older than this was left by a crashed writer.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// What a [`DiskCache`] did, for reporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries found and verified.
    pub hits: u64,
    /// Keys with no (usable) entry.
    pub misses: u64,
    /// Entries written.
    pub writes: u64,
    /// Entries refused as corrupt (and deleted).
    pub corrupt: u64,
    /// Entries evicted to stay under the size bound.
    pub evicted: u64,
}

/// The embedded on-disk [`LayerCache`] (see the module docs).
pub struct DiskCache {
    dir: PathBuf,
    max_size: u64,
    clock: fn() -> SystemTime,
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    corrupt: AtomicU64,
    evicted: AtomicU64,
    warnings: Mutex<Vec<String>>,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("dir", &self.dir)
            .field("max_size", &self.max_size)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Distinguishes the temporary files of one process's writers.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DiskCache {
    /// Opens (creating it if needed) the cache at `dir`, holding at most `max_size` bytes of entries.
    /// Fails when the directory cannot be created or written.
    pub fn open(dir: &Path, max_size: u64) -> std::io::Result<DiskCache> {
        fs::create_dir_all(dir)?;
        // Prove the directory is writable now rather than failing every put later.
        let probe = dir.join(format!(
            "{TMP_PREFIX}probe-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        File::create(&probe)?;
        let _ = fs::remove_file(&probe);
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            max_size,
            clock: SystemTime::now,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            warnings: Mutex::new(Vec::new()),
        })
    }

    /// Uses `clock` for access times (tests pin it).
    #[must_use]
    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> Self {
        self.clock = clock;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the cache did so far.
    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
        }
    }

    /// The warnings recorded so far (corrupt entries, failed writes), oldest first.
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// The file holding `key`, or `None` for a key that is not a plain name.
    fn path_of(&self, key: &str) -> Option<PathBuf> {
        let plain = !key.is_empty()
            && key.len() <= 128
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plain.then(|| self.dir.join(format!("{key}{SUFFIX}")))
    }

    fn miss(&self) -> Option<Vec<u8>> {
        self.misses.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Deletes a corrupt entry and says so.
    fn refuse(&self, path: &Path, why: &str) -> Option<Vec<u8>> {
        self.corrupt.fetch_add(1, Ordering::Relaxed);
        let _ = fs::remove_file(path);
        self.warn(format!(
            "layer cache entry {} is corrupt ({why}); deleted, the layer is read again",
            path.display()
        ));
        self.miss()
    }

    fn read_entry(&self, path: &Path) -> Option<Vec<u8>> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            // Absent, or evicted / replaced by another process a moment ago.
            Err(_) => return self.miss(),
        };
        let mut raw = Vec::new();
        if let Err(e) = (&mut file)
            .take(self.max_size.saturating_add(1))
            .read_to_end(&mut raw)
        {
            return self.refuse(path, &format!("unreadable: {e}"));
        }
        if raw.len() as u64 > self.max_size {
            return self.refuse(path, "larger than the cache");
        }
        let (Some(magic), Some(sum), Some(len), Some(payload)) = (
            raw.get(..MAGIC.len()),
            raw.get(MAGIC.len()..MAGIC.len() + 32),
            raw.get(MAGIC.len() + 32..HEADER_LEN),
            raw.get(HEADER_LEN..),
        ) else {
            return self.refuse(path, "truncated header");
        };
        if magic != MAGIC {
            return self.refuse(path, "not a cache entry");
        }
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(len);
        if u64::from_le_bytes(len_bytes) != payload.len() as u64 {
            return self.refuse(path, "truncated payload");
        }
        if Sha256::digest(payload).as_slice() != sum {
            return self.refuse(path, "SHA-256 mismatch");
        }
        // Mark as recently used; losing the race with an eviction is harmless.
        let _ = file.set_modified((self.clock)());
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(payload.to_vec())
    }

    fn write_entry(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(
            "{TMP_PREFIX}{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&Sha256::digest(bytes))?;
            f.write_all(&(bytes.len() as u64).to_le_bytes())?;
            f.write_all(bytes)?;
            f.set_modified((self.clock)())?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            // Make the rename itself durable.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Deletes the least recently used entries until the total is under the bound, and temporary
    /// files left by crashed writers.
    fn evict(&self) {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = (self.clock)();
        let mut entries: Vec<(SystemTime, String, u64)> = Vec::new();
        let mut total: u64 = 0;
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.metadata() else { continue };
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if name.starts_with(TMP_PREFIX) {
                if now.duration_since(mtime).is_ok_and(|age| age > STALE_TMP) {
                    let _ = fs::remove_file(e.path());
                }
                continue;
            }
            if name.ends_with(SUFFIX) && meta.is_file() {
                total = total.saturating_add(meta.len());
                entries.push((mtime, name, meta.len()));
            }
        }
        if total <= self.max_size {
            return;
        }
        entries.sort();
        for (_, name, len) in entries {
            if total <= self.max_size {
                break;
            }
            match fs::remove_file(self.dir.join(&name)) {
                Ok(()) => {
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                    total = total.saturating_sub(len);
                }
                // Another process evicted it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    total = total.saturating_sub(len);
                }
                Err(_) => {}
            }
        }
    }
}

impl LayerCache for DiskCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.path_of(key) {
            Some(path) => self.read_entry(&path),
            None => self.miss(),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) {
        let Some(path) = self.path_of(key) else {
            return;
        };
        if (bytes.len() + HEADER_LEN) as u64 > self.max_size {
            return;
        }
        match self.write_entry(&path, bytes) {
            Ok(()) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                self.evict();
            }
            Err(e) => self.warn(format!(
                "cannot write layer cache entry {}: {e}",
                path.display()
            )),
        }
    }

    fn remove(&self, key: &str) {
        if let Some(path) = self.path_of(key) {
            let _ = fs::remove_file(path);
        }
    }

    fn warn(&self, message: String) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message);
        }
    }
}

#[cfg(test)]
mod tests;
