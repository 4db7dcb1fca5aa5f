//! Where referrers are pushed to and discovered from: an OCI image layout on disk (`oci:DIR[:TAG]`)
//! or an image in a registry (a reference, `docker://` optional). [`Target::parse`] reads what a user
//! types; [`push`], [`list`] and [`fetch`] dispatch to [`crate::layout_target`] or the registry client.
//!
//! Also the SBOM-specific pieces every front end needs: which artifact type a document is
//! ([`SbomKind::sniff`]), the artifact with its creation time taken from the input, never the clock
//! ([`sbom_artifact`]), and which of several SBOMs is the newest ([`newest`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), registry::SourceError> {
//! use registry::target::{self, Target};
//! let target = Target::parse("oci:./layout:app")?;
//! let opts = registry::PushOptions {
//!     insecure: false,
//!     docker_config: None,
//!     mount_from: None,
//!     platform: None,
//! };
//! for r in target::list(&target, Some(registry::referrers::ARTIFACT_CYCLONEDX), &opts).await? {
//!     let (_manifest, _media_type, _sbom) = target::fetch(&target, &r, &opts).await?;
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde_json::Value;

use crate::copy::Endpoint;
use crate::error::SourceError;
use crate::layout_target;
use crate::reference::Reference;
use crate::referrers::{
    Artifact, Descriptor, InTotoLayer, Referrer, ANNOTATION_CREATED,
    ANNOTATION_IN_TOTO_PREDICATE_TYPE, ARTIFACT_CYCLONEDX, ARTIFACT_IN_TOTO, ARTIFACT_SPDX,
    MAX_ARTIFACT_BYTES,
};
use crate::source::Source;
use crate::timestamp::{format_rfc3339, parse_rfc3339};
use crate::{PushOptions, PushedReferrer};

/// A place referrers can be pushed to and discovered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An OCI image layout directory and the tag naming the image in it.
    Layout {
        /// The layout directory.
        path: PathBuf,
        /// Matched against `org.opencontainers.image.ref.name`; `None` when the layout has one image.
        tag: Option<String>,
    },
    /// An image in a registry.
    Remote(Reference),
}

impl Target {
    /// Parses `oci:DIR[:TAG]`, a directory holding an OCI layout, or a registry reference (with or
    /// without `docker://`). Archives and root file systems cannot hold referrers and are refused.
    pub fn parse(s: &str) -> Result<Target, SourceError> {
        match Source::parse(s)? {
            Source::OciLayout { path, tag } => Ok(Target::Layout { path, tag }),
            Source::Remote(r) => Ok(Target::Remote(r)),
            Source::Dir(path) if path.join("oci-layout").is_file() => {
                Ok(Target::Layout { path, tag: None })
            }
            other => Err(SourceError::InvalidSource {
                input: s.to_owned(),
                reason: format!(
                    "{other} cannot hold referrers; name an OCI layout (oci:DIR[:TAG]) or an image in \
                     a registry (HOST/REPO[:TAG|@DIGEST])"
                ),
            }),
        }
    }

