//! One frontend run, start to Return (DESIGN.md §5): Ping, Solve the Dockerfile frontend with the
//! caller's options, scan each platform's result (the warmed-base fast path when it can, the full
//! walk otherwise), Solve the SBOM files into a scratch ref, and Return the inner result with our
//! attestations added.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use scanner_core::entrytrace::ImageConfig;
use scanner_core::layer::{LayerChanges, Limits};
use scanner_core::model::{Inventory, ScanReport, SourceKind, Subject, Tool};
use scanner_core::overlay::{NodeKind, Overlay};
use scanner_core::sbom::spdx::{FileDigests, SpdxOptions};

use crate::dockerfile::{self, Base};
use crate::llb::{self, Builder};
use crate::meta;
use crate::options::{self, OptionError, SbomMode, SbomView, Settings};
use crate::proto::google::rpc::Status;
use crate::proto::gw::{
    self, result, Attestation, AttestationKind, Attestations, InTotoSubject, InTotoSubjectKind,
    InputsRequest, PingRequest, Ref, ReturnRequest, SolveRequest,
};
use crate::proto::pb::Definition;
use crate::walk::{self, Client, WalkStats};

/// The SPDX predicate type BuildKit stores SBOMs under.
pub const SPDX_PREDICATE: &str = "https://spdx.dev/Document";
/// The CycloneDX predicate type.
pub const CYCLONEDX_PREDICATE: &str = "https://cyclonedx.org/bom";
/// Largest fragment file read back from the fragment ExecOp.
const MAX_FRAGMENT: u64 = 1 << 30;
/// The gateway's message limit, less room for the rest of a Solve request.
const MAX_SOLVE_FILES: usize = (16 << 20) - (256 << 10);
/// Files read at once for the full mode's per-file digests.
const DIGEST_CONCURRENCY: usize = 16;

/// Gateway caps we use.
pub mod caps {
    /// ReadDir.
    pub const READ_DIR: &str = "readdir";
    /// StatFile.
    pub const STAT_FILE: &str = "statfile";
    /// The Inputs RPC.
    pub const FRONTEND_INPUTS: &str = "frontend.inputs";
    /// LLB: DiffOp.
    pub const DIFF_OP: &str = "diffop";
    /// LLB: attestations in results.
    pub const ATTESTATIONS: &str = "exporter.image.attestations";
}

/// The process's inputs besides the connection.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Frontend options by key.
    pub opts: BTreeMap<String, String>,
    /// `BUILDKIT_SESSION_ID`.
    pub session_id: String,
}

impl Env {
    /// Reads the options and the session id from environment variables.
    pub fn from_vars<I>(vars: I) -> Result<Env, OptionError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let opts = options::parse_env(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let session_id = vars
            .iter()
            .find(|(k, _)| k == "BUILDKIT_SESSION_ID")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        Ok(Env { opts, session_id })
    }
}

/// Why a run failed (it is Returned as the build's error).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Bad options.
    #[error(transparent)]
    Options(#[from] OptionError),
    /// An RPC the run cannot do without failed.
    #[error("{what}: {status}")]
    Rpc {
        /// Which call.
        what: &'static str,
        /// The server's message.
        status: String,
    },
    /// The server's reply is not usable.
    #[error("bad reply to {what}: {why}")]
    Reply {
        /// Which call.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A platform's result could not be scanned.
    #[error("scanning {platform}: {why}")]
    Scan {
        /// The platform id.
        platform: String,
        /// What failed.
        why: String,
    },
}

fn rpc(what: &'static str) -> impl FnOnce(tonic::Status) -> FlowError {
    move |s| FlowError::Rpc {
        what,
        status: s.message().to_owned(),
    }
}

/// A diagnostic line on stderr (stdout is the gRPC connection).
#[allow(clippy::print_stderr)]
pub fn warn(message: &str) {
    eprintln!("stella-frontend: {message}");
}

/// Phase timings on stderr when `STELLA_FRONTEND_TIMING` is set (for profiling the bench).
fn timing(what: &str, since: std::time::Instant) {
    if std::env::var_os("STELLA_FRONTEND_TIMING").is_some() {
        warn(&format!(
            "timing: {what}: {:.1} ms",
            since.elapsed().as_secs_f64() * 1e3
        ));
    }
}

/// How one platform was scanned (what the tests and the bench look at).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformScan {
    /// The attestation key.
    pub platform: String,
    /// Whether the fast path was used.
    pub fast: bool,
    /// File RPCs made.
    pub stats: WalkStats,
}

