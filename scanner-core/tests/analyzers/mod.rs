//! OS analyzers on fixture trees (`tests/data/`) and, when present, on the real rootfs corpus under
//! `/work/corpus/rootfs`, checked against `dpkg-query`, the reference implementation.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use scanner_core::analyzers::{analyze_os, wants};
use scanner_core::fs::MemFs;
use scanner_core::model::{Inventory, PackageKind};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Loads the regular files under `root` that the analyzers want into a [`MemFs`], the way a layer
/// reader keeps only wanted content. Symlinks are skipped (an absolute link would escape the root
/// on the host), so `etc/os-release → ../usr/lib/os-release` exercises the usr/lib fallback.
fn load_tree(root: &Path) -> MemFs {
    let mut fs = MemFs::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if wants(&rel) {
                    fs.insert(&rel, std::fs::read(&path).unwrap());
                }
            }
        }
    }
    fs
}

#[test]
fn debian_fixture() {
    let inv = analyze_os(&load_tree(&data("debian")));
    assert!(inv.diagnostics.is_empty(), "{:?}", inv.diagnostics);

    let distro = inv.distro.as_ref().unwrap();
    assert_eq!(distro.id, "debian");
    assert_eq!(distro.version.as_deref(), Some("12.15"));
    assert_eq!(distro.version_id.as_deref(), Some("12"));
    assert_eq!(distro.codename.as_deref(), Some("bookworm"));

    let names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "base-files",
            "bash",
            "gcc-12-base",
            "gzip",
            "libc6",
            "libgcc-s1",
            "tar"
        ],
        "rc-leftover (config-files) must not be reported"
    );
    for p in &inv.packages {
        assert_eq!(p.kind, Some(PackageKind::Deb));
        assert_eq!(p.found_in, "/var/lib/dpkg/status");
        assert!(!p.files.is_empty(), "{} has files", p.name);
        assert!(p.installed_size.is_some());
    }

    let bash = &inv.packages[1];
    assert_eq!(bash.version, "5.2.15-2+b13");
    assert_eq!(bash.arch.as_deref(), Some("amd64"));
    assert_eq!(bash.licenses.first().map(String::as_str), Some("GPL-3+"));
    assert!(bash.depends.contains(&"base-files".to_owned()));
    let bin = bash.files.iter().find(|f| f.path == "/bin/bash").unwrap();
    assert_eq!(bin.checksum.as_ref().unwrap().algorithm, "MD5");
    // A conffile: in the .list, not in md5sums, checksum from the status `Conffiles:` field.
    let bashrc = bash
        .files
        .iter()
        .find(|f| f.path == "/etc/bash.bashrc")
        .unwrap();
    assert!(bashrc.checksum.is_some());
    assert!(!bash
        .files
        .iter()
        .any(|f| f.path == "/usr" || f.path == "/bin"));

    let libc = inv.packages.iter().find(|p| p.name == "libc6").unwrap();
    assert_eq!(libc.source.as_ref().unwrap().name, "glibc");
    assert_eq!(libc.licenses, ["LGPL-2.1", "GPL-2"]);
    // Multi-Arch: same → info/libc6:amd64.list.
    assert!(libc.files.len() > 100);

    let libgcc = inv.packages.iter().find(|p| p.name == "libgcc-s1").unwrap();
    assert_eq!(libgcc.source.as_ref().unwrap().name, "gcc-12");
    // `Source: bash (5.2.15-2)`: a binNMU, the source version differs from the binary's.
    let src = bash.source.as_ref().unwrap();
    assert_eq!(
        (src.name.as_str(), src.version.as_deref()),
        ("bash", Some("5.2.15-2"))
    );
    // usr/share/doc/libgcc-s1 is not in the fixture (a symlink on the real system): no licenses.
    assert!(libgcc.licenses.is_empty());
}

#[test]
fn alpine_fixture() {
    let inv = analyze_os(&load_tree(&data("alpine")));
    assert!(inv.diagnostics.is_empty(), "{:?}", inv.diagnostics);
    let distro = inv.distro.as_ref().unwrap();
    assert_eq!(
        (distro.id.as_str(), distro.version.as_deref()),
        ("alpine", Some("3.20.3"))
    );

    let got: Vec<_> = inv
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.arch.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("busybox", "1.36.1-r29", Some("x86_64")),
            ("busybox-binsh", "1.36.1-r29", Some("x86_64")),
            ("musl", "1.2.5-r0", Some("x86_64")),
            ("scanelf", "1.3.7-r2", Some("x86_64")),
        ]
    );
    let busybox = &inv.packages[0];
    assert_eq!(busybox.found_in, "/lib/apk/db/installed");
    assert_eq!(busybox.licenses, ["GPL-2.0-only"]);
    assert_eq!(busybox.checksums[0].algorithm, "SHA-1");
    let paths: Vec<_> = busybox.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/bin/busybox",
            "/etc/logrotate.d/acpid",
            "/etc/securetty",
            "/etc/udhcpd.conf"
        ]
    );
    assert_eq!(
        busybox.files[0].checksum.as_ref().unwrap().value,
        "d659ff9e7ecf9befec73825f42f805f0f4abbda0"
    );
    let scanelf = &inv.packages[3];
    assert_eq!(scanelf.source.as_ref().unwrap().name, "pax-utils");
    assert_eq!(scanelf.depends, ["so:libc.musl-x86_64.so.1"]);
    assert_eq!(scanelf.files[0].path, "/usr/bin/scanelf");
}

