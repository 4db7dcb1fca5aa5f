//! `stella sbom submit-github`: turn a CycloneDX or SPDX SBOM into a GitHub dependency snapshot and
//! submit it to the Dependency Submission API (`POST /repos/{owner}/{repo}/dependency-graph/snapshots`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::exit;
use crate::scan::{source_date_epoch, write_output, Failure};

pub const AFTER_HELP: &str = "\
Submits the packages of SBOM (CycloneDX or SPDX JSON, as `stella scan` writes them) to
GitHub's dependency graph through the Dependency Submission API, so Dependabot alerts cover
what is inside the image. Every component with a package URL becomes one resolved dependency
of a single manifest named after the image: `direct` when the SBOM's root (the image) depends
on or contains it, else `indirect` (all `direct` when the SBOM has no dependency graph); its
dependencies come from the graph; scope `runtime`.

In GitHub Actions everything comes from the environment: GITHUB_REPOSITORY, GITHUB_SHA,
GITHUB_REF, GITHUB_API_URL, GITHUB_RUN_ID, GITHUB_SERVER_URL, and GITHUB_WORKFLOW +
GITHUB_JOB (the correlator); the token from GITHUB_TOKEN, which the step must be given and
which needs `permissions: contents: write`. Flags override the environment. GitHub keeps
only the newest snapshot per correlator and detector: submitting several images from one job
needs a distinct --correlator for each. `scanned` is now, or SOURCE_DATE_EPOCH when set.
Plain http:// API URLs are refused unless the host is a loopback address.

Examples:
  stella scan oci:./image:app --output app.cdx.json
  stella sbom submit-github app.cdx.json          # in a workflow step, GITHUB_TOKEN set
  stella sbom submit-github app.spdx.json --repository octo/app \\
      --sha \"$(git rev-parse HEAD)\" --ref refs/heads/main --correlator app-image
  stella sbom submit-github app.cdx.json --dry-run --output snapshot.json

  # .github/workflows/sbom.yml
  permissions:
    contents: write
  steps:
    - run: stella sbom submit-github app.cdx.json
      env:
        GITHUB_TOKEN: ${{ github.token }}

Exit codes: 0 submitted (or written with --dry-run), 1 unexpected failure, 2 a setting
missing or invalid (repository, sha, ref, token, API URL), 3 SBOM unreadable or neither
CycloneDX nor SPDX JSON, 4 GitHub refused the snapshot or could not be reached, 5 output
not written.";

