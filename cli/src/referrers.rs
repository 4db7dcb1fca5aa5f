//! `stella sbom push`, `stella sbom pull`, `stella referrers`: glue over `registry::target`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use registry::referrers::{Referrer, ANNOTATION_CREATED, ARTIFACT_CYCLONEDX, ARTIFACT_SPDX};
use registry::target::{self, SbomKind, Target};
use registry::{Platform, PushOptions, SourceError};
use serde_json::{json, Value};

use crate::exit;
use crate::scan::{source_date_epoch, write_output, Failure};

pub const AFTER_HELP: &str = "\
IMAGE is an OCI layout (oci:DIR[:TAG]) or an image in a registry ([docker://]HOST/REPO[:TAG|@DIGEST]).
SBOMs are attached as OCI 1.1 referrers: an artifact manifest whose `subject` is the image manifest
(for a multi-platform image, each platform manifest, or the one --platform names). In a layout the
referrer manifest is added to index.json without a tag.

Examples:
  stella scan oci:./image:app --output app.cdx.json
  stella sbom push oci:./image:app --sbom app.cdx.json
  stella referrers oci:./image:app
  stella sbom pull oci:./image:app --type cyclonedx --output pulled.cdx.json

Exit codes: 0 success, 1 unexpected failure, 2 invalid arguments, 3 image or SBOM unreadable,
4 registry error, 5 output not written, 6 no matching SBOM or referrer.";

#[derive(Debug, Subcommand)]
pub enum SbomCommand {
    /// Attach an SBOM to an image as a referrer.
    #[command(after_help = AFTER_HELP)]
    Push(PushArgs),
    /// Fetch the newest SBOM attached to an image.
    #[command(after_help = AFTER_HELP)]
    Pull(PullArgs),
    /// Submit an SBOM's packages to GitHub's dependency graph (Dependency Submission API).
    #[command(name = "submit-github", after_help = crate::github::AFTER_HELP)]
    SubmitGithub(crate::github::SubmitArgs),
    /// Build the BOM-Index sidecar of a CycloneDX SBOM (purl table + roaring bitmaps); optionally
    /// attach it to the image as a referrer.
    #[command(after_help = crate::bom_index::INDEX_AFTER_HELP)]
    Index(crate::bom_index::IndexArgs),
    /// Look up purls, purl prefixes or a whole purl list (a join) in a BOM-Index.
    #[command(name = "index-query", after_help = crate::bom_index::QUERY_AFTER_HELP)]
    IndexQuery(crate::bom_index::QueryArgs),
}

/// `--type` of `sbom push`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PushType {
    /// Tell from the document (`bomFormat` / `spdxVersion`).
    Auto,
    /// CycloneDX JSON.
    Cyclonedx,
    /// SPDX JSON.
    Spdx,
}

/// `--type` of `sbom pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullType {
    /// CycloneDX JSON.
    Cyclonedx,
    /// SPDX JSON.
    Spdx,
}

impl PullType {
    fn artifact_type(self) -> &'static str {
        match self {
            PullType::Cyclonedx => ARTIFACT_CYCLONEDX,
            PullType::Spdx => ARTIFACT_SPDX,
        }
    }
}

/// Output of `sbom push`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PushFormat {
    /// The referrer manifest digests, one a line.
    Text,
    /// Subject and referrer descriptors as JSON.
    Json,
}

/// Output of `referrers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Subject → referrers, for people.
    Tree,
    /// The referrer list as JSON.
    Json,
}

/// What every command here needs to reach the image.
#[derive(Debug, Args)]
pub struct Common {
    /// The image (see below).
    pub image: String,
    /// Only this platform's manifest of a multi-platform image, e.g. linux/arm64.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Allow plain HTTP to a registry on a loopback address.
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub common: Common,
    /// The SBOM to attach (CycloneDX or SPDX JSON).
    #[arg(long, value_name = "FILE")]
    pub sbom: PathBuf,
    /// The SBOM's format.
    #[arg(long = "type", value_enum, default_value = "auto")]
    pub kind: PushType,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PushFormat,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only SBOMs of this format (default: either).
    #[arg(long = "type", value_enum)]
    pub kind: Option<PullType>,
    /// Write the SBOM to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReferrersArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only referrers with this artifactType, e.g. application/vnd.cyclonedx+json.
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "tree")]
    pub format: ListFormat,
}

pub fn run_sbom(command: SbomCommand) -> u8 {
    report(match command {
        SbomCommand::Push(args) => push(&args),
        SbomCommand::Pull(args) => pull(&args),
        SbomCommand::SubmitGithub(args) => crate::github::submit(&args),
        SbomCommand::Index(args) => crate::bom_index::index(&args),
        SbomCommand::IndexQuery(args) => crate::bom_index::query(&args),
    })
}

pub fn run_referrers(args: ReferrersArgs) -> u8 {
    report(list(&args))
}

fn report(result: Result<(), Failure>) -> u8 {
    match result {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("stella: error: {}", f.message);
            f.code
        }
    }
}

