//! Interop with python-tuf (the reference implementation), both ways:
//! (a) a repository made by our `Repository` is refreshed by `tuf.ngclient.Updater`, before and
//!     after a root key rotation;
//! (b) a repository made by `tuf.api.metadata` (consistent snapshots, an ECDSA timestamp key,
//!     a root rotation, a delegated role) is accepted by our `Updater`.
//! Needs STELLA_PYTHON (a venv with tests/requirements.txt, which pins tuf); skips without it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use stella_tuf::{InitOptions, LocalDirFetcher, Repository, Updater};

fn python() -> Option<PathBuf> {
    match std::env::var_os("STELLA_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "STELLA_PYTHON is unset under CI"
            );
            eprintln!(
                "SKIP: STELLA_PYTHON is unset (tests/run.sh sets it to the venv with python-tuf)"
            );
            None
        }
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ngclient(py: &Path, repo: &Path, cache: &Path, target: &str, expected: &Path) -> Value {
    let out = Command::new(py)
        .arg(script("ngclient_refresh.py"))
        .args([repo, cache])
        .arg(target)
        .arg(expected)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-tuf refused the repository: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn python_tuf_ngclient_accepts_our_repository_and_root_rotation() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (repo_dir, keys, cache) = (
        tmp.path().join("repo"),
        tmp.path().join("keys"),
        tmp.path().join("cache"),
    );
    let opts = InitOptions {
        root_keys: 3,
        root_threshold: 2,
        ..InitOptions::default()
    };
    let mut repo = Repository::init(&repo_dir, &keys, &opts, now()).unwrap();
    let trusted_root =
        br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[]}"#;
    let custom = json!({"stella": {"usage": "trusted-root", "status": "active"}});
    repo.add_target("trusted_root.json", trusted_root, Some(custom.clone()))
        .unwrap();
    repo.publish().unwrap();
    let expected = tmp.path().join("expected");
    std::fs::write(&expected, trusted_root).unwrap();

    std::fs::create_dir_all(cache.join("metadata")).unwrap();
    std::fs::copy(
        repo_dir.join("1.root.json"),
        cache.join("metadata/root.json"),
    )
    .unwrap();
    let v = ngclient(&py, &repo_dir, &cache, "trusted_root.json", &expected);
    assert_eq!(v["root"], 1);
    assert_eq!(v["targets"], 2);
    assert_eq!(v["length"], trusted_root.len());
    assert_eq!(v["custom"], custom);

    // Root key rotation: version 2 revokes a root key; then a new target and timestamp.
    let revoked = repo.root()["roles"]["root"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let new_id = repo.rotate_root_key(&revoked).unwrap();
    assert_ne!(new_id, revoked);
    repo.add_target("rekor-key-v1.pub", b"key bytes\n", None)
        .unwrap();
    repo.publish().unwrap();
    repo.refresh_timestamp().unwrap();
    std::fs::write(&expected, b"key bytes\n").unwrap();
    let v = ngclient(&py, &repo_dir, &cache, "rekor-key-v1.pub", &expected);
    assert_eq!(v["root"], 2);
    assert_eq!(v["targets"], 3);
    assert_eq!(v["timestamp"], 4);

    // And our own client agrees with the same repository, from version 1 of the root.
    let ours = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ours.path().join("metadata")).unwrap();
    std::fs::copy(
        repo_dir.join("1.root.json"),
        ours.path().join("metadata/root.json"),
    )
    .unwrap();
    let mut up = Updater::new(ours.path(), LocalDirFetcher::repository(&repo_dir), now()).unwrap();
    up.refresh().unwrap();
    assert_eq!(up.trusted().root().signed.version, 2);
    assert_eq!(
        up.download_target("rekor-key-v1.pub").unwrap(),
        b"key bytes\n"
    );
}

#[test]
fn our_updater_accepts_a_python_tuf_repository() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("repo");
    let target = tmp.path().join("hello.txt");
    std::fs::write(&target, b"hello from python-tuf\n").unwrap();
    let out = Command::new(&py)
        .arg(script("make_repo.py"))
        .arg(&repo_dir)
        .arg(&target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for over_http in [false, true] {
        let cache = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(cache.path().join("metadata")).unwrap();
        std::fs::copy(
            repo_dir.join("1.root.json"),
            cache.path().join("metadata/root.json"),
        )
        .unwrap();
        let bytes = if over_http {
            let f = stella_tuf::HttpFetcher::new(&common::serve(repo_dir.clone())).unwrap();
            let mut up = Updater::new(cache.path(), f, now()).unwrap();
            up.refresh().unwrap();
            assert_eq!(up.trusted().root().signed.version, 2);
            up.download_target("hello.txt").unwrap()
        } else {
            let mut up =
                Updater::new(cache.path(), LocalDirFetcher::repository(&repo_dir), now()).unwrap();
            up.refresh().unwrap();
            let info = up.target("hello.txt").unwrap();
            assert_eq!(info.custom.as_ref().unwrap()["stella"]["usage"], "test");
            // The delegated role "team" (its own key, paths team/*).
            assert_eq!(
                up.download_target("team/hello.txt").unwrap(),
                b"hello from python-tuf\n"
            );
            assert_eq!(up.trusted().targets_role("team").unwrap().signed.version, 1);
            up.download_target("hello.txt").unwrap()
        };
        assert_eq!(bytes, b"hello from python-tuf\n");
    }
}
