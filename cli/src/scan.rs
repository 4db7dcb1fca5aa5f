//! `stella scan SOURCE`.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use registry::{BlobLocation, ResolveOptions, ResolvedImage};
use registry::{Platform, Source};
use scanner_core::cache::{DiskCache, LayerCache};
use scanner_core::dirfs::DirFs;
use scanner_core::entrytrace::ImageConfig;
use scanner_core::model::{Digest, Inventory, LayerInfo, ScanReport, SourceKind, Subject, Tool};
use scanner_core::sbom;
use scanner_core::scan::{scan_layers_cached, LayerInput, ScanOptions};

use crate::exit;

pub const AFTER_HELP: &str = "\
Sources (as skopeo and Syft users write them):
  PATH | dir:PATH                 a root file system directory
  layer:FILE                      one layer tarball (plain, gzip or zstd)
  oci:DIR[:TAG]                   an OCI image layout
  docker-archive:FILE[:REF]       a `docker save` archive
  oci-archive:FILE[:TAG]          a tar of an OCI image layout
  [docker://]HOST/REPO[:TAG|@DIGEST]  an image in a registry (~/.docker/config.json credentials)

Examples:
  stella scan oci:./image:latest
  stella scan docker-archive:app.tar --format spdx-json --output app.spdx.json
  stella scan --insecure 127.0.0.1:5000/team/app:1.2 --platform linux/arm64
  stella scan ./rootfs --format table

Document time comes from SOURCE_DATE_EPOCH, else the image config's `created`, else 1970-01-01,
so the same input always gives byte-identical output.

Exit codes: 0 success, 1 unexpected failure, 2 invalid arguments, 3 source unreadable,
4 registry error, 5 output not written, 6 nothing found.";

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// CycloneDX 1.6 JSON.
    CyclonedxJson,
    /// SPDX 2.3 JSON.
    SpdxJson,
    /// A human-readable table.
    Table,
    /// stella's own JSON model.
    Json,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// What to scan (see "Sources" below).
    pub source: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "cyclonedx-json")]
    pub format: Format,
    /// Write the output to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Platform to select from a multi-platform image, e.g. linux/arm64/v8.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Allow plain HTTP to a registry on a loopback address.
    #[arg(long)]
    pub insecure: bool,
    /// Do not print warnings about unreadable files inside the image.
    #[arg(long, short)]
    pub quiet: bool,
    /// Refuse a layer whose uncompressed tar is larger than SIZE (guards against decompression
    /// bombs); suffixes K, M, G, T (powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "64G", value_parser = parse_size)]
    pub max_layer_size: u64,
    /// Which view to write: `inventory` (everything found, each component flagged
    /// `stella:usedByEntrypoint` when the source has an entrypoint) or `usage` (only what the
    /// entrypoint runs and loads: its programs, their shared libraries, the packages they load).
    #[arg(long, value_enum, default_value = "inventory")]
    pub view: ViewArg,
    /// For a directory or layer source: the entrypoint to trace, as the image config would state it
    /// (JSON array or a command line), for the usage view. Images use their own config.
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Append `sbom-path=FILE` and `component-count=N` to FILE (GitHub's `$GITHUB_OUTPUT`, a GitLab
    /// dotenv report).
    #[arg(long, value_name = "FILE", env = "STELLA_OUTPUTS")]
    pub outputs: Option<PathBuf>,
    /// Add a document-level property NAME=VALUE (CycloneDX `metadata.properties`, an SPDX
    /// `creationInfo.comment` line), e.g. GitLab's `gitlab:meta:schema_version=1`; repeatable.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_property)]
    pub property: Vec<(String, String)>,
    /// Append a Markdown summary (components by ecosystem and by layer) to FILE (GitHub's
    /// `$GITHUB_STEP_SUMMARY`).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

/// `stella scan`'s arguments: what [`ScanArgs`] says plus the layer cache options.
#[derive(Debug, Args)]
pub struct ScanCommand {
    #[command(flatten)]
    pub args: ScanArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// The per-layer cache options.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Per-layer cache directory: layers scanned before (same diffID, same analyzers) are not read
    /// again. Default: $STELLA_CACHE_DIR, else $XDG_CACHE_HOME/stella/layers, else
    /// ~/.cache/stella/layers.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not use the layer cache (a cold scan that stores nothing).
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Bound on the layer cache's size; least recently used layers are evicted. Suffixes K, M, G, T
    /// (powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "2G", value_parser = parse_size)]
    pub cache_max_size: u64,
}

impl Default for CacheArgs {
    fn default() -> Self {
        CacheArgs {
            cache_dir: None,
            no_cache: false,
            cache_max_size: 2 << 30,
        }
    }
}

/// The layer cache `stella scan` uses, or `None` (with a warning when one was wanted but the
/// directory cannot be used: the scan never fails for the cache).
fn layer_cache(args: &CacheArgs) -> Option<DiskCache> {
    if args.no_cache {
        return None;
    }
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = args
        .cache_dir
        .clone()
        .or_else(|| env("STELLA_CACHE_DIR"))
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("stella/layers")))
        .or_else(|| env("HOME").map(|h| h.join(".cache/stella/layers")));
    let Some(dir) = dir else {
        eprintln!(
            "stella: warning: no cache directory (set STELLA_CACHE_DIR or HOME); scanning \
             without the layer cache"
        );
        return None;
    };
    match DiskCache::open(&dir, args.cache_max_size) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!(
                "stella: warning: layer cache {} unusable ({e}); scanning without it",
                dir.display()
            );
            None
        }
    }
}

