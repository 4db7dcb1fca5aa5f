//! File ownership: which package installed a file.
//!
//! OS package databases list their files; Python's `RECORD` does too; an npm package owns what is below
//! its directory. With that map:
//! - a language package whose metadata file an OS package installed (Debian's `python3-*`, `node-*`,
//!   `lib*-java`) gets [`Package::owner`] set to that OS package: it is linked, not counted twice;
//! - every native object gets the owner that lists it; the ones nobody owns become [`PackageKind::Binary`]
//!   components keyed by SHA-256, so they are reported rather than silently dropped.
//!
//! Paths are compared after resolving their directories inside the image, so `/bin/ls` (what dpkg
//! lists) and `usr/bin/ls` (the real path after Debian's merged-/usr symlinks) meet.

use std::collections::{BTreeMap, HashMap};

use crate::fs::FsView;
use crate::model::{Checksum, Inventory, Package, PackageKind};

/// `kind/name@version` (npm: `npm/@scope/name@version`), the owner spelling in [`Package::owner`].
pub fn owner_id(p: &Package) -> String {
    let kind = p.kind.map_or("unknown", |k| k.purl_type());
    match &p.namespace {
        Some(ns) if p.kind == Some(PackageKind::Npm) => {
            format!("{kind}/{ns}/{}@{}", p.name, p.version)
        }
        Some(ns) => format!("{kind}/{ns}:{}@{}", p.name, p.version),
        None => format!("{kind}/{}@{}", p.name, p.version),
    }
}

/// Canonical real paths, with a cache of resolved directories.
struct Canon<'a> {
    fs: &'a dyn FsView,
    dirs: HashMap<String, String>,
}

impl Canon<'_> {
    /// The real root-relative path of `path` (absolute or relative): its directory resolved through
    /// symlinks, the last component kept.
    fn real(&mut self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
        if dir.is_empty() {
            return base.to_owned();
        }
        let real_dir = match self.dirs.get(dir) {
            Some(r) => r.clone(),
            None => {
                let r = self
                    .fs
                    .stat(dir)
                    .filter(|s| s.is_dir)
                    .map_or_else(|| dir.to_owned(), |s| s.real);
                self.dirs.insert(dir.to_owned(), r.clone());
                r
            }
        };
        if real_dir.is_empty() {
            base.to_owned()
        } else {
            format!("{real_dir}/{base}")
        }
    }
}

/// Links language packages and native files to their owners and reports unowned native files.
pub fn link(fs: &dyn FsView, inv: &mut Inventory) {
    let mut canon = Canon {
        fs,
        dirs: HashMap::new(),
    };
    // real path → owner id; OS packages first so they win over a RECORD listing the same file.
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut lang_owners: HashMap<String, String> = HashMap::new();
    for p in &inv.packages {
        let Some(kind) = p.kind else { continue };
        if p.files.is_empty() {
            continue;
        }
        let id = owner_id(p);
        let map = if kind.is_os() {
            &mut owners
        } else {
            &mut lang_owners
        };
        for f in &p.files {
            map.entry(canon.real(&f.path)).or_insert_with(|| id.clone());
        }
    }
    // npm package directories: a native addon below one belongs to it.
    let mut npm_dirs: BTreeMap<String, String> = BTreeMap::new();
    for p in &mut inv.packages {
        let Some(kind) = p.kind else { continue };
        if kind.is_os() {
            continue;
        }
        let outer = p.found_in.split("!/").next().unwrap_or(&p.found_in);
        if let Some(owner) = owners.get(&canon.real(outer)) {
            if p.owner.is_none() {
                p.owner = Some(owner.clone());
            }
        }
        if kind == PackageKind::Npm {
            if let Some(dir) = p.found_in.strip_suffix("/package.json") {
                npm_dirs.insert(canon.real(dir), owner_id(p));
            }
        }
    }
    // Binaries whose own packages came out of them (Go buildinfo, cargo-auditable) are owned by those.
    let mut from_binary: HashMap<String, String> = HashMap::new();
    for p in &inv.packages {
        if matches!(p.kind, Some(PackageKind::Golang | PackageKind::Cargo)) {
            let main = p.properties.contains_key("stella:go:main")
                || p.properties.contains_key("stella:cargo:root");
            let e = from_binary.entry(canon.real(&p.found_in));
            if main {
                e.insert_entry(owner_id(p));
            } else {
                e.or_insert_with(|| owner_id(p));
            }
        }
    }
    let mut unowned = Vec::new();
    for n in &mut inv.natives {
        let real = canon.real(&n.path);
        n.owner = owners
            .get(&real)
            .or_else(|| lang_owners.get(&real))
            .or_else(|| from_binary.get(&real))
            .cloned()
            .or_else(|| npm_owner(&npm_dirs, &real));
        if n.owner.is_none() {
            unowned.push(binary_component(fs, n));
        }
    }
    inv.packages.extend(unowned);
}

