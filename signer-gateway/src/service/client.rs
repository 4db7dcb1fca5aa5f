//! A client of the services, as a scanner installation or CI job uses them: one installation key
//! signs every DPoP proof, server nonces are remembered per origin and a `use_dpop_nonce` answer is
//! retried once (RFC 9449 §8, §9).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Map, Value};

use super::pem;
use crate::dpop::access_token_hash;
use crate::jose::{b64url_encode, Es256Signer};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    /// The service answered with an error.
    #[error("{url}: HTTP {status} {code}: {description}")]
    Refused {
        url: String,
        status: u16,
        code: String,
        description: String,
    },
    #[error("installation key {path}: {reason}")]
    Key { path: String, reason: String },
}

/// The installation key and its DPoP state.
#[derive(Debug)]
pub struct DpopClient {
    key: Es256Signer,
    nonces: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
    rng: SystemRandom,
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let host = rest.split('/').next().unwrap_or_default();
    let scheme = url.split_once("://").map(|x| x.0).unwrap_or("http");
    format!("{scheme}://{host}")
}

impl DpopClient {
    /// A client proving with the PKCS#8 P-256 key `pkcs8`.
    pub fn new(pkcs8: &[u8]) -> Result<DpopClient, String> {
        let rng = SystemRandom::new();
        let key =
            Es256Signer::from_pkcs8(pkcs8, "installation", &rng).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(DpopClient {
            key,
            nonces: Mutex::new(HashMap::new()),
            http,
            rng,
        })
    }

    /// Loads the installation key from `path` (PEM `PRIVATE KEY`), creating it (mode 0600) on first
    /// use.
    pub fn load_or_create(path: &Path) -> Result<DpopClient, ClientError> {
        let err = |reason: String| ClientError::Key {
            path: path.display().to_string(),
            reason,
        };
        let pkcs8 = match std::fs::read_to_string(path) {
            Ok(text) => super::pem_decode("PRIVATE KEY", &text)
                .ok_or_else(|| err("not a PEM PRIVATE KEY".into()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (_, pkcs8) = crate::dsse::MemoryKey::generate(&SystemRandom::new())
                    .map_err(|e| err(e.to_string()))?;
                super::state::write_private(path, pem("PRIVATE KEY", &pkcs8).as_bytes())
                    .map_err(|e| err(e.to_string()))?;
                pkcs8
            }
            Err(e) => return Err(err(e.to_string())),
        };
        DpopClient::new(&pkcs8).map_err(err)
    }

    /// The RFC 7638 thumbprint of the installation key (the `cnf.jkt` of its tokens).
    pub fn jkt(&self) -> String {
        let mut jwk = self.key.public_jwk();
        jwk.kid = None;
        jwk.thumbprint()
    }

    fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> Result<String, String> {
        let mut jti = [0u8; 16];
        self.rng.fill(&mut jti).map_err(|_| "no randomness")?;
        let mut c = Map::new();
        c.insert("jti".into(), b64url_encode(&jti).into());
        c.insert("htm".into(), method.into());
        c.insert("htu".into(), url.into());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        c.insert("iat".into(), now.into());
        let nonce = self
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&origin(url))
            .cloned();
        if let Some(n) = nonce {
            c.insert("nonce".into(), n.into());
        }
        if let Some(t) = access_token {
            c.insert("ath".into(), access_token_hash(t).into());
        }
        self.key
            .sign_dpop_proof(&c, &self.rng)
            .map_err(|e| e.to_string())
    }

    /// POSTs `body` (form or JSON) with a DPoP proof; `headers` are added. Returns the JSON answer of
    /// a 2xx, or [`ClientError::Refused`] with the service's error code.
    pub async fn post(
        &self,
        url: &str,
        body: Body<'_>,
        access_token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Value, ClientError> {
        let transport = |reason: String| ClientError::Transport {
            url: url.to_owned(),
            reason,
        };
        for attempt in 0..2 {
            let proof = self.proof("POST", url, access_token).map_err(transport)?;
            let mut req = self.http.post(url).header("DPoP", proof);
            if let Some(t) = access_token {
                req = req.header("Authorization", format!("DPoP {t}"));
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req = match body {
                Body::Form(f) => req.form(f),
                Body::Json(j) => req.json(j),
            };
            let resp = req.send().await.map_err(|e| transport(e.to_string()))?;
            let status = resp.status().as_u16();
            if let Some(n) = resp
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
            {
                self.nonces
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(origin(url), n.to_owned());
            }
            let bytes = resp.bytes().await.map_err(|e| transport(e.to_string()))?;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                return Ok(v);
            }
            let code = v
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if code == "use_dpop_nonce" && attempt == 0 {
                continue;
            }
            return Err(ClientError::Refused {
                url: url.to_owned(),
                status,
                description: v
                    .get("error_description")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect()),
                code,
            });
        }
        Err(transport(
            "the server kept asking for a new DPoP nonce".into(),
        ))
    }

    /// Exchanges a CI OIDC token for an OpTok at `authority`.
    pub async fn exchange(&self, authority: &str, ci_token: &str) -> Result<String, ClientError> {
        let url = format!("{}/oauth/token", authority.trim_end_matches('/'));
        let form = [
            ("grant_type", super::authority::GRANT_TOKEN_EXCHANGE),
            ("subject_token", ci_token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
        ];
        let v = self.post(&url, Body::Form(&form), None, &[]).await?;
        v.get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Transport {
                url,
                reason: "no access_token in the answer".into(),
            })
    }

    /// Enrolls a License Token; the answer carries `poe`, `poe_id`, `expires_at`.
    pub async fn enroll(&self, authority: &str, license_token: &str) -> Result<Value, ClientError> {
        let url = format!("{}/license/enroll", authority.trim_end_matches('/'));
        self.post(
            &url,
            Body::Json(&json!({"license_token": license_token})),
            None,
            &[],
        )
        .await
    }

    /// Renews a PoE.
    pub async fn renew(&self, authority: &str, poe: &str) -> Result<Value, ClientError> {
        let url = format!("{}/license/renew", authority.trim_end_matches('/'));
        self.post(&url, Body::Json(&json!({"poe": poe})), None, &[])
            .await
    }

    /// Asks the Signer to sign `request` (`{"statement": …}`).
    pub async fn sign(
        &self,
        signer: &str,
        optok: &str,
        poe: &str,
        request: &Value,
    ) -> Result<Value, ClientError> {
        let url = format!("{}/sign/dsse", signer.trim_end_matches('/'));
        self.post(
            &url,
            Body::Json(request),
            Some(optok),
            &[(super::signer::POE_HEADER, poe)],
        )
        .await
    }
}

/// A request body.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a Value),
}
