//! The client's trusted-metadata cache: `metadata/{root,timestamp,snapshot,targets}.json`,
//! `targets/<name>` and `repository.json` (the repository URL pinned by `stella trust init`).
//! Every write is atomic: a temporary file in the same directory, fsync, rename.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fetch::check_relative_path;

/// The default cache directory: `$STELLA_TRUST_DIR`, else `$XDG_CONFIG_HOME/stella/trust`, else
/// `~/.config/stella/trust`.
pub fn default_trust_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("STELLA_TRUST_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("stella").join("trust"));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty())?;
    Some(
        PathBuf::from(home)
            .join(".config")
            .join("stella")
            .join("trust"),
    )
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, fsync, rename),
/// creating the parent directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A client cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache at `dir` (nothing is created until something is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `metadata/<role>.json`.
    pub fn metadata_path(&self, role: &str) -> PathBuf {
        self.dir.join("metadata").join(format!("{role}.json"))
    }

    /// `targets/<name>` (the name is checked to stay inside the directory).
    pub fn target_path(&self, name: &str) -> Result<PathBuf> {
        check_relative_path(name)?;
        Ok(self.dir.join("targets").join(name))
    }

    /// Reads cached metadata of `role`, `None` if absent; at most `limit` bytes.
    pub fn read_metadata(&self, role: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        match crate::fetch::read_limited(&self.metadata_path(role), role, limit) {
            Ok(b) => Ok(Some(b)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores metadata of `role` atomically.
    pub fn write_metadata(&self, role: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.metadata_path(role), bytes)
    }

    /// Removes cached metadata of `role` (absent is fine).
    pub fn remove_metadata(&self, role: &str) -> Result<()> {
        let p = self.metadata_path(role);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&p, e)),
            _ => Ok(()),
        }
    }

    /// Pins `root_bytes` as the trusted root (trust on first use of that file). The caller should
    /// have checked it parses; the client verifies its self-signature on every load.
    pub fn pin_root(&self, root_bytes: &[u8]) -> Result<()> {
        crate::trusted::TrustedSet::new(root_bytes, 0)?;
        for role in ["timestamp", "snapshot", "targets"] {
            self.remove_metadata(role)?;
        }
        self.write_metadata("root", root_bytes)
    }

    /// The repository URL stored by [`Cache::set_repository_url`].
    pub fn repository_url(&self) -> Result<Option<String>> {
        let p = self.dir.join("repository.json");
        let bytes = match crate::fetch::read_limited(&p, "repository.json", 64 * 1024) {
            Ok(b) => b,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::malformed("repository.json", e.to_string()))?;
        Ok(v.get("url")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string))
    }

    /// Stores the repository URL.
    pub fn set_repository_url(&self, url: &str) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&serde_json::json!({ "url": url }))
            .map_err(|e| Error::malformed("repository.json", e.to_string()))?;
        text.push('\n');
        write_atomic(&self.dir.join("repository.json"), text.as_bytes())
    }
}
