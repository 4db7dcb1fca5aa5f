//! The Authority: OIDC discovery, its JWKS, `/oauth/token` (RFC 8693 token exchange of GitHub
//! Actions / GitLab CI OIDC tokens for DPoP-bound OpToks) and `/oauth/introspect` (RFC 7662).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use ring::rand::SecureRandom as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::ci::{identity, CiIdentity};
use super::config::{glob, IdentityRule};
use super::{ApiError, Stack, SIGNER_AUDIENCE};
use crate::dpop::{verify_proof, DpopError, DpopProof, DpopRequest};
use crate::jose::{b64url_encode, verify_jwt, Alg, ClaimsPolicy, Jws, JwtError, VerifiedJwt};

/// RFC 8693 grant type.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Subject token types accepted: an OIDC ID token or a JWT.
const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The `typ` of OpToks (RFC 9068 JWT access tokens).
pub const OPTOK_TYP: &str = "at+jwt";
/// Algorithms accepted from CI issuers (GitHub signs RS256, GitLab RS256; others ES256/EdDSA).
const CI_ALGS: &[Alg] = &[Alg::RS256, Alg::PS256, Alg::ES256, Alg::EdDSA];
/// The CI claims carried into OpToks (for certificate extensions and audit), by platform.
const CARRIED_CLAIMS: &[&str] = &[
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "repository_visibility",
    "workflow_ref",
    "workflow_sha",
    "job_workflow_ref",
    "job_workflow_sha",
    "run_id",
    "run_attempt",
    "runner_environment",
    "event_name",
    "ref",
    "ref_type",
    "sha",
    "project_path",
    "project_id",
    "namespace_path",
    "namespace_id",
    "pipeline_id",
    "pipeline_source",
    "job_id",
    "ci_config_ref_uri",
    "ci_config_sha",
    "project_visibility",
];

pub(crate) fn routes() -> Router<Arc<Stack>> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/oauth/token", post(token))
        .route("/oauth/introspect", post(introspect))
}

async fn discovery(State(s): State<Arc<Stack>>) -> Json<Value> {
    Json(json!({
        "issuer": s.issuer,
        "jwks_uri": s.url("/jwks"),
        "token_endpoint": s.url("/oauth/token"),
        "introspection_endpoint": s.url("/oauth/introspect"),
        "grant_types_supported": [GRANT_TOKEN_EXCHANGE],
        "token_endpoint_auth_methods_supported": ["none"],
        "dpop_signing_alg_values_supported": ["ES256", "EdDSA", "RS256", "PS256"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "stella_license_endpoints": {
            "enroll": s.url("/license/enroll"),
            "renew": s.url("/license/renew"),
            "introspect": s.url("/license/introspect"),
            "revoke": s.url("/license/revoke"),
        },
        "stella_signer_endpoint": s.url("/sign/dsse"),
        "stella_license_issuer": s.license_issuer(),
    }))
}

async fn jwks(State(s): State<Arc<Stack>>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(json!({"keys": s.authority_jwks().keys().iter().map(|k| {
            let mut j = k.to_json();
            if let Some(o) = j.as_object_mut() {
                o.insert("use".into(), "sig".into());
                o.insert("alg".into(), "ES256".into());
            }
            j
        }).collect::<Vec<_>>()})),
    )
        .into_response()
}

/// Where a DPoP proof is checked: the token endpoint answers 400, resource servers 401 with a
/// `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1, §12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProofAt {
    TokenEndpoint,
    Resource,
}

