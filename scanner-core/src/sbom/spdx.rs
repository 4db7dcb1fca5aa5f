//! SPDX 2.3 JSON.
//!
//! By default packages only: the subject (purpose `CONTAINER` for images, `ARCHIVE` for a layer tarball, `OTHER`
//! for a directory), an `OPERATING-SYSTEM` package for the distro, and one package per inventory
//! package with `filesAnalyzed: false` (files are not listed, which keeps documents for large images
//! under BuildKit's 40 MiB limit). Relationships: the document `DESCRIBES` the subject, the subject
//! `CONTAINS` the OS and every package, packages `DEPENDS_ON` what
//! [`graph::resolve`](super::graph::resolve) finds.
//!
//! With [`SpdxOptions::files`] (the BuildKit generator's `mode=full`), every file a package owns whose
//! digests the caller computed is listed too: a `files` entry with SHA-1 and SHA-256, a `CONTAINS`
//! relationship from each owning package, and on that package `filesAnalyzed: true` with its
//! `packageVerificationCode` (SPDX 2.3 §7.9: the SHA-1 of its files' sorted SHA-1s, concatenated).
//!
//! Identifiers are derived from content: a package's SPDXID ends in a prefix of the SHA-256 of its
//! canonical JSON, and the `documentNamespace` ends in a UUID derived from the document rendered
//! without it. `licenseDeclared` AND-joins the package's license strings as SPDX expressions; a name
//! SPDX does not know (a word inside an otherwise valid expression, such as `Artistic` in
//! `GPL-1+ or Artistic`, else the whole string) becomes a `LicenseRef-` with a
//! `hasExtractedLicensingInfos` entry.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::cyclonedx::is_web_url;
use super::license::{expression_with_refs, unknown_names};
use super::{content_uuid, known_checksum, pretty, rfc3339, sanitize, Catalog};
use crate::model::{Distro, Package, PackageKind, ScanReport, SourceKind, Subject};
use crate::sbom::purl::image_purl;

const NOASSERTION: &str = "NOASSERTION";

/// The digests of one regular file, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigests {
    /// SHA-1 (SPDX requires it for every file).
    pub sha1: String,
    /// SHA-256.
    pub sha256: String,
}

impl FileDigests {
    /// The digests of `bytes`.
    pub fn of(bytes: &[u8]) -> FileDigests {
        use sha1::Digest as _;
        FileDigests {
            sha1: crate::model::hex(&sha1::Sha1::digest(bytes)),
            sha256: crate::model::hex(&sha2::Sha256::digest(bytes)),
        }
    }
}

/// Every path a package of `inventory` owns, sorted and without repeats: the files whose
/// [`FileDigests`] a caller computes for [`SpdxOptions::files`].
pub fn owned_paths(inventory: &crate::model::Inventory) -> Vec<&str> {
    let mut paths: Vec<&str> = inventory
        .packages
        .iter()
        .flat_map(|p| p.files.iter().map(|f| f.path.as_str()))
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths
}

/// What to add to the default, packages-only document.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpdxOptions<'a> {
    /// Per-file entries: digests by absolute path. Files a package owns that are missing here (not on
    /// disk, not a regular file) are left out.
    pub files: Option<&'a BTreeMap<String, FileDigests>>,
}

/// Renders `report` as an SPDX 2.3 JSON document (pretty, trailing newline, byte-stable).
pub fn to_spdx_json(report: &ScanReport) -> Vec<u8> {
    to_spdx_json_with(report, &SpdxOptions::default())
}

/// [`to_spdx_json`] with options: per-file entries in `mode=full`.
pub fn to_spdx_json_with(report: &ScanReport, options: &SpdxOptions<'_>) -> Vec<u8> {
    let catalog = Catalog::new(report);
    let unnamed = document(report, &catalog, options, None);
    let uuid = content_uuid(&pretty(&unnamed));
    let name = document_name(&report.subject);
    let namespace = format!("https://stella-ops.org/spdxdocs/{}-{uuid}", sanitize(&name));
    pretty(&document(report, &catalog, options, Some(&namespace)))
}

fn document_name(subject: &Subject) -> String {
    if subject.name.is_empty() {
        "unnamed".to_owned()
    } else {
        subject.name.clone()
    }
}

