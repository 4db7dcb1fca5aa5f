//! Reading one image layer: a tar stream, plain or gzip- or zstd-compressed, into the list of changes it
//! makes, keeping the bytes of only the files an analyzer asked for.
//!
//! [`read_layer`] is a single streaming pass over the blob. While it parses the tar it computes the blob
//! digest (sha256 of the raw, possibly compressed bytes) and the diffID (sha256 of the uncompressed tar,
//! trailing blocks included), and it reads both streams to their end so the digests cover every byte. Memory
//! stays bounded by the [`Limits`]: content is kept only for wanted regular files, tar metadata records
//! (GNU long names, PAX headers) are capped at 1 MiB, and skipped data is never buffered.
//!
//! The tar parser is our own rather than the `tar` crate's: the crate reads GNU long-name and PAX records
//! into memory without a bound and its errors carry no stream offset; ours does both, and parses ustar, GNU
//! (long names and links, old-style sparse files) and PAX (`path`, `linkpath`, `size`, `GNU.sparse.*`)
//! following Go's `archive/tar`, which is what produced and extracts most layers.
//!
//! Semantics worth knowing:
//! - Paths are normalised (`./`, `/`, `//` and `.` removed, `a/../b` folded); a name that climbs above the
//!   root, is empty, holds NUL or is longer than [`Limits::max_path_len`] is skipped with a diagnostic.
//! - Whiteouts follow the OCI image spec: `.wh.<name>` becomes [`Change::Whiteout`] of the sibling
//!   `<name>`, `.wh..wh..opq` becomes [`Change::Opaque`] of its directory, other `.wh..wh.*` names (AUFS
//!   bookkeeping) are dropped.
//! - Entries are reported in tar order and duplicates are kept: when a path appears twice the later entry
//!   wins, as it does for tar extraction, because consumers apply changes in order.
//! - A hardlink whose target is an earlier file of the same layer with kept content shares that content
//!   (and reports the target's size).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

mod gzip;

use crate::facts::{Extractor, Facts, NoFacts, HEAD_LEN};
use crate::model::{hex, Diagnostic, Digest};

/// Bounds on what one layer may cost. Every input is hostile: a 10 MB gzip can inflate to 10 GB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Maximum uncompressed tar bytes per layer (exceeding it is an error). Default 64 GiB.
    pub max_layer_bytes: u64,
    /// Maximum tar entries per layer, metadata records included (exceeding it is an error).
    /// Default 2 000 000.
    pub max_entries: u64,
    /// Largest wanted file whose content is kept; a larger one gets a diagnostic. Default 512 MiB.
    pub max_wanted_file: u64,
    /// Total kept content per layer; files past it get a diagnostic. Default 1 GiB.
    pub max_wanted_total: u64,
    /// Largest file handed to the content extractors (binaries, archives); a larger one gets a
    /// diagnostic. Default 256 MiB.
    pub max_extract_file: u64,
    /// Longest accepted path (and symlink target) in bytes. Default 4096.
    pub max_path_len: usize,
    /// Symlinks followed while resolving one path. Default 40 (Linux `MAXSYMLINKS`).
    pub max_symlink_hops: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 64 << 30,
            max_entries: 2_000_000,
            max_wanted_file: 512 << 20,
            max_wanted_total: 1 << 30,
            max_extract_file: 256 << 20,
            max_path_len: 4096,
            max_symlink_hops: 40,
        }
    }
}

/// Everything one layer changes, in tar order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerChanges {
    /// sha256 of the blob as read (compressed bytes for a compressed layer).
    pub blob_digest: Digest,
    /// sha256 of the uncompressed tar stream: the layer's diffID.
    pub diff_id: Digest,
    /// Length of the uncompressed tar stream in bytes.
    pub uncompressed_size: u64,
    /// The changes, in tar order (later entries for the same path win).
    pub entries: Vec<Change>,
    /// Entries skipped or not fully kept, each with its path; `layer` is the diffID.
    pub diagnostics: Vec<Diagnostic>,
}

/// One change a layer makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Delete this path and everything below it from the lower layers.
    Whiteout(String),
    /// Hide everything the lower layers have below this directory (`""` is the root).
    Opaque(String),
    /// Create or replace this entry.
    Entry(Entry),
}

/// A file-system entry a layer creates or replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Normalised path relative to the root, never empty.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Size in bytes: the file size for regular files (the real size for sparse files), the target's
    /// size for a hardlink to a kept file of this layer, else as the header states (normally 0).
    pub size: u64,
    /// The bytes, only for regular files (and hardlinks to them) that the `wants` predicate selected.
    pub content: Option<Arc<[u8]>>,
    /// What the content extractors found in a regular file (and hardlinks to it) they were handed.
    pub facts: Option<Facts>,
}

