//! The on-disk log: round trips, recovery from crash points, tampering, duplicates, proofs and
//! the tile-read bound.

use std::path::Path;

use attestor::merkle::{leaf_hash, root_of, verify_consistency, verify_inclusion, Hash};
use attestor::note::{open_checkpoint, NoteSigner};
use attestor::store::{Appended, LogStore, StoreError};
use attestor::tiles::{decode_entry_bundle, decode_tile, entries_path, tile_path};

const ORIGIN: &str = "log.test.example/store";

fn key() -> Vec<u8> {
    NoteSigner::generate(ORIGIN, &ring::rand::SystemRandom::new())
        .unwrap()
        .1
}

fn signer(pkcs8: &[u8]) -> NoteSigner {
    NoteSigner::from_pkcs8(ORIGIN, pkcs8).unwrap()
}

fn open(dir: &Path, pkcs8: &[u8]) -> Result<LogStore, StoreError> {
    LogStore::open(dir, signer(pkcs8), 0)
}

fn entry(i: u64) -> Vec<u8> {
    format!("entry number {i}").into_bytes()
}

fn batch(range: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    range.map(entry).collect()
}

/// Every historical checkpoint size of the test log, to check proofs between them.
fn check_all_proofs(store: &LogStore, all: &[Hash], sizes: &[u64]) {
    let size = store.size();
    assert_eq!(store.root(), root_of(all));
    for &s in sizes {
        let root_s = root_of(&all[..s as usize]);
        assert_eq!(store.root_at(s).unwrap(), root_s);
        for &s2 in sizes.iter().filter(|&&s2| s2 >= s && s > 0) {
            let p = store.consistency_proof(s, s2).unwrap();
            verify_consistency(s, s2, &root_s, &root_of(&all[..s2 as usize]), &p).unwrap();
        }
        if s > 0 {
            for i in [0, s / 2, s - 1] {
                let p = store.inclusion_proof(i, s).unwrap();
                verify_inclusion(i, s, &all[i as usize], &p, &root_s).unwrap();
            }
        }
    }
    for i in (0..size).step_by(97).chain([size - 1]) {
        let p = store.inclusion_proof(i, size).unwrap();
        verify_inclusion(i, size, &all[i as usize], &p, &store.root()).unwrap();
        assert_eq!(store.entry(i).unwrap(), entry(i));
    }
}

