//! The Attestor inside `stella serve`: the Rekor v2 write API under SIGKILL (durability), bad
//! input, and the C2SP static reads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attestor::merkle::{self, Hash};
use attestor::note::{Checkpoint, NoteVerifier};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::tempdir;
use crate::serve::{serve, serve_with};

/// `n` valid, distinct hashedrekord requests from one P-256 key, made once (ECDSA signatures are
/// randomised: a resubmission must be byte-identical to be the same entry).
struct Requests {
    bodies: Vec<Vec<u8>>,
}

impl Requests {
    fn new(n: usize) -> Requests {
        let signer = Signer::new();
        Requests {
            bodies: (0..n).map(|i| signer.body(i)).collect(),
        }
    }

    fn body(&self, i: usize) -> Vec<u8> {
        self.bodies[i].clone()
    }
}

struct Signer {
    key: EcdsaKeyPair,
    spki: Vec<u8>,
    rng: SystemRandom,
}

impl Signer {
    fn new() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let spki = signer_gateway::dsse::p256_spki_der(key.public_key().as_ref()).unwrap();
        Signer { key, spki, rng }
    }

    fn body(&self, i: usize) -> Vec<u8> {
        let msg = format!("artifact {i}");
        let digest = Sha256::digest(msg.as_bytes());
        let sig = self.key.sign(&self.rng, msg.as_bytes()).unwrap();
        serde_json::to_vec(&json!({"hashedRekordRequestV002": {
            "digest": B64.encode(digest),
            "signature": {
                "content": B64.encode(sig.as_ref()),
                "verifier": {
                    "publicKey": {"rawBytes": B64.encode(&self.spki)},
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                },
            },
        }}))
        .unwrap()
    }
}

enum Outcome {
    /// 201 (index, checkpoint) or 409 (index of the existing entry).
    Logged(u64, Option<String>),
    /// The server went away.
    Gone,
}

