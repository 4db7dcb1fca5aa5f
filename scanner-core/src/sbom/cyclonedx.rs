//! CycloneDX 1.6 JSON.
//!
//! Layout: `metadata.component` is the scanned subject (type `container` for images, `file` for a
//! layer tarball or a rootfs directory); `components` holds one `operating-system` component for the
//! distro, then one `library` component per package in canonical order; `dependencies` has one entry
//! per component: the subject depends on the OS and every package, each package on the packages
//! [`graph::resolve`](super::graph::resolve) finds. Owned files are not listed, only counted
//! (`stella:package:fileCount`).
//!
//! The `serialNumber` is a UUID derived from the SHA-256 of the document rendered without it, so a
//! new scan of the same image gives the same serial and a changed inventory a different one.
//!
//! Field choices: the package maintainer (a person or team who publishes the package for a
//! distribution) goes to `publisher`; an rpm Vendor (an organisation) to `supplier.name`. A license
//! that is one SPDX id becomes `license.id`, a compound expression `expression`, anything else
//! `license.name`; all are marked `acknowledgement: declared`.

use serde_json::{json, Map, Value};

use super::license::{classify, License};
use super::{bom_refs, content_uuid, known_checksum, pretty, rfc3339, Catalog};
use crate::model::{Distro, Package, PackageKind, ScanReport, SourceKind, Subject};
use crate::sbom::purl::image_purl;

const SCHEMA: &str = "http://cyclonedx.org/schema/bom-1.6.schema.json";

/// Renders `report` as a CycloneDX 1.6 JSON document (pretty, trailing newline, byte-stable).
pub fn to_cyclonedx_json(report: &ScanReport) -> Vec<u8> {
    let catalog = Catalog::new(report);
    let unsigned = document(report, &catalog, None);
    let serial = format!("urn:uuid:{}", content_uuid(&pretty(&unsigned)));
    pretty(&document(report, &catalog, Some(&serial)))
}

fn document(report: &ScanReport, catalog: &Catalog<'_>, serial: Option<&str>) -> Value {
    let refs = bom_refs(catalog);
    let subject_ref = subject_ref(&report.subject);
    let os = report
        .inventory
        .distro
        .as_ref()
        .filter(|d| !d.id.is_empty());
    let os_ref = os.map(os_ref);

    let mut components: Vec<Value> = Vec::new();
    if let Some(d) = os {
        components.push(os_component(d));
    }
    let traced = report.inventory.usage.is_some();
    for (entry, bom_ref) in catalog.entries.iter().zip(&refs) {
        components.push(package_component(
            entry.package,
            entry.purl.as_deref(),
            bom_ref,
            traced,
        ));
    }

    let mut dependencies: Vec<(String, Vec<String>)> = Vec::new();
    let mut subject_deps: Vec<String> =
        os_ref.iter().cloned().chain(refs.iter().cloned()).collect();
    subject_deps.sort();
    subject_deps.dedup();
    dependencies.push((subject_ref.clone(), subject_deps));
    if let Some(r) = &os_ref {
        dependencies.push((r.clone(), Vec::new()));
    }
    for (entry, bom_ref) in catalog.entries.iter().zip(&refs) {
        let mut deps: Vec<String> = entry
            .depends
            .iter()
            .filter_map(|&i| refs.get(i).cloned())
            .collect();
        deps.sort();
        deps.dedup();
        dependencies.push((bom_ref.clone(), deps));
    }
    dependencies.sort();
    let dependencies: Vec<Value> = dependencies
        .into_iter()
        .map(|(r, deps)| json!({ "ref": r, "dependsOn": deps }))
        .collect();

    let mut doc = Map::new();
    doc.insert("$schema".into(), SCHEMA.into());
    doc.insert("bomFormat".into(), "CycloneDX".into());
    doc.insert("specVersion".into(), "1.6".into());
    if let Some(serial) = serial {
        doc.insert("serialNumber".into(), serial.into());
    }
    doc.insert("version".into(), 1.into());
    doc.insert(
        "metadata".into(),
        json!({
            "timestamp": rfc3339(report.created),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": report.tool.name,
                    "version": report.tool.version,
                }]
            },
            "component": subject_component(&report.subject, &subject_ref),
            "properties": [
                property("stella:scan:sourceKind", source_kind(report.subject.kind)),
                property("stella:sbom:view", report.inventory.view.as_str()),
            ],
        }),
    );
    doc.insert("components".into(), components.into());
    doc.insert("dependencies".into(), dependencies.into());
    Value::Object(doc)
}

fn source_kind(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Directory => "directory",
        SourceKind::Layer => "layer",
        SourceKind::Image => "image",
    }
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}

fn subject_ref(subject: &Subject) -> String {
    match image_purl(subject) {
        Some(purl) => purl.to_string(),
        None => format!("subject:{}", subject.name),
    }
}

fn os_ref(distro: &Distro) -> String {
    match &distro.version {
        Some(v) => format!("os:{}@{v}", distro.id),
        None => format!("os:{}", distro.id),
    }
}

