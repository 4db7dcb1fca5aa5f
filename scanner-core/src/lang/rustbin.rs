//! Rust crates from cargo-auditable's `.dep-v0` section, and Rust binaries without it.
//!
//! `cargo auditable build` links a zlib-compressed JSON document into a `.dep-v0` section (ELF, PE, and
//! Mach-O `__DATA,.dep-v0`): `{"packages":[{"name","version","source","kind","dependencies":[idx],
//! "root"}]}`. We inflate at most [`MAX_JSON`] bytes, turn every runtime crate into a Cargo package with
//! its dependency edges (crate names), and skip build-time-only crates (build scripts, proc macros), whose
//! code is not in the binary, as Trivy and `cargo audit bin` do.
//!
//! Without the section a binary is tested for Rust's fingerprints (a `.rustc` section, `rust_begin_unwind`
//! or `__rust_*` symbols, `/rustc/<commit>/` source paths the standard library leaves in panic messages):
//! the caller reports such a file as a `bin:` component keyed by its SHA-256. This module does not guess
//! crate names from symbols.

use std::collections::BTreeMap;
use std::io::Read;

use flate2::read::ZlibDecoder;
use goblin::Object;
use serde::Deserialize;

use crate::model::{Package, PackageKind};

/// Most bytes of JSON we inflate from a `.dep-v0` section (cargo-auditable's own default limit is 8 MiB).
pub const MAX_JSON: u64 = 8 * 1024 * 1024;
/// Most crates we accept in one document.
const MAX_PACKAGES: usize = 100_000;
/// Most symbols inspected for Rust fingerprints.
const MAX_SYMBOLS: usize = 2_000_000;

/// What a binary says about Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RustBinary {
    /// Built with cargo-auditable: one package per runtime crate.
    Audited(Vec<Package>),
    /// A Rust binary without dependency information (report it as a `bin:` component).
    Unaudited,
    /// Not a Rust binary as far as we can tell.
    NotRust,
}

/// Why a `.dep-v0` section could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The section's file range is outside the file.
    #[error("cargo-auditable .dep-v0 section lies outside the file")]
    Bounds,
    /// The section is not a zlib stream.
    #[error("cargo-auditable .dep-v0 section is not valid zlib data: {0}")]
    Decompress(String),
    /// The inflated document is over the limit.
    #[error("cargo-auditable .dep-v0 section inflates to more than {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// The JSON does not have cargo-auditable's shape.
    #[error("cargo-auditable .dep-v0 JSON: {0}")]
    Json(String),
    /// A dependency index points past the package list.
    #[error("cargo-auditable .dep-v0: package {package} depends on index {index}, but there are {count} packages")]
    BadIndex {
        /// The crate whose edge is bad.
        package: String,
        /// The index.
        index: usize,
        /// How many packages there are.
        count: usize,
    },
}

#[derive(Debug, Deserialize)]
struct Document {
    packages: Vec<RawPackage>,
}

#[derive(Debug, Deserialize)]
struct RawPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<serde_json::Value>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    dependencies: Vec<usize>,
    #[serde(default)]
    root: bool,
}

impl RawPackage {
    fn is_runtime(&self) -> bool {
        matches!(self.kind.as_deref(), None | Some("runtime"))
    }
}

/// Inspects one executable: its cargo-auditable crates, or whether it is a Rust binary at all.
/// `obj` must be `bytes` parsed; `found_in` is the absolute path put on every package.
pub fn inspect(obj: &Object<'_>, bytes: &[u8], found_in: &str) -> Result<RustBinary, Error> {
    if let Some(section) = dep_section(obj, bytes)? {
        let json = inflate(section)?;
        return Ok(RustBinary::Audited(packages(&json, found_in)?));
    }
    Ok(if looks_like_rust(obj, bytes) {
        RustBinary::Unaudited
    } else {
        RustBinary::NotRust
    })
}