/// One run: the outcome Returned, after the Return call itself.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Per-platform scans.
    pub scans: Vec<PlatformScan>,
}

/// Runs the frontend on `client` and Returns the result or the error. `Err` after Return when the
/// build failed (the process then exits non-zero).
pub async fn run(client: Client, env: &Env) -> Result<Outcome, FlowError> {
    let mut c = client.clone();
    match build(client, env).await {
        Ok((res, outcome)) => {
            c.r#return(ReturnRequest {
                result: Some(res),
                error: None,
            })
            .await
            .map_err(rpc("Return"))?;
            Ok(outcome)
        }
        Err(e) => {
            return_error(c, &e).await;
            Err(e)
        }
    }
}

/// Prints `e` and Returns it as the build's error (google.rpc UNKNOWN).
pub async fn return_error(mut client: Client, e: &FlowError) {
    warn(&e.to_string());
    let _ = client
        .r#return(ReturnRequest {
            result: None,
            error: Some(Status {
                code: 2,
                message: e.to_string(),
                details: Vec::new(),
            }),
        })
        .await;
}

async fn build(client: Client, env: &Env) -> Result<(gw::Result, Outcome), FlowError> {
    let t_build = std::time::Instant::now();
    let mut c = client.clone();
    let settings = Settings::from_options(&env.opts)?;

    let pong = c
        .ping(PingRequest {})
        .await
        .map_err(rpc("Ping"))?
        .into_inner();
    let enabled = |list: &[crate::proto::moby::buildkit::v1::apicaps::ApiCap]| -> BTreeSet<String> {
        list.iter()
            .filter(|cap| cap.enabled)
            .map(|cap| cap.id.clone())
            .collect()
    };
    let gw_caps = enabled(&pong.frontend_api_caps);
    let llb_caps = enabled(&pong.llb_caps);

    let inputs = if gw_caps.contains(caps::FRONTEND_INPUTS) {
        c.inputs(InputsRequest {})
            .await
            .map_err(rpc("Inputs"))?
            .into_inner()
            .definitions
    } else {
        BTreeMap::new()
    };

    let forwarded = options::forwarded(&env.opts, &settings);
    let solved = c
        .solve(SolveRequest {
            frontend: options::inner_frontend(&settings).to_owned(),
            frontend_opt: forwarded,
            frontend_inputs: inputs.clone(),
            allow_result_return: true,
            allow_result_array_ref: true,
            ..SolveRequest::default()
        })
        .await
        .map_err(rpc("Solve (Dockerfile frontend)"))?
        .into_inner();
    let mut res = solved.result.ok_or_else(|| FlowError::Reply {
        what: "Solve (Dockerfile frontend)",
        why: "no result".to_owned(),
    })?;

    if !gw_caps.contains(caps::READ_DIR) {
        warn(
            "BuildKit lacks the readdir gateway cap: returning the build without SBOM attestations",
        );
        return Ok((res, Outcome::default()));
    }
    if !llb_caps.contains(caps::ATTESTATIONS) {
        warn("BuildKit lacks the exporter.image.attestations cap: returning the build without SBOM attestations");
        return Ok((res, Outcome::default()));
    }

    let targets = targets(&res, &env.opts)?;
    let base = if !settings.fast_path {
        None
    } else if !llb_caps.contains(caps::DIFF_OP) {
        warn("BuildKit lacks the diffop LLB cap: scanning the whole result");
        None
    } else if env.opts.get("source").is_none_or(|s| s.is_empty()) {
        warn("no `source` option (our own image): scanning the whole result");
        None
    } else {
        match final_base(&client, env, &inputs).await {
            Ok(Base::Image(reference)) => Some(reference),
            Ok(other) => {
                if let Base::Unknown(why) = &other {
                    warn(&format!(
                        "final base not a registry image ({why}): scanning the whole result"
                    ));
                }
                None
            }
            Err(why) => {
                warn(&format!(
                    "cannot read the Dockerfile ({why}): scanning the whole result"
                ));
                None
            }
        }
    };

    let limits = Limits::default();
    timing("until the scan", t_build);
    let t_scan = std::time::Instant::now();
    let mut outcome = Outcome::default();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut planned: Vec<(String, String, &'static str)> = Vec::new();
    for t in &targets {
        let config = meta::config_for(&res.metadata, t.config_key.as_deref());
        let (inventory, layers, scan) = scan_platform(
            &client,
            env,
            t,
            base.as_deref(),
            config.run.as_ref(),
            &limits,
        )
        .await?;
        outcome.scans.push(scan);
        let t_doc = std::time::Instant::now();
        let report = report(&settings, env, &config, inventory);
        let stem = t.key.replace('/', "_");
        let spdx_path = format!("{stem}.spdx.json");
        let spdx = spdx_document(&client, &settings, t, &layers, &report).await?;
        files.push((spdx_path.clone(), spdx));
        planned.push((t.key.clone(), spdx_path, SPDX_PREDICATE));
        timing("SPDX document", t_doc);
        if settings.cyclonedx {
            let path = format!("{stem}.cdx.json");
            let cdx = scanner_core::sbom::cyclonedx::to_cyclonedx_json(&report);
            if cdx.len() > MAX_SOLVE_FILES {
                return Err(too_large(&t.key, "CycloneDX", cdx.len()));
            }
            files.push((path.clone(), cdx));
            planned.push((t.key.clone(), path, CYCLONEDX_PREDICATE));
        }
    }
    timing("scans and documents", t_scan);

    // The documents travel inside LLB (FileOp mkfile), so each Solve must fit one gateway
    // message: as few Solves as the sizes allow, each under the limit.
    let epoch = settings.source_date_epoch.unwrap_or(0);
    let mut refs: BTreeMap<String, Ref> = BTreeMap::new();
    for group in pack(files, MAX_SOLVE_FILES) {
        let mut b = Builder::new();
        let out = b.files(&group, epoch);
        let files_ref = solve_ref(&mut c, b.build(&out), "Solve (SBOM files)").await?;
        for (path, _) in &group {
            refs.insert(path.clone(), files_ref.clone());
        }
    }

    for (key, path, predicate) in planned {
        let Some(files_ref) = refs.get(&path) else {
            continue;
        };
        let mut metadata = BTreeMap::new();
        metadata.insert("reason".to_owned(), b"sbom".to_vec());
        res.attestations
            .entry(key)
            .or_insert_with(Attestations::default)
            .attestation
            .push(Attestation {
                kind: AttestationKind::InToto as i32,
                metadata,
                r#ref: Some(files_ref.clone()),
                path: format!("/{path}"),
                in_toto_predicate_type: predicate.to_owned(),
                in_toto_subjects: vec![InTotoSubject {
                    kind: InTotoSubjectKind::Self_ as i32,
                    digest: Vec::new(),
                    name: String::new(),
                }],
            });
    }
    timing("whole run before Return", t_build);
    Ok((res, outcome))
}

/// One platform's result to scan.
#[derive(Debug, Clone)]
struct Target {
    /// Attestation key (platform id).
    key: String,
    /// Metadata suffix of its image config (`None`: the single-ref key).
    config_key: Option<String>,
    /// Its ref.
    reference: Ref,
    /// Its LLB platform.
    platform: Option<crate::proto::pb::Platform>,
}

fn targets(res: &gw::Result, opts: &BTreeMap<String, String>) -> Result<Vec<Target>, FlowError> {
    let listed = meta::platform_ids(&res.metadata);
    match &res.result {
        Some(result::Result::Refs(map)) => {
            let ids: Vec<String> = match listed {
                Some(ids) if !ids.is_empty() => ids,
                _ => map.refs.keys().cloned().collect(),
            };
            let mut out = Vec::new();
            for id in ids {
                let Some(r) = map.refs.get(&id) else {
                    return Err(FlowError::Reply {
                        what: "Solve (Dockerfile frontend)",
                        why: format!("refs.platforms lists {id:?} but no ref has that key"),
                    });
                };
                out.push(Target {
                    platform: llb::platform(&id),
                    key: id.clone(),
                    config_key: Some(id),
                    reference: r.clone(),
                });
            }
            Ok(out)
        }
        Some(result::Result::Ref(r)) => {
            let config = meta::config_for(&res.metadata, None);
            let key = match listed.as_deref() {
                Some([one]) => one.clone(),
                _ => match (&config.os, &config.architecture) {
                    (Some(os), Some(arch)) => match &config.variant {
                        Some(v) => format!("{os}/{arch}/{v}"),
                        None => format!("{os}/{arch}"),
                    },
                    _ => opts
                        .get("platform")
                        .and_then(|p| p.split(',').next())
                        .filter(|p| !p.is_empty())
                        .unwrap_or("linux/amd64")
                        .to_owned(),
                },
            };
            Ok(vec![Target {
                platform: llb::platform(&key),
                key,
                config_key: None,
                reference: r.clone(),
            }])
        }
        Some(result::Result::RefDeprecated(id)) => Ok(vec![Target {
            key: "linux/amd64".to_owned(),
            platform: None,
            config_key: None,
            reference: Ref {
                id: id.clone(),
                def: None,
            },
        }]),
        Some(result::Result::RefsDeprecated(_)) | None => Err(FlowError::Reply {
            what: "Solve (Dockerfile frontend)",
            why: "the result has no refs".to_owned(),
        }),
    }
}

async fn solve_ref(c: &mut Client, def: Definition, what: &'static str) -> Result<Ref, FlowError> {
    let res = c
        .solve(SolveRequest {
            definition: Some(def),
            allow_result_return: true,
            allow_result_array_ref: true,
            ..SolveRequest::default()
        })
        .await
        .map_err(rpc(what))?
        .into_inner();
    match res.result.and_then(|r| r.result) {
        Some(result::Result::Ref(r)) if !r.id.is_empty() => Ok(r),
        Some(result::Result::RefDeprecated(id)) if !id.is_empty() => Ok(Ref { id, def: None }),
        _ if !res.r#ref.is_empty() => Ok(Ref {
            id: res.r#ref,
            def: None,
        }),
        _ => Err(FlowError::Reply {
            what,
            why: "no ref in the result".to_owned(),
        }),
    }
}

