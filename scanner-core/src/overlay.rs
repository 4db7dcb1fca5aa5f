//! The merged file system of an image: layers applied in order, as a union file system would show them.
//!
//! [`Overlay`] keeps one [`Node`] per path in a `BTreeMap`, so deleting a directory with everything below
//! it is a range removal. Every stored path is *real*: all its ancestors are directory nodes (never
//! symlinks), which [`Overlay::apply`] maintains by resolving each entry's parent through symlinks inside the
//! root, as containerd does when it extracts a layer, and by creating missing parents.
//!
//! [`LayerView`] shows one layer on its own — its files and its symlinks only — for layer attribution.
//!
//! Reads resolve symlinks component by component inside the root with chroot semantics: absolute targets
//! start again at the image root and `..` at the root stays at the root, so no path can escape.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::facts::Facts;
use crate::fs::{FsView, ReadError, Stat};
use crate::layer::{Change, Entry, EntryKind, LayerChanges, Limits};
use crate::model::Diagnostic;

/// What a path in the merged image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file (hardlinks are stored as copies of their target).
    File,
    /// A directory.
    Dir,
    /// A symbolic link, target as stored.
    Symlink(String),
    /// Device nodes, FIFOs, unknown types.
    Other,
}

/// One path of the merged image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes (regular files).
    pub size: u64,
    /// Index of the layer that last wrote this path (for implicit parent directories, the layer that
    /// needed them).
    pub layer_index: usize,
    /// The bytes, when the layer reader kept them (wanted files only); shared with [`LayerChanges`].
    pub content: Option<Arc<[u8]>>,
    /// What the content extractors found in this file, shared with [`LayerChanges`].
    pub facts: Option<Facts>,
}

/// The merged view of layers applied so far.
#[derive(Debug, Clone)]
pub struct Overlay {
    nodes: BTreeMap<String, Node>,
    max_symlink_hops: u32,
    diagnostics: Vec<Diagnostic>,
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay::new(&Limits::default())
    }
}

/// A symlink chain longer than the hop limit.
#[derive(Debug)]
pub(crate) struct Loop;

/// Resolves `path` (root-relative) component by component inside the root. `symlink_at(p)` returns the
/// target when the real path `p` is a symlink. The final component is followed only when `follow_last`.
/// Missing components are kept as they are, so the result is where the path *would* be.
pub(crate) fn resolve<E>(
    path: &str,
    follow_last: bool,
    max_hops: u32,
    mut symlink_at: impl FnMut(&str) -> Result<Option<String>, E>,
) -> Result<Result<String, Loop>, E> {
    // Components still to walk, last first; `""` and `.` never enter it.
    let mut pending: Vec<String> = components(path);
    let mut out = String::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut hops: u32 = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            if let Some(m) = marks.pop() {
                out.truncate(m);
            }
            continue;
        }
        let mark = out.len();
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&c);
        if pending.is_empty() && !follow_last {
            marks.push(mark);
            continue;
        }
        match symlink_at(&out)? {
            Some(target) => {
                hops += 1;
                if hops > max_hops {
                    return Ok(Err(Loop));
                }
                out.truncate(mark);
                if target.starts_with('/') {
                    out.clear();
                    marks.clear();
                }
                pending.extend(components(&target));
            }
            None => marks.push(mark),
        }
    }
    Ok(Ok(out))
}

