//! OS package analyzers: read package databases through an [`FsView`] and produce an [`Inventory`].
//!
//! Each analyzer module has two layers, in the cargo-auditable style:
//! - a **pure parser** over `&[u8]` (`dpkg::parse_status`, `apk::parse_installed`,
//!   `os_release::parse_os_release`, …) that never panics, never fails as a whole, and reports what it
//!   could not understand as [`Issue`]s (line-numbered);
//! - an **`analyze(fs, inv)`** function that finds the files in the view, runs the parsers and turns
//!   every per-file problem into a [`Diagnostic`] carrying the path, so that one bad file never stops
//!   the scan.
//!
//! [`wants`] tells the layer reader which paths to keep the content of; it is the OR of every module's
//! own `wants`, so a new analyzer only adds one term.
//!
//! ```
//! use scanner_core::{analyzers, fs::MemFs};
//!
//! let mut fs = MemFs::new();
//! fs.insert("etc/os-release", "ID=alpine\nVERSION_ID=3.20.3\n")
//!     .insert("lib/apk/db/installed", "P:musl\nV:1.2.5-r0\nA:x86_64\n\n");
//! assert!(analyzers::wants("lib/apk/db/installed"));
//! let inv = analyzers::analyze_os(&fs);
//! assert_eq!(inv.distro.map(|d| d.id).as_deref(), Some("alpine"));
//! assert_eq!(inv.packages[0].name, "musl");
//! ```

pub mod apk;
mod deb822;
pub mod dpkg;
pub mod os_release;
pub mod rpm;

use crate::fs::{FsView, ReadError};
use crate::model::{Diagnostic, Inventory};

/// True when any OS analyzer needs the content of `path` (relative, no leading `/`).
///
/// Called for every entry of every layer: it only compares prefixes and suffixes and never allocates.
pub fn wants(path: &str) -> bool {
    os_release::wants(path)
        || dpkg::wants(path)
        || apk::wants(path)
        || rpm::wants(path)
        || crate::lang::wants(path)
}

/// Runs every analyzer — OS packages, language metadata, and what the content extractors found in
/// files — links language packages and native files to the packages that own them, and returns the
/// normalized inventory.
pub fn analyze(fs: &dyn FsView) -> Inventory {
    let mut inv = Inventory::default();
    os_release::analyze(fs, &mut inv);
    dpkg::analyze(fs, &mut inv);
    apk::analyze(fs, &mut inv);
    rpm::analyze(fs, &mut inv);
    crate::lang::analyze(fs, &mut inv);
    crate::ownership::link(fs, &mut inv);
    inv.normalize();
    inv
}

/// Runs every OS analyzer on `fs` and returns the normalized inventory.
///
/// Never fails: unreadable or malformed files become [`Diagnostic`]s.
pub fn analyze_os(fs: &dyn FsView) -> Inventory {
    let mut inv = Inventory::default();
    os_release::analyze(fs, &mut inv);
    dpkg::analyze(fs, &mut inv);
    apk::analyze(fs, &mut inv);
    rpm::analyze(fs, &mut inv);
    inv.normalize();
    inv
}

/// What a pure parser could not understand at one line of its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct Issue {
    /// 1-based line number in the parsed file.
    pub line: usize,
    /// What was wrong.
    pub kind: IssueKind,
}