/// The Dockerfile's final base, read from the `dockerfile` input or local context.
async fn final_base(
    client: &Client,
    env: &Env,
    inputs: &BTreeMap<String, Definition>,
) -> Result<Base, String> {
    let mut c = client.clone();
    let filename = env
        .opts
        .get("filename")
        .filter(|f| !f.is_empty())
        .cloned()
        .unwrap_or_else(|| "Dockerfile".to_owned());
    let name = env
        .opts
        .get("dockerfilekey")
        .filter(|f| !f.is_empty())
        .cloned()
        .unwrap_or_else(|| "dockerfile".to_owned());
    let def = match inputs.get(&name) {
        Some(d) => d.clone(),
        None => {
            let mut b = Builder::new();
            let out = b.local(&name, &env.session_id, &[filename.as_str()]);
            b.build(&out)
        }
    };
    let r = solve_ref(&mut c, def, "Solve (Dockerfile)")
        .await
        .map_err(|e| e.to_string())?;
    let (bytes, _) = walk::read_all(&mut c, &r.id, &filename, dockerfile::MAX_DOCKERFILE as u64)
        .await
        .map_err(|s| s.message().to_owned())?;
    let bytes = bytes.ok_or_else(|| "Dockerfile too large".to_owned())?;
    let text = String::from_utf8(bytes).map_err(|_| "Dockerfile is not UTF-8".to_owned())?;
    dockerfile::final_base(&text, &env.opts).map_err(|e| e.to_string())
}