/// Checks the `DPoP` header of a request to `path`.
pub(crate) fn check_dpop(
    s: &Stack,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    access_token: Option<&str>,
    at: ProofAt,
) -> Result<DpopProof, ApiError> {
    let status = match at {
        ProofAt::TokenEndpoint => StatusCode::BAD_REQUEST,
        ProofAt::Resource => StatusCode::UNAUTHORIZED,
    };
    let fail = |code: &'static str, why: String, nonce: bool| {
        let mut e = ApiError::new(status, code, why);
        if at == ProofAt::Resource {
            e = e.challenge("DPoP");
        }
        e.with_nonce(nonce.then(|| s.nonces.issue((s.now)())))
    };
    let mut proofs = headers.get_all("dpop").iter();
    let proof = match (proofs.next(), proofs.next()) {
        (Some(p), None) => p.to_str().map_err(|_| {
            fail(
                "invalid_dpop_proof",
                "DPoP header is not ASCII".into(),
                false,
            )
        })?,
        (None, _) => {
            return Err(fail(
                "invalid_dpop_proof",
                "a DPoP proof (DPoP header) is required".into(),
                s.dpop.nonce.is_some(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(fail(
                "invalid_dpop_proof",
                "more than one DPoP header".into(),
                false,
            ))
        }
    };
    let uri = s.url(path);
    let req = DpopRequest {
        method,
        uri: &uri,
        access_token,
    };
    verify_proof(proof, &req, &s.dpop, &s.replay, (s.now)()).map_err(|e| {
        let nonce = matches!(e, DpopError::UseDpopNonce(_));
        fail(e.error_code(), e.to_string(), nonce)
    })
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    audience: Option<String>,
    requested_token_type: Option<String>,
    client_id: Option<String>,
}

fn grant_error(description: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

async fn token(
    State(s): State<Arc<Stack>>,
    client_cert: Option<axum::Extension<super::tls::ClientCert>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) =
        form.map_err(|e| ApiError::invalid_request(format!("token request form: {e}")))?;
    match form.grant_type.as_deref() {
        Some(GRANT_TOKEN_EXCHANGE) => {}
        Some("client_credentials") => {
            return client_credentials(&s, client_cert.map(|c| c.0), form.client_id.as_deref())
        }
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type {other} is not supported; use {GRANT_TOKEN_EXCHANGE}"),
            ))
        }
        None => return Err(ApiError::invalid_request("grant_type is missing")),
    }
    let subject_token = form
        .subject_token
        .as_deref()
        .ok_or_else(|| ApiError::invalid_request("subject_token is missing"))?;
    match form.subject_token_type.as_deref() {
        Some(ID_TOKEN_TYPE | JWT_TOKEN_TYPE) => {}
        _ => {
            return Err(ApiError::invalid_request(format!(
                "subject_token_type must be {ID_TOKEN_TYPE} or {JWT_TOKEN_TYPE}"
            )))
        }
    }
    if let Some(a) = form.audience.as_deref() {
        if a != SIGNER_AUDIENCE {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                format!("audience {a} is unknown; OpToks are for {SIGNER_AUDIENCE}"),
            ));
        }
    }
    if let Some(t) = form.requested_token_type.as_deref() {
        if t != ACCESS_TOKEN_TYPE {
            return Err(ApiError::invalid_request(format!(
                "requested_token_type must be {ACCESS_TOKEN_TYPE}"
            )));
        }
    }
    // Sender constraint first: nothing is looked up for a request without a valid proof.
    let proof = check_dpop(
        &s,
        &headers,
        "POST",
        "/oauth/token",
        None,
        ProofAt::TokenEndpoint,
    )?;
    let (ident, rule) = exchange(&s, subject_token).await?;
    let now = (s.now)();
    let ttl = s.cfg.optok_ttl_secs;
    let mut jti = [0u8; 16];
    s.rng.fill(&mut jti).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "no randomness",
        )
    })?;
    let carried: Map<String, Value> = ident
        .claims
        .iter()
        .filter(|(k, _)| CARRIED_CLAIMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let claims = json!({
        "iss": s.issuer,
        "sub": ident.subject,
        "aud": SIGNER_AUDIENCE,
        "client_id": format!("ci:{}", ident.platform),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": b64url_encode(&jti),
        "scope": "sign:dsse",
        "cnf": {"jkt": proof.jkt},
        "stella_identity": {
            "issuer": ident.issuer,
            "platform": ident.platform,
            "repository": ident.repository,
            "ref": ident.git_ref,
            "workflow": ident.workflow,
            "sha": ident.sha,
            "san_uri": ident.san_uri,
        },
        "stella_allow": {
            "predicate_types": rule.predicate_types,
            "images": rule.images,
        },
        "stella_ci": carried,
    });
    let token = sign_optok(&s, &claims)?;
    let mut resp = Json(json!({
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "DPoP",
        "expires_in": ttl,
        "scope": "sign:dsse",
    }))
    .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if let Ok(n) = header::HeaderValue::from_str(&s.nonces.issue(now)) {
        h.insert("dpop-nonce", n);
    }
    Ok(resp)
}

/// RFC 8705 client credentials: the client is the certificate it connected with; its OpTok is bound
/// to that certificate (`cnf.x5t#S256`).
fn client_credentials(
    s: &Stack,
    cert: Option<super::tls::ClientCert>,
    client_id: Option<&str>,
) -> Result<Response, ApiError> {
    let invalid_client =
        |why: String| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_client", why);
    let cert = cert.ok_or_else(|| {
        invalid_client("client_credentials needs a client certificate (mutual TLS)".into())
    })?;
    let client_id = client_id.ok_or_else(|| ApiError::invalid_request("client_id is missing"))?;
    let client = s
        .cfg
        .mtls_clients
        .iter()
        .find(|c| c.client_id == client_id)
        .ok_or_else(|| invalid_client(format!("client {client_id} is not registered")))?;
    if client.x5t_s256 != cert.x5t_s256 {
        return Err(invalid_client(format!(
            "the client certificate is not the one registered for {client_id}"
        )));
    }
    let now = (s.now)();
    let ttl = s.cfg.optok_ttl_secs;
    let mut jti = [0u8; 16];
    s.rng.fill(&mut jti).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "no randomness",
        )
    })?;
    let claims = json!({
        "iss": s.issuer,
        "sub": client_id,
        "aud": SIGNER_AUDIENCE,
        "client_id": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": b64url_encode(&jti),
        "scope": "sign:dsse",
        "cnf": {"x5t#S256": cert.x5t_s256},
        "stella_identity": {"issuer": s.issuer, "platform": "service", "client_id": client_id,
                            "san_uri": format!("{}/clients/{client_id}", s.issuer)},
        "stella_allow": {"predicate_types": client.predicate_types, "images": client.images},
    });
    let token = sign_optok(s, &claims)?;
    let mut resp = Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": "sign:dsse",
    }))
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

