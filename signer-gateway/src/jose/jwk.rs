//! Public JSON Web Keys (RFC 7517/7518) and their RFC 7638 thumbprints.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{b64url_decode, b64url_encode};

/// The most keys a [`JwkSet`] may hold; a JWKS is hostile input too.
pub const MAX_JWKS: usize = 64;
/// Members that only a private (or symmetric) key carries.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;
const MAX_KID_LEN: usize = 256;

/// Why a JWK or a JWK set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("JWK is not a JSON object")]
    NotObject,
    #[error("JWK carries the private member `{0}`; only public keys are accepted")]
    PrivateMember(&'static str),
    #[error("symmetric keys (kty `oct`) are refused")]
    Symmetric,
    #[error("unsupported key type `{0}`")]
    UnsupportedKty(String),
    #[error("unsupported curve `{0}`")]
    UnsupportedCurve(String),
    #[error("JWK member `{0}` is missing or not a string")]
    MissingMember(&'static str),
    #[error("JWK member `{0}` is not strict base64url")]
    BadBase64(&'static str),
    #[error("JWK member `{0}` has the wrong length")]
    BadLength(&'static str),
    #[error("RSA modulus of {0} bits is outside 2048..=8192")]
    RsaModulusSize(usize),
    #[error("JWK set is not an object with a `keys` array")]
    NotASet,
    #[error("JWK set holds more than {MAX_JWKS} keys")]
    TooManyKeys,
    #[error("JWK set holds two keys with kid `{0}`")]
    DuplicateKid(String),
}

/// The public key material of a [`Jwk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// `kty: EC, crv: P-256`: the affine coordinates, 32 bytes each.
    P256 { x: [u8; 32], y: [u8; 32] },
    /// `kty: RSA`: big-endian modulus (2048–8192 bits, no leading zero) and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// `kty: OKP, crv: Ed25519`: the 32-byte public key.
    Ed25519 { x: [u8; 32] },
}

impl PublicKey {
    /// The JWK `kty` of this key.
    pub fn kty(&self) -> &'static str {
        match self {
            PublicKey::P256 { .. } => "EC",
            PublicKey::Rsa { .. } => "RSA",
            PublicKey::Ed25519 { .. } => "OKP",
        }
    }
}

/// A public JWK: the key plus its optional `kid`. Private and symmetric keys cannot be represented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    pub key: PublicKey,
}

fn member<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, JwkError> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or(JwkError::MissingMember(name))
}

fn bytes(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    b64url_decode(member(obj, name)?).map_err(|_| JwkError::BadBase64(name))
}

fn array32(obj: &Map<String, Value>, name: &'static str) -> Result<[u8; 32], JwkError> {
    bytes(obj, name)?
        .try_into()
        .map_err(|_| JwkError::BadLength(name))
}

