use super::*;

use std::io::Write;

use crate::lang::golang::tests::fixture_dir;

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The crates `cargo auditable build` recorded (checked against the fixture's Cargo.lock and the
/// section inflated by hand): itoa and the root crate; version_check is a build dependency.
#[test]
fn fixture_audited_binary() {
    let Some(dir) = fixture_dir() else { return };
    let bytes = std::fs::read(dir.join("rootfs/rust/hello-auditable")).unwrap();
    let obj = Object::parse(&bytes).unwrap();
    let RustBinary::Audited(pkgs) = inspect(&obj, &bytes, "/rust/hello-auditable").unwrap() else {
        panic!("not audited");
    };
    let summary: Vec<_> = pkgs
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.depends.clone(),
                p.properties.clone(),
            )
        })
        .collect();
    let props = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        summary,
        vec![
            (
                "itoa",
                "1.0.11",
                vec![],
                props(&[("stella:cargo:source", "crates.io")])
            ),
            (
                "stella-rust-hello",
                "0.3.1",
                vec!["itoa".to_owned()],
                props(&[
                    ("stella:cargo:source", "local"),
                    ("stella:cargo:root", "true")
                ])
            ),
        ]
    );
    for p in &pkgs {
        assert_eq!(p.kind, Some(PackageKind::Cargo));
        assert_eq!(p.found_in, "/rust/hello-auditable");
    }
    // The lockfile the build used names the same versions.
    let lock = std::fs::read_to_string(dir.join("expected/Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"itoa\"\nversion = \"1.0.11\""));
    assert!(lock.contains("name = \"version_check\"\nversion = \"0.9.5\""));
}

/// The same section bytes linked into a PE by MinGW read the same.
#[test]
fn fixture_pe_section() {
    let Some(dir) = fixture_dir() else { return };
    let elf = std::fs::read(dir.join("rootfs/rust/hello-auditable")).unwrap();
    let pe = std::fs::read(dir.join("rootfs/rust/depv0-mingw.exe")).unwrap();
    assert!(matches!(Object::parse(&pe).unwrap(), Object::PE(_)));
    let from_elf = inspect_bytes(&elf, "/x").unwrap();
    let from_pe = inspect_bytes(&pe, "/x").unwrap();
    assert!(matches!(&from_pe, RustBinary::Audited(p) if p.len() == 2));
    assert_eq!(from_pe, from_elf);
}

#[test]
fn fixture_plain_rust_and_non_rust() {
    let Some(dir) = fixture_dir() else { return };
    let cases = [
        ("rootfs/rust/hello-plain", RustBinary::Unaudited),
        ("rootfs/go/hello", RustBinary::NotRust),
        ("rootfs/go/hello.exe", RustBinary::NotRust),
        ("rootfs/go/hello-darwin", RustBinary::NotRust),
        ("rootfs/dotnet/app/Greeter.dll", RustBinary::NotRust),
    ];
    for (rel, want) in cases {
        let bytes = std::fs::read(dir.join(rel)).unwrap();
        assert_eq!(inspect_bytes(&bytes, "/x").unwrap(), want, "{rel}");
    }
}

#[test]
fn packages_from_json() {
    let json = br#"{"packages":[
        {"name":"a","version":"1.0.0","source":"crates.io","dependencies":[1,2,3]},
        {"name":"b","version":"0.1.0","source":"git"},
        {"name":"pm","version":"1.0.0","source":"crates.io","kind":"build"},
        {"name":"b","version":"0.2.0","source":{"Other":"x"},"kind":"runtime"},
        {"name":"app","version":"0.0.1","source":"local","dependencies":[0],"root":true}
    ],"format":1}"#;
    let pkgs = packages(json, "/app").unwrap();
    let names: Vec<_> = pkgs
        .iter()
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect();
    assert_eq!(names, ["a@1.0.0", "b@0.1.0", "b@0.2.0", "app@0.0.1"]);
    assert_eq!(
        pkgs[0].depends,
        ["b"],
        "build deps dropped, names deduplicated"
    );
    assert_eq!(
        pkgs[2].properties["stella:cargo:source"],
        r#"{"Other":"x"}"#
    );
    assert_eq!(pkgs[3].properties["stella:cargo:root"], "true");
    assert!(!pkgs[0].properties.contains_key("stella:cargo:root"));
}

