//! One fixture folder per attack (`tests/fixtures/<attack>/{client,repo}`), made by the generator
//! below from fixed keys and dates. Each is rejected with its own error; `valid` is accepted.
//! Regenerate with `cargo test -p stella-tuf --test attacks -- --ignored regenerate_fixtures`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::json;
use stella_tuf::repository::meta_entry;
use stella_tuf::{Error, LocalDirFetcher, SigningKey, Updater};

const TRUSTED_ROOT: &[u8] =
    br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#;
const REKOR_KEY: &[u8] =
    b"-----BEGIN PUBLIC KEY-----\nnot a real key, just bytes\n-----END PUBLIC KEY-----\n";

type Files = BTreeMap<String, Vec<u8>>;

struct Keys {
    r1: SigningKey,
    r2: SigningKey,
    r3: SigningKey,
    r4: SigningKey,
    targets: SigningKey,
    snapshot: SigningKey,
    ts1: SigningKey,
    ts2: SigningKey,
}

fn keys() -> Keys {
    Keys {
        r1: key(1),
        r2: key(2),
        r3: key(3),
        r4: key(4),
        targets: key(10),
        snapshot: key(11),
        ts1: key(12),
        ts2: key(13),
    }
}

/// Root v1: root keys r1, r2, r3 with threshold 2; timestamp key ts1.
fn root_v1(k: &Keys) -> Vec<u8> {
    let s = root_signed(
        1,
        FUTURE,
        &[&k.r1, &k.r2, &k.r3],
        2,
        &k.targets,
        &k.snapshot,
        &k.ts1,
    );
    signed_bytes(&s, &[&k.r1, &k.r2, &k.r3])
}

/// Publishes targets v`tv`, snapshot v`sv` and timestamp v`tsv` (signed by `ts`) into `repo`.
fn publish(repo: &mut Files, k: &Keys, ts: &SigningKey, tv: u64, sv: u64, tsv: u64) {
    let files: [(&str, &[u8]); 2] = [
        ("trusted_root.json", TRUSTED_ROOT),
        ("rekor-key-v1.pub", REKOR_KEY),
    ];
    let targets = signed_bytes(&targets_signed(tv, FUTURE, &files), &[&k.targets]);
    let snapshot = signed_bytes(
        &snapshot_signed(sv, FUTURE, meta_entry(&targets, tv)),
        &[&k.snapshot],
    );
    let timestamp = signed_bytes(&timestamp_signed(tsv, FUTURE, &snapshot, sv), &[ts]);
    for (name, bytes) in files {
        repo.insert(
            format!("targets/{}.{name}", sha256_hex(bytes)),
            bytes.to_vec(),
        );
    }
    repo.insert(format!("{tv}.targets.json"), targets);
    repo.insert(format!("{sv}.snapshot.json"), snapshot);
    repo.insert("timestamp.json".into(), timestamp);
}

fn base(k: &Keys) -> (Files, Files) {
    let mut client = Files::new();
    client.insert("metadata/root.json".into(), root_v1(k));
    let mut repo = Files::new();
    repo.insert("1.root.json".into(), root_v1(k));
    publish(&mut repo, k, &k.ts1, 1, 1, 1);
    (client, repo)
}

