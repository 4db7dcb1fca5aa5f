use super::*;
use crate::fs::MemFs;

#[test]
fn wants_table() {
    for (p, want) in [
        (
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            true,
        ),
        ("x/a-1.dist-info/RECORD", true),
        ("x/a-1.dist-info/entry_points.txt", true),
        ("x/a-1.dist-info/WHEEL", false),
        ("x/a.egg-info/PKG-INFO", true),
        ("x/a.egg-info/SOURCES.txt", false),
        ("x/a-1.0-py3.11.egg-info", true),
        ("x/EGG-INFO/PKG-INFO", true),
        (".egg-info", false),
        ("METADATA", false),
        ("x/METADATA", false),
    ] {
        assert_eq!(wants(p), want, "{p}");
    }
}

const META: &str = "Metadata-Version: 2.1
Name: Foo_Bar.baz
Version: 1.0.post1
Home-page: UNKNOWN
Project-URL: Source, https://example.org/src
Project-URL: Home-Page, https://example.org/
Author: Jane Doe
Author-email: jane@example.org
License: Copyright (c) 2020 Somebody
        Permission is hereby granted, free of charge
Classifier: License :: OSI Approved
Classifier: License :: OSI Approved :: MIT License
Classifier: License :: OSI Approved :: BSD License
Classifier: License :: OSI Approved :: MIT License
Requires-Dist: Zope.Interface (>=5)
Requires-Dist: idna<4,>=2.5 ; python_version >= \"3\"
Requires-Dist: pysocks!=1.5.7; extra == 'socks'
Requires-Dist: brotli; (platform_python_implementation == 'CPython') and extra==\"brotli\"
Requires-Dist: typing_extensions[x]; python_version < '3.8' or myextra == 'y'

Requires-Dist: body-is-not-a-header
";

#[test]
fn metadata_fields_and_licence_rules() {
    let m = parse_metadata(META.as_bytes()).unwrap();
    assert_eq!(m.name, "Foo_Bar.baz");
    assert_eq!(m.version, "1.0.post1");
    // A pasted licence text is not a name: the classifiers speak, mapped where certain.
    assert_eq!(m.licenses, vec!["MIT", "BSD License"]);
    assert_eq!(m.homepage.as_deref(), Some("https://example.org/"));
    assert_eq!(m.author.as_deref(), Some("Jane Doe <jane@example.org>"));
    assert_eq!(
        m.requires,
        vec!["Zope.Interface", "idna", "typing_extensions"]
    );
}

#[test]
fn licence_precedence() {
    let m = |s: &str| parse_metadata(format!("Name: a\nVersion: 1\n{s}").as_bytes()).unwrap();
    assert_eq!(
        m("License: BSD\nLicense-Expression: MIT OR Apache-2.0\nClassifier: License :: OSI Approved :: ISC License (ISCL)\n").licenses,
        vec!["MIT OR Apache-2.0"]
    );
    assert_eq!(
        m("License: BSD-3-Clause\nClassifier: License :: OSI Approved :: MIT License\n").licenses,
        vec!["BSD-3-Clause"]
    );
    assert_eq!(
        m("License: UNKNOWN\nClassifier: License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)\n").licenses,
        vec!["GPL-2.0-or-later"]
    );
    assert_eq!(
        m(&format!("License: {}\n", "x".repeat(200))).licenses,
        Vec::<String>::new()
    );
    assert_eq!(
        m("Classifier: License :: Other/Proprietary License\n").licenses,
        vec!["Other/Proprietary License"]
    );
    assert_eq!(
        m("Author-email: \"A B\" <a@b>, C <c@d>\nAuthor: A B\n")
            .author
            .as_deref(),
        Some("\"A B\" <a@b>, C <c@d>")
    );
}

#[test]
fn metadata_malformed() {
    for bad in [
        &b""[..],
        b"Name: a\n",
        b"Version: 1\n",
        b"\nName: a\nVersion: 1\n",
        b"Name:\nVersion: 1\n",
        b"\xff\xfe\x00garbage",
        b"Name a\nVersion 1",
    ] {
        assert_eq!(parse_metadata(bad), None, "{bad:?}");
    }
    // CRLF, a line that is no header, and non-UTF-8 bytes elsewhere do not hide the fields.
    let m = parse_metadata(b"Name: a\r\n\xff\xff\r\nnot a header\r\nVersion: 2\r\n\r\n").unwrap();
    assert_eq!((m.name.as_str(), m.version.as_str()), ("a", "2"));
}

#[test]
fn requirement_names() {
    for (raw, want) in [
        ("requests", Some("requests")),
        (
            "requests [security] >= 2.8.1, == 2.8.* ; python_version < \"2.7\"",
            Some("requests"),
        ),
        ("name @ https://example.org/x.whl", Some("name")),
        ("foo; extra == 'x'", None),
        ("foo; extra=='x'", None),
        ("foo; python_extra == 'x'", Some("foo")),
        ("", None),
        (";", None),
        ("   >=1", None),
    ] {
        assert_eq!(requirement_name(raw).as_deref(), want, "{raw}");
    }
}

