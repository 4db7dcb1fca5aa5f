//! The embedded state of a `stella serve` installation: one data directory holding every key the
//! stack needs (created on first run, mode 0600, written atomically), the license revocation list and
//! the audit log.
//!
//! ```text
//! DIR/
//!   authority/keys.json         the OpTok signing keys: kid, created, retired (rotation with overlap)
//!   authority/<kid>.pk8         each one's PKCS#8 P-256 private key
//!   license/issuer.pk8          signs License Tokens and PoEs
//!   license/revoked.json        revoked license ids and PoE ids
//!   signer/key.pk8              the configured DSSE signing key (the file `KeySource`)
//!   ca/root.pk8, ca/root.der    the keyless CA: 10-minute code-signing certificates
//!   ct/log.pk8                  the CT log key whose SCTs are embedded in those certificates
//!   secrets/dpop-nonce          HMAC secret of the stateless DPoP nonces
//!   secrets/admin-token         bearer token of the admin endpoints (license revocation)
//!   audit.jsonl                 append-only audit log of every signing decision
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use crate::dsse::{key_id, KeySource as _, MemoryKey};
use crate::jose::{b64url_encode, Es256Signer};
use crate::keyless::{CertificateAuthority, CtLog};

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory) with
/// mode 0600, so a crash never leaves a half-written key and no other user can read it.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension("tmp");
    {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads `path`, or creates it with `make` (mode 0600) when it does not exist.
fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> Result<Vec<u8>, StateError>,
) -> Result<Vec<u8>, StateError> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = make()?;
            write_private(path, &bytes)?;
            Ok(bytes)
        }
        Err(e) => Err(io(path)(e)),
    }
}

