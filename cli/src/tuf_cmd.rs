//! `stella trust init|update|status` (the TUF client) and `stella trust repo ...` (the repository
//! tooling), over stella-tuf. `stella serve` publishes `DATA_DIR/tuf` under `/tuf/` ([`routes`]).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use stella_tuf::metadata::{Metadata, RoleMetadata};
use stella_tuf::{stella as conv, Cache, Error, Expiry, InitOptions, Repository, Updater};

use crate::exit;

type CmdResult = Result<(), (u8, String)>;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The exit code for a stella-tuf error.
fn code(e: &Error) -> u8 {
    match e {
        Error::ThresholdNotMet { .. }
        | Error::RollbackAttack { .. }
        | Error::Expired { .. }
        | Error::BadVersion { .. }
        | Error::LengthOrHashMismatch { .. }
        | Error::MetaRemoved { .. }
        | Error::EndlessData { .. }
        | Error::Malformed { .. }
        | Error::BadTargetName { .. } => exit::TRUST,
        Error::TargetNotFound { .. } => exit::NOT_FOUND,
        Error::NotFound { .. } | Error::Fetch { .. } | Error::Missing { .. } => exit::SOURCE,
        _ => exit::FAILURE,
    }
}

fn fail(e: Error) -> (u8, String) {
    (code(&e), e.to_string())
}

fn trust_dir(d: Option<PathBuf>) -> Result<PathBuf, (u8, String)> {
    d.or_else(stella_tuf::default_trust_dir).ok_or((
        exit::USAGE,
        "no trust directory: pass --trust-dir or set STELLA_TRUST_DIR or HOME".into(),
    ))
}

