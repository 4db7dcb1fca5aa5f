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
use crate::fs::FsView;
use crate::model::{Diagnostic, Inventory, NativeFile};

/// True when a language metadata analyzer needs the content of `path` (or the dynamic loader's
/// configuration, which EntryTrace reads).
pub fn wants(path: &str) -> bool {
    node::wants(path)
        || python::wants(path)
        || dotnet::wants(path)
        || path == "etc/ld.so.conf"
        || path
            .strip_prefix("etc/ld.so.conf.d/")
            .is_some_and(|rest| !rest.contains('/'))
}

/// Runs the language metadata analyzers and collects what the content extractors found in files.
pub fn analyze(fs: &dyn FsView, inv: &mut Inventory) {
    node::analyze(fs, inv);
    python::analyze(fs, inv);
    dotnet::analyze(fs, inv);
    for (path, facts) in fs.facts() {
        inv.packages.extend(facts.packages.iter().cloned());
        inv.diagnostics.extend(facts.diagnostics.iter().cloned());
        if let Some(info) = &facts.native {
            inv.natives.push(NativeFile {
                path: format!("/{path}"),
                sha256: facts.sha256.clone(),
                info: info.clone(),
                owner: None,
                used_by_entrypoint: false,
            });
        }
    }
}

/// Reads a metadata file of at most `limit` bytes; a larger or unreadable one becomes a diagnostic.
pub(crate) fn read_capped(
    fs: &dyn FsView,
    path: &str,
    limit: usize,
    inv: &mut Inventory,
) -> Option<Vec<u8>> {
    match fs.read(path) {
        Ok(Some(d)) if d.len() > limit => {
            diag(
                inv,
                path,
                &format!("{} bytes, over the {limit}-byte limit", d.len()),
            );
            None
        }
        Ok(Some(d)) => Some(d.into_owned()),
        Ok(None) => None,
        Err(e) => {
            diag(inv, path, &e.to_string());
            None
        }
    }
}

/// A diagnostic for the root-relative `path`.
pub(crate) fn diag(inv: &mut Inventory, path: &str, message: &str) {
    inv.diagnostics.push(Diagnostic {
        layer: None,
        path: format!("/{path}"),
        message: message.to_owned(),
    });
}

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
            || (size <= MAX_SCRIPT && (head.starts_with(b"#!") || sourced_script(path)))
    }

    fn extract(&self, path: &str, bytes: &[u8]) -> Option<Facts> {
        let mut facts = FileFacts::default();
        if java::is_archive_path(path) {
            let (packages, diagnostics) =
                java::analyze_archive(path, bytes, &java::Limits::default());
            facts.packages = packages;
            facts.diagnostics = diagnostics;
        } else if bytes.starts_with(b"#!") || (sourced_script(path) && !native::looks_native(bytes))
        {
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

/// Shell files that scripts `source` without a `#!` line (`/usr/local/bin/docker-entrypoint.sh`,
/// `/etc/profile.d/*.sh`), kept for EntryTrace.
fn sourced_script(path: &str) -> bool {
    path.ends_with(".sh") || path.ends_with(".bash")
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
            facts
                .diagnostics
                .push(diag(format!("not a valid binary: {e}")));
            return;
        }
    };
    facts.native = native::native_info(&obj, bytes);
    if facts.native.is_none() {
        return;
    }
    // No SHA-256 here: hashing every binary would cost a quarter of a scan, and only the few native
    // files no package owns need one; the scan computes theirs afterwards
    // ([`crate::ownership::fill_binary_digests`]).
    match golang::buildinfo(&obj, bytes) {
        Ok(Some(info)) => facts.packages.extend(golang::to_packages(&found_in, &info)),
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
