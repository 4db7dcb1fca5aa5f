//! Referrers in a registry: pushing an SBOM or attestation as an OCI 1.1 referrer (with the
//! `sha256-<hex>` tag-schema fallback index when the registry has no referrers API), discovering them
//! (the referrers API with `Link` paging, else the fallback index, plus BuildKit's in-index attestation
//! manifests) and fetching one back, every byte verified.
//!
//! The fallback index is read-modify-written. Registries offer no compare-and-swap on tags, so a
//! concurrent pusher can overwrite our entry between our write and its own; we therefore (1) serialise
//! updates of one fallback tag within this process, (2) re-read after every write and retry with jittered
//! backoff until our descriptor is there, (3) do that re-read after a short pause, so that a writer from
//! another process that read the index before our write landed has written too and its dropping our
//! entry is seen. An update costs three round trips: GET, PUT, GET (plus the pause).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{header_str, read_limited, retry, status_error, Client, ReqBody};
use crate::digest::Digest;
use crate::error::SourceError;
use crate::image::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::referrers::{
    artifact_manifest, Artifact, Descriptor, DescriptorPlatform, Discovery, Referrer,
    ANNOTATION_BUILDKIT_REFERENCE_DIGEST, ANNOTATION_BUILDKIT_REFERENCE_TYPE,
    BUILDKIT_ATTESTATION_MANIFEST, EMPTY_CONFIG, EMPTY_CONFIG_MEDIA_TYPE,
};

/// Largest manifest, index or referrers page we read or write.
const MAX_DOC_BYTES: u64 = crate::image::MAX_MANIFEST_BYTES;
/// Referrers API pages we follow before giving up.
const MAX_PAGES: usize = 100;
/// Largest referrer layer (SBOM or attestation) we fetch.
const MAX_LAYER_BYTES: u64 = 256 << 20;
/// Read-modify-write rounds of the fallback index before giving up.
const FALLBACK_ATTEMPTS: u32 = 6;
const FALLBACK_BACKOFF_MS: u64 = 40;
/// The shortest pause before a re-read of the fallback index.
const SETTLE: Duration = Duration::from_millis(100);
/// The longest pause before a re-read of the fallback index, however slow the registry is.
const MAX_SETTLE: Duration = Duration::from_secs(2);
/// Whole blob uploads (POST + PUT) tried before giving up.
const UPLOAD_ATTEMPTS: u32 = 3;
/// PUTs of one manifest while the registry says a blob it names is unknown.
const MANIFEST_ATTEMPTS: u32 = 4;
/// The layer of BuildKit attestation manifests.
const IN_TOTO: &str = "application/vnd.in-toto+json";
/// Entries of an index with this platform are not images (BuildKit attestations).
const UNKNOWN: &str = "unknown";

/// How to reach the registry when pushing or discovering referrers.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Plain HTTP (loopback registries only).
    pub insecure: bool,
    /// Docker config (`auths`, `credsStore`, `credHelpers`); `None` means the default location.
    pub docker_config: Option<PathBuf>,
    /// A repository of the same registry to mount the blobs from instead of uploading them.
    pub mount_from: Option<String>,
    /// Attach to (or discover for) this platform's manifest only.
    pub platform: Option<Platform>,
}

/// One referrer that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedReferrer {
    /// The manifest it refers to.
    pub subject: Descriptor,
    /// The referrer manifest (with `artifactType` and annotations).
    pub manifest: Descriptor,
    /// The `sha256-<hex>` fallback tag, when the fallback index was updated.
    pub fallback_tag: Option<String>,
}

