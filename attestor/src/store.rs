//! The durable transparency log: one directory laid out as a C2SP tlog-tiles static tree, so any
//! web server can serve it as is.
//!
//! ```text
//! <dir>/checkpoint                    signed note: origin, size, root (replaced atomically)
//! <dir>/tile/<L>/<N>[.p/<W>]          hash tiles
//! <dir>/tile/entries/<N>[.p/<W>]      entry bundles
//! <dir>/.state/leaves                 leaf hash i at offset 32 * i (the dedup index, append-only)
//! <dir>/.state/pending                the size the batch in progress is writing (8 bytes, BE)
//! <dir>/.state/tmp/                   temporary files, renamed into place
//! ```
//!
//! **Durability.** [`LogStore::append_batch`] writes, in this order and each fsynced (temporary
//! file, fsync, rename, fsync of the directory): the pending size, the new tiles and bundles, the
//! new leaf hashes, and last the new checkpoint. A batch is acknowledged only once its checkpoint
//! is in place, so a kill at any point leaves either the old or the new checkpoint, and every file
//! the checkpoint covers is complete. Files beyond the checkpoint (a batch cut short) are never
//! served ([`LogStore::read_static`] checks coverage) and are cleaned up or overwritten: full
//! tiles beyond the checkpoint are always rewritten before a checkpoint covers them; the partial
//! tiles a cut-short batch wrote are found from `.state/pending` and deleted on open.
//!
//! **Recovery.** [`LogStore::open`] verifies the checkpoint with the signer's key, rebuilds the
//! right edge from the tiles and the dedup index from `.state/leaves`, and refuses to open if
//! either does not hash to the checkpoint's root. It never rewrites an entry below the
//! checkpoint's size. [`LogStore::verify_full`] re-hashes every entry and tile (O(n) reads).
//!
//! **Memory.** O(log n) for the right edge and the partial tiles (at most 255 hashes per level and
//! 255 entries of at most 64 KiB), plus the dedup index: an open-addressing table of 8-byte slots
//! (24-bit tag and 40-bit index; slot and tag from a randomly keyed SipHash of the leaf hash, so
//! slot chains cannot be aimed at), at most 75% full and sized in powers of two: 8 to 21 bytes
//! per entry, 128 MiB for 10 M entries (a `HashMap<u64, u64>` would take about 272 MiB). Every
//! tag match is confirmed against the full 32-byte leaf hash in `.state/leaves` (a 32-byte read),
//! so a false match can cost a read but never a wrong answer. Growing the table re-reads
//! `.state/leaves` once (amortised 32 bytes per entry); opening reads it once (32 bytes per entry).
//!
//! **Proofs** read tiles through a [`NodeSource`] with a
//! per-call cache: O(log n) tiles per proof ([`LogStore::tile_reads`] counts them).
//!
//! `now_millis` is accepted by [`LogStore::open`] for the services' benefit but not used: C2SP
//! checkpoints carry no timestamp.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::merkle::{self, leaf_hash, CompactRange, Hash, NodeSource, ProofGenError};
use crate::note::{open_checkpoint, Checkpoint, NoteError, NoteSigner};
use crate::tiles::{self, decode_entry_bundle, decode_tile, entries_path, tile_path, TileError};

const WIDTH: u64 = tiles::TILE_WIDTH as u64;
const HEIGHT: u32 = tiles::TILE_HEIGHT as u32;
const STATE: &str = ".state";
const LEAVES: &str = ".state/leaves";
const PENDING: &str = ".state/pending";
const TMP: &str = ".state/tmp";
const CHECKPOINT: &str = "checkpoint";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The checkpoint file does not verify or parse.
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        source: NoteError,
    },
    /// Signing a new checkpoint failed.
    #[error("signing the checkpoint: {0}")]
    Sign(NoteError),
    /// The directory holds log files but no checkpoint: history would be lost by starting over.
    #[error("{dir} holds log files but no checkpoint; refusing to start a new log over them")]
    MissingCheckpoint {
        /// The log directory.
        dir: PathBuf,
    },
    /// Files the checkpoint covers are missing, damaged or hash to another root.
    #[error("log in {dir} does not match its checkpoint: {what}")]
    Tampered {
        /// The log directory.
        dir: PathBuf,
        /// What did not match.
        what: String,
    },
    /// A tile or bundle the current size covers is missing.
    #[error("missing {path}")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// A tile or bundle could not be decoded or has the wrong width.
    #[error("corrupt {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An entry in a batch does not fit an entry bundle.
    #[error("entry {position} of the batch is {len} bytes; entries are at most 65535 bytes")]
    EntryTooLarge {
        /// Position in the batch.
        position: usize,
        /// Its length.
        len: usize,
    },
    /// An index or size outside the log.
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// A static path that is not served.
    #[error(transparent)]
    BadPath(#[from] TileError),
    /// An earlier batch failed part-way and the checkpoint could not be read back.
    #[error("an earlier append failed part-way and the checkpoint cannot be read back")]
    Poisoned,
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Where an entry of a batch ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Logged at this index by this batch.
    New(u64),
    /// Already in the log (or earlier in the same batch) at this index.
    Duplicate(u64),
}

impl Appended {
    /// The index either way.
    pub fn index(self) -> u64 {
        match self {
            Appended::New(i) | Appended::Duplicate(i) => i,
        }
    }
}

/// The result of [`LogStore::append_batch`]: durable on return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One per entry of the batch, in order.
    pub indices: Vec<Appended>,
    /// Log size after the batch.
    pub size: u64,
    /// Root after the batch.
    pub root: Hash,
    /// The signed checkpoint covering the batch.
    pub checkpoint: String,
}

/// The dedup index: an open-addressing table of 8-byte slots, `tag << 40 | (index + 1)`, where
/// the slot and the 24-bit tag come from a randomly keyed SipHash of the leaf hash (so nobody can
/// aim leaves at one slot chain). A tag match is confirmed against the full leaf hash in
/// `.state/leaves`. At most 75% full.
#[derive(Debug)]
struct Dedup {
    hasher: std::collections::hash_map::RandomState,
    slots: Vec<u64>,
    len: u64,
    /// Indices too large for 40 bits (2^40 entries: not expected), kept in full.
    big: HashMap<Hash, u64>,
}

