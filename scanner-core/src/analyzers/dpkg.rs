//! dpkg (Debian, Ubuntu, distroless): installed packages, the files they own, and their licenses.
//!
//! Sources, all read through the [`FsView`]:
//! - `var/lib/dpkg/status`, the dpkg database (deb822 paragraphs), and `var/lib/dpkg/status.d/*`, the
//!   one-file-per-package variant distroless images use (`<pkg>.md5sums` files there hold that
//!   package's checksums and are not records);
//! - `var/lib/dpkg/info/<pkg>[:<arch>].list` (every path the package installed, directories included)
//!   and `.md5sums` (`<md5>  <relative path>` for its regular files), plus the `Conffiles:` field;
//! - `usr/share/doc/<pkg>/copyright` for licenses (DEP-5 `License:` fields, or references to
//!   `/usr/share/common-licenses/<name>` in free-form files, as Trivy does).
//!
//! Missing info or doc files are normal (distroless has no `info/`, slim images delete `usr/share/doc`)
//! and produce neither files nor licenses, and no diagnostic.

use std::collections::{BTreeMap, HashSet};

use super::deb822::{self, Paragraph};
use super::{push_issues, push_unique, read_or_diag, shorten, Issue, IssueKind, Issues};
use crate::fs::FsView;
use crate::model::{Checksum, Inventory, OwnedFile, Package, PackageKind, SourcePackage};

/// The dpkg database.
pub const STATUS: &str = "var/lib/dpkg/status";
/// The distroless one-file-per-package database.
pub const STATUS_D: &str = "var/lib/dpkg/status.d";
const INFO: &str = "var/lib/dpkg/info";
const DOC: &str = "usr/share/doc";

/// Longest `License:` value kept; anything longer is text, not a license name.
const MAX_LICENSE_LEN: usize = 200;

/// True for the files this module reads: the status file, `status.d/*`, `info/*.list`,
/// `info/*.md5sums` and `usr/share/doc/*/copyright`.
pub fn wants(path: &str) -> bool {
    if path == STATUS {
        return true;
    }
    if let Some(rest) = path.strip_prefix("var/lib/dpkg/") {
        if let Some(name) = rest.strip_prefix("status.d/") {
            return !name.is_empty() && !name.contains('/');
        }
        if let Some(name) = rest.strip_prefix("info/") {
            return !name.contains('/')
                && [".list", ".md5sums"]
                    .iter()
                    .any(|ext| name.len() > ext.len() && name.ends_with(ext));
        }
        return false;
    }
    path.strip_prefix("usr/share/doc/")
        .and_then(|rest| rest.strip_suffix("/copyright"))
        .is_some_and(|pkg| !pkg.is_empty() && !pkg.contains('/'))
}

/// What [`parse_status`] found in one status file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusFile {
    /// Installed packages, in file order. `found_in` is empty (the caller knows the path); `files`
    /// holds the `Conffiles:` entries with their MD5.
    pub packages: Vec<Package>,
    /// Records or lines that could not be used.
    pub issues: Vec<Issue>,
}

/// Parses a dpkg status file (or one `status.d/*` file) and keeps the installed packages.
///
/// A package counts when the third word of `Status:` (the state) is `installed`,
/// `triggers-pending` or `triggers-awaited`: dpkg treats those three alike when checking dependencies
/// (`src/main/depcon.c`), because the package is unpacked and configured and only trigger
/// processing is outstanding. The first word (the selection, `install`/`hold`/`deinstall`/`purge`)
/// is what the admin *wants*, not what is on disk, so `deinstall ok installed` is still installed
/// (Trivy drops such packages; `dpkg-query -W` lists them, and the files are there). `unpacked`,
/// `half-configured` and `half-installed` are failed or interrupted operations: not reported, but
/// noted as an issue. `not-installed` and `config-files` are dropped silently. A record without
/// `Status:` is a copied control file (distroless `status.d` records have none) and counts.
pub fn parse_status(data: &[u8]) -> StatusFile {
    let mut issues = Issues::default();
    let paragraphs = deb822::paragraphs(data, &mut issues);
    let mut packages = Vec::new();
    for p in &paragraphs {
        if let Some(pkg) = package(data, p, &mut issues) {
            packages.push(pkg);
        }
    }
    StatusFile {
        packages,
        issues: issues.finish(deb822::lines(data).count()),
    }
}

