//! Licensing: a long-lived License Token (LT) is enrolled once with an installation key and gives a
//! Proof-of-Entitlement (PoE): a JWT bound to that key (`cnf.jkt`) carrying the plan, its quotas,
//! `valid_release_year` and `max_version`. PoEs are renewed with a proof by the same key, revoked by
//! license or by PoE id, and introspected.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::authority::{check_dpop, ProofAt};
use super::config::Plan;
use super::{state, ApiError, Stack, LICENSE_AUDIENCE, SIGNER_AUDIENCE};
use crate::dsse::hex;
use crate::jose::{verify_jwt, Alg, ClaimsPolicy, Es256Signer, VerifiedJwt};

/// `typ` of License Tokens.
pub const LT_TYP: &str = "stella-lt+jwt";
/// `typ` of PoEs.
pub const POE_TYP: &str = "stella-poe+jwt";

/// What a License Token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseTerms {
    pub customer_id: String,
    pub plan: String,
    pub valid_release_year: u32,
    pub max_version: String,
    /// Lifetime in seconds from issuance.
    pub lifetime_secs: u64,
}

/// Issues a License Token (what `stella license issue` prints): signed by the installation's license
/// key, with a fresh `LIC-…` id.
pub fn issue_license_token(
    key: &Es256Signer,
    terms: &LicenseTerms,
    now: u64,
) -> Result<(String, String), String> {
    let issuer = super::license_issuer_of(key);
    let rng = SystemRandom::new();
    let mut id = [0u8; 8];
    rng.fill(&mut id).map_err(|_| "no randomness".to_owned())?;
    let license_id = format!("LIC-{}", hex(&id).to_uppercase());
    let claims = json!({
        "iss": issuer,
        "sub": license_id,
        "aud": LICENSE_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + terms.lifetime_secs,
        "jti": license_id,
        "license_id": license_id,
        "customer_id": terms.customer_id,
        "plan": terms.plan,
        "valid_release_year": terms.valid_release_year,
        "max_version": terms.max_version,
    });
    let token = sign_typed(key, LT_TYP, &claims, &rng)?;
    Ok((license_id, token))
}

fn sign_typed(
    key: &Es256Signer,
    typ: &str,
    claims: &Value,
    rng: &dyn SecureRandom,
) -> Result<String, String> {
    let mut header = Map::new();
    header.insert("typ".into(), typ.into());
    header.insert("kid".into(), key.kid().into());
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    key.sign_compact(header, &payload, rng)
        .map_err(|e| e.to_string())
}

fn verify_typed(s: &Stack, token: &str, typ: &str, audience: &str) -> Result<VerifiedJwt, String> {
    let policy = ClaimsPolicy::new(s.license_issuer(), audience);
    let v = verify_jwt(token, &s.license_jwks(), &[Alg::ES256], &policy, (s.now)())
        .map_err(|e| e.to_string())?;
    if v.header.get("typ").and_then(Value::as_str) != Some(typ) {
        return Err(format!("token `typ` is not {typ}"));
    }
    Ok(v)
}

/// A PoE that passed every check.
#[derive(Debug, Clone)]
pub struct Entitlement {
    pub license_id: String,
    pub poe_id: String,
    pub jkt: String,
    pub plan: Plan,
    pub plan_name: String,
    pub valid_release_year: u32,
    pub max_version: String,
    pub claims: Map<String, Value>,
}