fn read_file(p: &Path) -> Result<Vec<u8>, (u8, String)> {
    std::fs::read(p).map_err(|e| (exit::SOURCE, format!("{}: {e}", p.display())))
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The root metadata to trust (obtained out of band; trust on first use of this file).
    root: PathBuf,
    /// The repository: an https:// URL (http:// on loopback), or a local directory.
    #[arg(long)]
    repo: String,
    /// The trust cache. Default: $STELLA_TRUST_DIR, else $XDG_CONFIG_HOME/stella/trust.
    #[arg(long)]
    trust_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The trust cache. Default: $STELLA_TRUST_DIR, else $XDG_CONFIG_HOME/stella/trust.
    #[arg(long)]
    trust_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The trust cache. Default: $STELLA_TRUST_DIR, else $XDG_CONFIG_HOME/stella/trust.
    #[arg(long)]
    trust_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn init(a: InitArgs) -> CmdResult {
    let dir = trust_dir(a.trust_dir)?;
    let root = read_file(&a.root)?;
    let cache = Cache::new(&dir);
    cache.pin_root(&root).map_err(fail)?;
    cache.set_repository_url(&a.repo).map_err(fail)?;
    let v = Metadata::<stella_tuf::Root>::from_bytes(&root)
        .map(|m| m.signed.version)
        .unwrap_or(0);
    eprintln!(
        "stella trust: pinned root version {v} in {}; repository {}",
        dir.display(),
        a.repo
    );
    Ok(())
}

fn refresh<F: stella_tuf::Fetcher>(dir: &Path, f: F) -> CmdResult {
    let mut up = Updater::new(dir, f, now()).map_err(fail)?;
    up.refresh().map_err(fail)?;
    let names = up.download_all_targets().map_err(fail)?;
    let t = up.trusted();
    let v = |x: Option<u64>| x.unwrap_or(0);
    println!(
        "root v{}, timestamp v{}, snapshot v{}, targets v{}; {} target(s) in {}",
        t.root().signed.version,
        v(t.timestamp().map(|m| m.signed.version)),
        v(t.snapshot().map(|m| m.signed.version)),
        v(t.targets().map(|m| m.signed.version)),
        names.len(),
        dir.join("targets").display()
    );
    Ok(())
}

pub fn update(a: UpdateArgs) -> CmdResult {
    let dir = trust_dir(a.trust_dir)?;
    let url = Cache::new(&dir).repository_url().map_err(fail)?.ok_or((
        exit::USAGE,
        format!(
            "{}: no repository; run `stella trust init` first",
            dir.display()
        ),
    ))?;
    if url.starts_with("http://") || url.starts_with("https://") {
        refresh(&dir, stella_tuf::HttpFetcher::new(&url).map_err(fail)?)
    } else {
        let local = url.strip_prefix("file://").unwrap_or(&url);
        refresh(&dir, stella_tuf::LocalDirFetcher::repository(local))
    }
}

fn role_json<T: RoleMetadata>(cache: &Cache, role: &str, now: i64) -> Option<(Value, Metadata<T>)> {
    let bytes = cache.read_metadata(role, 16 * 1024 * 1024).ok()??;
    let md = Metadata::<T>::from_bytes(&bytes).ok()?;
    let v = json!({
        "version": md.signed.version(),
        "expires": md.signed.expires(),
        "expired": md.is_expired(now),
    });
    Some((v, md))
}

pub fn status(a: StatusArgs) -> CmdResult {
    let dir = trust_dir(a.trust_dir)?;
    let cache = Cache::new(&dir);
    let now = now();
    if !cache.metadata_path("root").is_file() {
        return Err((
            exit::SOURCE,
            format!("{}: no pinned root; run `stella trust init`", dir.display()),
        ));
    }
    let verified = stella_tuf::load_cached(&dir, now);
    let mut roles = serde_json::Map::new();
    let mut any_expired = false;
    let root = role_json::<stella_tuf::Root>(&cache, "root", now);
    if let Some((mut v, md)) = root.clone() {
        any_expired |= md.is_expired(now);
        if let Some(o) = v.as_object_mut() {
            let role_keys: serde_json::Map<String, Value> = md
                .signed
                .roles
                .iter()
                .map(|(name, r)| {
                    (
                        name.clone(),
                        json!({"keyids": r.keyids, "threshold": r.threshold}),
                    )
                })
                .collect();
            o.insert(
                "consistent_snapshot".into(),
                json!(md.signed.consistent_snapshot),
            );
            o.insert("roles".into(), Value::Object(role_keys));
        }
        roles.insert("root".into(), v);
    }
    for role in ["timestamp", "snapshot"] {
        let entry = if role == "timestamp" {
            role_json::<stella_tuf::Timestamp>(&cache, role, now)
                .map(|(v, m)| (v, m.is_expired(now)))
        } else {
            role_json::<stella_tuf::Snapshot>(&cache, role, now)
                .map(|(v, m)| (v, m.is_expired(now)))
        };
        if let Some((v, expired)) = entry {
            any_expired |= expired;
            roles.insert(role.into(), v);
        }
    }
    let mut targets = Vec::new();
    if let Some((v, md)) = role_json::<stella_tuf::Targets>(&cache, "targets", now) {
        any_expired |= md.is_expired(now);
        roles.insert("targets".into(), v);
        for (name, t) in &md.signed.targets {
            let stella = t.custom.as_ref().and_then(|c| c.get("stella"));
            let s = |k: &str| {
                stella
                    .and_then(|s| s.get(k))
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            let sha256 = t
                .hashes
                .iter()
                .find(|(alg, _)| alg == "sha256")
                .map(|(_, h)| h.clone());
            targets.push(json!({
                "name": name,
                "length": t.length,
                "sha256": sha256,
                "usage": s("usage"),
                "status": s("status"),
                "grace_until": s("grace_until"),
                "cached": cache.target_path(name).map(|p| p.is_file()).unwrap_or(false),
            }));
        }
    }
    let report = json!({
        "trust_dir": dir,
        "repository": cache.repository_url().ok().flatten(),
        "verified": verified.is_ok(),
        "error": verified.as_ref().err().map(ToString::to_string),
        "expired": any_expired,
        "roles": roles,
        "targets": targets,
    });
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Text => print_status(&report),
    }
    match verified {
        Ok(_) => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

fn print_status(r: &Value) {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    println!("trust dir:  {}", s(&r["trust_dir"]));
    println!("repository: {}", s(&r["repository"]));
    println!(
        "verified:   {}",
        if r["verified"] == true {
            "yes".to_string()
        } else {
            format!("no ({})", s(&r["error"]))
        }
    );
    println!(
        "expired:    {}",
        if r["expired"] == true { "YES" } else { "no" }
    );
    for role in ["root", "timestamp", "snapshot", "targets"] {
        let v = &r["roles"][role];
        if v.is_null() {
            println!("{role:<10}  (not cached)");
            continue;
        }
        println!(
            "{role:<10}  v{:<4} expires {}{}",
            s(&v["version"]),
            s(&v["expires"]),
            if v["expired"] == true {
                "  EXPIRED"
            } else {
                ""
            }
        );
    }
    if let Some(roles) = r["roles"]["root"]["roles"].as_object() {
        for (name, k) in roles {
            let ids: Vec<String> = k["keyids"]
                .as_array()
                .map(|a| a.iter().map(s).collect())
                .unwrap_or_default();
            println!(
                "  {name} keys ({} of {}): {}",
                s(&k["threshold"]),
                ids.len(),
                ids.join(", ")
            );
        }
    }
    for t in r["targets"].as_array().into_iter().flatten() {
        println!(
            "target {}  {} bytes  sha256:{}  usage={} status={}{}",
            s(&t["name"]),
            s(&t["length"]),
            s(&t["sha256"]),
            s(&t["usage"]),
            s(&t["status"]),
            match &t["grace_until"] {
                Value::String(g) => format!(" grace_until={g}"),
                _ => String::new(),
            }
        );
    }
}

// ---- repository tooling ----

#[derive(Debug, Args)]
pub struct ExpiryArgs {
    /// Days until the root metadata expires.
    #[arg(long, default_value_t = 365)]
    root_days: i64,
    /// Days until the targets metadata expires.
    #[arg(long, alias = "expires-days", default_value_t = 90)]
    targets_days: i64,
    /// Days until the snapshot metadata expires.
    #[arg(long, default_value_t = 7)]
    snapshot_days: i64,
    /// Days until the timestamp metadata expires (refresh it more often: `repo timestamp`).
    #[arg(long, default_value_t = 1)]
    timestamp_days: i64,
}

impl ExpiryArgs {
    fn expiry(&self) -> Result<Expiry, (u8, String)> {
        let e = Expiry {
            root_days: self.root_days,
            targets_days: self.targets_days,
            snapshot_days: self.snapshot_days,
            timestamp_days: self.timestamp_days,
        };
        if [
            e.root_days,
            e.targets_days,
            e.snapshot_days,
            e.timestamp_days,
        ]
        .iter()
        .any(|d| *d < 1 || *d > 3650)
        {
            return Err((exit::USAGE, "expiry days must be between 1 and 3650".into()));
        }
        Ok(e)
    }
}

#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The repository directory (static files to publish).
    dir: PathBuf,
    /// The key directory (`root/` offline keys, `online/` targets/snapshot/timestamp keys).
    #[arg(long, env = "STELLA_TUF_KEYS")]
    keys: PathBuf,
    #[command(flatten)]
    expiry: ExpiryArgs,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a repository: root keys (threshold), one key each for targets, snapshot, timestamp.
    Init {
        #[command(flatten)]
        repo: RepoArgs,
        /// How many root keys.
        #[arg(long, default_value_t = 5)]
        root_keys: usize,
        /// How many root keys must sign a new root.
        #[arg(long, default_value_t = 3)]
        root_threshold: u64,
        /// A Sigstore trusted_root.json: publishes it and the keys and chains it holds.
        #[arg(long)]
        trusted_root: Option<PathBuf>,
        /// The service map (sigstore-services-v1.json).
        #[arg(long)]
        service_map: Option<PathBuf>,
        /// The organisation's signing key (org-signing-key-v1.pub).
        #[arg(long)]
        org_key: Option<PathBuf>,
        /// Turn consistent snapshots off (on by default).
        #[arg(long)]
        no_consistent_snapshot: bool,
    },
    /// Add (or replace) a target.
    AddTarget {
        #[command(flatten)]
        repo: RepoArgs,
        file: PathBuf,
        /// The target name (default: the file name).
        #[arg(long)]
        name: Option<String>,
        /// JSON for the target's `custom` field.
        #[arg(long)]
        custom: Option<String>,
    },
    /// Remove a target.
    RemoveTarget {
        #[command(flatten)]
        repo: RepoArgs,
        name: String,
    },
    /// A new timestamp with a new expiry (run it more often than the timestamp expires).
    Timestamp {
        #[command(flatten)]
        repo: RepoArgs,
    },
    /// Dual-key rotation: the active key of USAGE enters a grace period, FILE becomes active.
    RotateKey {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long)]
        usage: String,
        /// The new key file.
        #[arg(long = "new")]
        new_key: PathBuf,
        /// The new target name (default: the file name).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value_t = 14)]
        grace_days: i64,
    },
    /// Remove a key of USAGE (after its grace period).
    RetireKey {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long)]
        usage: String,
        #[arg(long)]
        name: String,
    },
    /// New root version revoking root key KEYID and adding a newly generated one.
    RotateRootKey {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long)]
        revoke: String,
    },
}

