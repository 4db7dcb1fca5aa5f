//! The BuildKit SBOM generator protocol (DESIGN.md §4, BuildKit's `docs/attestations/sbom-protocol.md`).
//!
//! BuildKit runs the generator image's `Entrypoint` + `Cmd` with the final stage's rootfs mounted
//! read-only at `BUILDKIT_SCAN_SOURCE` (`/run/src/core/sbom`), an empty writable
//! `BUILDKIT_SCAN_DESTINATION` (`/run/out/`), and — only when the build asked for extra targets
//! (`BUILDKIT_SBOM_SCAN_CONTEXT`, `BUILDKIT_SBOM_SCAN_STAGE`) — `BUILDKIT_SCAN_SOURCE_EXTRAS`
//! (`/run/src/extras`) holding one read-only rootfs per target, named `sbom-<name>`. Every extra
//! `--attest type=sbom,KEY=VALUE` arrives as `BUILDKIT_SCAN_KEY=VALUE`, the key's case kept.
//!
//! For each target we write one in-toto Statement (`predicateType` exactly
//! `https://spdx.dev/Document`, `subject` empty: BuildKit fills it) whose predicate is the SPDX 2.3
//! document scanner-core renders: the core to `sbom.spdx.json`, an extra `sbom-<name>` to
//! `sbom-<name>.spdx.json`. BuildKit's unbundler reads each file in the destination as exactly one
//! JSON object and sorts the one whose name (up to the first dot) is `sbom` first.
//!
//! Parameters (`BUILDKIT_SCAN_<KEY>`, keys matched without regard to case; unknown keys are ignored):
//! - `mode=compact|full` — compact (default) lists every package but no files; full adds every
//!   package-owned file with its SHA-1/SHA-256 and each package's verification code. A full document
//!   over BuildKit's 40 MiB cap is written compact instead, with a diagnostic.
//! - `view=inventory|usage` — everything installed (default), or only what the entrypoint uses;
//!   `usage` needs `entrypoint`, since BuildKit does not give a generator the image config.
//! - `entrypoint=<JSON array or words>` — the image's entrypoint + cmd, for EntryTrace.
//!
//! Layer attribution: BuildKit mounts a flattened rootfs, so packages carry no layer here (the
//! frontend, which sees the base image, attributes the base's packages).
//!
//! A target that cannot be scanned or written gets a diagnostic and the others are still written;
//! [`Outcome::success`] is false only when nothing could be written. Files are written to a temporary
//! name in the destination and renamed, so a reader never sees half a statement. Nothing here uses
//! the network; the sources are only read.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use scanner_core::dirfs::DirFs;
use scanner_core::entrytrace::ImageConfig;
use scanner_core::fs::FsView;
use scanner_core::layer::Limits;
use scanner_core::model::{Inventory, ScanReport, SourceKind, Subject, Tool};
use scanner_core::sbom::spdx::{to_spdx_json_with, FileDigests, SpdxOptions};

/// The in-toto Statement `_type` we write.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The only predicate type BuildKit accepts from an SPDX generator.
pub const PREDICATE_TYPE: &str = "https://spdx.dev/Document";
/// BuildKit's cap on one attestation file.
pub const MAX_STATEMENT_BYTES: usize = 40 << 20;
/// BuildKit's name for the core target (the final stage).
pub const CORE_NAME: &str = "sbom";
/// The prefix BuildKit gives each extra target's directory.
pub const EXTRA_PREFIX: &str = "sbom-";

const ENV_SOURCE: &str = "BUILDKIT_SCAN_SOURCE";
const ENV_DESTINATION: &str = "BUILDKIT_SCAN_DESTINATION";
const ENV_EXTRAS: &str = "BUILDKIT_SCAN_SOURCE_EXTRAS";
const ENV_PREFIX: &str = "BUILDKIT_SCAN_";

/// How much of the file system a document lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every package, no files: stays under the 40 MiB cap for large images.
    #[default]
    Compact,
    /// Every package and every file a package owns, with digests.
    Full,
}

/// Which packages a document lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Everything installed.
    #[default]
    Inventory,
    /// Only what the entrypoint uses (needs `entrypoint`).
    Usage,
}