#[test]
fn malformed_json() {
    for (json, want) in [
        (&b"{}"[..], "Json"),
        (b"not json", "Json"),
        (br#"{"packages":[{"name":"a"}]}"#, "Json"),
        (
            br#"{"packages":[{"name":"a","version":"1","dependencies":[5]}]}"#,
            "BadIndex",
        ),
    ] {
        let err = packages(json, "/x").unwrap_err();
        let got = format!("{err:?}");
        assert!(got.starts_with(want), "{got}");
    }
}

#[test]
fn inflate_is_bounded() {
    let big = vec![b' '; (MAX_JSON + 10) as usize];
    assert_eq!(
        inflate(&zlib(&big)),
        Err(Error::TooLarge { limit: MAX_JSON })
    );
    assert!(matches!(
        inflate(b"\x78\x9c garbage"),
        Err(Error::Decompress(_))
    ));
    assert_eq!(inflate(&zlib(b"{}")).unwrap(), b"{}");
}

#[test]
fn rustc_paths() {
    let h = "90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf";
    assert!(has_rustc_path(
        format!("x/rustc/{h}/library/core").as_bytes()
    ));
    assert!(has_rustc_path(format!("/rustc/{h}\\library").as_bytes()));
    assert!(!has_rustc_path(format!("/rustc/{h}").as_bytes()));
    assert!(!has_rustc_path(b"/rustc/not-a-hash/library"));
    assert!(!has_rustc_path(b"/rustc/"));
}

/// A minimal ELF64 with one `.dep-v0` section, built by hand, to reach the section code without a
/// toolchain, plus truncations of it.
fn elf_with_section(name: &str, payload: &[u8]) -> Vec<u8> {
    let shstrtab = format!("\0{name}\0.shstrtab\0");
    let mut f = vec![0u8; 64];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // 64-bit
    f[5] = 1; // little endian
    f[6] = 1;
    f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    f[58..60].copy_from_slice(&64u16.to_le_bytes()); // shentsize
    let payload_off = f.len();
    f.extend_from_slice(payload);
    let strtab_off = f.len();
    f.extend_from_slice(shstrtab.as_bytes());
    while f.len() % 8 != 0 {
        f.push(0);
    }
    let shoff = f.len();
    let sh = |name_off: u32, ty: u32, off: usize, size: usize| {
        let mut s = vec![0u8; 64];
        s[..4].copy_from_slice(&name_off.to_le_bytes());
        s[4..8].copy_from_slice(&ty.to_le_bytes());
        s[24..32].copy_from_slice(&(off as u64).to_le_bytes());
        s[32..40].copy_from_slice(&(size as u64).to_le_bytes());
        s[48..56].copy_from_slice(&1u64.to_le_bytes());
        s
    };
    f.extend(vec![0u8; 64]);
    f.extend(sh(1, 1, payload_off, payload.len()));
    f.extend(sh((name.len() + 2) as u32, 3, strtab_off, shstrtab.len()));
    f[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
    f[60..62].copy_from_slice(&3u16.to_le_bytes()); // shnum
    f[62..64].copy_from_slice(&2u16.to_le_bytes()); // shstrndx
    f
}

#[test]
fn handmade_elf_sections() {
    let json = br#"{"packages":[{"name":"x","version":"1.2.3","source":"crates.io","root":true}]}"#;
    let elf = elf_with_section(".dep-v0", &zlib(json));
    let got = inspect_bytes(&elf, "/x").unwrap();
    let RustBinary::Audited(p) = got else {
        panic!("{got:?}")
    };
    assert_eq!(p[0].name, "x");
    // Garbage in the section is an error.
    let elf = elf_with_section(".dep-v0", b"not zlib");
    assert!(matches!(
        inspect_bytes(&elf, "/x"),
        Err(Error::Decompress(_))
    ));
    // A `.rustc` section marks a Rust binary.
    let elf = elf_with_section(".rustc", b"x");
    assert_eq!(inspect_bytes(&elf, "/x").unwrap(), RustBinary::Unaudited);
    let elf = elf_with_section(".data", b"x");
    assert_eq!(inspect_bytes(&elf, "/x").unwrap(), RustBinary::NotRust);
    // Truncations never panic.
    let full = elf_with_section(".dep-v0", &zlib(json));
    for n in 0..full.len() {
        let _ = inspect_bytes(&full[..n], "/x");
    }
}
