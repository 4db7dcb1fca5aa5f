//! The Authority, licensing and Signer services over HTTP (axum): [`Stack`] holds their state,
//! [`authority_app`], [`signer_app`] and [`app`] (both in one process, as `stella serve` runs them)
//! build the routers, [`serve`] runs one on a listener until shutdown.
//!
//! Every route goes through the same layers: a request id (`X-Request-Id`, echoed, and in the
//! tracing span), Prometheus metrics by route and status, a body size limit (413) and a timeout
//! (408). `/healthz`, `/readyz`, `/metrics` and the service's OpenAPI document are on each router.

pub mod authority;
pub mod ci;
pub mod client;
pub mod config;
pub mod dev;
pub mod http;
pub mod license;
pub mod run;
pub mod signer;
pub mod state;
pub mod tls;
pub mod transparency;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ring::rand::SystemRandom;
use serde_json::Value;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use config::Config;
pub use http::{ApiError, Metrics, RequestId};

use crate::dpop::{DpopConfig, InMemoryReplayCache, NonceSource};
use crate::dsse::{KeySource, MemoryKey};
use crate::jose::{Alg, Es256Signer, JwkSet};
use state::DataDir;
pub use state::Roles;

/// The audience of OpToks and PoEs: the Signer.
pub const SIGNER_AUDIENCE: &str = "stella-signer";
/// The audience of License Tokens: the enrollment endpoint.
pub const LICENSE_AUDIENCE: &str = "stella-license";

/// The clock: seconds since the Unix epoch. Injected so tests can pin it.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("configuration: {0}")]
    Config(String),
}

/// Everything the services share.
pub struct Stack {
    pub cfg: Config,
    /// `iss` of OpToks (and of LTs and PoEs).
    pub issuer: String,
    /// The base URL clients use, for DPoP `htu` checks.
    pub public_url: String,
    pub now: Clock,
    pub(crate) rng: SystemRandom,
    pub(crate) authority_keys: RwLock<AuthorityKeys>,
    /// Where the Authority's keys live, when this process is the Authority (for rotation).
    pub(crate) data_dir: Option<std::path::PathBuf>,
    pub(crate) license_key: Es256Signer,
    pub(crate) license_jwks: RwLock<JwkSet>,
    pub(crate) license_issuer: RwLock<String>,
    pub(crate) signing_key: Arc<dyn KeySource>,
    pub(crate) signing_key_id: String,
    pub(crate) dpop: DpopConfig,
    pub(crate) replay: InMemoryReplayCache,
    pub(crate) nonces: NonceSource,
    pub(crate) issuer_keys: ci::IssuerKeys,
    pub(crate) revoked: RwLock<HashSet<String>>,
    pub(crate) revocations_path: std::path::PathBuf,
    pub(crate) quotas: signer::Quotas,
    pub(crate) audit: signer::AuditLog,
    pub(crate) admin_token: String,
    /// The release-integrity check; `None` when no release key is configured.
    pub(crate) release: Option<crate::release::ReleaseVerifier>,
    pub(crate) ca: crate::keyless::CertificateAuthority,
    pub(crate) ct: crate::keyless::CtLog,
    pub metrics: Arc<Metrics>,
    /// The transparency log every signature goes to, once set (`stella serve` sets the Attestor).
    pub(crate) transparency: std::sync::OnceLock<Arc<dyn transparency::Transparency>>,
    /// The dev identity's issuer, when on.
    pub(crate) dev: Option<dev::DevIssuer>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("issuer", &self.issuer)
            .field("signing_key_id", &self.signing_key_id)
            .finish_non_exhaustive()
    }
}

/// The Authority's signing keys: the active one signs, all are published.
#[derive(Debug)]
pub(crate) struct AuthorityKeys {
    pub active: Es256Signer,
    pub jwks: JwkSet,
}

impl Stack {
    /// Opens the data directory (creating keys on first run) and builds the shared state. `issuer`
    /// is the URL the services are reached at when the configuration does not name one.
    pub fn open(
        data_dir: &Path,
        cfg: Config,
        issuer: &str,
        now: Clock,
    ) -> Result<Arc<Stack>, StartError> {
        Stack::open_roles(data_dir, Roles::BOTH, cfg, issuer, now)
    }

