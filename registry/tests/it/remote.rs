//! Remote pulls: against the real CNCF distribution registry (`docker-registry`) on 127.0.0.1 with no
//! auth, htpasswd basic auth and bearer tokens from a test token server; and against a lying mock
//! for the digest checks a real registry would never trip.

use std::path::Path;
use std::sync::{Arc, Mutex};

use registry::{
    resolve, BlobLocation, Platform, ResolveOptions, ResolvedImage, Source, SourceError,
};
use serde_json::json;

use crate::support::{
    access_for, build_test_layout, docker_config, registry_tools, sha256, skopeo_push, Registry,
    Reply, TestLayout, TinyServer, TokenIssuer,
};

fn opts(scratch: &Path, config: Option<&Path>) -> ResolveOptions {
    ResolveOptions {
        platform: None,
        insecure: true,
        scratch_dir: scratch.to_owned(),
        // An explicit (possibly empty) config keeps the developer's own ~/.docker out of the tests.
        docker_config: config.map(Path::to_owned),
    }
}

async fn pull(reference: &str, o: &ResolveOptions) -> Result<ResolvedImage, SourceError> {
    resolve(&Source::parse(reference).unwrap(), o).await
}

/// Every layer file exists, has the declared size and hashes to its digest.
fn check_layers(img: &ResolvedImage) {
    for l in &img.layers {
        let BlobLocation::File { path, offset, len } = &l.location;
        let bytes = std::fs::read(path).unwrap();
        assert_eq!((*offset, bytes.len() as u64), (0, *len));
        assert_eq!(Some(*len), l.size);
        assert_eq!(Some(sha256(&bytes)), l.digest);
    }
}

fn empty_config(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("empty-config.json");
    std::fs::write(&p, "{}").unwrap();
    p
}

