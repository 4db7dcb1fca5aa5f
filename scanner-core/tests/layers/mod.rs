//! Layer reading, the overlay and the rootfs-directory view, on tars built in memory (and on the real
//! corpus image when it is present).

// Helpers outside `#[test]` functions are test code too (clippy.toml only exempts the functions).

use std::io::Write;
use std::sync::Arc;

use scanner_core::dirfs::DirFs;
use scanner_core::fs::{FsView, ReadError};
use scanner_core::layer::{read_layer, Change, Entry, EntryKind, LayerChanges, LayerError, Limits};
use scanner_core::model::Digest;
use scanner_core::overlay::{LayerView, NodeKind, Overlay};

// ---------------------------------------------------------------------------------------------------
// Building tars

/// A tar under construction. Headers are written by hand (GNU format) so tests can use names the `tar`
/// crate refuses to write, such as `../x`.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn raw(&mut self, name: &[u8], ty: u8, link: &[u8], data: &[u8]) -> &mut Self {
        let mut h = header(name, ty, link, data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, data: &str) -> &mut Self {
        self.raw(name.as_bytes(), b'0', b"", data.as_bytes())
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(name.as_bytes(), b'5', b"", b"")
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name.as_bytes(), b'2', target.as_bytes(), b"")
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(name.as_bytes(), b'1', target.as_bytes(), b"")
    }

    /// A PAX extended header applying to the next entry.
    fn pax(&mut self, records: &[(&str, &str)]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            // The length counts its own digits.
            let mut len = body.len() + 1;
            while format!("{len}{body}").len() != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        self.raw(b"././@PaxHeader", b'x', b"", &data)
    }

    /// A GNU long-name record applying to the next entry.
    fn long_name(&mut self, name: &str) -> &mut Self {
        let mut data = name.as_bytes().to_vec();
        data.push(0);
        self.raw(b"././@LongLink", b'L', b"", &data)
    }

    fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn header(name: &[u8], ty: u8, link: &[u8], size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(if ty == b'5' { 0o755 } else { 0o644 });
    h.set_entry_type(tar::EntryType::new(ty));
    let g = h.as_gnu_mut().unwrap();
    g.name[..name.len()].copy_from_slice(name);
    g.linkname[..link.len()].copy_from_slice(link);
    h
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

fn all(_: &str) -> bool {
    true
}

fn none(_: &str) -> bool {
    false
}

fn read(bytes: &[u8]) -> LayerChanges {
    read_layer(bytes, &all, &Limits::default()).unwrap()
}

fn entry<'a>(c: &'a LayerChanges, path: &str) -> &'a Entry {
    c.entries
        .iter()
        .rev()
        .find_map(|c| match c {
            Change::Entry(e) if e.path == path => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no entry {path}"))
}

fn text<V: FsView>(v: &V, path: &str) -> Option<String> {
    v.read(path)
        .unwrap()
        .map(|b| String::from_utf8(b.into_owned()).unwrap())
}

fn overlay(layers: &[Vec<u8>]) -> (Overlay, Vec<LayerChanges>) {
    let mut o = Overlay::default();
    let mut all_changes = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let c = read(l);
        o.apply(i, &c);
        all_changes.push(c);
    }
    (o, all_changes)
}

fn has_diag(c: &LayerChanges, path: &str, needle: &str) -> bool {
    c.diagnostics
        .iter()
        .any(|d| d.path == path && d.message.contains(needle))
}

// ---------------------------------------------------------------------------------------------------
// read_layer

fn sample() -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("./")
        .dir("./etc/")
        .file("./etc/os-release", "ID=test\n")
        .file("./etc/motd", "hello")
        .symlink("./etc/alias", "os-release");
    t.finish()
}

