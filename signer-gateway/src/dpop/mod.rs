//! DPoP proof checks (RFC 9449 §4.3), server nonces (§8) and the `jti` replay cache (§11.1).

mod nonce;
mod replay;

pub use nonce::NonceSource;
pub use replay::{InMemoryReplayCache, ReplayCache};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::jose::{b64url_encode, Alg, Jwk, JwkError, Jws, JwsError};

/// The widest `iat` window a config may allow, in seconds.
pub const MAX_IAT_WINDOW: u64 = 300;
/// The longest `jti` a config may allow.
pub const MAX_JTI_LEN: usize = 256;

/// The HTTP request a proof arrived with.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// The request method, e.g. `POST` (compared case-sensitively, as HTTP methods are).
    pub method: &'a str,
    /// The absolute URI the server was reached at (scheme, host, port, path; query is ignored).
    pub uri: &'a str,
    /// The access token presented with the request (`Authorization: DPoP <token>`), if any; when
    /// present the proof must carry its `ath`.
    pub access_token: Option<&'a str>,
}

/// How proofs are checked.
#[derive(Debug)]
pub struct DpopConfig {
    /// The signature algorithms accepted (all asymmetric by construction).
    pub allowed_algs: Vec<Alg>,
    /// How far `iat` may be from `now`, either way, in seconds (capped at [`MAX_IAT_WINDOW`]).
    pub iat_window: u64,
    /// The longest `jti` accepted (capped at [`MAX_JTI_LEN`]).
    pub max_jti_len: usize,
    /// When set, every proof must carry a `nonce` this source issued and still accepts.
    pub nonce: Option<NonceSource>,
}

impl DpopConfig {
    /// A config allowing `allowed_algs`, a ±60 s `iat` window, `jti` up to 128 bytes and no nonce.
    pub fn new(allowed_algs: Vec<Alg>) -> DpopConfig {
        DpopConfig {
            allowed_algs,
            iat_window: 60,
            max_jti_len: 128,
            nonce: None,
        }
    }
}

/// Why a server nonce is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceFault {
    /// The proof has no `nonce` claim.
    Missing,
    /// The `nonce` is not one we issued, or its window has passed.
    Stale,
}

