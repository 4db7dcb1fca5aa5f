//! The client: spec §5 "Detailed client workflow" over a [`Fetcher`] and a [`Cache`].

use std::path::Path;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::fetch::{Fetcher, LocalDirFetcher};
use crate::metadata::{check_length_hashes, Role, TargetFile};
use crate::stella::{trusted_keys, TrustedKey};
use crate::trusted::TrustedSet;

/// The most delegated roles one target search visits.
pub const MAX_DELEGATIONS: usize = 32;

/// Download limits and other knobs. The defaults follow python-tuf's.
#[derive(Debug, Clone)]
pub struct Config {
    /// The most new root versions one refresh walks through (spec: a fixed bound).
    pub max_root_rotations: u64,
    pub root_max_length: u64,
    pub timestamp_max_length: u64,
    /// Used when the timestamp's snapshot meta gives no length.
    pub snapshot_max_length: u64,
    /// Used when the snapshot's targets meta gives no length.
    pub targets_max_length: u64,
    /// Fetch `HASH.NAME` for targets when the root sets `consistent_snapshot`.
    pub prefix_targets_with_hash: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_root_rotations: 32,
            root_max_length: 512 * 1024,
            timestamp_max_length: 16 * 1024,
            snapshot_max_length: 2 * 1024 * 1024,
            targets_max_length: 2 * 1024 * 1024,
            prefix_targets_with_hash: true,
        }
    }
}

/// A TUF client over one repository. `now` (seconds since the epoch) is fixed at construction.
#[derive(Debug)]
pub struct Updater<F> {
    cache: Cache,
    fetcher: F,
    config: Config,
    trusted: TrustedSet,
    refreshed: bool,
}

fn role_keys_changed(a: &crate::metadata::Root, b: &crate::metadata::Root, role: Role) -> bool {
    let keys = |r: &crate::metadata::Root| {
        r.roles.get(role.name()).map(|k| {
            let mut ids: Vec<(String, Option<crate::keys::Key>)> = k
                .keyids
                .iter()
                .map(|id| (id.clone(), r.keys.get(id).cloned()))
                .collect();
            ids.sort_by(|x, y| x.0.cmp(&y.0));
            (ids, k.threshold)
        })
    };
    keys(a) != keys(b)
}

impl<F: Fetcher> Updater<F> {
    /// A client whose trusted root is the cache's `metadata/root.json` (spec §5.2).
    pub fn new(cache_dir: impl AsRef<Path>, fetcher: F, now: i64) -> Result<Self> {
        Self::with_config(cache_dir, fetcher, now, Config::default())
    }

    /// [`Updater::new`] with explicit limits.
    pub fn with_config(
        cache_dir: impl AsRef<Path>,
        fetcher: F,
        now: i64,
        config: Config,
    ) -> Result<Self> {
        let cache = Cache::new(cache_dir.as_ref());
        let root = cache
            .read_metadata("root", config.root_max_length)?
            .ok_or_else(|| Error::Missing {
                role: format!(
                    "root ({} does not exist)",
                    cache.metadata_path("root").display()
                ),
            })?;
        let trusted = TrustedSet::new(&root, now)?;
        Ok(Self {
            cache,
            fetcher,
            config,
            trusted,
            refreshed: false,
        })
    }

    /// The trusted metadata (complete after [`Updater::refresh`]).
    pub fn trusted(&self) -> &TrustedSet {
        &self.trusted
    }

    /// The cache this client writes to.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Runs the workflow: root chain, timestamp, snapshot, top-level targets. Every accepted file is
    /// written to the cache. On error the trusted state is whatever was accepted before it.
    pub fn refresh(&mut self) -> Result<()> {
        self.load_root()?;
        self.load_timestamp()?;
        self.load_snapshot()?;
        self.load_targets()?;
        self.refreshed = true;
        Ok(())
    }