    /// True for a registry.
    pub fn is_remote(&self) -> bool {
        matches!(self, Target::Remote(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Layout { path, tag } => match tag {
                Some(t) => write!(f, "oci:{}:{t}", path.display()),
                None => write!(f, "oci:{}", path.display()),
            },
            Target::Remote(r) => write!(f, "{r}"),
        }
    }
}

/// Pushes `artifact` as a referrer of the target image: of its manifest, or of each platform manifest
/// of a multi-platform image (only `opts.platform`'s when set). Layouts ignore the network options.
pub async fn push(
    target: &Target,
    artifact: &Artifact,
    opts: &PushOptions,
) -> Result<Vec<PushedReferrer>, SourceError> {
    match target {
        Target::Remote(r) => crate::push_referrer(r, artifact, opts).await,
        Target::Layout { path, tag } => {
            let (path, tag, artifact, platform) = (
                path.clone(),
                tag.clone(),
                artifact.clone(),
                opts.platform.clone(),
            );
            blocking(move || {
                layout_target::push_referrer_layout(
                    &path,
                    tag.as_deref(),
                    &artifact,
                    platform.as_ref(),
                )
            })
            .await
        }
    }
}

/// The manifests [`push`] would attach a referrer to, found without pushing: the image manifest, or
/// the platform manifests of a multi-platform image (only `opts.platform`'s when set). A signer reads
/// them first to learn the digests its statement must name.
pub async fn subjects(target: &Target, opts: &PushOptions) -> Result<Vec<Descriptor>, SourceError> {
    match target {
        Target::Remote(r) => crate::referrer_subjects(r, opts).await,
        Target::Layout { path, tag } => {
            let (path, tag, platform) = (path.clone(), tag.clone(), opts.platform.clone());
            blocking(move || {
                layout_target::referrer_subjects_layout(&path, tag.as_deref(), platform.as_ref())
            })
            .await
        }
    }
}

/// Lists the referrers of the target image (and, for a multi-platform image, of its platform
/// manifests; only `opts.platform`'s when set), filtered by `artifact_type`.
pub async fn list(
    target: &Target,
    artifact_type: Option<&str>,
    opts: &PushOptions,
) -> Result<Vec<Referrer>, SourceError> {
    match target {
        Target::Remote(r) => crate::list_referrers(r, artifact_type, opts).await,
        Target::Layout { path, tag } => {
            let (path, tag, artifact_type, platform) = (
                path.clone(),
                tag.clone(),
                artifact_type.map(str::to_owned),
                opts.platform.clone(),
            );
            blocking(move || match &platform {
                Some(p) => layout_target::list_referrers_layout_for_platform(
                    &path,
                    tag.as_deref(),
                    p,
                    artifact_type.as_deref(),
                ),
                None => layout_target::list_referrers_layout(
                    &path,
                    tag.as_deref(),
                    artifact_type.as_deref(),
                ),
            })
            .await
        }
    }
}

/// Fetches a referrer [`list`] returned: its manifest, the media type of its artifact layer, and the
/// layer's bytes, all verified against their digests.
pub async fn fetch(
    target: &Target,
    referrer: &Referrer,
    opts: &PushOptions,
) -> Result<(Vec<u8>, String, Vec<u8>), SourceError> {
    match target {
        Target::Remote(r) => crate::fetch_referrer(r, referrer, opts).await,
        Target::Layout { path, .. } => {
            let (path, referrer) = (path.clone(), referrer.clone());
            blocking(move || layout_target::fetch_referrer_layout(&path, &referrer)).await
        }
    }
}

/// The manifest or image index `target` names, exactly as stored, verified against its digest (and,
/// for a reference pinned by digest, against that digest), with its descriptor (media type from the
/// document, else the registry's `Content-Type` or the layout's index entry, else by shape). No
/// platform is chosen: for a multi-platform image this is the index, to be handed to
/// [`crate::referrers::in_index_attestations`]. `opts.platform` and `opts.mount_from` are unused.
pub async fn top_manifest(
    target: &Target,
    opts: &PushOptions,
) -> Result<(Vec<u8>, Descriptor), SourceError> {
    Endpoint::open(target, opts.insecure, opts.docker_config.as_deref(), false)?
        .top()
        .await
}

/// Every OCI 1.1 referrer of the one manifest `subject` (`sha256:…`) — not of an image's platform
/// manifests as [`list`] does, and without BuildKit in-index attestations (those are children of the
/// index: see [`crate::referrers::in_index_attestations`]).
///
/// At a registry: the referrers API (`GET /v2/<name>/referrers/<digest>`, all pages), else, when the
/// registry answers 404, the `sha256-<hex>` tag-schema fallback index (none there: an empty list). In a
/// layout: every manifest reachable from `index.json` whose `subject` is `subject`. The descriptors are
/// as the registry or index lists them (`artifactType`, annotations); they are not fetched — fetch
/// with [`fetch`] or [`top_manifest`] on `target` pinned to the digest, which verify.
pub async fn referrers_of(
    target: &Target,
    subject: &str,
    opts: &PushOptions,
) -> Result<Vec<Referrer>, SourceError> {
    Endpoint::open(target, opts.insecure, opts.docker_config.as_deref(), false)?
        .referrers_of(subject)
        .await
}

/// The in-toto statements of a BuildKit attestation manifest (a descriptor from
/// [`crate::referrers::in_index_attestations`]), read from the registry repository or layout `target`
/// names: the manifest is fetched and verified against the descriptor's digest and size, then every
/// layer with media type [`ARTIFACT_IN_TOTO`] is fetched (at most [`MAX_ARTIFACT_BYTES`] each) and
/// verified, in manifest order. Layers of other types are skipped; a manifest with no in-toto layer
/// gives an empty list. The predicate type is the layer's [`ANNOTATION_IN_TOTO_PREDICATE_TYPE`]
/// annotation — a hint: the statement itself is what a verifier must check.
pub async fn fetch_in_toto_layers(
    target: &Target,
    attestation_manifest: &Descriptor,
    opts: &PushOptions,
) -> Result<Vec<InTotoLayer>, SourceError> {
    let endpoint = Endpoint::open(target, opts.insecure, opts.docker_config.as_deref(), false)?;
    let bytes = endpoint.manifest(attestation_manifest).await?;
    let here = format!("{}@{}", endpoint.location(), attestation_manifest.digest);
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| SourceError::malformed("attestation manifest", &here, e))?;
    let layers: Vec<Descriptor> = match doc.get("layers") {
        Some(l) => serde_json::from_value(l.clone())
            .map_err(|e| SourceError::malformed("attestation manifest", &here, e))?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for layer in layers
        .into_iter()
        .filter(|l| l.media_type == ARTIFACT_IN_TOTO)
    {
        let statement = endpoint
            .small_blob(&layer, MAX_ARTIFACT_BYTES, "in-toto statement", false)
            .await?;
        out.push(InTotoLayer {
            predicate_type: layer
                .annotations
                .get(ANNOTATION_IN_TOTO_PREDICATE_TYPE)
                .cloned(),
            descriptor: layer,
            statement,
        });
    }
    Ok(out)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SourceError::Task(e.to_string()))?
}

