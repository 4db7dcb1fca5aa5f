#![no_main]
//! Bytes from strangers that the Signer and verifiers read: DSSE envelopes (then verified with a
//! fixed key), release-signature envelopes checked against a fixed key and digest, SCT lists and
//! single SCTs, and leaf certificates whose embedded SCT is checked (the first byte picks which).
//! Never a panic.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signer_gateway::dsse::{Envelope, KeySource as _, MemoryKey};
use signer_gateway::keyless::{parse_sct_list, verify_embedded_sct, SignedCertificateTimestamp};
use signer_gateway::release::check_envelope;

fn key() -> &'static Vec<u8> {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let (k, _) = MemoryKey::generate(&ring::rand::SystemRandom::new()).unwrap();
        k.public_key_spki_der()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(env) = Envelope::parse(rest) {
                let _ = env.verify_p256(key());
                let _ = Envelope::parse(env.to_json().to_string().as_bytes());
            }
        }
        1 => {
            let digest = format!("sha256:{}", "a".repeat(64));
            let _ = check_envelope(rest, std::slice::from_ref(key()), &digest);
        }
        2 => {
            let _ = parse_sct_list(rest);
            let _ = SignedCertificateTimestamp::parse(rest);
        }
        _ => {
            let _ = verify_embedded_sct(rest, key(), key());
        }
    }
});
