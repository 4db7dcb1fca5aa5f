//! Reads a solved ref through the LLBBridge file RPCs (ReadDir / ReadFile) into one
//! [`LayerChanges`], as [`scanner_core::fragment::capture`] reads a directory: every path with its
//! kind, mode and size; the bytes of the files [`scanner_core::analyzers::wants`] selects; and the
//! facts the standard content extractors find in binaries, archives and scripts.
//!
//! The server is not trusted: names that are not one path component are left out with a
//! diagnostic, sizes and counts are held to [`Limits`], and a file RPC that fails costs that entry
//! (a diagnostic), not the walk. Only a failure to list the root is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use scanner_core::facts::{Extractor, HEAD_LEN};
use scanner_core::layer::{Change, Entry, EntryKind, LayerChanges, Limits};
use scanner_core::model::{Diagnostic, Digest};
use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::proto::fsutil::types::Stat;
use crate::proto::gw::llb_bridge_client::LlbBridgeClient;
use crate::proto::gw::{FileRange, ReadDirRequest, ReadFileRequest};

/// The bridge client the frontend uses.
pub type Client = LlbBridgeClient<Channel>;

/// RPCs in flight at once.
const CONCURRENCY: usize = 64;
/// Largest ReadFile chunk asked for (BuildKit's gateway limits messages to 16 MiB).
pub const READ_CHUNK: u64 = 8 << 20;

/// Go `os.FileMode` bits, as fsutil's `Stat.mode` carries them.
pub mod gomode {
    /// `os.ModeDir`.
    pub const DIR: u32 = 1 << 31;
    /// `os.ModeSymlink`.
    pub const SYMLINK: u32 = 1 << 27;
    /// `os.ModeDevice`.
    pub const DEVICE: u32 = 1 << 26;
    /// `os.ModeNamedPipe`.
    pub const NAMED_PIPE: u32 = 1 << 25;
    /// `os.ModeSocket`.
    pub const SOCKET: u32 = 1 << 24;
    /// `os.ModeSetuid`.
    pub const SETUID: u32 = 1 << 23;
    /// `os.ModeSetgid`.
    pub const SETGID: u32 = 1 << 22;
    /// `os.ModeCharDevice`.
    pub const CHAR_DEVICE: u32 = 1 << 21;
    /// `os.ModeSticky`.
    pub const STICKY: u32 = 1 << 20;
    /// `os.ModeIrregular`.
    pub const IRREGULAR: u32 = 1 << 19;
    /// Every type bit.
    pub const TYPE: u32 = DIR | SYMLINK | NAMED_PIPE | SOCKET | DEVICE | CHAR_DEVICE | IRREGULAR;

    /// Unix permission bits (`mode & 0o7777`) of a Go file mode.
    pub fn to_unix_perm(m: u32) -> u32 {
        let mut p = m & 0o777;
        if m & SETUID != 0 {
            p |= 0o4000;
        }
        if m & SETGID != 0 {
            p |= 0o2000;
        }
        if m & STICKY != 0 {
            p |= 0o1000;
        }
        p
    }

    /// The Go file mode of a Unix `st_mode` (what fsutil sends for a file of that mode).
    pub fn from_unix(st_mode: u32) -> u32 {
        let mut m = st_mode & 0o777;
        if st_mode & 0o4000 != 0 {
            m |= SETUID;
        }
        if st_mode & 0o2000 != 0 {
            m |= SETGID;
        }
        if st_mode & 0o1000 != 0 {
            m |= STICKY;
        }
        m | match st_mode & 0o170000 {
            0o040000 => DIR,
            0o120000 => SYMLINK,
            0o060000 => DEVICE,
            0o020000 => DEVICE | CHAR_DEVICE,
            0o010000 => NAMED_PIPE,
            0o140000 => SOCKET,
            0o100000 => 0,
            _ => IRREGULAR,
        }
    }
}

/// Why a ref could not be walked at all.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// Listing the root failed.
    #[error("ReadDir / on ref {reference:?}: {status}")]
    Root {
        /// The ref.
        reference: String,
        /// What the server said.
        status: String,
    },
}

/// How many file RPCs a walk made (the tests and the bench count them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkStats {
    /// ReadDir calls.
    pub read_dir: u64,
    /// ReadFile calls.
    pub read_file: u64,
    /// Entries seen.
    pub entries: u64,
}

fn diag(path: &str, message: String) -> Diagnostic {
    Diagnostic {
        layer: None,
        path: format!("/{path}"),
        message,
    }
}

