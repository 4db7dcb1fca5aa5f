//! Python distributions: `*.dist-info` (wheels, PEP 376/627) and `*.egg-info` (setuptools, distutils).
//!
//! One package per `METADATA` (dist-info), `PKG-INFO` (egg-info directory or unzipped `EGG-INFO/`) or
//! single-file `*.egg-info` (distutils). The core-metadata headers give the name (PEP 503-normalised),
//! version, licence, home page, author and `Requires-Dist`; a wheel's `RECORD` gives the files it owns
//! (paths resolved against the site-packages directory, SHA-256 from `sha256=<urlsafe-b64>`), and
//! `entry_points.txt` its console scripts (`stella:python:console_script:<name>` = `module:func`, which
//! EntryTrace follows).
//!
//! Licence rules (as Trivy's python-pkg analyzer, with classifiers mapped to SPDX where that is
//! certain): `License-Expression` (PEP 639) first; else `License` unless it is a long text (a whole
//! licence pasted in: more than one line or over [`MAX_LICENSE_NAME`] bytes) or `UNKNOWN`; else every
//! `Classifier: License :: …` (the bare `OSI Approved` grouping skipped).
//!
//! Not done: zipped `.egg` files and zipapps, `installed-files.txt` of legacy egg installs, licence files.

mod metadata;

pub use metadata::{
    parse_entry_points, parse_metadata, parse_record, requirement_name, CoreMetadata, RecordEntry,
    MAX_LICENSE_NAME,
};

use super::diag;
use crate::fs::FsView;
use crate::model::{Inventory, OwnedFile, Package, PackageKind};
use crate::sbom::purl::pep503;

/// Largest metadata file read (METADATA with a long description, RECORD of a big wheel).
pub const MAX_FILE: usize = 32 << 20;

/// True for the files this analyzer reads (root-relative paths). Never allocates.
pub fn wants(path: &str) -> bool {
    let (dir, base) = match path.rsplit_once('/') {
        Some((d, b)) => (d, b),
        None => ("", path),
    };
    if dir.ends_with(".dist-info") {
        return matches!(base, "METADATA" | "RECORD" | "entry_points.txt");
    }
    if dir.ends_with(".egg-info") || dir.ends_with("EGG-INFO") {
        return matches!(base, "PKG-INFO" | "entry_points.txt");
    }
    // distutils' single-file form: `site-packages/foo-1.0-py3.11.egg-info`.
    base.ends_with(".egg-info") && base.len() > ".egg-info".len()
}

/// Finds every distribution in `fs` and pushes one package per metadata file to `inv`.
pub fn analyze(fs: &dyn FsView, inv: &mut Inventory) {
    for path in fs.files() {
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d, b),
            None => ("", path.as_str()),
        };
        let (meta_dir, form) = if dir.ends_with(".dist-info") && base == "METADATA" {
            (Some(dir), Form::DistInfo)
        } else if (dir.ends_with(".egg-info") || dir.ends_with("EGG-INFO")) && base == "PKG-INFO" {
            (Some(dir), Form::EggInfoDir)
        } else if base.ends_with(".egg-info") && base.len() > ".egg-info".len() {
            (None, Form::EggInfoFile)
        } else {
            continue;
        };
        let Some(data) = read(fs, &path, inv) else {
            continue;
        };
        let Some(meta) = parse_metadata(&data) else {
            diag(inv, &path, "no Name and Version in the metadata headers");
            continue;
        };
        let mut pkg = package(&meta, &path);
        if let Some(meta_dir) = meta_dir {
            let site = parent(meta_dir);
            if form == Form::DistInfo {
                let record = format!("{meta_dir}/RECORD");
                if let Some(data) = read(fs, &record, inv) {
                    let (entries, bad) = parse_record(&data);
                    if bad > 0 {
                        diag(
                            inv,
                            &record,
                            &format!("{bad} malformed RECORD rows skipped"),
                        );
                    }
                    pkg.files = entries
                        .into_iter()
                        .filter_map(|e| {
                            Some(OwnedFile {
                                path: resolve(site, &e.path)?,
                                checksum: e.checksum,
                            })
                        })
                        .collect();
                }
            }
            let ep = format!("{meta_dir}/entry_points.txt");
            if let Some(data) = read(fs, &ep, inv) {
                for (name, target) in parse_entry_points(&data) {
                    pkg.properties
                        .insert(format!("stella:python:console_script:{name}"), target);
                }
            }
        }
        inv.packages.push(pkg);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    DistInfo,
    EggInfoDir,
    EggInfoFile,
}

fn package(meta: &CoreMetadata, path: &str) -> Package {
    let mut licenses: Vec<String> = Vec::new();
    for l in &meta.licenses {
        if !licenses.contains(l) {
            licenses.push(l.clone());
        }
    }
    let mut depends: Vec<String> = Vec::new();
    for d in &meta.requires {
        let n = pep503(d);
        if !depends.contains(&n) {
            depends.push(n);
        }
    }
    Package {
        kind: Some(PackageKind::Pypi),
        name: pep503(&meta.name),
        version: meta.version.clone(),
        licenses,
        homepage: meta.homepage.clone(),
        maintainer: meta.author.clone(),
        depends,
        found_in: format!("/{path}"),
        ..Default::default()
    }
}

fn read(fs: &dyn FsView, path: &str, inv: &mut Inventory) -> Option<Vec<u8>> {
    super::read_capped(fs, path, MAX_FILE, inv)
}

fn parent(dir: &str) -> &str {
    dir.rsplit_once('/').map_or("", |(p, _)| p)
}

/// The absolute path of a RECORD entry: relative ones against `site` (root-relative), `..` and `.`
/// resolved and clamped at the root. `None` for an empty path.
pub fn resolve(site: &str, entry: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    let joined_site = if entry.starts_with('/') { "" } else { site };
    for c in joined_site.split('/').chain(entry.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests;
