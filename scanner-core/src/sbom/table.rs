//! Human output: an aligned text table, and the report itself as JSON.

use super::{pretty, short_digest, Catalog};
use crate::model::ScanReport;

/// A text table of the packages, one per line in canonical order, under a header line naming the
/// subject and the distro:
///
/// ```text
/// registry.example/app:1.0 (sha256:…)  distro: Debian GNU/Linux 12 (bookworm)  packages: 2
///
/// NAME    VERSION     TYPE  ARCH   LAYER
/// bash    5.2.15-2+b7 deb   amd64  3f2a1b9c0d4e
/// ```
///
/// Columns are separated by two spaces; trailing spaces are trimmed.
pub fn to_table(report: &ScanReport) -> String {
    let catalog = Catalog::new(report);
    let subject = &report.subject;
    let mut header = subject.name.clone();
    if let Some(d) = &subject.manifest_digest {
        header.push_str(&format!(" ({d})"));
    }
    if let Some(d) = &report.inventory.distro {
        let distro = match (&d.pretty_name, &d.version) {
            (Some(p), _) => p.clone(),
            (None, Some(v)) => format!("{} {v}", d.id),
            (None, None) => d.id.clone(),
        };
        header.push_str(&format!("  distro: {distro}"));
    }
    header.push_str(&format!("  packages: {}", catalog.entries.len()));

    let mut rows: Vec<[String; 5]> = vec![[
        "NAME".into(),
        "VERSION".into(),
        "TYPE".into(),
        "ARCH".into(),
        "LAYER".into(),
    ]];
    for e in &catalog.entries {
        let p = e.package;
        rows.push([
            match (&p.namespace, p.kind) {
                (Some(ns), Some(crate::model::PackageKind::Npm)) => format!("{ns}/{}", p.name),
                (Some(ns), _) => format!("{ns}:{}", p.name),
                (None, _) => p.name.clone(),
            },
            p.version.clone(),
            p.kind.map_or("", |k| k.purl_type()).to_owned(),
            p.arch.clone().unwrap_or_default(),
            p.layer
                .as_ref()
                .map(|l| short_digest(&l.diff_id).to_owned())
                .unwrap_or_default(),
        ]);
    }
    for row in &mut rows {
        for cell in row.iter_mut() {
            cell.retain(|c| !c.is_control());
        }
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = header;
    out.push_str("\n\n");
    for row in &rows {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(widths) {
            line.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The report itself as pretty JSON with a trailing newline (the `--format json` output).
pub fn to_json(report: &ScanReport) -> Vec<u8> {
    match serde_json::to_value(report) {
        Ok(value) => pretty(&value),
        // The model has only string map keys, so this cannot happen; say so rather than panic.
        Err(e) => pretty(&serde_json::json!({ "error": e.to_string() })),
    }
}
