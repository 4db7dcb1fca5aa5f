//! `stella`: thin glue over scanner-core, registry and signer-gateway. Argument parsing, exit codes, output files.

// The binary is the one place that talks to the terminal; the libraries never print.
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod attest;
mod bom_index;
mod cp;
mod demo;
mod diff;
mod github;
mod image;
mod referrers;
mod release;
mod scan;
mod serve;
mod summary;
mod trust;
mod trust_bundle;
mod tuf_cmd;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in `--help`.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// An unexpected internal failure.
    pub const FAILURE: u8 = 1;
    /// Invalid arguments (clap's own code).
    pub const USAGE: u8 = 2;
    /// The source could not be read: missing, corrupt, unsupported, or a digest mismatch.
    pub const SOURCE: u8 = 3;
    /// The registry could not be reached, refused the credentials, or lacks the image.
    pub const REGISTRY: u8 = 4;
    /// The output could not be written.
    pub const OUTPUT: u8 = 5;
    /// Nothing matched: no SBOM or referrer of the requested kind is attached to the image.
    pub const NOT_FOUND: u8 = 6;
    /// `release verify`: no valid release signature (none attached, by an untrusted key, made for
    /// another image, or malformed).
    pub const NOT_VERIFIED: u8 = 7;
    /// The trust material is unusable or rejected: a trusted root or trust bundle missing,
    /// corrupt or failing its checks; TUF metadata or a target rejected (signature threshold,
    /// rollback, expiry, version, length or hash, endless data).
    pub const TRUST: u8 = 8;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  unexpected failure
  2  invalid arguments
  3  the source could not be read (missing, corrupt, unsupported, digest mismatch)
  4  registry error (unreachable, authentication refused, not found)
  5  the output could not be written
  6  nothing found (no SBOM or referrer of the requested kind attached)
  7  not verified: release verify found no valid release signature; verify found no attestation
     satisfying the policy (each failure is printed with its reason)
  8  the trust material is unusable: trusted root or trust bundle missing, corrupt or failing
     checks; TUF metadata or a target rejected (threshold, rollback, expired, version, hash)";

#[derive(Debug, Parser)]
#[command(name = "stella", version, about = "Build-time SBOMs and attestations for container images", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole loop on the embedded default, in one process: copy an image, scan it, start the
    /// stack, attach the SBOM, attest, verify online and offline, and show a tampered copy fail.
    #[command(after_help = demo::AFTER_HELP)]
    Demo(demo::DemoArgs),
    /// Scan an image, a layer or a root file system and write its SBOM.
    #[command(after_help = scan::AFTER_HELP)]
    Scan(scan::ScanCommand),
    /// What changed between two images (or SBOMs): image, layers by diffID, packages added,
    /// removed and version-changed, each attributed to the layer that caused it.
    #[command(after_help = diff::AFTER_HELP)]
    Diff(diff::DiffArgs),
    /// Attach SBOMs to images and fetch them back (OCI 1.1 referrers); submit them to GitHub.
    #[command(subcommand)]
    Sbom(referrers::SbomCommand),
    /// List what refers to an image: SBOMs, attestations, signatures.
    #[command(after_help = referrers::AFTER_HELP)]
    Referrers(referrers::ReferrersArgs),
    /// Build the generator and frontend images without a container engine.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Run the Authority, licensing and Signer on the embedded default (keys in a data directory).
    Serve(serve::ServeArgs),
    /// Issue, enroll and check licenses (License Token -> Proof-of-Entitlement).
    #[command(subcommand)]
    License(serve::LicenseCommand),
    /// Sign scanner releases and verify release signatures (the Signer's gate).
    #[command(subcommand)]
    Release(release::ReleaseCommand),
    /// Sign an SBOM for an image (in-toto statement, DSSE), log it, push the Sigstore bundle.
    #[command(after_help = attest::AFTER_HELP)]
    Attest(attest::AttestArgs),
    /// May this image run? Verify its attestations (signature, identity, log proof, time,
    /// subject) and the policy, online or offline.
    #[command(after_help = verify::AFTER_HELP)]
    Verify(verify::VerifyArgs),
    /// Trust material: export the stack's (Sigstore trusted_root.json, ClientTrustConfig), the TUF
    /// client (init, update, status), TUF repository tooling (repo) and offline trust bundles.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Copy an image with its referrers between registries and OCI layouts (digests preserved).
    #[command(after_help = cp::AFTER_HELP)]
    Cp(cp::CpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Sbom(command) => referrers::run_sbom(command),
        Command::Referrers(args) => referrers::run_referrers(args),
        Command::Image(command) => image::run(command),
        Command::Serve(args) => serve::run_serve(args),
        Command::License(command) => serve::run_license(command),
        Command::Release(command) => release::run(command),
        Command::Trust(command) => trust::run(command),
        Command::Attest(args) => attest::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Cp(args) => cp::run(args),
    };
    ExitCode::from(code)
}