async fn submit(http: &reqwest::Client, url: &str, body: Vec<u8>) -> Outcome {
    let r = match http
        .post(format!("{url}/api/v2/log/entries"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => return Outcome::Gone,
    };
    let status = r.status().as_u16();
    let Ok(v) = r.json::<Value>().await else {
        return Outcome::Gone;
    };
    let index = |v: &Value| -> u64 { v.as_str().unwrap().parse().unwrap() };
    match status {
        201 => Outcome::Logged(
            index(&v["logIndex"]),
            Some(
                v["inclusionProof"]["checkpoint"]["envelope"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
        ),
        409 => Outcome::Logged(index(&v["logIndex"]), None),
        other => panic!("unexpected answer {other}: {v}"),
    }
}

/// The log's verifier, from the exported trusted root (what a verifier would be given).
fn log_verifier(data: &Path) -> NoteVerifier {
    let out = tempdir();
    let tr = out.path().join("trusted_root.json");
    let o = crate::common::stella(&[
        "trust",
        "export",
        "--data-dir",
        data.to_str().unwrap(),
        "--trusted-root",
        tr.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let root: Value = serde_json::from_slice(&std::fs::read(&tr).unwrap()).unwrap();
    let spki = B64
        .decode(root["tlogs"][0]["publicKey"]["rawBytes"].as_str().unwrap())
        .unwrap();
    let origin = std::fs::read_to_string(data.join("attestor/origin")).unwrap();
    NoteVerifier::from_spki(origin.trim(), &spki).unwrap()
}

/// Reads the C2SP tree on disk (exactly what a static web server would serve).
struct DiskTiles<'a>(&'a Path);

impl DiskTiles<'_> {
    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.0.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Entry `index` of a tree of `size` entries, from its entry bundle.
    fn entry(&self, index: u64, size: u64) -> Vec<u8> {
        let n = index / 256;
        let full = (n + 1) * 256 <= size;
        let width = if full {
            None
        } else {
            Some((size - n * 256) as u16)
        };
        let bytes = self.read(&attestor::tiles::entries_path(n, width));
        let entries = attestor::tiles::decode_entry_bundle(&bytes).unwrap();
        entries[(index % 256) as usize].to_vec()
    }
}

#[test]
fn ten_thousand_submissions_through_three_sigkills_lose_and_duplicate_nothing() {
    let total: usize = std::env::var("STELLA_CRASH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let data = tempdir();
    sigkill_run(data.path(), total, 1, None);
}

/// Two `stella serve` processes on one data directory, sequenced through a real PostgreSQL
/// (`attestor.sequencer.postgres`): submissions go to both, and one of them is SIGKILLed three
/// times (alternately) with requests in flight while the other keeps logging.
#[test]
fn two_nodes_through_postgres_lose_and_duplicate_nothing_through_three_sigkills() {
    let Some(pg) = crate::pg_cluster::start_postgres() else {
        return;
    };
    let total: usize = std::env::var("STELLA_CRASH_ENTRIES_SHARED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    let data = tempdir();
    let cfg = data.path().join("stack.json");
    std::fs::write(
        &cfg,
        serde_json::to_vec(&json!({"attestor": {"sequencer": {"postgres": pg.url}}})).unwrap(),
    )
    .unwrap();
    let node_data = data.path().join("node");
    sigkill_run(&node_data, total, 2, Some(&cfg));
    // The record in PostgreSQL, read with psql, agrees with the tiles.
    let cp_text = std::fs::read_to_string(node_data.join("attestor/log/checkpoint")).unwrap();
    let size = cp_text.lines().nth(1).unwrap();
    assert_eq!(size, total.to_string());
    assert_eq!(pg.psql("SELECT size FROM stella_tlog_head"), size);
    assert_eq!(pg.psql("SELECT count(*) FROM stella_tlog_leaves"), size);
}

/// Submits `total` distinct entries to `nodes` servers on `data`, SIGKILLing one of them three
/// times with requests in flight and restarting it; then checks that every acknowledged entry
/// is at its index exactly once and that every checkpoint handed out is consistent with the final
/// tree.
fn sigkill_run(data: &Path, total: usize, nodes: usize, config: Option<&Path>) {
    let reqs = Arc::new(Requests::new(total));
    let rt = tokio::runtime::Runtime::new().unwrap();
    // entry number → acknowledged log index; every checkpoint an answer carried.
    let acked: Arc<Mutex<HashMap<usize, u64>>> = Default::default();
    let checkpoints: Arc<Mutex<HashSet<String>>> = Default::default();
    let started = Instant::now();
    // One after the other: the first run creates the keys.
    let mut servers: Vec<_> = (0..nodes).map(|_| serve_with(data, config)).collect();
    let urls: Arc<Mutex<Vec<String>>> =
        Arc::new(Mutex::new(servers.iter().map(|s| s.url.clone()).collect()));
    let queue = Arc::new(Mutex::new((0..total).collect::<Vec<usize>>()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut kills = 0;
    rt.block_on(async {
        let mut workers = Vec::new();
        for w in 0..48 {
            let (queue, acked, checkpoints, http, urls, reqs) = (
                queue.clone(),
                acked.clone(),
                checkpoints.clone(),
                http.clone(),
                urls.clone(),
                reqs.clone(),
            );
            workers.push(tokio::spawn(async move {
                loop {
                    assert!(started.elapsed() < Duration::from_secs(600), "bounded");
                    let Some(i) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let url = urls.lock().unwrap()[w % nodes].clone();
                    match submit(&http, &url, reqs.body(i)).await {
                        Outcome::Logged(index, cp) => {
                            acked.lock().unwrap().insert(i, index);
                            if let Some(cp) = cp {
                                checkpoints.lock().unwrap().insert(cp);
                            }
                        }
                        Outcome::Gone => {
                            // Not acknowledged: it may or may not be in the log; resubmitted
                            // once the node is back it must come back as the same entry (409).
                            queue.lock().unwrap().push(i);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }));
        }
        // SIGKILL a node (in turn) with requests in flight at 1/4, 2/4 and 3/4 of the entries,
        // and start it again; its workers resubmit what was not acknowledged.
        for k in 1..=3 {
            while acked.lock().unwrap().len() < k * total / 4 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let victim = (k - 1) % nodes;
            let srv = servers.get_mut(victim).unwrap();
            srv.child.kill().unwrap();
            srv.child.wait().unwrap();
            kills += 1;
            let (d, c) = (data.to_path_buf(), config.map(Path::to_path_buf));
            let fresh = tokio::task::spawn_blocking(move || serve_with(&d, c.as_deref()))
                .await
                .unwrap();
            urls.lock().unwrap()[victim] = fresh.url.clone();
            servers[victim] = fresh;
        }
        for w in workers {
            w.await.unwrap();
        }
    });
    drop(servers);
    assert_eq!(kills, 3);
    assert_eq!(acked.lock().unwrap().len(), total);
    check_log(
        data,
        &reqs,
        &acked.lock().unwrap(),
        &checkpoints.lock().unwrap(),
        total,
    );
}

fn check_log(
    data: &Path,
    reqs: &Requests,
    acked: &HashMap<usize, u64>,
    checkpoints: &HashSet<String>,
    total: usize,
) {
    // Every acknowledged entry is at its index, exactly once.
    let verifier = log_verifier(data);
    let log = data.join("attestor/log");
    let cp_text = std::fs::read_to_string(log.join("checkpoint")).unwrap();
    let final_cp = attestor::note::open_checkpoint(&cp_text, &verifier).unwrap();
    let by_index: BTreeMap<u64, usize> = acked.iter().map(|(i, ix)| (*ix, *i)).collect();
    assert_eq!(
        by_index.len(),
        total,
        "two entries acknowledged at one index"
    );
    assert_eq!(
        final_cp.size, total as u64,
        "the log holds exactly the submitted entries (no duplicates, nothing extra)"
    );
    let disk = DiskTiles(&log);
    let mut leaves: Vec<Hash> = Vec::with_capacity(total);
    let mut seen = HashSet::new();
    for index in 0..final_cp.size {
        let body = disk.entry(index, final_cp.size);
        let i = by_index[&index];
        let want = attestor::rekor::parse_create_request(&reqs.body(i))
            .unwrap()
            .canonical_body()
            .unwrap();
        // Signatures are randomised: compare what identifies the entry, the digest.
        let got: Value = serde_json::from_slice(&body).unwrap();
        let want: Value = serde_json::from_slice(&want).unwrap();
        assert_eq!(
            got["spec"]["hashedRekordV002"]["data"], want["spec"]["hashedRekordV002"]["data"],
            "entry {i} at index {index}"
        );
        assert!(seen.insert(body.clone()), "entry at {index} logged twice");
        leaves.push(merkle::leaf_hash(&body));
    }
    assert_eq!(merkle::root_of(&leaves), final_cp.root);

    // Every checkpoint handed out is signed and consistent with the final tree.
    assert!(checkpoints.len() > 3);
    for text in checkpoints.iter() {
        let cp: Checkpoint = attestor::note::open_checkpoint(text, &verifier).unwrap();
        assert_eq!(merkle::root_of(&leaves[..cp.size as usize]), cp.root);
        let proof =
            merkle::consistency_proof(&mut Leaves(&leaves), cp.size, final_cp.size).unwrap();
        merkle::verify_consistency(cp.size, final_cp.size, &cp.root, &final_cp.root, &proof)
            .unwrap();
    }
}

/// Perfect-subtree hashes over a list of leaves.
struct Leaves<'a>(&'a [Hash]);

impl merkle::NodeSource for Leaves<'_> {
    type Error = std::convert::Infallible;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        let start = (index << level) as usize;
        Ok(merkle::root_of(&self.0[start..start + (1usize << level)]))
    }
}

#[test]
fn bad_entries_get_clear_4xx_and_nothing_is_appended() {
    let data = tempdir();
    let srv = serve(data.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reqs = Requests::new(2);
    let good: Value = serde_json::from_slice(&reqs.body(1)).unwrap();
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let ed25519 = {
        let rng = SystemRandom::new();
        let pk = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let k = ring::signature::Ed25519KeyPair::from_pkcs8(pk.as_ref()).unwrap();
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(k.public_key().as_ref());
        spki
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("not json", b"{".to_vec(), 400),
        ("empty object", b"{}".to_vec(), 400),
        (
            "bad base64 digest",
            mutate(&|v| v["hashedRekordRequestV002"]["digest"] = json!("%%%")),
            400,
        ),
        (
            "digest length is not the key's hash (48 bytes for P-256)",
            mutate(&|v| v["hashedRekordRequestV002"]["digest"] = json!(B64.encode([7u8; 48]))),
            400,
        ),
        (
            "signature does not verify",
            mutate(&|v| v["hashedRekordRequestV002"]["digest"] = json!(B64.encode([7u8; 32]))),
            400,
        ),
        (
            "pure Ed25519 key",
            mutate(&|v| {
                let s = &mut v["hashedRekordRequestV002"]["signature"];
                s["verifier"]["publicKey"]["rawBytes"] = json!(B64.encode(&ed25519));
                s["verifier"]["keyDetails"] = json!("PKIX_ED25519");
            }),
            400,
        ),
        (
            "key details do not match the key",
            mutate(&|v| {
                v["hashedRekordRequestV002"]["signature"]["verifier"]["keyDetails"] =
                    json!("PKIX_ECDSA_P384_SHA_384")
            }),
            400,
        ),
        ("oversized body", vec![b' '; 128 * 1024 + 1], 413),
    ];
    let http = reqwest::Client::new();
    rt.block_on(async {
        for (what, body, want) in cases {
            let r = http
                .post(format!("{}/api/v2/log/entries", srv.url))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert_eq!(status, want, "{what}: {text}");
            if want == 400 {
                assert!(text.contains("error_description"), "{what}: {text}");
            }
        }
        // A 2 MiB body announced by Content-Length is refused before it is sent (a client that
        // kept writing would see the connection closed).
        let host = srv.url.trim_start_matches("http://").to_owned();
        let head = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(&host).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(
                s,
                "POST /api/v2/log/entries HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                2 * 1024 * 1024
            )
            .unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await
        .unwrap();
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        let cp = http
            .get(format!("{}/checkpoint", srv.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(cp.lines().nth(1), Some("0"), "nothing appended: {cp}");
        // The good one goes in, and again is a 409 naming its index.
        match submit(&http, &srv.url, reqs.body(1)).await {
            Outcome::Logged(0, Some(_)) => {}
            _ => panic!("the good entry was not logged at 0"),
        }
        let r = http
            .post(format!("{}/api/v2/log/entries", srv.url))
            .body(serde_json::to_vec(&good).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 409);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["logIndex"], "0");
    });
}

/// The local user as the dev identity names it.
fn dev_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "developer".into())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect()
}

#[test]
fn attest_on_the_embedded_default_verifies_with_sigstore_python() {
    let Some(python) = std::env::var_os("STELLA_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "STELLA_PYTHON must be set under CI"
        );
        eprintln!("SKIPPED: STELLA_PYTHON is not set");
        return;
    };
    let sigstore = Path::new(&python).with_file_name("sigstore");
    let data = tempdir();
    let work = tempdir();
    let srv = serve(data.path());
    let layout = work.path().join("layout");
    crate::support::build_test_layout(&layout);
    let image = format!("oci:{}:single", layout.display());
    let sbom = work.path().join("sbom.cdx.json");
    std::fs::write(
        &sbom,
        serde_json::to_vec(&json!({
            "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
            "components": [{"type": "library", "name": "hello", "version": "1.0"}],
        }))
        .unwrap(),
    )
    .unwrap();
    let bundle = work.path().join("bundle.sigstore.json");
    let key = work.path().join("client.key");
    let out = crate::common::stella(&[
        "attest",
        &image,
        "--sbom",
        sbom.to_str().unwrap(),
        "--server",
        &srv.url,
        "--key",
        key.to_str().unwrap(),
        "--bundle-out",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dev identity"), "{stderr}");
    assert!(stderr.contains("attached bundle"), "{stderr}");

    // The subject is the image manifest in the layout.
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "single")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();

    let ctc = work.path().join("trust_config.json");
    let out = crate::common::stella(&[
        "trust",
        "export",
        "--data-dir",
        data.path().to_str().unwrap(),
        "--url",
        &srv.url,
        "--client-trust-config",
        ctc.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = |artifact: &str| {
        std::process::Command::new(&sigstore)
            .arg("--trust-config")
            .arg(&ctc)
            .args(["verify", "identity", "--offline", "--bundle"])
            .arg(&bundle)
            .arg("--cert-identity")
            .arg(format!("{}/dev/users/{}", srv.url, dev_user()))
            .arg("--cert-oidc-issuer")
            .arg(format!("{}/dev", srv.url))
            .arg(artifact)
            .output()
            .unwrap()
    };
    let ok = verify(&manifest);
    assert!(
        ok.status.success(),
        "sigstore-python: {}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = format!("sha256:{}", "0".repeat(64));
    assert!(
        !verify(&other).status.success(),
        "another digest must not verify"
    );

    // The bundle is a referrer of the image.
    let out = crate::common::stella(&["referrers", &image, "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["referrers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["descriptor"]["artifactType"]
                == "application/vnd.dev.sigstore.bundle.v0.3+json"),
        "{v:#}"
    );
}

/// GitHub Actions' OIDC token endpoint as the runner exposes it to a job
/// (`ACTIONS_ID_TOKEN_REQUEST_URL` + `_TOKEN`): answers `answer` to every request and records each
/// request's head. Stops by itself after `max` requests or 60 s.
fn github_oidc_endpoint(answer: (u16, String), max: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://{}/_apis/oidc/token?api-version=2.0",
        listener.local_addr().unwrap()
    );
    let seen: Arc<Mutex<Vec<String>>> = Default::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut served = 0;
        while served < max && Instant::now() < deadline {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            log.lock().unwrap().push(head);
            let (status, body) = &answer;
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            served += 1;
        }
    });
    (url, seen)
}

/// In GitHub Actions `stella attest` asks the runner's OIDC endpoint for the job's token (with
/// the request bearer and the audience) and signs with that identity; a refused request says how to
/// fix the workflow, and a token the Authority does not accept fails (no silent fallback). In
/// GitLab CI the token comes in STELLA_ID_TOKEN.
#[test]
fn attest_in_github_actions_uses_the_runners_token() {
    let data = tempdir();
    let work = tempdir();
    let srv = serve(data.path());
    let layout = work.path().join("layout");
    crate::support::build_test_layout(&layout);
    let image = format!("oci:{}:single", layout.display());
    let sbom = work.path().join("sbom.cdx.json");
    std::fs::write(
        &sbom,
        r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []}"#,
    )
    .unwrap();
    // The job's token: an ID token of an issuer the stack trusts (here the dev issuer's).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dev: Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/dev/token", srv.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let token = dev["id_token"].as_str().unwrap().to_owned();
    let key = work.path().join("client.key");
    let bundle = work.path().join("bundle.sigstore.json");
    let attest = |url: &str| {
        crate::common::stella_env(
            &[
                "attest",
                &image,
                "--sbom",
                sbom.to_str().unwrap(),
                "--server",
                &srv.url,
                "--key",
                key.to_str().unwrap(),
                "--audience",
                "stella-test",
                "--no-push",
                "--bundle-out",
                bundle.to_str().unwrap(),
            ],
            &[
                ("ACTIONS_ID_TOKEN_REQUEST_URL", url),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-request-secret"),
            ],
        )
    };

    let (url, seen) = github_oidc_endpoint((200, json!({ "value": token }).to_string()), 1);
    let out = attest(&url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b: Value = serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert!(
        b["dsseEnvelope"].is_object() && b["verificationMaterial"]["tlogEntries"][0].is_object()
    );
    std::fs::remove_file(&bundle).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one request to the runner's endpoint");
    let head = seen[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get /_apis/oidc/token?api-version=2.0&audience=stella-test "),
        "{head}"
    );
    assert!(
        head.contains("authorization: bearer runner-request-secret"),
        "{head}"
    );

    // The runner refuses (the job lacks `permissions: id-token: write`).
    let (url, _) = github_oidc_endpoint((403, "{}".into()), 1);
    let out = attest(&url);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("id-token: write"), "{stderr}");

    // A token the Authority does not accept is not replaced by the dev identity.
    let (url, _) = github_oidc_endpoint((200, json!({"value": "not.a.jwt"}).to_string()), 1);
    let out = attest(&url);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("token exchange") && stderr.contains("invalid_grant"),
        "{stderr}"
    );
    assert!(!bundle.exists(), "no bundle from a refused run");

    // GitLab CI: the job's `id_tokens:` token in STELLA_ID_TOKEN.
    let out = crate::common::stella_env(
        &[
            "attest",
            &image,
            "--sbom",
            sbom.to_str().unwrap(),
            "--server",
            &srv.url,
            "--key",
            key.to_str().unwrap(),
            "--no-push",
            "--bundle-out",
            bundle.to_str().unwrap(),
        ],
        &[("STELLA_ID_TOKEN", &token)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bundle.exists());
}
