//! Offline trust bundles (`trust-bundle.tar.zst`, DESIGN.md §9, seeds/trust-architecture.md §3):
//! everything `stella verify --offline` needs in an air-gapped site, in one file.
//!
//! ```text
//! manifest.json        media type, creation time, the log's origin and checkpoint size, the images
//!                      named at creation, and the SHA-256 and size of every other file
//! targets/trusted_root.json   the stack's Sigstore trusted root (log key, CA chain, CT key, TSA chain)
//! tuf/N.root.json      with a TUF repository (the stack's DATA_DIR/tuf or SERVER/tuf/, or --tuf):
//! tuf/{root,timestamp,snapshot,targets}.json   its root chain and verified top-level metadata,
//! targets/NAME         and every top-level target (trusted_root.json is then TUF's)
//! tiles/checkpoint     the log's signed checkpoint when the bundle was made
//! tiles/tile/...       the C2SP tiles the named images' entries need: their leaves, the proof to
//!                      that checkpoint, and the consistency with each entry's own checkpoint
//! ```
//!
//! Opening checks every file against the manifest (a file not listed, or listed and missing or
//! different, is refused). [`TrustBundle::prove`] proves an attestation's entry again from the
//! tiles alone, to the bundle's checkpoint: the same leaf, included in the tree the checkpoint
//! signs, and that tree consistent with the one the attestation's own checkpoint signs.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use attestor::bundle::Bundle;
use attestor::merkle;
use attestor::note::{Checkpoint, NoteVerifier};
use attestor::store::{prove_from_tiles, StoreError};
use attestor::trust_root::{rfc3339, TrustedRoot};
use attestor::verify::Verified;
use clap::Args;
use registry::referrers::ARTIFACT_SIGSTORE_BUNDLE;
use registry::target::{self, Target};
use registry::PushOptions;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::exit;

/// The manifest's media type.
pub const MEDIA_TYPE: &str = "application/vnd.stella.trust-bundle.v1+json";
/// Largest bundle file read, and largest total unpacked size.
const MAX_BUNDLE_BYTES: u64 = 1 << 30;
/// Most files in a bundle.
const MAX_FILES: usize = 100_000;
/// Most tiles fetched for one image's proofs (a proof at 2^64 leaves needs far fewer).
const MAX_TILE_FETCHES: usize = 256;

const TRUSTED_ROOT: &str = "targets/trusted_root.json";
const CHECKPOINT: &str = "tiles/checkpoint";

/// An opened, checked trust bundle, unpacked into a private temporary directory.
#[derive(Debug)]
pub struct TrustBundle {
    dir: tempfile::TempDir,
    manifest: Value,
}

fn sha256_hex(b: &[u8]) -> String {
    signer_gateway::dsse::hex(&Sha256::digest(b))
}