#[test]
fn round_trip_reopen_and_proofs_between_every_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    assert_eq!(store.size(), 0);
    let cp0 = open_checkpoint(store.checkpoint(), &signer(&k).verifier()).unwrap();
    assert_eq!((cp0.size, cp0.origin.as_str()), (0, ORIGIN));
    let mut all: Vec<Hash> = Vec::new();
    let mut sizes = vec![0u64];
    let mut next = 0u64;
    for n in [1u64, 1, 254, 1, 255, 256, 300, 3, 65536 - 1067, 1, 700] {
        let out = store.append_batch(&batch(next..next + n)).unwrap();
        for (j, a) in out.indices.iter().enumerate() {
            assert_eq!(*a, Appended::New(next + j as u64));
        }
        next += n;
        all = (0..next).map(|i| leaf_hash(&entry(i))).collect();
        assert_eq!(out.size, next);
        assert_eq!(out.root, root_of(&all));
        let cp = open_checkpoint(&out.checkpoint, &signer(&k).verifier()).unwrap();
        assert_eq!((cp.size, cp.root), (next, out.root));
        assert_eq!(
            store.read_static("checkpoint").unwrap().unwrap(),
            out.checkpoint.as_bytes()
        );
        sizes.push(next);
    }
    check_all_proofs(&store, &all, &sizes);
    // The dedup table grew several times on the way (from 768 entries): every entry is found.
    for (i, h) in all.iter().enumerate() {
        assert_eq!(store.lookup(h), Some(i as u64));
    }
    assert_eq!(store.lookup(&[0; 32]), None);
    // The static tree: tiles and bundles are what a C2SP client expects.
    let full0 = decode_tile(&store.read_static(&tile_path(0, 0, None)).unwrap().unwrap()).unwrap();
    assert_eq!(full0, all[..256]);
    let lvl1 = decode_tile(&store.read_static(&tile_path(1, 0, None)).unwrap().unwrap()).unwrap();
    assert_eq!(lvl1[3], root_of(&all[3 * 256..4 * 256]));
    let w = next % 256;
    let last = next / 256;
    let bundle = store
        .read_static(&entries_path(last, Some(w as u16)))
        .unwrap()
        .unwrap();
    assert_eq!(decode_entry_bundle(&bundle).unwrap().len() as u64, w);
    assert_eq!(
        store
            .read_static(&tile_path(0, last, Some(w as u16)))
            .unwrap()
            .map(|b| b.len()),
        Some(32 * w as usize)
    );
    assert_eq!(
        store.read_static(&tile_path(0, last, None)).unwrap(),
        None,
        "not full yet"
    );
    assert_eq!(
        store.read_static(&tile_path(0, last + 1, Some(1))).unwrap(),
        None
    );
    assert_eq!(store.read_static(&tile_path(2, 0, Some(2))).unwrap(), None);
    // Partials of tiles that are now full are gone, the full tile is there.
    assert!(!dir.path().join("tile/0/000.p").exists());
    for bad in [
        "../checkpoint",
        "tile/0/../../x",
        "tile/0/000/../001",
        "/etc/passwd",
        ".state/leaves",
        "tile/0/000.p/0",
        "",
    ] {
        assert!(store.read_static(bad).is_err(), "{bad:?}");
    }
    store.verify_full().unwrap();
    let root = store.root();
    let cp = store.checkpoint().to_owned();
    drop(store);
    let mut store = open(dir.path(), &k).unwrap();
    assert_eq!((store.size(), store.root()), (next, root));
    assert_eq!(store.checkpoint(), cp);
    let out = store.append_batch(&batch(next..next + 5)).unwrap();
    next += 5;
    all = (0..next).map(|i| leaf_hash(&entry(i))).collect();
    sizes.push(next);
    assert_eq!(out.root, root_of(&all));
    check_all_proofs(&store, &all, &sizes);
    // Wrong key: refuse.
    drop(store);
    assert!(matches!(
        open(dir.path(), &key()),
        Err(StoreError::Checkpoint { .. })
    ));
}

#[test]
fn duplicates_get_the_existing_index() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    store.append_batch(&batch(0..10)).unwrap();
    let out = store
        .append_batch(&[
            entry(3),
            entry(10),
            entry(3),
            entry(10),
            entry(11),
            entry(0),
        ])
        .unwrap();
    assert_eq!(
        out.indices,
        vec![
            Appended::Duplicate(3),
            Appended::New(10),
            Appended::Duplicate(3),
            Appended::Duplicate(10),
            Appended::New(11),
            Appended::Duplicate(0)
        ]
    );
    assert_eq!(out.size, 12);
    let cp = store.checkpoint().to_owned();
    let again = store.append_batch(&[entry(5)]).unwrap();
    assert_eq!(again.indices, vec![Appended::Duplicate(5)]);
    assert_eq!(again.checkpoint, cp, "nothing new, same checkpoint");
    assert_eq!(store.lookup(&leaf_hash(&entry(11))), Some(11));
    assert_eq!(store.lookup(&leaf_hash(&entry(12))), None);
    drop(store);
    let mut store = open(dir.path(), &k).unwrap();
    assert_eq!(store.lookup(&leaf_hash(&entry(7))), Some(7));
    assert_eq!(
        store.append_batch(&[entry(11)]).unwrap().indices,
        vec![Appended::Duplicate(11)]
    );
    assert!(store.append_batch(&[]).unwrap().indices.is_empty());
}

