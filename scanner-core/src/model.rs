//! The typed SBOM model every analyzer produces and every writer consumes.
//!
//! The model is deliberately ecosystem-neutral: an analyzer fills in what its database states and leaves
//! the rest empty. Collections are `Vec`s kept in a canonical order by [`Inventory::normalize`] so that
//! writers can stay simple and output stays byte-identical for the same input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A content digest such as `sha256:9f86d0…`, kept in its canonical `algorithm:hex` text form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Digest(pub String);

impl Digest {
    /// SHA-256 digest of `bytes` as `sha256:<hex>`.
    pub fn sha256_of(bytes: &[u8]) -> Self {
        use sha2::{Digest as _, Sha256};
        Digest(format!("sha256:{}", hex(&Sha256::digest(bytes))))
    }

    /// The hex part after `algorithm:`.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or(self.0.as_str(), |(_, h)| h)
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lower-case hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Which package manager's database a package came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageKind {
    /// dpkg (Debian, Ubuntu, distroless).
    Deb,
    /// apk (Alpine, Wolfi, Chainguard).
    Apk,
    /// rpm (RHEL, Fedora, SUSE, Amazon Linux, …).
    Rpm,
    /// Java archives (jar/war/ear/par), identity from pom.properties, pom.xml, MANIFEST.MF or the name.
    Maven,
    /// Node.js packages (`node_modules/**/package.json`, lockfiles).
    Npm,
    /// Python distributions (`*.dist-info`, `*.egg-info`).
    Pypi,
    /// Go modules from a binary's buildinfo.
    Golang,
    /// .NET packages from `*.deps.json`.
    Nuget,
    /// Rust crates from cargo-auditable's `.dep-v0` section.
    Cargo,
    /// A binary no package database describes (`bin:` components keyed by SHA-256).
    Binary,
}

impl PackageKind {
    /// The purl type for this kind.
    pub fn purl_type(self) -> &'static str {
        match self {
            PackageKind::Deb => "deb",
            PackageKind::Apk => "apk",
            PackageKind::Rpm => "rpm",
            PackageKind::Maven => "maven",
            PackageKind::Npm => "npm",
            PackageKind::Pypi => "pypi",
            PackageKind::Golang => "golang",
            PackageKind::Nuget => "nuget",
            PackageKind::Cargo => "cargo",
            PackageKind::Binary => "generic",
        }
    }

    /// True for the package managers of an operating system (dpkg, apk, rpm).
    pub fn is_os(self) -> bool {
        matches!(self, PackageKind::Deb | PackageKind::Apk | PackageKind::Rpm)
    }
}

/// The source package a binary package was built from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePackage {
    /// Source package name (dpkg `Source:`, apk `o:`, rpm SOURCERPM name).
    pub name: String,
    /// Source version when it differs or is stated; `None` means "same as the binary".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A checksum a package database states for a package or a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Checksum {
    /// Algorithm in CycloneDX spelling: `MD5`, `SHA-1`, `SHA-256`, `SHA-512`.
    pub algorithm: String,
    /// Lower-case hex value.
    pub value: String,
}

