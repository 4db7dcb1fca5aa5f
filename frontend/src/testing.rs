//! An in-process LLBBridge server standing in for buildkitd: it serves real root file systems
//! (directories) as refs, answers the Solves the frontend makes, and records every request. The
//! tests and the benchmark run the frontend against it; it is generated from the same `.proto`
//! files as the client.
//!
//! What it emulates, and how:
//! * `Solve` with a `frontend` (the Dockerfile frontend): recorded; answers with one ref per
//!   configured platform (`final:<platform>`), each with a definition whose result is the source
//!   `docker-image://stella.test/final/<platform>`, plus `refs.platforms` and
//!   `containerimage.config/<platform>` metadata.
//! * `Solve` with a definition: the terminal op decides — `local://…` serves the configured
//!   Dockerfile; an ExecOp runs the configured fragment runner on what is mounted at input 1 — an
//!   image, or a DiffOp laid out as a directory of the changed paths, as BuildKit mounts one —
//!   cached by op digest, as BuildKit caches an ExecOp; a DiffOp serves the upper image's entries
//!   that differ from the lower's; a FileOp of mkfile actions serves those files.
//! * `ReadDir` / `ReadFile` / `StatFile`: from the ref's directory, Go `os.FileMode` bits in `mode`
//!   as fsutil sends them; counted per ref.

// tonic::Status is what every service method returns; boxing it in the helpers would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::llb::digest;
use crate::proto::fsutil::types::Stat;
use crate::proto::gw::llb_bridge_server::{LlbBridge, LlbBridgeServer};
use crate::proto::gw::{self, result, RefMap};
use crate::proto::moby::buildkit::v1::apicaps::ApiCap;
use crate::proto::pb::{file_action, op, Definition, Op};
use crate::walk::gomode;

/// What a ref holds.
#[derive(Debug, Clone)]
pub enum RefContent {
    /// A directory, optionally only the listed root-relative paths (a diff).
    Dir {
        /// The directory.
        root: PathBuf,
        /// When set, only these paths (and nothing else) exist.
        only: Option<Arc<BTreeSet<String>>>,
    },
    /// Files in memory, by root-relative path.
    Files(BTreeMap<String, Vec<u8>>),
}

/// File RPCs made on one ref.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// ReadDir calls.
    pub read_dir: u64,
    /// ReadFile calls.
    pub read_file: u64,
    /// StatFile calls.
    pub stat_file: u64,
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The inner (Dockerfile frontend) Solve fails with this message.
    pub inner_error: Option<String>,
    /// The fragment ExecOp fails.
    pub fragment_fails: bool,
    /// The fragment ExecOp yields bytes that are not a fragment.
    pub garbage_fragment: bool,
    /// The inner Solve returns a result with no refs.
    pub no_refs: bool,
    /// `refs.platforms` lists a platform that has no ref.
    pub missing_platform: bool,
    /// ReadDir adds entries with hostile names (`..`, `a/../../b`, empty).
    pub hostile_names: bool,
    /// The inner result ref carries no definition (no fast path possible).
    pub no_def: bool,
}

/// Runs `stella-frontend fragment` for the emulated ExecOp: `(rootfs, the ExecOp's args) -> fragment
/// bytes` (the args as BuildKit would run them, `/stella/base` standing for `rootfs`).
pub type FragmentRunner = Arc<dyn Fn(&Path, &[String]) -> Result<Vec<u8>, String> + Send + Sync>;

