//! `stella attest IMAGE --sbom FILE`: an in-toto statement whose subjects are the image's manifest
//! digests and whose predicate is the SBOM, signed by the Signer (after a CI token exchange at the
//! Authority, with DPoP), logged by the Attestor, written as a Sigstore bundle v0.3 and pushed as an
//! OCI referrer of each subject manifest.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use registry::target::{self, Target};
use registry::{Platform, PushOptions};
use serde_json::{json, Value};
use sha2::Digest as _;
use signer_gateway::claims;
use signer_gateway::service::client::DpopClient;

use crate::exit;

use registry::referrers::{ANNOTATION_BUNDLE_PREDICATE_TYPE, ARTIFACT_SIGSTORE_BUNDLE};

pub const AFTER_HELP: &str = "\
The CI identity token comes from, in this order: --id-token / STELLA_ID_TOKEN (GitLab: declare it
under `id_tokens:` with the Authority's audience), or GitHub Actions' OIDC endpoint
(ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN; the job needs `permissions:
id-token: write`).
The PoE (proof of entitlement, `stella license enroll`) comes from --poe / STELLA_POE, and the DPoP key
it is bound to from --key / STELLA_KEY.
Against `stella serve` on its embedded default (no configuration file), with none of the above, the
server's dev identity is used: an ID token for the local user and a one-day license, loopback only.

Exit codes: 0 attested; 2 usage; 3 the SBOM or image cannot be read; 4 registry or service error;
5 the bundle cannot be written; 1 anything else.

Example:
  stella attest registry.example/app@sha256:<hex> --sbom app.cdx.json \\
      --server https://stella.example --poe poe.jwt --key install.key --bundle-out app.sigstore.json";

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The image: an OCI layout (oci:DIR[:TAG]) or an image in a registry.
    image: String,
    /// The SBOM (CycloneDX or SPDX JSON) to attest. Without it, the SBOM made at build time is
    /// attested: BuildKit's in-index attestation manifest of each platform manifest (our generator's
    /// or frontend's SPDX or CycloneDX statement), signed and published as a referrer of that
    /// platform manifest, with no rescan.
    #[arg(long)]
    sbom: Option<PathBuf>,
    /// The stack (Authority, Signer, Attestor) base URL.
    #[arg(long, env = "STELLA_SERVER", default_value = "http://127.0.0.1:8440")]
    server: String,
    /// Where to write the Sigstore bundle (one attestation per platform from a build-time SBOM:
    /// FILE for the first, FILE with `-OS-ARCH` before its extension for the others).
    #[arg(long)]
    bundle_out: Option<PathBuf>,
    /// Append the results as `key=value` lines to FILE (GitHub's `$GITHUB_OUTPUT`, a GitLab dotenv
    /// report): bundle-path, log-index, attestation-digest, subjects (space-separated when several).
    #[arg(long, env = "STELLA_OUTPUTS")]
    outputs: Option<PathBuf>,
    /// The statement's predicate type (default: from the SBOM's format).
    #[arg(long)]
    predicate_type: Option<String>,
    /// Keyless (a short-lived certificate for the CI identity) or the Signer's key.
    #[arg(long, value_parser = ["keyless", "key"], default_value = "keyless")]
    signing: String,
    /// The CI OIDC token (else STELLA_ID_TOKEN, else GitHub Actions' endpoint).
    #[arg(long, env = "STELLA_ID_TOKEN", hide_env_values = true)]
    id_token: Option<String>,
    /// The audience to ask GitHub Actions for (the Authority's, as configured for that issuer).
    #[arg(long, env = "STELLA_AUDIENCE", default_value = "stella")]
    audience: String,
    /// The PoE file (not needed against the embedded default's dev identity).
    #[arg(long, env = "STELLA_POE")]
    poe: Option<PathBuf>,
    /// The installation's DPoP key (PEM PKCS#8 P-256) the PoE is bound to; created if missing.
    /// Default: client/dpop-key.pem in the data directory.
    #[arg(long, env = "STELLA_KEY")]
    key: Option<PathBuf>,
    /// The scanner image that made the SBOM, pinned by digest (the Signer's release gate).
    #[arg(long, env = "STELLA_SCANNER_IMAGE")]
    scanner_image: Option<String>,
    /// Only this platform of a multi-platform image.
    #[arg(long)]
    platform: Option<String>,
    /// The policy the build was gated with: its SHA-256 is stamped into the SBOM
    /// (`stella:attestation:policyDigest`) and sent to the Signer, which records it.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Use the server's dev identity (a stack on its embedded default) and ignore any CI identity,
    /// PoE or GitHub Actions OIDC endpoint in the environment.
    #[arg(long)]
    dev_identity: bool,
    /// Do not push the bundle as a referrer.
    #[arg(long)]
    no_push: bool,
    /// Reach the registry over plain HTTP.
    #[arg(long)]
    insecure: bool,
}