/// Verifies a PoE: signature, `typ`, audience, times, not revoked, and well-formed terms.
pub fn verify_poe(s: &Stack, poe: &str) -> Result<Entitlement, String> {
    let v = verify_typed(s, poe, POE_TYP, SIGNER_AUDIENCE)?;
    let c = &v.claims.raw;
    let str_claim = |n: &str| {
        c.get(n)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("PoE has no `{n}`"))
    };
    let license_id = str_claim("license_id")?;
    let poe_id = str_claim("jti")?;
    {
        let revoked = s
            .revoked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if revoked.contains(&license_id) || revoked.contains(&poe_id) {
            return Err(format!("PoE {poe_id} of license {license_id} is revoked"));
        }
    }
    let jkt = c
        .get("cnf")
        .and_then(|x| x.get("jkt"))
        .and_then(Value::as_str)
        .ok_or("PoE is not bound to an installation key (no cnf.jkt)")?
        .to_owned();
    let plan: Plan = serde_json::from_value(c.get("quotas").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("PoE quotas: {e}"))?;
    let valid_release_year = c
        .get("valid_release_year")
        .and_then(Value::as_u64)
        .and_then(|y| u32::try_from(y).ok())
        .ok_or("PoE has no valid_release_year")?;
    Ok(Entitlement {
        license_id,
        poe_id,
        jkt,
        plan,
        plan_name: str_claim("plan")?,
        valid_release_year,
        max_version: str_claim("max_version")?,
        claims: c.clone(),
    })
}

pub(crate) fn routes() -> Router<Arc<Stack>> {
    Router::new()
        .route("/license/enroll", post(enroll))
        .route("/license/renew", post(renew))
        .route("/license/revoke", post(revoke))
        .route("/license/introspect", post(introspect))
        .route("/license/jwks", axum::routing::get(license_jwks))
}

async fn license_jwks(State(s): State<Arc<Stack>>) -> Json<Value> {
    Json(json!({"keys": s.license_jwks().keys().iter().map(|k| k.to_json()).collect::<Vec<_>>()}))
}

fn entitlement_error(description: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "invalid_entitlement", description)
}

#[derive(Debug, Deserialize)]
struct EnrollRequest {
    license_token: String,
}

/// Issues a PoE for `terms` bound to `jkt`, expiring at the earlier of the PoE lifetime and `lt_exp`.
fn issue_poe(
    s: &Stack,
    license_id: &str,
    lt: &Map<String, Value>,
    jkt: &str,
    lt_exp: u64,
) -> Result<Value, ApiError> {
    let plan_name = lt.get("plan").and_then(Value::as_str).unwrap_or_default();
    let plan = s.cfg.plans.get(plan_name).ok_or_else(|| {
        entitlement_error(format!("license plan {plan_name} is not offered here"))
    })?;
    let now = (s.now)();
    let exp = (now + s.cfg.poe_ttl_secs).min(lt_exp);
    let mut id = [0u8; 12];
    s.rng.fill(&mut id).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "no randomness",
        )
    })?;
    let poe_id = format!("poe-{}", hex(&id));
    let claims = json!({
        "iss": s.license_issuer(),
        "sub": license_id,
        "aud": SIGNER_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": exp,
        "jti": poe_id,
        "license_id": license_id,
        "customer_id": lt.get("customer_id").cloned().unwrap_or(Value::Null),
        "plan": plan_name,
        "quotas": plan,
        "valid_release_year": lt.get("valid_release_year").cloned().unwrap_or(Value::Null),
        "max_version": lt.get("max_version").cloned().unwrap_or(Value::Null),
        "lt_exp": lt_exp,
        "cnf": {"jkt": jkt},
    });
    let poe = sign_typed(&s.license_key, POE_TYP, &claims, &s.rng)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", e))?;
    Ok(json!({
        "poe": poe,
        "poe_id": poe_id,
        "license_id": license_id,
        "expires_at": exp,
        "introspection_endpoint": s.url("/license/introspect"),
        "renewal_endpoint": s.url("/license/renew"),
    }))
}

async fn enroll(
    State(s): State<Arc<Stack>>,
    headers: HeaderMap,
    body: Result<Json<EnrollRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::invalid_request(format!("body: {e}")))?;
    // The DPoP proof proves possession of the installation key the PoE will be bound to.
    let proof = check_dpop(
        &s,
        &headers,
        "POST",
        "/license/enroll",
        None,
        ProofAt::TokenEndpoint,
    )?;
    let lt = verify_typed(&s, &req.license_token, LT_TYP, super::LICENSE_AUDIENCE)
        .map_err(|e| entitlement_error(format!("license token: {e}")))?;
    let license_id = lt
        .claims
        .raw
        .get("license_id")
        .and_then(Value::as_str)
        .ok_or_else(|| entitlement_error("license token has no license_id"))?
        .to_owned();
    if is_revoked(&s, &license_id) {
        return Err(entitlement_error(format!(
            "license {license_id} is revoked"
        )));
    }
    Ok(Json(issue_poe(
        &s,
        &license_id,
        &lt.claims.raw,
        &proof.jkt,
        lt.claims.exp,
    )?))
}

