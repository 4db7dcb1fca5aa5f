//! Java archives: jar, war, ear, par (and Jenkins' jpi/hpi), with nested archives at any depth up to
//! [`Limits::max_depth`] (Spring Boot `BOOT-INF/lib/*.jar`, `WEB-INF/lib/*.jar`, ear modules).
//!
//! One archive gives:
//! - one package per `META-INF/maven/<g>/<a>/pom.properties` with groupId, artifactId and version
//!   (a shaded jar gives several), licences and home page from the `pom.xml` beside it;
//! - one package per such directory that has a `pom.xml` but no `pom.properties` (coordinates from
//!   the pom, its parent and its own `${properties}`);
//! - when none of those is the archive's own artifact (Trivy's test: artifactId and version equal
//!   what the file name says), the archive's own identity from `MANIFEST.MF` (Trivy's field order),
//!   else from the file name `artifact-version.jar` — unless it only restates a package already
//!   found (same version, same groupId or artifactId: `Implementation-Title: Apache Commons Lang`
//!   beside commons-lang3's pom.properties is the same jar, not a second one).
//!
//! Every package carries the SHA-1 of the archive it was read from (`SHA-1` checksum), its
//! `found_in` (`/app.jar!/BOOT-INF/lib/x.jar` for nested ones) and `stella:java:identity`
//! (`pom.properties`, `pom.xml`, `manifest` or `filename`). Where Trivy (offline, no Java DB) would
//! drop an archive it cannot give a groupId, we keep it with no namespace.
//!
//! Bounds: archive nesting depth, entries per archive, bytes per entry and bytes read in total for
//! one top-level archive (stored nested archives count too, so overlapping entries cannot multiply
//! the work). Problems become diagnostics; the packages found so far are kept.

mod meta;
mod zip;

use std::collections::BTreeMap;

use sha1::{Digest as _, Sha1};

use crate::model::{hex, Checksum, Diagnostic, Package, PackageKind};
use meta::{Gav, Manifest, Pom};
use zip::Archive;

/// Bounds on one call of [`analyze_archive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How deep archives inside archives are opened (the top-level archive is depth 0).
    pub max_depth: u32,
    /// Central-directory records one archive may have.
    pub max_entries: usize,
    /// Largest decompressed size of one entry that is read (metadata files or a nested archive).
    pub max_entry_bytes: u64,
    /// Bytes read out of entries in total, over every nested archive of one top-level archive.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 8,
            max_entries: 100_000,
            max_entry_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
        }
    }
}

/// Metadata files larger than this are not read (real ones are a few KiB; Trivy caps manifests at
/// 10 MiB).
const MAX_META_BYTES: u64 = 4 << 20;

const EXTENSIONS: [&str; 6] = ["jar", "war", "ear", "par", "jpi", "hpi"];

/// True when `path` names a Java archive by its extension (case-insensitive).
pub fn is_archive_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e))
        }
        _ => false,
    }
}

/// The packages in the Java archive at root-relative `path` (e.g. `usr/share/java/guava.jar`) with
/// content `bytes`, nested archives included; sorted by `found_in`, groupId, artifactId, version.
pub fn analyze_archive(
    path: &str,
    bytes: &[u8],
    limits: &Limits,
) -> (Vec<Package>, Vec<Diagnostic>) {
    let mut walk = Walk {
        limits,
        budget: limits.max_total_bytes,
        packages: Vec::new(),
        diagnostics: Vec::new(),
    };
    let found_in = format!("/{}", path.trim_start_matches('/'));
    walk.archive(&found_in, bytes, 0);
    let Walk {
        mut packages,
        mut diagnostics,
        ..
    } = walk;
    packages.sort_by(|a, b| {
        (&a.found_in, &a.namespace, &a.name, &a.version).cmp(&(
            &b.found_in,
            &b.namespace,
            &b.name,
            &b.version,
        ))
    });
    packages.dedup_by(|a, b| {
        (&a.found_in, &a.namespace, &a.name, &a.version)
            == (&b.found_in, &b.namespace, &b.name, &b.version)
    });
    diagnostics.sort();
    diagnostics.dedup();
    (packages, diagnostics)
}

