//! Compact JWS (RFC 7515) parsing and verification, and JWT verification on top of it.

use std::fmt;

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

use super::b64url_decode;
use super::claims::{validate_claims, Claims, ClaimsError, ClaimsPolicy};
use super::jwk::{Jwk, JwkSet, PublicKey};

/// The largest compact token accepted, in bytes, checked before any decoding.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The asymmetric signature algorithms this crate verifies. `none` and `HS*` have no variant: they
/// cannot be put on an allowlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 SHA-256, signature `r || s` (64 bytes).
    ES256,
    /// RSASSA-PKCS1-v1_5 SHA-256.
    RS256,
    /// RSASSA-PSS SHA-256, MGF1 SHA-256.
    PS256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Whether this algorithm is defined for this key type.
    fn fits(self, key: &PublicKey) -> bool {
        matches!(
            (self, key),
            (Alg::ES256, PublicKey::P256 { .. })
                | (Alg::RS256 | Alg::PS256, PublicKey::Rsa { .. })
                | (Alg::EdDSA, PublicKey::Ed25519 { .. })
        )
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A part of a compact JWS, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Header,
    Payload,
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a compact JWS was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("token of {len} bytes exceeds the {MAX_TOKEN_LEN}-byte limit")]
    TooLarge { len: usize },
    #[error("compact JWS has {0} parts, not 3")]
    PartCount(usize),
    #[error("JWS {0} is not strict base64url")]
    BadBase64(Part),
    #[error("JWS header is not a JSON object")]
    HeaderNotObject,
    #[error("JWS header has no `alg` string")]
    MissingAlg,
    #[error("`alg: none` is refused")]
    AlgNone,
    #[error("symmetric `alg: {0}` is refused (a public key is never an HMAC secret)")]
    SymmetricAlg(String),
    #[error("unsupported `alg: {0}`")]
    UnsupportedAlg(String),
    #[error("`alg: {0}` is not on the allowlist")]
    AlgNotAllowed(Alg),
    #[error("`alg: {alg}` does not fit a key of type {kty}")]
    AlgKeyMismatch { alg: Alg, kty: &'static str },
    #[error("JWS header lists `crit` extensions, none of which are understood")]
    CritUnsupported,
    #[error("JWS header has no `kid` and the key set holds more than one key")]
    MissingKid,
    #[error("no key with kid `{0}`")]
    UnknownKid(String),
    #[error("JWS signature does not verify")]
    BadSignature,
}

/// A parsed (not yet verified) compact JWS.
#[derive(Debug, Clone)]
pub struct Jws {
    header: Map<String, Value>,
    payload: Vec<u8>,
    signature: Vec<u8>,
    /// `header.payload`, the bytes the signature covers.
    signing_input: String,
}

