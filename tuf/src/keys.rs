//! TUF keys: verification of `ed25519` (hex public key) and `ecdsa` / `ecdsa-sha2-nistp256` (PEM
//! SPKI) signatures, key ids, and ed25519 signing for the repository tooling.

use base64::Engine as _;
use ring::signature::{self, KeyPair as _};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::canonical;
use crate::error::{Error, Result};

/// A public key as it appears in root metadata's `keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub keytype: String,
    pub scheme: String,
    pub keyval: KeyVal,
}

/// `keyval` of a public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVal {
    pub public: String,
}

// DER prefix of a P-256 SubjectPublicKeyInfo up to the uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl Key {
    /// The key id: hex SHA-256 of the canonical JSON of the key object (securesystemslib's rule).
    pub fn keyid(&self) -> String {
        let v = json!({"keytype": self.keytype, "scheme": self.scheme, "keyval": {"public": self.keyval.public}});
        let bytes = canonical::encode(&v).unwrap_or_default();
        hex(&Sha256::digest(bytes))
    }

    /// True if `sig` is a valid signature by this key over `msg`. Unsupported key types verify
    /// nothing (they never count toward a threshold).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match (self.keytype.as_str(), self.scheme.as_str()) {
            ("ed25519", "ed25519") => match unhex(&self.keyval.public) {
                Some(pk) if pk.len() == 32 => {
                    signature::UnparsedPublicKey::new(&signature::ED25519, pk)
                        .verify(msg, sig)
                        .is_ok()
                }
                _ => false,
            },
            ("ecdsa" | "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256") => {
                match p256_point_from_pem(&self.keyval.public) {
                    Some(point) => {
                        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, point)
                            .verify(msg, sig)
                            .is_ok()
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }
}

fn p256_point_from_pem(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let point = der.strip_prefix(&P256_SPKI_PREFIX[..])?;
    (point.len() == 65).then(|| point.to_vec())
}

/// An ed25519 private key for the repository tooling (PKCS#8 v2 as ring makes it).
pub struct SigningKey {
    pair: signature::Ed25519KeyPair,
    pkcs8: Option<Vec<u8>>,
    public: Key,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("keyid", &self.public.keyid())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Result<Self> {
        let rng = ring::rand::SystemRandom::new();
        let doc = signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| Error::Key {
            reason: "the system RNG failed".into(),
        })?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// A key from a PKCS#8 document (the format [`SigningKey::to_file_json`] stores).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self> {
        let pair =
            signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| Error::Key {
                reason: format!("not an ed25519 PKCS#8 key: {e}"),
            })?;
        let public = ed25519_public(pair.public_key().as_ref());
        Ok(Self {
            pair,
            pkcs8: Some(der.to_vec()),
            public,
        })
    }

    /// A key from a fixed 32-byte seed: for reproducible test fixtures only.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self> {
        let pair =
            signature::Ed25519KeyPair::from_seed_unchecked(seed).map_err(|e| Error::Key {
                reason: format!("bad seed: {e}"),
            })?;
        let public = ed25519_public(pair.public_key().as_ref());
        Ok(Self {
            pair,
            pkcs8: None,
            public,
        })
    }

    /// The public key as TUF metadata lists it.
    pub fn public(&self) -> &Key {
        &self.public
    }

    /// The key id of the public key.
    pub fn keyid(&self) -> String {
        self.public.keyid()
    }

    /// Signs `msg` (ed25519 is deterministic: the same message gives the same signature).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }

    /// The JSON stored in a key file: the public key plus the PKCS#8 private key (base64).
    pub fn to_file_json(&self) -> Result<Value> {
        let der = self.pkcs8.as_ref().ok_or_else(|| Error::Key {
            reason: "a seeded key has no PKCS#8 form".into(),
        })?;
        Ok(json!({
            "keyid": self.keyid(),
            "public": self.public,
            "private_pkcs8": base64::engine::general_purpose::STANDARD.encode(der),
        }))
    }

    /// Reads the JSON written by [`SigningKey::to_file_json`].
    pub fn from_file_json(v: &Value) -> Result<Self> {
        let b64 = v
            .get("private_pkcs8")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Key {
                reason: "key file has no private_pkcs8".into(),
            })?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| Error::Key {
                reason: format!("private_pkcs8: {e}"),
            })?;
        Self::from_pkcs8(&der)
    }
}

fn ed25519_public(pk: &[u8]) -> Key {
    Key {
        keytype: "ed25519".into(),
        scheme: "ed25519".into(),
        keyval: KeyVal { public: hex(pk) },
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Decodes hex (either case); `None` on odd length or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_sign_verify_and_keyid() {
        let k = SigningKey::from_seed(&[7; 32]).unwrap();
        let sig = k.sign(b"msg");
        assert!(k.public().verify(b"msg", &sig));
        assert!(!k.public().verify(b"msh", &sig));
        assert_eq!(k.keyid().len(), 64);
    }
}
