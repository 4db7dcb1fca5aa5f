//! A hand-built report: a Debian image with deb, apk and rpm databases, three layers and a dependency
//! graph that exercises names, virtual names, `:any`, version constraints and file requirements.

use scanner_core::model::*;

fn digest(seed: &str) -> Digest {
    Digest::sha256_of(seed.as_bytes())
}

fn layer(index: usize) -> LayerRef {
    LayerRef {
        index,
        diff_id: digest(&format!("diff-{index}")),
        digest: Some(digest(&format!("blob-{index}"))),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn files(paths: &[&str]) -> Vec<OwnedFile> {
    paths
        .iter()
        .map(|p| OwnedFile {
            path: (*p).to_owned(),
            checksum: None,
        })
        .collect()
}

fn deb(name: &str, version: &str) -> Package {
    Package {
        kind: Some(PackageKind::Deb),
        name: name.into(),
        version: version.into(),
        arch: Some("amd64".into()),
        found_in: "/var/lib/dpkg/status".into(),
        layer: Some(layer(0)),
        ..Package::default()
    }
}

pub fn packages() -> Vec<Package> {
    let git = Package {
        source: Some(SourcePackage {
            name: "git".into(),
            version: None,
        }),
        // An epoch, a DEP-5 license set with a name SPDX does not know, and virtual/versioned deps.
        licenses: strings(&[
            "GPL-2",
            "LGPL-2.1+",
            "BSD-3-clause",
            "Expat",
            "public-domain",
        ]),
        maintainer: Some("Jonathan Nieder <jrnieder@gmail.com>".into()),
        homepage: Some("https://git-scm.com/".into()),
        depends: strings(&[
            "libc6 (>= 2.34)",
            "perl:any",
            "zlib1g (>= 1:1.2.0)",
            "liberror-perl",
        ]),
        installed_size: Some(44_135_424),
        files: files(&["/usr/bin/git", "/usr/share/doc/git/copyright"]),
        layer: Some(layer(1)),
        ..deb("git", "1:2.39.5-0+deb12u1")
    };
    let libc6 = Package {
        source: Some(SourcePackage {
            name: "glibc".into(),
            version: None,
        }),
        licenses: strings(&["GPL-2+ or LGPL-2.1+"]),
        maintainer: Some("GNU Libc Maintainers <debian-glibc@lists.debian.org>".into()),
        homepage: Some("https://www.gnu.org/software/libc/libc.html".into()),
        files: files(&["/lib/x86_64-linux-gnu/libc.so.6"]),
        ..deb("libc6", "2.36-9+deb12u9")
    };
    let perl_base = Package {
        provides: strings(&["perlapi-5.36.0", "perl"]),
        depends: strings(&["libc6 (>= 2.35)", "dpkg (>= 1.17.17)"]),
        licenses: strings(&["GPL-1+ or Artistic", "Artistic-2.0"]),
        maintainer: Some("Niko Tyni <ntyni@debian.org>".into()),
        ..deb("perl-base", "5.36.0-7+deb12u1")
    };
    let zlib = Package {
        source: Some(SourcePackage {
            name: "zlib".into(),
            version: Some("1:1.2.13.dfsg-1".into()),
        }),
        licenses: strings(&["Zlib"]),
        maintainer: Some("Mark Brown <broonie@debian.org>".into()),
        ..deb("zlib1g", "1:1.2.13.dfsg-1")
    };
    // distroless keeps one status file per package: the same package seen twice shares a purl.
    let zlib_distroless = Package {
        found_in: "/var/lib/dpkg/status.d/zlib1g".into(),
        layer: Some(layer(2)),
        ..zlib.clone()
    };
    let libstdcxx = Package {
        source: Some(SourcePackage {
            name: "gcc-12".into(),
            version: Some("12.2.0-14~exp1".into()),
        }),
        depends: strings(&["libc6:native (>= 2.36)", "libgcc-s1"]),
        ..deb("libstdc++6", "12.2.0-14~exp1")
    };
    let musl = Package {
        kind: Some(PackageKind::Apk),
        name: "musl".into(),
        version: "1.2.5-r0".into(),
        arch: Some("x86_64".into()),
        source: Some(SourcePackage {
            name: "musl".into(),
            version: None,
        }),
        licenses: strings(&["MIT"]),
        maintainer: Some("Natanael Copa <ncopa@alpinelinux.org>".into()),
        homepage: Some("https://musl.libc.org/".into()),
        provides: strings(&["so:libc.musl-x86_64.so.1=1"]),
        checksums: vec![Checksum {
            algorithm: "SHA-1".into(),
            value: "0cf5bd7ae2e6ba8d6d1a4e7bd1c0d4a0c7d3a8b1".into(),
        }],
        installed_size: Some(407_552),
        files: files(&["/lib/ld-musl-x86_64.so.1"]),
        found_in: "/lib/apk/db/installed".into(),
        layer: Some(layer(2)),
        ..Package::default()
    };
    let busybox = Package {
        kind: Some(PackageKind::Apk),
        name: "busybox".into(),
        version: "1.36.1-r29".into(),
        arch: Some("x86_64".into()),
        licenses: strings(&["GPL-2.0-only"]),
        maintainer: Some("Sören Tempel <soeren+alpine@soeren-tempel.net>".into()),
        depends: strings(&["so:libc.musl-x86_64.so.1", "!busybox-static"]),
        files: files(&["/bin/busybox", "/bin/sh"]),
        found_in: "/lib/apk/db/installed".into(),
        layer: Some(layer(2)),
        ..Package::default()
    };
    let bash = Package {
        kind: Some(PackageKind::Rpm),
        name: "bash".into(),
        version: "5.1.8-9.el9".into(),
        arch: Some("x86_64".into()),
        source: Some(SourcePackage {
            name: "bash".into(),
            version: Some("5.1.8-9.el9".into()),
        }),
        licenses: strings(&["GPLv3+"]),
        vendor: Some("Red Hat, Inc.".into()),
        maintainer: Some("Red Hat, Inc. <http://bugzilla.redhat.com/bugzilla>".into()),
        homepage: Some("https://www.gnu.org/software/bash".into()),
        depends: strings(&["libc.so.6()(64bit)", "libtinfo.so.6()(64bit)"]),
        checksums: vec![Checksum {
            algorithm: "SHA-256".into(),
            value: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        }],
        files: files(&["/usr/bin/bash", "/usr/bin/sh"]),
        found_in: "/var/lib/rpm/rpmdb.sqlite".into(),
        layer: Some(layer(2)),
        ..Package::default()
    };
    let openssl = Package {
        kind: Some(PackageKind::Rpm),
        name: "openssl-libs".into(),
        version: "3.0.7-27.el9".into(),
        epoch: Some(1),
        arch: Some("x86_64".into()),
        licenses: strings(&["ASL 2.0"]),
        vendor: Some("Red Hat, Inc.".into()),
        depends: strings(&[
            "/usr/bin/sh",
            "libc.so.6()(64bit)",
            "rpmlib(PayloadFilesHavePrefix) <= 4.0-1",
        ]),
        provides: strings(&[
            "libcrypto.so.3()(64bit)",
            "openssl-libs(x86-64) = 1:3.0.7-27.el9",
        ]),
        checksums: vec![
            Checksum {
                algorithm: "MD5".into(),
                value: "D41D8CD98F00B204E9800998ECF8427E".into(),
            },
            // Not a valid SHA-256 value: left out rather than written.
            Checksum {
                algorithm: "SHA-256".into(),
                value: "not-hex".into(),
            },
        ],
        found_in: "/var/lib/rpm/rpmdb.sqlite".into(),
        layer: Some(layer(2)),
        ..Package::default()
    };
    let glibc_rpm = Package {
        kind: Some(PackageKind::Rpm),
        name: "glibc".into(),
        version: "2.34-100.el9".into(),
        epoch: Some(0),
        arch: Some("x86_64".into()),
        licenses: strings(&["LGPLv2+ and LGPLv2+ with exceptions and GPLv2+"]),
        provides: strings(&["libc.so.6()(64bit)"]),
        found_in: "/var/lib/rpm/rpmdb.sqlite".into(),
        layer: Some(layer(2)),
        ..Package::default()
    };
    vec![
        git,
        libc6,
        perl_base,
        zlib,
        zlib_distroless,
        libstdcxx,
        musl,
        busybox,
        bash,
        openssl,
        glibc_rpm,
    ]
}

pub fn report() -> ScanReport {
    let mut inventory = Inventory {
        distro: Some(Distro {
            id: "debian".into(),
            version: Some("12.8".into()),
            version_id: Some("12".into()),
            codename: Some("bookworm".into()),
            pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            id_like: Vec::new(),
            home_url: Some("https://www.debian.org/".into()),
        }),
        packages: packages(),
        ..Inventory::default()
    };
    inventory.normalize();
    ScanReport {
        subject: Subject {
            kind: SourceKind::Image,
            name: "registry.example/stella/app:1.0".into(),
            version: Some("1.0".into()),
            manifest_digest: Some(digest("manifest")),
            config_digest: Some(digest("config")),
            repository: Some("registry.example/stella/app".into()),
            os: Some("linux".into()),
            architecture: Some("amd64".into()),
            variant: None,
            layers: (0..3)
                .map(|i| LayerInfo {
                    index: i,
                    diff_id: digest(&format!("diff-{i}")),
                    digest: Some(digest(&format!("blob-{i}"))),
                    media_type: Some("application/vnd.oci.image.layer.v1.tar+gzip".into()),
                    size: Some(1024 * (i as u64 + 1)),
                    created_by: Some(format!("RUN step {i}")),
                })
                .collect(),
        },
        inventory,
        created: 1_700_000_000,
        tool: Tool {
            name: "stella".into(),
            version: "0.1.0".into(),
        },
    }
}

/// A rootfs directory with nothing recognisable in it.
pub fn empty_directory() -> ScanReport {
    ScanReport {
        subject: Subject {
            kind: SourceKind::Directory,
            name: "rootfs".into(),
            version: None,
            manifest_digest: None,
            config_digest: None,
            repository: None,
            os: None,
            architecture: None,
            variant: None,
            layers: Vec::new(),
        },
        inventory: Inventory::default(),
        created: 0,
        tool: Tool {
            name: "stella".into(),
            version: "0.1.0".into(),
        },
    }
}

/// Strings a hostile or broken image can put in a package database: writers must neither panic nor
/// produce an invalid document.
pub fn hostile() -> ScanReport {
    let weird = Package {
        kind: Some(PackageKind::Deb),
        name: "Ünïcode pkg\n\u{0}".into(),
        version: "1:2@3+4~5 /?#&=".into(),
        arch: Some(String::new()),
        licenses: strings(&[
            "",
            "AND",
            "(",
            "MIT OR",
            "LicenseRef-ok",
            "GPL-2+ AND",
            "((MIT))",
            "€",
        ]),
        maintainer: Some("<>".into()),
        homepage: Some("javascript:alert(1)".into()),
        depends: strings(&["Ünïcode pkg\n\u{0}", "", " ", ":any"]),
        provides: strings(&["", ":native"]),
        checksums: vec![Checksum {
            algorithm: "SHA-3000".into(),
            value: "00".into(),
        }],
        found_in: String::new(),
        ..Package::default()
    };
    let unnamed = Package {
        kind: None,
        ..Package::default()
    };
    let big_epoch = Package {
        kind: Some(PackageKind::Rpm),
        name: "x".into(),
        version: "1-1".into(),
        epoch: Some(u64::MAX),
        licenses: strings(&["€", "€ "]),
        vendor: Some("Evil (Corp) <a@b>\n".into()),
        found_in: "/var/lib/rpm/Packages".into(),
        layer: Some(LayerRef {
            index: usize::MAX,
            diff_id: Digest("not-a-digest".into()),
            digest: None,
        }),
        ..Package::default()
    };
    ScanReport {
        subject: Subject {
            kind: SourceKind::Layer,
            name: String::new(),
            version: None,
            manifest_digest: Some(Digest("sha256:zz".into())),
            config_digest: None,
            repository: Some("/".into()),
            os: None,
            architecture: None,
            variant: None,
            layers: vec![LayerInfo {
                index: 0,
                diff_id: Digest("sha256:zz".into()),
                digest: None,
                media_type: None,
                size: None,
                created_by: None,
            }],
        },
        inventory: Inventory {
            distro: Some(Distro::default()),
            packages: vec![weird.clone(), unnamed, big_epoch, weird],
            ..Inventory::default()
        },
        created: i64::MAX,
        tool: Tool {
            name: "stella".into(),
            version: "0.1.0".into(),
        },
    }
}

/// A report with language packages, ownership, a `bin:` component and a traced entrypoint: the shapes
/// the language analyzers and the usage view add to every format.
pub fn language_report() -> ScanReport {
    let mut base = report();
    let guava_deb = Package {
        files: files(&["/usr/share/java/guava.jar"]),
        used_by_entrypoint: false,
        ..deb("libguava-java", "31.1-1")
    };
    let nodejs = Package {
        files: files(&["/usr/bin/node"]),
        used_by_entrypoint: true,
        ..deb("nodejs", "18.19.0+dfsg-6~deb12u2")
    };
    let mut props = std::collections::BTreeMap::new();
    props.insert(
        "stella:java:identity".to_owned(),
        "pom.properties".to_owned(),
    );
    let guava = Package {
        kind: Some(PackageKind::Maven),
        namespace: Some("com.google.guava".into()),
        name: "guava".into(),
        version: "31.1-jre".into(),
        checksums: vec![Checksum {
            algorithm: "SHA-1".into(),
            value: "60458f877d055d0c9114d9e1a2efb737b4bc282c".into(),
        }],
        found_in: "/usr/share/java/guava.jar".into(),
        owner: Some("deb/libguava-java@31.1-1".into()),
        properties: props,
        layer: Some(layer(1)),
        ..Package::default()
    };
    let express = Package {
        kind: Some(PackageKind::Npm),
        name: "express".into(),
        version: "4.21.1".into(),
        licenses: strings(&["MIT"]),
        depends: strings(&["@types/node"]),
        found_in: "/srv/app/node_modules/express/package.json".into(),
        used_by_entrypoint: true,
        layer: Some(layer(2)),
        ..Package::default()
    };
    let types_node = Package {
        kind: Some(PackageKind::Npm),
        namespace: Some("@types".into()),
        name: "node".into(),
        version: "22.9.0".into(),
        found_in: "/srv/app/node_modules/@types/node/package.json".into(),
        used_by_entrypoint: true,
        layer: Some(layer(2)),
        ..Package::default()
    };
    let pyyaml = Package {
        kind: Some(PackageKind::Pypi),
        name: "pyyaml".into(),
        version: "6.0.2".into(),
        licenses: strings(&["MIT"]),
        found_in: "/usr/local/lib/python3.11/dist-packages/PyYAML-6.0.2.dist-info/METADATA".into(),
        layer: Some(layer(2)),
        ..Package::default()
    };
    let mut go_props = std::collections::BTreeMap::new();
    go_props.insert("stella:go:version".to_owned(), "go1.19.8".to_owned());
    go_props.insert("stella:go:h1".to_owned(), "h1:abc=".to_owned());
    let uuid = Package {
        kind: Some(PackageKind::Golang),
        name: "github.com/google/uuid".into(),
        version: "v1.3.0".into(),
        found_in: "/usr/local/bin/hello".into(),
        properties: go_props,
        layer: Some(layer(2)),
        ..Package::default()
    };
    let mut bin_props = std::collections::BTreeMap::new();
    bin_props.insert("stella:native:format".to_owned(), "elf".to_owned());
    bin_props.insert("stella:native:needed".to_owned(), "libc.so.6".to_owned());
    let addon = Package {
        kind: Some(PackageKind::Binary),
        name: "addon.so".into(),
        checksums: vec![Checksum {
            algorithm: "SHA-256".into(),
            value: digest("addon").hex().to_owned(),
        }],
        found_in: "/opt/addon.so".into(),
        properties: bin_props,
        layer: Some(layer(2)),
        ..Package::default()
    };
    base.inventory.packages.extend([
        guava_deb, nodejs, guava, express, types_node, pyyaml, uuid, addon,
    ]);
    base.inventory.usage = Some(Usage {
        chain: vec![UsageStep {
            file: "<image config>".into(),
            line: 0,
            command: "/usr/bin/node /srv/app/index.js".into(),
        }],
        terminals: vec!["/usr/bin/node".into()],
        libraries: vec!["/usr/lib/x86_64-linux-gnu/libc.so.6".into()],
        unresolved: Vec::new(),
        notes: Vec::new(),
    });
    base.inventory.normalize();
    base
}
