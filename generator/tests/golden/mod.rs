//! Byte-exact output on a small hand-made rootfs (golden files), and BuildKit's 40 MiB cap.
//!
//! `UPDATE_GOLDEN=1 cargo test -p stella-generator --test golden` rewrites the golden files; review
//! the diff before committing it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use stella_generator::{run, Config, Mode};

/// A Debian-like rootfs: os-release, two dpkg packages (one owning a binary and a symlink), a
/// Python distribution with its RECORD.
fn rootfs(dir: &Path) {
    let files: &[(&str, &str)] = &[
        (
            "etc/os-release",
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n\
             HOME_URL=\"https://www.debian.org/\"\n",
        ),
        ("etc/debian_version", "12.8\n"),
        (
            "var/lib/dpkg/status",
            "Package: hello\nStatus: install ok installed\nPriority: optional\nSection: devel\n\
             Installed-Size: 112\nMaintainer: Santiago Vila <sanvila@debian.org>\n\
             Architecture: amd64\nVersion: 2.10-3\nDepends: libc6 (>= 2.34)\n\
             Description: example package\nHomepage: https://www.gnu.org/software/hello/\n\n\
             Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\n\
             Installed-Size: 12000\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n\
             Architecture: amd64\nMulti-Arch: same\nSource: glibc\nVersion: 2.36-9+deb12u9\n\
             Description: GNU C Library: Shared libraries\n\n",
        ),
        (
            "var/lib/dpkg/info/hello.list",
            "/.\n/usr\n/usr/bin\n/usr/bin/hello\n/usr/bin/hi\n/usr/share/doc/hello/copyright\n",
        ),
        (
            "var/lib/dpkg/info/libc6:amd64.list",
            "/.\n/usr/lib/x86_64-linux-gnu/libc.so.6\n/lib/x86_64-linux-gnu/libc.so.6\n",
        ),
        ("usr/bin/hello", "#!/bin/sh\necho hello\n"),
        (
            "usr/share/doc/hello/copyright",
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
             Files: *\nLicense: GPL-3+\n",
        ),
        ("usr/lib/x86_64-linux-gnu/libc.so.6", "not really libc\n"),
        (
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n\
             Home-page: https://github.com/benjaminp/six\n",
        ),
        (
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD",
            "six.py,,\nsix-1.16.0.dist-info/METADATA,,\nsix-1.16.0.dist-info/RECORD,,\n",
        ),
        ("usr/lib/python3/dist-packages/six.py", "# six\n"),
    ];
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    std::os::unix::fs::symlink("hello", dir.join("usr/bin/hi")).unwrap();
    // Merged /usr: /lib is a symlink into usr/lib, as on Debian 12.
    std::os::unix::fs::symlink("usr/lib", dir.join("lib")).unwrap();
}

fn config(source: &Path, out: &Path, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(OsString, OsString)> = vec![
        ("BUILDKIT_SCAN_SOURCE".into(), source.into()),
        ("BUILDKIT_SCAN_DESTINATION".into(), out.into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    Config::from_env(vars).unwrap()
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn check_golden(name: &str, got: &[u8]) {
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        want == got,
        "{} differs from the output (UPDATE_GOLDEN=1 rewrites it; review the diff):\n{}",
        path.display(),
        String::from_utf8_lossy(got)
    );
}

#[test]
fn compact_and_full_match_the_golden_files() {
    let root = tempfile::tempdir().unwrap();
    rootfs(root.path());
    for (mode, name) in [
        ("compact", "tiny.compact.spdx.json"),
        ("full", "tiny.full.spdx.json"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let c = config(
            root.path(),
            out.path(),
            &[
                ("BUILDKIT_SCAN_mode", mode),
                ("SOURCE_DATE_EPOCH", "1700000000"),
            ],
        );
        let outcome = run(&c);
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        let bytes = std::fs::read(out.path().join("sbom.spdx.json")).unwrap();
        check_golden(name, &bytes);
        // A second run gives the same bytes.
        let again = tempfile::tempdir().unwrap();
        run(&config(
            root.path(),
            again.path(),
            &[
                ("BUILDKIT_SCAN_mode", mode),
                ("SOURCE_DATE_EPOCH", "1700000000"),
            ],
        ));
        assert!(bytes == std::fs::read(again.path().join("sbom.spdx.json")).unwrap());
    }
    // Full mode lists the regular files the packages own — through the /lib symlink too — but not
    // the symlink /usr/bin/hi itself, nor the directories.
    let full: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden("tiny.full.spdx.json")).unwrap()).unwrap();
    let mut names: Vec<&str> = full["predicate"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fileName"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "./lib/x86_64-linux-gnu/libc.so.6",
            "./usr/bin/hello",
            "./usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            "./usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD",
            "./usr/lib/python3/dist-packages/six.py",
            "./usr/lib/x86_64-linux-gnu/libc.so.6",
            "./usr/share/doc/hello/copyright",
        ]
    );
}

#[test]
fn over_the_cap_full_falls_back_to_compact_and_compact_is_not_written() {
    let root = tempfile::tempdir().unwrap();
    rootfs(root.path());
    let size = |mode: &str| {
        let out = tempfile::tempdir().unwrap();
        run(&config(
            root.path(),
            out.path(),
            &[("BUILDKIT_SCAN_mode", mode)],
        ));
        std::fs::read(out.path().join("sbom.spdx.json")).unwrap()
    };
    let compact = size("compact");
    let full = size("full");
    assert!(compact.len() < full.len());

    let out = tempfile::tempdir().unwrap();
    let mut c = config(root.path(), out.path(), &[("BUILDKIT_SCAN_mode", "full")]);
    c.max_statement_bytes = full.len() - 1;
    let outcome = run(&c);
    assert!(outcome.success());
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.contains("writing it compact")),
        "{:?}",
        outcome.warnings
    );
    assert!(std::fs::read(out.path().join("sbom.spdx.json")).unwrap() == compact);

    let out = tempfile::tempdir().unwrap();
    let mut c = config(root.path(), out.path(), &[]);
    assert_eq!(c.mode, Mode::Compact);
    c.max_statement_bytes = compact.len() - 1;
    let outcome = run(&c);
    assert!(!outcome.success());
    assert!(
        outcome.failures[0].why.contains("cap even compact"),
        "{:?}",
        outcome.failures
    );
    // Nothing, not even a temporary file, is left behind.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}
