//! `stella-generator`: the entrypoint of the generator image. BuildKit runs it with the
//! `BUILDKIT_SCAN_*` environment (see the library docs); `--version` and `--help` are for people.
//!
//! Exit status: 0 when at least one statement was written, 1 when none could be, 2 for a bad
//! invocation (missing variables, a bad parameter value).

#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::process::ExitCode;

const HELP: &str = "\
stella-generator: a BuildKit SBOM generator (SPDX 2.3 in-toto statements).

Use it from BuildKit, which sets BUILDKIT_SCAN_SOURCE, BUILDKIT_SCAN_DESTINATION and, for extra
targets, BUILDKIT_SCAN_SOURCE_EXTRAS:

  docker buildx build --attest type=sbom,generator=<registry>/stella/generator:<tag> .
  docker buildx build --attest type=sbom,generator=<image>,mode=full,view=usage,entrypoint=/app/run .

Parameters (BUILDKIT_SCAN_<KEY>, from --attest type=sbom,KEY=VALUE; unknown keys are ignored):
  mode=compact|full        compact (default): every package, no files; full: plus every owned file
  view=inventory|usage     everything installed (default), or only what the entrypoint uses
  entrypoint=CMD           the image's entrypoint + cmd (JSON array or words), for view=usage
";

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("--version" | "-V") => {
            println!("stella-generator {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let config = match stella_generator::Config::from_env(std::env::vars_os()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stella-generator: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = stella_generator::run(&config);
    for w in &outcome.warnings {
        eprintln!("stella-generator: warning: {w}");
    }
    for f in &outcome.failures {
        eprintln!("stella-generator: error: {f}");
    }
    for p in &outcome.written {
        eprintln!("stella-generator: wrote {}", p.display());
    }
    if outcome.success() {
        ExitCode::SUCCESS
    } else {
        eprintln!("stella-generator: no statement could be written");
        ExitCode::FAILURE
    }
}