/// How the bridge is set up.
#[derive(Clone)]
pub struct Config {
    /// Platform id → final rootfs directory.
    pub finals: BTreeMap<String, PathBuf>,
    /// Image reference (as in `docker-image://…`, without the scheme) → rootfs directory.
    pub images: BTreeMap<String, PathBuf>,
    /// The Dockerfile the `local://dockerfile` source serves, under this name.
    pub dockerfile: Option<(String, String)>,
    /// Image config JSON per platform (`containerimage.config/<id>`).
    pub configs: BTreeMap<String, String>,
    /// Gateway caps to announce.
    pub gateway_caps: Vec<String>,
    /// LLB caps to announce.
    pub llb_caps: Vec<String>,
    /// What Inputs answers.
    pub inputs: BTreeMap<String, Definition>,
    /// The fragment ExecOp.
    pub fragment: FragmentRunner,
    /// Faults.
    pub faults: Faults,
    /// Attestations the inner result already carries, per platform (e.g. provenance).
    pub inner_attestations: BTreeMap<String, gw::Attestations>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("finals", &self.finals)
            .field("images", &self.images)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

/// Every cap the frontend may ask for.
pub fn all_gateway_caps() -> Vec<String> {
    [
        "solve.base",
        "readfile",
        "readdir",
        "statfile",
        "frontend.inputs",
        "return",
        "proto.refarray",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Every LLB cap the frontend may ask for.
pub fn all_llb_caps() -> Vec<String> {
    [
        "source.image",
        "source.local",
        "exec.meta.base",
        "file.base",
        "diffop",
        "mergeop",
        "exporter.image.attestations",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

impl Config {
    /// One platform `linux/amd64` whose final rootfs is `final_root`, every cap, the fragment
    /// computed in-process (as `stella-frontend fragment` would).
    pub fn new(final_root: PathBuf) -> Config {
        let mut finals = BTreeMap::new();
        finals.insert("linux/amd64".to_owned(), final_root);
        Config {
            finals,
            images: BTreeMap::new(),
            dockerfile: None,
            configs: BTreeMap::new(),
            gateway_caps: all_gateway_caps(),
            llb_caps: all_llb_caps(),
            inputs: BTreeMap::new(),
            fragment: Arc::new(|root: &Path, args: &[String]| {
                let digests = !args.iter().any(|a| a == crate::llb::NO_UNOWNED_DIGESTS);
                let c = scanner_core::fragment::capture_with(
                    root,
                    &scanner_core::layer::Limits::default(),
                    digests,
                );
                Ok(scanner_core::fragment::encode(&c))
            }),
            faults: Faults::default(),
            inner_attestations: BTreeMap::new(),
        }
    }
}

/// What the bridge saw.
#[derive(Debug, Default)]
pub struct Record {
    /// Every Solve request, in order.
    pub solves: Vec<gw::SolveRequest>,
    /// The Return request.
    pub returned: Option<gw::ReturnRequest>,
    /// File RPCs per ref id.
    pub counts: BTreeMap<String, Counts>,
    /// Fragment ExecOps over an image (the base) actually run (not served from the cache).
    pub fragment_runs: u64,
    /// Fragment ExecOps over a DiffOp actually run.
    pub diff_fragment_runs: u64,
    /// Pings.
    pub pings: u64,
}

#[derive(Debug, Default)]
struct State {
    refs: BTreeMap<String, RefContent>,
    exec_cache: BTreeMap<String, String>,
    /// Fragment ExecOps over a DiffOp: cached like any ExecOp, forgotten by
    /// [`Bridge::forget_build_cache`].
    diff_exec_cache: BTreeMap<String, String>,
    diff_cache: BTreeMap<(PathBuf, PathBuf), Arc<BTreeSet<String>>>,
    /// DiffOps laid out as directories (for an ExecOp mounting one), under `scratch`.
    materialized: BTreeMap<(PathBuf, PathBuf), PathBuf>,
    scratch: Option<tempfile::TempDir>,
    next: u64,
    record: Record,
}

/// The emulated buildkitd.
#[derive(Debug, Clone)]
pub struct Bridge {
    config: Arc<Config>,
    state: Arc<Mutex<State>>,
}

fn internal<E: std::fmt::Display>(e: E) -> Status {
    Status::internal(e.to_string())
}

impl Bridge {
    /// A bridge with `config`.
    pub fn new(config: Config) -> Bridge {
        Bridge {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// The tonic service.
    pub fn service(&self) -> LlbBridgeServer<Bridge> {
        LlbBridgeServer::new(self.clone())
            .max_decoding_message_size(crate::transport::MAX_MESSAGE)
            .max_encoding_message_size(crate::transport::MAX_MESSAGE)
    }

    /// Runs `f` on what was recorded.
    pub fn record<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        match self.state.lock() {
            Ok(s) => f(&s.record),
            Err(p) => f(&p.into_inner().record),
        }
    }

    /// Clears the request record (refs and caches stay: a warmed bridge).
    pub fn reset_record(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.record = Record::default();
        }
    }

    /// Forgets what BuildKit caches for one build's result (the DiffOp and the fragment ExecOp over
    /// it) but keeps the base's fragment ExecOp: the next run is a new build on a warmed base. The
    /// directory a DiffOp was copied to stays: BuildKit mounts a diff snapshot without copying, so
    /// the copy is the emulation's cost, not the build's.
    pub fn forget_build_cache(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.diff_exec_cache.clear();
            s.diff_cache.clear();
        }
    }

    fn diff_of(&self, lower: &Path, upper: &Path) -> Result<Arc<BTreeSet<String>>, Status> {
        let key = (lower.to_path_buf(), upper.to_path_buf());
        if let Some(o) = self.with(|s| s.diff_cache.get(&key).cloned())? {
            return Ok(o);
        }
        let o = Arc::new(diff_paths(lower, upper));
        self.with(|s| s.diff_cache.insert(key, o.clone()))?;
        Ok(o)
    }

    /// `DiffOp(lower, upper)` as a directory: the changed paths of `upper` copied with their
    /// modes (symlinks as symlinks), as BuildKit mounts a diff into an ExecOp.
    fn materialized_diff(&self, lower: &Path, upper: &Path) -> Result<PathBuf, Status> {
        let key = (lower.to_path_buf(), upper.to_path_buf());
        if let Some(d) = self.with(|s| s.materialized.get(&key).cloned())? {
            return Ok(d);
        }
        let only = self.diff_of(lower, upper)?;
        let dest = self
            .with(|s| -> std::io::Result<PathBuf> {
                if s.scratch.is_none() {
                    s.scratch = Some(tempfile::tempdir()?);
                }
                s.next += 1;
                let base = s.scratch.as_ref().map(|t| t.path().to_path_buf());
                Ok(base.unwrap_or_default().join(format!("diff-{}", s.next)))
            })?
            .map_err(internal)?;
        lay_out(upper, &only, &dest).map_err(internal)?;
        self.with(|s| s.materialized.insert(key, dest.clone()))?;
        Ok(dest)
    }

    /// The content of ref `id`.
    pub fn content(&self, id: &str) -> Option<RefContent> {
        self.state.lock().ok()?.refs.get(id).cloned()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, Status> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| Status::internal("state poisoned"))?;
        Ok(f(&mut s))
    }

    fn add_ref(&self, prefix: &str, content: RefContent) -> Result<String, Status> {
        self.with(|s| {
            s.next += 1;
            let id = format!("{prefix}:{}", s.next);
            s.refs.insert(id.clone(), content);
            id
        })
    }

    fn count(&self, id: &str, f: impl FnOnce(&mut Counts)) {
        if let Ok(mut s) = self.state.lock() {
            f(s.record.counts.entry(id.to_owned()).or_default());
        }
    }

    fn lookup(&self, id: &str) -> Result<RefContent, Status> {
        self.with(|s| s.refs.get(id).cloned())?
            .ok_or_else(|| Status::not_found(format!("no such ref {id:?}")))
    }

    fn image_dir(&self, identifier: &str) -> Result<PathBuf, Status> {
        let reference = identifier
            .strip_prefix("docker-image://")
            .ok_or_else(|| Status::unimplemented(format!("source {identifier:?}")))?;
        if let Some(p) = reference.strip_prefix("stella.test/final/") {
            if let Some(d) = self.config.finals.get(p) {
                return Ok(d.clone());
            }
        }
        self.config
            .images
            .get(reference)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("image {reference:?} not found")))
    }

    fn inner_result(&self) -> Result<gw::Result, Status> {
        let f = &self.config.faults;
        let mut refs = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        let mut ids: Vec<serde_json::Value> = Vec::new();
        for (platform, root) in &self.config.finals {
            let id = format!("final:{platform}");
            self.with(|s| {
                s.refs.insert(
                    id.clone(),
                    RefContent::Dir {
                        root: root.clone(),
                        only: None,
                    },
                )
            })?;
            let def = (!f.no_def).then(|| {
                let mut b = crate::llb::Builder::new();
                let out = b.image(
                    &format!("stella.test/final/{platform}"),
                    crate::llb::platform(platform).as_ref(),
                );
                b.build(&out)
            });
            refs.insert(platform.clone(), gw::Ref { id, def });
            ids.push(serde_json::json!({"id": platform}));
            if let Some(c) = self.config.configs.get(platform) {
                metadata.insert(
                    format!("containerimage.config/{platform}"),
                    c.as_bytes().to_vec(),
                );
            }
        }
        if f.missing_platform {
            ids.push(serde_json::json!({"id": "linux/s390x"}));
        }
        metadata.insert(
            "refs.platforms".to_owned(),
            serde_json::to_vec(&serde_json::json!({ "platforms": ids })).unwrap_or_default(),
        );
        Ok(gw::Result {
            result: (!f.no_refs).then_some(result::Result::Refs(RefMap { refs })),
            metadata,
            attestations: self.config.inner_attestations.clone(),
        })
    }

    fn solve_definition(&self, def: &Definition) -> Result<String, Status> {
        let ops: BTreeMap<String, Op> = def
            .def
            .iter()
            .map(|b| Op::decode(b.as_slice()).map(|o| (digest(b), o)))
            .collect::<Result<_, _>>()
            .map_err(|e| Status::invalid_argument(format!("bad op: {e}")))?;
        let last = def
            .def
            .last()
            .ok_or_else(|| Status::invalid_argument("empty definition"))?;
        let terminal = Op::decode(last.as_slice()).map_err(internal)?;
        let top = terminal
            .inputs
            .first()
            .ok_or_else(|| Status::invalid_argument("no terminal op"))?;
        let get = |d: &str| {
            ops.get(d)
                .ok_or_else(|| Status::invalid_argument(format!("input {d} not in definition")))
        };
        let op = get(&top.digest)?;
        let input_source = |of: &Op, input: usize| -> Result<String, Status> {
            let i = of
                .inputs
                .get(input)
                .ok_or_else(|| Status::invalid_argument("missing input"))?;
            match &get(&i.digest)?.op {
                Some(op::Op::Source(s)) => Ok(s.identifier.clone()),
                _ => Err(Status::unimplemented("only image inputs are emulated")),
            }
        };
        let source_of = |input: usize| input_source(op, input);
        match &op.op {
            Some(op::Op::Source(s)) if s.identifier.starts_with("local://") => {
                let (name, text) = self
                    .config
                    .dockerfile
                    .clone()
                    .ok_or_else(|| Status::not_found("no Dockerfile in this build"))?;
                let mut files = BTreeMap::new();
                files.insert(name, text.into_bytes());
                self.add_ref("dockerfile", RefContent::Files(files))
            }
            Some(op::Op::Source(s)) => {
                let root = self.image_dir(&s.identifier)?;
                self.add_ref("image", RefContent::Dir { root, only: None })
            }
            Some(op::Op::Exec(_)) => {
                let key = top.digest.clone();
                let cached = self.with(|s| {
                    s.exec_cache
                        .get(&key)
                        .or_else(|| s.diff_exec_cache.get(&key))
                        .cloned()
                })?;
                if let Some(id) = cached {
                    return Ok(id);
                }
                if self.config.faults.fragment_fails {
                    return Err(Status::unknown(
                        "process \"/stella-frontend fragment\" did not complete successfully: exit code: 1",
                    ));
                }
                // Input 1 is the rootfs: an image, or a DiffOp mounted as BuildKit mounts one (the
                // changed paths and their parents only; deletions are not visible).
                let rootfs_input = op
                    .inputs
                    .get(1)
                    .ok_or_else(|| Status::invalid_argument("the ExecOp has no rootfs input"))?;
                let rootfs_op = get(&rootfs_input.digest)?;
                let (rootfs, over_diff) = match &rootfs_op.op {
                    Some(op::Op::Diff(_)) => {
                        let lower = self.image_dir(&input_source(rootfs_op, 0)?)?;
                        let upper = self.image_dir(&input_source(rootfs_op, 1)?)?;
                        (self.materialized_diff(&lower, &upper)?, true)
                    }
                    _ => (self.image_dir(&source_of(1)?)?, false),
                };
                let bytes = if self.config.faults.garbage_fragment {
                    b"{\"format\":\"not-a-fragment\"}".to_vec()
                } else {
                    let args = match &op.op {
                        Some(op::Op::Exec(e)) => e.meta.as_ref().map(|m| m.args.clone()),
                        _ => None,
                    }
                    .unwrap_or_default();
                    (self.config.fragment)(&rootfs, &args).map_err(Status::unknown)?
                };
                let mut files = BTreeMap::new();
                files.insert(crate::llb::FRAGMENT_FILE.to_owned(), bytes);
                let id = self.add_ref("fragment", RefContent::Files(files))?;
                self.with(|s| {
                    if over_diff {
                        s.diff_exec_cache.insert(key, id.clone());
                        s.record.diff_fragment_runs += 1;
                    } else {
                        s.exec_cache.insert(key, id.clone());
                        s.record.fragment_runs += 1;
                    }
                })?;
                Ok(id)
            }
            Some(op::Op::Diff(_)) => {
                let lower = self.image_dir(&source_of(0)?)?;
                let upper = self.image_dir(&source_of(1)?)?;
                let only = self.diff_of(&lower, &upper)?;
                self.add_ref(
                    "diff",
                    RefContent::Dir {
                        root: upper,
                        only: Some(only),
                    },
                )
            }
            Some(op::Op::File(f)) => {
                let mut files = BTreeMap::new();
                for a in &f.actions {
                    match &a.action {
                        Some(file_action::Action::Mkfile(m)) => {
                            files.insert(m.path.trim_start_matches('/').to_owned(), m.data.clone());
                        }
                        _ => return Err(Status::unimplemented("only mkfile is emulated")),
                    }
                }
                self.add_ref("files", RefContent::Files(files))
            }
            _ => Err(Status::unimplemented("op not emulated")),
        }
    }
}

/// Copies the root-relative `paths` of `from` to `to`: directories, files (with their permission
/// bits) and symlinks (as symlinks). Parents sort before their children.
fn lay_out(from: &Path, paths: &BTreeSet<String>, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(to)?;
    let mut dirs = Vec::new();
    for rel in paths {
        let (src, dst) = (from.join(rel), to.join(rel));
        let meta = fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&dst)?;
            dirs.push((dst, meta.permissions().mode()));
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst)?;
        }
    }
    // Directory modes last, so a read-only directory does not stop its own copy.
    for (d, mode) in dirs.into_iter().rev() {
        fs::set_permissions(d, fs::Permissions::from_mode(mode | 0o700))?;
    }
    Ok(())
}

