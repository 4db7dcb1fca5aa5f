//! Throughput and latency of `POST /sign/dsse` through real HTTP on loopback, with every check on:
//! OpTok signature and claims, DPoP proof (signature, htm/htu, iat, `jti` replay cache, `ath`,
//! server nonce), PoE signature and binding, quotas, the audit log line, and the ECDSA P-256 DSSE
//! signature. The client (proof signing, HTTP) runs in the same process on the same cores, so the
//! figures include its cost.
//!
//!   cargo bench -p signer-gateway --bench sign_dsse [-- --concurrency 16 --seconds 3 --runs 5]
//!
//! Goal (issue 6): ≥ 1,000 requests/s on 2 cores with p99 ≤ 20 ms.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use serde_json::{json, Value};
use signer_gateway::jose::{Es256Signer, JwkSet};
use signer_gateway::service::client::DpopClient;
use signer_gateway::service::license::{issue_license_token, LicenseTerms};
use signer_gateway::service::{app, system_clock, Config, Stack};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn main() {
    let concurrency = arg("--concurrency", 16) as usize;
    let seconds = arg("--seconds", 3);
    let runs = arg("--runs", 5) as usize;
    let threads = arg("--threads", 2) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(concurrency, seconds, runs));
}

async fn bench(concurrency: usize, seconds: u64, runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let rng = SystemRandom::new();
    // The CI platform: an ES256 issuer whose JWKS is a file (no issuer server needed).
    let ci_pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let ci = Es256Signer::from_pkcs8(ci_pkcs8.as_ref(), "ci-1", &rng).unwrap();
    let jwks = dir.path().join("ci-jwks.json");
    let set = JwkSet::new(vec![ci.public_jwk()]).unwrap();
    std::fs::write(
        &jwks,
        json!({"keys": set.keys().iter().map(|k| k.to_json()).collect::<Vec<_>>()}).to_string(),
    )
    .unwrap();
    let issuer = "https://token.actions.githubusercontent.com";
    let cfg = json!({
        "trusted_issuers": [{"issuer": issuer, "platform": "github", "audience": "stella", "jwks_file": jwks}],
        "identity_rules": [{"issuer": issuer, "repository": "octo-org/*"}],
        "plans": {"bench": {"qps": 1_000_000, "burst": 1_000_000, "concurrency": 4096, "max_payload_bytes": 1_048_576}},
    });
    let cfg = Config::parse(cfg.to_string().as_bytes()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stack = Stack::open(&dir.path().join("state"), cfg, &url, system_clock()).unwrap();
    let router = app(stack.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let (_, lt) = issue_license_token(
        stack.license_signer(),
        &LicenseTerms {
            customer_id: "BENCH".into(),
            plan: "bench".into(),
            valid_release_year: 2026,
            max_version: "9".into(),
            lifetime_secs: 86_400,
        },
        now(),
    )
    .unwrap();
    let t = now();
    let claims = json!({
        "iss": issuer, "aud": "stella", "sub": "repo:octo-org/app:ref:refs/heads/main",
        "iat": t, "nbf": t, "exp": t + 600, "repository": "octo-org/app", "ref": "refs/heads/main",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "job_workflow_ref": "octo-org/app/.github/workflows/build.yml@refs/heads/main",
    });
    let ci_token = ci.sign_jwt(claims.as_object().unwrap(), &rng).unwrap();

    // One installation key per worker, as parallel CI jobs would have.
    let mut workers = Vec::new();
    for i in 0..concurrency {
        let key = dir.path().join(format!("inst-{i}.pem"));
        let client = DpopClient::load_or_create(&key).unwrap();
        let optok = client.exchange(&url, &ci_token).await.unwrap();
        let poe = client.enroll(&url, &lt).await.unwrap()["poe"]
            .as_str()
            .unwrap()
            .to_owned();
        workers.push(Arc::new((client, optok, poe)));
    }
    let body = json!({"statement": {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example/octo-org/app", "digest": {"sha256": "a".repeat(64)}}],
        "predicateType": "https://spdx.dev/Document",
        "predicate": {"spdxVersion": "SPDX-2.3", "name": "bench", "packages": (0..50).map(|i| json!({"SPDXID": format!("SPDXRef-{i}"), "name": format!("pkg-{i}"), "versionInfo": "1.0"})).collect::<Vec<_>>()},
    }});
    let body = Arc::new(body);

    let round = |dur: Duration| {
        let workers = workers.clone();
        let url = url.clone();
        let body = body.clone();
        async move {
            let stop = Instant::now() + dur;
            let mut tasks = Vec::new();
            for w in workers {
                let url = url.clone();
                let body = body.clone();
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    while Instant::now() < stop {
                        let t0 = Instant::now();
                        let r: Value = w.0.sign(&url, &w.1, &w.2, &body).await.expect("signed");
                        assert!(r.get("envelope").is_some());
                        lat.push(t0.elapsed());
                    }
                    lat
                }));
            }
            let start = Instant::now();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            (all, start.elapsed())
        }
    };
    round(Duration::from_secs(1)).await; // warm-up: connections, nonces, caches

    println!("sign_dsse: concurrency {concurrency}, {runs} runs of {seconds} s");
    println!(
        "{:>4} {:>10} {:>9} {:>9} {:>9}",
        "run", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    let mut rates = Vec::new();
    let mut p99s = Vec::new();
    for i in 0..runs {
        let (mut lat, elapsed) = round(Duration::from_secs(seconds)).await;
        lat.sort();
        let pct = |p: f64| {
            lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0
        };
        let rate = lat.len() as f64 / elapsed.as_secs_f64();
        println!(
            "{:>4} {:>10.0} {:>9.2} {:>9.2} {:>9.2}",
            i + 1,
            rate,
            pct(0.50),
            pct(0.99),
            pct(1.0) - 0.0
        );
        rates.push(rate);
        p99s.push(pct(0.99));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (rate, p99) = (median(&mut rates), median(&mut p99s));
    println!(
        "median: {rate:.0} req/s (goal >= 1000: {}), p99 {p99:.2} ms (goal <= 20: {})",
        if rate >= 1000.0 { "met" } else { "NOT met" },
        if p99 <= 20.0 { "met" } else { "NOT met" }
    );
}
