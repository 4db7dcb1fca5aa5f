//! A root file system reduced to what the analyzers need, as one layer that can be stored and applied
//! later: the cached scan of a base image.
//!
//! [`capture`] walks a rootfs once and keeps, as a [`LayerChanges`], every path with its kind, mode and
//! size, the bytes of the files [`crate::analyzers::wants`] selects, and the [`Facts`] the standard
//! extractors find in binaries and archives (with the SHA-256 of the native files no package owns
//! already filled in, so nothing needs re-reading later). [`encode`] / [`decode`] store it as JSON.
//! Applying a decoded fragment and then the layers a build added ([`crate::scan::scan_changes`])
//! gives the same inventory as scanning the final rootfs whole, while reading only what was added:
//! the BuildKit frontend's warmed-base fast path.
//!
//! [`decode`] treats its input as hostile: the format and version are checked, and every path, size
//! and count is held to the [`Limits`] the layer reader applies to a tar stream.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::dirfs::DirFs;
use crate::facts::{Facts, FileFacts};
use crate::fs::FsView;
use crate::lang::native::NativeInfo;
use crate::layer::{Change, Entry, EntryKind, LayerChanges, Limits};
use crate::model::{Diagnostic, Digest, Package};

/// The `format` field of an encoded fragment.
pub const FORMAT: &str = "stella-fragment";
/// The version [`encode`] writes and [`decode`] reads.
pub const VERSION: u32 = 1;

