//! The crate's one error type. Every variant names what failed (a reference, a path, a digest, a URL)
//! and, where there is one, says how to fix it.

use std::path::PathBuf;

/// Why a source could not be parsed or resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source string was empty or used an unknown form.
    #[error("invalid image source '{input}': {reason}")]
    InvalidSource {
        /// What the user typed.
        input: String,
        /// Why it was rejected and what to write instead.
        reason: String,
    },
    /// A registry reference did not follow the docker reference grammar.
    #[error("invalid image reference '{input}': {reason}")]
    InvalidReference {
        /// The reference as given.
        input: String,
        /// Which rule it broke.
        reason: String,
    },
    /// A platform string was not `os/arch[/variant]`.
    #[error("invalid platform '{input}': {reason} (expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8)")]
    InvalidPlatform {
        /// The platform as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A digest string was malformed or used an unsupported algorithm.
    #[error("invalid digest '{digest}': {reason}")]
    InvalidDigest {
        /// The digest as given.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Directory and single-layer sources have no manifest or config to resolve.
    #[error("{source_name} is not an image (a directory or layer tarball is scanned directly, not resolved)")]
    NotAnImage {
        /// The source, as displayed.
        source_name: String,
    },
    /// A local file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A directory lacks `oci-layout` or `index.json`.
    #[error("{location} is not an OCI image layout: {reason}")]
    NotOciLayout {
        /// `oci:DIR` or `oci-archive:FILE`.
        location: String,
        /// What is missing.
        reason: String,
    },
    /// The requested tag or reference is not in the layout or archive.
    #[error(
        "{kind} '{wanted}' not found in {location}; available: {}",
        list_or_none(available)
    )]
    NotFound {
        /// `tag` or `reference`.
        kind: &'static str,
        /// What was asked for.
        wanted: String,
        /// Where it was looked for.
        location: String,
        /// What is there instead.
        available: Vec<String>,
    },
    /// More than one image and nothing said which.
    #[error("{location} holds {} images; name one, e.g. {hint} (available: {})", available.len(), list_or_none(available))]
    Ambiguous {
        /// Where.
        location: String,
        /// The images that are there.
        available: Vec<String>,
        /// An example of how to name one.
        hint: String,
    },
    /// No manifest in an index matches the wanted platform.
    #[error("no image for platform {wanted} in {location}; available platforms: {} (choose one with --platform)", list_or_none(available))]
    NoMatchingPlatform {
        /// The platform asked for (or the host default).
        wanted: String,
        /// The index that was searched.
        location: String,
        /// Platforms the index offers.
        available: Vec<String>,
    },
    /// Content did not hash to the digest it was addressed by.
    #[error("digest mismatch for {what} from {location}: expected {expected}, got {actual} (the content is corrupt or was tampered with)")]
    DigestMismatch {
        /// `manifest`, `config`, `index`, `layer`, …
        what: String,
        /// Where it was read from.
        location: String,
        /// The digest it was addressed by.
        expected: String,
        /// The digest of what was read.
        actual: String,
    },
    /// Content length differs from the descriptor's size.
    #[error("size mismatch for {what} {digest} from {location}: descriptor says {expected} bytes, found {actual}")]
    SizeMismatch {
        /// `manifest`, `config`, `layer`, …
        what: String,
        /// Its digest.
        digest: String,
        /// Where it was read from.
        location: String,
        /// Bytes the descriptor declares.
        expected: u64,
        /// Bytes actually there.
        actual: u64,
    },
    /// A manifest, index or config exceeded its size limit.
    #[error("{what} from {location} is larger than the {limit}-byte limit; refusing to read it")]
    TooLarge {
        /// What was being read.
        what: String,
        /// Where from.
        location: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A blob named by a manifest is missing.
    #[error("blob {digest} ({what}) is missing from {location}")]
    MissingBlob {
        /// `config`, `layer`, `manifest`.
        what: String,
        /// Its digest.
        digest: String,
        /// The layout or archive.
        location: String,
    },
    /// Another process holds an OCI layout's lock for longer than we wait.
    #[error("{} is locked by another process ({holder}) and stayed locked for {waited_secs}s; if no stella process is writing to the layout, delete the lock file", lock.display())]
    LayoutLocked {
        /// The lock file (`index.json.lock`).
        lock: PathBuf,
        /// What the lock file says about its holder.
        holder: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// A file named by `manifest.json` (docker archive) is not in the archive.
    #[error("{archive} has no member '{member}' (named by manifest.json)")]
    MissingMember {
        /// The archive, displayed.
        archive: String,
        /// The member path.
        member: String,
    },
    /// JSON or another structure could not be understood.
    #[error("malformed {what} in {location}: {reason}")]
    Malformed {
        /// `index.json`, `manifest`, `config`, …
        what: String,
        /// Where from.
        location: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A manifest or index media type we do not handle (schema 1, artifacts, …).
    #[error("unsupported media type '{media_type}' for {what} in {location}{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnsupportedMediaType {
        /// The media type.
        media_type: String,
        /// What carried it.
        what: String,
        /// Where.
        location: String,
        /// What to do about it, when we know.
        hint: Option<String>,
    },
    /// `insecure` asked for plain HTTP to a host that is not loopback.
    #[error("refusing plain HTTP to registry '{registry}': --insecure is only allowed for loopback hosts (localhost, 127.0.0.0/8, ::1); use HTTPS")]
    InsecureNotAllowed {
        /// The registry host.
        registry: String,
    },
    /// Credentials would be sent in clear text to a non-loopback host.
    #[error("refusing to send credentials over plain HTTP to {url}")]
    CleartextCredentials {
        /// The URL.
        url: String,
    },
    /// The registry could not be reached or the connection failed.
    #[error("request to {url} failed: {source}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Http {
        /// The URL.
        url: String,
        /// What to try, when we can guess.
        hint: Option<&'static str>,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an unexpected status.
    #[error("{url} answered HTTP {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The registry's error message, trimmed.
        detail: Option<String>,
    },
    /// The manifest (tag or digest) does not exist.
    #[error("manifest '{reference}' not found in {repository} (check the tag or digest)")]
    ManifestNotFound {
        /// Tag or digest.
        reference: String,
        /// `registry/repository`.
        repository: String,
    },
    /// Authentication failed or was refused.
    #[error("authentication to {registry} failed: {detail}")]
    Auth {
        /// The registry host.
        registry: String,
        /// What happened and what to check.
        detail: String,
    },
    /// The docker config file could not be read or parsed.
    #[error("docker config {}: {reason}", path.display())]
    DockerConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A background task failed (panicked or was cancelled).
    #[error("internal task failed: {0}")]
    Task(String),
    /// Our descriptor kept disappearing from the `sha256-<hex>` fallback index (concurrent writers that
    /// overwrite it, or a registry that loses writes). The referrer manifest itself was pushed.
    #[error("the referrers fallback index {repository}:{tag} does not keep {digest} after {attempts} read-modify-write attempts (another client keeps overwriting the tag, or the registry loses writes); the referrer manifest itself was pushed, try again")]
    FallbackIndexLost {
        /// `registry/repository`.
        repository: String,
        /// `sha256-<hex>`.
        tag: String,
        /// The referrer manifest's digest.
        digest: String,
        /// Rounds tried.
        attempts: u32,
    },
    /// A docker credential helper could not be run or answered something we do not understand.
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    CredentialHelper {
        /// The helper's name (`desktop`, `ecr-login`, …).
        helper: String,
        /// The registry asked for.
        registry: String,
        /// What went wrong.
        reason: String,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

impl SourceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SourceError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(what: &str, location: &str, reason: impl ToString) -> Self {
        SourceError::Malformed {
            what: what.to_owned(),
            location: location.to_owned(),
            reason: reason.to_string(),
        }
    }
}