/// Pushes `artifact` as a referrer of the image `reference` names: one referrer per platform manifest
/// of an index (BuildKit attestation entries and `unknown/unknown` skipped; only `opts.platform`'s
/// when set), one for a single manifest. Blobs that exist are not uploaded again; the manifest is put
/// by digest; a registry that does not acknowledge the subject (`OCI-Subject`) gets the fallback index.
pub async fn push_referrer(
    reference: &Reference,
    artifact: &Artifact,
    opts: &PushOptions,
) -> Result<Vec<PushedReferrer>, SourceError> {
    let client = Client::with(
        reference,
        opts.insecure,
        opts.docker_config.as_deref(),
        true,
        opts.mount_from.clone(),
    )?;
    let top = fetch_top(&client, reference).await?;
    let subjects = choose_subjects(&top, opts)?;

    let config = Descriptor::of(EMPTY_CONFIG_MEDIA_TYPE, EMPTY_CONFIG);
    let layer = Descriptor::of(&artifact.artifact_type, &artifact.content);
    let blobs = [
        (config, ReqBody::Bytes(Arc::new(EMPTY_CONFIG.to_vec()))),
        (layer, ReqBody::Bytes(Arc::new(artifact.content.clone()))),
    ];
    for (desc, body) in &blobs {
        client.ensure_blob(desc, body.clone()).await?;
    }

    let mut out = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let (bytes, manifest) = artifact_manifest(&subject, artifact);
        let acknowledged = client
            .put_manifest_of_blobs(&manifest.digest, &bytes, OCI_MANIFEST, &blobs)
            .await?;
        let fallback_tag = if acknowledged {
            None
        } else {
            Some(client.add_to_fallback(&subject, &manifest).await?)
        };
        out.push(PushedReferrer {
            subject,
            manifest,
            fallback_tag,
        });
    }
    Ok(out)
}

/// The manifests [`push_referrer`] attaches a referrer to (without pushing anything): the one manifest
/// `reference` names, or the platform manifests of an index (only `opts.platform`'s when set). A
/// signer uses it to learn the digests it must sign before it pushes.
pub async fn referrer_subjects(
    reference: &Reference,
    opts: &PushOptions,
) -> Result<Vec<Descriptor>, SourceError> {
    let client = Client::with(
        reference,
        opts.insecure,
        opts.docker_config.as_deref(),
        false,
        None,
    )?;
    let top = fetch_top(&client, reference).await?;
    choose_subjects(&top, opts)
}

fn choose_subjects(top: &TopDoc, opts: &PushOptions) -> Result<Vec<Descriptor>, SourceError> {
    Ok(match &top.doc {
        Top::Index(entries) => {
            let runnable: Vec<&Value> = entries.iter().filter(|e| is_platform_entry(e)).collect();
            let chosen: Vec<Descriptor> = runnable
                .iter()
                .filter(|e| {
                    opts.platform
                        .as_ref()
                        .is_none_or(|want| entry_platform(e).is_some_and(|p| want.matches(&p)))
                })
                .filter_map(|e| descriptor_of(e))
                .collect();
            if chosen.is_empty() {
                return Err(SourceError::NoMatchingPlatform {
                    wanted: opts
                        .platform
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| "any".to_owned()),
                    location: top.location.clone(),
                    available: runnable
                        .iter()
                        .filter_map(|e| entry_platform(e))
                        .map(|p| p.to_string())
                        .collect(),
                });
            }
            chosen
        }
        Top::Manifest => vec![top.descriptor.clone()],
    })
}