fn layout(dir: &Path) -> TestLayout {
    build_test_layout(&dir.join("layout"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_anonymous_pull() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = layout(dir.path());
    let reg = Registry::start("");
    let host = reg.host();
    let pushed = skopeo_push(
        &t.path,
        "single",
        &format!("{host}/test/img:1"),
        None,
        false,
    );
    let multi = skopeo_push(
        &t.path,
        "multi",
        &format!("{host}/test/img:multi"),
        None,
        true,
    );

    let cfg = empty_config(dir.path());
    let o = opts(&dir.path().join("scratch"), Some(&cfg));
    let img = pull(&format!("{host}/test/img:1"), &o).await.unwrap();
    assert_eq!(img.manifest_digest.as_deref(), Some(pushed.as_str()));
    assert_eq!(img.config_digest, t.single_config);
    assert_eq!(img.layers.len(), 2);
    assert_eq!(img.config.diff_ids.len(), 2);
    assert_eq!(img.name, format!("{host}/test/img:1"));
    assert_eq!(
        img.repository.as_deref(),
        Some(format!("{host}/test/img").as_str())
    );
    check_layers(&img);
    assert_eq!(sha256(&img.config_raw), img.config_digest);

    // By digest, through docker:// and a second time (blobs reused from scratch).
    let by_digest = pull(&format!("docker://{host}/test/img@{pushed}"), &o)
        .await
        .unwrap();
    assert_eq!(by_digest.config_digest, img.config_digest);
    assert_eq!(by_digest.tag, None);
    check_layers(&by_digest);

    // Multi-platform index: platform selection over the network.
    let mut arm = opts(&dir.path().join("scratch"), Some(&cfg));
    arm.platform = Some(Platform::parse("linux/arm64").unwrap());
    let img = pull(&format!("{host}/test/img:multi"), &arm).await.unwrap();
    assert_eq!(img.config_digest, t.arm64_config);
    assert_ne!(
        img.manifest_digest.as_deref(),
        Some(multi.as_str()),
        "manifest, not the index"
    );
    arm.platform = Some(Platform::parse("linux/ppc64le").unwrap());
    let e = pull(&format!("{host}/test/img:multi"), &arm)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("linux/amd64, linux/arm64/v8, linux/arm/v7"),
        "{e}"
    );

    // A single-platform image is checked against --platform too, before any layer is downloaded.
    let fresh = dir.path().join("scratch-platform");
    let mut wrong = opts(&fresh, Some(&cfg));
    wrong.platform = Some(Platform::parse("linux/arm64").unwrap());
    let e = pull(&format!("{host}/test/img:1"), &wrong)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::NoMatchingPlatform { .. }), "{e:?}");
    assert!(
        e.to_string().contains("available platforms: linux/amd64"),
        "{e}"
    );
    assert!(
        !fresh.exists(),
        "no layer downloaded for the wrong platform"
    );

    let e = pull(&format!("{host}/test/img:nope"), &o)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::ManifestNotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("'nope'"), "{e}");

    // No leftovers from temp downloads.
    for entry in std::fs::read_dir(dir.path().join("scratch")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.ends_with(".partial"), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_htpasswd_basic_auth() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = layout(dir.path());
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret-pw", 4).unwrap();
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let reg = Registry::start(&format!(
        "  htpasswd:\n    realm: stella-test\n    path: {}\n",
        htpasswd.display()
    ));
    let host = reg.host();
    let pushed = skopeo_push(
        &t.path,
        "single",
        &format!("{host}/test/img:1"),
        Some("alice:s3cret-pw"),
        false,
    );

    let good_dir = tempfile::tempdir().unwrap();
    let good = docker_config(good_dir.path(), &host, "alice", "s3cret-pw");
    let img = pull(
        &format!("{host}/test/img:1"),
        &opts(&dir.path().join("s1"), Some(&good)),
    )
    .await
    .unwrap();
    assert_eq!(img.manifest_digest.as_deref(), Some(pushed.as_str()));
    check_layers(&img);

    let bad_dir = tempfile::tempdir().unwrap();
    let bad = docker_config(bad_dir.path(), &host, "alice", "wrong");
    let e = pull(
        &format!("{host}/test/img:1"),
        &opts(&dir.path().join("s2"), Some(&bad)),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SourceError::Auth { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("rejected") && msg.contains("alice") && msg.contains(&host),
        "{msg}"
    );

    let none = empty_config(dir.path());
    let e = pull(
        &format!("{host}/test/img:1"),
        &opts(&dir.path().join("s3"), Some(&none)),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no credentials for"), "{e}");
    assert!(e.to_string().contains("docker login"), "{e}");
}

const ISSUER: &str = "stella-test-issuer";
const SERVICE: &str = "stella-test-registry";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_bearer_token_auth() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = layout(dir.path());
    let issuer = Arc::new(TokenIssuer::new());
    let bundle = dir.path().join("root.pem");
    std::fs::write(&bundle, &issuer.cert_pem).unwrap();

    // The token server: basic credentials alice:tok-pw, grants exactly the requested scopes.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (iss, seen2) = (issuer.clone(), seen.clone());
    let tokens = TinyServer::start(move |req| {
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice:tok-pw")
        );
        if req.method != "GET"
            || req.path != "/token"
            || req.header("authorization") != Some(expected.as_str())
        {
            return Reply::new(401, r#"{"details":"bad credentials"}"#);
        }
        let scopes: Vec<&str> = req
            .query
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| v.as_str())
            .collect();
        let service = req
            .query
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.clone());
        seen2
            .lock()
            .unwrap()
            .push(format!("{service:?} {scopes:?}"));
        let token = iss.token(ISSUER, SERVICE, "alice", access_for(&scopes));
        // Answer with `access_token` only, like OAuth2 servers: the client must accept either name.
        Reply::new(
            200,
            json!({"access_token": token, "expires_in": 300}).to_string(),
        )
        .header("Content-Type", "application/json")
    });
    let reg = Registry::start(&format!(
        "  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        tokens.port,
        bundle.display()
    ));
    let host = reg.host();
    let pushed = skopeo_push(
        &t.path,
        "single",
        &format!("{host}/test/img:1"),
        Some("alice:tok-pw"),
        false,
    );

    let cfg_dir = tempfile::tempdir().unwrap();
    let good = docker_config(cfg_dir.path(), &host, "alice", "tok-pw");
    let img = pull(
        &format!("{host}/test/img:1"),
        &opts(&dir.path().join("s1"), Some(&good)),
    )
    .await
    .unwrap();
    assert_eq!(img.manifest_digest.as_deref(), Some(pushed.as_str()));
    assert_eq!(img.config_digest, t.single_config);
    check_layers(&img);
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|s| s.contains(SERVICE) && s.contains("repository:test/img:pull")),
        "{seen:?}"
    );

    let bad_dir = tempfile::tempdir().unwrap();
    let bad = docker_config(bad_dir.path(), &host, "alice", "nope");
    let e = pull(
        &format!("{host}/test/img:1"),
        &opts(&dir.path().join("s2"), Some(&bad)),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SourceError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("token server"), "{e}");
}

