//! Offline verification of one attestation, in process: the real Rekor v2 bundle from the
//! public-good staging instance against its trusted root (RFC 3161 time, keyless chain, SCT, DSSE
//! signature, log entry, inclusion proof, signed checkpoint, in-toto subject):
//! `cargo bench -p attestor --bench verify`. `STELLA_BENCH_RUNS` (default 7) runs of
//! `STELLA_BENCH_ITERS` (default 500) verifications; prints the median time per verification.
//! `scripts/bench-verify.sh` runs the same bundle through sigstore-python and `stella verify` on
//! images in a loopback registry, side by side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

use attestor::trust_root::TrustedRoot;
use attestor::verify::{verify_bundle, Expectations};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let dir = std::env::var_os("STELLA_SIGSTORE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/sigstore")
        });
    let bundle = std::fs::read(dir.join("conda-attestation-rekor2.sigstore.json")).unwrap();
    let root_bytes = std::fs::read(dir.join("trusted_root_staging.json")).unwrap();
    let exp = Expectations {
        subject_digest: Some(
            "sha256:54303491a8418fbed24344b513546182c29b43bf282ceb433af65e2299f9271f".into(),
        ),
        ..Expectations::default()
    };
    let runs = env("STELLA_BENCH_RUNS", 7);
    let iters = env("STELLA_BENCH_ITERS", 500);
    let median = |f: &dyn Fn()| {
        let mut per = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            per.push(t.elapsed().as_secs_f64() * 1000.0 / iters as f64);
        }
        per.sort_by(f64::total_cmp);
        per[per.len() / 2]
    };
    let parse = median(&|| {
        TrustedRoot::parse(&root_bytes).unwrap();
    });
    let root = TrustedRoot::parse(&root_bytes).unwrap();
    let verify = median(&|| {
        verify_bundle(&bundle, &root, &exp).unwrap();
    });
    println!(
        "verify one attestation offline (staging Rekor v2 bundle): median {verify:.3} ms \
         (target <= 5 ms: {}); parsing the trusted root once per process: {parse:.3} ms; \
         {runs} runs of {iters}",
        if verify <= 5.0 { "met" } else { "MISSED" }
    );
}
