//! The security core of the Authority and the Signer (DESIGN.md §7): the checks every request to those
//! services goes through before anything is signed, written as pure, synchronous functions.
//!
//! What it does:
//!
//! - [`jose`]: public-only JWKs (EC P-256, RSA 2048–8192, Ed25519) with RFC 7638 thumbprints; compact
//!   JWS parsing and verification under an explicit algorithm allowlist (`none` and `HS*` are always
//!   refused, the header `alg` must match the key type); JWT claim validation (`iss`, `aud`, `exp`,
//!   `nbf`, `iat`) against an injected clock; an ES256 signer over a PKCS#8 key.
//! - [`dpop`]: RFC 9449 §4.3 proof checks (`typ`, `alg`, `jwk`, signature, `jti`, `htm`, `htu`,
//!   `iat`, `ath`, server nonce), stateless HMAC nonces and a `jti` replay cache.
//! - [`dsse`]: DSSE envelopes (PAE, JSON form) signed and verified with ECDSA P-256, and the
//!   [`dsse::KeySource`] trait behind which signing keys live.
//! - [`keyless`]: Fulcio-style keyless certificates: a self-signed P-256 root CA issuing short-lived
//!   code-signing leaves with the Fulcio identity extensions and an embedded RFC 6962 SCT, and the
//!   check of that SCT.
//! - [`release`]: release signatures on the scanner image (a DSSE in-toto statement pushed as an OCI
//!   referrer of the image manifest): signing, and the Signer's check that the calling scanner image,
//!   pinned by digest, is a genuine release, with a cache of what verified.
//!
//! - [`service`]: the Authority, licensing and Signer HTTP services (axum) built on the above, with
//!   their embedded state (keys created on first run in a data directory).
//!
//! What the pure modules do *not* do (the [`service`] and [`release`] edges aside): no network, no files, no clock and no randomness of its own. The time is a
//! `now: u64` (seconds since the Unix epoch) argument, keys and nonce secrets are handed in, randomness
//! (only needed to sign) is a `ring::rand::SecureRandom`. Fetching JWKS documents, HTTP and the mapping of
//! errors to RFC 6750 / RFC 9449 responses belong to the services that use this crate.
//!
//! ```
//! use ring::rand::SystemRandom;
//! use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
//! use serde_json::json;
//! use signer_gateway::jose::{verify_jwt, Alg, ClaimsPolicy, Es256Signer, JwkSet};
//!
//! let rng = SystemRandom::new();
//! let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
//! let signer = Es256Signer::from_pkcs8(pkcs8.as_ref(), "key-1", &rng).unwrap();
//! let now = 1_700_000_000;
//! let claims = json!({"iss": "https://authority", "aud": "signer", "exp": now + 120, "iat": now});
//! let token = signer.sign_jwt(claims.as_object().unwrap(), &rng).unwrap();
//!
//! let keys = JwkSet::new(vec![signer.public_jwk()]).unwrap();
//! let policy = ClaimsPolicy::new("https://authority", "signer");
//! let jwt = verify_jwt(&token, &keys, &[Alg::ES256], &policy, now).unwrap();
//! assert_eq!(jwt.claims.iss, "https://authority");
//! ```

#![deny(clippy::indexing_slicing)]

pub mod claims;
pub mod dpop;
pub mod dsse;
pub mod jose;
pub mod keyless;
pub mod release;
pub mod service;
