//! Referrers against registries that lie: an in-test HTTP server on 127.0.0.1 that pages with `Link`,
//! ignores filters, serves wrong or truncated bytes, loops redirects and 401s, rate-limits, and loses
//! writes of the fallback index.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use registry::referrers::{Descriptor, Discovery, Referrer, ARTIFACT_CYCLONEDX, ARTIFACT_SPDX};
use registry::{fetch_referrer, list_referrers, push_referrer, Reference, SourceError};
use serde_json::{json, Value};

use crate::remote_referrers::{artifact, push_opts};
use crate::support::{docker_config, sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    query: String,
    body: Vec<u8>,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// A `Content-Length` larger than the body: the connection closes early.
    claimed_len: Option<usize>,
}

fn resp(status: u16, body: impl Into<Vec<u8>>) -> Resp {
    Resp {
        status,
        headers: Vec::new(),
        body: body.into(),
        claimed_len: None,
    }
}

impl Resp {
    fn h(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

struct Liar {
    port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Liar {
    fn start(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Liar {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let (stop2, log2) = (stop.clone(), log.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (handler, log) = (handler.clone(), log2.clone());
                thread::spawn(move || {
                    let _ = serve(conn, &handler, &log);
                });
            }
        });
        Liar { port, stop, log }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, handler: &Handler, log: &Mutex<Vec<Req>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    let req = Req {
        method,
        path,
        query,
        body,
    };
    log.lock().unwrap().push(req.clone());
    let r = handler(&req);
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        r.claimed_len.unwrap_or(r.body.len())
    )?;
    for (k, v) in &r.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(out, "\r\n")?;
    if req.method != "HEAD" {
        out.write_all(&r.body)?;
    }
    out.flush()
}

/// An image manifest (never pulled further than its digest).
fn subject_manifest() -> Vec<u8> {
    json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":sha256(b"c"),"size":1},
        "layers":[]})
    .to_string()
    .into_bytes()
}

fn desc(n: usize, artifact_type: &str) -> Value {
    json!({"mediaType":OCI_MANIFEST,"digest":sha256(format!("m{n}").as_bytes()),"size":100+n,
        "artifactType":artifact_type})
}

fn no_config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("config.json");
    std::fs::write(&p, "{}").unwrap();
    p
}