/// Every fixture: name → (client cache, served repository).
fn generate() -> BTreeMap<&'static str, (Files, Files)> {
    let k = keys();
    let mut out = BTreeMap::new();

    // valid: root 1 → 2 (revokes r1, adds r4) → 3 (timestamp key ts1 → ts2); the client's cached
    // timestamp v9 is signed by the old timestamp key (fast-forward recovery must drop it).
    {
        let (mut client, mut repo) = base(&k);
        let stale = timestamp_signed(9, FUTURE, b"x", 9);
        client.insert(
            "metadata/timestamp.json".into(),
            signed_bytes(&stale, &[&k.ts1]),
        );
        let v2 = root_signed(
            2,
            FUTURE,
            &[&k.r2, &k.r3, &k.r4],
            2,
            &k.targets,
            &k.snapshot,
            &k.ts1,
        );
        repo.insert(
            "2.root.json".into(),
            signed_bytes(&v2, &[&k.r1, &k.r2, &k.r3, &k.r4]),
        );
        let v3 = root_signed(
            3,
            FUTURE,
            &[&k.r2, &k.r3, &k.r4],
            2,
            &k.targets,
            &k.snapshot,
            &k.ts2,
        );
        let v3 = signed_bytes(&v3, &[&k.r2, &k.r3, &k.r4]);
        repo.insert("3.root.json".into(), v3.clone());
        repo.insert("root.json".into(), v3);
        publish(&mut repo, &k, &k.ts2, 2, 2, 2);
        out.insert("valid", (client, repo));
    }
    // rollback: the client trusts timestamp v2; the repository serves v1.
    {
        let (mut client, mut repo) = base(&k);
        let mut newer = Files::new();
        publish(&mut newer, &k, &k.ts1, 2, 2, 2);
        client.insert(
            "metadata/timestamp.json".into(),
            newer["timestamp.json"].clone(),
        );
        repo.insert("timestamp.json".into(), repo["timestamp.json"].clone());
        out.insert("rollback", (client, repo));
    }
    // freeze: a validly signed timestamp that expired before "now".
    {
        let (client, mut repo) = base(&k);
        let snap = repo["1.snapshot.json"].clone();
        let ts = timestamp_signed(1, PAST, &snap, 1);
        repo.insert("timestamp.json".into(), signed_bytes(&ts, &[&k.ts1]));
        out.insert("freeze", (client, repo));
    }
    // mix-and-match: snapshot v2 names targets v2, but 2.targets.json is targets v1 (validly
    // signed, from an older repository state).
    {
        let (client, mut repo) = base(&k);
        let old_targets = repo["1.targets.json"].clone();
        let snapshot = signed_bytes(
            &snapshot_signed(2, FUTURE, json!({"version": 2})),
            &[&k.snapshot],
        );
        let ts = signed_bytes(&timestamp_signed(2, FUTURE, &snapshot, 2), &[&k.ts1]);
        repo.insert("2.snapshot.json".into(), snapshot);
        repo.insert("2.targets.json".into(), old_targets);
        repo.insert("timestamp.json".into(), ts);
        out.insert("mix-and-match", (client, repo));
    }
    // threshold-not-met: root v2 carries two signatures by r1 (threshold 2): they count once.
    {
        let (client, mut repo) = base(&k);
        let v2 = root_signed(
            2,
            FUTURE,
            &[&k.r1, &k.r2, &k.r3],
            2,
            &k.targets,
            &k.snapshot,
            &k.ts1,
        );
        repo.insert("2.root.json".into(), signed_bytes(&v2, &[&k.r1, &k.r1]));
        out.insert("threshold-not-met", (client, repo));
    }
    // expired-root: the root chain ends at a validly signed, expired root v2.
    {
        let (client, mut repo) = base(&k);
        let v2 = root_signed(
            2,
            PAST,
            &[&k.r1, &k.r2, &k.r3],
            2,
            &k.targets,
            &k.snapshot,
            &k.ts1,
        );
        repo.insert(
            "2.root.json".into(),
            signed_bytes(&v2, &[&k.r1, &k.r2, &k.r3]),
        );
        out.insert("expired-root", (client, repo));
    }
    // rotation-revokes-key: root v2 replaces timestamp key ts1 by ts2; the served timestamp is
    // still signed by ts1, whose signature must no longer count.
    {
        let (client, mut repo) = base(&k);
        let v2 = root_signed(
            2,
            FUTURE,
            &[&k.r1, &k.r2, &k.r3],
            2,
            &k.targets,
            &k.snapshot,
            &k.ts2,
        );
        repo.insert(
            "2.root.json".into(),
            signed_bytes(&v2, &[&k.r1, &k.r2, &k.r3]),
        );
        publish(&mut repo, &k, &k.ts1, 2, 2, 2);
        out.insert("rotation-revokes-key", (client, repo));
    }
    // arbitrary-target: the served trusted_root.json differs from what targets metadata lists
    // (same length, other bytes).
    {
        let (client, mut repo) = base(&k);
        let name = format!("targets/{}.trusted_root.json", sha256_hex(TRUSTED_ROOT));
        let mut evil = TRUSTED_ROOT.to_vec();
        evil[2] = b'X';
        repo.insert(name, evil);
        out.insert("arbitrary-target", (client, repo));
    }
    // endless-data: a timestamp.json larger than the 16 KiB timestamp limit.
    {
        let (client, mut repo) = base(&k);
        let mut ts = repo["timestamp.json"].clone();
        ts.extend(std::iter::repeat_n(b' ', 20 * 1024));
        repo.insert("timestamp.json".into(), ts);
        out.insert("endless-data", (client, repo));
    }
    // endless-target: the served target is longer than its trusted length.
    {
        let (client, mut repo) = base(&k);
        let name = format!("targets/{}.rekor-key-v1.pub", sha256_hex(REKOR_KEY));
        let mut long = REKOR_KEY.to_vec();
        long.extend(std::iter::repeat_n(b'A', 4096));
        repo.insert(name, long);
        out.insert("endless-target", (client, repo));
    }
    // targets-rollback: the client trusts snapshot v2 (targets v2); the repository's snapshot v3
    // names targets v1.
    {
        let (mut client, mut repo) = base(&k);
        let mut newer = Files::new();
        publish(&mut newer, &k, &k.ts1, 2, 2, 2);
        client.insert(
            "metadata/timestamp.json".into(),
            newer["timestamp.json"].clone(),
        );
        client.insert(
            "metadata/snapshot.json".into(),
            newer["2.snapshot.json"].clone(),
        );
        publish(&mut repo, &k, &k.ts1, 1, 3, 3);
        out.insert("targets-rollback", (client, repo));
    }
    // snapshot-meta-removed: the client trusts snapshot v2 listing targets.json; snapshot v3 drops it.
    {
        let (mut client, mut repo) = base(&k);
        let mut newer = Files::new();
        publish(&mut newer, &k, &k.ts1, 2, 2, 2);
        client.insert(
            "metadata/timestamp.json".into(),
            newer["timestamp.json"].clone(),
        );
        client.insert(
            "metadata/snapshot.json".into(),
            newer["2.snapshot.json"].clone(),
        );
        let snap = json!({"_type": "snapshot", "spec_version": "1.0.31", "version": 3,
            "expires": FUTURE, "meta": {}});
        let snap = signed_bytes(&snap, &[&k.snapshot]);
        let ts = signed_bytes(&timestamp_signed(3, FUTURE, &snap, 3), &[&k.ts1]);
        repo.insert("3.snapshot.json".into(), snap);
        repo.insert("timestamp.json".into(), ts);
        out.insert("snapshot-meta-removed", (client, repo));
    }
    // root-skips-version: 2.root.json is validly signed but says version 3.
    {
        let (client, mut repo) = base(&k);
        let v3 = root_signed(
            3,
            FUTURE,
            &[&k.r1, &k.r2, &k.r3],
            2,
            &k.targets,
            &k.snapshot,
            &k.ts1,
        );
        repo.insert(
            "2.root.json".into(),
            signed_bytes(&v3, &[&k.r1, &k.r2, &k.r3]),
        );
        out.insert("root-skips-version", (client, repo));
    }
    // delegation: targets delegates team/* to role "team" (key 20); team lists team/key.pub.
    // delegation-bad-signature: the same, with team.json signed by key 21 instead.
    for (fixture, team_signer) in [
        ("delegation", key(20)),
        ("delegation-bad-signature", key(21)),
    ] {
        let (client, mut repo) = base(&k);
        let d1 = key(20);
        let team_key: &[u8] = b"team key\n";
        let mut top = targets_signed(2, FUTURE, &[("trusted_root.json", TRUSTED_ROOT)]);
        top["delegations"] = json!({
            "keys": {d1.keyid(): d1.public()},
            "roles": [
                {"name": "other", "keyids": [d1.keyid()], "threshold": 1, "terminating": true,
                 "paths": ["other/*"]},
                {"name": "team", "keyids": [d1.keyid()], "threshold": 1, "terminating": false,
                 "paths": ["team/*"]},
            ],
        });
        let top = signed_bytes(&top, &[&k.targets]);
        let team = targets_signed(1, FUTURE, &[("team/key.pub", team_key)]);
        let team = signed_bytes(&team, &[&team_signer]);
        let snap = json!({"_type": "snapshot", "spec_version": "1.0.31", "version": 2,
            "expires": FUTURE,
            "meta": {"targets.json": meta_entry(&top, 2), "team.json": meta_entry(&team, 1),
                     "other.json": {"version": 1}}});
        let snap = signed_bytes(&snap, &[&k.snapshot]);
        let ts = signed_bytes(&timestamp_signed(2, FUTURE, &snap, 2), &[&k.ts1]);
        repo.insert("2.targets.json".into(), top);
        repo.insert("1.team.json".into(), team);
        repo.insert("2.snapshot.json".into(), snap);
        repo.insert("timestamp.json".into(), ts);
        repo.insert(
            format!("targets/team/{}.key.pub", sha256_hex(team_key)),
            team_key.to_vec(),
        );
        out.insert(fixture, (client, repo));
    }
    out
}

