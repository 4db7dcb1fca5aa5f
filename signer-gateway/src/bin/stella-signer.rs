//! `stella-signer`: The Stella Ops Signer on its own; OpToks and PoEs are checked with its Authority's keys.

#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use signer_gateway::service::run::{init_tracing, run, ServeOptions};
use signer_gateway::service::Roles;

/// The Stella Ops Signer on its own; OpToks and PoEs are checked with its Authority's keys.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Exit codes:\n  0  stopped by a signal\n  1  could not start (configuration, keys, address)\n  2  invalid arguments"
)]
struct Args {
    /// Keys and state (created on first run, mode 0600).
    #[arg(long, env = "STELLA_DATA_DIR", default_value = "stella-signer-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8442")]
    listen: SocketAddr,
    /// JSON configuration (trusted CI issuers, identity rules, plans).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The Authority this Signer trusts (its JWKS and license keys are fetched and refreshed).
    #[arg(long, env = "STELLA_AUTHORITY_URL")]
    authority: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    let opts = ServeOptions {
        data_dir: args.data_dir,
        listen: args.listen,
        config: args.config,
        roles: Roles {
            authority: false,
            signer: true,
        },
        authority_url: Some(args.authority),
        attach: None,
        dev_identity: false,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stella-signer: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(opts, |addr, _| {
        eprintln!("stella-signer: listening on http://{addr}")
    })) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stella-signer: {e}");
            ExitCode::from(1)
        }
    }
}