/// Lists the referrers of the image `reference` names (for an index: of the index and of each platform
/// manifest, or only `opts.platform`'s), from the referrers API or else the fallback index, plus
/// BuildKit's in-index attestation manifests. `artifact_type` filters (BuildKit entries, whose type is
/// unknown, are left out by a filter). Sorted by subject, then digest.
pub async fn list_referrers(
    reference: &Reference,
    artifact_type: Option<&str>,
    opts: &PushOptions,
) -> Result<Vec<Referrer>, SourceError> {
    let client = Client::with(
        reference,
        opts.insecure,
        opts.docker_config.as_deref(),
        false,
        None,
    )?;
    let top = fetch_top(&client, reference).await?;
    let mut subjects = vec![top.descriptor.digest.clone()];
    let mut found: Vec<Referrer> = Vec::new();
    if let Top::Index(entries) = &top.doc {
        let wanted = |e: &Value| {
            opts.platform
                .as_ref()
                .is_none_or(|want| entry_platform(e).is_some_and(|p| want.matches(&p)))
        };
        let platform_digests: BTreeSet<String> = entries
            .iter()
            .filter(|e| is_platform_entry(e) && wanted(e))
            .filter_map(|e| descriptor_of(e).map(|d| d.digest))
            .collect();
        for e in entries {
            let Some(mut d) = descriptor_of(e) else {
                continue;
            };
            let Some(of) = buildkit_subject(&d) else {
                continue;
            };
            // BuildKit's attestation manifests carry in-toto statements but no artifactType; type
            // them as the layout target does, so `--artifact-type application/vnd.in-toto+json`
            // finds them on both.
            d.artifact_type
                .get_or_insert_with(|| crate::referrers::ARTIFACT_IN_TOTO.to_owned());
            if !platform_digests.contains(&of) {
                continue;
            }
            if artifact_type.is_some_and(|t| d.artifact_type.as_deref() != Some(t)) {
                continue;
            }
            found.push(Referrer {
                subject: of,
                descriptor: d,
                discovery: Discovery::BuildkitIndex,
            });
        }
        subjects.extend(platform_digests);
    }
    for subject in &subjects {
        let digest = Digest::parse(subject)?;
        for d in client.referrers_of(&digest, artifact_type).await? {
            found.push(d);
        }
    }
    found.sort_by(|a, b| {
        (&a.subject, &a.descriptor.digest, a.discovery).cmp(&(
            &b.subject,
            &b.descriptor.digest,
            b.discovery,
        ))
    });
    found.dedup_by(|a, b| a.subject == b.subject && a.descriptor.digest == b.descriptor.digest);
    Ok(found)
}

/// Fetches a referrer's manifest and its layer (the single layer; for a BuildKit attestation manifest
/// the first in-toto layer), verifying digests and sizes. Returns (manifest bytes, layer media type,
/// layer bytes).
pub async fn fetch_referrer(
    reference: &Reference,
    referrer: &Referrer,
    opts: &PushOptions,
) -> Result<(Vec<u8>, String, Vec<u8>), SourceError> {
    let client = Client::with(
        reference,
        opts.insecure,
        opts.docker_config.as_deref(),
        false,
        None,
    )?;
    let d = &referrer.descriptor;
    let digest = Digest::parse(&d.digest)?;
    if d.size > MAX_DOC_BYTES {
        return Err(SourceError::TooLarge {
            what: format!("referrer manifest {digest}"),
            location: client.repo_display(),
            limit: MAX_DOC_BYTES,
        });
    }
    let (bytes, _, _) = client
        .manifest(&digest.to_string(), Some((&digest, Some(d.size))))
        .await?;
    let location = format!("{}@{digest}", client.repo_display());
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| SourceError::malformed("referrer manifest", &location, e))?;
    let layers: Vec<Descriptor> = match v.get("layers") {
        Some(l) => serde_json::from_value(l.clone())
            .map_err(|e| SourceError::malformed("referrer manifest", &location, e))?,
        None => Vec::new(),
    };
    let layer = if referrer.discovery == Discovery::BuildkitIndex {
        layers.iter().find(|l| l.media_type == IN_TOTO)
    } else if layers.len() == 1 {
        layers.first()
    } else {
        let wanted = d.artifact_type.clone().or_else(|| {
            v.get("artifactType")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        layers
            .iter()
            .find(|l| Some(&l.media_type) == wanted.as_ref())
    };
    let layer = layer.ok_or_else(|| {
        SourceError::malformed(
            "referrer manifest",
            &location,
            format!(
                "{} layers and none to take (expected one layer, or an {IN_TOTO} layer in an attestation manifest)",
                layers.len()
            ),
        )
    })?;
    let layer_digest = Digest::parse(&layer.digest)
        .map_err(|e| SourceError::malformed("referrer manifest", &location, e))?;
    let content = client
        .small_blob(&layer_digest, layer.size, MAX_LAYER_BYTES, "referrer layer")
        .await?;
    Ok((bytes, layer.media_type.clone(), content))
}

/// Uploads a file as a blob of the repository `reference` names, streaming it (hashed first, then
/// sent without being held in memory); a blob that is already there is not sent again. Returns its
/// descriptor with `media_type`.
pub async fn push_blob_file(
    reference: &Reference,
    path: &std::path::Path,
    media_type: &str,
    opts: &PushOptions,
) -> Result<Descriptor, SourceError> {
    let client = Client::with(
        reference,
        opts.insecure,
        opts.docker_config.as_deref(),
        true,
        opts.mount_from.clone(),
    )?;
    let (digest, len) = super::digest_file(path).await?;
    let desc = Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.to_string(),
        size: len,
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    };
    client
        .ensure_blob(
            &desc,
            ReqBody::File {
                path: path.to_owned(),
                len,
            },
        )
        .await?;
    Ok(desc)
}

