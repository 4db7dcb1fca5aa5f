//! The four top-level TUF metadata types, parsed from untrusted bytes, with the signed portion kept
//! as its canonical JSON so signatures are checked over exactly what was signed (unknown fields
//! included).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256, Sha512};

use crate::canonical;
use crate::error::{Error, Result};
use crate::keys::{hex, unhex, Key};
use crate::time::parse_rfc3339;

/// The spec version our tooling writes.
pub const SPEC_VERSION: &str = "1.0.31";

/// A top-level role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Root,
    Timestamp,
    Snapshot,
    Targets,
}

impl Role {
    /// The role's name (`root`, `timestamp`, …), also its `_type`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Timestamp => "timestamp",
            Role::Snapshot => "snapshot",
            Role::Targets => "targets",
        }
    }
}

/// A signature in a metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Signature {
    pub keyid: String,
    pub sig: String,
}

/// The keys and threshold of a role, in root metadata.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u64,
}

/// Root metadata.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Root {
    pub version: u64,
    pub expires: String,
    #[serde(default)]
    pub consistent_snapshot: bool,
    pub keys: BTreeMap<String, Key>,
    pub roles: BTreeMap<String, RoleKeys>,
}

/// A `meta` entry: the version (and optionally length and hashes) of another metadata file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaFile {
    pub version: u64,
    pub length: Option<u64>,
    pub hashes: Vec<(String, String)>,
}

/// Timestamp metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    pub version: u64,
    pub expires: String,
    pub snapshot_meta: MetaFile,
}

/// Snapshot metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub version: u64,
    pub expires: String,
    pub meta: BTreeMap<String, MetaFile>,
}

/// A target: its length, hashes (in document order: the first names the consistent-snapshot file)
/// and `custom` data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: Vec<(String, String)>,
    pub custom: Option<Value>,
}

/// Targets metadata (top-level or delegated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub version: u64,
    pub expires: String,
    pub targets: BTreeMap<String, TargetFile>,
    pub delegations: Option<Delegations>,
}

/// The roles a targets role delegates to, and their keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Delegations {
    pub keys: BTreeMap<String, Key>,
    pub roles: Vec<DelegatedRole>,
}

/// A delegated targets role: its keys, threshold and the target paths it is trusted for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DelegatedRole {
    pub name: String,
    pub keyids: Vec<String>,
    pub threshold: u64,
    #[serde(default)]
    pub terminating: bool,
    pub paths: Option<Vec<String>>,
    pub path_hash_prefixes: Option<Vec<String>>,
}

/// Whether `name` is a role name we accept for a delegated role: it becomes a file name.
pub fn is_safe_role_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !matches!(
            name,
            "root" | "timestamp" | "snapshot" | "targets" | "." | ".."
        )
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `fnmatch`-style match of one path component (`*` and `?`; `*` never crosses a `/` because
/// components are matched one by one).
fn component_matches(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.split_first(), text.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => {
            component_matches(rest, text)
                || text
                    .split_first()
                    .is_some_and(|(_, t)| component_matches(pattern, t))
        }
        (Some((b'?', rest)), Some((_, t))) => component_matches(rest, t),
        (Some((p, rest)), Some((c, t))) if p == c => component_matches(rest, t),
        _ => false,
    }
}

impl DelegatedRole {
    /// Whether this role is trusted for `target` (python-tuf's rule: a `paths` pattern matches
    /// component by component with the same number of components, or the SHA-256 of the target
    /// path starts with one of `path_hash_prefixes`).
    pub fn is_for(&self, target: &str) -> bool {
        if let Some(paths) = &self.paths {
            let parts: Vec<&str> = target.split('/').collect();
            return paths.iter().any(|p| {
                let pp: Vec<&str> = p.split('/').collect();
                pp.len() == parts.len()
                    && pp.iter().zip(&parts).all(|(a, b)| {
                        a.len() <= 256 && component_matches(a.as_bytes(), b.as_bytes())
                    })
            });
        }
        if let Some(prefixes) = &self.path_hash_prefixes {
            let h = hex(&Sha256::digest(target.as_bytes()));
            return prefixes.iter().any(|p| h.starts_with(p.as_str()));
        }
        false
    }
}

