//! Test-only view of a fixture directory: [`DirFs`] for reads, plus `files()` as the image views give
//! it: every regular file (symlinks not followed, as a layer lists them) that the language analyzers
//! want, sorted.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::dirfs::DirFs;
use crate::fs::{FsView, ReadError, Stat};
use crate::layer::Limits;

/// A fixture root.
#[derive(Debug)]
pub(crate) struct WalkFs {
    dir: DirFs,
    root: PathBuf,
}

impl WalkFs {
    pub(crate) fn new(root: &Path) -> Self {
        WalkFs {
            dir: DirFs::new(root, Limits::default()),
            root: root.to_owned(),
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            walk(root, &p, out);
        } else if m.is_file() {
            if let Some(rel) = p.strip_prefix(root).ok().and_then(|r| r.to_str()) {
                if super::wants(rel) || crate::lang::python::wants(rel) {
                    out.push(rel.to_owned());
                }
            }
        }
    }
}

impl FsView for WalkFs {
    fn read(&self, path: &str) -> Result<Option<Cow<'_, [u8]>>, ReadError> {
        self.dir.read(path)
    }
    fn list(&self, dir: &str) -> Vec<String> {
        self.dir.list(dir)
    }
    fn stat(&self, path: &str) -> Option<Stat> {
        self.dir.stat(path)
    }
    fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

/// The built fixture directory `nodepy/<part>`, or `None` (with a note on stderr) when it is not built
/// and `CI` is unset.
#[allow(clippy::print_stderr, clippy::panic)]
pub(crate) fn fixture(part: &str) -> Option<PathBuf> {
    let base = std::env::var_os("STELLA_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"),
        PathBuf::from,
    );
    let dir = base.join("nodepy").join(part);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("fixture {} missing", dir.display());
    }
    eprintln!(
        "skipped: {} missing; build it with scanner-core/tests/fixtures/nodepy/build.sh",
        dir.display()
    );
    None
}
