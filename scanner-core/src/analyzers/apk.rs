//! apk (Alpine, Wolfi, Chainguard): `lib/apk/db/installed`.
//!
//! The installed database is a sequence of records separated by blank lines; each line is one
//! letter, a colon and a value (<https://wiki.alpinelinux.org/wiki/Apk_spec>):
//! `P` name, `V` version, `A` arch, `L` license, `o` origin (source package), `m` maintainer, `U` url,
//! `I` installed size in bytes, `C` package checksum, `D` dependencies, `p` provides, and the file
//! records: `F` a directory, `R` a file in the last `F` directory, `Z` the checksum of the last `R`
//! (`a`/`M` are ownership and mode, ignored). Checksums are `Q1` + base64 SHA-1 (`Q2` + base64 SHA-256
//! in newer apk), or plain hex MD5 in very old databases.

use std::collections::HashSet;

use base64::Engine as _;

use super::deb822::lines;
use super::{push_issues, push_unique, read_or_diag, shorten, Issue, IssueKind, Issues};
use crate::fs::FsView;
use crate::model::{hex, Checksum, Inventory, OwnedFile, Package, PackageKind, SourcePackage};

/// The apk installed database.
pub const INSTALLED: &str = "lib/apk/db/installed";

/// True for the files this module reads.
pub fn wants(path: &str) -> bool {
    path == INSTALLED
}

/// What [`parse_installed`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledDb {
    /// Packages in file order; `found_in` is empty (the caller knows the path).
    pub packages: Vec<Package>,
    /// Records or lines that could not be used.
    pub issues: Vec<Issue>,
}

/// A record being read.
#[derive(Default)]
struct Record {
    line: usize,
    pkg: Package,
    has_name: bool,
    has_version: bool,
    dir: Option<String>,
    depends_seen: HashSet<String>,
    provides_seen: HashSet<String>,
}

impl Record {
    fn is_empty(&self) -> bool {
        self.line == 0
    }

    fn finish(self, out: &mut Vec<Package>, issues: &mut Issues) {
        if self.is_empty() {
            return;
        }
        if !self.has_name {
            issues.push(self.line, IssueKind::MissingField("P"));
        } else if !self.has_version {
            issues.push(self.line, IssueKind::MissingField("V"));
        } else {
            out.push(self.pkg);
        }
    }
}

/// Parses an apk installed database. Never fails; unusable lines and records become issues.
pub fn parse_installed(data: &[u8]) -> InstalledDb {
    let mut issues = Issues::default();
    let mut packages = Vec::new();
    let mut rec = Record::default();
    let mut last = 0;
    for (no, _, line) in lines(data) {
        last = no;
        if line.trim_ascii().is_empty() {
            std::mem::take(&mut rec).finish(&mut packages, &mut issues);
            continue;
        }
        let (key, value) = match line {
            [key, b':', value @ ..] => (*key, String::from_utf8_lossy(value)),
            _ => {
                issues.push(no, IssueKind::NotAField);
                continue;
            }
        };
        // A second `P:` without a blank line before it starts a new record (a hand-edited or
        // concatenated database); keep both packages rather than merging them.
        if key == b'P' && rec.has_name {
            issues.push(no, IssueKind::DuplicateField("P".to_owned()));
            std::mem::take(&mut rec).finish(&mut packages, &mut issues);
        }
        if rec.is_empty() {
            rec.line = no;
            rec.pkg.kind = Some(PackageKind::Apk);
        }
        let value = value.trim();
        let opt = || (!value.is_empty()).then(|| value.to_owned());
        match key {
            b'P' => {
                rec.has_name = !value.is_empty();
                rec.pkg.name = value.to_owned();
            }
            b'V' => {
                rec.has_version = !value.is_empty();
                rec.pkg.version = value.to_owned();
            }
            b'A' => rec.pkg.arch = opt(),
            b'L' => rec.pkg.licenses = opt().into_iter().collect(),
            b'o' => {
                rec.pkg.source = opt().map(|name| SourcePackage {
                    name,
                    version: None,
                })
            }
            b'm' => rec.pkg.maintainer = opt(),
            b'U' => rec.pkg.homepage = opt(),
            b'I' => match value.parse::<u64>() {
                Ok(n) => rec.pkg.installed_size = Some(n),
                Err(_) => issues.push(no, bad("I", value)),
            },
            b'C' => match checksum(value) {
                Some(c) => rec.pkg.checksums = vec![c],
                None => issues.push(no, bad("C", value)),
            },
            b'D' => {
                for dep in value.split_whitespace().filter(|d| !d.starts_with('!')) {
                    push_unique(
                        &mut rec.pkg.depends,
                        &mut rec.depends_seen,
                        strip_constraint(dep),
                    );
                }
            }
            b'p' => {
                for prov in value.split_whitespace() {
                    push_unique(
                        &mut rec.pkg.provides,
                        &mut rec.provides_seen,
                        strip_constraint(prov),
                    );
                }
            }
            b'F' => rec.dir = Some(value.trim_matches('/').to_owned()),
            b'R' => {
                let path = match rec.dir.as_deref() {
                    Some(dir) if !dir.is_empty() => format!("/{dir}/{value}"),
                    _ => format!("/{value}"),
                };
                rec.pkg.files.push(OwnedFile {
                    path,
                    checksum: None,
                });
            }
            b'Z' => match (rec.pkg.files.last_mut(), checksum(value)) {
                (Some(file), Some(sum)) if file.checksum.is_none() => file.checksum = Some(sum),
                _ => issues.push(no, bad("Z", value)),
            },
            _ => {}
        }
    }
    rec.finish(&mut packages, &mut issues);
    InstalledDb {
        packages,
        issues: issues.finish(last),
    }
}

