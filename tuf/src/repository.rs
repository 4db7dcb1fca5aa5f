//! Repository tooling: create a TUF repository, add and remove targets, refresh the timestamp,
//! rotate root keys, and publish everything as static files any web server can serve:
//!
//! ```text
//! DIR/1.root.json … N.root.json, root.json, timestamp.json, N.snapshot.json, N.targets.json
//!     (snapshot.json and targets.json too, for clients without consistent snapshots)
//! DIR/targets/<sha256>.<name>, DIR/targets/<sha512>.<name>
//! KEYDIR/root/<keyid>.json      offline root keys (0600; move them off the machine)
//! KEYDIR/online/{targets,snapshot,timestamp}.json
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256, Sha512};

use crate::cache::write_atomic;
use crate::error::{Error, Result};
use crate::fetch::check_relative_path;
use crate::keys::{hex, SigningKey};
use crate::metadata::{Metadata, Role, RoleMetadata, Root, SPEC_VERSION};
use crate::time::format_rfc3339;

const DAY: i64 = 86_400;

/// How long each role's metadata stays valid, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub root_days: i64,
    pub targets_days: i64,
    pub snapshot_days: i64,
    pub timestamp_days: i64,
}

impl Default for Expiry {
    fn default() -> Self {
        Self {
            root_days: 365,
            targets_days: 90,
            snapshot_days: 7,
            timestamp_days: 1,
        }
    }
}

/// Options of [`Repository::init`].
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub root_keys: usize,
    pub root_threshold: u64,
    pub expiry: Expiry,
    pub consistent_snapshot: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            root_keys: 5,
            root_threshold: 3,
            expiry: Expiry::default(),
            consistent_snapshot: true,
        }
    }
}

/// Wraps `signed` into a metadata envelope signed by each key over its canonical JSON.
pub fn sign(signed: &Value, keys: &[&SigningKey]) -> Result<Value> {
    let canonical = crate::canonical::encode(signed)
        .ok_or_else(|| Error::malformed("signed", "holds a non-integer number"))?;
    let signatures: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keyid": k.keyid(), "sig": hex(&k.sign(&canonical))}))
        .collect();
    Ok(json!({"signed": signed, "signatures": signatures}))
}

/// The bytes a metadata envelope is published as (pretty JSON and a newline).
pub fn to_bytes(envelope: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(envelope).unwrap_or_default();
    out.push(b'\n');
    out
}

/// A `meta` entry for a published file: version, length, sha256.
pub fn meta_entry(bytes: &[u8], version: u64) -> Value {
    json!({"version": version, "length": bytes.len(), "hashes": {"sha256": hex(&Sha256::digest(bytes))}})
}

/// A `targets` entry for a file: length, sha256 and sha512 hashes, and `custom` if given.
pub fn target_entry(bytes: &[u8], custom: Option<Value>) -> Value {
    let mut v = json!({
        "length": bytes.len(),
        "hashes": {"sha256": hex(&Sha256::digest(bytes)), "sha512": hex(&Sha512::digest(bytes))},
    });
    if let (Some(c), Some(obj)) = (custom, v.as_object_mut()) {
        obj.insert("custom".into(), c);
    }
    v
}

fn restrict(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn write_key(path: &Path, key: &SigningKey) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    restrict(dir, 0o700)?;
    let text = serde_json::to_vec_pretty(&key.to_file_json()?)
        .map_err(|e| Error::malformed("key", e.to_string()))?;
    // Written 0600 from the start: the temporary file tempfile creates is already 0600.
    write_atomic(path, &text)?;
    restrict(path, 0o600)
}

fn read_key(path: &Path) -> Result<SigningKey> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::malformed(&path.display().to_string(), e.to_string()))?;
    SigningKey::from_file_json(&v)
}

fn obj_mut<'a>(v: &'a mut Value, what: &str) -> Result<&'a mut Map<String, Value>> {
    v.as_object_mut()
        .ok_or_else(|| Error::malformed(what, "not a JSON object"))
}

/// A repository being edited. Mutations stage changes; [`Repository::publish`] signs and writes.
#[derive(Debug)]
pub struct Repository {
    dir: PathBuf,
    keydir: PathBuf,
    now: i64,
    expiry: Expiry,
    root: Value,
    targets: Value,
    snapshot: Value,
    timestamp: Value,
    targets_dirty: bool,
}

