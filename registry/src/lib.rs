//! # registry — OCI image sources and the distribution client
//!
//! Resolves what a user names on the command line (`oci:DIR[:TAG]`, `docker-archive:FILE`,
//! `oci-archive:FILE`, `registry.example/repo:tag`, `docker://…`) into an image: a verified manifest, its
//! config, and where each layer blob can be read. Remote blobs are streamed to a scratch directory with
//! their digests checked on the way; nothing unverified is ever handed on.
//!
//! It also pushes and discovers SBOMs and attestations as OCI 1.1 referrers ([`push_referrer`],
//! [`list_referrers`], [`fetch_referrer`]), through the referrers API or the `sha256-<hex>` tag-schema
//! fallback, with docker credential helpers, retries honouring `Retry-After` and a per-registry
//! request budget. [`target`] dispatches between an OCI layout on disk ([`layout_target`], a full
//! referrers target with no registry) and a registry; the artifact manifest and discovery results are
//! in [`referrers`]. Whole images we assemble ourselves ([`upload::ImageUpload`]) are written into a
//! layout ([`layout_target::write_image_layout`]) or pushed ([`push_image`]). [`copy::copy`] copies an
//! image with all its referrers between registries and layouts, byte for byte (`stella cp`).
//!
//! For verifiers: [`target::top_manifest`] reads the image (index) as stored, [`target::referrers_of`]
//! lists every referrer of one digest (registry or layout), [`referrers::in_index_attestations`] finds
//! BuildKit's in-index attestation manifests of an index and [`target::fetch_in_toto_layers`] reads
//! their in-toto statements.
//!
//! What it does **not** do: read layer contents (the scanner streams [`LayerBlob`]s and verifies their
//! digests) or talk to a docker daemon. Directory and single-layer sources
//! ([`Source::Dir`], [`Source::Layer`]) are parsed here but scanned directly by the caller.
//!
//! Every index, manifest and config is checked against its digest and size before it is parsed; sizes are
//! bounded ([`MAX_MANIFEST_BYTES`], [`MAX_CONFIG_BYTES`]); plain HTTP is allowed only to loopback registries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), registry::SourceError> {
//! use registry::{resolve, ResolveOptions, Source};
//! let source = Source::parse("oci:./layout:app")?;
//! let image = resolve(&source, &ResolveOptions::new("/tmp/stella-blobs".into())).await?;
//! for layer in &image.layers {
//!     let registry::BlobLocation::File { path, offset, len } = &layer.location;
//!     let _ = (path, offset, len, &layer.digest, &layer.diff_id);
//! }
//! # Ok(()) }
//! ```

pub mod copy;
mod digest;
mod docker_archive;
mod error;
mod image;
mod layout;
pub mod layout_target;
mod platform;
mod reference;
pub mod referrers;
mod remote;
mod source;
pub mod target;
mod tarindex;
mod timestamp;
pub mod upload;

use std::path::PathBuf;

pub use digest::{Algorithm, Digest};
pub use error::SourceError;
pub use image::{
    BlobLocation, History, ImageConfig, LayerBlob, ResolvedImage, DOCKER_CONFIG, DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, OCI_CONFIG, OCI_INDEX,
    OCI_MANIFEST,
};
pub use platform::Platform;
pub use reference::{Reference, DOCKER_HUB};
pub use remote::auth::default_docker_config_path;
pub use remote::{
    fetch_referrer, list_referrers, push_blob_file, push_image, push_referrer, referrer_subjects,
    PushOptions, PushedReferrer,
};
pub use source::Source;

/// How to resolve a source.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// The platform to pick from multi-platform indexes; `None` means the host's (or the only one).
    pub platform: Option<Platform>,
    /// Plain HTTP to the registry. Refused unless the registry is loopback.
    pub insecure: bool,
    /// Where remote layers are downloaded (as `<hex>` files; reused when already there and intact).
    pub scratch_dir: PathBuf,
    /// Docker config with `auths`; `None` means `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`
    /// if it exists.
    pub docker_config: Option<PathBuf>,
}

impl ResolveOptions {
    /// Host platform, HTTPS, default docker config.
    pub fn new(scratch_dir: PathBuf) -> Self {
        ResolveOptions {
            platform: None,
            insecure: false,
            scratch_dir,
            docker_config: None,
        }
    }
}

/// Resolves an image source into a verified manifest, config and layer locations.
///
/// Local sources are read on a blocking thread; remote ones download every layer into
/// `opts.scratch_dir`. [`Source::Dir`] and [`Source::Layer`] give [`SourceError::NotAnImage`].
pub async fn resolve(source: &Source, opts: &ResolveOptions) -> Result<ResolvedImage, SourceError> {
    match source {
        Source::Remote(r) => remote::resolve(r, opts).await,
        local => {
            let (local, platform) = (local.clone(), opts.platform.clone());
            tokio::task::spawn_blocking(move || resolve_local(&local, platform.as_ref()))
                .await
                .map_err(|e| SourceError::Task(e.to_string()))?
        }
    }
}

/// Resolves a local image source (OCI layout, OCI archive, docker archive) synchronously.
pub fn resolve_local(
    source: &Source,
    platform: Option<&Platform>,
) -> Result<ResolvedImage, SourceError> {
    let location = source_location(source);
    let image = match source {
        Source::OciLayout { path, tag } => {
            let fallback = file_name(path);
            layout::resolve(
                &layout::Store::Dir(path),
                tag.as_deref(),
                platform,
                &location,
                &fallback,
            )
        }
        Source::OciArchive { path, tag } => {
            let index = tarindex::TarIndex::scan(path)?;
            let fallback = file_name(path);
            layout::resolve(
                &layout::Store::Tar(&index),
                tag.as_deref(),
                platform,
                &location,
                &fallback,
            )
        }
        Source::DockerArchive { path, reference } => {
            let index = tarindex::TarIndex::scan(path)?;
            docker_archive::resolve(&index, reference.as_deref(), &location)
        }
        Source::Remote(_) => Err(SourceError::InvalidSource {
            input: source.to_string(),
            reason: "a registry reference needs the network; use `resolve`".to_owned(),
        }),
        Source::Dir(_) | Source::Layer(_) => Err(SourceError::NotAnImage {
            source_name: source.to_string(),
        }),
    }?;
    image::check_config_platform(&image.config, platform, &location)?;
    Ok(image)
}

/// How a source is named in errors: the transport and path, without the tag.
fn source_location(source: &Source) -> String {
    match source {
        Source::OciLayout { path, .. } => format!("oci:{}", path.display()),
        Source::OciArchive { path, .. } => format!("oci-archive:{}", path.display()),
        Source::DockerArchive { path, .. } => format!("docker-archive:{}", path.display()),
        other => other.to_string(),
    }
}

fn file_name(path: &std::path::Path) -> String {
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    canon
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Entry points for the fuzz targets (`fuzz/`): the hand-written parsers of what registries send.
/// Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a `WWW-Authenticate` challenge; true when it yields one.
    pub fn www_authenticate(header: &str) -> bool {
        crate::remote::auth::parse_challenge(header).is_some()
    }

    /// Parses a referrers `Link` header against a fixed base URL; true when it yields a next page.
    pub fn link_header(header: &str) -> bool {
        reqwest::Url::parse("http://127.0.0.1:5000/v2/r/referrers/sha256:0")
            .ok()
            .and_then(|base| crate::remote::referrers::next_link(header, &base).ok())
            .flatten()
            .is_some()
    }
}
