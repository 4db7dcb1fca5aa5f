#![no_main]
//! Bytes from strangers that the Attestor reads: Rekor v2 create-entry requests (validated down
//! to the signature check), stored hashedrekord entry bodies, Sigstore bundles, trusted roots,
//! signing configs and client trust configs (the first byte picks which). Whatever parses must
//! write out and read back to the same value. Never a panic.

use attestor::bundle::Bundle;
use attestor::rekor::{parse_create_request, HashedRekordV002};
use attestor::trust_root::{ClientTrustConfig, SigningConfig, TrustedRoot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => {
            if let Ok(entry) = parse_create_request(rest) {
                let again = parse_create_request(entry.request_json().to_string().as_bytes());
                assert_eq!(again.as_ref(), Ok(&entry));
                let body = entry.canonical_body().unwrap();
                assert_eq!(HashedRekordV002::from_body(&body).as_ref(), Ok(&entry));
            }
        }
        1 => {
            if let Ok(entry) = HashedRekordV002::from_body(rest) {
                let _ = entry.validate();
                if let Ok(body) = entry.canonical_body() {
                    assert_eq!(HashedRekordV002::from_body(&body).as_ref(), Ok(&entry));
                }
            }
        }
        2 => {
            if let Ok(bundle) = Bundle::parse(rest) {
                assert_eq!(Bundle::parse(&bundle.to_json_bytes()).as_ref(), Ok(&bundle));
            }
        }
        3 => {
            if let Ok(root) = TrustedRoot::parse(rest) {
                let again = TrustedRoot::parse(root.to_json().to_string().as_bytes());
                assert_eq!(again.as_ref(), Ok(&root));
            }
        }
        _ => {
            if let Ok(sc) = SigningConfig::parse(rest) {
                let again = SigningConfig::parse(sc.to_json().to_string().as_bytes());
                assert_eq!(again.as_ref(), Ok(&sc));
            }
            if let Ok(ctc) = ClientTrustConfig::parse(rest) {
                let again = ClientTrustConfig::parse(ctc.to_json().to_string().as_bytes());
                assert_eq!(again.as_ref(), Ok(&ctc));
            }
        }
    }
});
