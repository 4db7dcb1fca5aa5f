#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::closure::{normalize, wildcard};
use super::*;

// ---------------------------------------------------------------------------------------------
// Sniffing

#[test]
fn looks_native_table() {
    let mut pe = vec![0u8; 0x84];
    pe[0] = b'M';
    pe[1] = b'Z';
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    let mut mz_not_pe = pe.clone();
    mz_not_pe[0x80..0x84].copy_from_slice(b"NE\0\0");
    let mut mz_far = pe[..0x40].to_vec();
    mz_far[0x3c] = 0x00;
    mz_far[0x3d] = 0x01; // e_lfanew 0x100, beyond the head: cannot tell, say yes
    let cases: &[(&str, &[u8], bool)] = &[
        ("empty", b"", false),
        ("short", b"\x7fEL", false),
        ("elf magic only", b"\x7fELF", true),
        ("elf64 le", b"\x7fELF\x02\x01\x01", true),
        ("elf bad class", b"\x7fELF\x03\x01", false),
        ("elf bad data", b"\x7fELF\x01\x00", false),
        ("pe", &pe, true),
        ("mz not pe", &mz_not_pe, false),
        ("mz far header", &mz_far, true),
        ("mz too short", b"MZ\x90\x00", false),
        ("macho 32 be", b"\xfe\xed\xfa\xce", true),
        ("macho 64 be", b"\xfe\xed\xfa\xcf", true),
        ("macho 32 le", b"\xce\xfa\xed\xfe", true),
        ("macho 64 le", b"\xcf\xfa\xed\xfe", true),
        ("fat 2 arches", b"\xca\xfe\xba\xbe\x00\x00\x00\x02", true),
        ("fat64 1 arch", b"\xca\xfe\xba\xbf\x00\x00\x00\x01", true),
        (
            "java class 8 (52)",
            b"\xca\xfe\xba\xbe\x00\x00\x00\x34",
            false,
        ),
        (
            "java class 1.1 (45)",
            b"\xca\xfe\xba\xbe\x00\x03\x00\x2d",
            false,
        ),
        ("fat 0 arches", b"\xca\xfe\xba\xbe\x00\x00\x00\x00", false),
        ("cafebabe short", b"\xca\xfe\xba\xbe", false),
        ("script", b"#!/bin/sh\n", false),
        ("text", b"hello world", false),
    ];
    for (name, head, want) in cases {
        assert_eq!(looks_native(head), *want, "{name}");
    }
}

