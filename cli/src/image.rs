//! `stella image build generator|frontend`: the generator or frontend image assembled without a
//! container engine — a static binary in an otherwise empty image — written into an OCI layout
//! and/or pushed to a registry. Glue: the bytes are made in [`assemble`], the binary is checked or
//! built in [`binary`], storing is `registry::layout_target::write_image_layout` and
//! `registry::push_image`.

mod assemble;
mod binary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use registry::upload::ImageUpload;
use registry::{Platform, PushOptions, Source};

use crate::exit;
use crate::scan::{source_date_epoch, write_output, Failure};

pub const AFTER_HELP: &str = "\
The image is a static binary in an otherwise empty image: one layer holding only /stella-generator
(or /stella-frontend), mode 0755, owner 0:0; Entrypoint [\"/stella-generator\"]; OCI labels title,
version, source, licenses (the frontend also BuildKit's frontend caps and network.none labels).
Byte-deterministic: the same binary gives the same manifest digest (created = SOURCE_DATE_EPOCH, else
1970-01-01). The manifest digest is printed on stdout.

Without --binary, stella builds the binary itself from the workspace (found by walking up from the
current directory to the Cargo.toml listing `generator` in [workspace] members, or --workspace):
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked -p stella-generator \\
      --target x86_64-unknown-linux-gnu
into $CARGO_TARGET_DIR/static (else <workspace>/target/static). The self-build makes linux/amd64
only; for other platforms build the static binary yourself and pass --binary PATH --platform OS/ARCH.

Examples:
  stella image build generator --oci-layout ./images:generator
  stella image build frontend --push registry.example.com/stella/frontend:0.1.0
  stella image build generator --insecure --push 127.0.0.1:5000/stella/generator:test
  stella image build generator --binary ./stella-generator-arm64 --platform linux/arm64 --oci-layout out

Exit codes: 0 success, 1 unexpected failure, 2 invalid arguments (also: no --oci-layout or --push,
unknown image, no workspace found), 3 the binary is missing, not a static ELF executable for the
platform, or could not be built, 4 registry error, 5 the OCI layout could not be written.";

/// The workspace manifest this stella was built from (for the labels of a `--binary` image).
const BUILT_FROM: &str = include_str!("../../Cargo.toml");

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Assemble the generator or frontend image without a container engine.
    #[command(after_help = AFTER_HELP)]
    Build(BuildArgs),
}

/// Which image to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// The BuildKit SBOM generator (`stella-generator`).
    Generator,
    /// The BuildKit gateway frontend (`stella-frontend`).
    Frontend,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Generator => "generator",
            Which::Frontend => "frontend",
        }
    }

    /// The crate, which is also the binary's name.
    fn package(self) -> &'static str {
        match self {
            Which::Generator => "stella-generator",
            Which::Frontend => "stella-frontend",
        }
    }
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("output").required(true).multiple(true).args(["oci_layout", "push"])))]
pub struct BuildArgs {
    /// The image to build.
    #[arg(value_enum)]
    pub image: Which,
    /// Write the image into this OCI layout (created, or added to) under TAG (default `latest`).
    #[arg(long, value_name = "DIR[:TAG]")]
    pub oci_layout: Option<String>,
    /// Push the image to a registry ([docker://]HOST/REPO[:TAG]; credentials from the docker config).
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Allow plain HTTP to a registry on a loopback address.
    #[arg(long)]
    pub insecure: bool,
    /// Use this prebuilt binary (a static ELF executable for --platform) instead of building it.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// The image's platform; the self-build makes linux/amd64 only.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64")]
    pub platform: String,
    /// The workspace to build in (default: found from the current directory).
    #[arg(long, value_name = "DIR", conflicts_with = "binary")]
    pub workspace: Option<PathBuf>,
}

pub fn run(command: ImageCommand) -> u8 {
    let result = match command {
        ImageCommand::Build(args) => build(&args),
    };
    match result {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("stella: error: {}", f.message);
            f.code
        }
    }
}