/// `stella sbom submit-github`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The SBOM: CycloneDX or SPDX JSON.
    #[arg(value_name = "SBOM")]
    pub sbom: PathBuf,
    /// The repository, OWNER/REPO [default: $GITHUB_REPOSITORY].
    #[arg(long, value_name = "OWNER/REPO")]
    pub repository: Option<String>,
    /// The commit the snapshot belongs to, 40 hex digits [default: $GITHUB_SHA].
    #[arg(long, value_name = "SHA")]
    pub sha: Option<String>,
    /// The Git ref, e.g. refs/heads/main [default: $GITHUB_REF].
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// A token with write access to the repository's contents [default: $GITHUB_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The REST API root [default: $GITHUB_API_URL, else https://api.github.com].
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Appended to the correlator ("{workflow}_{job}"), to keep several snapshots of one job apart.
    #[arg(long, value_name = "SUFFIX")]
    pub correlator: Option<String>,
    /// The manifest's name [default: the SBOM's root component (the image)].
    #[arg(long, value_name = "NAME")]
    pub manifest: Option<String>,
    /// The manifest's `file.source_location` [default: the manifest name].
    #[arg(long, value_name = "PATH")]
    pub source_location: Option<String>,
    /// Build the snapshot but do not send it (no repository or token needed).
    #[arg(long)]
    pub dry_run: bool,
    /// Also write the snapshot JSON to FILE (atomically); with --dry-run and no --output, stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Give up on GitHub after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// The dependency snapshot, as the API takes it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    pub version: u32,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub job: Job,
    pub detector: Detector,
    pub scanned: String,
    pub manifests: BTreeMap<String, Manifest>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Job {
    pub correlator: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Detector {
    pub name: String,
    pub version: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub file: ManifestFile,
    /// At most 8 keys with scalar values (GitHub's limit).
    pub metadata: BTreeMap<String, String>,
    pub resolved: BTreeMap<String, Resolved>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ManifestFile {
    pub source_location: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Resolved {
    pub package_url: String,
    pub relationship: Relationship,
    pub scope: Scope,
    pub dependencies: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Relationship {
    Direct,
    Indirect,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Runtime,
}

/// What the conversion needs from an SBOM, format-neutral: nodes by their id (bom-ref or SPDXID).
#[derive(Debug, Default)]
struct Graph {
    format: String,
    /// The root's name (the image), if the SBOM names one.
    root_name: Option<String>,
    root_ids: BTreeSet<String>,
    /// id → purl, for every component with a package URL (roots excluded).
    purls: BTreeMap<String, String>,
    /// id → ids it depends on or contains.
    edges: BTreeMap<String, BTreeSet<String>>,
}

/// The manifest of one SBOM (CycloneDX or SPDX JSON): its name and resolved packages.
pub fn manifest_from_sbom(
    sbom: &Value,
    name: Option<&str>,
    source_location: Option<&str>,
) -> Result<Manifest, String> {
    let graph = if sbom.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx_graph(sbom)
    } else if sbom
        .get("spdxVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("SPDX-"))
    {
        spdx_graph(sbom)
    } else {
        return Err(
            "neither CycloneDX JSON (`bomFormat: CycloneDX`) nor SPDX JSON (`spdxVersion: SPDX-…`)"
                .to_owned(),
        );
    };
    let name = name
        .map(str::to_owned)
        .or_else(|| graph.root_name.clone().filter(|n| !n.trim().is_empty()))
        .unwrap_or_else(|| "sbom".to_owned());
    let source_location = source_location.map_or_else(|| name.clone(), str::to_owned);
    let resolved = resolve(&graph);
    let mut metadata = BTreeMap::new();
    metadata.insert("sbom_format".to_owned(), graph.format.clone());
    Ok(Manifest {
        name,
        file: ManifestFile { source_location },
        metadata,
        resolved,
    })
}

fn resolve(graph: &Graph) -> BTreeMap<String, Resolved> {
    let root_children: BTreeSet<&String> = graph
        .root_ids
        .iter()
        .filter_map(|r| graph.edges.get(r))
        .flatten()
        .collect();
    // Without edges from the root, the packages no other package depends on are the direct ones;
    // with no graph at all that is every package.
    let depended_on: BTreeSet<&String> = graph
        .edges
        .iter()
        .filter(|(from, _)| graph.purls.contains_key(*from))
        .flat_map(|(_, to)| to)
        .collect();
    let mut resolved: BTreeMap<String, Resolved> = BTreeMap::new();
    for (id, purl) in &graph.purls {
        let direct = if root_children.is_empty() {
            !depended_on.contains(id)
        } else {
            root_children.contains(id)
        };
        let deps = graph
            .edges
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|to| graph.purls.get(to))
            .filter(|p| *p != purl);
        let entry = resolved.entry(purl.clone()).or_insert_with(|| Resolved {
            package_url: purl.clone(),
            relationship: Relationship::Indirect,
            scope: Scope::Runtime,
            dependencies: Vec::new(),
        });
        if direct {
            entry.relationship = Relationship::Direct;
        }
        entry.dependencies.extend(deps.cloned());
    }
    for r in resolved.values_mut() {
        r.dependencies.sort();
        r.dependencies.dedup();
    }
    resolved
}

fn cyclonedx_graph(sbom: &Value) -> Graph {
    let spec = sbom
        .get("specVersion")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut g = Graph {
        format: format!("CycloneDX {spec}"),
        ..Graph::default()
    };
    let root = sbom.pointer("/metadata/component");
    if let Some(root) = root {
        g.root_name = root.get("name").and_then(Value::as_str).map(str::to_owned);
        if let Some(r) = root.get("bom-ref").and_then(Value::as_str) {
            g.root_ids.insert(r.to_owned());
        }
    }
    let mut stack: Vec<&Value> = sbom
        .get("components")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut anonymous = 0usize;
    while let Some(c) = stack.pop() {
        if let Some(nested) = c.get("components").and_then(Value::as_array) {
            stack.extend(nested);
        }
        let Some(purl) = c
            .get("purl")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        else {
            continue;
        };
        let id = match c.get("bom-ref").and_then(Value::as_str) {
            Some(r) => r.to_owned(),
            None => {
                anonymous += 1;
                format!("\u{0}anonymous-{anonymous}")
            }
        };
        if !g.root_ids.contains(&id) {
            g.purls.insert(id, purl.to_owned());
        }
    }
    for d in sbom
        .get("dependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(from) = d.get("ref").and_then(Value::as_str) else {
            continue;
        };
        let to = d
            .get("dependsOn")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned);
        g.edges.entry(from.to_owned()).or_default().extend(to);
    }
    g
}

fn spdx_graph(sbom: &Value) -> Graph {
    let spec = sbom
        .get("spdxVersion")
        .and_then(Value::as_str)
        .unwrap_or("SPDX-?");
    let mut g = Graph {
        format: spec.replacen('-', " ", 1),
        ..Graph::default()
    };
    let doc_id = sbom
        .get("SPDXID")
        .and_then(Value::as_str)
        .unwrap_or("SPDXRef-DOCUMENT");
    for d in sbom
        .get("documentDescribes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        g.root_ids.insert(d.to_owned());
    }
    let relationships: Vec<(&str, &str, &str)> = sbom
        .get("relationships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r.get("spdxElementId")?.as_str()?,
                r.get("relationshipType")?.as_str()?,
                r.get("relatedSpdxElement")?.as_str()?,
            ))
        })
        .collect();
    for (a, kind, b) in &relationships {
        match *kind {
            "DESCRIBES" if *a == doc_id => {
                g.root_ids.insert((*b).to_owned());
            }
            "DESCRIBED_BY" if *b == doc_id => {
                g.root_ids.insert((*a).to_owned());
            }
            _ => {}
        }
    }
    for (a, kind, b) in &relationships {
        if *a == doc_id || *b == doc_id || matches!(*b, "NONE" | "NOASSERTION") {
            continue;
        }
        let (from, to) = match *kind {
            "DEPENDS_ON" | "CONTAINS" => (a, b),
            "DEPENDENCY_OF" | "CONTAINED_BY" => (b, a),
            _ => continue,
        };
        g.edges
            .entry((*from).to_owned())
            .or_default()
            .insert((*to).to_owned());
    }
    for p in sbom
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = p.get("SPDXID").and_then(Value::as_str) else {
            continue;
        };
        if g.root_ids.contains(id) {
            if g.root_name.is_none() {
                g.root_name = p.get("name").and_then(Value::as_str).map(str::to_owned);
            }
            continue;
        }
        let purl = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
            .and_then(|r| r.get("referenceLocator"))
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty());
        if let Some(purl) = purl {
            g.purls.insert(id.to_owned(), purl.to_owned());
        }
    }
    if g.root_name.is_none() {
        g.root_name = sbom.get("name").and_then(Value::as_str).map(str::to_owned);
    }
    g
}

