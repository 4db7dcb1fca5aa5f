//! Language and binary analyzers: what ships in an image besides distro packages.
//!
//! Two kinds of analyzer live here:
//! - **metadata analyzers** (Node, Python, .NET `deps.json`) read small files that [`wants`] asks the
//!   layer reader to keep, through an [`crate::fs::FsView`];
//! - **content extractors** (Java archives, Go buildinfo, cargo-auditable, native ELF/PE/Mach-O facts)
//!   run on one file's bytes while its layer streams by, and keep only the facts they found, so a 1 GB
//!   image never sits in memory.
//!
//! Every parser here takes untrusted bytes: none may panic, each bounds sizes and depths, and each has a
//! fuzz target under `fuzz/`.

pub mod dotnet;
pub mod golang;
pub mod java;
pub mod native;
pub mod node;
pub mod python;
pub mod rustbin;

use std::sync::Arc;

use crate::facts::{Extractor, Facts, FileFacts};
use crate::model::{Diagnostic, Digest};

/// Largest `#!` script kept for EntryTrace.
const MAX_SCRIPT: u64 = 1 << 20;

/// The standard content extractors: Java archives, native binaries (with Go buildinfo,
/// cargo-auditable data and PE version resources) and small `#!` scripts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Standard;

impl Extractor for Standard {
    fn candidate(&self, path: &str, _mode: u32, size: u64, head: &[u8]) -> bool {
        java::is_archive_path(path)
            || native::looks_native(head)
            || (head.starts_with(b"#!") && size <= MAX_SCRIPT)
    }

    fn extract(&self, path: &str, bytes: &[u8]) -> Option<Facts> {
        let mut facts = FileFacts::default();
        if java::is_archive_path(path) {
            let (packages, diagnostics) =
                java::analyze_archive(path, bytes, &java::Limits::default());
            facts.packages = packages;
            facts.diagnostics = diagnostics;
        } else if bytes.starts_with(b"#!") {
            facts.script = Some(Arc::from(bytes));
        } else if native::looks_native(bytes) {
            extract_native(path, bytes, &mut facts);
        }
        let empty = facts.packages.is_empty()
            && facts.native.is_none()
            && facts.script.is_none()
            && facts.diagnostics.is_empty()
            && !facts.rust_unaudited;
        (!empty).then(|| Arc::new(facts))
    }
}

/// One goblin parse shared by every binary analyzer.
fn extract_native(path: &str, bytes: &[u8], facts: &mut FileFacts) {
    let found_in = format!("/{path}");
    let diag = |message: String| Diagnostic {
        layer: None,
        path: found_in.clone(),
        message,
    };
    let obj = match goblin::Object::parse(bytes) {
        Ok(obj) => obj,
        Err(e) => {
            facts.diagnostics.push(diag(format!("not a valid binary: {e}")));
            return;
        }
    };
    facts.native = native::native_info(&obj, bytes);
    if facts.native.is_none() {
        return;
    }
    facts.sha256 = Some(Digest::sha256_of(bytes));
    match golang::buildinfo(&obj, bytes) {
        Ok(Some(info)) => facts
            .packages
            .extend(golang::to_packages(&found_in, &info)),
        Ok(None) => {}
        Err(e) => facts.diagnostics.push(diag(format!("Go buildinfo: {e}"))),
    }
    if facts.packages.is_empty() {
        match rustbin::inspect(&obj, bytes, &found_in) {
            Ok(rustbin::RustBinary::Audited(packages)) => facts.packages.extend(packages),
            Ok(rustbin::RustBinary::Unaudited) => facts.rust_unaudited = true,
            Ok(rustbin::RustBinary::NotRust) => {}
            Err(e) => facts
                .diagnostics
                .push(diag(format!("cargo-auditable data: {e}"))),
        }
    }
    if let goblin::Object::PE(pe) = &obj {
        if let Some(v) = dotnet::pe_version_info(pe, bytes) {
            facts.pe_version = v;
        }
    }
}