#[test]
fn oversized_entry_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    let err = store.append_batch(&[entry(0), vec![0; 65536]]).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::EntryTooLarge {
                position: 1,
                len: 65536
            }
        ),
        "{err}"
    );
    assert_eq!(store.size(), 0);
    store
        .append_batch(&[entry(0), vec![1; 65535], Vec::new()])
        .unwrap();
    assert_eq!(store.entry(1).unwrap().len(), 65535);
    assert_eq!(store.entry(2).unwrap(), Vec::<u8>::new());
}

/// Save what a crash before the checkpoint replace leaves behind: the old checkpoint and the
/// old dedup file (plus a torn tail), with every tile of the unacknowledged batch on disk.
struct Snapshot {
    checkpoint: Vec<u8>,
    leaves: Vec<u8>,
}

fn snapshot(dir: &Path) -> Snapshot {
    Snapshot {
        checkpoint: std::fs::read(dir.join("checkpoint")).unwrap(),
        leaves: std::fs::read(dir.join(".state/leaves")).unwrap(),
    }
}

fn crash_back_to(dir: &Path, s: &Snapshot, torn_tail: &[u8]) {
    std::fs::write(dir.join("checkpoint"), &s.checkpoint).unwrap();
    let mut l = s.leaves.clone();
    l.extend_from_slice(torn_tail);
    std::fs::write(dir.join(".state/leaves"), l).unwrap();
    std::fs::write(dir.join(".state/tmp/17.tmp"), b"half a tile").unwrap();
}

#[test]
fn crash_before_the_checkpoint_leaves_the_old_log_and_stale_files_never_surface() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    store.append_batch(&batch(0..5)).unwrap();
    let root5 = store.root();
    let snap = snapshot(dir.path());
    // An unacknowledged batch 5 -> 7: its tiles are on disk, the checkpoint is the old one.
    store
        .append_batch(&[b"ghost a".to_vec(), b"ghost b".to_vec()])
        .unwrap();
    drop(store);
    crash_back_to(dir.path(), &snap, &[0xAB; 45]);
    let store = open(dir.path(), &k).unwrap();
    assert_eq!((store.size(), store.root()), (5, root5));
    assert!(!dir.path().join(".state/tmp/17.tmp").exists());
    assert!(
        !dir.path().join("tile/0/000.p/7").exists(),
        "ghost partial removed"
    );
    assert!(
        !dir.path().join("tile/entries/000.p/7").exists(),
        "ghost bundle removed"
    );
    assert_eq!(
        std::fs::metadata(dir.path().join(".state/leaves"))
            .unwrap()
            .len(),
        5 * 32
    );
    assert_eq!(store.read_static("tile/0/000.p/7").unwrap(), None);
    drop(store);
    // Another one, 5 -> 605, that filled tiles 0 and 1 (ghost full tiles stay on disk).
    let mut store = open(dir.path(), &k).unwrap();
    store
        .append_batch(
            &(0..600)
                .map(|i| format!("ghost {i}").into_bytes())
                .collect::<Vec<_>>(),
        )
        .unwrap();
    drop(store);
    crash_back_to(dir.path(), &snap, &[0xCD; 31]);
    let mut store = open(dir.path(), &k).unwrap();
    assert_eq!((store.size(), store.root()), (5, root5));
    assert_eq!(
        store.read_static("tile/0/000").unwrap(),
        None,
        "ghost full tile not served"
    );
    // The ghost leaves are not duplicates: they were never acknowledged.
    assert_eq!(store.lookup(&leaf_hash(b"ghost a")), None);
    assert_eq!(store.lookup(&leaf_hash(b"ghost 7")), None);
    // Grow in steps that pass over the ghost partial widths (7 and 605 % 256 = 93).
    let mut next = 5;
    for n in [1u64, 9, 240, 400] {
        store.append_batch(&batch(next..next + n)).unwrap();
        next += n;
    }
    let all: Vec<Hash> = (0..next).map(|i| leaf_hash(&entry(i))).collect();
    assert_eq!(store.root(), root_of(&all));
    // No ghost content is served at any width a client might ask for.
    for w in 1..256u16 {
        if let Some(t) = store.read_static(&tile_path(0, 2, Some(w))).unwrap() {
            assert_eq!(decode_tile(&t).unwrap(), all[512..512 + w as usize]);
        }
    }
    store.verify_full().unwrap();
    check_all_proofs(&store, &all, &[5, next]);
    drop(store);
    let store = open(dir.path(), &k).unwrap();
    assert_eq!(store.root(), root_of(&all));
}