/// `DIR[:TAG]` (an `oci:` prefix is accepted too): as in skopeo, the first `:` ends the path.
fn parse_layout(s: &str) -> Result<(PathBuf, String), Failure> {
    let bad = |why: &str| Failure::new(exit::USAGE, format!("--oci-layout {s:?}: {why}"));
    let rest = s.strip_prefix("oci:").unwrap_or(s);
    let (dir, tag) = match rest.split_once(':') {
        Some((d, t)) => (d, t),
        None => (rest, "latest"),
    };
    if dir.is_empty() {
        return Err(bad("no directory"));
    }
    let tag_ok = tag.len() <= 128
        && tag
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !tag_ok {
        return Err(bad(
            "the tag must be 1-128 letters, digits, '_', '.', '-', not starting with '.' or '-'",
        ));
    }
    Ok((PathBuf::from(dir), tag.to_owned()))
}

fn parse_push(s: &str) -> Result<registry::Reference, Failure> {
    match Source::parse(s) {
        Ok(Source::Remote(r)) => Ok(r),
        Ok(other) => Err(Failure::new(
            exit::USAGE,
            format!("--push {s:?}: {other} is not a registry reference (HOST/REPO[:TAG]); use --oci-layout for a directory"),
        )),
        Err(e) => Err(Failure::new(exit::USAGE, format!("--push: {e}"))),
    }
}

fn build(args: &BuildArgs) -> Result<(), Failure> {
    // Every argument is checked before anything is built or written.
    let platform = Platform::parse(&args.platform).map_err(|e| Failure::new(exit::USAGE, e))?;
    let layout = args.oci_layout.as_deref().map(parse_layout).transpose()?;
    let push = args.push.as_deref().map(parse_push).transpose()?;
    let created = match source_date_epoch()? {
        Some(t) => u64::try_from(t)
            .map_err(|_| Failure::new(exit::USAGE, format!("SOURCE_DATE_EPOCH={t} is negative")))?,
        None => 0,
    };
    let which = args.image;
    let package = which.package();

    let (binary_path, version, license, repository) = match &args.binary {
        // A prebuilt binary: described by the workspace this stella was built from.
        Some(path) => (
            path.clone(),
            env!("CARGO_PKG_VERSION").to_owned(),
            Some(env!("CARGO_PKG_LICENSE").to_owned()).filter(|l| !l.is_empty()),
            binary::workspace_package_field(BUILT_FROM, "repository"),
        ),
        None => {
            if platform != Platform::new("linux", "amd64", None) {
                return Err(Failure::new(
                    exit::USAGE,
                    format!(
                        "the self-build makes linux/amd64 only, not {platform}; build a static \
                         binary for {platform} yourself and pass --binary PATH"
                    ),
                ));
            }
            let workspace = workspace(args.workspace.as_deref())?;
            let (version, license, repository) = binary::package_metadata(&workspace, package)
                .map_err(|e| Failure::new(exit::SOURCE, e))?;
            // A crate that does not inherit `repository` gets the workspace's.
            let repository = repository.or_else(|| {
                std::fs::read_to_string(workspace.join("Cargo.toml"))
                    .ok()
                    .and_then(|t| binary::workspace_package_field(&t, "repository"))
            });
            let path = binary::self_build(&workspace, package, package)
                .map_err(|e| Failure::new(exit::SOURCE, e))?;
            (path, version, license, repository)
        }
    };
    let bytes = binary::read_binary(&binary_path).map_err(|e| Failure::new(exit::SOURCE, e))?;
    binary::check_static_elf(&bytes, &platform, &binary_path.display().to_string())
        .map_err(|e| Failure::new(exit::SOURCE, e))?;

    let spec = assemble::Spec {
        binary_name: package.to_owned(),
        platform,
        created,
        labels: labels(which, &version, license, repository),
        created_by: format!("stella image build {}", which.name()),
    };
    let image = assemble::assemble(&bytes, &spec).map_err(|e| Failure::new(exit::FAILURE, e))?;
    drop(bytes);
    let digest = image.descriptor().digest.clone();

    if let Some((dir, tag)) = &layout {
        registry::layout_target::write_image_layout(dir, tag, &image)
            .map_err(|e| Failure::new(exit::OUTPUT, e))?;
        eprintln!(
            "stella: wrote {package} {digest} to oci:{}:{tag}",
            dir.display()
        );
    }
    if let Some(reference) = &push {
        push_image(reference, &image, args.insecure)?;
        eprintln!("stella: pushed {package} {digest} to {reference}");
    }
    write_output(None, format!("{digest}\n").as_bytes())
}