    fn load_root(&mut self) -> Result<()> {
        let original = self.trusted.root().signed.clone();
        let start = original.version;
        for _ in 0..self.config.max_root_rotations {
            let next = self.trusted.root().signed.version.saturating_add(1);
            let name = format!("{next}.root.json");
            let bytes = match self
                .fetcher
                .fetch_metadata(&name, self.config.root_max_length)
            {
                Ok(b) => b,
                Err(Error::NotFound { .. }) => break,
                Err(e) => return Err(e),
            };
            self.trusted.update_root(&bytes)?;
            self.cache.write_metadata("root", &bytes)?;
        }
        self.trusted.check_root_fresh()?;
        let new = &self.trusted.root().signed;
        if new.version != start
            && (role_keys_changed(&original, new, Role::Timestamp)
                || role_keys_changed(&original, new, Role::Snapshot))
        {
            // Spec §5.3.11: fast-forward attack recovery.
            self.cache.remove_metadata("timestamp")?;
            self.cache.remove_metadata("snapshot")?;
        }
        Ok(())
    }

    fn load_timestamp(&mut self) -> Result<()> {
        let limit = self.config.timestamp_max_length;
        if let Ok(Some(local)) = self.cache.read_metadata("timestamp", limit) {
            // A cached timestamp that no longer verifies is simply not trusted; an expired one is
            // kept for the rollback check (the error is the expected outcome here).
            let _ = self.trusted.update_timestamp(&local);
        }
        let bytes = self.fetcher.fetch_metadata("timestamp.json", limit)?;
        if self.trusted.update_timestamp(&bytes)? {
            self.cache.write_metadata("timestamp", &bytes)?;
        }
        Ok(())
    }

    fn load_snapshot(&mut self) -> Result<()> {
        if let Ok(Some(local)) = self
            .cache
            .read_metadata("snapshot", self.config.snapshot_max_length)
        {
            if self.trusted.update_snapshot(&local, true).is_ok() {
                return Ok(());
            }
        }
        let meta = self
            .trusted
            .timestamp()
            .ok_or_else(|| Error::Missing {
                role: "timestamp".into(),
            })?
            .signed
            .snapshot_meta
            .clone();
        let name = if self.trusted.root().signed.consistent_snapshot {
            format!("{}.snapshot.json", meta.version)
        } else {
            "snapshot.json".to_string()
        };
        let limit = meta.length.unwrap_or(self.config.snapshot_max_length);
        let bytes = self.fetcher.fetch_metadata(&name, limit)?;
        self.trusted.update_snapshot(&bytes, false)?;
        self.cache.write_metadata("snapshot", &bytes)
    }

    fn load_targets(&mut self) -> Result<()> {
        if let Ok(Some(local)) = self
            .cache
            .read_metadata("targets", self.config.targets_max_length)
        {
            if self.trusted.update_targets(&local, true).is_ok() {
                return Ok(());
            }
        }
        let meta = self
            .trusted
            .snapshot()
            .and_then(|s| s.signed.meta.get("targets.json"))
            .ok_or_else(|| Error::malformed("snapshot", "meta has no targets.json"))?
            .clone();
        let name = if self.trusted.root().signed.consistent_snapshot {
            format!("{}.targets.json", meta.version)
        } else {
            "targets.json".to_string()
        };
        let limit = meta.length.unwrap_or(self.config.targets_max_length);
        let bytes = self.fetcher.fetch_metadata(&name, limit)?;
        self.trusted.update_targets(&bytes, false)?;
        self.cache.write_metadata("targets", &bytes)
    }

