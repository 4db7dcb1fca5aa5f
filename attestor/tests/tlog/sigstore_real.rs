//! The real Rekor v2 (log2025-alpha3, staging) checkpoint and inclusion proof from a public
//! Sigstore bundle, checked with our note and Merkle code.

use attestor::merkle::{leaf_hash, verify_inclusion, Hash};
use attestor::note::{open_checkpoint, NoteError, NoteVerifier};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::Value;

struct Real {
    envelope: String,
    verifier: NoteVerifier,
    log_id: Vec<u8>,
    body: Vec<u8>,
    index: u64,
    size: u64,
    root: Hash,
    hashes: Vec<Hash>,
}

fn load() -> Option<Real> {
    let dir = crate::shared_testdata()?.join("sigstore");
    let bundle: Value = serde_json::from_slice(
        &std::fs::read(dir.join("conda-attestation-rekor2.sigstore.json")).unwrap(),
    )
    .unwrap();
    let trusted: Value =
        serde_json::from_slice(&std::fs::read(dir.join("trusted_root_staging.json")).unwrap())
            .unwrap();
    let tlog = trusted["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["baseUrl"] == "https://log2025-alpha3.rekor.sigstage.dev")
        .unwrap();
    let spki = STANDARD
        .decode(tlog["publicKey"]["rawBytes"].as_str().unwrap())
        .unwrap();
    let log_id = STANDARD
        .decode(tlog["logId"]["keyId"].as_str().unwrap())
        .unwrap();
    let verifier = NoteVerifier::from_spki("log2025-alpha3.rekor.sigstage.dev", &spki).unwrap();
    let entry = &bundle["verificationMaterial"]["tlogEntries"][0];
    let proof = &entry["inclusionProof"];
    let h = |v: &Value| -> Hash {
        STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    Some(Real {
        envelope: proof["checkpoint"]["envelope"].as_str().unwrap().to_owned(),
        verifier,
        log_id,
        body: STANDARD
            .decode(entry["canonicalizedBody"].as_str().unwrap())
            .unwrap(),
        index: proof["logIndex"].as_str().unwrap().parse().unwrap(),
        size: proof["treeSize"].as_str().unwrap().parse().unwrap(),
        root: h(&proof["rootHash"]),
        hashes: proof["hashes"].as_array().unwrap().iter().map(h).collect(),
    })
}

#[test]
fn real_rekor_v2_checkpoint_verifies_with_the_trusted_root_key() {
    let Some(r) = load() else { return };
    assert_eq!(
        r.verifier.log_id().to_vec(),
        r.log_id,
        "logId.keyId is the full key digest"
    );
    let cp = open_checkpoint(&r.envelope, &r.verifier).unwrap();
    assert_eq!(cp.origin, "log2025-alpha3.rekor.sigstage.dev");
    assert_eq!(cp.size, r.size);
    assert_eq!(cp.root, r.root);
    assert!(cp.extensions.is_empty());
    // Three witness co-signatures are present and ignored.
    assert_eq!(
        r.verifier.verify(&r.envelope).unwrap().other_signers.len(),
        3
    );
    // Any changed byte of the signed text or of our signature fails.
    let sig_start = r.envelope.find("\n\n").unwrap() + 2;
    let our_line_end = sig_start + r.envelope[sig_start..].find('\n').unwrap();
    for i in 0..our_line_end {
        let mut b = r.envelope.clone().into_bytes();
        b[i] ^= 0x01;
        if let Ok(s) = String::from_utf8(b) {
            assert!(
                open_checkpoint(&s, &r.verifier).is_err(),
                "flipped byte {i} still verifies"
            );
        }
    }
    // Another key of the same name does not verify it.
    let other = NoteVerifier::new("log2025-alpha3.rekor.sigstage.dev", [7; 32]).unwrap();
    assert!(matches!(
        other.verify(&r.envelope),
        Err(NoteError::NoSignature { .. })
    ));
}

#[test]
fn real_rekor_v2_inclusion_proof_verifies_and_any_flip_fails() {
    let Some(r) = load() else { return };
    let leaf = leaf_hash(&r.body);
    verify_inclusion(r.index, r.size, &leaf, &r.hashes, &r.root).unwrap();
    for i in 0..r.body.len() {
        let mut b = r.body.clone();
        b[i] ^= 0x01;
        assert!(verify_inclusion(r.index, r.size, &leaf_hash(&b), &r.hashes, &r.root).is_err());
    }
    for p in 0..r.hashes.len() {
        for byte in 0..32 {
            let mut h = r.hashes.clone();
            h[p][byte] ^= 0x80;
            assert!(verify_inclusion(r.index, r.size, &leaf, &h, &r.root).is_err());
        }
    }
    for byte in 0..32 {
        let mut root = r.root;
        root[byte] ^= 1;
        assert!(verify_inclusion(r.index, r.size, &leaf, &r.hashes, &root).is_err());
    }
    assert!(verify_inclusion(r.index + 1, r.size, &leaf, &r.hashes, &r.root).is_err());
    assert!(verify_inclusion(r.index, r.size + 1, &leaf, &r.hashes, &r.root).is_err());
}
