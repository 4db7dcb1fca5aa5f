//! The language and binary analyzers through the whole pipeline: real-toolchain fixtures (built by
//! scanner-core/tests/fixtures/*/build.sh) laid out as image layers, scanned with `scan_layers` and as a
//! rootfs with `DirFs`. Proves the content extractors' facts travel with their paths through the
//! overlay (a later whiteout removes them), that language packages get layer attribution, and that
//! native files nobody owns become `bin:` components keyed by the SHA-256 the scan re-reads.

use std::io::Read;
use std::path::{Path, PathBuf};

use scanner_core::dirfs::DirFs;
use scanner_core::layer::Limits;
use scanner_core::model::{Digest, Package, PackageKind};
use scanner_core::scan::{scan_dir, scan_layers, LayerInput, ScanOptions};

fn fixtures(name: &str) -> Option<PathBuf> {
    let root = std::env::var_os("STELLA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"));
    let dir = root.join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "fixture {} missing: run scanner-core/tests/fixtures/{name}/build.sh",
        dir.display()
    );
    eprintln!("skipped: build scanner-core/tests/fixtures/{name}/build.sh first");
    None
}

/// A tar layer holding `files` (image path, host path) plus whiteouts.
fn layer(files: &[(&str, &Path)], whiteouts: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, host) in files {
        let bytes = std::fs::read(host).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, path, bytes.as_slice()).unwrap();
    }
    for w in whiteouts {
        let (dir, base) = w.rsplit_once('/').unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, format!("{dir}/.wh.{base}"), &[][..])
            .unwrap();
    }
    b.into_inner().unwrap()
}

fn input(bytes: Vec<u8>) -> LayerInput<'static> {
    let bytes = std::sync::Arc::new(bytes);
    LayerInput {
        expected_digest: None,
        expected_diff_id: None,
        media_type: None,
        size: None,
        created_by: None,
        open: Box::new(move || {
            Ok(Box::new(std::io::Cursor::new(bytes.as_ref().clone())) as Box<dyn Read + Send>)
        }),
    }
}

fn of_kind(packages: &[Package], kind: PackageKind) -> Vec<&Package> {
    packages.iter().filter(|p| p.kind == Some(kind)).collect()
}

#[test]
fn facts_follow_paths_through_layers_and_whiteouts() {
    let (Some(java), Some(gobin)) = (fixtures("java"), fixtures("gobin")) else {
        return;
    };
    let jar = java.join("rootfs/app/demo-0.0.1-SNAPSHOT.jar");
    let war = java.join("rootfs/srv/webapp-1.0.war");
    let go = gobin.join("rootfs/go/hello");
    let rust = gobin.join("rootfs/rust/hello-auditable");
    let l0 = layer(&[("app/demo.jar", &jar), ("srv/webapp.war", &war)], &[]);
    let l1 = layer(
        &[("usr/local/bin/hello", &go), ("usr/local/bin/rusty", &rust)],
        &["srv/webapp.war"],
    );
    let scanned =
        scan_layers(&[input(l0), input(l1)], &ScanOptions::default(), &|_, _| {}).unwrap();
    let inv = &scanned.inventory;
    let maven = of_kind(&inv.packages, PackageKind::Maven);
    assert!(!maven.is_empty());
    assert!(
        maven
            .iter()
            .all(|p| p.found_in.starts_with("/app/demo.jar")),
        "the deleted war left packages behind: {:?}",
        maven.iter().map(|p| &p.found_in).collect::<Vec<_>>()
    );
    assert!(maven
        .iter()
        .all(|p| p.layer.as_ref().map(|l| l.index) == Some(0)));
    let golang = of_kind(&inv.packages, PackageKind::Golang);
    assert!(golang
        .iter()
        .any(|p| p.name == "github.com/google/uuid" && p.version == "v1.3.0"));
    assert!(golang.iter().all(|p| p.found_in == "/usr/local/bin/hello"));
    assert!(golang
        .iter()
        .all(|p| p.layer.as_ref().map(|l| l.index) == Some(1)));
    let cargo = of_kind(&inv.packages, PackageKind::Cargo);
    assert!(cargo.iter().any(|p| p.name == "itoa"), "{cargo:?}");
    // Both binaries are owned by the packages read from them: no bin: component.
    assert!(of_kind(&inv.packages, PackageKind::Binary).is_empty());
    assert_eq!(inv.natives.len(), 2, "{:?}", inv.natives);
}