fn document(
    report: &ScanReport,
    catalog: &Catalog<'_>,
    options: &SpdxOptions<'_>,
    namespace: Option<&str>,
) -> Value {
    let created = rfc3339(report.created);
    let tool = format!("Tool: {}-{}", report.tool.name, report.tool.version);
    let subject_id = subject_id(&report.subject);
    let os = report
        .inventory
        .distro
        .as_ref()
        .filter(|d| !d.id.is_empty());

    let license_refs = license_refs(catalog.entries.iter().map(|e| e.package));
    let ids: Vec<String> = catalog
        .entries
        .iter()
        .map(|e| {
            let ty = e.package.kind.map_or("unknown", |k| k.purl_type());
            let short = e.content_hash.get(..16).unwrap_or(&e.content_hash);
            format!("SPDXRef-Package-{ty}-{}-{short}", sanitize(&e.package.name))
        })
        .collect();

    let mut packages = vec![subject_package(&report.subject, &subject_id)];
    let mut relationships: Vec<(String, &str, String)> = Vec::new();
    if let Some(d) = os {
        packages.push(os_package(d));
        relationships.push((subject_id.clone(), "CONTAINS", os_id(d)));
    }
    // Per-file entries (mode=full): file id by path, for every owned file with digests.
    let mut files: BTreeMap<&str, (String, &FileDigests)> = BTreeMap::new();
    for (entry, id) in catalog.entries.iter().zip(&ids) {
        let purl = entry.purl.as_deref();
        let mut owned: Vec<(&str, &FileDigests)> = Vec::new();
        if let Some(digests) = options.files {
            for f in &entry.package.files {
                if let Some(d) = digests.get(&f.path) {
                    owned.push((f.path.as_str(), d));
                }
            }
            owned.sort_unstable_by_key(|(p, _)| *p);
            owned.dedup_by_key(|(p, _)| *p);
        }
        let mut value = package(
            entry.package,
            id,
            purl,
            &license_refs,
            &tool,
            &created,
            report.inventory.usage.is_some(),
        );
        if !owned.is_empty() {
            if let Value::Object(o) = &mut value {
                o.insert("filesAnalyzed".into(), true.into());
                o.insert(
                    "packageVerificationCode".into(),
                    json!({ "packageVerificationCodeValue": verification_code(&owned) }),
                );
            }
            for (path, d) in owned {
                let file_id = files
                    .entry(path)
                    .or_insert_with(|| (file_id(path), d))
                    .0
                    .clone();
                relationships.push((id.clone(), "CONTAINS", file_id));
            }
        }
        packages.push(value);
        relationships.push((subject_id.clone(), "CONTAINS", id.clone()));
        for dep in entry.depends.iter().filter_map(|&i| ids.get(i)) {
            relationships.push((id.clone(), "DEPENDS_ON", dep.clone()));
        }
    }
    relationships.sort();
    relationships.dedup();
    let relationships: Vec<Value> =
        std::iter::once(("SPDXRef-DOCUMENT".to_owned(), "DESCRIBES", subject_id))
            .chain(relationships)
            .map(|(a, ty, b)| {
                json!({
                    "spdxElementId": a,
                    "relationshipType": ty,
                    "relatedSpdxElement": b,
                })
            })
            .collect();

    let mut doc = Map::new();
    doc.insert("spdxVersion".into(), "SPDX-2.3".into());
    doc.insert("dataLicense".into(), "CC0-1.0".into());
    doc.insert("SPDXID".into(), "SPDXRef-DOCUMENT".into());
    doc.insert("name".into(), document_name(&report.subject).into());
    if let Some(ns) = namespace {
        doc.insert("documentNamespace".into(), ns.into());
    }
    doc.insert(
        "creationInfo".into(),
        json!({
            "created": created,
            "creators": [tool, "Organization: Stella Ops"],
            "licenseListVersion": license_list_version(),
            "comment": format!("stella:sbom:view={}", report.inventory.view.as_str()),
        }),
    );
    doc.insert("packages".into(), packages.into());
    if !files.is_empty() {
        let files: Vec<Value> = files
            .into_iter()
            .map(|(path, (id, d))| {
                json!({
                    "fileName": format!(".{path}"),
                    "SPDXID": id,
                    "checksums": [
                        { "algorithm": "SHA1", "checksumValue": d.sha1 },
                        { "algorithm": "SHA256", "checksumValue": d.sha256 },
                    ],
                    "licenseConcluded": NOASSERTION,
                    "copyrightText": NOASSERTION,
                })
            })
            .collect();
        doc.insert("files".into(), files.into());
    }
    doc.insert("relationships".into(), relationships.into());
    if !license_refs.is_empty() {
        let infos: Vec<Value> = license_refs
            .iter()
            .map(|(name, id)| {
                json!({
                    "licenseId": id,
                    "extractedText": format!("The license info found in the package meta data is: {name}"),
                    "name": name,
                })
            })
            .collect();
        doc.insert("hasExtractedLicensingInfos".into(), infos.into());
    }
    Value::Object(doc)
}