/// Scans one platform's result: its inventory, and the layers it was composed from (what the
/// full mode's per-file digests look paths up in).
async fn scan_platform(
    client: &Client,
    env: &Env,
    t: &Target,
    base: Option<&str>,
    run: Option<&ImageConfig>,
    limits: &Limits,
) -> Result<(Inventory, Vec<LayerChanges>, PlatformScan), FlowError> {
    if let Some(base) = base {
        match fast_path(client, env, t, base, limits).await {
            Ok((layers, stats)) => {
                let readers = vec![t.reference.id.clone()];
                let t0 = std::time::Instant::now();
                let (inv, layers) = scan_layers(client, layers, run, readers).await;
                timing("scan_changes", t0);
                return Ok((
                    inv,
                    layers,
                    PlatformScan {
                        platform: t.key.clone(),
                        fast: true,
                        stats,
                    },
                ));
            }
            Err(why) => warn(&format!(
                "{}: fast path failed ({why}); scanning the whole result",
                t.key
            )),
        }
    }
    let (changes, stats) = walk::walk(client, &t.reference.id, limits)
        .await
        .map_err(|e| FlowError::Scan {
            platform: t.key.clone(),
            why: e.to_string(),
        })?;
    let (inv, layers) = scan_layers(client, vec![changes], run, vec![t.reference.id.clone()]).await;
    Ok((
        inv,
        layers,
        PlatformScan {
            platform: t.key.clone(),
            fast: false,
            stats,
        },
    ))
}

