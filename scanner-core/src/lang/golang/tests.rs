use super::*;

use std::path::PathBuf;

/// The gobin fixture directory, or `None` (with one line on stderr) when it has not been built.
pub(crate) fn fixture_dir() -> Option<PathBuf> {
    let root = std::env::var_os("STELLA_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"),
        PathBuf::from,
    );
    let dir = root.join("gobin");
    if dir.join(".done-v1").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "gobin fixture missing at {}: run scanner-core/tests/fixtures/gobin/build.sh",
        dir.display()
    );
    eprintln!(
        "skipped: gobin fixture missing; build it with scanner-core/tests/fixtures/gobin/build.sh"
    );
    None
}

fn read_fixture(dir: &std::path::Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap()
}

fn m(path: &str, version: &str, sum: Option<&str>) -> Module {
    Module {
        path: path.into(),
        version: version.into(),
        sum: sum.map(Into::into),
        replace: None,
    }
}

const UUID_H1: &str = "h1:utEsYP4MiH+EqoNJAPTcQtcn9xhD7pNffQ/CKJQSN04=";
const FORK_H1: &str = "h1:0y5gZhMx6mU6waJjx1Gz0BQ11G0Fh9AAyRWU1GvPZ+M=";

fn expected_deps() -> Vec<Module> {
    let mut greet = m(
        "example.com/greet",
        "v0.0.0-00010101000000-000000000000",
        None,
    );
    greet.replace = Some(Box::new(m("./greet", "(devel)", None)));
    let mut errors = m("github.com/pkg/errors", "v0.9.1", None);
    errors.replace = Some(Box::new(m(
        "example.org/errors-fork",
        "v0.9.1-stella",
        Some(FORK_H1),
    )));
    vec![
        greet,
        m("github.com/google/uuid", "v1.3.0", Some(UUID_H1)),
        errors,
    ]
}

fn settings(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Every Go binary of the fixture (ELF 64/32-bit, big-endian MIPS, stripped, PE, Mach-O) gives the
/// build info `go version -m` printed for it (expected/go-version-m.txt).
#[test]
fn fixture_binaries_match_go_version_m() {
    let Some(dir) = fixture_dir() else { return };
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "hello",
            &[
                ("-compiler", "gc"),
                ("-trimpath", "true"),
                ("CGO_ENABLED", "0"),
                ("GOARCH", "amd64"),
                ("GOOS", "linux"),
                ("GOAMD64", "v1"),
            ],
        ),
        (
            "hello-stripped",
            &[
                ("-compiler", "gc"),
                ("-ldflags", "-s -w -X main.version=v1.4.2"),
                ("CGO_ENABLED", "0"),
                ("GOARCH", "amd64"),
                ("GOOS", "linux"),
                ("GOAMD64", "v1"),
            ],
        ),
        (
            "hello-386",
            &[
                ("-compiler", "gc"),
                ("-trimpath", "true"),
                ("CGO_ENABLED", "0"),
                ("GOARCH", "386"),
                ("GOOS", "linux"),
                ("GO386", "softfloat"),
            ],
        ),
        (
            "hello-mips",
            &[
                ("-compiler", "gc"),
                ("-trimpath", "true"),
                ("CGO_ENABLED", "0"),
                ("GOARCH", "mips"),
                ("GOOS", "linux"),
                ("GOMIPS", "hardfloat"),
            ],
        ),
        (
            "hello.exe",
            &[
                ("-compiler", "gc"),
                ("-trimpath", "true"),
                ("CGO_ENABLED", "0"),
                ("GOARCH", "amd64"),
                ("GOOS", "windows"),
                ("GOAMD64", "v1"),
            ],
        ),
        (
            "hello-darwin",
            &[
                ("-compiler", "gc"),
                ("-trimpath", "true"),
                ("CGO_ENABLED", "0"),
                ("GOARCH", "amd64"),
                ("GOOS", "darwin"),
                ("GOAMD64", "v1"),
            ],
        ),
    ];
    let printed = String::from_utf8(read_fixture(&dir, "expected/go-version-m.txt")).unwrap();
    for (name, want_settings) in cases {
        let bytes = read_fixture(&dir, &format!("rootfs/go/{name}"));
        let obj = Object::parse(&bytes).unwrap();
        let info = buildinfo(&obj, &bytes).unwrap().unwrap();
        let want = BuildInfo {
            go_version: "go1.19.8".into(),
            path: "example.com/hello".into(),
            main: Some(m("example.com/hello", "(devel)", None)),
            deps: expected_deps(),
            settings: settings(want_settings),
        };
        assert_eq!(info, want, "{name}");
        // And the same lines as the go command printed.
        let section = printed
            .split("== ")
            .find(|s| s.starts_with(&format!("{name}\n")))
            .unwrap();
        for (k, v) in &info.settings {
            let line = if v.contains(' ') {
                format!("\tbuild\t{k}=\"{v}\"")
            } else {
                format!("\tbuild\t{k}={v}")
            };
            assert!(section.contains(&line), "{name}: {line}");
        }
        for d in &info.deps {
            let line = match &d.sum {
                Some(s) => format!("\tdep\t{}\t{}\t{s}", d.path, d.version),
                None => format!("\tdep\t{}\t{}", d.path, d.version),
            };
            assert!(section.contains(&line), "{name}: {line}");
        }
        // The no-parse convenience gives the same.
        assert_eq!(buildinfo_bytes(&bytes).unwrap().unwrap(), info);
    }
}