fn npm_owner(dirs: &BTreeMap<String, String>, real: &str) -> Option<String> {
    // The deepest package directory that is a prefix of the path.
    let mut best: Option<&String> = None;
    let mut cur = real;
    while let Some((dir, _)) = cur.rsplit_once('/') {
        if let Some(id) = dirs.get(dir) {
            best = Some(id);
            break;
        }
        cur = dir;
    }
    best.cloned()
}

/// A `bin:` component for a native file no package owns.
fn binary_component(fs: &dyn FsView, n: &crate::model::NativeFile) -> Package {
    let name = n.path.rsplit('/').next().unwrap_or(&n.path).to_owned();
    let mut properties = BTreeMap::new();
    properties.insert(
        "stella:native:format".to_owned(),
        format!("{:?}", n.info.format).to_ascii_lowercase(),
    );
    if let Some(s) = &n.info.soname {
        properties.insert("stella:native:soname".to_owned(), s.clone());
    }
    if let Some(b) = &n.info.build_id {
        properties.insert("stella:native:build-id".to_owned(), b.clone());
    }
    if !n.info.needed.is_empty() {
        properties.insert("stella:native:needed".to_owned(), n.info.needed.join(","));
    }
    let facts = fs.stat(&n.path).and_then(|s| s.facts);
    let mut version = String::new();
    if let Some(f) = &facts {
        if f.rust_unaudited {
            properties.insert("stella:native:rust".to_owned(), "true".to_owned());
        }
        for (k, v) in &f.pe_version {
            properties.insert(format!("stella:pe:{k}"), v.clone());
        }
        if let Some(v) = f.pe_version.get("FileVersion") {
            version = v.clone();
        }
    }
    Package {
        kind: Some(PackageKind::Binary),
        name,
        version,
        checksums: n
            .sha256
            .iter()
            .map(|d| Checksum {
                algorithm: "SHA-256".to_owned(),
                value: d.hex().to_owned(),
            })
            .collect(),
        found_in: n.path.clone(),
        properties,
        ..Package::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use crate::model::{Inventory, OwnedFile};

    fn pkg(kind: PackageKind, name: &str, found_in: &str, files: &[&str]) -> Package {
        Package {
            kind: Some(kind),
            name: name.into(),
            version: "1.0".into(),
            found_in: found_in.into(),
            files: files
                .iter()
                .map(|f| OwnedFile {
                    path: (*f).into(),
                    checksum: None,
                })
                .collect(),
            ..Package::default()
        }
    }

    #[test]
    fn language_package_in_os_owned_files_is_linked_not_orphaned() {
        let fs = MemFs::new();
        let mut inv = Inventory {
            packages: vec![
                pkg(
                    PackageKind::Deb,
                    "python3-yaml",
                    "/var/lib/dpkg/status",
                    &["/usr/lib/python3/dist-packages/PyYAML-6.0.egg-info/PKG-INFO"],
                ),
                pkg(
                    PackageKind::Pypi,
                    "pyyaml",
                    "/usr/lib/python3/dist-packages/PyYAML-6.0.egg-info/PKG-INFO",
                    &[],
                ),
                pkg(PackageKind::Deb, "libguava-java", "/var/lib/dpkg/status", &["/usr/share/java/guava.jar"]),
                pkg(PackageKind::Maven, "guava", "/usr/share/java/guava.jar!/META-INF/x.jar", &[]),
                pkg(PackageKind::Npm, "left-pad", "/srv/app/node_modules/left-pad/package.json", &[]),
            ],
            ..Inventory::default()
        };
        link(&fs, &mut inv);
        let owners: Vec<Option<&str>> = inv.packages.iter().map(|p| p.owner.as_deref()).collect();
        assert_eq!(
            owners,
            [None, Some("deb/python3-yaml@1.0"), None, Some("deb/libguava-java@1.0"), None]
        );
    }
}
