//! The stack's conventions on top of TUF: the standard target names, `custom.stella` usage and
//! status for dual-key rotation with a grace period, and filling a repository from a Sigstore
//! `trusted_root.json`.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::metadata::{TargetFile, Targets};
use crate::repository::Repository;
use crate::time::{format_rfc3339, parse_rfc3339};

/// The Sigstore trusted root of the stack: what `stella verify` consumes.
pub const TRUSTED_ROOT: &str = "trusted_root.json";
/// The transparency log's public key.
pub const REKOR_KEY: &str = "rekor-key-v1.pub";
/// The keyless CA's certificate chain.
pub const FULCIO_CHAIN: &str = "fulcio-chain.pem";
/// The certificate transparency log's public key.
pub const CTFE_KEY: &str = "ctfe-key-v1.pub";
/// The timestamp authority's certificate chain.
pub const TSA_CHAIN: &str = "tsa-chain.pem";
/// The service map: URLs of the log, TSA, CA and TUF repository.
pub const SERVICE_MAP: &str = "sigstore-services-v1.json";
/// The organisation's signing key (first generation).
pub const ORG_SIGNING_KEY: &str = "org-signing-key-v1.pub";
/// The `custom.stella.usage` of the organisation's signing keys: `stella verify` trusts every
/// such key that is active or in its grace period.
pub const ORG_KEY_USAGE: &str = "org-signing-key";

/// `custom.stella.status` of a key target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// The current key.
    Active,
    /// A key being replaced: still trusted until `grace_until`.
    Grace,
}

/// A key target a verifier should trust now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub name: String,
    pub target: TargetFile,
    pub status: KeyStatus,
    /// For [`KeyStatus::Grace`]: when the key stops being trusted (RFC 3339).
    pub grace_until: Option<String>,
}

/// The `custom` value marking a target with a usage and the `active` status.
pub fn custom_active(usage: &str) -> Value {
    json!({"stella": {"usage": usage, "status": "active"}})
}

fn usage_of(t: &TargetFile) -> Option<&str> {
    t.custom.as_ref()?.pointer("/stella/usage")?.as_str()
}

