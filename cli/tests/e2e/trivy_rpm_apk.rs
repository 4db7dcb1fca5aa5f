//! Conformance with Trivy on rpm- and apk-based inputs, built in a temp dir from the scanner-core
//! fixtures (rpm databases written by Debian's real `rpm`, the apk installed database): rootfs
//! directories for each rpm database location and backend, and 2-layer OCI images whose upper layer
//! upgrades, adds and removes packages. The same comparison and allowlist as `trivy`; on top of that,
//! stella's own inventory must equal what `rpm -qa` recorded when the fixtures were made (and the
//! package layout we wrote for apk), so a stella bug cannot hide behind the allowlist.
//!
//! Needs only Trivy (and Python with the validators for the document test), not the corpus.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::image::{self, Compression, E};
use crate::common::*;
use crate::trivy::{self, Key};

/// Fedora: Trivy reads rpm OS packages offline for it (`Type fedora`), with any rpm database backend.
const FEDORA_OS_RELEASE: &[u8] =
    b"NAME=\"Fedora Linux\"\nVERSION=\"40 (Container Image)\"\nID=fedora\n\
VERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Container Image)\"\n";

fn data(rel: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("scanner-core/tests/data").join(rel)).unwrap()
}

/// `rpm -qa --qf '%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH}\n'` as recorded with a fixture,
/// turned into keys (`[epoch:]version-release`, epoch only when non-zero: the fixtures' packages
/// without an Epoch tag print 0). `gpg-pubkey` entries are rpm's imported signing keys, not software:
/// rpm lists them, stella leaves them out (Trivy does not: see tests/trivy-allowlist.txt).
fn rpm_expected(rel: &str) -> BTreeSet<Key> {
    let text = String::from_utf8(data(rel)).unwrap();
    let keys: BTreeSet<Key> = text
        .lines()
        .filter(|l| !l.starts_with("gpg-pubkey "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 5, "{rel}: {l}");
            let version = match f[1] {
                "0" => format!("{}-{}", f[2], f[3]),
                epoch => format!("{epoch}:{}-{}", f[2], f[3]),
            };
            (f[0].to_owned(), version, f[4].to_owned())
        })
        .collect();
    assert!(keys.len() >= 3, "{rel}");
    keys
}

fn key(name: &str, version: &str, arch: &str) -> Key {
    (name.to_owned(), version.to_owned(), arch.to_owned())
}

/// Writes `files` under `dir`, creating parents.
fn rootfs(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir.to_path_buf()
}

/// One input scanned by both tools.
struct Case {
    name: &'static str,
    trivy_args: Vec<String>,
    source: String,
    /// Compare layer attribution too (images).
    layers: bool,
    /// The truth: every package → the diffID of the layer that introduced it ("" for a rootfs).
    expected: BTreeMap<Key, String>,
}

fn dir_case(name: &'static str, dir: PathBuf, expected: BTreeSet<Key>) -> Case {
    Case {
        name,
        trivy_args: vec!["rootfs".into(), dir.display().to_string()],
        source: format!("dir:{}", dir.display()),
        layers: false,
        expected: expected.into_iter().map(|k| (k, String::new())).collect(),
    }
}

fn image_case(
    name: &'static str,
    layout: &Path,
    layers: [(Vec<u8>, Vec<u8>); 2],
    expected: BTreeMap<Key, usize>,
) -> Case {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|(_, raw)| format!("sha256:{}", image::sha256_hex(raw)))
        .collect();
    image::oci_layout(layout, "t", &layers);
    Case {
        name,
        trivy_args: vec![
            "image".into(),
            "--input".into(),
            format!("{}:t", layout.display()),
        ],
        source: format!("oci:{}:t", layout.display()),
        layers: true,
        expected: expected
            .into_iter()
            .map(|(k, i)| (k, diff_ids[i].clone()))
            .collect(),
    }
}

