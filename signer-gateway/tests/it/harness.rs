//! The loopback harness: a test OIDC issuer standing in for GitHub Actions and GitLab CI (real HTTP,
//! the claim sets from their documentation), the stack served on 127.0.0.1, and a client that does
//! what a CI job does (DPoP proofs with server nonces, token exchange, enrollment, signing).

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Map, Value};
use signer_gateway::jose::{b64url_encode, Es256Signer};
use signer_gateway::service::license::{issue_license_token, LicenseTerms};
use signer_gateway::service::{self, system_clock, Config, Stack};

pub const GITHUB_AUD: &str = "stella";
pub const RSA_PKCS8: &[u8] = include_bytes!("../data/rsa2048.pk8");

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    SystemRandom::new().fill(&mut b).unwrap();
    b64url_encode(&b)
}

/// The CI platforms' OIDC issuer: RS256 keys published through discovery + JWKS, as GitHub's
/// `token.actions.githubusercontent.com` and GitLab's instance do.
pub struct TestIssuer {
    pub url: String,
    pub rsa: RsaKeyPair,
    pub kid: String,
    pub jwks: Value,
}

impl TestIssuer {
    pub async fn start() -> TestIssuer {
        let rsa = RsaKeyPair::from_pkcs8(RSA_PKCS8).unwrap();
        let kid = "test-issuer-rsa-1".to_owned();
        let (n, e) = rsa_public(&rsa);
        let jwks = json!({"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": e}]});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (u, j) = (url.clone(), jwks.clone());
        let router = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let u = u.clone();
                    async move {
                        Json(json!({"issuer": u, "jwks_uri": format!("{u}/.well-known/jwks"),
                            "subject_types_supported": ["public"], "response_types_supported": ["id_token"],
                            "id_token_signing_alg_values_supported": ["RS256"]}))
                    }
                }),
            )
            .route("/.well-known/jwks", get(move || async move { Json(j) }));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TestIssuer {
            url,
            rsa,
            kid,
            jwks,
        }
    }

    /// Signs `claims` with `header` (alg RS256 and kid filled in unless given).
    pub fn sign(&self, header: Value, claims: &Value) -> String {
        let mut h = header.as_object().cloned().unwrap_or_default();
        h.entry("alg").or_insert("RS256".into());
        h.entry("typ").or_insert("JWT".into());
        h.entry("kid").or_insert(self.kid.clone().into());
        let input = format!(
            "{}.{}",
            b64url_encode(&serde_json::to_vec(&h).unwrap()),
            b64url_encode(&serde_json::to_vec(claims).unwrap())
        );
        let mut sig = vec![0u8; self.rsa.public().modulus_len()];
        self.rsa
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", b64url_encode(&sig))
    }

    /// The claims GitHub Actions puts in a job's OIDC token (docs.github.com, "About security
    /// hardening with OpenID Connect", example token), for `aud` and `iss` = this issuer.
    pub fn github_claims(&self, aud: &str) -> Value {
        let now = now();
        json!({
            "jti": random_b64(12),
            "sub": "repo:octo-org/octo-repo:environment:prod",
            "environment": "prod",
            "aud": aud,
            "ref": "refs/heads/main",
            "sha": "example-sha-0123456789abcdef0123456789abcdef0123",
            "repository": "octo-org/octo-repo",
            "repository_owner": "octo-org",
            "actor_id": "12",
            "repository_visibility": "private",
            "repository_id": "74",
            "repository_owner_id": "65",
            "run_id": "example-run-id",
            "run_number": "10",
            "run_attempt": "2",
            "runner_environment": "github-hosted",
            "actor": "octocat",
            "workflow": "example-workflow",
            "head_ref": "",
            "base_ref": "",
            "event_name": "workflow_dispatch",
            "ref_type": "branch",
            "job_workflow_ref": "octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main",
            "workflow_ref": "octo-org/octo-repo/.github/workflows/build.yml@refs/heads/main",
            "workflow_sha": "example-sha",
            "iss": self.url,
            "nbf": now - 5,
            "exp": now + 300,
            "iat": now - 5,
        })
    }

    /// The claims of a GitLab CI `id_tokens:` token (docs.gitlab.com, "ID token authentication").
    pub fn gitlab_claims(&self, aud: &str) -> Value {
        let now = now();
        json!({
            "namespace_id": "72",
            "namespace_path": "my-group",
            "project_id": "20",
            "project_path": "my-group/my-project",
            "user_id": "1",
            "user_login": "sample-user",
            "user_email": "sample-user@example.com",
            "user_identities": [],
            "pipeline_id": "574",
            "pipeline_source": "push",
            "job_id": "302",
            "ref": "feature-branch-1",
            "ref_type": "branch",
            "ref_path": "refs/heads/feature-branch-1",
            "ref_protected": "false",
            "environment": "test-environment2",
            "environment_protected": "false",
            "deployment_tier": "testing",
            "environment_action": "start",
            "runner_id": 1,
            "runner_environment": "self-hosted",
            "sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
            "project_visibility": "public",
            "ci_config_ref_uri": "gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
            "ci_config_sha": "714a629c0b401fdce83e847fc9589983fc6f46bc",
            "jti": random_b64(12),
            "iat": now - 5,
            "nbf": now - 10,
            "exp": now + 300,
            "iss": self.url,
            "sub": "project_path:my-group/my-project:ref_type:branch:ref:feature-branch-1",
            "aud": aud,
        })
    }
}

