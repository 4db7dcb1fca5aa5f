//! Pulling from a registry: the OCI distribution spec's pull half, with token and basic auth.
//!
//! Every manifest and blob is hashed as it arrives and compared with the digest it was addressed by; a
//! mismatching blob is deleted before the error is returned, so nothing unverified is left in the scratch
//! directory under its final name.

pub(crate) mod auth;
mod push;
pub(crate) mod referrers;
mod retry;

pub use push::push_image;
pub use referrers::{
    fetch_referrer, list_referrers, push_blob_file, push_referrer, referrer_subjects, PushOptions,
    PushedReferrer,
};

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::digest::{Digest, Hasher};
use crate::error::SourceError;
use crate::image::{
    check_config_platform, check_layer_count, select_platform, verify, BlobLocation, ImageConfig,
    LayerBlob, ManifestDoc, ResolvedImage, MANIFEST_ACCEPT, MAX_CONFIG_BYTES, MAX_INDEX_DEPTH,
    MAX_MANIFEST_BYTES,
};
use crate::reference::Reference;
use crate::ResolveOptions;
use auth::{Challenge, CredentialLookup, Credentials};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// No byte for this long on an open connection is a failure, even mid-blob.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Whole-request bound for small documents (manifests, configs, tokens).
const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_REDIRECTS: usize = 10;
const MAX_TOKEN_BYTES: u64 = 1 << 20;
const MAX_ERROR_BODY: u64 = 4096;
/// Layer downloads in flight at once.
const CONCURRENT_DOWNLOADS: usize = 4;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A client for one repository of one registry.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// `https://host[:port]`
    base: String,
    registry: String,
    repository: String,
    creds: CredentialLookup,
    /// HTTPS to a loopback registry: a failure there is most often a plain-HTTP registry.
    https_to_loopback: bool,
    /// Authorization header values by scope (`repository:<name>:pull`).
    cache: Mutex<HashMap<String, String>>,
    /// Asks for `pull,push` on the repository.
    push: bool,
    /// Another repository of the same registry blobs may be mounted from (its `pull` scope is asked for).
    mount_from: Option<String>,
}

/// A request body that can be sent again (after a 401 or a retryable failure).
#[derive(Debug, Clone)]
pub(crate) enum ReqBody {
    None,
    Bytes(Arc<Vec<u8>>),
    /// Streamed from the file, never read whole; the length is sent as `Content-Length`.
    File {
        path: PathBuf,
        len: u64,
    },
}

impl Client {
    pub(crate) fn new(reference: &Reference, opts: &ResolveOptions) -> Result<Self, SourceError> {
        Client::with(
            reference,
            opts.insecure,
            opts.docker_config.as_deref(),
            false,
            None,
        )
    }

    pub(crate) fn with(
        reference: &Reference,
        insecure: bool,
        docker_config: Option<&Path>,
        push: bool,
        mount_from: Option<String>,
    ) -> Result<Self, SourceError> {
        let scheme = if insecure {
            if !is_loopback(reference.host_without_port()) {
                return Err(SourceError::InsecureNotAllowed {
                    registry: reference.registry().to_owned(),
                });
            }
            "http"
        } else {
            "https"
        };
        let creds = auth::lookup(reference.registry(), docker_config)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .user_agent(concat!("stella-registry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError::Http {
                url: format!("{scheme}://{}", reference.api_host()),
                hint: None,
                source: e,
            })?;
        Ok(Client {
            http,
            base: format!("{scheme}://{}", reference.api_host()),
            registry: reference.registry().to_owned(),
            repository: reference.repository().to_owned(),
            creds,
            https_to_loopback: !insecure && is_loopback(reference.host_without_port()),
            cache: Mutex::new(HashMap::new()),
            push,
            mount_from,
        })
    }

    fn scope(&self) -> String {
        if self.push {
            format!("repository:{}:pull,push", self.repository)
        } else {
            format!("repository:{}:pull", self.repository)
        }
    }

    /// Every scope this client needs: its repository, and `pull` on the mount source.
    fn scopes(&self) -> Vec<String> {
        let mut s = vec![self.scope()];
        if let Some(from) = self.mount_from.as_deref().filter(|f| *f != self.repository) {
            s.push(format!("repository:{from}:pull"));
        }
        s
    }