#[test]
fn fixture_packages() {
    let Some(dir) = fixture_dir() else { return };
    let bytes = read_fixture(&dir, "rootfs/go/hello-stripped");
    let obj = Object::parse(&bytes).unwrap();
    let info = buildinfo(&obj, &bytes).unwrap().unwrap();
    let pkgs = to_packages("/go/hello-stripped", &info);
    let summary: Vec<(&str, &str, Option<&str>)> = pkgs
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.properties.get("stella:go:h1").map(String::as_str),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("stdlib", "v1.19.8", None),
            ("example.com/greet", "", None),
            ("github.com/google/uuid", "v1.3.0", Some(UUID_H1)),
            ("example.org/errors-fork", "v0.9.1-stella", Some(FORK_H1)),
            ("example.com/hello", "", None),
        ]
    );
    for p in &pkgs {
        assert_eq!(p.kind, Some(PackageKind::Golang));
        assert_eq!(p.found_in, "/go/hello-stripped");
        assert_eq!(p.properties["stella:go:version"], "go1.19.8");
    }
    assert_eq!(pkgs[1].properties["stella:go:replace"], "./greet");
    assert_eq!(
        pkgs[3].properties["stella:go:replaces"],
        "github.com/pkg/errors v0.9.1"
    );
    let main = &pkgs[4];
    assert_eq!(main.properties["stella:go:main"], "true");
    assert_eq!(main.properties["stella:go:path"], "example.com/hello");
    assert_eq!(
        main.properties["stella:go:setting:-ldflags"],
        "-s -w -X main.version=v1.4.2"
    );
    assert_eq!(main.properties["stella:go:setting:GOOS"], "linux");
    // Trivy takes this as the main module's version; we record it apart and keep the version empty.
    assert_eq!(main.properties["stella:go:ldflags-version"], "v1.4.2");
    assert_eq!(
        main.depends,
        vec![
            "example.com/greet",
            "example.org/errors-fork",
            "github.com/google/uuid",
            "stdlib"
        ]
    );
}

#[test]
fn fixture_non_go_binaries_are_none() {
    let Some(dir) = fixture_dir() else { return };
    for rel in [
        "rootfs/rust/hello-plain",
        "rootfs/rust/hello-auditable",
        "rootfs/dotnet/app/Greeter.dll",
    ] {
        let bytes = read_fixture(&dir, rel);
        let obj = Object::parse(&bytes).unwrap();
        assert_eq!(buildinfo(&obj, &bytes), Ok(None), "{rel}");
    }
}