const INDEX_BITS: u32 = 40;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;

impl Dedup {
    /// An empty table with room for `n` entries.
    fn with_capacity(n: u64) -> Self {
        let want = n.saturating_mul(4) / 3 + 1;
        let slots = want
            .max(1024)
            .checked_next_power_of_two()
            .unwrap_or(1 << 62);
        Self {
            hasher: std::collections::hash_map::RandomState::new(),
            slots: vec![0; usize::try_from(slots).unwrap_or(usize::MAX >> 4)],
            len: 0,
            big: HashMap::new(),
        }
    }

    /// Whether `extra` more entries fit without passing 75%.
    fn has_room(&self, extra: u64) -> bool {
        (self.len + extra).saturating_mul(4) <= (self.slots.len() as u64).saturating_mul(3)
    }

    fn key(&self, h: &Hash) -> u64 {
        use std::hash::BuildHasher as _;
        self.hasher.hash_one(h)
    }

    fn insert(&mut self, h: &Hash, index: u64) {
        if index >= INDEX_MASK {
            self.big.insert(*h, index);
            return;
        }
        let k = self.key(h);
        let mask = self.slots.len() - 1;
        let mut i = (k as usize) & mask;
        // `has_room` keeps a free slot, so this finds one.
        for _ in 0..self.slots.len() {
            if let Some(slot) = self.slots.get_mut(i) {
                if *slot == 0 {
                    *slot = (k >> INDEX_BITS) << INDEX_BITS | (index + 1);
                    self.len += 1;
                    return;
                }
            }
            i = (i + 1) & mask;
        }
        self.big.insert(*h, index);
    }

    /// Candidate indices for `h` (tag matches), to be confirmed against the full hash.
    fn candidates<'a>(&'a self, h: &Hash) -> impl Iterator<Item = u64> + 'a {
        let k = self.key(h);
        let tag = k >> INDEX_BITS;
        let mask = self.slots.len() - 1;
        let start = (k as usize) & mask;
        (0..self.slots.len())
            .map(move |n| self.slots.get((start + n) & mask).copied().unwrap_or(0))
            .take_while(|&slot| slot != 0)
            .filter(move |&slot| slot >> INDEX_BITS == tag)
            .map(|slot| (slot & INDEX_MASK) - 1)
    }
}

/// Stream the first `count` records of the leaves file.
fn for_each_leaf(
    file: &File,
    path: &Path,
    count: u64,
    mut f: impl FnMut(u64, &Hash) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    reader
        .seek(std::io::SeekFrom::Start(0))
        .map_err(io("seek", path))?;
    let mut rec = [0u8; 32];
    for i in 0..count {
        reader.read_exact(&mut rec).map_err(io("read", path))?;
        f(i, &rec)?;
    }
    Ok(())
}

/// A durable, append-only transparency log in one directory. See the module docs.
#[derive(Debug)]
pub struct LogStore {
    dir: PathBuf,
    signer: NoteSigner,
    range: CompactRange,
    checkpoint: String,
    /// For each tile level, the hashes of the right-edge partial tile (fewer than 256).
    partial_tiles: Vec<Vec<Hash>>,
    /// The entries of the right-edge partial bundle (fewer than 256).
    partial_entries: Vec<Vec<u8>>,
    dedup: Dedup,
    leaves: File,
    tile_reads: AtomicU64,
    tmp_counter: u64,
    poisoned: bool,
}

/// Number of complete nodes at tile level `l` (tree level 8l) in a tree of `size`.
fn nodes_at(size: u64, l: u32) -> u64 {
    size.checked_shr(HEIGHT * l).unwrap_or(0)
}

/// The width of tile `n` at level `l` for `size` (0 if it has no node yet).
fn tile_width(size: u64, l: u32, n: u64) -> u64 {
    nodes_at(size, l)
        .saturating_sub(n.saturating_mul(WIDTH))
        .min(WIDTH)
}

fn partial(width: u64) -> Option<u16> {
    (width < WIDTH).then_some(width as u16)
}

fn fsync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io("fsync directory", path))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Io {
            op: "read",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// The raw bytes of entry bundle `n` at `width`, falling back to the full bundle if a partial
/// one was pruned. Returns the path read and the entries' byte ranges decoded.
fn read_bundle(dir: &Path, n: u64, width: u64) -> Result<(PathBuf, Vec<Vec<u8>>), StoreError> {
    let path = dir.join(entries_path(n, partial(width)));
    let (path, bytes) = match read_optional(&path)? {
        Some(b) => (path, b),
        None if width < WIDTH => {
            let full = dir.join(entries_path(n, None));
            match read_optional(&full)? {
                Some(b) => (full, b),
                None => return Err(StoreError::Missing { path }),
            }
        }
        None => return Err(StoreError::Missing { path }),
    };
    let mut entries: Vec<Vec<u8>> = decode_entry_bundle(&bytes)
        .map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    if entries.len() as u64 >= width {
        entries.truncate(width as usize);
    }
    if entries.len() as u64 != width {
        return Err(StoreError::Corrupt {
            path,
            reason: format!("{} entries, expected {width}", entries.len()),
        });
    }
    Ok((path, entries))
}

/// Reads perfect nodes from the tiles of a tree of `size`, caching the tiles it has read.
struct TileSource<'a> {
    dir: &'a Path,
    size: u64,
    cache: HashMap<(u32, u64), Vec<Hash>>,
    reads: &'a AtomicU64,
}

