//! `stella diff OLD NEW`: what changed between two images, image → layer → package.
//!
//! Both sides are scanned as `stella scan` would scan them (or read from an SBOM `stella scan`
//! wrote), then compared by a pure function, [`diff`]: layers are matched by diffID, packages by
//! identity (kind, namespace, name, and for language packages the file they were read from — the
//! scanner's own identity rule), and every package change is attributed to the layer that caused it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use scanner_core::model::{
    Digest, Distro, LayerInfo, LayerRef, Package, PackageKind, ScanReport, SourceKind, Subject,
};
use scanner_core::sbom::purl::package_purl;
use serde::Serialize;
use serde_json::Value;

use crate::exit;
use crate::scan::{Failure, ScanArgs};

pub const AFTER_HELP: &str = "\
OLD and NEW are anything `stella scan` accepts (oci:DIR[:TAG], docker-archive:FILE, oci-archive:FILE,
a registry reference, a directory), or an SBOM file `stella scan` wrote (--format json or
cyclonedx-json; its layer attribution is used as written).

What is compared:
  image     manifest and config digests, distro
  layers    matched by diffID: shared (same position), moved, added, removed
  packages  matched by kind, namespace, name (and, for language packages, the file they were read
            from): added, removed, version-changed, each attributed to a layer: for added and
            changed packages the NEW layer that introduced the current version; for removed ones
            the NEW layer that removed it when only one can have, else the OLD layer that had
            introduced it, marked (removed)

The JSON (--format json) is sorted: layers by NEW position then removed ones by OLD position,
packages by type, namespace, name, path. Its shape is documented in README.md (`stella diff`).

Examples:
  stella diff oci:./image:1.0 oci:./image:1.1
  stella diff --insecure 127.0.0.1:5000/team/app:1.2 127.0.0.1:5000/team/app:1.3 --format json
  stella diff old.cdx.json docker-archive:new.tar --output changes.txt

Exit codes: 0 success (with or without differences: read the summary or the JSON to gate on
changes), 1 unexpected failure, 2 invalid arguments, 3 OLD or NEW unreadable (the message names
which), 4 registry error, 5 output not written.";

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Readable, grouped by layer, with a summary line.
    Table,
    /// The stable JSON shape (`stella-diff/v1`).
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The image before (a source `stella scan` accepts, or an SBOM file it wrote).
    pub old: String,
    /// The image after.
    pub new: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    pub format: DiffFormat,
    /// Write the output to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Platform to select from multi-platform images, e.g. linux/arm64/v8.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Allow plain HTTP to a registry on a loopback address.
    #[arg(long)]
    pub insecure: bool,
    /// Do not print warnings about unreadable files inside the images.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: DiffArgs) -> u8 {
    let result = load("OLD", &args.old, &args).and_then(|old| {
        let new = load("NEW", &args.new, &args)?;
        let d = diff(&old, &new);
        let bytes = match args.format {
            DiffFormat::Table => to_table(&d).into_bytes(),
            DiffFormat::Json => to_json(&d)?,
        };
        crate::scan::write_output(args.output.as_deref(), &bytes)
    });
    match result {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("stella: error: {}", f.message);
            f.code
        }
    }
}

/// One side of a diff: what was scanned and the packages found, in the diff's own terms.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    /// The argument as given (OLD or NEW).
    pub(crate) source: String,
    pub(crate) subject: Subject,
    pub(crate) distro: Option<Distro>,
    pub(crate) packages: Vec<Pkg>,
}

/// A package as the diff sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pkg {
    pub(crate) kind: Option<PackageKind>,
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    /// Version as displayed: rpm epoch prefixed (`1:2.3-4`) when stated.
    pub(crate) version: String,
    pub(crate) arch: Option<String>,
    pub(crate) found_in: String,
    pub(crate) layer: Option<LayerRef>,
    pub(crate) purl: Option<String>,
}

impl Side {
    /// The side of a scan report (purls computed as the SBOM writers do).
    pub(crate) fn of_report(source: &str, report: &ScanReport) -> Side {
        let distro = report.inventory.distro.as_ref();
        let packages = report
            .inventory
            .packages
            .iter()
            .map(|p| Pkg::of_package(p, distro))
            .collect();
        Side {
            source: source.to_owned(),
            subject: report.subject.clone(),
            distro: report.inventory.distro.clone(),
            packages,
        }
    }
}

impl Pkg {
    fn of_package(p: &Package, distro: Option<&Distro>) -> Pkg {
        Pkg {
            kind: p.kind,
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            version: match p.epoch {
                Some(e) => format!("{e}:{}", p.version),
                None => p.version.clone(),
            },
            arch: p.arch.clone(),
            found_in: p.found_in.clone(),
            layer: p.layer.clone(),
            purl: package_purl(p, distro).map(|u| u.to_string()),
        }
    }