fn new_p256(path: &Path, rng: &SystemRandom) -> Result<Vec<u8>, StateError> {
    MemoryKey::generate(rng)
        .map(|(_, pkcs8)| pkcs8)
        .map_err(|e| StateError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

fn random_secret(rng: &SystemRandom, path: &Path) -> Result<Vec<u8>, StateError> {
    let mut b = [0u8; 32];
    rng.fill(&mut b).map_err(|_| StateError::Invalid {
        path: path.to_owned(),
        reason: "no randomness".into(),
    })?;
    Ok(b64url_encode(&b).into_bytes())
}

/// Which services this process runs; only their keys are kept in the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub authority: bool,
    pub signer: bool,
}

impl Roles {
    /// Authority and Signer in one process.
    pub const BOTH: Roles = Roles {
        authority: true,
        signer: true,
    };
}

/// One OpTok signing key of the Authority.
#[derive(Debug)]
pub struct AuthorityKey {
    pub signer: Es256Signer,
    pub created: u64,
    /// When it stopped signing; it stays in the JWKS for the overlap window after that.
    pub retired: Option<u64>,
}

/// The keys and secrets of one installation.
#[derive(Debug)]
pub struct DataDir {
    pub root: PathBuf,
    /// Authority keys, the active one (newest, not retired) last.
    pub authority_keys: Vec<AuthorityKey>,
    pub license_key: Es256Signer,
    pub signing_key: MemoryKey,
    pub nonce_secret: Vec<u8>,
    pub admin_token: String,
    /// The keyless CA (root certificate + key) and the CT log key that signs its SCTs.
    pub ca: CertificateAuthority,
    pub ct: CtLog,
}

impl DataDir {
    /// Opens (creating on first run) the data directory. `now` dates new keys; an Authority key older
    /// than `rotate_after` seconds is retired and a new one made, and retired keys older than
    /// `overlap` are dropped from the key set.
    pub fn open(
        root: &Path,
        roles: Roles,
        now: u64,
        rotate_after: u64,
        overlap: u64,
    ) -> Result<DataDir, StateError> {
        fs::create_dir_all(root).map_err(io(root))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(root, fs::Permissions::from_mode(0o700)).map_err(io(root))?;
        }
        let rng = SystemRandom::new();
        let invalid = |path: &Path, reason: String| StateError::Invalid {
            path: path.to_owned(),
            reason,
        };

        // A role this process does not serve gets throw-away keys that are never written: the Authority
        // never holds the Signer's key on disk, nor the Signer the Authority's.
        let keep = |serve: bool, path: &Path| -> Result<Vec<u8>, StateError> {
            if serve {
                read_or_create(path, || new_p256(path, &rng))
            } else {
                new_p256(path, &rng)
            }
        };
        let license_path = root.join("license/issuer.pk8");
        let license_pkcs8 = keep(roles.authority, &license_path)?;
        let license_key = Es256Signer::from_pkcs8(&license_pkcs8, "license-1", &rng)
            .map_err(|e| invalid(&license_path, e.to_string()))?;
        let license_key = {
            let kid = format!("lic-{}", &key_thumb(&license_key)[..16]);
            Es256Signer::from_pkcs8(&license_pkcs8, kid, &rng)
                .map_err(|e| invalid(&license_path, e.to_string()))?
        };

        let signing_path = root.join("signer/key.pk8");
        let signing_pkcs8 = keep(roles.signer, &signing_path)?;
        let signing_key = MemoryKey::from_pkcs8(&signing_pkcs8)
            .map_err(|e| invalid(&signing_path, e.to_string()))?;

        let nonce_path = root.join("secrets/dpop-nonce");
        let nonce_secret = read_or_create(&nonce_path, || random_secret(&rng, &nonce_path))?;
        let admin_path = root.join("secrets/admin-token");
        let admin_token = if roles.authority {
            read_or_create(&admin_path, || random_secret(&rng, &admin_path))?
        } else {
            random_secret(&rng, &admin_path)?
        };
        let admin_token = String::from_utf8(admin_token)
            .map_err(|_| invalid(&admin_path, "not UTF-8".into()))?
            .trim()
            .to_owned();

        // The keyless CA: a root valid for ten years from its creation, and the CT log key.
        let ca_key_path = root.join("ca/root.pk8");
        let ca_cert_path = root.join("ca/root.der");
        let ca_pkcs8 = keep(roles.signer, &ca_key_path)?;
        let ca = match std::fs::read(&ca_cert_path) {
            Ok(der) if roles.signer => CertificateAuthority::from_parts(&ca_pkcs8, der, &rng)
                .map_err(|e| invalid(&ca_cert_path, e.to_string()))?,
            _ => {
                let ca = CertificateAuthority::create_root(
                    &ca_pkcs8,
                    "Stella Ops keyless CA",
                    "Stella Ops",
                    now.saturating_sub(60),
                    now + 10 * 365 * 86_400,
                    &rng,
                )
                .map_err(|e| invalid(&ca_cert_path, e.to_string()))?;
                if roles.signer {
                    write_private(&ca_cert_path, ca.cert_der())?;
                }
                ca
            }
        };
        let ct_path = root.join("ct/log.pk8");
        let ct_pkcs8 = keep(roles.signer, &ct_path)?;
        let ct =
            CtLog::from_pkcs8(&ct_pkcs8, &rng).map_err(|e| invalid(&ct_path, e.to_string()))?;

        let authority_keys = if roles.authority {
            rotate_authority_keys(root, now, rotate_after, overlap, &rng)?
        } else {
            let path = root.join("authority");
            let pkcs8 = new_p256(&path, &rng)?;
            let signer = Es256Signer::from_pkcs8(&pkcs8, "unused", &rng)
                .map_err(|e| invalid(&path, e.to_string()))?;
            vec![AuthorityKey {
                signer,
                created: now,
                retired: None,
            }]
        };
        Ok(DataDir {
            root: root.to_owned(),
            authority_keys,
            license_key,
            signing_key,
            nonce_secret,
            admin_token,
            ca,
            ct,
        })
    }

    /// The key id of the configured signing key (hex SHA-256 of its SPKI).
    pub fn signing_key_id(&self) -> String {
        key_id(&self.signing_key.public_key_spki_der())
    }

    /// The audit log's path.
    pub fn audit_path(&self) -> PathBuf {
        self.root.join("audit.jsonl")
    }

    /// The revocation list's path.
    pub fn revocations_path(&self) -> PathBuf {
        self.root.join("license/revoked.json")
    }
}

fn key_thumb(s: &Es256Signer) -> String {
    s.public_jwk().thumbprint()
}

