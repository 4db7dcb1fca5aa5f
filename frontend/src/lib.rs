//! The BuildKit gateway frontend (DESIGN.md §5): wraps the Dockerfile frontend and attaches SBOM
//! attestations to each platform's result.
//!
//! buildkitd starts the frontend image with the LLBBridge gRPC service on its stdin/stdout
//! ([`transport`]) and the frontend options in `BUILDKIT_FRONTEND_OPT_<i>` variables ([`options`]).
//! [`flow::run`] Solves the Dockerfile frontend with the caller's options unchanged (plus `cmdline`,
//! less our own `build-arg:STELLA_*`), scans each platform's result and Returns it with an SPDX
//! (and optionally CycloneDX) in-toto attestation per platform:
//!
//! * **full path** — the result is read through ReadDir/ReadFile ([`walk`]) into one layer of
//!   changes and scanned with `scanner_core::scan::scan_changes`;
//! * **fast path** (the Dockerfile's final base is a registry image) — the base's scan comes from an
//!   ExecOp of our own image running `stella-frontend fragment` over the base (cached by BuildKit,
//!   so free on a warmed base), and `DiffOp(base, final)` by a second such ExecOp mounting the
//!   diff, so only the two fragment files cross the gateway. A diff ref cannot show
//!   deletions, so the directories of the base holding files the scan uses are listed on the final
//!   ref and what is gone becomes whiteouts. Any failure falls back to the full path.
//!
//! It does not sign anything, push anything, or talk to a registry itself: BuildKit exports the
//! attestations with the image. [`testing`] is an in-process LLBBridge server serving directories,
//! used by the tests and the benchmark in place of buildkitd.
//!
//! ```
//! let opts = stella_frontend::options::parse_env([
//!     ("BUILDKIT_FRONTEND_OPT_0", "filename=Dockerfile"),
//!     ("BUILDKIT_FRONTEND_OPT_1", "build-arg:STELLA_CYCLONEDX=true"),
//! ]).unwrap();
//! let settings = stella_frontend::options::Settings::from_options(&opts).unwrap();
//! assert!(settings.cyclonedx);
//! assert!(!stella_frontend::options::forwarded(&opts, &settings).contains_key("build-arg:STELLA_CYCLONEDX"));
//! ```

pub mod dockerfile;
pub mod flow;
pub mod llb;
pub mod meta;
pub mod options;
pub mod proto;
pub mod testing;
pub mod transport;
pub mod walk;

use std::path::Path;

/// Runs the frontend on stdin/stdout with the options in `vars`; `Err` when the build failed (the
/// error has been Returned to BuildKit and printed on stderr).
pub async fn run_stdio<I>(vars: I) -> Result<(), ()>
where
    I: IntoIterator<Item = (String, String)>,
{
    let channel = match transport::channel_over(transport::stdio()).await {
        Ok(c) => c,
        Err(e) => {
            flow::warn(&format!(
                "cannot open the gRPC connection on stdin/stdout: {e}"
            ));
            return Err(());
        }
    };
    let client = transport::client(channel);
    match flow::Env::from_vars(vars) {
        Ok(env) => flow::run(client, &env).await.map(|_| ()).map_err(|_| ()),
        Err(e) => {
            flow::return_error(client, &flow::FlowError::from(e)).await;
            Err(())
        }
    }
}

/// Why `stella-frontend fragment` failed.
#[derive(Debug, thiserror::Error)]
pub enum FragmentFileError {
    /// ROOTFS is not a directory.
    #[error("{0}: not a directory")]
    NotDir(String),
    /// OUT could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The output file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Captures `rootfs` and writes the encoded fragment to `out` (parents created); with
/// `unowned_digests` false, without the SHA-256 of unowned native files
/// ([`scanner_core::fragment::capture_with`]).
pub fn fragment_file(
    rootfs: &Path,
    out: &Path,
    unowned_digests: bool,
) -> Result<(), FragmentFileError> {
    if !rootfs.is_dir() {
        return Err(FragmentFileError::NotDir(rootfs.display().to_string()));
    }
    let changes = scanner_core::fragment::capture_with(
        rootfs,
        &scanner_core::layer::Limits::default(),
        unowned_digests,
    );
    let bytes = scanner_core::fragment::encode(&changes);
    let write = || -> std::io::Result<()> {
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(out, &bytes)
    };
    write().map_err(|source| FragmentFileError::Write {
        path: out.display().to_string(),
        source,
    })
}