/// [`inspect`] for callers that have not parsed the file; anything goblin cannot parse is `NotRust`.
pub fn inspect_bytes(bytes: &[u8], found_in: &str) -> Result<RustBinary, Error> {
    match Object::parse(bytes) {
        Ok(obj) => inspect(&obj, bytes, found_in),
        Err(_) => Ok(RustBinary::NotRust),
    }
}

/// The raw bytes of the `.dep-v0` section, if the binary has one.
fn dep_section<'b>(obj: &Object<'_>, bytes: &'b [u8]) -> Result<Option<&'b [u8]>, Error> {
    let range: Option<(u64, u64)> = match obj {
        Object::Elf(elf) => elf
            .section_headers
            .iter()
            .find(|s| {
                elf.shdr_strtab.get_at(s.sh_name) == Some(".dep-v0")
                    && s.sh_type != goblin::elf::section_header::SHT_NOBITS
            })
            .map(|s| (s.sh_offset, s.sh_size)),
        Object::PE(pe) => pe
            .sections
            .iter()
            .find(|s| s.name().ok() == Some(".dep-v0"))
            .map(|s| {
                let size = match s.virtual_size {
                    0 => s.size_of_raw_data,
                    v => v.min(s.size_of_raw_data),
                };
                (u64::from(s.pointer_to_raw_data), u64::from(size))
            }),
        Object::Mach(goblin::mach::Mach::Binary(m)) => {
            let mut found = None;
            for seg in m.segments.iter() {
                let Ok(sections) = seg.sections() else {
                    continue;
                };
                if let Some((s, _)) = sections
                    .iter()
                    .find(|(s, _)| s.name().ok() == Some(".dep-v0"))
                {
                    found = Some((u64::from(s.offset), s.size));
                    break;
                }
            }
            found
        }
        _ => None,
    };
    let Some((offset, size)) = range else {
        return Ok(None);
    };
    let start = usize::try_from(offset).map_err(|_| Error::Bounds)?;
    let len = usize::try_from(size).map_err(|_| Error::Bounds)?;
    let end = start.checked_add(len).ok_or(Error::Bounds)?;
    bytes.get(start..end).map(Some).ok_or(Error::Bounds)
}

fn inflate(section: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    ZlibDecoder::new(section)
        .take(MAX_JSON + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Decompress(e.to_string()))?;
    if out.len() as u64 > MAX_JSON {
        return Err(Error::TooLarge { limit: MAX_JSON });
    }
    Ok(out)
}

/// Cargo packages from cargo-auditable's JSON document.
pub fn packages(json: &[u8], found_in: &str) -> Result<Vec<Package>, Error> {
    let doc: Document = serde_json::from_slice(json).map_err(|e| Error::Json(e.to_string()))?;
    if doc.packages.len() > MAX_PACKAGES {
        return Err(Error::Json(format!(
            "{} packages, over the limit of {MAX_PACKAGES}",
            doc.packages.len()
        )));
    }
    let count = doc.packages.len();
    let mut out = Vec::new();
    for p in &doc.packages {
        let mut depends = Vec::new();
        for &index in &p.dependencies {
            let dep = doc.packages.get(index).ok_or_else(|| Error::BadIndex {
                package: p.name.clone(),
                index,
                count,
            })?;
            if dep.is_runtime() {
                depends.push(dep.name.clone());
            }
        }
        if !p.is_runtime() {
            continue;
        }
        depends.sort();
        depends.dedup();
        let mut properties = BTreeMap::new();
        if let Some(source) = &p.source {
            let s = match source {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            properties.insert("stella:cargo:source".to_owned(), s);
        }
        if p.root {
            properties.insert("stella:cargo:root".to_owned(), "true".to_owned());
        }
        out.push(Package {
            kind: Some(PackageKind::Cargo),
            name: p.name.clone(),
            version: p.version.clone(),
            depends,
            found_in: found_in.to_owned(),
            properties,
            ..Package::default()
        });
    }
    Ok(out)
}

/// Rust's fingerprints: a `.rustc` section, Rust runtime symbols, or `/rustc/<40 hex>/` paths.
fn looks_like_rust(obj: &Object<'_>, bytes: &[u8]) -> bool {
    match obj {
        Object::Elf(elf) => {
            let has_section = elf
                .section_headers
                .iter()
                .any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".rustc"));
            has_section || has_rust_symbol(elf, bytes) || rodata_has_rustc_path(elf, bytes)
        }
        Object::PE(_) | Object::Mach(_) => has_rustc_path(bytes),
        _ => false,
    }
}