/// The generator's configuration, read from BuildKit's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The core target's rootfs (`BUILDKIT_SCAN_SOURCE`).
    pub source: PathBuf,
    /// Where statements go (`BUILDKIT_SCAN_DESTINATION`).
    pub destination: PathBuf,
    /// The directory of extra targets, when BuildKit set a non-empty `BUILDKIT_SCAN_SOURCE_EXTRAS`.
    pub extras: Option<PathBuf>,
    /// `mode`.
    pub mode: Mode,
    /// `view`.
    pub view: View,
    /// `entrypoint`, as an image config.
    pub entrypoint: Option<ImageConfig>,
    /// `SOURCE_DATE_EPOCH` from the environment: the document time (else 0, never the clock).
    pub source_date_epoch: Option<i64>,
    /// Parameter keys we do not know, as given (ignored, as the protocol asks).
    pub ignored: Vec<String>,
    /// The largest statement written: [`MAX_STATEMENT_BYTES`], BuildKit's cap.
    pub max_statement_bytes: usize,
}

/// Why the environment is not a usable generator invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable BuildKit always sets is missing.
    #[error(
        "{0} is not set: this is a BuildKit SBOM generator; run it with \
         `docker buildx build --attest type=sbom,generator=<this image>`"
    )]
    Missing(&'static str),
    /// A variable is not valid UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUtf8(String),
    /// A known parameter has a value we cannot use.
    #[error("BUILDKIT_SCAN_{key}={value:?}: {why}")]
    BadValue {
        /// The key as given.
        key: String,
        /// The value as given.
        value: String,
        /// What would be accepted.
        why: &'static str,
    },
}

impl Config {
    /// Reads the configuration from environment variables (`std::env::vars_os()` in the binary).
    pub fn from_env<I: IntoIterator<Item = (OsString, OsString)>>(
        vars: I,
    ) -> Result<Config, ConfigError> {
        let mut source = None;
        let mut destination = None;
        let mut extras = None;
        let mut params: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut source_date_epoch = None;
        for (k, v) in vars {
            let Some(k) = k.to_str() else { continue };
            let is_ours = k.starts_with(ENV_PREFIX) || k == "SOURCE_DATE_EPOCH";
            if !is_ours {
                continue;
            }
            let v = v
                .into_string()
                .map_err(|_| ConfigError::NotUtf8(k.to_owned()))?;
            match k {
                ENV_SOURCE => source = Some(v),
                ENV_DESTINATION => destination = Some(v),
                ENV_EXTRAS => extras = Some(v),
                "SOURCE_DATE_EPOCH" => {
                    if !v.trim().is_empty() {
                        source_date_epoch =
                            Some(v.trim().parse::<i64>().map_err(|_| ConfigError::BadValue {
                                key: "SOURCE_DATE_EPOCH".into(),
                                value: v.clone(),
                                why: "a whole number of seconds",
                            })?);
                    }
                }
                _ => {
                    let key = &k[ENV_PREFIX.len()..];
                    params.insert(key.to_ascii_lowercase(), (key.to_owned(), v));
                }
            }
        }
        let source = source
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::Missing(ENV_SOURCE))?;
        let destination = destination
            .filter(|s| !s.is_empty())
            .ok_or(ConfigError::Missing(ENV_DESTINATION))?;

        let bad = |(key, value): &(String, String), why| ConfigError::BadValue {
            key: key.clone(),
            value: value.clone(),
            why,
        };
        let mut mode = Mode::default();
        let mut view = View::default();
        let mut entrypoint = None;
        let mut ignored = Vec::new();
        for (lower, given) in &params {
            let value = given.1.trim();
            match lower.as_str() {
                "mode" => {
                    mode = match value.to_ascii_lowercase().as_str() {
                        "compact" | "" => Mode::Compact,
                        "full" => Mode::Full,
                        _ => return Err(bad(given, "mode is compact or full")),
                    }
                }
                "view" => {
                    view = match value.to_ascii_lowercase().as_str() {
                        "inventory" | "" => View::Inventory,
                        "usage" => View::Usage,
                        _ => return Err(bad(given, "view is inventory or usage")),
                    }
                }
                "entrypoint" => {
                    entrypoint = Some(parse_entrypoint(value).ok_or_else(|| {
                        bad(
                            given,
                            "entrypoint is a JSON array of strings or words separated by spaces",
                        )
                    })?)
                }
                _ => ignored.push(given.0.clone()),
            }
        }
        if view == View::Usage && entrypoint.is_none() {
            return Err(ConfigError::BadValue {
                key: params
                    .get("view")
                    .map_or_else(|| "view".to_owned(), |g| g.0.clone()),
                value: "usage".into(),
                why: "view=usage needs entrypoint=<the image's entrypoint and cmd>, since \
                      BuildKit does not give a generator the image config",
            });
        }
        Ok(Config {
            source: PathBuf::from(source),
            destination: PathBuf::from(destination),
            extras: extras.filter(|s| !s.is_empty()).map(PathBuf::from),
            mode,
            view,
            entrypoint,
            source_date_epoch,
            ignored,
            max_statement_bytes: MAX_STATEMENT_BYTES,
        })
    }
}