const INFO_START: &[u8; 16] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
const INFO_END: &[u8; 16] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";

fn framed(text: &str) -> Vec<u8> {
    let mut v = INFO_START.to_vec();
    v.extend_from_slice(text.as_bytes());
    v.extend_from_slice(INFO_END);
    v
}

fn varint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A Go ≥ 1.18 blob (inline strings) at offset 0.
fn inline_blob(version: &str, modinfo: &[u8]) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.push(8);
    b.push(2);
    b.resize(HEADER, 0);
    varint(version.len(), &mut b);
    b.extend_from_slice(version.as_bytes());
    varint(modinfo.len(), &mut b);
    b.extend_from_slice(modinfo);
    b.push(0);
    b
}

const TEXT: &str = "path\texample.com/x\nmod\texample.com/x\tv1.2.3\th1:abc=\ndep\tgolang.org/x/text\tv0.3.7\th1:def=\n=>\tgolang.org/x/text\tv0.3.8\th1:ghi=\nbuild\t-ldflags=\"-s -w\"\nbuild\tCGO_ENABLED=1\n";

#[test]
fn inline_blob_found_by_scan() {
    // Not an executable goblin knows: found by the aligned scan of the whole buffer.
    let mut bytes = vec![0u8; 48];
    bytes.extend(inline_blob("go1.22.3 X:boringcrypto", &framed(TEXT)));
    let map = AddrMap::default();
    let off = find_header(&map, &bytes).unwrap();
    assert_eq!(off, 48);
    let (v, modinfo) = read_blob(&map, &bytes, off).unwrap();
    assert_eq!(v, "go1.22.3 X:boringcrypto");
    let info = parse_modinfo(strip_sentinels(&modinfo)).unwrap();
    assert_eq!(info.path, "example.com/x");
    assert_eq!(
        info.main,
        Some(m("example.com/x", "v1.2.3", Some("h1:abc=")))
    );
    assert_eq!(info.deps.len(), 1);
    assert_eq!(
        info.deps[0].replace.as_deref(),
        Some(&m("golang.org/x/text", "v0.3.8", Some("h1:ghi=")))
    );
    assert_eq!(
        info.settings,
        settings(&[("-ldflags", "-s -w"), ("CGO_ENABLED", "1")])
    );
    let mut info = info;
    info.go_version = v;
    let pkgs = to_packages("/x", &info);
    assert_eq!(pkgs[0].name, "stdlib");
    assert_eq!(pkgs[0].version, "v1.22.3");
    assert_eq!(pkgs[1].name, "golang.org/x/text");
    assert_eq!(pkgs[1].version, "v0.3.8");
    assert_eq!(pkgs[2].name, "example.com/x");
    assert_eq!(pkgs[2].version, "v1.2.3");
    assert_eq!(pkgs[2].properties["stella:go:h1"], "h1:abc=");
}

#[test]
fn misaligned_magic_is_skipped() {
    let mut bytes = vec![0u8; 3];
    bytes.extend(inline_blob("go1.20", &framed(TEXT)));
    assert_eq!(find_header(&AddrMap::default(), &bytes), None);
    // A misaligned copy before an aligned one does not hide it.
    let mut bytes = vec![0u8; 1];
    bytes.extend_from_slice(MAGIC);
    bytes.resize(64, 0);
    bytes.extend(inline_blob("go1.20", &framed(TEXT)));
    assert_eq!(find_header(&AddrMap::default(), &bytes), Some(64));
}