impl TrustBundle {
    /// Reads and checks `path` (see the module docs).
    pub fn open(path: &Path) -> Result<TrustBundle, String> {
        let what = |e: String| format!("trust bundle {}: {e}", path.display());
        let file = std::fs::File::open(path).map_err(|e| what(e.to_string()))?;
        let dec =
            zstd::stream::read::Decoder::new(file).map_err(|e| what(format!("not zstd: {e}")))?;
        let mut archive = tar::Archive::new(dec.take(MAX_BUNDLE_BYTES));
        let dir = tempfile::Builder::new()
            .prefix("stella-trust-bundle")
            .tempdir()
            .map_err(|e| what(format!("temporary directory: {e}")))?;
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let entries = archive
            .entries()
            .map_err(|e| what(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| what(format!("corrupt archive: {e}")))?;
            let kind = entry.header().entry_type();
            let name = entry
                .path()
                .map_err(|e| what(format!("bad path: {e}")))?
                .into_owned();
            if kind.is_dir() {
                continue;
            }
            if !kind.is_file() {
                return Err(what(format!(
                    "{} is not a regular file (links and devices are refused)",
                    name.display()
                )));
            }
            let rel = safe_relative(&name).ok_or_else(|| {
                what(format!(
                    "{} escapes the bundle (absolute or ..)",
                    name.display()
                ))
            })?;
            if files.len() >= MAX_FILES {
                return Err(what(format!("more than {MAX_FILES} files")));
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| what(format!("{}: {e}", name.display())))?;
            files.insert(rel, bytes);
        }
        let manifest_bytes = files
            .remove("manifest.json")
            .ok_or_else(|| what("no manifest.json".into()))?;
        let manifest: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| what(format!("manifest.json is not JSON: {e}")))?;
        if manifest["mediaType"] != MEDIA_TYPE {
            return Err(what(format!(
                "manifest.json media type is {} (expected {MEDIA_TYPE})",
                manifest["mediaType"]
            )));
        }
        let listed = manifest["files"]
            .as_object()
            .ok_or_else(|| what("manifest.json lists no files".into()))?;
        for (name, bytes) in &files {
            let entry = listed
                .get(name)
                .ok_or_else(|| what(format!("{name} is not listed in manifest.json")))?;
            let want = entry["sha256"].as_str().unwrap_or_default();
            let got = sha256_hex(bytes);
            if want != got || entry["size"].as_u64() != Some(bytes.len() as u64) {
                return Err(what(format!(
                    "{name} does not match manifest.json (sha256 {got}, listed {want})"
                )));
            }
        }
        if let Some(missing) = listed.keys().find(|k| !files.contains_key(*k)) {
            return Err(what(format!(
                "{missing} is listed in manifest.json but missing"
            )));
        }
        for (name, bytes) in &files {
            let p = dir.path().join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| what(e.to_string()))?;
            }
            std::fs::write(&p, bytes).map_err(|e| what(e.to_string()))?;
        }
        Ok(TrustBundle { dir, manifest })
    }

    /// The trusted root it carries.
    pub fn trusted_root(&self) -> Result<TrustedRoot, String> {
        let p = self.dir.path().join(TRUSTED_ROOT);
        let bytes =
            std::fs::read(&p).map_err(|_| format!("the trust bundle has no {TRUSTED_ROOT}"))?;
        TrustedRoot::parse(&bytes).map_err(|e| format!("the trust bundle's {TRUSTED_ROOT}: {e}"))
    }

    /// Proves a verified attestation's log entry again from the bundle's tiles (module docs).
    pub fn prove(
        &self,
        bundle_bytes: &[u8],
        v: &Verified,
        root: &TrustedRoot,
    ) -> Result<(), String> {
        let text = std::fs::read_to_string(self.dir.path().join(CHECKPOINT))
            .map_err(|_| format!("the trust bundle has no {CHECKPOINT}"))?;
        match prove_in_tiles(&self.dir.path().join("tiles"), &text, bundle_bytes, v, root) {
            Ok(_) => Ok(()),
            Err(ProveError::Missing { tile, index }) => Err(format!(
                "the trust bundle lacks tiles/{tile} for log index {index} (name the image with \
                 --image when creating it)"
            )),
            Err(ProveError::Failed(e)) => {
                Err(e.replace("the checkpoint", "the trust bundle's checkpoint"))
            }
        }
    }

    /// The manifest.
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }

    /// The unpacked bundle (`tuf/`, `targets/`, `tiles/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The root a client pinned to nothing else starts TUF from: the bundle's oldest root version
    /// (`tuf/N.root.json`), or none when the bundle seals no TUF repository.
    pub fn tuf_first_root(&self) -> Option<Result<Vec<u8>, String>> {
        let tuf = self.dir.path().join("tuf");
        let first = std::fs::read_dir(&tuf)
            .ok()?
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".root.json")?.parse::<u64>().ok()
            })
            .min();
        Some(match first {
            Some(v) => std::fs::read(tuf.join(format!("{v}.root.json")))
                .map_err(|e| format!("the trust bundle's tuf/{v}.root.json: {e}")),
            None => Err("the trust bundle's tuf/ holds no N.root.json".into()),
        })
    }
}