/// openSUSE, where rpm's ndb backend (`Packages.db`) is at home.
const OPENSUSE_OS_RELEASE: &[u8] =
    b"NAME=\"openSUSE Leap\"\nVERSION=\"15.6\"\nID=\"opensuse-leap\"\n\
ID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.6\"\nPRETTY_NAME=\"openSUSE Leap 15.6\"\n";

/// The final database in every backend and location rpm uses, and the base database (which also holds
/// a `gpg-pubkey`).
fn rpm_rootfs_cases(tmp: &Path) -> Vec<Case> {
    let sqlite = data("rpm/sqlite/rpmdb.sqlite");
    let final_set = rpm_expected("rpm/sqlite/expected.txt");
    assert_eq!(final_set, rpm_expected("rpm/bdb/expected.txt"));
    assert_eq!(final_set, rpm_expected("rpm/ndb/expected.txt"));
    assert!(
        String::from_utf8(data("rpm/sqlite-base/expected.txt"))
            .unwrap()
            .contains("gpg-pubkey "),
        "the base fixture exercises gpg-pubkey"
    );
    let ndb = dir_case(
        "rootfs-rpm-ndb",
        rootfs(
            &tmp.join("rootfs-rpm-ndb"),
            &[
                ("etc/os-release", OPENSUSE_OS_RELEASE),
                (
                    "usr/lib/sysimage/rpm/Packages.db",
                    &data("rpm/ndb/Packages.db"),
                ),
            ],
        ),
        rpm_expected("rpm/ndb/expected.txt"),
    );
    let variants: [(&'static str, &str, &str, &[u8]); 4] = [
        (
            "rootfs-rpm-sqlite",
            "var/lib/rpm/rpmdb.sqlite",
            "rpm/sqlite/expected.txt",
            &sqlite,
        ),
        (
            "rootfs-rpm-sysimage",
            "usr/lib/sysimage/rpm/rpmdb.sqlite",
            "rpm/sqlite/expected.txt",
            &sqlite,
        ),
        (
            "rootfs-rpm-bdb",
            "var/lib/rpm/Packages",
            "rpm/bdb/expected.txt",
            &data("rpm/bdb/Packages"),
        ),
        (
            "rootfs-rpm-base",
            "var/lib/rpm/rpmdb.sqlite",
            "rpm/sqlite-base/expected.txt",
            &data("rpm/sqlite-base/rpmdb.sqlite"),
        ),
    ];
    variants
        .into_iter()
        .map(|(name, db, expected, bytes)| {
            let dir = rootfs(
                &tmp.join(name),
                &[("etc/os-release", FEDORA_OS_RELEASE), (db, bytes)],
            );
            dir_case(name, dir, rpm_expected(expected))
        })
        .chain([ndb])
        .collect()
}

/// Layer 0: os-release and the base database (stella-alpha 2:1.0-1, stella-beta 2.3.4-4.el9,
/// stella-legacy); layer 1: the final database (alpha unchanged, beta upgraded to 2.3.4-5.el9, gamma and
/// many added, legacy removed). alpha is layer 0's, everything else layer 1's; legacy is gone.
fn rpm_image_case(tmp: &Path) -> Case {
    let base = rpm_expected("rpm/sqlite-base/expected.txt");
    let final_set = rpm_expected("rpm/sqlite/expected.txt");
    let alpha = key("stella-alpha", "2:1.0-1", "noarch");
    assert!(base.contains(&alpha) && base.len() == 3 && final_set.contains(&alpha));
    assert!(
        base.iter().any(|k| k.0 == "stella-legacy")
            && !final_set.iter().any(|k| k.0 == "stella-legacy")
    );
    let layers = [
        image::layer(
            &[
                E::Dir("etc/"),
                E::File("etc/os-release", FEDORA_OS_RELEASE),
                E::Dir("var/"),
                E::Dir("var/lib/"),
                E::Dir("var/lib/rpm/"),
                E::File(
                    "var/lib/rpm/rpmdb.sqlite",
                    &data("rpm/sqlite-base/rpmdb.sqlite"),
                ),
            ],
            Compression::Gzip,
        ),
        image::layer(
            &[E::File(
                "var/lib/rpm/rpmdb.sqlite",
                &data("rpm/sqlite/rpmdb.sqlite"),
            )],
            Compression::Gzip,
        ),
    ];
    let expected = final_set
        .into_iter()
        .map(|k| {
            let layer = usize::from(!base.contains(&k));
            (k, layer)
        })
        .collect();
    image_case("oci-rpm", &tmp.join("oci-rpm"), layers, expected)
}

const ALPINE_RELEASE: &[u8] = b"3.20.3\n";

/// The apk fixture's packages.
fn apk_fixture_set() -> BTreeSet<Key> {
    [
        ("musl", "1.2.5-r0"),
        ("busybox", "1.36.1-r29"),
        ("busybox-binsh", "1.36.1-r29"),
        ("scanelf", "1.3.7-r2"),
    ]
    .into_iter()
    .map(|(n, v)| key(n, v, "x86_64"))
    .collect()
}

/// The records of the apk fixture, by package name.
fn apk_records() -> BTreeMap<String, String> {
    let text = String::from_utf8(data("alpine/lib/apk/db/installed")).unwrap();
    let records: BTreeMap<String, String> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let name = r
                .lines()
                .find_map(|l| l.strip_prefix("P:"))
                .unwrap()
                .to_owned();
            (name, format!("{r}\n"))
        })
        .collect();
    assert_eq!(records.len(), 4);
    records
}

