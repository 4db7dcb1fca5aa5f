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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::facts::{Extractor, Facts};
use crate::fs::{FsView, ReadError, Stat};
use crate::layer::Limits;
use crate::overlay::{resolve, Loop};

/// A rootfs directory view.
#[derive(Clone)]
pub struct DirFs {
    root: PathBuf,
    limits: Limits,
    extractor: Arc<dyn Extractor + Send>,
    wants: fn(&str) -> bool,
    record: bool,
    walk: Arc<OnceLock<Walk>>,
}

impl std::fmt::Debug for DirFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirFs")
            .field("root", &self.root)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What one walk of the tree found: the wanted files and every extracted file's facts (and, when
/// recording, every entry and what could not be read).
#[derive(Debug, Default)]
struct Walk {
    files: Vec<String>,
    facts: BTreeMap<String, Facts>,
    entries: Vec<Walked>,
    diagnostics: Vec<(String, String)>,
}

/// A file whose content the extractor may want: path, host path, size, mode.
type Candidate = (String, PathBuf, u64, u32);

/// One entry of the tree as the walk saw it (`lstat`: symlinks not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    /// Root-relative path, no leading slash.
    pub path: String,
    /// What it is; a symlink with its target as stored.
    pub kind: crate::layer::EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes (regular files; 0 otherwise).
    pub size: u64,
}

/// Top-level directories that hold kernel views, not image content, when a rootfs is a live system
/// or a chroot with mounts left behind (Trivy skips them too).
const SKIPPED_TOP: &[&str] = &["proc", "sys", "dev"];

impl DirFs {
    /// A view of the directory `root`; `limits.max_wanted_file` bounds reads and
    /// `limits.max_symlink_hops` bounds symlink resolution. [`FsView::files`] and [`FsView::facts`]
    /// walk the tree once, keeping the paths [`crate::analyzers::wants`] selects and running the
    /// standard content extractors ([`crate::lang::Standard`]).
    pub fn new(root: impl Into<PathBuf>, limits: Limits) -> Self {
        DirFs {
            root: root.into(),
            limits,
            extractor: Arc::new(crate::lang::Standard),
            wants: crate::analyzers::wants,
            record: false,
            walk: Arc::new(OnceLock::new()),
        }
    }

    /// The same view, its walk also recording every entry ([`DirFs::walked_entries`]): one walk
    /// serves both the analyzers and a capture of the whole tree.
    pub fn recording_entries(mut self) -> Self {
        self.record = true;
        self.walk = Arc::new(OnceLock::new());
        self
    }

    /// Every entry the walk saw, in walk order, and `(path, problem)` for what it could not read
    /// (a directory it could not list, a name that is not UTF-8, an entry over the limit), when
    /// made with [`DirFs::recording_entries`]; empty otherwise.
    pub fn walked_entries(&self) -> (&[Walked], &[(String, String)]) {
        let w = self.walked();
        (&w.entries, &w.diagnostics)
    }

