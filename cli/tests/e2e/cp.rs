//! `stella cp`: an attested multi-platform image (a BuildKit-style in-index attestation manifest, an
//! SBOM referrer of its amd64 manifest and a Sigstore-bundle referrer of that SBOM) carried from one
//! real registry (Debian's `docker-registry`, CNCF distribution 2.8: no referrers API, so the
//! `sha256-<hex>` tag fallback on both sides) into an OCI layout, and from there into a second
//! registry; checked with tools we did not write: skopeo (`inspect --raw` digests, the fallback
//! indexes, `copy` out of the layout), umoci (`stat` of the layout) and the Python `oras` package
//! (tests/validate/oras_pull.py discovers and downloads the referrers at the destination). Then the
//! failures: a missing source, an unreachable registry, a corrupt blob, a destination that cannot be
//! written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use registry::referrers::{
    Artifact, ANNOTATION_CREATED, ARTIFACT_CYCLONEDX, ARTIFACT_SIGSTORE_BUNDLE,
};
use registry::{Platform, PushOptions, Reference};
use serde_json::{json, Value};

use crate::common::image;
use crate::common::*;
use crate::support::{
    free_port, have, layer_tar, registry_tools, sha256, skopeo_push, write_blob, write_index,
    write_layout, Registry,
};

const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];
const IN_TOTO: &str = "application/vnd.in-toto+json";
const SPDX_PREDICATE: &str = "https://spdx.dev/Document";

/// `stella ARGS…` with an empty docker config and no proxy.
fn stella_cp(config_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("DOCKER_CONFIG", config_dir);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd.output().expect("run stella")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn tool(program: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// `skopeo inspect --raw` of a registry reference (`docker://…`) or a layout (`oci:…`): the bytes.
fn skopeo_raw(image: &str) -> Vec<u8> {
    let out = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--no-creds",
            "--retry-times",
            "0",
            image,
        ],
    );
    ok(&out, &format!("skopeo inspect --raw {image}"));
    out.stdout
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// STELLA_PYTHON with the `oras` package.
fn oras_python() -> Option<PathBuf> {
    let py = std::env::var_os("STELLA_PYTHON").map(PathBuf::from);
    let ok = py.filter(|p| {
        Command::new(p)
            .args(["-c", "import oras.client"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    require(
        ok,
        "STELLA_PYTHON with the oras package (tests/requirements.txt)",
    )
}

/// oras-py (tests/validate/oras_pull.py) discovers the referrer of `subject` with `artifact_type` in
/// `host/repo` and downloads its layer into `out`; returns its summary.
fn oras_pull(
    python: &Path,
    host: &str,
    repo: &str,
    subject: &str,
    artifact_type: &str,
    out: &Path,
) -> Value {
    let script = repo_root().join("tests/validate/oras_pull.py");
    let mut cmd = Command::new(python);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    let res = cmd
        .arg(&script)
        .args(["--registry", host, "--repository", repo])
        .args(["--subject", subject, "--artifact-type", artifact_type])
        .arg("--output")
        .arg(out)
        .output()
        .unwrap();
    json_of(ok(&res, "oras_pull.py").as_bytes())
}

/// The attested image, as BuildKit lays one out: an index of linux/amd64 and linux/arm64 manifests
/// plus an attestation manifest (platform unknown/unknown, `vnd.docker.reference.*` annotations) whose
/// layer is an in-toto statement about the amd64 manifest.
pub(crate) struct Attested {
    pub(crate) index: String,
    pub(crate) amd64: String,
    pub(crate) arm64: String,
    pub(crate) attestation: String,
    pub(crate) statement: Vec<u8>,
}

/// One image with one gzip layer (so that skopeo pushes it unchanged); returns its index entry.
fn gzip_image(dir: &Path, arch: &str, file: &[u8]) -> Value {
    let tar = layer_tar(&[("etc/os-release", file)]);
    let gz = image::compress(&tar, image::Compression::Gzip);
    let layer = write_blob(dir, "application/vnd.oci.image.layer.v1.tar+gzip", &gz);
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]},
    }))
    .unwrap();
    let config = write_blob(dir, "application/vnd.oci.image.config.v1+json", &config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let mut desc = write_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    desc["platform"] = json!({"os": "linux", "architecture": arch});
    desc
}

pub(crate) fn attested_layout(dir: &Path) -> Attested {
    let amd = gzip_image(dir, "amd64", b"ID=test\nARCH=amd64\n");
    let arm = gzip_image(dir, "arm64", b"ID=test\nARCH=arm64\n");
    let amd64 = amd["digest"].as_str().unwrap().to_owned();
    let statement = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": SPDX_PREDICATE,
        "subject": [{"name": "app", "digest": {"sha256": amd64.trim_start_matches("sha256:")}}],
        "predicate": {"spdxVersion": "SPDX-2.3"},
    }))
    .unwrap();
    let mut layer = write_blob(dir, IN_TOTO, &statement);
    layer["annotations"] = json!({"in-toto.io/predicate-type": SPDX_PREDICATE});
    let config = write_blob(
        dir,
        "application/vnd.oci.image.config.v1+json",
        br#"{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let mut att = write_blob(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    att["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    att["annotations"] = json!({
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": amd64,
    });
    let attestation = att["digest"].as_str().unwrap().to_owned();
    let arm64 = arm["digest"].as_str().unwrap().to_owned();
    let index = write_index(dir, vec![amd, arm, att]);
    let index_digest = index["digest"].as_str().unwrap().to_owned();
    write_layout(dir, vec![("app", index)]);
    Attested {
        index: index_digest,
        amd64,
        arm64,
        attestation,
        statement,
    }
}