fn workspace(given: Option<&Path>) -> Result<PathBuf, Failure> {
    match given {
        Some(dir) if binary::is_stella_workspace(&dir.join("Cargo.toml")) => Ok(dir.to_owned()),
        Some(dir) => Err(Failure::new(
            exit::USAGE,
            format!(
                "--workspace {}: no Cargo.toml there whose [workspace] members list `generator`",
                dir.display()
            ),
        )),
        None => {
            let cwd = std::env::current_dir().map_err(|e| {
                Failure::new(
                    exit::FAILURE,
                    format!("cannot read the current directory: {e}"),
                )
            })?;
            binary::find_workspace(&cwd).ok_or_else(|| {
                Failure::new(
                    exit::USAGE,
                    format!(
                        "no stella workspace above {} (a Cargo.toml whose [workspace] members list \
                         `generator`); run from a checkout, or pass --workspace DIR or --binary PATH",
                        cwd.display()
                    ),
                )
            })
        }
    }
}

/// The OCI labels, and for the frontend BuildKit's: it gives named contexts and frontend inputs
/// only to a frontend whose image declares the `inputs` cap, and may run it without network.
fn labels(
    which: Which,
    version: &str,
    license: Option<String>,
    repository: Option<String>,
) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(
        "org.opencontainers.image.title".to_owned(),
        which.package().to_owned(),
    );
    l.insert(
        "org.opencontainers.image.version".to_owned(),
        version.to_owned(),
    );
    if let Some(r) = repository {
        l.insert("org.opencontainers.image.source".to_owned(), r);
    }
    if let Some(lic) = license {
        l.insert("org.opencontainers.image.licenses".to_owned(), lic);
    }
    if which == Which::Frontend {
        l.insert(
            "moby.buildkit.frontend.network.none".to_owned(),
            "true".to_owned(),
        );
        l.insert(
            "moby.buildkit.frontend.caps".to_owned(),
            "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
                .to_owned(),
        );
    }
    l
}

fn push_image(
    reference: &registry::Reference,
    image: &ImageUpload,
    insecure: bool,
) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    let opts = PushOptions {
        insecure,
        ..PushOptions::default()
    };
    runtime
        .block_on(registry::push_image(reference, image, &opts))
        .map(drop)
        .map_err(|e| Failure::new(exit::REGISTRY, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_arguments() {
        let (d, t) = parse_layout("out").ok().unwrap();
        assert_eq!((d, t.as_str()), (PathBuf::from("out"), "latest"));
        let (d, t) = parse_layout("oci:/x/y:gen-1.0").ok().unwrap();
        assert_eq!((d, t.as_str()), (PathBuf::from("/x/y"), "gen-1.0"));
        for bad in ["", ":tag", "dir:", "dir:-x", "dir:a b", "dir:a:b"] {
            let f = parse_layout(bad).unwrap_err();
            assert_eq!(f.code, exit::USAGE, "{bad}");
        }
    }

    #[test]
    fn push_arguments() {
        assert_eq!(
            parse_push("127.0.0.1:5000/stella/generator:test")
                .ok()
                .unwrap()
                .repository(),
            "stella/generator"
        );
        assert!(parse_push("docker://ghcr.io/o/r:1").is_ok());
        assert_eq!(parse_push("oci:./x").unwrap_err().code, exit::USAGE);
        assert_eq!(
            parse_push("ghcr.io/UPPER/case").unwrap_err().code,
            exit::USAGE
        );
    }

    #[test]
    fn frontend_labels_carry_buildkit_caps() {
        let l = labels(Which::Frontend, "1.2.3", Some("Apache-2.0".into()), None);
        assert_eq!(l["org.opencontainers.image.title"], "stella-frontend");
        assert_eq!(l["org.opencontainers.image.version"], "1.2.3");
        assert_eq!(l["moby.buildkit.frontend.network.none"], "true");
        assert!(l["moby.buildkit.frontend.caps"].contains("moby.buildkit.frontend.inputs"));
        let g = labels(Which::Generator, "1", None, Some("https://x".into()));
        assert!(!g.contains_key("moby.buildkit.frontend.caps"));
        assert_eq!(g["org.opencontainers.image.source"], "https://x");
    }
}