pub(crate) fn sign_optok(s: &Stack, claims: &Value) -> Result<String, ApiError> {
    let keys = s
        .authority_keys
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut header = Map::new();
    header.insert("typ".into(), OPTOK_TYP.into());
    header.insert("kid".into(), keys.active.kid().into());
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    keys.active
        .sign_compact(header, &payload, &s.rng)
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                e.to_string(),
            )
        })
}

/// Verifies a CI platform's token and finds the rule that lets its identity sign.
async fn exchange(s: &Stack, token: &str) -> Result<(CiIdentity, IdentityRule), ApiError> {
    // The issuer is read before verification only to pick the key set; verification then pins it.
    let jws = Jws::parse(token).map_err(|e| grant_error(format!("subject_token: {e}")))?;
    let unverified: Value = serde_json::from_slice(jws.payload())
        .map_err(|_| grant_error("subject_token payload is not JSON"))?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| grant_error("subject_token has no iss"))?;
    let trusted = s
        .cfg
        .trusted_issuers
        .iter()
        .find(|t| t.issuer == iss)
        .ok_or_else(|| grant_error(format!("subject_token issuer {iss} is not trusted")))?;
    let now = (s.now)();
    let keys = s
        .issuer_keys
        .get(trusted, jws.header_str("kid"), now)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                e.to_string(),
            )
        })?;
    let policy = ClaimsPolicy::new(trusted.issuer.clone(), trusted.audience.clone());
    let verified = verify_jwt(token, &keys, CI_ALGS, &policy, now)
        .map_err(|e: JwtError| grant_error(format!("subject_token: {e}")))?;
    if verified.claims.iat.is_none() {
        return Err(grant_error("subject_token: claim `iat` is missing"));
    }
    let ident = identity(trusted.platform, &trusted.issuer, &verified.claims.raw)
        .map_err(|e| grant_error(format!("subject_token: {e}")))?;
    let rule = s
        .cfg
        .identity_rules
        .iter()
        .find(|r| {
            r.issuer == ident.issuer
                && glob(&r.repository, &ident.repository)
                && glob(&r.git_ref, &ident.git_ref)
                && glob(&r.workflow, &ident.workflow)
        })
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                format!(
                    "no identity rule lets {} at {} ({}) sign",
                    ident.repository, ident.git_ref, ident.workflow
                ),
            )
        })?;
    Ok((ident, rule))
}

/// What an OpTok is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// A DPoP key (`cnf.jkt`).
    Dpop(String),
    /// A client certificate (`cnf.x5t#S256`).
    Mtls(String),
}

/// Verifies an OpTok: signature by an Authority key, `typ`, `iss`, `aud`, times, and a `cnf`.
pub(crate) fn verify_optok(s: &Stack, token: &str) -> Result<(VerifiedJwt, Binding), String> {
    let jwks = s.authority_jwks();
    let policy = ClaimsPolicy::new(s.issuer.clone(), SIGNER_AUDIENCE);
    let v =
        verify_jwt(token, &jwks, &[Alg::ES256], &policy, (s.now)()).map_err(|e| e.to_string())?;
    if v.header.get("typ").and_then(Value::as_str) != Some(OPTOK_TYP) {
        return Err(format!("token `typ` is not {OPTOK_TYP}"));
    }
    let cnf = v.claims.raw.get("cnf");
    let get = |k: &str| {
        cnf.and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let binding = match (get("jkt"), get("x5t#S256")) {
        (Some(j), None) => Binding::Dpop(j),
        (None, Some(x)) => Binding::Mtls(x),
        _ => return Err("token is not sender-constrained (one cnf.jkt or cnf.x5t#S256)".into()),
    };
    Ok((v, binding))
}

#[derive(Debug, Deserialize)]
struct IntrospectForm {
    token: Option<String>,
}

async fn introspect(
    State(s): State<Arc<Stack>>,
    headers: HeaderMap,
    form: Result<Form<IntrospectForm>, axum::extract::rejection::FormRejection>,
) -> Result<Json<Value>, ApiError> {
    // RFC 7662 §2.1: the endpoint is protected; callers present the admin token.
    super::license::require_admin(&s, &headers)?;
    let Form(form) = form.map_err(|e| ApiError::invalid_request(format!("form: {e}")))?;
    let token = form
        .token
        .ok_or_else(|| ApiError::invalid_request("token is missing"))?;
    Ok(Json(match verify_optok(&s, &token) {
        Ok((v, _)) => {
            let mut out = v.claims.raw.clone();
            out.insert("active".into(), true.into());
            out.insert("token_type".into(), "DPoP".into());
            Value::Object(out)
        }
        Err(_) => json!({"active": false}),
    }))
}