    /// Loads delegated role `role` (from the cache if it still verifies, else the repository).
    fn load_delegated(&mut self, role: &str, delegator: &str) -> Result<()> {
        if !crate::metadata::is_safe_role_name(role) {
            return Err(Error::malformed(
                delegator,
                format!("delegated role name {role:?} is not a plain file name"),
            ));
        }
        let limit = self.config.targets_max_length;
        if let Ok(Some(local)) = self.cache.read_metadata(role, limit) {
            if self
                .trusted
                .update_delegated_targets(&local, role, delegator, true)
                .is_ok()
            {
                return Ok(());
            }
        }
        let meta = self
            .trusted
            .snapshot()
            .and_then(|s| s.signed.meta.get(&format!("{role}.json")))
            .ok_or_else(|| Error::malformed("snapshot", format!("meta has no {role}.json")))?
            .clone();
        let name = if self.trusted.root().signed.consistent_snapshot {
            format!("{}.{role}.json", meta.version)
        } else {
            format!("{role}.json")
        };
        let bytes = self
            .fetcher
            .fetch_metadata(&name, meta.length.unwrap_or(limit))?;
        self.trusted
            .update_delegated_targets(&bytes, role, delegator, false)?;
        self.cache.write_metadata(role, &bytes)
    }

    /// The trusted description of target `name` (after [`Updater::refresh`]): from the top-level
    /// targets role, else from delegated roles searched as the spec says (pre-order depth-first,
    /// only roles whose paths cover `name`, a terminating role ends the search, at most
    /// [`MAX_DELEGATIONS`] roles visited).
    pub fn target(&mut self, name: &str) -> Result<TargetFile> {
        if !self.refreshed {
            return Err(Error::Missing {
                role: "targets (call refresh first)".into(),
            });
        }
        let mut to_visit = vec![("targets".to_string(), String::new())];
        let mut visited = std::collections::BTreeSet::new();
        while let Some((role, delegator)) = to_visit.pop() {
            if visited.len() >= MAX_DELEGATIONS {
                break;
            }
            if !visited.insert(role.clone()) {
                continue;
            }
            if role != "targets" {
                self.load_delegated(&role, &delegator)?;
            }
            let md = self
                .trusted
                .targets_role(&role)
                .ok_or_else(|| Error::Missing { role: role.clone() })?;
            if let Some(t) = md.signed.targets.get(name) {
                return Ok(t.clone());
            }
            let mut children = Vec::new();
            if let Some(d) = &md.signed.delegations {
                for child in d.roles.iter().filter(|r| r.is_for(name)) {
                    children.push((child.name.clone(), role.clone()));
                    if child.terminating {
                        to_visit.clear();
                        break;
                    }
                }
            }
            children.reverse();
            to_visit.extend(children);
        }
        Err(Error::TargetNotFound { name: name.into() })
    }

    /// The bytes of target `name`: the cached copy if it still matches the trusted length and
    /// hashes, else downloaded (at most its length, checked against every hash) and cached.
    pub fn download_target(&mut self, name: &str) -> Result<Vec<u8>> {
        let info = self.target(name)?;
        let path = self.cache.target_path(name)?;
        if let Ok(bytes) = crate::fetch::read_limited(&path, name, info.length) {
            if check_length_hashes(name, &bytes, Some(info.length), &info.hashes).is_ok() {
                return Ok(bytes);
            }
        }
        let remote = if self.trusted.root().signed.consistent_snapshot
            && self.config.prefix_targets_with_hash
        {
            let hash = info
                .hashes
                .first()
                .map(|(_, h)| h.as_str())
                .unwrap_or_default();
            match name.rsplit_once('/') {
                Some((dir, base)) => format!("{dir}/{hash}.{base}"),
                None => format!("{hash}.{name}"),
            }
        } else {
            name.to_string()
        };
        let bytes = self.fetcher.fetch_target(&remote, info.length)?;
        check_length_hashes(name, &bytes, Some(info.length), &info.hashes)?;
        crate::cache::write_atomic(&path, &bytes)?;
        Ok(bytes)
    }

    /// Downloads every target of the top-level targets role; returns their names.
    pub fn download_all_targets(&mut self) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .trusted
            .targets()
            .map(|t| t.signed.targets.keys().cloned().collect())
            .unwrap_or_default();
        for n in &names {
            self.download_target(n)?;
        }
        Ok(names)
    }
}