impl TileSource<'_> {
    fn tile(&mut self, l: u32, n: u64) -> Result<&Vec<Hash>, StoreError> {
        if !self.cache.contains_key(&(l, n)) {
            let width = tile_width(self.size, l, n);
            if width == 0 {
                return Err(StoreError::OutOfRange(format!(
                    "tile {l}/{n} is beyond size {}",
                    self.size
                )));
            }
            let path = self.dir.join(tile_path(l as u8, n, partial(width)));
            self.reads.fetch_add(1, Ordering::Relaxed);
            let (path, mut hashes) = match read_optional(&path)? {
                Some(bytes) => {
                    let h = decode_tile(&bytes).map_err(|e| StoreError::Corrupt {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                    (path, h)
                }
                // A partial tile may have been pruned once its full tile was written (only
                // after a later checkpoint; a crash can roll back to before it): the full
                // tile's prefix is the same data, and recovery checks it against the root.
                None if width < WIDTH => {
                    let full = self.dir.join(tile_path(l as u8, n, None));
                    let bytes = read_optional(&full)?.ok_or(StoreError::Missing { path })?;
                    let h = decode_tile(&bytes).map_err(|e| StoreError::Corrupt {
                        path: full.clone(),
                        reason: e.to_string(),
                    })?;
                    (full, h)
                }
                None => return Err(StoreError::Missing { path }),
            };
            if hashes.len() as u64 >= width {
                hashes.truncate(width as usize);
            }
            if hashes.len() as u64 != width {
                return Err(StoreError::Corrupt {
                    path,
                    reason: format!("{} hashes, expected {width}", hashes.len()),
                });
            }
            self.cache.insert((l, n), hashes);
        }
        self.cache
            .get(&(l, n))
            .ok_or_else(|| StoreError::OutOfRange(format!("tile {l}/{n}")))
    }
}

impl NodeSource for TileSource<'_> {
    type Error = StoreError;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, StoreError> {
        let l = u32::from(level) / HEIGHT;
        let j = u32::from(level) % HEIGHT;
        let lo = index
            .checked_shl(j)
            .filter(|lo| lo >> j == index)
            .ok_or_else(|| StoreError::OutOfRange(format!("node {level}/{index}")))?;
        let n = lo / WIDTH;
        let start = (lo % WIDTH) as usize;
        let count = 1usize << j;
        let tile = self.tile(l, n)?;
        let Some(base) = tile.get(start..start + count) else {
            return Err(StoreError::OutOfRange(format!(
                "node {level}/{index} is not complete at size {}",
                self.size
            )));
        };
        let mut row: Vec<Hash> = base.to_vec();
        while row.len() > 1 {
            row = row
                .chunks_exact(2)
                .map(|p| merkle::node_hash(&p[0], &p[1]))
                .collect();
        }
        row.first()
            .copied()
            .ok_or_else(|| StoreError::OutOfRange(format!("node {level}/{index}")))
    }
}

/// What [`prove_from_tiles`] computed from a directory of tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileProof {
    /// The leaf hash the level-0 tile holds at the index.
    pub leaf: Hash,
    /// The inclusion proof of that leaf in the tree of the size asked for.
    pub inclusion: Vec<Hash>,
    /// The root of that tree, computed from the tiles.
    pub root: Hash,
    /// The consistency proof from the smaller size asked for (empty when none was).
    pub consistency: Vec<Hash>,
    /// The tiles read, as C2SP paths relative to the directory (`tile/0/000.p/5`).
    pub tiles: Vec<String>,
}

/// Proves leaf `index` in the tree of `size` from the tiles under `dir` alone (a log directory, or
/// the tiles an offline trust bundle carries), and, when `from_size` is given, the consistency of
/// the tree of `from_size` with it. Nothing is trusted here: the caller checks `root` against a
/// signed checkpoint and `leaf` against the entry it holds.
pub fn prove_from_tiles(
    dir: &Path,
    index: u64,
    size: u64,
    from_size: Option<u64>,
) -> Result<TileProof, StoreError> {
    let reads = AtomicU64::new(0);
    let mut src = TileSource {
        dir,
        size,
        cache: HashMap::new(),
        reads: &reads,
    };
    if index >= size {
        return Err(StoreError::OutOfRange(format!(
            "leaf {index} is beyond tree size {size}"
        )));
    }
    let leaf = src.node(0, index)?;
    let inclusion = merkle::inclusion_proof(&mut src, index, size).map_err(unwrap_gen)?;
    let root = merkle::tree_root(&mut src, size).map_err(unwrap_gen)?;
    let consistency = match from_size {
        Some(s1) if s1 < size => {
            merkle::consistency_proof(&mut src, s1, size).map_err(unwrap_gen)?
        }
        _ => Vec::new(),
    };
    let mut tiles: Vec<String> = src
        .cache
        .keys()
        .map(|&(l, n)| tile_path(l as u8, n, partial(tile_width(size, l, n))))
        .collect();
    tiles.sort();
    Ok(TileProof {
        leaf,
        inclusion,
        root,
        consistency,
        tiles,
    })
}

fn unwrap_gen(e: ProofGenError<StoreError>) -> StoreError {
    match e {
        ProofGenError::Source(e) => e,
        ProofGenError::InvalidRequest { what } => StoreError::OutOfRange(what),
    }
}

