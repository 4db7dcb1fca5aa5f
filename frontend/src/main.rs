//! `stella-frontend`: the entrypoint of the frontend image. With no arguments it is a BuildKit
//! gateway frontend speaking gRPC on stdin/stdout (nothing else is ever written to stdout);
//! `fragment ROOTFS OUT` stores a rootfs's scan (the base image ExecOp of the fast path).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes.
mod exit {
    pub const OK: u8 = 0;
    /// The build (or the fragment capture) failed; the error was Returned to BuildKit.
    pub const FAILED: u8 = 1;
    /// Bad command line.
    pub const USAGE: u8 = 2;
}

#[derive(Parser, Debug)]
#[command(
    name = "stella-frontend",
    version,
    about = "BuildKit gateway frontend: builds the Dockerfile and attaches SBOM attestations",
    after_help = "Exit codes: 0 success, 1 build or capture failed (the error is Returned to \
                  BuildKit), 2 usage.\nUse as `# syntax=REGISTRY/stella/frontend:TAG`."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Capture ROOTFS into a stored fragment file OUT (run by the fast path's ExecOp).
    Fragment {
        /// Leave out the SHA-256 of native files no package owns (the frontend reads those few
        /// from the final image; used for the build's diff).
        #[arg(long)]
        no_unowned_digests: bool,
        /// The root file system to capture (read-only).
        rootfs: PathBuf,
        /// The fragment file to write.
        out: PathBuf,
    },
}

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help / --version go to stdout (no gRPC then); errors to stderr.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match cli.command {
        Some(Command::Fragment {
            no_unowned_digests,
            rootfs,
            out,
        }) => match stella_frontend::fragment_file(&rootfs, &out, !no_unowned_digests) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                eprintln!("stella-frontend fragment: {e}");
                ExitCode::from(exit::FAILED)
            }
        },
        None => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("stella-frontend: cannot start the runtime: {e}");
                    return ExitCode::from(exit::FAILED);
                }
            };
            let outcome = rt.block_on(stella_frontend::run_stdio(std::env::vars()));
            // The stdin reader is a blocking thread that never sees EOF while buildkitd holds the
            // pipe: do not wait for it.
            rt.shutdown_background();
            match outcome {
                Ok(()) => ExitCode::from(exit::OK),
                Err(()) => ExitCode::from(exit::FAILED),
            }
        }
    }
}
