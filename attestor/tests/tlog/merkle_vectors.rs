//! Every transparency-dev/merkle proof vector: happy paths accepted, every `wantErr` rejected.

use std::path::Path;

use attestor::merkle::{
    verify_consistency, verify_consistency_slices, verify_inclusion, verify_inclusion_slices, Hash,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::Value;

fn json_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn b64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn b64_list(v: &Value) -> Vec<Vec<u8>> {
    v.as_array()
        .map_or(Vec::new(), |a| a.iter().map(b64).collect())
}

/// The typed API only takes 32-byte hashes: `None` if any input is another length.
fn typed(bytes: &[Vec<u8>]) -> Option<Vec<Hash>> {
    bytes
        .iter()
        .map(|b| Hash::try_from(b.as_slice()).ok())
        .collect()
}

fn run(kind: &str) -> (usize, usize) {
    let Some(root) = crate::shared_testdata() else {
        return (0, 0);
    };
    let mut files = Vec::new();
    json_files(&root.join("merkle").join(kind), &mut files);
    files.sort();
    assert!(
        files.len() > 50,
        "too few {kind} vectors under {}",
        root.display()
    );
    let (mut ok, mut rejected) = (0, 0);
    for f in &files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let proof = b64_list(&v["proof"]);
        let proof_refs: Vec<&[u8]> = proof.iter().map(Vec::as_slice).collect();
        let (slices, typed_result) = if kind == "inclusion" {
            let (idx, size) = (
                v["leafIdx"].as_u64().unwrap(),
                v["treeSize"].as_u64().unwrap(),
            );
            let (leaf, r) = (b64(&v["leafHash"]), b64(&v["root"]));
            let slices = verify_inclusion_slices(idx, size, &leaf, &proof_refs, &r);
            let t = typed(&[leaf, r])
                .zip(typed(&proof))
                .map(|(lr, p)| verify_inclusion(idx, size, &lr[0], &p, &lr[1]));
            (slices, t)
        } else {
            let (s1, s2) = (v["size1"].as_u64().unwrap(), v["size2"].as_u64().unwrap());
            let (r1, r2) = (b64(&v["root1"]), b64(&v["root2"]));
            let slices = verify_consistency_slices(s1, s2, &r1, &r2, &proof_refs);
            let t = typed(&[r1, r2])
                .zip(typed(&proof))
                .map(|(rr, p)| verify_consistency(s1, s2, &rr[0], &rr[1], &p));
            (slices, t)
        };
        assert_eq!(
            slices.is_err(),
            want_err,
            "{}: {} -> {:?}",
            f.display(),
            v["desc"],
            slices
        );
        match typed_result {
            // Representable in the typed API: it must agree.
            Some(t) => assert_eq!(t.is_err(), want_err, "{} (typed): {:?}", f.display(), t),
            // Not 32-byte hashes: the typed API cannot even be called, which is a rejection.
            // The single happy vector of this kind (equal sizes, equal 12-byte roots) is covered
            // by the slices API above.
            None => assert!(
                want_err || v["desc"].as_str().unwrap().contains("sizes are equal"),
                "{}",
                f.display()
            ),
        }
        if want_err {
            rejected += 1;
        } else {
            ok += 1;
        }
    }
    (ok, rejected)
}

#[test]
fn inclusion_vectors() {
    let (ok, rejected) = run("inclusion");
    eprintln!("inclusion vectors: {ok} accepted, {rejected} rejected");
}

#[test]
fn consistency_vectors() {
    let (ok, rejected) = run("consistency");
    eprintln!("consistency vectors: {ok} accepted, {rejected} rejected");
}