/// The kinds of [`Issue`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssueKind {
    /// A line that is neither `Field: value`, a continuation, nor blank.
    #[error("not a `Field: value` line")]
    NotAField,
    /// A continuation line with no field before it.
    #[error("continuation line with no field before it")]
    OrphanContinuation,
    /// A field given twice in one record.
    #[error("duplicate field `{0}`; the first value is kept")]
    DuplicateField(String),
    /// A record without a field it cannot do without; the record is skipped.
    #[error("record has no `{0}` field; skipped")]
    MissingField(&'static str),
    /// A field whose value does not parse; the field is ignored.
    #[error("bad `{field}` value {value:?}; ignored")]
    BadValue {
        /// Field name.
        field: &'static str,
        /// The value, shortened.
        value: String,
    },
    /// A record with too many fields; the rest of the record is ignored.
    #[error("record has more than {0} fields; the rest are ignored")]
    TooManyFields(usize),
    /// A package in a dpkg state that is not (yet or any more) installed; not reported as a package.
    #[error("package `{name}` is in dpkg state `{state}`; not reported")]
    NotInstalled {
        /// Package name.
        name: String,
        /// The dpkg state word.
        state: String,
    },
    /// Later issues were dropped after reaching the per-file cap.
    #[error("{0} more problems in this file not shown")]
    More(usize),
}

/// Upper bound on issues kept per file: a garbage file must not turn into millions of diagnostics.
const MAX_ISSUES: usize = 32;

/// A capped collector of [`Issue`]s.
#[derive(Debug, Default)]
pub(crate) struct Issues {
    list: Vec<Issue>,
    dropped: usize,
}

impl Issues {
    pub(crate) fn push(&mut self, line: usize, kind: IssueKind) {
        if self.list.len() < MAX_ISSUES {
            self.list.push(Issue { line, kind });
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    pub(crate) fn finish(mut self, last_line: usize) -> Vec<Issue> {
        if self.dropped > 0 {
            self.list.push(Issue {
                line: last_line,
                kind: IssueKind::More(self.dropped),
            });
        }
        self.list
    }
}

/// A failure of one file, with the path it happened at.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The view could not read the file.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The parser met something it did not understand.
    #[error("{path}: {issue}")]
    Parse {
        /// Path inside the image (relative).
        path: String,
        /// What was wrong.
        #[source]
        issue: Issue,
    },
}

impl AnalyzeError {
    /// The path (inside the image, relative) of the file that failed.
    pub fn path(&self) -> &str {
        match self {
            AnalyzeError::Read(ReadError::TooLarge { path, .. })
            | AnalyzeError::Read(ReadError::SymlinkLoop { path })
            | AnalyzeError::Read(ReadError::Io { path, .. })
            | AnalyzeError::Parse { path, .. } => path,
        }
    }

    /// The problem as a [`Diagnostic`]: absolute path, message without the path repeated.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let path = self.path();
        let message = match self {
            AnalyzeError::Parse { issue, .. } => issue.to_string(),
            AnalyzeError::Read(e) => {
                let full = e.to_string();
                full.strip_prefix(path)
                    .and_then(|m| m.strip_prefix(": "))
                    .map_or_else(|| full.clone(), str::to_owned)
            }
        };
        Diagnostic {
            layer: None,
            path: absolute(path),
            message,
        }
    }
}

/// `var/lib/dpkg/status` → `/var/lib/dpkg/status`.
pub(crate) fn absolute(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// Reads `path`, turning a read error into a diagnostic; `None` when absent or unreadable.
pub(crate) fn read_or_diag<'a>(
    fs: &'a dyn FsView,
    path: &str,
    inv: &mut Inventory,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    match fs.read(path) {
        Ok(found) => found,
        Err(e) => {
            inv.diagnostics.push(AnalyzeError::from(e).to_diagnostic());
            None
        }
    }
}

/// Adds each parser issue of the file at `path` to the inventory's diagnostics.
pub(crate) fn push_issues(inv: &mut Inventory, path: &str, issues: Vec<Issue>) {
    inv.diagnostics.extend(issues.into_iter().map(|issue| {
        AnalyzeError::Parse {
            path: path.to_owned(),
            issue,
        }
        .to_diagnostic()
    }));
}

/// Lossy UTF-8 text of `bytes`, trimmed of ASCII whitespace.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes.trim_ascii()).into_owned()
}

/// `value` shortened to at most 80 characters for messages.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", value.get(..cut).unwrap_or(value)),
        None => value.to_owned(),
    }
}