/// Loads the trusted metadata from a cache directory with no network: the cached root, timestamp,
/// snapshot and targets must all verify and be unexpired at `now`.
pub fn load_cached(cache_dir: impl AsRef<Path>, now: i64) -> Result<TrustedSet> {
    let cache = Cache::new(cache_dir.as_ref());
    let config = Config::default();
    let read = |role: &str, limit: u64| {
        cache
            .read_metadata(role, limit)?
            .ok_or_else(|| Error::Missing {
                role: format!(
                    "{role} ({} does not exist)",
                    cache.metadata_path(role).display()
                ),
            })
    };
    let mut set = TrustedSet::new(&read("root", config.root_max_length)?, now)?;
    set.check_root_fresh()?;
    set.update_timestamp(&read("timestamp", config.timestamp_max_length)?)?;
    set.update_snapshot(&read("snapshot", config.snapshot_max_length)?, true)?;
    set.update_targets(&read("targets", config.targets_max_length)?, true)?;
    Ok(set)
}

/// A fetcher for cache-only use: everything is absent.
#[derive(Debug)]
struct NoNetwork;

impl Fetcher for NoNetwork {
    fn fetch_metadata(&self, name: &str, _limit: u64) -> Result<Vec<u8>> {
        Err(Error::NotFound {
            path: format!("{name} (offline: not in the cache)"),
        })
    }
    fn fetch_target(&self, path: &str, _limit: u64) -> Result<Vec<u8>> {
        Err(Error::NotFound {
            path: format!("{path} (offline: not in the cache)"),
        })
    }
}

/// The bytes of target `name` from a cache directory filled by `stella trust update`, with no
/// network: the cached metadata is verified ([`load_cached`]; delegated roles too, if the target
/// is delegated) and the file checked against the trusted length and hashes. This is what
/// `stella verify` calls for `trusted_root.json`.
pub fn cached_target(cache_dir: impl AsRef<Path>, name: &str, now: i64) -> Result<Vec<u8>> {
    let trusted = load_cached(cache_dir.as_ref(), now)?;
    let cache = Cache::new(cache_dir.as_ref());
    let path = cache.target_path(name)?;
    let mut up = Updater {
        cache,
        fetcher: NoNetwork,
        config: Config::default(),
        trusted,
        refreshed: true,
    };
    let info = up.target(name)?;
    let bytes = crate::fetch::read_limited(&path, name, info.length)?;
    check_length_hashes(name, &bytes, Some(info.length), &info.hashes)?;
    Ok(bytes)
}

/// The bytes of target `name` from an offline trust bundle directory (`tuf/` metadata, `targets/`
/// files), trusting only `trusted_root` (a root pinned earlier, e.g. the cache's
/// `metadata/root.json`). The full client workflow runs against the bundle in a temporary cache;
/// nothing touches the network.
///
/// `now` is the time metadata expiry is judged at: for a sealed bundle, the time it was made.
pub fn bundle_target(
    bundle_dir: impl AsRef<Path>,
    trusted_root: &[u8],
    name: &str,
    now: i64,
) -> Result<Vec<u8>> {
    let (_tmp, mut up) = bundle_updater(bundle_dir.as_ref(), trusted_root, now)?;
    up.download_target(name)
}

/// The client workflow run against an offline trust bundle directory, trusting only
/// `trusted_root`, in a temporary cache (kept while the returned guard lives).
fn bundle_updater(
    bundle_dir: &Path,
    trusted_root: &[u8],
    now: i64,
) -> Result<(tempfile::TempDir, Updater<LocalDirFetcher>)> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io(bundle_dir, e))?;
    Cache::new(tmp.path()).write_metadata("root", trusted_root)?;
    let mut up = Updater::new(tmp.path(), LocalDirFetcher::bundle(bundle_dir), now)?;
    up.refresh()?;
    Ok((tmp, up))
}