#[test]
fn native_files_nobody_owns_are_bin_components_with_their_sha256() {
    let (Some(native), Some(gobin)) = (fixtures("native"), fixtures("gobin")) else {
        return;
    };
    let inv = scan_dir(&DirFs::new(native.join("rootfs"), Limits::default()));
    let bins = of_kind(&inv.packages, PackageKind::Binary);
    let app = bins
        .iter()
        .find(|p| p.found_in == "/opt/app/bin/app")
        .expect("app reported");
    let bytes = std::fs::read(native.join("rootfs/opt/app/bin/app")).unwrap();
    assert_eq!(app.checksums[0].algorithm, "SHA-256");
    assert_eq!(app.checksums[0].value, Digest::sha256_of(&bytes).hex());
    assert_eq!(app.properties["stella:native:format"], "elf");
    assert!(app.properties["stella:native:needed"].contains("libfoo.so.1"));
    // Every ELF file of the mini rootfs is there: no dpkg database owns any of them.
    assert_eq!(bins.len(), inv.natives.len());

    let inv = scan_dir(&DirFs::new(gobin.join("rootfs/rust"), Limits::default()));
    let plain = of_kind(&inv.packages, PackageKind::Binary)
        .into_iter()
        .find(|p| p.found_in == "/hello-plain")
        .expect("unaudited Rust binary reported");
    assert_eq!(plain.properties["stella:native:rust"], "true");
    assert!(of_kind(&inv.packages, PackageKind::Cargo)
        .iter()
        .all(|p| p.found_in != "/hello-plain"));
}

/// Copies a fixture tree (symlinks kept) into `dst`.
fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(dst)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a {}", src.display());
}

fn used(inv: &scanner_core::model::Inventory, kind: PackageKind) -> Vec<String> {
    let mut v: Vec<String> = inv
        .packages
        .iter()
        .filter(|p| p.kind == Some(kind) && p.used_by_entrypoint)
        .map(|p| p.name.clone())
        .collect();
    v.sort();
    v
}