#[test]
fn record_rows() {
    let rec = b"yaml/__init__.py,sha256=N35S01HMesFTe0aRRMWkPj0Pa8IEbHpE9FK7cr5Bdtw,12311\n\
\"odd,name.py\",sha256=N35S01HMesFTe0aRRMWkPj0Pa8IEbHpE9FK7cr5Bdtw=,1\r\n\
x.dist-info/RECORD,,\n\
bad.py,sha256=!!!,3\n\
md5.py,md5=abc,3\n\
\n\
,sha256=x,1\n";
    let (rows, bad) = parse_record(rec);
    assert_eq!(bad, 3);
    let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "yaml/__init__.py",
            "odd,name.py",
            "x.dist-info/RECORD",
            "bad.py",
            "md5.py"
        ]
    );
    let want = "377e52d351cc7ac1537b469144c5a43e3d0f6bc2046c7a44f452bb72be4176dc";
    assert_eq!(rows[0].checksum.as_ref().unwrap().value, want);
    assert_eq!(rows[0].checksum.as_ref().unwrap().algorithm, "SHA-256");
    assert_eq!(rows[1].checksum.as_ref().unwrap().value, want);
    assert!(rows[2].checksum.is_none() && rows[3].checksum.is_none());
}

#[test]
fn record_paths_resolve() {
    let site = "usr/lib/python3/dist-packages";
    assert_eq!(
        resolve(site, "a/b.py").as_deref(),
        Some("/usr/lib/python3/dist-packages/a/b.py")
    );
    assert_eq!(
        resolve(site, "../../../bin/x").as_deref(),
        Some("/usr/bin/x")
    );
    assert_eq!(resolve(site, "/etc/./x").as_deref(), Some("/etc/x"));
    assert_eq!(
        resolve(site, "../../../../../../../x").as_deref(),
        Some("/x")
    );
    assert_eq!(resolve("", "..").as_deref(), None);
}

#[test]
fn entry_points() {
    let ep = b"[console_scripts]\nfoo = foo.cli:main\n  bar=bar:run [extra1]\n# c\nbad\n=x\n[gui_scripts]\ngui = g:m\n[console_scripts]\nbaz = baz.__main__:main\n";
    assert_eq!(
        parse_entry_points(ep),
        vec![
            ("foo".to_owned(), "foo.cli:main".to_owned()),
            ("bar".to_owned(), "bar:run".to_owned()),
            ("baz".to_owned(), "baz.__main__:main".to_owned()),
        ]
    );
}

#[test]
fn analyze_memfs_forms() {
    let mut fs = MemFs::new();
    let site = "usr/lib/python3/dist-packages";
    fs.insert(&format!("{site}/Foo_Bar.baz-1.0.post1.dist-info/METADATA"), META)
        .insert(
            &format!("{site}/Foo_Bar.baz-1.0.post1.dist-info/RECORD"),
            "foo/__init__.py,sha256=N35S01HMesFTe0aRRMWkPj0Pa8IEbHpE9FK7cr5Bdtw,1\n../../../bin/foo,,\n",
        )
        .insert(
            &format!("{site}/Foo_Bar.baz-1.0.post1.dist-info/entry_points.txt"),
            "[console_scripts]\nfoo = foo.cli:main\n",
        )
        .insert(&format!("{site}/six-1.16.0.egg-info"), "Name: six\nVersion: 1.16.0\nLicense: MIT\n")
        .insert(&format!("{site}/x.egg-info/PKG-INFO"), "Name: X\nVersion: 2\n")
        .insert(&format!("{site}/broken.dist-info/METADATA"), "garbage");
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    let got: Vec<(&str, &str, &str)> = inv
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.found_in.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "foo-bar-baz",
                "1.0.post1",
                "/usr/lib/python3/dist-packages/Foo_Bar.baz-1.0.post1.dist-info/METADATA"
            ),
            (
                "six",
                "1.16.0",
                "/usr/lib/python3/dist-packages/six-1.16.0.egg-info"
            ),
            (
                "x",
                "2",
                "/usr/lib/python3/dist-packages/x.egg-info/PKG-INFO"
            ),
        ]
    );
    let foo = &inv.packages[0];
    assert_eq!(foo.depends, ["zope-interface", "idna", "typing-extensions"]);
    assert_eq!(
        foo.properties
            .get("stella:python:console_script:foo")
            .map(String::as_str),
        Some("foo.cli:main")
    );
    let files: Vec<&str> = foo.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        files,
        [
            "/usr/lib/python3/dist-packages/foo/__init__.py",
            "/usr/bin/foo"
        ]
    );
    assert_eq!(
        foo.maintainer.as_deref(),
        Some("Jane Doe <jane@example.org>")
    );
    assert_eq!(inv.diagnostics.len(), 1);
    assert_eq!(
        inv.diagnostics[0].path,
        "/usr/lib/python3/dist-packages/broken.dist-info/METADATA"
    );
}