#[test]
fn plain_gzip_and_zstd_give_the_same_changes_and_the_right_digests() {
    let plain = sample();
    let mut reference = None;
    for blob in [plain.clone(), gzip(&plain), zstd(&plain)] {
        let c = read_layer(&blob[..], &|p| p == "etc/os-release", &Limits::default()).unwrap();
        assert_eq!(c.diff_id, Digest::sha256_of(&plain));
        assert_eq!(c.blob_digest, Digest::sha256_of(&blob));
        assert_eq!(c.uncompressed_size, plain.len() as u64);
        assert_eq!(
            entry(&c, "etc/os-release").content.as_deref(),
            Some(&b"ID=test\n"[..])
        );
        assert_eq!(entry(&c, "etc/motd").content, None, "not wanted, not kept");
        assert_eq!(
            entry(&c, "etc/alias").kind,
            EntryKind::Symlink("os-release".into())
        );
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        match &reference {
            None => reference = Some(c.entries),
            Some(r) => assert_eq!(r, &c.entries),
        }
    }
}

#[test]
fn digests_cover_trailing_bytes_after_the_end_of_archive() {
    let mut plain = sample();
    plain.extend_from_slice(&[0u8; 10240]);
    plain.extend_from_slice(b"trailing junk after the end blocks");
    let gz = gzip(&plain);
    let c = read_layer(&gz[..], &none, &Limits::default()).unwrap();
    assert_eq!(c.diff_id, Digest::sha256_of(&plain));
    assert_eq!(c.blob_digest, Digest::sha256_of(&gz));
    assert_eq!(c.uncompressed_size, plain.len() as u64);
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let plain = sample();
    let (a, b) = plain.split_at(700);
    let mut blob = gzip(a);
    blob.extend_from_slice(&gzip(b));
    let c = read_layer(&blob[..], &none, &Limits::default()).unwrap();
    assert_eq!(c.diff_id, Digest::sha256_of(&plain));
    assert_eq!(c.blob_digest, Digest::sha256_of(&blob));
}

#[test]
fn bzip2_and_xz_are_refused_by_name() {
    for (blob, name) in [
        (&b"BZh91AY&SY"[..], "bzip2"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0, 0][..], "xz"),
    ] {
        let err = read_layer(blob, &none, &Limits::default()).unwrap_err();
        assert!(matches!(err, LayerError::UnsupportedCompression(n) if n == name));
        assert!(err.to_string().contains(name));
    }
}

#[test]
fn long_names_pax_and_ustar_prefix() {
    let long = format!("usr/share/{}/file.txt", "d".repeat(150));
    let pax_name = format!("opt/{}/pax.txt", "p".repeat(200));
    let mut t = Tar::new();
    t.long_name(&long).file("ignored-short-name", "long");
    t.pax(&[("path", &pax_name), ("size", "3")])
        .raw(b"short", b'0', b"", b"pax");
    // A ustar header whose name is split into prefix and name.
    let mut h = tar::Header::new_ustar();
    h.set_size(2);
    h.set_mode(0o600);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_ustar_mut().unwrap().prefix[..7].copy_from_slice(b"var/lib");
    h.as_ustar_mut().unwrap().name[..6].copy_from_slice(b"status");
    h.set_cksum();
    t.0.append(&h, &b"ok"[..]).unwrap();
    let c = read(&t.finish());
    assert_eq!(entry(&c, &long).content.as_deref(), Some(&b"long"[..]));
    assert_eq!(entry(&c, &pax_name).content.as_deref(), Some(&b"pax"[..]));
    let status = entry(&c, "var/lib/status");
    assert_eq!(status.content.as_deref(), Some(&b"ok"[..]));
    assert_eq!(status.mode, 0o600);
    assert_eq!(c.entries.len(), 3);
}

#[test]
fn pax_size_overrides_the_header_size() {
    // The header says 0 bytes, PAX says 5: the parser must consume 5 bytes of data.
    let mut t = Tar::new();
    t.pax(&[("size", "5")]);
    let mut h = header(b"big", b'0', b"", 0);
    h.set_cksum();
    let mut block = h.as_bytes().to_vec();
    block.extend_from_slice(b"12345");
    block.resize(1024, 0);
    let mut bytes = t.0.get_ref().clone();
    bytes.extend_from_slice(&block);
    bytes.extend_from_slice(&sample());
    let c = read(&bytes);
    assert_eq!(entry(&c, "big").content.as_deref(), Some(&b"12345"[..]));
    assert_eq!(
        entry(&c, "etc/os-release").content.as_deref(),
        Some(&b"ID=test\n"[..])
    );
}

