//! What registries and archives hand us, parsed by hand: `WWW-Authenticate` challenges, referrers
//! `Link` headers, and docker-archive / oci-archive tars (header index, manifest.json, index.json,
//! config) resolved through the public source API. Nothing may panic.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = registry::fuzzing::www_authenticate(&text);
    let _ = registry::fuzzing::link_header(&text);
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    let path = file.path().display().to_string();
    for kind in ["docker-archive", "oci-archive"] {
        if let Ok(source) = registry::Source::parse(&format!("{kind}:{path}")) {
            let _ = registry::resolve_local(&source, None);
        }
    }
});