/// Root-relative `path` under `root`, refusing `..`.
fn host_path(root: &Path, path: &str) -> Result<PathBuf, Status> {
    let rel = path.trim_start_matches('/');
    if rel.split('/').any(|c| c == "..") {
        return Err(Status::invalid_argument("path escapes the ref"));
    }
    Ok(if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    })
}

fn stat_of(name: &str, meta: &fs::Metadata, host: &Path) -> Stat {
    let mode = gomode::from_unix(meta.mode());
    let linkname = if meta.file_type().is_symlink() {
        fs::read_link(host)
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Stat {
        path: name.to_owned(),
        mode,
        uid: meta.uid(),
        gid: meta.gid(),
        size: if meta.is_dir() {
            0
        } else {
            i64::try_from(meta.len()).unwrap_or(0)
        },
        mod_time: meta
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec()),
        linkname,
        ..Stat::default()
    }
}

/// The root-relative paths of `upper` that differ from `lower` (new, or another kind, mode, size,
/// mtime, link target or content), with the directories leading to them: what BuildKit's DiffOp
/// shows when the diff ref is mounted. Deletions are not shown (as in BuildKit).
pub fn diff_paths(lower: &Path, upper: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<String> = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = fs::read_dir(upper.join(&rel)) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let Ok(um) = fs::symlink_metadata(e.path()) else {
                continue;
            };
            let lm = fs::symlink_metadata(lower.join(&path)).ok();
            let changed = match &lm {
                None => true,
                Some(lm) => {
                    lm.mode() != um.mode()
                        || (!um.is_dir() && (lm.len() != um.len() || lm.mtime() != um.mtime()))
                        || (um.file_type().is_symlink()
                            && fs::read_link(lower.join(&path)).ok()
                                != fs::read_link(e.path()).ok())
                }
            };
            if um.is_dir() {
                if changed {
                    out.insert(path.clone());
                }
                stack.push(path);
            } else if changed {
                let mut p = path.as_str();
                out.insert(p.to_owned());
                while let Some((parent, _)) = p.rsplit_once('/') {
                    out.insert(parent.to_owned());
                    p = parent;
                }
            }
        }
    }
    out
}