    /// The scanner's identity without the version: kind, namespace, name, and the file a
    /// language package was read from (the same npm package can sit in several `node_modules`).
    fn key(&self) -> (Option<PackageKind>, Option<&str>, &str, &str) {
        let os = self.kind.is_some_and(PackageKind::is_os);
        (
            self.kind,
            self.namespace.as_deref(),
            &self.name,
            if os { "" } else { &self.found_in },
        )
    }
}

/// Reads OLD or NEW: an SBOM file `stella scan` wrote, else a scan of the source.
fn load(which: &str, source: &str, args: &DiffArgs) -> Result<Side, Failure> {
    let named = |f: Failure| Failure::new(f.code, format!("{which} ({source}): {}", f.message));
    if let Some(side) = read_sbom(source).map_err(named)? {
        return Ok(side);
    }
    let scan_args = scan_args(source, args).map_err(named)?;
    let report = crate::scan::report(&scan_args).map_err(named)?;
    Ok(Side::of_report(source, &report))
}

/// The arguments `stella scan SOURCE --format json` would get, with diff's own options. Parsed the
/// way the command line is, so every other scan option keeps its default (the layer cache included).
fn scan_args(source: &str, args: &DiffArgs) -> Result<ScanArgs, Failure> {
    #[derive(Debug, clap::Parser)]
    struct ScanCommand {
        #[command(flatten)]
        args: ScanArgs,
    }
    let mut argv: Vec<&str> = vec!["stella scan", "--format", "json"];
    if let Some(p) = &args.platform {
        argv.extend(["--platform", p]);
    }
    if args.insecure {
        argv.push("--insecure");
    }
    if args.quiet {
        argv.push("--quiet");
    }
    argv.extend(["--", source]);
    <ScanCommand as clap::Parser>::try_parse_from(argv)
        .map(|c| c.args)
        .map_err(|e| Failure::new(exit::USAGE, e.to_string().trim_end()))
}

/// An SBOM file is a regular file whose first non-blank byte is `{`; anything else is a scan source.
fn read_sbom(source: &str) -> Result<Option<Side>, Failure> {
    let path = std::path::Path::new(source);
    if !path.is_file() {
        return Ok(None);
    }
    // An SBOM is hostile input too: refuse one too large to be ours rather than exhaust memory.
    const MAX_SBOM_BYTES: u64 = 1 << 30;
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    if size > MAX_SBOM_BYTES {
        return Err(Failure::new(
            exit::SOURCE,
            format!("{size} bytes: larger than the 1 GiB an SBOM may be"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Failure::new(exit::SOURCE, e))?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Ok(None);
    }
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(exit::SOURCE, format!("not a JSON SBOM: {e}")))?;
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        return Ok(Some(side_of_cyclonedx(source, &doc)));
    }
    let report: ScanReport = serde_json::from_value(doc).map_err(|e| {
        Failure::new(
            exit::SOURCE,
            format!("neither CycloneDX nor a `stella scan --format json` report: {e}"),
        )
    })?;
    Ok(Some(Side::of_report(source, &report)))
}

/// The `value` of the property `name` in a CycloneDX `properties` array.
fn cdx_property<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
    node.get("properties")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))?
        .get("value")?
        .as_str()
}