/// Every key target of `usage` trusted at `now`: `active` ones, and `grace` ones whose
/// `grace_until` is still in the future. Retired keys are absent from the metadata altogether;
/// any other status (or a grace key with an unreadable `grace_until`) is not trusted.
pub fn trusted_keys(targets: &Targets, usage: &str, now: i64) -> Vec<TrustedKey> {
    let mut out = Vec::new();
    for (name, t) in &targets.targets {
        if usage_of(t) != Some(usage) {
            continue;
        }
        let custom = t.custom.as_ref();
        let status = custom
            .and_then(|c| c.pointer("/stella/status"))
            .and_then(Value::as_str);
        let grace_until = custom
            .and_then(|c| c.pointer("/stella/grace_until"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let status = match status {
            Some("active") => KeyStatus::Active,
            Some("grace")
                if grace_until
                    .as_deref()
                    .and_then(parse_rfc3339)
                    .is_some_and(|t| t > now) =>
            {
                KeyStatus::Grace
            }
            _ => continue,
        };
        out.push(TrustedKey {
            name: name.clone(),
            target: t.clone(),
            status,
            grace_until,
        });
    }
    out
}

fn key_targets(repo: &Repository, usage: &str) -> Vec<(String, Value)> {
    repo.targets()
        .get("targets")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, t)| {
                    t.pointer("/custom/stella/usage").and_then(Value::as_str) == Some(usage)
                })
                .map(|(n, t)| (n.clone(), t.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Dual-key rotation, step 1: every `active` key of `usage` becomes `grace` until `grace_until`
/// (seconds since the epoch) and `new_name` is added as the `active` key. Staged: call
/// [`Repository::publish`].
pub fn rotate_key(
    repo: &mut Repository,
    usage: &str,
    new_name: &str,
    new_bytes: &[u8],
    grace_until: i64,
) -> Result<()> {
    let current = key_targets(repo, usage);
    if current.iter().any(|(n, _)| n == new_name) {
        return Err(Error::Repository {
            reason: format!("{new_name} is already a target"),
        });
    }
    for (name, t) in current {
        if t.pointer("/custom/stella/status").and_then(Value::as_str) == Some("active") {
            let mut custom = t.get("custom").cloned().unwrap_or_else(|| json!({}));
            if let Some(s) = custom.get_mut("stella").and_then(Value::as_object_mut) {
                s.insert("status".into(), json!("grace"));
                s.insert("grace_until".into(), json!(format_rfc3339(grace_until)));
            }
            repo.set_custom(&name, custom)?;
        }
    }
    repo.add_target(new_name, new_bytes, Some(custom_active(usage)))
}

/// Dual-key rotation, step 2: removes key target `name` of `usage` (after its grace period).
pub fn retire_key(repo: &mut Repository, usage: &str, name: &str) -> Result<()> {
    if !key_targets(repo, usage).iter().any(|(n, _)| n == name) {
        return Err(Error::Repository {
            reason: format!("{name} is not a key target of usage {usage:?}"),
        });
    }
    repo.remove_target(name)
}

fn pem(label: &str, der_b64: &str) -> Result<String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(der_b64)
        .map_err(|e| Error::malformed("trusted_root.json", format!("rawBytes: {e}")))?;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    Ok(out)
}

fn raw_bytes<'a>(v: &'a Value, list: &str, pointer: &str) -> Vec<&'a str> {
    v.get(list)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e.pointer(pointer).and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

fn chains<'a>(v: &'a Value, list: &str) -> Vec<&'a str> {
    v.get(list)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|ca| {
                    ca.pointer("/certChain/certificates")
                        .and_then(Value::as_array)
                })
                .flatten()
                .filter_map(|c| c.get("rawBytes").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// Adds the stack's standard targets from a Sigstore `trusted_root.json` and a service map:
/// `trusted_root.json`, `sigstore-services-v1.json`, and, decoded from the trusted root,
/// `rekor-key-v1.pub` (first tlog), `ctfe-key-v1.pub` (first ctlog), `fulcio-chain.pem` and
/// `tsa-chain.pem` (every certificate of every CA / TSA, PEM). Absent parts are skipped. Each
/// target carries `custom.stella.usage`. Staged: call [`Repository::publish`]. Returns the names.
pub fn add_sigstore_targets(
    repo: &mut Repository,
    trusted_root: &[u8],
    service_map: Option<&[u8]>,
) -> Result<Vec<String>> {
    let tr: Value = serde_json::from_slice(trusted_root)
        .map_err(|e| Error::malformed("trusted_root.json", e.to_string()))?;
    let mut added = Vec::new();
    let mut add = |repo: &mut Repository, name: &str, bytes: &[u8], usage: &str| -> Result<()> {
        repo.add_target(name, bytes, Some(custom_active(usage)))?;
        added.push(name.to_string());
        Ok(())
    };
    add(repo, TRUSTED_ROOT, trusted_root, "trusted-root")?;
    if let Some(map) = service_map {
        serde_json::from_slice::<Value>(map)
            .map_err(|e| Error::malformed("service map", e.to_string()))?;
        add(repo, SERVICE_MAP, map, "sigstore-services")?;
    }
    if let Some(k) = raw_bytes(&tr, "tlogs", "/publicKey/rawBytes").first() {
        add(
            repo,
            REKOR_KEY,
            pem("PUBLIC KEY", k)?.as_bytes(),
            "rekor-key",
        )?;
    }
    if let Some(k) = raw_bytes(&tr, "ctlogs", "/publicKey/rawBytes").first() {
        add(repo, CTFE_KEY, pem("PUBLIC KEY", k)?.as_bytes(), "ctfe-key")?;
    }
    for (list, name, usage) in [
        ("certificateAuthorities", FULCIO_CHAIN, "fulcio-chain"),
        ("timestampAuthorities", TSA_CHAIN, "tsa-chain"),
    ] {
        let certs = chains(&tr, list);
        if !certs.is_empty() {
            let text = certs
                .iter()
                .map(|c| pem("CERTIFICATE", c))
                .collect::<Result<String>>()?;
            add(repo, name, text.as_bytes(), usage)?;
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{Metadata, RoleMetadata as _};
    use crate::repository::InitOptions;

    const NOW: i64 = 1_893_456_000;
    const DAY: i64 = 86_400;

    fn targets_of(repo: &Repository) -> Targets {
        Targets::from_signed(repo.targets()).unwrap()
    }

    #[test]
    fn dual_key_rotation_grace_then_retire() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            root_keys: 1,
            root_threshold: 1,
            ..InitOptions::default()
        };
        let (dir, keys) = (tmp.path().join("repo"), tmp.path().join("keys"));
        let mut repo = Repository::init(&dir, &keys, &opts, NOW).unwrap();
        repo.add_target(
            "org-signing-key-v1.pub",
            b"k1",
            Some(custom_active("org-signing-key")),
        )
        .unwrap();
        repo.add_target("other.pub", b"o", Some(custom_active("other")))
            .unwrap();
        repo.publish().unwrap();
        let names = |ks: Vec<TrustedKey>| {
            ks.into_iter()
                .map(|k| (k.name, k.status))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(trusted_keys(&targets_of(&repo), "org-signing-key", NOW)),
            [("org-signing-key-v1.pub".to_string(), KeyStatus::Active)]
        );

        rotate_key(
            &mut repo,
            "org-signing-key",
            "org-signing-key-v2.pub",
            b"k2",
            NOW + 14 * DAY,
        )
        .unwrap();
        repo.publish().unwrap();
        let t = targets_of(&repo);
        // During grace both keys are trusted.
        assert_eq!(
            names(trusted_keys(&t, "org-signing-key", NOW + DAY)),
            [
                ("org-signing-key-v1.pub".to_string(), KeyStatus::Grace),
                ("org-signing-key-v2.pub".to_string(), KeyStatus::Active)
            ]
        );
        // After grace_until only the new one, even before the old one is retired.
        assert_eq!(
            names(trusted_keys(&t, "org-signing-key", NOW + 15 * DAY)),
            [("org-signing-key-v2.pub".to_string(), KeyStatus::Active)]
        );
        assert!(retire_key(&mut repo, "org-signing-key", "other.pub").is_err());
        retire_key(&mut repo, "org-signing-key", "org-signing-key-v1.pub").unwrap();
        repo.publish().unwrap();
        let t = targets_of(&repo);
        assert!(!t.targets.contains_key("org-signing-key-v1.pub"));
        assert_eq!(trusted_keys(&t, "org-signing-key", NOW).len(), 1);

        // What was published verifies with the published root, version by version.
        let root =
            Metadata::<crate::Root>::from_bytes(&std::fs::read(dir.join("root.json")).unwrap())
                .unwrap();
        let v = t.version;
        let bytes = std::fs::read(dir.join(format!("{v}.targets.json"))).unwrap();
        let md = Metadata::<Targets>::from_bytes(&bytes).unwrap();
        root.signed
            .verify_role(crate::Role::Targets, &md.canonical_signed, &md.signatures)
            .unwrap();
    }

    #[test]
    fn sigstore_targets_from_a_trusted_root() {
        let tmp = tempfile::tempdir().unwrap();
        let opts = InitOptions {
            root_keys: 1,
            root_threshold: 1,
            ..InitOptions::default()
        };
        let mut repo =
            Repository::init(&tmp.path().join("r"), &tmp.path().join("k"), &opts, NOW).unwrap();
        let tr = br#"{"tlogs":[{"publicKey":{"rawBytes":"AAEC"}}],"ctlogs":[{"publicKey":{"rawBytes":"AwQF"}}],
            "certificateAuthorities":[{"certChain":{"certificates":[{"rawBytes":"BgcI"},{"rawBytes":"CQoL"}]}}],
            "timestampAuthorities":[{"certChain":{"certificates":[{"rawBytes":"DA0O"}]}}]}"#;
        let added = add_sigstore_targets(&mut repo, tr, Some(br#"{"rekor":"x"}"#)).unwrap();
        assert_eq!(
            added,
            [
                TRUSTED_ROOT,
                SERVICE_MAP,
                REKOR_KEY,
                CTFE_KEY,
                FULCIO_CHAIN,
                TSA_CHAIN
            ]
        );
        let t = targets_of(&repo);
        assert_eq!(t.targets[TRUSTED_ROOT].length, tr.len() as u64);
        let pem = std::fs::read_to_string(tmp.path().join("r/targets").join(format!(
            "{}.{FULCIO_CHAIN}",
            t.targets[FULCIO_CHAIN].hashes[0].1
        )))
        .unwrap();
        assert_eq!(
            pem,
            "-----BEGIN CERTIFICATE-----\nBgcI\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nCQoL\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(trusted_keys(&t, "rekor-key", NOW).len(), 1);
        assert!(add_sigstore_targets(&mut repo, b"not json", None).is_err());
    }
}