/// The kind of a tar entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link, with its target exactly as stored.
    Symlink(String),
    /// A hardlink, with the normalised path of its target.
    Hardlink(String),
    /// Device nodes, FIFOs and unknown types.
    Other,
}

/// Why a layer could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The blob is compressed with something we do not decode.
    #[error("unsupported layer compression {0} (supported: gzip, zstd, uncompressed tar)")]
    UnsupportedCompression(&'static str),
    /// The compressed stream is corrupt or truncated.
    #[error("corrupt or truncated {format} stream near compressed byte offset {offset}: {source}")]
    Decompress {
        /// `gzip` or `zstd`.
        format: &'static str,
        /// Compressed bytes read when the error surfaced.
        offset: u64,
        /// The decoder's error.
        source: io::Error,
    },
    /// The tar stream is malformed.
    #[error("corrupt tar at uncompressed byte offset {offset}: {reason}")]
    CorruptTar {
        /// Offset of the offending header or record in the uncompressed stream.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The tar stream ended inside a header or an entry's data.
    #[error("truncated tar: stream ended at uncompressed byte offset {offset} inside {inside}")]
    TruncatedTar {
        /// Where the stream ended.
        offset: u64,
        /// What was being read (`a header`, `the data of usr/bin/x`, …).
        inside: String,
    },
    /// A [`Limits`] bound was exceeded.
    #[error("layer exceeds limit {limit} = {value}")]
    LimitExceeded {
        /// Name of the [`Limits`] field.
        limit: &'static str,
        /// Its value.
        value: u64,
    },
    /// Reading the blob itself failed.
    #[error("reading layer blob at byte offset {offset}: {source}")]
    Io {
        /// Raw bytes read before the error.
        offset: u64,
        /// The reader's error.
        source: io::Error,
    },
}

/// Layer compression, by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn detect(head: &[u8]) -> Result<Compression, LayerError> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Compression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Compression::Zstd)
    } else if head.starts_with(b"BZh") {
        Err(LayerError::UnsupportedCompression("bzip2"))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Err(LayerError::UnsupportedCompression("xz"))
    } else {
        Ok(Compression::None)
    }
}

/// A reader that hashes and counts what passes through it, stops past `limit` bytes, and remembers
/// whether the inner reader failed (so errors can be attributed to the right layer of the stack).
/// SHA-256 computed on this thread, or on a thread of its own fed 1 MiB chunks, so that hashing a
/// decompressed stream does not add to the decompressing thread's time.
enum Hasher {
    Inline(Sha256),
    Threaded(ThreadedHash),
}

/// A SHA-256 running on its own thread. Dropping it (a layer that failed half way) stops and joins
/// the thread, so no thread outlives the scan.
struct ThreadedHash {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    done: Option<std::thread::JoinHandle<Sha256>>,
}

impl ThreadedHash {
    fn finish(&mut self) -> Option<Sha256> {
        if let Some(t) = self.tx.take() {
            let _ = t.send(std::mem::take(&mut self.buf));
        }
        self.done.take()?.join().ok()
    }
}

impl Drop for ThreadedHash {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.done.take() {
            let _ = h.join();
        }
    }
}

const HASH_CHUNK: usize = 1 << 20;

impl Hasher {
    fn threaded() -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let spawned = std::thread::Builder::new()
            .name("layer-hash".into())
            .spawn(move || {
                let mut h = Sha256::new();
                for chunk in rx {
                    h.update(&chunk);
                }
                h
            });
        match spawned {
            Ok(done) => Hasher::Threaded(ThreadedHash {
                buf: Vec::with_capacity(HASH_CHUNK),
                tx: Some(tx),
                done: Some(done),
            }),
            Err(_) => Hasher::Inline(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Inline(h) => h.update(data),
            Hasher::Threaded(t) => {
                t.buf.extend_from_slice(data);
                if t.buf.len() >= HASH_CHUNK {
                    let full = std::mem::replace(&mut t.buf, Vec::with_capacity(HASH_CHUNK));
                    if let Some(tx) = &t.tx {
                        // The hashing thread only stops when the sender is dropped.
                        let _ = tx.send(full);
                    }
                }
            }
        }
    }

    fn finalize(self) -> Option<[u8; 32]> {
        let h = match self {
            Hasher::Inline(h) => h,
            Hasher::Threaded(mut t) => t.finish()?,
        };
        Some(h.finalize().into())
    }
}