#[test]
fn a_dedup_file_that_lost_its_tail_is_rebuilt_from_the_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    store.append_batch(&batch(0..700)).unwrap();
    drop(store);
    let p = dir.path().join(".state/leaves");
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len(300 * 32 + 7).unwrap();
    drop(f);
    let mut store = open(dir.path(), &k).unwrap();
    assert_eq!(store.lookup(&leaf_hash(&entry(650))), Some(650));
    assert_eq!(
        store
            .append_batch(&[entry(699), entry(700)])
            .unwrap()
            .indices,
        vec![Appended::Duplicate(699), Appended::New(700)]
    );
}

#[test]
fn tampering_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    store.append_batch(&batch(0..600)).unwrap();
    drop(store);
    let flip = |rel: &str| {
        let p = dir.path().join(rel);
        let mut b = std::fs::read(&p).unwrap();
        b[10] ^= 1;
        std::fs::write(&p, b).unwrap();
    };
    // Right edge partial tile (600 = 2 * 256 + 88): open refuses.
    flip("tile/0/002.p/88");
    assert!(matches!(
        open(dir.path(), &k),
        Err(StoreError::Tampered { .. })
    ));
    flip("tile/0/002.p/88");
    open(dir.path(), &k).unwrap();
    // The partial entry bundle: open refuses.
    flip("tile/entries/002.p/88");
    assert!(matches!(
        open(dir.path(), &k),
        Err(StoreError::Tampered { .. })
    ));
    flip("tile/entries/002.p/88");
    // The dedup file: open refuses.
    flip(".state/leaves");
    assert!(matches!(
        open(dir.path(), &k),
        Err(StoreError::Tampered { .. })
    ));
    flip(".state/leaves");
    // An interior full tile: not on the right edge, so only the full check sees it.
    flip("tile/0/000");
    let store = open(dir.path(), &k).unwrap();
    assert!(matches!(
        store.verify_full(),
        Err(StoreError::Tampered { .. })
    ));
    flip("tile/0/000");
    store.verify_full().unwrap();
    flip("tile/entries/001");
    assert!(matches!(
        store.verify_full(),
        Err(StoreError::Tampered { .. })
    ));
    flip("tile/entries/001");
    drop(store);
    // A missing covered tile: open refuses.
    std::fs::rename(dir.path().join("tile/0/001"), dir.path().join("moved")).unwrap();
    assert!(matches!(
        open(dir.path(), &k),
        Err(StoreError::Tampered { .. })
    ));
    std::fs::rename(dir.path().join("moved"), dir.path().join("tile/0/001")).unwrap();
    // A checkpoint edited by hand: open refuses.
    let cp = std::fs::read_to_string(dir.path().join("checkpoint")).unwrap();
    std::fs::write(
        dir.path().join("checkpoint"),
        cp.replace("\n600\n", "\n599\n"),
    )
    .unwrap();
    assert!(matches!(
        open(dir.path(), &k),
        Err(StoreError::Checkpoint { .. })
    ));
    // No checkpoint at all, but tiles: refuse rather than start a new log over them.
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    assert!(matches!(
        open(dir.path(), &k),
        Err(StoreError::MissingCheckpoint { .. })
    ));
}