/// `SPDXRef-File-<name>-<16 hex of the path's SHA-256>`: stable, and unique per path.
fn file_id(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let hash = crate::model::Digest::sha256_of(path.as_bytes());
    format!(
        "SPDXRef-File-{}-{}",
        sanitize(name),
        hash.hex().get(..16).unwrap_or_default()
    )
}

/// SPDX 2.3 §7.9: the SHA-1 of the package's files' SHA-1 hex values, sorted and concatenated.
fn verification_code(files: &[(&str, &FileDigests)]) -> String {
    use sha1::Digest as _;
    let mut sums: Vec<&str> = files.iter().map(|(_, d)| d.sha1.as_str()).collect();
    sums.sort_unstable();
    let mut hasher = sha1::Sha1::new();
    for s in sums {
        hasher.update(s.as_bytes());
    }
    crate::model::hex(&hasher.finalize())
}

/// The SPDX license list our ids come from, as SPDX 2.3 spells it: `MAJOR.MINOR` (`3.29`).
fn license_list_version() -> String {
    let mut parts = spdx::identifiers::VERSION.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => spdx::identifiers::VERSION.to_owned(),
    }
}

/// `LicenseRef-` ids for every license name that SPDX does not know (see
/// [`unknown_names`]), keyed by the name. Ids are the sanitised name (a stated `LicenseRef-` keeps
/// its own); when two names give the same id, the later (in sort order) gets a hash suffix.
fn license_refs<'a>(packages: impl Iterator<Item = &'a Package>) -> BTreeMap<String, String> {
    let names: BTreeSet<String> = packages
        .flat_map(|p| p.licenses.iter())
        .flat_map(|s| unknown_names(s))
        .collect();
    let mut taken = BTreeSet::new();
    let mut out = BTreeMap::new();
    for name in names {
        // A stated `LicenseRef-…` keeps its id; anything else is sanitised into one.
        let mut id = if name.starts_with("LicenseRef-") && sanitize(&name) == name {
            name.clone()
        } else {
            format!("LicenseRef-{}", sanitize(&name))
        };
        if taken.contains(&id) {
            let hash = crate::model::Digest::sha256_of(name.as_bytes());
            id = format!("{id}-{}", hash.hex().get(..8).unwrap_or_default());
        }
        taken.insert(id.clone());
        out.insert(name, id);
    }
    out
}

