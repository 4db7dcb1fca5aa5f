//! `stella`: thin glue over scanner-core and registry.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::SUCCESS
}