/// The image a reference names: its descriptor and whether it is an index.
struct TopDoc {
    descriptor: Descriptor,
    doc: Top,
    location: String,
}

enum Top {
    Index(Vec<Value>),
    Manifest,
}

async fn fetch_top(client: &Client, reference: &Reference) -> Result<TopDoc, SourceError> {
    let expected = reference.digest().map(|d| (d, None));
    let (bytes, digest, content_type) = client
        .manifest(&reference.manifest_reference(), expected)
        .await?;
    let location = format!("{}@{digest}", client.repo_display());
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| SourceError::malformed("manifest", &location, e))?;
    let declared = v
        .get("mediaType")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            content_type.map(|c| c.split(';').next().unwrap_or_default().trim().to_owned())
        });
    let is_index = match declared.as_deref() {
        Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        _ => v.get("manifests").is_some(),
    };
    let media_type =
        declared.unwrap_or_else(|| if is_index { OCI_INDEX } else { OCI_MANIFEST }.to_owned());
    let descriptor = Descriptor {
        media_type,
        digest: digest.to_string(),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: BTreeMap::new(),
        platform: None,
    };
    let doc = if is_index {
        match v.get("manifests") {
            Some(Value::Array(m)) => Top::Index(m.clone()),
            _ => {
                return Err(SourceError::malformed(
                    "index",
                    &location,
                    "no 'manifests' array",
                ))
            }
        }
    } else {
        Top::Manifest
    };
    Ok(TopDoc {
        descriptor,
        doc,
        location,
    })
}

fn descriptor_of(v: &Value) -> Option<Descriptor> {
    let d: Descriptor = serde_json::from_value(v.clone()).ok()?;
    Digest::parse(&d.digest).ok()?;
    Some(d)
}

fn entry_platform(v: &Value) -> Option<Platform> {
    let p: DescriptorPlatform = serde_json::from_value(v.get("platform")?.clone()).ok()?;
    Some(Platform::new(&p.os, &p.architecture, p.variant.as_deref()))
}

/// An index entry that is an image for a platform: not a BuildKit attestation, not `unknown/unknown`.
fn is_platform_entry(v: &Value) -> bool {
    let Some(d) = descriptor_of(v) else {
        return false;
    };
    if d.annotations
        .get(ANNOTATION_BUILDKIT_REFERENCE_TYPE)
        .map(String::as_str)
        == Some(BUILDKIT_ATTESTATION_MANIFEST)
    {
        return false;
    }
    !d.platform
        .as_ref()
        .is_some_and(|p| p.os == UNKNOWN && p.architecture == UNKNOWN)
}

/// The manifest a BuildKit attestation entry describes.
fn buildkit_subject(d: &Descriptor) -> Option<String> {
    if d.annotations
        .get(ANNOTATION_BUILDKIT_REFERENCE_TYPE)
        .map(String::as_str)
        != Some(BUILDKIT_ATTESTATION_MANIFEST)
    {
        return None;
    }
    let of = d.annotations.get(ANNOTATION_BUILDKIT_REFERENCE_DIGEST)?;
    Digest::parse(of).ok().map(|d| d.to_string())
}

/// `sha256:<hex>` → `sha256-<hex>`.
pub(crate) fn fallback_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm().as_str(), subject.hex())
}

/// Serialises updates of one fallback tag within this process.
fn fallback_lock(key: String) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let map = LOCKS.get_or_init(|| Mutex::new(HashMap::new()));
    match map.lock() {
        Ok(mut m) => m.entry(key).or_default().clone(),
        Err(_) => Arc::new(tokio::sync::Mutex::new(())),
    }
}

/// A parsed fallback index: its entries as they were (unknown fields kept), in order.
#[derive(Debug, Default)]
struct FallbackIndex {
    entries: Vec<Value>,
}

