//! Upstream mode against two more instances of our own log (primary and mirror), on loopback:
//! the circuit breaker opens after the threshold, writes fail over to the mirror, reads fall back to
//! cached tiles when nothing answers, and the circuit closes again once the primary is back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use attestor::service::{Attestor, AttestorConfig, KeylessTrust};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use serde_json::{json, Value};
use signer_gateway::dsse::{Envelope, KeySource, MemoryKey};
use tokio::sync::oneshot;

/// One log served on `addr` until the sender is dropped or fired.
async fn serve_on(att: Arc<Attestor>, addr: SocketAddr) -> oneshot::Sender<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, attestor::service::app(att))
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    tx
}

async fn free_addr() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn open(dir: &std::path::Path, url: &str, upstream: Option<Value>) -> Arc<Attestor> {
    let mut section = json!({"open_writes": true, "max_delay_ms": 5});
    if let Some(u) = upstream {
        section["upstream"] = u;
    }
    let cfg = AttestorConfig::from_json(&section, url).unwrap();
    Attestor::open(
        dir,
        cfg,
        KeylessTrust::default(),
        attestor::service::system_clock_ms(),
    )
    .unwrap()
}

fn envelope(i: u32) -> (Envelope, Vec<u8>) {
    let rng = SystemRandom::new();
    let (k, _) = MemoryKey::generate(&rng).unwrap();
    let e = Envelope::sign(
        "application/vnd.in-toto+json",
        format!("{{\"n\":{i}}}").into_bytes(),
        &k,
        "",
    )
    .unwrap();
    (e, k.public_key_spki_der())
}

async fn attest(http: &reqwest::Client, url: &str, i: u32) -> (u16, Value) {
    let (env, spki) = envelope(i);
    let r = http
        .post(format!("{url}/rekor/entries"))
        .json(&json!({"dsseEnvelope": env.to_json(), "publicKey": B64.encode(&spki)}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn log_id_of(answer: &Value) -> String {
    answer["bundle"]["verificationMaterial"]["tlogEntries"][0]["logId"]["keyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_fails_over_to_the_mirror_then_the_cache_and_closes_again() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (p_addr, m_addr, f_addr) = (free_addr().await, free_addr().await, free_addr().await);
    let (p_url, m_url, f_url) = (
        format!("http://{p_addr}"),
        format!("http://{m_addr}"),
        format!("http://{f_addr}"),
    );
    let primary = open(dirs[0].path(), &p_url, None);
    let mirror = open(dirs[1].path(), &m_url, None);
    let key_of = |a: &Attestor| json!({"url": a.cfg.public_url, "origin": a.origin(), "public_key": B64.encode(a.log_public_key())});
    let front = open(
        dirs[2].path(),
        &f_url,
        Some(json!({
            "primary": key_of(&primary),
            "mirror": key_of(&mirror),
            "failure_threshold": 2,
            "open_timeout_ms": 400,
            "timeout_ms": 1000,
        })),
    );
    // The front's trusted root names both upstream logs.
    let root = front.trusted_root().to_json();
    let ids: Vec<String> = root["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["logId"]["keyId"].as_str().unwrap().to_owned())
        .collect();
    let p_id = B64.encode(primary.log_id());
    let m_id = B64.encode(mirror.log_id());
    assert!(ids.contains(&p_id) && ids.contains(&m_id), "{root:#}");

    let p_stop = serve_on(primary.clone(), p_addr).await;
    let m_stop = serve_on(mirror.clone(), m_addr).await;
    let _f_stop = serve_on(front.clone(), f_addr).await;
    let http = reqwest::Client::new();

    // Closed: the primary logs it.
    let (s, a) = attest(&http, &f_url, 1).await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(log_id_of(&a), p_id);
    // Reads through the front come from the primary, and are cached.
    let cp = http
        .get(format!("{f_url}/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(cp.headers()["x-stella-source"], "primary");
    let tile = http
        .get(format!("{f_url}/tile/entries/000.p/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(tile.status().as_u16(), 200);
    assert_eq!(tile.headers()["x-stella-source"], "primary");
    let tile_bytes = tile.bytes().await.unwrap();

    // The primary goes down: the first failure is reported, the second opens the circuit and
    // goes to the mirror.
    p_stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, _) = attest(&http, &f_url, 2).await;
    assert_eq!(s, 503, "below the threshold the failure is passed on");
    let (s, a) = attest(&http, &f_url, 3).await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(log_id_of(&a), m_id, "failed over to the mirror");
    let (s, a) = attest(&http, &f_url, 4).await;
    assert_eq!(
        (s, log_id_of(&a)),
        (201, m_id.clone()),
        "open: straight to the mirror"
    );

    // Mirror down too: reads come from the cache, writes get 503.
    m_stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tile = http
        .get(format!("{f_url}/tile/entries/000.p/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(tile.headers()["x-stella-source"], "cache");
    assert_eq!(tile.bytes().await.unwrap(), tile_bytes);
    let (s, a) = attest(&http, &f_url, 5).await;
    assert_eq!(s, 503, "{a}");

    // The primary comes back: after the open timeout a probe goes to it and closes the circuit.
    let _p_again = serve_on(primary.clone(), p_addr).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, a) = attest(&http, &f_url, 6).await;
    assert_eq!((s, log_id_of(&a)), (201, p_id.clone()), "{a}");
    assert_eq!(
        front.upstream().unwrap().state(),
        attestor::breaker::BreakerState::Closed
    );
}
