//! Real keys for the table tests: P-256 and Ed25519 generated with ring, RSA from the fixture.

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::Value;

use super::{b64url_encode, Es256Signer, Jwk, PublicKey};

pub(crate) const RSA_PKCS8: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/rsa2048.pk8"
));

pub(crate) fn es256(kid: &str) -> Es256Signer {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    Es256Signer::from_pkcs8(pkcs8.as_ref(), kid, &rng).unwrap()
}

pub(crate) fn ed25519() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

pub(crate) fn ed25519_jwk(key: &Ed25519KeyPair, kid: Option<&str>) -> Jwk {
    Jwk {
        kid: kid.map(str::to_owned),
        key: PublicKey::Ed25519 {
            x: key.public_key().as_ref().try_into().unwrap(),
        },
    }
}

pub(crate) fn rsa() -> RsaKeyPair {
    RsaKeyPair::from_pkcs8(RSA_PKCS8).unwrap()
}

pub(crate) fn rsa_jwk(key: &RsaKeyPair, kid: Option<&str>) -> Jwk {
    let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
    Jwk {
        kid: kid.map(str::to_owned),
        key: PublicKey::Rsa { n: c.n, e: c.e },
    }
}

/// A compact JWS over exactly these header and payload JSON values, signed by `sign`.
pub(crate) fn compact(header: &Value, payload: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(payload.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64url_encode(&sig))
}

pub(crate) fn rsa_sign<'a>(
    key: &'a RsaKeyPair,
    pad: &'static dyn signature::RsaEncoding,
) -> impl Fn(&[u8]) -> Vec<u8> + 'a {
    move |msg| {
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(pad, &SystemRandom::new(), msg, &mut sig).unwrap();
        sig
    }
}