impl FallbackIndex {
    fn contains(&self, digest: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.get("digest").and_then(Value::as_str) == Some(digest))
    }

    fn descriptors(&self) -> Vec<Descriptor> {
        self.entries.iter().filter_map(descriptor_of).collect()
    }

    /// The index with `ours` merged in (deduplicated by digest), serialised and checked.
    fn merged(&self, ours: &Descriptor, location: &str) -> Result<Vec<u8>, SourceError> {
        let mut entries: Vec<Value> = Vec::with_capacity(self.entries.len() + 1);
        let mut seen = BTreeSet::new();
        for e in &self.entries {
            // Only well-formed descriptors are carried over; a broken entry would make the whole index
            // unreadable to strict clients.
            let Some(d) = descriptor_of(e) else { continue };
            if seen.insert(d.digest.clone()) {
                entries.push(e.clone());
            }
        }
        if seen.insert(ours.digest.clone()) {
            let v = serde_json::to_value(ours)
                .map_err(|e| SourceError::malformed("fallback index", location, e))?;
            entries.push(v);
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
        });
        let bytes = serde_json::to_vec(&index)
            .map_err(|e| SourceError::malformed("fallback index", location, e))?;
        // Never write what we could not read back.
        let back = parse_fallback(&bytes, location)?;
        if !back.contains(&ours.digest) || back.descriptors().len() != back.entries.len() {
            return Err(SourceError::malformed(
                "fallback index",
                location,
                "the merged index does not read back",
            ));
        }
        if bytes.len() as u64 > MAX_DOC_BYTES {
            return Err(SourceError::TooLarge {
                what: "fallback index (after merging)".to_owned(),
                location: location.to_owned(),
                limit: MAX_DOC_BYTES,
            });
        }
        Ok(bytes)
    }
}

fn parse_fallback(bytes: &[u8], location: &str) -> Result<FallbackIndex, SourceError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| SourceError::malformed("fallback index", location, e))?;
    if let Some(mt) = v.get("mediaType").and_then(Value::as_str) {
        if mt != OCI_INDEX {
            return Err(SourceError::UnsupportedMediaType {
                media_type: mt.to_owned(),
                what: "fallback index".to_owned(),
                location: location.to_owned(),
                hint: Some("the sha256-<hex> tag holds something other than an OCI index; it was left alone".to_owned()),
            });
        }
    }
    match v.get("manifests") {
        Some(Value::Array(m)) => Ok(FallbackIndex { entries: m.clone() }),
        None | Some(Value::Null) => Ok(FallbackIndex::default()),
        Some(_) => Err(SourceError::malformed(
            "fallback index",
            location,
            "'manifests' is not an array",
        )),
    }
}

/// Parses a `Link` header's `rel="next"` target, resolved against `base`.
pub(crate) fn next_link(header: &str, base: &reqwest::Url) -> Result<Option<reqwest::Url>, String> {
    for part in header.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (target, params) = part
            .strip_prefix('<')
            .and_then(|p| p.split_once('>'))
            .ok_or_else(|| format!("'{part}' is not <URL>; params"))?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split(' ')
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return base
                .join(target)
                .map(Some)
                .map_err(|e| format!("'{target}' is not a URL: {e}"));
        }
    }
    Ok(None)
}

impl Client {
    /// Whether the repository has the blob (`HEAD /v2/<name>/blobs/<digest>` answers 2xx). Any
    /// answer other than 2xx or 404 is an error.
    pub(crate) async fn blob_exists(&self, digest: &Digest) -> Result<bool, SourceError> {
        let url = self.blob_url(digest);
        let head = self
            .send(Method::HEAD, &url, None, None, &ReqBody::None, true, true)
            .await?;
        if head.status().is_success() {
            return Ok(true);
        }
        if head.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        Err(status_error(&url, head).await)
    }