/// Prints what went wrong with cache entries (a corrupt one was deleted and its layer read).
fn warn_cache(cache: Option<&DiskCache>, quiet: bool) {
    let Some(c) = cache else { return };
    for w in c.take_warnings() {
        if !quiet {
            eprintln!("stella: warning: {w}");
        }
    }
}

/// `--view` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewArg {
    /// Everything found.
    Inventory,
    /// What the entrypoint uses.
    Usage,
}

/// The `--entrypoint` of a directory or layer scan as an image config.
fn entrypoint_arg(arg: Option<&str>) -> Option<ImageConfig> {
    let arg = arg?;
    let argv: Vec<String> = serde_json::from_str(arg)
        .unwrap_or_else(|_| arg.split_whitespace().map(str::to_owned).collect());
    Some(ImageConfig {
        entrypoint: argv,
        ..ImageConfig::default()
    })
}

/// Parses `NAME=VALUE` (a non-empty name without control characters).
fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !s.chars().any(char::is_control) => {
            Ok((n.trim().to_owned(), v.to_owned()))
        }
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

/// Parses `123`, `64K`, `512M`, `64G`, `1T` (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, shift) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("unknown size suffix {c:?}: use K, M, G or T")),
            };
            (s.get(..i).unwrap_or_default(), shift)
        }
        _ => (s, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 512M or 64G"))?;
    n.checked_mul(1u64 << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is out of range"))
}

/// A failure with its exit code.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl std::fmt::Display) -> Self {
        Failure {
            code,
            message: message.to_string(),
        }
    }
}

pub fn run(command: ScanCommand) -> u8 {
    match scan(&command.args, &command.cache) {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("stella: error: {}", f.message);
            f.code
        }
    }
}

fn scan(args: &ScanArgs, cache: &CacheArgs) -> Result<(), Failure> {
    let report = report_with(args, cache)?;
    write_report(args, &report)
}

/// Scans `args.source` into the report `stella scan` writes (also used by `stella diff`).
pub(crate) fn report(args: &ScanArgs) -> Result<ScanReport, Failure> {
    report_with(args, &CacheArgs::default())
}

