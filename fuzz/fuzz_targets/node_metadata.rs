#![no_main]
//! package.json and lockfile parsers (package-lock v1-v3, yarn classic/berry, pnpm v5/v6/v9), and the
//! whole analyzer on a tiny tree built from the input.

use libfuzzer_sys::fuzz_target;
use scanner_core::fs::MemFs;
use scanner_core::lang::node;
use scanner_core::model::Inventory;

fuzz_target!(|data: &[u8]| {
    let _ = node::parse_package_json(data);
    let _ = node::parse_package_lock(data);
    for e in node::parse_yarn_lock(data) {
        assert!(!e.name.is_empty() && !e.version.is_empty());
    }
    for e in node::parse_pnpm_lock(data) {
        assert!(!e.name.is_empty() && !e.version.is_empty());
    }
    let mut fs = MemFs::new();
    fs.insert("srv/app/package.json", data)
        .insert("srv/app/node_modules/a/package.json", data)
        .insert("srv/app/yarn.lock", data)
        .insert("srv/app/pnpm-lock.yaml", data)
        .insert("srv/app/package-lock.json", data);
    let mut inv = Inventory::default();
    node::analyze(&fs, &mut inv);
    let _ = node::wants(&String::from_utf8_lossy(data));
});