/// The components of `path` worth walking, last first.
fn components(path: &str) -> Vec<String> {
    path.rsplit('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
        .collect()
}

fn resolve_in(
    path: &str,
    follow_last: bool,
    max_hops: u32,
    symlink_at: impl Fn(&str) -> Option<String>,
) -> Result<String, Loop> {
    match resolve::<std::convert::Infallible>(path, follow_last, max_hops, |p| Ok(symlink_at(p))) {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Names directly below `dir` in a map keyed by root-relative paths, sorted. Directories need not have
/// their own key: names are also taken from descendants' paths.
pub(crate) fn children<K: Borrow<str> + Ord, V>(map: &BTreeMap<K, V>, dir: &str) -> Vec<String> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut out: Vec<String> = Vec::new();
    let mut start = prefix.clone();
    let mut inclusive = true;
    loop {
        let lower = if inclusive {
            Bound::Included(start.as_str())
        } else {
            Bound::Excluded(start.as_str())
        };
        let Some((k, _)) = map.range::<str, _>((lower, Bound::Unbounded)).next() else {
            break;
        };
        let k: &str = k.borrow();
        let Some(rest) = k.strip_prefix(prefix.as_str()) else {
            break;
        };
        match rest.split_once('/') {
            None => {
                if !rest.is_empty() {
                    out.push(rest.to_owned());
                }
                start = k.to_owned();
                inclusive = false;
            }
            Some((name, _)) => {
                out.push(name.to_owned());
                // Everything under `name/` sorts before `name0` ('0' follows '/').
                start = format!("{prefix}{name}0");
                inclusive = true;
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn join(dir: &str, base: &str) -> String {
    if dir.is_empty() {
        base.to_owned()
    } else {
        format!("{dir}/{base}")
    }
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

impl Overlay {
    /// An empty image, with the symlink hop limit from `limits`.
    pub fn new(limits: &Limits) -> Self {
        Overlay {
            nodes: BTreeMap::new(),
            max_symlink_hops: limits.max_symlink_hops,
            diagnostics: Vec::new(),
        }
    }

    /// Number of paths in the merged image.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the image has no paths at all.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every path with its node, sorted by path.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The node at `path` without following a final symlink (`lstat`); parents are resolved.
    pub fn node(&self, path: &str) -> Option<&Node> {
        let real = self.resolve(path, false).ok()?;
        self.nodes.get(&real)
    }

    /// Problems met while applying layers (entries that could not be placed).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, Loop> {
        // Fast path: every stored path is real, so when the parent of a plain path is a directory
        // node, only the last component can still be a symlink — two lookups instead of one per
        // component (analyzers and the usage view resolve tens of thousands of paths).
        let plain = path.trim_start_matches('/');
        if let Some((dir, _)) = plain.rsplit_once('/') {
            let simple = plain
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
            if simple && matches!(self.nodes.get(dir).map(|n| &n.kind), Some(NodeKind::Dir)) {
                let symlink = follow_last
                    && matches!(
                        self.nodes.get(plain).map(|n| &n.kind),
                        Some(NodeKind::Symlink(_))
                    );
                if !symlink {
                    return Ok(plain.to_owned());
                }
            }
        }
        resolve_in(path, follow_last, self.max_symlink_hops, |p| {
            match self.nodes.get(p).map(|n| &n.kind) {
                Some(NodeKind::Symlink(t)) => Some(t.clone()),
                _ => None,
            }
        })
    }

    /// Resolves the parent directory of `path` through symlinks and returns the real path `path` names.
    fn real_path(&self, path: &str) -> Result<String, Loop> {
        let (dir, base) = split(path);
        if dir.is_empty() {
            return Ok(base.to_owned());
        }
        // Fast path: a directory node's path is real (see the module docs).
        if matches!(self.nodes.get(dir).map(|n| &n.kind), Some(NodeKind::Dir)) {
            return Ok(path.to_owned());
        }
        Ok(join(&self.resolve(dir, true)?, base))
    }

    fn remove_below(&mut self, dir: &str) {
        if dir.is_empty() {
            self.nodes.clear();
            return;
        }
        let prefix = format!("{dir}/");
        let doomed: Vec<String> = self
            .nodes
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// Makes `dir` (a real path) and its ancestors directories, replacing non-directories in the way.
    fn ensure_dir(&mut self, dir: &str, layer_index: usize) {
        let mut missing: Vec<&str> = Vec::new();
        let mut cur = dir;
        while !cur.is_empty() {
            if matches!(self.nodes.get(cur).map(|n| &n.kind), Some(NodeKind::Dir)) {
                break;
            }
            missing.push(cur);
            cur = split(cur).0;
        }
        for d in missing.into_iter().rev() {
            self.nodes.insert(
                d.to_owned(),
                Node {
                    kind: NodeKind::Dir,
                    mode: 0o755,
                    size: 0,
                    layer_index,
                    content: None,
                    facts: None,
                },
            );
        }
    }

    fn diag(&mut self, changes: &LayerChanges, path: &str, message: String) {
        self.diagnostics.push(Diagnostic {
            layer: Some(changes.diff_id.clone()),
            path: path.to_owned(),
            message,
        });
    }

    /// Applies one layer on top of the layers applied so far.
    ///
    /// Whiteouts and opaque markers act on the lower layers only, so they are applied first, and then the
    /// entries in tar order (later duplicates win). A non-directory replacing a directory removes what was
    /// below it; a directory replacing a directory keeps its contents. A hardlink becomes a copy of its
    /// target node as it is at that moment (content included), whichever layer the target came from.
    pub fn apply(&mut self, layer_index: usize, changes: &LayerChanges) {
        for change in &changes.entries {
            match change {
                Change::Whiteout(path) => match self.real_path(path) {
                    Ok(real) => {
                        self.nodes.remove(&real);
                        self.remove_below(&real);
                    }
                    Err(Loop) => {
                        self.diag(changes, path, "whiteout: symlink loop in parent".into())
                    }
                },
                // The marked directory itself is not followed: if a lower layer has a symlink there,
                // this layer's directory replaces it, and nothing the symlink points to is hidden.
                Change::Opaque(dir) => match self.real_path(dir) {
                    Ok(real) => self.remove_below(&real),
                    Err(Loop) => self.diag(changes, dir, "opaque marker: symlink loop".into()),
                },
                Change::Entry(_) => {}
            }
        }
        for change in &changes.entries {
            if let Change::Entry(e) = change {
                self.apply_entry(layer_index, changes, e);
            }
        }
    }

    fn apply_entry(&mut self, layer_index: usize, changes: &LayerChanges, e: &Entry) {
        let real = match self.real_path(&e.path) {
            Ok(r) if !r.is_empty() => r,
            Ok(_) => return, // resolved to the root itself
            Err(Loop) => {
                self.diag(
                    changes,
                    &e.path,
                    "entry skipped: symlink loop in parent".into(),
                );
                return;
            }
        };
        let node = match &e.kind {
            EntryKind::File => Node {
                kind: NodeKind::File,
                mode: e.mode,
                size: e.size,
                layer_index,
                content: e.content.clone(),
                facts: e.facts.clone(),
            },
            EntryKind::Dir => Node {
                kind: NodeKind::Dir,
                mode: e.mode,
                size: 0,
                layer_index,
                content: None,
                facts: None,
            },
            EntryKind::Symlink(t) => Node {
                kind: NodeKind::Symlink(t.clone()),
                mode: e.mode,
                size: 0,
                layer_index,
                content: None,
                facts: None,
            },
            EntryKind::Other => Node {
                kind: NodeKind::Other,
                mode: e.mode,
                size: e.size,
                layer_index,
                content: None,
                facts: None,
            },
            EntryKind::Hardlink(target) => {
                let found = self
                    .real_path(target)
                    .ok()
                    .and_then(|t| self.nodes.get(&t))
                    .filter(|n| !matches!(n.kind, NodeKind::Dir));
                match found {
                    Some(n) => Node {
                        layer_index,
                        content: n.content.clone().or_else(|| e.content.clone()),
                        facts: n.facts.clone().or_else(|| e.facts.clone()),
                        ..n.clone()
                    },
                    None => {
                        self.diag(
                            changes,
                            &e.path,
                            format!("hardlink skipped: target {target} is missing or a directory"),
                        );
                        return;
                    }
                }
            }
        };
        let (dir, _) = split(&real);
        self.ensure_dir(dir, layer_index);
        let replacing_dir = matches!(self.nodes.get(&real).map(|n| &n.kind), Some(NodeKind::Dir));
        if replacing_dir && !matches!(node.kind, NodeKind::Dir) {
            self.remove_below(&real);
        }
        self.nodes.insert(real, node);
    }
}

impl FsView for Overlay {
    fn read(&self, path: &str) -> Result<Option<Cow<'_, [u8]>>, ReadError> {
        let real = self
            .resolve(path, true)
            .map_err(|Loop| ReadError::SymlinkLoop {
                path: path.to_owned(),
            })?;
        Ok(match self.nodes.get(&real) {
            Some(Node {
                kind: NodeKind::File,
                content: Some(c),
                ..
            }) => Some(Cow::Borrowed(&c[..])),
            _ => None,
        })
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let Ok(real) = self.resolve(dir, true) else {
            return Vec::new();
        };
        if !real.is_empty()
            && !matches!(self.nodes.get(&real).map(|n| &n.kind), Some(NodeKind::Dir))
        {
            return Vec::new();
        }
        children(&self.nodes, &real)
    }

    fn files(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| matches!(n.kind, NodeKind::File) && n.content.is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn facts(&self) -> Vec<(String, Facts)> {
        self.nodes
            .iter()
            .filter(|(_, n)| matches!(n.kind, NodeKind::File))
            .filter_map(|(k, n)| n.facts.as_ref().map(|f| (k.clone(), Arc::clone(f))))
            .collect()
    }

    fn stat(&self, path: &str) -> Option<Stat> {
        let real = self.resolve(path, true).ok()?;
        let n = self.nodes.get(&real)?;
        Some(Stat {
            is_file: matches!(n.kind, NodeKind::File),
            is_dir: matches!(n.kind, NodeKind::Dir),
            mode: n.mode,
            size: n.size,
            facts: n.facts.clone(),
            real,
        })
    }
}

/// One layer on its own: its files and symlinks only, with later duplicates winning and whiteouts
/// ignored. Analyzers run on it to learn which layer introduced a package.
#[derive(Debug, Clone)]
pub struct LayerView<'a> {
    entries: BTreeMap<&'a str, &'a Entry>,
    max_symlink_hops: u32,
}

impl<'a> LayerView<'a> {
    /// The view of `changes`, with the symlink hop limit from `limits`.
    pub fn new(changes: &'a LayerChanges, limits: &Limits) -> Self {
        let mut entries = BTreeMap::new();
        for c in &changes.entries {
            if let Change::Entry(e) = c {
                entries.insert(e.path.as_str(), e);
            }
        }
        LayerView {
            entries,
            max_symlink_hops: limits.max_symlink_hops,
        }
    }

    fn resolve(&self, path: &str) -> Result<String, Loop> {
        resolve_in(path, true, self.max_symlink_hops, |p| {
            match self.entries.get(p).map(|e| &e.kind) {
                Some(EntryKind::Symlink(t)) => Some(t.clone()),
                _ => None,
            }
        })
    }
}

impl FsView for LayerView<'_> {
    fn read(&self, path: &str) -> Result<Option<Cow<'_, [u8]>>, ReadError> {
        let real = self.resolve(path).map_err(|Loop| ReadError::SymlinkLoop {
            path: path.to_owned(),
        })?;
        let Some(e) = self.entries.get(real.as_str()) else {
            return Ok(None);
        };
        let content = match (&e.kind, &e.content) {
            (EntryKind::File | EntryKind::Hardlink(_), Some(c)) => Some(c),
            (EntryKind::Hardlink(target), None) => self
                .entries
                .get(target.as_str())
                .filter(|t| matches!(t.kind, EntryKind::File))
                .and_then(|t| t.content.as_ref()),
            _ => None,
        };
        Ok(content.map(|c| Cow::Borrowed(&c[..])))
    }

    fn list(&self, dir: &str) -> Vec<String> {
        match self.resolve(dir) {
            Ok(real) => children(&self.entries, &real),
            Err(Loop) => Vec::new(),
        }
    }

    fn files(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.content.is_some())
            .map(|(k, _)| (*k).to_owned())
            .collect()
    }

    fn facts(&self) -> Vec<(String, Facts)> {
        self.entries
            .iter()
            .filter_map(|(k, e)| e.facts.as_ref().map(|f| ((*k).to_owned(), Arc::clone(f))))
            .collect()
    }

    fn stat(&self, path: &str) -> Option<Stat> {
        let real = self.resolve(path).ok()?;
        let e = self.entries.get(real.as_str())?;
        Some(Stat {
            is_file: matches!(e.kind, EntryKind::File | EntryKind::Hardlink(_)),
            is_dir: matches!(e.kind, EntryKind::Dir),
            mode: e.mode,
            size: e.size,
            facts: e.facts.clone(),
            real,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links<'m>(map: &'m [(&'m str, &'m str)]) -> impl Fn(&str) -> Option<String> + 'm {
        move |p| {
            map.iter()
                .find(|(k, _)| *k == p)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn resolve_table() {
        let fs = [
            ("lib", "usr/lib"),
            ("abs", "/etc/passwd"),
            ("up", "../../../../etc/shadow"),
            ("a/rel", "../b"),
            ("loop1", "loop2"),
            ("loop2", "loop1"),
        ];
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("lib/libc.so", true, Some("usr/lib/libc.so")),
            ("abs", true, Some("etc/passwd")),
            ("abs", false, Some("abs")),
            ("up", true, Some("etc/shadow")),
            ("../../etc/x", true, Some("etc/x")),
            ("a/rel/c", true, Some("b/c")),
            ("loop1", true, None),
            ("loop1", false, Some("loop1")),
            ("", true, Some("")),
        ];
        for (path, follow, want) in cases {
            let got = resolve_in(path, *follow, 40, links(&fs)).ok();
            assert_eq!(got.as_deref(), *want, "{path}");
        }
    }

    /// The two-lookup fast path of `Overlay::resolve` agrees with resolving component by component.
    #[test]
    fn resolve_fast_path_agrees_with_the_full_walk() {
        let e = |path: &str, kind: EntryKind| {
            Change::Entry(Entry {
                path: path.to_owned(),
                kind,
                mode: 0o755,
                size: 0,
                content: None,
                facts: None,
            })
        };
        let link = |t: &str| EntryKind::Symlink(t.to_owned());
        let layer = LayerChanges {
            blob_digest: crate::model::Digest(String::new()),
            diff_id: crate::model::Digest(String::new()),
            uncompressed_size: 0,
            entries: vec![
                e("usr/lib/x86_64-linux-gnu", EntryKind::Dir),
                e("usr/lib/x86_64-linux-gnu/libz.so.1.3", EntryKind::File),
                e("usr/lib/x86_64-linux-gnu/libz.so.1", link("libz.so.1.3")),
                e("usr/lib/x86_64-linux-gnu/abs", link("/etc/os-release")),
                e("usr/lib/x86_64-linux-gnu/dirlink", link("..")),
                e("usr/lib/x86_64-linux-gnu/loop", link("loop")),
                e("lib", link("usr/lib")),
                e("etc/os-release", EntryKind::File),
                e("etc/alt", link("../usr/lib/x86_64-linux-gnu")),
            ],
            diagnostics: Vec::new(),
        };
        let mut o = Overlay::new(&Limits::default());
        o.apply(0, &layer);
        let paths = [
            "usr/lib/x86_64-linux-gnu/libz.so.1",
            "/usr/lib/x86_64-linux-gnu/libz.so.1.3",
            "lib/x86_64-linux-gnu/libz.so.1",
            "usr/lib/x86_64-linux-gnu/abs",
            "usr/lib/x86_64-linux-gnu/dirlink/x86_64-linux-gnu/libz.so.1",
            "usr/lib/x86_64-linux-gnu/loop",
            "usr/lib/x86_64-linux-gnu/missing",
            "usr/lib/x86_64-linux-gnu/../x86_64-linux-gnu/libz.so.1",
            "usr/lib/x86_64-linux-gnu/./libz.so.1",
            "usr/lib//x86_64-linux-gnu/libz.so.1",
            "etc/alt/libz.so.1",
            "etc/os-release",
            "nowhere/at/all",
            "usr",
            "",
        ];
        for p in paths {
            for follow in [true, false] {
                let slow = resolve_in(p, follow, o.max_symlink_hops, |q| {
                    match o.nodes.get(q).map(|n| &n.kind) {
                        Some(NodeKind::Symlink(t)) => Some(t.clone()),
                        _ => None,
                    }
                });
                assert_eq!(
                    o.resolve(p, follow).ok(),
                    slow.ok(),
                    "{p} (follow_last {follow})"
                );
            }
        }
    }

    #[test]
    fn children_handles_sibling_names_that_sort_between() {
        let mut m: BTreeMap<&str, ()> = BTreeMap::new();
        for k in [
            "d/x", "d/x-y", "d/x.txt", "d/x/a", "d/x/b/c", "d/x0", "d/y/z", "dd",
        ] {
            m.insert(k, ());
        }
        assert_eq!(children(&m, "d"), vec!["x", "x-y", "x.txt", "x0", "y"]);
        assert_eq!(children(&m, ""), vec!["d", "dd"]);
        assert_eq!(children(&m, "d/x/b"), vec!["c"]);
    }
}