/// The SBOM formats pushed as referrers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomKind {
    /// CycloneDX JSON.
    CycloneDx,
    /// SPDX JSON.
    Spdx,
}

impl SbomKind {
    /// The artifact type (and layer media type) of this kind.
    pub fn artifact_type(self) -> &'static str {
        match self {
            SbomKind::CycloneDx => ARTIFACT_CYCLONEDX,
            SbomKind::Spdx => ARTIFACT_SPDX,
        }
    }

    /// Tells the kind from the document: `"bomFormat": "CycloneDX"` or an `spdxVersion`.
    pub fn sniff(content: &[u8]) -> Option<SbomKind> {
        let doc: Value = serde_json::from_slice(content).ok()?;
        if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
            Some(SbomKind::CycloneDx)
        } else if doc.get("spdxVersion").is_some_and(Value::is_string) {
            Some(SbomKind::Spdx)
        } else {
            None
        }
    }
}

/// The artifact for an SBOM document: its kind (`kind`, else sniffed) and the
/// `org.opencontainers.image.created` annotation from `source_date_epoch`, else the document's own time
/// (CycloneDX `metadata.timestamp`, SPDX `creationInfo.created`), else none — never the clock, so the
/// same SBOM always gives the same referrer digest. `name` is how the document is shown in errors.
pub fn sbom_artifact(
    name: &str,
    content: Vec<u8>,
    kind: Option<SbomKind>,
    source_date_epoch: Option<i64>,
) -> Result<Artifact, SourceError> {
    if content.len() as u64 > MAX_ARTIFACT_BYTES {
        return Err(SourceError::TooLarge {
            what: "SBOM".to_owned(),
            location: name.to_owned(),
            limit: MAX_ARTIFACT_BYTES,
        });
    }
    let doc: Value = serde_json::from_slice(&content)
        .map_err(|e| SourceError::malformed("SBOM", name, format!("not JSON: {e}")))?;
    let kind = match kind.or_else(|| SbomKind::sniff(&content)) {
        Some(k) => k,
        None => {
            return Err(SourceError::malformed(
                "SBOM",
                name,
                "neither CycloneDX (bomFormat) nor SPDX (spdxVersion); say which with --type",
            ))
        }
    };
    let own_time = match kind {
        SbomKind::CycloneDx => doc.pointer("/metadata/timestamp"),
        SbomKind::Spdx => doc.pointer("/creationInfo/created"),
    }
    .and_then(Value::as_str)
    .filter(|t| parse_rfc3339(t).is_some());
    let created = source_date_epoch
        .map(format_rfc3339)
        .or(own_time.map(str::to_owned));
    let mut annotations = BTreeMap::new();
    if let Some(c) = created {
        annotations.insert(ANNOTATION_CREATED.to_owned(), c);
    }
    Ok(Artifact {
        artifact_type: kind.artifact_type().to_owned(),
        content,
        annotations,
    })
}