/// The base's stored fragment, the whiteouts of what the build deleted from it, and the diff's
/// fragment. Both fragments come from ExecOps of our own image running `stella-frontend fragment`:
/// over the base (cached by BuildKit, so free on a warmed base) and over `DiffOp(base, final)`
/// (where the files are local to the process reading them; walking the diff over ReadDir/ReadFile
/// would move every file through the gateway). The two are solved at once.
async fn fast_path(
    client: &Client,
    env: &Env,
    t: &Target,
    base: &str,
    limits: &Limits,
) -> Result<(Vec<LayerChanges>, WalkStats), String> {
    let def = t
        .reference
        .def
        .as_ref()
        .ok_or("the result ref carries no definition")?;
    let ours = env.opts.get("source").cloned().unwrap_or_default();

    let mut b = Builder::new();
    let frontend = b.image(&ours, None);
    let base_img = b.image(base, t.platform.as_ref());
    let exec = b.fragment_exec(&frontend, &base_img, true, "[stella] scan base image");
    let base_def = b.build(&exec);

    let mut b = Builder::new();
    let fin = b.import(def).map_err(|e| e.to_string())?;
    let base_img = b.image(base, t.platform.as_ref());
    let diff = b.diff(&base_img, &fin);
    let frontend = b.image(&ours, None);
    // The unowned natives of the final image are only known once the base is applied: the few
    // there are, scan_changes reads from the final ref.
    let exec = b.fragment_exec(&frontend, &diff, false, "[stella] scan build changes");
    let diff_def = b.build(&exec);

    // The base's fragment is cached on a warmed base, so the deletion check (which needs it) runs
    // while the diff's ExecOp is still capturing.
    let t0 = std::time::Instant::now();
    let base_and_deletions = async {
        let fragment = fetch_fragment(client, base_def, "base", limits).await?;
        let t1 = std::time::Instant::now();
        let (whiteouts, dir_calls) = walk::deletions(client, &t.reference.id, &fragment)
            .await
            .map_err(|s| format!("checking deletions: {}", s.message()))?;
        timing("deletions", t1);
        Ok::<_, String>((fragment, whiteouts, dir_calls))
    };
    let ((fragment, whiteouts, dir_calls), changes) = tokio::try_join!(
        base_and_deletions,
        fetch_fragment(client, diff_def, "diff", limits),
    )?;
    timing("fragments (base, diff) and deletions", t0);
    let stats = WalkStats {
        read_dir: dir_calls,
        read_file: 2,
        entries: changes.entries.len() as u64,
    };
    let deleted = LayerChanges {
        blob_digest: fragment.blob_digest.clone(),
        diff_id: fragment.diff_id.clone(),
        uncompressed_size: 0,
        entries: whiteouts,
        diagnostics: Vec::new(),
    };
    Ok((vec![fragment, deleted, changes], stats))
}