fn cdx_str(node: &Value, field: &str) -> Option<String> {
    node.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// Rebuilds a side from a CycloneDX SBOM `stella scan` wrote: the image's digests and layers from
/// `metadata.component` (`stella:image:*`, `stella:layer:N`), packages from the components that
/// carry `stella:package:type`, with their layer from `stella:layer:diffID` / `stella:layer:index`.
fn side_of_cyclonedx(source: &str, doc: &Value) -> Side {
    let meta = doc.pointer("/metadata/component").unwrap_or(&Value::Null);
    let mut subject = Subject::new(SourceKind::Image, cdx_str(meta, "name").unwrap_or_default());
    subject.manifest_digest = cdx_property(meta, "stella:image:manifestDigest")
        .map(|d| Digest(d.to_owned()))
        .or_else(|| {
            cdx_str(meta, "version")
                .filter(|v| v.starts_with("sha256:"))
                .map(Digest)
        });
    subject.config_digest =
        cdx_property(meta, "stella:image:configDigest").map(|d| Digest(d.to_owned()));
    subject.os = cdx_property(meta, "stella:image:os").map(str::to_owned);
    subject.architecture = cdx_property(meta, "stella:image:architecture").map(str::to_owned);
    let mut layers: Vec<LayerInfo> = meta
        .get("properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let index = p
                .get("name")?
                .as_str()?
                .strip_prefix("stella:layer:")?
                .parse()
                .ok()?;
            Some(LayerInfo {
                index,
                diff_id: Digest(p.get("value")?.as_str()?.to_owned()),
                digest: None,
                media_type: None,
                size: None,
                created_by: None,
            })
        })
        .collect();
    layers.sort_by_key(|l| l.index);
    subject.layers = layers;

    let components: &[Value] = doc
        .get("components")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let distro = components
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("operating-system"))
        .map(|c| Distro {
            id: cdx_str(c, "name").unwrap_or_default(),
            version: cdx_str(c, "version"),
            ..Distro::default()
        });
    let packages = components
        .iter()
        .filter_map(|c| {
            let ty = cdx_property(c, "stella:package:type")?;
            let kind = kind_of_purl_type(ty);
            let purl = cdx_str(c, "purl");
            let arch = purl.as_deref().and_then(|u| purl_qualifier(u, "arch"));
            let layer = cdx_property(c, "stella:layer:diffID").map(|d| LayerRef {
                index: cdx_property(c, "stella:layer:index")
                    .and_then(|i| i.parse().ok())
                    .unwrap_or_default(),
                diff_id: Digest(d.to_owned()),
                digest: cdx_property(c, "stella:layer:digest").map(|d| Digest(d.to_owned())),
            });
            let version = cdx_str(c, "version").unwrap_or_default();
            // The model keeps an rpm epoch apart; the purl states it.
            let version = match purl.as_deref().and_then(|u| purl_qualifier(u, "epoch")) {
                Some(e) if kind == Some(PackageKind::Rpm) => format!("{e}:{version}"),
                _ => version,
            };
            Some(Pkg {
                kind,
                namespace: cdx_str(c, "group"),
                name: cdx_str(c, "name").unwrap_or_default(),
                version,
                arch,
                found_in: cdx_property(c, "stella:package:foundIn")
                    .unwrap_or_default()
                    .to_owned(),
                layer,
                purl,
            })
        })
        .collect();
    Side {
        source: source.to_owned(),
        subject,
        distro,
        packages,
    }
}

fn kind_of_purl_type(ty: &str) -> Option<PackageKind> {
    Some(match ty {
        "deb" => PackageKind::Deb,
        "apk" => PackageKind::Apk,
        "rpm" => PackageKind::Rpm,
        "maven" => PackageKind::Maven,
        "npm" => PackageKind::Npm,
        "pypi" => PackageKind::Pypi,
        "golang" => PackageKind::Golang,
        "nuget" => PackageKind::Nuget,
        "cargo" => PackageKind::Cargo,
        "generic" => PackageKind::Binary,
        _ => return None,
    })
}

/// A purl qualifier's (still encoded) value.
fn purl_qualifier(purl: &str, name: &str) -> Option<String> {
    let (_, query) = purl.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

// ---- the diff itself -------------------------------------------------------------------------

/// The result of `stella diff`, serialised as the `--format json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Diff {
    /// `stella-diff/v1`.
    pub(crate) schema: &'static str,
    pub(crate) old: ImageSide,
    pub(crate) new: ImageSide,
    pub(crate) image: ImageChanges,
    pub(crate) layers: Vec<LayerChange>,
    pub(crate) packages: Vec<PackageChange>,
    pub(crate) summary: Summary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageSide {
    pub(crate) source: String,
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) manifest_digest: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) config_digest: Option<Digest>,
    /// `id version` (e.g. `debian 12.8`), when an os-release was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) distro: Option<String>,
    pub(crate) layer_count: usize,
    pub(crate) package_count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageChanges {
    pub(crate) manifest_digest_changed: bool,
    pub(crate) config_digest_changed: bool,
    pub(crate) distro_changed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LayerStatus {
    /// In both images at the same position.
    Shared,
    /// In both images at different positions.
    Moved,
    /// Only in NEW.
    Added,
    /// Only in OLD.
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LayerChange {
    #[serde(rename = "diffID")]
    pub(crate) diff_id: Digest,
    pub(crate) status: LayerStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) old_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) new_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) created_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Change {
    Added,
    Removed,
    Changed,
}

/// Which image a layer attribution points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Which {
    Old,
    New,
}

/// The layer a package change is attributed to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attribution {
    /// `new`: the NEW layer that introduced the current version (added, changed) or removed the
    /// package (removed). `old`: the OLD layer that had introduced a removed package, when the NEW
    /// layer that removed it cannot be told.
    pub(crate) image: Which,
    pub(crate) index: usize,
    #[serde(rename = "diffID")]
    pub(crate) diff_id: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PackageChange {
    pub(crate) change: Change,
    /// purl type: `deb`, `npm`, …
    #[serde(rename = "type")]
    pub(crate) ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) arch: Option<String>,
    /// The database record or manifest file the package was read from (NEW's, else OLD's).
    pub(crate) found_in: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) old_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) new_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) old_purl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) new_purl: Option<String>,
    /// `None` when the source has no layers (a directory).
    pub(crate) layer: Option<Attribution>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    pub(crate) added: usize,
    pub(crate) removed: usize,
    pub(crate) changed: usize,
    pub(crate) layers_shared: usize,
    pub(crate) layers_moved: usize,
    pub(crate) layers_added: usize,
    pub(crate) layers_removed: usize,
}

