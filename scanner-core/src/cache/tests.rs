#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::layer::read_layer_with;
use crate::scan::{scan_layers, scan_layers_cached, LayerInput, ScanOptions};

/// One tar entry of a synthetic layer.
#[derive(Clone, Debug)]
enum T {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
}

fn tar_of(entries: &[T]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let (path, data): (&str, &[u8]) = match e {
            T::File(p, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (p, d)
            }
            T::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (p, &[])
            }
            T::Symlink(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_link_name(t).unwrap();
                (p, &[])
            }
            T::Hardlink(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_link_name(t).unwrap();
                (p, &[])
            }
        };
        h.set_path(path).unwrap();
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(tar).unwrap();
    e.finish().unwrap()
}

/// A layer input over bytes in memory, with the digests an image would state; `blob: None` makes
/// opening it fail (a warm scan must not open it).
fn input(blob: Option<Vec<u8>>, digest: Digest, diff_id: Digest) -> LayerInput<'static> {
    LayerInput {
        expected_digest: Some(digest),
        expected_diff_id: Some(diff_id),
        media_type: None,
        size: None,
        created_by: None,
        open: Box::new(move || match &blob {
            Some(b) => Ok(Box::new(std::io::Cursor::new(b.clone())) as Box<dyn Read + Send>),
            None => Err(std::io::Error::other("the blob was opened")),
        }),
    }
}

/// (blob, blob digest, diffID) of each layer.
type Stack = Vec<(Vec<u8>, Digest, Digest)>;

fn stack(layers: &[Vec<T>], gz: &[bool]) -> Stack {
    layers
        .iter()
        .enumerate()
        .map(|(i, entries)| {
            let tar = tar_of(entries);
            let diff_id = Digest::sha256_of(&tar);
            let blob = if gz.get(i).copied().unwrap_or(false) {
                gzip(&tar)
            } else {
                tar
            };
            (blob.clone(), Digest::sha256_of(&blob), diff_id)
        })
        .collect()
}

fn inputs(s: &Stack, readable: bool) -> Vec<LayerInput<'static>> {
    s.iter()
        .map(|(b, d, id)| input(readable.then(|| b.clone()), d.clone(), id.clone()))
        .collect()
}

fn opts() -> ScanOptions {
    ScanOptions {
        threads: 2,
        ..ScanOptions::default()
    }
}

fn dpkg(pkgs: &[(&str, &str)]) -> Vec<u8> {
    pkgs.iter()
        .map(|(n, v)| {
            format!(
                "Package: {n}\nStatus: install ok installed\nVersion: {v}\nArchitecture: amd64\n\n"
            )
        })
        .collect::<String>()
        .into_bytes()
}

fn read(entries: &[T]) -> LayerChanges {
    let tar = tar_of(entries);
    read_layer_with(
        std::io::Cursor::new(tar),
        &|p: &str| crate::analyzers::wants(p),
        &crate::lang::Standard,
        &Limits::default(),
    )
    .unwrap()
}

fn sample() -> LayerChanges {
    read(&[
        T::Dir("var/lib/dpkg".into()),
        T::File(
            "var/lib/dpkg/status".into(),
            dpkg(&[("base-files", "12.4"), ("bash", "5.2-1")]),
        ),
        T::Hardlink(
            "var/lib/dpkg/status-old".into(),
            "var/lib/dpkg/status".into(),
        ),
        T::Symlink("bin".into(), "usr/bin".into()),
        T::File("etc/.wh.motd".into(), Vec::new()),
        T::File("opt/.wh..wh..opq".into(), Vec::new()),
        T::File(
            "etc/os-release".into(),
            b"ID=debian\nVERSION_ID=\"12\"\n".to_vec(),
        ),
    ])
}

static TICK: AtomicU64 = AtomicU64::new(0);

/// A clock that moves one second per call, so access order is strict.
fn ticking() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000 + TICK.fetch_add(1, Ordering::Relaxed))
}

fn open(dir: &Path, max: u64) -> DiskCache {
    DiskCache::open(dir, max).unwrap().with_clock(ticking)
}