fn write_fixtures(dir: &Path) {
    for (name, (client, repo)) in generate() {
        write_tree(&dir.join(name).join("client"), &client);
        write_tree(&dir.join(name).join("repo"), &repo);
    }
}

#[test]
#[ignore = "writes tests/fixtures: run it after changing the generator"]
fn regenerate_fixtures() {
    let dir = fixtures_dir();
    let _ = std::fs::remove_dir_all(&dir);
    write_fixtures(&dir);
}

/// The committed fixtures are exactly what the generator makes (fixed keys, fixed dates, ed25519
/// signatures are deterministic).
#[test]
fn committed_fixtures_equal_regenerated() {
    let tmp = tempfile::tempdir().unwrap();
    write_fixtures(tmp.path());
    let want = read_tree(tmp.path());
    let got = read_tree(&fixtures_dir());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &want {
        assert!(
            got[name] == *bytes,
            "{name} differs from the generator's output"
        );
    }
}

/// Runs the client on fixture `name`: refresh, then download every target.
fn run(name: &str) -> Result<Updater<LocalDirFetcher>, Error> {
    let fixture = fixtures_dir().join(name);
    let cache = tempfile::tempdir().unwrap().keep();
    copy_tree(&fixture.join("client"), &cache);
    let mut up = Updater::new(
        &cache,
        LocalDirFetcher::repository(fixture.join("repo")),
        NOW,
    )?;
    up.refresh()?;
    up.download_all_targets()?;
    Ok(up)
}