fn read_signed(dir: &Path, name: &str) -> Result<Value> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::malformed(name, e.to_string()))?;
    v.get("signed")
        .cloned()
        .ok_or_else(|| Error::malformed(name, "no signed"))
}

fn version_of(v: &Value) -> u64 {
    v.get("version").and_then(Value::as_u64).unwrap_or(0)
}

impl Repository {
    /// Creates a repository: `options.root_keys` root keys (threshold `options.root_threshold`)
    /// under `keydir/root/`, one key each for targets, snapshot and timestamp under
    /// `keydir/online/`, and version 1 of every role with no targets, published into `dir`.
    pub fn init(dir: &Path, keydir: &Path, options: &InitOptions, now: i64) -> Result<Self> {
        if options.root_keys == 0
            || options.root_threshold == 0
            || options.root_threshold > options.root_keys as u64
        {
            return Err(Error::Repository {
                reason: format!(
                    "root threshold {} of {} keys is not satisfiable",
                    options.root_threshold, options.root_keys
                ),
            });
        }
        if dir.join("root.json").exists() {
            return Err(Error::Repository {
                reason: format!("{} already holds a repository", dir.display()),
            });
        }
        let mut keys = Map::new();
        let mut root_ids = Vec::new();
        for _ in 0..options.root_keys {
            let k = SigningKey::generate()?;
            write_key(&keydir.join("root").join(format!("{}.json", k.keyid())), &k)?;
            keys.insert(k.keyid(), json!(k.public()));
            root_ids.push(k.keyid());
        }
        let mut roles = Map::new();
        roles.insert(
            "root".into(),
            json!({"keyids": root_ids, "threshold": options.root_threshold}),
        );
        for role in ["targets", "snapshot", "timestamp"] {
            let k = SigningKey::generate()?;
            write_key(&keydir.join("online").join(format!("{role}.json")), &k)?;
            keys.insert(k.keyid(), json!(k.public()));
            roles.insert(role.into(), json!({"keyids": [k.keyid()], "threshold": 1}));
        }
        let root = json!({
            "_type": "root",
            "spec_version": SPEC_VERSION,
            "version": 1,
            "expires": format_rfc3339(now + options.expiry.root_days * DAY),
            "consistent_snapshot": options.consistent_snapshot,
            "keys": keys,
            "roles": roles,
        });
        let mut repo = Self {
            dir: dir.to_path_buf(),
            keydir: keydir.to_path_buf(),
            now,
            expiry: options.expiry,
            root,
            targets: json!({"_type": "targets", "spec_version": SPEC_VERSION, "version": 0,
                "expires": "", "targets": {}}),
            snapshot: json!({"_type": "snapshot", "spec_version": SPEC_VERSION, "version": 0,
                "expires": "", "meta": {}}),
            timestamp: json!({"_type": "timestamp", "spec_version": SPEC_VERSION, "version": 0,
                "expires": "", "meta": {}}),
            targets_dirty: true,
        };
        repo.write_root()?;
        repo.publish()?;
        Ok(repo)
    }

    /// Opens a repository published in `dir`, with its keys in `keydir`.
    pub fn open(dir: &Path, keydir: &Path, now: i64) -> Result<Self> {
        let root = read_signed(dir, "root.json")?;
        let timestamp = read_signed(dir, "timestamp.json")?;
        let snap_v = timestamp
            .pointer("/meta/snapshot.json/version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let consistent = root
            .get("consistent_snapshot")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let name = |role: &str, v: u64| {
            if consistent {
                format!("{v}.{role}.json")
            } else {
                format!("{role}.json")
            }
        };
        let snapshot = read_signed(dir, &name("snapshot", snap_v))?;
        let targets_v = snapshot
            .pointer("/meta/targets.json/version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let targets = read_signed(dir, &name("targets", targets_v))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            keydir: keydir.to_path_buf(),
            now,
            expiry: Expiry::default(),
            root,
            targets,
            snapshot,
            timestamp,
            targets_dirty: false,
        })
    }

    /// Sets the expiry periods used by the next writes.
    pub fn set_expiry(&mut self, expiry: Expiry) {
        self.expiry = expiry;
    }

    /// The directory the repository is published in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current root's `signed` value.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The current (or staged) targets' `signed` value.
    pub fn targets(&self) -> &Value {
        &self.targets
    }

