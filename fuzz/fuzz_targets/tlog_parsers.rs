#![no_main]
//! Bytes from strangers that the transparency log and its clients read: checkpoint bodies, signed
//! notes (verified with a fixed key, and notes we signed ourselves must verify), C2SP tile paths
//! (the only user-chosen input of the static read API), entry bundles and hash tiles. The first
//! byte picks which. Never a panic, and every accepted input round-trips exactly.

use std::sync::OnceLock;

use attestor::note::{open_checkpoint, Checkpoint, NoteSigner, NoteVerifier};
use attestor::tiles::{decode_entry_bundle, decode_tile, encode_entry_bundle, parse_tile_path};
use libfuzzer_sys::fuzz_target;

fn signer() -> &'static NoteSigner {
    static SIGNER: OnceLock<NoteSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        NoteSigner::generate("fuzz.example/log", &ring::rand::SystemRandom::new())
            .unwrap()
            .0
    })
}

fn verifier() -> &'static NoteVerifier {
    static VERIFIER: OnceLock<NoteVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| signer().verifier())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(cp) = Checkpoint::parse(text) {
                    assert_eq!(cp.to_text(), text, "checkpoint text does not round-trip");
                }
            }
        }
        1 => {
            if let Ok(note) = std::str::from_utf8(rest) {
                let _ = verifier().verify(note);
                let _ = open_checkpoint(note, verifier());
                let _ = NoteVerifier::from_vkey(note);
            }
        }
        2 => {
            if let Ok(path) = std::str::from_utf8(rest) {
                if let Ok(t) = parse_tile_path(path) {
                    assert_eq!(t.to_path(), path, "tile path is not canonical");
                    assert!(!path.contains(".."));
                }
            }
        }
        3 => {
            if let Ok(entries) = decode_entry_bundle(rest) {
                assert_eq!(encode_entry_bundle(&entries).unwrap(), rest);
            }
            if let Ok(hashes) = decode_tile(rest) {
                assert_eq!(hashes.concat(), rest);
            }
        }
        _ => {
            // Whatever we agree to sign must verify and parse back.
            if let Ok(text) = std::str::from_utf8(rest) {
                if let Ok(signed) = signer().sign(text) {
                    let note = verifier().verify(&signed).unwrap();
                    assert_eq!(note.text, text);
                    if let Ok(cp) = Checkpoint::parse(text) {
                        if cp.origin == "fuzz.example/log" {
                            assert_eq!(open_checkpoint(&signed, verifier()).unwrap(), cp);
                        }
                    }
                }
            }
        }
    }
});
