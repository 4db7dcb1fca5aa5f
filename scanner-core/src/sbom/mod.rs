//! Deterministic writers: a [`ScanReport`] in, document bytes out.
//!
//! * [`to_cyclonedx_json`] — CycloneDX 1.6 JSON
//! * [`to_spdx_json`] — SPDX 2.3 JSON (packages only, `filesAnalyzed: false`)
//! * [`to_table`] — a human-readable text table
//! * [`to_json`] — the report itself as pretty JSON
//!
//! Every writer is a pure function of the report: packages are put in a canonical order (whatever
//! order the report holds them in), identifiers and serial numbers are derived from content, and the
//! document time is `report.created`. The same report always gives byte-identical output.
//!
//! ```
//! # use scanner_core::model::*;
//! let report = ScanReport {
//!     subject: Subject {
//!         kind: SourceKind::Directory, name: "rootfs".into(), version: None,
//!         manifest_digest: None, config_digest: None, repository: None, os: None,
//!         architecture: None, variant: None, layers: vec![],
//!     },
//!     inventory: Inventory::default(),
//!     created: 0,
//!     tool: Tool { name: "stella".into(), version: "0.1.0".into() },
//! };
//! let cdx = scanner_core::sbom::to_cyclonedx_json(&report);
//! assert_eq!(cdx, scanner_core::sbom::to_cyclonedx_json(&report));
//! ```

pub mod cyclonedx;
pub mod graph;
pub mod license;
pub mod purl;
pub mod spdx;
pub mod table;

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::model::{hex, Checksum, Package, ScanReport};

pub use cyclonedx::to_cyclonedx_json;
pub use spdx::to_spdx_json;
pub use table::{to_json, to_table};

/// The packages of a report in canonical order, with what every writer derives from them.
struct Catalog<'a> {
    entries: Vec<Entry<'a>>,
}

struct Entry<'a> {
    package: &'a Package,
    /// Rendered purl, when the package has a kind.
    purl: Option<String>,
    /// SHA-256 hex of the package's canonical JSON: a stable content identity.
    content_hash: String,
    /// Indices into `Catalog::entries` of the packages this one depends on.
    depends: Vec<usize>,
}

impl<'a> Catalog<'a> {
    /// Sorts the report's packages by (kind, name, version, arch, found_in, content), drops exact
    /// duplicates and resolves the dependency graph on the result.
    fn new(report: &'a ScanReport) -> Self {
        let distro = report.inventory.distro.as_ref();
        let mut keyed: Vec<(&'a Package, String)> = report
            .inventory
            .packages
            .iter()
            .map(|p| (p, canonical_json(p)))
            .collect();
        keyed.sort_by(|(a, aj), (b, bj)| {
            (
                a.kind,
                &a.namespace,
                &a.name,
                &a.version,
                &a.arch,
                &a.found_in,
                aj,
            )
                .cmp(&(
                    b.kind,
                    &b.namespace,
                    &b.name,
                    &b.version,
                    &b.arch,
                    &b.found_in,
                    bj,
                ))
        });
        keyed.dedup_by(|(_, a), (_, b)| a == b);
        let packages: Vec<&Package> = keyed.iter().map(|(p, _)| *p).collect();
        let deps = graph::resolve(&packages);
        let entries = keyed
            .into_iter()
            .zip(deps)
            .map(|((package, json), depends)| Entry {
                package,
                purl: purl::package_purl(package, distro).map(|p| p.to_string()),
                content_hash: hex(&Sha256::digest(json.as_bytes())),
                depends,
            })
            .collect();
        Catalog { entries }
    }
}

/// Compact JSON of a value, used only as a sort key and hash input.
fn canonical_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Pretty JSON with a trailing newline.
///
/// Serializing a `serde_json::Value` cannot fail (all keys are strings); should it ever, the
/// compact `Display` form is used instead, which has no error path.
fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_else(|_| value.to_string().into());
    out.push(b'\n');
    out
}

