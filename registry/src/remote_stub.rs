//! TEMPORARY stand-in for the registry side of issue 4 (`remote::push_referrer`, `list_referrers`,
//! `fetch_referrer`), with the agreed signatures, so the target dispatch and the CLI compile before the
//! real functions land. Every function says it is not available. Deleted when the real ones merge.

use std::path::PathBuf;

use crate::error::SourceError;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::referrers::{Artifact, Descriptor, Referrer};

/// How to talk to the registry when pushing or discovering referrers.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Plain HTTP (loopback registries only).
    pub insecure: bool,
    /// Docker config with `auths`; `None` means the default location.
    pub docker_config: Option<PathBuf>,
    /// A repository to mount blobs from.
    pub mount_from: Option<String>,
    /// Attach to (or discover for) this platform's manifest only.
    pub platform: Option<Platform>,
}

/// One referrer that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedReferrer {
    /// The manifest it refers to.
    pub subject: Descriptor,
    /// The referrer manifest.
    pub manifest: Descriptor,
    /// The `sha256-<hex>` fallback tag that was updated, if any.
    pub fallback_tag: Option<String>,
}

fn not_available(what: &str, reference: &Reference) -> SourceError {
    SourceError::Unsupported {
        what: format!("{what} for {reference}"),
        reason: "referrers in a registry are not available in this build yet; use an OCI layout \
                 (oci:DIR[:TAG])"
            .to_owned(),
    }
}

/// Pushes `artifact` as a referrer of the manifest `reference` names.
pub async fn push_referrer(
    reference: &Reference,
    _artifact: &Artifact,
    _opts: &PushOptions,
) -> Result<Vec<PushedReferrer>, SourceError> {
    Err(not_available("pushing a referrer", reference))
}

/// Lists the referrers of the manifest `reference` names.
pub async fn list_referrers(
    reference: &Reference,
    _artifact_type: Option<&str>,
    _opts: &PushOptions,
) -> Result<Vec<Referrer>, SourceError> {
    Err(not_available("listing referrers", reference))
}

/// Fetches a referrer's manifest and its (first) layer.
pub async fn fetch_referrer(
    reference: &Reference,
    _referrer: &Referrer,
    _opts: &PushOptions,
) -> Result<(Vec<u8>, String, Vec<u8>), SourceError> {
    Err(not_available("fetching a referrer", reference))
}