/// Installed packages per `dpkg-query`, or `None` when dpkg-query is not available.
fn dpkg_query_installed(admindir: &Path) -> Option<BTreeSet<(String, String, String)>> {
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.display()))
        .args([
            "-W",
            "-f",
            "${db:Status-Status} ${Package} ${Version} ${Architecture}\n",
        ])
        .output()
        .ok()?;
    assert!(out.status.success(), "dpkg-query failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .filter_map(|l| {
                let mut w = l.split(' ');
                let state = w.next()?;
                let installed =
                    matches!(state, "installed" | "triggers-pending" | "triggers-awaited");
                installed.then(|| {
                    let name = w.next().unwrap().to_owned();
                    let version = w.next().unwrap().to_owned();
                    let arch = w.next().unwrap().to_owned();
                    (name, version, arch)
                })
            })
            .collect(),
    )
}

/// Paths `dpkg-query -L` lists for `pkg` (directories included).
fn dpkg_query_files(admindir: &Path, pkg: &str) -> HashSet<String> {
    let out = Command::new("dpkg-query")
        .arg(format!("--admindir={}", admindir.display()))
        .args(["-L", pkg])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(str::to_owned)
        .collect()
}

fn check_corpus_rootfs(root: &Path, check_files: bool) {
    if !root.is_dir() {
        eprintln!("skipping: corpus rootfs {} is absent", root.display());
        return;
    }
    let admindir = root.join("var/lib/dpkg");
    let Some(want) = dpkg_query_installed(&admindir) else {
        eprintln!("skipping: dpkg-query is not installed");
        return;
    };
    let inv: Inventory = analyze_os(&load_tree(root));
    assert!(inv.diagnostics.is_empty(), "{:?}", inv.diagnostics);
    let got: BTreeSet<_> = inv
        .packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.arch.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        want,
        "package set differs from dpkg-query for {}",
        root.display()
    );
    assert_eq!(got.len(), inv.packages.len(), "no duplicates");

    let debian_version = std::fs::read_to_string(root.join("etc/debian_version")).unwrap();
    let distro = inv.distro.as_ref().unwrap();
    assert_eq!(distro.id, "debian");
    assert_eq!(distro.version.as_deref(), Some(debian_version.trim()));

    if !check_files {
        return;
    }
    // Owned files: everything we report is listed by dpkg, and everything dpkg lists that we do
    // not report is a directory on disk.
    for p in &inv.packages {
        let spec = match p.arch.as_deref() {
            Some(a) if a != "all" => format!("{}:{a}", p.name),
            _ => p.name.clone(),
        };
        let listed = dpkg_query_files(&admindir, &spec);
        assert!(!listed.is_empty(), "dpkg-query -L {spec}");
        let ours: HashSet<_> = p.files.iter().map(|f| f.path.clone()).collect();
        for f in &ours {
            assert!(
                listed.contains(f),
                "{spec}: {f} not listed by dpkg-query -L"
            );
        }
        for f in listed.difference(&ours) {
            let on_disk = root.join(f.trim_start_matches('/'));
            assert!(
                std::fs::metadata(&on_disk).is_ok_and(|m| m.is_dir()),
                "{spec}: {f} listed by dpkg but not reported, and not a directory"
            );
        }
    }
    let with_licenses = inv
        .packages
        .iter()
        .filter(|p| !p.licenses.is_empty())
        .count();
    assert!(
        with_licenses * 10 >= inv.packages.len() * 9,
        "{with_licenses} packages with licenses"
    );
}

#[test]
fn corpus_debian_minbase_matches_dpkg_query() {
    check_corpus_rootfs(Path::new("/work/corpus/rootfs/debian-minbase"), true);
}

#[test]
fn corpus_app_matches_dpkg_query() {
    check_corpus_rootfs(Path::new("/work/corpus/rootfs/app"), false);
}
