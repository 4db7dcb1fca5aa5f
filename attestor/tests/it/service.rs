//! The Attestor's HTTP API on loopback: the Signer-only write gate, entries by uuid with fresh
//! proofs, the TSA endpoint answering `openssl ts -query`, C2SP reads.

use std::process::Command;
use std::sync::Arc;

use attestor::merkle;
use attestor::note::NoteVerifier;
use attestor::service::{Attestor, AttestorConfig, KeylessTrust};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use serde_json::{json, Value};
use signer_gateway::dsse::{Envelope, KeySource, MemoryKey};

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

fn open(dir: &std::path::Path, section: Value) -> Arc<Attestor> {
    let cfg = AttestorConfig::from_json(&section, "http://127.0.0.1:9").unwrap();
    Attestor::open(
        dir,
        cfg,
        KeylessTrust::default(),
        attestor::service::system_clock_ms(),
    )
    .unwrap()
}

fn signed(i: u32) -> Value {
    let rng = SystemRandom::new();
    let (k, _) = MemoryKey::generate(&rng).unwrap();
    let e = Envelope::sign(
        "application/vnd.in-toto+json",
        format!("{{\"i\":{i}}}").into_bytes(),
        &k,
        "",
    )
    .unwrap();
    json!({"dsseEnvelope": e.to_json(), "publicKey": B64.encode(k.public_key_spki_der()), "keyHint": "test"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_signer_writes_entries_read_back_with_fresh_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let closed = open(dir.path(), json!(null));
    let url = serve(closed).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/rekor/entries"))
        .json(&signed(0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "no client certificate, no write");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("only the Signer may write"));

    let dir = tempfile::tempdir().unwrap();
    let att = open(dir.path(), json!({"open_writes": true, "max_delay_ms": 5}));
    let url = serve(att.clone()).await;
    let mut uuids = Vec::new();
    for i in 0..3 {
        let r = http
            .post(format!("{url}/rekor/entries"))
            .json(&signed(i))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["index"], i);
        uuids.push(v["uuid"].as_str().unwrap().to_owned());
    }
    // Entry 0, later: its proof is against the newest checkpoint, and verifies.
    let v: Value = http
        .get(format!("{url}/rekor/entries/{}", uuids[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["proof"]["treeSize"], "3");
    let body = B64
        .decode(v["canonicalizedBody"].as_str().unwrap())
        .unwrap();
    let leaf = merkle::leaf_hash(&body);
    assert_eq!(attestor::service::hex_id(&leaf), uuids[0]);
    let hashes: Vec<merkle::Hash> = v["proof"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let root: merkle::Hash = B64
        .decode(v["proof"]["rootHash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    merkle::verify_inclusion(0, 3, &leaf, &hashes, &root).unwrap();
    let verifier = NoteVerifier::from_spki(att.origin(), att.log_public_key()).unwrap();
    let cp = attestor::note::open_checkpoint(v["proof"]["checkpoint"].as_str().unwrap(), &verifier)
        .unwrap();
    assert_eq!((cp.size, cp.root), (3, root));
    assert!(v["bundle"]["dsseEnvelope"].is_object());
    // The same checkpoint is the static file.
    let text = http
        .get(format!("{url}/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, v["proof"]["checkpoint"].as_str().unwrap());
    // Unknown and malformed uuids.
    let r = http
        .get(format!("{url}/rekor/entries/{}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = http
        .get(format!("{url}/rekor/entries/nothex"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = http
        .get(format!("{url}/tile/../../attestor/log-key.pk8"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "no traversal out of the tile tree"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tsa_endpoint_answers_openssl_and_openssl_verifies_it() {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is needed under CI"
        );
        eprintln!("SKIPPED: no openssl");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let att = open(dir.path(), json!(null));
    let url = serve(att.clone()).await;
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::write(&data, b"what was signed").unwrap();
    let query = work.path().join("q.tsq");
    let ok = Command::new("openssl")
        .args(["ts", "-query", "-sha256", "-cert", "-data"])
        .arg(&data)
        .arg("-out")
        .arg(&query)
        .status()
        .unwrap();
    assert!(ok.success());
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/api/v1/timestamp"))
        .header("content-type", "application/timestamp-query")
        .body(std::fs::read(&query).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/timestamp-reply");
    let reply = work.path().join("r.tsr");
    std::fs::write(&reply, r.bytes().await.unwrap()).unwrap();
    let chain = att.tsa_chain();
    let pem = |d: &[u8]| signer_gateway::service::pem("CERTIFICATE", d);
    let root = work.path().join("root.pem");
    let leaf = work.path().join("leaf.pem");
    std::fs::write(&root, pem(chain.last().unwrap())).unwrap();
    std::fs::write(&leaf, pem(&chain[0])).unwrap();
    let out = Command::new("openssl")
        .args(["ts", "-verify", "-queryfile"])
        .arg(&query)
        .arg("-in")
        .arg(&reply)
        .arg("-CAfile")
        .arg(&root)
        .arg("-untrusted")
        .arg(&leaf)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Verification: OK"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The wrong content type is refused.
    let r = http
        .post(format!("{url}/api/v1/timestamp"))
        .body(std::fs::read(&query).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    let url = serve(open(dir.path(), json!(null))).await;
    let doc = reqwest::get(format!("{url}/openapi/attestor.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["openapi"], "3.1.0");
    let Some(py) = std::env::var_os("STELLA_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "STELLA_PYTHON must be set under CI"
        );
        eprintln!("SKIPPED: STELLA_PYTHON is not set, openapi-spec-validator not run");
        return;
    };
    let path = dir.path().join("attestor.json");
    std::fs::write(&path, &doc).unwrap();
    let out = Command::new(py)
        .args([
            "-c",
            "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