fn entry_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn cache_encode_decode_round_trips_losslessly() {
    let changes = sample();
    assert!(changes
        .entries
        .iter()
        .any(|c| matches!(c, Change::Entry(e) if matches!(e.kind, EntryKind::Hardlink(_)))));
    let mut digests = BTreeMap::new();
    digests.insert("usr/bin/x".to_owned(), Some(Digest::sha256_of(b"x")));
    digests.insert("usr/bin/y".to_owned(), None);
    let layer = CachedLayer {
        changes: LayerChanges {
            blob_digest: Digest(String::new()),
            ..changes
        },
        digests,
        identities: BTreeSet::from([(
            Some(crate::model::PackageKind::Deb),
            None,
            "bash".to_owned(),
            "5.2-1".to_owned(),
            None,
            None,
        )]),
        blobs: BTreeSet::from([Digest::sha256_of(b"blob")]),
    };
    let k = key(&layer.changes.diff_id, &Limits::default());
    let bytes = encode(&k, &layer);
    let back = decode(&bytes, &k, &layer.changes.diff_id, &Limits::default()).unwrap();
    assert_eq!(back, layer);
    // Another key or layer refuses the entry.
    assert!(matches!(
        decode(&bytes, "other", &layer.changes.diff_id, &Limits::default()),
        Err(CacheError::WrongKey)
    ));
    assert!(matches!(
        decode(&bytes, &k, &Digest::sha256_of(b"x"), &Limits::default()),
        Err(CacheError::WrongKey)
    ));
    assert!(decode(b"not zstd", &k, &layer.changes.diff_id, &Limits::default()).is_err());
}

#[test]
fn cache_decode_refuses_hostile_entries() {
    let d = Digest::sha256_of(b"layer");
    let k = "k";
    for (bad, why) in [
        (
            r#"{"t":"e","p":"../etc","k":"dir","m":493,"s":0}"#,
            "normalised",
        ),
        (r#"{"t":"e","p":"etc","k":"dir","m":99999,"s":0}"#, "mode"),
        (
            r#"{"t":"e","p":"a","k":"symlink","m":511,"s":0}"#,
            "link target",
        ),
        (
            r#"{"t":"e","p":"a","k":"hardlink","l":"/abs","m":420,"s":0}"#,
            "normalised",
        ),
        (
            r#"{"t":"e","p":"a","k":"file","m":420,"s":1,"c":"!!"}"#,
            "base64",
        ),
        (
            r#"{"t":"e","p":"a","k":"dir","m":493,"s":1,"c":"YQ=="}"#,
            "not a file",
        ),
        (r#"{"t":"w","p":""}"#, "empty"),
    ] {
        let doc = format!(
            r#"{{"format":"{FORMAT}","key":"{k}","diff_id":"{}","uncompressed_size":0,"identities":[],"entries":[{bad}]}}"#,
            d.0
        );
        let z = zstd::bulk::compress(doc.as_bytes(), 1).unwrap();
        let e = decode(&z, k, &d, &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn cache_put_get_round_trip_and_miss() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1 << 20);
    assert_eq!(c.get("a"), None);
    c.put("a", b"payload");
    assert_eq!(c.get("a").as_deref(), Some(&b"payload"[..]));
    // A key that is not a plain name is never a path.
    c.put("../escape", b"x");
    assert_eq!(c.get("../escape"), None);
    assert!(!dir.path().join("../escape.entry").exists());
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.writes, s.corrupt), (1, 2, 1, 0));
    // No temporary files are left behind.
    assert_eq!(entry_files(dir.path()), vec!["a.entry".to_owned()]);
}

#[test]
fn cache_evicts_least_recently_used_under_the_size_bound() {
    let dir = tempfile::tempdir().unwrap();
    let one = HEADER_LEN as u64 + 100;
    let c = open(dir.path(), 3 * one);
    c.put("a", &[1u8; 100]);
    c.put("b", &[2u8; 100]);
    c.put("c", &[3u8; 100]);
    assert!(c.get("a").is_some(), "a is now the most recently used");
    c.put("d", &[4u8; 100]);
    assert_eq!(c.get("b"), None, "b was the least recently used");
    assert!(c.get("a").is_some());
    assert!(c.get("c").is_some());
    assert!(c.get("d").is_some());
    assert_eq!(c.stats().evicted, 1);
    let total: u64 = entry_files(dir.path())
        .iter()
        .map(|n| fs::metadata(dir.path().join(n)).unwrap().len())
        .sum();
    assert!(total <= 3 * one, "{total}");
    // An entry larger than the whole cache is not stored.
    c.put("huge", &[0u8; 500]);
    assert_eq!(c.get("huge"), None);
}

#[test]
fn cache_detects_a_flipped_byte_and_deletes_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1 << 20);
    for at in [0usize, HEADER_LEN - 1, HEADER_LEN + 3] {
        c.put("k", b"some payload bytes");
        let path = dir.path().join("k.entry");
        let mut raw = fs::read(&path).unwrap();
        raw[at] ^= 0x01;
        fs::write(&path, &raw).unwrap();
        assert_eq!(c.get("k"), None, "byte {at}");
        assert!(!path.exists(), "the corrupt entry is deleted");
    }
    assert_eq!(c.stats().corrupt, 3);
    let w = c.take_warnings();
    assert_eq!(w.len(), 3);
    assert!(w.iter().all(|m| m.contains("corrupt")), "{w:?}");
}

