//! A rootfs directory on disk as an [`FsView`].
//!
//! The directory is treated as an image root, not as part of the host: symlinks are resolved by hand,
//! one component at a time (`lstat`, `readlink`, join inside the root), with absolute targets starting
//! again at the root and `..` stopping at it. The OS is only ever asked to open a path whose every
//! component we have just seen is not a symlink, so a link to `/etc/passwd` reads the root's own
//! `etc/passwd`, never the host's.
//!
//! Not defended: a directory that someone changes *while* we scan it (a component swapped for a symlink
//! between our `lstat` and the `open`). Scan directories nobody else is writing to.

use std::borrow::Cow;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::fs::{FsView, ReadError};
use crate::layer::Limits;
use crate::overlay::{resolve, Loop};

/// A rootfs directory view.
#[derive(Debug, Clone)]
pub struct DirFs {
    root: PathBuf,
    limits: Limits,
}

impl DirFs {
    /// A view of the directory `root`; `limits.max_wanted_file` bounds reads and
    /// `limits.max_symlink_hops` bounds symlink resolution.
    pub fn new(root: impl Into<PathBuf>, limits: Limits) -> Self {
        DirFs {
            root: root.into(),
            limits,
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn host_path(&self, real: &str) -> PathBuf {
        let mut p = self.root.clone();
        for c in real.split('/').filter(|c| !c.is_empty()) {
            p.push(c);
        }
        p
    }

    /// Resolves `path` inside the root; `Ok(None)` when a component is missing.
    fn resolve(&self, path: &str) -> Result<Option<String>, ReadError> {
        let io_err = |source: io::Error| ReadError::Io {
            path: path.to_owned(),
            source,
        };
        let mut missing = false;
        let resolved = resolve(path, true, self.limits.max_symlink_hops, |p| {
            if missing {
                return Ok(None);
            }
            let host = self.host_path(p);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = fs::read_link(&host).map_err(io_err)?;
                    Ok(Some(target.to_string_lossy().into_owned()))
                }
                Ok(_) => Ok(None),
                Err(e) if is_absent(&e) => {
                    missing = true;
                    Ok(None)
                }
                Err(e) => Err(io_err(e)),
            }
        })?;
        match resolved {
            Ok(real) if !missing => Ok(Some(real)),
            Ok(_) => Ok(None),
            Err(Loop) => Err(ReadError::SymlinkLoop {
                path: path.to_owned(),
            }),
        }
    }
}

fn is_absent(e: &io::Error) -> bool {
    // ENOTDIR (a file used as a directory) means "nothing there" too.
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

impl FsView for DirFs {
    fn read(&self, path: &str) -> Result<Option<Cow<'_, [u8]>>, ReadError> {
        let Some(real) = self.resolve(path)? else {
            return Ok(None);
        };
        let host = self.host_path(&real);
        let io_err = |source: io::Error| ReadError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = match fs::symlink_metadata(&host) {
            Ok(m) => m,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        if !meta.file_type().is_file() {
            return Ok(None);
        }
        let limit = self.limits.max_wanted_file;
        if meta.len() > limit {
            return Err(ReadError::TooLarge {
                path: path.to_owned(),
                size: meta.len(),
                limit,
            });
        }
        let file = match fs::File::open(&host) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        // Read one byte past the limit so a file that grew since the stat is still caught.
        file.take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(io_err)?;
        if buf.len() as u64 > limit {
            return Err(ReadError::TooLarge {
                path: path.to_owned(),
                size: buf.len() as u64,
                limit,
            });
        }
        Ok(Some(Cow::Owned(buf)))
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let Ok(Some(real)) = self.resolve(dir) else {
            return Vec::new();
        };
        let host = self.host_path(&real);
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {}
            _ => return Vec::new(),
        }
        let Ok(rd) = fs::read_dir(&host) else {
            return Vec::new();
        };
        // Names that are not UTF-8 cannot be asked for through a `&str` path, so they are left out.
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}