    fn consistent(&self) -> bool {
        self.root
            .get("consistent_snapshot")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    fn online_key(&self, role: &str) -> Result<SigningKey> {
        read_key(&self.keydir.join("online").join(format!("{role}.json")))
    }

    fn root_keys(&self) -> Result<BTreeMap<String, SigningKey>> {
        let dir = self.keydir.join("root");
        let mut out = BTreeMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for e in entries {
            let e = e.map_err(|e| Error::io(&dir, e))?;
            let k = read_key(&e.path())?;
            out.insert(k.keyid(), k);
        }
        Ok(out)
    }

    fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.dir.join(name), bytes)
    }

    fn write_root(&self) -> Result<()> {
        let parsed = Root::from_signed(&self.root)?;
        let available = self.root_keys()?;
        let signers: Vec<&SigningKey> = parsed
            .roles
            .get("root")
            .map(|r| r.keyids.iter().filter_map(|id| available.get(id)).collect())
            .unwrap_or_default();
        let bytes = to_bytes(&sign(&self.root, &signers)?);
        let check = Metadata::<Root>::from_bytes(&bytes)?;
        check
            .signed
            .verify_role(Role::Root, &check.canonical_signed, &check.signatures)?;
        self.write_file(&format!("{}.root.json", parsed.version), &bytes)?;
        self.write_file("root.json", &bytes)
    }

    /// Adds (or replaces) target `name` with `bytes`; `custom` is stored as the target's `custom`.
    /// The file is written under `targets/` right away; metadata changes at [`Repository::publish`].
    pub fn add_target(&mut self, name: &str, bytes: &[u8], custom: Option<Value>) -> Result<()> {
        check_relative_path(name)?;
        let entry = target_entry(bytes, custom);
        let (dir, base) = match name.rsplit_once('/') {
            Some((d, b)) => (format!("targets/{d}/"), b),
            None => ("targets/".to_string(), name),
        };
        for alg in ["sha256", "sha512"] {
            let h = entry
                .pointer(&format!("/hashes/{alg}"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.write_file(&format!("{dir}{h}.{base}"), bytes)?;
        }
        if !self.consistent() {
            self.write_file(&format!("{dir}{base}"), bytes)?;
        }
        let targets = self
            .targets
            .get_mut("targets")
            .ok_or_else(|| Error::malformed("targets", "no targets"))?;
        obj_mut(targets, "targets")?.insert(name.to_string(), entry);
        self.targets_dirty = true;
        Ok(())
    }

    /// Removes target `name` from the targets metadata (its files stay for older clients).
    pub fn remove_target(&mut self, name: &str) -> Result<()> {
        let targets = self
            .targets
            .get_mut("targets")
            .ok_or_else(|| Error::malformed("targets", "no targets"))?;
        if obj_mut(targets, "targets")?.shift_remove(name).is_none() {
            return Err(Error::TargetNotFound { name: name.into() });
        }
        self.targets_dirty = true;
        Ok(())
    }

    /// Sets the `custom` value of an existing target.
    pub fn set_custom(&mut self, name: &str, custom: Value) -> Result<()> {
        let t = self
            .targets
            .get_mut("targets")
            .and_then(|t| t.get_mut(name))
            .ok_or_else(|| Error::TargetNotFound { name: name.into() })?;
        obj_mut(t, name)?.insert("custom".into(), custom);
        self.targets_dirty = true;
        Ok(())
    }

    fn bump(&self, v: &mut Value, days: i64) -> Result<u64> {
        let next = version_of(v) + 1;
        let o = obj_mut(v, "metadata")?;
        o.insert("version".into(), json!(next));
        o.insert(
            "expires".into(),
            json!(format_rfc3339(self.now + days * DAY)),
        );
        Ok(next)
    }

    fn write_versioned(&self, role: &str, version: u64, bytes: &[u8]) -> Result<()> {
        if self.consistent() {
            self.write_file(&format!("{version}.{role}.json"), bytes)?;
        }
        self.write_file(&format!("{role}.json"), bytes)
    }

    /// Signs and publishes staged target changes: a new targets version (if anything changed),
    /// a new snapshot and a new timestamp.
    pub fn publish(&mut self) -> Result<()> {
        let mut targets = self.targets.clone();
        let mut targets_meta = self
            .snapshot
            .pointer("/meta/targets.json")
            .cloned()
            .unwrap_or(Value::Null);
        if self.targets_dirty || targets_meta.is_null() {
            let v = self.bump(&mut targets, self.expiry.targets_days)?;
            let bytes = to_bytes(&sign(&targets, &[&self.online_key("targets")?])?);
            self.write_versioned("targets", v, &bytes)?;
            targets_meta = meta_entry(&bytes, v);
            self.targets = targets;
            self.targets_dirty = false;
        }
        let mut snapshot = self.snapshot.clone();
        let sv = self.bump(&mut snapshot, self.expiry.snapshot_days)?;
        obj_mut(&mut snapshot, "snapshot")?
            .insert("meta".into(), json!({"targets.json": targets_meta}));
        let bytes = to_bytes(&sign(&snapshot, &[&self.online_key("snapshot")?])?);
        self.write_versioned("snapshot", sv, &bytes)?;
        self.snapshot = snapshot;
        self.write_timestamp(&bytes, sv)
    }

    fn write_timestamp(&mut self, snapshot_bytes: &[u8], snapshot_version: u64) -> Result<()> {
        let mut ts = self.timestamp.clone();
        self.bump(&mut ts, self.expiry.timestamp_days)?;
        obj_mut(&mut ts, "timestamp")?.insert(
            "meta".into(),
            json!({"snapshot.json": meta_entry(snapshot_bytes, snapshot_version)}),
        );
        let bytes = to_bytes(&sign(&ts, &[&self.online_key("timestamp")?])?);
        self.write_file("timestamp.json", &bytes)?;
        self.timestamp = ts;
        Ok(())
    }

    /// A new timestamp version with a new expiry, over the current snapshot (run it more often
    /// than the timestamp expires).
    pub fn refresh_timestamp(&mut self) -> Result<()> {
        let sv = version_of(&self.snapshot);
        let name = if self.consistent() {
            format!("{sv}.snapshot.json")
        } else {
            "snapshot.json".into()
        };
        let path = self.dir.join(&name);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        self.write_timestamp(&bytes, sv)
    }

    /// Root key rotation: root version N+1 in which `revoke` is no longer a root key and a newly
    /// generated key (stored in `keydir/root/`) is. It is signed by every available key of the old
    /// and of the new root, and must meet both thresholds. Returns the new key's id.
    pub fn rotate_root_key(&mut self, revoke: &str) -> Result<String> {
        let old = Root::from_signed(&self.root)?;
        let old_ids = old
            .roles
            .get("root")
            .map(|r| r.keyids.clone())
            .unwrap_or_default();
        if !old_ids.iter().any(|id| id == revoke) {
            return Err(Error::Repository {
                reason: format!("{revoke} is not a root key of root version {}", old.version),
            });
        }
        let new_key = SigningKey::generate()?;
        let new_id = new_key.keyid();
        write_key(
            &self.keydir.join("root").join(format!("{new_id}.json")),
            &new_key,
        )?;
        let mut root = self.root.clone();
        let new_ids: Vec<String> = old_ids
            .iter()
            .filter(|id| *id != revoke)
            .cloned()
            .chain([new_id.clone()])
            .collect();
        let used_elsewhere = old
            .roles
            .iter()
            .any(|(name, r)| name != "root" && r.keyids.iter().any(|id| id == revoke));
        {
            let o = obj_mut(&mut root, "root")?;
            let keys = o
                .get_mut("keys")
                .ok_or_else(|| Error::malformed("root", "no keys"))?;
            let keys = obj_mut(keys, "keys")?;
            if !used_elsewhere {
                keys.shift_remove(revoke);
            }
            keys.insert(new_id.clone(), json!(new_key.public()));
            let role = o
                .get_mut("roles")
                .and_then(|r| r.get_mut("root"))
                .ok_or_else(|| Error::malformed("root", "no root role"))?;
            obj_mut(role, "root role")?.insert("keyids".into(), json!(new_ids));
        }
        self.bump(&mut root, self.expiry.root_days)?;
        let available = self.root_keys()?;
        let signers: Vec<&SigningKey> = old_ids
            .iter()
            .chain(new_ids.iter().filter(|id| !old_ids.contains(id)))
            .filter_map(|id| available.get(id))
            .collect();
        let bytes = to_bytes(&sign(&root, &signers)?);
        let new = Metadata::<Root>::from_bytes(&bytes)?;
        // Both thresholds, as a client will check them.
        old.verify_role(Role::Root, &new.canonical_signed, &new.signatures)?;
        new.signed
            .verify_role(Role::Root, &new.canonical_signed, &new.signatures)?;
        self.write_file(&format!("{}.root.json", new.signed.version), &bytes)?;
        self.write_file("root.json", &bytes)?;
        self.root = root;
        Ok(new_id)
    }
}