struct Hashing<R> {
    inner: R,
    /// `None` when another `Hashing` already sees the same bytes (an uncompressed layer).
    hasher: Option<Hasher>,
    count: u64,
    limit: u64,
    exceeded: bool,
    failed: bool,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R, limit: u64, hash: bool) -> Self {
        Hashing {
            inner,
            hasher: hash.then(|| Hasher::Inline(Sha256::new())),
            count: 0,
            limit,
            exceeded: false,
            failed: false,
        }
    }

    /// Like [`Hashing::new`], hashing on a thread of its own.
    fn threaded(inner: R, limit: u64) -> Self {
        Hashing {
            hasher: Some(Hasher::threaded()),
            ..Hashing::new(inner, limit, false)
        }
    }

    fn digest(self) -> Option<Digest> {
        self.hasher
            .and_then(Hasher::finalize)
            .map(|h| Digest(format!("sha256:{}", hex(&h))))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded {
            return Err(io::Error::other("layer size limit exceeded"));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed = true;
                }
                return Err(e);
            }
        };
        let got = buf.get(..n).unwrap_or_default();
        if let Some(h) = &mut self.hasher {
            h.update(got);
        }
        self.count = self.count.saturating_add(got.len() as u64);
        if self.count > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("layer size limit exceeded"));
        }
        Ok(got.len())
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn drain<R: Read + ?Sized>(r: &mut R) -> io::Result<u64> {
    io::copy(r, &mut io::sink())
}

/// Reads one layer blob (plain, gzip or zstd tar) into its changes, keeping the content of regular files
/// for which `wants(path)` is true (paths as in [`crate::fs`]: relative, normalised).
///
/// The blob is read to its end, so `blob_digest` and `diff_id` cover every byte.
pub fn read_layer<R: Read>(
    raw: R,
    wants: &dyn Fn(&str) -> bool,
    limits: &Limits,
) -> Result<LayerChanges, LayerError> {
    read_layer_with(raw, wants, &NoFacts, limits)
}

/// [`read_layer`], also handing every candidate regular file to `extractor` and keeping its
/// [`FileFacts`](crate::facts::FileFacts) (the bytes are dropped).
pub fn read_layer_with<R: Read>(
    raw: R,
    wants: &dyn Fn(&str) -> bool,
    extractor: &dyn Extractor,
    limits: &Limits,
) -> Result<LayerChanges, LayerError> {
    let mut raw = Hashing::new(raw, limits.max_layer_bytes, true);
    let mut magic = [0u8; 6];
    let n = read_full(&mut raw, &mut magic).map_err(|e| raw_error(&raw, limits, e))?;
    let head = magic.get(..n).unwrap_or_default();
    let compression = detect(head)?;

    let (parsed, tar_digest, tar_size) = {
        let chained = head.chain(&mut raw);
        let decoder: Box<dyn Read + '_> = match compression {
            Compression::None => Box::new(chained),
            Compression::Gzip => Box::new(gzip::Gzip::new(BufReader::with_capacity(
                256 * 1024,
                chained,
            ))),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(chained).map_err(|e| {
                    LayerError::Decompress {
                        format: "zstd",
                        offset: 0,
                        source: e,
                    }
                })?)
            }
        };
        // An uncompressed layer is its own tar: hash it once, as the blob.
        let mut tar = if compression == Compression::None {
            Hashing::new(decoder, limits.max_layer_bytes, false)
        } else {
            Hashing::threaded(decoder, limits.max_layer_bytes)
        };
        let parsed = {
            let mut buffered = BufReader::with_capacity(256 * 1024, &mut tar);
            let mut parser = Parser {
                r: &mut buffered,
                offset: 0,
                wants,
                extractor,
                limits,
                facts: HashMap::new(),
                out: Vec::new(),
                diagnostics: Vec::new(),
                dropped_diagnostics: 0,
                kept: HashMap::new(),
                kept_total: 0,
                entry_count: 0,
            };
            match parser.run() {
                Ok(()) => drain(parser.r)
                    .map(|_| (parser.out, parser.diagnostics, parser.dropped_diagnostics))
                    .map_err(Failure::Io),
                Err(f) => Err(f),
            }
        };
        let parsed = match parsed {
            Ok(p) => Ok(p),
            Err(f) => Err(classify(f, &tar, compression)),
        };
        let size = tar.count;
        (parsed, tar.digest(), size)
    };
    let parsed = match parsed {
        Ok(p) => p,
        // An error below the decoder (the blob reader, or its limit) explains everything above it.
        Err(e) if raw.failed || raw.exceeded => {
            let io_err = match e {
                LayerError::Io { source, .. } | LayerError::Decompress { source, .. } => source,
                other => io::Error::other(other.to_string()),
            };
            return Err(raw_error(&raw, limits, io_err));
        }
        Err(LayerError::Decompress { format, source, .. }) => {
            return Err(LayerError::Decompress {
                format,
                offset: raw.count,
                source,
            })
        }
        Err(e) => return Err(e),
    };
    drain(&mut raw).map_err(|e| raw_error(&raw, limits, e))?;
    let (entries, mut diagnostics, dropped) = parsed;
    if dropped > 0 {
        diagnostics.push(Diagnostic {
            layer: None,
            path: String::new(),
            message: format!("{dropped} more diagnostics for this layer were dropped"),
        });
    }
    let blob_digest = raw.digest().unwrap_or_else(|| Digest(String::new()));
    let diff_id = tar_digest.unwrap_or_else(|| blob_digest.clone());
    for d in &mut diagnostics {
        d.layer = Some(diff_id.clone());
    }
    Ok(LayerChanges {
        blob_digest,
        diff_id,
        uncompressed_size: tar_size,
        entries,
        diagnostics,
    })
}