    /// HEAD, then a cross-repository mount when `mount_from` is set, else POST + monolithic PUT. A
    /// failed upload restarts from the POST.
    pub(crate) async fn ensure_blob(
        &self,
        desc: &Descriptor,
        body: ReqBody,
    ) -> Result<(), SourceError> {
        let digest = Digest::parse(&desc.digest)?;
        let url = self.blob_url(&digest);
        let head = self
            .send(Method::HEAD, &url, None, None, &ReqBody::None, true, true)
            .await?;
        if head.status().is_success() {
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.upload(&digest, &body).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < UPLOAD_ATTEMPTS && transient(&e) => {
                    tokio::time::sleep(retry::request_backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn upload(&self, digest: &Digest, body: &ReqBody) -> Result<(), SourceError> {
        let mut url = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
        let mounting = self.mount_from.as_deref().filter(|f| *f != self.repository);
        if let Some(from) = mounting {
            url = format!("{url}?mount={digest}&from={from}");
        }
        let resp = self
            .send(Method::POST, &url, None, None, &ReqBody::None, true, false)
            .await?;
        if mounting.is_some() && resp.status() == StatusCode::CREATED {
            return Ok(());
        }
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error(&url, resp).await);
        }
        let location = header_str(resp.headers(), LOCATION.as_str()).ok_or_else(|| {
            SourceError::malformed("upload response", &url, "202 without a Location header")
        })?;
        let base =
            reqwest::Url::parse(&url).map_err(|e| SourceError::malformed("upload URL", &url, e))?;
        let mut put = base
            .join(&location)
            .map_err(|e| SourceError::malformed("upload Location", &url, e))?;
        put.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let put = put.to_string();
        let resp = self
            .send(
                Method::PUT,
                &put,
                None,
                Some("application/octet-stream"),
                body,
                false,
                false,
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(&put, resp).await);
        }
        Ok(())
    }

    /// PUTs a manifest by digest; true when the registry acknowledged its subject (`OCI-Subject`).
    pub(crate) async fn put_manifest(
        &self,
        digest: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<bool, SourceError> {
        let url = self.manifest_url(digest);
        let resp = self
            .send(
                Method::PUT,
                &url,
                None,
                Some(media_type),
                &ReqBody::Bytes(Arc::new(bytes.to_vec())),
                true,
                true,
            )
            .await?;
        if resp.status() != StatusCode::CREATED && resp.status() != StatusCode::OK {
            return Err(status_error(&url, resp).await);
        }
        Ok(resp.headers().contains_key("oci-subject"))
    }

    /// [`Client::put_manifest`] for a manifest whose `blobs` were just ensured. A registry may answer
    /// `MANIFEST_BLOB_UNKNOWN` for a blob it has: distribution 2.8's filesystem driver truncates and
    /// rewrites a blob's link file when another client uploads the same blob at the same moment, and
    /// eventually consistent storage lags. So the blobs are ensured again and the PUT retried, a
    /// bounded number of times; a blob that stays unknown is the registry's error, as it said it.
    pub(super) async fn put_manifest_of_blobs(
        &self,
        digest: &str,
        bytes: &[u8],
        media_type: &str,
        blobs: &[(Descriptor, ReqBody)],
    ) -> Result<bool, SourceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.put_manifest(digest, bytes, media_type).await {
                Err(e) if attempt < MANIFEST_ATTEMPTS && blob_unknown(&e) => {
                    tokio::time::sleep(retry::request_backoff(attempt)).await;
                    for (desc, body) in blobs {
                        self.ensure_blob(desc, body.clone()).await?;
                    }
                }
                other => return other,
            }
        }
    }

    /// Reads the fallback index of `subject`; a missing tag is an empty index.
    async fn read_fallback(&self, tag: &str) -> Result<FallbackIndex, SourceError> {
        let location = format!("{}:{tag}", self.repo_display());
        match self.manifest(tag, None).await {
            Ok((bytes, _, _)) => parse_fallback(&bytes, &location),
            Err(SourceError::ManifestNotFound { .. }) => Ok(FallbackIndex::default()),
            Err(e) => Err(e),
        }
    }