/// Why [`prove_in_tiles`] did not prove an entry.
#[derive(Debug)]
pub enum ProveError {
    /// A tile the proof needs is not there (a C2SP path relative to the tiles directory).
    Missing { tile: String, index: u64 },
    /// The proof failed: tampering, another log, or a stale checkpoint.
    Failed(String),
}

/// Proves a verified attestation's log entry from the tiles under `tiles` alone, to the signed
/// `checkpoint` (a C2SP note from the log's key in `root`): the same leaf, included in the tree
/// the checkpoint signs, and that tree consistent with the attestation's own checkpoint. Returns
/// the checkpoint proven to.
pub fn prove_in_tiles(
    tiles: &Path,
    checkpoint: &str,
    bundle_bytes: &[u8],
    v: &Verified,
    root: &TrustedRoot,
) -> Result<Checkpoint, ProveError> {
    let fail = |s: String| ProveError::Failed(s);
    let bundle = Bundle::parse(bundle_bytes).map_err(|e| fail(e.to_string()))?;
    let entry = bundle
        .tlog_entries
        .first()
        .ok_or_else(|| fail("the bundle has no log entry".into()))?;
    let log = root
        .tlogs
        .iter()
        .find(|l| l.log_id == entry.log_id)
        .ok_or_else(|| fail("the entry's log is not in the trusted root".into()))?;
    let origin = checkpoint.split('\n').next().unwrap_or_default();
    let key =
        NoteVerifier::from_spki(origin, &log.public_key_der).map_err(|e| fail(e.to_string()))?;
    if key.log_id().as_slice() != log.log_id.as_slice() || origin != v.log.origin {
        return Err(fail(format!(
            "the checkpoint is for `{origin}`, not the entry's log `{}`",
            v.log.origin
        )));
    }
    let note = key.verify(checkpoint).map_err(|e| {
        fail(format!(
            "the checkpoint is not signed by the log's key: {e}"
        ))
    })?;
    let cp = Checkpoint::parse(&note.text).map_err(|e| fail(e.to_string()))?;
    if entry.log_index >= cp.size {
        return Err(fail(format!(
            "log index {} is beyond the checkpoint (size {}): it predates this attestation",
            entry.log_index, cp.size
        )));
    }
    if v.log.tree_size > cp.size {
        return Err(fail(format!(
            "the attestation's checkpoint (size {}) is newer than the checkpoint (size {})",
            v.log.tree_size, cp.size
        )));
    }
    let proof =
        prove_from_tiles(tiles, entry.log_index, cp.size, Some(v.log.tree_size)).map_err(|e| {
            match e {
                StoreError::Missing { path } => ProveError::Missing {
                    tile: path
                        .strip_prefix(tiles)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .into_owned(),
                    index: entry.log_index,
                },
                other => fail(format!("the tiles: {other}")),
            }
        })?;
    let leaf = merkle::leaf_hash(&entry.canonicalized_body);
    if proof.leaf != leaf {
        return Err(fail(format!(
            "tampered tile: the level-0 tile holds another leaf at index {}",
            entry.log_index
        )));
    }
    if proof.root != cp.root {
        return Err(fail(format!(
            "tampered tile: the tiles do not hash to the signed checkpoint's root (size {})",
            cp.size
        )));
    }
    merkle::verify_inclusion(entry.log_index, cp.size, &leaf, &proof.inclusion, &cp.root)
        .map_err(|e| fail(format!("inclusion in the checkpoint: {e}")))?;
    if v.log.tree_size < cp.size {
        merkle::verify_consistency(
            v.log.tree_size,
            cp.size,
            &v.log.root,
            &cp.root,
            &proof.consistency,
        )
        .map_err(|e| {
            fail(format!(
                "the attestation's checkpoint (size {}) is not consistent with the checkpoint \
                 (size {}): {e}",
                v.log.tree_size, cp.size
            ))
        })?;
    }
    Ok(cp)
}