fn rejected(name: &str) -> Error {
    match run(name) {
        Ok(_) => panic!("{name}: accepted"),
        Err(e) => {
            eprintln!("{name}: {e}");
            e
        }
    }
}

#[test]
fn valid_repository_with_root_rotation_1_2_3_and_consistent_snapshots() {
    let mut up = run("valid").unwrap();
    let t = up.trusted();
    assert_eq!(t.root().signed.version, 3);
    assert_eq!(t.timestamp().unwrap().signed.version, 2);
    assert_eq!(t.snapshot().unwrap().signed.version, 2);
    assert_eq!(t.targets().unwrap().signed.version, 2);
    assert_eq!(
        up.download_target("trusted_root.json").unwrap(),
        TRUSTED_ROOT
    );
    let cache = up.cache().dir().to_path_buf();
    // The cache now verifies offline, and holds the new root.
    let bytes = stella_tuf::cached_target(&cache, "trusted_root.json", NOW).unwrap();
    assert_eq!(bytes, TRUSTED_ROOT);
    let root = std::fs::read(cache.join("metadata/root.json")).unwrap();
    assert_eq!(
        root,
        std::fs::read(fixtures_dir().join("valid/repo/3.root.json")).unwrap()
    );
    // An unknown target is its own error.
    assert!(
        matches!(up.download_target("nope"), Err(Error::TargetNotFound { name }) if name == "nope")
    );
    // Offline, the cached metadata expires like any other.
    let later = NOW + 2 * 365 * 86_400;
    assert!(matches!(
        stella_tuf::cached_target(&cache, "trusted_root.json", later),
        Err(Error::Expired { role, .. }) if role == "root"
    ));
}