fn image_side(side: &Side) -> ImageSide {
    ImageSide {
        source: side.source.clone(),
        name: side.subject.name.clone(),
        manifest_digest: side.subject.manifest_digest.clone(),
        config_digest: side.subject.config_digest.clone(),
        distro: side.distro.as_ref().map(distro_text),
        layer_count: side.subject.layers.len(),
        package_count: side.packages.len(),
    }
}

fn distro_text(d: &Distro) -> String {
    match d.version.as_deref().or(d.version_id.as_deref()) {
        Some(v) => format!("{} {v}", d.id),
        None => d.id.clone(),
    }
}

/// Pairs layers by diffID: the k-th occurrence of a diffID in OLD with its k-th occurrence in NEW.
/// Returns the changes (NEW order, then removed ones in OLD order) and OLD index → NEW index.
fn diff_layers(old: &[LayerInfo], new: &[LayerInfo]) -> (Vec<LayerChange>, BTreeMap<usize, usize>) {
    let mut unmatched_old: BTreeMap<&Digest, Vec<usize>> = BTreeMap::new();
    for l in old.iter().rev() {
        unmatched_old.entry(&l.diff_id).or_default().push(l.index);
    }
    let mut pairs = BTreeMap::new();
    let mut changes = Vec::new();
    for l in new {
        let old_index = unmatched_old.get_mut(&l.diff_id).and_then(Vec::pop);
        if let Some(o) = old_index {
            pairs.insert(o, l.index);
        }
        changes.push(LayerChange {
            diff_id: l.diff_id.clone(),
            status: match old_index {
                Some(o) if o == l.index => LayerStatus::Shared,
                Some(_) => LayerStatus::Moved,
                None => LayerStatus::Added,
            },
            old_index,
            new_index: Some(l.index),
            created_by: l.created_by.clone(),
        });
    }
    for l in old {
        if !pairs.contains_key(&l.index) {
            changes.push(LayerChange {
                diff_id: l.diff_id.clone(),
                status: LayerStatus::Removed,
                old_index: Some(l.index),
                new_index: None,
                created_by: l.created_by.clone(),
            });
        }
    }
    (changes, pairs)
}

/// The layer a removed package is attributed to. A layer's effect does not depend on what lies
/// below it (whiteouts and database rewrites name what they leave), so the package, present in OLD
/// from its layer L up, disappeared in NEW in a layer above L's NEW position that was not already
/// above L in OLD. When exactly one such layer exists it is the one; otherwise the OLD layer L.
fn removed_in(
    layer: &LayerRef,
    new_layers: &[LayerInfo],
    pairs: &BTreeMap<usize, usize>,
) -> Attribution {
    let old = Attribution {
        image: Which::Old,
        index: layer.index,
        diff_id: layer.diff_id.clone(),
    };
    let Some(&position) = pairs.get(&layer.index) else {
        return old;
    };
    let survived_in_old: Vec<usize> = pairs
        .iter()
        .filter(|(&o, _)| o > layer.index)
        .map(|(_, &n)| n)
        .collect();
    let mut candidates = new_layers
        .iter()
        .filter(|l| l.index > position && !survived_in_old.contains(&l.index));
    match (candidates.next(), candidates.next()) {
        (Some(l), None) => Attribution {
            image: Which::New,
            index: l.index,
            diff_id: l.diff_id.clone(),
        },
        _ => old,
    }
}

fn new_attribution(layer: Option<&LayerRef>) -> Option<Attribution> {
    layer.map(|l| Attribution {
        image: Which::New,
        index: l.index,
        diff_id: l.diff_id.clone(),
    })
}

