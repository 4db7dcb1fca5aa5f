//! Arbitrary bytes as a layer blob (plain, gzip or zstd, by magic): read it with small limits, apply it
//! twice to an overlay (so whiteouts, opaque markers and hardlinks meet a lower layer), then read, list
//! and stat a few paths through the overlay and the per-layer view.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanner_core::fs::FsView;
use scanner_core::layer::{read_layer, Change, Limits};
use scanner_core::overlay::{LayerView, Overlay};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_layer_bytes: 8 << 20,
        max_entries: 10_000,
        max_wanted_file: 1 << 20,
        max_wanted_total: 4 << 20,
        max_path_len: 4096,
        max_symlink_hops: 40,
        max_extract_file: 1 << 20,
    };
    let wants = |p: &str| p.starts_with("etc/") || p.starts_with("var/lib/");
    let Ok(changes) = read_layer(data, &wants, &limits) else {
        return;
    };
    let mut overlay = Overlay::new(&limits);
    overlay.apply(0, &changes);
    overlay.apply(1, &changes);
    let view = LayerView::new(&changes, &limits);
    let mut probes: Vec<String> = ["", "etc", "etc/os-release", "var/lib/dpkg/status", "a/../b"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for c in changes.entries.iter().take(16) {
        match c {
            Change::Entry(e) => probes.push(e.path.clone()),
            Change::Whiteout(p) | Change::Opaque(p) => probes.push(p.clone()),
        }
    }
    for p in &probes {
        let _ = overlay.read(p);
        let _ = overlay.list(p);
        let _ = overlay.node(p);
        let _ = view.read(p);
        let _ = view.list(p);
    }
    let _ = overlay.paths().count();
});
