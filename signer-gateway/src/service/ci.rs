//! CI platform OIDC tokens: the issuers' key sets (fetched and cached, or read from a file) and the
//! identity a verified token describes (GitHub Actions and GitLab CI claim sets).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::config::{Platform, TrustedIssuer};
use crate::jose::JwkSet;

/// How long a fetched JWKS is used before it is fetched again.
pub const JWKS_TTL: u64 = 600;
/// The shortest time between two fetches of one issuer's JWKS (an unknown `kid` triggers a refetch;
/// this stops a stream of forged tokens from turning us into a traffic generator).
pub const JWKS_MIN_REFETCH: u64 = 30;
/// Largest JWKS or discovery document read.
const MAX_DOC_BYTES: usize = 256 * 1024;

/// Why an issuer's key set could not be had.
#[derive(Debug, Clone, thiserror::Error)]
#[error("JWKS of {issuer}: {reason}")]
pub struct JwksError {
    pub issuer: String,
    pub reason: String,
}

#[derive(Debug, Default)]
struct Cached {
    keys: Option<Arc<JwkSet>>,
    fetched_at: u64,
}

/// The key sets of the trusted issuers.
#[derive(Debug)]
pub struct IssuerKeys {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Default for IssuerKeys {
    fn default() -> Self {
        IssuerKeys::new()
    }
}

impl IssuerKeys {
    /// An empty cache with a client that gives up after 5 seconds.
    pub fn new() -> IssuerKeys {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap_or_default();
        IssuerKeys {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The key set of `issuer` at `now`. `need_kid` is the `kid` of the token at hand: when the cached
    /// set lacks it, the set is fetched again (at most every [`JWKS_MIN_REFETCH`] seconds), which is how
    /// an issuer's key rotation is picked up.
    pub async fn get(
        &self,
        issuer: &TrustedIssuer,
        need_kid: Option<&str>,
        now: u64,
    ) -> Result<Arc<JwkSet>, JwksError> {
        let err = |reason: String| JwksError {
            issuer: issuer.issuer.clone(),
            reason,
        };
        if let Some(path) = &issuer.jwks_file {
            // Air-gapped: the file is the truth; read it each time so an operator's update is seen.
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
            let set = JwkSet::parse(&bytes).map_err(|e| err(format!("{}: {e}", path.display())))?;
            return Ok(Arc::new(set));
        }
        let mut cache = self.cache.lock().await;
        let entry = cache.entry(issuer.issuer.clone()).or_default();
        let fresh = now.saturating_sub(entry.fetched_at) < JWKS_TTL;
        if let Some(keys) = &entry.keys {
            let has_kid = need_kid.is_none_or(|k| keys.find(k).is_some());
            let may_refetch = now.saturating_sub(entry.fetched_at) >= JWKS_MIN_REFETCH;
            if fresh && (has_kid || !may_refetch) {
                return Ok(keys.clone());
            }
        }
        match self.fetch(issuer).await {
            Ok(set) => {
                let set = Arc::new(set);
                entry.keys = Some(set.clone());
                entry.fetched_at = now;
                Ok(set)
            }
            // Keep serving a stale set when the issuer is briefly unreachable.
            Err(e) => match &entry.keys {
                Some(keys) if now.saturating_sub(entry.fetched_at) < 4 * JWKS_TTL => {
                    Ok(keys.clone())
                }
                _ => Err(e),
            },
        }
    }

    async fn fetch(&self, issuer: &TrustedIssuer) -> Result<JwkSet, JwksError> {
        let err = |reason: String| JwksError {
            issuer: issuer.issuer.clone(),
            reason,
        };
        let jwks_uri = match &issuer.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&url).await.map_err(err)?;
                if doc.get("issuer").and_then(Value::as_str) != Some(issuer.issuer.as_str()) {
                    return Err(err(format!("{url}: `issuer` is not {}", issuer.issuer)));
                }
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(format!("{url}: no jwks_uri")))?
                    .to_owned()
            }
        };
        let doc = self.get_json(&jwks_uri).await.map_err(err)?;
        JwkSet::parse(doc.to_string().as_bytes()).map_err(|e| err(format!("{jwks_uri}: {e}")))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: HTTP {}", resp.status()));
        }
        let bytes = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if bytes.len() > MAX_DOC_BYTES {
            return Err(format!("{url}: larger than {MAX_DOC_BYTES} bytes"));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not JSON: {e}"))
    }
}

/// Who a CI token says is running: the pieces identity rules and certificates use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CiIdentity {
    pub issuer: String,
    pub subject: String,
    pub platform: &'static str,
    /// `owner/repo` (GitHub `repository`, GitLab `project_path`).
    pub repository: String,
    /// `refs/heads/main` (GitLab's `ref` + `ref_type` turned into the same form).
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The workflow definition at its ref (GitHub `job_workflow_ref`, GitLab `ci_config_ref_uri`).
    pub workflow: String,
    /// The commit.
    pub sha: String,
    /// The certificate SAN for keyless signing: the workflow as a URI, as Fulcio does.
    pub san_uri: String,
    /// The claims Fulcio's certificate extensions are built from.
    pub claims: Map<String, Value>,
}

/// Reads the identity out of verified claims, refusing tokens that lack what the platform always
/// sends.
pub fn identity(
    platform: Platform,
    issuer: &str,
    claims: &Map<String, Value>,
) -> Result<CiIdentity, String> {
    let s = |name: &str| -> Result<String, String> {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && !v.chars().any(char::is_control))
            .map(str::to_owned)
            .ok_or_else(|| format!("the token has no `{name}` claim"))
    };
    let subject = s("sub")?;
    let sha = s("sha")?;
    let (platform_name, repository, git_ref, workflow, san_uri) = match platform {
        Platform::Github => {
            let workflow = s("job_workflow_ref").or_else(|_| s("workflow_ref"))?;
            let san = format!("https://github.com/{workflow}");
            ("github", s("repository")?, s("ref")?, workflow, san)
        }
        Platform::Gitlab => {
            let r = s("ref")?;
            let git_ref = match claims.get("ref_type").and_then(Value::as_str) {
                Some("tag") => format!("refs/tags/{r}"),
                _ => format!("refs/heads/{r}"),
            };
            let workflow = s("ci_config_ref_uri")?;
            let san = format!("https://{workflow}");
            ("gitlab", s("project_path")?, git_ref, workflow, san)
        }
        Platform::Dev => {
            let san = format!("{}/users/{}", issuer.trim_end_matches('/'), s("user")?);
            ("dev", s("repository")?, s("ref")?, s("workflow")?, san)
        }
    };
    Ok(CiIdentity {
        issuer: issuer.to_owned(),
        subject,
        platform: platform_name,
        repository,
        git_ref,
        workflow,
        sha,
        san_uri,
        claims: claims.clone(),
    })
}