/// Where the snapshot goes and on whose behalf; `None` fields are missing.
#[derive(Debug)]
struct Settings {
    repository: Option<String>,
    token: Option<String>,
    api_url: String,
    sha: String,
    git_ref: String,
    job: Job,
}

/// How to fix a missing setting, for the error message.
fn missing(what: &str, flag: &str, var: &str, fix: &str) -> Failure {
    Failure::new(
        exit::USAGE,
        format!("no {what}: pass {flag} or set {var} (GitHub Actions sets it{fix})"),
    )
}

fn settings(
    args: &SubmitArgs,
    env: &dyn Fn(&str) -> Option<String>,
    scanned_secs: u64,
) -> Result<Settings, Failure> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let pick = |flag: &Option<String>, var: &str| {
        flag.clone()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| env(var))
            .map(|v| v.trim().to_owned())
    };
    let repository = pick(&args.repository, "GITHUB_REPOSITORY");
    if let Some(r) = &repository {
        let ok_part = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let valid = r
            .split_once('/')
            .is_some_and(|(o, n)| ok_part(o) && ok_part(n) && n != "." && n != "..");
        if !valid {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "repository {r:?} is not OWNER/REPO (from --repository or GITHUB_REPOSITORY)"
                ),
            ));
        }
    }
    let sha = pick(&args.sha, "GITHUB_SHA").ok_or_else(|| {
        missing(
            "commit SHA",
            "--sha $(git rev-parse HEAD)",
            "GITHUB_SHA",
            " in every workflow run",
        )
    })?;
    if sha.len() != 40 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Failure::new(
            exit::USAGE,
            format!("commit SHA {sha:?} is not 40 hexadecimal digits (from --sha or GITHUB_SHA)"),
        ));
    }
    let git_ref = pick(&args.git_ref, "GITHUB_REF").ok_or_else(|| {
        missing(
            "Git ref",
            "--ref refs/heads/BRANCH",
            "GITHUB_REF",
            " in every workflow run",
        )
    })?;
    if !git_ref.starts_with("refs/") || git_ref.len() <= "refs/".len() {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "Git ref {git_ref:?} is not a full ref such as refs/heads/main or refs/tags/v1 (from --ref or GITHUB_REF)"
            ),
        ));
    }
    let token = pick(&args.token, "GITHUB_TOKEN");
    let api_url = pick(&args.api_url, "GITHUB_API_URL")
        .unwrap_or_else(|| "https://api.github.com".to_owned())
        .trim_end_matches('/')
        .to_owned();
    let base = match (env("GITHUB_WORKFLOW"), env("GITHUB_JOB")) {
        (Some(w), Some(j)) => format!("{w}_{j}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "stella".to_owned(),
    };
    let correlator = match args.correlator.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => format!("{base}_{s}"),
        _ => base,
    };
    let run_id = env("GITHUB_RUN_ID");
    let html_url = match (env("GITHUB_SERVER_URL"), &repository, &run_id) {
        (Some(server), Some(repo), Some(run)) => Some(format!(
            "{}/{repo}/actions/runs/{run}",
            server.trim_end_matches('/')
        )),
        _ => None,
    };
    Ok(Settings {
        repository,
        token,
        api_url,
        sha: sha.to_ascii_lowercase(),
        git_ref,
        job: Job {
            correlator,
            id: run_id.unwrap_or_else(|| scanned_secs.to_string()),
            html_url,
        },
    })
}