/// `["/app/run","--port","80"]` or `/app/run --port 80`; `None` for an empty command or bad JSON.
fn parse_entrypoint(value: &str) -> Option<ImageConfig> {
    let argv: Vec<String> = if value.starts_with('[') {
        serde_json::from_str(value).ok()?
    } else {
        value.split_whitespace().map(str::to_owned).collect()
    };
    if argv.is_empty() {
        return None;
    }
    Some(ImageConfig {
        entrypoint: argv,
        ..ImageConfig::default()
    })
}

/// One rootfs to scan and the file its statement goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `sbom` for the core, the directory name (`sbom-build`) for an extra.
    pub name: String,
    /// The read-only rootfs.
    pub root: PathBuf,
}

impl Target {
    /// The output file name: `<name>.spdx.json`.
    pub fn file_name(&self) -> String {
        format!("{}.spdx.json", self.name)
    }
}

/// A target that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The target's name (or the extras directory for a listing failure).
    pub target: String,
    /// What went wrong.
    pub why: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.target, self.why)
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Files written, in order.
    pub written: Vec<PathBuf>,
    /// Targets not written.
    pub failures: Vec<Failure>,
    /// Things the user should know that did not stop a target (a full document written compact, a
    /// scan diagnostic count, ignored parameters).
    pub warnings: Vec<String>,
}

impl Outcome {
    /// True when at least one statement was written (the protocol's success).
    pub fn success(&self) -> bool {
        !self.written.is_empty()
    }
}

/// The targets BuildKit laid out: the core, then every `sbom-*` directory under the extras
/// directory, sorted by name. A missing or unreadable extras directory means no extras (with a
/// warning when it is set but absent); entries that are not directories are ignored.
pub fn targets(config: &Config, warnings: &mut Vec<String>) -> Vec<Target> {
    let mut out = vec![Target {
        name: CORE_NAME.to_owned(),
        root: config.source.clone(),
    }];
    let Some(dir) = &config.extras else {
        return out;
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            warnings.push(format!(
                "{ENV_EXTRAS}={}: {e}; scanning no extra targets",
                dir.display()
            ));
            return out;
        }
    };
    let mut extras: Vec<Target> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| {
            let ok = name.starts_with(EXTRA_PREFIX) && name.len() > EXTRA_PREFIX.len();
            if !ok {
                warnings.push(format!(
                    "{}: not an sbom-<name> directory; ignored",
                    dir.join(name).display()
                ));
            }
            ok
        })
        .map(|name| Target {
            root: dir.join(&name),
            name,
        })
        .collect();
    extras.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(extras);
    out
}

/// Runs the protocol: scans every target and writes its statement.
pub fn run(config: &Config) -> Outcome {
    let mut outcome = Outcome::default();
    for key in &config.ignored {
        outcome
            .warnings
            .push(format!("{ENV_PREFIX}{key}: unknown parameter, ignored"));
    }
    if !config.destination.is_dir() {
        outcome.failures.push(Failure {
            target: config.destination.display().to_string(),
            why: format!("{ENV_DESTINATION} is not a directory"),
        });
        return outcome;
    }
    for target in targets(config, &mut outcome.warnings) {
        match document(config, &target, &mut outcome.warnings) {
            Ok(spdx) => {
                let path = config.destination.join(target.file_name());
                match write_atomic(&path, &statement(&spdx)) {
                    Ok(()) => outcome.written.push(path),
                    Err(e) => outcome.failures.push(Failure {
                        target: target.name,
                        why: format!("cannot write {}: {e}", path.display()),
                    }),
                }
            }
            Err(why) => outcome.failures.push(Failure {
                target: target.name,
                why,
            }),
        }
    }
    outcome
}

