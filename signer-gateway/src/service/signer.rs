//! The Signer: `POST /sign/dsse`, the hard gate. In order: the OpTok and its DPoP proof (who is
//! calling now), the PoE proved by the same key (entitlement), what the caller's identity may sign,
//! the plan's quotas, then the DSSE signature. Every decision after authentication is written to the
//! append-only audit log.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::authority::{check_dpop, verify_optok, Binding, ProofAt};
use super::config::{glob, Plan};
use super::license::{verify_poe, Entitlement};
use super::transparency::SignedBy;
use super::{pem, ApiError, Bucket, RequestId, Stack};
use crate::dsse::{Envelope, KeySource as _, MemoryKey, PAYLOAD_TYPE_IN_TOTO};
use crate::keyless::{CertRequest, FulcioIdentity, San};

/// The header carrying the PoE.
pub const POE_HEADER: &str = "stella-poe";
const STATEMENT_TYPES: &[&str] = &[
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];

pub(crate) fn routes() -> Router<Arc<Stack>> {
    Router::new()
        .route("/sign/dsse", post(sign_dsse))
        .route("/trust/keyless-ca.pem", axum::routing::get(ca_pem))
        .route("/trust/ct-log.pem", axum::routing::get(ct_pem))
        .route("/trust/signing-key.pem", axum::routing::get(key_pem))
}

async fn ca_pem(State(s): State<Arc<Stack>>) -> String {
    pem("CERTIFICATE", s.ca.cert_der())
}

async fn ct_pem(State(s): State<Arc<Stack>>) -> String {
    pem("PUBLIC KEY", &s.ct.public_key_spki_der())
}

async fn key_pem(State(s): State<Arc<Stack>>) -> String {
    pem("PUBLIC KEY", &s.signing_key.public_key_spki_der())
}

/// Per-license rate buckets and in-flight limits, and the community bucket.
#[derive(Debug)]
pub(crate) struct Quotas {
    buckets: super::Shared<Bucket>,
    inflight: super::Shared<Arc<Semaphore>>,
    community: Mutex<Bucket>,
    community_qps: u32,
}

impl Quotas {
    pub fn new(community_qps: u32) -> Quotas {
        Quotas {
            buckets: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            community: Mutex::new(Bucket::full(community_qps.max(1))),
            community_qps: community_qps.max(1),
        }
    }

    fn admit(&self, license: &str, plan: &Plan) -> Result<OwnedSemaphorePermit, ApiError> {
        let exceeded = |what: String, retry: u64| {
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", what);
            e.retry_after = Some(retry);
            e
        };
        {
            let mut b = self
                .buckets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let bucket = b
                .entry(license.to_owned())
                .or_insert_with(|| Bucket::full(plan.burst));
            bucket.take(plan.qps, plan.burst).map_err(|wait| {
                exceeded(
                    format!(
                        "license {license} is over its plan's {} requests/s",
                        plan.qps
                    ),
                    wait,
                )
            })?;
        }
        let sem = self
            .inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(license.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(plan.concurrency as usize)))
            .clone();
        sem.try_acquire_owned().map_err(|_| {
            exceeded(
                format!(
                    "license {license} already has {} signing requests in flight",
                    plan.concurrency
                ),
                1,
            )
        })
    }

    fn community(&self) -> Result<(), ApiError> {
        let mut b = self
            .community
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        b.take(self.community_qps, self.community_qps)
            .map_err(|wait| {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "quota_exceeded",
                    "community mode is throttled",
                );
                e.retry_after = Some(wait);
                e
            })
    }
}

/// The append-only audit log: one JSON object per line, written and flushed to the file before the
/// answer is sent (it reaches the OS before the caller hears back; `fsync` is left to the file
/// system's commit interval, the usual trade-off of access logs).
#[derive(Debug)]
pub(crate) struct AuditLog {
    file: Mutex<File>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        Ok(AuditLog {
            file: Mutex::new(opts.open(path)?),
        })
    }

    pub fn record(&self, entry: &Value) {
        let mut line = entry.to_string();
        line.push('\n');
        let mut f = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::error!(error = %e, "audit log write failed");
        }
    }
}