#[test]
fn not_native_is_none_and_truncated_is_error() {
    assert_eq!(native_info_bytes(b"PK\x03\x04 a zip").unwrap(), None);
    assert_eq!(
        native_info_bytes(b"\xca\xfe\xba\xbe\x00\x00\x00\x34rest of a class").unwrap(),
        None
    );
    for bad in [
        &b"\x7fELF\x02\x01\x01\x00"[..],
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00",
        b"\xcf\xfa\xed\xfe\x07\x00\x00\x01",
        b"\xca\xfe\xba\xbe\x00\x00\x00\x02\x01\x00\x00\x07",
    ] {
        assert!(native_info_bytes(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn hostile_elf_header_counts_do_not_panic() {
    // A valid ELF64 header claiming 65535 program and section headers far beyond the file.
    let mut h = vec![0u8; 64];
    h[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    h[16] = 3; // ET_DYN
    h[18] = 62; // x86_64
    h[20] = 1;
    h[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    h[40..48].copy_from_slice(&0xffff_ffffu64.to_le_bytes()); // e_shoff
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h[54..56].copy_from_slice(&56u16.to_le_bytes());
    h[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
    h[58..60].copy_from_slice(&64u16.to_le_bytes());
    h[60..62].copy_from_slice(&0xffffu16.to_le_bytes());
    let _ = native_info_bytes(&h);
}

// ---------------------------------------------------------------------------------------------
// Mach-O, hand-made (no Debian tool links Mach-O). Layout checked against <mach-o/loader.h>.

fn lc_str(cmd: u32, fixed: &[u8], s: &str) -> Vec<u8> {
    // cmd, cmdsize, then `fixed` (whose first u32 is the string offset, patched here), then the
    // string, NUL-padded to 8 bytes.
    let off = 8 + fixed.len();
    let mut size = off + s.len() + 1;
    size = size.div_ceil(8) * 8;
    let mut v = Vec::new();
    v.extend_from_slice(&cmd.to_le_bytes());
    v.extend_from_slice(&(size as u32).to_le_bytes());
    v.extend_from_slice(&(off as u32).to_le_bytes());
    v.extend_from_slice(fixed.get(4..).unwrap());
    v.extend_from_slice(s.as_bytes());
    v.resize(size, 0);
    v
}

fn dylib_cmd(cmd: u32, name: &str) -> Vec<u8> {
    // struct dylib { lc_str name; u32 timestamp; u32 current_version; u32 compatibility_version; }
    lc_str(cmd, &[0u8; 16], name)
}

fn macho64(cputype: u32, filetype: u32, flags: u32, cmds: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = cmds.concat();
    let mut v = Vec::new();
    for x in [
        0xfeed_facfu32,
        cputype,
        3,
        filetype,
        cmds.len() as u32,
        body.len() as u32,
        flags,
        0,
    ] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&body);
    v
}

fn sample_dylib(cputype: u32, uuid_last: u8) -> Vec<u8> {
    let mut uuid = vec![0x1b, 0, 0, 0, 24, 0, 0, 0];
    uuid.extend((0u8..15).chain([uuid_last]));
    macho64(
        cputype,
        6,
        0x85,
        &[
            dylib_cmd(0xd, "@rpath/libdemo.1.dylib"),
            dylib_cmd(0xc, "/usr/lib/libSystem.B.dylib"),
            dylib_cmd(0x8000_0018, "@rpath/libweak.dylib"),
            dylib_cmd(0x8000_001f, "/usr/lib/libc++.1.dylib"),
            lc_str(0x8000_001c, &[0u8; 4], "@loader_path/../lib"),
            uuid,
        ],
    )
}

#[test]
fn macho_thin_dylib_facts() {
    let n = native_info_bytes(&sample_dylib(0x0100_000c, 0x0f))
        .unwrap()
        .unwrap();
    assert_eq!(n.format, Format::MachO);
    assert_eq!(n.machine, "arm64");
    assert_eq!(n.class_bits, 64);
    assert_eq!(n.kind, "dylib");
    assert_eq!(n.soname.as_deref(), Some("@rpath/libdemo.1.dylib"));
    assert_eq!(
        n.needed,
        [
            "/usr/lib/libSystem.B.dylib",
            "@rpath/libweak.dylib",
            "/usr/lib/libc++.1.dylib"
        ]
    );
    assert_eq!(n.rpath, ["@loader_path/../lib"]);
    assert_eq!(
        n.uuid.as_deref(),
        Some("00010203-0405-0607-0809-0a0b0c0d0e0f")
    );
    assert!(n.slices.is_empty());
}

#[test]
fn macho_executable_with_dylinker() {
    let exe = macho64(
        0x0100_0007,
        2,
        0x0020_0085,
        &[lc_str(0xe, &[0u8; 4], "/usr/lib/dyld")],
    );
    let n = native_info_bytes(&exe).unwrap().unwrap();
    assert_eq!((n.machine.as_str(), n.kind.as_str()), ("x86_64", "pie"));
    assert_eq!(n.interpreter.as_deref(), Some("/usr/lib/dyld"));
}

#[test]
fn macho_fat_each_arch() {
    let a = sample_dylib(0x0100_0007, 0xaa);
    let b = sample_dylib(0x0100_000c, 0xbb);
    let mut fat = Vec::new();
    fat.extend_from_slice(&0xcafe_babeu32.to_be_bytes());
    fat.extend_from_slice(&2u32.to_be_bytes());
    let off_a = 0x1000u32;
    let off_b = 0x2000u32;
    for (cpu, off, len) in [
        (0x0100_0007u32, off_a, a.len()),
        (0x0100_000c, off_b, b.len()),
    ] {
        for x in [cpu, 3, off, len as u32, 12] {
            fat.extend_from_slice(&x.to_be_bytes());
        }
    }
    fat.resize(off_a as usize, 0);
    fat.extend_from_slice(&a);
    fat.resize(off_b as usize, 0);
    fat.extend_from_slice(&b);
    assert!(looks_native(&fat));
    let n = native_info_bytes(&fat).unwrap().unwrap();
    assert_eq!(n.machine, "x86_64+arm64");
    assert_eq!(n.slices.len(), 2);
    assert_eq!(n.slices[0].machine, "x86_64");
    assert_eq!(n.slices[1].machine, "arm64");
    assert_eq!(
        n.slices[1].uuid.as_deref(),
        Some("00010203-0405-0607-0809-0a0b0c0d0ebb")
    );
    assert_eq!(n.needed.len(), 3);

    // A slice pointing outside the file: an error, not a panic.
    let mut broken = fat.clone();
    broken[8 + 8..8 + 12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    broken[8 + 20 + 8..8 + 20 + 12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert!(native_info_bytes(&broken).is_err());
}

#[test]
fn macho_truncated_load_commands() {
    let mut d = sample_dylib(0x0100_000c, 1);
    for cut in [32usize, 40, 60, 100, d.len() - 1] {
        let _ = native_info_bytes(&d[..cut]);
    }
    // A string offset pointing past the command.
    d[32 + 8] = 0xff;
    let _ = native_info_bytes(&d);
}

// ---------------------------------------------------------------------------------------------
// Closure rules, on a fake image whose objects are NativeInfo values.

#[derive(Default)]
struct Fake {
    objs: BTreeMap<String, NativeInfo>,
    links: BTreeMap<String, String>,
    texts: BTreeMap<String, String>,
}

impl Fake {
    fn resolve(&self, path: &str) -> String {
        let mut p = normalize(path);
        for _ in 0..40 {
            let mut changed = false;
            for (from, to) in &self.links {
                if p == *from || p.starts_with(&format!("{from}/")) {
                    let rest = &p[from.len()..];
                    let target = if to.starts_with('/') {
                        to.clone()
                    } else {
                        format!("{}/{to}", from.rsplit_once('/').map_or("", |x| x.0))
                    };
                    p = normalize(&format!("{target}{rest}"));
                    changed = true;
                    break;
                }
            }
            if !changed {
                break;
            }
        }
        p
    }
    fn elf(&mut self, path: &str, f: impl FnOnce(&mut NativeInfo)) -> &mut Self {
        let mut n = NativeInfo::empty(Format::Elf);
        n.machine = "x86_64".into();
        n.class_bits = 64;
        n.kind = "dyn".into();
        f(&mut n);
        self.objs.insert(path.into(), n);
        self
    }
    fn libc(&mut self) -> &mut Self {
        self.elf("usr/lib/x86_64-linux-gnu/libc.so.6", |n| {
            n.soname = Some("libc.so.6".into());
            n.needed = vec!["ld-linux-x86-64.so.2".into()];
        })
        .elf("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", |n| {
            n.soname = Some("ld-linux-x86-64.so.2".into());
        });
        self.links.insert("lib".into(), "usr/lib".into());
        self.links.insert(
            "lib64/ld-linux-x86-64.so.2".into(),
            "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2".into(),
        );
        self
    }
}

impl LibLookup for Fake {
    fn lookup(&self, path: &str) -> Option<(String, NativeInfo)> {
        let real = self.resolve(path);
        self.objs.get(&real).map(|n| (real.clone(), n.clone()))
    }
    fn read_small(&self, path: &str) -> Option<Vec<u8>> {
        self.texts
            .get(&self.resolve(path))
            .map(|t| t.clone().into_bytes())
    }
    fn list(&self, dir: &str) -> Vec<String> {
        let dir = self.resolve(dir);
        let mut out: Vec<String> = self
            .objs
            .keys()
            .chain(self.texts.keys())
            .filter_map(|k| k.strip_prefix(&format!("{dir}/")))
            .filter(|r| !r.contains('/'))
            .map(str::to_owned)
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn exe(n: &mut NativeInfo, needed: &[&str]) {
    n.kind = "pie".into();
    n.interpreter = Some("/lib64/ld-linux-x86-64.so.2".into());
    n.needed = needed.iter().map(|s| s.to_string()).collect();
}

#[test]
fn closure_default_dirs_and_interpreter() {
    let mut f = Fake::default();
    f.libc().elf("usr/bin/app", |n| exe(n, &["libc.so.6"]));
    let c = elf_closure(&f, "usr/bin/app");
    assert_eq!(
        c.libraries,
        [
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            "usr/lib/x86_64-linux-gnu/libc.so.6"
        ]
    );
    assert_eq!(
        c.interpreter.as_deref(),
        Some("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    );
    assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
}

#[test]
fn closure_rpath_is_inherited_runpath_is_not() {
    let mut f = Fake::default();
    f.libc()
        .elf("opt/a/bin/app", |n| {
            exe(n, &["liba.so", "libc.so.6"]);
            n.rpath = vec!["$ORIGIN/../lib".into()];
        })
        .elf("opt/a/lib/liba.so", |n| n.needed = vec!["libb.so".into()])
        // libb is found through the executable's RPATH although liba has none.
        .elf("opt/a/lib/libb.so", |n| n.needed = vec!["libc.so.6".into()])
        .elf("opt/r/bin/app", |n| {
            exe(n, &["libr.so"]);
            n.runpath = vec!["$ORIGIN/../lib".into()];
        })
        .elf("opt/r/lib/libr.so", |n| n.needed = vec!["librr.so".into()])
        // librr sits next to libr, but RUNPATH is not inherited: unresolved.
        .elf("opt/r/lib/librr.so", |_| {});
    let a = elf_closure(&f, "opt/a/bin/app");
    assert!(
        a.libraries.contains(&"opt/a/lib/libb.so".to_owned()),
        "{a:?}"
    );
    assert!(a.unresolved.is_empty());
    let r = elf_closure(&f, "opt/r/bin/app");
    assert!(r.libraries.contains(&"opt/r/lib/libr.so".to_owned()));
    assert_eq!(
        r.unresolved,
        [("librr.so".to_owned(), "opt/r/lib/libr.so".to_owned())]
    );
}

#[test]
fn closure_rpath_ignored_when_runpath_present() {
    let mut f = Fake::default();
    f.libc()
        .elf("app", |n| {
            exe(n, &["libx.so"]);
            n.rpath = vec!["/opt/rpath".into()];
            n.runpath = vec!["/opt/runpath".into()];
        })
        .elf("opt/rpath/libx.so", |_| {})
        .elf("opt/runpath/libx.so", |_| {});
    let c = elf_closure(&f, "app");
    assert!(c.libraries.contains(&"opt/runpath/libx.so".to_owned()));
    assert!(!c.libraries.contains(&"opt/rpath/libx.so".to_owned()));

    // The loader's RUNPATH also stops the executable's RPATH for what it needs.
    let mut f = Fake::default();
    f.libc()
        .elf("app", |n| {
            exe(n, &["libl.so"]);
            n.rpath = vec!["/opt/rpath".into()];
        })
        .elf("opt/rpath/libl.so", |n| {
            n.needed = vec!["libm2.so".into()];
            n.runpath = vec!["/nowhere".into()];
        })
        .elf("opt/rpath/libm2.so", |_| {});
    let c = elf_closure(&f, "app");
    assert_eq!(
        c.unresolved,
        [("libm2.so".to_owned(), "opt/rpath/libl.so".to_owned())]
    );
}

#[test]
fn closure_skips_wrong_class_and_machine() {
    let mut f = Fake::default();
    f.libc()
        .elf("app", |n| {
            exe(n, &["libw.so"]);
            n.runpath = vec!["/opt/32:/opt/arm".into()];
            n.runpath = vec!["/opt/32".into(), "/opt/arm".into()];
        })
        .elf("opt/32/libw.so", |n| {
            n.class_bits = 32;
            n.machine = "i386".into();
        })
        .elf("opt/arm/libw.so", |n| n.machine = "aarch64".into())
        .elf("usr/lib/x86_64-linux-gnu/libw.so", |_| {});
    let c = elf_closure(&f, "app");
    assert!(
        c.libraries
            .contains(&"usr/lib/x86_64-linux-gnu/libw.so".to_owned()),
        "{c:?}"
    );
    assert_eq!(c.libraries.len(), 2);
}

#[test]
fn closure_ld_so_conf_before_defaults() {
    let mut f = Fake::default();
    f.libc()
        .elf("app", |n| exe(n, &["libq.so"]))
        .elf("usr/lib/libq.so", |_| {})
        .elf("usr/local/lib/q/libq.so", |_| {});
    f.texts.insert(
        "etc/ld.so.conf".into(),
        "include /etc/ld.so.conf.d/*.conf\n".into(),
    );
    f.texts.insert(
        "etc/ld.so.conf.d/q.conf".into(),
        "# q\n/usr/local/lib/q/\n".into(),
    );
    let c = elf_closure(&f, "app");
    assert!(
        c.libraries.contains(&"usr/local/lib/q/libq.so".to_owned()),
        "{c:?}"
    );
    assert!(!c.libraries.contains(&"usr/lib/libq.so".to_owned()));
}

#[test]
fn closure_expands_lib_and_platform() {
    let mut f = Fake::default();
    f.libc()
        .elf("app", |n| {
            exe(n, &["libp.so", "libl.so"]);
            n.runpath = vec!["/opt/${PLATFORM}".into(), "/opt/$LIB/x".into()];
        })
        .elf("opt/x86_64/libp.so", |_| {})
        .elf("opt/lib/x86_64-linux-gnu/x/libl.so", |_| {});
    let c = elf_closure(&f, "app");
    assert!(c.unresolved.is_empty(), "{c:?}");
}

#[test]
fn closure_dedups_by_soname_and_survives_cycles() {
    let mut f = Fake::default();
    f.libc()
        .elf("app", |n| {
            exe(n, &["liba.so", "libb.so", "/opt/abs/liba-alias.so"])
        })
        .elf("usr/lib/liba.so", |n| {
            n.soname = Some("liba.so".into());
            n.needed = vec!["libb.so".into()];
        })
        .elf("usr/lib/libb.so", |n| {
            n.needed = vec!["liba.so".into(), "libb.so".into()]
        });
    f.links
        .insert("opt/abs/liba-alias.so".into(), "/usr/lib/liba.so".into());
    let c = elf_closure(&f, "app");
    assert_eq!(c.libraries.len(), 3, "{c:?}");
    assert!(c.unresolved.is_empty());
}

#[test]
fn closure_missing_start_and_missing_interpreter() {
    let f = Fake::default();
    assert_eq!(elf_closure(&f, "nope"), Closure::default());
    let mut f = Fake::default();
    f.elf("app", |n| exe(n, &[]));
    let c = elf_closure(&f, "app");
    assert_eq!(
        c.unresolved,
        [("/lib64/ld-linux-x86-64.so.2".to_owned(), "app".to_owned())]
    );
}

#[test]
fn closure_is_bounded() {
    // A chain of 5000 libraries, each needing the next.
    let mut f = Fake::default();
    f.libc().elf("app", |n| exe(n, &["l0.so"]));
    for i in 0..5000 {
        f.elf(&format!("usr/lib/l{i}.so"), |n| {
            n.needed = vec![format!("l{}.so", i + 1)]
        });
    }
    let c = elf_closure(&f, "app");
    assert!(
        c.libraries.len() < closure::MAX_OBJECTS,
        "{}",
        c.libraries.len()
    );
}

#[test]
fn ld_so_conf_parsing() {
    let mut f = Fake::default();
    f.texts.insert(
        "etc/ld.so.conf".into(),
        "# comment\n/opt/one   # trailing\ninclude ld.so.conf.d/*.conf /etc/extra.conf\nhwcap 0 x\n\n/opt/one\nrelative/dir\n/old=libc6\n"
            .into(),
    );
    f.texts
        .insert("etc/ld.so.conf.d/b.conf".into(), "/opt/b\n".into());
    f.texts.insert(
        "etc/ld.so.conf.d/a.conf".into(),
        "/opt/a\ninclude /etc/ld.so.conf\n".into(),
    );
    f.texts.insert(
        "etc/ld.so.conf.d/a.conf.disabled".into(),
        "/opt/no\n".into(),
    );
    f.texts.insert(
        "etc/ld.so.conf.d/.hidden.conf".into(),
        "/opt/hidden\n".into(),
    );
    f.texts
        .insert("etc/extra.conf".into(), "/opt/extra/./x/../y\n".into());
    assert_eq!(
        ld_so_conf_dirs(&f),
        ["/opt/one", "/opt/a", "/opt/b", "/opt/extra/y", "/old"]
    );
}

#[test]
fn wildcard_table() {
    for (p, s, want) in [
        ("*.conf", "a.conf", true),
        ("*.conf", "a.conf.bak", false),
        ("*", "", true),
        ("a?c", "abc", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("", "", true),
        ("", "x", false),
    ] {
        assert_eq!(wildcard(p.as_bytes(), s.as_bytes()), want, "{p} {s}");
    }
    // No exponential blow-up.
    let s = "a".repeat(5000);
    assert!(!wildcard("*a*a*a*a*a*a*a*b".as_bytes(), s.as_bytes()));
}

// ---------------------------------------------------------------------------------------------
// The real fixture (tests/fixtures/native/build.sh) and the corpus rootfs.

fn fixtures() -> Option<PathBuf> {
    let base = std::env::var_os("STELLA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"));
    let dir = base.join("native");
    if dir.join(".done-v4").exists() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("fixture missing: run scanner-core/tests/fixtures/native/build.sh");
    }
    eprintln!("skipped: native fixture missing; run scanner-core/tests/fixtures/native/build.sh");
    None
}

/// A rootfs directory as a [`LibLookup`], resolving symlinks inside the root.
struct DirLookup {
    root: PathBuf,
}

impl DirLookup {
    fn resolve(&self, path: &str) -> Option<String> {
        let mut todo: Vec<String> = normalize(path)
            .split('/')
            .rev()
            .map(str::to_owned)
            .collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c.is_empty() || c == "." {
                continue;
            }
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let full = self.root.join(done.join("/"));
            let meta = std::fs::symlink_metadata(&full).ok()?;
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = std::fs::read_link(&full).ok()?;
                let target = target.to_str()?.to_owned();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(target.split('/').rev().map(str::to_owned));
            }
        }
        Some(done.join("/"))
    }
}

impl LibLookup for DirLookup {
    fn lookup(&self, path: &str) -> Option<(String, NativeInfo)> {
        let real = self.resolve(path)?;
        let full = self.root.join(&real);
        if !std::fs::metadata(&full).ok()?.is_file() {
            return None;
        }
        let bytes = std::fs::read(full).ok()?;
        native_info_bytes(&bytes).ok().flatten().map(|n| (real, n))
    }
    fn read_small(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.join(self.resolve(path)?)).ok()
    }
    fn list(&self, dir: &str) -> Vec<String> {
        let Some(real) = self.resolve(dir) else {
            return Vec::new();
        };
        let mut v: Vec<String> = std::fs::read_dir(self.root.join(real))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// What `readelf -W -h -l -d -n -V` printed, parsed.
#[derive(Debug, Default)]
struct Readelf {
    class_bits: u8,
    kind: String,
    machine: String,
    needed: Vec<String>,
    soname: Option<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
    interpreter: Option<String>,
    build_id: Option<String>,
    versions_needed: Vec<(String, Vec<String>)>,
    versions_defined: Vec<String>,
}

fn bracket(line: &str) -> String {
    let a = line.find('[').unwrap() + 1;
    let b = line.rfind(']').unwrap();
    line[a..b].to_owned()
}

fn parse_readelf(text: &str) -> Readelf {
    let mut r = Readelf::default();
    let mut section = "";
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("Version needs section") {
            section = "verneed";
        } else if t.starts_with("Version definition section") {
            section = "verdef";
        } else if t.starts_with("Version symbols section") || t.starts_with("Displaying notes") {
            section = "";
        }
        if let Some(v) = t.strip_prefix("Class:") {
            r.class_bits = if v.trim() == "ELF64" { 64 } else { 32 };
        } else if let Some(v) = t.strip_prefix("Type:") {
            let v = v.trim();
            r.kind = if v.starts_with("EXEC") {
                "exec"
            } else if v.starts_with("DYN (Position-Independent") {
                "pie"
            } else if v.starts_with("DYN") {
                "dyn"
            } else {
                "other"
            }
            .into();
        } else if let Some(v) = t.strip_prefix("Machine:") {
            r.machine = match v.trim() {
                "Advanced Micro Devices X86-64" => "x86_64".into(),
                other => other.into(),
            };
        } else if t.contains("(NEEDED)") {
            r.needed.push(bracket(t));
        } else if t.contains("(SONAME)") {
            r.soname = Some(bracket(t));
        } else if t.contains("(RPATH)") {
            r.rpath.extend(bracket(t).split(':').map(str::to_owned));
        } else if t.contains("(RUNPATH)") {
            r.runpath.extend(bracket(t).split(':').map(str::to_owned));
        } else if t.starts_with("[Requesting program interpreter:") {
            r.interpreter = Some(
                t.trim_start_matches("[Requesting program interpreter: ")
                    .trim_end_matches(']')
                    .into(),
            );
        } else if let Some(i) = t.find("Build ID: ") {
            r.build_id = Some(t[i + 10..].trim().into());
        } else if section == "verneed" && t.contains("File: ") {
            let f = t
                .split("File: ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            r.versions_needed.push((f.into(), Vec::new()));
        } else if section == "verneed" && t.contains("Name: ") {
            let v = t
                .split("Name: ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            r.versions_needed.last_mut().unwrap().1.push(v.into());
        } else if section == "verdef" && t.contains("Rev: ") && !t.contains("Flags: BASE") {
            let v = t.split("Name: ").nth(1).unwrap().trim();
            r.versions_defined.push(v.into());
        }
    }
    r
}

#[test]
fn fixture_elf_facts_match_readelf() {
    let Some(dir) = fixtures() else { return };
    let rootfs = dir.join("rootfs");
    let list = std::fs::read_to_string(dir.join("expected/elf-files.txt")).unwrap();
    let mut checked = 0;
    for rel in list.lines() {
        let name = rel.rsplit('/').next().unwrap();
        let text =
            std::fs::read_to_string(dir.join(format!("expected/{name}.readelf.txt"))).unwrap();
        let want = parse_readelf(&text);
        let bytes = std::fs::read(rootfs.join(rel)).unwrap();
        assert!(looks_native(&bytes[..64]));
        let got = native_info_bytes(&bytes).unwrap().unwrap();
        assert_eq!(got.format, Format::Elf, "{rel}");
        assert_eq!(got.class_bits, want.class_bits, "{rel}");
        assert_eq!(got.machine, want.machine, "{rel}");
        assert_eq!(got.kind, want.kind, "{rel}");
        assert_eq!(got.needed, want.needed, "{rel}");
        assert_eq!(got.soname, want.soname, "{rel}");
        assert_eq!(got.rpath, want.rpath, "{rel}");
        assert_eq!(got.runpath, want.runpath, "{rel}");
        assert_eq!(got.interpreter, want.interpreter, "{rel}");
        assert_eq!(got.build_id, want.build_id, "{rel}");
        assert_eq!(got.versions_needed, want.versions_needed, "{rel}");
        assert_eq!(got.versions_defined, want.versions_defined, "{rel}");
        checked += 1;
    }
    assert_eq!(checked, 9);

    // And the values themselves, checked by hand against the build script.
    let app = native_info_bytes(&std::fs::read(rootfs.join("opt/app/bin/app")).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(app.kind, "pie");
    assert_eq!(app.needed, ["libfoo.so.1", "libz.so.1", "libc.so.6"]);
    assert_eq!(app.runpath, ["$ORIGIN/../lib"]);
    assert!(app.rpath.is_empty());
    assert_eq!(
        app.interpreter.as_deref(),
        Some("/lib64/ld-linux-x86-64.so.2")
    );
    assert_eq!(
        app.versions_needed[0],
        ("libfoo.so.1".to_owned(), vec!["FOO_2.0".to_owned()])
    );
    assert_eq!(app.build_id.as_ref().map(String::len), Some(40));
    let foo = native_info_bytes(&std::fs::read(rootfs.join("opt/app/lib/libfoo.so.1")).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(foo.versions_defined, ["FOO_1.0", "FOO_2.0"]);
    assert_eq!(foo.soname.as_deref(), Some("libfoo.so.1"));
    assert_eq!(foo.kind, "dyn");
    let ar = native_info_bytes(&std::fs::read(rootfs.join("opt/bar/bin/app-rpath")).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (ar.kind.as_str(), ar.rpath.as_slice()),
        ("exec", &["/opt/bar/lib".to_owned()][..])
    );
    let libc = native_info_bytes(
        &std::fs::read(rootfs.join("usr/lib/x86_64-linux-gnu/libc.so.6")).unwrap(),
    )
    .unwrap()
    .unwrap();
    assert!(libc.versions_defined.iter().any(|v| v == "GLIBC_2.34"));
}

/// `ld.so --list` output: the real paths of everything it mapped (vdso left out).
fn parse_ldd(text: &str, lookup: &DirLookup) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let path = match t.split_once(" => ") {
            Some((_, rest)) => rest.split(" (").next().unwrap(),
            None if t.starts_with('/') => t.split(" (").next().unwrap(),
            None => continue,
        };
        assert!(path.starts_with('/'), "ld.so did not find something: {t}");
        out.push(lookup.resolve(path).unwrap());
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn fixture_closure_matches_ld_so() {
    let Some(dir) = fixtures() else { return };
    let lookup = DirLookup {
        root: dir.join("rootfs"),
    };
    assert_eq!(
        ld_so_conf_dirs(&lookup),
        [
            "/usr/local/lib/stella",
            "/usr/local/lib/x86_64-linux-gnu",
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu"
        ]
    );
    for (exe, ldd) in [
        ("opt/app/bin/app", "app.ldd.txt"),
        ("opt/bar/bin/app-rpath", "app-rpath.ldd.txt"),
    ] {
        let c = elf_closure(&lookup, exe);
        let Ok(text) = std::fs::read_to_string(dir.join("expected").join(ldd)) else {
            eprintln!("skipped ld.so comparison: the fixture was built without root");
            continue;
        };
        assert_eq!(c.libraries, parse_ldd(&text, &lookup), "{exe}");
        assert!(c.unresolved.is_empty(), "{exe}: {:?}", c.unresolved);
        assert_eq!(
            c.interpreter.as_deref(),
            Some("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
    }
    // Checked by hand too: RUNPATH found libfoo (through its soname link), ld.so.conf found libqux.
    let c = elf_closure(&lookup, "opt/app/bin/app");
    assert_eq!(
        c.libraries,
        [
            "opt/app/lib/libfoo.so.1.0",
            "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
            "usr/lib/x86_64-linux-gnu/libc.so.6",
            "usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
            "usr/local/lib/stella/libqux.so.1",
        ]
    );
    let c = elf_closure(&lookup, "opt/bar/bin/app-rpath");
    assert!(c.libraries.contains(&"opt/bar/lib/libbaz.so.1".to_owned()));
}

#[test]
fn fixture_closure_through_dirfs_facts() {
    // The same closure from the standard extractor's facts, as the scan computes it.
    let Some(dir) = fixtures() else { return };
    let fs = crate::dirfs::DirFs::new(dir.join("rootfs"), crate::layer::Limits::default());
    let via_view = elf_closure(&ViewLookup(&fs), "opt/app/bin/app");
    let via_dir = elf_closure(
        &DirLookup {
            root: dir.join("rootfs"),
        },
        "opt/app/bin/app",
    );
    assert_eq!(via_view, via_dir);
    assert_eq!(via_view.libraries.len(), 5);
}

/// The DLL names `objdump -p` lists, in order.
fn objdump_dlls(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("DLL Name: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn fixture_pe_facts_match_objdump() {
    let Some(dir) = fixtures() else { return };
    for (f, kind) in [("hello.exe", "exe"), ("hello.dll", "dll")] {
        let bytes = std::fs::read(dir.join("pe").join(f)).unwrap();
        assert!(looks_native(&bytes[..64]));
        let n = native_info_bytes(&bytes).unwrap().unwrap();
        let text = std::fs::read_to_string(dir.join(format!("expected/{f}.objdump.txt"))).unwrap();
        assert_eq!(n.format, Format::Pe);
        assert_eq!(n.imports, objdump_dlls(&text), "{f}");
        assert_eq!(
            (n.machine.as_str(), n.class_bits, n.kind.as_str()),
            ("x86_64", 64, kind)
        );
        assert!(text.contains("(PE32+)"));
        assert!(text.contains("Subsystem\t\t00000003\t(Windows CUI)"));
        assert_eq!(n.subsystem.as_deref(), Some("windows-cui"));
        assert!(!n.is_dotnet);
        assert!(n.needed.is_empty());
    }
    let exe = native_info_bytes(&std::fs::read(dir.join("pe/hello.exe")).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(exe.imports, ["KERNEL32.dll", "msvcrt.dll", "hello.dll"]);
}

#[test]
fn fixture_dotnet_assembly() {
    let Some(dir) = fixtures() else { return };
    let bytes = std::fs::read(dir.join("pe/System.Core.dll")).unwrap();
    let text = std::fs::read_to_string(dir.join("expected/System.Core.dll.objdump.txt")).unwrap();
    let n = native_info_bytes(&bytes).unwrap().unwrap();
    assert!(text.contains("CLR Runtime Header") && text.contains("(PE32)"));
    assert!(n.is_dotnet);
    assert_eq!(n.imports, objdump_dlls(&text));
    assert_eq!(n.imports, ["mscoree.dll"]);
    assert_eq!(
        (n.machine.as_str(), n.class_bits, n.kind.as_str()),
        ("i386", 32, "dll")
    );
    assert_eq!(n.subsystem.as_deref(), Some("windows-cui"));
}

#[test]
fn fixture_truncations_never_panic() {
    let Some(dir) = fixtures() else { return };
    for f in [
        "rootfs/opt/app/bin/app",
        "rootfs/opt/app/lib/libfoo.so.1.0",
        "pe/hello.exe",
    ] {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        let mut cut = 1;
        while cut < bytes.len() {
            let _ = native_info_bytes(&bytes[..cut]);
            cut = cut * 3 / 2 + 1;
        }
        // Flip bytes all over the header region.
        for i in (0..bytes.len().min(4096)).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = native_info_bytes(&b);
        }
    }
}

#[test]
fn corpus_node_closure() {
    let root = Path::new("/work/main/target/corpus/rootfs/app");
    if !root.join("usr/bin/node").exists() {
        eprintln!("skipped: corpus rootfs missing (/work/main/target/corpus/rootfs/app)");
        return;
    }
    let lookup = DirLookup {
        root: root.to_path_buf(),
    };
    let (_, node) = lookup.lookup("usr/bin/node").unwrap();
    let c = elf_closure(&lookup, "usr/bin/node");
    assert!(c.unresolved.is_empty(), "{:?}", c.unresolved);
    // Every DT_NEEDED of node is in the closure under its soname.
    for need in &node.needed {
        assert!(
            c.libraries.iter().any(
                |l| lookup.lookup(l).unwrap().1.soname.as_deref() == Some(need)
                    || l.ends_with(&format!("/{need}"))
            ),
            "{need} missing from {:?}",
            c.libraries
        );
    }
    let has = |s: &str| c.libraries.iter().any(|l| l.contains(s));
    assert!(has("libc.so.6"), "{:?}", c.libraries);
    assert!(has("libnode.so."), "{:?}", c.libraries);
    assert!(has("libstdc++.so.6"), "{:?}", c.libraries);
    assert!(c.interpreter.is_some());
    let readelf = std::process::Command::new("readelf")
        .args(["-d", "-W"])
        .arg(root.join("usr/bin/node"))
        .output();
    if let Ok(out) = readelf {
        let want: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .map(bracket)
            .collect();
        assert_eq!(node.needed, want);
    }
    // The image's own loader, when we may chroot (root): exactly the same set of files.
    let ld = std::process::Command::new("chroot")
        .arg(root)
        .args(["/lib64/ld-linux-x86-64.so.2", "--list", "/usr/bin/node"])
        .output();
    match ld {
        Ok(out) if out.status.success() => {
            let want = parse_ldd(&String::from_utf8_lossy(&out.stdout), &lookup);
            assert_eq!(c.libraries, want);
        }
        _ => eprintln!("skipped ld.so comparison on the corpus: chroot not permitted"),
    }
}
