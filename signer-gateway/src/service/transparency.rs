//! The hook through which the Signer has every signature logged: the Attestor implements
//! [`Transparency`] (in-process in `stella serve`, or over mTLS when it runs apart), and the
//! Signer's answer then carries the Sigstore bundle.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::dsse::Envelope;

/// Who signed an envelope.
#[derive(Debug, Clone, Copy)]
pub enum SignedBy<'a> {
    /// A keyless certificate (DER) and the chain above it, root last.
    Certificate { der: &'a [u8], chain: &'a [Vec<u8>] },
    /// The Signer's configured key (SPKI DER) and its key id.
    Key { spki: &'a [u8], key_id: &'a str },
}

/// What logging returns to the Signer.
#[derive(Debug, Clone)]
pub struct LogReceipt {
    /// The entry's id (hex leaf hash).
    pub uuid: String,
    pub index: u64,
    /// The log's base URL.
    pub log_url: String,
    /// The Sigstore bundle v0.3 (JSON).
    pub bundle: Value,
}

/// Boxed future of [`Transparency::log`].
pub type LogFuture<'a> = Pin<Box<dyn Future<Output = Result<LogReceipt, String>> + Send + 'a>>;

/// A transparency log (with its timestamp authority) the Signer hands every signature to.
pub trait Transparency: Send + Sync + std::fmt::Debug {
    /// Logs `envelope`; resolves once the entry is durably in the log, with its bundle.
    fn log<'a>(&'a self, envelope: &'a Envelope, by: SignedBy<'a>) -> LogFuture<'a>;
}

/// The Attestor in another process: `POST {url}/rekor/entries` over mutual TLS with the Signer's
/// client certificate (the Attestor lets only the certificates it lists in `writers` write).
#[derive(Debug)]
pub struct RemoteAttestor {
    url: String,
    http: reqwest::Client,
}

impl RemoteAttestor {
    /// A client for the Attestor at `url`, presenting `cert_pem` (chain, leaf first) with `key_pem`
    /// (PKCS#8) and trusting `ca_pem` for the Attestor's own certificate (besides the system roots).
    pub fn new(
        url: &str,
        cert_pem: &[u8],
        key_pem: &[u8],
        ca_pem: Option<&[u8]>,
    ) -> Result<RemoteAttestor, String> {
        let mut identity = key_pem.to_vec();
        identity.extend_from_slice(cert_pem);
        let identity = reqwest::Identity::from_pem(&identity)
            .map_err(|e| format!("the Signer's client certificate and key: {e}"))?;
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .identity(identity)
            .timeout(std::time::Duration::from_secs(30));
        if let Some(ca) = ca_pem {
            let ca = reqwest::Certificate::from_pem(ca)
                .map_err(|e| format!("the Attestor's CA certificate: {e}"))?;
            b = b.add_root_certificate(ca);
        }
        Ok(RemoteAttestor {
            url: url.trim_end_matches('/').to_owned(),
            http: b.build().map_err(|e| e.to_string())?,
        })
    }

    async fn post(&self, body: Value) -> Result<LogReceipt, String> {
        let url = format!("{}/rekor/entries", self.url);
        let r = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = r.status();
        let v: Value = r
            .json()
            .await
            .map_err(|e| format!("{url}: HTTP {status}, not JSON: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{url}: HTTP {status}: {}",
                v.get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or("no description")
            ));
        }
        let field = |name: &str| {
            v.get(name)
                .ok_or_else(|| format!("{url}: no {name} in the answer"))
        };
        Ok(LogReceipt {
            uuid: field("uuid")?.as_str().unwrap_or_default().to_owned(),
            index: field("index")?.as_u64().unwrap_or_default(),
            log_url: field("logURL")?.as_str().unwrap_or_default().to_owned(),
            bundle: field("bundle")?.clone(),
        })
    }
}

impl Transparency for RemoteAttestor {
    fn log<'a>(&'a self, envelope: &'a Envelope, by: SignedBy<'a>) -> LogFuture<'a> {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let body = match by {
            SignedBy::Certificate { der, .. } => serde_json::json!({
                "dsseEnvelope": envelope.to_json(),
                "certificate": b64(der),
            }),
            SignedBy::Key { spki, key_id } => serde_json::json!({
                "dsseEnvelope": envelope.to_json(),
                "publicKey": b64(spki),
                "keyHint": key_id,
            }),
        };
        Box::pin(self.post(body))
    }
}