/// Compares two sides: image facts, layers by diffID, packages by identity.
pub(crate) fn diff(old: &Side, new: &Side) -> Diff {
    let (layers, pairs) = diff_layers(&old.subject.layers, &new.subject.layers);

    type Group<'a> = (Vec<&'a Pkg>, Vec<&'a Pkg>);
    let mut groups: BTreeMap<_, Group<'_>> = BTreeMap::new();
    for p in &old.packages {
        groups.entry(p.key()).or_default().0.push(p);
    }
    for p in &new.packages {
        groups.entry(p.key()).or_default().1.push(p);
    }
    let mut packages = Vec::new();
    for (_, (mut before, mut after)) in groups {
        // Unchanged: same version and arch on both sides.
        before.retain(|o| {
            match after
                .iter()
                .position(|n| n.version == o.version && n.arch == o.arch)
            {
                Some(i) => {
                    after.remove(i);
                    false
                }
                None => true,
            }
        });
        // Version changes: same arch first (dpkg multi-arch), then in order.
        let mut paired = Vec::new();
        before.retain(|o| match after.iter().position(|n| n.arch == o.arch) {
            Some(i) => {
                paired.push((*o, after.remove(i)));
                false
            }
            None => true,
        });
        while !before.is_empty() && !after.is_empty() {
            paired.push((before.remove(0), after.remove(0)));
        }
        for (o, n) in paired {
            packages.push(PackageChange {
                change: Change::Changed,
                ty: type_of(n),
                namespace: n.namespace.clone(),
                name: n.name.clone(),
                arch: n.arch.clone(),
                found_in: n.found_in.clone(),
                old_version: Some(o.version.clone()),
                new_version: Some(n.version.clone()),
                old_purl: o.purl.clone(),
                new_purl: n.purl.clone(),
                layer: new_attribution(n.layer.as_ref()),
            });
        }
        for n in after {
            packages.push(PackageChange {
                change: Change::Added,
                ty: type_of(n),
                namespace: n.namespace.clone(),
                name: n.name.clone(),
                arch: n.arch.clone(),
                found_in: n.found_in.clone(),
                old_version: None,
                new_version: Some(n.version.clone()),
                old_purl: None,
                new_purl: n.purl.clone(),
                layer: new_attribution(n.layer.as_ref()),
            });
        }
        for o in before {
            packages.push(PackageChange {
                change: Change::Removed,
                ty: type_of(o),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
                arch: o.arch.clone(),
                found_in: o.found_in.clone(),
                old_version: Some(o.version.clone()),
                new_version: None,
                old_purl: o.purl.clone(),
                new_purl: None,
                layer: o
                    .layer
                    .as_ref()
                    .map(|l| removed_in(l, &new.subject.layers, &pairs)),
            });
        }
    }
    packages.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));

    let count = |c: Change| packages.iter().filter(|p| p.change == c).count();
    let layers_with = |s: LayerStatus| layers.iter().filter(|l| l.status == s).count();
    let summary = Summary {
        added: count(Change::Added),
        removed: count(Change::Removed),
        changed: count(Change::Changed),
        layers_shared: layers_with(LayerStatus::Shared),
        layers_moved: layers_with(LayerStatus::Moved),
        layers_added: layers_with(LayerStatus::Added),
        layers_removed: layers_with(LayerStatus::Removed),
    };
    let (o, n) = (image_side(old), image_side(new));
    Diff {
        schema: "stella-diff/v1",
        image: ImageChanges {
            manifest_digest_changed: o.manifest_digest != n.manifest_digest,
            config_digest_changed: o.config_digest != n.config_digest,
            distro_changed: o.distro != n.distro,
        },
        old: o,
        new: n,
        layers,
        packages,
        summary,
    }
}

fn type_of(p: &Pkg) -> String {
    p.kind.map_or("unknown", PackageKind::purl_type).to_owned()
}

type SortKey<'a> = (
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    Option<&'a str>,
    Change,
    Option<&'a str>,
    Option<&'a str>,
);

fn sort_key(p: &PackageChange) -> SortKey<'_> {
    (
        &p.ty,
        p.namespace.as_deref(),
        &p.name,
        &p.found_in,
        p.arch.as_deref(),
        p.change,
        p.old_version.as_deref(),
        p.new_version.as_deref(),
    )
}

// ---- output ----------------------------------------------------------------------------------

fn to_json(d: &Diff) -> Result<Vec<u8>, Failure> {
    let mut out = serde_json::to_vec_pretty(d).map_err(|e| Failure::new(exit::FAILURE, e))?;
    out.push(b'\n');
    Ok(out)
}

/// Abbreviates `sha256:<hex>` to 12 hex digits for the table.
fn short(d: &Digest) -> String {
    let hex = d.hex();
    hex.get(..12).unwrap_or(hex).to_owned()
}

fn package_label(p: &PackageChange) -> String {
    let mut s = p.ty.clone();
    s.push(' ');
    if let Some(ns) = &p.namespace {
        s.push_str(ns);
        s.push('/');
    }
    s.push_str(&p.name);
    if let Some(a) = &p.arch {
        s.push(':');
        s.push_str(a);
    }
    s
}

