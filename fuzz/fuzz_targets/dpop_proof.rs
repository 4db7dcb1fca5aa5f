#![no_main]
//! A DPoP header from a stranger: `verify_proof` with a server nonce required or not and an access
//! token presented or not (chosen by the first byte), a shared replay cache, and `htu`
//! normalisation of the same bytes. Never a panic.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signer_gateway::dpop::{
    normalize_htu, verify_proof, DpopConfig, DpopRequest, InMemoryReplayCache, NonceSource,
};
use signer_gateway::jose::Alg;

const NOW: u64 = 1_700_000_000;

fn replay() -> &'static InMemoryReplayCache {
    static CACHE: OnceLock<InMemoryReplayCache> = OnceLock::new();
    CACHE.get_or_init(|| InMemoryReplayCache::new(1024))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut cfg = DpopConfig::new(vec![Alg::ES256, Alg::RS256, Alg::PS256, Alg::EdDSA]);
    if mode & 1 == 1 {
        cfg.nonce = Some(NonceSource::new(&[7; 32], 300));
    }
    let req = DpopRequest {
        method: "POST",
        uri: "https://authority.example/oauth/token",
        access_token: (mode & 2 == 2).then_some("access-token"),
    };
    let _ = verify_proof(&text, &req, &cfg, replay(), NOW);
    if let Some(normal) = normalize_htu(&text) {
        assert_eq!(normalize_htu(&normal).as_deref(), Some(normal.as_str()));
    }
});