/// The layer of an image in which something first appeared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LayerRef {
    /// 0-based position of the layer in the image's layer list.
    pub index: usize,
    /// The layer's diffID (digest of the uncompressed tar).
    pub diff_id: Digest,
    /// The layer blob's digest as stored in the manifest, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// One installed package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Database it came from; `None` only for `Default`.
    pub kind: Option<PackageKind>,
    /// Package name as the database spells it. Language packages: the ecosystem's name (npm: `name`
    /// without the scope, which goes to [`Package::namespace`]; Maven: the artifactId; PyPI: the
    /// PEP 503-normalised name; Go: the full module path; Cargo/NuGet: the crate/package id).
    pub name: String,
    /// Ecosystem namespace: Maven groupId, npm scope with its `@` (`@types`). `None` elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Full version as the package manager prints it: dpkg `[epoch:]upstream[-revision]`,
    /// apk `pkgver-rN`, rpm `version-release` (epoch kept apart in [`Package::epoch`]).
    pub version: String,
    /// rpm epoch (`None` when the header has none). dpkg keeps its epoch inside `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// Architecture (`amd64`, `x86_64`, `noarch`, `all`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Source package, when stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourcePackage>,
    /// License expressions or names exactly as the package states them (deduplicated, in order).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub licenses: Vec<String>,
    /// Maintainer (dpkg `Maintainer:`, apk `m:`, rpm Packager).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    /// Vendor / supplier organisation (rpm Vendor), when stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Upstream home page, when stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
    /// Names of packages (or virtual names) this package depends on, alternatives flattened.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub depends: Vec<String>,
    /// Virtual names this package provides (dpkg `Provides:`, apk `p:`, rpm PROVIDENAME).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub provides: Vec<String>,
    /// Checksums of the package itself (apk `C:`, rpm SIGMD5/SHA256 header digest).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub checksums: Vec<Checksum>,
    /// Installed size in bytes, when stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_size: Option<u64>,
    /// Files the package owns: absolute paths inside the image, with checksums where stated.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub files: Vec<OwnedFile>,
    /// Path (inside the image, absolute) of the database record the package was read from.
    pub found_in: String,
    /// Layer that first introduced this package at its current version (images only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerRef>,
    /// Ecosystem facts with no field of their own, as `stella:`-prefixed names (e.g.
    /// `stella:go:version`, `stella:go:setting:CGO_ENABLED`, `stella:npm:declared-in`). Sorted.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub properties: BTreeMap<String, String>,
    /// For a language package whose files an OS package installed: that OS package, as
    /// `kind/name@version` (e.g. `deb/python3-yaml@6.0-3+b2`). Such a package is linked, not counted twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// True when the image's entrypoint (EntryTrace) uses this package: the usage view.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub used_by_entrypoint: bool,
}

/// A file a package database says a package installed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OwnedFile {
    /// Absolute path, e.g. `/usr/bin/dpkg`.
    pub path: String,
    /// Checksum the database records, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
}

/// The operating system identified from `os-release` (and distro version files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    /// `ID=` (e.g. `debian`, `alpine`, `rhel`).
    pub id: String,
    /// Most precise version known: `etc/debian_version` (`12.8`) or `etc/alpine-release` (`3.20.3`)
    /// when present, else `VERSION_ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `VERSION_ID=` as stated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// `VERSION_CODENAME=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    /// `PRETTY_NAME=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    /// `ID_LIKE=` words.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub id_like: Vec<String>,
    /// `HOME_URL=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_url: Option<String>,
}

/// A problem met while scanning that did not stop the scan: a bad file, a skipped entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Layer the problem was in, when the source is an image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    /// Path inside the image or layer.
    pub path: String,
    /// What was wrong.
    pub message: String,
}

/// What an analyzer found in one file-system view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Distro, when an os-release file was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distro: Option<Distro>,
    /// Packages, in canonical order after [`Inventory::normalize`].
    pub packages: Vec<Package>,
    /// Per-file problems.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub diagnostics: Vec<Diagnostic>,
    /// Native objects (ELF, PE, Mach-O) with the package that owns each, sorted by path.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub natives: Vec<NativeFile>,
    /// What the entrypoint uses (EntryTrace), when the source has an image config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Which view this is: everything found, or only what the entrypoint uses. Stamped into the
    /// SBOMs (`stella:sbom:view`) so a verification policy can require a view.
    #[serde(default, skip_serializing_if = "InventoryView::is_inventory")]
    pub view: InventoryView,
}

/// The view an [`Inventory`] shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InventoryView {
    /// Everything found (each component flagged with whether the entrypoint uses it).
    #[default]
    Inventory,
    /// Only what the entrypoint uses ([`crate::usage::usage_view`]).
    Usage,
}

impl InventoryView {
    /// The name stamped into SBOMs: `inventory` or `usage`.
    pub fn as_str(self) -> &'static str {
        match self {
            InventoryView::Inventory => "inventory",
            InventoryView::Usage => "usage",
        }
    }

    fn is_inventory(&self) -> bool {
        *self == InventoryView::Inventory
    }
}