#[test]
fn rollback_attack() {
    let e = rejected("rollback");
    assert!(
        matches!(&e, Error::RollbackAttack { role, trusted: 2, got: 1 } if role == "timestamp"),
        "{e:?}"
    );
}

#[test]
fn freeze_attack() {
    let e = rejected("freeze");
    assert!(
        matches!(&e, Error::Expired { role, expires } if role == "timestamp" && expires == PAST),
        "{e:?}"
    );
}

#[test]
fn mix_and_match_attack() {
    let e = rejected("mix-and-match");
    assert!(
        matches!(&e, Error::BadVersion { role, expected: 2, got: 1 } if role == "targets"),
        "{e:?}"
    );
}

#[test]
fn threshold_not_met_duplicate_signatures_count_once() {
    let e = rejected("threshold-not-met");
    assert!(
        matches!(&e, Error::ThresholdNotMet { role, valid: 1, threshold: 2 } if role == "root"),
        "{e:?}"
    );
}

#[test]
fn expired_root() {
    let e = rejected("expired-root");
    assert!(
        matches!(&e, Error::Expired { role, expires } if role == "root" && expires == PAST),
        "{e:?}"
    );
}

#[test]
fn rotation_revokes_key() {
    let e = rejected("rotation-revokes-key");
    assert!(
        matches!(&e, Error::ThresholdNotMet { role, valid: 0, threshold: 1 } if role == "timestamp"),
        "{e:?}"
    );
}

#[test]
fn arbitrary_target() {
    let e = rejected("arbitrary-target");
    assert!(
        matches!(&e, Error::LengthOrHashMismatch { what, .. } if what == "trusted_root.json"),
        "{e:?}"
    );
}

#[test]
fn endless_data_timestamp() {
    let e = rejected("endless-data");
    assert!(
        matches!(&e, Error::EndlessData { what, limit: 16384 } if what == "timestamp.json"),
        "{e:?}"
    );
}

#[test]
fn endless_data_target() {
    let e = rejected("endless-target");
    let want = REKOR_KEY.len() as u64;
    assert!(
        matches!(&e, Error::EndlessData { what, limit } if what.ends_with(".rekor-key-v1.pub") && *limit == want),
        "{e:?}"
    );
}

/// Over HTTP an endless response (no Content-Length, never ends) is cut off at the limit.
#[test]
fn endless_data_over_http_is_cut_off_while_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let base = serve(tmp.path().to_path_buf());
    let f = stella_tuf::HttpFetcher::new(&base).unwrap();
    use stella_tuf::Fetcher as _;
    let e = f.fetch_metadata("endless", 16 * 1024).unwrap_err();
    assert!(
        matches!(&e, Error::EndlessData { limit: 16384, .. }),
        "{e:?}"
    );
    assert!(matches!(
        f.fetch_metadata("nope.json", 10),
        Err(Error::NotFound { .. })
    ));
}

/// The valid fixture over HTTP too.
#[test]
fn valid_repository_over_http() {
    let fixture = fixtures_dir().join("valid");
    let base = serve(fixture.join("repo"));
    let cache = tempfile::tempdir().unwrap();
    copy_tree(&fixture.join("client"), cache.path());
    let f = stella_tuf::HttpFetcher::new(&base).unwrap();
    let mut up = Updater::new(cache.path(), f, NOW).unwrap();
    up.refresh().unwrap();
    assert_eq!(up.download_target("rekor-key-v1.pub").unwrap(), REKOR_KEY);
}