fn subject_component(subject: &Subject, bom_ref: &str) -> Value {
    let mut c = Map::new();
    let ty = match subject.kind {
        SourceKind::Image => "container",
        SourceKind::Layer | SourceKind::Directory => "file",
    };
    c.insert("type".into(), ty.into());
    c.insert("bom-ref".into(), bom_ref.into());
    let name = match (subject.kind, &subject.repository) {
        (SourceKind::Image, Some(repo)) => repo.clone(),
        _ => subject.name.clone(),
    };
    c.insert("name".into(), name.into());
    let version = subject
        .version
        .clone()
        .or_else(|| subject.manifest_digest.as_ref().map(|d| d.0.clone()));
    if let Some(v) = version {
        c.insert("version".into(), v.into());
    }
    if let (SourceKind::Layer, [layer]) = (subject.kind, subject.layers.as_slice()) {
        // A layer tarball's diffID is the SHA-256 of exactly this file.
        let checksum = crate::model::Checksum {
            algorithm: "SHA-256".into(),
            value: layer.diff_id.hex().into(),
        };
        if layer.diff_id.0.starts_with("sha256:") {
            if let Some((alg, _, value)) = known_checksum(&checksum) {
                c.insert("hashes".into(), json!([{ "alg": alg, "content": value }]));
            }
        }
    }
    if let Some(purl) = image_purl(subject) {
        c.insert("purl".into(), purl.to_string().into());
    }
    let mut props = Vec::new();
    let fields = [
        ("stella:image:os", subject.os.as_deref()),
        ("stella:image:architecture", subject.architecture.as_deref()),
        ("stella:image:variant", subject.variant.as_deref()),
        (
            "stella:image:manifestDigest",
            subject.manifest_digest.as_ref().map(|d| d.0.as_str()),
        ),
        (
            "stella:image:configDigest",
            subject.config_digest.as_ref().map(|d| d.0.as_str()),
        ),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            props.push(property(name, v));
        }
    }
    let mut layers: Vec<_> = subject.layers.iter().collect();
    layers.sort_by(|a, b| (a.index, &a.diff_id).cmp(&(b.index, &b.diff_id)));
    for layer in layers {
        props.push(property(
            &format!("stella:layer:{}", layer.index),
            &layer.diff_id.0,
        ));
    }
    if !props.is_empty() {
        c.insert("properties".into(), props.into());
    }
    Value::Object(c)
}

fn os_component(distro: &Distro) -> Value {
    let mut c = Map::new();
    c.insert("type".into(), "operating-system".into());
    c.insert("bom-ref".into(), os_ref(distro).into());
    c.insert("name".into(), distro.id.clone().into());
    if let Some(v) = &distro.version {
        c.insert("version".into(), v.clone().into());
    }
    if let Some(p) = &distro.pretty_name {
        c.insert("description".into(), p.clone().into());
    }
    if let Some(url) = distro.home_url.as_deref().filter(|u| is_web_url(u)) {
        c.insert(
            "externalReferences".into(),
            json!([{ "type": "website", "url": url }]),
        );
    }
    let mut props = Vec::new();
    for (name, value) in [
        ("stella:distro:versionID", distro.version_id.as_deref()),
        ("stella:distro:codename", distro.codename.as_deref()),
    ] {
        if let Some(v) = value {
            props.push(property(name, v));
        }
    }
    for like in &distro.id_like {
        props.push(property("stella:distro:idLike", like));
    }
    if !props.is_empty() {
        c.insert("properties".into(), props.into());
    }
    Value::Object(c)
}

/// An absolute http(s) URL without whitespace: what both formats' URL checks accept.
pub(super) fn is_web_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        host.contains('.') && !url.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

fn package_component(p: &Package, purl: Option<&str>, bom_ref: &str, traced: bool) -> Value {
    let mut c = Map::new();
    let ty = match p.kind {
        Some(PackageKind::Binary) => "file",
        _ => "library",
    };
    c.insert("type".into(), ty.into());
    c.insert("bom-ref".into(), bom_ref.into());
    if let Some(vendor) = p.vendor.as_deref().filter(|v| !v.is_empty()) {
        c.insert("supplier".into(), json!({ "name": vendor }));
    }
    if let Some(m) = p.maintainer.as_deref().filter(|m| !m.is_empty()) {
        c.insert("publisher".into(), m.into());
    }
    if let Some(ns) = p.namespace.as_deref().filter(|n| !n.is_empty()) {
        c.insert("group".into(), ns.into());
    }
    c.insert("name".into(), p.name.clone().into());
    if !p.version.is_empty() {
        c.insert("version".into(), p.version.clone().into());
    }
    let mut hashes: Vec<(&str, String)> = p
        .checksums
        .iter()
        .filter_map(known_checksum)
        .map(|(alg, _, v)| (alg, v))
        .collect();
    hashes.sort();
    hashes.dedup();
    if !hashes.is_empty() {
        let hashes: Vec<Value> = hashes
            .into_iter()
            .map(|(alg, content)| json!({ "alg": alg, "content": content }))
            .collect();
        c.insert("hashes".into(), hashes.into());
    }
    if let Some(licenses) = licenses(&p.licenses) {
        c.insert("licenses".into(), licenses);
    }
    if let Some(purl) = purl {
        c.insert("purl".into(), purl.into());
    }
    if let Some(url) = p.homepage.as_deref().filter(|u| is_web_url(u)) {
        c.insert(
            "externalReferences".into(),
            json!([{ "type": "website", "url": url }]),
        );
    }
    c.insert("properties".into(), package_properties(p, traced).into());
    Value::Object(c)
}

