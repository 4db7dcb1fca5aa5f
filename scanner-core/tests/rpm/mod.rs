//! The rpm analyzer against databases made by the real rpm tool (see `tests/data/rpm/README.md`):
//! every expectation comes from `rpm -qa --qf …` output recorded when the fixtures were made.

#![allow(clippy::unwrap_used)] // test helpers, outside #[test] fns

use scanner_core::analyzers::rpm;
use scanner_core::fs::MemFs;
use scanner_core::model::{Inventory, Package, PackageKind};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rpm");

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{rel}")).unwrap()
}

fn text(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

fn scan(files: &[(&str, &str)]) -> Inventory {
    let mut fs = MemFs::new();
    for (image_path, fixture) in files {
        fs.insert(image_path, read(fixture));
    }
    let mut inv = Inventory::default();
    rpm::analyze(&fs, &mut inv);
    inv.normalize();
    inv
}

/// `%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}` lines, sorted, as in `expected.txt`.
fn qa_lines(packages: &[Package]) -> String {
    let mut lines: Vec<String> = packages
        .iter()
        .map(|p| {
            let (version, release) = p.version.rsplit_once('-').unwrap();
            let arch = p.arch.as_deref().unwrap_or("(none)");
            format!(
                "{} {} {version} {release} {arch}\n",
                p.name,
                p.epoch.unwrap_or(0)
            )
        })
        .collect();
    lines.sort();
    lines.concat()
}

fn check_backend(image_path: &str, dir: &str, file: &str) {
    let inv = scan(&[(image_path, &format!("{dir}/{file}"))]);
    assert_eq!(inv.diagnostics, vec![], "{dir}");
    assert_eq!(
        qa_lines(&inv.packages),
        text(&format!("{dir}/expected.txt")),
        "{dir}"
    );
    for p in &inv.packages {
        assert_eq!(p.kind, Some(PackageKind::Rpm));
        assert_eq!(p.found_in, format!("/{image_path}"));
    }
}

#[test]
fn sqlite_matches_rpm() {
    check_backend("var/lib/rpm/rpmdb.sqlite", "sqlite", "rpmdb.sqlite");
}

#[test]
fn bdb_matches_rpm() {
    check_backend("var/lib/rpm/Packages", "bdb", "Packages");
}

#[test]
fn ndb_matches_rpm() {
    check_backend("usr/lib/sysimage/rpm/Packages.db", "ndb", "Packages.db");
}

/// Files with digests, requires, provides, licence and source rpm, against `expected-details.txt`.
#[test]
fn details_match_rpm() {
    for (image_path, fixture) in [
        ("var/lib/rpm/rpmdb.sqlite", "sqlite/rpmdb.sqlite"),
        ("var/lib/rpm/Packages", "bdb/Packages"),
        ("var/lib/rpm/Packages.db", "ndb/Packages.db"),
    ] {
        let inv = scan(&[(image_path, fixture)]);
        let expected = text("sqlite/expected-details.txt");
        let field = |name: &str, key: &str| -> Vec<String> {
            let prefix = format!("{name} {key} ");
            expected
                .lines()
                .filter_map(|l| l.strip_prefix(&prefix))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(inv.packages.len(), 4);
        for p in &inv.packages {
            let mut files: Vec<String> = p
                .files
                .iter()
                .map(|f| {
                    let digest = f.checksum.as_ref().map_or("", |c| c.value.as_str());
                    format!("{} {digest}", f.path)
                })
                .collect();
            files.sort();
            assert_eq!(files, field(&p.name, "file"), "{fixture} {}", p.name);
            assert!(p
                .files
                .iter()
                .filter_map(|f| f.checksum.as_ref())
                .all(|c| c.algorithm == "SHA-256"));

            let mut requires: Vec<String> = Vec::new();
            for r in field(&p.name, "requires") {
                if !r.starts_with("rpmlib(") && !requires.contains(&r) {
                    requires.push(r);
                }
            }
            let mut depends = p.depends.clone();
            depends.sort();
            assert_eq!(depends, requires, "{fixture} {}", p.name);

            let mut provides = p.provides.clone();
            provides.sort();
            assert_eq!(provides, field(&p.name, "provides"), "{fixture} {}", p.name);
            assert_eq!(
                p.licenses,
                field(&p.name, "license"),
                "{fixture} {}",
                p.name
            );

            let source = p.source.as_ref().unwrap();
            let srpm = format!(
                "{}-{}.src.rpm",
                source.name,
                source.version.as_deref().unwrap()
            );
            assert_eq!(
                vec![srpm],
                field(&p.name, "sourcerpm"),
                "{fixture} {}",
                p.name
            );
            assert_eq!(source.name, p.name);

            let md5 = p.checksums.iter().find(|c| c.algorithm == "MD5").unwrap();
            assert_eq!(md5.value.len(), 32);
        }
        let alpha = inv
            .packages
            .iter()
            .find(|p| p.name == "stella-alpha")
            .unwrap();
        assert_eq!(alpha.epoch, Some(2));
        assert_eq!(alpha.vendor.as_deref(), Some("Stella Fixtures"));
        assert_eq!(
            alpha.maintainer.as_deref(),
            Some("Fixture Maker <fixtures@example.org>")
        );
        assert_eq!(alpha.homepage.as_deref(), Some("https://example.org/alpha"));
        assert!(alpha.installed_size.is_some_and(|s| s > 0));
    }
}

#[test]
fn sqlite_is_preferred_over_older_backends_in_either_directory() {
    let inv = scan(&[
        ("var/lib/rpm/Packages", "bdb/Packages"),
        ("usr/lib/sysimage/rpm/rpmdb.sqlite", "sqlite/rpmdb.sqlite"),
    ]);
    assert_eq!(inv.packages.len(), 4);
    assert!(inv
        .packages
        .iter()
        .all(|p| p.found_in == "/usr/lib/sysimage/rpm/rpmdb.sqlite"));
}

#[test]
fn a_corrupt_database_is_a_diagnostic() {
    let mut fs = MemFs::new();
    fs.insert(
        "var/lib/rpm/rpmdb.sqlite",
        b"SQLite format 3\0 but not really".to_vec(),
    );
    let mut inv = Inventory::default();
    rpm::analyze(&fs, &mut inv);
    assert!(inv.packages.is_empty());
    assert_eq!(inv.diagnostics.len(), 1);
    assert_eq!(inv.diagnostics[0].path, "/var/lib/rpm/rpmdb.sqlite");
}

#[test]
fn one_damaged_ndb_blob_keeps_the_others() {
    let mut db = read("ndb/Packages.db");
    let n = db.len();
    db[n - 40] ^= 0xff;
    let mut fs = MemFs::new();
    fs.insert("var/lib/rpm/Packages.db", db);
    let mut inv = Inventory::default();
    rpm::analyze(&fs, &mut inv);
    assert_eq!(inv.packages.len(), 3);
    assert_eq!(inv.diagnostics.len(), 1);
}

#[test]
fn wants_exactly_the_database_files() {
    for dir in ["var/lib/rpm", "usr/lib/sysimage/rpm"] {
        for file in ["rpmdb.sqlite", "Packages", "Packages.db"] {
            assert!(rpm::wants(&format!("{dir}/{file}")), "{dir}/{file}");
        }
        for file in ["rpmdb.sqlite-wal", "Name", "Index.db", "", "Packages/x"] {
            assert!(!rpm::wants(&format!("{dir}/{file}")), "{dir}/{file}");
        }
    }
    for path in [
        "/var/lib/rpm/Packages",
        "var/lib/rpmPackages",
        "var/lib/dpkg/status",
        "",
    ] {
        assert!(!rpm::wants(path), "{path}");
    }
}