    /// [`Stack::open`] for a process serving only some of the services. A Signer on its own takes
    /// the Authority's and the license issuer's keys from [`Stack::set_trust`].
    pub fn open_roles(
        data_dir: &Path,
        roles: Roles,
        cfg: Config,
        issuer: &str,
        now: Clock,
    ) -> Result<Arc<Stack>, StartError> {
        let t = now();
        let dir = DataDir::open(
            data_dir,
            roles,
            t,
            cfg.key_rotation_secs,
            cfg.key_overlap_secs,
        )?;
        let own_url = issuer.trim_end_matches('/').to_owned();
        let issuer = cfg.issuer.clone().unwrap_or_else(|| own_url.clone());
        // DPoP `htu` is checked against where this process is reached, not the Authority's name.
        let public_url = cfg
            .public_url
            .clone()
            .unwrap_or(own_url)
            .trim_end_matches('/')
            .to_owned();
        let signing_key_id = dir.signing_key_id();
        let revocations_path = dir.revocations_path();
        let revoked = license::load_revocations(&revocations_path)
            .map_err(|e| StartError::Config(format!("{}: {e}", revocations_path.display())))?;
        let audit = signer::AuditLog::open(&dir.audit_path())
            .map_err(|e| StartError::Config(format!("{}: {e}", dir.audit_path().display())))?;
        let DataDir {
            mut authority_keys,
            license_key,
            signing_key,
            nonce_secret,
            admin_token,
            ca,
            ct,
            ..
        } = dir;
        let jwks = JwkSet::new(
            authority_keys
                .iter()
                .map(|k| k.signer.public_jwk())
                .collect(),
        )
        .map_err(|e| StartError::Config(e.to_string()))?;
        let active = authority_keys
            .pop()
            .ok_or_else(|| StartError::Config("no active Authority key".into()))?
            .signer;
        let license_issuer = license_issuer_of(&license_key);
        let license_jwks = JwkSet::new(vec![license_key.public_jwk()])
            .map_err(|e| StartError::Config(e.to_string()))?;
        let nonces = NonceSource::new(&nonce_secret, 60);
        let mut dpop = DpopConfig::new(vec![Alg::ES256, Alg::EdDSA, Alg::RS256, Alg::PS256]);
        if cfg.dpop_nonces {
            dpop.nonce = Some(NonceSource::new(&nonce_secret, 60));
        }
        let mut cfg = cfg;
        let dev = if cfg.dev_identity && roles.authority {
            Some(
                dev::enable(data_dir, &public_url, &mut cfg, &SystemRandom::new())
                    .map_err(StartError::Config)?,
            )
        } else {
            None
        };
        let quotas = signer::Quotas::new(cfg.community_qps);
        let release = release_verifier(&cfg)?;
        let signing_key: Arc<dyn KeySource> = Arc::new(signing_key);
        Ok(Arc::new(Stack {
            cfg,
            issuer,
            public_url,
            now,
            rng: SystemRandom::new(),
            authority_keys: RwLock::new(AuthorityKeys { active, jwks }),
            data_dir: roles.authority.then(|| data_dir.to_owned()),
            license_key,
            license_jwks: RwLock::new(license_jwks),
            license_issuer: RwLock::new(license_issuer),
            signing_key,
            signing_key_id,
            dpop,
            replay: InMemoryReplayCache::new(1_000_000),
            nonces,
            issuer_keys: ci::IssuerKeys::new(),
            revoked: RwLock::new(revoked),
            revocations_path,
            quotas,
            audit,
            admin_token,
            release,
            ca,
            ct,
            metrics: Arc::new(Metrics::default()),
            transparency: std::sync::OnceLock::new(),
            dev,
        }))
    }

    /// Rotates the Authority's OpTok key when it is due (`key_rotation_secs`), keeping retired keys
    /// published for `key_overlap_secs` so tokens they signed keep verifying until they expire. Runs
    /// at start-up and then periodically (see [`run::run`]). Returns whether the key set changed.
    pub fn rotate_keys(&self) -> Result<bool, StartError> {
        let Some(dir) = &self.data_dir else {
            return Ok(false);
        };
        let keys = state::rotate_authority_keys(
            dir,
            (self.now)(),
            self.cfg.key_rotation_secs,
            self.cfg.key_overlap_secs,
            &self.rng,
        )?;
        let jwks = JwkSet::new(keys.iter().map(|k| k.signer.public_jwk()).collect())
            .map_err(|e| StartError::Config(e.to_string()))?;
        let mut current = self
            .authority_keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = current.jwks.keys() != jwks.keys();
        if let Some(active) = keys.into_iter().last() {
            current.active = active.signer;
        }
        current.jwks = jwks;
        Ok(changed)
    }

    /// Replaces the configured signing key (a KMS or PKCS#11 [`KeySource`]).
    pub fn with_key_source(self: Arc<Self>, key: Arc<dyn KeySource>) -> Option<Arc<Stack>> {
        let mut s = Arc::try_unwrap(self).ok()?;
        s.signing_key_id = crate::dsse::key_id(&key.public_key_spki_der());
        s.signing_key = key;
        Some(Arc::new(s))
    }

    /// The Authority's published key set.
    pub fn authority_jwks(&self) -> JwkSet {
        self.authority_keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .jwks
            .clone()
    }