/// Solves one fragment ExecOp and decodes the fragment file it wrote.
async fn fetch_fragment(
    client: &Client,
    def: Definition,
    what: &str,
    limits: &Limits,
) -> Result<LayerChanges, String> {
    let mut c = client.clone();
    let r = solve_ref(&mut c, def, "Solve (fragment)")
        .await
        .map_err(|e| format!("the {what} fragment: {e}"))?;
    let (bytes, _) = walk::read_all(&mut c, &r.id, llb::FRAGMENT_FILE, MAX_FRAGMENT)
        .await
        .map_err(|s| format!("reading the {what} fragment: {}", s.message()))?;
    let bytes = bytes.ok_or_else(|| format!("the {what} fragment is over {MAX_FRAGMENT} bytes"))?;
    let t0 = std::time::Instant::now();
    let decoded = scanner_core::fragment::decode(&bytes, limits)
        .map_err(|e| format!("the {what} fragment: {e}"));
    timing(&format!("{what} fragment decode"), t0);
    decoded
}

/// `scan_changes` on a blocking thread, reading the few files it asks for from `refs` in order;
/// the layers come back with the inventory.
async fn scan_layers(
    client: &Client,
    layers: Vec<LayerChanges>,
    run: Option<&ImageConfig>,
    refs: Vec<String>,
) -> (Inventory, Vec<LayerChanges>) {
    let handle = tokio::runtime::Handle::current();
    let client = client.clone();
    let run = run.cloned();
    let refs = Arc::new(refs);
    tokio::task::spawn_blocking(move || {
        let read = |path: &str| -> Option<Vec<u8>> {
            for r in refs.iter() {
                let mut c = client.clone();
                let got = handle.block_on(walk::read_all(&mut c, r, path, 256 << 20));
                if let Ok((Some(b), _)) = got {
                    return Some(b);
                }
            }
            None
        };
        let inventory = scanner_core::scan::scan_changes(&layers, run.as_ref(), &read);
        (inventory, layers)
    })
    .await
    .unwrap_or_default()
}

/// The platform's SPDX document: compact, or in full mode with each owned regular file and its
/// digests, read from the result ref — written compact, with a warning, when the full document
/// would not fit one gateway message.
async fn spdx_document(
    client: &Client,
    settings: &Settings,
    t: &Target,
    layers: &[LayerChanges],
    report: &ScanReport,
) -> Result<Vec<u8>, FlowError> {
    use scanner_core::sbom::spdx::to_spdx_json_with;
    if settings.mode == SbomMode::Full {
        let t0 = std::time::Instant::now();
        let digests = file_digests(client, &t.reference.id, layers, &report.inventory).await;
        timing("file digests", t0);
        let full = to_spdx_json_with(
            report,
            &SpdxOptions {
                files: Some(&digests),
            },
        );
        if full.len() <= MAX_SOLVE_FILES {
            return Ok(full);
        }
        warn(&format!(
            "{}: the full SPDX document is {} bytes, over the {MAX_SOLVE_FILES}-byte gateway \
             message limit; writing it compact (no per-file entries)",
            t.key,
            full.len()
        ));
    }
    let compact = to_spdx_json_with(report, &SpdxOptions::default());
    if compact.len() > MAX_SOLVE_FILES {
        return Err(too_large(&t.key, "SPDX", compact.len()));
    }
    Ok(compact)
}

fn too_large(platform: &str, what: &str, len: usize) -> FlowError {
    FlowError::Scan {
        platform: platform.to_owned(),
        why: format!(
            "the {what} document is {len} bytes, over the {MAX_SOLVE_FILES}-byte gateway message \
             limit (build-arg STELLA_SBOM_VIEW=usage writes only what the entrypoint uses)"
        ),
    }
}

