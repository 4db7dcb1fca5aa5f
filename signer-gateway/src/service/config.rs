//! The stack's configuration (`--config FILE`, JSON): which CI platforms' OIDC tokens the Authority
//! exchanges, what each CI identity may sign, plans and their quotas, and token lifetimes.
//!
//! ```json
//! {
//!   "trusted_issuers": [
//!     {"issuer": "https://token.actions.githubusercontent.com", "platform": "github",
//!      "audience": "stella", "jwks_file": "/etc/stella/github-jwks.json"}
//!   ],
//!   "identity_rules": [
//!     {"issuer": "https://token.actions.githubusercontent.com", "repository": "octo-org/*",
//!      "ref": "refs/heads/main", "workflow": "*", "predicate_types": ["*"], "images": ["*"]}
//!   ],
//!   "plans": {"team": {"qps": 50, "burst": 100, "concurrency": 8, "max_payload_bytes": 4194304}}
//! }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole configuration; every member has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Authority's issuer URL (`iss` of OpToks); by default `http://LISTEN`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The base URL clients reach the services at (DPoP `htu`); by default the issuer.
    #[serde(default)]
    pub public_url: Option<String>,
    /// OpTok lifetime in seconds, 120–300.
    #[serde(default = "default_optok_ttl")]
    pub optok_ttl_secs: u64,
    /// PoE lifetime in seconds (capped by the License Token's expiry).
    #[serde(default = "default_poe_ttl")]
    pub poe_ttl_secs: u64,
    /// Authority key rotation period and the overlap a retired key stays published.
    #[serde(default = "default_rotate")]
    pub key_rotation_secs: u64,
    #[serde(default = "default_overlap")]
    pub key_overlap_secs: u64,
    /// Whether DPoP proofs must carry a server nonce (RFC 9449 §8, §9).
    #[serde(default = "default_true")]
    pub dpop_nonces: bool,
    /// CI platforms whose OIDC tokens are exchanged for OpToks.
    #[serde(default)]
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// Which CI identities may sign what; no match means no OpTok.
    #[serde(default)]
    pub identity_rules: Vec<IdentityRule>,
    /// Plans by name; a License Token names one.
    #[serde(default = "default_plans")]
    pub plans: BTreeMap<String, Plan>,
    /// Release public keys (PEM files) whose signature a scanner image must carry; empty disables the
    /// release-integrity check (and says so at start-up).
    #[serde(default)]
    pub release_keys: Vec<PathBuf>,
    /// Reach the registries holding scanner images over plain HTTP (loopback test registries).
    #[serde(default)]
    pub release_registry_insecure: bool,
    /// Largest request body accepted by any endpoint, in bytes.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Per-request timeout in milliseconds.
    #[serde(default = "default_timeout")]
    pub request_timeout_ms: u64,
    /// Serve HTTPS, asking clients for certificates issued by `client_ca_file` (RFC 8705).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Services that get OpToks with the client-credentials grant over mutual TLS.
    #[serde(default)]
    pub mtls_clients: Vec<MtlsClient>,
    /// The Attestor's section (log batching, origin, writers), read by the Attestor when
    /// `stella serve` runs it; opaque here.
    #[serde(default)]
    pub attestor: serde_json::Value,
    /// A Signer whose Attestor runs apart: where it is and the client certificate the Signer
    /// presents to it (the Attestor lists its thumbprint in `writers`).
    #[serde(default)]
    pub remote_attestor: Option<RemoteAttestorConfig>,
    /// Runs the dev identity (a local OIDC issuer for the machine's user, loopback only); what
    /// `stella serve` does with no configuration file.
    #[serde(default)]
    pub dev_identity: bool,
    /// Community mode (no PoE): requests per second allowed, over all callers.
    #[serde(default = "default_community_qps")]
    pub community_qps: u32,
}

/// The server's TLS material.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM PKCS#8 private key.
    pub key_file: PathBuf,
    /// PEM CA certificate(s) client certificates must chain to.
    pub client_ca_file: PathBuf,
}

/// See [`Config::remote_attestor`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteAttestorConfig {
    pub url: String,
    /// PEM certificate chain of the Signer's client certificate, leaf first.
    pub cert_file: PathBuf,
    /// Its PEM PKCS#8 key.
    pub key_file: PathBuf,
    /// PEM CA the Attestor's server certificate chains to (else the system roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// A service identified by its client certificate (RFC 8705 §2.1 `tls_client_auth`, pinned by the
/// certificate's SHA-256 thumbprint).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsClient {
    pub client_id: String,
    /// `base64url(SHA-256(certificate DER))`.
    pub x5t_s256: String,
    #[serde(default = "stars")]
    pub predicate_types: Vec<String>,
    #[serde(default = "stars")]
    pub images: Vec<String>,
}

/// A CI platform's OIDC issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// Exact `iss`.
    pub issuer: String,
    /// Which claim set its tokens carry.
    pub platform: Platform,
    /// The `aud` its tokens must carry for us.
    pub audience: String,
    /// Where its JWKS is fetched (cached); by default found through OIDC discovery.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// A JWKS document on disk, for air-gapped sites; no network is used for this issuer.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
}

/// The CI platforms whose claim sets we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Github,
    Gitlab,
    /// The embedded default's local issuer for the machine's user (see `service::dev`).
    Dev,
}

