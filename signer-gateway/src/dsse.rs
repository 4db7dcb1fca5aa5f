//! DSSE envelopes (the in-toto signing format Sigstore bundles carry) over ECDSA P-256, and the
//! [`KeySource`] trait that keeps the Signer's private keys behind an interface (a PKCS#8 file now;
//! KMS or PKCS#11 later) so only the key source ever touches key material.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::rand::SecureRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The payload type of an in-toto statement.
pub const PAYLOAD_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";

/// Largest envelope accepted by [`Envelope::parse`].
pub const MAX_ENVELOPE_BYTES: usize = 16 * 1024 * 1024;

/// The DER prefix of a P-256 SubjectPublicKeyInfo; the uncompressed point follows it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// What went wrong with an envelope or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    #[error("DSSE envelope is not valid: {0}")]
    Malformed(String),
    #[error("no signature of the envelope verifies with the given key")]
    BadSignature,
    #[error("not a P-256 key: {0}")]
    BadKey(String),
    #[error("signing failed in the key source {0}")]
    Signing(String),
}

/// The DSSE v1 pre-authentication encoding: what is actually signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The key id; empty when the verifier identifies the key another way (a certificate).
    pub keyid: String,
    /// ASN.1 DER ECDSA signature over [`pae`].
    pub sig: Vec<u8>,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signatures: Vec<Signature>,
}

impl Envelope {
    /// Signs `payload` with `key`.
    pub fn sign(
        payload_type: &str,
        payload: Vec<u8>,
        key: &dyn KeySource,
        keyid: &str,
    ) -> Result<Envelope, DsseError> {
        let sig = key.sign(&pae(payload_type, &payload))?;
        Ok(Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures: vec![Signature {
                keyid: keyid.to_owned(),
                sig,
            }],
        })
    }

    /// The standard JSON form (`payload` and `sig` in standard base64), as Sigstore bundles embed it.
    pub fn to_json(&self) -> Value {
        let signatures: Vec<Value> = self
            .signatures
            .iter()
            .map(|s| {
                if s.keyid.is_empty() {
                    json!({"sig": STANDARD.encode(&s.sig)})
                } else {
                    json!({"keyid": s.keyid, "sig": STANDARD.encode(&s.sig)})
                }
            })
            .collect();
        json!({
            "payload": STANDARD.encode(&self.payload),
            "payloadType": self.payload_type,
            "signatures": signatures,
        })
    }

    /// Parses the JSON form.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, DsseError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(DsseError::Malformed(format!(
                "larger than {MAX_ENVELOPE_BYTES} bytes"
            )));
        }
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| DsseError::Malformed(format!("not JSON: {e}")))?;
        Envelope::from_json(&v)
    }

    /// Reads the JSON form from a parsed value.
    pub fn from_json(v: &Value) -> Result<Envelope, DsseError> {
        let field = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| DsseError::Malformed(format!("missing string member `{name}`")))
        };
        let b64 = |name: &str, text: &str| {
            STANDARD
                .decode(text)
                .map_err(|e| DsseError::Malformed(format!("`{name}` is not base64: {e}")))
        };
        let payload = b64("payload", field("payload")?)?;
        let payload_type = field("payloadType")?.to_owned();
        let sigs = v
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| DsseError::Malformed("missing array `signatures`".into()))?;
        if sigs.is_empty() || sigs.len() > 16 {
            return Err(DsseError::Malformed(format!(
                "{} signatures (1 to 16 accepted)",
                sigs.len()
            )));
        }
        let mut signatures = Vec::with_capacity(sigs.len());
        for s in sigs {
            let sig = s
                .get("sig")
                .and_then(Value::as_str)
                .ok_or_else(|| DsseError::Malformed("a signature without `sig`".into()))?;
            signatures.push(Signature {
                keyid: s
                    .get("keyid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                sig: b64("sig", sig)?,
            });
        }
        Ok(Envelope {
            payload_type,
            payload,
            signatures,
        })
    }

    /// Verifies that at least one signature is by the P-256 key `spki_der`.
    pub fn verify_p256(&self, spki_der: &[u8]) -> Result<(), DsseError> {
        let point = p256_point_from_spki(spki_der)?;
        let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point);
        let msg = pae(&self.payload_type, &self.payload);
        if self
            .signatures
            .iter()
            .any(|s| key.verify(&msg, &s.sig).is_ok())
        {
            Ok(())
        } else {
            Err(DsseError::BadSignature)
        }
    }
}

/// The SubjectPublicKeyInfo DER of an uncompressed P-256 point.
pub fn p256_spki_der(point: &[u8]) -> Result<Vec<u8>, DsseError> {
    if point.len() != 65 || point.first() != Some(&0x04) {
        return Err(DsseError::BadKey("not an uncompressed P-256 point".into()));
    }
    let mut out = P256_SPKI_PREFIX.to_vec();
    out.extend_from_slice(point);
    Ok(out)
}

