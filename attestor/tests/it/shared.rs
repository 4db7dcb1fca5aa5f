//! Several Attestor nodes on one log, sequenced through a real PostgreSQL (Debian's, started
//! here on loopback): concurrent writes through two nodes get distinct, gap-free indices; a node
//! sees the other's entries; a node that died between its checkpoint and its COMMIT is
//! reconciled; tiles behind the database are refused.

use std::path::Path;
use std::sync::Arc;

use attestor::service::{hex_id, Attestor, AttestorConfig, KeylessTrust};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use serde_json::{json, Value};
use signer_gateway::dsse::{Envelope, KeySource, MemoryKey};

use crate::pg_cluster::start_postgres;

fn node(dir: &Path, pg: Option<&str>) -> Arc<Attestor> {
    let mut section = json!({"open_writes": true, "max_delay_ms": 5});
    if let Some(url) = pg {
        section["sequencer"] = json!({ "postgres": url });
    }
    let cfg = AttestorConfig::from_json(&section, "http://127.0.0.1:9").unwrap();
    Attestor::open(
        dir,
        cfg,
        KeylessTrust::default(),
        attestor::service::system_clock_ms(),
    )
    .unwrap()
}

async fn serve(att: Arc<Attestor>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, attestor::service::app(att))
            .await
            .unwrap()
    });
    format!("http://{addr}")
}

fn signed(k: &MemoryKey, i: u32) -> Value {
    let e = Envelope::sign(
        "application/vnd.in-toto+json",
        format!("{{\"i\":{i}}}").into_bytes(),
        k,
        "",
    )
    .unwrap();
    json!({"dsseEnvelope": e.to_json(), "publicKey": B64.encode(k.public_key_spki_der()), "keyHint": "test"})
}

