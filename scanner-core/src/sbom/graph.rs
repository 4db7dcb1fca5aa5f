//! Resolves the dependency names package databases state into edges between installed packages.
//!
//! A name in [`Package::depends`] matches every installed package that
//! * has that name,
//! * lists it in [`Package::provides`] (virtual packages, apk `so:`/`cmd:` names, rpm capabilities), or
//! * owns it as a file (rpm file requirements such as `/bin/sh`).
//!
//! dpkg arch qualifiers (`:any`, `:native`) and trailing version constraints (`libc6 (>= 2.36)`,
//! apk `so:libc.musl-x86_64.so.1=1`) are stripped on both sides before matching. apk conflicts
//! (`!name`) are not dependencies. A package never depends on itself. Names that match nothing (a
//! dependency that is not installed, rpmlib capabilities) are dropped silently: the SBOM only records
//! edges between packages it lists.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Package, PackageKind};
use crate::ownership::owner_id;

/// For each package (same index as `packages`), the sorted, deduplicated indices of the packages it
/// depends on.
///
/// Names only match inside one ecosystem (OS packages among themselves, npm among npm, …), and an OS
/// package that installed a language package ([`Package::owner`]) depends on it.
pub fn resolve<P: Borrow<Package>>(packages: &[P]) -> Vec<Vec<usize>> {
    let mut by_name: BTreeMap<(u8, String), BTreeSet<usize>> = BTreeMap::new();
    let mut by_owner_id: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in packages.iter().enumerate() {
        let p = p.borrow();
        let g = group(p);
        let own = match (&p.namespace, p.kind) {
            (Some(ns), Some(PackageKind::Npm)) => format!("{ns}/{}", p.name),
            _ => p.name.clone(),
        };
        let keys = std::iter::once(own.as_str())
            .chain(p.provides.iter().map(String::as_str))
            .map(normalize)
            .chain(p.files.iter().map(|f| f.path.as_str()));
        for key in keys {
            if !key.is_empty() {
                by_name.entry((g, key.to_owned())).or_default().insert(i);
            }
        }
        if p.kind.is_some_and(PackageKind::is_os) {
            by_owner_id.entry(owner_id(p)).or_insert(i);
        }
    }
    let mut out: Vec<BTreeSet<usize>> = packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let p = p.borrow();
            let g = group(p);
            let mut deps = BTreeSet::new();
            for dep in &p.depends {
                if dep.starts_with('!') {
                    continue;
                }
                if let Some(targets) = by_name.get(&(g, normalize(dep).to_owned())) {
                    deps.extend(targets.iter().copied().filter(|&t| t != i));
                }
            }
            deps
        })
        .collect();
    for (i, p) in packages.iter().enumerate() {
        if let Some(o) = p.borrow().owner.as_ref().and_then(|o| by_owner_id.get(o)) {
            if let Some(d) = out.get_mut(*o) {
                if *o != i {
                    d.insert(i);
                }
            }
        }
    }
    out.into_iter().map(|d| d.into_iter().collect()).collect()
}

/// The ecosystem a package's dependency names live in: every OS package manager shares one.
fn group(p: &Package) -> u8 {
    match p.kind {
        None | Some(PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm) => 0,
        Some(PackageKind::Maven) => 1,
        Some(PackageKind::Npm) => 2,
        Some(PackageKind::Pypi) => 3,
        Some(PackageKind::Golang) => 4,
        Some(PackageKind::Nuget) => 5,
        Some(PackageKind::Cargo) => 6,
        Some(PackageKind::Binary) => 7,
    }
}

/// `libc6:any (>= 2.36)` → `libc6`; `so:libc.musl-x86_64.so.1=1` → `so:libc.musl-x86_64.so.1`;
/// `libc.so.6(GLIBC_2.34)(64bit)` stays as it is.
fn normalize(name: &str) -> &str {
    let name = name.trim();
    let name = name.split_whitespace().next().unwrap_or("");
    // apk constraints are glued to the name: `name=1.0`, `name>=1.0`, `name<2`, `name~1.0`.
    let name = name
        .find(['=', '<', '>', '~'])
        .and_then(|i| name.get(..i))
        .unwrap_or(name);
    for suffix in [":any", ":native"] {
        if let Some(stripped) = name.strip_suffix(suffix) {
            return stripped;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OwnedFile;

    fn pkg(name: &str, depends: &[&str], provides: &[&str], files: &[&str]) -> Package {
        Package {
            name: name.into(),
            depends: depends.iter().map(|s| (*s).to_owned()).collect(),
            provides: provides.iter().map(|s| (*s).to_owned()).collect(),
            files: files
                .iter()
                .map(|p| OwnedFile {
                    path: (*p).to_owned(),
                    checksum: None,
                })
                .collect(),
            ..Package::default()
        }
    }

    #[test]
    fn normalize_table() {
        for (input, want) in [
            ("libc6", "libc6"),
            ("libc6:any", "libc6"),
            ("python3:native", "python3"),
            ("libc6 (>= 2.36)", "libc6"),
            ("perl:any (>= 5.10)", "perl"),
            ("so:libc.musl-x86_64.so.1=1", "so:libc.musl-x86_64.so.1"),
            ("busybox>=1.36", "busybox"),
            (
                "libc.so.6(GLIBC_2.34)(64bit)",
                "libc.so.6(GLIBC_2.34)(64bit)",
            ),
            ("/bin/sh", "/bin/sh"),
            ("  ", ""),
        ] {
            assert_eq!(normalize(input), want, "{input:?}");
        }
    }

    #[test]
    fn resolves_names_provides_and_files() {
        let packages = vec![
            pkg(
                "bash",
                &["libc6:any", "libtinfo6 (>= 6)", "bash"],
                &[],
                &["/bin/bash", "/bin/sh"],
            ),
            pkg("libc6", &[], &["libc.so.6()(64bit)"], &[]),
            pkg("libtinfo6", &["libc6"], &[], &[]),
            pkg("mawk", &["libc.so.6()(64bit)", "missing"], &["awk"], &[]),
            pkg(
                "scripts",
                &["/bin/sh", "awk", "awk", "!conflict", "scripts"],
                &[],
                &[],
            ),
            pkg("busybox", &["so:libc.musl-x86_64.so.1"], &[], &[]),
            pkg("musl", &[], &["so:libc.musl-x86_64.so.1=1"], &[]),
        ];
        assert_eq!(
            resolve(&packages),
            vec![
                vec![1, 2],
                vec![],
                vec![1],
                vec![1],
                vec![0, 3],
                vec![6],
                vec![],
            ]
        );
    }

    #[test]
    fn a_virtual_name_matches_every_provider() {
        let packages = vec![
            pkg("app", &["mail-transport-agent"], &[], &[]),
            pkg("postfix", &[], &["mail-transport-agent"], &[]),
            pkg("exim4", &[], &["mail-transport-agent"], &[]),
            // Provides its own name: still no self edge.
            pkg(
                "mail-transport-agent",
                &["mail-transport-agent"],
                &["mail-transport-agent"],
                &[],
            ),
        ];
        assert_eq!(
            resolve(&packages),
            vec![vec![1, 2, 3], vec![], vec![], vec![1, 2]]
        );
    }

    #[test]
    fn empty_input() {
        assert!(resolve::<Package>(&[]).is_empty());
    }
}