/// pip 23 `--target` wheels, setuptools' egg-info directory and distutils' single-file egg-info.
#[test]
fn real_fixture_site_packages() {
    let Some(root) = crate::lang::node::walkfs::fixture("python") else {
        return;
    };
    let fs = crate::lang::node::walkfs::WalkFs::new(&root);
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    assert_eq!(inv.diagnostics, []);
    let got: Vec<String> = inv
        .packages
        .iter()
        .map(|p| format!("{}@{} {:?}", p.name, p.version, p.licenses))
        .collect();
    assert_eq!(
        got,
        [
            "pyyaml@6.0.2 [\"MIT\"]",
            "tiny-dist-pkg@0.3 [\"BSD\"]",
            "certifi@2024.8.30 [\"MPL-2.0\"]",
            "charset-normalizer@3.4.0 [\"MIT\"]",
            "idna@3.10 [\"BSD License\"]",
            "packaging@24.2 [\"Apache Software License\", \"BSD License\"]",
            "requests@2.32.3 [\"Apache-2.0\"]",
            "six@1.16.0 [\"MIT\"]",
            "urllib3@2.5.0 [\"MIT\"]",
        ]
    );
    let by = |n: &str| inv.packages.iter().find(|p| p.name == n).unwrap();
    let site = "/usr/local/lib/python3.11/site-packages";
    let req = by("requests");
    assert_eq!(
        req.depends,
        ["charset-normalizer", "idna", "urllib3", "certifi"]
    );
    assert_eq!(
        req.homepage.as_deref(),
        Some("https://requests.readthedocs.io")
    );
    assert_eq!(
        req.maintainer.as_deref(),
        Some("Kenneth Reitz <me@kennethreitz.org>")
    );
    assert_eq!(req.files.len(), 25);
    assert_eq!(by("urllib3").depends, Vec::<String>::new());
    assert_eq!(by("urllib3").files.len(), 44);
    assert_eq!(by("pyyaml").files.len(), 26);
    let yaml_init = by("pyyaml")
        .files
        .iter()
        .find(|f| f.path == format!("{site}/yaml/__init__.py"))
        .unwrap();
    assert_eq!(
        yaml_init.checksum.as_ref().unwrap().value,
        "377e52d351cc7ac1537b469144c5a43e3d0f6bc2046c7a44f452bb72be4176dc"
    );
    let cn = by("charset-normalizer");
    assert_eq!(
        cn.properties
            .get("stella:python:console_script:normalizer")
            .map(String::as_str),
        Some("charset_normalizer.cli:cli_detect")
    );
    // pip --target writes scripts' RECORD rows relative to a scheme it then moves: `../../bin`.
    assert!(cn
        .files
        .iter()
        .any(|f| f.path == "/usr/local/lib/bin/normalizer"));
    let init = cn
        .files
        .iter()
        .find(|f| f.path == format!("{site}/charset_normalizer/__init__.py"))
        .unwrap();
    assert_eq!(
        init.checksum.as_ref().unwrap().value,
        "533237c42f0f86670b44ccd280f6fa9a29d3991ab4916ce79c2049f1909cd972"
    );
    let tiny = by("tiny-dist-pkg");
    assert_eq!(
        tiny.found_in,
        format!("{site}/Tiny_Dist.Pkg-0.3-py3.11.egg-info")
    );
    assert_eq!(tiny.homepage.as_deref(), Some("https://example.org/tiny"));
    assert_eq!(tiny.maintainer.as_deref(), Some("A. Author"));
    assert_eq!(
        by("six").found_in,
        format!("{site}/six-1.16.0-py3.11.egg-info/PKG-INFO")
    );
}

/// Debian bookworm's python3-yaml (dist-info with RECORD) and python3-six (egg-info directory), as
/// dpkg unpacks them.
#[test]
fn real_fixture_debian_dist_packages() {
    let Some(root) = crate::lang::node::walkfs::fixture("debian") else {
        return;
    };
    let fs = crate::lang::node::walkfs::WalkFs::new(&root);
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    assert_eq!(inv.diagnostics, []);
    let got: Vec<String> = inv
        .packages
        .iter()
        .map(|p| format!("{}@{} {} {}", p.name, p.version, p.found_in, p.files.len()))
        .collect();
    let dp = "/usr/lib/python3/dist-packages";
    assert_eq!(
        got,
        [
            format!("pyyaml@6.0 {dp}/PyYAML-6.0.dist-info/METADATA 23"),
            format!("six@1.16.0 {dp}/six-1.16.0.egg-info/PKG-INFO 0"),
        ]
    );
    let so = format!("{dp}/yaml/_yaml.cpython-311-x86_64-linux-gnu.so");
    assert!(inv.packages[0]
        .files
        .iter()
        .any(|f| f.path == so && f.checksum.is_some()));
}
