//! HTTP: the Rekor v2 write API, the C2SP static reads, the TSA and the Attestor API.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use signer_gateway::dsse::Envelope;
use signer_gateway::service::http::ApiError;
use signer_gateway::service::tls::ClientCert;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::{Attestor, AttestorError};
use crate::bundle::VerificationContent;
use crate::store::Appended;

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

impl From<AttestorError> for ApiError {
    fn from(e: AttestorError) -> ApiError {
        match e {
            AttestorError::BadRequest(m) => ApiError::invalid_request(m),
            AttestorError::Sequencer(_) | AttestorError::Log(_) | AttestorError::State { .. } => {
                tracing::error!(error = %e, "log failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the log could not take the entry; retry later",
                )
            }
            AttestorError::Tsa(m) => {
                tracing::error!(error = %m, "timestamp failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the timestamp authority failed; retry later",
                )
            }
        }
    }
}

/// The Attestor's routes, to merge into a larger router (`stella serve`).
pub fn routes(att: Arc<Attestor>) -> Router {
    let limit = att.cfg.max_body_bytes;
    // A hashedrekord request holds a digest, a signature and a certificate: a few kilobytes.
    let entry_limit = RequestBodyLimitLayer::new(att.cfg.max_entry_bytes.min(limit));
    Router::new()
        .route("/api/v2/log/entries", post(create_entry).layer(entry_limit))
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .route("/api/v1/timestamp", post(timestamp).layer(entry_limit))
        .route("/api/v1/timestamp/certchain", get(tsa_chain))
        .route("/rekor/entries", post(attest_entry))
        .route("/rekor/entries/{uuid}", get(get_entry))
        .route("/trust/trusted_root.json", get(trusted_root))
        .route("/trust/client_trust_config.json", get(client_trust_config))
        .route(
            "/openapi/attestor.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    include_str!("openapi.json"),
                )
            }),
        )
        .layer(RequestBodyLimitLayer::new(limit))
        .with_state(att)
}

/// The Attestor on its own, with health and timeouts.
pub fn app(att: Arc<Attestor>) -> Router {
    routes(att)
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
}

/// `POST /api/v2/log/entries`: a Rekor v2 `hashedRekordRequestV002`. 201 with the
/// TransparencyLogEntry once a checkpoint covers it; 409 naming the index of an equivalent entry.
async fn create_entry(State(att): State<Arc<Attestor>>, body: Bytes) -> Response {
    match create_entry_inner(&att, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn create_entry_inner(att: &Attestor, body: &[u8]) -> Result<Response, ApiError> {
    if let Some(up) = att.upstream() {
        // Checked here first, so a bad entry never costs the upstream a request.
        crate::rekor::parse_create_request(body)
            .map_err(|e| ApiError::invalid_request(e.to_string()))?;
        let a = up.submit(body).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                e.to_string(),
            )
        })?;
        let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let r = (status, [(header::CONTENT_TYPE, "application/json")], a.body).into_response();
        return Ok(with_source(r, Some(a.source)));
    }
    let req = crate::rekor::parse_create_request(body)
        .map_err(|e| ApiError::invalid_request(e.to_string()))?;
    let canonical = req
        .canonical_body()
        .map_err(|e| ApiError::invalid_request(e.to_string()))?;
    let receipt = att.append(canonical.clone()).await?;
    if let Appended::Duplicate(i) = receipt.appended {
        let body = json!({
            "error": "conflict",
            "error_description": format!("an equivalent entry already exists in the log at index {i}"),
            "logIndex": i.to_string(),
        });
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    }
    let entry = att.tlog_entry(&receipt, canonical);
    Ok((StatusCode::CREATED, Json(entry.to_json())).into_response())
}

fn static_file(bytes: Vec<u8>, content_type: &'static str, immutable: bool) -> Response {
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    r
}

/// A log file: local, or through the upstream (primary, mirror, cache) in upstream mode.
async fn read_log(
    att: &Attestor,
    path: &str,
) -> Result<(Vec<u8>, Option<crate::upstream::Source>), ApiError> {
    let Some(up) = att.upstream() else {
        return Ok((att.read_static(path)?.ok_or_else(not_found)?, None));
    };
    match up.read(path).await {
        Ok(a) if a.status == 200 => Ok((a.body, Some(a.source))),
        Ok(a) if a.status == 404 => Err(not_found()),
        Ok(a) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("the upstream log answered HTTP {}", a.status),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e.to_string(),
        )),
    }
}

fn with_source(mut r: Response, source: Option<crate::upstream::Source>) -> Response {
    if let Some(s) = source {
        r.headers_mut()
            .insert("x-stella-source", HeaderValue::from_static(s.as_str()));
    }
    r
}

async fn checkpoint(State(att): State<Arc<Attestor>>) -> Result<Response, ApiError> {
    let (cp, source) = read_log(&att, "checkpoint").await?;
    Ok(with_source(
        static_file(cp, "text/plain; charset=utf-8", false),
        source,
    ))
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such file in this log",
    )
}

async fn tile(
    State(att): State<Arc<Attestor>>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let path = format!("tile/{path}");
    if crate::tiles::parse_tile_path(&path).is_err() {
        return Err(not_found());
    }
    let (bytes, source) = read_log(&att, &path).await?;
    // Full tiles never change; a partial tile is superseded by a wider one, under another name.
    Ok(with_source(
        static_file(bytes, "application/octet-stream", true),
        source,
    ))
}