/// What is known about a request, for its audit record.
#[derive(Debug, Default)]
struct Audit {
    license_id: Option<String>,
    identity: Option<Value>,
    image_digests: Vec<String>,
    predicate_type: Option<String>,
    policy_digest: Option<String>,
    scanner_image: Option<String>,
}

impl Audit {
    fn write(&self, s: &Stack, request_id: &str, result: &str, reason: Option<&str>) {
        s.audit.record(&json!({
            "time": (s.now)(),
            "request_id": request_id,
            "license_id": self.license_id,
            "identity": self.identity,
            "image_digests": self.image_digests,
            "predicate_type": self.predicate_type,
            "policy_digest": self.policy_digest,
            "scanner_image": self.scanner_image,
            "result": result,
            "reason": reason,
        }));
    }
}

async fn sign_dsse(
    State(s): State<Arc<Stack>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    client_cert: Option<Extension<super::tls::ClientCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // 1. Who is calling: an OpTok bound to a DPoP key (with its proof) or to the client certificate
    //    of this mutual-TLS connection. `caller` is the key the PoE must be bound to.
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let unauthorized = |why: String| {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", why).challenge("DPoP")
    };
    let (scheme, token) =
        match auth.split_once(' ') {
            Some((scheme @ ("DPoP" | "Bearer"), t)) if !t.trim().is_empty() => (scheme, t.trim()),
            _ => return Err(unauthorized(
                "an OpTok is required (`Authorization: DPoP <token>`, or Bearer over mutual TLS)"
                    .into(),
            )),
        };
    let (optok, binding) = verify_optok(&s, token).map_err(unauthorized)?;
    let caller = match binding {
        Binding::Dpop(jkt) => {
            if scheme != "DPoP" {
                return Err(unauthorized(
                    "this OpTok is DPoP-bound: send `Authorization: DPoP <token>` with a DPoP proof".into(),
                ));
            }
            let proof = check_dpop(
                &s,
                &headers,
                "POST",
                "/sign/dsse",
                Some(token),
                ProofAt::Resource,
            )?;
            if proof.jkt != jkt {
                return Err(unauthorized(
                    "the DPoP proof key is not the key the OpTok is bound to (cnf.jkt)".into(),
                ));
            }
            proof.jkt
        }
        Binding::Mtls(x5t) => {
            let cert = client_cert.map(|c| c.0).filter(|c| c.x5t_s256 == x5t).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "this OpTok is bound to a client certificate (cnf.x5t#S256) this connection did not present",
                )
                .challenge("Bearer")
            })?;
            cert.jkt
                .ok_or_else(|| unauthorized("the client certificate's key is not P-256".into()))?
        }
    };
    let mut audit = Audit {
        identity: optok.claims.raw.get("stella_identity").cloned(),
        ..Audit::default()
    };
    let deny = |audit: &Audit, e: ApiError| {
        audit.write(
            &s,
            &request_id,
            "denied",
            Some(&format!("{}: {}", e.code, e.description)),
        );
        e
    };

    // 2. Entitlement: a PoE bound to the same key. Without one: community mode, which never signs.
    let poe = headers.get(POE_HEADER).and_then(|v| v.to_str().ok());
    let Some(poe) = poe else {
        s.quotas.community().map_err(|e| deny(&audit, e))?;
        return Err(deny(
            &audit,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "entitlement_required",
                "community mode (no PoE): attestations are not signed; enroll a license (`stella license enroll`)",
            ),
        ));
    };
    let ent: Entitlement = verify_poe(&s, poe).map_err(|e| {
        deny(
            &audit,
            ApiError::new(StatusCode::FORBIDDEN, "invalid_entitlement", e),
        )
    })?;
    audit.license_id = Some(ent.license_id.clone());
    if ent.jkt != caller {
        return Err(deny(
            &audit,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_entitlement",
                "the PoE belongs to another installation (its cnf.jkt is not the DPoP key)",
            ),
        ));
    }

    // 3. Quotas, before any work.
    if body.len() as u64 > ent.plan.max_payload_bytes {
        return Err(deny(
            &audit,
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "request of {} bytes is over the plan's {} bytes",
                    body.len(),
                    ent.plan.max_payload_bytes
                ),
            ),
        ));
    }
    let _permit = s
        .quotas
        .admit(&ent.license_id, &ent.plan)
        .map_err(|e| deny(&audit, e))?;

    // 4. The request: an in-toto statement the identity may sign.
    let req: Value = serde_json::from_slice(&body).map_err(|e| {
        deny(
            &audit,
            ApiError::invalid_request(format!("body is not JSON: {e}")),
        )
    })?;
    let statement = req
        .get("statement")
        .filter(|v| v.is_object())
        .ok_or_else(|| {
            deny(
                &audit,
                ApiError::invalid_request("body has no `statement` object"),
            )
        })?;
    audit.policy_digest = req
        .get("policy_digest")
        .and_then(Value::as_str)
        .map(str::to_owned);
    audit.scanner_image = req
        .get("scanner_image")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (subjects, predicate_type) =
        check_statement(statement).map_err(|e| deny(&audit, ApiError::invalid_request(e)))?;
    audit.image_digests = subjects.iter().map(|(_, d)| d.clone()).collect();
    audit.predicate_type = Some(predicate_type.clone());
    // Claims the SBOM stamps about its attestation must be this request's: the license of the
    // PoE, the policy digest the request names.
    let predicate = &statement["predicate"];
    if let Some(claimed) = crate::claims::read(predicate, crate::claims::LICENSE_ID) {
        if claimed != ent.license_id {
            return Err(deny(
                &audit,
                ApiError::invalid_request(format!(
                    "the SBOM claims license {claimed} ({}), and the PoE is for license {}",
                    crate::claims::LICENSE_ID,
                    ent.license_id
                )),
            ));
        }
    }
    if let Some(claimed) = crate::claims::read(predicate, crate::claims::POLICY_DIGEST) {
        if audit.policy_digest.as_deref() != Some(claimed) {
            return Err(deny(
                &audit,
                ApiError::invalid_request(format!(
                    "the SBOM claims policy digest {claimed} ({}), and the request names {}",
                    crate::claims::POLICY_DIGEST,
                    audit.policy_digest.as_deref().unwrap_or("none")
                )),
            ));
        }
    }
    let allow = optok.claims.raw.get("stella_allow");
    let patterns = |name: &str| -> Vec<String> {
        allow
            .and_then(|a| a.get(name))
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    if !patterns("predicate_types")
        .iter()
        .any(|p| glob(p, &predicate_type))
    {
        return Err(deny(
            &audit,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this identity may not sign predicate type {predicate_type}"),
            ),
        ));
    }
    let images = patterns("images");
    if let Some((name, _)) = subjects
        .iter()
        .find(|(name, _)| !images.iter().any(|p| glob(p, name)))
    {
        return Err(deny(
            &audit,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this identity may not sign for {name}"),
            ),
        ));
    }

    // 5. Release integrity: the calling scanner is a release we signed, and one the license covers.
    if let Some(verifier) = &s.release {
        let Some(image) = audit.scanner_image.clone() else {
            return Err(deny(
                &audit,
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "release_unverified",
                    "the request names no scanner_image (repo@sha256:…) to check",
                ),
            ));
        };
        let release = verifier.verify(&image).await.map_err(|e| {
            deny(
                &audit,
                ApiError::new(StatusCode::FORBIDDEN, "release_unverified", e.to_string()),
            )
        })?;
        let version_ok =
            crate::release::version_at_most(&release.version, &ent.max_version).unwrap_or(false);
        if release.release_year > ent.valid_release_year || !version_ok {
            return Err(deny(
                &audit,
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "release_not_entitled",
                    format!(
                        "scanner {} ({}) is newer than the license covers (up to {} / {})",
                        release.version,
                        release.release_year,
                        ent.max_version,
                        ent.valid_release_year
                    ),
                ),
            ));
        }
    }

    // 6. Sign: with the configured key, or keyless with a 10-minute certificate for the identity.
    let keyless = match req.get("signing").and_then(Value::as_str) {
        None | Some("key") => false,
        Some("keyless") => true,
        Some(other) => {
            return Err(deny(
                &audit,
                ApiError::invalid_request(format!("signing must be key or keyless, not {other}")),
            ))
        }
    };
    let payload = serde_json::to_vec(statement).unwrap_or_default();
    let unavailable = |e: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e,
        )
    };
    let (mut answer, envelope, signed) = if keyless {
        let now = (s.now)();
        let (key, _) =
            MemoryKey::generate(&s.rng).map_err(|e| deny(&audit, unavailable(e.to_string())))?;
        let spki = key.public_key_spki_der();
        let ident = optok
            .claims
            .raw
            .get("stella_identity")
            .cloned()
            .unwrap_or(Value::Null);
        let ci = optok
            .claims
            .raw
            .get("stella_ci")
            .cloned()
            .unwrap_or(Value::Null);
        let fulcio = fulcio_identity(&ident, &ci);
        let san = ident
            .get("san_uri")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let issued =
            s.ca.issue(
                &CertRequest {
                    subject_public_key_spki_der: &spki,
                    san: San::Uri(san),
                    identity: &fulcio,
                    not_before: now,
                    validity_secs: KEYLESS_VALIDITY,
                },
                Some(&s.ct),
                &s.rng,
            )
            .map_err(|e| {
                deny(
                    &audit,
                    ApiError::new(StatusCode::FORBIDDEN, "invalid_identity", e.to_string()),
                )
            })?;
        let envelope = Envelope::sign(PAYLOAD_TYPE_IN_TOTO, payload, &key, "")
            .map_err(|e| deny(&audit, unavailable(e.to_string())))?;
        let answer = json!({
            "envelope": envelope.to_json(),
            "certificate": pem("CERTIFICATE", &issued.der),
            "chain": [pem("CERTIFICATE", s.ca.cert_der())],
        });
        (answer, envelope, Signed::Cert(issued.der))
    } else {
        let envelope = Envelope::sign(
            PAYLOAD_TYPE_IN_TOTO,
            payload,
            s.signing_key.as_ref(),
            &s.signing_key_id,
        )
        .map_err(|e| deny(&audit, unavailable(e.to_string())))?;
        let spki = s.signing_key.public_key_spki_der();
        let answer = json!({
            "envelope": envelope.to_json(),
            "key_id": s.signing_key_id,
            "public_key": pem("PUBLIC KEY", &spki),
        });
        (answer, envelope, Signed::Key(spki))
    };
    // 7. Log: when a transparency log is attached, the signature is only handed out logged.
    if let Some(log) = s.transparency.get() {
        let chain = vec![s.ca.cert_der().to_vec()];
        let by = match &signed {
            Signed::Cert(der) => SignedBy::Certificate { der, chain: &chain },
            Signed::Key(spki) => SignedBy::Key {
                spki,
                key_id: &s.signing_key_id,
            },
        };
        let receipt = log.log(&envelope, by).await.map_err(|e| {
            deny(
                &audit,
                unavailable(format!(
                    "the transparency log did not take the signature: {e}"
                )),
            )
        })?;
        if let Some(o) = answer.as_object_mut() {
            o.insert("bundle".into(), receipt.bundle);
            o.insert("log_index".into(), receipt.index.into());
            o.insert("uuid".into(), receipt.uuid.into());
            o.insert("log_url".into(), receipt.log_url.into());
        }
    }
    s.metrics.signed();
    audit.write(&s, &request_id, "signed", None);
    if let Some(o) = answer.as_object_mut() {
        o.insert("license_id".into(), ent.license_id.clone().into());
        o.insert(
            "identity".into(),
            audit.identity.clone().unwrap_or(Value::Null),
        );
    }
    Ok(Json(answer))
}

