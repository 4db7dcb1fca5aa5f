//! Referrers against the real CNCF distribution 2.8 registry (no referrers API: the tag-schema
//! fallback), checked with skopeo, a client we did not write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use registry::referrers::{
    Artifact, Discovery, ANNOTATION_CREATED, ARTIFACT_CYCLONEDX, ARTIFACT_SPDX,
};
use registry::{
    fetch_referrer, list_referrers, push_blob_file, push_referrer, Platform, PushOptions,
    Reference, SourceError,
};
use serde_json::Value;

use crate::support::{
    build_test_layout, docker_config, registry_tools, sha256, skopeo_push, Registry,
};

pub fn artifact(kind: &str, body: &str) -> Artifact {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        ANNOTATION_CREATED.to_owned(),
        "2024-05-01T12:00:00Z".to_owned(),
    );
    Artifact {
        artifact_type: kind.to_owned(),
        content: body.as_bytes().to_vec(),
        annotations,
    }
}

pub fn push_opts(config: Option<&Path>) -> PushOptions {
    PushOptions {
        insecure: true,
        docker_config: config.map(Path::to_owned),
        mount_from: None,
        platform: None,
    }
}

fn empty_config(dir: &Path) -> PathBuf {
    let p = dir.join("empty-config.json");
    std::fs::write(&p, "{}").unwrap();
    p
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

/// `skopeo inspect --raw` of `docker://{image}` as JSON.
fn skopeo_raw(image: &str, creds: Option<&str>) -> Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    match creds {
        Some(c) => cmd.args(["--creds", c]),
        None => cmd.arg("--no-creds"),
    };
    let out = cmd.arg(format!("docker://{image}")).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_push_list_fetch_fallback() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let reg = Registry::start("");
    let host = reg.host();
    let image = format!("{host}/test/app:1");
    let subject = skopeo_push(&t.path, "single", &image, None, false);
    let cfg = empty_config(dir.path());
    let o = push_opts(Some(&cfg));

    let cdx = artifact(
        ARTIFACT_CYCLONEDX,
        r#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#,
    );
    let spdx = artifact(ARTIFACT_SPDX, r#"{"spdxVersion":"SPDX-2.3"}"#);
    let pushed_cdx = push_referrer(&r(&image), &cdx, &o).await.unwrap();
    let pushed_spdx = push_referrer(&r(&image), &spdx, &o).await.unwrap();
    assert_eq!(pushed_cdx.len(), 1);
    let tag = subject.replace(':', "-");
    assert_eq!(pushed_cdx[0].subject.digest, subject);
    assert_eq!(pushed_cdx[0].fallback_tag.as_deref(), Some(tag.as_str()));
    assert_eq!(
        pushed_cdx[0].manifest.artifact_type.as_deref(),
        Some(ARTIFACT_CYCLONEDX)
    );

    // Pushing the same artifact again changes nothing (same digest, deduplicated).
    let again = push_referrer(&r(&image), &cdx, &o).await.unwrap();
    assert_eq!(again[0].manifest, pushed_cdx[0].manifest);

    let all = list_referrers(&r(&image), None, &o).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all
        .iter()
        .all(|x| x.discovery == Discovery::TagFallback && x.subject == subject));
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| a.descriptor.digest.cmp(&b.descriptor.digest));
    assert_eq!(sorted, all, "sorted by (subject, digest)");
    let only_spdx = list_referrers(&r(&image), Some(ARTIFACT_SPDX), &o)
        .await
        .unwrap();
    assert_eq!(only_spdx.len(), 1);
    assert_eq!(only_spdx[0].descriptor, pushed_spdx[0].manifest);
    // By digest as well as by tag.
    let by_digest = list_referrers(&r(&format!("{host}/test/app@{subject}")), None, &o)
        .await
        .unwrap();
    assert_eq!(by_digest, all);

    let cdx_ref = all
        .iter()
        .find(|x| x.descriptor.artifact_type.as_deref() == Some(ARTIFACT_CYCLONEDX))
        .unwrap();
    let (manifest, media_type, content) = fetch_referrer(&r(&image), cdx_ref, &o).await.unwrap();
    assert_eq!(media_type, ARTIFACT_CYCLONEDX);
    assert_eq!(content, cdx.content);
    assert_eq!(sha256(&manifest), cdx_ref.descriptor.digest);

    // What skopeo sees: the fallback index and the referrer manifest.
    let index = skopeo_raw(&format!("{host}/test/app:{tag}"), None);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        assert_eq!(e["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert!(e["artifactType"] == ARTIFACT_CYCLONEDX || e["artifactType"] == ARTIFACT_SPDX);
        assert_eq!(e["annotations"][ANNOTATION_CREATED], "2024-05-01T12:00:00Z");
    }
    let m = skopeo_raw(
        &format!("{host}/test/app@{}", cdx_ref.descriptor.digest),
        None,
    );
    assert_eq!(m["artifactType"], ARTIFACT_CYCLONEDX);
    assert_eq!(m["subject"]["digest"], subject.as_str());
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(m["layers"][0]["digest"], sha256(&cdx.content).as_str());

    // Cross-repository mount: the blobs come from test/app into test/other.
    let other = format!("{host}/test/other:1");
    skopeo_push(&t.path, "single", &other, None, false);
    let mut mount = o.clone();
    mount.mount_from = Some("test/app".to_owned());
    let pushed = push_referrer(&r(&other), &cdx, &mount).await.unwrap();
    let found = list_referrers(&r(&other), None, &o).await.unwrap();
    assert_eq!(found.len(), 1);
    let (_, _, content) = fetch_referrer(&r(&other), &found[0], &o).await.unwrap();
    assert_eq!(content, cdx.content);
    assert_eq!(found[0].descriptor, pushed[0].manifest);

    // A streamed file blob.
    let big = dir.path().join("big.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let d = push_blob_file(&r(&image), &big, "application/octet-stream", &o)
        .await
        .unwrap();
    assert_eq!(
        (d.digest.clone(), d.size),
        (sha256(&data), data.len() as u64)
    );
    let again = push_blob_file(&r(&image), &big, "application/octet-stream", &o)
        .await
        .unwrap();
    assert_eq!(again, d);

    // A missing image is a clear error.
    let e = push_referrer(&r(&format!("{host}/test/app:nope")), &cdx, &o)
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::ManifestNotFound { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_multi_platform_one_referrer_per_platform() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let reg = Registry::start("");
    let host = reg.host();
    let image = format!("{host}/test/multi:1");
    let index_digest = skopeo_push(&t.path, "multi", &image, None, true);
    let cfg = empty_config(dir.path());
    let o = push_opts(Some(&cfg));
    let index = skopeo_raw(&image, None);
    let platform_digests: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(platform_digests.len(), 3);

    let sbom = artifact(ARTIFACT_CYCLONEDX, r#"{"bomFormat":"CycloneDX"}"#);
    let pushed = push_referrer(&r(&image), &sbom, &o).await.unwrap();
    let mut subjects: Vec<String> = pushed.iter().map(|p| p.subject.digest.clone()).collect();
    subjects.sort();
    let mut want = platform_digests.clone();
    want.sort();
    assert_eq!(subjects, want);
    assert!(!subjects.contains(&index_digest));

    let found = list_referrers(&r(&image), None, &o).await.unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    let mut found_subjects: Vec<String> = found.iter().map(|f| f.subject.clone()).collect();
    found_subjects.sort();
    assert_eq!(found_subjects, want);
    for f in &found {
        let (_, _, content) = fetch_referrer(&r(&image), f, &o).await.unwrap();
        assert_eq!(content, sbom.content);
    }

    // One platform only.
    let mut arm = o.clone();
    arm.platform = Some(Platform::parse("linux/arm64").unwrap());
    let spdx = artifact(ARTIFACT_SPDX, r#"{"spdxVersion":"SPDX-2.3"}"#);
    let pushed = push_referrer(&r(&image), &spdx, &arm).await.unwrap();
    assert_eq!(pushed.len(), 1);
    let arm_found = list_referrers(&r(&image), None, &arm).await.unwrap();
    assert_eq!(arm_found.len(), 2, "{arm_found:?}");
    assert!(arm_found
        .iter()
        .all(|f| f.subject == pushed[0].subject.digest));
    let mut ppc = o.clone();
    ppc.platform = Some(Platform::parse("linux/ppc64le").unwrap());
    let e = push_referrer(&r(&image), &spdx, &ppc).await.unwrap_err();
    assert!(matches!(e, SourceError::NoMatchingPlatform { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_hundred_concurrent_pushes_all_listed() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let reg = Registry::start("");
    let host = reg.host();
    let image = format!("{host}/test/busy:1");
    skopeo_push(&t.path, "single", &image, None, false);
    let cfg = empty_config(dir.path());
    let o = push_opts(Some(&cfg));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (image, o) = (image.clone(), o.clone());
        tasks.spawn(async move {
            let a = artifact(ARTIFACT_CYCLONEDX, &format!(r#"{{"serialNumber":"{i}"}}"#));
            push_referrer(&r(&image), &a, &o).await
        });
    }
    let mut digests = Vec::new();
    while let Some(j) = tasks.join_next().await {
        digests.push(j.unwrap().unwrap()[0].manifest.digest.clone());
    }
    let start = std::time::Instant::now();
    let found = list_referrers(&r(&image), None, &o).await.unwrap();
    let took = start.elapsed();
    eprintln!("listing 100 referrers (fallback index) took {took:?}");
    // Generous for a loaded debug build; the benchmark target (50 referrers, 50 ms) is for release.
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    assert_eq!(found.len(), 100);
    digests.sort();
    let listed: Vec<String> = found.iter().map(|f| f.descriptor.digest.clone()).collect();
    assert_eq!(listed, digests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_basic_auth_push() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret-pw", 4).unwrap();
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let reg = Registry::start(&format!(
        "  htpasswd:\n    realm: stella-test\n    path: {}\n",
        htpasswd.display()
    ));
    let host = reg.host();
    let image = format!("{host}/test/app:1");
    skopeo_push(&t.path, "single", &image, Some("alice:s3cret-pw"), false);
    let sbom = artifact(ARTIFACT_CYCLONEDX, r#"{"bomFormat":"CycloneDX"}"#);

    let good_dir = tempfile::tempdir().unwrap();
    let good = docker_config(good_dir.path(), &host, "alice", "s3cret-pw");
    let pushed = push_referrer(&r(&image), &sbom, &push_opts(Some(&good)))
        .await
        .unwrap();
    let found = list_referrers(&r(&image), None, &push_opts(Some(&good)))
        .await
        .unwrap();
    assert_eq!(found[0].descriptor, pushed[0].manifest);
    let idx = skopeo_raw(
        &format!(
            "{host}/test/app:{}",
            pushed[0].subject.digest.replace(':', "-")
        ),
        Some("alice:s3cret-pw"),
    );
    assert_eq!(idx["manifests"].as_array().unwrap().len(), 1);

    let none = empty_config(dir.path());
    let e = push_referrer(&r(&image), &sbom, &push_opts(Some(&none)))
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("no credentials for"), "{e}");
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = docker_config(bad_dir.path(), &host, "alice", "wrong");
    let e = push_referrer(&r(&image), &sbom, &push_opts(Some(&bad)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("rejected"), "{e}");
}

const ISSUER: &str = "stella-test-issuer";
const SERVICE: &str = "stella-test-registry";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_bearer_token_push_and_pull_only_account() {
    use crate::support::{access_for, Reply, TinyServer, TokenIssuer};
    use std::sync::{Arc, Mutex};
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let issuer = Arc::new(TokenIssuer::new());
    let bundle = dir.path().join("root.pem");
    std::fs::write(&bundle, &issuer.cert_pem).unwrap();
    // alice may do what she asks for; bob only ever gets pull.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (iss, seen2) = (issuer.clone(), seen.clone());
    let tokens = TinyServer::start(move |req| {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let auth = req.header("authorization").unwrap_or_default().to_owned();
        let user = if auth == format!("Basic {}", b64("alice:tok-pw")) {
            "alice"
        } else if auth == format!("Basic {}", b64("bob:bob-pw")) {
            "bob"
        } else {
            return Reply::new(401, r#"{"details":"bad credentials"}"#);
        };
        let scopes: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k == "scope")
            .map(|(_, v)| {
                if user == "bob" {
                    v.replace(",push", "").replace(":push", ":pull")
                } else {
                    v.clone()
                }
            })
            .collect();
        seen2.lock().unwrap().push(format!("{user} {scopes:?}"));
        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let token = iss.token(ISSUER, SERVICE, user, access_for(&refs));
        Reply::new(200, serde_json::json!({"token": token}).to_string())
            .header("Content-Type", "application/json")
    });
    let reg = Registry::start(&format!(
        "  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        tokens.port,
        bundle.display()
    ));
    let host = reg.host();
    let image = format!("{host}/test/app:1");
    skopeo_push(&t.path, "single", &image, Some("alice:tok-pw"), false);
    let sbom = artifact(ARTIFACT_CYCLONEDX, r#"{"bomFormat":"CycloneDX"}"#);

    let alice_dir = tempfile::tempdir().unwrap();
    let alice = docker_config(alice_dir.path(), &host, "alice", "tok-pw");
    let pushed = push_referrer(&r(&image), &sbom, &push_opts(Some(&alice)))
        .await
        .unwrap();
    assert!(pushed[0].fallback_tag.is_some());
    let seen_now = seen.lock().unwrap().clone();
    assert!(
        seen_now
            .iter()
            .any(|s| s.starts_with("alice") && s.contains("repository:test/app:pull,push")),
        "{seen_now:?}"
    );

    let bob_dir = tempfile::tempdir().unwrap();
    let bob = docker_config(bob_dir.path(), &host, "bob", "bob-pw");
    // bob can list and fetch ...
    let found = list_referrers(&r(&image), None, &push_opts(Some(&bob)))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let (_, _, content) = fetch_referrer(&r(&image), &found[0], &push_opts(Some(&bob)))
        .await
        .unwrap();
    assert_eq!(content, sbom.content);
    // ... but not push.
    let spdx = artifact(ARTIFACT_SPDX, r#"{"spdxVersion":"SPDX-2.3"}"#);
    let e = push_referrer(&r(&image), &spdx, &push_opts(Some(&bob)))
        .await
        .unwrap_err();
    assert!(matches!(e, SourceError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("may push"), "{e}");
    assert_eq!(
        list_referrers(&r(&image), None, &push_opts(Some(&alice)))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// An index as BuildKit writes it: platform manifests plus `unknown/unknown` attestation manifests
/// pointing at them through `vnd.docker.reference.digest`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_buildkit_attestations_are_discovered_and_skipped_on_push() {
    use crate::support::{layer_tar, write_blob, write_image, write_index, write_layout};
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("bk");
    let (amd, _) = write_image(
        &layout,
        "linux",
        "amd64",
        None,
        &[layer_tar(&[("a", b"a")])],
    );
    // skopeo rewrites manifests on the way in: learn the amd64 manifest's digest in the registry first.
    write_layout(&layout, vec![("amd", amd.clone())]);
    let reg = Registry::start("");
    let host = reg.host();
    let amd_digest = skopeo_push(&layout, "amd", &format!("{host}/test/bk:amd"), None, false);
    let statement = br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document"}"#;
    let mut st = write_blob(&layout, "application/vnd.in-toto+json", statement);
    st["annotations"] =
        serde_json::json!({"in-toto.io/predicate-type": "https://spdx.dev/Document"});
    let cfg = write_blob(
        &layout,
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let att = serde_json::json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
        "config": cfg, "layers":[st]});
    let mut att_desc = write_blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&att).unwrap(),
    );
    att_desc["platform"] = serde_json::json!({"os":"unknown","architecture":"unknown"});
    att_desc["annotations"] = serde_json::json!({
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": amd_digest.clone()});
    let index = write_index(&layout, vec![amd.clone(), att_desc.clone()]);
    write_layout(&layout, vec![("bk", index)]);
    let image = format!("{host}/test/bk:1");
    skopeo_push(&layout, "bk", &image, None, true);
    let empty = empty_config(dir.path());
    let o = push_opts(Some(&empty));

    let found = list_referrers(&r(&image), None, &o).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].discovery, Discovery::BuildkitIndex);
    assert_eq!(found[0].subject, amd_digest);
    assert_eq!(
        found[0].descriptor.digest,
        att_desc["digest"].as_str().unwrap()
    );
    assert_eq!(
        found[0].descriptor.artifact_type.as_deref(),
        Some("application/vnd.in-toto+json")
    );
    // The in-toto filter finds it, as it does in a layout; an SBOM filter does not.
    let typed = list_referrers(&r(&image), Some("application/vnd.in-toto+json"), &o)
        .await
        .unwrap();
    assert_eq!(typed.len(), 1);
    assert!(list_referrers(&r(&image), Some(ARTIFACT_CYCLONEDX), &o)
        .await
        .unwrap()
        .is_empty());
    let (_, media_type, content) = fetch_referrer(&r(&image), &found[0], &o).await.unwrap();
    assert_eq!(media_type, "application/vnd.in-toto+json");
    assert_eq!(content, statement);

    // A push attaches to the amd64 manifest only, never to the attestation manifest.
    let sbom = artifact(ARTIFACT_CYCLONEDX, r#"{"bomFormat":"CycloneDX"}"#);
    let pushed = push_referrer(&r(&image), &sbom, &o).await.unwrap();
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].subject.digest, amd_digest);
    let found = list_referrers(&r(&image), None, &o).await.unwrap();
    assert_eq!(found.len(), 2);
    let only = list_referrers(&r(&image), Some(ARTIFACT_CYCLONEDX), &o)
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].discovery, Discovery::TagFallback);
}

/// The child half of [`real_registry_pushers_in_four_processes_all_listed`]: pushes 25 referrers
/// concurrently when started by it (ignored otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "started as a child process by real_registry_pushers_in_four_processes_all_listed"]
async fn child_pusher() {
    let (Ok(image), Ok(cfg), Ok(id)) = (
        std::env::var("STELLA_TEST_PUSH_IMAGE"),
        std::env::var("STELLA_TEST_PUSH_CONFIG"),
        std::env::var("STELLA_TEST_PUSH_ID"),
    ) else {
        return;
    };
    let o = push_opts(Some(Path::new(&cfg)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..25 {
        let (image, o, id) = (image.clone(), o.clone(), id.clone());
        tasks.spawn(async move {
            let a = artifact(
                ARTIFACT_CYCLONEDX,
                &format!(r#"{{"serialNumber":"{id}-{i}"}}"#),
            );
            push_referrer(&r(&image), &a, &o).await
        });
    }
    while let Some(j) = tasks.join_next().await {
        j.unwrap().unwrap();
    }
}

/// Pushers in different processes do not share the in-process lock: only the re-read, verify and
/// retry protocol keeps their entries in the fallback index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_registry_pushers_in_four_processes_all_listed() {
    if !registry_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = build_test_layout(&dir.path().join("layout"));
    let reg = Registry::start("");
    let host = reg.host();
    let image = format!("{host}/test/procs:1");
    skopeo_push(&t.path, "single", &image, None, false);
    let cfg = empty_config(dir.path());
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "remote_referrers::child_pusher",
                    "--test-threads=1",
                ])
                .env("STELLA_TEST_PUSH_IMAGE", &image)
                .env("STELLA_TEST_PUSH_CONFIG", &cfg)
                .env("STELLA_TEST_PUSH_ID", id.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child pusher failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
    let o = push_opts(Some(&cfg));
    let found = list_referrers(&r(&image), None, &o).await.unwrap();
    assert_eq!(found.len(), 100, "entries lost between processes");
}
