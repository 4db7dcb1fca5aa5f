//! What a scan found, in numbers: for CI step outputs (`component-count`) and job summaries (a
//! Markdown table appended to GitHub's `$GITHUB_STEP_SUMMARY`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use scanner_core::model::ScanReport;

/// Component counts of one scan.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Every package found.
    pub components: usize,
    /// By purl type (`deb`, `npm`, `pypi`, …; `unknown` when the kind is not known).
    pub by_type: BTreeMap<String, usize>,
    /// By layer: index, short diffID, the history's `created_by`, packages it introduced.
    pub by_layer: Vec<(usize, String, String, usize)>,
    /// `name version` of the distribution, when found.
    pub distro: Option<String>,
}

impl Summary {
    pub fn of_report(report: &ScanReport) -> Summary {
        let packages = &report.inventory.packages;
        let mut by_type = BTreeMap::new();
        for p in packages {
            let t = p.kind.map_or("unknown", |k| k.purl_type());
            *by_type.entry(t.to_owned()).or_insert(0) += 1;
        }
        let by_layer = report
            .subject
            .layers
            .iter()
            .map(|l| {
                let n = packages
                    .iter()
                    .filter(|p| p.layer.as_ref().is_some_and(|r| r.index == l.index))
                    .count();
                let hex = l.diff_id.to_string();
                let short: String = hex
                    .strip_prefix("sha256:")
                    .unwrap_or(&hex)
                    .chars()
                    .take(12)
                    .collect();
                let by: String = l
                    .created_by
                    .as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(60)
                    .collect();
                (l.index, short, by, n)
            })
            .collect();
        Summary {
            components: packages.len(),
            by_type,
            by_layer,
            distro: report.inventory.distro.as_ref().map(|d| {
                format!("{} {}", d.id, d.version_id.as_deref().unwrap_or(""))
                    .trim()
                    .to_owned()
            }),
        }
    }

    /// A Markdown section: a heading naming the source, then tables by ecosystem and by layer.
    pub fn markdown(&self, source: &str) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
        let mut md = format!(
            "### SBOM of `{}`\n\n**{}** components",
            cell(source),
            self.components
        );
        if let Some(d) = &self.distro {
            md.push_str(&format!(" on {}", cell(d)));
        }
        md.push_str("\n\n| Ecosystem | Components |\n|---|---:|\n");
        for (t, n) in &self.by_type {
            md.push_str(&format!("| {} | {n} |\n", cell(t)));
        }
        if !self.by_layer.is_empty() {
            md.push_str(
                "\n| Layer | diffID | Created by | Components introduced |\n|---:|---|---|---:|\n",
            );
            for (i, id, by, n) in &self.by_layer {
                md.push_str(&format!("| {i} | `{id}` | {} | {n} |\n", cell(by)));
            }
        }
        md.push('\n');
        md
    }
}

/// Appends `text` to FILE (created when missing), as CI runners expect of their command files.
pub fn append(path: &Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot append to {}: {e}", path.display()))
}
