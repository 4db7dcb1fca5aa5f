//! `stella verify IMAGE`: may this image run? Discovers the image's attestations (OCI referrers by
//! the API or the tag fallback, in a registry or an OCI layout), verifies each Sigstore bundle
//! against the trust material (`attestor::verify`), proves its log entry again from the tiles of an
//! offline trust bundle when one is given, then applies the policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use attestor::trust_root::{rfc3339, TrustedRoot};
use attestor::verify::{
    key_id, verify_bundle, Expectations, IdentityRule, SignedBy, Verified, VerifyError, Witness,
};
use clap::{Args, ValueEnum};
use registry::referrers::{in_index_attestations, Discovery, Referrer, ARTIFACT_SIGSTORE_BUNDLE};
use registry::target::{self, Target};
use registry::{Platform, PushOptions};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use signer_gateway::claims;
use stella_tuf::stella::{KeyStatus, TrustedKey, ORG_KEY_USAGE};

use crate::exit;
use crate::trust_bundle::TrustBundle;

pub const AFTER_HELP: &str = "\
Trust material, one of:
  (default)                      trusted_root.json from the TUF cache (--trust-dir, STELLA_TRUST_DIR;
                                 `stella trust init ROOT.json --repo URL`, `stella trust update`),
                                 and the organisation's signing keys published there (targets of
                                 usage org-signing-key: active, or replaced and still in grace)
  --trusted-root FILE            the stack's trusted_root.json (`stella trust export`)
  --offline --trust-bundle FILE  an offline trust bundle (`stella trust bundle create`); opens no
                                 socket: the image must be an OCI layout (`stella cp REF oci:DIR:TAG`)

Online proof refresh (--log-url URL [--log-mirror URL] [--tile-cache DIR]): each entry is proven
again in the log's current checkpoint, from its tiles, through a circuit breaker that fails over to
the mirror and then to the tiles cached by earlier runs.

Policy (YAML, all keys optional):
  predicateTypes: [cyclonedx, spdx]   # each needs a verified attestation (names or URIs)
  identities:                         # allowed keyless signers, `*` globs
    - issuer: https://token.actions.githubusercontent.com
      subject: https://github.com/acme/app/.github/workflows/*@refs/heads/main
  keys: [org-signing-key.pub]         # PEM public keys allowed to sign (relative to the policy)
  maxAge: 30d                         # s, m, h or d
  views: [inventory]                  # SBOM views required (inventory, usage)
  witnesses: {keys: [name+hash+key], threshold: 1}
Without a policy: at least one verified CycloneDX or SPDX attestation, any trusted signer.

Exit codes: 0 verified and the policy holds; 2 invalid arguments or policy; 3 the image could not
be read; 4 registry error; 7 not verified (each failure is printed with its reason); 8 the trust
material is unusable (missing, corrupt, or fails its own checks).";

/// Where the CycloneDX and SPDX predicate types are named.
const CYCLONEDX: &str = "https://cyclonedx.org/bom";
const SPDX: &str = "https://spdx.dev/Document";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image: a registry reference or an OCI layout (`oci:DIR[:TAG]`).
    image: String,
    /// The verification policy (YAML; see below).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The stack's trusted_root.json.
    #[arg(long, conflicts_with = "trust_bundle")]
    trusted_root: Option<PathBuf>,
    /// An offline trust bundle (trust-bundle.tar.zst).
    #[arg(long)]
    trust_bundle: Option<PathBuf>,
    /// The TUF trust cache (`stella trust init` + `update`) to take trusted_root.json from when
    /// neither --trusted-root nor --trust-bundle is given.
    #[arg(long, env = "STELLA_TRUST_DIR")]
    trust_dir: Option<PathBuf>,
    /// Open no socket: needs --trust-bundle and a local image.
    #[arg(long, requires = "trust_bundle")]
    offline: bool,
    /// Plain HTTP to a loopback registry.
    #[arg(long)]
    insecure: bool,
    /// Verify one platform of a multi-platform image.
    #[arg(long)]
    platform: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Refresh each proof online: prove the entry in the log's current checkpoint from its tiles
    /// (and the consistency with the attestation's checkpoint), reading through a circuit breaker.
    #[arg(long, conflicts_with = "offline")]
    log_url: Option<String>,
    /// A mirror of the log (tile proxy) to fail over to when the log does not answer.
    #[arg(long, requires = "log_url")]
    log_mirror: Option<String>,
    /// Where tiles read from the log are kept (the last fallback when no log answers).
    #[arg(long, env = "STELLA_TILE_CACHE")]
    tile_cache: Option<PathBuf>,
}

