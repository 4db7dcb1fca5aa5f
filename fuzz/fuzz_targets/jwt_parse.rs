#![no_main]
//! A JWT from a stranger: parse, verify against a fixed key set (EC P-256, RSA, Ed25519) under the
//! full allowlist, validate its claims; also JWK and JWKS parsing. Never a panic; a parsed JWK
//! re-reads from its own JSON to itself.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signer_gateway::jose::{validate_claims, verify_jwt, Alg, ClaimsPolicy, Jwk, JwkSet, Jws};

const NOW: u64 = 1_700_000_000;
const ALL: &[Alg] = &[Alg::ES256, Alg::RS256, Alg::PS256, Alg::EdDSA];
// The P-256 base point, the RFC 7638 §3.1 RSA key and the RFC 8037 A.2 Ed25519 key.
const JWKS: &str = r#"{"keys":[
 {"kty":"EC","crv":"P-256","kid":"ec","x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY","y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"},
 {"kty":"RSA","kid":"rsa","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
 {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
]}"#;

fn keys() -> &'static JwkSet {
    static KEYS: OnceLock<JwkSet> = OnceLock::new();
    KEYS.get_or_init(|| JwkSet::parse(JWKS.as_bytes()).unwrap())
}

fuzz_target!(|data: &[u8]| {
    let policy = ClaimsPolicy::new("https://authority", "signer");
    let text = String::from_utf8_lossy(data);
    let _ = verify_jwt(&text, keys(), ALL, &policy, NOW);
    if let Ok(jws) = Jws::parse(&text) {
        let _ = jws.verify_with_set(keys(), &[Alg::ES256]);
        let _ = validate_claims(jws.payload(), &policy, NOW);
    }
    let _ = validate_claims(data, &policy, NOW);
    if let Ok(jwk) = Jwk::parse(data) {
        let _ = jwk.thumbprint();
        assert_eq!(Jwk::from_json(&jwk.to_json()), Ok(jwk));
    }
    let _ = JwkSet::parse(data);
});