/// The readable form: both images, the layers, then the package changes grouped by the layer they
/// are attributed to, and the summary line `N added, M removed, K changed`.
pub(crate) fn to_table(d: &Diff) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (label, side) in [("OLD", &d.old), ("NEW", &d.new)] {
        let _ = writeln!(s, "{label}  {}", side.source);
        let digest = |x: &Option<Digest>| x.as_ref().map_or_else(|| "-".to_owned(), short);
        let _ = writeln!(
            s,
            "     manifest {}  config {}  distro {}  {} layers, {} packages",
            digest(&side.manifest_digest),
            digest(&side.config_digest),
            side.distro.as_deref().unwrap_or("-"),
            side.layer_count,
            side.package_count
        );
    }
    let mut image = Vec::new();
    if !d.image.manifest_digest_changed && !d.image.config_digest_changed {
        image.push("same image".to_owned());
    } else {
        if d.image.manifest_digest_changed {
            image.push("manifest changed".to_owned());
        }
        if d.image.config_digest_changed {
            image.push("config changed".to_owned());
        }
    }
    if d.image.distro_changed {
        image.push(format!(
            "distro {} -> {}",
            d.old.distro.as_deref().unwrap_or("-"),
            d.new.distro.as_deref().unwrap_or("-")
        ));
    }
    let _ = writeln!(s, "\nImage: {}", image.join(", "));

    if !d.layers.is_empty() {
        let _ = writeln!(s, "\nLayers (by diffID):");
        for l in &d.layers {
            let position = match (l.old_index, l.new_index) {
                (Some(o), Some(n)) if o == n => format!("{n}"),
                (Some(o), Some(n)) => format!("{o}->{n}"),
                (None, Some(n)) => format!("{n}"),
                (Some(o), None) => format!("({o})"),
                (None, None) => String::new(),
            };
            let status = match l.status {
                LayerStatus::Shared => "shared",
                LayerStatus::Moved => "moved",
                LayerStatus::Added => "added",
                LayerStatus::Removed => "removed",
            };
            let _ = writeln!(
                s,
                "  {position:>6}  {}  {status:<7}  {}",
                short(&l.diff_id),
                l.created_by.as_deref().map(one_line).unwrap_or_default()
            );
        }
    }

    // Group by attribution: NEW layers bottom up, then OLD layers (removed with them), then none.
    let mut groups: BTreeMap<(u8, usize), (String, Vec<&PackageChange>)> = BTreeMap::new();
    for p in &d.packages {
        let (key, title) = match &p.layer {
            Some(a) if a.image == Which::New => (
                (0, a.index),
                format!("NEW layer {} {}", a.index, short(&a.diff_id)),
            ),
            Some(a) => (
                (1, a.index),
                format!("OLD layer {} {} (removed)", a.index, short(&a.diff_id)),
            ),
            None => ((2, 0), "no layer".to_owned()),
        };
        groups.entry(key).or_insert((title, Vec::new())).1.push(p);
    }
    if !groups.is_empty() {
        let _ = writeln!(s, "\nPackages by layer:");
    }
    for (title, changes) in groups.values() {
        let _ = writeln!(s, "{title}");
        for p in changes {
            let (mark, versions, purl) = match p.change {
                Change::Added => ("+", p.new_version.clone(), &p.new_purl),
                Change::Removed => ("-", p.old_version.clone(), &p.old_purl),
                Change::Changed => (
                    "~",
                    Some(format!(
                        "{} -> {}",
                        p.old_version.as_deref().unwrap_or_default(),
                        p.new_version.as_deref().unwrap_or_default()
                    )),
                    &p.new_purl,
                ),
            };
            let _ = writeln!(
                s,
                "  {mark} {:<40} {:<30} {}",
                package_label(p),
                versions.unwrap_or_default(),
                purl.as_deref().unwrap_or(&p.found_in)
            );
        }
    }
    let m = &d.summary;
    let _ = writeln!(
        s,
        "\nLayers: {} shared, {} moved, {} added, {} removed",
        m.layers_shared, m.layers_moved, m.layers_added, m.layers_removed
    );
    let _ = writeln!(
        s,
        "{} added, {} removed, {} changed",
        m.added, m.removed, m.changed
    );
    s
}