fn reference(host: &str, rest: &str) -> Reference {
    Reference::parse(&format!("{host}/{rest}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_api_paging_and_client_side_filter() {
    let m = subject_manifest();
    let d = sha256(&m);
    let (m2, d2) = (m.clone(), d.clone());
    let server = Liar::start(move |req| {
        let p = req.path.as_str();
        if p == "/v2/t/a/manifests/1" {
            return resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST);
        }
        let page = |n: usize| {
            json!({"schemaVersion":2,"mediaType":OCI_INDEX,
                "manifests":[desc(2*n, ARTIFACT_CYCLONEDX), desc(2*n+1, ARTIFACT_SPDX)]})
            .to_string()
        };
        if p == format!("/v2/t/a/referrers/{d2}") {
            // Filters are ignored and not announced; pages 0, 1, 2.
            let n: usize = req
                .query
                .split('&')
                .find_map(|q| q.strip_prefix("page="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let mut r = resp(200, page(n)).h("Content-Type", OCI_INDEX);
            if n < 2 {
                let mut next = format!("/v2/t/a/referrers/{d2}?page={}", n + 1);
                if let Some(t) = req
                    .query
                    .split('&')
                    .find(|q| q.starts_with("artifactType="))
                {
                    next.push('&');
                    next.push_str(t);
                }
                r = r.h("Link", &format!("<{next}>; rel=\"next\""));
            }
            return r;
        }
        if p == format!("/v2/t/badlink/referrers/{d2}") {
            return resp(200, page(0))
                .h("Content-Type", OCI_INDEX)
                .h("Link", "/v2/t/a/referrers/x?page=1; rel=next");
        }
        if p == "/v2/t/badlink/manifests/1" {
            return resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST);
        }
        resp(404, "")
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = no_config(dir.path());
    let o = push_opts(Some(&cfg));
    let host = server.host();
    let all = list_referrers(&reference(&host, "t/a:1"), None, &o)
        .await
        .unwrap();
    assert_eq!(all.len(), 6, "three pages of two: {all:?}");
    assert!(all
        .iter()
        .all(|r| r.discovery == Discovery::Api && r.subject == d));
    let cdx = list_referrers(&reference(&host, "t/a:1"), Some(ARTIFACT_CYCLONEDX), &o)
        .await
        .unwrap();
    assert_eq!(cdx.len(), 3, "filtered client side: {cdx:?}");
    assert!(cdx
        .iter()
        .all(|r| r.descriptor.artifact_type.as_deref() == Some(ARTIFACT_CYCLONEDX)));

    let e = list_referrers(&reference(&host, "t/badlink:1"), None, &o)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("Link header"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_refuses_wrong_truncated_and_oversized_content() {
    let layer = br#"{"bomFormat":"CycloneDX"}"#.to_vec();
    let manifest =
        json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,"artifactType":ARTIFACT_CYCLONEDX,
        "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":sha256(b"{}"),"size":2},
        "layers":[{"mediaType":ARTIFACT_CYCLONEDX,"digest":sha256(&layer),"size":layer.len()}]})
        .to_string()
        .into_bytes();
    let md = sha256(&manifest);
    let ld = sha256(&layer);
    let huge = vec![b' '; (4 << 20) + 10];
    let hd = sha256(&huge);
    let (m2, md2, ld2, l2, hd2) = (
        manifest.clone(),
        md.clone(),
        ld.clone(),
        layer.clone(),
        hd.clone(),
    );
    let server = Liar::start(move |req| {
        let p = req.path.as_str();
        if p.ends_with(&format!("/manifests/{md2}")) {
            return resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST);
        }
        if p.ends_with(&format!("/manifests/{hd2}")) {
            return resp(200, huge.clone()).h("Content-Type", OCI_MANIFEST);
        }
        if p == format!("/v2/t/wrong/blobs/{ld2}") {
            let mut evil = l2.clone();
            evil[2] ^= 1;
            return resp(200, evil);
        }
        if p == format!("/v2/t/short/blobs/{ld2}") {
            let mut r = resp(200, l2[..5].to_vec());
            r.claimed_len = Some(l2.len());
            return r;
        }
        if p == "/v2/t/loop/manifests/sha256-x" || p.starts_with("/v2/t/loop/") {
            return resp(307, "").h("Location", &req.path);
        }
        resp(404, "")
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = no_config(dir.path());
    let o = push_opts(Some(&cfg));
    let host = server.host();
    let referrer = |digest: &str, size: usize| Referrer {
        subject: sha256(b"subject"),
        descriptor: Descriptor {
            media_type: OCI_MANIFEST.to_owned(),
            digest: digest.to_owned(),
            size: size as u64,
            artifact_type: Some(ARTIFACT_CYCLONEDX.to_owned()),
            annotations: Default::default(),
            platform: None,
        },
        discovery: Discovery::TagFallback,
    };
    let good = referrer(&md, manifest.len());

    let e = fetch_referrer(&reference(&host, "t/wrong:1"), &good, &o)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, SourceError::DigestMismatch { what, expected, .. } if what == "referrer layer" && *expected == ld),
        "{e:?}"
    );
    let e = fetch_referrer(&reference(&host, "t/short:1"), &good, &o)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            SourceError::Http { .. } | SourceError::SizeMismatch { .. }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&format!("/v2/t/short/blobs/{ld}")),
        "{e}"
    );

    // The descriptor says the manifest is small; the server sends more than 4 MiB.
    let e = fetch_referrer(&reference(&host, "t/big:1"), &referrer(&hd, 100), &o)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::TooLarge { .. }), "{e:?}");
    // A descriptor that admits to it is refused before any request.
    let e = fetch_referrer(&reference(&host, "t/big:1"), &referrer(&hd, huge_len()), &o)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::TooLarge { .. }), "{e:?}");
    // A manifest whose bytes do not match the descriptor's digest.
    let e = fetch_referrer(
        &reference(&host, "t/wrong:1"),
        &referrer(&md, manifest.len() + 1),
        &o,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SourceError::SizeMismatch { .. }), "{e:?}");

    let e = list_referrers(&reference(&host, "t/loop:1"), None, &o)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::Http { .. }), "{e:?}");
    assert!(e.to_string().contains("redirect"), "{e}");
}