/// A relative path with normal components only, as a `/`-joined string.
fn safe_relative(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

// ---------------------------------------------------------------------------------------------
// Creating a bundle.

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Read the stack's data directory (the log tiles and keys on disk).
    #[arg(long, env = "STELLA_DATA_DIR", conflicts_with = "server")]
    data_dir: Option<PathBuf>,
    /// Or fetch from a running stack (`stella serve`): its trusted root, checkpoint and tiles.
    #[arg(long)]
    server: Option<String>,
    /// The stack's configuration file (with --data-dir).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The URL the stack is reached at (with --data-dir: the log's base URL in the trusted root).
    #[arg(long, default_value = "http://127.0.0.1:8440")]
    url: String,
    /// Images whose attestations the bundle must prove offline (repeatable).
    #[arg(long = "image")]
    images: Vec<String>,
    /// Plain HTTP to loopback registries.
    #[arg(long)]
    insecure: bool,
    /// Where to write the bundle (trust-bundle.tar.zst).
    #[arg(long)]
    out: PathBuf,
    /// The TUF repository to seal into the bundle (a directory or URL; default: the stack's,
    /// `DATA_DIR/tuf` or `SERVER/tuf/`, when there is one).
    #[arg(long)]
    tuf: Option<String>,
    /// The TUF root to start the client workflow from (default: the repository's 1.root.json).
    #[arg(long)]
    tuf_root: Option<PathBuf>,
}

/// The sealed TUF files (paths inside the bundle) and their summary for manifest.json.
type TufFiles = (Vec<(String, Vec<u8>)>, Value);

/// The TUF repository's verified metadata and targets (see [`stella_tuf::bundle_files`]), or none
/// when the stack has no repository and none was asked for. Runs outside the async runtime (the
/// HTTP fetcher has its own).
fn collect_tuf(a: &CreateArgs) -> Result<Option<TufFiles>, Failure> {
    let repo = match (&a.tuf, &a.server) {
        (Some(t), _) => t.clone(),
        (None, Some(url)) => format!("{}/tuf/", url.trim_end_matches('/')),
        (None, None) => a
            .data_dir
            .clone()
            .unwrap_or_else(crate::serve::default_data_dir)
            .join("tuf")
            .display()
            .to_string(),
    };
    let asked = a.tuf.is_some() || a.tuf_root.is_some();
    let now = i64::try_from(now_secs()).unwrap_or(i64::MAX);
    if repo.starts_with("http://") || repo.starts_with("https://") {
        let f = stella_tuf::HttpFetcher::new(&repo)
            .map_err(|e| (exit::USAGE, format!("the TUF repository {repo}: {e}")))?;
        seal_tuf(&f, &repo, a.tuf_root.as_deref(), asked, now)
    } else {
        let f = stella_tuf::LocalDirFetcher::repository(&repo);
        seal_tuf(&f, &repo, a.tuf_root.as_deref(), asked, now)
    }
}

