#![no_main]
//! The frontend's Dockerfile reader (final stage → base image): any text, with and without a
//! target and build args, gives a base or an error, never a panic.

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use stella_frontend::dockerfile::{final_base, normalize, Base};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut opts = BTreeMap::new();
    let _ = final_base(&text, &opts);
    opts.insert("target".to_owned(), "a".to_owned());
    opts.insert("build-arg:X".to_owned(), "debian".to_owned());
    opts.insert("platform".to_owned(), "linux/arm64/v8".to_owned());
    if let Ok(Base::Image(image)) = final_base(&text, &opts) {
        // What we return is itself a normal reference.
        assert_eq!(normalize(&image).as_deref(), Some(image.as_str()));
    }
    let _ = normalize(&text);
});
