//! Log write throughput and time to inclusion proof, over HTTP on loopback, with batching:
//! `cargo bench -p attestor --bench log_append`. Clients and server share the machine's cores.
//!
//! Environment: `STELLA_BENCH_ENTRIES` (default 20000), `STELLA_BENCH_CLIENTS` (128),
//! `STELLA_BENCH_RUNS` (5), `STELLA_BENCH_DELAY_MS` (25), `STELLA_BENCH_BATCH` (512),
//! `STELLA_BENCH_PROOF_SIZE` (entries in the proof-generation log; default 1000000, 0 to skip),
//! `STELLA_BENCH_POSTGRES` (a PostgreSQL connection string: then the same runs again with
//! `STELLA_BENCH_NODES` (2) nodes on one log through the shared sequencer, clients spread over them).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use attestor::service::{Attestor, AttestorConfig, KeylessTrust};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::json;
use sha2::{Digest, Sha256};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn requests(n: usize) -> Vec<Vec<u8>> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let spki = signer_gateway::dsse::p256_spki_der(key.public_key().as_ref()).unwrap();
    (0..n)
        .map(|i| {
            let msg = format!("bench artifact {i}");
            let sig = key.sign(&rng, msg.as_bytes()).unwrap();
            serde_json::to_vec(&json!({"hashedRekordRequestV002": {
                "digest": B64.encode(Sha256::digest(msg.as_bytes())),
                "signature": {
                    "content": B64.encode(sig.as_ref()),
                    "verifier": {
                        "publicKey": {"rawBytes": B64.encode(&spki)},
                        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    },
                },
            }}))
            .unwrap()
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// How the log under test runs.
#[derive(Clone, Copy)]
struct Setup<'a> {
    clients: usize,
    delay_ms: u64,
    batch: u64,
    /// `(connection string, nodes)`: several nodes on one log through PostgreSQL.
    shared: Option<(&'a str, usize)>,
}

async fn one_run(reqs: Arc<Vec<Vec<u8>>>, s: Setup<'_>) -> (f64, Duration, Duration) {
    let Setup {
        clients,
        delay_ms,
        batch,
        shared,
    } = s;
    let dir = tempfile::tempdir().unwrap();
    let mut section = json!({"max_delay_ms": delay_ms, "max_batch": batch});
    if let Some((pg, _)) = shared {
        section["sequencer"] = json!({ "postgres": pg });
    }
    let nodes = shared.map_or(1, |(_, n)| n.max(1));
    let mut urls = Vec::new();
    let mut stops = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..nodes {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cfg = AttestorConfig::from_json(&section, &url).unwrap();
        let att = Attestor::open(
            dir.path(),
            cfg,
            KeylessTrust::default(),
            attestor::service::system_clock_ms(),
        )
        .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        servers.push(tokio::spawn(async move {
            axum::serve(listener, attestor::service::app(att))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        }));
        urls.push(url);
        stops.push(stop);
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, reqs, next) = (
            http.clone(),
            urls[c % nodes].clone(),
            reqs.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = reqs.get(i) else {
                    return lat;
                };
                let t = Instant::now();
                let r = http
                    .post(format!("{url}/api/v2/log/entries"))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
                // The answer carries the inclusion proof: this is the time to proof.
                let _ = r.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    for stop in stops {
        let _ = stop.send(());
    }
    for server in servers {
        let _ = server.await;
    }
    lat.sort();
    (
        reqs.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    )
}

fn main() {
    let n = env("STELLA_BENCH_ENTRIES", 20_000) as usize;
    let clients = env("STELLA_BENCH_CLIENTS", 128) as usize;
    let runs = env("STELLA_BENCH_RUNS", 5).max(1);
    let delay = env("STELLA_BENCH_DELAY_MS", 25);
    let batch = env("STELLA_BENCH_BATCH", 512);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let reqs = Arc::new(requests(n));
    let pg = std::env::var("STELLA_BENCH_POSTGRES").ok();
    let nodes = env("STELLA_BENCH_NODES", 2) as usize;
    let mut setups = vec![(
        "one node, files".to_owned(),
        Setup {
            clients,
            delay_ms: delay,
            batch,
            shared: None,
        },
    )];
    if let Some(pg) = pg.as_deref() {
        setups.push((
            format!("{nodes} nodes, PostgreSQL sequencer"),
            Setup {
                clients,
                delay_ms: delay,
                batch,
                shared: Some((pg, nodes)),
            },
        ));
    }
    for (name, setup) in setups {
        let (mut rates, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let (rate, p50, p99) = rt.block_on(one_run(reqs.clone(), setup));
            println!(
                "{name}, run {run}: {n} entries, {clients} clients: {rate:.0} entries/s, time to inclusion proof p50 {:.1} ms, p99 {:.1} ms",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
            rates.push(rate);
            p50s.push(p50.as_secs_f64() * 1e3);
            p99s.push(p99.as_secs_f64() * 1e3);
        }
        let (rate, p99) = (median(rates), median(p99s));
        println!(
            "{name}, median of {runs}: {rate:.0} entries/s (target >= 2000), p50 {:.1} ms, p99 {p99:.1} ms (target <= batch delay {delay} ms + 50 ms = {} ms)",
            median(p50s),
            delay + 50
        );
    }
    let proof_size = env("STELLA_BENCH_PROOF_SIZE", 1_000_000);
    if proof_size > 0 {
        proof_generation(proof_size);
    }
}

/// Builds a log of `size` small entries directly in the store, then times inclusion and
/// consistency proofs and counts the tiles they read.
fn proof_generation(size: u64) {
    use attestor::note::NoteSigner;
    use attestor::store::LogStore;
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = NoteSigner::generate("bench.local/log", &SystemRandom::new()).unwrap();
    let mut store = LogStore::open(dir.path(), signer, 0).unwrap();
    let t = Instant::now();
    let mut next = 0u64;
    while next < size {
        let n = (size - next).min(65_536);
        let batch: Vec<Vec<u8>> = (next..next + n).map(|i| i.to_be_bytes().to_vec()).collect();
        store.append_batch(&batch).unwrap();
        next += n;
    }
    println!(
        "built a {size}-entry log in {:.1} s ({:.0} entries/s in 65536-entry batches)",
        t.elapsed().as_secs_f64(),
        size as f64 / t.elapsed().as_secs_f64()
    );
    let samples = 1_000u64;
    let (mut max_reads, mut total_reads) = (0u64, 0u64);
    let t = Instant::now();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..samples {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let index = x % size;
        let before = store.tile_reads();
        let proof = store.inclusion_proof(index, size).unwrap();
        let reads = store.tile_reads() - before;
        assert!(!proof.is_empty() || size == 1);
        max_reads = max_reads.max(reads);
        total_reads += reads;
    }
    let per = t.elapsed() / samples as u32;
    let levels = 64 - size.leading_zeros() as u64;
    println!(
        "inclusion proof at size {size}: {:.1} us each, tiles read: mean {:.1}, max {max_reads} (log2 n = {levels}; tile height 8)",
        per.as_secs_f64() * 1e6,
        total_reads as f64 / samples as f64
    );
    let before = store.tile_reads();
    let t = Instant::now();
    let proof = store.consistency_proof(size / 3, size).unwrap();
    println!(
        "consistency proof {} -> {size}: {} hashes, {} tiles read, {:.1} us",
        size / 3,
        proof.len(),
        store.tile_reads() - before,
        t.elapsed().as_secs_f64() * 1e6
    );
}