type Outcome = Result<(), (u8, String)>;

pub fn run(args: AttestArgs) -> u8 {
    match attest(args) {
        Ok(()) => exit::OK,
        Err((code, msg)) => {
            eprintln!("stella attest: {msg}");
            code
        }
    }
}

/// The predicate type of an SBOM document.
fn predicate_type_of(sbom: &Value) -> Option<&'static str> {
    if sbom.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        Some("https://cyclonedx.org/bom")
    } else if sbom.get("spdxVersion").is_some_and(Value::is_string) {
        Some("https://spdx.dev/Document")
    } else {
        None
    }
}

async fn github_token(audience: &str) -> Result<Option<String>, (u8, String)> {
    let (Ok(url), Ok(bearer)) = (
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"),
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) else {
        return Ok(None);
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    let full = format!("{url}{sep}audience={audience}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| (exit::FAILURE, e.to_string()))?;
    let r = http
        .get(&full)
        .bearer_auth(bearer)
        .send()
        .await
        .map_err(|e| (exit::REGISTRY, format!("GitHub's OIDC endpoint: {e}")))?;
    if !r.status().is_success() {
        return Err((
            exit::REGISTRY,
            format!(
                "GitHub's OIDC endpoint answered HTTP {} (does the job have `permissions: id-token: write`?)",
                r.status()
            ),
        ));
    }
    let v: Value = r
        .json()
        .await
        .map_err(|e| (exit::REGISTRY, format!("GitHub's OIDC endpoint: {e}")))?;
    v.get("value")
        .and_then(Value::as_str)
        .map(|s| Some(s.to_owned()))
        .ok_or((
            exit::REGISTRY,
            "GitHub's OIDC endpoint gave no token".to_owned(),
        ))
}

/// The `license_id` claim of a PoE (a compact JWS the Signer verifies; read here only to stamp it).
fn poe_license_id(poe: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = poe.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("license_id")?.as_str().map(str::to_owned)
}

/// `POST /dev/token` of the embedded default.
async fn dev_token(server: &str) -> Result<Value, String> {
    let url = format!("{}/dev/token", server.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let r = http
        .post(&url)
        .send()
        .await
        .map_err(|e| format!("the server's dev identity is not reachable ({url}: {e})"))?;
    if !r.status().is_success() {
        return Err(format!(
            "the server offers no dev identity ({url}: HTTP {})",
            r.status()
        ));
    }
    r.json()
        .await
        .map_err(|e| format!("the server's dev identity ({url}): {e}"))
}

/// One statement to sign: an SBOM about some of the image's manifests.
struct Job {
    subjects: Vec<registry::referrers::Descriptor>,
    sbom: Value,
    predicate_type: String,
    /// Set when the job is about one platform manifest of a multi-platform image (the bundle is
    /// pushed as a referrer of that manifest only).
    platform: Option<Platform>,
    /// Where the SBOM came from, for the log.
    source: String,
}

/// Reads an SBOM file given with `--sbom`.
fn sbom_file(
    path: &std::path::Path,
    predicate_type: Option<&str>,
) -> Result<(Value, String), (u8, String)> {
    let bytes = std::fs::read(path)
        .map_err(|e| (exit::SOURCE, format!("cannot read {}: {e}", path.display())))?;
    let sbom: Value = serde_json::from_slice(&bytes)
        .map_err(|e| (exit::SOURCE, format!("{} is not JSON: {e}", path.display())))?;
    let t = match predicate_type {
        Some(t) => t.to_owned(),
        None => predicate_type_of(&sbom)
            .ok_or((
                exit::SOURCE,
                format!(
                    "{} is neither CycloneDX nor SPDX; give --predicate-type",
                    path.display()
                ),
            ))?
            .to_owned(),
    };
    Ok((sbom, t))
}

/// Whether an in-toto predicate type is an SBOM we attest.
fn is_sbom_predicate(t: &str) -> bool {
    t.starts_with("https://spdx.dev/Document") || t.starts_with("https://cyclonedx.org/bom")
}

/// The SBOMs made at build time: for each platform manifest carrying BuildKit's in-index attestation
/// manifest, its first SPDX or CycloneDX statement's predicate (our generator writes one per
/// platform; the final stage's comes first).
async fn build_time_jobs(
    target: &Target,
    subjects: &[registry::referrers::Descriptor],
    opts: &PushOptions,
    image: &str,
) -> Result<Vec<Job>, (u8, String)> {
    let code = if target.is_remote() {
        exit::REGISTRY
    } else {
        exit::SOURCE
    };
    let (bytes, top) = target::top_manifest(target, opts)
        .await
        .map_err(|e| (code, e.to_string()))?;
    let no_sbom = || {
        (
            exit::NOT_FOUND,
            format!(
                "{image} carries no SBOM made at build time (no BuildKit attestation manifest with \
                 an SPDX or CycloneDX statement{}); build it with `--attest type=sbom,generator=…` \
                 (docker/build-push-action: `sbom: generator=…`), or give --sbom FILE (e.g. from \
                 `stella scan`)",
                if top.media_type.contains("index") || top.media_type.contains("manifest.list") {
                    ""
                } else {
                    ": it is a single manifest, not an index"
                }
            ),
        )
    };
    if !top.media_type.contains("index") && !top.media_type.contains("manifest.list") {
        return Err(no_sbom());
    }
    let attestations = registry::referrers::in_index_attestations(&bytes)
        .map_err(|e| (exit::SOURCE, e.to_string()))?;
    let mut jobs = Vec::new();
    for subject in subjects {
        let Some(manifests) = attestations.get(&subject.digest) else {
            continue;
        };
        let mut found = None;
        for m in manifests {
            let layers = target::fetch_in_toto_layers(target, m, opts)
                .await
                .map_err(|e| (code, e.to_string()))?;
            for layer in layers {
                let statement: Value = serde_json::from_slice(&layer.statement).map_err(|e| {
                    (
                        exit::SOURCE,
                        format!(
                            "the in-toto statement {} of {}: not JSON: {e}",
                            layer.descriptor.digest, subject.digest
                        ),
                    )
                })?;
                let t = statement
                    .get("predicateType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if !is_sbom_predicate(&t) {
                    continue;
                }
                if let Some(p) = statement.get("predicate").filter(|p| p.is_object()) {
                    found = Some((p.clone(), t, layer.descriptor.digest.clone()));
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        let Some((sbom, predicate_type, layer)) = found else {
            continue;
        };
        let platform = subject.platform.as_ref().map(|p| Platform {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
        });
        jobs.push(Job {
            subjects: vec![subject.clone()],
            sbom,
            predicate_type,
            platform,
            source: format!("build-time SBOM {layer}"),
        });
    }
    if jobs.is_empty() {
        return Err(no_sbom());
    }
    Ok(jobs)
}

/// FILE for the first bundle, FILE with `-OS-ARCH[-VARIANT]` before its extension for the others.
fn bundle_path(base: &std::path::Path, index: usize, platform: Option<&Platform>) -> PathBuf {
    let Some(p) = platform.filter(|_| index > 0) else {
        return base.to_path_buf();
    };
    let mut tag = format!("-{}-{}", p.os, p.architecture);
    if let Some(v) = &p.variant {
        tag.push('-');
        tag.push_str(v);
    }
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let renamed = match name.find('.') {
        Some(dot) if dot > 0 => format!("{}{tag}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}{tag}"),
    };
    base.with_file_name(renamed)
}

/// Appends `key=value` lines (values on one line) to FILE.
fn append_outputs(path: &std::path::Path, pairs: &[(&str, String)]) -> Result<(), (u8, String)> {
    let text: String = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}\n", v.replace(['\n', '\r'], " ")))
        .collect();
    crate::summary::append(path, &text).map_err(|e| (exit::OUTPUT, e))
}

fn attest(a: AttestArgs) -> Outcome {
    let file_sbom = match &a.sbom {
        Some(p) => Some(sbom_file(p, a.predicate_type.as_deref())?),
        None => None,
    };
    let policy_digest = match &a.policy {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| {
                (
                    exit::USAGE,
                    format!("cannot read the policy {}: {e}", p.display()),
                )
            })?;
            Some(format!(
                "sha256:{}",
                signer_gateway::dsse::hex(&sha2::Sha256::digest(&bytes))
            ))
        }
        None => None,
    };
    let poe = match &a.poe {
        Some(p) if !a.dev_identity => Some(
            std::fs::read_to_string(p)
                .map_err(|e| {
                    (
                        exit::SOURCE,
                        format!("cannot read the PoE {}: {e}", p.display()),
                    )
                })?
                .trim()
                .to_owned(),
        ),
        _ => None,
    };
    let key = a.key.clone().unwrap_or_else(|| {
        crate::serve::default_data_dir()
            .join("client")
            .join("dpop-key.pem")
    });
    let client = DpopClient::load_or_create(&key).map_err(|e| (exit::SOURCE, e.to_string()))?;
    let target = Target::parse(&a.image).map_err(|e| (exit::SOURCE, e.to_string()))?;
    let platform = a
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .map_err(|e| (exit::USAGE, e.to_string()))?;
    let opts = PushOptions {
        insecure: a.insecure,
        docker_config: None,
        mount_from: None,
        platform,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| (exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    let code_of = |remote: bool| if remote { exit::REGISTRY } else { exit::SOURCE };
    runtime.block_on(async {
        let subjects = target::subjects(&target, &opts)
            .await
            .map_err(|e| (code_of(target.is_remote()), e.to_string()))?;
        let name = match &target {
            Target::Remote(r) => r.name(),
            Target::Layout { path, .. } => path.display().to_string(),
        };
        let jobs = match file_sbom {
            Some((sbom, predicate_type)) => vec![Job {
                subjects,
                sbom,
                predicate_type,
                platform: opts.platform.clone(),
                source: a
                    .sbom
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            }],
            None => build_time_jobs(&target, &subjects, &opts, &a.image).await?,
        };
        let ci_token = match a.id_token.clone() {
            _ if a.dev_identity => None,
            Some(t) => Some(t),
            None => github_token(&a.audience).await?,
        };
        let (id_token, poe) = match (ci_token, poe) {
            (Some(t), Some(p)) => (t, p),
            (t, p) => {
                // The embedded default's dev identity, when the server offers it.
                let dev = dev_token(&a.server).await.map_err(|e| {
                    (
                        exit::USAGE,
                        format!(
                            "{}{e}",
                            if t.is_none() {
                                "no CI identity token (set STELLA_ID_TOKEN for GitLab `id_tokens:`, \
                                 run in GitHub Actions with `permissions: id-token: write`, or pass \
                                 --id-token) and "
                            } else {
                                "no PoE (--poe / STELLA_POE) and "
                            }
                        ),
                    )
                })?;
                let poe = match p {
                    Some(p) => p,
                    None => {
                        let lt = dev.get("license_token").and_then(Value::as_str).unwrap_or("");
                        let enrolled = client
                            .enroll(&a.server, lt)
                            .await
                            .map_err(|e| (exit::REGISTRY, format!("dev license enrollment: {e}")))?;
                        enrolled
                            .get("poe")
                            .and_then(Value::as_str)
                            .ok_or((exit::REGISTRY, "the enrollment gave no PoE".to_owned()))?
                            .to_owned()
                    }
                };
                let token = match t {
                    Some(t) => t,
                    None => dev
                        .get("id_token")
                        .and_then(Value::as_str)
                        .ok_or((exit::REGISTRY, "the dev token answer has no id_token".to_owned()))?
                        .to_owned(),
                };
                eprintln!(
                    "stella attest: using the server's dev identity {}",
                    dev.get("subject").and_then(Value::as_str).unwrap_or("?")
                );
                (token, poe)
            }
        };
        let optok = client
            .exchange(&a.server, &id_token)
            .await
            .map_err(|e| (exit::REGISTRY, format!("token exchange: {e}")))?;
        let (mut bundle_paths, mut log_indexes, mut digests, mut subject_digests) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (i, job) in jobs.into_iter().enumerate() {
            let mut sbom = job.sbom;
            // Claims about this attestation, stamped into the SBOM (the Signer checks them).
            if let Some(license) = poe_license_id(&poe) {
                claims::stamp(&mut sbom, claims::LICENSE_ID, &license);
            }
            if let Some(d) = &policy_digest {
                claims::stamp(&mut sbom, claims::POLICY_DIGEST, d);
            }
            let statement = json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": job.subjects.iter().map(|d| {
                    let hex = d.digest.strip_prefix("sha256:").unwrap_or(&d.digest);
                    json!({"name": name, "digest": {"sha256": hex}})
                }).collect::<Vec<_>>(),
                "predicateType": job.predicate_type,
                "predicate": sbom,
            });
            let mut request = json!({"statement": statement, "signing": a.signing});
            if let Some(d) = &policy_digest {
                request["policy_digest"] = json!(d);
            }
            if let Some(s) = &a.scanner_image {
                request["scanner_image"] = json!(s);
            }
            let answer = client
                .sign(&a.server, &optok, &poe, &request)
                .await
                .map_err(|e| (exit::REGISTRY, format!("signing: {e}")))?;
            let bundle = answer.get("bundle").cloned().ok_or((
                exit::REGISTRY,
                "the Signer's answer has no bundle: is the Attestor attached to it?".to_owned(),
            ))?;
            let mut text = serde_json::to_vec_pretty(&bundle).unwrap_or_default();
            text.push(b'\n');
            if let Some(out) = &a.bundle_out {
                let out = bundle_path(out, i, job.platform.as_ref());
                std::fs::write(&out, &text)
                    .map_err(|e| (exit::OUTPUT, format!("{}: {e}", out.display())))?;
                bundle_paths.push(out.display().to_string());
            }
            let log_index = answer.get("log_index").and_then(Value::as_u64).unwrap_or(0);
            log_indexes.push(log_index.to_string());
            eprintln!(
                "stella attest: signed {} ({}) for {} subject(s), logged at index {log_index} of {}",
                job.source,
                job.predicate_type,
                job.subjects.len(),
                answer.get("log_url").and_then(Value::as_str).unwrap_or("?"),
            );
            subject_digests.extend(job.subjects.iter().map(|d| d.digest.clone()));
            if !a.no_push {
                let artifact = registry::referrers::Artifact {
                    artifact_type: ARTIFACT_SIGSTORE_BUNDLE.to_owned(),
                    content: text,
                    annotations: [(
                        ANNOTATION_BUNDLE_PREDICATE_TYPE.to_owned(),
                        job.predicate_type.clone(),
                    )]
                    .into_iter()
                    .collect(),
                };
                let job_opts = PushOptions {
                    platform: job.platform.clone(),
                    ..opts.clone()
                };
                let pushed = target::push(&target, &artifact, &job_opts)
                    .await
                    .map_err(|e| (code_of(target.is_remote()), e.to_string()))?;
                for p in pushed {
                    eprintln!(
                        "stella attest: attached bundle {} to {}",
                        p.manifest.digest, p.subject.digest
                    );
                    digests.push(p.manifest.digest);
                }
            }
        }
        if let Some(out) = &a.outputs {
            append_outputs(
                out,
                &[
                    ("bundle-path", bundle_paths.join(" ")),
                    ("log-index", log_indexes.join(" ")),
                    ("attestation-digest", digests.join(" ")),
                    ("subjects", subject_digests.join(" ")),
                ],
            )?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_paths_per_platform() {
        let base = std::path::Path::new("/out/app.sigstore.json");
        let arm = Platform::parse("linux/arm64/v8").ok();
        assert_eq!(bundle_path(base, 0, arm.as_ref()), base);
        assert_eq!(
            bundle_path(base, 1, arm.as_ref()),
            std::path::Path::new("/out/app-linux-arm64-v8.sigstore.json")
        );
        assert_eq!(bundle_path(base, 1, None), base);
        let bare = std::path::Path::new("bundle");
        let amd = Platform::parse("linux/amd64").ok();
        assert_eq!(
            bundle_path(bare, 2, amd.as_ref()),
            std::path::Path::new("bundle-linux-amd64")
        );
    }

    #[test]
    fn sbom_predicates() {
        assert!(is_sbom_predicate("https://spdx.dev/Document"));
        assert!(is_sbom_predicate("https://spdx.dev/Document/v2.3"));
        assert!(is_sbom_predicate("https://cyclonedx.org/bom"));
        assert!(!is_sbom_predicate("https://slsa.dev/provenance/v0.2"));
        assert!(!is_sbom_predicate(""));
    }
}