/// Loads `authority/keys.json`, retiring the active key when it is due and dropping keys whose overlap
/// has passed; writes the list back when it changed.
pub(crate) fn rotate_authority_keys(
    root: &Path,
    now: u64,
    rotate_after: u64,
    overlap: u64,
    rng: &SystemRandom,
) -> Result<Vec<AuthorityKey>, StateError> {
    let index_path = root.join("authority/keys.json");
    let mut entries: Vec<(String, u64, Option<u64>)> = match fs::read(&index_path) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| StateError::Invalid {
                path: index_path.clone(),
                reason: format!("not JSON: {e}"),
            })?;
            v.get("keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| {
                    Some((
                        k.get("kid")?.as_str()?.to_owned(),
                        k.get("created")?.as_u64()?,
                        k.get("retired").and_then(Value::as_u64),
                    ))
                })
                .collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(&index_path)(e)),
    };
    let before = entries.clone();
    for e in entries.iter_mut() {
        if e.2.is_none() && now.saturating_sub(e.1) >= rotate_after {
            e.2 = Some(now);
        }
    }
    entries.retain(|e| e.2.is_none_or(|r| now.saturating_sub(r) < overlap));
    if !entries.iter().any(|e| e.2.is_none()) {
        // A new active key; its kid is dated so keys sort by age.
        let kid = format!("authority-{now}");
        let path = root.join(format!("authority/{kid}.pk8"));
        let pkcs8 = new_p256(&path, rng)?;
        write_private(&path, &pkcs8)?;
        entries.push((kid, now, None));
    }
    if entries != before {
        let doc = json!({"keys": entries.iter().map(|(kid, created, retired)| {
            json!({"kid": kid, "created": created, "retired": retired})
        }).collect::<Vec<_>>()});
        write_private(&index_path, doc.to_string().as_bytes())?;
    }
    entries.sort_by_key(|e| (e.2.is_none(), e.1));
    let mut keys = Vec::with_capacity(entries.len());
    for (kid, created, retired) in entries {
        let path = root.join(format!("authority/{kid}.pk8"));
        let pkcs8 = fs::read(&path).map_err(io(&path))?;
        let signer =
            Es256Signer::from_pkcs8(&pkcs8, kid, rng).map_err(|e| StateError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        keys.push(AuthorityKey {
            signer,
            created,
            retired,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_creates_private_keys_and_rotation_overlaps() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let a = DataDir::open(&root, Roles::BOTH, 1_000, 86_400, 600).unwrap();
        assert_eq!(a.authority_keys.len(), 1);
        #[cfg(unix)]
        for f in [
            "license/issuer.pk8",
            "signer/key.pk8",
            "secrets/dpop-nonce",
            "secrets/admin-token",
            "authority/keys.json",
            "authority/authority-1000.pk8",
        ] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(root.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        // Same keys on the next start.
        let b = DataDir::open(&root, Roles::BOTH, 2_000, 86_400, 600).unwrap();
        assert_eq!(b.signing_key_id(), a.signing_key_id());
        assert_eq!(b.admin_token, a.admin_token);
        assert_eq!(b.authority_keys.len(), 1);
        // Due for rotation: old key kept (retired) for the overlap, new one active (last).
        let c = DataDir::open(&root, Roles::BOTH, 1_000 + 86_400, 86_400, 600).unwrap();
        let kids: Vec<_> = c.authority_keys.iter().map(|k| k.signer.kid()).collect();
        assert_eq!(kids, ["authority-1000", "authority-87400"]);
        assert!(c.authority_keys[0].retired.is_some());
        // After the overlap the retired key is gone.
        let d = DataDir::open(&root, Roles::BOTH, 1_000 + 86_400 + 600, 86_400, 600).unwrap();
        let kids: Vec<_> = d.authority_keys.iter().map(|k| k.signer.kid()).collect();
        assert_eq!(kids, ["authority-87400"]);
    }

    #[test]
    fn a_corrupt_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write_private(&dir.path().join("signer/key.pk8"), b"junk").unwrap();
        let e = DataDir::open(dir.path(), Roles::BOTH, 1, 10, 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("signer/key.pk8"), "{e}");
    }
}