fn seal_tuf<F: stella_tuf::Fetcher>(
    f: &F,
    repo: &str,
    tuf_root: Option<&Path>,
    asked: bool,
    now: i64,
) -> Result<Option<TufFiles>, Failure> {
    let fail = |e: String| (exit::TRUST, format!("the TUF repository {repo}: {e}"));
    let root = match tuf_root {
        Some(p) => std::fs::read(p).map_err(|e| (exit::USAGE, format!("{}: {e}", p.display())))?,
        None => match f.fetch_metadata("1.root.json", 512 * 1024) {
            Ok(b) => b,
            Err(stella_tuf::Error::NotFound { .. }) if !asked => return Ok(None),
            Err(e) => return Err(fail(e.to_string())),
        },
    };
    let files = stella_tuf::bundle_files(f, &root, now).map_err(|e| fail(e.to_string()))?;
    let targets: Vec<&str> = files
        .iter()
        .filter_map(|(p, _)| p.strip_prefix("targets/"))
        .collect();
    if !targets.contains(&stella_tuf::stella::TRUSTED_ROOT) {
        return Err(fail(format!(
            "it publishes no {} (stella trust repo init --trusted-root FILE)",
            stella_tuf::stella::TRUSTED_ROOT
        )));
    }
    let version = |p: &str| -> Option<u64> {
        p.strip_prefix("tuf/")?
            .strip_suffix(".root.json")?
            .parse()
            .ok()
    };
    let versions: Vec<u64> = files.iter().filter_map(|(p, _)| version(p)).collect();
    let summary = json!({
        "repository": repo,
        "pinnedRootVersion": versions.iter().min(),
        "rootVersion": versions.iter().max(),
        "targets": targets,
    });
    Ok(Some((files, summary)))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

type Failure = (u8, String);

/// Where the log's files come from.
enum Source {
    Dir(PathBuf),
    Server(String, reqwest::Client),
}

impl Source {
    async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Source::Dir(d) => match std::fs::read(d.join(rel)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{}: {e}", d.join(rel).display())),
            },
            Source::Server(base, http) => {
                let url = format!("{}/{rel}", base.trim_end_matches('/'));
                let r = http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                if r.status() == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if !r.status().is_success() {
                    return Err(format!("{url}: HTTP {}", r.status()));
                }
                Ok(Some(
                    r.bytes().await.map_err(|e| format!("{url}: {e}"))?.to_vec(),
                ))
            }
        }
    }
}

pub fn create(a: CreateArgs) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    let tuf = collect_tuf(&a)?;
    runtime.block_on(create_async(a, tuf))
}