async fn text(url: String) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_log_through_postgres() {
    let Some(pg) = start_postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), Some(&pg.url));
    let b = node(dir.path(), Some(&pg.url));
    assert_eq!(a.origin(), b.origin(), "one log: one key, one origin");
    let urls = [serve(a.clone()).await, serve(b.clone()).await];
    let (key, _) = MemoryKey::generate(&SystemRandom::new()).unwrap();
    let key = Arc::new(key);

    const N: u32 = 400;
    let http = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let (http, key) = (http.clone(), key.clone());
        let url = urls[(i % 2) as usize].clone();
        tasks.spawn(async move {
            let body = signed(&key, i);
            let r = http
                .post(format!("{url}/rekor/entries"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201, "entry {i} through {url}");
            let v: Value = r.json().await.unwrap();
            (i, body, v)
        });
    }
    let mut done = Vec::new();
    while let Some(r) = tasks.join_next().await {
        done.push(r.unwrap());
    }
    let mut indices: Vec<u64> = done
        .iter()
        .map(|(_, _, v)| v["index"].as_u64().unwrap())
        .collect();
    indices.sort_unstable();
    assert_eq!(
        indices,
        (0..u64::from(N)).collect::<Vec<_>>(),
        "every entry once, no gaps"
    );

    // Each node serves the other's entries, with a proof against the newest checkpoint.
    for (i, _, v) in done.iter().take(20) {
        let other = &urls[((i + 1) % 2) as usize];
        let got: Value = serde_json::from_str(
            &text(format!(
                "{other}/rekor/entries/{}",
                v["uuid"].as_str().unwrap()
            ))
            .await,
        )
        .unwrap();
        assert_eq!(got["index"], v["index"]);
        assert_eq!(got["proof"]["treeSize"], N.to_string());
    }
    // Both serve the same checkpoint.
    let (ca, cb) = (
        text(format!("{}/checkpoint", urls[0])).await,
        text(format!("{}/checkpoint", urls[1])).await,
    );
    assert_eq!(ca, cb);
    assert!(ca.contains(&format!("\n{N}\n")), "{ca}");

    // An entry logged through one node is a duplicate through the other.
    let (i, body, v) = &done[0];
    let other = &urls[((i + 1) % 2) as usize];
    let r = http
        .post(format!("{other}/rekor/entries"))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["index"], v["index"]);

    // The record in PostgreSQL (read with psql): the head and one row per leaf, matching.
    let head = pg.psql("SELECT size || ' ' || encode(root, 'hex') FROM stella_tlog_head");
    let (size, cp_root) = head.split_once(' ').unwrap();
    assert_eq!(size, N.to_string());
    let cp_root = cp_root.to_owned();
    let rows =
        pg.psql("SELECT string_agg(encode(leaf, 'hex'), ',' ORDER BY idx) FROM stella_tlog_leaves");
    let rows: Vec<&str> = rows.split(',').collect();
    assert_eq!(rows.len(), N as usize);
    for (_, _, v) in &done {
        let idx = v["index"].as_u64().unwrap() as usize;
        assert_eq!(rows[idx], v["uuid"].as_str().unwrap());
    }
    // And the directory is a sound log: every entry and tile re-hashed.
    let dir_path = dir.path().join("attestor/log");
    drop((a, b));
    let out = tokio::task::spawn_blocking(move || {
        let signer = attestor::note::NoteSigner::from_pkcs8(
            std::fs::read_to_string(dir_path.parent().unwrap().join("origin"))
                .unwrap()
                .trim(),
            &std::fs::read(dir_path.parent().unwrap().join("log-key.pk8")).unwrap(),
        )
        .unwrap();
        let st = attestor::store::LogStore::open(&dir_path, signer, 0).unwrap();
        st.verify_full().unwrap();
        (st.size(), hex_id(&st.root()))
    })
    .await
    .unwrap();
    assert_eq!(out, (u64::from(N), cp_root));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_died_before_commit_is_reconciled_and_tiles_behind_the_record_are_refused() {
    let Some(pg) = start_postgres() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), Some(&pg.url));
    for i in 0..3u8 {
        let r = a.append(vec![b'a', i]).await.unwrap();
        assert_eq!(r.index(), u64::from(i));
    }
    // A writer that renamed its checkpoint into place and died before its COMMIT: two entries
    // on disk that PostgreSQL does not record (a node on the same directory without the
    // sequencer does exactly that).
    let rogue = node(dir.path(), None);
    for i in 0..2u8 {
        rogue.append(vec![b'r', i]).await.unwrap();
    }
    drop(rogue);
    assert_eq!(pg.psql("SELECT size FROM stella_tlog_head"), "3");
    // The node reads the new entries...
    assert!(a.checkpoint().unwrap().contains("\n5\n"));
    // ...and its next batch records them, then appends after them: nothing rewritten.
    let r = a.append(b"next".to_vec()).await.unwrap();
    assert_eq!(r.index(), 5);
    assert_eq!(pg.psql("SELECT size FROM stella_tlog_head"), "6");
    assert_eq!(pg.psql("SELECT count(*) FROM stella_tlog_leaves"), "6");
    let dup = a.append(vec![b'r', 1]).await.unwrap();
    assert_eq!(dup.index(), 4, "the reconciled entry is a duplicate");

    // PostgreSQL records more than the directory holds: another directory, or lost data.
    pg.psql("UPDATE stella_tlog_head SET size = 100 RETURNING size");
    let err = a.append(b"refused".to_vec()).await.unwrap_err().to_string();
    assert!(
        err.contains("PostgreSQL records 100") && err.contains("refusing to append"),
        "{err}"
    );
    assert!(
        a.checkpoint().unwrap().contains("\n6\n"),
        "nothing appended"
    );
}

#[test]
fn the_sequencer_configuration_is_checked() {
    let ok = AttestorConfig::from_json(
        &json!({"sequencer": {"postgres": "host=/run/postgresql dbname=stella"}}),
        "http://x",
    )
    .unwrap();
    assert_eq!(
        ok.sequencer_postgres.as_deref(),
        Some("host=/run/postgresql dbname=stella")
    );
    let err = AttestorConfig::from_json(
        &json!({"sequencer": {"postgres": "port=notanumber"}}),
        "http://x",
    )
    .unwrap_err();
    assert!(err.contains("attestor.sequencer.postgres"), "{err}");
    let key = B64.encode(
        attestor::note::NoteSigner::generate("up/log", &SystemRandom::new())
            .unwrap()
            .0
            .spki_der(),
    );
    let err = AttestorConfig::from_json(
        &json!({"sequencer": {"postgres": "host=db"},
                "upstream": {"primary": {"url": "http://up", "origin": "up/log", "public_key": key}}}),
        "http://x",
    )
    .unwrap_err();
    assert!(err.contains("exclude each other"), "{err}");
    // A database that is not there: the node does not start, and says why.
    let dir = tempfile::tempdir().unwrap();
    let cfg = AttestorConfig::from_json(
        &json!({"sequencer": {"postgres": "host=127.0.0.1 port=9 user=x connect_timeout=2"}}),
        "http://x",
    )
    .unwrap();
    let err = Attestor::open(
        dir.path(),
        cfg,
        KeylessTrust::default(),
        attestor::service::system_clock_ms(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("PostgreSQL, connect"), "{err}");
}
