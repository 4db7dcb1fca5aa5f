//! `stella-authority`: The Stella Ops Authority (OIDC, OpToks, CI token exchange) and licensing, on its own.

#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use signer_gateway::service::run::{init_tracing, run, ServeOptions};
use signer_gateway::service::Roles;

/// The Stella Ops Authority (OIDC, OpToks, CI token exchange) and licensing, on its own.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Exit codes:\n  0  stopped by a signal\n  1  could not start (configuration, keys, address)\n  2  invalid arguments"
)]
struct Args {
    /// Keys and state (created on first run, mode 0600).
    #[arg(long, env = "STELLA_DATA_DIR", default_value = "stella-authority-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8441")]
    listen: SocketAddr,
    /// JSON configuration (trusted CI issuers, identity rules, plans).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    let opts = ServeOptions {
        data_dir: args.data_dir,
        listen: args.listen,
        config: args.config,
        roles: Roles {
            authority: true,
            signer: false,
        },
        authority_url: None,
        attach: None,
        dev_identity: false,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stella-authority: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(opts, |addr, _| {
        eprintln!("stella-authority: listening on http://{addr}")
    })) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stella-authority: {e}");
            ExitCode::from(1)
        }
    }
}
