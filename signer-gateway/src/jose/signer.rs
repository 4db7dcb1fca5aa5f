//! An ES256 signer producing compact JWS: for tests now and for the Authority's tokens later.

use ring::rand::SecureRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{Map, Value};

use super::b64url_encode;
use super::jwk::{Jwk, PublicKey};

/// Why signing failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("not a P-256 PKCS#8 private key: {0}")]
    BadKey(String),
    #[error("ECDSA signing failed")]
    Signing,
    #[error("could not serialise the JWS header or payload")]
    Json,
}

/// Signs compact JWS with ES256 (`r || s` signatures) under a P-256 key and its `kid`.
#[derive(Debug)]
pub struct Es256Signer {
    key: EcdsaKeyPair,
    jwk: Jwk,
}

impl Es256Signer {
    /// Loads a PKCS#8 (v1 or v2) P-256 private key. `rng` is only used by ring for key checks.
    pub fn from_pkcs8(
        pkcs8: &[u8],
        kid: impl Into<String>,
        rng: &dyn SecureRandom,
    ) -> Result<Es256Signer, SignError> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, rng)
            .map_err(|e| SignError::BadKey(e.to_string()))?;
        // An uncompressed point: 0x04 || x || y.
        let point = key.public_key().as_ref();
        let (x, y) = match point {
            [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err(SignError::BadKey("unexpected public key encoding".into())),
        };
        let x: [u8; 32] = x.try_into().map_err(|_| SignError::Signing)?;
        let y: [u8; 32] = y.try_into().map_err(|_| SignError::Signing)?;
        let jwk = Jwk {
            kid: Some(kid.into()),
            key: PublicKey::P256 { x, y },
        };
        Ok(Es256Signer { key, jwk })
    }

    /// The `kid`.
    pub fn kid(&self) -> &str {
        self.jwk.kid.as_deref().unwrap_or_default()
    }

    /// The public key as a JWK (with `kid`), for a JWKS document.
    pub fn public_jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    /// Signs `payload` under `header`, with `alg` set to `ES256` (any `alg` given is replaced).
    pub fn sign_compact(
        &self,
        mut header: Map<String, Value>,
        payload: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<String, SignError> {
        header.insert("alg".into(), "ES256".into());
        let header = serde_json::to_vec(&header).map_err(|_| SignError::Json)?;
        let signing_input = format!("{}.{}", b64url_encode(&header), b64url_encode(payload));
        let sig = self
            .key
            .sign(rng, signing_input.as_bytes())
            .map_err(|_| SignError::Signing)?;
        Ok(format!("{signing_input}.{}", b64url_encode(sig.as_ref())))
    }

    /// Signs a JWT: header `{"alg": "ES256", "typ": "JWT", "kid": ...}`.
    pub fn sign_jwt(
        &self,
        claims: &Map<String, Value>,
        rng: &dyn SecureRandom,
    ) -> Result<String, SignError> {
        let mut header = Map::new();
        header.insert("typ".into(), "JWT".into());
        header.insert("kid".into(), self.kid().into());
        let payload = serde_json::to_vec(claims).map_err(|_| SignError::Json)?;
        self.sign_compact(header, &payload, rng)
    }

    /// Signs a DPoP proof (RFC 9449 §4.2): header `typ: dpop+jwt` with the public `jwk` (no `kid`).
    pub fn sign_dpop_proof(
        &self,
        claims: &Map<String, Value>,
        rng: &dyn SecureRandom,
    ) -> Result<String, SignError> {
        let mut header = Map::new();
        header.insert("typ".into(), "dpop+jwt".into());
        let public = Jwk {
            kid: None,
            key: self.jwk.key.clone(),
        };
        header.insert("jwk".into(), public.to_json());
        let payload = serde_json::to_vec(claims).map_err(|_| SignError::Json)?;
        self.sign_compact(header, &payload, rng)
    }
}
