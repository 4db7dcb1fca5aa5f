//! One variant per way TUF metadata or a target can be rejected, each carrying what failed.

use std::path::PathBuf;

/// Everything the client and the repository tooling can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not valid metadata of the expected role (JSON, required fields, `_type`).
    #[error("{what}: malformed metadata: {reason}")]
    Malformed { what: String, reason: String },
    /// Fewer distinct trusted keys than the role's threshold signed the metadata.
    #[error("{role}: signature threshold not met: {valid} valid signature(s) from distinct trusted keys, {threshold} required")]
    ThresholdNotMet {
        role: String,
        valid: u64,
        threshold: u64,
    },
    /// The new metadata has a lower version than the trusted one (rollback attack).
    #[error("{role}: rollback attack: trusted version {trusted}, got version {got}")]
    RollbackAttack {
        role: String,
        trusted: u64,
        got: u64,
    },
    /// The metadata expired (freeze attack, or a repository nobody refreshed).
    #[error("{role}: metadata expired at {expires}")]
    Expired { role: String, expires: String },
    /// The metadata's version is not the one the referring metadata (or the root chain) names:
    /// a mix-and-match attack, or a root that skipped a version.
    #[error("{role}: bad version: expected version {expected}, got version {got}")]
    BadVersion {
        role: String,
        expected: u64,
        got: u64,
    },
    /// A file's bytes do not match the length or a hash its trusted metadata gives.
    #[error("{what}: length or hash mismatch: {reason}")]
    LengthOrHashMismatch { what: String, reason: String },
    /// A meta entry listed by the trusted snapshot is missing from the new one.
    #[error("snapshot: {name} was listed by the trusted snapshot and is missing from the new one")]
    MetaRemoved { name: String },
    /// No such target in the trusted targets metadata.
    #[error("target {name:?} is not in the trusted targets metadata")]
    TargetNotFound { name: String },
    /// More bytes arrived than the limit for this file (endless data attack); the read stopped there.
    #[error("{what}: endless data: more than {limit} bytes")]
    EndlessData { what: String, limit: u64 },
    /// The repository has no such file (HTTP 403/404, or no file in the local directory).
    #[error("{path}: not found on the repository")]
    NotFound { path: String },
    /// The transport failed.
    #[error("{path}: download failed: {reason}")]
    Fetch { path: String, reason: String },
    /// A local file (cache, keys, repository) could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A target name that could escape a directory or is not a plain relative path.
    #[error("invalid target name {name:?}: {reason}")]
    BadTargetName { name: String, reason: String },
    /// A key or signing problem (unsupported key type, unreadable private key).
    #[error("key: {reason}")]
    Key { reason: String },
    /// A role's metadata is needed and not loaded yet (the workflow steps out of order).
    #[error("{role}: no trusted metadata loaded")]
    Missing { role: String },
    /// The repository tooling was asked for something it cannot do.
    #[error("repository: {reason}")]
    Repository { reason: String },
}

impl Error {
    pub(crate) fn malformed(what: &str, reason: impl Into<String>) -> Self {
        Error::Malformed {
            what: what.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