    fn cached(&self) -> Option<String> {
        self.cache.lock().ok()?.get(&self.scope()).cloned()
    }

    /// GET with auth and retries.
    async fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        small: bool,
    ) -> Result<Response, SourceError> {
        self.send(Method::GET, url, accept, None, &ReqBody::None, small, true)
            .await
    }

    /// One request with auth (the cached credential; one 401 challenge answered, then a second 401 is
    /// an error), retries with jittered backoff on 429/502/503/504 and connection errors when
    /// `retry` (idempotent requests only; `Retry-After` honoured up to [`retry::MAX_RETRY_AFTER`]),
    /// and the per-registry concurrency budget. The answer's status is the caller's to judge.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        content_type: Option<&str>,
        body: &ReqBody,
        small: bool,
        retry: bool,
    ) -> Result<Response, SourceError> {
        let started = std::time::Instant::now();
        let mut auth = self.cached();
        let mut reauthenticated = false;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let budget = retry::budget(&self.registry);
            let permit = budget
                .acquire_owned()
                .await
                .map_err(|e| SourceError::Task(e.to_string()))?;
            let result = self
                .send_once(
                    &method,
                    url,
                    accept,
                    content_type,
                    body,
                    auth.clone(),
                    small,
                )
                .await;
            drop(permit);
            let may_retry = retry && attempt < retry::MAX_ATTEMPTS;
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    let transient = matches!(&e, SourceError::Http { source, .. }
                        if source.is_connect() || source.is_timeout() || source.is_request());
                    if transient && may_retry && started.elapsed() < retry::MAX_RETRY_TIME {
                        tokio::time::sleep(retry::request_backoff(attempt)).await;
                        continue;
                    }
                    return Err(e);
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                if reauthenticated {
                    let what = if method == Method::GET || method == Method::HEAD {
                        "the registry rejected the credentials".to_owned()
                    } else {
                        format!(
                            "the registry rejected the credentials for {method} on {} (check that the account may push to it)",
                            self.repo_display()
                        )
                    };
                    return Err(self.auth_error(&what));
                }
                let challenges: Vec<Challenge> = resp
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .filter_map(auth::parse_challenge)
                    .collect();
                let header = self.authenticate(&challenges).await?;
                if let Ok(mut c) = self.cache.lock() {
                    c.insert(self.scope(), header.clone());
                }
                auth = Some(header);
                reauthenticated = true;
                // The re-sent request is not a retry of a failure.
                attempt = attempt.saturating_sub(1);
                continue;
            }
            if retry::retryable_status(status.as_u16()) && may_retry {
                let delay = retry::retry_after(resp.headers(), std::time::SystemTime::now())
                    .unwrap_or_else(|| retry::request_backoff(attempt));
                if delay <= retry::MAX_RETRY_AFTER
                    && started.elapsed() + delay < retry::MAX_RETRY_TIME
                {
                    drop(resp);
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            return Ok(resp);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        accept: Option<&str>,
        content_type: Option<&str>,
        body: &ReqBody,
        auth: Option<String>,
        small: bool,
    ) -> Result<Response, SourceError> {
        let mut req = self.http.request(method.clone(), url);
        if let Some(a) = accept {
            req = req.header(ACCEPT, a);
        }
        if let Some(c) = content_type {
            req = req.header(CONTENT_TYPE, c);
        }
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        if small {
            req = req.timeout(SMALL_REQUEST_TIMEOUT);
        }
        req = match body {
            ReqBody::None => req,
            ReqBody::Bytes(b) => req.header(CONTENT_LENGTH, b.len()).body(b.as_ref().clone()),
            ReqBody::File { path, len } => {
                let f = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| SourceError::io(path, e))?;
                req.header(CONTENT_LENGTH, *len)
                    .body(reqwest::Body::from(f))
            }
        };
        req.send().await.map_err(|e| SourceError::Http {
            url: url.to_owned(),
            hint: self
                .https_to_loopback
                .then_some("a local registry usually speaks plain HTTP: use --insecure"),
            source: e,
        })
    }

    fn auth_error(&self, what: &str) -> SourceError {
        let source = match (&self.creds.credentials, &self.creds.config_path) {
            (Some(c), Some(p)) => format!(
                "; used user '{}' from {} (check the password, or run `docker login {}`)",
                c.username(),
                match &self.creds.helper {
                    Some(h) => format!("docker-credential-{h} (named by {})", p.display()),
                    None => p.display().to_string(),
                },
                self.registry
            ),
            (None, Some(p)) if self.creds.helper.is_some() => format!(
                "; the credential helper docker-credential-{} named by {} has no credentials for {} (run `docker login {}`)",
                self.creds.helper.as_deref().unwrap_or_default(),
                p.display(),
                self.registry,
                self.registry
            ),
            (None, Some(p)) => format!(
                "; no credentials for {} in {} (run `docker login {}`)",
                self.registry,
                p.display(),
                self.registry
            ),
            _ => format!(
                "; no docker config found (set DOCKER_CONFIG or run `docker login {}`)",
                self.registry
            ),
        };
        SourceError::Auth {
            registry: self.registry.clone(),
            detail: format!("{what}{source}"),
        }
    }

    /// Turns a challenge into an `Authorization` header value.
    async fn authenticate(&self, challenges: &[Challenge]) -> Result<String, SourceError> {
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            return self.bearer(bearer).await;
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return match &self.creds.credentials {
                Some(Credentials::Basic { username, password }) => Ok(basic_header(username, password)),
                Some(Credentials::IdentityToken { .. }) => Err(self.auth_error(
                    "the registry wants basic auth but the docker config only has an identity token",
                )),
                None => Err(self.auth_error("the registry requires authentication")),
            };
        }
        Err(self
            .auth_error("the registry answered 401 without a usable WWW-Authenticate challenge"))
    }

    async fn bearer(&self, c: &Challenge) -> Result<String, SourceError> {
        let realm = c
            .params
            .get("realm")
            .ok_or_else(|| self.auth_error("the Bearer challenge has no realm"))?;
        let url = reqwest::Url::parse(realm)
            .map_err(|_| self.auth_error(&format!("the Bearer realm '{realm}' is not a URL")))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(self.auth_error(&format!("the Bearer realm '{realm}' is not http(s)")));
        }
        let cleartext = url.scheme() == "http" && !url.host_str().is_some_and(is_loopback);
        if cleartext && self.creds.credentials.is_some() {
            return Err(SourceError::CleartextCredentials { url: realm.clone() });
        }
        // What the challenge names plus everything this client will need, so one token serves the
        // whole push (pull,push on the repository, pull on a mount source).
        let mut scopes: Vec<String> = c
            .params
            .get("scope")
            .map(|s| {
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        for s in self.scopes() {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        let scope = scopes.join(" ");
        let service = c.params.get("service").cloned();

        let req = match &self.creds.credentials {
            Some(Credentials::IdentityToken { token, .. }) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", token.clone()),
                    ("client_id", "stella".to_owned()),
                    ("scope", scope),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                self.http.post(url.clone()).form(&form)
            }
            other => {
                let mut query: Vec<(&str, String)> =
                    scopes.iter().map(|s| ("scope", s.clone())).collect();
                if let Some(s) = service {
                    query.push(("service", s));
                }
                let mut req = self.http.get(url.clone()).query(&query);
                if let Some(Credentials::Basic { username, password }) = other {
                    req = req.header(AUTHORIZATION, basic_header(username, password));
                }
                req
            }
        };
        let resp = req
            .timeout(SMALL_REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| SourceError::Http {
                url: realm.clone(),
                hint: None,
                source: e,
            })?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.auth_error(&format!(
                "the token server {realm} refused (HTTP {})",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(status_error(realm, resp).await);
        }
        let body = read_limited(resp, MAX_TOKEN_BYTES, "token response", realm).await?;
        #[derive(Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| SourceError::malformed("token response", realm, e))?;
        let token = t
            .token
            .filter(|t| !t.is_empty())
            .or(t.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| {
                SourceError::malformed("token response", realm, "no 'token' or 'access_token'")
            })?;
        Ok(format!("Bearer {token}"))
    }

    pub(crate) fn manifest_url(&self, reference: &str) -> String {
        format!(
            "{}/v2/{}/manifests/{}",
            self.base, self.repository, reference
        )
    }

    pub(crate) fn blob_url(&self, digest: &Digest) -> String {
        format!("{}/v2/{}/blobs/{}", self.base, self.repository, digest)
    }

    pub(crate) fn repo_display(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Fetches a manifest or index by tag or digest; returns its bytes, digest and content type.
    pub(crate) async fn manifest(
        &self,
        reference: &str,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<(Vec<u8>, Digest, Option<String>), SourceError> {
        let url = self.manifest_url(reference);
        let resp = self.get(&url, Some(MANIFEST_ACCEPT), true).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(SourceError::ManifestNotFound {
                reference: reference.to_owned(),
                repository: self.repo_display(),
            });
        }
        if !resp.status().is_success() {
            return Err(status_error(&url, resp).await);
        }
        let content_type = header_str(resp.headers(), CONTENT_TYPE.as_str());
        let announced = header_str(resp.headers(), "docker-content-digest");
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, "manifest", &url).await?;
        let digest = match expected {
            Some((d, size)) => {
                verify(&bytes, d, size, "manifest", &url)?;
                d.clone()
            }
            None => {
                let computed = Digest::sha256_of(&bytes);
                if let Some(a) = announced.as_deref().and_then(|a| Digest::parse(a).ok()) {
                    let ours = a.compute_same(&bytes);
                    if ours != a {
                        return Err(SourceError::DigestMismatch {
                            what: "manifest".to_owned(),
                            location: url,
                            expected: a.to_string(),
                            actual: ours.to_string(),
                        });
                    }
                }
                computed
            }
        };
        Ok((bytes, digest, content_type))
    }

    /// Fetches a small blob into memory and verifies it.
    pub(crate) async fn small_blob(
        &self,
        digest: &Digest,
        size: u64,
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, SourceError> {
        let url = self.blob_url(digest);
        if size > limit {
            return Err(SourceError::TooLarge {
                what: format!("{what} {digest}"),
                location: url,
                limit,
            });
        }
        let resp = self.blob_response(digest, what, &url, true).await?;
        let bytes = read_limited(resp, limit, what, &url).await?;
        verify(&bytes, digest, Some(size), what, &url)?;
        Ok(bytes)
    }

    async fn blob_response(
        &self,
        digest: &Digest,
        what: &str,
        url: &str,
        small: bool,
    ) -> Result<Response, SourceError> {
        let resp = self.get(url, None, small).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(SourceError::MissingBlob {
                what: what.to_owned(),
                digest: digest.to_string(),
                location: self.repo_display(),
            });
        }
        if !resp.status().is_success() {
            return Err(status_error(url, resp).await);
        }
        Ok(resp)
    }

    /// Streams a blob to `dir/<hex>` through a temporary name, hashing as it goes. A blob already there
    /// with the right size is re-hashed and reused.
    pub(crate) async fn blob_to_file(
        &self,
        digest: &Digest,
        size: u64,
        dir: &Path,
        what: &str,
    ) -> Result<PathBuf, SourceError> {
        let url = self.blob_url(digest);
        let final_path = dir.join(digest.hex());
        if let Ok(m) = tokio::fs::metadata(&final_path).await {
            if m.is_file() && m.len() == size && hash_file(&final_path, digest).await? {
                return Ok(final_path);
            }
            tokio::fs::remove_file(&final_path)
                .await
                .map_err(|e| SourceError::io(&final_path, e))?;
        }
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = TempFile(dir.join(format!(
            ".{}.{}.{n}.partial",
            digest.hex(),
            std::process::id()
        )));
        let mut resp = self.blob_response(digest, what, &url, false).await?;
        let size_err = |actual: u64| SourceError::SizeMismatch {
            what: what.to_owned(),
            digest: digest.to_string(),
            location: url.clone(),
            expected: size,
            actual,
        };
        if let Some(len) = resp.content_length() {
            if len != size {
                return Err(size_err(len));
            }
        }
        let mut file = tokio::fs::File::create(&tmp.0)
            .await
            .map_err(|e| SourceError::io(&tmp.0, e))?;
        let mut hasher = Hasher::new(digest.algorithm());
        let mut written: u64 = 0;
        while let Some(chunk) = resp.chunk().await.map_err(|e| SourceError::Http {
            url: url.clone(),
            hint: None,
            source: e,
        })? {
            written += chunk.len() as u64;
            if written > size {
                return Err(size_err(written));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| SourceError::io(&tmp.0, e))?;
        }
        file.flush().await.map_err(|e| SourceError::io(&tmp.0, e))?;
        drop(file);
        if written != size {
            return Err(size_err(written));
        }
        let actual = hasher.finish();
        if &actual != digest {
            return Err(SourceError::DigestMismatch {
                what: what.to_owned(),
                location: url,
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        tokio::fs::rename(&tmp.0, &final_path)
            .await
            .map_err(|e| SourceError::io(&final_path, e))?;
        tmp.keep();
        Ok(final_path)
    }
}

/// Removes a partial download unless it was renamed into place.
struct TempFile(PathBuf);

impl TempFile {
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn hash_file(path: &Path, digest: &Digest) -> Result<bool, SourceError> {
    let path = path.to_owned();
    let digest = digest.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&path).map_err(|e| SourceError::io(&path, e))?;
        let mut h = Hasher::new(digest.algorithm());
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(|e| SourceError::io(&path, e))?;
            if n == 0 {
                break;
            }
            h.update(buf.get(..n).unwrap_or_default());
        }
        Ok(h.finish() == digest)
    })
    .await
    .map_err(|e| SourceError::Task(e.to_string()))?
}

/// The sha256 and length of a file, read in chunks on a blocking thread.
pub(crate) async fn digest_file(path: &Path) -> Result<(Digest, u64), SourceError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&path).map_err(|e| SourceError::io(&path, e))?;
        let mut h = Hasher::new(crate::digest::Algorithm::Sha256);
        let mut buf = vec![0u8; 1 << 16];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(|e| SourceError::io(&path, e))?;
            if n == 0 {
                break;
            }
            len += n as u64;
            h.update(buf.get(..n).unwrap_or_default());
        }
        Ok((h.finish(), len))
    })
    .await
    .map_err(|e| SourceError::Task(e.to_string()))?
}