/// The pre-1.18 layout: two pointers to Go string headers, read through the address map, for 64-bit
/// little-endian and 32-bit big-endian binaries.
#[test]
fn pointer_format_both_widths_and_endiannesses() {
    for (ptr, big) in [(8usize, false), (4, true), (4, false), (8, true)] {
        let put = |v: u64, out: &mut Vec<u8>| {
            let b = v.to_le_bytes();
            let mut b = b[..ptr].to_vec();
            if big {
                b.reverse();
            }
            out.extend(b);
        };
        let vaddr = 0x40_0000u64;
        let file_off = 0x100u64;
        let version = b"go1.16.15";
        let modinfo = framed("path\tp\nmod\tp\t(devel)\t\ndep\td\tv1.0.0\th1:x=\n");
        // Layout inside the region: header (32) | vers hdr | mod hdr | version | modinfo.
        let vers_hdr = vaddr + 32;
        let mod_hdr = vers_hdr + 2 * ptr as u64;
        let vers_data = mod_hdr + 2 * ptr as u64;
        let mod_data = vers_data + version.len() as u64;
        let mut region = MAGIC.to_vec();
        region.push(ptr as u8);
        region.push(u8::from(big));
        put(vers_hdr, &mut region);
        put(mod_hdr, &mut region);
        region.resize(32, 0);
        put(vers_data, &mut region);
        put(version.len() as u64, &mut region);
        put(mod_data, &mut region);
        put(modinfo.len() as u64, &mut region);
        region.extend_from_slice(version);
        region.extend_from_slice(&modinfo);
        let mut bytes = vec![0u8; file_off as usize];
        bytes.extend_from_slice(&region);
        let map = AddrMap {
            regions: vec![Region {
                vaddr,
                size: region.len() as u64,
                offset: file_off,
            }],
            data_start: Some(vaddr),
        };
        let off = find_header(&map, &bytes).unwrap();
        assert_eq!(off, file_off as usize);
        let (v, mi) = read_blob(&map, &bytes, off).unwrap();
        assert_eq!(v, "go1.16.15", "ptr {ptr} big {big}");
        let info = parse_modinfo(strip_sentinels(&mi)).unwrap();
        assert_eq!(info.main, Some(m("p", "(devel)", None)));
        assert_eq!(info.deps, vec![m("d", "v1.0.0", Some("h1:x="))]);
        let mut info = info;
        info.go_version = v;
        let pkgs = to_packages("/b", &info);
        let main = pkgs.last().unwrap();
        assert_eq!(main.name, "p");
        assert_eq!(main.version, "", "(devel) is never a version");
        assert_eq!(main.properties["stella:go:main"], "true");

        // A pointer outside every region is an error, not a panic.
        let mut broken = bytes.clone();
        let at = file_off as usize + 16;
        for b in &mut broken[at..at + ptr] {
            *b = 0xff;
        }
        assert!(matches!(
            read_blob(&map, &broken, off),
            Err(Error::BadPointer { .. })
        ));
    }
}

#[test]
fn malformed_blobs() {
    // Truncated header.
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[8, 2, 0]);
    let map = AddrMap::default();
    assert_eq!(find_header(&map, &bytes), None);
    // Inline flag with a length running past the end.
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&[8, 2]);
    b.resize(HEADER, 0);
    b.extend_from_slice(&[0xff, 0xff, 0x03, b'g']);
    assert_eq!(read_blob(&map, &b, 0), Err(Error::Truncated { offset: 0 }));
    // An unterminated varint.
    let mut b2 = b[..HEADER].to_vec();
    b2.extend_from_slice(&[0x80; 12]);
    assert_eq!(read_blob(&map, &b2, 0), Err(Error::Truncated { offset: 0 }));
    // Bad pointer size in the old format.
    let mut b3 = MAGIC.to_vec();
    b3.extend_from_slice(&[3, 0]);
    b3.resize(HEADER, 0);
    assert_eq!(read_blob(&map, &b3, 0), Err(Error::PointerSize(3)));
    // Empty version string.
    let blob = inline_blob("", &framed(TEXT));
    let mut exe = vec![0u8; 0];
    exe.extend(blob);
    let (v, _) = read_blob(&map, &exe, 0).unwrap();
    assert_eq!(v, "");
}

#[test]
fn sentinels_required() {
    assert_eq!(strip_sentinels(b"path\tx\n"), b"");
    assert_eq!(strip_sentinels(&framed("path\tx\n")), b"path\tx\n");
    // Too short, or no newline before the end sentinel.
    assert_eq!(strip_sentinels(&framed("")), b"");
    assert_eq!(strip_sentinels(&framed("path\tx")), b"");
}

