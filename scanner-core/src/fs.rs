//! A read-only view of a file system that analyzers query.
//!
//! Analyzers never touch the real file system: they ask an [`FsView`] for the few files they need. The
//! views are the merged image (`overlay::Overlay`), a single layer on its own (for layer attribution), and a
//! rootfs directory (`dirfs::DirFs`). Paths are always relative to the image root, `/`-separated, without a
//! leading `/` and without `.`/`..` components (e.g. `var/lib/dpkg/status`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::facts::Facts;

/// Why a file could not be read through a view.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is larger than the analyzer limit.
    #[error("{path}: file is {size} bytes, over the {limit}-byte limit for package databases")]
    TooLarge {
        /// Path inside the image.
        path: String,
        /// Size of the file.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// Symlinks did not resolve within the hop limit.
    #[error("{path}: too many levels of symbolic links")]
    SymlinkLoop {
        /// Path inside the image.
        path: String,
    },
    /// An I/O error reading a rootfs directory.
    #[error("{path}: {source}")]
    Io {
        /// Path inside the image.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A read-only file-system view.
pub trait FsView {
    /// The bytes of the regular file at `path`, following symlinks (and hardlinks) inside the root only.
    /// `Ok(None)` when nothing is there, when it is not a regular file, or when the view did not keep the
    /// file's content (image views keep only the paths analyzers asked for).
    fn read(&self, path: &str) -> Result<Option<Cow<'_, [u8]>>, ReadError>;

    /// Names of the entries directly inside directory `dir` (`""` is the root), sorted, following
    /// symlinks inside the root. Empty when `dir` is absent or not a directory.
    fn list(&self, dir: &str) -> Vec<String>;

    /// Every regular file whose content the view kept (image views: the paths [`crate::analyzers::wants`]
    /// selected; a rootfs: those paths found by walking it), sorted. Language analyzers find their
    /// metadata files (`*.dist-info/METADATA`, `node_modules/**/package.json`, …) here.
    fn files(&self) -> Vec<String> {
        Vec::new()
    }

    /// Every regular file the content extractors found something in, with its facts, sorted by path.
    fn facts(&self) -> Vec<(String, Facts)> {
        Vec::new()
    }

    /// What is at `path` after following symlinks inside the root; `None` when nothing is there (or
    /// the view does not know).
    fn stat(&self, path: &str) -> Option<Stat> {
        let _ = path;
        None
    }
}

/// What [`FsView::stat`] tells about a path.
#[derive(Debug, Clone)]
pub struct Stat {
    /// The real path after resolving symlinks (root-relative).
    pub real: String,
    /// A regular file (or a hardlink to one).
    pub is_file: bool,
    /// A directory.
    pub is_dir: bool,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Facts the content extractors found in the file, if any.
    pub facts: Option<Facts>,
}

/// An in-memory view of regular files, for tests and small synthetic inputs.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemFs {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a regular file.
    pub fn insert(&mut self, path: &str, content: impl Into<Vec<u8>>) -> &mut Self {
        self.files
            .insert(path.trim_start_matches('/').to_owned(), content.into());
        self
    }
}

impl FsView for MemFs {
    fn read(&self, path: &str) -> Result<Option<Cow<'_, [u8]>>, ReadError> {
        Ok(self
            .files
            .get(path.trim_start_matches('/'))
            .map(|v| Cow::Borrowed(v.as_slice())))
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let dir = dir.trim_matches('/');
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut names: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k.get(prefix.len()..))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        names.dedup();
        names
    }

    fn files(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    fn stat(&self, path: &str) -> Option<Stat> {
        let real = path.trim_start_matches('/');
        let f = self.files.get(real)?;
        Some(Stat {
            real: real.to_owned(),
            is_file: true,
            is_dir: false,
            mode: 0o755,
            size: f.len() as u64,
            facts: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfs_lists_direct_children_only() {
        let mut fs = MemFs::new();
        fs.insert("var/lib/dpkg/status", "x")
            .insert("var/lib/dpkg/info/a.list", "y")
            .insert("var/lib/dpkg/info/b.list", "z")
            .insert("var/lib/dpkgx", "w");
        assert_eq!(fs.list("var/lib/dpkg"), vec!["info", "status"]);
        assert_eq!(fs.list("var/lib/dpkg/info"), vec!["a.list", "b.list"]);
        assert_eq!(fs.list("nope"), Vec::<String>::new());
        assert_eq!(
            fs.read("/var/lib/dpkg/status").unwrap().as_deref(),
            Some(&b"x"[..])
        );
    }
}
