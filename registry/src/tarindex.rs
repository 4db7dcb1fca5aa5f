//! A one-pass index of a tar file's members: name → byte range of the member's data in the file.
//!
//! Only headers are read; member data is skipped by seeking, so indexing a multi-gigabyte `docker save`
//! archive costs a few hundred small reads. Symlinks and hard links between members (docker's
//! `<id>/layer.tar -> ../<sha>.tar`) are resolved when looked up.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::SourceError;

/// More members than any image archive has; stops a hostile tar from growing the index without bound.
const MAX_MEMBERS: usize = 500_000;
const MAX_LINK_HOPS: usize = 16;

#[derive(Debug, Clone)]
enum Member {
    Data {
        offset: u64,
        len: u64,
    },
    /// Already joined with the link's directory and normalized: a member name.
    Link(String),
}

/// Member names of an archive and where their data lives.
#[derive(Debug)]
pub(crate) struct TarIndex {
    path: PathBuf,
    members: HashMap<String, Member>,
}

impl TarIndex {
    /// Scans every header of the tar at `path`.
    pub(crate) fn scan(path: &Path) -> Result<Self, SourceError> {
        let file = File::open(path).map_err(|e| SourceError::io(path, e))?;
        let mut archive = tar::Archive::new(file);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| not_a_tar(path, &e))?;
        let mut members = HashMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| not_a_tar(path, &e))?;
            if members.len() >= MAX_MEMBERS {
                return Err(SourceError::malformed(
                    "tar archive",
                    &path.display().to_string(),
                    format!("more than {MAX_MEMBERS} members"),
                ));
            }
            let Some(name) = normalize(&String::from_utf8_lossy(&entry.path_bytes())) else {
                continue;
            };
            let kind = entry.header().entry_type();
            let member = if kind.is_file() || kind.is_contiguous() {
                Member::Data {
                    offset: entry.raw_file_position(),
                    len: entry.size(),
                }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let Some(target) = entry.link_name_bytes() else {
                    continue;
                };
                let target = String::from_utf8_lossy(&target).into_owned();
                let joined = if kind.is_symlink() && !target.starts_with('/') {
                    match name.rsplit_once('/') {
                        Some((dir, _)) => format!("{dir}/{target}"),
                        None => target,
                    }
                } else {
                    target
                };
                match normalize(&joined) {
                    Some(t) => Member::Link(t),
                    None => continue,
                }
            } else {
                continue;
            };
            members.insert(name, member);
        }
        Ok(TarIndex {
            path: path.to_owned(),
            members,
        })
    }

    /// The archive file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a member (file, or link to one) exists at the archive root under `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// `(offset, len)` of a member's data, following links.
    pub(crate) fn get(&self, name: &str) -> Option<(u64, u64)> {
        self.resolve(name).map(|(_, offset, len)| (offset, len))
    }

    /// The data member a name leads to after following links, with its `(offset, len)`.
    pub(crate) fn resolve(&self, name: &str) -> Option<(String, u64, u64)> {
        let mut name = normalize(name)?;
        for _ in 0..MAX_LINK_HOPS {
            match self.members.get(&name)? {
                Member::Data { offset, len } => return Some((name, *offset, *len)),
                Member::Link(target) => name = target.clone(),
            }
        }
        None
    }
}

/// Reads `len` bytes at `offset` of `path`, refusing more than `limit`.
pub(crate) fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
    let mut f = File::open(path).map_err(|e| SourceError::io(path, e))?;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| SourceError::io(path, e))?;
    let cap = usize::try_from(len).unwrap_or(0);
    let mut buf = Vec::with_capacity(cap);
    f.take(len)
        .read_to_end(&mut buf)
        .map_err(|e| SourceError::io(path, e))?;
    if buf.len() as u64 != len {
        return Err(SourceError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "file is truncated"),
        ));
    }
    Ok(buf)
}

fn not_a_tar(path: &Path, e: &std::io::Error) -> SourceError {
    SourceError::malformed(
        "tar archive",
        &path.display().to_string(),
        format!("not a readable (uncompressed) tar: {e}"),
    )
}

/// Canonical member name: no leading `./` or `/`, no `.` components, `..` applied. `None` when the
/// name is empty or climbs above the archive root.
pub(crate) fn normalize(name: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            p => out.push(p),
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize("./a/b").as_deref(), Some("a/b"));
        assert_eq!(normalize("/a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize("x/../a.tar").as_deref(), Some("a.tar"));
        assert_eq!(normalize("../a"), None);
        assert_eq!(normalize("./"), None);
    }

    #[test]
    fn indexes_members_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tar");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h.clone(), "./abc.tar", &b"hello"[..])
            .unwrap();
        let mut l = tar::Header::new_ustar();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "id/layer.tar", "../abc.tar").unwrap();
        let mut l2 = tar::Header::new_ustar();
        l2.set_entry_type(tar::EntryType::Symlink);
        l2.set_size(0);
        b.append_link(&mut l2, "loop", "loop").unwrap();
        b.into_inner().unwrap();

        let idx = TarIndex::scan(&path).unwrap();
        let (off, len) = idx.get("id/layer.tar").unwrap();
        assert_eq!(len, 5);
        assert_eq!(read_range(&path, off, len).unwrap(), b"hello");
        assert_eq!(idx.get("abc.tar"), Some((off, len)));
        assert_eq!(idx.get("loop"), None);
        assert_eq!(idx.get("missing"), None);
    }
}
