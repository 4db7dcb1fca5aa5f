//! `stella cp SRC DST`: copy an image with everything attached to it; glue over `registry::copy`.

use clap::{Args, ValueEnum};
use registry::copy::{self, CopyError, CopyOptions, CopyReport, Side};
use registry::target::Target;
use registry::Platform;
use serde_json::json;

use crate::exit;
use crate::scan::{write_output, Failure};

pub const AFTER_HELP: &str = "\
SRC and DST are each an OCI image layout (oci:DIR[:TAG], created if missing) or an image in a registry
([docker://]HOST/REPO[:TAG|@DIGEST]). The manifest or image index is copied byte for byte (digests never
change), with every platform manifest, BuildKit attestation manifest, config and layer, then the OCI 1.1
referrers of every manifest copied (SBOMs, Sigstore bundles, signatures), recursively. Referrers are
found through the registry's referrers API or the sha256-<hex> tag fallback, and made discoverable at the
destination the same way (a layout lists them in index.json). Blobs the destination has are skipped;
everything read is checked against its digest. A layout gets its index.json last, atomically; a layout
directory created by a failed copy is removed.

Examples:
  stella cp --insecure 127.0.0.1:5000/app:1 oci:./carry:app
  stella cp --insecure oci:./carry:app 127.0.0.1:5001/app:1

Exit codes: 0 success, 1 unexpected failure, 2 invalid arguments, 3 source unreadable (missing,
corrupt, digest mismatch), 4 registry error (either side), 5 destination not writable.";

/// Output of `cp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CpFormat {
    /// One summary line.
    Text,
    /// The copy report as JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// The image to copy (see below).
    pub src: String,
    /// Where to copy it (see below).
    pub dst: String,
    /// Allow plain HTTP to registries on a loopback address.
    #[arg(long)]
    pub insecure: bool,
    /// Copy only this platform's manifest of a multi-platform image, e.g. linux/arm64.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Copy the image only, not what refers to it.
    #[arg(long)]
    pub no_referrers: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CpFormat,
}

pub fn run(args: CpArgs) -> u8 {
    match cp(&args) {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("stella: error: {}", f.message);
            f.code
        }
    }
}

fn cp(args: &CpArgs) -> Result<(), Failure> {
    let src = Target::parse(&args.src).map_err(|e| Failure::new(exit::USAGE, e))?;
    let dst = Target::parse(&args.dst).map_err(|e| Failure::new(exit::USAGE, e))?;
    let platform = args
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(|e| Failure::new(exit::USAGE, e))?;
    let scratch = tempfile::Builder::new()
        .prefix("stella-cp-")
        .tempdir()
        .map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot make a scratch directory: {e}"),
            )
        })?;
    let opts = CopyOptions {
        insecure: args.insecure,
        docker_config: None,
        platform,
        referrers: !args.no_referrers,
        scratch_dir: scratch.path().to_owned(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    let report = runtime
        .block_on(copy::copy(&src, &dst, &opts))
        .map_err(|e| failure(&src, &dst, e))?;
    for r in &report.referrers {
        eprintln!(
            "stella: referrer {} {} of {}",
            r.descriptor
                .artifact_type
                .as_deref()
                .unwrap_or("(no artifactType)"),
            r.descriptor.digest,
            r.subject
        );
    }
    let out = match args.format {
        CpFormat::Text => format!("{}\n", summary(&report, &dst)).into_bytes(),
        CpFormat::Json => {
            let mut v = serde_json::to_vec_pretty(&json!({
                "source": src.to_string(),
                "destination": dst.to_string(),
                "copied": report,
            }))
            .unwrap_or_default();
            v.push(b'\n');
            v
        }
    };
    write_output(None, &out)
}

/// `copied sha256:… (index, 2 manifests, 9 blobs, 3 referrers) → DST`
fn summary(report: &CopyReport, dst: &Target) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut parts = vec![if report.index { "index" } else { "manifest" }.to_owned()];
    if report.index {
        parts.push(plural(report.manifests, "manifest"));
    }
    let blobs = report.blobs_copied + report.blobs_present;
    parts.push(if report.blobs_present > 0 {
        format!(
            "{} ({} already there)",
            plural(blobs, "blob"),
            report.blobs_present
        )
    } else {
        plural(blobs, "blob")
    });
    parts.push(plural(report.referrers.len(), "referrer"));
    format!(
        "copied {} ({}) → {dst}",
        report.top.digest,
        parts.join(", ")
    )
}

/// A failed copy's exit code: a registry on either side is a registry error; a layout source is an
/// unreadable source; a layout destination is output that could not be written.
fn failure(src: &Target, dst: &Target, e: CopyError) -> Failure {
    let code = match e.side {
        Side::Source if src.is_remote() => exit::REGISTRY,
        Side::Source => exit::SOURCE,
        Side::Destination if dst.is_remote() => exit::REGISTRY,
        Side::Destination => exit::OUTPUT,
    };
    Failure::new(code, e)
}