/// The policy file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyFile {
    #[serde(default)]
    predicate_types: Vec<String>,
    #[serde(default)]
    identities: Vec<IdentityRule>,
    #[serde(default)]
    keys: Vec<PathBuf>,
    #[serde(default)]
    max_age: Option<String>,
    #[serde(default)]
    views: Vec<String>,
    #[serde(default)]
    witnesses: Option<WitnessPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessPolicy {
    keys: Vec<String>,
    threshold: usize,
}

/// The policy, read and checked.
#[derive(Debug, Default)]
pub struct Policy {
    /// Required predicate types; empty = any SBOM.
    predicate_types: Vec<String>,
    max_age_secs: Option<i64>,
    views: Vec<String>,
    expectations: Expectations,
    /// Where each trusted key came from, by key id: `{"file": PATH}` for the policy's keys,
    /// `{"tuf": NAME, "status": …}` for the organisation's keys distributed by TUF.
    key_sources: BTreeMap<String, Value>,
    /// `sha256:` of the policy file's bytes (none without a file).
    digest: Option<String>,
}

type Failure = (u8, String);

const NO_TRUST: &str = "no trust material: give --trusted-root FILE (`stella trust export`), \
     --trust-bundle FILE (`stella trust bundle create`), or pin a TUF repository with \
     `stella trust init ROOT.json --repo URL` and `stella trust update`";

fn predicate_uri(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "cyclonedx" => CYCLONEDX.into(),
        "spdx" => SPDX.into(),
        _ => name.into(),
    }
}

fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Reads a policy file.
pub fn load_policy(path: &Path) -> Result<Policy, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| (exit::USAGE, format!("policy {}: {e}", path.display())))?;
    let file: PolicyFile = serde_norway::from_slice(&bytes)
        .map_err(|e| (exit::USAGE, format!("policy {}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut keys = Vec::new();
    let mut key_sources = BTreeMap::new();
    for k in &file.keys {
        let p = base.join(k);
        let pem = std::fs::read_to_string(&p)
            .map_err(|e| (exit::USAGE, format!("policy key {}: {e}", p.display())))?;
        let spki = spki_from_pem(&pem).ok_or_else(|| {
            (
                exit::USAGE,
                format!("policy key {}: not a PEM PUBLIC KEY", p.display()),
            )
        })?;
        key_sources.insert(key_id(&spki), json!({"file": p.display().to_string()}));
        keys.push(spki);
    }
    let mut witnesses = Vec::new();
    let mut witness_threshold = 0;
    if let Some(w) = &file.witnesses {
        for k in &w.keys {
            witnesses.push(
                Witness::from_vkey(k)
                    .map_err(|e| (exit::USAGE, format!("policy {}: {e}", path.display())))?,
            );
        }
        if w.threshold > witnesses.len() {
            return Err((
                exit::USAGE,
                format!(
                    "policy {}: witness threshold {} exceeds the {} witness keys",
                    path.display(),
                    w.threshold,
                    witnesses.len()
                ),
            ));
        }
        witness_threshold = w.threshold;
    }
    let max_age_secs = match &file.max_age {
        Some(s) => Some(parse_duration(s).ok_or_else(|| {
            (
                exit::USAGE,
                format!(
                    "policy {}: maxAge `{s}` is not a number with s, m, h or d",
                    path.display()
                ),
            )
        })?),
        None => None,
    };
    for v in &file.views {
        if v != "inventory" && v != "usage" {
            return Err((
                exit::USAGE,
                format!(
                    "policy {}: unknown view `{v}` (inventory or usage)",
                    path.display()
                ),
            ));
        }
    }
    Ok(Policy {
        predicate_types: file
            .predicate_types
            .iter()
            .map(|p| predicate_uri(p))
            .collect(),
        max_age_secs,
        views: file.views,
        expectations: Expectations {
            identities: file.identities,
            keys,
            subject_digest: None,
            witnesses,
            witness_threshold,
        },
        key_sources,
        digest: Some(format!("sha256:{}", hex(&Sha256::digest(&bytes)))),
    })
}

fn hex(b: &[u8]) -> String {
    signer_gateway::dsse::hex(b)
}

fn spki_from_pem(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PUBLIC KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// One attestation's outcome.
#[derive(Debug)]
struct Checked {
    referrer: Referrer,
    outcome: Result<Verified, String>,
    /// A BuildKit in-index attestation: in-toto statements with no signature and no log entry,
    /// listed (with their predicate types) but never counted.
    unsigned: Option<Vec<String>>,
    /// The checkpoint the proof was refreshed to, and where its tiles came from.
    refreshed: Option<Value>,
}

/// Verification of one subject manifest.
#[derive(Debug)]
struct SubjectReport {
    digest: String,
    attestations: Vec<Checked>,
    failures: Vec<String>,
}

pub fn run(a: VerifyArgs) -> u8 {
    match verify(&a) {
        Ok((ok, report)) => {
            match a.format {
                Format::Json => {
                    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
                    text.push('\n');
                    print!("{text}");
                }
                Format::Text => print!("{}", text_report(&report)),
            }
            if ok {
                exit::OK
            } else {
                exit::NOT_VERIFIED
            }
        }
        Err((code, msg)) => {
            eprintln!("stella verify: {msg}");
            code
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn verify(a: &VerifyArgs) -> Result<(bool, Value), Failure> {
    let mut policy = match &a.policy {
        Some(p) => load_policy(p)?,
        None => Policy::default(),
    };
    let target = Target::parse(&a.image).map_err(|e| (exit::SOURCE, e.to_string()))?;
    if a.offline && target.is_remote() {
        return Err((
            exit::USAGE,
            format!(
                "--offline verifies a local image, and {} is in a registry: copy it first with \
                 `stella cp {} oci:DIR:TAG`",
                a.image, a.image
            ),
        ));
    }
    // The trust material.
    let bundle = match &a.trust_bundle {
        Some(p) => Some(TrustBundle::open(p).map_err(|e| (exit::TRUST, e))?),
        None => None,
    };
    let mut tuf_report = None;
    let root = match (&bundle, &a.trusted_root) {
        (Some(b), _) => match bundle_tuf(a, b, &mut policy)? {
            Some((root, report)) => {
                tuf_report = Some(report);
                root
            }
            None => b.trusted_root().map_err(|e| (exit::TRUST, e))?,
        },
        (None, Some(p)) => {
            let bytes = std::fs::read(p)
                .map_err(|e| (exit::TRUST, format!("trusted root {}: {e}", p.display())))?;
            TrustedRoot::parse(&bytes)
                .map_err(|e| (exit::TRUST, format!("trusted root {}: {e}", p.display())))?
        }
        (None, None) => {
            let Some(dir) = a.trust_dir.clone().or_else(stella_tuf::default_trust_dir) else {
                return Err((exit::USAGE, NO_TRUST.into()));
            };
            if !dir.join("metadata").join("root.json").exists() {
                return Err((
                    exit::USAGE,
                    format!("{NO_TRUST} (no TUF root is pinned in {})", dir.display()),
                ));
            }
            let bytes =
                stella_tuf::cached_target(&dir, "trusted_root.json", now_secs()).map_err(|e| {
                    (
                        exit::TRUST,
                        format!(
                            "the TUF trust cache {} does not give a trusted_root.json: {e} \
                             (run `stella trust update`)",
                            dir.display()
                        ),
                    )
                })?;
            let root = TrustedRoot::parse(&bytes).map_err(|e| {
                (
                    exit::TRUST,
                    format!(
                        "trusted_root.json from the TUF cache {}: {e}",
                        dir.display()
                    ),
                )
            })?;
            let org = stella_tuf::cached_keys(&dir, ORG_KEY_USAGE, now_secs()).map_err(|e| {
                (
                    exit::TRUST,
                    format!(
                        "the TUF trust cache {} does not give its {ORG_KEY_USAGE} targets: {e} \
                         (run `stella trust update`)",
                        dir.display()
                    ),
                )
            })?;
            trust_org_keys(&mut policy, &org)?;
            root
        }
    };
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
    let code_of = |remote: bool| if remote { exit::REGISTRY } else { exit::SOURCE };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (exit::FAILURE, format!("cannot start the runtime: {e}")))?;
    let (subjects, found, unsigned) = runtime.block_on(async {
        let subjects = target::subjects(&target, &opts)
            .await
            .map_err(|e| (code_of(target.is_remote()), e.to_string()))?;
        let referrers = target::list(&target, Some(ARTIFACT_SIGSTORE_BUNDLE), &opts)
            .await
            .map_err(|e| (code_of(target.is_remote()), e.to_string()))?;
        let mut found = Vec::new();
        for r in referrers {
            let fetched = target::fetch(&target, &r, &opts).await;
            found.push((r, fetched.map(|(_, _, bytes)| bytes)));
        }
        let unsigned = buildkit_attestations(&target, &opts)
            .await
            .map_err(|e| (code_of(target.is_remote()), e.to_string()))?;
        Ok::<_, Failure>((subjects, found, unsigned))
    })?;

    let refresh = match &a.log_url {
        Some(url) => Some(upstream(
            url,
            a.log_mirror.as_deref(),
            a.tile_cache.as_deref(),
        )?),
        None => None,
    };
    let now = now_secs();
    let mut reports = Vec::new();
    for s in &subjects {
        let mut exp = policy.expectations.clone();
        exp.subject_digest = Some(s.digest.clone());
        let mut attestations = Vec::new();
        for (r, bytes) in found.iter().filter(|(r, _)| r.subject == s.digest) {
            let mut outcome = match bytes {
                Err(e) => Err(format!("cannot fetch the bundle: {e}")),
                Ok(b) => check_one(b, &root, &exp, &policy, bundle.as_ref(), now),
            };
            let mut refreshed = None;
            if let (Some(up), Ok(v), Ok(b)) = (&refresh, &outcome, bytes) {
                match runtime.block_on(refresh_proof(up, b, v, &root)) {
                    Ok(r) => refreshed = Some(r),
                    Err(e) => outcome = Err(format!("proof refresh: {e}")),
                }
            }
            attestations.push(Checked {
                referrer: r.clone(),
                outcome,
                unsigned: None,
                refreshed,
            });
        }
        for (r, predicate_types) in unsigned.iter().filter(|(r, _)| r.subject == s.digest) {
            attestations.push(Checked {
                referrer: r.clone(),
                outcome: Err(UNSIGNED.into()),
                unsigned: Some(predicate_types.clone()),
                refreshed: None,
            });
        }
        let failures = requirements(&policy, &attestations);
        reports.push(SubjectReport {
            digest: s.digest.clone(),
            attestations,
            failures,
        });
    }
    if subjects.is_empty() {
        return Err((
            code_of(target.is_remote()),
            "the image has no manifest".into(),
        ));
    }
    let ok = reports.iter().all(|r| r.failures.is_empty());
    let policy_digest = policy.digest.take();
    let mut report = report_json(&a.image, ok, policy_digest, &policy.key_sources, &reports);
    if let Some(b) = &bundle {
        report["trustBundle"] = json!({
            "created": b.manifest()["created"],
            "log": b.manifest()["log"],
        });
        if let Some(t) = tuf_report {
            report["trustBundle"]["tuf"] = t;
        }
    }
    Ok((ok, report))
}

/// The trust material of a bundle that seals a TUF repository: the TUF client workflow runs against
/// the bundle's `tuf/` and `targets/`, from the root pinned in the trust dir when there is one
/// (--trust-dir, STELLA_TRUST_DIR, or the default one), else from the bundle's own first root (trust
/// on first use, reported as such). Metadata expiry is judged at the bundle's creation time (it is
/// sealed), a replaced key's grace period at the time of verification. None for a bundle without
/// TUF; an explicit trust dir then is an error, since it cannot be honoured.
fn bundle_tuf(
    a: &VerifyArgs,
    b: &TrustBundle,
    policy: &mut Policy,
) -> Result<Option<(TrustedRoot, Value)>, Failure> {
    let first = match b.tuf_first_root() {
        Some(r) => r.map_err(|e| (exit::TRUST, e))?,
        None if a.trust_dir.is_some() => {
            return Err((
                exit::TRUST,
                "the trust bundle seals no TUF repository, so the root pinned in --trust-dir \
                 cannot be checked against it (create it from a stack with a TUF repository, or \
                 leave out --trust-dir)"
                    .into(),
            ))
        }
        None => return Ok(None),
    };
    let pinned_file = a
        .trust_dir
        .clone()
        .or_else(stella_tuf::default_trust_dir)
        .map(|d| d.join("metadata").join("root.json"))
        .filter(|p| p.is_file());
    if a.trust_dir.is_some() && pinned_file.is_none() {
        return Err((
            exit::TRUST,
            "--trust-dir pins no TUF root (metadata/root.json): run `stella trust init`".into(),
        ));
    }
    let (pinned, pinned_from) = match &pinned_file {
        Some(p) => (
            std::fs::read(p).map_err(|e| (exit::TRUST, format!("{}: {e}", p.display())))?,
            json!({"trustDir": p.display().to_string()}),
        ),
        None => (first, json!("bundle (trust on first use)")),
    };
    let created = b.manifest()["created"]
        .as_str()
        .and_then(stella_tuf::time::parse_rfc3339)
        .ok_or((
            exit::TRUST,
            "the trust bundle's manifest.json has no creation time".to_owned(),
        ))?;
    let tuf_err = |e: stella_tuf::Error| {
        (
            exit::TRUST,
            format!(
                "the trust bundle's TUF repository, from the root pinned in {pinned_from}: {e}"
            ),
        )
    };
    let bytes =
        stella_tuf::bundle_target(b.dir(), &pinned, stella_tuf::stella::TRUSTED_ROOT, created)
            .map_err(tuf_err)?;
    let root = TrustedRoot::parse(&bytes).map_err(|e| {
        (
            exit::TRUST,
            format!("the trust bundle's TUF trusted_root.json: {e}"),
        )
    })?;
    let keys = stella_tuf::bundle_keys(b.dir(), &pinned, ORG_KEY_USAGE, created, now_secs())
        .map_err(tuf_err)?;
    trust_org_keys(policy, &keys)?;
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.name.as_str()).collect();
    Ok(Some((
        root,
        json!({"pinnedRoot": pinned_from, "orgKeys": names}),
    )))
}

/// Trusts the organisation's signing keys distributed by TUF (active ones, and replaced ones during
/// their grace period): added to the policy's keys, with their target names for the report.
fn trust_org_keys(policy: &mut Policy, keys: &[(TrustedKey, Vec<u8>)]) -> Result<(), Failure> {
    for (k, bytes) in keys {
        let spki = std::str::from_utf8(bytes)
            .ok()
            .and_then(spki_from_pem)
            .ok_or_else(|| {
                (
                    exit::TRUST,
                    format!(
                        "TUF target {} ({ORG_KEY_USAGE}) is not a PEM PUBLIC KEY",
                        k.name
                    ),
                )
            })?;
        let mut source = json!({
            "tuf": k.name,
            "status": match k.status {
                KeyStatus::Active => "active",
                KeyStatus::Grace => "grace",
            },
        });
        if let Some(until) = &k.grace_until {
            source["graceUntil"] = json!(until);
        }
        policy.key_sources.insert(key_id(&spki), source);
        if !policy.expectations.keys.contains(&spki) {
            policy.expectations.keys.push(spki);
        }
    }
    Ok(())
}

const UNSIGNED: &str = "a BuildKit in-index attestation: in-toto statements with no signature and \
     no log entry, so it does not count (sign and publish it with `stella attest`)";

/// BuildKit's in-index attestation manifests of a multi-platform image, as referrers of the platform
/// manifests they describe, each with the predicate types of its in-toto layers (from the layer
/// annotations, else the statements; an attestation whose layers cannot be read lists the error).
async fn buildkit_attestations(
    target: &Target,
    opts: &PushOptions,
) -> Result<Vec<(Referrer, Vec<String>)>, registry::SourceError> {
    let (bytes, top) = target::top_manifest(target, opts).await?;
    if !top.media_type.contains("index") && !top.media_type.contains("manifest.list") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (subject, atts) in in_index_attestations(&bytes)? {
        for d in atts {
            let types = match target::fetch_in_toto_layers(target, &d, opts).await {
                Ok(layers) => layers
                    .iter()
                    .map(|l| {
                        l.predicate_type.clone().unwrap_or_else(|| {
                            serde_json::from_slice::<Value>(&l.statement)
                                .ok()
                                .and_then(|v| v["predicateType"].as_str().map(str::to_owned))
                                .unwrap_or_else(|| "unknown".into())
                        })
                    })
                    .collect(),
                Err(e) => vec![format!("unreadable: {e}")],
            };
            out.push((
                Referrer {
                    subject: subject.clone(),
                    descriptor: d,
                    discovery: Discovery::BuildkitIndex,
                },
                types,
            ));
        }
    }
    Ok(out)
}

fn check_one(
    bytes: &[u8],
    root: &TrustedRoot,
    exp: &Expectations,
    policy: &Policy,
    bundle: Option<&TrustBundle>,
    now: i64,
) -> Result<Verified, String> {
    let v = verify_bundle(bytes, root, exp).map_err(|e: VerifyError| e.to_string())?;
    if let Some(tb) = bundle {
        tb.prove(bytes, &v, root)?;
    }
    if let (Some(max), Some(at)) = (policy.max_age_secs, v.signed_at) {
        if now.saturating_sub(at) > max {
            return Err(format!(
                "signed at {}, older than the policy's maxAge of {max} s",
                rfc3339(u64::try_from(at).unwrap_or(0))
            ));
        }
    }
    Ok(v)
}

/// The views an SBOM predicate shows (its `stella:sbom:view` claim); inventory when unstamped.
fn views_of(v: &Verified) -> Vec<String> {
    let view = claims::read(&v.statement["predicate"], claims::VIEW).unwrap_or("inventory");
    vec![view.to_owned()]
}

fn is_sbom(predicate_type: &str) -> bool {
    predicate_type == CYCLONEDX || predicate_type == SPDX
}

fn requirements(policy: &Policy, atts: &[Checked]) -> Vec<String> {
    let verified: Vec<&Verified> = atts
        .iter()
        .filter_map(|c| c.outcome.as_ref().ok())
        .collect();
    let mut failures = Vec::new();
    let unsigned = atts.iter().filter(|c| c.unsigned.is_some()).count();
    if policy.predicate_types.is_empty() && !verified.iter().any(|v| is_sbom(&v.predicate_type)) {
        failures.push(if atts.len() == unsigned {
            let mut m = "no attestation is attached (no Sigstore bundle referrer)".to_owned();
            if unsigned > 0 {
                m.push_str(&format!(
                    "; {unsigned} unsigned BuildKit in-index attestation(s) do not count: sign \
                     them with `stella attest`"
                ));
            }
            m
        } else {
            "no verified CycloneDX or SPDX attestation".to_owned()
        });
    }
    for want in &policy.predicate_types {
        if !verified.iter().any(|v| &v.predicate_type == want) {
            failures.push(format!("no verified attestation of predicate type {want}"));
        }
    }
    for view in &policy.views {
        if !verified
            .iter()
            .filter(|v| is_sbom(&v.predicate_type))
            .any(|v| views_of(v).contains(view))
        {
            failures.push(format!("no verified SBOM with the {view} view"));
        }
    }
    failures
}

/// Claims an attestation makes: the scanner (CycloneDX tools / SPDX creators) and the Stella
/// properties `stella:attestation:licenseId` and `stella:attestation:policyDigest`.
fn claims(v: &Verified) -> Value {
    let p = &v.statement["predicate"];
    let mut out = serde_json::Map::new();
    if let Some(t) = p["metadata"]["tools"]["components"]
        .as_array()
        .and_then(|a| a.first())
    {
        out.insert(
            "scanner".into(),
            json!(format!(
                "{} {}",
                t["name"].as_str().unwrap_or("?"),
                t["version"].as_str().unwrap_or("?")
            )),
        );
    } else if let Some(tool) = p["creationInfo"]["creators"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|c| c.strip_prefix("Tool: "))
    {
        out.insert("scanner".into(), json!(tool));
    }
    for (key, name) in [
        ("license_id", claims::LICENSE_ID),
        ("policy_digest", claims::POLICY_DIGEST),
        ("view", claims::VIEW),
    ] {
        if let Some(value) = claims::read(p, name) {
            out.insert(key.into(), json!(value));
        }
    }
    Value::Object(out)
}

fn signer_json(by: &SignedBy, key_sources: &BTreeMap<String, Value>) -> Value {
    match by {
        SignedBy::Certificate {
            issuer,
            subject,
            extensions,
            ..
        } => json!({"issuer": issuer, "subject": subject, "extensions": extensions}),
        SignedBy::Key { key_id } => {
            let mut o = json!({"key": key_id});
            if let Some(src) = key_sources.get(key_id) {
                o["keySource"] = src.clone();
            }
            o
        }
    }
}

fn report_json(
    image: &str,
    ok: bool,
    policy_digest: Option<String>,
    key_sources: &BTreeMap<String, Value>,
    reports: &[SubjectReport],
) -> Value {
    let subjects: Vec<Value> = reports
        .iter()
        .map(|r| {
            let atts: Vec<Value> = r
                .attestations
                .iter()
                .map(|c| {
                    let mut o = json!({
                        "referrer": c.referrer.descriptor.digest,
                        "discovery": c.referrer.discovery,
                    });
                    match &c.outcome {
                        Ok(v) => {
                            o["verified"] = json!(true);
                            if let Some(r) = &c.refreshed {
                                o["refreshed"] = r.clone();
                            }
                            o["predicateType"] = json!(v.predicate_type);
                            o["signer"] = signer_json(&v.signed_by, key_sources);
                            o["log"] = json!({
                                "index": v.log.index,
                                "origin": v.log.origin,
                                "treeSize": v.log.tree_size,
                                "witnesses": v.log.witnesses,
                            });
                            o["signedAt"] =
                                json!(v.signed_at.map(|t| rfc3339(u64::try_from(t).unwrap_or(0))));
                            o["claims"] = claims(v);
                        }
                        Err(reason) => {
                            o["verified"] = json!(false);
                            o["reason"] = json!(reason);
                            if let Some(types) = &c.unsigned {
                                o["unsigned"] = json!(true);
                                o["predicateTypes"] = json!(types);
                            }
                        }
                    }
                    o
                })
                .collect();
            json!({
                "digest": r.digest,
                "verified": r.failures.is_empty(),
                "attestations": atts,
                "failures": r.failures,
            })
        })
        .collect();
    let mut out = BTreeMap::new();
    out.insert("image", json!(image));
    out.insert("verified", json!(ok));
    out.insert("policyDigest", json!(policy_digest));
    out.insert("subjects", json!(subjects));
    json!(out)
}

fn text_report(report: &Value) -> String {
    let mut s = String::new();
    let ok = report["verified"].as_bool().unwrap_or(false);
    for sub in report["subjects"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "{} {}\n",
            if sub["verified"].as_bool() == Some(true) {
                "OK  "
            } else {
                "FAIL"
            },
            sub["digest"].as_str().unwrap_or("?")
        ));
        for a in sub["attestations"].as_array().into_iter().flatten() {
            if a["verified"].as_bool() == Some(true) {
                let signer = &a["signer"];
                let who = signer["subject"]
                    .as_str()
                    .map(|subj| format!("{} ({})", subj, signer["issuer"].as_str().unwrap_or("")))
                    .or_else(|| {
                        signer["key"].as_str().map(|k| {
                            let src = &signer["keySource"];
                            match (src["tuf"].as_str(), src["file"].as_str()) {
                                (Some(name), _) => format!(
                                    "key {k} (TUF {name}, {}{})",
                                    src["status"].as_str().unwrap_or("?"),
                                    src["graceUntil"]
                                        .as_str()
                                        .map(|u| format!(" until {u}"))
                                        .unwrap_or_default()
                                ),
                                (None, Some(file)) => format!("key {k} ({file})"),
                                _ => format!("key {k}"),
                            }
                        })
                    })
                    .unwrap_or_default();
                s.push_str(&format!(
                    "  verified {}  signed by {}  at {}  log {} #{}\n",
                    a["predicateType"].as_str().unwrap_or("?"),
                    who,
                    a["signedAt"].as_str().unwrap_or("?"),
                    a["log"]["origin"].as_str().unwrap_or("?"),
                    a["log"]["index"]
                ));
                if let Some(c) = a["claims"].as_object().filter(|c| !c.is_empty()) {
                    let parts: Vec<String> = c
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                        .collect();
                    s.push_str(&format!("    claims: {}\n", parts.join(" ")));
                }
            } else if a["unsigned"] == true {
                let types: Vec<&str> = a["predicateTypes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                s.push_str(&format!(
                    "  unsigned {} ({}): {}\n",
                    a["referrer"].as_str().unwrap_or("?"),
                    types.join(", "),
                    a["reason"].as_str().unwrap_or("?")
                ));
            } else {
                s.push_str(&format!(
                    "  rejected {}: {}\n",
                    a["referrer"].as_str().unwrap_or("?"),
                    a["reason"].as_str().unwrap_or("?")
                ));
            }
        }
        for f in sub["failures"].as_array().into_iter().flatten() {
            s.push_str(&format!("  policy: {}\n", f.as_str().unwrap_or("?")));
        }
    }
    if let Some(d) = report["policyDigest"].as_str() {
        s.push_str(&format!("policy {d}\n"));
    }
    s.push_str(if ok { "verified\n" } else { "NOT verified\n" });
    s
}

/// The log client for proof refresh: a breaker that opens at the first failure (a one-shot command
/// has no time to count), the mirror, and the tile cache.
fn upstream(
    url: &str,
    mirror: Option<&str>,
    cache: Option<&Path>,
) -> Result<attestor::upstream::Upstream, Failure> {
    let cache_dir = match cache {
        Some(c) => c.to_path_buf(),
        None => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(std::env::temp_dir);
            let name: String = url
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            base.join("stella").join("tiles").join(name)
        }
    };
    attestor::upstream::Upstream::new(attestor::upstream::UpstreamConfig {
        primary: url.to_owned(),
        mirror: mirror.map(str::to_owned),
        breaker: attestor::breaker::BreakerConfig {
            failure_threshold: 1,
            ..attestor::breaker::BreakerConfig::default()
        },
        timeout: std::time::Duration::from_secs(10),
        cache_dir,
    })
    .map_err(|e| (exit::FAILURE, e.to_string()))
}