/// [`report`] with the given layer cache options.
pub(crate) fn report_with(args: &ScanArgs, cache_args: &CacheArgs) -> Result<ScanReport, Failure> {
    let source = Source::parse(&args.source).map_err(|e| Failure::new(exit::SOURCE, e))?;
    let source_date_epoch = source_date_epoch()?;
    let progress = std::io::stderr().is_terminal() && !args.quiet;
    let mut opts = ScanOptions::default();
    opts.limits.max_layer_bytes = args.max_layer_size;

    let (subject, inventory, created) = match &source {
        Source::Dir(path) => {
            if !path.is_dir() {
                return Err(Failure::new(
                    exit::SOURCE,
                    format!("{}: not a directory", path.display()),
                ));
            }
            let fs = DirFs::new(path.clone(), opts.limits.clone());
            let entry = entrypoint_arg(args.entrypoint.as_deref());
            let inventory = scanner_core::scan::scan_dir_with(&fs, entry.as_ref());
            let subject = Subject::new(SourceKind::Directory, file_name(path));
            (subject, inventory, None)
        }
        Source::Layer(path) => {
            let file = path.clone();
            let layer = LayerInput {
                expected_digest: None,
                expected_diff_id: None,
                media_type: None,
                size: std::fs::metadata(path).ok().map(|m| m.len()),
                created_by: None,
                open: Box::new(move || {
                    Ok(Box::new(std::io::BufReader::with_capacity(
                        1 << 20,
                        std::fs::File::open(&file)?,
                    )) as Box<dyn Read + Send>)
                }),
            };
            opts.entrypoint = entrypoint_arg(args.entrypoint.as_deref());
            let cache = layer_cache(cache_args);
            let scanned = scan_layers_cached(
                &[layer],
                &opts,
                cache.as_ref().map(|c| c as &dyn LayerCache),
                &progress_fn(progress),
            )
            .map_err(|e| Failure::new(exit::SOURCE, e))?;
            warn_cache(cache.as_ref(), args.quiet);
            let subject = Subject {
                layers: scanned.layers,
                ..Subject::new(SourceKind::Layer, file_name(path))
            };
            (subject, scanned.inventory, None)
        }
        _ => {
            let (image, _scratch) = resolve(&source, args)?;
            let inputs = layer_inputs(&image);
            opts.entrypoint = Some(ImageConfig {
                entrypoint: image.config.entrypoint.clone().unwrap_or_default(),
                cmd: image.config.cmd.clone().unwrap_or_default(),
                working_dir: image.config.working_dir.clone(),
                env: image.config.env.clone().unwrap_or_default(),
            });
            let cache = layer_cache(cache_args);
            let scanned = scan_layers_cached(
                &inputs,
                &opts,
                cache.as_ref().map(|c| c as &dyn LayerCache),
                &progress_fn(progress),
            )
            .map_err(|e| Failure::new(exit::SOURCE, e))?;
            warn_cache(cache.as_ref(), args.quiet);
            let created = image
                .config
                .created
                .as_deref()
                .and_then(scanner_core::time::parse_rfc3339);
            (
                image_subject(&image, scanned.layers),
                scanned.inventory,
                created,
            )
        }
    };

    if !args.quiet {
        warn_diagnostics(&inventory);
    }
    let inventory = match args.view {
        ViewArg::Inventory => inventory,
        ViewArg::Usage => {
            if inventory.usage.is_none() {
                return Err(Failure::new(
                    exit::USAGE,
                    "--view usage needs an entrypoint: scan an image, or give --entrypoint for a \
                     directory or layer",
                ));
            }
            scanner_core::usage::usage_view(&inventory)
        }
    };
    Ok(ScanReport {
        subject,
        inventory,
        created: source_date_epoch.or(created).unwrap_or(0),
        tool: Tool {
            name: "stella".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
    })
}

fn write_report(args: &ScanArgs, report: &ScanReport) -> Result<(), Failure> {
    let bytes = match args.format {
        Format::CyclonedxJson => sbom::cyclonedx::to_cyclonedx_json(report),
        Format::SpdxJson => sbom::spdx::to_spdx_json(report),
        Format::Table => sbom::table::to_table(report).into_bytes(),
        Format::Json => sbom::table::to_json(report),
    };
    let bytes = with_properties(bytes, &args.property, args.format)?;
    write_output(args.output.as_deref(), &bytes)?;
    if args.outputs.is_some() || args.summary.is_some() {
        let s = crate::summary::Summary::of_report(report);
        if let Some(path) = &args.outputs {
            let sbom_path = args
                .output
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            crate::summary::append(
                path,
                &format!(
                    "sbom-path={}\ncomponent-count={}\n",
                    sbom_path.replace(['\n', '\r'], " "),
                    s.components
                ),
            )
            .map_err(|e| Failure::new(exit::OUTPUT, e))?;
        }
        if let Some(path) = &args.summary {
            crate::summary::append(path, &s.markdown(&args.source))
                .map_err(|e| Failure::new(exit::OUTPUT, e))?;
        }
    }
    Ok(())
}

/// Adds `--property` values to a CycloneDX or SPDX document (unchanged without any).
fn with_properties(
    bytes: Vec<u8>,
    properties: &[(String, String)],
    format: Format,
) -> Result<Vec<u8>, Failure> {
    if properties.is_empty() {
        return Ok(bytes);
    }
    if !matches!(format, Format::CyclonedxJson | Format::SpdxJson) {
        return Err(Failure::new(
            exit::USAGE,
            "--property needs --format cyclonedx-json or spdx-json",
        ));
    }
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(exit::FAILURE, format!("the SBOM written is not JSON: {e}")))?;
    for (name, value) in properties {
        signer_gateway::claims::stamp(&mut doc, name, value);
    }
    let mut out =
        serde_json::to_vec_pretty(&doc).map_err(|e| Failure::new(exit::FAILURE, e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

pub(crate) fn source_date_epoch() -> Result<Option<i64>, Failure> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<i64>().map(Some).map_err(|_| {
            Failure::new(
                exit::USAGE,
                format!("SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds"),
            )
        }),
        _ => Ok(None),
    }
}

/// Resolves an image source. The returned scratch directory holds downloaded blobs and must outlive
/// the scan.
fn resolve(
    source: &Source,
    args: &ScanArgs,
) -> Result<(ResolvedImage, tempfile::TempDir), Failure> {
    let platform = args
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(|e| Failure::new(exit::USAGE, e))?;
    let scratch = tempfile::Builder::new()
        .prefix("stella-scan-")
        .tempdir()
        .map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot create a scratch directory: {e}"),
            )
        })?;
    let opts = ResolveOptions {
        platform,
        insecure: args.insecure,
        scratch_dir: scratch.path().to_path_buf(),
        docker_config: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    let remote = matches!(source, Source::Remote(_));
    let image = runtime
        .block_on(registry::resolve(source, &opts))
        .map_err(|e| {
            let code = if remote { exit::REGISTRY } else { exit::SOURCE };
            Failure::new(code, with_causes(&e))
        })?;
    Ok((image, scratch))
}