/// An apk record of a package with no files, a licence as Alpine writes them, and an origin.
fn apk_record(name: &str, version: &str, license: &str) -> String {
    format!("P:{name}\nV:{version}\nA:x86_64\nS:1000\nI:4096\nT:test\nU:https://example.org/\nL:{license}\no:{name}\n")
}

/// Layer 0: os-release, alpine-release and an older database (musl as final, busybox one release
/// older, a package `stella-gone` removed later); layer 1: the fixture database plus `stella-extra`,
/// whose licence is a compound expression. musl is layer 0's, everything else layer 1's.
fn apk_image_case(tmp: &Path) -> Case {
    let records = apk_records();
    let lower = [
        records["musl"].clone(),
        records["busybox"].replace("V:1.36.1-r29", "V:1.36.1-r28"),
        apk_record("stella-gone", "0.1-r0", "MIT"),
    ]
    .join("\n");
    let upper = records
        .values()
        .cloned()
        .chain([apk_record(
            "stella-extra",
            "2.0-r1",
            "GPL-2.0-or-later AND MIT",
        )])
        .collect::<Vec<_>>()
        .join("\n");
    let layers = [
        image::layer(
            &[
                E::Dir("etc/"),
                E::File("etc/os-release", &data("alpine/etc/os-release")),
                E::File("etc/alpine-release", ALPINE_RELEASE),
                E::Dir("lib/"),
                E::Dir("lib/apk/"),
                E::Dir("lib/apk/db/"),
                E::File("lib/apk/db/installed", lower.as_bytes()),
            ],
            Compression::Gzip,
        ),
        image::layer(
            &[E::File("lib/apk/db/installed", upper.as_bytes())],
            Compression::Gzip,
        ),
    ];
    let mut expected: BTreeMap<Key, usize> =
        apk_fixture_set().into_iter().map(|k| (k, 1)).collect();
    expected.insert(key("musl", "1.2.5-r0", "x86_64"), 0);
    expected.insert(key("stella-extra", "2.0-r1", "x86_64"), 1);
    image_case("oci-apk", &tmp.join("oci-apk"), layers, expected)
}