impl Jwk {
    /// Reads a public JWK from a JSON value. Refuses private members, `oct` keys, unknown key types and
    /// curves, wrong coordinate lengths and RSA moduli outside 2048–8192 bits.
    pub fn from_json(value: &Value) -> Result<Jwk, JwkError> {
        let obj = value.as_object().ok_or(JwkError::NotObject)?;
        if let Some(found) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(JwkError::PrivateMember(found));
        }
        let kty = member(obj, "kty")?;
        let key = match kty {
            "oct" => return Err(JwkError::Symmetric),
            "EC" => match member(obj, "crv")? {
                "P-256" => PublicKey::P256 {
                    x: array32(obj, "x")?,
                    y: array32(obj, "y")?,
                },
                other => return Err(JwkError::UnsupportedCurve(other.to_owned())),
            },
            "OKP" => match member(obj, "crv")? {
                "Ed25519" => PublicKey::Ed25519 {
                    x: array32(obj, "x")?,
                },
                other => return Err(JwkError::UnsupportedCurve(other.to_owned())),
            },
            "RSA" => {
                let n = bytes(obj, "n")?;
                let e = bytes(obj, "e")?;
                // RFC 7518 §6.3.1.1: no leading zero octet, so the thumbprint has one value.
                let bits = match n.first() {
                    Some(&first) if first != 0 => {
                        n.len() * 8 - usize::try_from(first.leading_zeros()).unwrap_or(0)
                    }
                    _ => return Err(JwkError::BadLength("n")),
                };
                if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                    return Err(JwkError::RsaModulusSize(bits));
                }
                if e.is_empty() || e.len() > 4 || e.first() == Some(&0) {
                    return Err(JwkError::BadLength("e"));
                }
                PublicKey::Rsa { n, e }
            }
            other => return Err(JwkError::UnsupportedKty(other.to_owned())),
        };
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(kid)) if kid.len() <= MAX_KID_LEN => Some(kid.clone()),
            Some(_) => return Err(JwkError::MissingMember("kid")),
        };
        Ok(Jwk { kid, key })
    }

    /// Reads a public JWK from JSON bytes.
    pub fn parse(json: &[u8]) -> Result<Jwk, JwkError> {
        let value: Value = serde_json::from_slice(json).map_err(|_| JwkError::NotObject)?;
        Jwk::from_json(&value)
    }

    /// The RFC 7638 canonical JSON: the required members only, in lexicographic order, no whitespace.
    fn thumbprint_input(&self) -> String {
        match &self.key {
            PublicKey::P256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64url_encode(x),
                b64url_encode(y)
            ),
            PublicKey::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                b64url_encode(e),
                b64url_encode(n)
            ),
            PublicKey::Ed25519 { x } => {
                format!(
                    r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                    b64url_encode(x)
                )
            }
        }
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: the `jkt` of DPoP and `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        b64url_encode(&Sha256::digest(self.thumbprint_input().as_bytes()))
    }

    /// The JWK as JSON (public members and `kid`).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        match &self.key {
            PublicKey::P256 { x, y } => {
                obj.insert("kty".into(), "EC".into());
                obj.insert("crv".into(), "P-256".into());
                obj.insert("x".into(), b64url_encode(x).into());
                obj.insert("y".into(), b64url_encode(y).into());
            }
            PublicKey::Rsa { n, e } => {
                obj.insert("kty".into(), "RSA".into());
                obj.insert("n".into(), b64url_encode(n).into());
                obj.insert("e".into(), b64url_encode(e).into());
            }
            PublicKey::Ed25519 { x } => {
                obj.insert("kty".into(), "OKP".into());
                obj.insert("crv".into(), "Ed25519".into());
                obj.insert("x".into(), b64url_encode(x).into());
            }
        }
        if let Some(kid) = &self.kid {
            obj.insert("kid".into(), kid.clone().into());
        }
        Value::Object(obj)
    }
}

/// A set of public keys looked up by `kid` (an issuer's JWKS).
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    /// A set from keys; refuses more than [`MAX_JWKS`] keys and duplicate `kid`s (a lookup must be
    /// unambiguous).
    pub fn new(keys: Vec<Jwk>) -> Result<JwkSet, JwkError> {
        if keys.len() > MAX_JWKS {
            return Err(JwkError::TooManyKeys);
        }
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = &key.kid {
                if keys
                    .iter()
                    .skip(i + 1)
                    .any(|k| k.kid.as_deref() == Some(kid))
                {
                    return Err(JwkError::DuplicateKid(kid.clone()));
                }
            }
        }
        Ok(JwkSet { keys })
    }

    /// Reads a JWKS document (`{"keys": [...]}`). Keys of a type or curve we do not support are
    /// skipped (RFC 7517 §5); a key with private members or an `oct` key fails the whole set.
    pub fn parse(json: &[u8]) -> Result<JwkSet, JwkError> {
        let value: Value = serde_json::from_slice(json).map_err(|_| JwkError::NotASet)?;
        let list = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwkError::NotASet)?;
        if list.len() > MAX_JWKS {
            return Err(JwkError::TooManyKeys);
        }
        let mut keys = Vec::with_capacity(list.len());
        for item in list {
            match Jwk::from_json(item) {
                Ok(key) => keys.push(key),
                Err(JwkError::UnsupportedKty(_) | JwkError::UnsupportedCurve(_)) => {}
                Err(other) => return Err(other),
            }
        }
        JwkSet::new(keys)
    }

    /// The key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// All keys.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7638_rsa_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let jwk = Jwk::from_json(&jwk).unwrap();
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rfc8037_ed25519_thumbprint() {
        // RFC 8037 Appendix A.3.
        let jwk = json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let jwk = Jwk::from_json(&jwk).unwrap();
        assert_eq!(
            jwk.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn thumbprint_ignores_optional_members_and_order() {
        let a = json!({"kty": "OKP", "crv": "Ed25519", "kid": "k", "use": "sig",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let b = json!({"x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "crv": "Ed25519",
            "kty": "OKP"});
        assert_eq!(
            Jwk::from_json(&a).unwrap().thumbprint(),
            Jwk::from_json(&b).unwrap().thumbprint()
        );
    }

    #[test]
    fn refused_jwks() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let cases: Vec<(Value, JwkError)> = vec![
            (json!([]), JwkError::NotObject),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": x, "d": x}),
                JwkError::PrivateMember("d"),
            ),
            (
                json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "p": "AQ"}),
                JwkError::PrivateMember("p"),
            ),
            (
                json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "qi": "AQ"}),
                JwkError::PrivateMember("qi"),
            ),
            (
                json!({"kty": "oct", "k": "c2VjcmV0"}),
                JwkError::PrivateMember("k"),
            ),
            (json!({"kty": "oct"}), JwkError::Symmetric),
            (
                json!({"kty": "EC", "crv": "P-384", "x": x, "y": x}),
                JwkError::UnsupportedCurve("P-384".into()),
            ),
            (
                json!({"kty": "OKP", "crv": "X25519", "x": x}),
                JwkError::UnsupportedCurve("X25519".into()),
            ),
            (
                json!({"kty": "XYZ"}),
                JwkError::UnsupportedKty("XYZ".into()),
            ),
            (
                json!({"crv": "Ed25519", "x": x}),
                JwkError::MissingMember("kty"),
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": x}),
                JwkError::MissingMember("y"),
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": "11qY+YKx"}),
                JwkError::BadBase64("x"),
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": "AQAB"}),
                JwkError::BadLength("x"),
            ),
            (
                json!({"kty": "RSA", "n": b64url_encode(&[0xff; 128]), "e": "AQAB"}),
                JwkError::RsaModulusSize(1024),
            ),
            (
                json!({"kty": "RSA", "n": b64url_encode(&[0x01; 1025]), "e": "AQAB"}),
                JwkError::RsaModulusSize(8193),
            ),
            (
                json!({"kty": "RSA", "n": b64url_encode(&[0x00; 256]), "e": "AQAB"}),
                JwkError::BadLength("n"),
            ),
        ];
        for (jwk, want) in cases {
            assert_eq!(Jwk::from_json(&jwk), Err(want), "{jwk}");
        }
    }

    #[test]
    fn jwks_parse() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let set = JwkSet::parse(
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a"},
                            {"kty": "OKP", "crv": "X448", "x": x, "kid": "b"}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(set.keys().len(), 1);
        assert!(set.find("a").is_some() && set.find("b").is_none());
        let dup = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a"},
                                  {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a"}]});
        assert_eq!(
            JwkSet::parse(dup.to_string().as_bytes()).unwrap_err(),
            JwkError::DuplicateKid("a".into())
        );
        let private = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "d": x}]});
        assert_eq!(
            JwkSet::parse(private.to_string().as_bytes()).unwrap_err(),
            JwkError::PrivateMember("d")
        );
    }
}