    /// The license issuer's key set.
    pub fn license_jwks(&self) -> JwkSet {
        self.license_jwks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the keys OpToks and PoEs are verified with: what a Signer deployed on its own
    /// fetched from its Authority.
    pub fn set_trust(&self, authority: JwkSet, license: JwkSet, license_issuer: String) {
        *self
            .license_issuer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = license_issuer;
        self.authority_keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .jwks = authority;
        *self
            .license_jwks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = license;
    }

    /// The `iss` of License Tokens and PoEs: `urn:stella:license:<thumbprint of the license key>`.
    /// It does not depend on the URL the services are reached at, so a License Token issued offline
    /// (`stella license issue`) is accepted by the running stack.
    pub fn license_issuer(&self) -> String {
        self.license_issuer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The License-issuing key, for `stella license issue` on the same data directory.
    pub fn license_signer(&self) -> &Es256Signer {
        &self.license_key
    }

    /// The public key of the configured signing key, PEM.
    pub fn signing_public_pem(&self) -> String {
        pem("PUBLIC KEY", &self.signing_key.public_key_spki_der())
    }

    /// The configured signing key's SPKI DER.
    pub fn signing_key_spki(&self) -> Vec<u8> {
        self.signing_key.public_key_spki_der()
    }

    /// The keyless CA's root certificate (DER).
    pub fn ca_root_der(&self) -> &[u8] {
        self.ca.cert_der()
    }

    /// The CT log's public key (SPKI DER).
    pub fn ct_log_spki_der(&self) -> Vec<u8> {
        self.ct.public_key_spki_der()
    }

    /// The admin bearer token (revocation, introspection).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Has every signature logged in `log` from now on (once; later calls are ignored and return
    /// `false`).
    pub fn set_transparency(&self, log: Arc<dyn transparency::Transparency>) -> bool {
        self.transparency.set(log).is_ok()
    }

    /// Attaches the Attestor named by `remote_attestor` in the configuration, if any.
    pub fn attach_remote_attestor(&self) -> Result<(), StartError> {
        let Some(r) = &self.cfg.remote_attestor else {
            return Ok(());
        };
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| StartError::Config(format!("{}: {e}", p.display())))
        };
        let ca = match &r.ca_file {
            Some(p) => Some(read(p)?),
            None => None,
        };
        let remote = transparency::RemoteAttestor::new(
            &r.url,
            &read(&r.cert_file)?,
            &read(&r.key_file)?,
            ca.as_deref(),
        )
        .map_err(StartError::Config)?;
        self.set_transparency(Arc::new(remote));
        Ok(())
    }

    /// The CA chain of keyless certificates (root last) and the CT log key, for the trusted root.
    pub fn keyless_trust(&self) -> (Vec<Vec<u8>>, Vec<u8>) {
        (
            vec![self.ca.cert_der().to_vec()],
            self.ct.public_key_spki_der(),
        )
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }
}

/// The verifier of scanner release signatures, from the configured release keys (PEM files).
fn release_verifier(cfg: &Config) -> Result<Option<crate::release::ReleaseVerifier>, StartError> {
    if cfg.release_keys.is_empty() {
        return Ok(None);
    }
    let mut keys = Vec::with_capacity(cfg.release_keys.len());
    for path in &cfg.release_keys {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StartError::Config(format!("release key {}: {e}", path.display())))?;
        let der = pem_decode("PUBLIC KEY", &text).ok_or_else(|| {
            StartError::Config(format!(
                "release key {}: not a PEM PUBLIC KEY",
                path.display()
            ))
        })?;
        keys.push(der);
    }
    let opts = registry::PushOptions {
        insecure: cfg.release_registry_insecure,
        ..registry::PushOptions::default()
    };
    crate::release::ReleaseVerifier::new(keys, opts)
        .map(Some)
        .map_err(|e| StartError::Config(e.to_string()))
}

/// The license issuer name for a license key.
pub fn license_issuer_of(key: &Es256Signer) -> String {
    format!("urn:stella:license:{}", key.public_jwk().thumbprint())
}

/// PEM encoding with 64-column lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Reads the DER inside a PEM block with `label`.
pub fn pem_decode(label: &str, text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text.get(start..)?.find(&end)?;
    let body: String = text
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Generates an in-memory key, for tests and ephemeral keyless signing.
pub fn ephemeral_key() -> Option<MemoryKey> {
    MemoryKey::generate(&SystemRandom::new())
        .ok()
        .map(|(k, _)| k)
}

fn common(router: Router<Arc<Stack>>, stack: &Arc<Stack>, openapi: &'static str) -> Router {
    let metrics = stack.metrics.clone();
    router
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route(
            "/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    openapi.to_owned(),
                )
            }),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(stack.cfg.request_timeout_ms),
        ))
        .layer(RequestBodyLimitLayer::new(stack.cfg.max_body_bytes))
        .layer(axum::middleware::from_fn(move |req, next| {
            http::observe(metrics.clone(), req, next)
        }))
        .with_state(stack.clone())
}