fn layer_inputs(image: &ResolvedImage) -> Vec<LayerInput<'static>> {
    let mut history = image
        .config
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.clone());
    image
        .layers
        .iter()
        .map(|blob| {
            let BlobLocation::File { path, offset, len } = &blob.location;
            let (path, offset, len) = (path.clone(), *offset, *len);
            LayerInput {
                expected_digest: blob.digest.clone().map(Digest),
                expected_diff_id: blob.diff_id.clone().map(Digest),
                media_type: blob.media_type.clone(),
                size: blob.size,
                created_by: history.next().flatten(),
                open: Box::new(move || {
                    let mut f = std::fs::File::open(&path)?;
                    f.seek(SeekFrom::Start(offset))?;
                    Ok(
                        Box::new(std::io::BufReader::with_capacity(1 << 20, f.take(len)))
                            as Box<dyn Read + Send>,
                    )
                }),
            }
        })
        .collect()
}

fn image_subject(image: &ResolvedImage, layers: Vec<LayerInfo>) -> Subject {
    Subject {
        kind: SourceKind::Image,
        name: image.name.clone(),
        version: image.tag.clone(),
        manifest_digest: image.manifest_digest.clone().map(Digest),
        config_digest: Some(Digest(image.config_digest.clone())),
        repository: image.repository.clone(),
        os: image.config.os.clone(),
        architecture: image.config.architecture.clone(),
        variant: image.config.variant.clone(),
        layers,
    }
}