fn raw_error<R>(raw: &Hashing<R>, limits: &Limits, e: io::Error) -> LayerError {
    if raw.exceeded {
        LayerError::LimitExceeded {
            limit: "max_layer_bytes",
            value: limits.max_layer_bytes,
        }
    } else {
        LayerError::Io {
            offset: raw.count,
            source: e,
        }
    }
}

/// How parsing stopped, before we know which layer of the reader stack is to blame.
enum Failure {
    /// An I/O error from the (decompressed) stream.
    Io(io::Error),
    /// The tar ended early.
    Truncated { offset: u64, inside: String },
    /// The tar is malformed.
    Corrupt { offset: u64, reason: String },
    /// Too many entries.
    TooManyEntries(u64),
}

fn classify<R>(f: Failure, tar: &Hashing<R>, compression: Compression) -> LayerError {
    match f {
        Failure::Truncated { offset, inside } => LayerError::TruncatedTar { offset, inside },
        Failure::Corrupt { offset, reason } => LayerError::CorruptTar { offset, reason },
        Failure::TooManyEntries(value) => LayerError::LimitExceeded {
            limit: "max_entries",
            value,
        },
        Failure::Io(source) => {
            if tar.exceeded {
                LayerError::LimitExceeded {
                    limit: "max_layer_bytes",
                    value: tar.limit,
                }
            } else {
                match compression {
                    Compression::Gzip => LayerError::Decompress {
                        format: "gzip",
                        offset: 0,
                        source,
                    },
                    Compression::Zstd => LayerError::Decompress {
                        format: "zstd",
                        offset: 0,
                        source,
                    },
                    Compression::None => LayerError::Io {
                        offset: tar.count,
                        source,
                    },
                }
            }
        }
    }
}

const BLOCK: u64 = 512;
/// Largest GNU long-name/long-link or PAX record we read (Go's `archive/tar` uses the same bound).
const MAX_META: u64 = 1 << 20;
/// Diagnostics kept per layer; the rest are counted.
const MAX_DIAGNOSTICS: usize = 1000;
/// Initial buffer for kept content; larger files grow it as their bytes actually arrive.
const MAX_PREALLOC: u64 = 16 << 20;

/// Metadata records that apply to the next real entry.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_linkpath: Option<Vec<u8>>,
    pax_size: Option<u64>,
    sparse: bool,
    sparse_name: Option<Vec<u8>>,
    sparse_realsize: Option<u64>,
}

struct Parser<'a, R: Read> {
    r: &'a mut R,
    offset: u64,
    wants: &'a dyn Fn(&str) -> bool,
    extractor: &'a dyn Extractor,
    limits: &'a Limits,
    /// Facts of this layer's extracted files, for hardlinks to them.
    facts: HashMap<String, Facts>,
    out: Vec<Change>,
    diagnostics: Vec<Diagnostic>,
    dropped_diagnostics: u64,
    /// Files of this layer whose content was kept: path → (size, content), for hardlinks to them.
    kept: HashMap<String, (u64, Arc<[u8]>)>,
    kept_total: u64,
    entry_count: u64,
}

/// A field of a 512-byte header. All ranges are constants inside the block.
fn field(h: &[u8; 512], start: usize, end: usize) -> &[u8] {
    h.get(start..end).unwrap_or_default()
}

/// A NUL-terminated string field.
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => b.get(..i).unwrap_or_default(),
        None => b,
    }
}

