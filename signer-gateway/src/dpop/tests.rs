//! Table tests for DPoP proofs with real keys.

use ring::rand::SystemRandom;
use serde_json::{json, Value};

use super::*;
use crate::jose::test_keys::{compact, ed25519, ed25519_jwk, es256};
use crate::jose::Es256Signer;

const NOW: u64 = 1_700_000_000;
const URI: &str = "https://authority.example/oauth/token";
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln";

fn cfg() -> DpopConfig {
    DpopConfig::new(vec![Alg::ES256, Alg::EdDSA])
}

fn post() -> DpopRequest<'static> {
    DpopRequest {
        method: "POST",
        uri: URI,
        access_token: None,
    }
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"jti": "proof-1", "htm": "POST", "htu": URI, "iat": NOW});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn proof(key: &Es256Signer, extra: Value) -> String {
    key.sign_dpop_proof(claims(extra).as_object().unwrap(), &SystemRandom::new())
        .unwrap()
}

/// A proof with a hand-made header, signed by `key` (ES256).
fn proof_with_header(key: &Es256Signer, header: Value, extra: Value) -> String {
    let payload = claims(extra).to_string();
    key.sign_compact(
        header.as_object().unwrap().clone(),
        payload.as_bytes(),
        &SystemRandom::new(),
    )
    .unwrap()
}

fn check(proof: &str, req: &DpopRequest<'_>, cfg: &DpopConfig) -> Result<DpopProof, DpopError> {
    verify_proof(proof, req, cfg, &InMemoryReplayCache::new(16), NOW)
}

#[test]
fn valid_proofs() {
    let ec = es256("unused");
    let got = check(&proof(&ec, json!({})), &post(), &cfg()).unwrap();
    assert_eq!(got.jkt, ec.public_jwk().thumbprint());
    assert_eq!(got.alg, Alg::ES256);
    assert_eq!(
        (got.jti.as_str(), got.htm.as_str(), got.iat),
        ("proof-1", "POST", NOW)
    );

    let ed = ed25519();
    let jwk = ed25519_jwk(&ed, None);
    let token = compact(
        &json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk.to_json()}),
        &claims(json!({})),
        |m| ed.sign(m).as_ref().to_vec(),
    );
    let got = check(&token, &post(), &cfg()).unwrap();
    assert_eq!((got.alg, got.jkt), (Alg::EdDSA, jwk.thumbprint()));
}