/// What a CI identity may sign. Patterns are globs where `*` matches any run of characters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRule {
    pub issuer: String,
    #[serde(default = "star")]
    pub repository: String,
    #[serde(default = "star", rename = "ref")]
    pub git_ref: String,
    #[serde(default = "star")]
    pub workflow: String,
    /// Predicate types it may sign.
    #[serde(default = "stars")]
    pub predicate_types: Vec<String>,
    /// Image names (subjects) it may sign for.
    #[serde(default = "stars")]
    pub images: Vec<String>,
}

/// A plan's quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Sustained signing requests per second per license.
    pub qps: u32,
    /// Bucket size: requests allowed in a burst.
    pub burst: u32,
    /// Signing requests in flight per license.
    pub concurrency: u32,
    /// Largest statement accepted, in bytes.
    pub max_payload_bytes: u64,
}

fn star() -> String {
    "*".into()
}
fn stars() -> Vec<String> {
    vec!["*".into()]
}
fn default_true() -> bool {
    true
}
fn default_optok_ttl() -> u64 {
    180
}
fn default_poe_ttl() -> u64 {
    30 * 86_400
}
fn default_rotate() -> u64 {
    30 * 86_400
}
fn default_overlap() -> u64 {
    3_600
}
fn default_body_limit() -> usize {
    8 * 1024 * 1024
}
fn default_timeout() -> u64 {
    10_000
}
fn default_community_qps() -> u32 {
    1
}

/// The built-in plans.
pub fn default_plans() -> BTreeMap<String, Plan> {
    let mut m = BTreeMap::new();
    m.insert(
        "team".into(),
        Plan {
            qps: 50,
            burst: 100,
            concurrency: 16,
            max_payload_bytes: 4 * 1024 * 1024,
        },
    );
    m.insert(
        "enterprise".into(),
        Plan {
            qps: 5_000,
            burst: 10_000,
            concurrency: 256,
            max_payload_bytes: 8 * 1024 * 1024,
        },
    );
    m
}

impl Default for Config {
    fn default() -> Config {
        Config {
            issuer: None,
            public_url: None,
            optok_ttl_secs: default_optok_ttl(),
            poe_ttl_secs: default_poe_ttl(),
            key_rotation_secs: default_rotate(),
            key_overlap_secs: default_overlap(),
            dpop_nonces: true,
            trusted_issuers: Vec::new(),
            identity_rules: Vec::new(),
            plans: default_plans(),
            release_keys: Vec::new(),
            release_registry_insecure: false,
            max_body_bytes: default_body_limit(),
            request_timeout_ms: default_timeout(),
            community_qps: default_community_qps(),
            tls: None,
            mtls_clients: Vec::new(),
            attestor: serde_json::Value::Null,
            dev_identity: false,
            remote_attestor: None,
        }
    }
}

impl Config {
    /// Parses and checks a configuration document.
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        let c: Config = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if !(120..=300).contains(&c.optok_ttl_secs) {
            return Err(format!(
                "optok_ttl_secs is {}; OpToks live 120 to 300 seconds",
                c.optok_ttl_secs
            ));
        }
        if c.key_overlap_secs < c.optok_ttl_secs {
            return Err("key_overlap_secs must be at least optok_ttl_secs, or tokens signed by a retired key stop verifying before they expire".into());
        }
        for t in &c.trusted_issuers {
            if t.jwks_uri.is_some() && t.jwks_file.is_some() {
                return Err(format!(
                    "trusted issuer {}: give jwks_uri or jwks_file, not both",
                    t.issuer
                ));
            }
        }
        for r in &c.identity_rules {
            if !c.trusted_issuers.iter().any(|t| t.issuer == r.issuer) {
                return Err(format!(
                    "identity rule for {} names an issuer that is not trusted",
                    r.issuer
                ));
            }
        }
        for (name, p) in &c.plans {
            if p.qps == 0 || p.burst == 0 || p.concurrency == 0 || p.max_payload_bytes == 0 {
                return Err(format!("plan {name}: quotas must be positive"));
            }
        }
        Ok(c)
    }
}

/// Glob match where `*` matches any run of characters (including `/`) and everything else is literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(x) => x,
        None => return text.is_empty(),
    };
    let Some(mut t) = text.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return t.is_empty();
    };
    for m in middle {
        match t.find(m) {
            Some(i) => t = t.get(i + m.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    t.len() >= last.len() && t.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, t, ok) in [
            ("*", "", true),
            ("*", "a/b", true),
            ("octo/*", "octo/repo", true),
            ("octo/*", "octopus/repo", false),
            ("refs/heads/main", "refs/heads/main", true),
            ("refs/heads/main", "refs/heads/main2", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            (
                "*.yml@refs/*",
                "o/r/.github/workflows/b.yml@refs/heads/x",
                true,
            ),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(glob(p, t), ok, "{p} vs {t}");
        }
    }

    #[test]
    fn config_checks_name_the_problem() {
        assert_eq!(Config::default().optok_ttl_secs, 180);
        for (doc, what) in [
            (r#"{"optok_ttl_secs": 3600}"#, "120 to 300"),
            (r#"{"nope": 1}"#, "nope"),
            (
                r#"{"identity_rules": [{"issuer": "https://x"}]}"#,
                "not trusted",
            ),
            (
                r#"{"plans": {"p": {"qps": 0, "burst": 1, "concurrency": 1, "max_payload_bytes": 1}}}"#,
                "plan p",
            ),
        ] {
            let e = Config::parse(doc.as_bytes()).unwrap_err();
            assert!(e.contains(what), "{e}");
        }
    }
}