/// The SPDX document for one target, under the cap.
fn document(
    config: &Config,
    target: &Target,
    warnings: &mut Vec<String>,
) -> Result<Vec<u8>, String> {
    match std::fs::metadata(&target.root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", target.root.display())),
        Err(e) => return Err(format!("{}: {e}", target.root.display())),
    }
    let fs = DirFs::new(target.root.clone(), Limits::default());
    let inventory = scanner_core::scan::scan_dir_with(&fs, config.entrypoint.as_ref());
    if !inventory.diagnostics.is_empty() {
        warnings.push(format!(
            "{}: {} scan diagnostics (recorded in the document's packages where they apply)",
            target.name,
            inventory.diagnostics.len()
        ));
    }
    let inventory = match config.view {
        View::Inventory => inventory,
        View::Usage => scanner_core::usage::usage_view(&inventory),
    };
    let digests = match config.mode {
        Mode::Compact => None,
        Mode::Full => Some(owned_file_digests(&fs, &inventory)),
    };
    let report = report(config, target, inventory);
    let options = SpdxOptions {
        files: digests.as_ref(),
    };
    let cap = config.max_statement_bytes;
    let spdx = to_spdx_json_with(&report, &options);
    if statement_len(&spdx) <= cap {
        return Ok(spdx);
    }
    if config.mode == Mode::Full {
        warnings.push(format!(
            "{}: the full statement is {} bytes, over the {cap}-byte cap; writing it compact \
             (no per-file entries)",
            target.name,
            statement_len(&spdx)
        ));
        let compact = to_spdx_json_with(&report, &SpdxOptions::default());
        if statement_len(&compact) <= cap {
            return Ok(compact);
        }
    }
    Err(format!(
        "the statement is over the {cap}-byte cap even compact ({} packages); not written, \
         since BuildKit would reject it",
        report.inventory.packages.len()
    ))
}

fn report(config: &Config, target: &Target, inventory: Inventory) -> ScanReport {
    ScanReport {
        subject: Subject::new(SourceKind::Directory, target.name.clone()),
        inventory,
        created: config.source_date_epoch.unwrap_or(0),
        tool: Tool {
            name: "stella-generator".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
    }
}

/// SHA-1 and SHA-256 of every regular file a package owns, read inside the root (symlinks in
/// the middle of a path are followed inside the root; a path that is itself a symlink is left out).
fn owned_file_digests(fs: &DirFs, inventory: &Inventory) -> BTreeMap<String, FileDigests> {
    let mut out = BTreeMap::new();
    for path in scanner_core::sbom::spdx::owned_paths(inventory) {
        let trimmed = path.trim_matches('/');
        let Some((parent, name)) = trimmed.rsplit_once('/').or(Some(("", trimmed))) else {
            continue;
        };
        let parent_real = if parent.is_empty() {
            String::new()
        } else {
            match fs.stat(parent) {
                Some(s) if s.is_dir => s.real.trim_matches('/').to_owned(),
                _ => continue,
            }
        };
        let candidate = if parent_real.is_empty() {
            name.to_owned()
        } else {
            format!("{parent_real}/{name}")
        };
        match fs.stat(&candidate) {
            Some(s) if s.is_file && s.real.trim_matches('/') == candidate => {}
            _ => continue,
        }
        let Ok(Some(bytes)) = fs.read(&candidate) else {
            continue;
        };
        out.insert(path.to_owned(), FileDigests::of(&bytes));
    }
    out
}

const STATEMENT_HEAD: &str = "{\n  \"_type\": \"https://in-toto.io/Statement/v1\",\n  \"subject\": [],\n  \"predicateType\": \"https://spdx.dev/Document\",\n  \"predicate\": ";

fn statement_len(spdx: &[u8]) -> usize {
    let body = spdx.trim_ascii_end();
    let newlines = body.iter().filter(|&&b| b == b'\n').count();
    STATEMENT_HEAD.len() + body.len() + 2 * newlines + 3
}

/// An in-toto Statement around an SPDX JSON document: `_type` [`STATEMENT_TYPE`], an empty
/// `subject` (BuildKit fills it), `predicateType` [`PREDICATE_TYPE`]. One JSON object, newline-ended,
/// pretty like the document.
pub fn statement(spdx: &[u8]) -> Vec<u8> {
    let body = spdx.trim_ascii_end();
    let mut out = Vec::with_capacity(statement_len(spdx));
    out.extend_from_slice(STATEMENT_HEAD.as_bytes());
    // Indented one level, as the predicate sits inside the statement. JSON strings hold no raw
    // newlines, so every newline is between tokens.
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n  ");
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"\n}\n");
    out
}

