//! `stella sbom push` / `referrers` / `sbom pull` through a real registry (Debian's `docker-registry`,
//! CNCF distribution 2.8: no referrers API, so the `sha256-<hex>` tag fallback), checked by clients we
//! did not write: skopeo (`inspect --raw` of the referrer manifest and of the fallback index) and the
//! Python `oras` package (tests/validate/oras_pull.py discovers and downloads the SBOM).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::image::{self, Compression, E};
use crate::common::*;
use crate::support::{registry_tools, skopeo_push, Registry};

const CDX: &str = "application/vnd.cyclonedx+json";

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

/// `stella ARGS…` with an empty docker config and no proxy.
fn stella_in(config_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("DOCKER_CONFIG", config_dir);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    cmd.output().expect("run stella")
}

fn ok(out: &Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out.stdout.clone()
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

fn skopeo_raw(reference: &str) -> Value {
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--no-creds",
        "--retry-times",
        "0",
    ]);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    let out = cmd.arg(format!("docker://{reference}")).output().unwrap();
    serde_json::from_slice(&ok(&out, &format!("skopeo inspect --raw {reference}"))).unwrap()
}

#[test]
fn sbom_round_trip_through_a_real_registry_seen_by_skopeo_and_oras() {
    if !registry_tools() {
        return;
    }
    let Some(python) = oras_python() else { return };
    let tmp = tempdir();
    let dir = tmp.path().join("layout");
    let base = image::layer(
        &[
            E::Dir("etc"),
            E::File("etc/os-release", image::OS_RELEASE),
            E::Dir("var/lib/dpkg"),
            E::File(
                "var/lib/dpkg/status",
                &image::dpkg_status(&[("base-files", "12.4")]),
            ),
        ],
        Compression::Gzip,
    );
    image::oci_layout(&dir, "app", &[base]);
    let reg = Registry::start("");
    let host = reg.host();
    let reference = format!("{host}/test/app:1");
    let subject = skopeo_push(&dir, "app", &reference, None, false);
    let cfg = tempdir();
    std::fs::write(cfg.path().join("config.json"), "{}").unwrap();
    let c = cfg.path();

    let sbom = tmp.path().join("app.cdx.json");
    ok(
        &stella_in(
            c,
            &[
                "scan",
                "--insecure",
                &reference,
                "--output",
                sbom.to_str().unwrap(),
            ],
        ),
        "scan",
    );
    let pushed = String::from_utf8(ok(
        &stella_in(
            c,
            &[
                "sbom",
                "push",
                "--insecure",
                &reference,
                "--sbom",
                sbom.to_str().unwrap(),
            ],
        ),
        "sbom push",
    ))
    .unwrap();
    let referrer = pushed.trim().to_owned();
    assert!(
        referrer.starts_with("sha256:") && !referrer.contains('\n'),
        "{pushed}"
    );

    let listed: Value = serde_json::from_slice(&ok(
        &stella_in(
            c,
            &["referrers", "--insecure", &reference, "--format", "json"],
        ),
        "referrers",
    ))
    .unwrap();
    let found = listed["referrers"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{listed}");
    assert_eq!(found[0]["subject"], subject.as_str());
    assert_eq!(found[0]["descriptor"]["digest"], referrer.as_str());
    assert_eq!(found[0]["descriptor"]["artifactType"], CDX);
    assert_eq!(found[0]["discovery"], "tag-fallback");

    let pulled = tmp.path().join("pulled.json");
    ok(
        &stella_in(
            c,
            &[
                "sbom",
                "pull",
                "--insecure",
                &reference,
                "--output",
                pulled.to_str().unwrap(),
            ],
        ),
        "sbom pull",
    );
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&sbom).unwrap()
    );

    // The same SBOM pushed to the layout the image came from gives the same referrer manifest, byte
    // for byte: skopeo copied the (gzip-layered OCI) manifest unchanged, so the subject is the same.
    let layout_image = format!("oci:{}:app", dir.display());
    let local = String::from_utf8(ok(
        &stella_in(
            c,
            &[
                "sbom",
                "push",
                &layout_image,
                "--sbom",
                sbom.to_str().unwrap(),
            ],
        ),
        "sbom push to the layout",
    ))
    .unwrap();
    assert_eq!(
        local.trim(),
        referrer,
        "layout and registry referrers agree"
    );

    // skopeo: the referrer manifest and the fallback index, raw.
    let manifest = skopeo_raw(&format!("{host}/test/app@{referrer}"));
    assert_eq!(manifest["subject"]["digest"], subject.as_str());
    assert_eq!(manifest["artifactType"], CDX);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], CDX);
    let fallback = subject.replace(':', "-");
    let index = skopeo_raw(&format!("{host}/test/app:{fallback}"));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["digest"] == referrer.as_str() && m["artifactType"] == CDX),
        "{index}"
    );

    // oras-py discovers and downloads the SBOM: byte-identical.
    let by_oras = tmp.path().join("oras.json");
    let script = repo_root().join("tests/validate/oras_pull.py");
    let mut cmd = Command::new(&python);
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    let out = cmd
        .arg(&script)
        .args(["--registry", &host, "--repository", "test/app"])
        .args(["--subject", &subject, "--artifact-type", CDX])
        .arg("--output")
        .arg(&by_oras)
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&ok(&out, "oras_pull.py")).unwrap();
    assert_eq!(summary["discovery"], "tag-fallback");
    assert_eq!(summary["referrer"], referrer.as_str());
    assert_eq!(
        std::fs::read(&by_oras).unwrap(),
        std::fs::read(&sbom).unwrap()
    );
}
