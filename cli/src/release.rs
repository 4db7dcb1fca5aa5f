//! `stella release keygen|sign|verify`: glue over `signer_gateway::release`. A release signature is a
//! DSSE in-toto statement attached to the scanner image as an OCI 1.1 referrer; the Signer refuses to
//! sign for a scanner image without one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::{Args, Subcommand, ValueEnum};
use registry::PushOptions;
use serde_json::json;
use signer_gateway::dsse::{key_id, KeySource, MemoryKey};
use signer_gateway::release::{sign_release, ReleaseError, ReleaseVerifier};

use crate::exit;
use crate::scan::{write_output, Failure};

pub const AFTER_HELP: &str = "\
IMAGE is an OCI layout (oci:DIR[:TAG]) or an image in a registry ([docker://]HOST/REPO[:TAG|@DIGEST]).
`sign` attaches a DSSE in-toto statement (predicate https://stella-ops.org/attestations/release/v1)
as a referrer of the image manifest (of each platform manifest of a multi-platform image).
`verify` needs the image pinned by digest (HOST/REPO@sha256:<hex>, oci:DIR:sha256:<hex>): a tag can
move. Give --key once per trusted key while a key rotation overlaps.

Examples:
  stella release keygen --out release.key
  stella release sign oci:./image:scanner --key release.key --version 1.2.3
  stella release verify oci:./image:sha256:<hex> --key release.key.pub

Exit codes: 0 success (verify: a valid release signature), 1 unexpected failure, 2 invalid arguments
(verify: IMAGE not pinned by digest), 3 image or key unreadable, 4 registry error, 5 output not
written (keygen: the file exists), 7 no valid release signature.";

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Generate a release key: a PKCS#8 P-256 private key (PEM, mode 0600) and FILE.pub.
    #[command(after_help = AFTER_HELP)]
    Keygen(KeygenArgs),
    /// Sign a scanner release: attach the release signature to the image.
    #[command(after_help = AFTER_HELP)]
    Sign(SignArgs),
    /// Check that an image pinned by digest carries a release signature by a trusted key.
    #[command(after_help = AFTER_HELP)]
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key (never overwritten); the public key goes to FILE.pub.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The release image, by tag or digest.
    pub image: String,
    /// The release private key (PKCS#8 PEM, as `keygen` writes it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The release version, e.g. 1.2.3 or 1.3.0-rc.1.
    #[arg(long)]
    pub version: String,
    /// The release year (default: the current UTC year).
    #[arg(long, value_name = "YEAR")]
    pub release_year: Option<u32>,
    /// Allow plain HTTP to a registry on a loopback address.
    #[arg(long)]
    pub insecure: bool,
}

/// Output of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    /// `key: value` lines.
    Text,
    /// The claims as JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image, pinned by digest.
    pub image: String,
    /// A trusted release public key (SubjectPublicKeyInfo PEM); repeat for several.
    #[arg(long, value_name = "PUBFILE", required = true)]
    pub key: Vec<PathBuf>,
    /// Allow plain HTTP to a registry on a loopback address.
    #[arg(long)]
    pub insecure: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: VerifyFormat,
}

pub fn run(command: ReleaseCommand) -> u8 {
    let result = match command {
        ReleaseCommand::Keygen(args) => keygen(&args),
        ReleaseCommand::Sign(args) => sign(&args),
        ReleaseCommand::Verify(args) => verify(&args),
    };
    match result {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("stella: error: {}", f.message);
            f.code
        }
    }
}

fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let public_path = pub_path(&args.out);
    for p in [&args.out, &public_path] {
        if p.exists() {
            return Err(Failure::new(
                exit::OUTPUT,
                format!("{} exists; not overwriting a key", p.display()),
            ));
        }
    }
    let (key, pkcs8) = MemoryKey::generate(&ring::rand::SystemRandom::new())
        .map_err(|e| Failure::new(exit::FAILURE, e))?;
    let spki = key.public_key_spki_der();
    let public_pem = pem("PUBLIC KEY", &spki);
    write_new(&args.out, pem("PRIVATE KEY", &pkcs8).as_bytes(), 0o600)?;
    write_new(&public_path, public_pem.as_bytes(), 0o644)?;
    eprintln!(
        "stella: wrote the release key {} (key id {}) and its public key {}",
        args.out.display(),
        key_id(&spki),
        public_path.display()
    );
    write_output(None, public_pem.as_bytes())
}