/// `POST /api/v1/timestamp`: an RFC 3161 TimeStampReq (DER) → TimeStampResp.
async fn timestamp(
    State(att): State<Arc<Attestor>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/timestamp-query") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "send a DER TimeStampReq as application/timestamp-query (RFC 3161 §3.4)",
        ));
    }
    let resp = att.timestamp_request(&body)?;
    let mut r = resp.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/timestamp-reply"),
    );
    Ok(r)
}

async fn tsa_chain(State(att): State<Arc<Attestor>>) -> Response {
    let pem: String = att
        .tsa_chain()
        .iter()
        .map(|d| signer_gateway::service::pem("CERTIFICATE", d))
        .collect();
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        pem,
    )
        .into_response()
}

fn der_or_pem(v: &Value, what: &str, label: &str) -> Result<Vec<u8>, ApiError> {
    let s = v
        .as_str()
        .ok_or_else(|| ApiError::invalid_request(format!("{what} must be a string")))?;
    if s.trim_start().starts_with("-----BEGIN") {
        signer_gateway::service::pem_decode(label, s)
            .ok_or_else(|| ApiError::invalid_request(format!("{what} is not a PEM {label}")))
    } else {
        B64.decode(s.trim())
            .map_err(|_| ApiError::invalid_request(format!("{what} is neither PEM nor base64 DER")))
    }
}

/// `POST /rekor/entries` (Signer only): `{"dsseEnvelope": {...}, "certificate": PEM|b64,
/// "chain": [...]}` or `{"dsseEnvelope": {...}, "publicKey": PEM|b64, "keyHint": "..."}` →
/// `{uuid, index, logURL, proof, bundle}`.
async fn attest_entry(
    State(att): State<Arc<Attestor>>,
    client_cert: Option<Extension<ClientCert>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let allowed = att.cfg.open_writes
        || client_cert
            .as_ref()
            .is_some_and(|Extension(c)| att.cfg.writers.iter().any(|w| w == &c.x5t_s256));
    if !allowed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "only the Signer may write: present its client certificate (mTLS)",
        ));
    }
    let req: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid_request(format!("the body is not JSON: {e}")))?;
    let env = req
        .get("dsseEnvelope")
        .ok_or_else(|| ApiError::invalid_request("dsseEnvelope is missing"))?;
    let envelope = Envelope::from_json(env)
        .map_err(|e| ApiError::invalid_request(format!("dsseEnvelope: {e}")))?;
    let logged = if let Some(cert) = req.get("certificate") {
        let leaf = der_or_pem(cert, "certificate", "CERTIFICATE")?;
        att.log_dsse(&envelope, VerificationContent::Certificate(leaf))
            .await?
    } else if let Some(key) = req.get("publicKey") {
        let spki = der_or_pem(key, "publicKey", "PUBLIC KEY")?;
        let hint = req.get("keyHint").and_then(Value::as_str).unwrap_or("");
        att.log_dsse_with_key(&envelope, &spki, hint).await?
    } else {
        return Err(ApiError::invalid_request(
            "name the signer: certificate (PEM or base64 DER) or publicKey",
        ));
    };
    let status = if logged.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let p = &logged.tlog_entry.inclusion_proof;
    let answer = json!({
        "uuid": logged.uuid,
        "index": logged.index,
        "duplicate": logged.duplicate,
        "logURL": att.cfg.public_url,
        "proof": {
            "logIndex": p.log_index.to_string(),
            "rootHash": b64(&p.root_hash),
            "treeSize": p.tree_size.to_string(),
            "hashes": p.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
            "checkpoint": p.checkpoint,
        },
        "bundle": logged.bundle.to_json(),
    });
    Ok((status, Json(answer)).into_response())
}

/// `GET /rekor/entries/{uuid}`: the entry, a fresh inclusion proof against the current
/// checkpoint, and the bundle handed out when it was logged.
async fn get_entry(
    State(att): State<Arc<Attestor>>,
    Path(uuid): Path<String>,
) -> Result<Response, ApiError> {
    let leaf: [u8; 32] = (uuid.len() == 64)
        .then(|| {
            (0..32)
                .map(|i| u8::from_str_radix(uuid.get(2 * i..2 * i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()
        })
        .flatten()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| {
            ApiError::invalid_request("the uuid is the 64 hex digits of the entry's leaf hash")
        })?;
    let index = att.lookup(&leaf)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no entry with this uuid",
        )
    })?;
    let (proof, body) = att.prove(index)?;
    Ok(Json(json!({
        "uuid": uuid,
        "index": index,
        "logURL": att.cfg.public_url,
        "canonicalizedBody": b64(&body),
        "proof": {
            "logIndex": proof.log_index.to_string(),
            "rootHash": b64(&proof.root_hash),
            "treeSize": proof.tree_size.to_string(),
            "hashes": proof.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
            "checkpoint": proof.checkpoint,
        },
        "bundle": att.saved_bundle(&uuid),
    }))
    .into_response())
}

async fn trusted_root(State(att): State<Arc<Attestor>>) -> Json<Value> {
    Json(att.trusted_root().to_json())
}

async fn client_trust_config(State(att): State<Arc<Attestor>>) -> Json<Value> {
    Json(att.client_trust_config())
}
