//! Source parsing: what users type → `Source`, and back through `Display`.

use std::path::PathBuf;

use registry::{Source, SourceError};

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn explicit_transports() {
    let cases: Vec<(&str, Source)> = vec![
        ("dir:/rootfs", Source::Dir("/rootfs".into())),
        (
            "layer:/x/layer.tar.gz",
            Source::Layer("/x/layer.tar.gz".into()),
        ),
        (
            "oci:/l",
            Source::OciLayout {
                path: "/l".into(),
                tag: None,
            },
        ),
        (
            "oci:/l:app",
            Source::OciLayout {
                path: "/l".into(),
                tag: Some("app".into()),
            },
        ),
        (
            "oci-archive:img.tar",
            Source::OciArchive {
                path: "img.tar".into(),
                tag: None,
            },
        ),
        (
            "oci-archive:img.tar:v1",
            Source::OciArchive {
                path: "img.tar".into(),
                tag: Some("v1".into()),
            },
        ),
        (
            "docker-archive:a.tar",
            Source::DockerArchive {
                path: "a.tar".into(),
                reference: None,
            },
        ),
        (
            "docker-archive:a.tar:corpus/app:latest",
            Source::DockerArchive {
                path: "a.tar".into(),
                reference: Some("corpus/app:latest".into()),
            },
        ),
        (
            "docker-archive:a.tar:@1",
            Source::DockerArchive {
                path: "a.tar".into(),
                reference: Some("@1".into()),
            },
        ),
    ];
    for (input, want) in cases {
        let got = Source::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got, want, "{input}");
        assert_eq!(got.to_string(), input, "Display of {input}");
        assert_eq!(
            Source::parse(&got.to_string()).unwrap(),
            got,
            "round trip of {input}"
        );
    }
}

#[test]
fn remote_references() {
    let cases = [
        ("alpine", "docker://docker.io/library/alpine:latest"),
        (
            "docker://alpine:3.19",
            "docker://docker.io/library/alpine:3.19",
        ),
        ("ghcr.io/o/r:v1", "docker://ghcr.io/o/r:v1"),
        ("localhost:5000/r", "docker://localhost:5000/r:latest"),
        (
            "127.0.0.1:5000/test/img:1",
            "docker://127.0.0.1:5000/test/img:1",
        ),
    ];
    for (input, display) in cases {
        let s = Source::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert!(matches!(s, Source::Remote(_)), "{input}");
        assert_eq!(s.to_string(), display);
        assert_eq!(Source::parse(&s.to_string()).unwrap(), s);
    }
    let s = Source::parse(&format!("repo@{D}")).unwrap();
    assert_eq!(
        s.to_string(),
        format!("docker://docker.io/library/repo@{D}")
    );
    let s = Source::parse(&format!("host:5000/repo:tag@{D}")).unwrap();
    let Source::Remote(r) = &s else {
        panic!("not remote")
    };
    assert_eq!(
        (r.registry(), r.repository(), r.tag()),
        ("host:5000", "repo", Some("tag"))
    );
    assert_eq!(r.digest().unwrap().to_string(), D);
    assert_eq!(Source::parse(&s.to_string()).unwrap(), s);
}

#[test]
fn bad_sources() {
    let cases = [
        ("", "empty"),
        ("Alpine:latest", "lowercase"),
        ("docker://org/App", "lowercase"),
        ("alpine@sha256:1234", "hex digits"),
        ("alpine@sha256:", "hex digits"),
        ("oci:", "missing path"),
        ("oci:/x:", "empty name"),
        ("dir:", "missing path"),
        ("docker-daemon:alpine:latest", "not supported"),
        ("./does/not/exist", "no such file"),
        ("/does/not/exist.tar", "no such file"),
        ("a b", "whitespace"),
    ];
    for (input, needle) in cases {
        let e = Source::parse(input).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(needle), "{input:?}: {msg}");
        assert!(
            matches!(
                e,
                SourceError::InvalidSource { .. }
                    | SourceError::InvalidReference { .. }
                    | SourceError::InvalidDigest { .. }
            ),
            "{input:?}: {e:?}"
        );
    }
}

#[test]
fn plain_paths_are_sniffed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(
        Source::parse(d.to_str().unwrap()).unwrap(),
        Source::Dir(d.to_owned())
    );

    // A layer tarball: just files.
    let layer = d.join("layer.tar");
    std::fs::write(
        &layer,
        crate::support::layer_tar(&[("etc/passwd", b"root:x:0:0")]),
    )
    .unwrap();
    assert_eq!(
        Source::parse(layer.to_str().unwrap()).unwrap(),
        Source::Layer(layer.clone())
    );

    // Not a tar at all (e.g. gzip): still a layer; the scanner sniffs compression.
    let gz = d.join("layer.tar.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(
        Source::parse(gz.to_str().unwrap()).unwrap(),
        Source::Layer(gz.clone())
    );

    // manifest.json at the root → docker archive; oci-layout + index.json → OCI archive.
    let docker = d.join("docker.tar");
    std::fs::write(
        &docker,
        crate::support::layer_tar(&[("manifest.json", b"[]"), ("repositories", b"{}")]),
    )
    .unwrap();
    assert!(matches!(
        Source::parse(docker.to_str().unwrap()).unwrap(),
        Source::DockerArchive {
            reference: None,
            ..
        }
    ));
    let oci = d.join("oci.tar");
    std::fs::write(
        &oci,
        crate::support::layer_tar(&[("oci-layout", b"{}"), ("index.json", b"{}")]),
    )
    .unwrap();
    let s = Source::parse(oci.to_str().unwrap()).unwrap();
    assert_eq!(
        s,
        Source::OciArchive {
            path: oci.clone(),
            tag: None
        }
    );
    assert_eq!(Source::parse(&s.to_string()).unwrap(), s);

    // A file nested under a directory called manifest.json is not at the root.
    let nested = d.join("nested.tar");
    std::fs::write(
        &nested,
        crate::support::layer_tar(&[("x/manifest.json", b"[]")]),
    )
    .unwrap();
    assert_eq!(
        Source::parse(nested.to_str().unwrap()).unwrap(),
        Source::Layer(PathBuf::from(&nested))
    );
}
