//! Facts extracted from one file's bytes while its layer streams by.
//!
//! Binaries and archives are too large to keep: the layer reader hands each candidate file (chosen by
//! [`Extractor::candidate`] from its path, mode and first bytes) to [`Extractor::extract`], keeps the
//! small [`FileFacts`] it returns and drops the bytes. The overlay carries the facts with the path, so a
//! later layer that deletes or replaces the file drops its facts too.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::lang::native::NativeInfo;
use crate::model::{Diagnostic, Digest, Package};

/// What one file told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileFacts {
    /// SHA-256 of the whole file.
    pub sha256: Option<Digest>,
    /// Packages found inside (Java archives, Go buildinfo, cargo-auditable).
    pub packages: Vec<Package>,
    /// Native object facts (ELF, PE, Mach-O).
    pub native: Option<NativeInfo>,
    /// A Rust binary without cargo-auditable data (reported as a `bin:` component).
    pub rust_unaudited: bool,
    /// PE version resource strings (FileVersion, ProductName, CompanyName, …).
    pub pe_version: BTreeMap<String, String>,
    /// The content of a small `#!` script, kept for EntryTrace.
    pub script: Option<Arc<[u8]>>,
    /// Problems met while extracting; `path` is the file's.
    pub diagnostics: Vec<Diagnostic>,
}

/// Shared, immutable facts of one file.
pub type Facts = Arc<FileFacts>;

/// Chooses and runs the content extractors on one file.
pub trait Extractor: Sync {
    /// Whether a regular file the analyzers did not ask to keep may hold facts, from its root-relative
    /// `path`, permission `mode`, `size` and first bytes (`head`, at most [`HEAD_LEN`]).
    fn candidate(&self, path: &str, mode: u32, size: u64, head: &[u8]) -> bool;
    /// The facts of a candidate file given its whole content; `None` when it held nothing.
    fn extract(&self, path: &str, bytes: &[u8]) -> Option<Facts>;
}

/// How many leading bytes [`Extractor::candidate`] sees.
pub const HEAD_LEN: usize = 64;

/// An extractor that never extracts anything (OS-package-only scans, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFacts;

impl Extractor for NoFacts {
    fn candidate(&self, _: &str, _: u32, _: u64, _: &[u8]) -> bool {
        false
    }
    fn extract(&self, _: &str, _: &[u8]) -> Option<Facts> {
        None
    }
}