fn one_line(s: &str) -> String {
    let line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", line.get(..i).unwrap_or_default()),
        None => line,
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use scanner_core::model::Inventory;

    /// A side from an inventory and layers.
    fn side(source: &str, layers: &[&str], inventory: Inventory) -> Side {
        let mut subject = Subject::new(SourceKind::Image, source);
        subject.layers = layers
            .iter()
            .enumerate()
            .map(|(index, d)| LayerInfo {
                index,
                diff_id: Digest((*d).to_owned()),
                digest: None,
                media_type: None,
                size: None,
                created_by: None,
            })
            .collect();
        Side::of_report(
            source,
            &ScanReport {
                subject,
                inventory,
                created: 0,
                tool: scanner_core::model::Tool {
                    name: "stella".into(),
                    version: "0".into(),
                },
            },
        )
    }

    fn layer(index: usize, diff_id: &str) -> Option<LayerRef> {
        Some(LayerRef {
            index,
            diff_id: Digest(diff_id.to_owned()),
            digest: None,
        })
    }

    fn deb(name: &str, version: &str, l: Option<LayerRef>) -> Package {
        Package {
            kind: Some(PackageKind::Deb),
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
            found_in: "/var/lib/dpkg/status".into(),
            layer: l,
            ..Package::default()
        }
    }

    fn npm(name: &str, version: &str, path: &str, l: Option<LayerRef>) -> Package {
        Package {
            kind: Some(PackageKind::Npm),
            name: name.into(),
            version: version.into(),
            found_in: path.into(),
            layer: l,
            ..Package::default()
        }
    }

    fn inv(packages: Vec<Package>) -> Inventory {
        Inventory {
            packages,
            ..Inventory::default()
        }
    }

    fn find<'a>(d: &'a Diff, name: &str, change: Change) -> Vec<&'a PackageChange> {
        d.packages
            .iter()
            .filter(|p| p.name == name && p.change == change)
            .collect()
    }

    #[test]
    fn diff_added_removed_changed_attributed_to_layers() {
        let old = side(
            "old",
            &["sha256:base", "sha256:app1"],
            inv(vec![
                deb("libc6", "2.36-9", layer(0, "sha256:base")),
                deb("curl", "7.88.1-10", layer(0, "sha256:base")),
                deb("gone", "1.0", layer(1, "sha256:app1")),
            ]),
        );
        let new = side(
            "new",
            &["sha256:base", "sha256:app2"],
            inv(vec![
                deb("libc6", "2.36-9", layer(0, "sha256:base")),
                deb("curl", "7.88.1-10+deb12u8", layer(1, "sha256:app2")),
                deb("jq", "1.6-2.1", layer(1, "sha256:app2")),
            ]),
        );
        let d = diff(&old, &new);
        assert_eq!(
            (d.summary.added, d.summary.removed, d.summary.changed),
            (1, 1, 1)
        );
        let curl = find(&d, "curl", Change::Changed)[0];
        assert_eq!(curl.old_version.as_deref(), Some("7.88.1-10"));
        assert_eq!(curl.new_version.as_deref(), Some("7.88.1-10+deb12u8"));
        assert_eq!(
            curl.new_purl.as_deref(),
            Some("pkg:deb/debian/curl@7.88.1-10%2Bdeb12u8?arch=amd64")
        );
        assert_eq!(curl.layer.as_ref().unwrap().diff_id.0, "sha256:app2");
        assert_eq!(curl.layer.as_ref().unwrap().image, Which::New);
        let jq = find(&d, "jq", Change::Added)[0];
        assert_eq!(jq.layer.as_ref().unwrap().index, 1);
        // `gone` came with app1, which NEW does not have: attributed to that OLD layer.
        let gone = find(&d, "gone", Change::Removed)[0];
        let a = gone.layer.as_ref().unwrap();
        assert_eq!((a.image, a.index), (Which::Old, 1));
        assert!(find(&d, "libc6", Change::Changed).is_empty());
        let table = to_table(&d);
        assert!(
            table.ends_with("1 added, 1 removed, 1 changed\n"),
            "{table}"
        );
        assert!(table.contains("OLD layer 1 "), "{table}");
    }

    #[test]
    fn diff_removal_attributed_to_the_only_new_layer_that_can_have_removed_it() {
        let old = side(
            "old",
            &["sha256:base"],
            inv(vec![
                deb("a", "1", layer(0, "sha256:base")),
                deb("b", "1", layer(0, "sha256:base")),
            ]),
        );
        let new = side(
            "new",
            &["sha256:base", "sha256:purge"],
            inv(vec![deb("a", "1", layer(0, "sha256:base"))]),
        );
        let d = diff(&old, &new);
        let b = find(&d, "b", Change::Removed)[0];
        let a = b.layer.as_ref().unwrap();
        assert_eq!(
            (a.image, a.index, a.diff_id.0.as_str()),
            (Which::New, 1, "sha256:purge")
        );

        // Two new layers above the base: either could have removed it.
        let new2 = side(
            "new",
            &["sha256:base", "sha256:x", "sha256:y"],
            inv(vec![deb("a", "1", layer(0, "sha256:base"))]),
        );
        let d = diff(&old, &new2);
        let b = find(&d, "b", Change::Removed)[0];
        assert_eq!(b.layer.as_ref().unwrap().image, Which::Old);

        // A layer that sat above the base in OLD too did not remove it: the new one did.
        let old3 = side(
            "old",
            &["sha256:base", "sha256:x"],
            inv(vec![
                deb("a", "1", layer(0, "sha256:base")),
                deb("b", "1", layer(0, "sha256:base")),
            ]),
        );
        let d = diff(&old3, &new2);
        let b = find(&d, "b", Change::Removed)[0];
        let a = b.layer.as_ref().unwrap();
        assert_eq!((a.image, a.index), (Which::New, 2));
    }

    #[test]
    fn diff_layers_shared_moved_added_removed() {
        let old = side("old", &["sha256:a", "sha256:b", "sha256:c"], inv(vec![]));
        let new = side("new", &["sha256:a", "sha256:c", "sha256:d"], inv(vec![]));
        let d = diff(&old, &new);
        let got: Vec<_> = d
            .layers
            .iter()
            .map(|l| (l.diff_id.0.as_str(), l.status, l.old_index, l.new_index))
            .collect();
        assert_eq!(
            got,
            [
                ("sha256:a", LayerStatus::Shared, Some(0), Some(0)),
                ("sha256:c", LayerStatus::Moved, Some(2), Some(1)),
                ("sha256:d", LayerStatus::Added, None, Some(2)),
                ("sha256:b", LayerStatus::Removed, Some(1), None),
            ]
        );
        assert_eq!(
            (
                d.summary.layers_shared,
                d.summary.layers_moved,
                d.summary.layers_added,
                d.summary.layers_removed
            ),
            (1, 1, 1, 1)
        );
        // A diffID twice (empty layers): occurrences pair in order.
        let old = side("old", &["sha256:e", "sha256:a", "sha256:e"], inv(vec![]));
        let new = side("new", &["sha256:e", "sha256:a"], inv(vec![]));
        let d = diff(&old, &new);
        assert_eq!(d.layers[0].status, LayerStatus::Shared);
        assert_eq!(d.layers[2].status, LayerStatus::Removed);
        assert_eq!(d.layers[2].old_index, Some(2));
    }

    #[test]
    fn diff_same_npm_package_in_two_node_modules_is_two_packages() {
        let top = "/app/node_modules/lodash/package.json";
        let nested = "/app/node_modules/x/node_modules/lodash/package.json";
        let old = side(
            "old",
            &["sha256:l0"],
            inv(vec![
                npm("lodash", "4.17.20", top, layer(0, "sha256:l0")),
                npm("lodash", "3.10.1", nested, layer(0, "sha256:l0")),
            ]),
        );
        let new = side(
            "new",
            &["sha256:l0", "sha256:l1"],
            inv(vec![
                npm("lodash", "4.17.21", top, layer(1, "sha256:l1")),
                npm("lodash", "3.10.1", nested, layer(0, "sha256:l0")),
            ]),
        );
        let d = diff(&old, &new);
        assert_eq!(d.packages.len(), 1, "{:#?}", d.packages);
        let p = &d.packages[0];
        assert_eq!(p.change, Change::Changed);
        assert_eq!(p.found_in, top);
        assert_eq!(p.old_purl.as_deref(), Some("pkg:npm/lodash@4.17.20"));
        assert_eq!(p.new_purl.as_deref(), Some("pkg:npm/lodash@4.17.21"));
        assert_eq!(p.layer.as_ref().unwrap().diff_id.0, "sha256:l1");
    }

    #[test]
    fn diff_multiarch_pairs_by_arch_and_identical_inputs_have_no_changes() {
        let mut i386 = deb("libc6", "2.36-9", layer(0, "sha256:l0"));
        i386.arch = Some("i386".into());
        let old = side(
            "old",
            &["sha256:l0"],
            inv(vec![
                deb("libc6", "2.36-9", layer(0, "sha256:l0")),
                i386.clone(),
            ]),
        );
        let mut i386_new = i386.clone();
        i386_new.version = "2.36-10".into();
        let new = side(
            "new",
            &["sha256:l0"],
            inv(vec![
                deb("libc6", "2.36-9", layer(0, "sha256:l0")),
                i386_new,
            ]),
        );
        let d = diff(&old, &new);
        assert_eq!(d.packages.len(), 1);
        assert_eq!(d.packages[0].arch.as_deref(), Some("i386"));
        assert_eq!(d.packages[0].change, Change::Changed);

        let d = diff(&old, &old);
        assert!(d.packages.is_empty());
        assert!(!d.image.config_digest_changed);
        assert!(to_table(&d).ends_with("0 added, 0 removed, 0 changed\n"));
    }

    #[test]
    fn diff_reads_stella_cyclonedx() {
        let report = ScanReport {
            subject: side("x", &["sha256:l0", "sha256:l1"], inv(vec![])).subject,
            inventory: inv(vec![
                deb("curl", "7.88.1-10", layer(1, "sha256:l1")),
                npm(
                    "lodash",
                    "4.17.21",
                    "/a/node_modules/lodash/package.json",
                    layer(0, "sha256:l0"),
                ),
            ]),
            created: 0,
            tool: scanner_core::model::Tool {
                name: "stella".into(),
                version: "0".into(),
            },
        };
        let bytes = scanner_core::sbom::cyclonedx::to_cyclonedx_json(&report);
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let from_cdx = side_of_cyclonedx("x", &doc);
        let direct = Side::of_report("x", &report);
        assert_eq!(
            from_cdx
                .subject
                .layers
                .iter()
                .map(|l| &l.diff_id)
                .collect::<Vec<_>>(),
            direct
                .subject
                .layers
                .iter()
                .map(|l| &l.diff_id)
                .collect::<Vec<_>>()
        );
        let mut a = from_cdx.packages.clone();
        let mut b = direct.packages.clone();
        a.sort_by(|x, y| x.name.cmp(&y.name));
        b.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(a, b);
        assert!(diff(&from_cdx, &direct).packages.is_empty());
    }
}