fn file_name(p: &Path, name: Option<String>) -> Result<String, (u8, String)> {
    name.or_else(|| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .ok_or((
            exit::USAGE,
            format!("{}: no file name; pass --name", p.display()),
        ))
}

fn open(r: &RepoArgs) -> Result<Repository, (u8, String)> {
    let mut repo = Repository::open(&r.dir, &r.keys, now()).map_err(fail)?;
    repo.set_expiry(r.expiry.expiry()?);
    Ok(repo)
}

fn published(repo: &Repository, what: &str) {
    let v = |k: &str| repo.root().get(k).cloned().unwrap_or(Value::Null);
    let tv = repo
        .targets()
        .get("version")
        .cloned()
        .unwrap_or(Value::Null);
    eprintln!(
        "stella trust repo: {what}; root v{}, targets v{tv} in {}",
        v("version"),
        repo.dir().display()
    );
}

pub fn run_repo(cmd: RepoCommand) -> CmdResult {
    match cmd {
        RepoCommand::Init {
            repo: r,
            root_keys,
            root_threshold,
            trusted_root,
            service_map,
            org_key,
            no_consistent_snapshot,
        } => {
            let opts = InitOptions {
                root_keys,
                root_threshold,
                expiry: r.expiry.expiry()?,
                consistent_snapshot: !no_consistent_snapshot,
            };
            let mut repo = Repository::init(&r.dir, &r.keys, &opts, now()).map_err(fail)?;
            let mut changed = false;
            if let Some(tr) = trusted_root {
                let map = service_map.as_deref().map(read_file).transpose()?;
                conv::add_sigstore_targets(&mut repo, &read_file(&tr)?, map.as_deref())
                    .map_err(fail)?;
                changed = true;
            } else if service_map.is_some() {
                return Err((exit::USAGE, "--service-map needs --trusted-root".into()));
            }
            if let Some(k) = org_key {
                let custom = conv::custom_active(conv::ORG_KEY_USAGE);
                repo.add_target(conv::ORG_SIGNING_KEY, &read_file(&k)?, Some(custom))
                    .map_err(fail)?;
                changed = true;
            }
            if changed {
                repo.publish().map_err(fail)?;
            }
            published(
                &repo,
                &format!(
                    "created ({root_threshold} of {root_keys} root keys in {})",
                    r.keys.join("root").display()
                ),
            );
        }
        RepoCommand::AddTarget {
            repo: r,
            file,
            name,
            custom,
        } => {
            let name = file_name(&file, name)?;
            let custom = custom
                .map(|c| serde_json::from_str::<Value>(&c))
                .transpose()
                .map_err(|e| (exit::USAGE, format!("--custom: {e}")))?;
            let mut repo = open(&r)?;
            repo.add_target(&name, &read_file(&file)?, custom)
                .map_err(fail)?;
            repo.publish().map_err(fail)?;
            published(&repo, &format!("added {name}"));
        }
        RepoCommand::RemoveTarget { repo: r, name } => {
            let mut repo = open(&r)?;
            repo.remove_target(&name).map_err(fail)?;
            repo.publish().map_err(fail)?;
            published(&repo, &format!("removed {name}"));
        }
        RepoCommand::Timestamp { repo: r } => {
            let mut repo = open(&r)?;
            repo.refresh_timestamp().map_err(fail)?;
            published(&repo, "timestamp refreshed");
        }
        RepoCommand::RotateKey {
            repo: r,
            usage,
            new_key,
            name,
            grace_days,
        } => {
            let name = file_name(&new_key, name)?;
            let mut repo = open(&r)?;
            let until = now() + grace_days.max(0) * 86_400;
            conv::rotate_key(&mut repo, &usage, &name, &read_file(&new_key)?, until)
                .map_err(fail)?;
            repo.publish().map_err(fail)?;
            published(&repo, &format!("{name} is the active {usage}; the previous one is in grace for {grace_days} days"));
        }
        RepoCommand::RetireKey {
            repo: r,
            usage,
            name,
        } => {
            let mut repo = open(&r)?;
            conv::retire_key(&mut repo, &usage, &name).map_err(fail)?;
            repo.publish().map_err(fail)?;
            published(&repo, &format!("retired {name}"));
        }
        RepoCommand::RotateRootKey { repo: r, revoke } => {
            let mut repo = open(&r)?;
            let new_id = repo.rotate_root_key(&revoke).map_err(fail)?;
            println!("{new_id}");
            published(&repo, &format!("root key {revoke} revoked, {new_id} added"));
        }
    }
    Ok(())
}

// ---- stella serve: the repository as static files ----

/// `GET /tuf/<path>`: a file of the TUF repository in `dir`. Paths with `..`, empty or `.`
/// components are refused; nothing outside `dir` is served.
pub fn routes(dir: PathBuf) -> axum::Router {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;

    async fn get(
        State(dir): State<PathBuf>,
        UrlPath(path): UrlPath<String>,
    ) -> axum::response::Response {
        if stella_tuf::fetch::check_relative_path(&path).is_err() {
            return (StatusCode::BAD_REQUEST, "bad path").into_response();
        }
        match tokio::fs::read(dir.join(&path)).await {
            Ok(bytes) => {
                let ty = if path.ends_with(".json") {
                    "application/json"
                } else {
                    "application/octet-stream"
                };
                ([(header::CONTENT_TYPE, ty)], bytes).into_response()
            }
            Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    }
    axum::Router::new()
        .route("/tuf/{*path}", axum::routing::get(get))
        .with_state(dir)
}