impl LogStore {
    /// Open the log in `dir`, creating an empty one (with a signed size-0 checkpoint) if the
    /// directory has no log yet. The origin is `signer.name()`. See the module docs for what is
    /// checked.
    pub fn open(dir: &Path, signer: NoteSigner, now_millis: u64) -> Result<LogStore, StoreError> {
        let _ = now_millis;
        fs::create_dir_all(dir.join(TMP)).map_err(io("create directory", dir))?;
        let cp_path = dir.join(CHECKPOINT);
        let leaves_path = dir.join(LEAVES);
        let cp_text = match read_optional(&cp_path)? {
            Some(b) => String::from_utf8(b).map_err(|_| StoreError::Checkpoint {
                path: cp_path.clone(),
                source: NoteError::Malformed("not UTF-8"),
            })?,
            None => {
                let leaves_len = fs::metadata(&leaves_path).map(|m| m.len()).unwrap_or(0);
                if dir.join("tile").exists() || leaves_len > 0 {
                    return Err(StoreError::MissingCheckpoint {
                        dir: dir.to_path_buf(),
                    });
                }
                String::new()
            }
        };
        let leaves = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&leaves_path)
            .map_err(io("open", &leaves_path))?;
        let mut store = LogStore {
            dir: dir.to_path_buf(),
            signer,
            range: CompactRange::new(),
            checkpoint: String::new(),
            partial_tiles: Vec::new(),
            partial_entries: Vec::new(),
            dedup: Dedup::with_capacity(0),
            leaves,
            tile_reads: AtomicU64::new(0),
            tmp_counter: 0,
            poisoned: false,
        };
        store.clear_tmp()?;
        if cp_text.is_empty() {
            fsync_dir(&dir.join(STATE))?;
            let signed = store.sign_checkpoint(0, merkle::EMPTY_ROOT)?;
            store.write_atomic(CHECKPOINT, signed.as_bytes(), &mut BTreeSet::new())?;
            fsync_dir(dir)?;
            store.checkpoint = signed;
            return Ok(store);
        }
        let cp = open_checkpoint(&cp_text, &store.signer.verifier()).map_err(|source| {
            StoreError::Checkpoint {
                path: cp_path.clone(),
                source,
            }
        })?;
        store.checkpoint = cp_text;
        store.recover(&cp)?;
        Ok(store)
    }

    /// Re-read the checkpoint and rebuild the state from disk (after a failed batch).
    fn reload(&mut self) -> Result<(), StoreError> {
        let cp_path = self.dir.join(CHECKPOINT);
        let text = read_optional(&cp_path)?
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(StoreError::Poisoned)?;
        let cp = open_checkpoint(&text, &self.signer.verifier()).map_err(|source| {
            StoreError::Checkpoint {
                path: cp_path,
                source,
            }
        })?;
        self.clear_tmp()?;
        self.recover(&cp)?;
        self.checkpoint = text;
        self.poisoned = false;
        Ok(())
    }

    fn tampered(&self, what: String) -> StoreError {
        StoreError::Tampered {
            dir: self.dir.clone(),
            what,
        }
    }

    fn clear_tmp(&self) -> Result<(), StoreError> {
        let tmp = self.dir.join(TMP);
        for e in fs::read_dir(&tmp).map_err(io("list", &tmp))? {
            let p = e.map_err(io("list", &tmp))?.path();
            fs::remove_file(&p).map_err(io("remove", &p))?;
        }
        Ok(())
    }

    /// Rebuild the in-memory state for checkpoint `cp` from the files.
    fn recover(&mut self, cp: &Checkpoint) -> Result<(), StoreError> {
        let size = cp.size;
        // 1. Remove the partial tiles a cut-short batch may have left beyond the checkpoint.
        let pending_path = self.dir.join(PENDING);
        if let Some(b) = read_optional(&pending_path)? {
            if let Ok(p) = <[u8; 8]>::try_from(b.as_slice()) {
                let pending = u64::from_be_bytes(p);
                if pending > size {
                    self.remove_partials_beyond(size, pending)?;
                }
            }
        }
        // 2. The right edge, from the tiles, must give the checkpoint's root.
        let range = self.edge_from_tiles(cp)?;
        // 3. Every file the checkpoint covers must be there (one stat per tile: the content
        //    of interior tiles is checked by `verify_full`).
        self.check_files_exist(size)?;
        // 4. The right-edge partial tiles and bundle.
        let (partial_tiles, partial_entries) = self.load_partials(size)?;
        let mut src = TileSource {
            dir: &self.dir,
            size,
            cache: HashMap::new(),
            reads: &self.tile_reads,
        };
        // 5. The dedup index: cut a torn or unacknowledged tail, fill a missing tail from the
        //    level-0 tiles, then check that it too hashes to the root.
        let leaves_path = self.dir.join(LEAVES);
        let want = size
            .checked_mul(32)
            .ok_or_else(|| self.tampered("size overflows".into()))?;
        let have = self
            .leaves
            .metadata()
            .map_err(io("stat", &leaves_path))?
            .len();
        if have > want {
            self.leaves
                .set_len(want)
                .and_then(|()| self.leaves.sync_all())
                .map_err(io("truncate", &leaves_path))?;
        } else if have < want {
            let mut next = have / 32;
            self.leaves
                .set_len(next * 32)
                .map_err(io("truncate", &leaves_path))?;
            // One level-0 tile at a time, so memory stays bounded whatever is missing.
            while next < size {
                let n = next / WIDTH;
                let tile = src.tile(0, n)?.clone();
                src.cache.remove(&(0, n));
                let off = (next % WIDTH) as usize;
                let buf: Vec<u8> = tile.get(off..).unwrap_or_default().concat();
                if buf.is_empty() {
                    return Err(self.tampered(format!("level-0 tile {n} ends before {next}")));
                }
                self.leaves
                    .write_all_at(&buf, next * 32)
                    .map_err(io("write", &leaves_path))?;
                next += buf.len() as u64 / 32;
            }
            self.leaves.sync_all().map_err(io("fsync", &leaves_path))?;
        }
        let mut dedup = Dedup::with_capacity(size);
        let mut check = CompactRange::new();
        let dir = self.dir.clone();
        for_each_leaf(&self.leaves, &leaves_path, size, |i, rec| {
            dedup.insert(rec, i);
            check
                .try_push(*rec)
                .map(|_| ())
                .map_err(|e| StoreError::Tampered {
                    dir: dir.clone(),
                    what: format!("dedup index: {e}"),
                })
        })?;
        if check.root() != cp.root {
            return Err(self.tampered(format!(
                "{LEAVES} hashes to a different root than checkpoint size {size}"
            )));
        }
        self.range = range;
        self.partial_tiles = partial_tiles;
        self.partial_entries = partial_entries;
        self.dedup = dedup;
        Ok(())
    }

    /// The compact range of checkpoint `cp`'s tree, read from the right edge of the tiles
    /// (O(log n) tiles), checked against its root.
    fn edge_from_tiles(&self, cp: &Checkpoint) -> Result<CompactRange, StoreError> {
        let size = cp.size;
        let mut src = TileSource {
            dir: &self.dir,
            size,
            cache: HashMap::new(),
            reads: &self.tile_reads,
        };
        let mut edge = Vec::new();
        for (level, index) in merkle::right_edge(size) {
            edge.push(src.node(level, index).map_err(|e| StoreError::Tampered {
                dir: self.dir.clone(),
                what: format!("right edge node {level}/{index}: {e}"),
            })?);
        }
        let range = CompactRange::from_nodes(size, edge)
            .map_err(|e| self.tampered(format!("right edge: {e}")))?;
        if range.root() != cp.root {
            return Err(self.tampered(format!(
                "tiles hash to a different root than checkpoint size {size}"
            )));
        }
        Ok(range)
    }

    /// The right-edge partial tiles and entry bundle of a tree of `size`, the bundle checked
    /// against its level-0 tile.
    #[allow(clippy::type_complexity)]
    fn load_partials(&self, size: u64) -> Result<(Vec<Vec<Hash>>, Vec<Vec<u8>>), StoreError> {
        let mut src = TileSource {
            dir: &self.dir,
            size,
            cache: HashMap::new(),
            reads: &self.tile_reads,
        };
        let mut partial_tiles = Vec::new();
        let mut l = 0u32;
        while nodes_at(size, l) > 0 {
            let c = nodes_at(size, l);
            let w = c % WIDTH;
            let hashes = if w == 0 {
                Vec::new()
            } else {
                src.tile(l, c / WIDTH)
                    .map_err(|e| self.tampered(format!("partial tile at level {l}: {e}")))?
                    .clone()
            };
            partial_tiles.push(hashes);
            l += 1;
        }
        let mut partial_entries = Vec::new();
        if size % WIDTH != 0 {
            let n = size / WIDTH;
            let (path, entries) = read_bundle(&self.dir, n, size % WIDTH)
                .map_err(|e| self.tampered(format!("partial entry bundle: {e}")))?;
            let level0 = partial_tiles.first().map(Vec::as_slice).unwrap_or_default();
            let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            if hashes != level0 {
                return Err(
                    self.tampered(format!("{} does not match its hash tile", path.display()))
                );
            }
            partial_entries = entries;
        }
        Ok((partial_tiles, partial_entries))
    }

    /// Brings this node's view up to the checkpoint on disk, when other nodes sharing the
    /// directory have appended (see [`crate::shared`]). Reads only what was added: the new leaf
    /// hashes (which must extend this node's tree to the new checkpoint's root), the right edge
    /// and the partial tiles. Returns whether the view moved. A checkpoint on disk smaller than
    /// this node's, or of the same size with another root, is refused: history is never
    /// rewritten.
    pub fn catch_up(&mut self) -> Result<bool, StoreError> {
        let cp_path = self.dir.join(CHECKPOINT);
        let text = read_optional(&cp_path)?
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| StoreError::MissingCheckpoint {
                dir: self.dir.clone(),
            })?;
        if text == self.checkpoint {
            return Ok(false);
        }
        let cp = open_checkpoint(&text, &self.signer.verifier()).map_err(|source| {
            StoreError::Checkpoint {
                path: cp_path,
                source,
            }
        })?;
        let old = self.size();
        if cp.size < old || (cp.size == old && cp.root != self.root()) {
            return Err(self.tampered(format!(
                "the checkpoint on disk (size {}) does not extend this node's (size {old})",
                cp.size
            )));
        }
        if cp.size == old {
            self.checkpoint = text;
            return Ok(false);
        }
        // The new leaves must extend our tree to the new root.
        let leaves_path = self.dir.join(LEAVES);
        let mut range = self.range.clone();
        let mut fresh = Vec::new();
        let mut next = old;
        let mut buf = vec![0u8; 32 * 4096];
        while next < cp.size {
            let n = (cp.size - next).min(4096);
            let chunk = buf.get_mut(..(n * 32) as usize).unwrap_or_default();
            self.leaves
                .read_exact_at(chunk, next * 32)
                .map_err(io("read", &leaves_path))?;
            for rec in chunk.chunks_exact(32) {
                let mut h: Hash = [0; 32];
                h.copy_from_slice(rec);
                range
                    .try_push(h)
                    .map_err(|e| self.tampered(format!("dedup index: {e}")))?;
                fresh.push(h);
            }
            next += n;
        }
        if range.root() != cp.root {
            return Err(self.tampered(format!(
                "{LEAVES} does not extend size {old} to the root of checkpoint size {}",
                cp.size
            )));
        }
        // The tiles must agree, and their right edge is what later appends build on.
        let edge = self.edge_from_tiles(&cp)?;
        let (partial_tiles, partial_entries) = self.load_partials(cp.size)?;
        if self.dedup.has_room(fresh.len() as u64) {
            for (i, h) in fresh.iter().enumerate() {
                self.dedup.insert(h, old + i as u64);
            }
        } else {
            let mut d = Dedup::with_capacity(cp.size.saturating_mul(2));
            for_each_leaf(&self.leaves, &leaves_path, cp.size, |i, rec| {
                d.insert(rec, i);
                Ok(())
            })?;
            self.dedup = d;
        }
        self.range = edge;
        self.partial_tiles = partial_tiles;
        self.partial_entries = partial_entries;
        self.checkpoint = text;
        Ok(true)
    }

    /// Before an append by the node holding the shared sequencer lock: catch up with the
    /// checkpoint on disk and clear what a node that died part-way through a batch left behind
    /// (partial tiles beyond the checkpoint, temporary files). Only safe under that lock.
    pub fn prepare_exclusive(&mut self) -> Result<(), StoreError> {
        if self.poisoned {
            self.reload()?;
        }
        self.catch_up()?;
        let size = self.size();
        if let Some(b) = read_optional(&self.dir.join(PENDING))? {
            if let Ok(p) = <[u8; 8]>::try_from(b.as_slice()) {
                let pending = u64::from_be_bytes(p);
                if pending > size {
                    self.remove_partials_beyond(size, pending)?;
                }
            }
        }
        self.clear_tmp()
    }

    /// The leaf hashes of entries `from..to` (for the shared sequencer's record).
    pub fn leaf_hashes(&self, from: u64, to: u64) -> Result<Vec<Hash>, StoreError> {
        if from > to || to > self.size() {
            return Err(StoreError::OutOfRange(format!(
                "leaves {from}..{to} of a log of size {}",
                self.size()
            )));
        }
        let path = self.dir.join(LEAVES);
        let mut buf = vec![0u8; usize::try_from((to - from) * 32).unwrap_or(0)];
        self.leaves
            .read_exact_at(&mut buf, from * 32)
            .map_err(io("read", &path))?;
        Ok(buf
            .chunks_exact(32)
            .map(|c| {
                let mut h: Hash = [0; 32];
                h.copy_from_slice(c);
                h
            })
            .collect())
    }

    fn check_files_exist(&self, size: u64) -> Result<(), StoreError> {
        let mut l = 0u32;
        while nodes_at(size, l) >= WIDTH {
            for n in 0..nodes_at(size, l) / WIDTH {
                let rel = tile_path(l as u8, n, None);
                if !self.dir.join(&rel).is_file() {
                    return Err(self.tampered(format!("{rel} is missing")));
                }
            }
            l += 1;
        }
        for n in 0..size / WIDTH {
            let rel = entries_path(n, None);
            if !self.dir.join(&rel).is_file() {
                return Err(self.tampered(format!("{rel} is missing")));
            }
        }
        Ok(())
    }

    /// Delete the partial tiles and bundle that a batch growing the log from `size` to
    /// `pending` wrote (they are beyond the checkpoint).
    fn remove_partials_beyond(&self, size: u64, pending: u64) -> Result<(), StoreError> {
        let mut stale = Vec::new();
        let mut l = 0u32;
        while nodes_at(pending, l) > 0 {
            let (c, c_new) = (nodes_at(size, l), nodes_at(pending, l));
            if c_new != c && c_new % WIDTH != 0 {
                stale.push(tile_path(l as u8, c_new / WIDTH, partial(c_new % WIDTH)));
            }
            l += 1;
        }
        if pending % WIDTH != 0 {
            stale.push(entries_path(pending / WIDTH, partial(pending % WIDTH)));
        }
        let mut dirs = BTreeSet::new();
        for rel in stale {
            let p = self.dir.join(rel);
            match fs::remove_file(&p) {
                Ok(()) => {
                    if let Some(parent) = p.parent() {
                        dirs.insert(parent.to_path_buf());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Io {
                        op: "remove",
                        path: p,
                        source: e,
                    })
                }
            }
        }
        for d in dirs {
            fsync_dir(&d)?;
        }
        Ok(())
    }

    fn sign_checkpoint(&self, size: u64, root: Hash) -> Result<String, StoreError> {
        let cp = Checkpoint {
            origin: self.signer.name().to_owned(),
            size,
            root,
            extensions: Vec::new(),
        };
        self.signer.sign(&cp.to_text()).map_err(StoreError::Sign)
    }

    /// Write `rel` via a temporary file (fsynced) and a rename. The directories whose entries
    /// changed are added to `dirs` for the caller to fsync.
    fn write_atomic(
        &mut self,
        rel: &str,
        bytes: &[u8],
        dirs: &mut BTreeSet<PathBuf>,
    ) -> Result<(), StoreError> {
        let target = self.dir.join(rel);
        let parent = target.parent().unwrap_or(&self.dir).to_path_buf();
        if !parent.is_dir() {
            // Note every directory created, so its own parent entry is fsynced too.
            let mut missing = Vec::new();
            let mut p = parent.as_path();
            while !p.is_dir() {
                missing.push(p.to_path_buf());
                match p.parent() {
                    Some(up) => p = up,
                    None => break,
                }
            }
            fs::create_dir_all(&parent).map_err(io("create directory", &parent))?;
            for m in missing {
                if let Some(up) = m.parent() {
                    dirs.insert(up.to_path_buf());
                }
            }
        }
        self.tmp_counter += 1;
        // The pid keeps names apart when several nodes share the directory (only the node holding
        // the sequencer lock writes, but a node that died may have left files behind).
        let tmp =
            self.dir
                .join(TMP)
                .join(format!("{}-{}.tmp", std::process::id(), self.tmp_counter));
        let mut f = File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(io("write", &tmp))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(io("rename into place", &target))?;
        dirs.insert(parent);
        Ok(())
    }

    /// The log's key, e.g. to publish its verifier key, SPKI and log ID.
    pub fn signer(&self) -> &NoteSigner {
        &self.signer
    }

    /// The log's origin (the signer's key name).
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// Current root.
    pub fn root(&self) -> Hash {
        self.range.root()
    }

    /// The current signed checkpoint.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// How many tile files have been read so far (proofs, entries, recovery).
    pub fn tile_reads(&self) -> u64 {
        self.tile_reads.load(Ordering::Relaxed)
    }

    /// The index of a leaf hash already in the log. An I/O error reading the confirmation is
    /// reported as "not found"; use [`LogStore::try_lookup`] to see it.
    pub fn lookup(&self, leaf: &Hash) -> Option<u64> {
        self.try_lookup(leaf).ok().flatten()
    }

    /// [`LogStore::lookup`] with I/O errors.
    pub fn try_lookup(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        if let Some(&i) = self.dedup.big.get(leaf) {
            return Ok(Some(i));
        }
        let path = self.dir.join(LEAVES);
        for i in self.dedup.candidates(leaf) {
            let mut rec = [0u8; 32];
            self.leaves
                .read_exact_at(&mut rec, i * 32)
                .map_err(io("read", &path))?;
            if &rec == leaf {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Append entries (each at most 65535 bytes). Entries already logged, or repeated within the
    /// batch, are not logged again and come back as [`Appended::Duplicate`]. Durable on return:
    /// the returned checkpoint is on disk. On error nothing is acknowledged and the in-memory log
    /// is unchanged; the next call first rebuilds the state from disk, as a reopen would. (If
    /// the error struck after the new checkpoint was renamed into place, that rebuilt state
    /// includes the batch, and resubmitted entries come back as duplicates.)
    pub fn append_batch(&mut self, entries: &[Vec<u8>]) -> Result<BatchOutcome, StoreError> {
        if self.poisoned {
            // An earlier batch failed part-way: start again from what is durable on disk,
            // exactly as a reopen would.
            self.reload()?;
        }
        if let Some((position, e)) = entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.len() > usize::from(u16::MAX))
        {
            return Err(StoreError::EntryTooLarge {
                position,
                len: e.len(),
            });
        }
        let mut indices = Vec::with_capacity(entries.len());
        let mut batch: HashMap<Hash, u64> = HashMap::new();
        let mut fresh: Vec<(usize, Hash)> = Vec::new();
        let mut next = self.size();
        for (pos, e) in entries.iter().enumerate() {
            let h = leaf_hash(e);
            if let Some(i) = self.try_lookup(&h)?.or_else(|| batch.get(&h).copied()) {
                indices.push(Appended::Duplicate(i));
                continue;
            }
            batch.insert(h, next);
            fresh.push((pos, h));
            indices.push(Appended::New(next));
            next = next
                .checked_add(1)
                .ok_or_else(|| StoreError::OutOfRange("the log is full".into()))?;
        }
        if fresh.is_empty() {
            return Ok(BatchOutcome {
                indices,
                size: self.size(),
                root: self.root(),
                checkpoint: self.checkpoint.clone(),
            });
        }
        self.poisoned = true;
        let outcome = self.write_batch(entries, &fresh, indices)?;
        self.poisoned = false;
        Ok(outcome)
    }

    fn write_batch(
        &mut self,
        entries: &[Vec<u8>],
        fresh: &[(usize, Hash)],
        indices: Vec<Appended>,
    ) -> Result<BatchOutcome, StoreError> {
        let old = self.size();
        let new_size = old + fresh.len() as u64;
        let mut dirs = BTreeSet::new();
        // 1. Say which size this batch is writing, for recovery.
        self.write_atomic(PENDING, &new_size.to_be_bytes(), &mut dirs)?;
        for d in std::mem::take(&mut dirs) {
            fsync_dir(&d)?;
        }
        // 2. Tiles and bundles.
        let mut range = self.range.clone();
        let mut ptiles = self.partial_tiles.clone();
        let mut pentries = self.partial_entries.clone();
        let mut completed: Vec<String> = Vec::new();
        for &(pos, h) in fresh {
            let entry = entries.get(pos).map(Vec::as_slice).unwrap_or_default();
            pentries.push(entry.to_vec());
            if pentries.len() as u64 == WIDTH {
                let n = (range.size()) / WIDTH;
                let refs: Vec<&[u8]> = pentries.iter().map(Vec::as_slice).collect();
                let bundle = tiles::encode_entry_bundle(&refs)?;
                self.write_atomic(&entries_path(n, None), &bundle, &mut dirs)?;
                completed.push(format!("tile/entries/{}", index_dir(n)));
                pentries.clear();
            }
            let done = range
                .try_push(h)
                .map_err(|e| StoreError::OutOfRange(e.to_string()))?;
            for (level, index, hash) in done {
                if u32::from(level) % HEIGHT != 0 {
                    continue;
                }
                let l = (u32::from(level) / HEIGHT) as usize;
                while ptiles.len() <= l {
                    ptiles.push(Vec::new());
                }
                let Some(row) = ptiles.get_mut(l) else {
                    continue;
                };
                row.push(hash);
                if row.len() as u64 == WIDTH {
                    let bytes = row.concat();
                    row.clear();
                    let n = index / WIDTH;
                    self.write_atomic(&tile_path(l as u8, n, None), &bytes, &mut dirs)?;
                    completed.push(format!("tile/{l}/{}", index_dir(n)));
                }
            }
        }
        // Partial tiles whose width changed.
        for (l, row) in ptiles.iter().enumerate() {
            let l32 = l as u32;
            let (c_old, c_new) = (nodes_at(old, l32), nodes_at(new_size, l32));
            if c_old != c_new && !row.is_empty() {
                let rel = tile_path(l as u8, c_new / WIDTH, partial(c_new % WIDTH));
                self.write_atomic(&rel, &row.concat(), &mut dirs)?;
            }
        }
        if !pentries.is_empty() {
            let refs: Vec<&[u8]> = pentries.iter().map(Vec::as_slice).collect();
            let bundle = tiles::encode_entry_bundle(&refs)?;
            let rel = entries_path(new_size / WIDTH, partial(new_size % WIDTH));
            self.write_atomic(&rel, &bundle, &mut dirs)?;
        }
        for d in std::mem::take(&mut dirs) {
            fsync_dir(&d)?;
        }
        // 3. The dedup index.
        let leaves_path = self.dir.join(LEAVES);
        let mut buf = Vec::with_capacity(fresh.len() * 32);
        for (_, h) in fresh {
            buf.extend_from_slice(h);
        }
        self.leaves
            .set_len(old * 32)
            .and_then(|()| self.leaves.write_all_at(&buf, old * 32))
            .and_then(|()| self.leaves.sync_data())
            .map_err(io("append", &leaves_path))?;
        // A bigger dedup table, if needed, is built now from the file, before the commit.
        let grown = if self.dedup.has_room(fresh.len() as u64) {
            None
        } else {
            let mut d = Dedup::with_capacity(new_size.saturating_mul(2));
            for_each_leaf(&self.leaves, &leaves_path, new_size, |i, rec| {
                d.insert(rec, i);
                Ok(())
            })?;
            Some(d)
        };
        // 4. The checkpoint: the commit point.
        let root = range.root();
        let signed = self.sign_checkpoint(new_size, root)?;
        self.write_atomic(CHECKPOINT, signed.as_bytes(), &mut dirs)?;
        for d in std::mem::take(&mut dirs) {
            fsync_dir(&d)?;
        }
        // Committed: update memory.
        match grown {
            Some(d) => self.dedup = d,
            None => {
                for (i, (_, h)) in fresh.iter().enumerate() {
                    self.dedup.insert(h, old + i as u64);
                }
            }
        }
        self.range = range;
        self.partial_tiles = ptiles;
        self.partial_entries = pentries;
        self.checkpoint = signed.clone();
        // Partial versions of tiles that are now full are no longer needed (best effort: a
        // leftover is still correct data).
        for rel in completed {
            let _ = fs::remove_dir_all(self.dir.join(format!("{rel}.p")));
        }
        Ok(BatchOutcome {
            indices,
            size: new_size,
            root,
            checkpoint: signed,
        })
    }

    fn source(&self) -> TileSource<'_> {
        TileSource {
            dir: &self.dir,
            size: self.size(),
            cache: HashMap::new(),
            reads: &self.tile_reads,
        }
    }

    /// Inclusion proof for leaf `index` in the tree of `size` (≤ the current size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        if size > self.size() {
            return Err(StoreError::OutOfRange(format!(
                "tree size {size} is beyond the log size {}",
                self.size()
            )));
        }
        merkle::inclusion_proof(&mut self.source(), index, size).map_err(unwrap_gen)
    }

    /// Inclusion proofs for several leaves in the tree of `size`, reading each tile once (the
    /// sequencer proves a whole batch against its new checkpoint).
    pub fn inclusion_proofs(
        &self,
        indices: &[u64],
        size: u64,
    ) -> Result<Vec<Vec<Hash>>, StoreError> {
        if size > self.size() {
            return Err(StoreError::OutOfRange(format!(
                "tree size {size} is beyond the log size {}",
                self.size()
            )));
        }
        let mut src = self.source();
        indices
            .iter()
            .map(|&i| merkle::inclusion_proof(&mut src, i, size).map_err(unwrap_gen))
            .collect()
    }

    /// Consistency proof between sizes `0 < size1 ≤ size2 ≤` the current size.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, StoreError> {
        if size2 > self.size() {
            return Err(StoreError::OutOfRange(format!(
                "tree size {size2} is beyond the log size {}",
                self.size()
            )));
        }
        merkle::consistency_proof(&mut self.source(), size1, size2).map_err(unwrap_gen)
    }

    /// The root of the tree of `size` (≤ the current size), from the tiles.
    pub fn root_at(&self, size: u64) -> Result<Hash, StoreError> {
        if size > self.size() {
            return Err(StoreError::OutOfRange(format!(
                "tree size {size} is beyond the log size {}",
                self.size()
            )));
        }
        merkle::tree_root(&mut self.source(), size).map_err(unwrap_gen)
    }

    /// The entry at `index`.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        let size = self.size();
        if index >= size {
            return Err(StoreError::OutOfRange(format!(
                "entry {index} is beyond the log size {size}"
            )));
        }
        let n = index / WIDTH;
        let width = (size - n * WIDTH).min(WIDTH);
        let (_, entries) = read_bundle(&self.dir, n, width)?;
        entries
            .into_iter()
            .nth((index % WIDTH) as usize)
            .ok_or_else(|| StoreError::OutOfRange(format!("entry {index}")))
    }

    /// A file of the static tree as C2SP serves it: `checkpoint`, `tile/<L>/<N>[.p/<W>]` or
    /// `tile/entries/<N>[.p/<W>]`. Any other path is an error; a tile the current checkpoint
    /// does not cover, or one no longer kept (an old partial), is `None`.
    pub fn read_static(&self, path: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if path == CHECKPOINT {
            return Ok(Some(self.checkpoint.as_bytes().to_vec()));
        }
        let t = tiles::parse_tile_path(path)?;
        let have = match t.level {
            Some(l) => nodes_at(self.size(), u32::from(l)),
            None => self.size(),
        };
        let width = u64::from(t.partial.unwrap_or(tiles::TILE_WIDTH));
        let end = t
            .index
            .checked_mul(WIDTH)
            .and_then(|s| s.checked_add(width));
        if end.is_none_or(|end| end > have) {
            return Ok(None);
        }
        // The canonical path again: never the caller's string.
        read_optional(&self.dir.join(t.to_path()))
    }

    /// Re-hash every entry and tile the checkpoint covers and compare with the checkpoint:
    /// O(n) reads, O(log n) memory. `open` checks only the right edge and the dedup index.
    pub fn verify_full(&self) -> Result<(), StoreError> {
        let size = self.size();
        let mut range = CompactRange::new();
        let mut src = self.source();
        let mut bundle_no = 0u64;
        while bundle_no * WIDTH < size {
            let width = (size - bundle_no * WIDTH).min(WIDTH);
            let (_, entries) = read_bundle(&self.dir, bundle_no, width)
                .map_err(|e| self.tampered(e.to_string()))?;
            for e in entries {
                for (level, index, hash) in range
                    .try_push(leaf_hash(&e))
                    .map_err(|e| self.tampered(e.to_string()))?
                {
                    if u32::from(level) % HEIGHT == 0 {
                        let stored = src.node(level, index)?;
                        if stored != hash {
                            let l = u32::from(level) / HEIGHT;
                            return Err(self.tampered(format!(
                                "tile level {l} node {index} does not match the entries"
                            )));
                        }
                    }
                }
            }
            // Keep the cache to the tiles still needed: one per level.
            src.cache.retain(|&(l, n), _| {
                let next = (bundle_no + 1) * WIDTH;
                n >= nodes_at(next, l) / WIDTH
            });
            bundle_no += 1;
        }
        let cp = open_checkpoint(&self.checkpoint, &self.signer.verifier()).map_err(|source| {
            StoreError::Checkpoint {
                path: self.dir.join(CHECKPOINT),
                source,
            }
        })?;
        if range.root() != cp.root || cp.size != size {
            return Err(self.tampered("entries hash to a different root".into()));
        }
        Ok(())
    }
}

/// The directory part of an index path (`x001/234`), to which `.p` is added for partials.
fn index_dir(n: u64) -> String {
    entries_path(n, None)
        .strip_prefix("tile/entries/")
        .unwrap_or_default()
        .to_owned()
}