fn huge_len() -> usize {
    (4 << 20) + 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_loop_is_bounded_and_retry_after_is_honoured() {
    let m = subject_manifest();
    let d = sha256(&m);
    let hits = Arc::new(AtomicUsize::new(0));
    let (m2, d2, hits2) = (m.clone(), d.clone(), hits.clone());
    let server = Liar::start(move |req| {
        let p = req.path.as_str();
        if p.starts_with("/v2/t/locked/") {
            return resp(401, "").h("WWW-Authenticate", "Basic realm=\"liar\"");
        }
        if p == "/v2/t/slow/manifests/1" {
            if hits2.fetch_add(1, Ordering::SeqCst) == 0 {
                return resp(429, "").h("Retry-After", "1");
            }
            return resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST);
        }
        if p == format!("/v2/t/slow/referrers/{d2}") {
            return resp(
                200,
                json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[]}).to_string(),
            )
            .h("Content-Type", OCI_INDEX);
        }
        resp(404, "")
    });
    let dir = tempfile::tempdir().unwrap();
    let host = server.host();
    let creds = docker_config(dir.path(), &host, "alice", "pw");
    let o = push_opts(Some(&creds));

    let e = list_referrers(&reference(&host, "t/locked:1"), None, &o)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("rejected"), "{e}");
    let locked = server
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v2/t/locked/"))
        .count();
    assert_eq!(locked, 2, "one re-authentication, then give up");

    let start = Instant::now();
    let found = list_referrers(&reference(&host, "t/slow:1"), None, &o)
        .await
        .unwrap();
    let took = start.elapsed();
    assert!(found.is_empty());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(5),
        "Retry-After: 1 waited {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_fallback_index_writes_fail_clearly_and_every_put_was_whole() {
    let m = subject_manifest();
    let d = sha256(&m);
    let tag = d.replace(':', "-");
    let existing =
        json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[desc(7, ARTIFACT_SPDX)]})
            .to_string();
    let (m2, tag2) = (m.clone(), tag.clone());
    let server = Liar::start(move |req| {
        let p = req.path.as_str();
        match (req.method.as_str(), p) {
            ("GET", "/v2/t/lossy/manifests/1") => {
                resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST)
            }
            ("HEAD", _) if p.starts_with("/v2/t/lossy/blobs/") => resp(200, ""),
            ("PUT", _) if p.starts_with("/v2/t/lossy/manifests/") => resp(201, ""),
            // The fallback index always reads back as the old one: our write is "lost".
            ("GET", _) if p == format!("/v2/t/lossy/manifests/{tag2}") => {
                resp(200, existing.clone()).h("Content-Type", OCI_INDEX)
            }
            _ => resp(404, ""),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = no_config(dir.path());
    let o = push_opts(Some(&cfg));
    let host = server.host();
    let a = artifact(ARTIFACT_CYCLONEDX, r#"{"bomFormat":"CycloneDX"}"#);
    let start = Instant::now();
    let e = push_referrer(&reference(&host, "t/lossy:1"), &a, &o)
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(matches!(e, SourceError::FallbackIndexLost { .. }), "{e:?}");
    assert!(e.to_string().contains(&tag), "{e}");

    let puts: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with(&tag))
        .collect();
    assert!(puts.len() >= 2 && puts.len() <= 6, "{}", puts.len());
    for put in &puts {
        let v: Value = serde_json::from_slice(&put.body).expect("every PUT is whole JSON");
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], OCI_INDEX);
        let entries = v["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "the old entry kept, ours added: {v}");
        assert_eq!(entries[0], desc(7, ARTIFACT_SPDX));
        for e in entries {
            assert!(e["digest"].as_str().unwrap().starts_with("sha256:"));
            assert!(e["size"].as_u64().is_some() && e["mediaType"] == OCI_MANIFEST);
        }
        assert_eq!(entries[1]["artifactType"], ARTIFACT_CYCLONEDX);
    }
    // No blob upload was attempted (HEAD said they exist) and the manifest was put by digest.
    let reqs = server.requests();
    assert!(!reqs.iter().any(|r| r.method == "POST"));
    assert!(reqs
        .iter()
        .any(|r| r.method == "PUT" && r.path.contains("/manifests/sha256:")));
}

