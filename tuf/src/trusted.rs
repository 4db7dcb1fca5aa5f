//! The sans-IO core of the client: the set of trusted top-level metadata and the checks that gate
//! every update of it (spec §5.3–§5.6). Bytes in, trusted metadata or a precise error out.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::metadata::{check_length_hashes, Metadata, Role, Root, Snapshot, Targets, Timestamp};

/// Trusted metadata, updated only through checks. `now` is seconds since the epoch.
#[derive(Debug, Clone)]
pub struct TrustedSet {
    now: i64,
    root: Metadata<Root>,
    timestamp: Option<Metadata<Timestamp>>,
    snapshot: Option<Metadata<Snapshot>>,
    targets: Option<Metadata<Targets>>,
    delegated: BTreeMap<String, Metadata<Targets>>,
}

impl TrustedSet {
    /// Starts from a trusted root (pinned out of band): it must be signed by a threshold of its own
    /// root keys. Its expiry is checked later, once the root chain is walked (spec §5.3.10).
    pub fn new(root_bytes: &[u8], now: i64) -> Result<Self> {
        let root = Metadata::<Root>::from_bytes(root_bytes)?;
        root.signed
            .verify_role(Role::Root, &root.canonical_signed, &root.signatures)?;
        Ok(Self {
            now,
            root,
            timestamp: None,
            snapshot: None,
            targets: None,
            delegated: BTreeMap::new(),
        })
    }

    /// The trusted root.
    pub fn root(&self) -> &Metadata<Root> {
        &self.root
    }
    /// The trusted timestamp, if loaded.
    pub fn timestamp(&self) -> Option<&Metadata<Timestamp>> {
        self.timestamp.as_ref()
    }
    /// The trusted snapshot, if loaded.
    pub fn snapshot(&self) -> Option<&Metadata<Snapshot>> {
        self.snapshot.as_ref()
    }
    /// The trusted top-level targets, if loaded.
    pub fn targets(&self) -> Option<&Metadata<Targets>> {
        self.targets.as_ref()
    }

    /// A trusted targets role by name: `targets` or a delegated role loaded earlier.
    pub fn targets_role(&self, name: &str) -> Option<&Metadata<Targets>> {
        if name == "targets" {
            self.targets.as_ref()
        } else {
            self.delegated.get(name)
        }
    }

    /// Spec §5.3.4–§5.3.8: the next root must be signed by a threshold of the trusted root's keys
    /// and of its own, and have exactly the next version.
    pub fn update_root(&mut self, bytes: &[u8]) -> Result<&Metadata<Root>> {
        if self.timestamp.is_some() {
            return Err(Error::Repository {
                reason: "root updated after timestamp (workflow out of order)".into(),
            });
        }
        let new = Metadata::<Root>::from_bytes(bytes)?;
        self.root
            .signed
            .verify_role(Role::Root, &new.canonical_signed, &new.signatures)?;
        let expected = self.root.signed.version.saturating_add(1);
        if new.signed.version != expected {
            return Err(Error::BadVersion {
                role: "root".into(),
                expected,
                got: new.signed.version,
            });
        }
        new.signed
            .verify_role(Role::Root, &new.canonical_signed, &new.signatures)?;
        self.root = new;
        Ok(&self.root)
    }

    /// Spec §5.3.10: once the chain is walked, the final root must not be expired (freeze attack).
    pub fn check_root_fresh(&self) -> Result<()> {
        self.root.check_expiry(self.now)
    }

    /// Spec §5.4. A version equal to the trusted one keeps the trusted timestamp and returns
    /// `Ok(false)`. An expired timestamp is still kept as trusted (so later rollback checks use it)
    /// and reported as [`Error::Expired`].
    pub fn update_timestamp(&mut self, bytes: &[u8]) -> Result<bool> {
        if self.snapshot.is_some() {
            return Err(Error::Repository {
                reason: "timestamp updated after snapshot (workflow out of order)".into(),
            });
        }
        self.check_root_fresh()?;
        let new = Metadata::<Timestamp>::from_bytes(bytes)?;
        self.root
            .signed
            .verify_role(Role::Timestamp, &new.canonical_signed, &new.signatures)?;
        if let Some(old) = &self.timestamp {
            if new.signed.version < old.signed.version {
                return Err(Error::RollbackAttack {
                    role: "timestamp".into(),
                    trusted: old.signed.version,
                    got: new.signed.version,
                });
            }
            if new.signed.version == old.signed.version {
                return Ok(false);
            }
            let (old_v, new_v) = (
                old.signed.snapshot_meta.version,
                new.signed.snapshot_meta.version,
            );
            if new_v < old_v {
                return Err(Error::RollbackAttack {
                    role: "snapshot (timestamp meta)".into(),
                    trusted: old_v,
                    got: new_v,
                });
            }
        }
        let expired = new.check_expiry(self.now);
        self.timestamp = Some(new);
        expired.map(|()| true)
    }

