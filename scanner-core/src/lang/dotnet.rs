//! .NET packages from `*.deps.json`, paired with the assemblies they name, and PE version resources.
//!
//! A `deps.json` is what the .NET host reads to load an app: `runtimeTarget.name` picks one entry of
//! `targets` (`".NETCoreApp,Version=v8.0"` or with a RID, `…/linux-x64`), whose `Name/Version` entries list
//! each library's `dependencies`, `runtime` assemblies, RID-specific `runtimeTargets` and `native` assets;
//! `libraries` gives each one's `type` (`package` from NuGet, `project` for the app and its own projects,
//! `runtimepack` for a self-contained runtime) and `sha512` (the .nupkg hash, `sha512-<base64>`).
//! As Trivy does, libraries that contribute no runtime asset (meta-packages, reference packs) are skipped.
//!
//! For each package we look next to the deps.json for the assemblies it names: those present become the
//! package's files (and give their VERSIONINFO: CompanyName → vendor, FileVersion → property), those absent
//! are listed in `stella:nuget:missing-assemblies`. This module does not read NuGet caches, `*.csproj` or
//! `packages.lock.json`.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde::Deserialize;

use crate::fs::FsView;
use crate::model::{Checksum, Diagnostic, Inventory, OwnedFile, Package, PackageKind};

/// Largest deps.json we parse.
const MAX_DEPS_JSON: usize = 16 * 1024 * 1024;
/// Largest assembly whose version resource we read.
const MAX_ASSEMBLY: usize = 64 * 1024 * 1024;
/// Most libraries taken from one deps.json.
const MAX_LIBRARIES: usize = 50_000;
const RUNTIME_PACK_PREFIX: &str = "runtimepack.";

/// True for the files this analyzer reads: `*.deps.json`.
pub fn wants(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.len() > ".deps.json".len() && name.ends_with(".deps.json"))
}

#[derive(Debug, Default, Deserialize)]
struct DepsFile {
    #[serde(default, rename = "runtimeTarget")]
    runtime_target: RuntimeTarget,
    #[serde(default)]
    targets: BTreeMap<String, BTreeMap<String, TargetLib>>,
    #[serde(default)]
    libraries: BTreeMap<String, Library>,
}

#[derive(Debug, Default, Deserialize)]
struct RuntimeTarget {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Default, Deserialize)]
struct TargetLib {
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default)]
    runtime: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, rename = "runtimeTargets")]
    runtime_targets: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    native: Option<BTreeMap<String, serde_json::Value>>,
}

impl TargetLib {
    fn has_runtime_assets(&self) -> bool {
        let non_empty = |m: &Option<BTreeMap<String, serde_json::Value>>| {
            m.as_ref().is_some_and(|m| !m.is_empty())
        };
        non_empty(&self.runtime) || non_empty(&self.runtime_targets) || non_empty(&self.native)
    }

    /// Asset paths relative to the app directory, in the layout `dotnet publish` writes: `runtime` and
    /// `native` assets flattened to their file names, `runtimeTargets` under their `runtimes/…` path.
    fn asset_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in [&self.runtime, &self.native].into_iter().flatten() {
            for k in m.keys() {
                out.push(base_name(k).to_owned());
            }
        }
        if let Some(m) = &self.runtime_targets {
            out.extend(m.keys().cloned());
        }
        out.sort();
        out.dedup();
        out
    }
}

#[derive(Debug, Default, Deserialize)]
struct Library {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    sha512: String,
}

fn base_name(p: &str) -> &str {
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

/// Reads every `*.deps.json` the view holds and adds its packages (or a diagnostic) to `inv`.
pub fn analyze(fs: &dyn FsView, inv: &mut Inventory) {
    for path in fs.files().into_iter().filter(|p| wants(p)) {
        let diag = |message: String| Diagnostic {
            layer: None,
            path: format!("/{path}"),
            message,
        };
        let bytes = match fs.read(&path) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => {
                inv.diagnostics.push(diag(e.to_string()));
                continue;
            }
        };
        if bytes.len() > MAX_DEPS_JSON {
            inv.diagnostics.push(diag(format!(
                "deps.json is {} bytes, over the {MAX_DEPS_JSON}-byte limit",
                bytes.len()
            )));
            continue;
        }
        match parse_deps_json(&bytes, &format!("/{path}")) {
            Ok(mut pkgs) => {
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                for p in &mut pkgs {
                    attach_assemblies(fs, dir, p);
                }
                inv.packages.extend(pkgs);
            }
            Err(e) => inv.diagnostics.push(diag(e)),
        }
    }
}