/// `n` and `e` of an RSA key as base64url.
pub fn rsa_public(rsa: &RsaKeyPair) -> (String, String) {
    let c = ring::signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
    (b64url_encode(&c.n), b64url_encode(&c.e))
}

/// The configuration the harness runs with: both test issuers trusted, an identity rule each.
pub fn test_config(github: &TestIssuer, gitlab: &TestIssuer, jwks_file: &std::path::Path) -> Value {
    json!({
        "trusted_issuers": [
            {"issuer": github.url, "platform": "github", "audience": GITHUB_AUD},
            {"issuer": gitlab.url, "platform": "gitlab", "audience": "https://stella.example",
             "jwks_file": jwks_file},
        ],
        "identity_rules": [
            {"issuer": github.url, "repository": "octo-org/*", "ref": "refs/heads/main",
             "workflow": "octo-org/*", "predicate_types": ["https://spdx.dev/Document", "https://cyclonedx.org/bom"],
             "images": ["127.0.0.1*/octo-org/*"]},
            {"issuer": gitlab.url, "repository": "my-group/*"},
        ],
        "plans": {
            "team": {"qps": 1000, "burst": 1000, "concurrency": 64, "max_payload_bytes": 65536},
            "tiny": {"qps": 1, "burst": 2, "concurrency": 1, "max_payload_bytes": 2048},
        },
        "max_body_bytes": 131072,
    })
}

/// A running stack with two trusted issuers: "GitHub" through discovery over HTTP and "GitLab"
/// (another instance of the test issuer) through a JWKS file, as an air-gapped site would.
pub struct Harness {
    pub github: TestIssuer,
    pub gitlab: TestIssuer,
    pub stack: Arc<Stack>,
    pub url: String,
    pub data: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Value)) -> Harness {
        let github = TestIssuer::start().await;
        let gitlab = TestIssuer::start().await;
        let data = tempfile::tempdir().unwrap();
        let jwks_file = data.path().join("gitlab-jwks.json");
        std::fs::write(&jwks_file, gitlab.jwks.to_string()).unwrap();
        let mut cfg = test_config(&github, &gitlab, &jwks_file);
        tune(&mut cfg);
        let cfg = Config::parse(cfg.to_string().as_bytes()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stack = Stack::open(&data.path().join("state"), cfg, &url, system_clock()).unwrap();
        let router = service::app(stack.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Harness {
            github,
            gitlab,
            stack,
            url,
            data,
            http: reqwest::Client::new(),
        }
    }

    /// A License Token for `plan`.
    pub fn license(&self, plan: &str) -> (String, String) {
        issue_license_token(
            self.stack.license_signer(),
            &LicenseTerms {
                customer_id: "CUST-ACME".into(),
                plan: plan.into(),
                valid_release_year: 2026,
                max_version: "1.99".into(),
                lifetime_secs: 365 * 86_400,
            },
            now(),
        )
        .unwrap()
    }

    pub fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data.path().join("state/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn signed_count(&self) -> usize {
        self.audit_lines()
            .iter()
            .filter(|l| l["result"] == "signed")
            .count()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.data.path().join("state")
    }
}

/// A CI job / scanner installation: one DPoP key (the installation key), the last server nonce.
pub struct Client {
    pub key: Es256Signer,
    pub nonce: std::sync::Mutex<Option<String>>,
    pub base: String,
    pub http: reqwest::Client,
}

/// An HTTP answer: status, `error` code (if any), body and headers.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
}