    fn fresh_timestamp(&self) -> Result<&Metadata<Timestamp>> {
        let ts = self.timestamp.as_ref().ok_or_else(|| Error::Missing {
            role: "timestamp".into(),
        })?;
        ts.check_expiry(self.now)?;
        Ok(ts)
    }

    /// Spec §5.5. `trusted` is true for a snapshot read back from the local cache (its hashes were
    /// checked when it was downloaded and the timestamp may have moved on since). An expired or
    /// off-version snapshot is kept as trusted for rollback checks and reported as an error.
    pub fn update_snapshot(&mut self, bytes: &[u8], trusted: bool) -> Result<()> {
        if self.targets.is_some() {
            return Err(Error::Repository {
                reason: "snapshot updated after targets (workflow out of order)".into(),
            });
        }
        let meta = self.fresh_timestamp()?.signed.snapshot_meta.clone();
        if !trusted {
            check_length_hashes("snapshot", bytes, meta.length, &meta.hashes)?;
        }
        let new = Metadata::<Snapshot>::from_bytes(bytes)?;
        self.root
            .signed
            .verify_role(Role::Snapshot, &new.canonical_signed, &new.signatures)?;
        if let Some(old) = &self.snapshot {
            for (name, old_meta) in &old.signed.meta {
                let Some(new_meta) = new.signed.meta.get(name) else {
                    return Err(Error::MetaRemoved { name: name.clone() });
                };
                if new_meta.version < old_meta.version {
                    return Err(Error::RollbackAttack {
                        role: name.trim_end_matches(".json").to_string(),
                        trusted: old_meta.version,
                        got: new_meta.version,
                    });
                }
            }
        }
        self.snapshot = Some(new);
        self.check_snapshot_final(meta.version)
    }

    fn check_snapshot_final(&self, expected: u64) -> Result<()> {
        let snap = self.snapshot.as_ref().ok_or_else(|| Error::Missing {
            role: "snapshot".into(),
        })?;
        snap.check_expiry(self.now)?;
        if snap.signed.version != expected {
            return Err(Error::BadVersion {
                role: "snapshot".into(),
                expected,
                got: snap.signed.version,
            });
        }
        Ok(())
    }

    /// Spec §5.6 for the top-level targets role.
    pub fn update_targets(&mut self, bytes: &[u8], trusted: bool) -> Result<()> {
        let ts_version = self.fresh_timestamp()?.signed.snapshot_meta.version;
        self.check_snapshot_final(ts_version)?;
        let snap = self.snapshot.as_ref().ok_or_else(|| Error::Missing {
            role: "snapshot".into(),
        })?;
        let meta = snap
            .signed
            .meta
            .get("targets.json")
            .ok_or_else(|| Error::malformed("snapshot", "meta has no targets.json"))?
            .clone();
        if !trusted {
            check_length_hashes("targets", bytes, meta.length, &meta.hashes)?;
        }
        let new = Metadata::<Targets>::from_bytes(bytes)?;
        self.root
            .signed
            .verify_role(Role::Targets, &new.canonical_signed, &new.signatures)?;
        if new.signed.version != meta.version {
            return Err(Error::BadVersion {
                role: "targets".into(),
                expected: meta.version,
                got: new.signed.version,
            });
        }
        new.check_expiry(self.now)?;
        self.targets = Some(new);
        Ok(())
    }
}

impl TrustedSet {
    /// Spec §5.6 for delegated role `role`, delegated by the trusted targets role `delegator`:
    /// length and hashes per the snapshot (unless read back from the cache), a threshold of the
    /// keys the delegator names, the version the snapshot names, not expired.
    pub fn update_delegated_targets(
        &mut self,
        bytes: &[u8],
        role: &str,
        delegator: &str,
        trusted: bool,
    ) -> Result<()> {
        let ts_version = self.fresh_timestamp()?.signed.snapshot_meta.version;
        self.check_snapshot_final(ts_version)?;
        let meta = self
            .snapshot
            .as_ref()
            .and_then(|s| s.signed.meta.get(&format!("{role}.json")))
            .ok_or_else(|| Error::malformed("snapshot", format!("meta has no {role}.json")))?
            .clone();
        if !trusted {
            check_length_hashes(role, bytes, meta.length, &meta.hashes)?;
        }
        let parent = self.targets_role(delegator).ok_or_else(|| Error::Missing {
            role: delegator.into(),
        })?;
        let delegations = parent
            .signed
            .delegations
            .as_ref()
            .ok_or_else(|| Error::Missing {
                role: format!("delegations of {delegator}"),
            })?;
        let new = Metadata::<Targets>::from_bytes(bytes)?;
        delegations.verify_role(role, &new.canonical_signed, &new.signatures)?;
        if new.signed.version != meta.version {
            return Err(Error::BadVersion {
                role: role.into(),
                expected: meta.version,
                got: new.signed.version,
            });
        }
        if new.is_expired(self.now) {
            return Err(Error::Expired {
                role: role.into(),
                expires: new.signed.expires.clone(),
            });
        }
        self.delegated.insert(role.to_string(), new);
        Ok(())
    }
}
