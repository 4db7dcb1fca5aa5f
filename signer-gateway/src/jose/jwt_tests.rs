//! Table tests for JWS and JWT verification with real keys.

use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature;
use serde_json::{json, Value};

use super::test_keys::{compact, ed25519, ed25519_jwk, es256, rsa, rsa_jwk, rsa_sign};
use super::*;

const NOW: u64 = 1_700_000_000;
const ALL: &[Alg] = &[Alg::ES256, Alg::RS256, Alg::PS256, Alg::EdDSA];

fn claims() -> Value {
    json!({"iss": "https://authority", "aud": ["signer", "other"], "sub": "ci",
           "exp": NOW + 120, "nbf": NOW - 5, "iat": NOW - 5})
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn policy() -> ClaimsPolicy {
    ClaimsPolicy::new("https://authority", "signer")
}

#[test]
fn jwt_table() {
    let rng = SystemRandom::new();
    let ec = es256("ec");
    let ed = ed25519();
    let rs = rsa();
    let rsa_public = rsa_jwk(&rs, Some("rsa"));
    let keys = JwkSet::new(vec![
        ec.public_jwk(),
        ed25519_jwk(&ed, Some("ed")),
        rsa_public.clone(),
    ])
    .unwrap();

    let es = |c: &Value| ec.sign_jwt(c.as_object().unwrap(), &rng).unwrap();
    let ed_sign = |m: &[u8]| ed.sign(m).as_ref().to_vec();
    let rs256 = rsa_sign(&rs, &signature::RSA_PKCS1_SHA256);
    let ps256 = rsa_sign(&rs, &signature::RSA_PSS_SHA256);
    // The classic attack: HS256 keyed with the bytes of the public key the verifier holds.
    let hs256 = |m: &[u8]| {
        let secret = rsa_public.to_json().to_string();
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), m)
            .as_ref()
            .to_vec()
    };
    let ok_es = es(&claims());
    let (head, rest) = ok_es.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();

    let claim_err = |e: ClaimsError| Err(JwtError::Claims(e));
    let jws_err = |e: JwsError| Err(JwtError::Jws(e));
    let cases: Vec<(&str, String, Result<Alg, JwtError>)> = vec![
        ("valid ES256", ok_es.clone(), Ok(Alg::ES256)),
        (
            "valid RS256",
            compact(&json!({"alg": "RS256", "kid": "rsa"}), &claims(), &rs256),
            Ok(Alg::RS256),
        ),
        (
            "valid PS256",
            compact(&json!({"alg": "PS256", "kid": "rsa"}), &claims(), &ps256),
            Ok(Alg::PS256),
        ),
        (
            "valid EdDSA",
            compact(&json!({"alg": "EdDSA", "kid": "ed"}), &claims(), ed_sign),
            Ok(Alg::EdDSA),
        ),
        (
            "expired",
            es(&with(claims(), json!({"exp": NOW - 61}))),
            claim_err(ClaimsError::Expired {
                exp: NOW - 61,
                now: NOW,
            }),
        ),
        (
            "not yet valid",
            es(&with(claims(), json!({"nbf": NOW + 61}))),
            claim_err(ClaimsError::NotYetValid {
                nbf: NOW + 61,
                now: NOW,
            }),
        ),
        (
            "future iat",
            es(&with(claims(), json!({"iat": NOW + 61}))),
            claim_err(ClaimsError::IssuedInFuture {
                iat: NOW + 61,
                now: NOW,
            }),
        ),
        (
            "wrong aud",
            es(&with(claims(), json!({"aud": "someone-else"}))),
            claim_err(ClaimsError::WrongAudience),
        ),
        (
            "wrong iss",
            es(&with(claims(), json!({"iss": "https://evil"}))),
            claim_err(ClaimsError::WrongIssuer),
        ),
        (
            "alg none",
            format!(
                "{}.{payload}.",
                b64url_encode(br#"{"alg":"none","kid":"ec"}"#)
            ),
            jws_err(JwsError::AlgNone),
        ),
        (
            "alg None",
            compact(&json!({"alg": "None", "kid": "ec"}), &claims(), |_| vec![]),
            jws_err(JwsError::AlgNone),
        ),
        (
            "HS256 keyed with the public key",
            compact(&json!({"alg": "HS256", "kid": "rsa"}), &claims(), hs256),
            jws_err(JwsError::SymmetricAlg("HS256".into())),
        ),
        (
            "HS512",
            compact(&json!({"alg": "HS512", "kid": "rsa"}), &claims(), hs256),
            jws_err(JwsError::SymmetricAlg("HS512".into())),
        ),
        (
            "RS256 header on the EC key",
            compact(&json!({"alg": "RS256", "kid": "ec"}), &claims(), &rs256),
            jws_err(JwsError::AlgKeyMismatch {
                alg: Alg::RS256,
                kty: "EC",
            }),
        ),
        (
            "ES256 header on the RSA key",
            compact(&json!({"alg": "ES256", "kid": "rsa"}), &claims(), &rs256),
            jws_err(JwsError::AlgKeyMismatch {
                alg: Alg::ES256,
                kty: "RSA",
            }),
        ),
        (
            "EdDSA header on the EC key",
            compact(&json!({"alg": "EdDSA", "kid": "ec"}), &claims(), ed_sign),
            jws_err(JwsError::AlgKeyMismatch {
                alg: Alg::EdDSA,
                kty: "EC",
            }),
        ),
        (
            "unknown kid",
            compact(&json!({"alg": "EdDSA", "kid": "nope"}), &claims(), ed_sign),
            jws_err(JwsError::UnknownKid("nope".into())),
        ),
        (
            "no kid with several keys",
            compact(&json!({"alg": "EdDSA"}), &claims(), ed_sign),
            jws_err(JwsError::MissingKid),
        ),
        (
            "unknown alg",
            compact(&json!({"alg": "ES512", "kid": "ec"}), &claims(), ed_sign),
            jws_err(JwsError::UnsupportedAlg("ES512".into())),
        ),
        (
            "missing alg",
            compact(&json!({"kid": "ec"}), &claims(), ed_sign),
            jws_err(JwsError::MissingAlg),
        ),
        (
            "crit",
            compact(
                &json!({"alg": "EdDSA", "kid": "ed", "crit": ["exp"]}),
                &claims(),
                ed_sign,
            ),
            jws_err(JwsError::CritUnsupported),
        ),
        (
            "bad signature (payload swapped)",
            format!(
                "{head}.{}.{sig}",
                b64url_encode(
                    with(claims(), json!({"sub": "root"}))
                        .to_string()
                        .as_bytes()
                )
            ),
            jws_err(JwsError::BadSignature),
        ),
        (
            "bad signature (signed by another EC key)",
            es256("ec")
                .sign_jwt(claims().as_object().unwrap(), &rng)
                .unwrap(),
            jws_err(JwsError::BadSignature),
        ),
        (
            "bad base64 header",
            format!("{}+.{payload}.{sig}", &head[..head.len() - 1]),
            jws_err(JwsError::BadBase64(Part::Header)),
        ),
        (
            "padded signature",
            format!("{head}.{payload}.{sig}="),
            jws_err(JwsError::BadBase64(Part::Signature)),
        ),
        (
            "bad base64 payload",
            format!("{head}.{payload}*.{sig}"),
            jws_err(JwsError::BadBase64(Part::Payload)),
        ),
        (
            "2 parts",
            format!("{head}.{payload}"),
            jws_err(JwsError::PartCount(2)),
        ),
        (
            "4 parts",
            format!("{ok_es}.{sig}"),
            jws_err(JwsError::PartCount(4)),
        ),
        (
            "oversized",
            es(&with(claims(), json!({"pad": "x".repeat(MAX_TOKEN_LEN)}))),
            jws_err(JwsError::TooLarge { len: 0 }),
        ),
        (
            "header not an object",
            format!("{}.{payload}.{sig}", b64url_encode(b"[\"ES256\"]")),
            jws_err(JwsError::HeaderNotObject),
        ),
        (
            "payload not JSON",
            compact(
                &json!({"alg": "EdDSA", "kid": "ed"}),
                &json!("just a string"),
                ed_sign,
            ),
            claim_err(ClaimsError::NotObject),
        ),
    ];
    for (name, token, want) in cases {
        let got = verify_jwt(&token, &keys, ALL, &policy(), NOW).map(|jwt| jwt.alg);
        match (&got, &want) {
            (
                Err(JwtError::Jws(JwsError::TooLarge { len })),
                Err(JwtError::Jws(JwsError::TooLarge { .. })),
            ) => {
                assert_eq!(*len, token.len(), "{name}")
            }
            _ => assert_eq!(got, want, "{name}"),
        }
    }
}