#[test]
fn cache_detects_a_truncated_entry() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1 << 20);
    for keep in [0usize, 5, HEADER_LEN, HEADER_LEN + 4] {
        c.put("k", b"some payload bytes");
        let path = dir.path().join("k.entry");
        let raw = fs::read(&path).unwrap();
        fs::write(&path, &raw[..keep]).unwrap();
        assert_eq!(c.get("k"), None, "kept {keep}");
        assert!(!path.exists());
    }
    assert_eq!(c.stats().corrupt, 4);
}

#[test]
fn cache_key_of_another_analyzer_version_misses() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1 << 20);
    let d = Digest::sha256_of(b"layer");
    let lim = Limits::default();
    let old = key_with_version(&d, &lim, "0.0.1+1");
    assert_ne!(old, key(&d, &lim));
    assert_eq!(
        key(&d, &lim),
        key_with_version(&d, &lim, &analyzer_version())
    );
    // Limits shape what a layer keeps: they are part of the key too.
    let small = Limits {
        max_wanted_file: 1,
        ..Limits::default()
    };
    assert_ne!(key(&d, &small), key(&d, &lim));
    c.put(&old, b"old");
    assert_eq!(c.get(&key(&d, &lim)), None);
}

#[test]
fn cache_concurrent_writers_of_one_key_leave_a_valid_entry() {
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 64 << 10]).collect();
    let all = &payloads;
    std::thread::scope(|s| {
        for p in all {
            let dir = dir.path();
            s.spawn(move || {
                let c = DiskCache::open(dir, 64 << 20).unwrap();
                for _ in 0..10 {
                    c.put("same", p);
                    if let Some(got) = c.get("same") {
                        assert!(all.contains(&got), "a torn entry");
                    }
                }
                assert_eq!(c.stats().corrupt, 0);
            });
        }
    });
    let c = open(dir.path(), 64 << 20);
    let got = c.get("same").unwrap();
    assert!(payloads.contains(&got));
    assert_eq!(entry_files(dir.path()), vec!["same.entry".to_owned()]);
}

#[test]
fn cache_dir_that_cannot_be_created_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    assert!(DiskCache::open(&file.join("cache"), 1 << 20).is_err());
}

#[test]
fn cache_warm_scan_reads_no_blob_and_matches_the_cold_scan() {
    let s = stack(
        &[
            sample_entries(),
            vec![T::File(
                "var/lib/dpkg/status".into(),
                dpkg(&[("base-files", "12.5")]),
            )],
        ],
        &[true, false],
    );
    let cold = scan_layers(&inputs(&s, true), &opts(), &|_, _| {}).unwrap();
    assert!(!cold.inventory.packages.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1 << 30);
    let first = scan_layers_cached(&inputs(&s, true), &opts(), Some(&c), &|_, _| {}).unwrap();
    assert_eq!(first, cold);
    assert_eq!(c.stats().writes, 2);
    let warm = scan_layers_cached(&inputs(&s, false), &opts(), Some(&c), &|_, _| {}).unwrap();
    assert_eq!(warm, cold);
    assert_eq!(c.stats().hits, 2);

    // A payload that passes the frame check but does not decode: deleted, warned, read again.
    let k = key(&s[0].2, &opts().limits);
    c.put(&k, b"garbage");
    let again = scan_layers_cached(&inputs(&s, true), &opts(), Some(&c), &|_, _| {}).unwrap();
    assert_eq!(again, cold);
    assert!(c.take_warnings().iter().any(|w| w.contains("unusable")));
    // …and stored again, good.
    let warm = scan_layers_cached(&inputs(&s, false), &opts(), Some(&c), &|_, _| {}).unwrap();
    assert_eq!(warm, cold);

    // A cached entry is only used for the diffID the config declares: a config naming another
    // diffID for the same blob does not get the cached layer, the read fails the diffID check.
    let mut lying = inputs(&s, true);
    lying[1].expected_diff_id = Some(s[0].2.clone());
    let e = scan_layers_cached(&lying, &opts(), Some(&c), &|_, _| {});
    assert!(e.is_err(), "the wrong layer was taken from the cache");
}