/// One paragraph → a package, or `None` (with an issue where that is worth saying).
fn package(data: &[u8], p: &Paragraph<'_>, issues: &mut Issues) -> Option<Package> {
    let get = |name: &str| {
        p.field(name)
            .map(|f| f.folded(data))
            .filter(|v| !v.is_empty())
    };
    for name in ["Package", "Version", "Architecture", "Status", "Source"] {
        if p.count(name) > 1 {
            let line = p
                .fields
                .iter()
                .rev()
                .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()));
            issues.push(
                line.map_or(p.line, |f| f.line),
                IssueKind::DuplicateField(name.to_owned()),
            );
        }
    }
    let Some(name) = get("Package") else {
        issues.push(p.line, IssueKind::MissingField("Package"));
        return None;
    };
    if let Some(status) = get("Status") {
        let words: Vec<&str> = status.split_whitespace().collect();
        let state = match words.as_slice() {
            [_want, _eflag, state] => *state,
            _ => {
                issues.push(
                    p.field("Status").map_or(p.line, |f| f.line),
                    IssueKind::BadValue {
                        field: "Status",
                        value: shorten(&status),
                    },
                );
                return None;
            }
        };
        match state {
            "installed" | "triggers-pending" | "triggers-awaited" => {}
            "not-installed" | "config-files" => return None,
            _ => {
                issues.push(
                    p.line,
                    IssueKind::NotInstalled {
                        name,
                        state: shorten(state),
                    },
                );
                return None;
            }
        }
    }
    let Some(version) = get("Version") else {
        issues.push(p.line, IssueKind::MissingField("Version"));
        return None;
    };

    let installed_size = get("Installed-Size").and_then(|v| {
        let kib = v.parse::<u64>().ok().and_then(|k| k.checked_mul(1024));
        if kib.is_none() {
            issues.push(
                p.field("Installed-Size").map_or(p.line, |f| f.line),
                IssueKind::BadValue {
                    field: "Installed-Size",
                    value: shorten(&v),
                },
            );
        }
        kib
    });

    let mut depends = Vec::new();
    let mut seen = HashSet::new();
    for field in ["Depends", "Pre-Depends"] {
        if let Some(v) = get(field) {
            for alt in v.split([',', '|']) {
                push_unique(&mut depends, &mut seen, relation_name(alt));
            }
        }
    }
    let mut provides = Vec::new();
    let mut seen = HashSet::new();
    if let Some(v) = get("Provides") {
        for item in v.split(',') {
            push_unique(&mut provides, &mut seen, relation_name(item));
        }
    }

    let files = p
        .field("Conffiles")
        .map(|f| f.lines(data).filter_map(conffile).collect())
        .unwrap_or_default();

    Some(Package {
        kind: Some(PackageKind::Deb),
        name,
        version,
        arch: get("Architecture"),
        source: get("Source").and_then(|s| source(&s)),
        maintainer: get("Maintainer"),
        homepage: get("Homepage"),
        depends,
        provides,
        installed_size,
        files,
        ..Package::default()
    })
}

/// `libc6:amd64 (>= 2.36) [linux-any] <!nocheck>` → `libc6`.
fn relation_name(item: &str) -> &str {
    let item = item.trim_start();
    let end = item
        .find(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '<'))
        .unwrap_or(item.len());
    let name = item.get(..end).unwrap_or(item);
    name.split_once(':').map_or(name, |(n, _arch)| n)
}

/// `Source: glibc (2.36-9)` → `glibc` version `2.36-9`; `Source: glibc` → version `None`.
fn source(s: &str) -> Option<SourcePackage> {
    let end = s
        .find(|c: char| c.is_whitespace() || c == '(')
        .unwrap_or(s.len());
    let (name, rest) = s.split_at_checked(end).unwrap_or((s, ""));
    if name.is_empty() {
        return None;
    }
    let version = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    Some(SourcePackage {
        name: name.to_owned(),
        version,
    })
}