#[test]
fn whiteout_and_opaque_markers_become_changes() {
    let mut t = Tar::new();
    t.file("etc/.wh.motd", "")
        .file("usr/share/.wh..wh..opq", "")
        .file(".wh.tmp", "")
        .file("a/.wh..wh.plnk", "")
        .file(".wh..wh..opq", "");
    let c = read(&t.finish());
    assert_eq!(
        c.entries,
        vec![
            Change::Whiteout("etc/motd".into()),
            Change::Opaque("usr/share".into()),
            Change::Whiteout("tmp".into()),
            Change::Opaque("".into()),
        ]
    );
}

#[test]
fn names_escaping_the_root_are_skipped_with_a_diagnostic() {
    let mut t = Tar::new();
    t.raw(b"../../etc/passwd", b'0', b"", b"evil")
        .raw(b"a/../../b", b'0', b"", b"evil")
        .raw(b"./a/../ok", b'0', b"", b"fine")
        .raw(b"x", b'1', b"../../etc/shadow", b"")
        .raw(b".wh...", b'0', b"", b"")
        .file("after", "still read");
    let c = read(&t.finish());
    let paths: Vec<&str> = c
        .entries
        .iter()
        .filter_map(|c| match c {
            Change::Entry(e) => Some(e.path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(paths, vec!["ok", "after"]);
    assert!(has_diag(&c, "../../etc/passwd", "climbs out"));
    assert!(has_diag(&c, "a/../../b", "climbs out"));
    assert!(has_diag(&c, "x", "hardlink skipped"));
    assert!(c
        .diagnostics
        .iter()
        .all(|d| d.layer == Some(c.diff_id.clone())));
}

#[test]
fn overlong_and_non_utf8_names() {
    let mut t = Tar::new();
    t.long_name(&"n/".repeat(3000)).file("placeholder", "x");
    t.raw(b"caf\xe9", b'0', b"", b"latin-1");
    let c = read(&t.finish());
    assert_eq!(c.entries.len(), 1);
    assert!(c
        .diagnostics
        .iter()
        .any(|d| d.message.contains("max_path_len")));
    let e = entry(&c, "caf\u{fffd}");
    assert_eq!(e.content.as_deref(), Some(&b"latin-1"[..]));
    assert!(has_diag(&c, "caf\u{fffd}", "not UTF-8"));
}

#[test]
fn duplicate_entries_are_all_reported_and_the_later_one_wins() {
    let mut t = Tar::new();
    t.file("etc/issue", "first").file("etc/issue", "second");
    let c = read(&t.finish());
    assert_eq!(c.entries.len(), 2);
    let (o, cs) = overlay(&[{
        let mut t = Tar::new();
        t.file("etc/issue", "first").file("etc/issue", "second");
        t.finish()
    }]);
    assert_eq!(text(&o, "etc/issue").as_deref(), Some("second"));
    assert_eq!(
        text(&LayerView::new(&cs[0], &Limits::default()), "etc/issue").as_deref(),
        Some("second")
    );
}

#[test]
fn hardlinks_in_one_layer_share_content() {
    let mut t = Tar::new();
    t.file("var/lib/dpkg/status-old", "Package: a\n")
        .hardlink("var/lib/dpkg/status", "./var/lib/dpkg/status-old");
    let c = read(&t.finish());
    let link = entry(&c, "var/lib/dpkg/status");
    assert_eq!(
        link.kind,
        EntryKind::Hardlink("var/lib/dpkg/status-old".into())
    );
    assert_eq!(link.size, 11);
    let target = entry(&c, "var/lib/dpkg/status-old");
    assert!(Arc::ptr_eq(
        link.content.as_ref().unwrap(),
        target.content.as_ref().unwrap()
    ));
    let view = LayerView::new(&c, &Limits::default());
    assert_eq!(
        text(&view, "var/lib/dpkg/status").as_deref(),
        Some("Package: a\n")
    );
}

#[test]
fn hardlink_whose_target_was_not_kept_gets_a_diagnostic() {
    let mut t = Tar::new();
    t.file("other", "x").hardlink("wanted", "other");
    let c = read_layer(&t.finish()[..], &|p| p == "wanted", &Limits::default()).unwrap();
    assert_eq!(entry(&c, "wanted").content, None);
    assert!(has_diag(&c, "wanted", "did not keep"));
}

#[test]
fn hardlink_to_a_lower_layer_copies_the_node_as_it_is() {
    let mut l1 = Tar::new();
    l1.file("bin/busybox", "BB");
    let mut l2 = Tar::new();
    l2.hardlink("bin/sh", "bin/busybox");
    let mut l3 = Tar::new();
    l3.file("bin/busybox", "BB2");
    let (o, _) = overlay(&[l1.finish(), l2.finish(), l3.finish()]);
    assert_eq!(
        text(&o, "bin/sh").as_deref(),
        Some("BB"),
        "a copy, not a reference"
    );
    assert_eq!(text(&o, "bin/busybox").as_deref(), Some("BB2"));
    assert_eq!(o.node("bin/sh").unwrap().layer_index, 1);
}

#[test]
fn truncated_gzip_and_truncated_tar_are_errors_that_say_so() {
    let plain = sample();
    let gz = gzip(&plain);
    let err = read_layer(&gz[..gz.len() - 12], &none, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, LayerError::Decompress { format: "gzip", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("gzip"));

    let zs = zstd(&plain);
    let err = read_layer(&zs[..zs.len() / 2], &none, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, LayerError::Decompress { format: "zstd", .. }),
        "{err}"
    );

    // Cut inside the data of etc/os-release (header at 1024, data at 1536).
    let err = read_layer(&plain[..1540], &all, &Limits::default()).unwrap_err();
    match &err {
        LayerError::TruncatedTar { offset, inside } => {
            assert_eq!(*offset, 1540);
            assert!(inside.contains("etc/os-release"), "{inside}");
        }
        other => panic!("{other}"),
    }
    // Cut inside a header: the same, through gzip.
    let err = read_layer(&gzip(&plain[..1100])[..], &all, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, LayerError::TruncatedTar { offset: 1100, .. }),
        "{err}"
    );
}

#[test]
fn corrupt_header_checksum_names_the_offset() {
    let mut plain = sample();
    plain[512 + 10] ^= 0x55; // inside the second header's name
    let err = read_layer(&plain[..], &none, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, LayerError::CorruptTar { offset: 512, .. }),
        "{err}"
    );
}

#[test]
fn a_missing_end_of_archive_is_only_a_diagnostic() {
    let plain = sample();
    let cut = &plain[..plain.len() - 1024];
    let c = read_layer(cut, &none, &Limits::default()).unwrap();
    assert_eq!(c.entries.len(), 4);
    assert!(has_diag(&c, "", "end-of-archive"));
}

#[test]
fn gzip_bomb_hits_max_layer_bytes_while_streaming() {
    // 32 MiB of zeros inside one tar entry compresses to ~32 KB; the limit stops it at 1 MiB.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let size: u64 = 32 << 20;
    let mut h = header(b"var/lib/dpkg/status", b'0', b"", size);
    h.set_cksum();
    enc.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(size >> 20) {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 256 << 10);
    let limits = Limits {
        max_layer_bytes: 1 << 20,
        ..Limits::default()
    };
    let err = read_layer(&bomb[..], &all, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::LimitExceeded {
                limit: "max_layer_bytes",
                value
            } if value == 1 << 20
        ),
        "{err}"
    );
    // Trailing zeros after the end-of-archive count too.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&sample()).unwrap();
    for _ in 0..2 {
        enc.write_all(&zeros).unwrap();
    }
    let err = read_layer(&enc.finish().unwrap()[..], &none, &limits).unwrap_err();
    assert!(matches!(err, LayerError::LimitExceeded { .. }), "{err}");
}

