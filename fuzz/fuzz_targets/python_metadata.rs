#![no_main]
//! Core metadata (METADATA / PKG-INFO), RECORD and entry_points.txt parsers, and the analyzer on a
//! dist-info built from the input.

use libfuzzer_sys::fuzz_target;
use scanner_core::fs::MemFs;
use scanner_core::lang::python;
use scanner_core::model::Inventory;

fuzz_target!(|data: &[u8]| {
    if let Some(m) = python::parse_metadata(data) {
        assert!(!m.name.is_empty() && !m.version.is_empty());
    }
    let (rows, _) = python::parse_record(data);
    for r in rows {
        let _ = python::resolve("usr/lib/python3/dist-packages", &r.path);
    }
    let _ = python::parse_entry_points(data);
    let text = String::from_utf8_lossy(data);
    for line in text.lines().take(100) {
        let _ = python::requirement_name(line);
    }
    let mut fs = MemFs::new();
    let d = "usr/lib/python3/dist-packages/x-1.dist-info";
    fs.insert(&format!("{d}/METADATA"), data)
        .insert(&format!("{d}/RECORD"), data)
        .insert(&format!("{d}/entry_points.txt"), data)
        .insert("usr/lib/python3/dist-packages/y.egg-info", data);
    let mut inv = Inventory::default();
    python::analyze(&fs, &mut inv);
    let _ = python::wants(&text);
});