/// A symbol `rust_begin_unwind` or `__rust_*`: searched for in the symbol string tables
/// (`.strtab`, `.dynstr`) as bytes — every name there follows a NUL — which is far cheaper than
/// looking up each symbol's name; symbol by symbol only when the file has no section headers.
fn has_rust_symbol(elf: &goblin::elf::Elf<'_>, bytes: &[u8]) -> bool {
    if elf.section_headers.is_empty() {
        let rust_sym = |name: Option<&str>| {
            name.is_some_and(|n| n == "rust_begin_unwind" || n.starts_with("__rust_"))
        };
        return elf
            .syms
            .iter()
            .take(MAX_SYMBOLS)
            .any(|s| rust_sym(elf.strtab.get_at(s.st_name)))
            || elf
                .dynsyms
                .iter()
                .take(MAX_SYMBOLS)
                .any(|s| rust_sym(elf.dynstrtab.get_at(s.st_name)));
    }
    elf.section_headers.iter().any(|s| {
        s.sh_type == goblin::elf::section_header::SHT_STRTAB
            && matches!(
                elf.shdr_strtab.get_at(s.sh_name),
                Some(".strtab" | ".dynstr")
            )
            && section_bytes(s, bytes).is_some_and(|b| {
                memchr::memmem::find(b, b"\0__rust_").is_some()
                    || memchr::memmem::find(b, b"\0rust_begin_unwind\0").is_some()
            })
    })
}

/// The file bytes of section `s` (none for `SHT_NOBITS` or out of bounds).
fn section_bytes<'b>(s: &goblin::elf::SectionHeader, bytes: &'b [u8]) -> Option<&'b [u8]> {
    if s.sh_type == goblin::elf::section_header::SHT_NOBITS {
        return None;
    }
    let start = usize::try_from(s.sh_offset).ok()?;
    let len = usize::try_from(s.sh_size).ok()?;
    bytes.get(start..start.checked_add(len)?)
}

/// [`has_rustc_path`] in the read-only data sections, where a stripped Rust program keeps its panic
/// locations (`/rustc/<commit>/library/...`); the whole file only when it has no section headers.
/// Searching every ELF file whole would cost more than reading it.
fn rodata_has_rustc_path(elf: &goblin::elf::Elf<'_>, bytes: &[u8]) -> bool {
    if elf.section_headers.is_empty() {
        return has_rustc_path(bytes);
    }
    elf.section_headers.iter().any(|s| {
        elf.shdr_strtab
            .get_at(s.sh_name)
            .is_some_and(|n| n.starts_with(".rodata"))
            && section_bytes(s, bytes).is_some_and(has_rustc_path)
    })
}

/// True when `bytes` holds `/rustc/` followed by a 40-hex-digit commit and a path separator.
fn has_rustc_path(bytes: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"/rustc/";
    memchr::memmem::find_iter(bytes, NEEDLE).any(|i| {
        let after = bytes.get(i + NEEDLE.len()..).unwrap_or_default();
        after.len() > 40
            && after.iter().take(40).all(u8::is_ascii_hexdigit)
            && matches!(after.get(40), Some(b'/') | Some(b'\\'))
    })
}

#[cfg(test)]
mod tests;