fn file_name(path: &Path) -> String {
    std::fs::canonicalize(path)
        .ok()
        .as_deref()
        .unwrap_or(path)
        .file_name()
        .map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
}

fn progress_fn(enabled: bool) -> impl Fn(usize, usize) + Sync {
    move |done, total| {
        if enabled {
            eprint!("\rstella: read {done}/{total} layers");
            if done == total {
                eprintln!();
            }
        }
    }
}

fn warn_diagnostics(inventory: &Inventory) {
    for d in &inventory.diagnostics {
        match &d.layer {
            Some(layer) => eprintln!("stella: warning: layer {layer}: {}: {}", d.path, d.message),
            None => eprintln!("stella: warning: {}: {}", d.path, d.message),
        }
    }
}

/// `error` and the causes behind it that its own message does not already say ("connection refused"
/// under "error sending request"), joined with `: `.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

/// Writes to stdout, or atomically to a file (temporary file in the same directory, then rename), so a
/// failed run never leaves a half-written SBOM behind.
/// Whether `path` names a character or block device, a FIFO or a socket: something an output must be
/// written into, never replaced.
pub(crate) fn is_device_or_pipe(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        std::fs::metadata(path).is_ok_and(|m| {
            let t = m.file_type();
            t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket()
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

pub(crate) fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<(), Failure> {
    let Some(path) = path else {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Failure::new(exit::OUTPUT, format!("cannot write to stdout: {e}")));
    };
    let fail = |e: std::io::Error| Failure::new(exit::OUTPUT, format!("{}: {e}", path.display()));
    if is_device_or_pipe(path) {
        // `/dev/null`, `/dev/stdout`, a FIFO: written in place. Renaming a temporary file over it
        // would replace the device with a regular file (as root, for everyone).
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
            .map_err(fail);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    // Temporary files are created 0600; an SBOM is an ordinary, shareable output.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(fail)?;
    }
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    /// An output that is a FIFO (like `/dev/null` or `/dev/stdout`, a special file) is written into,
    /// not replaced by a renamed temporary file.
    #[cfg(unix)]
    #[test]
    fn outputs_to_a_pipe_are_written_in_place() {
        use std::io::Read as _;
        use std::os::unix::fs::FileTypeExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("out.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        assert!(super::is_device_or_pipe(&fifo));
        assert!(!super::is_device_or_pipe(dir.path()));
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                std::fs::File::open(&fifo)
                    .and_then(|mut f| f.read_to_end(&mut got))
                    .expect("read the fifo");
                got
            })
        };
        assert!(super::write_output(Some(&fifo), b"sbom\n").is_ok());
        assert_eq!(reader.join().expect("reader"), b"sbom\n");
        let t = std::fs::metadata(&fifo).expect("still there").file_type();
        assert!(t.is_fifo(), "the FIFO was replaced");
        // A regular file is still replaced atomically.
        let file = dir.path().join("sbom.json");
        std::fs::write(&file, b"old").expect("write");
        assert!(super::write_output(Some(&file), b"new").is_ok());
        assert_eq!(std::fs::read(&file).expect("read"), b"new");
    }
}
