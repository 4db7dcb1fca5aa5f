//! Only the Signer writes: the Attestor over HTTPS takes `POST /rekor/entries` from the client
//! certificate listed in `writers` (through the Signer's `RemoteAttestor`), and refuses another
//! certificate of the same CA and a connection without one.

use std::sync::Arc;

use attestor::service::{Attestor, AttestorConfig, KeylessTrust};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::rand::SystemRandom;
use serde_json::json;
use sha2::{Digest, Sha256};
use signer_gateway::dsse::{Envelope, KeySource, MemoryKey};
use signer_gateway::service::config::TlsConfig;
use signer_gateway::service::tls;
use signer_gateway::service::transparency::{RemoteAttestor, SignedBy, Transparency};

fn issue(
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    name: &str,
    client: bool,
) -> (String, String, Vec<u8>) {
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.extended_key_usages = vec![if client {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_writers_certificate_may_log() {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "stella test CA");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(params, key).unwrap();
    let pki = tempfile::tempdir().unwrap();
    let p = |n: &str| pki.path().join(n);
    let (srv_cert, srv_key, _) = issue(&ca, "127.0.0.1", false);
    let (signer_cert, signer_key, signer_der) = issue(&ca, "signer.stella.internal", true);
    let (other_cert, other_key, _) = issue(&ca, "intruder.stella.internal", true);
    std::fs::write(p("ca.pem"), ca.pem()).unwrap();
    std::fs::write(p("server.pem"), &srv_cert).unwrap();
    std::fs::write(p("server.key"), &srv_key).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let writer = B64URL.encode(Sha256::digest(&signer_der));
    let cfg =
        AttestorConfig::from_json(&json!({"writers": [writer], "max_delay_ms": 5}), &url).unwrap();
    let data = tempfile::tempdir().unwrap();
    let att: Arc<Attestor> = Attestor::open(
        data.path(),
        cfg,
        KeylessTrust::default(),
        attestor::service::system_clock_ms(),
    )
    .unwrap();
    let server = tls::server_config(&TlsConfig {
        cert_file: p("server.pem"),
        key_file: p("server.key"),
        client_ca_file: p("ca.pem"),
    })
    .unwrap();
    tokio::spawn(tls::serve_tls(
        listener,
        attestor::service::app(att.clone()),
        server,
        std::future::pending(),
    ));

    let rng = SystemRandom::new();
    let (k, _) = MemoryKey::generate(&rng).unwrap();
    let env = Envelope::sign("application/vnd.in-toto+json", b"{}".to_vec(), &k, "").unwrap();
    let spki = k.public_key_spki_der();
    let by = SignedBy::Key {
        spki: &spki,
        key_id: "signer-key",
    };
    let ca_pem = ca.pem();

    let signer = RemoteAttestor::new(
        &url,
        signer_cert.as_bytes(),
        signer_key.as_bytes(),
        Some(ca_pem.as_bytes()),
    )
    .unwrap();
    let receipt = signer.log(&env, by).await.unwrap();
    assert_eq!(receipt.index, 0);
    assert_eq!(
        receipt.bundle["verificationMaterial"]["publicKey"]["hint"],
        "signer-key"
    );

    let intruder = RemoteAttestor::new(
        &url,
        other_cert.as_bytes(),
        other_key.as_bytes(),
        Some(ca_pem.as_bytes()),
    )
    .unwrap();
    let err = intruder.log(&env, by).await.unwrap_err();
    assert!(
        err.contains("403") && err.contains("only the Signer"),
        "{err}"
    );

    let anonymous = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = anonymous
        .post(format!("{url}/rekor/entries"))
        .json(&json!({"dsseEnvelope": env.to_json()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        att.checkpoint().unwrap().lines().nth(1),
        Some("1"),
        "only one entry logged"
    );
}