async fn create_async(a: CreateArgs, tuf: Option<TufFiles>) -> Result<(), Failure> {
    let (source, mut root_json) = match (&a.data_dir, &a.server) {
        (_, Some(url)) => {
            let http = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| (exit::FAILURE, e.to_string()))?;
            let src = Source::Server(url.clone(), http);
            let root = src
                .get("trust/trusted_root.json")
                .await
                .map_err(|e| (exit::REGISTRY, e))?
                .ok_or((
                    exit::REGISTRY,
                    format!("{url} serves no trust/trusted_root.json"),
                ))?;
            (src, root)
        }
        (dir, None) => {
            let dir = dir.clone().unwrap_or_else(crate::serve::default_data_dir);
            let root = crate::trust::export_root(&dir, a.config.as_ref(), &a.url)?;
            let mut text = serde_json::to_vec_pretty(&root.to_json()).unwrap_or_default();
            text.push(b'\n');
            (Source::Dir(dir.join("attestor").join("log")), text)
        }
    };
    // With TUF, the trusted root is the one TUF publishes (what offline verification checks).
    if let Some((files, _)) = &tuf {
        let want = format!("targets/{}", stella_tuf::stella::TRUSTED_ROOT);
        if let Some((_, b)) = files.iter().find(|(p, _)| *p == want) {
            root_json = b.clone();
        }
    }
    let root = TrustedRoot::parse(&root_json)
        .map_err(|e| (exit::TRUST, format!("the stack's trusted root: {e}")))?;
    let checkpoint = source
        .get("checkpoint")
        .await
        .map_err(|e| (exit::SOURCE, e))?
        .ok_or((exit::SOURCE, "the log has no checkpoint".to_owned()))?;
    let cp_text = String::from_utf8(checkpoint.clone())
        .map_err(|_| (exit::SOURCE, "the checkpoint is not UTF-8".to_owned()))?;
    let origin = cp_text.split('\n').next().unwrap_or_default().to_owned();
    let log = root
        .tlogs
        .iter()
        .find(|l| {
            NoteVerifier::from_spki(&origin, &l.public_key_der)
                .is_ok_and(|k| k.log_id().as_slice() == l.log_id.as_slice())
        })
        .ok_or((
            exit::TRUST,
            format!("no log of the trusted root has the checkpoint's origin `{origin}`"),
        ))?;
    let note = NoteVerifier::from_spki(&origin, &log.public_key_der)
        .and_then(|k| k.verify(&cp_text))
        .map_err(|e| (exit::TRUST, format!("the log's checkpoint: {e}")))?;
    let cp = Checkpoint::parse(&note.text).map_err(|e| (exit::TRUST, e.to_string()))?;

    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    files.insert(TRUSTED_ROOT.into(), root_json.clone());
    files.insert(CHECKPOINT.into(), checkpoint);
    let tuf_summary = tuf.map(|(tuf_files, summary)| {
        files.extend(tuf_files);
        summary
    });

    // The tiles each named image's entries need, fetched as the proof asks for them.
    let scratch = tempfile::tempdir().map_err(|e| (exit::FAILURE, e.to_string()))?;
    let mut images = Vec::new();
    let opts = PushOptions {
        insecure: a.insecure,
        docker_config: None,
        mount_from: None,
        platform: None,
    };
    for image in &a.images {
        let target = Target::parse(image).map_err(|e| (exit::SOURCE, e.to_string()))?;
        let code = if target.is_remote() {
            exit::REGISTRY
        } else {
            exit::SOURCE
        };
        let referrers = target::list(&target, Some(ARTIFACT_SIGSTORE_BUNDLE), &opts)
            .await
            .map_err(|e| (code, format!("{image}: {e}")))?;
        let mut indices = Vec::new();
        for r in &referrers {
            let (_, _, bytes) = target::fetch(&target, r, &opts)
                .await
                .map_err(|e| (code, format!("{image}: {e}")))?;
            let Ok(b) = Bundle::parse(&bytes) else {
                continue;
            };
            for e in b.tlog_entries.iter().filter(|e| e.log_id == log.log_id) {
                if e.log_index >= cp.size {
                    continue;
                }
                fetch_proof_tiles(
                    &source,
                    scratch.path(),
                    e.log_index,
                    cp.size,
                    e.inclusion_proof.tree_size,
                )
                .await?;
                indices.push(e.log_index);
            }
        }
        if indices.is_empty() {
            return Err((
                exit::NOT_FOUND,
                format!(
                    "{image} has no attestation logged in `{origin}` before size {}",
                    cp.size
                ),
            ));
        }
        images.push(json!({"image": image, "logIndices": indices}));
    }
    for (rel, bytes) in walk(scratch.path()).map_err(|e| (exit::FAILURE, e))? {
        files.insert(format!("tiles/{rel}"), bytes);
    }

    let listed: serde_json::Map<String, Value> = files
        .iter()
        .map(|(k, v)| (k.clone(), json!({"sha256": sha256_hex(v), "size": v.len()})))
        .collect();
    let mut manifest = json!({
        "mediaType": MEDIA_TYPE,
        "created": rfc3339(now_secs()),
        "log": {"origin": origin, "size": cp.size, "checkpoint": CHECKPOINT},
        "images": images,
        "files": listed,
    });
    if let Some(t) = &tuf_summary {
        manifest["tuf"] = t.clone();
    }
    let mut manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    manifest_bytes.push(b'\n');
    write_bundle(&a.out, &manifest_bytes, &files).map_err(|e| (exit::OUTPUT, e))?;
    eprintln!(
        "stella trust bundle: wrote {} ({} files; log {origin} at size {}; {} image(s); {})",
        a.out.display(),
        files.len() + 1,
        cp.size,
        a.images.len(),
        match &tuf_summary {
            Some(t) => format!(
                "TUF root v{} with {} target(s)",
                t["rootVersion"],
                t["targets"].as_array().map_or(0, Vec::len)
            ),
            None => "no TUF repository".into(),
        }
    );
    Ok(())
}