/// The uncompressed point inside a P-256 SubjectPublicKeyInfo DER.
pub fn p256_point_from_spki(spki_der: &[u8]) -> Result<&[u8], DsseError> {
    match spki_der.strip_prefix(&P256_SPKI_PREFIX[..]) {
        Some(point) if point.len() == 65 && point.first() == Some(&0x04) => Ok(point),
        _ => Err(DsseError::BadKey(
            "SubjectPublicKeyInfo is not an uncompressed P-256 key".into(),
        )),
    }
}

/// Hex SHA-256 of a public key's SPKI DER: the key id we give file keys.
pub fn key_id(spki_der: &[u8]) -> String {
    hex(&Sha256::digest(spki_der))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Where a signing key lives. Implementations sign with ECDSA P-256 / SHA-256 and return ASN.1 DER
/// signatures; the private key never leaves them.
pub trait KeySource: Send + Sync + fmt::Debug {
    /// The public key as SubjectPublicKeyInfo DER.
    fn public_key_spki_der(&self) -> Vec<u8>;
    /// Signs `message` (hashing it with SHA-256).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DsseError>;
}

/// A P-256 key held in memory, loaded from PKCS#8 (a file in the data directory, or an ephemeral key).
pub struct MemoryKey {
    key: EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl fmt::Debug for MemoryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKey")
            .field("key_id", &key_id(&self.public_key_spki_der()))
            .finish_non_exhaustive()
    }
}

impl MemoryKey {
    /// Loads a PKCS#8 P-256 private key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<MemoryKey, DsseError> {
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|e| DsseError::BadKey(e.to_string()))?;
        Ok(MemoryKey { key, rng })
    }

    /// A new random key and its PKCS#8 encoding.
    pub fn generate(rng: &dyn SecureRandom) -> Result<(MemoryKey, Vec<u8>), DsseError> {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, rng)
            .map_err(|e| DsseError::BadKey(e.to_string()))?;
        let key = MemoryKey::from_pkcs8(pkcs8.as_ref())?;
        Ok((key, pkcs8.as_ref().to_vec()))
    }

    /// The uncompressed public point.
    pub fn public_point(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }
}

impl KeySource for MemoryKey {
    fn public_key_spki_der(&self) -> Vec<u8> {
        let mut out = P256_SPKI_PREFIX.to_vec();
        out.extend_from_slice(self.public_point());
        out
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DsseError> {
        self.key
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| DsseError::Signing("memory".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // The DSSE specification's protocol.md example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn sign_verify_and_json_round_trip() {
        let rng = ring::rand::SystemRandom::new();
        let (key, _) = MemoryKey::generate(&rng).unwrap();
        let spki = key.public_key_spki_der();
        assert_eq!(p256_spki_der(key.public_point()).unwrap(), spki);
        let env = Envelope::sign(PAYLOAD_TYPE_IN_TOTO, b"{}".to_vec(), &key, "k").unwrap();
        env.verify_p256(&spki).unwrap();
        let back = Envelope::parse(env.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(back, env);
        back.verify_p256(&spki).unwrap();

        let mut tampered = env.clone();
        tampered.payload = b"{ }".to_vec();
        assert_eq!(tampered.verify_p256(&spki), Err(DsseError::BadSignature));
        let mut retyped = env.clone();
        retyped.payload_type = "text/plain".into();
        assert_eq!(retyped.verify_p256(&spki), Err(DsseError::BadSignature));
        let (other, _) = MemoryKey::generate(&rng).unwrap();
        assert_eq!(
            env.verify_p256(&other.public_key_spki_der()),
            Err(DsseError::BadSignature)
        );
        assert!(matches!(
            env.verify_p256(&spki[1..]),
            Err(DsseError::BadKey(_))
        ));
    }

    #[test]
    fn bad_envelopes_are_named() {
        for (doc, what) in [
            (&b"nope"[..], "not JSON"),
            (br#"{"payloadType":"t","signatures":[]}"#, "payload"),
            (
                br#"{"payload":"e30=","payloadType":"t","signatures":[]}"#,
                "0 signatures",
            ),
            (
                br#"{"payload":"***","payloadType":"t","signatures":[{"sig":""}]}"#,
                "base64",
            ),
            (
                br#"{"payload":"e30=","payloadType":"t","signatures":[{}]}"#,
                "without `sig`",
            ),
        ] {
            let e = Envelope::parse(doc).unwrap_err().to_string();
            assert!(e.contains(what), "{e} should name {what}");
        }
    }
}