/// A `Conffiles:` line: ` /etc/bash.bashrc 89269e12… [obsolete|remove-on-upgrade]`.
fn conffile(line: &[u8]) -> Option<OwnedFile> {
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let path = words.next()?;
    Some(OwnedFile {
        path: absolute_path(path),
        checksum: words.next().and_then(md5),
    })
}

/// An MD5 checksum from 32 hex digits (dpkg writes `newconffile` as a placeholder: `None`).
fn md5(hex: &str) -> Option<Checksum> {
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Checksum {
        algorithm: "MD5".to_owned(),
        value: hex.to_ascii_lowercase(),
    })
}

fn absolute_path(p: &str) -> String {
    format!("/{}", p.trim_start_matches("./").trim_start_matches('/'))
}

/// Parses an `info/<pkg>.list` file into the paths that are not directories.
///
/// A `.list` names every path the package unpacked, directories included; a path is taken to be a
/// directory when another listed path lies beneath it. (A directory the package ships empty is
/// indistinguishable from a file here and is kept.) `/.` is skipped.
pub fn parse_list(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let entries: Vec<&str> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r').trim_end_matches('/'))
        .filter(|l| !l.is_empty() && *l != "/.")
        .collect();
    let mut dirs: HashSet<&str> = HashSet::new();
    for entry in &entries {
        let mut p = *entry;
        while let Some(parent) = p.rfind('/').and_then(|i| p.get(..i)) {
            // Once a parent is known, all of its ancestors are too.
            if parent.is_empty() || !dirs.insert(parent) {
                break;
            }
            p = parent;
        }
    }
    entries
        .into_iter()
        .filter(|e| !dirs.contains(e))
        .map(absolute_path)
        .collect()
}

/// Parses an `md5sums` file (`<md5>  <relative path>` per line).
pub fn parse_md5sums(data: &[u8]) -> (Vec<OwnedFile>, Vec<Issue>) {
    let mut issues = Issues::default();
    let mut files = Vec::new();
    let mut last = 0;
    for (no, _, line) in deb822::lines(data) {
        last = no;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let line = String::from_utf8_lossy(line);
        let parsed = line.split_once(' ').and_then(|(hash, path)| {
            // `md5sum` marks binary mode with `*` before the path.
            let path = path.trim_start_matches(' ').trim_start_matches('*');
            Some((md5(hash)?, path)).filter(|(_, p)| !p.is_empty())
        });
        match parsed {
            Some((sum, path)) => files.push(OwnedFile {
                path: absolute_path(path),
                checksum: Some(sum),
            }),
            None => issues.push(
                no,
                IssueKind::BadValue {
                    field: "md5sums line",
                    value: shorten(&line),
                },
            ),
        }
    }
    (files, issues.finish(last))
}

/// Licenses named by a `copyright` file, distinct, in file order, exactly as written.
///
/// DEP-5 machine-readable files (a `Format:` field in the first paragraph): the first line of every
/// `License:` field; license text paragraphs are ignored. Other files: one-word `License:` values
/// and `/usr/share/common-licenses/<name>` references — the conservative subset of what Trivy
/// matches (Trivy also runs a full-text classifier on request; we do not guess).
pub fn parse_copyright(data: &[u8]) -> Vec<String> {
    const COMMON: &str = "/usr/share/common-licenses/";
    let text = String::from_utf8_lossy(data);
    let dep5 = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .any(|l| field_value(l, "Format").is_some());
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for line in text.lines() {
        if let Some(v) = field_value(line, "License") {
            // Outside DEP-5, `License:` can start a sentence ("License: The main library is…"):
            // only a single identifier-like word is taken there.
            let plausible = dep5 || !v.contains(char::is_whitespace);
            if plausible && v.len() <= MAX_LICENSE_LEN {
                push_unique(&mut out, &mut seen, v);
            }
            continue;
        }
        if dep5 {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find(COMMON) {
            rest = rest
                .get(at.saturating_add(COMMON.len())..)
                .unwrap_or_default();
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')))
                .unwrap_or(rest.len());
            let name = rest
                .get(..end)
                .unwrap_or_default()
                .trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '+'));
            push_unique(&mut out, &mut seen, name);
        }
    }
    out
}

/// `License: GPL-2+` → `GPL-2+` (field name case-insensitive, must start the line).
fn field_value<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (key, value) = line.split_once(':')?;
    key.eq_ignore_ascii_case(name)
        .then(|| value.trim())
        .filter(|v| !v.is_empty())
}

