//! `stella sbom index` and `stella sbom index-query`: glue over the `bomindex` crate, and the push
//! of an index as an OCI referrer of its image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bomindex::{BomIndex, PurlSet, RoaringBitmap};
use clap::{ArgGroup, Args, ValueEnum};
use registry::referrers::{Artifact, ANNOTATION_CREATED, MAX_ARTIFACT_BYTES};
use registry::target::{self, Target};
use registry::{Platform, PushOptions};
use serde_json::{json, Value};

use crate::exit;
use crate::scan::{source_date_epoch, write_output, Failure};

pub const INDEX_AFTER_HELP: &str = "\
The BOM-Index is a compact binary sidecar of one CycloneDX SBOM (as `stella scan` writes it): the
sorted purl table plus roaring bitmaps of component ids per layer, per purl type and for
`stella:usedByEntrypoint`, with the SHA-256 of the SBOM it indexes. The same SBOM always gives the
same bytes. With --push it is attached to IMAGE as an OCI referrer of artifactType
application/vnd.stella.bom-index.v1.

Examples:
  stella sbom index app.cdx.json --output app.bomidx
  stella sbom index app.cdx.json --output app.bomidx --push oci:./image:app
  stella sbom index-query app.bomidx --purl pkg:npm/lodash
  stella sbom index-query app.bomidx --join advisories.txt --format json

Exit codes: 0 success, 1 unexpected failure, 2 invalid arguments, 3 SBOM or image unreadable,
4 registry error, 5 output not written.";

pub const QUERY_AFTER_HELP: &str = "\
--purl matches by the purl rule: a full purl exactly, a purl without a version every version
(pkg:npm/lodash finds pkg:npm/lodash@4.17.21, not pkg:npm/lodash-es), a version without
qualifiers any qualifiers. --prefix is a plain string prefix (pkg:npm/, pkg:deb/debian/openssl).
--join reads purls from FILE, one a line (blank lines and lines starting with # skipped) or a JSON
array of strings, and lists every component any of them matches.

Exit codes: 0 success (also when nothing matched), 1 unexpected failure, 2 invalid arguments,
3 the index or the purl file is unreadable or invalid, 5 output not written.";

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The CycloneDX JSON SBOM to index.
    pub sbom: PathBuf,
    /// Write the index to FILE (atomically). Required unless --push is given.
    #[arg(long, short, value_name = "FILE", required_unless_present = "push")]
    pub output: Option<PathBuf>,
    /// Also attach the index to IMAGE as an OCI referrer (oci:DIR[:TAG] or [docker://]HOST/REPO…).
    #[arg(long, value_name = "IMAGE")]
    pub push: Option<String>,
    /// With --push: only this platform's manifest of a multi-platform image, e.g. linux/arm64.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", requires = "push")]
    pub platform: Option<String>,
    /// With --push: allow plain HTTP to a registry on a loopback address.
    #[arg(long, requires = "push")]
    pub insecure: bool,
}

/// Output of `sbom index-query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// One row per matching component.
    Table,
    /// The index summary, the query and the matches as JSON.
    Json,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("query").required(true).args(["purl", "prefix", "join", "purl_type"])))]
pub struct QueryArgs {
    /// The index file.
    pub index: PathBuf,
    /// Components this purl matches (exact, or every version of a version-less purl).
    #[arg(long, value_name = "PURL")]
    pub purl: Option<String>,
    /// Components whose purl starts with PREFIX.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Components any purl in FILE matches.
    #[arg(long, value_name = "FILE")]
    pub join: Option<PathBuf>,
    /// Components of this purl type (deb, npm, …).
    #[arg(long = "type", value_name = "TYPE")]
    pub purl_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: QueryFormat,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Failure::new(
            exit::SOURCE,
            format!("cannot read {what} {}: {e}", path.display()),
        )
    })?;
    if meta.len() > MAX_ARTIFACT_BYTES {
        return Err(Failure::new(
            exit::SOURCE,
            format!(
                "{what} {} is larger than {MAX_ARTIFACT_BYTES} bytes",
                path.display()
            ),
        ));
    }
    std::fs::read(path).map_err(|e| {
        Failure::new(
            exit::SOURCE,
            format!("cannot read {what} {}: {e}", path.display()),
        )
    })
}

pub fn index(args: &IndexArgs) -> Result<(), Failure> {
    let sbom = read(&args.sbom, "SBOM")?;
    let bytes = bomindex::from_cyclonedx_json(&sbom)
        .map_err(|e| Failure::new(exit::SOURCE, format!("{}: {e}", args.sbom.display())))?;
    if let Some(out) = &args.output {
        write_output(Some(out), &bytes)?;
    }
    if let Ok(i) = BomIndex::open(&bytes) {
        eprintln!(
            "stella: indexed {} ({} purls, {} layers)",
            args.sbom.display(),
            i.len(),
            i.layers().len()
        );
    }
    match &args.push {
        None => Ok(()),
        Some(image) => push(args, image, &sbom, bytes),
    }
}