fn basic_header(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `localhost`, `127.0.0.0/8`, `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Reads a body, refusing more than `limit` bytes.
async fn read_limited(
    mut resp: Response,
    limit: u64,
    what: &str,
    url: &str,
) -> Result<Vec<u8>, SourceError> {
    let too_large = || SourceError::TooLarge {
        what: what.to_owned(),
        location: url.to_owned(),
        limit,
    };
    if resp.content_length().is_some_and(|l| l > limit) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| SourceError::Http {
        url: url.to_owned(),
        hint: None,
        source: e,
    })? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An error for an unexpected status, with the registry's own message when it sent one.
async fn status_error(url: &str, resp: Response) -> SourceError {
    let status = resp.status().as_u16();
    let detail = read_limited(resp, MAX_ERROR_BODY, "error body", url)
        .await
        .ok()
        .and_then(|b| {
            #[derive(Deserialize)]
            struct Errors {
                errors: Vec<ErrorItem>,
            }
            #[derive(Deserialize)]
            struct ErrorItem {
                code: Option<String>,
                message: Option<String>,
            }
            let e: Errors = serde_json::from_slice(&b).ok()?;
            let parts: Vec<String> = e
                .errors
                .into_iter()
                .map(|i| {
                    format!(
                        "{} {}",
                        i.code.unwrap_or_default(),
                        i.message.unwrap_or_default()
                    )
                    .trim()
                    .to_owned()
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        });
    let detail = match (status, detail) {
        (403, None) => {
            Some("access denied (check that your account may pull this repository)".to_owned())
        }
        (_, d) => d,
    };
    SourceError::HttpStatus {
        url: url.to_owned(),
        status,
        detail,
    }
}

/// Resolves a registry reference: manifest (through indexes), config, and every layer downloaded into
/// `opts.scratch_dir` and verified.
pub(crate) async fn resolve(
    reference: &Reference,
    opts: &ResolveOptions,
) -> Result<ResolvedImage, SourceError> {
    let client = Arc::new(Client::new(reference, opts)?);
    let mut wanted = reference.manifest_reference();
    let mut expected: Option<(Digest, Option<u64>)> = reference.digest().map(|d| (d.clone(), None));
    let mut depth = 0;
    let (manifest_digest, config_desc, layer_descs) = loop {
        let (bytes, digest, content_type) = client
            .manifest(&wanted, expected.as_ref().map(|(d, s)| (d, *s)))
            .await?;
        let here = format!("{}@{digest}", client.repo_display());
        match ManifestDoc::parse(&bytes, content_type.as_deref(), &here)? {
            ManifestDoc::Index(entries) => {
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(SourceError::malformed(
                        "index",
                        &here,
                        "indexes nested too deeply",
                    ));
                }
                let d = select_platform(&entries, opts.platform.as_ref(), &here)?;
                let next = d.digest(&here)?;
                wanted = next.to_string();
                expected = Some((next, Some(d.size)));
            }
            ManifestDoc::Manifest { config, layers } => break (digest, config, layers),
        }
    };

    let location = client.repo_display();
    let config_digest = config_desc.digest(&location)?;
    let config_raw = client
        .small_blob(&config_digest, config_desc.size, MAX_CONFIG_BYTES, "config")
        .await?;
    let config = ImageConfig::parse(&config_raw, &format!("{location}@{config_digest}"))?;
    check_layer_count(&config, layer_descs.len(), &location)?;
    // Before any layer is downloaded.
    check_config_platform(&config, opts.platform.as_ref(), &location)?;

    tokio::fs::create_dir_all(&opts.scratch_dir)
        .await
        .map_err(|e| SourceError::io(&opts.scratch_dir, e))?;
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_DOWNLOADS));
    let mut tasks = tokio::task::JoinSet::new();
    let mut layers: Vec<Option<LayerBlob>> = Vec::with_capacity(layer_descs.len());
    for (i, (desc, diff_id)) in layer_descs.iter().zip(&config.diff_ids).enumerate() {
        let digest = desc.digest(&location)?;
        layers.push(None);
        let (client, semaphore, dir) =
            (client.clone(), semaphore.clone(), opts.scratch_dir.clone());
        let (size, media_type, diff_id) = (desc.size, desc.media_type.clone(), diff_id.clone());
        tasks.spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .map_err(|e| SourceError::Task(e.to_string()))?;
            let path = client.blob_to_file(&digest, size, &dir, "layer").await?;
            Ok::<_, SourceError>((
                i,
                LayerBlob {
                    digest: Some(digest.to_string()),
                    diff_id: Some(diff_id),
                    media_type,
                    size: Some(size),
                    location: BlobLocation::File {
                        path,
                        offset: 0,
                        len: size,
                    },
                },
            ))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        // Returning early drops the JoinSet, which aborts the other downloads.
        let (i, blob) = joined.map_err(|e| SourceError::Task(e.to_string()))??;
        if let Some(slot) = layers.get_mut(i) {
            *slot = Some(blob);
        }
    }
    let layers: Vec<LayerBlob> = layers.into_iter().flatten().collect();
    if layers.len() != layer_descs.len() {
        return Err(SourceError::Task(
            "a layer download did not report".to_owned(),
        ));
    }

    Ok(ResolvedImage {
        name: reference.to_string(),
        repository: Some(reference.name()),
        tag: reference.tag().map(str::to_owned),
        manifest_digest: Some(manifest_digest.to_string()),
        config_digest: config_digest.to_string(),
        config,
        config_raw,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "127.0.0.1",
            "127.3.2.1",
            "::1",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "localhost.example.com",
            "::2",
            "0.0.0.0",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn insecure_refused_for_remote_hosts() {
        let opts = ResolveOptions {
            insecure: true,
            docker_config: Some(PathBuf::from("/nonexistent/config.json")),
            ..ResolveOptions::new(std::env::temp_dir())
        };
        let r = Reference::parse("registry.example.com/a:1").unwrap();
        let e = Client::new(&r, &opts).unwrap_err();
        assert!(matches!(e, SourceError::InsecureNotAllowed { .. }), "{e}");
        assert!(e.to_string().contains("loopback"));
    }
}