#[test]
fn allowlist_is_enforced() {
    let rng = SystemRandom::new();
    let ec = es256("ec");
    let keys = JwkSet::new(vec![ec.public_jwk()]).unwrap();
    let token = ec.sign_jwt(claims().as_object().unwrap(), &rng).unwrap();
    assert_eq!(
        verify_jwt(&token, &keys, &[Alg::RS256, Alg::EdDSA], &policy(), NOW).unwrap_err(),
        JwtError::Jws(JwsError::AlgNotAllowed(Alg::ES256))
    );
    assert_eq!(
        verify_jwt(&token, &keys, &[], &policy(), NOW).unwrap_err(),
        JwtError::Jws(JwsError::AlgNotAllowed(Alg::ES256))
    );
}

#[test]
fn verified_jwt_carries_header_kid_and_claims() {
    let rng = SystemRandom::new();
    let ec = es256("k1");
    let keys = JwkSet::new(vec![ec.public_jwk()]).unwrap();
    let token = ec
        .sign_jwt(
            with(claims(), json!({"cnf": {"jkt": "abc"}}))
                .as_object()
                .unwrap(),
            &rng,
        )
        .unwrap();
    let jwt = verify_jwt(&token, &keys, ALL, &policy(), NOW).unwrap();
    assert_eq!(jwt.kid.as_deref(), Some("k1"));
    assert_eq!(jwt.header["typ"], "JWT");
    assert_eq!(jwt.claims.sub.as_deref(), Some("ci"));
    assert_eq!(jwt.claims.raw["cnf"]["jkt"], "abc");
    // ES256 signatures are raw r || s.
    let sig = b64url_decode(token.rsplit('.').next().unwrap()).unwrap();
    assert_eq!(sig.len(), 64);
}

#[test]
fn a_one_key_set_needs_no_kid() {
    let ed = ed25519();
    let keys = JwkSet::new(vec![ed25519_jwk(&ed, None)]).unwrap();
    let token = compact(&json!({"alg": "EdDSA"}), &claims(), |m| {
        ed.sign(m).as_ref().to_vec()
    });
    assert!(verify_jwt(&token, &keys, ALL, &policy(), NOW).is_ok());
}

#[test]
fn jwks_with_private_member_is_refused() {
    let ed = ed25519();
    let mut jwk = ed25519_jwk(&ed, Some("ed")).to_json();
    jwk["d"] = Value::from(b64url_encode(&[1; 32]));
    let doc = json!({"keys": [jwk]}).to_string();
    assert_eq!(
        JwkSet::parse(doc.as_bytes()).unwrap_err(),
        JwkError::PrivateMember("d")
    );
}