fn artifact(kind: &str, body: &[u8]) -> Artifact {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        ANNOTATION_CREATED.to_owned(),
        "2024-05-01T12:00:00Z".to_owned(),
    );
    Artifact {
        artifact_type: kind.to_owned(),
        content: body.to_vec(),
        annotations,
    }
}

/// Attaches `artifact` to what `reference` names (only the `platform` manifest of an index when
/// given); returns the referrer manifest's digest.
fn attach(config: &Path, reference: &str, artifact: &Artifact, platform: Option<&str>) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = PushOptions {
        insecure: true,
        docker_config: Some(config.join("config.json")),
        mount_from: None,
        platform: platform.map(|p| Platform::parse(p).unwrap()),
    };
    let pushed = rt
        .block_on(registry::push_referrer(
            &Reference::parse(reference).unwrap(),
            artifact,
            &opts,
        ))
        .unwrap();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert!(
        pushed[0].fallback_tag.is_some(),
        "distribution 2.8 has no referrers API"
    );
    pushed[0].manifest.digest.clone()
}

/// The descriptors of an index tagged `sha256-<hex>` (the tag fallback) for `subject`, by skopeo.
fn fallback_digests(host: &str, repo: &str, subject: &str) -> Vec<String> {
    let raw = skopeo_raw(&format!(
        "docker://{host}/{repo}:{}",
        subject.replace(':', "-")
    ));
    json_of(&raw)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn cp_carries_an_attested_image_registry_to_layout_to_registry() {
    if !registry_tools() || !have("umoci") {
        return;
    }
    let Some(python) = oras_python() else { return };
    let tmp = tempdir();
    let cfg = tempdir();
    std::fs::write(cfg.path().join("config.json"), "{}").unwrap();
    let c = cfg.path();
    let built = tmp.path().join("built");
    let mut img = attested_layout(&built);

    // The source registry, filled by skopeo (all platforms). skopeo re-serialises the index (so its
    // digest is skopeo's) but keeps the manifests under it byte for byte.
    let src_reg = Registry::start("");
    let src = src_reg.host();
    img.index = skopeo_push(&built, "app", &format!("{src}/test/src:1"), None, true);
    let children: Vec<String> = json_of(&skopeo_raw(&format!("docker://{src}/test/src:1")))
        ["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        children,
        [
            img.amd64.clone(),
            img.arm64.clone(),
            img.attestation.clone()
        ]
    );
    let sbom_doc = br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#;
    let sbom = attach(
        c,
        &format!("{src}/test/src:1"),
        &artifact(ARTIFACT_CYCLONEDX, sbom_doc),
        Some("linux/amd64"),
    );
    let bundle_doc = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#;
    let bundle = attach(
        c,
        &format!("{src}/test/src@{sbom}"),
        &artifact(ARTIFACT_SIGSTORE_BUNDLE, bundle_doc),
        None,
    );

    // registry → layout
    let carry = tmp.path().join("carry");
    let carry_ref = format!("oci:{}:app", carry.display());
    let out = ok(
        &stella_cp(
            c,
            &["cp", "--insecure", &format!("{src}/test/src:1"), &carry_ref],
        ),
        "stella cp registry → layout",
    );
    assert_eq!(
        out.trim(),
        format!(
            "copied {} (index, 3 manifests, 9 blobs, 2 referrers) → {carry_ref}",
            img.index
        ),
        "{out}"
    );
    // skopeo reads the layout: the index byte for byte, and each manifest under it.
    let raw = skopeo_raw(&carry_ref);
    assert_eq!(sha256(&raw), img.index);
    // umoci checks a layout image it can stat: copy the amd64 manifest alone into another tag.
    ok(
        &stella_cp(
            c,
            &[
                "cp",
                "--insecure",
                "--platform",
                "linux/amd64",
                &format!("{src}/test/src:1"),
                &format!("oci:{}:amd64", carry.display()),
            ],
        ),
        "stella cp --platform",
    );
    ok(
        &tool(
            "umoci",
            &[
                "stat",
                "--json",
                "--image",
                &format!("{}:amd64", carry.display()),
            ],
        ),
        "umoci stat",
    );
    assert_eq!(
        sha256(&skopeo_raw(&format!("oci:{}:amd64", carry.display()))),
        img.amd64
    );
    // The referrers are in the layout, discoverable as a layout lists them (stella referrers), and
    // every blob in it hashes to its name.
    let index_json = json_of(&std::fs::read(carry.join("index.json")).unwrap());
    let listed: Vec<&str> = index_json["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&sbom.as_str()) && listed.contains(&bundle.as_str()),
        "{index_json}"
    );
    for entry in std::fs::read_dir(carry.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        assert_eq!(
            sha256(&std::fs::read(entry.path()).unwrap()),
            format!("sha256:{name}"),
            "no temporary or corrupt file left in the layout"
        );
    }
    let refs = json_of(
        ok(
            &stella_cp(c, &["referrers", &carry_ref, "--format", "json"]),
            "stella referrers on the layout",
        )
        .as_bytes(),
    );
    let found: Vec<(String, String)> = refs["referrers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["subject"].as_str().unwrap().to_owned(),
                r["descriptor"]["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(found.contains(&(img.amd64.clone(), sbom.clone())), "{refs}");
    assert!(
        found.contains(&(img.amd64.clone(), img.attestation.clone())),
        "{refs}"
    );

    // layout → a second registry
    let dst_reg = Registry::start("");
    let dst = dst_reg.host();
    let out = ok(
        &stella_cp(
            c,
            &["cp", "--insecure", &carry_ref, &format!("{dst}/test/dst:1")],
        ),
        "stella cp layout → registry",
    );
    assert!(out.contains("2 referrers"), "{out}");
    // Digests identical, by skopeo: the index, both platform manifests, the attestation manifest.
    assert_eq!(
        sha256(&skopeo_raw(&format!("docker://{dst}/test/dst:1"))),
        img.index
    );
    for d in [&img.amd64, &img.arm64, &img.attestation, &sbom, &bundle] {
        assert_eq!(
            &sha256(&skopeo_raw(&format!("docker://{dst}/test/dst@{d}"))),
            d
        );
    }
    // The tag fallback indexes list the referrers (no referrers API on distribution 2.8).
    assert_eq!(
        fallback_digests(&dst, "test/dst", &img.amd64),
        [sbom.as_str()]
    );
    assert_eq!(fallback_digests(&dst, "test/dst", &sbom), [bundle.as_str()]);
    // oras-py discovers both at the destination and downloads them byte for byte.
    let got = tmp.path().join("oras-sbom.json");
    let s = oras_pull(
        &python,
        &dst,
        "test/dst",
        &img.amd64,
        ARTIFACT_CYCLONEDX,
        &got,
    );
    assert_eq!(s["discovery"], "tag-fallback");
    assert_eq!(s["referrer"], sbom.as_str());
    assert_eq!(std::fs::read(&got).unwrap(), sbom_doc);
    let got = tmp.path().join("oras-bundle.json");
    let s = oras_pull(
        &python,
        &dst,
        "test/dst",
        &sbom,
        ARTIFACT_SIGSTORE_BUNDLE,
        &got,
    );
    assert_eq!(s["referrer"], bundle.as_str());
    assert_eq!(std::fs::read(&got).unwrap(), bundle_doc);
    // skopeo copies the image out of our layout: it reads it as a valid OCI layout.
    ok(
        &tool(
            "skopeo",
            &[
                "--insecure-policy",
                "copy",
                "--all",
                "--dest-tls-verify=false",
                "--dest-no-creds",
                &carry_ref,
                &format!("docker://{dst}/test/by-skopeo:1"),
            ],
        ),
        "skopeo copy out of the layout",
    );
    assert_eq!(
        sha256(&skopeo_raw(&format!("docker://{dst}/test/by-skopeo:1"))),
        img.index
    );

    // registry → registry directly; a second copy finds every blob there and changes nothing.
    let direct = format!("{dst}/test/direct:1");
    ok(
        &stella_cp(
            c,
            &["cp", "--insecure", &format!("{src}/test/src:1"), &direct],
        ),
        "stella cp registry → registry",
    );
    assert_eq!(
        sha256(&skopeo_raw(&format!("docker://{direct}"))),
        img.index
    );
    assert_eq!(
        fallback_digests(&dst, "test/direct", &sbom),
        [bundle.as_str()]
    );
    let again = ok(
        &stella_cp(
            c,
            &["cp", "--insecure", &format!("{src}/test/src:1"), &direct],
        ),
        "stella cp again",
    );
    assert!(again.contains("9 blobs (9 already there)"), "{again}");
    assert_eq!(
        fallback_digests(&dst, "test/direct", &img.amd64),
        [sbom.as_str()]
    );

    // --no-referrers: the image only.
    let bare = format!("{dst}/test/bare:1");
    let out = ok(
        &stella_cp(
            c,
            &[
                "cp",
                "--insecure",
                "--no-referrers",
                &format!("{src}/test/src:1"),
                &bare,
            ],
        ),
        "stella cp --no-referrers",
    );
    assert!(out.contains("0 referrers"), "{out}");
    let e = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--no-creds",
            &format!("docker://{dst}/test/bare:{}", img.amd64.replace(':', "-")),
        ],
    );
    assert!(!e.status.success(), "no fallback index without referrers");

    // The in-toto statement is reachable at the destination through the registry crate's API.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = registry::target::Target::parse(&format!("{dst}/test/dst:1")).unwrap();
    let opts = PushOptions {
        insecure: true,
        docker_config: Some(c.join("config.json")),
        mount_from: None,
        platform: None,
    };
    let (index, _) = rt
        .block_on(registry::target::top_manifest(&target, &opts))
        .unwrap();
    let atts = registry::referrers::in_index_attestations(&index).unwrap();
    let layers = rt
        .block_on(registry::target::fetch_in_toto_layers(
            &target,
            &atts[&img.amd64][0],
            &opts,
        ))
        .unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].statement, img.statement);
    assert_eq!(layers[0].predicate_type.as_deref(), Some(SPDX_PREDICATE));
    // And every referrer of one digest, through the tag fallback.
    let of_sbom = rt
        .block_on(registry::target::referrers_of(&target, &sbom, &opts))
        .unwrap();
    assert_eq!(of_sbom.len(), 1);
    assert_eq!(of_sbom[0].descriptor.digest, bundle);
    assert_eq!(
        of_sbom[0].descriptor.artifact_type.as_deref(),
        Some(ARTIFACT_SIGSTORE_BUNDLE)
    );
    assert_eq!(
        of_sbom[0].discovery,
        registry::referrers::Discovery::TagFallback
    );
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cp_fails_clearly_and_leaves_no_half_written_layout() {
    let tmp = tempdir();
    let cfg = tempdir();
    let c = cfg.path();
    let built = tmp.path().join("built");
    let img = attested_layout(&built);
    let src = format!("oci:{}:app", built.display());

    // A missing source: exit 3, named, and no destination made.
    let out_dir = tmp.path().join("out");
    let missing = tmp.path().join("nope");
    let out = stella_cp(
        c,
        &[
            "cp",
            &format!("oci:{}:app", missing.display()),
            &format!("oci:{}:app", out_dir.display()),
        ],
    );
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&missing.display().to_string()),
        "{}",
        stderr(&out)
    );
    assert!(!out_dir.exists());

    // An unreachable registry: exit 4, the URL named, no destination made.
    let port = free_port();
    let out = stella_cp(
        c,
        &[
            "cp",
            "--insecure",
            &format!("127.0.0.1:{port}/test/x:1"),
            &format!("oci:{}:app", out_dir.display()),
        ],
    );
    assert_eq!(code(&out), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stderr(&out)
    );
    assert!(!out_dir.exists());

    // A layout → layout copy works and is byte for byte.
    let good = tmp.path().join("good");
    let good_ref = format!("oci:{}:app", good.display());
    let out = ok(
        &stella_cp(c, &["cp", &src, &good_ref]),
        "stella cp layout → layout",
    );
    assert!(out.contains(&img.index), "{out}");
    assert_eq!(
        std::fs::read(
            good.join("blobs/sha256")
                .join(img.attestation.trim_start_matches("sha256:"))
        )
        .unwrap(),
        std::fs::read(
            built
                .join("blobs/sha256")
                .join(img.attestation.trim_start_matches("sha256:"))
        )
        .unwrap()
    );
    let index_before = std::fs::read(good.join("index.json")).unwrap();
    let json_dir = tmp.path().join("json");
    let v = json_of(
        ok(
            &stella_cp(
                c,
                &[
                    "cp",
                    &src,
                    &format!("oci:{}:app", json_dir.display()),
                    "--format",
                    "json",
                ],
            ),
            "stella cp --format json",
        )
        .as_bytes(),
    );
    assert_eq!(v["copied"]["top"]["digest"], img.index.as_str(), "{v}");
    assert_eq!(v["copied"]["index"], true);
    assert_eq!(v["copied"]["manifests"], 3);
    assert_eq!(v["copied"]["blobs_copied"], 6);
    assert_eq!(v["copied"]["tag"], "app");

    // A corrupt blob (same size, other bytes): exit 3, the digest named; a new destination is
    // removed, an existing one keeps its index.json.
    let arm_manifest = json_of(
        &std::fs::read(
            built
                .join("blobs/sha256")
                .join(img.arm64.trim_start_matches("sha256:")),
        )
        .unwrap(),
    );
    let layer = arm_manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = built
        .join("blobs/sha256")
        .join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let out = stella_cp(c, &["cp", &src, &format!("oci:{}:app", out_dir.display())]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("digest mismatch") && err.contains(&layer),
        "{err}"
    );
    assert!(
        !out_dir.exists(),
        "a failed copy leaves no new layout behind"
    );
    std::fs::remove_dir_all(good.join("blobs")).unwrap();
    std::fs::create_dir_all(good.join("blobs/sha256")).unwrap();
    let out = stella_cp(c, &["cp", &src, &format!("oci:{}:other", good.display())]);
    assert_eq!(code(&out), Some(3), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(good.join("index.json")).unwrap(),
        index_before
    );
    assert!(!good.join("index.json.lock").exists());
    std::fs::write(&path, {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        &bytes
    })
    .unwrap();

    // A destination that cannot be written (a path under a regular file): exit 5, named.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let out = stella_cp(
        c,
        &[
            "cp",
            &src,
            &format!("oci:{}:app", file.join("sub").display()),
        ],
    );
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&file.display().to_string()),
        "{}",
        stderr(&out)
    );
    // A non-empty directory that is no layout is refused, untouched.
    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("mine.txt"), "x").unwrap();
    let out = stella_cp(c, &["cp", &src, &format!("oci:{}:app", busy.display())]);
    assert_eq!(code(&out), Some(5), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
}