fn sample_entries() -> Vec<T> {
    vec![
        T::Dir("var/lib/dpkg".into()),
        T::File(
            "var/lib/dpkg/status".into(),
            dpkg(&[("base-files", "12.4"), ("bash", "5.2-1")]),
        ),
        T::File(
            "etc/os-release".into(),
            b"ID=debian\nVERSION_ID=\"12\"\n".to_vec(),
        ),
    ]
}

/// xorshift64*: a seeded, dependency-free generator for the property test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A random layer: OS release, dpkg databases (rewritten or whited out by later layers), npm
/// packages, plain files, symlinks, hardlinks, whiteouts and opaque directories.
fn random_layer(r: &mut Rng, index: usize) -> Vec<T> {
    let mut out = Vec::new();
    let names = ["base-files", "bash", "libc6", "zlib1g", "tzdata"];
    if r.chance(60) {
        out.push(T::Dir("var/lib/dpkg".into()));
        let mut pkgs: Vec<(&str, String)> = Vec::new();
        for n in names {
            if r.chance(50) {
                pkgs.push((n, format!("1.{}-{}", r.below(3), index)));
            }
        }
        let pkgs: Vec<(&str, &str)> = pkgs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        out.push(T::File("var/lib/dpkg/status".into(), dpkg(&pkgs)));
        for (n, _) in &pkgs {
            out.push(T::File(
                format!("var/lib/dpkg/info/{n}.list"),
                format!("/usr/share/doc/{n}\n").into_bytes(),
            ));
        }
    }
    if r.chance(30) {
        let v = r.below(3);
        out.push(T::File(
            "etc/os-release".into(),
            format!("ID=debian\nVERSION_ID=\"1{v}\"\n").into_bytes(),
        ));
    }
    for _ in 0..r.below(4) {
        let p = r.below(4);
        out.push(T::File(
            format!("usr/lib/node_modules/p{p}/package.json"),
            format!(r#"{{"name":"p{p}","version":"{}.0.{index}"}}"#, r.below(3)).into_bytes(),
        ));
    }
    for _ in 0..r.below(4) {
        let f = r.below(5);
        out.push(T::File(
            format!("opt/app/f{f}"),
            format!("data {}", r.next()).into_bytes(),
        ));
    }
    if r.chance(25) {
        out.push(T::Hardlink(
            "opt/app/hl".into(),
            "var/lib/dpkg/status".into(),
        ));
    }
    if r.chance(25) {
        out.push(T::Symlink("bin".into(), "usr/bin".into()));
    }
    if r.chance(20) {
        out.push(T::Symlink("opt/app/link".into(), "../../usr/lib".into()));
    }
    if index > 0 {
        if r.chance(25) {
            out.push(T::File("var/lib/dpkg/.wh.status".into(), Vec::new()));
        }
        if r.chance(25) {
            out.push(T::File(
                format!("usr/lib/node_modules/.wh.p{}", r.below(4)),
                Vec::new(),
            ));
        }
        if r.chance(20) {
            out.push(T::File(
                "usr/lib/node_modules/.wh..wh..opq".into(),
                Vec::new(),
            ));
        }
        if r.chance(15) {
            out.push(T::File("opt/.wh..wh..opq".into(), Vec::new()));
        }
        if r.chance(10) {
            out.push(T::File(".wh.etc".into(), Vec::new()));
        }
    }
    out
}

#[test]
fn cache_property_warm_scans_equal_cold_scans_for_random_stacks() {
    let mut r = Rng(0x5EED_CAFE_F00D_BEEF);
    let dir = tempfile::tempdir().unwrap();
    // One cache for every case: stacks share layers, as images share bases.
    let c = DiskCache::open(dir.path(), 1 << 30).unwrap();
    let cases = 200;
    let mut hits_before = 0;
    for case in 0..cases {
        let n = 1 + r.below(4) as usize;
        let layers: Vec<Vec<T>> = (0..n).map(|i| random_layer(&mut r, i)).collect();
        let gz: Vec<bool> = (0..n).map(|_| r.chance(50)).collect();
        let s = stack(&layers, &gz);
        let cold = scan_layers(&inputs(&s, true), &opts(), &|_, _| {})
            .unwrap_or_else(|e| panic!("case {case}: cold scan failed: {e}\n{layers:?}"));
        let first = scan_layers_cached(&inputs(&s, true), &opts(), Some(&c), &|_, _| {}).unwrap();
        assert_eq!(first, cold, "case {case}: cold with cache\n{layers:?}");
        let warm = scan_layers_cached(&inputs(&s, false), &opts(), Some(&c), &|_, _| {})
            .unwrap_or_else(|e| panic!("case {case}: warm scan opened a blob: {e}\n{layers:?}"));
        assert_eq!(warm, cold, "case {case}: warm differs\n{layers:?}");
        let hits = c.stats().hits;
        assert!(hits >= hits_before + n as u64, "case {case}: not all hits");
        hits_before = hits;
    }
    assert_eq!(c.stats().corrupt, 0);
    assert!(c.take_warnings().is_empty());
}

#[test]
fn cache_serves_only_blobs_seen_to_hold_the_layer_and_learns_recompressed_ones() {
    let gz = stack(&[sample_entries()], &[true]);
    let plain = stack(&[sample_entries()], &[false]);
    assert_eq!(gz[0].2, plain[0].2, "one layer, two blobs");
    assert_ne!(gz[0].1, plain[0].1);
    let cold = scan_layers(&inputs(&gz, true), &opts(), &|_, _| {}).unwrap();
    let cold_plain = scan_layers(&inputs(&plain, true), &opts(), &|_, _| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1 << 30);
    scan_layers_cached(&inputs(&gz, true), &opts(), Some(&c), &|_, _| {}).unwrap();
    // The uncompressed blob was never seen: it is read (and must be readable).
    assert!(scan_layers_cached(&inputs(&plain, false), &opts(), Some(&c), &|_, _| {}).is_err());
    let got = scan_layers_cached(&inputs(&plain, true), &opts(), Some(&c), &|_, _| {}).unwrap();
    assert_eq!(got, cold_plain);
    // Now both blobs are known and neither is opened.
    let a = scan_layers_cached(&inputs(&gz, false), &opts(), Some(&c), &|_, _| {}).unwrap();
    let b = scan_layers_cached(&inputs(&plain, false), &opts(), Some(&c), &|_, _| {}).unwrap();
    assert_eq!((a, b), (cold, cold_plain));
}

#[test]
fn cache_keeps_the_digests_of_unowned_binaries_so_a_warm_scan_needs_no_blob() {
    // A real ELF file that no package owns: its SHA-256 is computed by re-reading its layer.
    let Ok(elf) = fs::read("/bin/true") else {
        eprintln!("skipped: no /bin/true");
        return;
    };
    let s = stack(
        &[
            sample_entries(),
            vec![T::File("usr/local/bin/tool".into(), elf)],
        ],
        &[true, true],
    );
    let cold = scan_layers(&inputs(&s, true), &opts(), &|_, _| {}).unwrap();
    let bin = cold
        .inventory
        .packages
        .iter()
        .find(|p| p.found_in == "/usr/local/bin/tool")
        .expect("the unowned binary is a component");
    assert!(
        bin.checksums.iter().any(|c| c.algorithm == "SHA-256"),
        "{bin:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), 1 << 30);
    let first = scan_layers_cached(&inputs(&s, true), &opts(), Some(&c), &|_, _| {}).unwrap();
    assert_eq!(first, cold);
    let warm = scan_layers_cached(&inputs(&s, false), &opts(), Some(&c), &|_, _| {})
        .expect("the warm scan re-read a blob for a binary's digest");
    assert_eq!(warm, cold);
}