fn apk_rootfs_case(tmp: &Path) -> Case {
    let dir = rootfs(
        &tmp.join("rootfs-apk"),
        &[
            ("etc/os-release", &data("alpine/etc/os-release")),
            ("etc/alpine-release", ALPINE_RELEASE),
            ("lib/apk/db/installed", &data("alpine/lib/apk/db/installed")),
        ],
    );
    dir_case("rootfs-apk", dir, apk_fixture_set())
}

fn all_cases(tmp: &Path) -> Vec<Case> {
    let mut cases = rpm_rootfs_cases(tmp);
    cases.push(rpm_image_case(tmp));
    cases.push(apk_rootfs_case(tmp));
    cases.push(apk_image_case(tmp));
    cases
}

#[test]
fn rpm_and_apk_packages_and_layers_match_trivy() {
    let Some(()) = trivy::trivy_available() else {
        return;
    };
    let dir = tempdir();
    let cases = all_cases(dir.path());
    let mut found = BTreeSet::new();
    for case in &cases {
        let ours = trivy::ours(&case.source);
        assert_eq!(ours, case.expected, "{}: stella's inventory", case.name);
        let args: Vec<&str> = case.trivy_args.iter().map(String::as_str).collect();
        let theirs = trivy::trivy(&args, &dir.path().join(format!("{}.cdx.json", case.name)));
        assert!(!theirs.is_empty(), "{}: Trivy found nothing", case.name);
        found.extend(trivy::compare(case.name, &ours, &theirs, case.layers));
    }
    let inputs: Vec<&str> = cases.iter().map(|c| c.name).collect();
    trivy::assert_explained(&found, &inputs);
}

/// Without Trivy too: stella's packages and layers are the truth, the report names the distro, keeps
/// the rpm epoch apart from `version`, and has no diagnostics.
#[test]
fn rpm_and_apk_inventories_are_exact() {
    let dir = tempdir();
    for case in all_cases(dir.path()) {
        assert_eq!(trivy::ours(&case.source), case.expected, "{}", case.name);
        let report = scan_json(&case.source);
        let distro = &report["inventory"]["distro"];
        let (id, version) = if case.name == "rootfs-rpm-ndb" {
            ("opensuse-leap", "15.6")
        } else if case.name.contains("rpm") {
            ("fedora", "40")
        } else {
            ("alpine", "3.20.3")
        };
        assert_eq!(distro["id"], id, "{}", case.name);
        assert_eq!(distro["version_id"], version, "{}", case.name);
        let packages = report["inventory"]["packages"].as_array().unwrap();
        if case.name.contains("rpm") {
            let alpha = packages
                .iter()
                .find(|p| p["name"] == "stella-alpha")
                .unwrap();
            assert_eq!(alpha["version"], "1.0-1", "{}", case.name);
            assert_eq!(alpha["epoch"], 2, "{}", case.name);
        }
        assert!(
            report["inventory"]["diagnostics"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "{}: {}",
            case.name,
            report["inventory"]["diagnostics"]
        );
    }
}

fn components_by_name(doc: &Value) -> BTreeMap<String, Value> {
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

fn spdx_by_name(doc: &Value) -> BTreeMap<String, Value> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p.clone()))
        .collect()
}