fn config(entrypoint: &[&str]) -> scanner_core::entrytrace::ImageConfig {
    scanner_core::entrytrace::ImageConfig {
        entrypoint: entrypoint.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

/// `python3 -m requests.help`: the distribution whose RECORD lists the module and its Requires-Dist
/// closure are used; PyYAML, installed beside them, is not.
#[test]
fn usage_follows_python_modules_to_their_distribution_and_requirements() {
    let (Some(entry), Some(nodepy)) = (fixtures("entrytrace"), fixtures("nodepy")) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    copy_tree(&entry.join("python"), root.path());
    copy_tree(
        &nodepy.join("python/usr/local/lib/python3.11/site-packages"),
        &root.path().join("usr/local/lib/python3.11/dist-packages"),
    );
    let fs = DirFs::new(root.path(), Limits::default());
    let inv =
        scanner_core::scan::scan_dir_with(&fs, Some(&config(&["python3", "-m", "requests.help"])));
    let usage = inv.usage.as_ref().unwrap();
    assert_eq!(usage.terminals, ["/usr/bin/python3.11"], "{usage:?}");
    let pypi = used(&inv, PackageKind::Pypi);
    for want in [
        "requests",
        "urllib3",
        "idna",
        "certifi",
        "charset-normalizer",
    ] {
        assert!(pypi.iter().any(|p| p == want), "{want} not used: {pypi:?}");
    }
    assert!(
        !pypi.iter().any(|p| p == "pyyaml" || p == "flask"),
        "{pypi:?}"
    );
}

/// `start.sh` → `exec java -cp app.jar:guava.jar Main`: the archives on the class path are used, a jar
/// elsewhere in the image is not.
#[test]
fn usage_follows_the_java_class_path_to_its_archives() {
    let (Some(entry), Some(java)) = (fixtures("entrytrace"), fixtures("java")) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    copy_tree(&entry.join("java"), root.path());
    let debian_jars = java.join("rootfs/usr/share/java");
    std::fs::copy(
        debian_jars.join("commons-lang3.jar"),
        root.path().join("opt/app/lib/guava.jar"),
    )
    .unwrap();
    std::fs::create_dir_all(root.path().join("usr/share/java")).unwrap();
    std::fs::copy(
        debian_jars.join("atinject-jsr330-api-1.0.jar"),
        root.path().join("usr/share/java/atinject.jar"),
    )
    .unwrap();
    let fs = DirFs::new(root.path(), Limits::default());
    let inv = scanner_core::scan::scan_dir_with(&fs, Some(&config(&["/opt/app/bin/start.sh"])));
    let usage = inv.usage.as_ref().unwrap();
    assert!(
        usage
            .chain
            .iter()
            .any(|s| s.file == "/opt/app/bin/start.sh" && s.line == 14),
        "{usage:?}"
    );
    assert_eq!(
        used(&inv, PackageKind::Maven),
        ["commons-lang3"],
        "{:?}",
        inv.packages
    );
    assert!(inv
        .packages
        .iter()
        .any(|p| p.kind == Some(PackageKind::Maven) && !p.used_by_entrypoint));
}

/// A binary over `max_extract_file` is not read into memory: it gets a diagnostic naming the limit and
/// the rest of the layer is still analysed. Garbage behind an ELF magic is a diagnostic, not a panic.
#[test]
fn oversized_and_corrupt_binaries_are_diagnostics() {
    let mut big = b"\x7fELF\x02\x01\x01".to_vec();
    big.resize(4096, 0xAA);
    let garbage = b"\x7fELF\x02\x01\x01\x00garbage that is not an ELF file at all".to_vec();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big"), &big).unwrap();
    std::fs::write(dir.path().join("garbage"), &garbage).unwrap();
    let tar = layer(
        &[
            ("usr/bin/big", &dir.path().join("big")),
            ("usr/bin/garbage", &dir.path().join("garbage")),
        ],
        &[],
    );
    let limits = Limits {
        max_extract_file: 1024,
        ..Limits::default()
    };
    let changes = scanner_core::layer::read_layer_with(
        tar.as_slice(),
        &|_| false,
        &scanner_core::lang::Standard,
        &limits,
    )
    .unwrap();
    assert!(
        changes
            .diagnostics
            .iter()
            .any(|d| d.path == "usr/bin/big" && d.message.contains("max_extract_file")),
        "{:?}",
        changes.diagnostics
    );
    let garbage_facts = changes.entries.iter().find_map(|c| match c {
        scanner_core::layer::Change::Entry(e) if e.path == "usr/bin/garbage" => e.facts.clone(),
        _ => None,
    });
    let facts = garbage_facts.expect("the corrupt binary is reported");
    assert!(facts.native.is_none() && facts.packages.is_empty());
    assert!(!facts.diagnostics.is_empty(), "{facts:?}");
}

/// Every ELF file of the corpus app image and of the Go/Rust/native fixtures that the extraction
/// reads sparsely (code left out, `scanner_core::sparse`) gives exactly the facts of a whole read.
#[test]
fn sparse_reads_give_the_same_facts() {
    use scanner_core::facts::Extractor as _;
    let mut roots: Vec<PathBuf> = Vec::new();
    let corpus = std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/corpus"));
    if corpus.join("rootfs/app/.done").exists() {
        roots.push(corpus.join("rootfs/app"));
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "corpus missing at {}",
            corpus.display()
        );
    }
    roots.extend(["gobin", "native"].iter().filter_map(|n| fixtures(n)));
    let (mut sparse_files, mut compared) = (0, 0);
    let mut stack = roots;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
                continue;
            }
            if !ft.is_file() {
                continue;
            }
            let size = e.metadata().unwrap().len();
            if size < scanner_core::sparse::MIN_SPARSE {
                continue;
            }
            let mut file = std::fs::File::open(e.path()).unwrap();
            let mut head = [0u8; 64];
            if file.read_exact(&mut head).is_err() || !head.starts_with(b"\x7fELF") {
                continue;
            }
            compared += 1;
            let Some(sparse) = scanner_core::sparse::read_elf_sparse(&file, &head, size) else {
                continue;
            };
            sparse_files += 1;
            let whole = std::fs::read(e.path()).unwrap();
            let path = e.path().to_string_lossy().into_owned();
            let x = scanner_core::lang::Standard;
            assert_eq!(
                x.extract(&path, &sparse),
                x.extract(&path, &whole),
                "{path}: sparse and whole reads disagree"
            );
        }
    }
    eprintln!("{sparse_files} of {compared} large ELF files read sparsely, facts equal");
    if compared > 0 {
        assert!(
            sparse_files * 2 > compared,
            "{sparse_files} of {compared} large ELF files read sparsely"
        );
    }
}