/// A registry that serves a manifest and config honestly but lies about a layer's bytes.
#[tokio::test]
async fn mock_registry_layer_digest_mismatch_is_fatal_and_cleaned_up() {
    let layer = b"the real layer bytes".to_vec();
    let evil = b"the fake layer bytes".to_vec(); // same length, different content
    let config = json!({"os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[sha256(&layer)]}})
        .to_string()
        .into_bytes();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType":"application/vnd.oci.image.config.v1+json","digest":sha256(&config),"size":config.len()},
        "layers": [{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":sha256(&layer),"size":layer.len()}],
    })
    .to_string()
    .into_bytes();
    let (m, c, l) = (manifest.clone(), config.clone(), layer.clone());
    let server = TinyServer::start(move |req| {
        let p = req.path.as_str();
        if p == "/v2/test/bad/manifests/1" {
            Reply::new(200, m.clone())
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        } else if p == "/v2/test/lying-header/manifests/1" {
            let wrong = sha256(b"something else");
            Reply::new(200, m.clone())
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .header("Docker-Content-Digest", &wrong)
        } else if p == format!("/v2/test/bad/manifests/{}", sha256(b"x")) {
            Reply::new(200, m.clone())
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        } else if p.ends_with(&format!("/blobs/{}", sha256(&c))) {
            Reply::new(200, c.clone())
        } else if p.ends_with(&format!("/blobs/{}", sha256(&l))) {
            Reply::new(200, evil.clone())
        } else {
            Reply::new(404, r#"{"errors":[{"code":"NOT_FOUND","message":"nope"}]}"#)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = empty_config(dir.path());
    let scratch = dir.path().join("scratch");
    let o = opts(&scratch, Some(&cfg));
    let host = format!("127.0.0.1:{}", server.port);

    let e = pull(&format!("{host}/test/bad:1"), &o).await.unwrap_err();
    match &e {
        SourceError::DigestMismatch {
            what,
            expected,
            actual,
            ..
        } => {
            assert_eq!(what, "layer");
            assert_eq!(expected, &sha256(&layer));
            assert_eq!(actual, &sha256(b"the fake layer bytes"));
        }
        other => panic!("expected a layer digest mismatch, got {other:?}"),
    }
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(
        left.is_empty(),
        "scratch must be empty after a bad blob: {left:?}"
    );

    // A manifest fetched by digest must hash to that digest.
    let e = pull(&format!("{host}/test/bad@{}", sha256(b"x")), &o)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SourceError::DigestMismatch { ref what, .. } if what == "manifest"),
        "{e:?}"
    );

    // A registry announcing a different digest than it serves is caught too.
    let e = pull(&format!("{host}/test/lying-header:1"), &o)
        .await
        .unwrap_err();
    assert!(
        matches!(e, SourceError::DigestMismatch { ref what, .. } if what == "manifest"),
        "{e:?}"
    );

    // HTTPS (the default) to a loopback registry that is not there suggests --insecure.
    let mut tls = o.clone();
    tls.insecure = false;
    let closed = crate::support::free_port();
    let e = pull(&format!("127.0.0.1:{closed}/test/bad:1"), &tls)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::Http { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&format!(
            "https://127.0.0.1:{closed}/v2/test/bad/manifests/1"
        )),
        "{e}"
    );
    assert!(e.to_string().contains("--insecure"), "{e}");

    // Plain HTTP to anything but loopback is refused before any request.
    let mut far = o.clone();
    far.insecure = true;
    let e = pull("registry.example.com/test/bad:1", &far)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::InsecureNotAllowed { .. }), "{e:?}");
}
