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
    /// The SBOM (CycloneDX or SPDX JSON) to attest.
    #[arg(long)]
    sbom: PathBuf,
    /// The stack (Authority, Signer, Attestor) base URL.
    #[arg(long, env = "STELLA_SERVER", default_value = "http://127.0.0.1:8440")]
    server: String,
    /// Where to write the Sigstore bundle.
    #[arg(long)]
    bundle_out: Option<PathBuf>,
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

fn attest(a: AttestArgs) -> Outcome {
    let sbom_bytes = std::fs::read(&a.sbom).map_err(|e| {
        (
            exit::SOURCE,
            format!("cannot read {}: {e}", a.sbom.display()),
        )
    })?;
    let mut sbom: Value = serde_json::from_slice(&sbom_bytes).map_err(|e| {
        (
            exit::SOURCE,
            format!("{} is not JSON: {e}", a.sbom.display()),
        )
    })?;
    let predicate_type = match &a.predicate_type {
        Some(t) => t.clone(),
        None => predicate_type_of(&sbom)
            .ok_or((
                exit::SOURCE,
                format!(
                    "{} is neither CycloneDX nor SPDX; give --predicate-type",
                    a.sbom.display()
                ),
            ))?
            .to_owned(),
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
        Some(p) => Some(
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
        None => None,
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
        let ci_token = match a.id_token.clone() {
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
        // Claims about this attestation, stamped into the SBOM (the Signer checks them).
        if let Some(license) = poe_license_id(&poe) {
            claims::stamp(&mut sbom, claims::LICENSE_ID, &license);
        }
        if let Some(d) = &policy_digest {
            claims::stamp(&mut sbom, claims::POLICY_DIGEST, d);
        }
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": subjects.iter().map(|d| {
                let hex = d.digest.strip_prefix("sha256:").unwrap_or(&d.digest);
                json!({"name": name, "digest": {"sha256": hex}})
            }).collect::<Vec<_>>(),
            "predicateType": predicate_type,
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
            std::fs::write(out, &text)
                .map_err(|e| (exit::OUTPUT, format!("{}: {e}", out.display())))?;
        }
        eprintln!(
            "stella attest: signed {} subject(s), logged at index {} of {}",
            subjects.len(),
            answer.get("log_index").and_then(Value::as_u64).unwrap_or(0),
            answer.get("log_url").and_then(Value::as_str).unwrap_or("?"),
        );
        if !a.no_push {
            let artifact = registry::referrers::Artifact {
                artifact_type: ARTIFACT_SIGSTORE_BUNDLE.to_owned(),
                content: text,
                annotations: [(
                    ANNOTATION_BUNDLE_PREDICATE_TYPE.to_owned(),
                    predicate_type.clone(),
                )]
                .into_iter()
                .collect(),
            };
            let pushed = target::push(&target, &artifact, &opts)
                .await
                .map_err(|e| (code_of(target.is_remote()), e.to_string()))?;
            for p in pushed {
                eprintln!(
                    "stella attest: attached bundle {} to {}",
                    p.manifest.digest, p.subject.digest
                );
            }
        }
        Ok(())
    })
}