#[tonic::async_trait]
impl LlbBridge for Bridge {
    async fn resolve_image_config(
        &self,
        _: Request<gw::ResolveImageConfigRequest>,
    ) -> Result<Response<gw::ResolveImageConfigResponse>, Status> {
        Err(Status::unimplemented("ResolveImageConfig"))
    }

    async fn solve(
        &self,
        request: Request<gw::SolveRequest>,
    ) -> Result<Response<gw::SolveResponse>, Status> {
        let req = request.into_inner();
        self.with(|s| s.record.solves.push(req.clone()))?;
        if !req.frontend.is_empty() {
            if let Some(e) = &self.config.faults.inner_error {
                return Err(Status::unknown(e.clone()));
            }
            return Ok(Response::new(gw::SolveResponse {
                r#ref: String::new(),
                result: Some(self.inner_result()?),
            }));
        }
        let def = req
            .definition
            .ok_or_else(|| Status::invalid_argument("no definition and no frontend"))?;
        let id = self.solve_definition(&def)?;
        Ok(Response::new(gw::SolveResponse {
            r#ref: String::new(),
            result: Some(gw::Result {
                result: Some(result::Result::Ref(gw::Ref { id, def: Some(def) })),
                ..gw::Result::default()
            }),
        }))
    }

    async fn read_file(
        &self,
        request: Request<gw::ReadFileRequest>,
    ) -> Result<Response<gw::ReadFileResponse>, Status> {
        let req = request.into_inner();
        self.count(&req.r#ref, |c| c.read_file += 1);
        let data = match self.lookup(&req.r#ref)? {
            RefContent::Files(files) => files
                .get(req.file_path.trim_start_matches('/'))
                .cloned()
                .ok_or_else(|| {
                Status::not_found(format!("{}: no such file or directory", req.file_path))
            })?,
            RefContent::Dir { root, only } => {
                let rel = req.file_path.trim_start_matches('/');
                if only.as_ref().is_some_and(|o| !o.contains(rel)) {
                    return Err(Status::not_found(format!(
                        "{}: no such file or directory",
                        req.file_path
                    )));
                }
                let host = host_path(&root, rel)?;
                match &req.range {
                    Some(r) => {
                        use std::io::{Read, Seek, SeekFrom};
                        let mut f =
                            fs::File::open(&host).map_err(|e| Status::not_found(e.to_string()))?;
                        f.seek(SeekFrom::Start(u64::try_from(r.offset).unwrap_or(0)))
                            .map_err(internal)?;
                        let mut buf = Vec::new();
                        f.take(u64::try_from(r.length).unwrap_or(0))
                            .read_to_end(&mut buf)
                            .map_err(internal)?;
                        buf
                    }
                    None => fs::read(&host).map_err(|e| Status::not_found(e.to_string()))?,
                }
            }
        };
        let data = match (&req.range, self.content(&req.r#ref)) {
            (Some(r), Some(RefContent::Files(_))) => {
                let start = usize::try_from(r.offset).unwrap_or(0).min(data.len());
                let end = start
                    .saturating_add(usize::try_from(r.length).unwrap_or(0))
                    .min(data.len());
                data.get(start..end).unwrap_or_default().to_vec()
            }
            _ => data,
        };
        Ok(Response::new(gw::ReadFileResponse { data }))
    }

    async fn read_dir(
        &self,
        request: Request<gw::ReadDirRequest>,
    ) -> Result<Response<gw::ReadDirResponse>, Status> {
        let req = request.into_inner();
        self.count(&req.r#ref, |c| c.read_dir += 1);
        let rel = req
            .dir_path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_owned();
        let mut entries = Vec::new();
        match self.lookup(&req.r#ref)? {
            RefContent::Files(files) => {
                for name in files.keys() {
                    if rel.is_empty() && !name.contains('/') {
                        entries.push(Stat {
                            path: name.clone(),
                            mode: 0o644,
                            size: i64::try_from(files[name].len()).unwrap_or(0),
                            ..Stat::default()
                        });
                    }
                }
            }
            RefContent::Dir { root, only } => {
                if !rel.is_empty() && only.as_ref().is_some_and(|o| !o.contains(&rel)) {
                    return Err(Status::not_found(format!(
                        "{}: no such file or directory",
                        req.dir_path
                    )));
                }
                let host = host_path(&root, &rel)?;
                let rd = fs::read_dir(&host).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Status::not_found(format!("{}: no such file or directory", req.dir_path))
                    } else {
                        internal(e)
                    }
                })?;
                for e in rd.filter_map(Result::ok) {
                    let Ok(name) = e.file_name().into_string() else {
                        continue;
                    };
                    let path = if rel.is_empty() {
                        name.clone()
                    } else {
                        format!("{rel}/{name}")
                    };
                    if only.as_ref().is_some_and(|o| !o.contains(&path)) {
                        continue;
                    }
                    let Ok(meta) = fs::symlink_metadata(e.path()) else {
                        continue;
                    };
                    entries.push(stat_of(&name, &meta, &e.path()));
                }
                entries.sort_by(|a, b| a.path.cmp(&b.path));
            }
        }
        if self.config.faults.hostile_names {
            for name in ["..", "", "a/../../etc", "."] {
                entries.push(Stat {
                    path: name.to_owned(),
                    mode: gomode::DIR | 0o755,
                    ..Stat::default()
                });
            }
        }
        Ok(Response::new(gw::ReadDirResponse { entries }))
    }

