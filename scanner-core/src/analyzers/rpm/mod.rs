//! The rpm package-database analyzer (RHEL, Fedora, SUSE, Amazon Linux, Mariner, …).
//!
//! rpm keeps one header blob per installed package in one of three containers, all read here in pure
//! Rust from the bytes an [`FsView`] hands over:
//!
//! * [`sqlite`] — `rpmdb.sqlite` (rpm ≥ 4.16, the default on Fedora/RHEL 9): a minimal read-only SQLite 3
//!   file-format reader that walks the `Packages` table. The write-ahead log (`rpmdb.sqlite-wal`) is
//!   ignored: rpm checkpoints it when a transaction ends, and images are built from finished
//!   transactions.
//! * [`ndb`] — `Packages.db` (SUSE): rpm's own slot/blob store.
//! * [`bdb`] — `Packages` (RHEL ≤ 8, Amazon Linux 2, CentOS): a Berkeley DB hash database.
//!
//! [`header`] parses a blob into a [`Package`]. Each container parser returns one `Result` per record so
//! that one damaged record becomes a [`Diagnostic`] instead of hiding the rest; every page number,
//! offset and count read from the input is bounds-checked and every walk is bounded by the input size.
//! What this does *not* do: verify signatures or digests, read rpm's index databases (`Name`,
//! `Basenames`, `Index.db`), or read the sqlite WAL.
//!
//! ```
//! use scanner_core::{analyzers::rpm, fs::MemFs, model::Inventory};
//! let fs = MemFs::new();
//! let mut inv = Inventory::default();
//! rpm::analyze(&fs, &mut inv);
//! assert!(inv.packages.is_empty() && inv.diagnostics.is_empty());
//! assert!(rpm::wants("var/lib/rpm/rpmdb.sqlite"));
//! ```

#![warn(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub mod bdb;
pub mod header;
pub mod ndb;
pub mod sqlite;

use crate::fs::FsView;
use crate::model::{Diagnostic, Inventory};

/// Why a database, or one record of it, could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpmDbError {
    /// The input ends before a structure it announces.
    #[error("truncated: {what} at offset {offset} needs {needed} bytes")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Byte offset of the structure.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
    },
    /// A magic number or format identifier did not match.
    #[error("not a {format} file: bad magic")]
    BadMagic {
        /// The expected format.
        format: &'static str,
    },
    /// A header field holds a value this reader does not accept.
    #[error("unsupported {what}: {value}")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A page number points outside the file.
    #[error("page {page} out of range (file has {pages} pages)")]
    PageOutOfRange {
        /// The page number.
        page: u64,
        /// Pages in the file.
        pages: u64,
    },
    /// A page was reached twice: the structure has a cycle.
    #[error("page {page} reached twice (cycle)")]
    PageCycle {
        /// The page number.
        page: u64,
    },
    /// A page is not of the type its reference promises.
    #[error("page {page}: unexpected page type {kind:#04x}")]
    BadPageType {
        /// The page number.
        page: u64,
        /// The type byte found.
        kind: u8,
    },
    /// Some structure inside a page is inconsistent.
    #[error("page {page}: {what}")]
    BadPage {
        /// The page number.
        page: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// A record (SQLite row, NDB slot, Berkeley DB item) is inconsistent.
    #[error("record {record}: {what}")]
    BadRecord {
        /// Row id, package index, or item number.
        record: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The SQLite schema has no `Packages` table.
    #[error("no Packages table in the SQLite schema")]
    NoPackagesTable,
    /// A header index entry points outside the data store or has an impossible count.
    #[error("header tag {tag}: type {kind}, offset {offset}, count {count} out of bounds")]
    TagOutOfBounds {
        /// The tag number.
        tag: u32,
        /// The declared type.
        kind: u32,
        /// The declared offset into the data store.
        offset: u32,
        /// The declared count.
        count: u32,
    },
    /// A header tag this reader needs has the wrong type.
    #[error("header tag {tag}: unexpected type {kind}")]
    BadTagType {
        /// The tag number.
        tag: u32,
        /// The type found.
        kind: u32,
    },
    /// A header lacks a tag every package has.
    #[error("header has no tag {tag}")]
    MissingTag {
        /// The tag number.
        tag: u32,
    },
}

/// Where rpm keeps its database: the classic location and the `/usr` one newer distributions use.
const DIRS: [&str; 2] = ["var/lib/rpm", "usr/lib/sysimage/rpm"];

/// The database files per backend, in the order [`analyze`] prefers them.
const BACKENDS: [(&str, Backend); 3] = [
    ("rpmdb.sqlite", Backend::Sqlite),
    ("Packages.db", Backend::Ndb),
    ("Packages", Backend::Bdb),
];

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Ndb,
    Bdb,
}