/// One native object in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeFile {
    /// Absolute path.
    pub path: String,
    /// SHA-256 of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    /// What the object header says.
    pub info: crate::lang::native::NativeInfo,
    /// The package that installed it (`kind/name@version`), when one lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Part of the entrypoint's closure (the usage view).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub used_by_entrypoint: bool,
}

/// The usage view's evidence: how the entrypoint was followed and what it loads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Each step from the image config to the terminal program: `file:line: command`.
    pub chain: Vec<UsageStep>,
    /// Terminal programs (absolute paths); several when a script branches on an unknown argument.
    pub terminals: Vec<String>,
    /// Shared libraries the terminal programs load (absolute real paths), interpreter included.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub libraries: Vec<String>,
    /// `NEEDED` names that did not resolve, as `name (needed by /path)`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub unresolved: Vec<String>,
    /// What EntryTrace could not follow.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// One step of an entrypoint chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageStep {
    /// Absolute path of the file holding the command (`<image config>` for the first step).
    pub file: String,
    /// 1-based line (0 for the image config).
    pub line: usize,
    /// The command as written.
    pub command: String,
}

impl Inventory {
    /// Sorts packages and diagnostics into canonical order and removes exact duplicates.
    pub fn normalize(&mut self) {
        self.packages
            .sort_by(|a, b| package_key(a).cmp(&package_key(b)));
        self.packages
            .dedup_by(|a, b| package_key(a) == package_key(b));
        for p in &mut self.packages {
            p.files.sort();
            p.files.dedup();
        }
        self.diagnostics.sort();
        self.diagnostics.dedup();
        self.natives.sort_by(|a, b| a.path.cmp(&b.path));
        self.natives.dedup_by(|a, b| a.path == b.path);
    }
}

type PackageKey<'a> = (
    Option<PackageKind>,
    Option<&'a str>,
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
);

fn package_key(p: &Package) -> PackageKey<'_> {
    (
        p.kind,
        p.namespace.as_deref(),
        &p.name,
        &p.version,
        p.arch.as_deref(),
        &p.found_in,
    )
}

/// One layer of a scanned image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// 0-based position.
    pub index: usize,
    /// diffID (digest of the uncompressed tar).
    pub diff_id: Digest,
    /// Blob digest in the manifest, when the source has a manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Blob media type, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Blob size in bytes, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The image history's `created_by` for this layer, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// What was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A rootfs directory.
    Directory,
    /// A single layer tarball.
    Layer,
    /// An image (OCI layout, archive or registry).
    Image,
}

/// Facts about the scanned image or directory that writers put in the document's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// What kind of source this was.
    pub kind: SourceKind,
    /// Human name: the reference (`registry.example/app:1.0`), tag, or directory base name.
    pub name: String,
    /// Tag or version part of the name, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Manifest digest (images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<Digest>,
    /// Config digest, the image ID (images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<Digest>,
    /// Repository without tag or digest (images from a registry or with a known name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// `os` from the image config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// `architecture` from the image config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// `variant` from the image config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Layers in order (images and layer tarballs).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub layers: Vec<LayerInfo>,
}

impl Subject {
    /// A subject of `kind` named `name`, with every optional fact unknown and no layers.
    pub fn new(kind: SourceKind, name: impl Into<String>) -> Self {
        Subject {
            kind,
            name: name.into(),
            version: None,
            manifest_digest: None,
            config_digest: None,
            repository: None,
            os: None,
            architecture: None,
            variant: None,
            layers: Vec::new(),
        }
    }
}

/// The complete result of a scan: what was scanned, what was found, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// What was scanned.
    pub subject: Subject,
    /// What was found.
    pub inventory: Inventory,
    /// Document time in seconds since the Unix epoch: `SOURCE_DATE_EPOCH`, else the image config's
    /// `created`, else 0. Never the wall clock, so output is reproducible.
    pub created: i64,
    /// Name and version of the tool that produced the report.
    pub tool: Tool,
}

/// The producing tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// e.g. `stella`.
    pub name: String,
    /// e.g. `0.1.0`.
    pub version: String,
}