fn bad(field: &'static str, value: &str) -> IssueKind {
    IssueKind::BadValue {
        field,
        value: shorten(value),
    }
}

/// `musl>=1.2` → `musl`, `so:libc.musl-x86_64.so.1=1` → `so:libc.musl-x86_64.so.1`.
fn strip_constraint(dep: &str) -> &str {
    let end = dep.find(['<', '>', '=', '~']).unwrap_or(dep.len());
    dep.get(..end).unwrap_or(dep)
}

/// An apk checksum: `Q1<base64 SHA-1>`, `Q2<base64 SHA-256>`, or 32 hex digits (MD5).
fn checksum(value: &str) -> Option<Checksum> {
    let (algorithm, len, b64) = if let Some(b64) = value.strip_prefix("Q1") {
        ("SHA-1", 20, b64)
    } else if let Some(b64) = value.strip_prefix("Q2") {
        ("SHA-256", 32, b64)
    } else if value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(Checksum {
            algorithm: "MD5".to_owned(),
            value: value.to_ascii_lowercase(),
        });
    } else {
        return None;
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|raw| raw.len() == len)?;
    Some(Checksum {
        algorithm: algorithm.to_owned(),
        value: hex(&raw),
    })
}

/// Reads the apk database in `fs`, if any, and adds its packages to `inv`.
pub fn analyze(fs: &dyn FsView, inv: &mut Inventory) {
    let Some(data) = read_or_diag(fs, INSTALLED, inv) else {
        return;
    };
    let parsed = parse_installed(&data);
    push_issues(inv, INSTALLED, parsed.issues);
    for mut p in parsed.packages {
        p.found_in = super::absolute(INSTALLED);
        inv.packages.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two records as apk-tools 2.14 writes them (Alpine 3.20).
    const DB: &str = "\
C:Q1Deb0jNytkrjPW4N/eKLZ43BwOlw=
P:musl
V:1.2.5-r0
A:x86_64
S:411323
I:643072
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1714989473
c:3aab3a4e4d5fbfae26a0d1eb1e9ae4ab2c92de1f
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q12adwqQOjo9dFl+VJD2Ecd901vhE=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1RMzFsdXEdHaz4UMcqKr9vXH/nhE=
P:busybox-binsh
V:1.36.1-r29
A:x86_64
S:1547
I:1
T:busybox ash /bin/sh
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1717088627
c:1a1d9e0e2b3e5d3f0d6a9e4c2b2e6a7a9c1f2d3e
D:busybox=1.36.1-r29 so:libc.musl-x86_64.so.1 !busybox-legacy cmd:ls>=1.0 busybox
p:/bin/sh cmd:sh=1.36.1-r29
r:busybox-initscripts
F:bin
R:sh
a:0:0:777
Z:Q1pcfTfDNEbNKQc2s1tia7da05M8Q=
";

    #[test]
    fn parses_records() {
        let db = parse_installed(DB.as_bytes());
        assert!(db.issues.is_empty(), "{:?}", db.issues);
        assert_eq!(db.packages.len(), 2);
        let musl = &db.packages[0];
        assert_eq!(musl.kind, Some(PackageKind::Apk));
        assert_eq!(
            (musl.name.as_str(), musl.version.as_str()),
            ("musl", "1.2.5-r0")
        );
        assert_eq!(musl.arch.as_deref(), Some("x86_64"));
        assert_eq!(musl.licenses, ["MIT"]);
        assert_eq!(musl.source.as_ref().map(|s| s.name.as_str()), Some("musl"));
        assert_eq!(
            musl.maintainer.as_deref(),
            Some("Timo Teräs <timo.teras@iki.fi>")
        );
        assert_eq!(musl.homepage.as_deref(), Some("https://musl.libc.org/"));
        assert_eq!(musl.installed_size, Some(643072));
        assert_eq!(
            musl.checksums,
            [Checksum {
                algorithm: "SHA-1".into(),
                value: "0de6f48cdcad92b8cf5b837f78a2d9e370703a5c".into()
            }]
        );
        assert_eq!(musl.provides, ["so:libc.musl-x86_64.so.1"]);
        assert_eq!(musl.files.len(), 2);
        assert_eq!(musl.files[0].path, "/lib/ld-musl-x86_64.so.1");
        assert_eq!(
            musl.files[0].checksum.as_ref().map(|c| c.value.as_str()),
            Some("d9a770a903a3a3d74597e5490f611c77dd35be11")
        );
        let sh = &db.packages[1];
        assert_eq!(
            sh.depends,
            ["busybox", "so:libc.musl-x86_64.so.1", "cmd:ls"]
        );
        assert_eq!(sh.provides, ["/bin/sh", "cmd:sh"]);
        assert_eq!(sh.files[0].path, "/bin/sh");
    }

    #[test]
    fn checksum_table() {
        let sha256 = format!(
            "Q2{}",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        );
        let cases: &[(&str, Option<(&str, usize)>)] = &[
            ("Q1Deb0jNytkrjPW4N/eKLZ43BwOlw=", Some(("SHA-1", 40))),
            (&sha256, Some(("SHA-256", 64))),
            ("0123456789ABCDEF0123456789abcdef", Some(("MD5", 32))),
            ("Q1short", None),
            ("Q1!!!!", None),
            ("Q2Deb0jNytkrjPW4N/eKLZ43BwOlw=", None),
            ("", None),
            ("zz", None),
        ];
        for (input, want) in cases {
            let got = checksum(input);
            assert_eq!(
                got.as_ref().map(|c| (c.algorithm.as_str(), c.value.len())),
                *want,
                "{input}"
            );
        }
    }

    #[test]
    fn malformed_input() {
        // Truncated record at EOF, no trailing newline.
        let db = parse_installed(b"P:a\nV:1\nA:x86_64\nF:usr/bin\nR:a");
        assert_eq!(db.packages.len(), 1);
        assert_eq!(db.packages[0].files[0].path, "/usr/bin/a");

        // Missing V, missing P, garbage lines, bad numbers and checksums, Z before any R.
        let db = parse_installed(
            b"P:nov\n\nV:1\n\nPxx\n\xff\xfe\nP:ok\nV:1\nI:lots\nC:Q1@@\nZ:Q1Deb0jNytkrjPW4N/eKLZ43BwOlw=\nR:rootfile\n\r\n",
        );
        assert_eq!(db.packages.len(), 1);
        assert_eq!(db.packages[0].name, "ok");
        assert_eq!(db.packages[0].files[0].path, "/rootfile");
        let lines: Vec<_> = db.issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, [1, 3, 5, 6, 9, 10, 11]);

        // Two records with no blank line between them.
        let db = parse_installed(b"P:a\nV:1\nP:b\nV:2\n");
        let names: Vec<_> = db.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);

        for data in [&b""[..], b"\n", b":", b"P:", b"P:\nV:\n", b"Z:\nR:\n"] {
            let _ = parse_installed(data);
        }
    }

    #[test]
    fn strip_constraint_table() {
        let cases = [
            ("musl>=1.2", "musl"),
            ("a=1", "a"),
            ("a~1.2", "a"),
            ("a<2", "a"),
            ("a><1", "a"),
            ("so:libc.musl-x86_64.so.1", "so:libc.musl-x86_64.so.1"),
            ("=1", ""),
        ];
        for (input, want) in cases {
            assert_eq!(strip_constraint(input), want);
        }
    }
}