#[test]
fn too_many_entries() {
    let mut t = Tar::new();
    for i in 0..10 {
        t.file(&format!("f{i}"), "");
    }
    let limits = Limits {
        max_entries: 5,
        ..Limits::default()
    };
    let err = read_layer(&t.finish()[..], &none, &limits).unwrap_err();
    assert!(matches!(
        err,
        LayerError::LimitExceeded {
            limit: "max_entries",
            value: 5
        }
    ));
}

#[test]
fn wanted_files_over_the_limits_are_diagnostics() {
    let mut t = Tar::new();
    t.file("a", "0123456789")
        .file("b", "01234")
        .file("c", "0123");
    let limits = Limits {
        max_wanted_file: 8,
        max_wanted_total: 8,
        ..Limits::default()
    };
    let c = read_layer(&t.finish()[..], &all, &limits).unwrap();
    assert_eq!(entry(&c, "a").content, None);
    assert_eq!(entry(&c, "a").size, 10);
    assert!(has_diag(&c, "a", "max_wanted_file"));
    assert_eq!(entry(&c, "b").content.as_deref(), Some(&b"01234"[..]));
    assert_eq!(entry(&c, "c").content, None);
    assert!(has_diag(&c, "c", "max_wanted_total"));
}

#[test]
fn huge_sparse_entry_is_skipped_without_allocating() {
    // An old-GNU sparse file claiming a 1 TiB real size with 512 stored bytes, then a normal file.
    let mut h = header(b"var/lib/rpm/Packages", b'S', b"", 512);
    {
        // 1 TiB does not fit 11 octal digits: GNU base-256 numbers.
        let b256 = |v: u64| {
            let mut f = [0u8; 12];
            f[4..].copy_from_slice(&v.to_be_bytes());
            f[0] = 0x80;
            f
        };
        let g = h.as_gnu_mut().unwrap();
        g.realsize = b256(1 << 40);
        g.sparse[0].offset = b256((1 << 40) - 512);
        g.sparse[0].numbytes.copy_from_slice(b"00000001000\0");
    }
    h.set_cksum();
    let mut t = Tar::new();
    t.0.append(&h, &[7u8; 512][..]).unwrap();
    // A PAX (1.0) sparse file too.
    t.pax(&[
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.name", "var/lib/sparse-pax"),
        ("GNU.sparse.realsize", "1099511627776"),
    ])
    .raw(b"GNUSparseFile.0/x", b'0', b"", &[1u8; 1024]);
    t.file("after", "ok");
    let c = read(&t.finish());
    let e = entry(&c, "var/lib/rpm/Packages");
    assert_eq!(
        (e.kind.clone(), e.size, e.content.clone()),
        (EntryKind::File, 1 << 40, None)
    );
    assert!(has_diag(&c, "var/lib/rpm/Packages", "sparse"));
    let e = entry(&c, "var/lib/sparse-pax");
    assert_eq!((e.size, e.content.clone()), (1 << 40, None));
    assert_eq!(entry(&c, "after").content.as_deref(), Some(&b"ok"[..]));
}

