#![no_main]
//! Bytes from strangers that the TSA reads: TimeStampReq bodies (`respond` must answer every one
//! with a TimeStampResp, never an error or a panic, and a granted answer must verify) and
//! TimeStampResp / TimeStampToken bytes handed to `verify_timestamp` (the first byte picks which).

use std::sync::OnceLock;

use attestor::tsa::{verify_timestamp, TimestampAuthority, TsaMaterial};
use libfuzzer_sys::fuzz_target;
use ring::rand::SystemRandom;

/// 2026-01-01T00:00:00Z, and a genTime a little later with milliseconds.
const NOT_BEFORE: u64 = 1_767_225_600;
const GEN_TIME: u64 = 1_767_225_600_000 + 86_400_123;

fn tsa() -> &'static (TimestampAuthority, TsaMaterial) {
    static TSA: OnceLock<(TimestampAuthority, TsaMaterial)> = OnceLock::new();
    TSA.get_or_init(|| {
        TimestampAuthority::create("Fuzz TSA", NOT_BEFORE, &SystemRandom::new()).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (tsa, material) = tsa();
    let roots = [material.root_cert_der.clone()];
    let chain = [material.leaf_cert_der.clone()];
    match mode % 3 {
        0 => {
            let resp = tsa
                .respond(rest, GEN_TIME, 1, &SystemRandom::new())
                .expect("respond never fails on a bad request");
            // A granted answer is a token our verifier reads (the message is unknown here, so
            // the imprint check is the only thing allowed to fail).
            match verify_timestamp(&resp, b"", &roots, &chain) {
                Ok(_) | Err(attestor::tsa::TsaError::ImprintMismatch) => {}
                Err(attestor::tsa::TsaError::NotGranted(2)) => {}
                Err(e) => panic!("our own response did not verify: {e}"),
            }
        }
        1 => {
            let _ = verify_timestamp(rest, b"message", &roots, &chain);
        }
        _ => {
            // Untrusted certificates too: the rest is split into a response and a would-be
            // intermediate.
            let cut = rest.first().map_or(0, |b| usize::from(*b)).min(rest.len());
            let (cert, resp) = rest.split_at(cut);
            let _ = verify_timestamp(resp, b"message", &[cert.to_vec()], &[cert.to_vec()]);
        }
    }
});