/// `licenseDeclared`: the package's licenses, each as its SPDX expression with `LicenseRef-`s for
/// unknown names, AND-joined; `NOASSERTION` when none are stated.
fn declared_license(p: &Package, refs: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for raw in &p.licenses {
        let Some(part) = expression_with_refs(raw, |name| refs.get(name).cloned()) else {
            continue;
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    match parts.as_slice() {
        [] => NOASSERTION.to_owned(),
        [one] => one.clone(),
        many => many
            .iter()
            .map(|e| {
                if e.contains(' ') {
                    format!("({e})")
                } else {
                    e.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" AND "),
    }
}

fn subject_id(subject: &Subject) -> String {
    let kind = match subject.kind {
        SourceKind::Image => "Image",
        SourceKind::Layer => "Layer",
        SourceKind::Directory => "Directory",
    };
    format!("SPDXRef-{kind}-{}", sanitize(&subject.name))
}

fn os_id(distro: &Distro) -> String {
    match &distro.version {
        Some(v) => format!(
            "SPDXRef-OperatingSystem-{}-{}",
            sanitize(&distro.id),
            sanitize(v)
        ),
        None => format!("SPDXRef-OperatingSystem-{}", sanitize(&distro.id)),
    }
}

fn purl_ref(purl: &str) -> Value {
    json!([{
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }])
}

fn subject_package(subject: &Subject, id: &str) -> Value {
    let mut p = Map::new();
    p.insert("name".into(), document_name(subject).into());
    p.insert("SPDXID".into(), id.into());
    let version = subject
        .version
        .clone()
        .or_else(|| subject.manifest_digest.as_ref().map(|d| d.0.clone()));
    if let Some(v) = version {
        p.insert("versionInfo".into(), v.into());
    }
    p.insert("downloadLocation".into(), NOASSERTION.into());
    p.insert("filesAnalyzed".into(), false.into());
    if let Some(d) = &subject.manifest_digest {
        if d.0.starts_with("sha256:") {
            let checksum = crate::model::Checksum {
                algorithm: "SHA-256".into(),
                value: d.hex().into(),
            };
            if let Some((_, Some(alg), value)) = known_checksum(&checksum) {
                p.insert(
                    "checksums".into(),
                    json!([{ "algorithm": alg, "checksumValue": value }]),
                );
            }
        }
    }
    p.insert("licenseConcluded".into(), NOASSERTION.into());
    p.insert("licenseDeclared".into(), NOASSERTION.into());
    p.insert("copyrightText".into(), NOASSERTION.into());
    if let Some(purl) = image_purl(subject) {
        p.insert("externalRefs".into(), purl_ref(&purl.to_string()));
    }
    let purpose = match subject.kind {
        SourceKind::Image => "CONTAINER",
        SourceKind::Layer => "ARCHIVE",
        SourceKind::Directory => "OTHER",
    };
    p.insert("primaryPackagePurpose".into(), purpose.into());
    Value::Object(p)
}

fn os_package(distro: &Distro) -> Value {
    let mut p = Map::new();
    p.insert("name".into(), distro.id.clone().into());
    p.insert("SPDXID".into(), os_id(distro).into());
    if let Some(v) = &distro.version {
        p.insert("versionInfo".into(), v.clone().into());
    }
    p.insert("downloadLocation".into(), NOASSERTION.into());
    p.insert("filesAnalyzed".into(), false.into());
    if let Some(url) = distro.home_url.as_deref().filter(|u| is_web_url(u)) {
        p.insert("homepage".into(), url.into());
    }
    p.insert("licenseConcluded".into(), NOASSERTION.into());
    p.insert("licenseDeclared".into(), NOASSERTION.into());
    p.insert("copyrightText".into(), NOASSERTION.into());
    if let Some(pretty) = &distro.pretty_name {
        p.insert("description".into(), pretty.clone().into());
    }
    p.insert("primaryPackagePurpose".into(), "OPERATING-SYSTEM".into());
    Value::Object(p)
}

/// `Person: Name (email)` / `Organization: …` from a `Name <email>` maintainer; a vendor is always
/// an organisation, and so is a maintainer that names a team or list. `NOASSERTION` when neither
/// gives a name.
fn supplier(p: &Package) -> String {
    if let Some(vendor) = p.vendor.as_deref().and_then(actor) {
        return format!("Organization: {vendor}");
    }
    let Some(m) = p.maintainer.as_deref() else {
        return NOASSERTION.to_owned();
    };
    let Some(name) = actor(m) else {
        return NOASSERTION.to_owned();
    };
    let lower = m.to_ascii_lowercase();
    let is_org = [
        "team",
        "maintainers",
        "project",
        "developers",
        "lists.",
        "group",
    ]
    .iter()
    .any(|w| lower.contains(w));
    format!("{}: {name}", if is_org { "Organization" } else { "Person" })
}

/// `Name <email>` → `Name (email)`, the SPDX actor spelling, with control characters flattened;
/// just the email when there is no name; `None` when there is neither.
fn actor(s: &str) -> Option<String> {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let (name, email) = match flat.rsplit_once('<') {
        Some((name, rest)) => match rest.split_once('>') {
            Some((email, _)) => (name.trim(), email.trim()),
            None => (flat.trim(), ""),
        },
        None => (flat.trim(), ""),
    };
    match (name.is_empty(), email.is_empty()) {
        (false, false) => Some(format!("{name} ({email})")),
        (false, true) => Some(name.to_owned()),
        (true, false) => Some(email.to_owned()),
        (true, true) => None,
    }
}

fn package(
    p: &Package,
    id: &str,
    purl: Option<&str>,
    refs: &BTreeMap<String, String>,
    tool: &str,
    created: &str,
    traced: bool,
) -> Value {
    let mut o = Map::new();
    let name = match (&p.namespace, p.kind) {
        (Some(ns), Some(PackageKind::Npm)) => format!("{ns}/{}", p.name),
        _ => p.name.clone(),
    };
    o.insert("name".into(), name.into());
    o.insert("SPDXID".into(), id.into());
    if !p.version.is_empty() {
        o.insert("versionInfo".into(), p.version.clone().into());
    }
    o.insert("supplier".into(), supplier(p).into());
    o.insert("downloadLocation".into(), NOASSERTION.into());
    o.insert("filesAnalyzed".into(), false.into());
    let mut checksums: Vec<(&str, String)> = p
        .checksums
        .iter()
        .filter_map(known_checksum)
        .filter_map(|(_, alg, v)| alg.map(|a| (a, v)))
        .collect();
    checksums.sort();
    checksums.dedup();
    if !checksums.is_empty() {
        let checksums: Vec<Value> = checksums
            .into_iter()
            .map(|(a, v)| json!({ "algorithm": a, "checksumValue": v }))
            .collect();
        o.insert("checksums".into(), checksums.into());
    }
    if let Some(url) = p.homepage.as_deref().filter(|u| is_web_url(u)) {
        o.insert("homepage".into(), url.into());
    }
    let source_info = match (&p.layer, p.found_in.is_empty()) {
        (Some(l), false) => Some(format!(
            "acquired package info from layer {}: {}",
            l.diff_id, p.found_in
        )),
        (Some(l), true) => Some(format!("acquired package info from layer {}", l.diff_id)),
        (None, false) => Some(format!("acquired package info from {}", p.found_in)),
        (None, true) => None,
    };
    if let Some(s) = source_info {
        o.insert("sourceInfo".into(), s.into());
    }
    o.insert("licenseConcluded".into(), NOASSERTION.into());
    o.insert("licenseDeclared".into(), declared_license(p, refs).into());
    o.insert("copyrightText".into(), NOASSERTION.into());
    if let Some(purl) = purl {
        o.insert("externalRefs".into(), purl_ref(purl));
    }
    let purpose = match p.kind {
        Some(PackageKind::Binary) => "FILE",
        _ => "LIBRARY",
    };
    o.insert("primaryPackagePurpose".into(), purpose.into());
    let mut notes: Vec<String> = Vec::new();
    if let Some(l) = &p.layer {
        notes.push(format!("stella:layer:diffID={}", l.diff_id));
    }
    if let Some(owner) = &p.owner {
        notes.push(format!("stella:package:owner={owner}"));
    }
    if traced {
        notes.push(format!("stella:usedByEntrypoint={}", p.used_by_entrypoint));
    }
    if !notes.is_empty() {
        let notes: Vec<Value> = notes
            .into_iter()
            .map(|comment| {
                json!({
                    "annotator": tool,
                    "annotationDate": created,
                    "annotationType": "OTHER",
                    "comment": comment,
                })
            })
            .collect();
        o.insert("annotations".into(), notes.into());
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_table() {
        let a = |s: &str| actor(s);
        assert_eq!(
            a("Jane Doe <jane@example.org>").as_deref(),
            Some("Jane Doe (jane@example.org)")
        );
        assert_eq!(a("Natanael Copa").as_deref(), Some("Natanael Copa"));
        assert_eq!(a("Odd <unterminated").as_deref(), Some("Odd <unterminated"));
        assert_eq!(a("<only@mail>").as_deref(), Some("only@mail"));
        assert_eq!(a(" <> "), None);
        assert_eq!(a("\n"), None);
    }

    #[test]
    fn supplier_table() {
        let mut p = Package::default();
        assert_eq!(supplier(&p), "NOASSERTION");
        p.maintainer = Some("GNU Libc Maintainers <debian-glibc@lists.debian.org>".into());
        assert_eq!(
            supplier(&p),
            "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
        );
        p.maintainer = Some("Jane Doe <jane@example.org>".into());
        assert_eq!(supplier(&p), "Person: Jane Doe (jane@example.org)");
        p.vendor = Some("Red Hat, Inc.".into());
        assert_eq!(supplier(&p), "Organization: Red Hat, Inc.");
    }

    #[test]
    fn declared_license_table() {
        let p = Package {
            licenses: vec![
                "GPL-2+".into(),
                "GPL-2.0-or-later".into(),
                "MIT OR Apache-2.0".into(),
                "public domain".into(),
                "GPL-1+ or Artistic".into(),
            ],
            ..Package::default()
        };
        let refs = license_refs(std::iter::once(&p));
        assert_eq!(
            declared_license(&p, &refs),
            "GPL-2.0-or-later AND (MIT OR Apache-2.0) AND LicenseRef-public-domain AND \
             (GPL-1.0-or-later OR LicenseRef-Artistic)"
        );
        assert_eq!(declared_license(&Package::default(), &refs), "NOASSERTION");
    }

    #[test]
    fn license_ref_collisions_get_a_suffix() {
        let p = Package {
            licenses: vec!["public domain".into(), "public-domain".into()],
            ..Package::default()
        };
        let refs = license_refs(std::iter::once(&p));
        assert_eq!(refs.len(), 2);
        let ids: BTreeSet<&String> = refs.values().collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(
            refs.get("public domain").map(String::as_str),
            Some("LicenseRef-public-domain")
        );
    }
}