struct Walk<'l> {
    limits: &'l Limits,
    budget: u64,
    packages: Vec<Package>,
    diagnostics: Vec<Diagnostic>,
}

/// What the metadata of one `META-INF/maven/<g>/<a>/` directory says.
#[derive(Default)]
struct MavenDir {
    properties: Option<Gav>,
    pom: Option<Pom>,
}

impl Walk<'_> {
    fn diag(&mut self, path: &str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            layer: None,
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Reads one entry within the per-entry and total budgets.
    fn read<'a>(
        &mut self,
        archive: &Archive<'a>,
        entry: &zip::Entry,
        max: u64,
        found_in: &str,
    ) -> Option<std::borrow::Cow<'a, [u8]>> {
        let max = max.min(self.limits.max_entry_bytes);
        if entry.uncompressed_size > self.budget {
            self.diag(
                found_in,
                format!(
                    "entry {:?}: total decompressed size limit of {} bytes reached, not read",
                    entry.name, self.limits.max_total_bytes
                ),
            );
            return None;
        }
        match archive.read(entry, max.min(self.budget)) {
            Ok(data) => {
                self.budget = self.budget.saturating_sub(data.len() as u64);
                Some(data)
            }
            Err(e) => {
                self.diag(found_in, e.to_string());
                None
            }
        }
    }

    fn archive(&mut self, found_in: &str, bytes: &[u8], depth: u32) {
        let sha1 = hex(&Sha1::digest(bytes));
        let archive = match Archive::open(bytes, self.limits.max_entries) {
            Ok(a) => a,
            Err(e) => {
                self.diag(found_in, e.to_string());
                return;
            }
        };
        let file_name = found_in.rsplit('/').next().unwrap_or(found_in);
        let from_name = meta::parse_file_name(file_name);

        let mut dirs: BTreeMap<(String, String), MavenDir> = BTreeMap::new();
        let mut manifest: Option<Manifest> = None;
        let mut nested: Vec<&zip::Entry> = Vec::new();
        for entry in &archive.entries {
            if entry.is_dir() {
                continue;
            }
            let name = entry.name.as_str();
            if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
                if manifest.is_none() {
                    if let Some(d) = self.read(&archive, entry, MAX_META_BYTES, found_in) {
                        manifest = Some(Manifest::parse(&String::from_utf8_lossy(&d)));
                    }
                }
            } else if name.ends_with("/pom.properties") {
                // Trivy reads a pom.properties anywhere in the archive; its directory only
                // matters for pairing it with a pom.xml.
                let key = meta::maven_dir(name, "pom.properties")
                    .unwrap_or_else(|| (String::new(), name.to_string()));
                if let Some(d) = self.read(&archive, entry, MAX_META_BYTES, found_in) {
                    let gav = meta::parse_pom_properties(&String::from_utf8_lossy(&d));
                    dirs.entry(key).or_default().properties = Some(gav);
                }
            } else if let Some(key) = meta::maven_dir(name, "pom.xml") {
                if let Some(d) = self.read(&archive, entry, MAX_META_BYTES, found_in) {
                    let pom = meta::parse_pom_xml(&String::from_utf8_lossy(&d));
                    dirs.entry(key).or_default().pom = Some(pom);
                }
            } else if is_archive_path(name) {
                nested.push(entry);
            }
        }

        let base = Package {
            kind: Some(PackageKind::Maven),
            checksums: vec![Checksum {
                algorithm: "SHA-1".into(),
                value: sha1,
            }],
            found_in: found_in.to_string(),
            ..Default::default()
        };
        let mut found: Vec<Package> = Vec::new();
        // pom.xml licences by the G:A of their directory, for pom.properties packages (Trivy).
        let pom_by_ga: BTreeMap<(String, String), &Pom> = dirs
            .iter()
            .filter_map(|(k, d)| d.pom.as_ref().map(|p| (k.clone(), p)))
            .collect();
        for ((g, a), dir) in &dirs {
            let (gav, identity, pom) = match (&dir.properties, &dir.pom) {
                (Some(props), _) if props.complete() => (
                    props.clone(),
                    "pom.properties",
                    pom_by_ga.get(&(props.group.clone(), props.artifact.clone())),
                ),
                (None, Some(pom)) if !g.is_empty() => {
                    let mut gav = pom.gav.clone();
                    if gav.group.is_empty() {
                        gav.group = g.clone();
                    }
                    if gav.artifact.is_empty() {
                        gav.artifact = a.clone();
                    }
                    if !gav.complete() {
                        continue;
                    }
                    (gav, "pom.xml", pom_by_ga.get(&(g.clone(), a.clone())))
                }
                _ => continue,
            };
            let mut p = package(&base, &gav, identity);
            if let Some(pom) = pom {
                p.licenses = pom.licenses.clone();
                p.homepage = pom.url.clone();
            }
            found.push(p);
        }

        let own = from_name
            .as_ref()
            .is_some_and(|(a, v)| found.iter().any(|p| &p.name == a && &p.version == v));
        if !own {
            let fallback = manifest
                .as_ref()
                .map(Manifest::gav)
                .filter(|g| !g.artifact.is_empty() && !g.version.is_empty())
                .map(|g| (g, "manifest"))
                .or_else(|| {
                    from_name.as_ref().map(|(a, v)| {
                        let gav = Gav {
                            group: String::new(),
                            artifact: a.clone(),
                            version: v.clone(),
                        };
                        (gav, "filename")
                    })
                });
            if let Some((gav, identity)) = fallback {
                // `wagon-http-shaded-3.5.3.jar` beside wagon-http 3.5.3's pom.properties is that
                // artifact with a classifier, not another one.
                let restates = found.iter().any(|p| {
                    p.version == gav.version
                        && (p.namespace.as_deref() == Some(gav.group.as_str())
                            || p.name == gav.artifact
                            || gav
                                .artifact
                                .strip_prefix(p.name.as_str())
                                .is_some_and(|rest| rest.starts_with('-')))
                });
                if !restates {
                    let mut p = package(&base, &gav, identity);
                    if let Some(m) = &manifest {
                        p.vendor = m.vendor();
                        p.licenses = m.licenses();
                    }
                    found.push(p);
                }
            }
        }
        // Manifest licences (Jenkins Plugin-License-Name, OSGi Bundle-License SPDX ids) for the
        // archive's own package when it is unambiguous and has none from its pom.xml (Trivy).
        if let (Some(m), [only]) = (&manifest, found.as_mut_slice()) {
            if only.licenses.is_empty() {
                only.licenses = m.licenses();
            }
        }
        self.packages.extend(found);

        for entry in nested {
            let child = format!("{found_in}!/{}", entry.name);
            if !safe_name(&entry.name) {
                self.diag(
                    &child,
                    "nested archive name is absolute or has `..`, not opened",
                );
                continue;
            }
            if depth >= self.limits.max_depth {
                self.diag(
                    &child,
                    format!(
                        "nested deeper than {} archives, not opened",
                        self.limits.max_depth
                    ),
                );
                continue;
            }
            if let Some(data) = self.read(&archive, entry, u64::MAX, found_in) {
                self.archive(&child, &data, depth + 1);
            }
        }
    }
}

fn package(base: &Package, gav: &Gav, identity: &str) -> Package {
    let mut p = base.clone();
    p.namespace = (!gav.group.is_empty()).then(|| gav.group.clone());
    p.name = gav.artifact.clone();
    p.version = gav.version.clone();
    p.properties
        .insert("stella:java:identity".into(), identity.into());
    p
}

/// An entry name we are willing to put into a `found_in` path.
fn safe_name(name: &str) -> bool {
    !name.starts_with('/') && !name.contains('\0') && !name.split(['/', '\\']).any(|c| c == "..")
}

#[cfg(test)]
mod tests;
