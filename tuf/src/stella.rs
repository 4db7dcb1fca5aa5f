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
