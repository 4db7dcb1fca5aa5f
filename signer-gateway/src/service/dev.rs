//! The dev identity of the embedded default: `stella serve` without a configuration runs a local
//! OIDC issuer for the machine's user, so `stella attest --server URL` works with no CI platform.
//!
//! `POST /dev/token` answers only callers on the loopback interface, with an ID token for the user
//! the server runs as (`iss = <url>/dev`, `aud = stella`) and a one-day License Token of the `team`
//! plan, which the client enrolls with its own DPoP key like any other. The issuer is trusted by
//! this Authority alone, through a JWKS file in the data directory, and an identity rule lets it
//! sign anything: it is a developer convenience, never on in a configured deployment.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use ring::rand::SecureRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Map, Value};

use super::config::{Config, IdentityRule, Platform, TrustedIssuer};
use super::http::ApiError;
use super::license::{issue_license_token, LicenseTerms};
use super::state::write_private;
use super::Stack;
use crate::jose::Es256Signer;

/// The audience of dev ID tokens.
pub const DEV_AUDIENCE: &str = "stella";

/// The dev issuer's key and name.
#[derive(Debug)]
pub struct DevIssuer {
    pub issuer: String,
    key: Es256Signer,
}

/// Who the server runs as: `$USER` (or `$LOGNAME`) and the host name.
fn local_user() -> (String, String) {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "developer".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let clean = |s: String| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
            .collect()
    };
    (clean(user), clean(host))
}

/// Creates (first run) or loads the dev issuer under `data_dir`, and trusts it in `cfg`.
pub fn enable(
    data_dir: &Path,
    public_url: &str,
    cfg: &mut Config,
    rng: &dyn SecureRandom,
) -> Result<DevIssuer, String> {
    let key_path = data_dir.join("secrets/dev-oidc.pk8");
    let pkcs8 = match std::fs::read(&key_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
                .map_err(|_| "cannot generate the dev issuer key".to_owned())?;
            write_private(&key_path, doc.as_ref()).map_err(|e| e.to_string())?;
            doc.as_ref().to_vec()
        }
        Err(e) => return Err(format!("{}: {e}", key_path.display())),
    };
    let key = Es256Signer::from_pkcs8(&pkcs8, "dev-1", rng).map_err(|e| e.to_string())?;
    let jwks = json!({"keys": [key.public_jwk().to_json()]});
    let jwks_path = data_dir.join("dev-oidc-jwks.json");
    let text = serde_json::to_vec(&jwks).map_err(|e| e.to_string())?;
    write_private(&jwks_path, &text).map_err(|e| e.to_string())?;
    let issuer = format!("{}/dev", public_url.trim_end_matches('/'));
    cfg.trusted_issuers.push(TrustedIssuer {
        issuer: issuer.clone(),
        platform: Platform::Dev,
        audience: DEV_AUDIENCE.into(),
        jwks_uri: None,
        jwks_file: Some(jwks_path),
    });
    cfg.identity_rules.push(IdentityRule {
        issuer: issuer.clone(),
        repository: "*".into(),
        git_ref: "*".into(),
        workflow: "*".into(),
        predicate_types: vec!["*".into()],
        images: vec!["*".into()],
    });
    Ok(DevIssuer { issuer, key })
}

impl DevIssuer {
    /// An ID token for the local user, valid five minutes.
    pub fn id_token(&self, now: u64, rng: &dyn SecureRandom) -> Result<(String, String), String> {
        let (user, host) = local_user();
        let subject = format!("{user}@{host}");
        let mut c = Map::new();
        c.insert("iss".into(), self.issuer.clone().into());
        c.insert("sub".into(), subject.clone().into());
        c.insert("aud".into(), DEV_AUDIENCE.into());
        c.insert("iat".into(), now.into());
        c.insert("nbf".into(), now.into());
        c.insert("exp".into(), (now + 300).into());
        c.insert("user".into(), user.clone().into());
        c.insert("repository".into(), format!("local/{user}").into());
        c.insert("ref".into(), "refs/heads/local".into());
        c.insert("workflow".into(), "stella-dev".into());
        c.insert("sha".into(), "0".repeat(40).into());
        let token = self.key.sign_jwt(&c, rng).map_err(|e| e.to_string())?;
        Ok((token, subject))
    }
}

/// The dev routes (mounted only when the dev identity is on).
pub(crate) fn routes() -> Router<Arc<Stack>> {
    Router::new().route("/dev/token", post(dev_token))
}

async fn dev_token(
    State(s): State<Arc<Stack>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Json<Value>, ApiError> {
    let Some(dev) = s.dev.as_ref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the dev identity is off",
        ));
    };
    if !peer.is_some_and(|Extension(ConnectInfo(a))| a.ip().is_loopback()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "dev tokens are only handed out on the loopback interface",
        ));
    }
    let now = (s.now)();
    let unavailable = |e: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e,
        )
    };
    let (id_token, subject) = dev.id_token(now, &s.rng).map_err(unavailable)?;
    let terms = LicenseTerms {
        customer_id: format!("dev:{subject}"),
        plan: "team".into(),
        valid_release_year: 9999,
        max_version: "999999.0.0".into(),
        lifetime_secs: 86_400,
    };
    let (license_id, license_token) =
        issue_license_token(s.license_signer(), &terms, now).map_err(unavailable)?;
    Ok(Json(json!({
        "id_token": id_token,
        "audience": DEV_AUDIENCE,
        "issuer": dev.issuer,
        "subject": subject,
        "license_token": license_token,
        "license_id": license_id,
    })))
}
