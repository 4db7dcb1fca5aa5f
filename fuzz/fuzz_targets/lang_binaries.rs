//! The binary analyzers on arbitrary bytes: one goblin parse shared by Go buildinfo, cargo-auditable
//! inspection and PE version resources, then the packages they make; and the `*.deps.json` parser.
//! Nothing may panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanner_core::lang::{dotnet, golang, rustbin};

fuzz_target!(|data: &[u8]| {
    if let Ok(obj) = goblin::Object::parse(data) {
        if let Ok(Some(info)) = golang::buildinfo(&obj, data) {
            let _ = golang::to_packages("/fuzz", &info);
        }
        let _ = rustbin::inspect(&obj, data, "/fuzz");
        if let goblin::Object::PE(pe) = &obj {
            let _ = dotnet::pe_version_info(pe, data);
        }
    }
    let _ = dotnet::parse_deps_json(data, "/fuzz.deps.json");
});