/// The target, options and a runtime.
struct Session {
    target: Target,
    opts: PushOptions,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    fn open(common: &Common) -> Result<Session, Failure> {
        let target = Target::parse(&common.image).map_err(|e| Failure::new(exit::SOURCE, e))?;
        let platform = common
            .platform
            .as_deref()
            .map(Platform::parse)
            .transpose()
            .map_err(|e| Failure::new(exit::USAGE, e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start the runtime: {e}")))?;
        Ok(Session {
            target,
            opts: PushOptions {
                insecure: common.insecure,
                docker_config: None,
                mount_from: None,
                platform,
            },
            runtime,
        })
    }

    /// A library error with the exit code of where it came from.
    fn fail(&self, e: SourceError) -> Failure {
        let code = if self.target.is_remote() {
            exit::REGISTRY
        } else {
            exit::SOURCE
        };
        Failure::new(code, e)
    }

    fn list(&self, artifact_type: Option<&str>) -> Result<Vec<Referrer>, Failure> {
        self.runtime
            .block_on(target::list(&self.target, artifact_type, &self.opts))
            .map_err(|e| self.fail(e))
    }
}

fn push(args: &PushArgs) -> Result<(), Failure> {
    let session = Session::open(&args.common)?;
    let name = args.sbom.display().to_string();
    let content = std::fs::read(&args.sbom)
        .map_err(|e| Failure::new(exit::SOURCE, format!("cannot read {name}: {e}")))?;
    let kind = match args.kind {
        PushType::Auto => None,
        PushType::Cyclonedx => Some(SbomKind::CycloneDx),
        PushType::Spdx => Some(SbomKind::Spdx),
    };
    let artifact = target::sbom_artifact(&name, content, kind, source_date_epoch()?)
        .map_err(|e| Failure::new(exit::SOURCE, e))?;
    let pushed = session
        .runtime
        .block_on(target::push(&session.target, &artifact, &session.opts))
        .map_err(|e| session.fail(e))?;
    let out = match args.format {
        PushFormat::Text => pushed
            .iter()
            .map(|p| format!("{}\n", p.manifest.digest))
            .collect::<String>()
            .into_bytes(),
        PushFormat::Json => {
            let list: Vec<Value> = pushed
                .iter()
                .map(|p| {
                    json!({
                        "subject": p.subject,
                        "manifest": p.manifest,
                        "fallback_tag": p.fallback_tag,
                    })
                })
                .collect();
            json_bytes(&json!({ "image": session.target.to_string(), "pushed": list }))
        }
    };
    for p in &pushed {
        eprintln!(
            "stella: attached {} {} to {}",
            artifact.artifact_type, p.manifest.digest, p.subject.digest
        );
    }
    write_output(None, &out)
}

fn pull(args: &PullArgs) -> Result<(), Failure> {
    let session = Session::open(&args.common)?;
    let all = session.list(None)?;
    let wanted: Vec<&str> = match args.kind {
        Some(k) => vec![k.artifact_type()],
        None => vec![ARTIFACT_CYCLONEDX, ARTIFACT_SPDX],
    };
    let matching: Vec<Referrer> = all
        .iter()
        .filter(|r| {
            r.descriptor
                .artifact_type
                .as_deref()
                .is_some_and(|t| wanted.contains(&t))
        })
        .cloned()
        .collect();
    let Some(chosen) = target::newest(&matching) else {
        return Err(Failure::new(
            exit::NOT_FOUND,
            format!(
                "no {} SBOM attached to {}; available referrers: {}",
                wanted.join(" or "),
                session.target,
                available(&all)
            ),
        ));
    };
    let subjects: std::collections::BTreeSet<&str> =
        matching.iter().map(|r| r.subject.as_str()).collect();
    if subjects.len() > 1 {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "{} is a multi-platform image with SBOMs for {} manifests ({}); choose one with --platform",
                session.target,
                subjects.len(),
                subjects.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let (_manifest, _media_type, sbom) = session
        .runtime
        .block_on(target::fetch(&session.target, chosen, &session.opts))
        .map_err(|e| session.fail(e))?;
    eprintln!(
        "stella: pulled {} {} (subject {})",
        chosen.descriptor.artifact_type.as_deref().unwrap_or("-"),
        chosen.descriptor.digest,
        chosen.subject
    );
    write_output(args.output.as_deref(), &sbom)
}

fn available(all: &[Referrer]) -> String {
    if all.is_empty() {
        return "(none)".to_owned();
    }
    all.iter()
        .map(|r| {
            format!(
                "{} {}",
                r.descriptor
                    .artifact_type
                    .as_deref()
                    .unwrap_or("(no artifactType)"),
                r.descriptor.digest
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(args: &ReferrersArgs) -> Result<(), Failure> {
    let session = Session::open(&args.common)?;
    let found = session.list(args.artifact_type.as_deref())?;
    let out = match args.format {
        ListFormat::Json => json_bytes(&json!({
            "image": session.target.to_string(),
            "referrers": found,
        })),
        ListFormat::Tree => tree(&session.target, &found).into_bytes(),
    };
    write_output(None, &out)
}

/// `IMAGE`, then each subject and its referrers.
fn tree(target: &Target, found: &[Referrer]) -> String {
    let mut by_subject: BTreeMap<&str, Vec<&Referrer>> = BTreeMap::new();
    for r in found {
        by_subject.entry(r.subject.as_str()).or_default().push(r);
    }
    let mut s = format!("{target}\n");
    if by_subject.is_empty() {
        s.push_str("└── (no referrers)\n");
    }
    let n = by_subject.len();
    for (i, (subject, refs)) in by_subject.into_iter().enumerate() {
        let last = i + 1 == n;
        s.push_str(&format!("{} {subject}\n", if last { "└──" } else { "├──" }));
        let indent = if last { "    " } else { "│   " };
        let m = refs.len();
        for (j, r) in refs.into_iter().enumerate() {
            let d = &r.descriptor;
            let discovery = serde_json::to_value(r.discovery)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            s.push_str(&format!(
                "{indent}{} {} {} created={} discovery={discovery}\n",
                if j + 1 == m { "└──" } else { "├──" },
                d.artifact_type.as_deref().unwrap_or("(no artifactType)"),
                d.digest,
                d.annotations
                    .get(ANNOTATION_CREATED)
                    .map_or("-", String::as_str),
            ));
        }
    }
    s
}

fn json_bytes(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}