/// The newest referrer by its `org.opencontainers.image.created` annotation (missing or unparsable
/// counts as oldest); among equally new ones, the smallest digest, so the choice never depends on
/// listing order.
pub fn newest(referrers: &[Referrer]) -> Option<&Referrer> {
    referrers.iter().max_by(|a, b| {
        let created = |r: &Referrer| {
            r.descriptor
                .annotations
                .get(ANNOTATION_CREATED)
                .and_then(|c| parse_rfc3339(c))
        };
        created(a)
            .cmp(&created(b))
            .then_with(|| b.descriptor.digest.cmp(&a.descriptor.digest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::referrers::Discovery;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Target::parse("oci:/x:app").unwrap(),
            Target::Layout {
                path: "/x".into(),
                tag: Some("app".to_owned())
            }
        );
        assert!(Target::parse("127.0.0.1:5000/a/b:1").unwrap().is_remote());
        let e = Target::parse("docker-archive:/x.tar")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot hold referrers"), "{e}");
    }

    #[test]
    fn sniffs_and_dates_sboms() {
        let cdx = br#"{"bomFormat":"CycloneDX","metadata":{"timestamp":"2024-05-01T12:00:00Z"}}"#;
        let spdx =
            br#"{"spdxVersion":"SPDX-2.3","creationInfo":{"created":"2023-01-02T03:04:05Z"}}"#;
        assert_eq!(SbomKind::sniff(cdx), Some(SbomKind::CycloneDx));
        assert_eq!(SbomKind::sniff(spdx), Some(SbomKind::Spdx));
        assert_eq!(SbomKind::sniff(b"{}"), None);
        let a = sbom_artifact("f", cdx.to_vec(), None, None).unwrap();
        assert_eq!(a.artifact_type, ARTIFACT_CYCLONEDX);
        assert_eq!(a.annotations[ANNOTATION_CREATED], "2024-05-01T12:00:00Z");
        let a = sbom_artifact("f", spdx.to_vec(), None, Some(0)).unwrap();
        assert_eq!(a.artifact_type, ARTIFACT_SPDX);
        assert_eq!(a.annotations[ANNOTATION_CREATED], "1970-01-01T00:00:00Z");
        let a = sbom_artifact("f", br#"{"bomFormat":"CycloneDX"}"#.to_vec(), None, None).unwrap();
        assert!(
            a.annotations.is_empty(),
            "no time in the input, none invented"
        );
        let e = sbom_artifact("f.json", b"{}".to_vec(), None, None).unwrap_err();
        assert!(e.to_string().contains("--type") && e.to_string().contains("f.json"));
        assert!(sbom_artifact("f", b"<xml/>".to_vec(), None, None).is_err());
    }

    #[test]
    fn newest_is_by_created_then_smallest_digest() {
        let r = |digest: &str, created: Option<&str>| {
            let mut d = Descriptor::of("m", b"");
            d.digest = digest.to_owned();
            if let Some(c) = created {
                d.annotations
                    .insert(ANNOTATION_CREATED.to_owned(), c.to_owned());
            }
            Referrer {
                subject: "s".to_owned(),
                descriptor: d,
                discovery: Discovery::Layout,
            }
        };
        let list = vec![
            r("sha256:c", Some("2024-01-01T00:00:00Z")),
            r("sha256:b", Some("2024-01-01T02:00:00+02:00")),
            r("sha256:a", None),
            r("sha256:d", Some("2023-12-31T23:00:00Z")),
        ];
        assert_eq!(newest(&list).unwrap().descriptor.digest, "sha256:b");
        assert!(newest(&[]).is_none());
    }
}