#[test]
fn refused_proofs() {
    let ec = es256("unused");
    let other = es256("other");
    let jwk = |s: &Es256Signer| {
        let mut j = s.public_jwk().to_json();
        j.as_object_mut().unwrap().remove("kid");
        j
    };
    let mut private = jwk(&ec);
    private["d"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let none = format!(
        "{}.{}.",
        b64url_encode(
            json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk(&ec)})
                .to_string()
                .as_bytes()
        ),
        b64url_encode(claims(json!({})).to_string().as_bytes())
    );
    let cases: Vec<(&str, String, DpopError)> = vec![
        (
            "wrong typ",
            proof_with_header(&ec, json!({"typ": "JWT", "jwk": jwk(&ec)}), json!({})),
            DpopError::WrongTyp,
        ),
        (
            "missing typ",
            proof_with_header(&ec, json!({"jwk": jwk(&ec)}), json!({})),
            DpopError::WrongTyp,
        ),
        (
            "missing jwk",
            proof_with_header(&ec, json!({"typ": "dpop+jwt"}), json!({})),
            DpopError::MissingJwk,
        ),
        (
            "private jwk",
            proof_with_header(&ec, json!({"typ": "dpop+jwt", "jwk": private}), json!({})),
            DpopError::Jwk(JwkError::PrivateMember("d")),
        ),
        (
            "bad signature (jwk of another key)",
            proof_with_header(
                &ec,
                json!({"typ": "dpop+jwt", "jwk": jwk(&other)}),
                json!({}),
            ),
            DpopError::Jws(JwsError::BadSignature),
        ),
        ("alg none", none, DpopError::Jws(JwsError::AlgNone)),
        (
            "alg not allowed",
            compact(
                &json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk(&ec)}),
                &claims(json!({})),
                |_| vec![1; 256],
            ),
            DpopError::Jws(JwsError::AlgNotAllowed(Alg::RS256)),
        ),
        (
            "HS256",
            compact(
                &json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk(&ec)}),
                &claims(json!({})),
                |_| vec![1; 32],
            ),
            DpopError::Jws(JwsError::SymmetricAlg("HS256".into())),
        ),
        (
            "wrong htm",
            proof(&ec, json!({"htm": "GET"})),
            DpopError::WrongHtm,
        ),
        (
            "lowercase htm",
            proof(&ec, json!({"htm": "post"})),
            DpopError::WrongHtm,
        ),
        (
            "wrong htu path",
            proof(
                &ec,
                json!({"htu": "https://authority.example/oauth/introspect"}),
            ),
            DpopError::WrongHtu,
        ),
        (
            "wrong htu host",
            proof(&ec, json!({"htu": "https://evil.example/oauth/token"})),
            DpopError::WrongHtu,
        ),
        (
            "wrong htu scheme",
            proof(&ec, json!({"htu": "http://authority.example/oauth/token"})),
            DpopError::WrongHtu,
        ),
        (
            "wrong htu port",
            proof(
                &ec,
                json!({"htu": "https://authority.example:8443/oauth/token"}),
            ),
            DpopError::WrongHtu,
        ),
        (
            "htu not a URI",
            proof(&ec, json!({"htu": "/oauth/token"})),
            DpopError::BadHtu,
        ),
        (
            "htu not a string",
            proof(&ec, json!({"htu": 1})),
            DpopError::ClaimType("htu"),
        ),
        (
            "iat too old",
            proof(&ec, json!({"iat": NOW - 61})),
            DpopError::IatTooOld {
                iat: NOW - 61,
                now: NOW,
            },
        ),
        (
            "iat too new",
            proof(&ec, json!({"iat": NOW + 61})),
            DpopError::IatInFuture {
                iat: NOW + 61,
                now: NOW,
            },
        ),
        (
            "missing iat",
            proof(&ec, json!({"iat": null})),
            DpopError::MissingClaim("iat"),
        ),
        (
            "missing jti",
            proof(&ec, json!({"jti": null})),
            DpopError::MissingClaim("jti"),
        ),
        (
            "empty jti",
            proof(&ec, json!({"jti": ""})),
            DpopError::BadJti,
        ),
        (
            "long jti",
            proof(&ec, json!({"jti": "j".repeat(129)})),
            DpopError::BadJti,
        ),
        (
            "missing htm",
            proof(&ec, json!({"htm": null})),
            DpopError::MissingClaim("htm"),
        ),
        (
            "missing htu",
            proof(&ec, json!({"htu": null})),
            DpopError::MissingClaim("htu"),
        ),
        (
            "2 parts",
            "a.b".into(),
            DpopError::Jws(JwsError::PartCount(2)),
        ),
    ];
    for (name, token, want) in cases {
        assert_eq!(check(&token, &post(), &cfg()).unwrap_err(), want, "{name}");
    }
}

#[test]
fn iat_window_edges_are_accepted() {
    let ec = es256("k");
    for iat in [NOW - 60, NOW + 60] {
        assert!(check(&proof(&ec, json!({"iat": iat})), &post(), &cfg()).is_ok());
    }
}

#[test]
fn htu_normalisation() {
    let ec = es256("k");
    let req = DpopRequest {
        method: "GET",
        uri: "https://example.com/a",
        access_token: None,
    };
    let token = proof(
        &ec,
        json!({"htm": "GET", "htu": "HTTPS://Example.COM:443/a?x#y"}),
    );
    assert!(check(&token, &req, &cfg()).is_ok());

    let cases: &[(&str, Option<&str>)] = &[
        (
            "HTTPS://Example.COM:443/a?x#y",
            Some("https://example.com/a"),
        ),
        ("https://example.com", Some("https://example.com/")),
        ("https://example.com:", Some("https://example.com/")),
        ("http://EXAMPLE.com:80/", Some("http://example.com/")),
        ("http://example.com:443/", Some("http://example.com:443/")),
        (
            "https://example.com:8443/x",
            Some("https://example.com:8443/x"),
        ),
        (
            "https://example.com/A%2fb",
            Some("https://example.com/A%2Fb"),
        ),
        (
            "https://example.com/a#frag/x",
            Some("https://example.com/a"),
        ),
        ("https://[::1]:443/t", Some("https://[::1]/t")),
        ("https://[::1]:9/t", Some("https://[::1]:9/t")),
        ("https://user@example.com/", None),
        ("ftp://example.com/", None),
        ("https://example.com:99999/", None),
        ("https://example.com:x/", None),
        ("https:///a", None),
        ("example.com/a", None),
    ];
    for (uri, want) in cases {
        assert_eq!(normalize_htu(uri).as_deref(), *want, "{uri}");
    }
}