/// Who signed, for the transparency log.
enum Signed {
    Cert(Vec<u8>),
    Key(Vec<u8>),
}

/// Lifetime of keyless certificates, as Fulcio's.
pub const KEYLESS_VALIDITY: u64 = 600;

/// Fulcio's certificate extension values (docs/oid-info.md) from the OpTok's CI identity and claims.
fn fulcio_identity(ident: &Value, ci: &Value) -> FulcioIdentity {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
    };
    let c = |k: &str| s(ci, k);
    let issuer = s(ident, "issuer").unwrap_or_default();
    let mut f = FulcioIdentity::new(issuer.clone());
    f.runner_environment = c("runner_environment");
    f.source_repository_digest = s(ident, "sha");
    match s(ident, "platform").as_deref() {
        Some("github") => {
            let gh = |p: Option<String>| p.map(|p| format!("https://github.com/{p}"));
            f.build_signer_uri = gh(c("job_workflow_ref"));
            f.build_signer_digest = c("job_workflow_sha");
            f.source_repository_uri = gh(c("repository"));
            f.source_repository_ref = c("ref");
            f.source_repository_identifier = c("repository_id");
            f.source_repository_owner_uri = gh(c("repository_owner"));
            f.source_repository_owner_identifier = c("repository_owner_id");
            f.build_config_uri = gh(c("workflow_ref"));
            f.build_config_digest = c("workflow_sha");
            f.build_trigger = c("event_name");
            f.run_invocation_uri = match (c("repository"), c("run_id"), c("run_attempt")) {
                (Some(r), Some(id), Some(a)) => Some(format!(
                    "https://github.com/{r}/actions/runs/{id}/attempts/{a}"
                )),
                _ => None,
            };
            f.source_repository_visibility_at_signing = c("repository_visibility");
        }
        Some("gitlab") => {
            let host = issuer.trim_end_matches('/').to_owned();
            let gl = |p: Option<String>| p.map(|p| format!("{host}/{p}"));
            f.build_signer_uri = c("ci_config_ref_uri").map(|u| format!("https://{u}"));
            f.build_signer_digest = c("ci_config_sha");
            f.source_repository_uri = gl(c("project_path"));
            f.source_repository_ref = s(ident, "ref");
            f.source_repository_identifier = c("project_id");
            f.source_repository_owner_uri = gl(c("namespace_path"));
            f.source_repository_owner_identifier = c("namespace_id");
            f.build_config_uri = f.build_signer_uri.clone();
            f.build_config_digest = c("ci_config_sha");
            f.build_trigger = c("pipeline_source");
            f.run_invocation_uri = match (c("project_path"), c("job_id")) {
                (Some(p), Some(j)) => Some(format!("{host}/{p}/-/jobs/{j}")),
                _ => None,
            };
            f.source_repository_visibility_at_signing = c("project_visibility");
        }
        _ => {}
    }
    f
}

/// Checks an in-toto statement's shape; returns its subjects (name, `sha256:` digest) and predicate
/// type.
fn check_statement(st: &Value) -> Result<(Vec<(String, String)>, String), String> {
    let t = st.get("_type").and_then(Value::as_str).unwrap_or_default();
    if !STATEMENT_TYPES.contains(&t) {
        return Err(format!(
            "statement `_type` {t:?} is not an in-toto Statement"
        ));
    }
    let subjects = st
        .get("subject")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty() && s.len() <= 1024)
        .ok_or("statement needs 1 to 1024 subjects")?;
    let mut out = Vec::with_capacity(subjects.len());
    for s in subjects {
        let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
        let hex = s
            .get("digest")
            .and_then(|d| d.get("sha256"))
            .and_then(Value::as_str)
            .filter(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            })
            .ok_or_else(|| format!("subject {name:?} has no lower-case hex sha256 digest"))?;
        out.push((name.to_owned(), format!("sha256:{hex}")));
    }
    let pt = st
        .get("predicateType")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or("statement has no predicateType")?;
    Ok((out, pt.to_owned()))
}