impl Delegations {
    /// Checks that a threshold of the keys this delegation gives role `name` signed the metadata.
    pub fn verify_role(
        &self,
        name: &str,
        canonical_signed: &[u8],
        signatures: &[Signature],
    ) -> Result<()> {
        let role = self
            .roles
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| Error::Missing {
                role: format!("delegation to {name}"),
            })?;
        verify_threshold(
            name,
            &self.keys,
            &role.keyids,
            role.threshold,
            canonical_signed,
            signatures,
        )
    }
}

/// A parsed metadata file: the typed `signed` part, its canonical bytes and the signatures.
#[derive(Debug, Clone)]
pub struct Metadata<T> {
    pub signed: T,
    /// The canonical JSON of the `signed` value as received: what the signatures cover.
    pub canonical_signed: Vec<u8>,
    pub signatures: Vec<Signature>,
}

/// What every role's `signed` has in common.
pub trait RoleMetadata: Sized {
    const ROLE: Role;
    fn from_signed(v: &Value) -> Result<Self>;
    fn version(&self) -> u64;
    fn expires(&self) -> &str;
}

fn field<'a>(v: &'a Value, role: Role, name: &str) -> Result<&'a Value> {
    v.get(name)
        .ok_or_else(|| Error::malformed(role.name(), format!("missing field {name:?}")))
}

fn common(v: &Value, role: Role) -> Result<(u64, String)> {
    let ty = field(v, role, "_type")?.as_str().unwrap_or_default();
    if ty != role.name() {
        return Err(Error::malformed(
            role.name(),
            format!("_type is {ty:?}, expected {:?}", role.name()),
        ));
    }
    let spec = field(v, role, "spec_version")?.as_str().unwrap_or_default();
    if spec.split('.').next() != Some("1") {
        return Err(Error::malformed(
            role.name(),
            format!("unsupported spec_version {spec:?}"),
        ));
    }
    let version = field(v, role, "version")?
        .as_u64()
        .filter(|n| *n >= 1)
        .ok_or_else(|| Error::malformed(role.name(), "version is not a positive integer"))?;
    let expires = field(v, role, "expires")?
        .as_str()
        .unwrap_or_default()
        .to_string();
    if parse_rfc3339(&expires).is_none() {
        return Err(Error::malformed(
            role.name(),
            format!("expires {expires:?} is not an RFC 3339 UTC time"),
        ));
    }
    Ok((version, expires))
}

fn hashes(v: Option<&Value>, what: &str) -> Result<Vec<(String, String)>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let map: &Map<String, Value> = v
        .as_object()
        .ok_or_else(|| Error::malformed(what, "hashes is not an object"))?;
    if map.is_empty() {
        return Err(Error::malformed(what, "hashes is empty"));
    }
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(h) => Ok((k.clone(), h.to_string())),
            None => Err(Error::malformed(what, format!("hash {k} is not a string"))),
        })
        .collect()
}

fn meta_file(v: &Value, what: &str) -> Result<MetaFile> {
    let version = v
        .get("version")
        .and_then(Value::as_u64)
        .filter(|n| *n >= 1)
        .ok_or_else(|| Error::malformed(what, "meta version is not a positive integer"))?;
    let length = match v.get("length") {
        None => None,
        Some(l) => Some(
            l.as_u64()
                .ok_or_else(|| Error::malformed(what, "meta length is not an integer"))?,
        ),
    };
    Ok(MetaFile {
        version,
        length,
        hashes: hashes(v.get("hashes"), what)?,
    })
}