#[test]
fn replayed_jti_is_refused() {
    let ec = es256("k");
    let cache = InMemoryReplayCache::new(16);
    let token = proof(&ec, json!({}));
    assert!(verify_proof(&token, &post(), &cfg(), &cache, NOW).is_ok());
    assert_eq!(
        verify_proof(&token, &post(), &cfg(), &cache, NOW + 1).unwrap_err(),
        DpopError::Replay
    );
    // A fresh proof with the same jti from the same key is a replay too.
    let again = proof(&ec, json!({"iat": NOW + 1}));
    assert_eq!(
        verify_proof(&again, &post(), &cfg(), &cache, NOW + 1).unwrap_err(),
        DpopError::Replay
    );
    // The same jti under another key is another proof.
    let other = proof(&es256("k2"), json!({}));
    assert!(verify_proof(&other, &post(), &cfg(), &cache, NOW).is_ok());
}

#[test]
fn refused_proofs_do_not_burn_their_jti() {
    let ec = es256("k");
    let cache = InMemoryReplayCache::new(16);
    let wrong = proof(&ec, json!({"htm": "GET"}));
    assert!(verify_proof(&wrong, &post(), &cfg(), &cache, NOW).is_err());
    assert!(cache.is_empty());
    assert!(verify_proof(&proof(&ec, json!({})), &post(), &cfg(), &cache, NOW).is_ok());
}

#[test]
fn access_token_binding() {
    let ec = es256("k");
    let req = DpopRequest {
        access_token: Some(TOKEN),
        ..post()
    };
    let ath = access_token_hash(TOKEN);
    assert!(check(&proof(&ec, json!({"ath": ath})), &req, &cfg()).is_ok());
    assert_eq!(
        check(&proof(&ec, json!({})), &req, &cfg()).unwrap_err(),
        DpopError::MissingAth
    );
    assert_eq!(
        check(
            &proof(&ec, json!({"ath": access_token_hash("another")})),
            &req,
            &cfg()
        )
        .unwrap_err(),
        DpopError::WrongAth
    );
    assert_eq!(
        check(&proof(&ec, json!({"ath": 5})), &req, &cfg()).unwrap_err(),
        DpopError::ClaimType("ath")
    );
}

#[test]
fn server_nonce() {
    let ec = es256("k");
    let mut cfg = cfg();
    cfg.nonce = Some(NonceSource::new(&[9; 32], 300));
    let source = NonceSource::new(&[9; 32], 300);
    let current = source.issue(NOW);
    let previous = source.issue(NOW - 300);
    let ancient = source.issue(NOW - 600);
    let foreign = NonceSource::new(&[1; 32], 300).issue(NOW);

    assert!(check(&proof(&ec, json!({"nonce": current})), &post(), &cfg).is_ok());
    assert!(check(&proof(&ec, json!({"nonce": previous})), &post(), &cfg).is_ok());
    let refused = [
        (proof(&ec, json!({})), NonceFault::Missing),
        (proof(&ec, json!({"nonce": ancient})), NonceFault::Stale),
        (proof(&ec, json!({"nonce": foreign})), NonceFault::Stale),
        (proof(&ec, json!({"nonce": "made-up"})), NonceFault::Stale),
    ];
    for (token, fault) in refused {
        let err = check(&token, &post(), &cfg).unwrap_err();
        assert_eq!(err, DpopError::UseDpopNonce(fault));
        assert_eq!(err.error_code(), "use_dpop_nonce");
    }
    assert_eq!(DpopError::WrongHtm.error_code(), "invalid_dpop_proof");
}