/// Pushes `item` onto `list` unless `seen` already holds it (order kept, linear time).
pub(crate) fn push_unique(
    list: &mut Vec<String>,
    seen: &mut std::collections::HashSet<String>,
    item: &str,
) {
    if !item.is_empty() && !seen.contains(item) {
        seen.insert(item.to_owned());
        list.push(item.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    #[test]
    fn wants_table() {
        let yes = [
            "etc/os-release",
            "usr/lib/os-release",
            "etc/debian_version",
            "etc/alpine-release",
            "var/lib/dpkg/status",
            "var/lib/dpkg/status.d/libc6",
            "var/lib/dpkg/status.d/libc6.md5sums",
            "var/lib/dpkg/info/bash.list",
            "var/lib/dpkg/info/libc6:amd64.md5sums",
            "usr/share/doc/bash/copyright",
            "lib/apk/db/installed",
        ];
        let no = [
            "",
            "etc",
            "etc/os-release.bak",
            "var/lib/dpkg/status-old",
            "var/lib/dpkg/status.d/",
            "var/lib/dpkg/status.d/sub/x",
            "var/lib/dpkg/info/bash.postinst",
            "var/lib/dpkg/info/sub/bash.list",
            "var/lib/dpkg/info/.list",
            "usr/share/doc/copyright",
            "usr/share/doc/bash/README",
            "usr/share/doc/bash/examples/copyright",
            "usr/share/doc//copyright",
            "lib/apk/db/installed.old",
            "/var/lib/dpkg/status",
        ];
        for p in yes {
            assert!(wants(p), "{p} should be wanted");
        }
        for p in no {
            assert!(!wants(p), "{p} should not be wanted");
        }
    }

    #[test]
    fn empty_view_gives_empty_inventory() {
        let inv = analyze_os(&MemFs::new());
        assert_eq!(inv, Inventory::default());
    }

    /// A view where one path cannot be read.
    struct Failing {
        inner: MemFs,
        bad: &'static str,
    }

    impl FsView for Failing {
        fn read(&self, path: &str) -> Result<Option<std::borrow::Cow<'_, [u8]>>, ReadError> {
            if path == self.bad {
                return Err(ReadError::TooLarge {
                    path: path.to_owned(),
                    size: 1 << 40,
                    limit: 1 << 28,
                });
            }
            self.inner.read(path)
        }

        fn list(&self, dir: &str) -> Vec<String> {
            self.inner.list(dir)
        }
    }

    #[test]
    fn one_unreadable_file_does_not_stop_the_scan() {
        let mut inner = MemFs::new();
        inner
            .insert("etc/os-release", "ID=debian\nVERSION_ID=12\n")
            .insert("var/lib/dpkg/status", "Package: a\nVersion: 1\n")
            .insert("var/lib/dpkg/status.d/b", "Package: b\nVersion: 2\n")
            .insert("lib/apk/db/installed", "P:c\nV:3\n");
        let inv = analyze_os(&Failing {
            inner,
            bad: "var/lib/dpkg/status",
        });
        let names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["b", "c"]);
        assert_eq!(inv.distro.map(|d| d.id).as_deref(), Some("debian"));
        assert_eq!(inv.diagnostics.len(), 1);
        assert_eq!(inv.diagnostics[0].path, "/var/lib/dpkg/status");
    }

    #[test]
    fn read_error_becomes_diagnostic_without_repeated_path() {
        let e = AnalyzeError::from(ReadError::TooLarge {
            path: "var/lib/dpkg/status".into(),
            size: 10,
            limit: 5,
        });
        let d = e.to_diagnostic();
        assert_eq!(d.path, "/var/lib/dpkg/status");
        assert!(d.message.starts_with("file is 10 bytes"), "{}", d.message);
    }

    #[test]
    fn shorten_cuts_on_char_boundary() {
        let long = "é".repeat(100);
        let s = shorten(&long);
        assert_eq!(s.chars().count(), 81);
        assert_eq!(shorten("abc"), "abc");
    }
}