/// A dpkg package or architecture name that is safe to put in a path (no `/`, no leading `.`).
fn path_safe(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_'))
}

/// Finds dpkg databases in `fs` and adds their packages (with files and licenses) to `inv`.
pub fn analyze(fs: &dyn FsView, inv: &mut Inventory) {
    let mut found: Vec<(Package, Vec<String>)> = Vec::new();
    if let Some(data) = read_or_diag(fs, STATUS, inv) {
        let parsed = parse_status(&data);
        push_issues(inv, STATUS, parsed.issues);
        for mut p in parsed.packages {
            p.found_in = super::absolute(STATUS);
            found.push((p, Vec::new()));
        }
    }
    for file in fs.list(STATUS_D) {
        if file.ends_with(".md5sums") || file.starts_with('.') {
            continue;
        }
        let path = format!("{STATUS_D}/{file}");
        let Some(data) = read_or_diag(fs, &path, inv) else {
            continue;
        };
        let parsed = parse_status(&data);
        push_issues(inv, &path, parsed.issues);
        for mut p in parsed.packages {
            p.found_in = super::absolute(&path);
            let mut md5sums = vec![format!("{STATUS_D}/{file}.md5sums")];
            if p.name != file && path_safe(&p.name) {
                md5sums.push(format!("{STATUS_D}/{}.md5sums", p.name));
            }
            found.push((p, md5sums));
        }
    }
    for (mut p, extra_md5sums) in found {
        if path_safe(&p.name) {
            attach_files(fs, inv, &mut p, &extra_md5sums);
            if let Some(data) = read_or_diag(fs, &format!("{DOC}/{}/copyright", p.name), inv) {
                p.licenses = parse_copyright(&data);
            }
        }
        inv.packages.push(p);
    }
}

/// Merges `info/*.list`, `info/*.md5sums` (or distroless `status.d/*.md5sums`) and the conffiles
/// already in `p.files` into `p.files`.
fn attach_files(fs: &dyn FsView, inv: &mut Inventory, p: &mut Package, extra_md5sums: &[String]) {
    let arch = p.arch.as_deref().filter(|a| path_safe(a));
    // Multi-Arch: same packages are recorded as `<name>:<arch>.*`, all others as `<name>.*`.
    let stem = |ext: &str| {
        let mut candidates = Vec::with_capacity(2);
        if let Some(a) = arch {
            candidates.push(format!("{INFO}/{}:{a}.{ext}", p.name));
        }
        candidates.push(format!("{INFO}/{}.{ext}", p.name));
        candidates
    };
    let read_first = |inv: &mut Inventory, candidates: &[String]| {
        candidates
            .iter()
            .find_map(|c| read_or_diag(fs, c, inv).map(|d| (c.clone(), d)))
    };

    let mut files: BTreeMap<String, Option<Checksum>> = BTreeMap::new();
    if let Some((_, list)) = read_first(inv, &stem("list")) {
        files.extend(parse_list(&list).into_iter().map(|f| (f, None)));
    }
    let mut md5_candidates = stem("md5sums");
    md5_candidates.extend(extra_md5sums.iter().cloned());
    if let Some((path, data)) = read_first(inv, &md5_candidates) {
        let (sums, issues) = parse_md5sums(&data);
        push_issues(inv, &path, issues);
        for f in sums {
            files.insert(f.path, f.checksum);
        }
    }
    for conf in std::mem::take(&mut p.files) {
        let slot = files.entry(conf.path).or_insert(None);
        if slot.is_none() {
            *slot = conf.checksum;
        }
    }
    p.files = files
        .into_iter()
        .map(|(path, checksum)| OwnedFile { path, checksum })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    const STATUS_TEXT: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u9
Replaces: libc6-amd64
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Conffiles:
 /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: libgcc-s1
Status: hold ok installed
Installed-Size: 140
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Provides: libgcc1 (= 1:12.2.0-14)
Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)
Pre-Depends: libc6:amd64 | libc6.1 [alpha], gcc-12-base

Package: removed-but-configs
Status: deinstall ok config-files
Version: 1.0
Architecture: all