#[test]
fn proofs_read_only_a_logarithmic_number_of_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    let total = 300_000u64;
    let mut next = 0;
    while next < total {
        let n = 60_000.min(total - next);
        store.append_batch(&batch(next..next + n)).unwrap();
        next += n;
    }
    let root = store.root();
    let mut s = 0x1234_5678_9abc_def1u64;
    let mut rnd = move |m: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % m
    };
    // 300k leaves: tile levels 0, 1 and 2. A proof touches at most two tiles per level for
    // the path and the right edge, plus the partial ones.
    let tile_levels = 3; // 300k < 2^24
    let bound = 2 * tile_levels;
    let mut worst = 0;
    for _ in 0..300 {
        let size = 1 + rnd(total);
        let index = rnd(size);
        let before = store.tile_reads();
        let p = store.inclusion_proof(index, size).unwrap();
        worst = worst.max(store.tile_reads() - before);
        let before = store.tile_reads();
        let size1 = 1 + rnd(size);
        let c = store.consistency_proof(size1, total).unwrap();
        worst = worst.max(store.tile_reads() - before);
        if size == total {
            verify_inclusion(index, size, &leaf_hash(&entry(index)), &p, &root).unwrap();
        }
        let root1 = store.root_at(size1).unwrap();
        verify_consistency(size1, total, &root1, &root, &c).unwrap();
    }
    eprintln!("worst tile reads per proof at 300k entries: {worst}");
    assert!(worst <= bound, "a proof read {worst} tiles");
    let p = store.inclusion_proof(123_456, total).unwrap();
    verify_inclusion(123_456, total, &leaf_hash(&entry(123_456)), &p, &root).unwrap();
    // Three tile levels on disk: reopen (right edge from a level-2 partial tile), full check,
    // and carry on.
    store.verify_full().unwrap();
    drop(store);
    let mut store = open(dir.path(), &k).unwrap();
    assert_eq!((store.size(), store.root()), (total, root));
    for i in (0..total).step_by(7919) {
        assert_eq!(store.lookup(&leaf_hash(&entry(i))), Some(i));
    }
    assert_eq!(store.lookup(&leaf_hash(&entry(total))), None);
    let out = store.append_batch(&batch(total..total + 1000)).unwrap();
    let p = store.consistency_proof(total, out.size).unwrap();
    verify_consistency(total, out.size, &root, &out.root, &p).unwrap();
}

#[test]
fn the_store_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LogStore>();
}

/// Child half of `acknowledged_batches_survive_kill_9`: appends until killed, printing each
/// acknowledged size. Does nothing when run as an ordinary test.
#[test]
fn crash_child() {
    let (Some(dir), Some(k)) = (
        std::env::var_os("TLOG_CRASH_CHILD_DIR"),
        std::env::var("TLOG_CRASH_CHILD_KEY").ok(),
    ) else {
        return;
    };
    let k: Vec<u8> = (0..k.len() / 2)
        .map(|i| u8::from_str_radix(&k[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut store = open(Path::new(&dir), &k).unwrap();
    let mut next = store.size();
    loop {
        let n = 1 + next % 300;
        let out = store.append_batch(&batch(next..next + n)).unwrap();
        next = out.size;
        use std::io::Write as _;
        let mut so = std::io::stdout().lock();
        writeln!(so, "acked {}", out.size).unwrap();
        so.flush().unwrap();
    }
}

#[test]
fn acknowledged_batches_survive_kill_9() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let hex: String = k.iter().map(|b| format!("{b:02x}")).collect();
    let mut acked = 0u64;
    for round in 0..8u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "store::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TLOG_CRASH_CHILD_DIR", dir.path())
            .env("TLOG_CRASH_CHILD_KEY", &hex)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("acked ") {
                    let _ = tx.send(n.parse::<u64>().unwrap());
                }
            }
        });
        // Wait for some progress, then kill at a varying moment.
        let first = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
        acked = acked.max(first);
        std::thread::sleep(std::time::Duration::from_millis(20 + 31 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        acked = rx.try_iter().fold(acked, u64::max);
        let store = open(dir.path(), &k).unwrap();
        assert!(
            store.size() >= acked,
            "round {round}: size {} < acknowledged {acked}",
            store.size()
        );
        let all: Vec<Hash> = (0..store.size()).map(|i| leaf_hash(&entry(i))).collect();
        assert_eq!(store.root(), root_of(&all), "round {round}");
        store.verify_full().unwrap();
        eprintln!(
            "kill -9 round {round}: acknowledged {acked}, recovered {}",
            store.size()
        );
        acked = store.size();
    }
    assert!(acked > 0);
}