/// The referrer artifact for an index of `sbom`.
fn artifact(sbom: &[u8], index: Vec<u8>) -> Result<Artifact, Failure> {
    let mut annotations = BTreeMap::new();
    let created = match source_date_epoch()? {
        Some(t) => Some(attestor::trust_root::rfc3339(u64::try_from(t).unwrap_or(0))),
        None => serde_json::from_slice::<Value>(sbom)
            .ok()
            .and_then(|d| {
                d.pointer("/metadata/timestamp")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .filter(|t| scanner_core::time::parse_rfc3339(t).is_some()),
    };
    if let Some(c) = created {
        annotations.insert(ANNOTATION_CREATED.to_owned(), c);
    }
    annotations.insert(
        bomindex::ANNOTATION_SBOM_DIGEST.to_owned(),
        scanner_core::model::Digest::sha256_of(sbom).0,
    );
    Ok(Artifact {
        artifact_type: bomindex::ARTIFACT_TYPE.to_owned(),
        content: index,
        annotations,
    })
}

fn push(args: &IndexArgs, image: &str, sbom: &[u8], index: Vec<u8>) -> Result<(), Failure> {
    let target = Target::parse(image).map_err(|e| Failure::new(exit::SOURCE, e))?;
    let platform = args
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(|e| Failure::new(exit::USAGE, e))?;
    let opts = PushOptions {
        insecure: args.insecure,
        docker_config: None,
        mount_from: None,
        platform,
    };
    let artifact = artifact(sbom, index)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    let pushed = runtime
        .block_on(target::push(&target, &artifact, &opts))
        .map_err(|e| {
            let code = if target.is_remote() {
                exit::REGISTRY
            } else {
                exit::SOURCE
            };
            Failure::new(code, e)
        })?;
    let mut out = String::new();
    for p in &pushed {
        eprintln!(
            "stella: attached {} {} to {}",
            artifact.artifact_type, p.manifest.digest, p.subject.digest
        );
        out.push_str(&format!("{}\n", p.manifest.digest));
    }
    write_output(None, out.as_bytes())
}

/// Purls from a `--join` file: a JSON array of strings, or one a line.
fn join_purls(bytes: &[u8], name: &str) -> Result<Vec<String>, Failure> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Failure::new(exit::SOURCE, format!("{name} is not UTF-8")))?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<String>>(text).map_err(|e| {
            Failure::new(
                exit::SOURCE,
                format!("{name}: not a JSON array of strings: {e}"),
            )
        });
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

pub fn query(args: &QueryArgs) -> Result<(), Failure> {
    let bytes = read(&args.index, "index")?;
    let index = BomIndex::open(&bytes)
        .map_err(|e| Failure::new(exit::SOURCE, format!("{}: {e}", args.index.display())))?;
    let (query, hits): (Value, RoaringBitmap) = if let Some(p) = &args.purl {
        (json!({ "purl": p }), index.matching(p))
    } else if let Some(p) = &args.prefix {
        (json!({ "prefix": p }), index.prefix(p))
    } else if let Some(t) = &args.purl_type {
        (
            json!({ "type": t }),
            index
                .of_type(&t.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default(),
        )
    } else if let Some(file) = &args.join {
        let name = file.display().to_string();
        let purls = join_purls(&read(file, "purl list")?, &name)?;
        let set = PurlSet::new(&purls);
        (
            json!({ "join": name, "purls": set.len() }),
            index.join(&set),
        )
    } else {
        return Err(Failure::new(exit::USAGE, "no query given"));
    };
    let rows: Vec<Value> = hits
        .iter()
        .map(|id| {
            let layers: Vec<Value> = index
                .layers_of(id)
                .map(|l| json!({ "index": l.index, "diffID": l.diff_id }))
                .collect();
            json!({
                "id": id,
                "purl": index.purl(id).unwrap_or_default(),
                "layers": layers,
                "usedByEntrypoint": index
                    .usage_traced()
                    .then(|| index.used_by_entrypoint().contains(id)),
            })
        })
        .collect();
    let out = match args.format {
        QueryFormat::Json => {
            let doc = json!({
                "index": {
                    "sbomSha256": scanner_core::model::hex(index.sbom_sha256()),
                    "purls": index.len(),
                    "components": index.component_count(),
                    "layers": index.layers().len(),
                    "usageTraced": index.usage_traced(),
                },
                "query": query,
                "count": rows.len(),
                "matches": rows,
            });
            let mut v = serde_json::to_vec_pretty(&doc).unwrap_or_default();
            v.push(b'\n');
            v
        }
        QueryFormat::Table => table(&rows).into_bytes(),
    };
    write_output(None, &out)
}

fn table(rows: &[Value]) -> String {
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let layers = r["layers"]
                .as_array()
                .map(|ls| {
                    ls.iter()
                        .map(|l| l["index"].to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "-".to_owned());
            let used = match r["usedByEntrypoint"].as_bool() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            [
                r["id"].to_string(),
                r["purl"].as_str().unwrap_or_default().to_owned(),
                layers,
                used.to_owned(),
            ]
        })
        .collect();
    let header = ["ID", "PURL", "LAYER", "ENTRYPOINT"];
    let width = |k: usize| {
        cells
            .iter()
            .filter_map(|c| c.get(k))
            .map(String::len)
            .chain(header.get(k).map(|h| h.len()))
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut s = String::new();
    for [a, b, c, d] in std::iter::once(header.map(str::to_owned)).chain(cells) {
        s.push_str(&format!("{a:<w0$}  {b:<w1$}  {c:<w2$}  {d}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_file_forms() {
        let lines = join_purls(b"# advisories\npkg:npm/a\n\n  pkg:npm/b@1  \n", "f")
            .map_err(|f| f.message)
            .unwrap();
        assert_eq!(lines, ["pkg:npm/a", "pkg:npm/b@1"]);
        let arr = join_purls(br#"["pkg:npm/a"]"#, "f")
            .map_err(|f| f.message)
            .unwrap();
        assert_eq!(arr, ["pkg:npm/a"]);
        assert!(join_purls(b"[1]", "f").is_err());
    }
}