fn package_properties(p: &Package, traced: bool) -> Vec<Value> {
    let mut props = Vec::new();
    if let Some(kind) = p.kind {
        props.push(property("stella:package:type", kind.purl_type()));
    }
    if let Some(src) = &p.source {
        let value = match &src.version {
            Some(v) => format!("{}@{v}", src.name),
            None => src.name.clone(),
        };
        props.push(property("stella:package:source", &value));
    }
    if !p.found_in.is_empty() {
        props.push(property("stella:package:foundIn", &p.found_in));
    }
    props.push(property(
        "stella:package:fileCount",
        &p.files.len().to_string(),
    ));
    if let Some(size) = p.installed_size {
        props.push(property("stella:package:installedSize", &size.to_string()));
    }
    if let Some(layer) = &p.layer {
        props.push(property("stella:layer:diffID", &layer.diff_id.0));
        if let Some(d) = &layer.digest {
            props.push(property("stella:layer:digest", &d.0));
        }
        props.push(property("stella:layer:index", &layer.index.to_string()));
    }
    if let Some(owner) = &p.owner {
        props.push(property("stella:package:owner", owner));
    }
    for (k, v) in &p.properties {
        props.push(property(k, v));
    }
    if traced {
        props.push(property(
            "stella:usedByEntrypoint",
            if p.used_by_entrypoint {
                "true"
            } else {
                "false"
            },
        ));
    }
    props
}

/// The CycloneDX `licenses` array. The schema allows either a list of `license` objects or exactly
/// one `expression`, never both: a single compound expression (or several, all valid) becomes one
/// AND-joined expression; a mix of expressions and plain names becomes `license` objects, with the
/// stated text as the name of each expression.
fn licenses(stated: &[String]) -> Option<Value> {
    let mut classified: Vec<(License, &str)> = Vec::new();
    for raw in stated.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let class = classify(raw);
        if !classified.iter().any(|(c, _)| *c == class) {
            classified.push((class, raw));
        }
    }
    if classified.is_empty() {
        return None;
    }
    let any_expression = classified
        .iter()
        .any(|(c, _)| matches!(c, License::Expression(_)));
    let all_spdx = classified.iter().all(|(c, _)| c.expression().is_some());
    if any_expression && all_spdx {
        let parts: Vec<String> = classified
            .iter()
            .filter_map(|(c, _)| c.expression())
            .map(|e| {
                if e.contains(' ') && classified.len() > 1 {
                    format!("({e})")
                } else {
                    e.to_owned()
                }
            })
            .collect();
        return Some(json!([{
            "expression": parts.join(" AND "),
            "acknowledgement": "declared",
        }]));
    }
    let objects: Vec<Value> = classified
        .iter()
        .map(|(c, raw)| match c {
            License::Id(id) => json!({ "license": { "id": id, "acknowledgement": "declared" } }),
            License::Expression(_) | License::Name(_) => {
                json!({ "license": { "name": raw, "acknowledgement": "declared" } })
            }
        })
        .collect();
    Some(objects.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn license_choice_table() {
        assert_eq!(licenses(&[]), None);
        assert_eq!(
            licenses(&strings(&["GPL-2+", "GPL-2.0-or-later", "public-domain"])),
            Some(json!([
                { "license": { "id": "GPL-2.0-or-later", "acknowledgement": "declared" } },
                { "license": { "name": "public-domain", "acknowledgement": "declared" } },
            ]))
        );
        assert_eq!(
            licenses(&strings(&["MIT OR Apache-2.0"])),
            Some(json!([{ "expression": "MIT OR Apache-2.0", "acknowledgement": "declared" }]))
        );
        assert_eq!(
            licenses(&strings(&["MIT OR Apache-2.0", "Zlib"])),
            Some(json!([{
                "expression": "(MIT OR Apache-2.0) AND Zlib",
                "acknowledgement": "declared",
            }]))
        );
        assert_eq!(
            licenses(&strings(&["GPL-2+ or Artistic-2.0", "Artistic"])),
            Some(json!([
                { "license": { "name": "GPL-2+ or Artistic-2.0", "acknowledgement": "declared" } },
                { "license": { "name": "Artistic", "acknowledgement": "declared" } },
            ]))
        );
    }

    #[test]
    fn web_url_table() {
        assert!(is_web_url("https://www.debian.org/"));
        assert!(is_web_url("http://example.com"));
        assert!(!is_web_url("ftp://example.com"));
        assert!(!is_web_url("https://localhost/"));
        assert!(!is_web_url("https://exa mple.com"));
        assert!(!is_web_url("www.example.com"));
    }
}