    /// Merges `ours` into the fallback index of `subject`: read, merge, PUT, re-read until it is there.
    pub(crate) async fn add_to_fallback(
        &self,
        subject: &Descriptor,
        ours: &Descriptor,
    ) -> Result<String, SourceError> {
        let digest = Digest::parse(&subject.digest)?;
        let tag = fallback_tag(&digest);
        let location = format!("{}:{tag}", self.repo_display());
        let lock = fallback_lock(location.clone());
        let _held = lock.lock().await;
        let mut wrote = false;
        for attempt in 1..=FALLBACK_ATTEMPTS {
            match self.fallback_round(&tag, ours, &location, wrote).await {
                Ok(true) => return Ok(tag),
                Ok(false) => wrote = true,
                // Registries fail concurrent writes and reads of one tag now and then (distribution
                // 2.8 answers 500 when two land at once): another round, not the end.
                Err(e)
                    if transient(&e)
                        || matches!(e, SourceError::HttpStatus { status: 500, .. }) => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(retry::backoff(attempt, FALLBACK_BACKOFF_MS)).await;
        }
        Err(SourceError::FallbackIndexLost {
            repository: self.repo_display(),
            tag,
            digest: ours.digest.clone(),
            attempts: FALLBACK_ATTEMPTS,
        })
    }

    /// One read-modify-write round; true when our descriptor is listed and stayed listed.
    async fn fallback_round(
        &self,
        tag: &str,
        ours: &Descriptor,
        location: &str,
        wrote_before: bool,
    ) -> Result<bool, SourceError> {
        let started = Instant::now();
        let current = self.read_fallback(tag).await?;
        if current.contains(&ours.digest) {
            if !wrote_before {
                return Ok(true); // already listed (a re-push): nothing to write
            }
            return self.still_listed(tag, ours, started.elapsed()).await;
        }
        let bytes = current.merged(ours, location)?;
        self.put_manifest(tag, &bytes, OCI_INDEX).await?;
        // Verify after a pause rather than at once: a writer that read the index before our PUT
        // landed has by then written too, and a re-read right away would miss that it dropped us.
        self.still_listed(tag, ours, started.elapsed()).await
    }

    /// Re-reads the index after a short jittered pause; true when our descriptor is there.
    ///
    /// No registry API offers a compare-and-swap on a tag, so a writer that read the index before our
    /// PUT and writes after it drops us without either side seeing a conflict. Such a writer finishes
    /// within about one read-merge-PUT round of its own; ours (`round`) measures how long that takes on
    /// this registry right now. So the index is re-read twice, each after several such rounds (at least
    /// [`SETTLE`]), and we count as listed only when both reads list us. This narrows the window, it
    /// cannot close it: a writer stalled for longer still wins, which is why listing in the fallback
    /// index is best effort on registries without the referrers API.
    async fn still_listed(
        &self,
        tag: &str,
        ours: &Descriptor,
        round: Duration,
    ) -> Result<bool, SourceError> {
        let wait = SETTLE.max(round * 4).min(MAX_SETTLE);
        for _ in 0..2 {
            tokio::time::sleep(wait + Duration::from_millis(retry::jitter(50))).await;
            if !self.read_fallback(tag).await?.contains(&ours.digest) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The referrers of one manifest: the API when the registry has it, else the fallback index.
    pub(crate) async fn referrers_of(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, SourceError> {
        let mut url = format!("{}/v2/{}/referrers/{subject}", self.base, self.repository);
        if let Some(t) = artifact_type {
            let mut u = reqwest::Url::parse(&url)
                .map_err(|e| SourceError::malformed("referrers URL", &url, e))?;
            u.query_pairs_mut().append_pair("artifactType", t);
            url = u.to_string();
        }
        let mut out = Vec::new();
        let mut seen_urls = BTreeSet::new();
        for page in 0.. {
            if page >= MAX_PAGES {
                return Err(SourceError::malformed(
                    "referrers response",
                    &url,
                    format!("more than {MAX_PAGES} pages"),
                ));
            }
            if !seen_urls.insert(url.clone()) {
                return Err(SourceError::malformed(
                    "referrers response",
                    &url,
                    "the Link header points back to a page already read",
                ));
            }
            let resp = self.get(&url, Some(OCI_INDEX), true).await?;
            if page == 0 && resp.status() == StatusCode::NOT_FOUND {
                return self.referrers_from_fallback(subject, artifact_type).await;
            }
            if !resp.status().is_success() {
                return Err(status_error(&url, resp).await);
            }
            let filtered = resp
                .headers()
                .get_all("oci-filters-applied")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|f| f.trim() == "artifactType");
            let link = match resp.headers().get("link") {
                None => None,
                Some(v) => {
                    let s = v
                        .to_str()
                        .map_err(|_| SourceError::malformed("Link header", &url, "not ASCII"))?;
                    let base = reqwest::Url::parse(&url)
                        .map_err(|e| SourceError::malformed("referrers URL", &url, e))?;
                    Some(
                        next_link(s, &base)
                            .map_err(|r| SourceError::malformed("Link header", &url, r))?,
                    )
                }
            };
            let body = read_limited(resp, MAX_DOC_BYTES, "referrers response", &url).await?;
            let index = parse_fallback(&body, &url)?;
            for d in index.descriptors() {
                if artifact_type.is_some_and(|t| !filtered && d.artifact_type.as_deref() != Some(t))
                {
                    continue;
                }
                out.push(Referrer {
                    subject: subject.to_string(),
                    descriptor: d,
                    discovery: Discovery::Api,
                });
            }
            // A server claiming to have filtered must not slip others through either.
            if let Some(t) = artifact_type {
                out.retain(|r| r.descriptor.artifact_type.as_deref() == Some(t));
            }
            match link.flatten() {
                Some(next) => url = next.to_string(),
                None => break,
            }
        }
        Ok(out)
    }

    async fn referrers_from_fallback(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, SourceError> {
        let index = self.read_fallback(&fallback_tag(subject)).await?;
        Ok(index
            .descriptors()
            .into_iter()
            .filter(|d| artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t)))
            .map(|d| Referrer {
                subject: subject.to_string(),
                descriptor: d,
                discovery: Discovery::TagFallback,
            })
            .collect())
    }
}

/// Connection trouble and "try later" statuses: worth restarting an upload for.
/// The registry refused a manifest because it does not know a blob it names.
fn blob_unknown(e: &SourceError) -> bool {
    matches!(e, SourceError::HttpStatus { status: 400, detail: Some(d), .. }
        if d.contains("MANIFEST_BLOB_UNKNOWN") || d.contains("BLOB_UNKNOWN"))
}

fn transient(e: &SourceError) -> bool {
    match e {
        SourceError::Http { source, .. } => {
            source.is_connect() || source.is_timeout() || source.is_request()
        }
        SourceError::HttpStatus { status, .. } => retry::retryable_status(*status),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let base = reqwest::Url::parse("https://r.example/v2/a/referrers/sha256:x").unwrap();
        assert_eq!(
            next_link(r#"</v2/a/referrers/sha256:x?n=2>; rel="next""#, &base)
                .unwrap()
                .unwrap()
                .as_str(),
            "https://r.example/v2/a/referrers/sha256:x?n=2"
        );
        assert_eq!(
            next_link(
                r#"<https://o.example/p>; rel=prev, <https://o.example/q>; rel="next""#,
                &base
            )
            .unwrap()
            .unwrap()
            .as_str(),
            "https://o.example/q"
        );
        assert!(next_link(r#"<https://o.example/p>; rel="prev""#, &base)
            .unwrap()
            .is_none());
        assert!(next_link("https://o.example/p; rel=next", &base).is_err());
        assert!(next_link("<https://o.example/p", &base).is_err());
    }

    #[test]
    fn merge_dedupes_and_drops_broken_entries() {
        let ours = Descriptor::of(OCI_MANIFEST, b"ours");
        let other = Descriptor::of(OCI_MANIFEST, b"other");
        let existing = serde_json::json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[
            serde_json::to_value(&other).unwrap(), {"digest":"nope"}, serde_json::to_value(&other).unwrap()]});
        let idx = parse_fallback(existing.to_string().as_bytes(), "x").unwrap();
        let merged = idx.merged(&ours, "x").unwrap();
        let back = parse_fallback(&merged, "x").unwrap();
        assert_eq!(back.entries.len(), 2);
        assert!(back.contains(&ours.digest) && back.contains(&other.digest));
        let again = back.merged(&ours, "x").unwrap();
        assert_eq!(again, merged);
        assert!(parse_fallback(
            br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
            "x"
        )
        .is_err());
        assert_eq!(
            fallback_tag(&Digest::parse(&ours.digest).unwrap()),
            ours.digest.replace(':', "-")
        );
    }
}
