//! JOSE: base64url, public JWKs, compact JWS, JWT claims and an ES256 signer.

mod claims;
mod jwk;
mod jws;
mod signer;

pub use claims::{validate_claims, Claims, ClaimsError, ClaimsPolicy, MAX_SKEW};
pub use jwk::{Jwk, JwkError, JwkSet, PublicKey, MAX_JWKS};
pub use jws::{verify_jwt, Alg, Jws, JwsError, JwtError, Part, VerifiedJwt, MAX_TOKEN_LEN};
pub use signer::{Es256Signer, SignError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// base64url without padding (RFC 7515 §2), as every JOSE member is encoded.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decoding: the URL-safe alphabet only, no padding, no whitespace, and no stray bits
/// in the last character, so every value has exactly one encoding (thumbprints depend on that).
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url_encode(b"\xfb\xff"), "-_8");
        assert_eq!(b64url_decode("-_8").unwrap(), b"\xfb\xff");
        for bad in ["+/8", "-_8=", "-_ 8", "-_9", "A"] {
            assert!(b64url_decode(bad).is_err(), "{bad} must be refused");
        }
    }
}

#[cfg(test)]
mod jwt_tests;
#[cfg(test)]
pub(crate) mod test_keys;