    /// Reads a regular file the walk found, by its walked path: opened directly under the root
    /// (the walk never followed a symlink, so no component of the path is one). `Ok(None)` when it
    /// is gone or no longer a regular file; an error over `limits.max_wanted_file`.
    pub fn read_walked(&self, path: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let io_err = |source: io::Error| ReadError::Io {
            path: path.to_owned(),
            source,
        };
        let file = match fs::File::open(self.host_path(path)) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Ok(None);
        }
        read_capped(file, meta.len(), self.limits.max_wanted_file, path).map(Some)
    }

    /// The same view with another extractor (e.g. [`crate::facts::NoFacts`] for OS packages only).
    pub fn with_extractor(mut self, extractor: Arc<dyn Extractor + Send>) -> Self {
        self.extractor = extractor;
        self.walk = Arc::new(OnceLock::new());
        self
    }

    fn walked(&self) -> &Walk {
        self.walk.get_or_init(|| self.walk_tree())
    }

    /// Walks the tree without following symlinks, then extracts facts from candidate files on every
    /// core.
    /// Lists the tree on this thread while the other threads extract facts from the candidate files
    /// it finds, as it finds them.
    fn walk_tree(&self) -> Walk {
        let (tx, rx) = std::sync::mpsc::channel::<Candidate>();
        let rx = Mutex::new(rx);
        let found = Mutex::new(BTreeMap::new());
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let mut walk = std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    // One buffer per thread, reused: no fresh pages to fault in and zero per file.
                    let mut buf = Vec::new();
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok((path, host, size, mode)) = next else {
                            return;
                        };
                        if let Some(f) = self.extract_file(&path, &host, size, mode, &mut buf) {
                            if let Ok(mut m) = found.lock() {
                                m.insert(path, f);
                            }
                        }
                    }
                });
            }
            // `tx` is dropped when the listing ends, which ends the workers.
            self.list(tx)
        });
        walk.facts = found.into_inner().unwrap_or_default();
        walk
    }

    /// Walks the tree without following symlinks, sending each extraction candidate to `candidates`.
    fn list(&self, candidates: std::sync::mpsc::Sender<Candidate>) -> Walk {
        let mut walk = Walk::default();
        let mut stack: Vec<(String, PathBuf)> = vec![(String::new(), self.root.clone())];
        let mut seen: u64 = 0;
        'walk: while let Some((rel, host)) = stack.pop() {
            let rd = match fs::read_dir(&host) {
                Ok(rd) => rd,
                Err(e) => {
                    if self.record {
                        walk.diagnostics
                            .push((rel, format!("cannot list directory: {e}")));
                    }
                    continue;
                }
            };
            for entry in rd.filter_map(Result::ok) {
                seen += 1;
                if seen > self.limits.max_entries {
                    if self.record {
                        walk.diagnostics
                            .push((rel, format!("over {} entries", self.limits.max_entries)));
                    }
                    break 'walk;
                }
                let Ok(name) = entry.file_name().into_string() else {
                    if self.record {
                        walk.diagnostics
                            .push((rel.clone(), "entry name is not UTF-8: left out".to_owned()));
                    }
                    continue;
                };
                let path = if rel.is_empty() {
                    if SKIPPED_TOP.contains(&name.as_str()) {
                        continue;
                    }
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let Ok(ft) = entry.file_type() else { continue };
                let wanted = ft.is_file() && (self.wants)(&path);
                // One lstat per entry when recording (kind, mode and size for the capture); else
                // only for the files whose size picks extraction candidates.
                let meta = if self.record || (ft.is_file() && !wanted) {
                    match entry.metadata() {
                        Ok(m) => Some(m),
                        Err(e) => {
                            if self.record {
                                walk.diagnostics
                                    .push((path, format!("cannot stat: {e}: left out")));
                            }
                            continue;
                        }
                    }
                } else {
                    None
                };
                let mode = meta.as_ref().map_or(0, |m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o7777
                });
                let size = meta.as_ref().map_or(0, fs::Metadata::len);
                let kind = if ft.is_dir() {
                    stack.push((path.clone(), entry.path()));
                    crate::layer::EntryKind::Dir
                } else if ft.is_file() {
                    if wanted {
                        walk.files.push(path.clone());
                    } else if size >= 4 {
                        let _ = candidates.send((path.clone(), entry.path(), size, mode));
                    }
                    crate::layer::EntryKind::File
                } else if ft.is_symlink() {
                    if !self.record {
                        continue;
                    }
                    match fs::read_link(entry.path()) {
                        Ok(t) => crate::layer::EntryKind::Symlink(t.to_string_lossy().into_owned()),
                        Err(e) => {
                            walk.diagnostics
                                .push((path, format!("cannot read symlink: {e}")));
                            continue;
                        }
                    }
                } else {
                    crate::layer::EntryKind::Other
                };
                if self.record {
                    let size = if kind == crate::layer::EntryKind::File {
                        size
                    } else {
                        0
                    };
                    walk.entries.push(Walked {
                        path,
                        kind,
                        mode,
                        size,
                    });
                }
            }
        }
        walk.files.sort();
        walk
    }

    fn extract_file(
        &self,
        path: &str,
        host: &Path,
        size: u64,
        mode: u32,
        buf: &mut Vec<u8>,
    ) -> Option<Facts> {
        use crate::facts::HEAD_LEN;
        let mut file = fs::File::open(host).ok()?;
        let mut head = [0u8; HEAD_LEN];
        let n = read_up_to(&mut file, &mut head).ok()?;
        if !self
            .extractor
            .candidate(path, mode, size, head.get(..n).unwrap_or_default())
            || size > self.limits.max_extract_file
        {
            return None;
        }
        let head = head.get(..n).unwrap_or_default();
        // A large ELF file without its code (about half its bytes): no extractor looks at code.
        if let Some(bytes) = crate::sparse::read_elf_sparse(&file, head, size) {
            return self.extractor.extract(path, &bytes);
        }
        buf.clear();
        buf.extend_from_slice(head);
        file.take(self.limits.max_extract_file)
            .read_to_end(buf)
            .ok()?;
        self.extractor.extract(path, buf)
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
        let file = match fs::File::open(&host) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        read_capped(file, meta.len(), limit, path).map(|b| Some(Cow::Owned(b)))
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

    fn files(&self) -> Vec<String> {
        self.walked().files.clone()
    }

    fn facts(&self) -> Vec<(String, Facts)> {
        self.walked()
            .facts
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect()
    }

    fn stat(&self, path: &str) -> Option<Stat> {
        let real = self.resolve(path).ok()??;
        let meta = fs::symlink_metadata(self.host_path(&real)).ok()?;
        use std::os::unix::fs::PermissionsExt;
        Some(Stat {
            is_file: meta.is_file(),
            is_dir: meta.is_dir(),
            mode: meta.permissions().mode() & 0o7777,
            size: meta.len(),
            facts: self.walked().facts.get(&real).cloned(),
            real,
        })
    }
}

/// Reads `file` (`size` bytes by its stat) whole, refusing more than `limit` bytes — one byte past
/// the limit is read, so a file that grew since the stat is still caught.
fn read_capped(file: fs::File, size: u64, limit: u64, path: &str) -> Result<Vec<u8>, ReadError> {
    if size > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            size,
            limit,
        });
    }
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            path: path.to_owned(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_owned(),
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

/// Reads until `buf` is full or the file ends.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..).filter(|r| !r.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
