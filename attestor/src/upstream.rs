//! Upstream mode: the Attestor forwards log writes to an external Rekor v2 and reads its tiles,
//! through a circuit breaker, failing over to a mirror and falling back to tiles cached on disk
//! (the decision tree of trust-architecture seed §5):
//!
//! - Closed: the primary. A failure (transport error, timeout, 5xx) is counted; below the threshold
//!   the call fails (the client retries), at the threshold the circuit opens and the call goes on
//!   to the mirror.
//! - Open: the mirror if configured; if it fails too (or there is none), reads come from the cache,
//!   writes fail with 503.
//! - HalfOpen (after the open timeout): one probe goes to the primary; success closes the circuit,
//!   failure reopens it and the call goes to the mirror.
//!
//! A mirror serves the same log (a tile proxy) for reads; for writes it is the failover log, whose
//! key must be in the trusted root too. A 4xx answer says the upstream is up and is passed on.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::breaker::{Breaker, BreakerConfig, BreakerState};

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Primary,
    Mirror,
    Cache,
}

impl Source {
    /// Lower-case name, for headers and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Primary => "primary",
            Source::Mirror => "mirror",
            Source::Cache => "cache",
        }
    }
}

/// Upstream settings.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The primary Rekor v2 base URL.
    pub primary: String,
    /// A mirror / failover log.
    pub mirror: Option<String>,
    pub breaker: BreakerConfig,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Where tiles and checkpoints read through are kept.
    pub cache_dir: PathBuf,
}

/// Why an upstream call failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream log answered ({0}); retry later")]
    Unavailable(String),
    #[error("{path} is not a log path")]
    BadPath { path: String },
}

/// An HTTP answer passed on.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub source: Source,
}

/// The upstream client.
#[derive(Debug)]
pub struct Upstream {
    cfg: UpstreamConfig,
    http: reqwest::Client,
    breaker: Mutex<Breaker>,
    started: std::time::Instant,
}

enum Call<'a> {
    Post(&'a [u8]),
    Get,
}

impl Upstream {
    /// A client for `cfg`.
    pub fn new(cfg: UpstreamConfig) -> Result<Upstream, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .build()
            .map_err(|e| UpstreamError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(Upstream {
            breaker: Mutex::new(Breaker::new(cfg.breaker)),
            cfg,
            http,
            started: std::time::Instant::now(),
        })
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The breaker's state now.
    pub fn state(&self) -> BreakerState {
        let now = self.now();
        self.breaker
            .lock()
            .map(|b| b.state(now))
            .unwrap_or(BreakerState::Open)
    }

    async fn call(
        &self,
        base: &str,
        path: &str,
        call: &Call<'_>,
    ) -> Result<(u16, Vec<u8>), String> {
        let url = format!("{}/{}", base.trim_end_matches('/'), path);
        let req = match call {
            Call::Post(body) => self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_vec()),
            Call::Get => self.http.get(&url),
        };
        let r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = r.status().as_u16();
        let body = r.bytes().await.map_err(|e| format!("{url}: {e}"))?.to_vec();
        if status >= 500 {
            return Err(format!("{url}: HTTP {status}"));
        }
        Ok((status, body))
    }

    /// Primary through the breaker, then the mirror per the decision tree.
    async fn route(&self, path: &str, call: Call<'_>) -> Result<Answer, String> {
        let admitted = self
            .breaker
            .lock()
            .map(|mut b| b.admit(self.now()))
            .unwrap_or(false);
        let mut why = Vec::new();
        if admitted {
            match self.call(&self.cfg.primary, path, &call).await {
                Ok((status, body)) => {
                    if let Ok(mut b) = self.breaker.lock() {
                        b.success(self.now());
                    }
                    return Ok(Answer {
                        status,
                        body,
                        source: Source::Primary,
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "upstream primary failed");
                    let open = self
                        .breaker
                        .lock()
                        .map(|mut b| {
                            let now = self.now();
                            b.failure(now);
                            b.state(now) != BreakerState::Closed
                        })
                        .unwrap_or(true);
                    why.push(e);
                    if !open {
                        return Err(why.join("; "));
                    }
                }
            }
        } else {
            why.push(format!("{}: circuit open", self.cfg.primary));
        }
        if let Some(mirror) = &self.cfg.mirror {
            match self.call(mirror, path, &call).await {
                Ok((status, body)) => {
                    return Ok(Answer {
                        status,
                        body,
                        source: Source::Mirror,
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, "upstream mirror failed");
                    why.push(e);
                }
            }
        }
        Err(why.join("; "))
    }

    /// Forwards a `POST /api/v2/log/entries` body.
    pub async fn submit(&self, body: &[u8]) -> Result<Answer, UpstreamError> {
        self.route("api/v2/log/entries", Call::Post(body))
            .await
            .map_err(UpstreamError::Unavailable)
    }

    /// Reads `checkpoint` or a `tile/...` path: from the primary or the mirror (and caches it), or
    /// from the cache when neither answers.
    pub async fn read(&self, path: &str) -> Result<Answer, UpstreamError> {
        let cached = self.cache_path(path)?;
        match self.route(path, Call::Get).await {
            Ok(a) => {
                if a.status == 200 {
                    // Best effort: a cache write failure only costs a later fallback.
                    if let Some(dir) = cached.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    let tmp = cached.with_extension("tmp");
                    if std::fs::write(&tmp, &a.body).is_ok() {
                        let _ = std::fs::rename(&tmp, &cached);
                    }
                }
                Ok(a)
            }
            Err(e) => match std::fs::read(&cached) {
                Ok(body) => Ok(Answer {
                    status: 200,
                    body,
                    source: Source::Cache,
                }),
                Err(_) => Err(UpstreamError::Unavailable(e)),
            },
        }
    }

    /// Where tiles and checkpoints read through are kept (C2SP layout).
    pub fn cache_dir(&self) -> &std::path::Path {
        &self.cfg.cache_dir
    }

    fn cache_path(&self, path: &str) -> Result<PathBuf, UpstreamError> {
        let ok = path == "checkpoint" || crate::tiles::parse_tile_path(path).is_ok();
        if !ok {
            return Err(UpstreamError::BadPath {
                path: path.to_owned(),
            });
        }
        Ok(self.cfg.cache_dir.join(path))
    }
}
