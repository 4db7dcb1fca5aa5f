//! The whole pipeline on arbitrary bytes: a layer blob (plain, gzip or zstd) read through the real
//! analyzers' `wants`, scanned as a one-layer image (overlay, every OS analyzer, layer attribution),
//! and written as CycloneDX, SPDX, table and JSON. Nothing may panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanner_core::layer::Limits;
use scanner_core::model::{ScanReport, SourceKind, Subject, Tool};
use scanner_core::scan::{scan_layers, LayerInput, ScanOptions};
use scanner_core::sbom;

fuzz_target!(|data: &[u8]| {
    let bytes = data.to_vec();
    let layer = LayerInput {
        expected_digest: None,
        expected_diff_id: None,
        media_type: None,
        size: None,
        created_by: None,
        open: Box::new(move || Ok(Box::new(std::io::Cursor::new(bytes.clone())) as Box<_>)),
    };
    let opts = ScanOptions {
        limits: Limits {
            max_layer_bytes: 16 << 20,
            max_entries: 20_000,
            max_wanted_file: 4 << 20,
            max_wanted_total: 8 << 20,
            max_path_len: 4096,
            max_symlink_hops: 40,
            max_extract_file: 1 << 20,
        },
        threads: 1,
        // EntryTrace and the usage view run on whatever the layer holds.
        entrypoint: Some(scanner_core::entrytrace::ImageConfig {
            entrypoint: vec!["/entrypoint.sh".into()],
            cmd: vec!["app".into(), "--flag".into()],
            working_dir: Some("/srv".into()),
            env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
        }),
    };
    let Ok(scanned) = scan_layers(&[layer], &opts, &|_, _| {}) else {
        return;
    };
    let report = ScanReport {
        subject: Subject {
            layers: scanned.layers,
            ..Subject::new(SourceKind::Layer, "fuzz")
        },
        inventory: scanned.inventory,
        created: 0,
        tool: Tool { name: "stella".into(), version: "0".into() },
    };
    let _ = sbom::to_cyclonedx_json(&report);
    let _ = sbom::to_spdx_json(&report);
    let _ = sbom::to_table(&report);
    let _ = sbom::to_json(&report);
});