#[test]
fn modinfo_table() {
    let bad: &[(&str, usize)] = &[
        ("mod\tonly-one-column\n", 1),
        ("dep\ta\tb\tc\td\n", 1),
        ("path\tp\n=>\tx\tv1\n", 2),
        ("mod\tm\tv1\n=>\tx\tv1\n=>\ty\tv2\n", 3),
        ("build\t=x\n", 1),
        ("build\tnoequals\n", 1),
        ("build\t\"unterminated=1\n", 1),
        ("build\tk=\"bad\\q\"\n", 1),
        ("build\tk=\"x\"trailing\n", 1),
    ];
    for (text, line) in bad {
        match parse_modinfo(text.as_bytes()) {
            Err(Error::ModInfo { line: l, .. }) => assert_eq!(l, *line, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let good = parse_modinfo(
        b"go\tgo1.21.0\nunknown\tline\n\nbuild\t\"k y\"=\"a\\tb\\x41\\u00e9\\101\"\nbuild\tDefaultGODEBUG=panicnil=1\nbuild\tk2=`raw \\n`\nbuild\tempty=\n",
    )
    .unwrap();
    assert_eq!(good.go_version, "go1.21.0");
    assert_eq!(
        good.settings,
        settings(&[
            ("k y", "a\tbAéA"),
            ("DefaultGODEBUG", "panicnil=1"),
            ("k2", "raw \\n"),
            ("empty", ""),
        ])
    );
    // A `=>` with no dep applies to the main module.
    let r = parse_modinfo(b"mod\tm\t(devel)\n=>\t../m\t\n").unwrap();
    assert_eq!(
        r.main.unwrap().replace.as_deref(),
        Some(&m("../m", "", None))
    );
}

#[test]
fn packages_without_main_module_and_devel_go() {
    let info = BuildInfo {
        go_version: "devel go1.23-abcdef Tue".into(),
        deps: vec![m("", "(devel)", None), m("a.b/c", "(devel)", None)],
        ..BuildInfo::default()
    };
    let pkgs = to_packages("/usr/bin/x", &info);
    assert_eq!(
        pkgs.len(),
        1,
        "no stdlib for a devel toolchain, nameless dep dropped"
    );
    assert_eq!(pkgs[0].name, "a.b/c");
    assert_eq!(pkgs[0].version, "");
    assert_eq!(stdlib_version("go1.21.0"), Some("v1.21.0".into()));
    assert_eq!(
        stdlib_version("go1.22.3 X:boringcrypto"),
        Some("v1.22.3".into())
    );
    assert_eq!(stdlib_version("go"), None);
}

#[test]
fn varints() {
    assert_eq!(uvarint(&[0x01]), Some((1, 1)));
    assert_eq!(uvarint(&[0xac, 0x02]), Some((300, 2)));
    assert_eq!(uvarint(&[0x80]), None);
    assert_eq!(uvarint(&[0xff; 10]), None, "overflow");
    assert_eq!(
        varint_string(&[2, b'a', b'b']),
        None,
        "must end before the data"
    );
    assert_eq!(
        varint_string(&[2, b'a', b'b', 0]),
        Some((&b"ab"[..], &[0u8][..]))
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base = inline_blob("go1.21.0", &framed(TEXT));
    for _ in 0..2000 {
        let mut b = base.clone();
        let n = (next() % 8) as usize;
        for _ in 0..=n {
            let i = (next() as usize) % b.len();
            b[i] = next() as u8;
        }
        b.truncate((next() as usize) % (b.len() + 1));
        let map = AddrMap::default();
        if let Some(off) = find_header(&map, &b) {
            if let Ok((_, mi)) = read_blob(&map, &b, off) {
                let _ = parse_modinfo(strip_sentinels(&mi));
            }
        }
        let _ = buildinfo_bytes(&b);
    }
}

#[test]
fn ldflags_versions_table() {
    let m = "github.com/o/app";
    let cases: &[(&str, Option<&str>)] = &[
        ("-s -w -X main.version=v1.4.2", Some("v1.4.2")),
        ("-X=main.Version=1.2.3", Some("1.2.3")),
        ("-X 'main.version=1.0.0'", Some("1.0.0")),
        (
            "-X \"github.com/o/app/cmd/app/version.ver=2.0.0\" -X main.version=1.0.0",
            Some("2.0.0"),
        ),
        ("-X main.version=1.0.0 -X common.version=1.1.0", None),
        ("-X pkg/x.version=3.0.0", Some("3.0.0")),
        (
            "-X main.version=1.0.0 -X pkg/x.version=3.0.0",
            Some("1.0.0"),
        ),
        ("-X main.version=dev", None),
        ("-X main.commit=1.0.0", None),
        ("-X", None),
        ("-s -w", None),
        (
            "-X main.version=1.0.0-rc.1+build.5",
            Some("1.0.0-rc.1+build.5"),
        ),
        ("-X main.version=01.0.0", None),
        ("-X 'unterminated", None),
    ];
    for (flags, want) in cases {
        assert_eq!(ldflags_version(m, flags).as_deref(), *want, "{flags}");
    }
    assert_eq!(
        shell_words(r#"a "b c" 'd e' f\ g"#),
        ["a", "b c", "d e", "f g"]
    );
    assert!(is_semver("v1") && is_semver("1.2") && !is_semver("v1.2-pre") && !is_semver(""));
}

/// A stray aligned copy of the magic before the real blob (as in a Go program that links
/// debug/buildinfo) is skipped; with no good blob at all the first error is reported.
#[test]
fn stray_magic_is_skipped() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[0x11, 0x00]);
    bytes.resize(64, 0);
    let stray_only = bytes.clone();
    bytes.extend(inline_blob("go1.20.1", &framed(TEXT)));
    let info = buildinfo(&Object::Unknown(0), &bytes).unwrap().unwrap();
    assert_eq!(info.go_version, "go1.20.1");
    assert_eq!(info.path, "example.com/x");
    assert_eq!(
        buildinfo(&Object::Unknown(0), &stray_only),
        Err(Error::PointerSize(0x11))
    );
    assert_eq!(buildinfo(&Object::Unknown(0), b"plain bytes"), Ok(None));
}

/// Through the standard content extractor a rootfs walk runs (lang::Standard): every Go binary gives
/// its five packages, the audited Rust binary its crates, the plain one the Rust marker, and the DLLs
/// their version resources. Needs `native::native_info` (the native analyzer's change): until it lands the
/// extractor stops before the binary analyzers, so the integrator un-ignores this after the merge.
#[test]
fn fixture_through_standard_extractor() {
    use crate::fs::FsView as _;
    let Some(dir) = fixture_dir() else { return };
    let fs = crate::dirfs::DirFs::new(dir.join("rootfs"), crate::layer::Limits::default());
    let facts: BTreeMap<String, crate::facts::Facts> = fs.facts().into_iter().collect();
    for bin in [
        "go/hello",
        "go/hello-stripped",
        "go/hello-386",
        "go/hello-mips",
        "go/hello.exe",
        "go/hello-darwin",
    ] {
        let f = &facts[bin];
        let names: Vec<&str> = f.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "stdlib",
                "example.com/greet",
                "github.com/google/uuid",
                "example.org/errors-fork",
                "example.com/hello"
            ],
            "{bin}"
        );
        assert_eq!(f.diagnostics, vec![], "{bin}");
    }
    assert_eq!(facts["rust/hello-auditable"].packages.len(), 2);
    assert!(facts["rust/hello-plain"].rust_unaudited);
    assert!(facts["rust/hello-plain"].packages.is_empty());
    assert_eq!(
        facts["dotnet/app/Greeter.dll"].pe_version["ProductName"],
        "Stella Greeter"
    );
}