/// Writes to a temporary file next to `path`, then renames it into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".stella-generator-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    // Readable by whoever reads the destination (tempfile creates 0600).
    use std::os::unix::fs::PermissionsExt as _;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    const BASE: &[(&str, &str)] = &[
        ("BUILDKIT_SCAN_SOURCE", "/run/src/core/sbom"),
        ("BUILDKIT_SCAN_DESTINATION", "/run/out/"),
        ("PATH", "/usr/bin"),
    ];

    fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut v = BASE.to_vec();
        v.extend_from_slice(extra);
        Config::from_env(env(&v))
    }

    #[test]
    fn buildkit_defaults() {
        let c = with(&[]).unwrap();
        assert_eq!(c.source, PathBuf::from("/run/src/core/sbom"));
        assert_eq!(c.destination, PathBuf::from("/run/out/"));
        assert_eq!(c.extras, None);
        assert_eq!((c.mode, c.view), (Mode::Compact, View::Inventory));
        assert!(c.ignored.is_empty());
    }

    #[test]
    fn parameters_any_case_and_unknown_ignored() {
        let c = with(&[
            ("BUILDKIT_SCAN_SOURCE_EXTRAS", "/run/src/extras"),
            ("BUILDKIT_SCAN_mode", "full"),
            ("BUILDKIT_SCAN_VIEW", "usage"),
            ("BUILDKIT_SCAN_Entrypoint", r#"["/app/main.py"]"#),
            ("BUILDKIT_SCAN_frobnicate", "yes"),
        ])
        .unwrap();
        assert_eq!(c.extras, Some(PathBuf::from("/run/src/extras")));
        assert_eq!((c.mode, c.view), (Mode::Full, View::Usage));
        assert_eq!(
            c.entrypoint.unwrap().entrypoint,
            vec!["/app/main.py".to_owned()]
        );
        assert_eq!(c.ignored, vec!["frobnicate".to_owned()]);
        let c = with(&[("BUILDKIT_SCAN_SOURCE_EXTRAS", "")]).unwrap();
        assert_eq!(c.extras, None);
        let c = with(&[("BUILDKIT_SCAN_ENTRYPOINT", "python3 /app/main.py")]).unwrap();
        assert_eq!(c.entrypoint.unwrap().entrypoint.len(), 2);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = with(&[("BUILDKIT_SCAN_mode", "huge")]).unwrap_err();
        assert!(e.to_string().contains("BUILDKIT_SCAN_mode=\"huge\""), "{e}");
        let e = with(&[("BUILDKIT_SCAN_view", "usage")]).unwrap_err();
        assert!(e.to_string().contains("needs entrypoint"), "{e}");
        let e = with(&[("BUILDKIT_SCAN_entrypoint", "[1, 2]")]).unwrap_err();
        assert!(e.to_string().contains("JSON array"), "{e}");
        let e = with(&[("SOURCE_DATE_EPOCH", "yesterday")]).unwrap_err();
        assert!(e.to_string().contains("SOURCE_DATE_EPOCH"), "{e}");
        let e = Config::from_env(env(&[("BUILDKIT_SCAN_DESTINATION", "/run/out/")])).unwrap_err();
        assert_eq!(e, ConfigError::Missing("BUILDKIT_SCAN_SOURCE"));
    }

    #[test]
    fn statement_wraps_without_reparsing() {
        let s = statement(b"{\n  \"spdxVersion\": \"SPDX-2.3\"\n}\n");
        let v: serde_json::Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["_type"], STATEMENT_TYPE);
        assert_eq!(v["predicateType"], PREDICATE_TYPE);
        assert_eq!(v["subject"], serde_json::json!([]));
        assert_eq!(v["predicate"]["spdxVersion"], "SPDX-2.3");
        assert_eq!(
            s.len(),
            statement_len(b"{\n  \"spdxVersion\": \"SPDX-2.3\"\n}\n")
        );
        assert!(STATEMENT_HEAD.contains(STATEMENT_TYPE) && STATEMENT_HEAD.contains(PREDICATE_TYPE));
    }
}