impl Client {
    pub fn new(base: &str) -> Client {
        let rng = SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        Client {
            key: Es256Signer::from_pkcs8(pkcs8.as_ref(), "installation", &rng).unwrap(),
            nonce: std::sync::Mutex::new(None),
            base: base.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// A proof for `method` `url`; `edit` may change the claims before signing.
    pub fn proof_with(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> String {
        let mut c = Map::new();
        c.insert("jti".into(), random_b64(16).into());
        c.insert("htm".into(), method.into());
        c.insert("htu".into(), url.into());
        c.insert("iat".into(), now().into());
        if let Some(n) = self.nonce.lock().unwrap().clone() {
            c.insert("nonce".into(), n.into());
        }
        if let Some(t) = access_token {
            c.insert(
                "ath".into(),
                signer_gateway::dpop::access_token_hash(t).into(),
            );
        }
        edit(&mut c);
        self.key.sign_dpop_proof(&c, &SystemRandom::new()).unwrap()
    }

    /// Sends a request with a fresh proof, retrying once on `use_dpop_nonce` as RFC 9449 §8 says.
    pub async fn send(&self, build: impl Fn(&Client) -> reqwest::RequestBuilder) -> Answer {
        for _ in 0..2 {
            let resp = build(self).send().await.unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            if let Some(n) = headers.get("dpop-nonce").and_then(|v| v.to_str().ok()) {
                *self.nonce.lock().unwrap() = Some(n.to_owned());
            }
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if body["error"] == "use_dpop_nonce" {
                continue;
            }
            return Answer {
                status,
                body,
                headers,
            };
        }
        panic!("the server kept asking for a nonce");
    }

    /// Token exchange of a CI token.
    pub async fn exchange(&self, ci_token: &str) -> Answer {
        let url = format!("{}/oauth/token", self.base);
        self.send(|c| {
            c.http
                .post(&url)
                .header("DPoP", c.proof_with("POST", &url, None, |_| {}))
                .form(&[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", ci_token),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:id_token",
                    ),
                ])
        })
        .await
    }

    pub async fn optok(&self, ci_token: &str) -> String {
        let a = self.exchange(ci_token).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn enroll(&self, license_token: &str) -> Answer {
        let url = format!("{}/license/enroll", self.base);
        self.send(|c| {
            c.http
                .post(&url)
                .header("DPoP", c.proof_with("POST", &url, None, |_| {}))
                .json(&json!({"license_token": license_token}))
        })
        .await
    }

    pub async fn poe(&self, license_token: &str) -> String {
        let a = self.enroll(license_token).await;
        assert_eq!(a.status, 200, "{a:?}");
        a.body["poe"].as_str().unwrap().to_owned()
    }

    /// `POST /sign/dsse` with `body`.
    pub async fn sign(&self, optok: &str, poe: Option<&str>, body: &Value) -> Answer {
        let url = format!("{}/sign/dsse", self.base);
        self.send(|c| {
            let mut r = c
                .http
                .post(&url)
                .header("Authorization", format!("DPoP {optok}"))
                .header("DPoP", c.proof_with("POST", &url, Some(optok), |_| {}))
                .json(body);
            if let Some(p) = poe {
                r = r.header("Stella-PoE", p);
            }
            r
        })
        .await
    }
}

/// An SBOM statement about `name` with a digest.
pub fn statement(name: &str, predicate_type: &str) -> Value {
    json!({
        "statement": {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": "a".repeat(64)}}],
            "predicateType": predicate_type,
            "predicate": {"spdxVersion": "SPDX-2.3", "name": "demo"},
        },
        "policy_digest": format!("sha256:{}", "b".repeat(64)),
    })
}

/// The GitHub image name the test identity rule allows.
pub const IMAGE: &str = "127.0.0.1:5000/octo-org/app";
pub const SPDX: &str = "https://spdx.dev/Document";

/// Public SPKI DER of the stack's signing key (from the PEM it answers with).
pub fn spki_from_pem(pem: &str) -> Vec<u8> {
    service::pem_decode("PUBLIC KEY", pem).unwrap()
}