Package: still-there
Status: deinstall ok installed
Version: 2.0
Architecture: all

Package: broken
Status: install reinstreq half-installed
Version: 3.0
Architecture: all

Package: triggered
Status: install ok triggers-pending
Version: 1:4.0
Architecture: all
";

    #[test]
    fn parses_status_and_selects_installed() {
        let got = parse_status(STATUS_TEXT.as_bytes());
        let names: Vec<_> = got.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["libc6", "libgcc-s1", "still-there", "triggered"]);
        assert_eq!(got.issues.len(), 1, "{:?}", got.issues);
        assert!(matches!(
            &got.issues[0].kind,
            IssueKind::NotInstalled { name, state } if name == "broken" && state == "half-installed"
        ));

        let libc = &got.packages[0];
        assert_eq!(libc.kind, Some(PackageKind::Deb));
        assert_eq!(libc.version, "2.36-9+deb12u9");
        assert_eq!(libc.arch.as_deref(), Some("amd64"));
        assert_eq!(
            libc.source,
            Some(SourcePackage {
                name: "glibc".into(),
                version: None
            })
        );
        assert_eq!(libc.installed_size, Some(12986 * 1024));
        assert_eq!(
            libc.maintainer.as_deref(),
            Some("GNU Libc Maintainers <debian-glibc@lists.debian.org>")
        );
        assert_eq!(
            libc.homepage.as_deref(),
            Some("https://www.gnu.org/software/libc/libc.html")
        );
        assert_eq!(libc.depends, ["libgcc-s1"]);
        assert_eq!(
            libc.files,
            [OwnedFile {
                path: "/etc/ld.so.conf.d/x86_64-linux-gnu.conf".into(),
                checksum: Some(Checksum {
                    algorithm: "MD5".into(),
                    value: "d4e7a7b88a71b5ffd9e2644e71a0cfab".into()
                })
            }]
        );

        let gcc = &got.packages[1];
        assert_eq!(
            gcc.source,
            Some(SourcePackage {
                name: "gcc-12".into(),
                version: Some("12.2.0-14".into())
            })
        );
        assert_eq!(gcc.depends, ["gcc-12-base", "libc6", "libc6.1"]);
        assert_eq!(gcc.provides, ["libgcc1"]);
        assert_eq!(got.packages[3].version, "1:4.0");
    }

    #[test]
    fn source_table() {
        let cases = [
            ("glibc", Some(("glibc", None))),
            ("gcc-12 (12.2.0-14)", Some(("gcc-12", Some("12.2.0-14")))),
            ("foo(1:2.0)", Some(("foo", Some("1:2.0")))),
            ("foo ()", Some(("foo", None))),
            ("foo (1.0", Some(("foo", None))),
            ("(1.0)", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = source(input);
            assert_eq!(
                got.as_ref()
                    .map(|s| (s.name.as_str(), s.version.as_deref())),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn relation_names() {
        let cases = [
            ("libc6", "libc6"),
            ("  libc6 (>= 2.36)", "libc6"),
            ("python3:any (>= 3.11~)", "python3"),
            ("foo[amd64]", "foo"),
            ("bar <!nocheck>", "bar"),
            ("", ""),
            ("(>= 1)", ""),
        ];
        for (input, want) in cases {
            assert_eq!(relation_name(input), want, "{input}");
        }
    }

    #[test]
    fn malformed_status_never_panics() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n\n\n",
            b"Package: truncated\nStatus: install ok inst",
            b"Package: x\nVersion: 1\nStatus: install ok\n",
            b"Package: x\nVersion: 1\nInstalled-Size: 99999999999999999999\n",
            b"Version: 1\nArchitecture: all\n",
            b"Package: x\n",
            b"\xff\xfe\x00\x01:\x02\n \x03\n\x00",
            b"Package: a\nPackage: b\nVersion: 1\n",
            b"Source: (\nPackage: s\nVersion: 1\n",
        ];
        for data in cases {
            let _ = parse_status(data);
        }
        let got = parse_status(b"Package: x\nVersion: 1\nStatus: install ok\n");
        assert!(got.packages.is_empty());
        assert!(matches!(
            got.issues[0].kind,
            IssueKind::BadValue {
                field: "Status",
                ..
            }
        ));
        let got = parse_status(b"Package: x\nVersion: 1\nInstalled-Size: 99999999999999999\n");
        assert_eq!(got.packages[0].installed_size, None);
        assert_eq!(got.issues.len(), 1);
        let got = parse_status(b"Version: 1\n\nPackage: y\n");
        assert_eq!(
            got.issues
                .iter()
                .map(|i| i.kind.clone())
                .collect::<Vec<_>>(),
            [
                IssueKind::MissingField("Package"),
                IssueKind::MissingField("Version")
            ]
        );
        let got = parse_status(b"Package: a\nPackage: b\nVersion: 1\n");
        assert_eq!(got.packages[0].name, "a");
        assert_eq!(
            got.issues[0].kind,
            IssueKind::DuplicateField("Package".into())
        );
    }

    #[test]
    fn huge_continuation_is_linear() {
        let mut data = b"Package: big\nVersion: 1\nDescription: x\n".to_vec();
        for _ in 0..200_000 {
            data.extend_from_slice(b" lorem ipsum dolor sit amet\n");
        }
        data.extend_from_slice(b"Depends: a, b\n");
        let got = parse_status(&data);
        assert_eq!(got.packages[0].depends, ["a", "b"]);
    }

    #[test]
    fn list_drops_directories() {
        let list = b"/.\n/usr\n/usr/bin\n/usr/bin/tar\n/usr/bin-extra\n/usr/sbin\n/usr/sbin/rmt-tar\n/usr/share/doc/tar/\n/usr/share/doc/tar/copyright\n/etc/empty\r\n";
        assert_eq!(
            parse_list(list),
            [
                "/usr/bin/tar",
                "/usr/bin-extra",
                "/usr/sbin/rmt-tar",
                "/usr/share/doc/tar/copyright",
                "/etc/empty"
            ]
        );
        assert!(parse_list(b"").is_empty());
        assert_eq!(parse_list(b"relative\n\xff"), ["/relative", "/\u{fffd}"]);
    }

    #[test]
    fn md5sums_lines() {
        let (files, issues) = parse_md5sums(
            b"7b1a7b5c6a0e1e4a8e1c2f3d4b5a6978  usr/bin/tar\nnot-a-hash  usr/x\n\nD41D8CD98F00B204E9800998ECF8427E *usr/share/doc/tar/NEWS.gz\r\nd41d8cd98f00b204e9800998ecf8427e\n",
        );
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "/usr/bin/tar");
        assert_eq!(files[1].path, "/usr/share/doc/tar/NEWS.gz");
        assert_eq!(
            files[1].checksum.as_ref().map(|c| c.value.as_str()),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(issues.iter().map(|i| i.line).collect::<Vec<_>>(), [2, 5]);
    }

    #[test]
    fn copyright_table() {
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: bash\n\n\
Files: *\nCopyright: 1987-2022 FSF\nLicense: GPL-3+\n\n\
Files: lib/x/*\nLicense: BSD-3-clause\n\n\
Files: debian/*\nLicense: GPL-3+\n\n\
License: GPL-3+\n This program is free software; see\n /usr/share/common-licenses/GPL-3.\n\n\
License: BSD-3-clause\n Redistribution ...\n";
        let free = "This is the Debian prepackaged version of the GNU C Library.\n\
It is distributed under the terms of the GNU Lesser General Public License,\n\
which can be found in `/usr/share/common-licenses/LGPL-2.1'. Parts are under\n\
/usr/share/common-licenses/GPL-2. and /usr/share/common-licenses/LGPL-2.1 again,\n\
see /usr/share/common-licenses/ for all, and /usr/share/common-licenses/Artistic-.\n";
        let cases: &[(&[u8], &[&str])] = &[
            (dep5.as_bytes(), &["GPL-3+", "BSD-3-clause"]),
            (free.as_bytes(), &["LGPL-2.1", "GPL-2", "Artistic"]),
            (b"", &[]),
            (b"License:\nLicense:   \n", &[]),
            (
                b"License: The main library is LGPL\nLicense: LGPLv3+_or_GPLv2+\n",
                &["LGPLv3+_or_GPLv2+"],
            ),
            (b"\xff/usr/share/common-licenses/\xff", &[]),
            (
                b"Format: x\n\nLicense: MIT or Apache-2.0\n",
                &["MIT or Apache-2.0"],
            ),
        ];
        for (data, want) in cases {
            assert_eq!(
                parse_copyright(data),
                *want,
                "{}",
                String::from_utf8_lossy(data)
            );
        }
        let long = format!("License: {}\n", "x".repeat(MAX_LICENSE_LEN + 1));
        assert!(parse_copyright(long.as_bytes()).is_empty());
    }

    #[test]
    fn analyze_status_info_and_doc() {
        let mut fs = MemFs::new();
        fs.insert(STATUS, STATUS_TEXT)
            .insert(
                "var/lib/dpkg/info/libc6:amd64.list",
                "/.\n/etc\n/etc/ld.so.conf.d\n/etc/ld.so.conf.d/x86_64-linux-gnu.conf\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libc.so.6\n/lib64\n",
            )
            .insert(
                "var/lib/dpkg/info/libc6:amd64.md5sums",
                "0123456789abcdef0123456789abcdef  usr/lib/x86_64-linux-gnu/libc.so.6\n",
            )
            .insert("var/lib/dpkg/info/libgcc-s1.list", "/usr/lib/libgcc_s.so.1\n")
            .insert(
                "usr/share/doc/libc6/copyright",
                "See /usr/share/common-licenses/LGPL-2.1 and /usr/share/common-licenses/GPL-2\n",
            );
        let mut inv = Inventory::default();
        analyze(&fs, &mut inv);
        assert_eq!(inv.packages.len(), 4);
        let libc = &inv.packages[0];
        assert_eq!(libc.found_in, "/var/lib/dpkg/status");
        assert_eq!(libc.licenses, ["LGPL-2.1", "GPL-2"]);
        let paths: Vec<_> = libc
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.checksum.is_some()))
            .collect();
        assert_eq!(
            paths,
            [
                ("/etc/ld.so.conf.d/x86_64-linux-gnu.conf", true),
                ("/lib64", false),
                ("/usr/lib/x86_64-linux-gnu/libc.so.6", true),
            ]
        );
        assert_eq!(inv.packages[1].files.len(), 1);
        assert!(inv.packages[1].licenses.is_empty());
        assert_eq!(inv.diagnostics.len(), 1, "{:?}", inv.diagnostics);
        assert_eq!(inv.diagnostics[0].path, "/var/lib/dpkg/status");
        assert!(inv.diagnostics[0].message.contains("half-installed"));
    }

    #[test]
    fn analyze_distroless_status_d() {
        let mut fs = MemFs::new();
        fs.insert(
            "var/lib/dpkg/status.d/libssl3",
            "Package: libssl3\nSource: openssl\nVersion: 3.0.15-1~deb12u1\nArchitecture: amd64\nInstalled-Size: 6\n",
        )
        .insert(
            "var/lib/dpkg/status.d/libssl3.md5sums",
            "00112233445566778899aabbccddeeff  usr/lib/x86_64-linux-gnu/libssl.so.3\n",
        )
        .insert("var/lib/dpkg/status.d/tzdata", "garbage line\n")
        .insert(
            "usr/share/doc/libssl3/copyright",
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: Apache-2.0\n",
        );
        let mut inv = Inventory::default();
        analyze(&fs, &mut inv);
        assert_eq!(inv.packages.len(), 1);
        let p = &inv.packages[0];
        assert_eq!(p.found_in, "/var/lib/dpkg/status.d/libssl3");
        assert_eq!(p.installed_size, Some(6144));
        assert_eq!(p.licenses, ["Apache-2.0"]);
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files[0].path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
        let diag_paths: Vec<_> = inv.diagnostics.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(diag_paths, ["/var/lib/dpkg/status.d/tzdata"]);
    }

    #[test]
    fn hostile_names_are_not_used_in_paths() {
        let mut fs = MemFs::new();
        fs.insert(STATUS, "Package: ../../../etc/passwd\nVersion: 1\n")
            .insert("etc/passwd.list", "/etc/shadow\n");
        let mut inv = Inventory::default();
        analyze(&fs, &mut inv);
        assert_eq!(inv.packages.len(), 1);
        assert!(inv.packages[0].files.is_empty());
    }
}