/// SHA-1 and SHA-256 of every file a package of `inventory` owns that is a regular file in the
/// merged `layers` (a path that is itself a symlink is left out, as in the generator), read from
/// `reference` several at a time. A file that cannot be read is left out.
async fn file_digests(
    client: &Client,
    reference: &str,
    layers: &[LayerChanges],
    inventory: &Inventory,
) -> BTreeMap<String, FileDigests> {
    let mut overlay = Overlay::new(&Limits::default());
    for (i, l) in layers.iter().enumerate() {
        overlay.apply(i, l);
    }
    let mut out = BTreeMap::new();
    let mut queue: Vec<String> = Vec::new();
    for path in scanner_core::sbom::spdx::owned_paths(inventory) {
        match overlay.node(path) {
            Some(n) if n.kind == NodeKind::File => match &n.content {
                Some(bytes) => {
                    out.insert(path.to_owned(), FileDigests::of(bytes));
                }
                None => queue.push(path.to_owned()),
            },
            _ => {}
        }
    }
    let limit = Limits::default().max_wanted_file;
    let mut tasks = tokio::task::JoinSet::new();
    let mut queue = queue.into_iter();
    loop {
        while tasks.len() < DIGEST_CONCURRENCY {
            let Some(path) = queue.next() else { break };
            let mut c = client.clone();
            let r = reference.to_owned();
            tasks.spawn(async move {
                let bytes = walk::read_all(&mut c, &r, &path, limit).await;
                let digests = match bytes {
                    Ok((Some(b), _)) => tokio::task::spawn_blocking(move || FileDigests::of(&b))
                        .await
                        .ok(),
                    _ => None,
                };
                (path, digests)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        if let Ok((path, Some(d))) = joined {
            out.insert(path, d);
        }
    }
    out
}

/// Packs `files` into groups whose data totals at most `limit` bytes each (a file over the limit
/// alone in its group), in order.
fn pack(files: Vec<(String, Vec<u8>)>, limit: usize) -> Vec<Vec<(String, Vec<u8>)>> {
    let mut groups: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
    let mut size = 0usize;
    for f in files {
        let len = f.1.len();
        match groups.last_mut() {
            Some(g) if size + len <= limit => {
                size += len;
                g.push(f);
            }
            _ => {
                size = len;
                groups.push(vec![f]);
            }
        }
    }
    groups
}

fn report(
    settings: &Settings,
    env: &Env,
    config: &meta::PlatformConfig,
    inventory: Inventory,
) -> ScanReport {
    let inventory = match settings.view {
        SbomView::Inventory => inventory,
        SbomView::Usage => scanner_core::usage::usage_view(&inventory),
    };
    let name = env
        .opts
        .get("filename")
        .filter(|f| !f.is_empty())
        .cloned()
        .unwrap_or_else(|| "Dockerfile".to_owned());
    let mut subject = Subject::new(SourceKind::Image, name);
    subject.os = config.os.clone();
    subject.architecture = config.architecture.clone();
    subject.variant = config.variant.clone();
    ScanReport {
        subject,
        inventory,
        created: settings.source_date_epoch.or(config.created).unwrap_or(0),
        tool: Tool {
            name: "stella-frontend".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::pack;

    #[test]
    fn pack_keeps_order_and_each_group_under_the_limit() {
        let f = |n: &str, len: usize| (n.to_owned(), vec![0u8; len]);
        let names = |groups: &[Vec<(String, Vec<u8>)>]| -> Vec<Vec<String>> {
            groups
                .iter()
                .map(|g| g.iter().map(|(n, _)| n.clone()).collect())
                .collect()
        };
        let groups = pack(
            vec![f("a", 4), f("b", 5), f("c", 2), f("d", 12), f("e", 1)],
            10,
        );
        assert_eq!(
            names(&groups),
            [vec!["a", "b"], vec!["c"], vec!["d"], vec!["e"]]
        );
        assert!(pack(Vec::new(), 10).is_empty());
        assert_eq!(
            names(&pack(vec![f("a", 3), f("b", 7)], 10)),
            [vec!["a", "b"]]
        );
    }
}