fn top_level_targets(trusted: &TrustedSet) -> Result<&crate::metadata::Targets> {
    trusted
        .targets()
        .map(|t| &t.signed)
        .ok_or_else(|| Error::Missing {
            role: "targets".into(),
        })
}

/// Every key target of `usage` trusted at `now` in the top-level targets
/// ([`crate::stella::trusted_keys`]: active, or in its grace period), with its bytes, from a cache
/// directory filled by `stella trust update`; no network. A trusted key whose file is not cached
/// (or does not match its signed hashes) is an error, not skipped.
pub fn cached_keys(
    cache_dir: impl AsRef<Path>,
    usage: &str,
    now: i64,
) -> Result<Vec<(TrustedKey, Vec<u8>)>> {
    let trusted = load_cached(cache_dir.as_ref(), now)?;
    trusted_keys(top_level_targets(&trusted)?, usage, now)
        .into_iter()
        .map(|k| {
            let bytes = cached_target(cache_dir.as_ref(), &k.name, now)?;
            Ok((k, bytes))
        })
        .collect()
}

/// [`cached_keys`] from an offline trust bundle directory, trusting only `trusted_root`
/// (see [`bundle_target`]): metadata expiry is judged at `metadata_time` (when the bundle was
/// made), a replaced key's grace period at `now`.
pub fn bundle_keys(
    bundle_dir: impl AsRef<Path>,
    trusted_root: &[u8],
    usage: &str,
    metadata_time: i64,
    now: i64,
) -> Result<Vec<(TrustedKey, Vec<u8>)>> {
    let (_tmp, mut up) = bundle_updater(bundle_dir.as_ref(), trusted_root, metadata_time)?;
    let keys = trusted_keys(top_level_targets(up.trusted())?, usage, now);
    keys.into_iter()
        .map(|k| {
            let bytes = up.download_target(&k.name)?;
            Ok((k, bytes))
        })
        .collect()
}

/// The files of an offline trust bundle for the repository `fetcher` reaches, as paths inside the
/// bundle: `tuf/N.root.json` for every root version from `trusted_root`'s to the newest (so a client
/// pinned to that root walks the chain), `tuf/root.json`, `tuf/timestamp.json`, `tuf/snapshot.json`,
/// `tuf/targets.json`, and `targets/NAME` for every top-level target. The full client workflow runs
/// first, from `trusted_root`, so only metadata and targets that verify are taken. Delegated
/// targets are not included.
pub fn bundle_files<F: Fetcher>(
    fetcher: &F,
    trusted_root: &[u8],
    now: i64,
) -> Result<Vec<(String, Vec<u8>)>> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io(Path::new("."), e))?;
    Cache::new(tmp.path()).write_metadata("root", trusted_root)?;
    let pinned = TrustedSet::new(trusted_root, now)?.root().signed.version;
    let mut up = Updater::new(tmp.path(), fetcher, now)?;
    up.refresh()?;
    let names = up.download_all_targets()?;
    let config = Config::default();
    let latest = up.trusted().root().signed.version;
    let mut out = vec![(format!("tuf/{pinned}.root.json"), trusted_root.to_vec())];
    for v in pinned.saturating_add(1)..=latest {
        let name = format!("{v}.root.json");
        out.push((
            format!("tuf/{name}"),
            fetcher.fetch_metadata(&name, config.root_max_length)?,
        ));
    }
    for (role, limit) in [
        ("root", config.root_max_length),
        ("timestamp", config.timestamp_max_length),
        ("snapshot", config.snapshot_max_length),
        ("targets", config.targets_max_length),
    ] {
        let bytes = up
            .cache()
            .read_metadata(role, limit)?
            .ok_or_else(|| Error::Missing {
                role: role.to_owned(),
            })?;
        out.push((format!("tuf/{role}.json"), bytes));
    }
    for name in names {
        let bytes = up.download_target(&name)?;
        out.push((format!("targets/{name}"), bytes));
    }
    Ok(out)
}