/// Why an encoded fragment was refused.
#[derive(Debug, thiserror::Error)]
pub enum FragmentError {
    /// Not JSON of the expected shape.
    #[error("fragment is not valid {FORMAT} JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format or an unknown version.
    #[error(
        "fragment has format {format:?} version {version}; expected {FORMAT:?} version {VERSION}"
    )]
    Version {
        /// The `format` field found.
        format: String,
        /// The `version` field found.
        version: u32,
    },
    /// An entry breaks a rule or a limit.
    #[error("fragment entry {index} ({path:?}): {reason}")]
    Entry {
        /// Position in `entries`.
        index: usize,
        /// The entry's path as stored.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// More entries or kept bytes than the limits allow.
    #[error("fragment exceeds {what} limit of {limit}")]
    TooLarge {
        /// `entries` or `kept content bytes`.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
}

#[derive(Serialize, Deserialize)]
struct Encoded {
    format: String,
    version: u32,
    /// What the fragment was captured from (informational).
    #[serde(default)]
    source: String,
    entries: Vec<EncodedChange>,
    #[serde(default)]
    diagnostics: Vec<Diagnostic>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
enum EncodedChange {
    File {
        p: String,
        m: u32,
        s: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        c: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        x: Option<Box<EncodedFacts>>,
    },
    Dir {
        p: String,
        m: u32,
    },
    Symlink {
        p: String,
        l: String,
    },
    Other {
        p: String,
        m: u32,
    },
    Whiteout {
        p: String,
    },
    Opaque {
        p: String,
    },
}

/// A file's [`FileFacts`] as stored, in fragments and in layer-cache entries alike.
#[derive(Serialize, Deserialize)]
pub(crate) struct EncodedFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<Digest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    packages: Vec<Package>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    native: Option<NativeInfo>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    rust_unaudited: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pe_version: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    script: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    diagnostics: Vec<Diagnostic>,
}

impl EncodedFacts {
    pub(crate) fn of(f: &FileFacts) -> EncodedFacts {
        EncodedFacts {
            sha256: f.sha256.clone(),
            packages: f.packages.clone(),
            native: f.native.clone(),
            rust_unaudited: f.rust_unaudited,
            pe_version: f.pe_version.clone(),
            script: f.script.as_ref().map(|s| b64().encode(s)),
            diagnostics: f.diagnostics.clone(),
        }
    }

    /// The facts back, refusing a malformed SHA-256 or script; the error is the reason.
    pub(crate) fn into_facts(self) -> Result<FileFacts, String> {
        if let Some(d) = &self.sha256 {
            let hex = d.0.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("bad sha256 {:?}", d.0));
            }
        }
        let script = match self.script {
            None => None,
            Some(s) => Some(Arc::<[u8]>::from(
                b64()
                    .decode(s.as_bytes())
                    .map_err(|e| format!("script is not base64: {e}"))?,
            )),
        };
        Ok(FileFacts {
            sha256: self.sha256,
            packages: self.packages,
            native: self.native,
            rust_unaudited: self.rust_unaudited,
            pe_version: self.pe_version,
            script,
            diagnostics: self.diagnostics,
        })
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Walks the rootfs at `root` into one layer of changes (see the module docs). Unreadable entries are
/// left out with a diagnostic; the result is sorted by path, so the same tree always encodes to the
/// same bytes.
///
/// One walk of the tree serves everything: it records each entry, and extracts facts from the
/// candidate files on every core; the wanted files are then read once each, and the analyzers run
/// on the captured layer itself (as they will when it is applied), so only the few unowned native
/// files are read again, for their SHA-256.
pub fn capture(root: &Path, limits: &Limits) -> LayerChanges {
    capture_with(root, limits, true)
}

/// [`capture`]; with `unowned_digests` false the analyzers do not run and no SHA-256 is filled in,
/// for a caller that can read the few unowned native files of the final image later (the BuildKit
/// frontend's capture of a build's diff, where ownership can only be known with the base anyway).
pub fn capture_with(root: &Path, limits: &Limits, unowned_digests: bool) -> LayerChanges {
    let view = DirFs::new(root, limits.clone()).recording_entries();
    let wanted: std::collections::BTreeSet<String> = view.files().into_iter().collect();
    let facts: BTreeMap<String, Facts> = view.facts().into_iter().collect();
    let (walked, problems) = view.walked_entries();

    let mut diagnostics: Vec<Diagnostic> = problems
        .iter()
        .map(|(path, message)| diag(path, message.clone()))
        .collect();
    let mut entries = Vec::with_capacity(walked.len());
    let mut kept: u64 = 0;
    for w in walked {
        let content = if w.kind == EntryKind::File && wanted.contains(&w.path) {
            match view.read_walked(&w.path) {
                Ok(Some(bytes)) if kept + bytes.len() as u64 <= limits.max_wanted_total => {
                    kept += bytes.len() as u64;
                    Some(Arc::<[u8]>::from(bytes))
                }
                Ok(Some(_)) => {
                    diagnostics.push(diag(&w.path, "kept-content limit reached".to_owned()));
                    None
                }
                Ok(None) => None,
                Err(e) => {
                    diagnostics.push(diag(&w.path, e.to_string()));
                    None
                }
            }
        } else {
            None
        };
        let facts = (w.kind == EntryKind::File)
            .then(|| facts.get(&w.path).cloned())
            .flatten();
        entries.push(Entry {
            path: w.path.clone(),
            kind: w.kind.clone(),
            mode: w.mode,
            size: w.size,
            content,
            facts,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut changes = LayerChanges {
        blob_digest: Digest(String::new()),
        diff_id: Digest(String::new()),
        uncompressed_size: 0,
        entries: entries.into_iter().map(Change::Entry).collect(),
        diagnostics,
    };

    if !unowned_digests {
        return changes;
    }
    // The SHA-256 of every native file no package owns, as a full scan computes it, so applying the
    // fragment later needs no access to the files.
    let inventory = crate::analyzers::analyze(&crate::overlay::LayerView::new(&changes, limits));
    let missing = crate::ownership::binaries_without_digest(&inventory);
    let mut digests: BTreeMap<String, Digest> = BTreeMap::new();
    for p in &missing {
        if let Ok(Some(bytes)) = view.read(p) {
            digests.insert(
                p.trim_start_matches('/').to_owned(),
                Digest::sha256_of(&bytes),
            );
        }
    }
    if !digests.is_empty() {
        for c in &mut changes.entries {
            let Change::Entry(e) = c else { continue };
            let (Some(sum), Some(f)) = (digests.get(&e.path), e.facts.as_mut()) else {
                continue;
            };
            let mut with = FileFacts::clone(f);
            with.sha256 = Some(sum.clone());
            *f = Arc::new(with);
        }
    }
    changes.diagnostics.extend(inventory.diagnostics);
    changes
}

fn diag(path: &str, message: String) -> Diagnostic {
    Diagnostic {
        layer: None,
        path: format!("/{path}"),
        message,
    }
}

/// Encodes `changes` as fragment JSON (compact, byte-stable for the same changes).
pub fn encode(changes: &LayerChanges) -> Vec<u8> {
    encode_from(changes, "")
}

/// [`encode`], recording what the fragment was captured from (e.g. an image reference).
pub fn encode_from(changes: &LayerChanges, source: &str) -> Vec<u8> {
    let entries = changes
        .entries
        .iter()
        .map(|c| match c {
            Change::Whiteout(p) => EncodedChange::Whiteout { p: p.clone() },
            Change::Opaque(p) => EncodedChange::Opaque { p: p.clone() },
            Change::Entry(e) => match &e.kind {
                EntryKind::File | EntryKind::Hardlink(_) => EncodedChange::File {
                    p: e.path.clone(),
                    m: e.mode,
                    s: e.size,
                    c: e.content.as_ref().map(|c| b64().encode(c)),
                    x: e.facts.as_ref().map(|f| Box::new(EncodedFacts::of(f))),
                },
                EntryKind::Dir => EncodedChange::Dir {
                    p: e.path.clone(),
                    m: e.mode,
                },
                EntryKind::Symlink(l) => EncodedChange::Symlink {
                    p: e.path.clone(),
                    l: l.clone(),
                },
                EntryKind::Other => EncodedChange::Other {
                    p: e.path.clone(),
                    m: e.mode,
                },
            },
        })
        .collect();
    let doc = Encoded {
        format: FORMAT.to_owned(),
        version: VERSION,
        source: source.to_owned(),
        entries,
        diagnostics: changes.diagnostics.clone(),
    };
    let mut out = serde_json::to_vec(&doc).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Decodes fragment JSON, checking every entry against `limits` (see the module docs).
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<LayerChanges, FragmentError> {
    let doc: Encoded = serde_json::from_slice(bytes)?;
    if doc.format != FORMAT || doc.version != VERSION {
        return Err(FragmentError::Version {
            format: doc.format,
            version: doc.version,
        });
    }
    if doc.entries.len() as u64 > limits.max_entries {
        return Err(FragmentError::TooLarge {
            what: "entries",
            limit: limits.max_entries,
        });
    }
    let mut kept: u64 = 0;
    let mut entries = Vec::with_capacity(doc.entries.len());
    for (index, change) in doc.entries.into_iter().enumerate() {
        let bad = |path: &str, reason: String| FragmentError::Entry {
            index,
            path: path.to_owned(),
            reason,
        };
        let path = match &change {
            EncodedChange::File { p, .. }
            | EncodedChange::Dir { p, .. }
            | EncodedChange::Symlink { p, .. }
            | EncodedChange::Other { p, .. }
            | EncodedChange::Whiteout { p }
            | EncodedChange::Opaque { p } => p.clone(),
        };
        check_path(&path, limits).map_err(|r| bad(&path, r))?;
        let mode_ok = |m: u32| {
            if m > 0o7777 {
                Err(bad(&path, format!("mode {m:o} has bits beyond 7777")))
            } else {
                Ok(m)
            }
        };
        let decoded = match change {
            EncodedChange::Whiteout { p } => Change::Whiteout(p),
            EncodedChange::Opaque { p } => Change::Opaque(p),
            EncodedChange::Dir { p, m } => Change::Entry(Entry {
                path: p,
                kind: EntryKind::Dir,
                mode: mode_ok(m)?,
                size: 0,
                content: None,
                facts: None,
            }),
            EncodedChange::Other { p, m } => Change::Entry(Entry {
                path: p,
                kind: EntryKind::Other,
                mode: mode_ok(m)?,
                size: 0,
                content: None,
                facts: None,
            }),
            EncodedChange::Symlink { p, l } => {
                if l.is_empty() || l.len() > limits.max_path_len || l.contains('\0') {
                    return Err(bad(
                        &p,
                        "symlink target empty, too long or holds NUL".into(),
                    ));
                }
                Change::Entry(Entry {
                    path: p,
                    kind: EntryKind::Symlink(l),
                    mode: 0o777,
                    size: 0,
                    content: None,
                    facts: None,
                })
            }
            EncodedChange::File { p, m, s, c, x } => {
                let mode = mode_ok(m)?;
                let content = match c {
                    None => None,
                    Some(c) => {
                        let bytes = b64()
                            .decode(c.as_bytes())
                            .map_err(|e| bad(&p, format!("content is not base64: {e}")))?;
                        if bytes.len() as u64 != s {
                            return Err(bad(
                                &p,
                                format!("content is {} bytes, size says {s}", bytes.len()),
                            ));
                        }
                        if s > limits.max_wanted_file {
                            return Err(bad(
                                &p,
                                format!("content over the {} byte limit", limits.max_wanted_file),
                            ));
                        }
                        kept += s;
                        if kept > limits.max_wanted_total {
                            return Err(FragmentError::TooLarge {
                                what: "kept content bytes",
                                limit: limits.max_wanted_total,
                            });
                        }
                        Some(Arc::<[u8]>::from(bytes))
                    }
                };
                let facts = match x {
                    None => None,
                    Some(x) => Some(Arc::new(x.into_facts().map_err(|r| bad(&p, r))?)),
                };
                Change::Entry(Entry {
                    path: p,
                    kind: EntryKind::File,
                    mode,
                    size: s,
                    content,
                    facts,
                })
            }
        };
        entries.push(decoded);
    }
    Ok(LayerChanges {
        blob_digest: Digest(String::new()),
        diff_id: Digest(String::new()),
        uncompressed_size: 0,
        entries,
        diagnostics: doc.diagnostics,
    })
}

/// A stored path must be what the layer reader produces: root-relative, normalised, bounded.
pub(crate) fn check_path(path: &str, limits: &Limits) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.len() > limits.max_path_len {
        return Err(format!("path longer than {} bytes", limits.max_path_len));
    }
    if path.contains('\0') {
        return Err("path holds NUL".into());
    }
    if path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("path is not normalised and root-relative".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::fs;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("var/lib/dpkg/info")).unwrap();
        fs::write(
            r.join("var/lib/dpkg/status"),
            "Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n\n",
        )
        .unwrap();
        fs::write(
            r.join("var/lib/dpkg/info/base-files.list"),
            "/etc/os-release\n",
        )
        .unwrap();
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n").unwrap();
        std::os::unix::fs::symlink("usr/bin", r.join("bin")).unwrap();
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::write(r.join("usr/bin/run.sh"), "#!/bin/sh\nexec true\n").unwrap();
        fs::create_dir_all(r.join("proc/1")).unwrap();
        d
    }

    #[test]
    fn capture_keeps_every_path_wanted_content_and_facts_and_round_trips() {
        let d = tree();
        let changes = capture(d.path(), &Limits::default());
        let paths: Vec<&str> = changes
            .entries
            .iter()
            .filter_map(|c| match c {
                Change::Entry(e) => Some(e.path.as_str()),
                _ => None,
            })
            .collect();
        assert!(paths.contains(&"bin"));
        assert!(paths.contains(&"usr/bin/run.sh"));
        assert!(!paths.iter().any(|p| p.starts_with("proc")));
        let status = changes.entries.iter().find_map(|c| match c {
            Change::Entry(e) if e.path == "var/lib/dpkg/status" => Some(e),
            _ => None,
        });
        assert!(status.unwrap().content.is_some());
        let script = changes.entries.iter().find_map(|c| match c {
            Change::Entry(e) if e.path == "usr/bin/run.sh" => e.facts.clone(),
            _ => None,
        });
        assert!(script.unwrap().script.is_some());

        let bytes = encode(&changes);
        let back = decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(back.entries, changes.entries);
        assert_eq!(encode(&back), bytes, "byte-stable");
    }

    #[test]
    fn decode_refuses_bad_input_with_the_reason() {
        let lim = Limits::default();
        let e = decode(b"{", &lim).unwrap_err().to_string();
        assert!(e.contains("not valid"), "{e}");
        let e = decode(br#"{"format":"x","version":1,"entries":[]}"#, &lim)
            .unwrap_err()
            .to_string();
        assert!(e.contains("format \"x\""), "{e}");
        for (bad, why) in [
            (r#"{"t":"dir","p":"../etc","m":493}"#, "normalised"),
            (r#"{"t":"dir","p":"/etc","m":493}"#, "normalised"),
            (r#"{"t":"dir","p":"etc","m":99999}"#, "mode"),
            (
                r#"{"t":"file","p":"a","m":420,"s":3,"c":"YQ=="}"#,
                "size says",
            ),
            (r#"{"t":"file","p":"a","m":420,"s":1,"c":"!!"}"#, "base64"),
            (r#"{"t":"symlink","p":"a","l":""}"#, "symlink"),
            (
                r#"{"t":"file","p":"a","m":420,"s":0,"x":{"sha256":"md5:00"}}"#,
                "sha256",
            ),
        ] {
            let doc = format!(r#"{{"format":"{FORMAT}","version":1,"entries":[{bad}]}}"#);
            let e = decode(doc.as_bytes(), &lim).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let small = Limits {
            max_entries: 1,
            ..Limits::default()
        };
        let doc = format!(
            r#"{{"format":"{FORMAT}","version":1,"entries":[{{"t":"whiteout","p":"a"}},{{"t":"whiteout","p":"b"}}]}}"#
        );
        assert!(matches!(
            decode(doc.as_bytes(), &small),
            Err(FragmentError::TooLarge { .. })
        ));
    }
}