async fn readyz(State(s): State<Arc<Stack>>) -> Response {
    // Ready when the keys sign: a broken KMS key source makes the instance unready.
    match s.signing_key.sign(b"readyz") {
        Ok(_) => "ready\n".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

async fn metrics_text(State(s): State<Arc<Stack>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// The Authority (OIDC discovery, JWKS, token exchange, introspection) and licensing.
pub fn authority_app(stack: Arc<Stack>) -> Router {
    common(
        authority::routes().merge(license::routes()),
        &stack,
        include_str!("openapi/authority.json"),
    )
}

/// The Signer.
pub fn signer_app(stack: Arc<Stack>) -> Router {
    common(
        signer::routes(),
        &stack,
        include_str!("openapi/signer.json"),
    )
}

/// Authority, licensing and Signer in one router, as `stella serve` runs them.
pub fn app(stack: Arc<Stack>) -> Router {
    common(
        authority::routes()
            .merge(license::routes())
            .merge(signer::routes())
            .merge(dev::routes())
            .route(
                "/openapi/authority.json",
                get(|| async { Json(openapi("authority")) }),
            )
            .route(
                "/openapi/signer.json",
                get(|| async { Json(openapi("signer")) }),
            ),
        &stack,
        include_str!("openapi/stack.json"),
    )
}

/// The OpenAPI document of `service` (`authority` or `signer`).
pub fn openapi(service: &str) -> Value {
    let text = match service {
        "signer" => include_str!("openapi/signer.json"),
        _ => include_str!("openapi/authority.json"),
    };
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    last_ms: u128,
}

impl Bucket {
    pub fn full(burst: u32) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            last_ms: now_ms(),
        }
    }

    /// Takes a token; `Err(seconds to wait)` when empty.
    pub fn take(&mut self, qps: u32, burst: u32) -> Result<(), u64> {
        let now = now_ms();
        let elapsed = now.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = now;
        self.tokens = (self.tokens + elapsed * f64::from(qps)).min(f64::from(burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / f64::from(qps.max(1));
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

pub(crate) type Shared<T> = Mutex<HashMap<String, T>>;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use serde_json::json;

    use super::*;

    #[test]
    fn keys_rotate_while_running_and_old_tokens_verify_through_the_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let t = Arc::new(AtomicU64::new(1_800_000_000));
        let clock = t.clone();
        let cfg =
            Config::parse(br#"{"key_rotation_secs": 86400, "key_overlap_secs": 600}"#).unwrap();
        let s = Stack::open(
            dir.path(),
            cfg,
            "http://a",
            Arc::new(move || clock.load(Ordering::SeqCst)),
        )
        .unwrap();
        let token = |s: &Stack| {
            let now = (s.now)();
            let claims = json!({"iss": s.issuer, "aud": SIGNER_AUDIENCE, "iat": now, "exp": now + 300, "cnf": {"jkt": "x"}});
            authority::sign_optok(s, &claims).unwrap()
        };
        let old = token(&s);
        assert!(!s.rotate_keys().unwrap(), "not due yet");
        t.fetch_add(86_400, Ordering::SeqCst);
        assert!(s.rotate_keys().unwrap());
        assert_eq!(s.authority_jwks().keys().len(), 2);
        let new = token(&s);
        assert_ne!(
            crate::jose::Jws::parse(&old).unwrap().header_str("kid"),
            crate::jose::Jws::parse(&new).unwrap().header_str("kid"),
            "new tokens are signed by the new key"
        );
        t.fetch_add(100, Ordering::SeqCst);
        // Within the overlap the retired key is still published, so tokens it signed verify.
        let mut early = s.authority_jwks();
        authority::verify_optok(&s, &new).unwrap();
        assert_eq!(early.keys().len(), 2);
        let retired = early
            .find(
                crate::jose::Jws::parse(&old)
                    .unwrap()
                    .header_str("kid")
                    .unwrap(),
            )
            .cloned();
        assert!(retired.is_some());
        // After the overlap the retired key is gone.
        t.fetch_add(600, Ordering::SeqCst);
        assert!(s.rotate_keys().unwrap());
        early = s.authority_jwks();
        assert_eq!(early.keys().len(), 1);
        authority::verify_optok(&s, &token(&s)).unwrap();
        let e = authority::verify_optok(&s, &old).unwrap_err();
        assert!(e.contains("kid") || e.contains("exp"), "{e}");
    }
}