impl Jws {
    /// Splits and decodes `header.payload.signature`. Checks size, part count, strict base64url and
    /// that the header is a JSON object; verifies nothing.
    pub fn parse(token: &str) -> Result<Jws, JwsError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwsError::TooLarge { len: token.len() });
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts.as_slice() else {
            return Err(JwsError::PartCount(parts.len()));
        };
        let header_bytes = b64url_decode(header).map_err(|_| JwsError::BadBase64(Part::Header))?;
        let payload_bytes =
            b64url_decode(payload).map_err(|_| JwsError::BadBase64(Part::Payload))?;
        let signature_bytes =
            b64url_decode(signature).map_err(|_| JwsError::BadBase64(Part::Signature))?;
        let header_json = match serde_json::from_slice::<Value>(&header_bytes) {
            Ok(Value::Object(map)) => map,
            _ => return Err(JwsError::HeaderNotObject),
        };
        Ok(Jws {
            header: header_json,
            payload: payload_bytes,
            signature: signature_bytes,
            signing_input: format!("{header}.{payload}"),
        })
    }

    /// The protected header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// A string member of the header.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// The decoded payload (unverified until a `verify_*` call succeeds).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The header `alg`, refusing `none`, every `HS*`, anything unknown and anything not on `allowed`.
    pub fn alg(&self, allowed: &[Alg]) -> Result<Alg, JwsError> {
        let name = self.header_str("alg").ok_or(JwsError::MissingAlg)?;
        let alg = match name {
            "ES256" => Alg::ES256,
            "RS256" => Alg::RS256,
            "PS256" => Alg::PS256,
            "EdDSA" => Alg::EdDSA,
            _ if name.eq_ignore_ascii_case("none") => return Err(JwsError::AlgNone),
            _ if name.starts_with("HS") => return Err(JwsError::SymmetricAlg(name.to_owned())),
            _ => return Err(JwsError::UnsupportedAlg(name.to_owned())),
        };
        if !allowed.contains(&alg) {
            return Err(JwsError::AlgNotAllowed(alg));
        }
        if self.header.contains_key("crit") {
            return Err(JwsError::CritUnsupported);
        }
        Ok(alg)
    }

    /// Verifies the signature with one key: the `alg` must be allowed and fit the key type.
    pub fn verify_with(&self, key: &Jwk, allowed: &[Alg]) -> Result<Alg, JwsError> {
        let alg = self.alg(allowed)?;
        if !alg.fits(&key.key) {
            return Err(JwsError::AlgKeyMismatch {
                alg,
                kty: key.key.kty(),
            });
        }
        let msg = self.signing_input.as_bytes();
        let sig = self.signature.as_slice();
        let ok = match &key.key {
            PublicKey::P256 { x, y } => {
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            PublicKey::Rsa { n, e } => {
                let params = if alg == Alg::PS256 {
                    &signature::RSA_PSS_2048_8192_SHA256
                } else {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig)
                    .is_ok()
            }
            PublicKey::Ed25519 { x } => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(msg, sig)
                .is_ok(),
        };
        if ok {
            Ok(alg)
        } else {
            Err(JwsError::BadSignature)
        }
    }

    /// Verifies with the key named by the header `kid`; without a `kid` only a one-key set is usable.
    /// The `alg` is checked against the allowlist before the key is looked up.
    pub fn verify_with_set<'k>(
        &self,
        keys: &'k JwkSet,
        allowed: &[Alg],
    ) -> Result<&'k Jwk, JwsError> {
        self.alg(allowed)?;
        let key = match self.header.get("kid") {
            Some(Value::String(kid)) => keys
                .find(kid)
                .ok_or_else(|| JwsError::UnknownKid(kid.chars().take(64).collect()))?,
            Some(_) => return Err(JwsError::UnknownKid(String::new())),
            None => match keys.keys() {
                [only] => only,
                _ => return Err(JwsError::MissingKid),
            },
        };
        self.verify_with(key, allowed)?;
        Ok(key)
    }
}

/// Why a JWT was refused: its JWS or its claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error(transparent)]
    Jws(#[from] JwsError),
    #[error(transparent)]
    Claims(#[from] ClaimsError),
}

/// A verified JWT.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    /// The algorithm that verified.
    pub alg: Alg,
    /// The `kid` of the key that verified, if it had one.
    pub kid: Option<String>,
    /// The protected header.
    pub header: Map<String, Value>,
    /// The validated claims (with the raw claim object).
    pub claims: Claims,
}

/// Parses, verifies (against `keys` under `allowed`) and validates (against `policy` at `now`) a JWT.
pub fn verify_jwt(
    token: &str,
    keys: &JwkSet,
    allowed: &[Alg],
    policy: &ClaimsPolicy,
    now: u64,
) -> Result<VerifiedJwt, JwtError> {
    let jws = Jws::parse(token)?;
    let key = jws.verify_with_set(keys, allowed)?;
    let alg = jws.alg(allowed)?;
    let claims = validate_claims(jws.payload(), policy, now)?;
    Ok(VerifiedJwt {
        alg,
        kid: key.kid.clone(),
        header: jws.header,
        claims,
    })
}
