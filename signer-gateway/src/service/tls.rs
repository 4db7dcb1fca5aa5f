//! TLS with client certificates (RFC 8705): the listener that asks for a client certificate, checks it
//! against the configured client CA, and hands the request its thumbprint (`x5t#S256`) and the RFC
//! 7638 thumbprint of its key, so OpToks can be bound to the certificate and PoEs to its key.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use super::config::TlsConfig;
use crate::jose::{b64url_encode, Jwk, PublicKey};

/// The client certificate of a mutual-TLS connection.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// `base64url(SHA-256(DER))`: the `cnf.x5t#S256` of tokens bound to it.
    pub x5t_s256: String,
    /// RFC 7638 thumbprint of its P-256 public key (the key a PoE is bound to), if it is one.
    pub jkt: Option<String>,
}

impl ClientCert {
    /// Reads the thumbprints of a certificate.
    pub fn of(der: &[u8]) -> ClientCert {
        let x5t_s256 = b64url_encode(&Sha256::digest(der));
        let jkt = x509_parser::parse_x509_certificate(der)
            .ok()
            .and_then(|(_, c)| {
                let point =
                    crate::dsse::p256_point_from_spki(c.tbs_certificate.subject_pki.raw).ok()?;
                let (x, y) = point.get(1..)?.split_at(32);
                Some(Jwk {
                    kid: None,
                    key: PublicKey::P256 {
                        x: x.try_into().ok()?,
                        y: y.try_into().ok()?,
                    },
                })
            })
            .map(|j| j.thumbprint());
        ClientCert { x5t_s256, jkt }
    }
}

fn read_pem_blocks(path: &Path, label: &str) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    let mut rest = text.as_str();
    let end = format!("-----END {label}-----");
    while let Some(i) = rest.find(&format!("-----BEGIN {label}-----")) {
        let block = rest.get(i..).unwrap_or_default();
        let stop = block
            .find(&end)
            .map(|j| j + end.len())
            .unwrap_or(block.len());
        if let Some(der) = super::pem_decode(label, block.get(..stop).unwrap_or_default()) {
            out.push(der);
        }
        rest = block.get(stop..).unwrap_or_default();
    }
    if out.is_empty() {
        return Err(format!("{}: no PEM {label}", path.display()));
    }
    Ok(out)
}

/// The rustls server configuration: our certificate chain and key, client certificates verified
/// against the client CA (optional, so DPoP clients without one still connect).
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = read_pem_blocks(&tls.cert_file, "CERTIFICATE")?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let key = read_pem_blocks(&tls.key_file, "PRIVATE KEY")?
        .into_iter()
        .next()
        .ok_or("no key")?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_pem_blocks(&tls.client_ca_file, "CERTIFICATE")? {
        roots
            .add(CertificateDer::from(ca))
            .map_err(|e| format!("{}: {e}", tls.client_ca_file.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("client CA: {e}"))?;
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", tls.key_file.display()))?;
    Ok(Arc::new(cfg))
}

/// Accepts TLS connections on `listener` and serves `router`, each request carrying the
/// connection's [`ClientCert`] when one was presented. Runs until `shutdown` resolves.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => r?,
            _ = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(
                std::time::Duration::from_secs(10),
                acceptor.accept(tcp),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| ClientCert::of(c.as_ref()));
            let svc = tower::ServiceExt::map_request(
                router,
                move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    if let Some(c) = &cert {
                        req.extensions_mut().insert(c.clone());
                    }
                    req
                },
            );
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(svc))
                .await;
        });
    }
}