/// An RFC 4122 UUID (version 5 and variant bits set) from the SHA-256 of `bytes`. Never random.
fn content_uuid(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

/// RFC 3339 UTC (`1970-01-01T00:00:00Z`) for seconds since the Unix epoch, clamped to years
/// 0000–9999 so that the result is always a valid timestamp whatever the input says.
pub(crate) fn rfc3339(secs: i64) -> String {
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    crate::time::format_rfc3339(secs.clamp(MIN, MAX))
}

/// Keeps letters, digits, `.` and `-`; everything else becomes `-`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A checksum both formats accept: a known algorithm and a hex value of the right length.
/// Returns (CycloneDX name, SPDX name, lower-case value).
fn known_checksum(c: &Checksum) -> Option<(&'static str, Option<&'static str>, String)> {
    let (cdx, spdx, len) = match c.algorithm.to_ascii_uppercase().as_str() {
        "MD5" => ("MD5", Some("MD5"), 32),
        "SHA-1" | "SHA1" => ("SHA-1", Some("SHA1"), 40),
        "SHA-256" | "SHA256" => ("SHA-256", Some("SHA256"), 64),
        "SHA-384" | "SHA384" => ("SHA-384", Some("SHA384"), 96),
        "SHA-512" | "SHA512" => ("SHA-512", Some("SHA512"), 128),
        "SHA3-256" => ("SHA3-256", Some("SHA3-256"), 64),
        "SHA3-512" => ("SHA3-512", Some("SHA3-512"), 128),
        _ => return None,
    };
    let value = c.value.to_ascii_lowercase();
    (value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some((cdx, spdx, value))
}

/// Short form of a digest for display: the first 12 hex characters.
fn short_digest(d: &crate::model::Digest) -> &str {
    let h = d.hex();
    h.get(..12).unwrap_or(h)
}

/// Deterministic bom-refs: the purl, or `<purl>#<hash prefix>` for purls shared by several packages,
/// or `pkg:<hash prefix>` for packages without a purl.
fn bom_refs(catalog: &Catalog<'_>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &catalog.entries {
        if let Some(p) = &e.purl {
            *counts.entry(p).or_default() += 1;
        }
    }
    catalog
        .entries
        .iter()
        .map(|e| {
            let short = e.content_hash.get(..16).unwrap_or(&e.content_hash);
            if e.package.kind == Some(crate::model::PackageKind::Binary) {
                // `bin:` components are keyed by the file's SHA-256 (and path, for identical copies).
                if let Some(c) = e
                    .package
                    .checksums
                    .iter()
                    .find(|c| c.algorithm == "SHA-256")
                {
                    return if counts_bin(catalog, &c.value) > 1 {
                        format!("bin:sha256:{}#{short}", c.value)
                    } else {
                        format!("bin:sha256:{}", c.value)
                    };
                }
            }
            match &e.purl {
                Some(p) if counts.get(p.as_str()).copied().unwrap_or(0) > 1 => {
                    format!("{p}#{short}")
                }
                Some(p) => p.clone(),
                None => format!("package:{short}"),
            }
        })
        .collect()
}

fn counts_bin(catalog: &Catalog<'_>, sha: &str) -> usize {
    catalog
        .entries
        .iter()
        .filter(|e| {
            e.package.kind == Some(crate::model::PackageKind::Binary)
                && e.package.checksums.iter().any(|c| c.value == sha)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_table() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_700_000_000, "2023-11-14T22:13:20Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (4_102_444_800, "2100-01-01T00:00:00Z"),
            (i64::MAX, "9999-12-31T23:59:59Z"),
            (i64::MIN, "0000-01-01T00:00:00Z"),
        ] {
            assert_eq!(rfc3339(secs), want, "{secs}");
        }
    }

    #[test]
    fn content_uuid_is_rfc4122_v5() {
        let u = content_uuid(b"hello");
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'5');
        assert!(matches!(u.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_eq!(u, content_uuid(b"hello"));
        assert_ne!(u, content_uuid(b"hello!"));
    }

    #[test]
    fn sanitize_table() {
        assert_eq!(sanitize("libstdc++6"), "libstdc--6");
        assert_eq!(sanitize("r.example/app:1.0"), "r.example-app-1.0");
    }
}
