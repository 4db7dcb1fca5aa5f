//! `stella trust export`: the stack's Sigstore trust material, for verifiers we did not write
//! (sigstore-python's `--trust-config`, cosign's `--trusted-root`) and for `stella verify`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use signer_gateway::service::run::load_config;
use signer_gateway::service::{system_clock, Roles, Stack};

use crate::exit;
use crate::serve::{default_data_dir, keyless_trust};

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Write the stack's trusted_root.json (log, keyless CA, CT log, TSA) and a Sigstore
    /// ClientTrustConfig, from its data directory (works while `stella serve` runs on it).
    Export(ExportArgs),
    /// Pin a TUF root (trust on first use of that file) and the repository it comes from.
    Init(crate::tuf_cmd::InitArgs),
    /// Run the TUF client workflow against the pinned repository; download every target.
    Update(crate::tuf_cmd::UpdateArgs),
    /// The cached TUF metadata: versions, expiry, keys, targets.
    Status(crate::tuf_cmd::StatusArgs),
    /// Maintain a TUF repository (keys, targets, timestamp, rotations).
    #[command(subcommand)]
    Repo(crate::tuf_cmd::RepoCommand),
    /// Offline trust bundles for air-gapped verification (`stella verify --offline`).
    #[command(subcommand)]
    Bundle(BundleCommand),
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write trust-bundle.tar.zst: the trusted root, the log's checkpoint, and the tiles that prove
    /// the named images' attestations.
    Create(crate::trust_bundle::CreateArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, env = "STELLA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The URL the stack is reached at (the log's and TSA's base URL in the documents).
    #[arg(long, default_value = "http://127.0.0.1:8440")]
    url: String,
    /// The stack's configuration file (for the `attestor` section).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to write trusted_root.json.
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// Where to write the ClientTrustConfig (`sigstore --trust-config FILE`).
    #[arg(long)]
    client_trust_config: Option<PathBuf>,
    /// Where to write the Signer's public key (PEM): what `--signing key` attestations are signed
    /// with, to publish as the organisation's signing key (`stella trust repo init --org-key`).
    #[arg(long)]
    signing_key: Option<PathBuf>,
}

pub fn run(cmd: TrustCommand) -> u8 {
    let result = match cmd {
        TrustCommand::Export(a) => export(a),
        TrustCommand::Bundle(BundleCommand::Create(a)) => crate::trust_bundle::create(a),
        TrustCommand::Init(a) => crate::tuf_cmd::init(a),
        TrustCommand::Update(a) => crate::tuf_cmd::update(a),
        TrustCommand::Status(a) => crate::tuf_cmd::status(a),
        TrustCommand::Repo(c) => crate::tuf_cmd::run_repo(c),
    };
    match result {
        Ok(()) => exit::OK,
        Err((code, msg)) => {
            eprintln!("stella trust: {msg}");
            code
        }
    }
}

fn export(a: ExportArgs) -> Result<(), (u8, String)> {
    if a.trusted_root.is_none() && a.client_trust_config.is_none() && a.signing_key.is_none() {
        return Err((
            exit::USAGE,
            "name an output: --trusted-root FILE, --client-trust-config FILE and/or \
             --signing-key FILE"
                .into(),
        ));
    }
    let dir = a.data_dir.unwrap_or_else(default_data_dir);
    let (root, ctc, signing_pem) = export_trust(&dir, a.config.as_ref(), &a.url)?;
    let write = |path: &PathBuf, v: &serde_json::Value| {
        let mut text = serde_json::to_string_pretty(v).unwrap_or_default();
        text.push('\n');
        std::fs::write(path, text).map_err(|e| (exit::OUTPUT, format!("{}: {e}", path.display())))
    };
    if let Some(p) = &a.trusted_root {
        write(p, &root.to_json())?;
        eprintln!("stella trust: wrote {}", p.display());
    }
    if let Some(p) = &a.client_trust_config {
        write(p, &ctc)?;
        eprintln!("stella trust: wrote {}", p.display());
    }
    if let Some(p) = &a.signing_key {
        std::fs::write(p, signing_pem)
            .map_err(|e| (exit::OUTPUT, format!("{}: {e}", p.display())))?;
        eprintln!("stella trust: wrote {}", p.display());
    }
    Ok(())
}

/// The stack's trusted root and ClientTrustConfig, from its data directory.
fn export_trust(
    dir: &std::path::Path,
    config: Option<&PathBuf>,
    url: &str,
) -> Result<(attestor::trust_root::TrustedRoot, serde_json::Value, String), (u8, String)> {
    let cfg = load_config(config).map_err(|e| (exit::USAGE, e.to_string()))?;
    let att_cfg = attestor::service::AttestorConfig::from_json(&cfg.attestor, url)
        .map_err(|e| (exit::USAGE, e))?;
    let stack = Stack::open_roles(dir, Roles::BOTH, cfg, url, system_clock())
        .map_err(|e| (exit::FAILURE, e.to_string()))?;
    let now_ms = (stack.now)().saturating_mul(1000);
    let (root, ctc) =
        attestor::service::export_trust(dir, &att_cfg, &keyless_trust(&stack), now_ms)
            .map_err(|e| (exit::FAILURE, e.to_string()))?;
    Ok((root, ctc, stack.signing_public_pem()))
}

/// The stack's trusted root, from its data directory.
pub fn export_root(
    dir: &std::path::Path,
    config: Option<&PathBuf>,
    url: &str,
) -> Result<attestor::trust_root::TrustedRoot, (u8, String)> {
    export_trust(dir, config, url).map(|(root, _, _)| root)
}