pub fn submit(args: &SubmitArgs) -> Result<(), Failure> {
    let now = match source_date_epoch()? {
        Some(s) => u64::try_from(s).unwrap_or(0),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let settings = settings(args, &|k| std::env::var(k).ok(), now)?;
    let name = args.sbom.display().to_string();
    let bytes = std::fs::read(&args.sbom)
        .map_err(|e| Failure::new(exit::SOURCE, format!("cannot read {name}: {e}")))?;
    let sbom: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(exit::SOURCE, format!("{name} is not JSON: {e}")))?;
    let manifest = manifest_from_sbom(
        &sbom,
        args.manifest.as_deref(),
        args.source_location.as_deref(),
    )
    .map_err(|e| Failure::new(exit::SOURCE, format!("{name}: {e}")))?;
    let packages = manifest.resolved.len();
    let manifest_name = manifest.name.clone();
    let snapshot = Snapshot {
        version: 0,
        sha: settings.sha.clone(),
        git_ref: settings.git_ref.clone(),
        job: settings.job.clone(),
        detector: Detector {
            name: "stella".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            url: DETECTOR_URL.to_owned(),
        },
        scanned: attestor::trust_root::rfc3339(now),
        manifests: BTreeMap::from([(manifest_name.clone(), manifest)]),
    };
    let mut body = serde_json::to_vec_pretty(&snapshot)
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot encode the snapshot: {e}")))?;
    body.push(b'\n');
    if args.dry_run {
        write_output(args.output.as_deref(), &body)?;
        eprintln!(
            "stella: dry run: snapshot of {packages} packages in manifest {manifest_name:?} not sent"
        );
        return Ok(());
    }
    if let Some(out) = &args.output {
        write_output(Some(out), &body)?;
    }
    let repository = settings.repository.clone().ok_or_else(|| {
        missing(
            "repository",
            "--repository OWNER/REPO",
            "GITHUB_REPOSITORY",
            " in every workflow run",
        )
    })?;
    let token = settings.token.clone().ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            "no GitHub token: pass --token or set GITHUB_TOKEN; in a workflow, pass \
             `token: ${{ github.token }}` (or `env: GITHUB_TOKEN: ${{ github.token }}`) and give the job \
             `permissions: contents: write`",
        )
    })?;
    let endpoint = endpoint(&settings.api_url, &repository)?;
    let answer = post(&endpoint, &token, body, args.timeout)?;
    let field = |k: &str| {
        answer.body.get(k).map_or_else(String::new, |v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    match answer.status {
        200..=299 => {
            let result = field("result");
            if result.eq_ignore_ascii_case("INVALID") {
                return Err(Failure::new(
                    exit::REGISTRY,
                    format!(
                        "GitHub did not accept the snapshot for {repository}: {result}: {}",
                        field("message")
                    ),
                ));
            }
            eprintln!(
                "stella: submitted {packages} packages of {manifest_name:?} to {repository}: snapshot {} ({result}{}{})",
                field("id"),
                if field("message").is_empty() { "" } else { ": " },
                field("message"),
            );
            let mut out = serde_json::to_vec_pretty(&answer.body).unwrap_or_default();
            out.push(b'\n');
            write_output(None, &out)
        }
        401 | 403 | 404 => Err(Failure::new(
            exit::REGISTRY,
            format!(
                "GitHub refused the dependency snapshot for {repository} (HTTP {}: {}). The token \
                 needs write access to the repository's contents: in a workflow give the job \
                 `permissions: contents: write` and pass `token: ${{{{ github.token }}}}`; a \
                 fine-grained token needs the \"Contents\" repository permission (write), a classic \
                 token the `repo` scope{}",
                answer.status,
                answer.message(),
                if answer.status == 404 {
                    "; also check the repository name and that the token can see it"
                } else {
                    ""
                }
            ),
        )),
        status => Err(Failure::new(
            exit::REGISTRY,
            format!(
                "GitHub rejected the dependency snapshot for {repository} (HTTP {status}: {})",
                answer.message()
            ),
        )),
    }
}

/// `{api}/repos/{owner}/{repo}/dependency-graph/snapshots`; plain HTTP only to a loopback host, so
/// the token never crosses the network in the clear.
fn endpoint(api_url: &str, repository: &str) -> Result<String, Failure> {
    let url = reqwest::Url::parse(api_url).map_err(|e| {
        Failure::new(
            exit::USAGE,
            format!("API URL {api_url:?} (--api-url or GITHUB_API_URL) is not a URL: {e}"),
        )
    })?;
    let loopback = url.host_str().is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "API URL {api_url:?} (--api-url or GITHUB_API_URL) must be https:// (plain http only to a loopback address)"
                ),
            ))
        }
    }
    Ok(format!(
        "{api_url}/repos/{repository}/dependency-graph/snapshots"
    ))
}