impl RoleMetadata for Root {
    const ROLE: Role = Role::Root;
    fn from_signed(v: &Value) -> Result<Self> {
        common(v, Role::Root)?;
        let root: Root = serde_json::from_value(v.clone())
            .map_err(|e| Error::malformed("root", e.to_string()))?;
        for role in ["root", "timestamp", "snapshot", "targets"] {
            let r = root
                .roles
                .get(role)
                .ok_or_else(|| Error::malformed("root", format!("no {role} role")))?;
            if r.threshold < 1 {
                return Err(Error::malformed("root", format!("{role} threshold is 0")));
            }
            if r.keyids.iter().collect::<BTreeSet<_>>().len() != r.keyids.len() {
                return Err(Error::malformed(
                    "root",
                    format!("{role} lists a keyid twice"),
                ));
            }
        }
        Ok(root)
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn expires(&self) -> &str {
        &self.expires
    }
}

impl RoleMetadata for Timestamp {
    const ROLE: Role = Role::Timestamp;
    fn from_signed(v: &Value) -> Result<Self> {
        let (version, expires) = common(v, Role::Timestamp)?;
        let meta = field(v, Role::Timestamp, "meta")?
            .as_object()
            .ok_or_else(|| Error::malformed("timestamp", "meta is not an object"))?;
        if meta.len() != 1 {
            return Err(Error::malformed(
                "timestamp",
                "meta must hold exactly snapshot.json",
            ));
        }
        let snap = meta
            .get("snapshot.json")
            .ok_or_else(|| Error::malformed("timestamp", "meta has no snapshot.json"))?;
        Ok(Timestamp {
            version,
            expires,
            snapshot_meta: meta_file(snap, "timestamp")?,
        })
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn expires(&self) -> &str {
        &self.expires
    }
}

impl RoleMetadata for Snapshot {
    const ROLE: Role = Role::Snapshot;
    fn from_signed(v: &Value) -> Result<Self> {
        let (version, expires) = common(v, Role::Snapshot)?;
        let meta = field(v, Role::Snapshot, "meta")?
            .as_object()
            .ok_or_else(|| Error::malformed("snapshot", "meta is not an object"))?;
        let meta = meta
            .iter()
            .map(|(k, v)| Ok((k.clone(), meta_file(v, "snapshot")?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(Snapshot {
            version,
            expires,
            meta,
        })
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn expires(&self) -> &str {
        &self.expires
    }
}

impl RoleMetadata for Targets {
    const ROLE: Role = Role::Targets;
    fn from_signed(v: &Value) -> Result<Self> {
        let (version, expires) = common(v, Role::Targets)?;
        let list = field(v, Role::Targets, "targets")?
            .as_object()
            .ok_or_else(|| Error::malformed("targets", "targets is not an object"))?;
        let mut targets = BTreeMap::new();
        for (name, t) in list {
            let what = format!("targets: {name}");
            let length = t
                .get("length")
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::malformed(&what, "length is not an integer"))?;
            let hashes = hashes(t.get("hashes"), &what)?;
            if hashes.is_empty() {
                return Err(Error::malformed(&what, "no hashes"));
            }
            targets.insert(
                name.clone(),
                TargetFile {
                    length,
                    hashes,
                    custom: t.get("custom").cloned(),
                },
            );
        }
        Ok(Targets {
            version,
            expires,
            targets,
            delegations: match v.get("delegations") {
                None => None,
                Some(d) => {
                    let d: Delegations = serde_json::from_value(d.clone())
                        .map_err(|e| Error::malformed("targets", format!("delegations: {e}")))?;
                    if d.roles.iter().any(|r| r.threshold < 1) {
                        return Err(Error::malformed(
                            "targets",
                            "a delegated role has threshold 0",
                        ));
                    }
                    if d.roles
                        .iter()
                        .any(|r| r.paths.is_some() == r.path_hash_prefixes.is_some())
                    {
                        return Err(Error::malformed(
                            "targets",
                            "a delegated role needs exactly one of paths and path_hash_prefixes",
                        ));
                    }
                    Some(d)
                }
            },
        })
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn expires(&self) -> &str {
        &self.expires
    }
}

impl<T: RoleMetadata> Metadata<T> {
    /// Parses a metadata file of role `T` (no signature check: see [`Root::verify_role`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = T::ROLE.name();
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| Error::malformed(what, e.to_string()))?;
        let signed = v
            .get("signed")
            .ok_or_else(|| Error::malformed(what, "no \"signed\""))?;
        let signatures: Vec<Signature> = serde_json::from_value(
            v.get("signatures")
                .cloned()
                .ok_or_else(|| Error::malformed(what, "no \"signatures\""))?,
        )
        .map_err(|e| Error::malformed(what, format!("signatures: {e}")))?;
        let canonical_signed = canonical::encode(signed)
            .ok_or_else(|| Error::malformed(what, "signed holds a non-integer number"))?;
        Ok(Metadata {
            signed: T::from_signed(signed)?,
            canonical_signed,
            signatures,
        })
    }

    /// True if the metadata expired at or before `now` (seconds since the epoch).
    pub fn is_expired(&self, now: i64) -> bool {
        parse_rfc3339(self.signed.expires()).is_none_or(|t| t <= now)
    }

    /// The [`Error::Expired`] for this metadata, if it is expired at `now`.
    pub fn check_expiry(&self, now: i64) -> Result<()> {
        if self.is_expired(now) {
            return Err(Error::Expired {
                role: T::ROLE.name().into(),
                expires: self.signed.expires().to_string(),
            });
        }
        Ok(())
    }
}

impl Root {
    /// Checks that a threshold of distinct keys of `role`, as this root defines it, signed
    /// `canonical_signed`. A key that signs twice counts once; keys not in the role count nothing.
    pub fn verify_role(
        &self,
        role: Role,
        canonical_signed: &[u8],
        signatures: &[Signature],
    ) -> Result<()> {
        let keys = self.roles.get(role.name()).ok_or_else(|| Error::Missing {
            role: role.name().into(),
        })?;
        verify_threshold(
            role.name(),
            &self.keys,
            &keys.keyids,
            keys.threshold,
            canonical_signed,
            signatures,
        )
    }
}

/// Counts distinct keys among `keyids` (looked up in `keys`) with a valid signature over
/// `canonical_signed`; fewer than `threshold` is [`Error::ThresholdNotMet`]. A key that signs twice
/// counts once; keys not in `keyids` count nothing.
fn verify_threshold(
    role: &str,
    keys: &BTreeMap<String, Key>,
    keyids: &[String],
    threshold: u64,
    canonical_signed: &[u8],
    signatures: &[Signature],
) -> Result<()> {
    let mut counted = BTreeSet::new();
    for s in signatures {
        if counted.contains(&s.keyid) || !keyids.contains(&s.keyid) {
            continue;
        }
        let (Some(key), Some(sig)) = (keys.get(&s.keyid), unhex(&s.sig)) else {
            continue;
        };
        if key.verify(canonical_signed, &sig) {
            counted.insert(s.keyid.clone());
        }
    }
    let valid = counted.len() as u64;
    if valid < threshold {
        return Err(Error::ThresholdNotMet {
            role: role.into(),
            valid,
            threshold,
        });
    }
    Ok(())
}

/// Checks `data` against a length and every hash (sha256, sha512; any other algorithm is refused).
pub fn check_length_hashes(
    what: &str,
    data: &[u8],
    length: Option<u64>,
    hashes: &[(String, String)],
) -> Result<()> {
    let mismatch = |reason: String| Error::LengthOrHashMismatch {
        what: what.into(),
        reason,
    };
    if let Some(l) = length {
        if data.len() as u64 != l {
            return Err(mismatch(format!("length {} != expected {l}", data.len())));
        }
    }
    for (alg, want) in hashes {
        let got = match alg.as_str() {
            "sha256" => hex(&Sha256::digest(data)),
            "sha512" => hex(&Sha512::digest(data)),
            other => return Err(mismatch(format!("unsupported hash algorithm {other:?}"))),
        };
        if !got.eq_ignore_ascii_case(want) {
            return Err(mismatch(format!("{alg} {got} != expected {want}")));
        }
    }
    Ok(())
}