/// Proves the entry in the log's current checkpoint (see [`crate::trust_bundle::prove_in_tiles`]),
/// reading the checkpoint and each missing tile through the breaker into the cache.
async fn refresh_proof(
    up: &attestor::upstream::Upstream,
    bytes: &[u8],
    v: &Verified,
    root: &TrustedRoot,
) -> Result<Value, String> {
    use crate::trust_bundle::{prove_in_tiles, ProveError};
    let read = |path: String| async move {
        let a = up.read(&path).await.map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!("the log answers {} for {path}", a.status));
        }
        Ok::<_, String>(a)
    };
    let cp = read("checkpoint".into()).await?;
    let source = cp.source;
    let text = String::from_utf8(cp.body).map_err(|_| "the checkpoint is not UTF-8".to_owned())?;
    let dir = up.cache_dir().to_path_buf();
    let mut sources = vec![source.as_str()];
    for _ in 0..256 {
        match prove_in_tiles(&dir, &text, bytes, v, root) {
            Ok(cp) => {
                sources.sort_unstable();
                sources.dedup();
                return Ok(json!({"treeSize": cp.size, "sources": sources}));
            }
            Err(ProveError::Missing { tile, .. }) => {
                let a = read(tile.clone()).await?;
                sources.push(a.source.as_str());
                // The cache write is best effort; make sure the tile is where the proof looks.
                let p = dir.join(&tile);
                if std::fs::read(&p).map(|b| b != a.body).unwrap_or(true) {
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                    }
                    std::fs::write(&p, &a.body).map_err(|e| format!("{}: {e}", p.display()))?;
                }
            }
            Err(ProveError::Failed(e)) => return Err(e),
        }
    }
    Err("more than 256 tiles for one proof".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(parse_duration("90m"), Some(5400));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5y"), None);
        assert_eq!(parse_duration("d"), None);
    }
}