/// One directory entry name from the server, when it is a single safe path component.
fn component(name: &str) -> Option<&str> {
    let name = name.rsplit('/').next().unwrap_or(name);
    (!name.is_empty() && name != "." && name != ".." && !name.contains('\0')).then_some(name)
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

/// Lists `dir` (root-relative, `""` is the root) on `reference`.
pub async fn read_dir(
    client: &mut Client,
    reference: &str,
    dir: &str,
) -> Result<Vec<Stat>, tonic::Status> {
    let resp = client
        .read_dir(ReadDirRequest {
            r#ref: reference.to_owned(),
            dir_path: format!("/{dir}"),
            include_pattern: String::new(),
        })
        .await?;
    Ok(resp.into_inner().entries)
}

/// Reads `len` bytes at `offset` of the root-relative `path`.
pub async fn read_range(
    client: &mut Client,
    reference: &str,
    path: &str,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, tonic::Status> {
    let resp = client
        .read_file(ReadFileRequest {
            r#ref: reference.to_owned(),
            file_path: format!("/{}", path.trim_start_matches('/')),
            range: Some(FileRange {
                offset: i64::try_from(offset).unwrap_or(i64::MAX),
                length: i64::try_from(len).unwrap_or(i64::MAX),
            }),
        })
        .await?;
    let data = resp.into_inner().data;
    BYTES.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(data)
}

static BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static EXTRACT_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Reads a whole file of at most `limit` bytes in [`READ_CHUNK`] pieces; `Ok(None)` when it is
/// larger. Returns the bytes and how many ReadFile calls it made.
pub async fn read_all(
    client: &mut Client,
    reference: &str,
    path: &str,
    limit: u64,
) -> Result<(Option<Vec<u8>>, u64), tonic::Status> {
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let chunk = read_range(client, reference, path, out.len() as u64, READ_CHUNK).await?;
        calls += 1;
        let n = chunk.len() as u64;
        if out.len() as u64 + n > limit {
            return Ok((None, calls));
        }
        out.extend_from_slice(&chunk);
        if n < READ_CHUNK {
            return Ok((Some(out), calls));
        }
    }
}

struct Listed {
    path: String,
    kind: EntryKind,
    mode: u32,
    size: u64,
}

/// What a file task found.
struct FileResult {
    path: String,
    content: Option<Arc<[u8]>>,
    facts: Option<scanner_core::facts::Facts>,
    diagnostics: Vec<Diagnostic>,
    reads: u64,
}

/// Walks `reference` (see the module docs).
pub async fn walk(
    client: &Client,
    reference: &str,
    limits: &Limits,
) -> Result<(LayerChanges, WalkStats), WalkError> {
    let mut stats = WalkStats::default();
    let mut diagnostics = Vec::new();
    let mut listed: Vec<Listed> = Vec::new();

    // Phase 1: list every directory, CONCURRENCY at a time.
    let mut pending: Vec<String> = vec![String::new()];
    let mut tasks: JoinSet<(String, Result<Vec<Stat>, tonic::Status>)> = JoinSet::new();
    let mut over = false;
    loop {
        while tasks.len() < CONCURRENCY {
            let Some(dir) = pending.pop() else { break };
            let mut c = client.clone();
            let r = reference.to_owned();
            tasks.spawn(async move {
                let res = read_dir(&mut c, &r, &dir).await;
                (dir, res)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let Ok((dir, res)) = joined else { continue };
        stats.read_dir += 1;
        let entries = match res {
            Ok(e) => e,
            Err(status) if dir.is_empty() => {
                return Err(WalkError::Root {
                    reference: reference.to_owned(),
                    status: status.message().to_owned(),
                });
            }
            Err(status) => {
                diagnostics.push(diag(
                    &dir,
                    format!("cannot list directory: {}", status.message()),
                ));
                continue;
            }
        };
        for st in entries {
            if over {
                break;
            }
            let Some(name) = component(&st.path) else {
                diagnostics.push(diag(
                    &dir,
                    format!("bad entry name {:?}: left out", st.path),
                ));
                continue;
            };
            if dir.is_empty() && matches!(name, "proc" | "sys" | "dev") {
                continue;
            }
            let path = join(&dir, name);
            if path.len() > limits.max_path_len {
                diagnostics.push(diag(&dir, "path too long: left out".to_owned()));
                continue;
            }
            stats.entries += 1;
            if stats.entries > limits.max_entries {
                diagnostics.push(diag(&dir, format!("over {} entries", limits.max_entries)));
                over = true;
                pending.clear();
                break;
            }
            let perm = gomode::to_unix_perm(st.mode);
            let kind = if st.mode & gomode::DIR != 0 {
                pending.push(path.clone());
                EntryKind::Dir
            } else if st.mode & gomode::SYMLINK != 0 {
                EntryKind::Symlink(st.linkname.clone())
            } else if st.mode & gomode::TYPE == 0 {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            let size = if kind == EntryKind::File {
                u64::try_from(st.size).unwrap_or(0)
            } else {
                0
            };
            listed.push(Listed {
                path,
                kind,
                mode: perm,
                size,
            });
        }
    }

    let listing_done = std::time::Instant::now();
    // Phase 2: read the wanted files and the extractors' candidates.
    let mut results: BTreeMap<String, FileResult> = BTreeMap::new();
    let mut files: Vec<(String, u64, u32)> = listed
        .iter()
        .filter(|l| {
            l.kind == EntryKind::File && (l.size >= 4 || scanner_core::analyzers::wants(&l.path))
        })
        .map(|l| (l.path.clone(), l.size, l.mode))
        .collect();
    files.reverse();
    let mut ftasks: JoinSet<FileResult> = JoinSet::new();
    let mut kept_total: u64 = 0;
    loop {
        while ftasks.len() < CONCURRENCY {
            let Some((path, size, mode)) = files.pop() else {
                break;
            };
            let mut c = client.clone();
            let r = reference.to_owned();
            let limits = limits.clone();
            ftasks.spawn(async move { read_one(&mut c, &r, path, size, mode, &limits).await });
        }
        let Some(joined) = ftasks.join_next().await else {
            break;
        };
        let Ok(mut res) = joined else { continue };
        stats.read_file += res.reads;
        if let Some(c) = &res.content {
            if kept_total + c.len() as u64 > limits.max_wanted_total {
                res.content = None;
                res.diagnostics
                    .push(diag(&res.path, "kept-content limit reached".to_owned()));
            } else {
                kept_total += c.len() as u64;
            }
        }
        results.insert(res.path.clone(), res);
    }

    if std::env::var_os("STELLA_FRONTEND_TIMING").is_some() {
        crate::flow::warn(&format!(
            "timing: walk reads: {:.1} ms, {} bytes read, extraction {:.1} ms (summed over tasks)",
            listing_done.elapsed().as_secs_f64() * 1e3,
            BYTES.swap(0, std::sync::atomic::Ordering::Relaxed),
            EXTRACT_US.swap(0, std::sync::atomic::Ordering::Relaxed) as f64 / 1e3
        ));
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(listed.len());
    for l in listed {
        let (content, facts) = match results.remove(&l.path) {
            Some(r) => {
                diagnostics.extend(r.diagnostics);
                (r.content, r.facts)
            }
            None => (None, None),
        };
        entries.push(Entry {
            path: l.path,
            kind: l.kind,
            mode: l.mode,
            size: l.size,
            content,
            facts,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((
        LayerChanges {
            blob_digest: Digest(String::new()),
            diff_id: Digest(String::new()),
            uncompressed_size: 0,
            entries: entries.into_iter().map(Change::Entry).collect(),
            diagnostics,
        },
        stats,
    ))
}

async fn read_one(
    client: &mut Client,
    reference: &str,
    path: String,
    size: u64,
    mode: u32,
    limits: &Limits,
) -> FileResult {
    let mut out = FileResult {
        path,
        content: None,
        facts: None,
        diagnostics: Vec::new(),
        reads: 0,
    };
    let path = out.path.clone();
    if scanner_core::analyzers::wants(&path) {
        if size > limits.max_wanted_file {
            out.diagnostics.push(diag(
                &path,
                format!(
                    "{size} bytes, over the {}-byte limit",
                    limits.max_wanted_file
                ),
            ));
            return out;
        }
        match read_all(client, reference, &path, limits.max_wanted_file).await {
            Ok((Some(bytes), n)) => {
                out.reads += n;
                out.content = Some(Arc::from(bytes));
            }
            Ok((None, n)) => {
                out.reads += n;
                out.diagnostics
                    .push(diag(&path, "over the kept-file limit".to_owned()));
            }
            Err(s) => out
                .diagnostics
                .push(diag(&path, format!("cannot read: {}", s.message()))),
        }
        return out;
    }
    let extractor = scanner_core::lang::Standard;
    let head = match read_range(client, reference, &path, 0, HEAD_LEN as u64).await {
        Ok(h) => h,
        Err(_) => return out,
    };
    out.reads += 1;
    if !extractor.candidate(&path, mode, size, &head) || size > limits.max_extract_file {
        return out;
    }
    let bytes = if size <= head.len() as u64 {
        head
    } else {
        match read_all(client, reference, &path, limits.max_extract_file).await {
            Ok((Some(b), n)) => {
                out.reads += n;
                b
            }
            Ok((None, n)) => {
                out.reads += n;
                return out;
            }
            Err(_) => return out,
        }
    };
    let p = path.clone();
    out.facts = tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        let f = extractor.extract(&p, &bytes);
        EXTRACT_US.fetch_add(
            t.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        f
    })
    .await
    .ok()
    .flatten();
    out
}

/// Whether a bridge error says the path does not exist.
pub fn is_not_found(status: &tonic::Status) -> bool {
    if status.code() == tonic::Code::NotFound {
        return true;
    }
    let m = status.message().to_ascii_lowercase();
    m.contains("no such file") || m.contains("not found") || m.contains("does not exist")
}

/// The paths of `base` that are gone from `final_ref`, as whiteouts — what a diff ref mounted alone
/// cannot show. Only the directories holding an entry the scan uses (kept content or facts) are
/// listed, so a deletion elsewhere, which cannot change the SBOM, costs nothing. Returns the
/// whiteouts and the ReadDir calls made; any error but "not found" fails (the caller falls back to
/// the full path).
pub async fn deletions(
    client: &Client,
    final_ref: &str,
    base: &LayerChanges,
) -> Result<(Vec<Change>, u64), tonic::Status> {
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut relevant: BTreeSet<String> = BTreeSet::new();
    for c in &base.entries {
        let Change::Entry(e) = c else { continue };
        let (parent, name) = match e.path.rsplit_once('/') {
            Some((p, n)) => (p.to_owned(), n.to_owned()),
            None => (String::new(), e.path.clone()),
        };
        if e.content.is_some() || e.facts.is_some() {
            relevant.insert(parent.clone());
        }
        children.entry(parent).or_default().push(name);
    }
    let mut out = Vec::new();
    let mut calls = 0;
    let mut gone: Vec<String> = Vec::new();
    let mut tasks: JoinSet<(String, Result<Vec<Stat>, tonic::Status>)> = JoinSet::new();
    let mut dirs: Vec<String> = relevant.into_iter().rev().collect();
    loop {
        while tasks.len() < CONCURRENCY {
            let Some(dir) = dirs.pop() else { break };
            let mut c = client.clone();
            let r = final_ref.to_owned();
            tasks.spawn(async move {
                let res = read_dir(&mut c, &r, &dir).await;
                (dir, res)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let Ok((dir, res)) = joined else {
            return Err(tonic::Status::internal("ReadDir task failed"));
        };
        calls += 1;
        match res {
            Ok(entries) => {
                let present: BTreeSet<&str> =
                    entries.iter().filter_map(|s| component(&s.path)).collect();
                for name in children.get(&dir).into_iter().flatten() {
                    if !present.contains(name.as_str()) {
                        gone.push(join(&dir, name));
                    }
                }
            }
            Err(s) if is_not_found(&s) && !dir.is_empty() => gone.push(dir),
            Err(s) => return Err(s),
        }
    }
    gone.sort();
    // A deleted directory hides its subtree: keep only the topmost whiteouts.
    let mut last: Option<String> = None;
    for g in gone {
        if let Some(l) = &last {
            if g.starts_with(&format!("{l}/")) {
                continue;
            }
        }
        last = Some(g.clone());
        out.push(Change::Whiteout(g));
    }
    Ok((out, calls))
}

#[cfg(test)]
mod tests {
    use super::gomode::*;
    use super::*;

    #[test]
    fn go_modes_round_trip() {
        for st in [
            0o100644, 0o100755, 0o104755, 0o040755, 0o041777, 0o120777, 0o020666,
        ] {
            let g = from_unix(st);
            assert_eq!(to_unix_perm(g), st & 0o7777, "{st:o}");
        }
        assert_ne!(from_unix(0o040755) & DIR, 0);
        assert_ne!(from_unix(0o120777) & SYMLINK, 0);
        assert_eq!(from_unix(0o100644) & TYPE, 0);
    }

    #[test]
    fn names() {
        assert_eq!(component("a"), Some("a"));
        assert_eq!(component("x/b"), Some("b"));
        assert_eq!(component(".."), None);
        assert_eq!(component(""), None);
    }
}
