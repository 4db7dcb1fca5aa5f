//! The Attestor's keys on disk, created on first run: the log's Ed25519 key (its name, the
//! checkpoint origin, is fixed then), the TSA chain and key, and the log's creation time (the start
//! of the log key's validity in the trusted root).

use std::path::Path;

use ring::rand::SecureRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use signer_gateway::service::state::write_private;

use super::{AttestorConfig, AttestorError};
use crate::note::NoteSigner;
use crate::tsa::{TimestampAuthority, TsaMaterial};

pub(super) struct Opened {
    pub signer: NoteSigner,
    pub created_secs: u64,
    pub tsa: TimestampAuthority,
    pub tsa_valid_from: u64,
}

fn state_err(path: &Path, reason: impl ToString) -> AttestorError {
    AttestorError::State {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn read_or_create(
    path: &Path,
    create: impl FnOnce() -> Result<Vec<u8>, AttestorError>,
) -> Result<Vec<u8>, AttestorError> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let b = create()?;
            write_private(path, &b).map_err(|e| state_err(path, e))?;
            Ok(b)
        }
        Err(e) => Err(state_err(path, e)),
    }
}

/// The default origin: the host (and port) of the public URL, then `/log`.
fn default_origin(public_url: &str) -> String {
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("localhost");
    format!("{host}/log")
}

pub(super) fn open(
    dir: &Path,
    cfg: &AttestorConfig,
    now_ms: u64,
    rng: &dyn SecureRandom,
) -> Result<Opened, AttestorError> {
    let now = now_ms / 1000;
    let created_path = dir.join("created");
    let created = read_or_create(&created_path, || Ok(now.to_string().into_bytes()))?;
    let created_secs = std::str::from_utf8(&created)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| state_err(&created_path, "not a number of seconds"))?;

    let origin_path = dir.join("origin");
    let origin = read_or_create(&origin_path, || {
        Ok(cfg
            .origin
            .clone()
            .unwrap_or_else(|| default_origin(&cfg.public_url))
            .into_bytes())
    })?;
    let origin = String::from_utf8(origin)
        .map_err(|_| state_err(&origin_path, "not UTF-8"))?
        .trim()
        .to_owned();
    if let Some(want) = &cfg.origin {
        if want != &origin {
            return Err(state_err(
                &origin_path,
                format!("this log's origin is {origin:?}; it cannot be renamed to {want:?}"),
            ));
        }
    }
    let key_path = dir.join("log-key.pk8");
    let pkcs8 = read_or_create(&key_path, || {
        Ed25519KeyPair::generate_pkcs8(rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| state_err(&key_path, "cannot generate an Ed25519 key"))
    })?;
    // Checks the key parses before the store signs anything with it.
    Ed25519KeyPair::from_pkcs8(&pkcs8)
        .map(|k| k.public_key().as_ref().len())
        .map_err(|e| state_err(&key_path, format!("not an Ed25519 PKCS#8 key: {e}")))?;
    let signer = NoteSigner::from_pkcs8(&origin, &pkcs8).map_err(|e| state_err(&key_path, e))?;

    let tsa_dir = dir.join("tsa");
    let (root, leaf, leaf_key) = (
        tsa_dir.join("root.der"),
        tsa_dir.join("leaf.der"),
        tsa_dir.join("leaf.pk8"),
    );
    let material = if leaf_key.exists() {
        let read = |p: &Path| std::fs::read(p).map_err(|e| state_err(p, e));
        TsaMaterial {
            root_cert_der: read(&root)?,
            leaf_cert_der: read(&leaf)?,
            leaf_pkcs8: read(&leaf_key)?,
        }
    } else {
        let (_, m) = TimestampAuthority::create("stella timestamp authority", now, rng)
            .map_err(|e| state_err(&tsa_dir, e))?;
        // The key last: its presence says the chain is complete.
        write_private(&root, &m.root_cert_der).map_err(|e| state_err(&root, e))?;
        write_private(&leaf, &m.leaf_cert_der).map_err(|e| state_err(&leaf, e))?;
        write_private(&leaf_key, &m.leaf_pkcs8).map_err(|e| state_err(&leaf_key, e))?;
        m
    };
    let tsa = TimestampAuthority::from_material(&material).map_err(|e| state_err(&tsa_dir, e))?;
    let tsa_valid_from = x509_parser::parse_x509_certificate(&material.leaf_cert_der)
        .ok()
        .and_then(|(_, c)| u64::try_from(c.validity().not_before.timestamp()).ok())
        .unwrap_or(created_secs);
    Ok(Opened {
        signer,
        created_secs,
        tsa,
        tsa_valid_from,
    })
}

#[cfg(test)]
mod tests {
    use super::default_origin;

    #[test]
    fn origin_is_host_and_port_then_log() {
        assert_eq!(
            default_origin("http://127.0.0.1:8440"),
            "127.0.0.1:8440/log"
        );
        assert_eq!(
            default_origin("https://attest.example.org/base"),
            "attest.example.org/log"
        );
    }
}