/// Why a DPoP proof was refused. [`DpopError::UseDpopNonce`] maps to the `use_dpop_nonce` error
/// (with a fresh `DPoP-Nonce`), everything else to `invalid_dpop_proof`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("DPoP proof: {0}")]
    Jws(#[from] JwsError),
    #[error("DPoP proof header `typ` is not `dpop+jwt`")]
    WrongTyp,
    #[error("DPoP proof header has no `jwk`")]
    MissingJwk,
    #[error("DPoP proof header `jwk`: {0}")]
    Jwk(#[from] JwkError),
    #[error("DPoP proof payload is not a JSON object")]
    ClaimsNotObject,
    #[error("DPoP proof claim `{0}` is missing")]
    MissingClaim(&'static str),
    #[error("DPoP proof claim `{0}` has the wrong type")]
    ClaimType(&'static str),
    #[error("DPoP proof claim `jti` is empty or too long")]
    BadJti,
    #[error("DPoP proof claim `htm` does not match the request method")]
    WrongHtm,
    #[error("DPoP proof claim `htu` is not an http(s) URI")]
    BadHtu,
    #[error("DPoP proof claim `htu` does not match the request URI")]
    WrongHtu,
    #[error("DPoP proof claim `iat` ({iat}) is too old (now {now})")]
    IatTooOld { iat: u64, now: u64 },
    #[error("DPoP proof claim `iat` ({iat}) is in the future (now {now})")]
    IatInFuture { iat: u64, now: u64 },
    #[error("DPoP proof claim `ath` is missing but an access token was presented")]
    MissingAth,
    #[error("DPoP proof claim `ath` does not match the access token")]
    WrongAth,
    #[error("DPoP proof needs a fresh server nonce ({0:?})")]
    UseDpopNonce(NonceFault),
    #[error("DPoP proof `jti` was already used")]
    Replay,
}

impl DpopError {
    /// The RFC 9449 error code for the `WWW-Authenticate` / token-endpoint response.
    pub fn error_code(&self) -> &'static str {
        match self {
            DpopError::UseDpopNonce(_) => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct DpopProof {
    /// The RFC 7638 thumbprint of the proof key: compare it with the access token's `cnf.jkt`.
    pub jkt: String,
    pub jwk: Jwk,
    pub alg: Alg,
    pub jti: String,
    pub htm: String,
    pub htu: String,
    pub iat: u64,
    pub nonce: Option<String>,
    /// The full claim object.
    pub claims: Map<String, Value>,
}

/// `base64url(SHA-256(access_token))`, the `ath` claim.
pub fn access_token_hash(access_token: &str) -> String {
    b64url_encode(&Sha256::digest(access_token.as_bytes()))
}

/// Normalises an `http`/`https` URI for the `htu` comparison (RFC 9449 §4.3 with RFC 3986 §6.2.2 and
/// §6.2.3): scheme and host lowercased, the default port removed, an empty path made `/`,
/// percent-encodings uppercased, query and fragment dropped. `None` for anything else, including
/// URIs with userinfo.
pub fn normalize_htu(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            let p: u16 = p.parse().ok()?;
            (p != default_port).then_some(p)
        }
        Some(_) => return None,
    };
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(p) = port {
        out.push_str(&format!(":{p}"));
    }
    if path.is_empty() {
        out.push('/');
    } else {
        // Percent-encodings compare case-insensitively: uppercase the two hex digits after each '%'.
        let mut pending_hex = 0;
        for c in path.chars() {
            if pending_hex > 0 {
                out.push(c.to_ascii_uppercase());
                pending_hex -= 1;
            } else {
                if c == '%' {
                    pending_hex = 2;
                }
                out.push(c);
            }
        }
    }
    Some(out)
}

fn claim_str<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, DpopError> {
    match obj.get(name) {
        None => Err(DpopError::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(DpopError::ClaimType(name)),
    }
}

/// Checks a DPoP proof (the `DPoP` header value) for `req` at `now` (seconds since the epoch), per
/// RFC 9449 §4.3: one well-formed JWS; `typ: dpop+jwt`; an allowed asymmetric `alg`; a public `jwk`
/// that verifies the signature; `jti`, `htm`, `htu`, `iat` within the window; `ath` when an access
/// token is presented; the server nonce when `cfg.nonce` is set; and finally that `jti` was not seen
/// for this key before. The replay cache is only written once every other check has passed.
pub fn verify_proof(
    proof: &str,
    req: &DpopRequest<'_>,
    cfg: &DpopConfig,
    replay: &dyn ReplayCache,
    now: u64,
) -> Result<DpopProof, DpopError> {
    let jws = Jws::parse(proof)?;
    if jws.header_str("typ") != Some("dpop+jwt") {
        return Err(DpopError::WrongTyp);
    }
    // Refuse `none`/`HS*`/unlisted algorithms before looking at the key.
    jws.alg(&cfg.allowed_algs)?;
    let jwk = Jwk::from_json(jws.header().get("jwk").ok_or(DpopError::MissingJwk)?)?;
    let alg = jws.verify_with(&jwk, &cfg.allowed_algs)?;

    let claims = match serde_json::from_slice::<Value>(jws.payload()) {
        Ok(Value::Object(map)) => map,
        _ => return Err(DpopError::ClaimsNotObject),
    };
    let jti = claim_str(&claims, "jti")?;
    if jti.is_empty() || jti.len() > cfg.max_jti_len.min(MAX_JTI_LEN) {
        return Err(DpopError::BadJti);
    }
    let htm = claim_str(&claims, "htm")?;
    if htm != req.method {
        return Err(DpopError::WrongHtm);
    }
    let htu = claim_str(&claims, "htu")?;
    let want = normalize_htu(req.uri).ok_or(DpopError::WrongHtu)?;
    if normalize_htu(htu).ok_or(DpopError::BadHtu)? != want {
        return Err(DpopError::WrongHtu);
    }
    let iat = match claims.get("iat") {
        None => return Err(DpopError::MissingClaim("iat")),
        Some(v) => v.as_u64().ok_or(DpopError::ClaimType("iat"))?,
    };
    let window = cfg.iat_window.min(MAX_IAT_WINDOW);
    if iat.saturating_add(window) < now {
        return Err(DpopError::IatTooOld { iat, now });
    }
    if iat > now.saturating_add(window) {
        return Err(DpopError::IatInFuture { iat, now });
    }
    if let Some(token) = req.access_token {
        let ath = match claims.get("ath") {
            None => return Err(DpopError::MissingAth),
            Some(Value::String(s)) => s,
            Some(_) => return Err(DpopError::ClaimType("ath")),
        };
        if *ath != access_token_hash(token) {
            return Err(DpopError::WrongAth);
        }
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(DpopError::ClaimType("nonce")),
    };
    if let Some(source) = &cfg.nonce {
        match &nonce {
            None => return Err(DpopError::UseDpopNonce(NonceFault::Missing)),
            Some(n) if !source.check(n, now) => {
                return Err(DpopError::UseDpopNonce(NonceFault::Stale))
            }
            Some(_) => {}
        }
    }

    let jkt = jwk.thumbprint();
    // The proof is acceptable until `iat + window`; remember it one second past that.
    let expires_at = iat.saturating_add(window).saturating_add(1);
    if !replay.check_and_insert(&format!("{jkt}:{jti}"), expires_at, now) {
        return Err(DpopError::Replay);
    }
    Ok(DpopProof {
        jkt,
        jwk,
        alg,
        jti: jti.to_owned(),
        htm: htm.to_owned(),
        htu: htu.to_owned(),
        iat,
        nonce,
        claims,
    })
}

#[cfg(test)]
mod tests;