/// Packages from one deps.json (`found_in` is its absolute path), without the assembly pairing.
/// Assets each package names are kept, relative to the app directory, in the temporary property
/// `stella:nuget:assets` that [`analyze`] resolves and removes.
pub fn parse_deps_json(bytes: &[u8], found_in: &str) -> Result<Vec<Package>, String> {
    let deps: DepsFile =
        serde_json::from_slice(bytes).map_err(|e| format!("deps.json is not valid: {e}"))?;
    if deps.libraries.len() > MAX_LIBRARIES {
        return Err(format!(
            "deps.json lists {} libraries, over the limit of {MAX_LIBRARIES}",
            deps.libraries.len()
        ));
    }
    let target = deps.targets.get(&deps.runtime_target.name);
    // Target entries keyed as `Name/Version` with the runtime-pack prefix stripped.
    let target_libs: BTreeMap<String, &TargetLib> = target
        .map(|t| {
            t.iter()
                .map(|(k, v)| (strip_pack(k).to_owned(), v))
                .collect()
        })
        .unwrap_or_default();

    struct Found<'a> {
        name: String,
        version: String,
        lib: &'a Library,
        target: Option<&'a TargetLib>,
    }
    let mut found: Vec<Found<'_>> = Vec::new();
    for (key, lib) in &deps.libraries {
        let Some((name, version)) = key.split_once('/') else {
            continue;
        };
        let kind = lib.kind.to_ascii_lowercase();
        if !matches!(kind.as_str(), "package" | "project" | "runtimepack") {
            continue;
        }
        let name = strip_pack(name).to_owned();
        let id = format!("{name}/{version}");
        let tl = target_libs.get(&id).copied();
        // A library the selected target does not mention is kept (Trivy: "to avoid mistaken omission").
        if target.is_some() && tl.is_some_and(|t| !t.has_runtime_assets()) {
            continue;
        }
        found.push(Found {
            name,
            version: version.to_owned(),
            lib,
            target: tl,
        });
    }
    let reported: BTreeSet<String> = found
        .iter()
        .map(|f| format!("{}/{}", f.name, f.version))
        .collect();

    let mut out = Vec::new();
    for f in found {
        let mut p = Package {
            kind: Some(PackageKind::Nuget),
            name: f.name.clone(),
            version: f.version.clone(),
            found_in: found_in.to_owned(),
            ..Package::default()
        };
        let kind = f.lib.kind.to_ascii_lowercase();
        if kind == "project" {
            p.properties
                .insert("stella:nuget:project".to_owned(), "true".to_owned());
        } else if kind == "runtimepack" {
            p.properties
                .insert("stella:nuget:runtimepack".to_owned(), "true".to_owned());
        }
        if let Some(hex) = sha512_hex(&f.lib.sha512) {
            p.checksums.push(Checksum {
                algorithm: "SHA-512".to_owned(),
                value: hex,
            });
        }
        if let Some(t) = f.target {
            p.depends = t
                .dependencies
                .iter()
                .filter(|(n, v)| reported.contains(&format!("{}/{v}", strip_pack(n))))
                .map(|(n, _)| strip_pack(n).to_owned())
                .collect();
            p.depends.sort();
            p.depends.dedup();
            let assets = t.asset_paths();
            if !assets.is_empty() {
                p.properties
                    .insert("stella:nuget:assets".to_owned(), assets.join("\n"));
            }
        }
        out.push(p);
    }
    Ok(out)
}

fn strip_pack(name: &str) -> &str {
    name.strip_prefix(RUNTIME_PACK_PREFIX).unwrap_or(name)
}

/// `sha512-<base64>` → lower-case hex, when it is a well-formed 64-byte digest.
fn sha512_hex(s: &str) -> Option<String> {
    let b64 = s.strip_prefix("sha512-")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (raw.len() == 64).then(|| crate::model::hex(&raw))
}