fn sign(args: &SignArgs) -> Result<(), Failure> {
    let der = read_pem(&args.key, "PRIVATE KEY")?;
    let key = MemoryKey::from_pkcs8(&der).map_err(|e| {
        Failure::new(
            exit::SOURCE,
            format!("{}: not a P-256 PKCS#8 key: {e}", args.key.display()),
        )
    })?;
    let year = match args.release_year {
        Some(y) => y,
        None => current_utc_year()?,
    };
    let opts = push_options(args.insecure);
    let pushed = runtime()?
        .block_on(sign_release(&args.image, &key, &args.version, year, &opts))
        .map_err(|e| failure(&args.image, e))?;
    for p in &pushed {
        eprintln!(
            "stella: signed release {} ({year}) of {}: signature {}",
            args.version, p.subject.digest, p.manifest.digest
        );
    }
    let out: String = pushed
        .iter()
        .map(|p| format!("{}\n", p.manifest.digest))
        .collect();
    write_output(None, out.as_bytes())
}

fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let keys = args
        .key
        .iter()
        .map(|p| read_pem(p, "PUBLIC KEY"))
        .collect::<Result<Vec<_>, _>>()?;
    let verifier = ReleaseVerifier::new(keys, push_options(args.insecure))
        .map_err(|e| Failure::new(exit::SOURCE, e))?;
    let claims = runtime()?
        .block_on(verifier.verify(&args.image))
        .map_err(|e| failure(&args.image, e))?;
    let out = match args.format {
        VerifyFormat::Text => format!(
            "image_digest: {}\nversion: {}\nrelease_year: {}\n",
            claims.image_digest, claims.version, claims.release_year
        ),
        VerifyFormat::Json => format!(
            "{}\n",
            json!({
                "image": args.image,
                "image_digest": claims.image_digest,
                "version": claims.version,
                "release_year": claims.release_year,
            })
        ),
    };
    write_output(None, out.as_bytes())
}

/// The exit code of a release error.
fn failure(image: &str, e: ReleaseError) -> Failure {
    let registry_or_source = if image.starts_with("oci:") {
        exit::SOURCE
    } else {
        exit::REGISTRY
    };
    let code = match &e {
        ReleaseError::NotPinned { .. } | ReleaseError::BadVersion { .. } => exit::USAGE,
        ReleaseError::InvalidImage { .. } | ReleaseError::Key(_) => exit::SOURCE,
        ReleaseError::NoSignature { .. }
        | ReleaseError::UntrustedSignature { .. }
        | ReleaseError::SubjectMismatch { .. }
        | ReleaseError::Malformed { .. } => exit::NOT_VERIFIED,
        ReleaseError::Unreachable { .. }
        | ReleaseError::Timeout { .. }
        | ReleaseError::Push { .. } => registry_or_source,
        _ => exit::FAILURE,
    };
    Failure::new(code, e)
}

fn push_options(insecure: bool) -> PushOptions {
    PushOptions {
        insecure,
        ..PushOptions::default()
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start the runtime: {e}")))
}

fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Creates `path` (failing if it exists) with `mode` and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::new(exit::OUTPUT, format!("{}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(fail)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside the first `label` PEM block of `path`.
fn read_pem(path: &Path, label: &str) -> Result<Vec<u8>, Failure> {
    let fail = |why: String| Failure::new(exit::SOURCE, format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body)
        .ok_or_else(|| fail(format!("no {begin} block")))?;
    let b64: String = body.split_whitespace().collect();
    STANDARD
        .decode(b64)
        .map_err(|e| fail(format!("bad base64 in the {label} block: {e}")))
}

fn current_utc_year() -> Result<u32, Failure> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| Failure::new(exit::FAILURE, format!("the clock is before 1970: {e}")))?
        .as_secs();
    Ok(year_of_day(secs / 86_400))
}

/// The proleptic Gregorian year of day `days` since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn year_of_day(days: u64) -> u32 {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month_is_jan_or_feb = mp >= 10;
    let year = yoe + era * 400 + i64::from(month_is_jan_or_feb);
    u32::try_from(year).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_of_days() {
        for (day, year) in [
            (0, 1970),
            (364, 1970),
            (365, 1971),
            (10_956, 1999), // 1999-12-31
            (10_957, 2000), // 2000-01-01
            (11_016, 2000), // 2000-02-29
            (20_453, 2025), // 2025-12-31
            (20_454, 2026), // 2026-01-01
            (20_513, 2026), // 2026-03-01
        ] {
            assert_eq!(year_of_day(day), year, "day {day}");
        }
    }

    #[test]
    fn pem_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        let der: Vec<u8> = (0..=255).collect();
        std::fs::write(&p, pem("PUBLIC KEY", &der)).unwrap();
        assert_eq!(read_pem(&p, "PUBLIC KEY").ok(), Some(der));
        assert!(read_pem(&p, "PRIVATE KEY").is_err());
        assert_eq!(pub_path(Path::new("/a/b.key")), Path::new("/a/b.key.pub"));
    }
}