/// Whether an image file at `path` (relative, no leading `/`) is one the rpm analyzer reads.
/// Cheap and allocation-free: it is called for every tar entry.
pub fn wants(path: &str) -> bool {
    DIRS.iter().any(|dir| {
        path.strip_prefix(dir)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| BACKENDS.iter().any(|(file, _)| *file == name))
    })
}

/// Reads the rpm database in `fs`, if any, and appends its packages (kind rpm) to `inv`.
///
/// The first database found wins, preferring sqlite, then ndb, then bdb, each in `var/lib/rpm` before
/// `usr/lib/sysimage/rpm` (often one is a symlink to the other). Problems become diagnostics.
pub fn analyze(fs: &dyn FsView, inv: &mut Inventory) {
    for (file, backend) in BACKENDS {
        for dir in DIRS {
            let path = format!("{dir}/{file}");
            let bytes = match fs.read(&path) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(e) => {
                    inv.diagnostics.push(diagnostic(&path, e.to_string()));
                    continue;
                }
            };
            analyze_bytes(&bytes, backend, &path, inv);
            return;
        }
    }
}

fn analyze_bytes(bytes: &[u8], backend: Backend, path: &str, inv: &mut Inventory) {
    let records = match backend {
        Backend::Sqlite => sqlite::read_blobs(bytes),
        Backend::Ndb => ndb::read_blobs(bytes),
        Backend::Bdb => bdb::read_blobs(bytes),
    };
    let records = match records {
        Ok(records) => records,
        Err(e) => {
            inv.diagnostics.push(diagnostic(path, e.to_string()));
            return;
        }
    };
    let found_in = format!("/{path}");
    for record in records {
        match record.and_then(|blob| header::parse_package(&blob, &found_in)) {
            Ok(Some(package)) => inv.packages.push(package),
            Ok(None) => {}
            Err(e) => inv.diagnostics.push(diagnostic(path, e.to_string())),
        }
    }
}

fn diagnostic(path: &str, message: String) -> Diagnostic {
    Diagnostic {
        layer: None,
        path: format!("/{path}"),
        message: format!("rpm database: {message}"),
    }
}

/// Bounds-checked slice `data[offset..offset + len]`.
fn slice<'a>(
    data: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], RpmDbError> {
    offset
        .checked_add(len)
        .and_then(|end| data.get(offset..end))
        .ok_or(RpmDbError::Truncated {
            what,
            offset,
            needed: len,
        })
}

fn array<const N: usize>(
    data: &[u8],
    offset: usize,
    what: &'static str,
) -> Result<[u8; N], RpmDbError> {
    let s = slice(data, offset, N, what)?;
    <[u8; N]>::try_from(s).map_err(|_| RpmDbError::Truncated {
        what,
        offset,
        needed: N,
    })
}

fn be_u16(data: &[u8], offset: usize, what: &'static str) -> Result<u16, RpmDbError> {
    array(data, offset, what).map(u16::from_be_bytes)
}

fn be_u32(data: &[u8], offset: usize, what: &'static str) -> Result<u32, RpmDbError> {
    array(data, offset, what).map(u32::from_be_bytes)
}

fn le_u32(data: &[u8], offset: usize, what: &'static str) -> Result<u32, RpmDbError> {
    array(data, offset, what).map(u32::from_le_bytes)
}

/// `u32` → `usize` (lossless on every platform we build for; an error rather than a cast elsewhere).
fn usize_from(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
