//! A captured base fragment plus the changes a build made scans exactly like the final rootfs.

use std::path::{Path, PathBuf};
use std::process::Command;

use scanner_core::dirfs::DirFs;
use scanner_core::fragment;
use scanner_core::layer::{Change, LayerChanges, Limits};
use scanner_core::model::{Inventory, Package};
use scanner_core::scan;

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/corpus"));
    if dir.join("rootfs/app/.done").exists() && dir.join("rootfs/debian-minbase/.done").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "corpus missing at {}: run tests/run.sh",
        dir.display()
    );
    eprintln!(
        "skipped: corpus missing at {} (tests/run.sh builds it)",
        dir.display()
    );
    None
}

/// Packages without layer attribution (a fragment has none), as comparable values.
fn packages(inv: &Inventory) -> Vec<Package> {
    let mut v: Vec<Package> = inv
        .packages
        .iter()
        .cloned()
        .map(|mut p| {
            p.layer = None;
            p
        })
        .collect();
    v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    v
}

fn sh(cmd: &str) {
    let st = Command::new("bash").arg("-ec").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

#[test]
fn fragment_of_a_rootfs_scans_like_the_rootfs() {
    let Some(corpus) = corpus() else { return };
    let app = corpus.join("rootfs/app");
    let frag = fragment::capture(&app, &Limits::default());
    let bytes = fragment::encode(&frag);
    let back = fragment::decode(&bytes, &Limits::default()).unwrap();
    let via_fragment = scan::scan_changes(&[back], None, &|_| None);
    let direct = scan::scan_dir(&DirFs::new(&app, Limits::default()));
    assert!(direct.packages.len() > 300, "{}", direct.packages.len());
    assert_eq!(packages(&via_fragment), packages(&direct));
    assert_eq!(via_fragment.distro, direct.distro);
}

#[test]
fn base_fragment_plus_a_diff_scans_like_the_final_rootfs() {
    let Some(corpus) = corpus() else { return };
    let base = corpus.join("rootfs/debian-minbase");
    let app = corpus.join("rootfs/app");
    let tmp = tempfile::tempdir().unwrap();
    let (fin, added) = (tmp.path().join("final"), tmp.path().join("added"));
    // What a build did on top of the base: pip/npm installs, one package removed from the dpkg
    // database (a modified file), one directory deleted.
    sh(&format!(
        "cp -al {b} {f}; rm -f {f}/.done
         mkdir -p {a}/usr/local/lib {a}/srv {a}/var/lib/dpkg
         cp -a {app}/usr/local/lib/python3.11 {a}/usr/local/lib/
         cp -a {app}/srv/app {a}/srv/
         rm -rf {f}/usr/share/doc/bash",
        b = base.display(),
        f = fin.display(),
        a = added.display(),
        app = app.display()
    ));
    let status = std::fs::read_to_string(base.join("var/lib/dpkg/status")).unwrap();
    let kept: Vec<&str> = status
        .split("\n\n")
        .filter(|s| !s.starts_with("Package: hostname\n"))
        .collect();
    assert!(kept.len() < status.split("\n\n").count());
    std::fs::write(added.join("var/lib/dpkg/status"), kept.join("\n\n")).unwrap();
    // --remove-destination: final's files are hardlinks into the corpus, never write through them.
    sh(&format!(
        "cp -a --remove-destination {a}/. {f}/",
        a = added.display(),
        f = fin.display()
    ));
    let mut diff: LayerChanges = fragment::capture(&added, &Limits::default());
    // Directories the build only passed through are not changes of theirs.
    diff.entries
        .push(Change::Whiteout("usr/share/doc/bash".to_owned()));
    let base_frag = fragment::capture(&base, &Limits::default());
    let composed = scan::scan_changes(&[base_frag, diff], None, &|p| {
        std::fs::read(fin.join(p.trim_start_matches('/'))).ok()
    });
    let direct = scan::scan_dir(&DirFs::new(&fin, Limits::default()));
    let names: Vec<&str> = direct.packages.iter().map(|p| p.name.as_str()).collect();
    assert!(
        names.contains(&"flask") && names.contains(&"express"),
        "{names:?}"
    );
    // Its database record is gone; its binary stays, unowned now.
    let hostname: Vec<_> = direct
        .packages
        .iter()
        .filter(|p| p.name == "hostname")
        .collect();
    assert!(hostname
        .iter()
        .all(|p| p.kind == Some(scanner_core::model::PackageKind::Binary)));
    assert_eq!(packages(&composed), packages(&direct));
}