/// Resolves the `stella:nuget:assets` of `p` against the directory `dir` of its deps.json.
fn attach_assemblies(fs: &dyn FsView, dir: &str, p: &mut Package) {
    let Some(assets) = p.properties.remove("stella:nuget:assets") else {
        return;
    };
    let mut missing = Vec::new();
    let mut listings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rel in assets.split('\n') {
        let full = if dir.is_empty() {
            rel.to_owned()
        } else {
            format!("{dir}/{rel}")
        };
        let stat = fs.stat(&full);
        let present = match &stat {
            Some(st) => st.is_file,
            // A view that cannot stat: look the name up in its directory listing.
            None => {
                let (parent, name) = full.rsplit_once('/').unwrap_or(("", full.as_str()));
                listings
                    .entry(parent.to_owned())
                    .or_insert_with(|| fs.list(parent))
                    .iter()
                    .any(|n| n == name)
            }
        };
        if !present {
            missing.push(rel.to_owned());
            continue;
        }
        p.files.push(OwnedFile {
            path: format!("/{full}"),
            checksum: None,
        });
        if p.vendor.is_none() && !p.properties.contains_key("stella:nuget:file-version") {
            let from_facts = stat
                .and_then(|st| st.facts)
                .map(|f| f.pe_version.clone())
                .filter(|v| !v.is_empty());
            let info = from_facts.or_else(|| read_version_info(fs, &full));
            if let Some(info) = info {
                version_facts(&info, p);
            }
        }
    }
    if !missing.is_empty() {
        p.properties.insert(
            "stella:nuget:missing-assemblies".to_owned(),
            missing.join(","),
        );
    }
}

/// VERSIONINFO of the PE file at `path`, when the view kept its bytes.
fn read_version_info(fs: &dyn FsView, path: &str) -> Option<BTreeMap<String, String>> {
    let bytes = fs.read(path).ok()??;
    if bytes.len() > MAX_ASSEMBLY {
        return None;
    }
    let pe = goblin::pe::PE::parse(&bytes).ok()?;
    pe_version_info(&pe, &bytes)
}

/// CompanyName → vendor; FileVersion, ProductVersion, ProductName → properties.
fn version_facts(info: &BTreeMap<String, String>, p: &mut Package) {
    if let Some(c) = info.get("CompanyName").filter(|c| !c.is_empty()) {
        p.vendor = Some(c.clone());
    }
    for (key, prop) in [
        ("FileVersion", "stella:nuget:file-version"),
        ("ProductVersion", "stella:nuget:product-version"),
        ("ProductName", "stella:nuget:product-name"),
    ] {
        if let Some(v) = info.get(key).filter(|v| !v.is_empty()) {
            p.properties.insert(prop.to_owned(), v.clone());
        }
    }
}

/// A PE file's version resource (RT_VERSION): the StringFileInfo values `CompanyName`,
/// `FileDescription`, `FileVersion`, `InternalName`, `LegalCopyright`, `OriginalFilename`, `ProductName`,
/// `ProductVersion` (those present), and from VS_FIXEDFILEINFO `FixedFileVersion` /
/// `FixedProductVersion` as `a.b.c.d`. `None` when the file has no version resource. `pe` must have been
/// parsed with resources (goblin's default); `bytes` is the file it was parsed from.
pub fn pe_version_info(pe: &goblin::pe::PE<'_>, bytes: &[u8]) -> Option<BTreeMap<String, String>> {
    let _ = bytes;
    let vi = pe.resource_data.as_ref()?.version_info.as_ref()?;
    let s = &vi.string_info;
    let mut out = BTreeMap::new();
    for (key, value) in [
        ("CompanyName", s.company_name()),
        ("FileDescription", s.file_description()),
        ("FileVersion", s.file_version()),
        ("InternalName", s.internal_name()),
        ("LegalCopyright", s.legal_copyright()),
        ("OriginalFilename", s.original_filename()),
        ("ProductName", s.product_name()),
        ("ProductVersion", s.product_version()),
    ] {
        if let Some(v) = value {
            out.insert(key.to_owned(), v);
        }
    }
    if let Some(f) = vi
        .fixed_info
        .as_ref()
        .filter(|f| f.signature == 0xFEEF_04BD)
    {
        let quad =
            |ms: u32, ls: u32| format!("{}.{}.{}.{}", ms >> 16, ms & 0xffff, ls >> 16, ls & 0xffff);
        out.insert(
            "FixedFileVersion".to_owned(),
            quad(f.file_version_ms, f.file_version_ls),
        );
        out.insert(
            "FixedProductVersion".to_owned(),
            quad(f.product_version_ms, f.product_version_ls),
        );
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests;
