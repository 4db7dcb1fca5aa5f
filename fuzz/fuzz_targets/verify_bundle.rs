#![no_main]
//! `stella verify`'s bundle verifier on bytes from strangers (a registry serves any bundle): the
//! first byte picks raw bytes as a bundle, or the real staging Rekor v2 bundle with the input
//! XORed into its JSON at an offset (so the verifier gets deep: valid JSON, valid shapes, broken
//! signatures, proofs and certificates). Verified against the staging trusted root. Never a panic;
//! a changed bundle that still verifies must be byte-identical in what it signs.

use attestor::trust_root::TrustedRoot;
use attestor::verify::{verify_bundle, Expectations};
use libfuzzer_sys::fuzz_target;

const BUNDLE: &[u8] =
    include_bytes!("../../../shared/testdata/sigstore/conda-attestation-rekor2.sigstore.json");
const ROOT: &[u8] = include_bytes!("../../../shared/testdata/sigstore/trusted_root_staging.json");

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(root) = TrustedRoot::parse(ROOT) else {
        return;
    };
    let exp = Expectations::default();
    if mode % 2 == 0 {
        let _ = verify_bundle(rest, &root, &exp);
        return;
    }
    let Some((off, xor)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let mut b = BUNDLE.to_vec();
    let start = usize::from(u16::from_le_bytes(*off)) % b.len();
    for (i, x) in xor.iter().enumerate() {
        if let Some(byte) = b.get_mut(start + i) {
            *byte ^= x;
        }
    }
    if let Ok(v) = verify_bundle(&b, &root, &exp) {
        // Only changes outside the signed and proven content may pass (e.g. JSON whitespace).
        let good = verify_bundle(BUNDLE, &root, &exp).ok();
        assert_eq!(Some(v.statement), good.map(|g| g.statement));
    }
});