fn spdx_purl(p: &Value) -> &str {
    p["externalRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["referenceType"] == "purl")
        .and_then(|r| r["referenceLocator"].as_str())
        .unwrap_or_default()
}

/// CycloneDX and SPDX documents of rpm and apk inputs validate with cyclonedx-python-lib and
/// spdx-tools, with rpm/apk purls and licences: an SPDX expression stays an expression, a name that is
/// not SPDX (`ASL 2.0`) becomes a named licence / LicenseRef.
///
/// The rpm purls are byte-for-byte Trivy's. The apk ones differ in one qualifier by design: Trivy writes
/// `distro=3.20.3` (the bare release) for apk only, while stella writes `distro=alpine-3.20.3`, the
/// `<id>-<version_id>` form the purl spec's examples and Trivy's own rpm purls (`distro=fedora-40`) use.
#[test]
fn rpm_and_apk_documents_validate_with_purls_and_licenses() {
    let Some(python) = python() else { return };
    let dir = tempdir();
    let cases = all_cases(dir.path());
    for case in cases
        .iter()
        .filter(|c| ["rootfs-rpm-base", "oci-rpm", "oci-apk"].contains(&c.name))
    {
        let mut docs = BTreeMap::new();
        for (format, kind) in [("cyclonedx-json", "cyclonedx"), ("spdx-json", "spdx")] {
            let path = dir.path().join(format!("{}.{kind}.json", case.name));
            let out = stella(&[
                "scan",
                &case.source,
                "--format",
                format,
                "--output",
                path.to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let check = Command::new(&python)
                .arg(repo_root().join("tests/validate/validate_sbom.py"))
                .arg(kind)
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}: {kind} validation failed:\n{}\n{}",
                case.name,
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
            let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            docs.insert(kind, doc);
        }
        let cdx = components_by_name(&docs["cyclonedx"]);
        let spdx = spdx_by_name(&docs["spdx"]);
        // (name, purl, CycloneDX licence entry, SPDX licenseDeclared)
        let want: Vec<(&str, &str, Value, &str)> = match case.name {
            "rootfs-rpm-base" => vec![
                (
                    "stella-alpha",
                    "pkg:rpm/fedora/stella-alpha@1.0-1?arch=noarch&distro=fedora-40&epoch=2",
                    serde_json::json!({"license": {"id": "MIT"}}),
                    "MIT",
                ),
                (
                    "stella-legacy",
                    "pkg:rpm/fedora/stella-legacy@0.9-3.fc40?arch=noarch&distro=fedora-40",
                    serde_json::json!({"license": {"name": "ASL 2.0"}}),
                    "LicenseRef-ASL-2.0",
                ),
            ],
            "oci-rpm" => vec![(
                "stella-beta",
                "pkg:rpm/fedora/stella-beta@2.3.4-5.el9?arch=noarch&distro=fedora-40",
                serde_json::json!({"expression": "GPL-2.0-or-later AND MIT"}),
                "GPL-2.0-or-later AND MIT",
            )],
            _ => vec![
                (
                    "musl",
                    "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3",
                    serde_json::json!({"license": {"id": "MIT"}}),
                    "MIT",
                ),
                (
                    "stella-extra",
                    "pkg:apk/alpine/stella-extra@2.0-r1?arch=x86_64&distro=alpine-3.20.3",
                    serde_json::json!({"expression": "GPL-2.0-or-later AND MIT"}),
                    "GPL-2.0-or-later AND MIT",
                ),
            ],
        };
        for (name, purl, license, declared) in want {
            let c = &cdx[name];
            assert_eq!(c["purl"], purl, "{}: {name}", case.name);
            let licenses = c["licenses"].as_array().unwrap();
            assert_eq!(licenses.len(), 1, "{}: {name}", case.name);
            let got = &licenses[0];
            for (field, value) in license.as_object().unwrap() {
                match value {
                    Value::Object(inner) => {
                        for (k, v) in inner {
                            assert_eq!(&got[field][k], v, "{}: {name}", case.name);
                        }
                    }
                    v => assert_eq!(&got[field], v, "{}: {name}", case.name),
                }
            }
            let p = &spdx[name];
            assert_eq!(spdx_purl(p), purl, "{}: {name}", case.name);
            assert_eq!(p["licenseDeclared"], declared, "{}: {name}", case.name);
        }
        if case.name == "rootfs-rpm-base" {
            let extracted = docs["spdx"]["hasExtractedLicensingInfos"]
                .as_array()
                .unwrap();
            assert!(
                extracted
                    .iter()
                    .any(|e| e["licenseId"] == "LicenseRef-ASL-2.0" && e["name"] == "ASL 2.0"),
                "{extracted:?}"
            );
        }
    }
}