    async fn stat_file(
        &self,
        request: Request<gw::StatFileRequest>,
    ) -> Result<Response<gw::StatFileResponse>, Status> {
        let req = request.into_inner();
        self.count(&req.r#ref, |c| c.stat_file += 1);
        match self.lookup(&req.r#ref)? {
            RefContent::Files(files) => {
                let rel = req.path.trim_start_matches('/');
                let data = files.get(rel).ok_or_else(|| {
                    Status::not_found(format!("{}: no such file or directory", req.path))
                })?;
                Ok(Response::new(gw::StatFileResponse {
                    stat: Some(Stat {
                        path: rel.to_owned(),
                        mode: 0o644,
                        size: i64::try_from(data.len()).unwrap_or(0),
                        ..Stat::default()
                    }),
                }))
            }
            RefContent::Dir { root, only } => {
                let rel = req.path.trim_start_matches('/');
                if only.as_ref().is_some_and(|o| !o.contains(rel)) {
                    return Err(Status::not_found(format!(
                        "{}: no such file or directory",
                        req.path
                    )));
                }
                let host = host_path(&root, rel)?;
                let meta = fs::symlink_metadata(&host)
                    .map_err(|e| Status::not_found(format!("{}: {e}", req.path)))?;
                Ok(Response::new(gw::StatFileResponse {
                    stat: Some(stat_of(rel, &meta, &host)),
                }))
            }
        }
    }

    async fn ping(
        &self,
        _: Request<gw::PingRequest>,
    ) -> Result<Response<gw::PongResponse>, Status> {
        self.with(|s| s.record.pings += 1)?;
        let caps = |ids: &[String]| {
            ids.iter()
                .map(|id| ApiCap {
                    id: id.clone(),
                    enabled: true,
                    ..ApiCap::default()
                })
                .collect()
        };
        Ok(Response::new(gw::PongResponse {
            frontend_api_caps: caps(&self.config.gateway_caps),
            llb_caps: caps(&self.config.llb_caps),
        }))
    }

    async fn r#return(
        &self,
        request: Request<gw::ReturnRequest>,
    ) -> Result<Response<gw::ReturnResponse>, Status> {
        let req = request.into_inner();
        self.with(|s| s.record.returned = Some(req))?;
        Ok(Response::new(gw::ReturnResponse {}))
    }