#[derive(Debug, Deserialize)]
struct PoeRequest {
    poe: String,
}

async fn renew(
    State(s): State<Arc<Stack>>,
    headers: HeaderMap,
    body: Result<Json<PoeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::invalid_request(format!("body: {e}")))?;
    let proof = check_dpop(
        &s,
        &headers,
        "POST",
        "/license/renew",
        None,
        ProofAt::TokenEndpoint,
    )?;
    let ent = verify_poe(&s, &req.poe).map_err(entitlement_error)?;
    if ent.jkt != proof.jkt {
        return Err(entitlement_error(
            "the PoE is bound to another installation key than the DPoP proof's",
        ));
    }
    let lt_exp = ent
        .claims
        .get("lt_exp")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if lt_exp <= (s.now)() {
        return Err(entitlement_error(
            "the license token has expired; enroll a new one",
        ));
    }
    // The renewed PoE keeps the license's terms but takes the plan's current quotas.
    let mut lt = ent.claims.clone();
    lt.insert("plan".into(), ent.plan_name.clone().into());
    Ok(Json(issue_poe(&s, &ent.license_id, &lt, &ent.jkt, lt_exp)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    license_id: Option<String>,
    poe_id: Option<String>,
}

/// Admin endpoints take `Authorization: Bearer <DIR/secrets/admin-token>`.
pub(crate) fn require_admin(s: &Stack, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Comparing digests keeps the comparison's timing independent of the secret's bytes.
    use sha2::{Digest as _, Sha256};
    let ok = Sha256::digest(given.as_bytes()) == Sha256::digest(s.admin_token.as_bytes());
    if ok && !given.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "this endpoint needs the admin bearer token",
        )
        .challenge("Bearer"))
    }
}

fn is_revoked(s: &Stack, id: &str) -> bool {
    s.revoked
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(id)
}

async fn revoke(
    State(s): State<Arc<Stack>>,
    headers: HeaderMap,
    body: Result<Json<RevokeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&s, &headers)?;
    let Json(req) = body.map_err(|e| ApiError::invalid_request(format!("body: {e}")))?;
    let id = match (req.license_id, req.poe_id) {
        (Some(l), None) => l,
        (None, Some(p)) => p,
        _ => return Err(ApiError::invalid_request("give license_id or poe_id")),
    };
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::invalid_request("not a license or PoE id"));
    }
    let snapshot = {
        let mut set = s
            .revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        set.insert(id.clone());
        let mut v: Vec<&String> = set.iter().collect();
        v.sort();
        json!({"revoked": v})
    };
    // Persisted before answering: an acknowledged revocation survives a restart.
    state::write_private(&s.revocations_path, snapshot.to_string().as_bytes()).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            e.to_string(),
        )
    })?;
    tracing::warn!(revoked = %id, "revocation recorded");
    Ok(Json(json!({"revoked": id})))
}

async fn introspect(
    State(s): State<Arc<Stack>>,
    body: Result<Json<PoeRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::invalid_request(format!("body: {e}")))?;
    Ok(Json(match verify_poe(&s, &req.poe) {
        Ok(e) => json!({
            "active": true,
            "exp": e.claims.get("exp"),
            "claims": e.claims,
        }),
        Err(why) => json!({"active": false, "reason": why}),
    }))
}

/// Reads the revocation list (absent = nothing revoked).
pub(crate) fn load_revocations(path: &Path) -> Result<HashSet<String>, String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
            Ok(v.get("revoked")
                .and_then(Value::as_array)
                .ok_or("no `revoked` array")?
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e.to_string()),
    }
}