/// GitHub's answer: status and JSON body (`null` when it was not JSON).
struct Answer {
    status: u16,
    body: Value,
    text: String,
}

impl Answer {
    /// GitHub's `message` (and validation `errors`), else the start of the body.
    fn message(&self) -> String {
        let mut m = match self.body.get("message").and_then(Value::as_str) {
            Some(s) => s.to_owned(),
            None => self.text.chars().take(300).collect::<String>(),
        };
        if let Some(errors) = self.body.get("errors").filter(|e| !e.is_null()) {
            m.push_str(&format!(" {errors}"));
        }
        if m.trim().is_empty() {
            "no message".to_owned()
        } else {
            m
        }
    }
}

/// `detector.url`: where stella comes from.
const DETECTOR_URL: &str = "https://github.com/stella-ops/stella-buildtime";

/// The answer bodies we read are small; anything larger is cut here.
const MAX_ANSWER: usize = 1 << 20;

fn post(endpoint: &str, token: &str, body: Vec<u8>, timeout: u64) -> Result<Answer, Failure> {
    let unreachable = |e: reqwest::Error| {
        Failure::new(
            exit::REGISTRY,
            format!("cannot reach GitHub at {endpoint}: {e}"),
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(timeout.min(15)))
            .timeout(Duration::from_secs(timeout))
            .user_agent(concat!("stella/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(unreachable)?;
        let mut response = client
            .post(endpoint)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let mut raw = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            let room = MAX_ANSWER.saturating_sub(raw.len());
            raw.extend(chunk.iter().take(room));
            if raw.len() >= MAX_ANSWER {
                break;
            }
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        Ok(Answer {
            status,
            body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
            text,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `unwrap` for a `Result` whose error is a `Failure` (which is not `Debug`).
    fn must<T>(r: Result<T, Failure>) -> T {
        match r {
            Ok(v) => v,
            Err(f) => panic!("failed with {}: {}", f.code, f.message),
        }
    }

    fn cyclonedx() -> Value {
        json!({
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "metadata": {"component": {"type": "container", "bom-ref": "img", "name": "app",
                                       "purl": "pkg:oci/app@sha256%3Aabc"}},
            "components": [
                {"type": "operating-system", "bom-ref": "os:debian@12", "name": "debian"},
                {"type": "library", "bom-ref": "express", "name": "express",
                 "purl": "pkg:npm/express@4.21.1"},
                {"type": "library", "bom-ref": "debug", "name": "debug",
                 "purl": "pkg:npm/debug@2.6.9"},
                {"type": "library", "bom-ref": "ms", "name": "ms", "purl": "pkg:npm/ms@2.0.0",
                 "components": [{"type": "library", "bom-ref": "nested", "name": "nested",
                                 "purl": "pkg:npm/nested@1.0.0"}]},
                {"type": "library", "bom-ref": "flask", "name": "flask",
                 "purl": "pkg:pypi/flask@3.0.3"}
            ],
            "dependencies": [
                {"ref": "img", "dependsOn": ["os:debian@12", "express", "flask"]},
                {"ref": "express", "dependsOn": ["debug", "os:debian@12"]},
                {"ref": "debug", "dependsOn": ["ms"]},
                {"ref": "ms", "dependsOn": ["nested"]},
                {"ref": "flask", "dependsOn": []}
            ]
        })
    }

    #[test]
    fn github_cyclonedx_graph_to_manifest() {
        let m = manifest_from_sbom(&cyclonedx(), None, None).unwrap();
        assert_eq!(m.name, "app");
        assert_eq!(m.file.source_location, "app");
        assert_eq!(m.metadata.get("sbom_format").unwrap(), "CycloneDX 1.6");
        let keys: Vec<&str> = m.resolved.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "pkg:npm/debug@2.6.9",
                "pkg:npm/express@4.21.1",
                "pkg:npm/ms@2.0.0",
                "pkg:npm/nested@1.0.0",
                "pkg:pypi/flask@3.0.3"
            ]
        );
        let express = m.resolved.get("pkg:npm/express@4.21.1").unwrap();
        assert_eq!(express.relationship, Relationship::Direct);
        assert_eq!(express.scope, Scope::Runtime);
        assert_eq!(express.dependencies, ["pkg:npm/debug@2.6.9"]);
        let debug = m.resolved.get("pkg:npm/debug@2.6.9").unwrap();
        assert_eq!(debug.relationship, Relationship::Indirect);
        assert_eq!(debug.dependencies, ["pkg:npm/ms@2.0.0"]);
        assert_eq!(
            m.resolved.get("pkg:npm/ms@2.0.0").unwrap().dependencies,
            ["pkg:npm/nested@1.0.0"]
        );
        assert_eq!(
            m.resolved.get("pkg:pypi/flask@3.0.3").unwrap().relationship,
            Relationship::Direct
        );
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v.pointer("/resolved/pkg:npm~1debug@2.6.9/relationship"),
            Some(&json!("indirect"))
        );
        assert_eq!(
            v.pointer("/resolved/pkg:npm~1debug@2.6.9/scope"),
            Some(&json!("runtime"))
        );
    }

    #[test]
    fn github_cyclonedx_without_graph_is_all_direct_and_names_override() {
        let mut sbom = cyclonedx();
        sbom.as_object_mut().unwrap().remove("dependencies");
        let m = manifest_from_sbom(&sbom, Some("ghcr.io/o/app"), Some("Dockerfile")).unwrap();
        assert_eq!(m.name, "ghcr.io/o/app");
        assert_eq!(m.file.source_location, "Dockerfile");
        assert_eq!(m.resolved.len(), 5);
        assert!(m
            .resolved
            .values()
            .all(|r| r.relationship == Relationship::Direct && r.dependencies.is_empty()));
    }

    #[test]
    fn github_cyclonedx_without_root_uses_graph_roots() {
        let mut sbom = cyclonedx();
        sbom.as_object_mut().unwrap().remove("metadata");
        let m = manifest_from_sbom(&sbom, None, None).unwrap();
        assert_eq!(m.name, "sbom");
        let rel = |p: &str| m.resolved.get(p).unwrap().relationship;
        assert_eq!(rel("pkg:npm/express@4.21.1"), Relationship::Direct);
        assert_eq!(rel("pkg:pypi/flask@3.0.3"), Relationship::Direct);
        assert_eq!(rel("pkg:npm/debug@2.6.9"), Relationship::Indirect);
    }

    fn spdx_pkg(id: &str, name: &str, purl: Option<&str>) -> Value {
        let mut p = json!({"SPDXID": id, "name": name, "downloadLocation": "NOASSERTION"});
        if let Some(purl) = purl {
            p["externalRefs"] = json!([{"referenceCategory": "PACKAGE-MANAGER",
                                        "referenceType": "purl", "referenceLocator": purl}]);
        }
        p
    }

    #[test]
    fn github_spdx_relationships_to_manifest() {
        let rel = |a: &str, t: &str, b: &str| json!({"spdxElementId": a, "relationshipType": t, "relatedSpdxElement": b});
        let sbom = json!({
            "spdxVersion": "SPDX-2.3",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "doc-name",
            "packages": [
                spdx_pkg("SPDXRef-Image", "app", Some("pkg:oci/app@sha256%3Aabc")),
                spdx_pkg("SPDXRef-OS", "debian", None),
                spdx_pkg("SPDXRef-apt", "apt", Some("pkg:deb/debian/apt@2.6.1?arch=amd64")),
                spdx_pkg("SPDXRef-libc", "libc6", Some("pkg:deb/debian/libc6@2.36?arch=amd64")),
                spdx_pkg("SPDXRef-zlib", "zlib1g", Some("pkg:deb/debian/zlib1g@1.2.13?arch=amd64")),
                spdx_pkg("SPDXRef-jar", "app.jar", Some("pkg:maven/o/app@1")),
                spdx_pkg("SPDXRef-inner", "inner", Some("pkg:maven/o/inner@2")),
            ],
            "relationships": [
                rel("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"),
                rel("SPDXRef-Image", "CONTAINS", "SPDXRef-OS"),
                rel("SPDXRef-Image", "CONTAINS", "SPDXRef-apt"),
                rel("SPDXRef-Image", "DEPENDS_ON", "SPDXRef-jar"),
                rel("SPDXRef-apt", "DEPENDS_ON", "SPDXRef-libc"),
                rel("SPDXRef-zlib", "DEPENDENCY_OF", "SPDXRef-apt"),
                rel("SPDXRef-jar", "CONTAINS", "SPDXRef-inner"),
                rel("SPDXRef-libc", "DEPENDS_ON", "NOASSERTION"),
            ]
        });
        let m = manifest_from_sbom(&sbom, None, None).unwrap();
        assert_eq!(m.name, "app");
        assert_eq!(m.metadata.get("sbom_format").unwrap(), "SPDX 2.3");
        assert_eq!(m.resolved.len(), 5, "{:?}", m.resolved.keys());
        assert!(!m.resolved.contains_key("pkg:oci/app@sha256%3Aabc"));
        let get = |p: &str| m.resolved.get(p).unwrap();
        let apt = get("pkg:deb/debian/apt@2.6.1?arch=amd64");
        assert_eq!(apt.relationship, Relationship::Direct);
        assert_eq!(
            apt.dependencies,
            [
                "pkg:deb/debian/libc6@2.36?arch=amd64",
                "pkg:deb/debian/zlib1g@1.2.13?arch=amd64"
            ]
        );
        assert_eq!(
            get("pkg:deb/debian/libc6@2.36?arch=amd64").relationship,
            Relationship::Indirect
        );
        assert_eq!(
            get("pkg:deb/debian/zlib1g@1.2.13?arch=amd64").relationship,
            Relationship::Indirect
        );
        assert_eq!(get("pkg:maven/o/app@1").relationship, Relationship::Direct);
        assert_eq!(
            get("pkg:maven/o/app@1").dependencies,
            ["pkg:maven/o/inner@2"]
        );
        assert_eq!(
            get("pkg:maven/o/inner@2").relationship,
            Relationship::Indirect
        );
    }

    #[test]
    fn github_neither_format_is_refused() {
        assert!(manifest_from_sbom(&json!({"hello": "world"}), None, None).is_err());
        assert!(manifest_from_sbom(&json!([1, 2]), None, None).is_err());
    }

    fn args() -> SubmitArgs {
        SubmitArgs {
            sbom: PathBuf::from("x.json"),
            repository: None,
            sha: None,
            git_ref: None,
            token: None,
            api_url: None,
            correlator: None,
            manifest: None,
            source_location: None,
            dry_run: false,
            output: None,
            timeout: 60,
        }
    }

    fn actions_env(k: &str) -> Option<String> {
        Some(
            match k {
                "GITHUB_REPOSITORY" => "octo/app",
                "GITHUB_SHA" => "0123456789ABCDEF0123456789abcdef01234567",
                "GITHUB_REF" => "refs/heads/main",
                "GITHUB_TOKEN" => "tok",
                "GITHUB_RUN_ID" => "42",
                "GITHUB_WORKFLOW" => "build",
                "GITHUB_JOB" => "sbom",
                "GITHUB_SERVER_URL" => "https://github.com/",
                _ => return None,
            }
            .to_owned(),
        )
    }

    #[test]
    fn github_settings_from_actions_env_and_flags() {
        let s = must(settings(&args(), &actions_env, 7));
        assert_eq!(s.repository.as_deref(), Some("octo/app"));
        assert_eq!(s.sha, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(s.git_ref, "refs/heads/main");
        assert_eq!(s.api_url, "https://api.github.com");
        assert_eq!(s.job.correlator, "build_sbom");
        assert_eq!(s.job.id, "42");
        assert_eq!(
            s.job.html_url.as_deref(),
            Some("https://github.com/octo/app/actions/runs/42")
        );
        let mut a = args();
        a.repository = Some("other/repo".into());
        a.correlator = Some("amd64".into());
        a.api_url = Some("https://ghe.example/api/v3/".into());
        let s = must(settings(&a, &actions_env, 7));
        assert_eq!(s.repository.as_deref(), Some("other/repo"));
        assert_eq!(s.job.correlator, "build_sbom_amd64");
        assert_eq!(s.api_url, "https://ghe.example/api/v3");
        assert_eq!(
            must(endpoint(&s.api_url, "other/repo")),
            "https://ghe.example/api/v3/repos/other/repo/dependency-graph/snapshots"
        );
    }

    #[test]
    fn github_settings_missing_or_invalid() {
        let none = |_: &str| None;
        let e = settings(&args(), &none, 7).unwrap_err();
        assert_eq!(e.code, exit::USAGE);
        assert!(e.message.contains("GITHUB_SHA"), "{}", e.message);
        let mut a = args();
        a.sha = Some("abc".into());
        assert!(settings(&a, &none, 7)
            .unwrap_err()
            .message
            .contains("40 hexadecimal"));
        a.sha = Some("a".repeat(40));
        assert!(settings(&a, &none, 7)
            .unwrap_err()
            .message
            .contains("GITHUB_REF"));
        a.git_ref = Some("main".into());
        assert!(settings(&a, &none, 7)
            .unwrap_err()
            .message
            .contains("refs/heads/main"));
        a.git_ref = Some("refs/heads/main".into());
        let s = must(settings(&a, &none, 7));
        assert_eq!(s.job.id, "7");
        assert_eq!(s.job.correlator, "stella");
        assert!(s.repository.is_none() && s.token.is_none() && s.job.html_url.is_none());
        a.repository = Some("no-slash".into());
        assert!(settings(&a, &none, 7)
            .unwrap_err()
            .message
            .contains("OWNER/REPO"));
    }

    #[test]
    fn github_plain_http_only_to_loopback() {
        assert!(endpoint("http://127.0.0.1:8080", "o/r").is_ok());
        assert!(endpoint("http://localhost:1", "o/r").is_ok());
        assert!(endpoint("http://[::1]:1", "o/r").is_ok());
        assert_eq!(
            endpoint("http://api.github.com", "o/r").unwrap_err().code,
            exit::USAGE
        );
        assert_eq!(endpoint("not a url", "o/r").unwrap_err().code, exit::USAGE);
    }
}