#[test]
fn declared_size_larger_than_the_stream_does_not_allocate_it() {
    // A regular file header claiming 400 MiB (under max_wanted_file) followed by almost nothing.
    let mut h = header(b"etc/passwd", b'0', b"", 400 << 20);
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(b"root:x:0:0");
    let err = read_layer(&bytes[..], &all, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, LayerError::TruncatedTar { offset: 522, .. }),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------------
// Overlay

#[test]
fn whiteout_of_a_file_and_of_a_directory_with_descendants() {
    let mut l1 = Tar::new();
    l1.dir("etc")
        .file("etc/motd", "hi")
        .file("etc/keep", "k")
        .dir("opt/app")
        .file("opt/app/a", "a")
        .file("opt/app/sub/b", "b")
        .file("opt/application", "not below opt/app");
    let mut l2 = Tar::new();
    l2.file("etc/.wh.motd", "").file("opt/.wh.app", "");
    let (o, _) = overlay(&[l1.finish(), l2.finish()]);
    assert_eq!(text(&o, "etc/motd"), None);
    assert_eq!(o.node("etc/motd"), None);
    assert_eq!(text(&o, "etc/keep").as_deref(), Some("k"));
    assert_eq!(o.node("opt/app"), None);
    assert_eq!(o.node("opt/app/sub/b"), None);
    assert_eq!(o.node("opt/app/sub"), None);
    assert_eq!(
        text(&o, "opt/application").as_deref(),
        Some("not below opt/app")
    );
    assert_eq!(o.list("opt"), vec!["application"]);
    assert_eq!(o.list(""), vec!["etc", "opt"]);
}

#[test]
fn whiteouts_do_not_hide_entries_of_their_own_layer() {
    let mut l1 = Tar::new();
    l1.file("x/old", "old");
    let mut l2 = Tar::new();
    // The new x/new comes before the whiteout of x in tar order; it must survive.
    l2.file("x/new", "new").file(".wh.x", "");
    let (o, _) = overlay(&[l1.finish(), l2.finish()]);
    assert_eq!(text(&o, "x/old"), None);
    assert_eq!(text(&o, "x/new").as_deref(), Some("new"));
}

#[test]
fn opaque_directory_keeps_same_layer_entries_before_and_after_the_marker() {
    let mut l1 = Tar::new();
    l1.dir("usr/share/doc")
        .file("usr/share/doc/lower1", "1")
        .file("usr/share/doc/sub/lower2", "2")
        .file("usr/share/other", "kept");
    let mut l2 = Tar::new();
    l2.dir("usr/share/doc")
        .file("usr/share/doc/before", "b")
        .file("usr/share/doc/.wh..wh..opq", "")
        .file("usr/share/doc/after", "a");
    let (o, _) = overlay(&[l1.finish(), l2.finish()]);
    assert_eq!(o.list("usr/share/doc"), vec!["after", "before"]);
    assert_eq!(text(&o, "usr/share/doc/lower1"), None);
    assert_eq!(o.node("usr/share/doc/sub"), None);
    assert_eq!(text(&o, "usr/share/other").as_deref(), Some("kept"));
    assert_eq!(o.node("usr/share/doc").unwrap().kind, NodeKind::Dir);
}

#[test]
fn opaque_directory_replacing_a_symlink_does_not_hide_the_symlink_target() {
    let mut l1 = Tar::new();
    l1.file("usr/lib/libc.so", "libc").symlink("lib", "usr/lib");
    let mut l2 = Tar::new();
    l2.dir("lib")
        .file("lib/.wh..wh..opq", "")
        .file("lib/new", "n");
    let (o, _) = overlay(&[l1.finish(), l2.finish()]);
    assert_eq!(text(&o, "usr/lib/libc.so").as_deref(), Some("libc"));
    assert_eq!(o.node("lib").unwrap().kind, NodeKind::Dir);
    assert_eq!(o.list("lib"), vec!["new"]);
}

#[test]
fn non_directory_replacing_a_directory_removes_its_descendants() {
    let mut l1 = Tar::new();
    l1.file("d/a", "a").file("d/b/c", "c").file("e/x", "x");
    let mut l2 = Tar::new();
    l2.file("d", "now a file").dir("e");
    let (o, _) = overlay(&[l1.finish(), l2.finish()]);
    assert_eq!(text(&o, "d").as_deref(), Some("now a file"));
    assert_eq!(o.paths().filter(|(p, _)| p.starts_with("d/")).count(), 0);
    assert_eq!(
        text(&o, "e/x").as_deref(),
        Some("x"),
        "dir over dir keeps contents"
    );
    assert_eq!(o.node("e").unwrap().layer_index, 1);
    assert_eq!(o.len(), 3); // d, e, e/x and nothing else
}

#[test]
fn symlink_chains_absolute_targets_and_escapes_stay_inside_the_root() {
    let mut t = Tar::new();
    t.file("etc/passwd", "root:x:0:0:image\n")
        .symlink("a", "b")
        .symlink("b", "c/../etc/./passwd")
        .symlink("abs", "/etc/passwd")
        .symlink("up", "../../../../../../etc/passwd")
        .symlink("usr/lib/escape", "../../../../../../etc")
        .symlink("lib", "/usr/lib")
        .symlink("loop1", "loop2")
        .symlink("loop2", "loop1")
        .symlink("self", "self/x");
    let (o, cs) = overlay(&[t.finish()]);
    let want = Some("root:x:0:0:image\n");
    for p in [
        "a",
        "b",
        "abs",
        "up",
        "lib/escape/passwd",
        "usr/lib/escape/passwd",
    ] {
        assert_eq!(text(&o, p).as_deref(), want, "overlay {p}");
    }
    assert_eq!(o.list("lib/escape"), vec!["passwd"]);
    for p in ["loop1", "self", "loop1/x"] {
        assert!(
            matches!(o.read(p), Err(ReadError::SymlinkLoop { .. })),
            "overlay {p}"
        );
    }
    assert_eq!(
        o.node("abs").unwrap().kind,
        NodeKind::Symlink("/etc/passwd".into())
    );
    let view = LayerView::new(&cs[0], &Limits::default());
    for p in ["a", "abs", "up", "lib/escape/passwd"] {
        assert_eq!(text(&view, p).as_deref(), want, "layer view {p}");
    }
    assert!(matches!(
        view.read("loop2"),
        Err(ReadError::SymlinkLoop { .. })
    ));
}

#[test]
fn entries_below_a_symlinked_parent_land_where_it_points() {
    // merged-/usr: lib -> usr/lib in the base, a later layer writes lib/x.
    let mut l1 = Tar::new();
    l1.dir("usr/lib").symlink("lib", "usr/lib");
    let mut l2 = Tar::new();
    l2.file("lib/libfoo.so", "foo").file("dangling/x", "y");
    let (o, _) = overlay(&[l1.finish(), l2.finish()]);
    assert_eq!(text(&o, "usr/lib/libfoo.so").as_deref(), Some("foo"));
    assert_eq!(text(&o, "lib/libfoo.so").as_deref(), Some("foo"));
    assert!(matches!(o.node("lib").unwrap().kind, NodeKind::Symlink(_)));
    assert_eq!(
        o.node("dangling").unwrap().kind,
        NodeKind::Dir,
        "implicit parent"
    );
}

#[test]
fn layer_view_sees_one_layer_only() {
    let mut l1 = Tar::new();
    l1.file("etc/os-release", "ID=base\n").file("etc/base", "b");
    let mut l2 = Tar::new();
    l2.file("etc/app", "a").symlink("etc/link", "base");
    let (o, cs) = overlay(&[l1.finish(), l2.finish()]);
    let v = LayerView::new(&cs[1], &Limits::default());
    assert_eq!(v.list("etc"), vec!["app", "link"]);
    assert_eq!(v.list(""), vec!["etc"]);
    assert_eq!(text(&v, "etc/os-release"), None);
    assert_eq!(text(&v, "etc/link"), None, "target is in another layer");
    assert_eq!(text(&o, "etc/link").as_deref(), Some("b"));
    assert_eq!(o.list("etc"), vec!["app", "base", "link", "os-release"]);
    assert_eq!(o.node("etc/app").unwrap().layer_index, 1);
}

#[test]
fn overlay_and_layer_share_content_bytes() {
    let mut t = Tar::new();
    t.file("var/lib/apk/db/installed", "P:musl\n");
    let (o, cs) = overlay(&[t.finish()]);
    let a = o
        .node("var/lib/apk/db/installed")
        .unwrap()
        .content
        .as_ref()
        .unwrap();
    let b = entry(&cs[0], "var/lib/apk/db/installed")
        .content
        .as_ref()
        .unwrap();
    assert!(Arc::ptr_eq(a, b));
}

// ---------------------------------------------------------------------------------------------------
// DirFs

#[cfg(unix)]
#[test]
fn dirfs_keeps_symlinks_inside_the_root() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::write(root.join("etc/passwd"), "image-passwd\n").unwrap();
    std::fs::write(tmp.path().join("secret"), "host secret\n").unwrap();
    symlink("/etc/passwd", root.join("abs")).unwrap();
    symlink("../../../../../../../etc/passwd", root.join("usr/lib/up")).unwrap();
    symlink("../secret", root.join("sibling")).unwrap();
    symlink("/etc/hostname", root.join("hostname")).unwrap();
    symlink("/", root.join("usr/lib/rootlink")).unwrap();
    symlink("l2", root.join("l1")).unwrap();
    symlink("l1", root.join("l2")).unwrap();
    std::fs::write(root.join("big"), vec![b'x'; 100]).unwrap();

    let fs = DirFs::new(
        &root,
        Limits {
            max_wanted_file: 50,
            ..Limits::default()
        },
    );
    let own = Some("image-passwd\n");
    assert_eq!(text(&fs, "abs").as_deref(), own);
    assert_eq!(text(&fs, "usr/lib/up").as_deref(), own);
    assert_eq!(text(&fs, "usr/lib/rootlink/etc/passwd").as_deref(), own);
    assert_eq!(text(&fs, "../../etc/passwd").as_deref(), own);
    assert_eq!(text(&fs, "sibling"), None, "../secret stops at the root");
    assert_eq!(
        text(&fs, "hostname"),
        None,
        "never the host's /etc/hostname"
    );
    assert_eq!(text(&fs, "etc"), None, "a directory is not a file");
    assert_eq!(text(&fs, "etc/passwd/x"), None);
    assert!(matches!(fs.read("l1"), Err(ReadError::SymlinkLoop { .. })));
    assert!(matches!(
        fs.read("big"),
        Err(ReadError::TooLarge {
            size: 100,
            limit: 50,
            ..
        })
    ));
    assert_eq!(fs.list("usr/lib/rootlink/etc"), vec!["passwd"]);
    assert_eq!(
        fs.list(""),
        vec!["abs", "big", "etc", "hostname", "l1", "l2", "sibling", "usr"]
    );
    assert_eq!(fs.list("nope"), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------------
// The real corpus image

#[test]
fn corpus_app_image_diff_ids_match_its_config() {
    let dir = std::path::Path::new("/work/corpus/oci");
    if !dir.join("index.json").exists() {
        eprintln!("skipped: /work/corpus/oci is absent");
        return;
    }
    let blob = |d: &str| {
        std::fs::read(
            dir.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
    };
    let json =
        |d: &str| -> serde_json::Value { serde_json::from_slice(&blob(d).unwrap()).unwrap() };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "app")
        .unwrap();
    let manifest = json(manifest["digest"].as_str().unwrap());
    let config = json(manifest["config"]["digest"].as_str().unwrap());
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());
    let wants = |p: &str| p.ends_with("os-release") || p.starts_with("var/lib/dpkg/status");
    let mut o = Overlay::default();
    for (i, (layer, diff_id)) in layers.iter().zip(diff_ids).enumerate() {
        let digest = layer["digest"].as_str().unwrap();
        let started = std::time::Instant::now();
        let file = std::fs::File::open(dir.join("blobs/sha256").join(&digest[7..])).unwrap();
        let c = read_layer(std::io::BufReader::new(file), &wants, &Limits::default()).unwrap();
        assert_eq!(c.blob_digest.0, digest, "layer {i}");
        assert_eq!(c.diff_id.0, diff_id.as_str().unwrap(), "layer {i}");
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "layer {i}: {} MB compressed, {} MB tar, {} entries in {secs:.2}s = {:.0} MB/s of tar",
            layer["size"].as_u64().unwrap() >> 20,
            c.uncompressed_size >> 20,
            c.entries.len(),
            c.uncompressed_size as f64 / 1e6 / secs
        );
        o.apply(i, &c);
    }
    let os = text(&o, "etc/os-release").unwrap();
    assert!(os.contains("ID="), "{os}");
    assert!(o.len() > 1000);
}