    async fn inputs(
        &self,
        _: Request<gw::InputsRequest>,
    ) -> Result<Response<gw::InputsResponse>, Status> {
        Ok(Response::new(gw::InputsResponse {
            definitions: self.config.inputs.clone(),
        }))
    }

    async fn warn(
        &self,
        _: Request<gw::WarnRequest>,
    ) -> Result<Response<gw::WarnResponse>, Status> {
        Ok(Response::new(gw::WarnResponse {}))
    }
}

/// One connection handed to the tonic server (it needs a `Connected` stream).
#[derive(Debug)]
pub struct Conn<IO>(pub IO);

impl<IO: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Conn<IO> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<IO: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Conn<IO> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<IO> tonic::transport::server::Connected for Conn<IO> {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

/// Serves `bridge` on the single connection `io` (never returns by itself: abort the task when done).
pub async fn serve<IO>(bridge: &Bridge, io: IO) -> Result<(), tonic::transport::Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    tonic::transport::Server::builder()
        .initial_stream_window_size(crate::transport::WINDOW)
        .initial_connection_window_size(crate::transport::CONNECTION_WINDOW)
        .add_service(bridge.service())
        .serve_with_incoming(Once {
            item: Some(Conn(io)),
        })
        .await
}

/// Yields its item once, then stays pending: the server keeps serving that connection instead of
/// stopping when the "listener" ends.
struct Once<T> {
    item: Option<T>,
}

impl<T: Unpin> tokio_stream::Stream for Once<T> {
    type Item = Result<T, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        match self.item.take() {
            Some(i) => std::task::Poll::Ready(Some(Ok(i))),
            None => std::task::Poll::Pending,
        }
    }
}