/// An honest registry without the referrers API, to count what one push costs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_push_round_trips_and_relative_upload_location() {
    use std::collections::HashMap;
    let m = subject_manifest();
    let d = sha256(&m);
    let tag = d.replace(':', "-");
    let store: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::new(Mutex::new(HashMap::new()));
    let (m2, store2) = (m.clone(), store.clone());
    let server = Liar::start(move |req| {
        let p = req.path.as_str();
        let mut st = store2.lock().unwrap();
        match req.method.as_str() {
            "GET" if p == "/v2/t/ok/manifests/1" => {
                resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST)
            }
            "GET" | "HEAD" => match st.get(p) {
                Some(b) => resp(200, b.clone()).h("Content-Type", OCI_INDEX),
                None => resp(404, ""),
            },
            "POST" if p == "/v2/t/ok/blobs/uploads/" => {
                resp(202, "").h("Location", "/v2/t/ok/blobs/uploads/u1?state=abc")
            }
            "PUT" if p == "/v2/t/ok/blobs/uploads/u1" => {
                let digest = req
                    .query
                    .split('&')
                    .find_map(|q| q.strip_prefix("digest="))
                    .unwrap()
                    .replace("%3A", ":");
                assert!(req.query.contains("state=abc"), "{}", req.query);
                assert_eq!(sha256(&req.body), digest);
                st.insert(format!("/v2/t/ok/blobs/{digest}"), req.body.clone());
                resp(201, "")
            }
            "PUT" if p.starts_with("/v2/t/ok/manifests/") => {
                st.insert(p.to_owned(), req.body.clone());
                resp(201, "")
            }
            _ => resp(404, ""),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = no_config(dir.path());
    let o = push_opts(Some(&cfg));
    let host = server.host();
    let a = artifact(ARTIFACT_CYCLONEDX, r#"{"bomFormat":"CycloneDX"}"#);
    let pushed = push_referrer(&reference(&host, "t/ok:1"), &a, &o)
        .await
        .unwrap();
    assert_eq!(pushed[0].fallback_tag.as_deref(), Some(tag.as_str()));
    let reqs: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            let what = if r.path.contains("/blobs/") {
                "blob"
            } else if r.path.ends_with(&tag) {
                "tag"
            } else if r.path.ends_with("/manifests/1") {
                "subject"
            } else {
                "manifest"
            };
            format!("{} {what}", r.method)
        })
        .collect();
    assert_eq!(
        reqs,
        [
            "GET subject",
            "HEAD blob",
            "POST blob",
            "PUT blob",
            "HEAD blob",
            "POST blob",
            "PUT blob",
            "PUT manifest",
            // The fallback index: read, write, and two re-reads that must both list us.
            "GET tag",
            "PUT tag",
            "GET tag",
            "GET tag",
        ]
    );
    let found = list_referrers(&reference(&host, "t/ok:1"), None, &o)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].descriptor, pushed[0].manifest);
    let (_, _, content) = fetch_referrer(&reference(&host, "t/ok:1"), &found[0], &o)
        .await
        .unwrap();
    assert_eq!(content, a.content);
}

/// No more than the per-registry budget of requests is in flight at once, whatever the callers do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_one_registry_share_a_budget() {
    let m = subject_manifest();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (m2, f2, p2) = (m.clone(), in_flight.clone(), peak.clone());
    let server = Liar::start(move |req| {
        let now = f2.fetch_add(1, Ordering::SeqCst) + 1;
        p2.fetch_max(now, Ordering::SeqCst);
        thread::sleep(Duration::from_millis(40));
        f2.fetch_sub(1, Ordering::SeqCst);
        if req.path.ends_with("/manifests/1") {
            return resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST);
        }
        resp(
            200,
            json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[]}).to_string(),
        )
        .h("Content-Type", OCI_INDEX)
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = no_config(dir.path());
    let o = push_opts(Some(&cfg));
    let host = server.host();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (r, o) = (reference(&host, "t/busy:1"), o.clone());
        tasks.spawn(async move { list_referrers(&r, None, &o).await });
    }
    while let Some(j) = tasks.join_next().await {
        assert!(j.unwrap().unwrap().is_empty());
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=8).contains(&peak), "peak in flight: {peak}");
}