/// Runs the offline proof against the tiles fetched so far, fetching each tile it misses.
async fn fetch_proof_tiles(
    source: &Source,
    dir: &Path,
    index: u64,
    size: u64,
    from: u64,
) -> Result<(), Failure> {
    for _ in 0..MAX_TILE_FETCHES {
        match prove_from_tiles(
            dir,
            index,
            size,
            Some(from).filter(|f| *f > 0 && *f <= size),
        ) {
            Ok(_) => return Ok(()),
            Err(StoreError::Missing { path }) => {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|_| {
                        (
                            exit::FAILURE,
                            format!("unexpected tile path {}", path.display()),
                        )
                    })?
                    .to_string_lossy()
                    .into_owned();
                let bytes = match source.get(&rel).await.map_err(|e| (exit::SOURCE, e))? {
                    Some(b) => b,
                    // A pruned partial tile: the full tile has the same prefix.
                    None => {
                        let full = rel.split(".p/").next().unwrap_or(&rel).to_owned();
                        let b = source
                            .get(&full)
                            .await
                            .map_err(|e| (exit::SOURCE, e))?
                            .ok_or((exit::SOURCE, format!("the log has no {rel}")))?;
                        let p = dir.join(&full);
                        write_file(&p, &b)?;
                        continue;
                    }
                };
                write_file(&dir.join(&rel), &bytes)?;
            }
            Err(e) => return Err((exit::SOURCE, format!("the log's tiles: {e}"))),
        }
    }
    Err((
        exit::SOURCE,
        format!("more than {MAX_TILE_FETCHES} tiles for one proof"),
    ))
}

fn write_file(p: &Path, b: &[u8]) -> Result<(), Failure> {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(|e| (exit::FAILURE, e.to_string()))?;
    }
    std::fs::write(p, b).map_err(|e| (exit::FAILURE, format!("{}: {e}", p.display())))
}

fn walk(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| e.to_string())? {
            let e = e.map_err(|e| e.to_string())?;
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&p).map_err(|e| e.to_string())?));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes the archive (manifest first, files sorted, fixed metadata) to a temporary file next to
/// `out`, then renames it into place.
fn write_bundle(
    out: &Path,
    manifest: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    {
        let enc =
            zstd::stream::write::Encoder::new(tmp.as_file(), 19).map_err(|e| e.to_string())?;
        let mut tar = tar::Builder::new(enc);
        let mut add = |name: &str, bytes: &[u8]| -> Result<(), String> {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            tar.append_data(&mut h, name, bytes)
                .map_err(|e| format!("{name}: {e}"))
        };
        add("manifest.json", manifest)?;
        for (name, bytes) in files {
            add(name, bytes)?;
        }
        tar.into_inner()
            .map_err(|e| e.to_string())?
            .finish()
            .map_err(|e| e.to_string())?;
    }
    tmp.as_file().sync_all().map_err(|e| e.to_string())?;
    if crate::scan::is_device_or_pipe(out) {
        // Written into a device or pipe, never renamed over it.
        let mut from = tmp.reopen().map_err(|e| e.to_string())?;
        return std::fs::OpenOptions::new()
            .write(true)
            .open(out)
            .and_then(|mut to| std::io::copy(&mut from, &mut to))
            .map(|_| ())
            .map_err(|e| format!("{}: {e}", out.display()));
    }
    tmp.persist(out)
        .map_err(|e| format!("{}: {}", out.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_relative;
    use std::path::Path;

    #[test]
    fn paths_stay_inside() {
        assert_eq!(
            safe_relative(Path::new("tiles/tile/0/000")).as_deref(),
            Some("tiles/tile/0/000")
        );
        assert_eq!(safe_relative(Path::new("./a")).as_deref(), Some("a"));
        assert_eq!(safe_relative(Path::new("../a")), None);
        assert_eq!(safe_relative(Path::new("/etc/passwd")), None);
        assert_eq!(safe_relative(Path::new("a/../../b")), None);
    }
}