/// An offline bundle (`tuf/` with unversioned metadata, `targets/` with plain names) verifies
/// against a pinned root with no network.
#[test]
fn offline_bundle() {
    let fixture = fixtures_dir().join("valid/repo");
    let bundle = tempfile::tempdir().unwrap();
    let b = bundle.path();
    for n in [
        "1.root.json",
        "2.root.json",
        "3.root.json",
        "timestamp.json",
    ] {
        std::fs::create_dir_all(b.join("tuf")).unwrap();
        std::fs::copy(fixture.join(n), b.join("tuf").join(n)).unwrap();
    }
    std::fs::copy(fixture.join("2.snapshot.json"), b.join("tuf/snapshot.json")).unwrap();
    std::fs::copy(fixture.join("2.targets.json"), b.join("tuf/targets.json")).unwrap();
    std::fs::create_dir_all(b.join("targets")).unwrap();
    std::fs::write(b.join("targets/trusted_root.json"), TRUSTED_ROOT).unwrap();
    let root = std::fs::read(fixtures_dir().join("valid/client/metadata/root.json")).unwrap();
    let got = stella_tuf::bundle_target(b, &root, "trusted_root.json", NOW).unwrap();
    assert_eq!(got, TRUSTED_ROOT);
    // A tampered bundle target is refused.
    std::fs::write(b.join("targets/trusted_root.json"), b"{}").unwrap();
    let e = stella_tuf::bundle_target(b, &root, "trusted_root.json", NOW).unwrap_err();
    assert!(matches!(e, Error::LengthOrHashMismatch { .. }), "{e:?}");
}

#[test]
fn targets_rollback_in_snapshot() {
    let e = rejected("targets-rollback");
    assert!(
        matches!(&e, Error::RollbackAttack { role, trusted: 2, got: 1 } if role == "targets"),
        "{e:?}"
    );
}

#[test]
fn snapshot_meta_removed() {
    let e = rejected("snapshot-meta-removed");
    assert!(
        matches!(&e, Error::MetaRemoved { name } if name == "targets.json"),
        "{e:?}"
    );
}

#[test]
fn root_must_be_exactly_the_next_version() {
    let e = rejected("root-skips-version");
    assert!(
        matches!(&e, Error::BadVersion { role, expected: 2, got: 3 } if role == "root"),
        "{e:?}"
    );
}

/// A delegated role is searched for targets under its paths; its metadata is verified with the
/// keys the delegating role names, and works offline from the cache afterwards.
#[test]
fn delegated_role() {
    let fixture = fixtures_dir().join("delegation");
    let cache = tempfile::tempdir().unwrap();
    copy_tree(&fixture.join("client"), cache.path());
    let mut up = Updater::new(
        cache.path(),
        LocalDirFetcher::repository(fixture.join("repo")),
        NOW,
    )
    .unwrap();
    up.refresh().unwrap();
    assert_eq!(up.download_target("team/key.pub").unwrap(), b"team key\n");
    assert_eq!(up.trusted().targets_role("team").unwrap().signed.version, 1);
    // Not under team/*: the team role is not asked, and "other" (terminating) has no file.
    assert!(matches!(
        up.target("elsewhere/key.pub"),
        Err(Error::TargetNotFound { .. })
    ));
    assert!(matches!(up.target("other/x"), Err(Error::NotFound { .. })));
    let offline = stella_tuf::cached_target(cache.path(), "team/key.pub", NOW).unwrap();
    assert_eq!(offline, b"team key\n");
}

#[test]
fn delegated_role_signed_by_an_untrusted_key() {
    let fixture = fixtures_dir().join("delegation-bad-signature");
    let cache = tempfile::tempdir().unwrap();
    copy_tree(&fixture.join("client"), cache.path());
    let mut up = Updater::new(
        cache.path(),
        LocalDirFetcher::repository(fixture.join("repo")),
        NOW,
    )
    .unwrap();
    up.refresh().unwrap();
    let e = up.download_target("team/key.pub").unwrap_err();
    assert!(
        matches!(&e, Error::ThresholdNotMet { role, valid: 0, threshold: 1 } if role == "team"),
        "{e:?}"
    );
}