/// A registry with the referrers API acknowledges the subject (`OCI-Subject`): no fallback index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_subject_skips_the_fallback_index() {
    let m = subject_manifest();
    let d = sha256(&m);
    let (m2, d2) = (m.clone(), d.clone());
    let server = Liar::start(move |req| {
        let p = req.path.as_str();
        match req.method.as_str() {
            "GET" if p == "/v2/t/api/manifests/1" => {
                resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST)
            }
            "HEAD" => resp(200, ""),
            "PUT" if p.starts_with("/v2/t/api/manifests/sha256:") => {
                resp(201, "").h("OCI-Subject", &d2)
            }
            _ => resp(404, ""),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = no_config(dir.path());
    let o = push_opts(Some(&cfg));
    let a = artifact(ARTIFACT_SPDX, r#"{"spdxVersion":"SPDX-2.3"}"#);
    let pushed = push_referrer(&reference(&server.host(), "t/api:1"), &a, &o)
        .await
        .unwrap();
    assert_eq!(pushed[0].fallback_tag, None);
    assert_eq!(pushed[0].subject.digest, d);
    let tag = d.replace(':', "-");
    assert!(!server.requests().iter().any(|r| r.path.ends_with(&tag)));
    assert_eq!(
        server.requests().len(),
        4,
        "GET subject, HEAD, HEAD, PUT manifest"
    );
}

/// Distribution 2.8 answers `MANIFEST_BLOB_UNKNOWN` for a blob it has while another client uploads the
/// same blob (its filesystem driver truncates and rewrites the link file): the blobs are ensured again
/// and the manifest PUT retried. A blob that stays unknown ends in the registry's own error, bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_blob_unknown_is_retried_after_ensuring_the_blobs_again() {
    const UNKNOWN: &str =
        r#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#;
    let m = subject_manifest();
    let d = sha256(&m);
    let serve_with = |refusals: usize| {
        let (m2, d2) = (m.clone(), d.clone());
        let puts = Arc::new(AtomicUsize::new(0));
        let lost = Arc::new(AtomicBool::new(false));
        Liar::start(move |req| {
            let p = req.path.as_str();
            match req.method.as_str() {
                "GET" if p == "/v2/t/race/manifests/1" => {
                    resp(200, m2.clone()).h("Content-Type", OCI_MANIFEST)
                }
                // After a refusal the blob reads as missing once, as the truncated link file does.
                "HEAD" if lost.swap(false, Ordering::SeqCst) => resp(404, ""),
                "HEAD" => resp(200, ""),
                "POST" if p == "/v2/t/race/blobs/uploads/" => {
                    resp(202, "").h("Location", "/v2/t/race/blobs/uploads/u1")
                }
                "PUT" if p == "/v2/t/race/blobs/uploads/u1" => resp(201, ""),
                "PUT" if p.starts_with("/v2/t/race/manifests/sha256:") => {
                    if puts.fetch_add(1, Ordering::SeqCst) < refusals {
                        lost.store(true, Ordering::SeqCst);
                        resp(400, UNKNOWN).h("Content-Type", "application/json")
                    } else {
                        resp(201, "").h("OCI-Subject", &d2)
                    }
                }
                _ => resp(404, ""),
            }
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = no_config(dir.path());
    let o = push_opts(Some(&cfg));
    let a = artifact(ARTIFACT_SPDX, r#"{"spdxVersion":"SPDX-2.3"}"#);

    let server = serve_with(1);
    let pushed = push_referrer(&reference(&server.host(), "t/race:1"), &a, &o)
        .await
        .unwrap();
    assert_eq!(pushed[0].subject.digest, d);
    let reqs = server.requests();
    let manifest_puts: Vec<usize> = (0..reqs.len())
        .filter(|&i| reqs[i].method == "PUT" && reqs[i].path.contains("/manifests/"))
        .collect();
    assert_eq!(manifest_puts.len(), 2, "{reqs:?}");
    let between = &reqs[manifest_puts[0] + 1..manifest_puts[1]];
    assert_eq!(
        between.iter().filter(|r| r.method == "HEAD").count(),
        2,
        "both blobs are checked again: {between:?}"
    );
    assert!(
        between
            .iter()
            .any(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/")),
        "the blob that read as missing is uploaded again: {between:?}"
    );

    let server = serve_with(usize::MAX);
    let err = push_referrer(&reference(&server.host(), "t/race:1"), &a, &o)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::HttpStatus { status: 400, detail: Some(d), .. } if d.contains("MANIFEST_BLOB_UNKNOWN")),
        "{err}"
    );
    let puts = server
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .count();
    assert_eq!(puts, 4, "bounded retries");
}

/// `copy` to a registry with the referrers API: the registry acknowledges each referrer's subject
/// (`OCI-Subject`), so no `sha256-<hex>` fallback index is read or written; children go before their
/// index, blobs before the manifests naming them, and the tag is the very last write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_a_registry_with_the_referrers_api_writes_no_fallback_and_tags_last() {
    use registry::copy::{copy, CopyOptions};
    use registry::target::Target;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let b = crate::copy::build(&src);
    let server = Liar::start(move |req| {
        let p = req.path.as_str();
        match req.method.as_str() {
            "HEAD" => resp(404, ""),
            "POST" if p == "/v2/t/dst/blobs/uploads/" => {
                resp(202, "").h("Location", "/v2/t/dst/blobs/uploads/u1")
            }
            "PUT" if p == "/v2/t/dst/blobs/uploads/u1" => resp(201, ""),
            "PUT" if p.starts_with("/v2/t/dst/manifests/") => {
                let subject = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v["subject"]["digest"].as_str().map(str::to_owned));
                match subject {
                    Some(s) => resp(201, "").h("OCI-Subject", &s),
                    None => resp(201, ""),
                }
            }
            _ => resp(404, ""),
        }
    });
    let mut opts = CopyOptions::new(dir.path().join("scratch"));
    opts.insecure = true;
    opts.docker_config = Some(no_config(dir.path()));
    let from = Target::parse(&format!("oci:{}:app", src.display())).unwrap();
    let to = Target::parse(&format!("{}/t/dst:v1", server.host())).unwrap();
    let report = copy(&from, &to, &opts).await.unwrap();
    assert_eq!(report.referrers.len(), 2);
    let reqs = server.requests();
    assert!(
        !reqs.iter().any(|r| r.path.contains("sha256-")),
        "no fallback index: {reqs:?}"
    );
    let writes: Vec<&str> = reqs
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .map(|r| r.path.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(writes.last(), Some(&"v1"), "the tag last: {writes:?}");
    let at = |d: &str| writes.iter().position(|w| *w == d).unwrap();
    assert!(at(&b.amd64) < at(&b.index) && at(&b.attestation) < at(&b.index));
    assert!(at(&b.amd64) < at(&b.sbom) && at(&b.sbom) < at(&b.bundle));
    let uploads = reqs
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(uploads, report.blobs_copied);
}

/// `copy` from a registry that serves a layer with other bytes: the copy fails on the source side
/// naming the blob's digest, and the layout it would have created is not left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_a_registry_serving_a_corrupt_blob_fails_naming_it() {
    use registry::copy::{copy, CopyOptions, Side};
    use registry::target::Target;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let layer = b"the real layer".to_vec();
    let manifest = json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,
        "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":sha256(&config),"size":config.len()},
        "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":sha256(&layer),"size":layer.len()}]})
    .to_string()
    .into_bytes();
    let (layer_digest, config_digest) = (sha256(&layer), sha256(&config));
    let (ld, cd, m) = (
        layer_digest.clone(),
        config_digest.clone(),
        manifest.clone(),
    );
    let server = Liar::start(move |req| {
        let p = req.path.as_str();
        if p == "/v2/t/src/manifests/1" {
            resp(200, m.clone()).h("Content-Type", OCI_MANIFEST)
        } else if p == format!("/v2/t/src/blobs/{cd}") {
            resp(200, config.clone())
        } else if p == format!("/v2/t/src/blobs/{ld}") {
            resp(200, b"the fake layer".to_vec())
        } else {
            resp(404, "")
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut opts = CopyOptions::new(dir.path().join("scratch"));
    opts.insecure = true;
    opts.docker_config = Some(no_config(dir.path()));
    let dst = dir.path().join("out");
    let from = Target::parse(&format!("{}/t/src:1", server.host())).unwrap();
    let to = Target::parse(&format!("oci:{}:app", dst.display())).unwrap();
    let e = copy(&from, &to, &opts).await.unwrap_err();
    assert_eq!(e.side, Side::Source, "{e}");
    assert!(matches!(e.error, SourceError::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&layer_digest), "{e}");
    assert!(!dst.exists(), "no half-written layout");
}
