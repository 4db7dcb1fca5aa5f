//! What every endpoint shares: the JSON error answer with its RFC 6749 / 6750 / 9449 error code,
//! request ids, Prometheus metrics and the common layers (body limit, timeout, tracing).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer: status, a stable `error` code and a description that names what was wrong
/// (never a key, a token or an internal path).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// `WWW-Authenticate` scheme for 401s at resource servers (`DPoP` or `Bearer`).
    pub challenge: Option<&'static str>,
    /// A fresh `DPoP-Nonce` to send along.
    pub dpop_nonce: Option<String>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status`, `code` and `description`.
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            description: description.into(),
            challenge: None,
            dpop_nonce: None,
            retry_after: None,
        }
    }

    /// RFC 6749 `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub fn challenge(mut self, scheme: &'static str) -> Self {
        self.challenge = Some(scheme);
        self
    }

    /// Adds a `DPoP-Nonce`.
    pub fn with_nonce(mut self, nonce: Option<String>) -> Self {
        self.dpop_nonce = nonce;
        self
    }
}

fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(scheme) = self.challenge {
            let v = format!(
                "{scheme} error=\"{}\", error_description=\"{}\", algs=\"ES256 RS256 PS256 EdDSA\"",
                self.code,
                quoted(&self.description)
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(n) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            h.insert("dpop-nonce", n);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// The request id of a request: the caller's `X-Request-Id` when it is short and printable, else one
/// of ours.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req-{:x}", NEXT_ID.fetch_add(1, Ordering::Relaxed)))
}

/// Counters and latency histograms by route and status.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<BTreeMap<(String, u16), Series>>,
    started: std::sync::OnceLock<Instant>,
    signatures: AtomicU64,
}

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum_secs: f64,
    buckets: [u64; BUCKETS.len()],
}

const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0];

impl Metrics {
    fn observe(&self, route: &str, status: u16, secs: f64) {
        let mut m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = m.entry((route.to_owned(), status)).or_default();
        s.count += 1;
        s.sum_secs += secs;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                if let Some(b) = s.buckets.get_mut(i) {
                    *b += 1;
                }
            }
        }
    }

    /// Counts one signature made.
    pub fn signed(&self) {
        self.signatures.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.push_str("# HELP stella_http_requests_total HTTP requests by route and status.\n# TYPE stella_http_requests_total counter\n");
        for ((route, status), s) in m.iter() {
            let _ = writeln!(
                out,
                "stella_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP stella_http_request_duration_seconds Request latency.\n# TYPE stella_http_request_duration_seconds histogram\n");
        for ((route, status), s) in m.iter() {
            for (le, n) in BUCKETS.iter().zip(s.buckets.iter()) {
                let _ = writeln!(out, "stella_http_request_duration_seconds_bucket{{route=\"{route}\",status=\"{status}\",le=\"{le}\"}} {n}");
            }
            let _ = writeln!(out, "stella_http_request_duration_seconds_bucket{{route=\"{route}\",status=\"{status}\",le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "stella_http_request_duration_seconds_sum{{route=\"{route}\",status=\"{status}\"}} {}", s.sum_secs);
            let _ = writeln!(out, "stella_http_request_duration_seconds_count{{route=\"{route}\",status=\"{status}\"}} {}", s.count);
        }
        let _ = writeln!(out, "# HELP stella_signatures_total DSSE signatures made.\n# TYPE stella_signatures_total counter\nstella_signatures_total {}", self.signatures.load(Ordering::Relaxed));
        let up = self
            .started
            .get_or_init(Instant::now)
            .elapsed()
            .as_secs_f64();
        let _ = writeln!(out, "# HELP stella_uptime_seconds Seconds since start.\n# TYPE stella_uptime_seconds gauge\nstella_uptime_seconds {up}");
        out
    }
}

/// Middleware: request id (span, extension and response header), access tracing and metrics.
pub async fn observe(
    metrics: std::sync::Arc<Metrics>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    let id = request_id(req.headers());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let start = Instant::now();
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let secs = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    span.in_scope(|| tracing::info!(status, ms = secs * 1000.0, "done"));
    metrics.observe(&route, status, secs);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