/// A numeric header field: octal text, or GNU base-256 when the top bit is set.
fn numeric(b: &[u8]) -> Option<u64> {
    let first = *b.first()?;
    if first & 0x80 != 0 {
        if first == 0xff {
            return None; // negative
        }
        let mut v: u64 = u64::from(first & 0x7f);
        for &c in b.get(1..).unwrap_or_default() {
            v = v.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(v);
    }
    let text = cstr(b);
    let text = trim(text, |c| c == b' ' || c == 0);
    let mut v: u64 = 0;
    for &c in text {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

fn trim(mut b: &[u8], f: impl Fn(u8) -> bool) -> &[u8] {
    while let [first, rest @ ..] = b {
        if f(*first) {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if f(*last) {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn checksum_ok(h: &[u8; 512]) -> bool {
    let Some(stored) = numeric(field(h, 148, 156)) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

fn padded(size: u64) -> Option<u64> {
    Some(size.checked_add(BLOCK - 1)? / BLOCK * BLOCK)
}

/// Normalises a tar name to a root-relative path; `Ok("")` is the root itself.
pub(crate) fn normalize(raw: &[u8], max_len: usize) -> Result<String, &'static str> {
    if raw.len() > max_len {
        return Err("path longer than max_path_len");
    }
    if raw.contains(&0) {
        return Err("path contains NUL");
    }
    let text = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for c in text.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("path climbs out of the root with ..");
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

impl<R: Read> Parser<'_, R> {
    fn diag(&mut self, path: &str, message: String) {
        if self.diagnostics.len() < MAX_DIAGNOSTICS {
            self.diagnostics.push(Diagnostic {
                layer: None,
                path: path.to_owned(),
                message,
            });
        } else {
            self.dropped_diagnostics += 1;
        }
    }

    /// Reads one block; `Ok(false)` at a clean end of stream.
    fn block(&mut self, buf: &mut [u8; 512], inside: &str) -> Result<bool, Failure> {
        let n = read_full(self.r, buf).map_err(Failure::Io)?;
        if n == 0 {
            return Ok(false);
        }
        if n < buf.len() {
            return Err(Failure::Truncated {
                offset: self.offset + n as u64,
                inside: inside.to_owned(),
            });
        }
        self.offset += BLOCK;
        Ok(true)
    }

    /// Skips `n` bytes of entry data or padding.
    fn skip(&mut self, n: u64, inside: &dyn Fn() -> String) -> Result<(), Failure> {
        if n == 0 {
            return Ok(());
        }
        let got = io::copy(&mut self.r.by_ref().take(n), &mut io::sink()).map_err(Failure::Io)?;
        self.offset += got;
        if got < n {
            return Err(Failure::Truncated {
                offset: self.offset,
                inside: inside(),
            });
        }
        Ok(())
    }

    /// Reads `size` bytes of data plus the padding to the next block.
    fn read_data(&mut self, size: u64, inside: &dyn Fn() -> String) -> Result<Vec<u8>, Failure> {
        let v = self.read_raw(size, inside)?;
        let pad = padded(size).unwrap_or(size) - size;
        self.skip(pad, inside)?;
        Ok(v)
    }

    /// Skips `size` bytes of data plus padding.
    fn skip_data(&mut self, size: u64, inside: &dyn Fn() -> String) -> Result<(), Failure> {
        let total = padded(size).ok_or_else(|| Failure::Corrupt {
            offset: self.offset,
            reason: format!("entry size {size} overflows"),
        })?;
        self.skip(total, inside)
    }

    fn run(&mut self) -> Result<(), Failure> {
        let mut h = [0u8; 512];
        let mut pending = Pending::default();
        loop {
            let at = self.offset;
            if !self.block(&mut h, "a header")? {
                self.diag(
                    "",
                    "tar stream ended without an end-of-archive block".into(),
                );
                return Ok(());
            }
            if h.iter().all(|&b| b == 0) {
                // End of archive; whatever follows is drained (and hashed) by the caller.
                return Ok(());
            }
            if !checksum_ok(&h) {
                return Err(Failure::Corrupt {
                    offset: at,
                    reason: "header checksum mismatch".into(),
                });
            }
            self.entry_count += 1;
            if self.entry_count > self.limits.max_entries {
                return Err(Failure::TooManyEntries(self.limits.max_entries));
            }
            let typeflag = *h.get(156).unwrap_or(&0);
            let header_size = numeric(field(&h, 124, 136)).ok_or_else(|| Failure::Corrupt {
                offset: at,
                reason: "invalid size field".into(),
            })?;
            match typeflag {
                b'L' | b'K' | b'x' | b'X' => {
                    if header_size > MAX_META {
                        return Err(Failure::Corrupt {
                            offset: at,
                            reason: format!(
                                "metadata record of {header_size} bytes (limit {MAX_META})"
                            ),
                        });
                    }
                    let data = self.read_data(header_size, &|| "a metadata record".to_owned())?;
                    match typeflag {
                        b'L' => pending.long_name = Some(cstr(&data).to_vec()),
                        b'K' => pending.long_link = Some(cstr(&data).to_vec()),
                        _ => parse_pax(&data, &mut pending)
                            .map_err(|reason| Failure::Corrupt { offset: at, reason })?,
                    }
                    continue;
                }
                b'g' | b'V' | b'M' | b'N' => {
                    // PAX global header, volume label, multi-volume continuation, old GNU long-name
                    // list: nothing an image view needs.
                    self.skip_data(header_size, &|| "a metadata record".to_owned())?;
                    continue;
                }
                _ => {}
            }
            let p = std::mem::take(&mut pending);
            self.entry(&h, typeflag, header_size, p)?;
        }
    }

    fn entry(
        &mut self,
        h: &[u8; 512],
        typeflag: u8,
        header_size: u64,
        p: Pending,
    ) -> Result<(), Failure> {
        let magic = field(h, 257, 263);
        let version = field(h, 263, 265);
        let ustar = magic == b"ustar\0" && version == b"00";
        let gnu = magic == b"ustar " && version == b" \0";

        let raw_name: Cow<'_, [u8]> = if let Some(n) = p.sparse_name.or(p.pax_path).or(p.long_name)
        {
            Cow::Owned(n)
        } else {
            let name = cstr(field(h, 0, 100));
            let prefix = cstr(field(h, 345, 500));
            if ustar && !prefix.is_empty() {
                let mut full = prefix.to_vec();
                full.push(b'/');
                full.extend_from_slice(name);
                Cow::Owned(full)
            } else {
                Cow::Borrowed(name)
            }
        };
        let raw_link: Cow<'_, [u8]> = match p.pax_linkpath.or(p.long_link) {
            Some(l) => Cow::Owned(l),
            None => Cow::Borrowed(cstr(field(h, 157, 257))),
        };

        // Header-only types carry no data whatever their size field says (as in Go's archive/tar).
        let header_only = matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6');
        let data_size = if header_only {
            0
        } else {
            p.pax_size.unwrap_or(header_size)
        };
        let mut real_size = data_size;
        let mut sparse = p.sparse;
        if typeflag == b'S' && gnu {
            // Old GNU sparse file: the header's size is the stored bytes; extension blocks follow.
            sparse = true;
            real_size = numeric(field(h, 483, 495)).unwrap_or(data_size);
            let mut extended = h.get(482).is_some_and(|&b| b != 0);
            let mut ext = [0u8; 512];
            while extended {
                if !self.block(&mut ext, "a sparse extension header")? {
                    return Err(Failure::Truncated {
                        offset: self.offset,
                        inside: "a sparse extension header".into(),
                    });
                }
                extended = ext.get(504).is_some_and(|&b| b != 0);
            }
        }
        if sparse {
            if let Some(r) = p.sparse_realsize {
                real_size = r;
            }
        }

        let describe = || format!("the data of {}", String::from_utf8_lossy(&raw_name));
        let path = match normalize(&raw_name, self.limits.max_path_len) {
            Ok(path) => path,
            Err(why) => {
                let shown: String = String::from_utf8_lossy(&raw_name)
                    .chars()
                    .take(256)
                    .collect();
                self.diag(&shown, format!("entry skipped: {why}"));
                return self.skip_data(data_size, &describe);
            }
        };
        if std::str::from_utf8(&raw_name).is_err() {
            self.diag(
                &path,
                "name is not UTF-8; invalid bytes replaced with U+FFFD".into(),
            );
        }
        if path.is_empty() {
            // The root directory itself (`./`).
            return self.skip_data(data_size, &describe);
        }

        let (parent, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d, b),
            None => ("", path.as_str()),
        };
        if let Some(hidden) = base.strip_prefix(".wh.") {
            if hidden == ".wh..opq" {
                self.out.push(Change::Opaque(parent.to_owned()));
            } else if hidden.starts_with(".wh.") {
                // Other AUFS bookkeeping (`.wh..wh.plnk`, …): not part of the image.
            } else if hidden.is_empty() || hidden == "." || hidden == ".." {
                self.diag(&path, "whiteout names no file; ignored".into());
            } else {
                let target = if parent.is_empty() {
                    hidden.to_owned()
                } else {
                    format!("{parent}/{hidden}")
                };
                self.kept.remove(&target);
                self.out.push(Change::Whiteout(target));
            }
            return self.skip_data(data_size, &describe);
        }

        let mode = numeric(field(h, 100, 108)).map_or(0, |m| (m & 0o7777) as u32);
        let kind = match typeflag {
            b'0' | b'7' | b'S' => EntryKind::File,
            0 if raw_name.ends_with(b"/") => EntryKind::Dir,
            0 => EntryKind::File,
            b'5' | b'D' => EntryKind::Dir,
            b'2' => {
                if raw_link.len() > self.limits.max_path_len {
                    self.diag(
                        &path,
                        "symlink target longer than max_path_len; skipped".into(),
                    );
                    return self.skip_data(data_size, &describe);
                }
                EntryKind::Symlink(String::from_utf8_lossy(&raw_link).into_owned())
            }
            b'1' => match normalize(&raw_link, self.limits.max_path_len) {
                Ok(t) if !t.is_empty() => EntryKind::Hardlink(t),
                Ok(_) => {
                    self.diag(&path, "hardlink to the root directory; skipped".into());
                    return self.skip_data(data_size, &describe);
                }
                Err(why) => {
                    self.diag(&path, format!("hardlink skipped: target {why}"));
                    return self.skip_data(data_size, &describe);
                }
            },
            _ => EntryKind::Other,
        };

        self.kept.remove(&path);
        self.facts.remove(&path);
        let mut facts = None;
        let mut size = if matches!(kind, EntryKind::File) {
            real_size
        } else {
            header_size
        };
        let mut content = None;
        match &kind {
            EntryKind::File if (self.wants)(&path) => {
                if sparse {
                    self.diag(&path, "sparse file; content not kept".into());
                    self.skip_data(data_size, &describe)?;
                } else if data_size > self.limits.max_wanted_file {
                    self.diag(
                        &path,
                        format!(
                            "file is {data_size} bytes, over max_wanted_file ({}); content not kept",
                            self.limits.max_wanted_file
                        ),
                    );
                    self.skip_data(data_size, &describe)?;
                } else if self.kept_total.saturating_add(data_size) > self.limits.max_wanted_total {
                    self.diag(
                        &path,
                        format!(
                            "kept content would exceed max_wanted_total ({}); content not kept",
                            self.limits.max_wanted_total
                        ),
                    );
                    self.skip_data(data_size, &describe)?;
                } else {
                    let bytes: Arc<[u8]> = self.read_data(data_size, &describe)?.into();
                    self.kept_total += data_size;
                    self.kept
                        .insert(path.clone(), (data_size, Arc::clone(&bytes)));
                    content = Some(bytes);
                }
            }
            EntryKind::File if !sparse && data_size >= 4 => {
                facts = self.extract(&path, mode, data_size, &describe)?;
                if let Some(f) = &facts {
                    self.facts.insert(path.clone(), Arc::clone(f));
                }
            }
            EntryKind::Hardlink(target) => {
                facts = self.facts.get(target).cloned();
                if let Some(f) = &facts {
                    self.facts.insert(path.clone(), Arc::clone(f));
                }
                if let Some((target_size, bytes)) = self.kept.get(target) {
                    size = *target_size;
                    if (self.wants)(&path) {
                        content = Some(Arc::clone(bytes));
                    }
                } else if (self.wants)(&path) {
                    self.diag(
                        &path,
                        format!(
                            "hardlink to {target}, whose content this layer did not keep \
                             (not wanted, not a file, or not in this layer)"
                        ),
                    );
                }
                self.skip_data(data_size, &describe)?;
            }
            _ => self.skip_data(data_size, &describe)?,
        }
        if let (Some(c), EntryKind::Hardlink(_)) = (&content, &kind) {
            self.kept.insert(path.clone(), (size, Arc::clone(c)));
        }
        self.out.push(Change::Entry(Entry {
            path,
            kind,
            mode,
            size,
            content,
            facts,
        }));
        Ok(())
    }

    /// Reads the head of a regular file; when the extractor wants it, the rest too, and returns what
    /// the extractor found. Consumes the file's data and padding either way.
    fn extract(
        &mut self,
        path: &str,
        mode: u32,
        size: u64,
        inside: &dyn Fn() -> String,
    ) -> Result<Option<Facts>, Failure> {
        let head_len = size.min(HEAD_LEN as u64);
        let mut bytes = self.read_raw(head_len, inside)?;
        let rest = size - head_len;
        let total_pad = padded(size).unwrap_or(size) - size;
        if !self.extractor.candidate(path, mode, size, &bytes) {
            return self.skip(rest + total_pad, inside).map(|()| None);
        }
        if size > self.limits.max_extract_file {
            self.diag(
                path,
                format!(
                    "file is {size} bytes, over max_extract_file ({}); not analysed",
                    self.limits.max_extract_file
                ),
            );
            return self.skip(rest + total_pad, inside).map(|()| None);
        }
        // One exact allocation: the size is bounded by max_extract_file above.
        bytes.reserve_exact(usize::try_from(rest).unwrap_or(0));
        let got = self
            .r
            .by_ref()
            .take(rest)
            .read_to_end(&mut bytes)
            .map_err(Failure::Io)? as u64;
        self.offset += got;
        if got < rest {
            return Err(Failure::Truncated {
                offset: self.offset,
                inside: inside(),
            });
        }
        self.skip(total_pad, inside)?;
        Ok(self.extractor.extract(path, &bytes))
    }

    /// Reads exactly `size` data bytes, no padding.
    fn read_raw(&mut self, size: u64, inside: &dyn Fn() -> String) -> Result<Vec<u8>, Failure> {
        let mut v = Vec::with_capacity(usize::try_from(size.min(MAX_PREALLOC)).unwrap_or(0));
        let got = self
            .r
            .by_ref()
            .take(size)
            .read_to_end(&mut v)
            .map_err(Failure::Io)? as u64;
        self.offset += got;
        if got < size {
            return Err(Failure::Truncated {
                offset: self.offset,
                inside: inside(),
            });
        }
        Ok(v)
    }
}

/// Parses PAX extended-header records (`"<len> <key>=<value>\n"`) into `p`.
fn parse_pax(mut data: &[u8], p: &mut Pending) -> Result<(), String> {
    while !data.is_empty() {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or("PAX record without length")?;
        let len: usize = std::str::from_utf8(data.get(..space).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("PAX record with invalid length")?;
        if len <= space + 1 || len > data.len() {
            return Err("PAX record length out of range".into());
        }
        let record = data.get(space + 1..len).ok_or("PAX record out of range")?;
        data = data.get(len..).unwrap_or_default();
        let record = record
            .strip_suffix(b"\n")
            .ok_or("PAX record not newline-terminated")?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or("PAX record without =")?;
        let key = record.get(..eq).unwrap_or_default();
        let value = record.get(eq + 1..).unwrap_or_default();
        let number = || -> Result<u64, String> {
            std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("PAX {} is not a number", String::from_utf8_lossy(key)))
        };
        match key {
            b"path" => p.pax_path = Some(value.to_vec()),
            b"linkpath" => p.pax_linkpath = Some(value.to_vec()),
            b"size" => p.pax_size = Some(number()?),
            b"GNU.sparse.name" => {
                p.sparse = true;
                p.sparse_name = Some(value.to_vec());
            }
            b"GNU.sparse.realsize" | b"GNU.sparse.size" => {
                p.sparse = true;
                p.sparse_realsize = Some(number()?);
            }
            k if k.starts_with(b"GNU.sparse.") => p.sparse = true,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_table() {
        let cases: &[(&[u8], Result<&str, ()>)] = &[
            (b"./etc/passwd", Ok("etc/passwd")),
            (b"/etc//passwd", Ok("etc/passwd")),
            (b"etc/./x/", Ok("etc/x")),
            (b"a/../b", Ok("b")),
            (b"./", Ok("")),
            (b"../etc/passwd", Err(())),
            (b"a/../../b", Err(())),
            (b"a\0b", Err(())),
        ];
        for (raw, want) in cases {
            let got = normalize(raw, 4096).map_err(|_| ());
            assert_eq!(
                got.as_deref(),
                want.as_deref(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(normalize(&[b'a'; 5000], 4096).is_err());
    }

    #[test]
    fn numeric_fields() {
        assert_eq!(numeric(b"0000644\0"), Some(0o644));
        assert_eq!(numeric(b"  644 \0"), Some(0o644));
        assert_eq!(numeric(b"\0\0\0"), Some(0));
        assert_eq!(
            numeric(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
            Some(1 << 32)
        );
        assert_eq!(numeric(&[0xff, 0xff]), None);
        assert_eq!(numeric(b"9"), None);
        assert_eq!(
            numeric(&[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }

    #[test]
    fn detects_compression_by_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]).ok(), Some(Compression::Gzip));
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd]).ok(),
            Some(Compression::Zstd)
        );
        assert_eq!(detect(b"etc/").ok(), Some(Compression::None));
        assert_eq!(detect(b"").ok(), Some(Compression::None));
        assert!(matches!(
            detect(b"BZh91AY"),
            Err(LayerError::UnsupportedCompression("bzip2"))
        ));
        assert!(matches!(
            detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            Err(LayerError::UnsupportedCompression("xz"))
        ));
    }

    #[test]
    fn pax_records() {
        let mut p = Pending::default();
        parse_pax(b"16 path=a/b/c/d\n12 size=100\n", &mut p).unwrap();
        assert_eq!(p.pax_path.as_deref(), Some(&b"a/b/c/d"[..]));
        assert_eq!(p.pax_size, Some(100));
        assert!(parse_pax(b"99 path=x\n", &mut Pending::default()).is_err());
        assert!(parse_pax(b"0 \n", &mut Pending::default()).is_err());
    }
}