#[test]
fn requests_outside_the_log_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    assert!(store.inclusion_proof(0, 0).is_err());
    assert!(store.entry(0).is_err());
    store.append_batch(&batch(0..5)).unwrap();
    assert_eq!(store.signer().name(), ORIGIN);
    for (i, s) in [(5, 5), (0, 6), (u64::MAX, u64::MAX), (4, 3)] {
        assert!(store.inclusion_proof(i, s).is_err(), "{i} {s}");
    }
    for (a, b) in [(0, 5), (3, 2), (1, 6), (u64::MAX, u64::MAX), (6, 6)] {
        assert!(store.consistency_proof(a, b).is_err(), "{a} {b}");
    }
    assert!(store.entry(5).is_err());
    assert!(store.entry(u64::MAX).is_err());
    assert!(store.root_at(6).is_err());
    assert_eq!(store.consistency_proof(5, 5).unwrap(), Vec::<Hash>::new());
    for p in [
        "tile/63/x018/x446/x744/x073/x709/x551/615",
        "tile/entries/x018/x446/x744/x073/x709/x551/615.p/255",
        "tile/0/000",
    ] {
        assert_eq!(store.read_static(p).unwrap(), None, "{p}");
    }
}

#[test]
fn a_failed_batch_changes_nothing_and_the_next_one_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    store.append_batch(&batch(0..5)).unwrap();
    let (root5, cp5) = (store.root(), store.checkpoint().to_owned());
    // A directory where the batch's partial tile must go: the rename fails, even for root.
    let blocker = dir.path().join("tile/0/000.p/7");
    std::fs::create_dir_all(&blocker).unwrap();
    let err = store.append_batch(&batch(5..7)).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert_eq!((store.size(), store.root()), (5, root5));
    assert_eq!(store.checkpoint(), cp5);
    assert_eq!(
        store.read_static("checkpoint").unwrap().unwrap(),
        cp5.as_bytes()
    );
    assert_eq!(store.lookup(&leaf_hash(&entry(5))), None);
    std::fs::remove_dir(&blocker).unwrap();
    let out = store.append_batch(&batch(5..9)).unwrap();
    let all: Vec<Hash> = (0..9).map(|i| leaf_hash(&entry(i))).collect();
    assert_eq!((out.size, out.root), (9, root_of(&all)));
    store.verify_full().unwrap();
    drop(store);
    assert_eq!(open(dir.path(), &k).unwrap().root(), root_of(&all));
}

#[test]
fn batch_proofs_equal_single_proofs_and_read_each_tile_once() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    let mut store = open(dir.path(), &k).unwrap();
    store.append_batch(&batch(0..70_000)).unwrap();
    let out = store.append_batch(&batch(70_000..70_600)).unwrap();
    let indices: Vec<u64> = out.indices.iter().map(|a| a.index()).collect();
    let before = store.tile_reads();
    let together = store.inclusion_proofs(&indices, out.size).unwrap();
    let shared_reads = store.tile_reads() - before;
    let all: Vec<Hash> = (0..out.size).map(|i| leaf_hash(&entry(i))).collect();
    for (i, proof) in indices.iter().zip(&together) {
        assert_eq!(proof, &store.inclusion_proof(*i, out.size).unwrap());
        verify_inclusion(*i, out.size, &all[*i as usize], proof, &out.root).unwrap();
    }
    assert!(
        shared_reads <= 12,
        "600 proofs on the right edge read {shared_reads} tiles"
    );
}
