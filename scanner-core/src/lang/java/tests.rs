use super::zip::tests::build;
use super::*;

fn line(p: &Package) -> String {
    format!(
        "{} {}:{}@{} {}{}",
        p.found_in,
        p.namespace.as_deref().unwrap_or("-"),
        p.name,
        p.version,
        p.properties
            .get("stella:java:identity")
            .map_or("?", String::as_str),
        if p.licenses.is_empty() {
            String::new()
        } else {
            format!(" [{}]", p.licenses.join(", "))
        }
    )
}

fn lines(pkgs: &[Package]) -> Vec<String> {
    pkgs.iter().map(line).collect()
}

fn jar_with_pom(g: &str, a: &str, v: &str) -> Vec<u8> {
    let props = format!("groupId={g}\nartifactId={a}\nversion={v}\n");
    build(&[
        (
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\r\n\r\n",
            true,
        ),
        (
            &format!("META-INF/maven/{g}/{a}/pom.properties"),
            props.as_bytes(),
            true,
        ),
    ])
}

#[test]
fn archive_paths() {
    for p in [
        "a.jar",
        "x/y/App.WAR",
        "b.ear",
        "c.par",
        "plugin.jpi",
        "p.HPI",
    ] {
        assert!(is_archive_path(p), "{p}");
    }
    for p in [
        "",
        "jar",
        ".jar",
        "a.jar/",
        "a.zip",
        "a.jar.sha1",
        "dir.jar/x.class",
    ] {
        assert!(!is_archive_path(p), "{p}");
    }
}

#[test]
fn identity_order_and_shading() {
    // Shaded: two pom.properties, neither the file name's; the manifest names the jar itself.
    let lib = jar_with_pom("org.lib", "lib", "1.0");
    let z = build(&[
        (
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nImplementation-Vendor-Id: com.acme\nImplementation-Title: uber\nImplementation-Version: 2.0\nBundle-License: MIT\n\n",
            true,
        ),
        ("META-INF/maven/org.a/a/pom.properties", b"groupId=org.a\nartifactId=a\nversion=1\n", true),
        ("META-INF/maven/org.b/b/pom.properties", b"groupId=org.b\nartifactId=b\nversion=2\n", false),
        ("META-INF/maven/org.b/b/pom.xml", b"<project><licenses><license><name>EPL-2.0</name></license></licenses><url>https://b.org</url></project>", true),
        ("META-INF/maven/org.c/c/pom.xml", b"<project><parent><groupId>org.c</groupId><version>3</version></parent><artifactId>c</artifactId></project>", true),
        ("META-INF/maven/org.d/d/pom.properties", b"groupId=org.d\nartifactId=d\n", true),
        ("lib/lib-1.0.jar", &lib, false),
    ]);
    let (pkgs, diags) = analyze_archive("opt/uber-2.0.jar", &z, &Limits::default());
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        lines(&pkgs),
        [
            "/opt/uber-2.0.jar com.acme:uber@2.0 manifest [MIT]",
            "/opt/uber-2.0.jar org.a:a@1 pom.properties",
            "/opt/uber-2.0.jar org.b:b@2 pom.properties [EPL-2.0]",
            "/opt/uber-2.0.jar org.c:c@3 pom.xml",
            "/opt/uber-2.0.jar!/lib/lib-1.0.jar org.lib:lib@1.0 pom.properties",
        ]
    );
    assert_eq!(pkgs[2].homepage.as_deref(), Some("https://b.org"));
    let sha = hex(&Sha1::digest(&z));
    assert_eq!(pkgs[0].checksums[0].value, sha);
    assert_eq!(pkgs[0].checksums[0].algorithm, "SHA-1");
    assert_ne!(pkgs[4].checksums[0].value, sha);

    // The file name's own pom.properties: no manifest package beside it.
    let z = build(&[
        (
            "META-INF/MANIFEST.MF",
            b"Implementation-Vendor-Id: x\nImplementation-Title: y\nImplementation-Version: 9\n",
            true,
        ),
        (
            "META-INF/maven/org.a/a/pom.properties",
            b"groupId=org.a\nartifactId=a\nversion=1\n",
            true,
        ),
    ]);
    let (pkgs, _) = analyze_archive("a-1.jar", &z, &Limits::default());
    assert_eq!(lines(&pkgs), ["/a-1.jar org.a:a@1 pom.properties"]);

    // Manifest restating the pom.properties (same group and version) is not a second package;
    // a file name with a classifier neither.
    let z = build(&[
        (
            "META-INF/MANIFEST.MF",
            b"Bundle-SymbolicName: org.a.lang\nBundle-Name: A Lang\nBundle-Version: 1\n",
            true,
        ),
        (
            "META-INF/maven/org.a/a/pom.properties",
            b"groupId=org.a\nartifactId=a\nversion=1\n",
            true,
        ),
    ]);
    let (pkgs, _) = analyze_archive("usr/share/java/a.jar", &z, &Limits::default());
    assert_eq!(
        lines(&pkgs),
        ["/usr/share/java/a.jar org.a:a@1 pom.properties"]
    );
    let z = jar_with_pom("org.a", "a", "1");
    let (pkgs, _) = analyze_archive("a-shaded-1.jar", &z, &Limits::default());
    assert_eq!(lines(&pkgs), ["/a-shaded-1.jar org.a:a@1 pom.properties"]);

    // Nothing but the name: no groupId.
    let z = build(&[("META-INF/MANIFEST.MF", b"Created-By: Ant\n", true)]);
    let (pkgs, _) = analyze_archive("lib/aopalliance-1.0.jar", &z, &Limits::default());
    assert_eq!(
        lines(&pkgs),
        ["/lib/aopalliance-1.0.jar -:aopalliance@1.0 filename"]
    );
    // Nothing at all.
    let (pkgs, diags) = analyze_archive("lib/x.jar", &z, &Limits::default());
    assert!(pkgs.is_empty() && diags.is_empty());
}

#[test]
fn malformed_archives_give_diagnostics() {
    let good = jar_with_pom("g", "a", "1");
    let l = Limits::default();
    // Garbage and truncation.
    for bytes in [
        &b""[..],
        b"PK\x03\x04garbage",
        &good[..good.len() - 5],
        &good[..40],
    ] {
        let (pkgs, diags) = analyze_archive("x.jar", bytes, &l);
        assert!(pkgs.is_empty());
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].path, "/x.jar");
    }
    // Every prefix: no panic.
    for cut in 0..good.len() {
        let _ = analyze_archive("x.jar", &good[..cut], &l);
    }
    // Bad deflate inside: that entry is a diagnostic, the rest still read.
    let mut z = build(&[
        (
            "META-INF/maven/g/b/pom.properties",
            b"groupId=g\nartifactId=b\nversion=1\n",
            true,
        ),
        (
            "META-INF/maven/g/a/pom.properties",
            b"groupId=g\nartifactId=a\nversion=1\n",
            false,
        ),
    ]);
    let data = 30 + "META-INF/maven/g/b/pom.properties".len();
    z[data] = 0xff;
    z[data + 1] = 0xff;
    let (pkgs, diags) = analyze_archive("x.jar", &z, &l);
    assert_eq!(lines(&pkgs), ["/x.jar g:a@1 pom.properties"]);
    assert_eq!(diags.len(), 1);
    assert!(diags[0].message.contains("pom.properties"), "{diags:?}");
}

#[test]
fn zip_bomb_is_bounded() {
    // 64 MiB of zeros deflates to ~64 KiB; a nested "jar" of it trips the per-entry limit.
    let zeros = vec![0u8; 64 << 20];
    let z = build(&[("lib/bomb.jar", &zeros, true)]);
    assert!(z.len() < 1 << 20);
    let limits = Limits {
        max_entry_bytes: 1 << 20,
        ..Limits::default()
    };
    let (pkgs, diags) = analyze_archive("b.jar", &z, &limits);
    assert!(pkgs.is_empty());
    assert_eq!(diags.len(), 1);
    assert!(diags[0].message.contains("over the limit"), "{diags:?}");

    // Total budget: many copies of a small nested jar.
    let inner = jar_with_pom("g", "a", "1");
    let names: Vec<String> = (0..50).map(|i| format!("lib/{i}/a.jar")).collect();
    let entries: Vec<(&str, &[u8], bool)> = names
        .iter()
        .map(|n| (n.as_str(), &inner[..], true))
        .collect();
    let z = build(&entries);
    let limits = Limits {
        max_total_bytes: inner.len() as u64 * 10,
        ..Limits::default()
    };
    let (pkgs, diags) = analyze_archive("many.jar", &z, &limits);
    assert!(pkgs.len() < 10, "{}", pkgs.len());
    assert!(!diags.is_empty());
    assert!(
        diags.iter().any(|d| d.message.contains("total")),
        "{diags:?}"
    );

    // Entry count.
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let (pkgs, diags) = analyze_archive("many.jar", &z, &limits);
    assert!(pkgs.is_empty());
    assert!(
        diags[0].message.contains("more than the limit of 10"),
        "{diags:?}"
    );
}

#[test]
fn depth_bomb_is_bounded() {
    let mut z = jar_with_pom("g", "deep", "1");
    for _ in 0..20 {
        z = build(&[("x.jar", &z, false)]);
    }
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let (pkgs, diags) = analyze_archive("d.jar", &z, &limits);
    assert!(pkgs.is_empty());
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].path, "/d.jar!/x.jar!/x.jar!/x.jar!/x.jar");
    assert!(diags[0].message.contains("deeper than 3"));
    // Within the depth, found with its full path.
    let (pkgs, diags) = analyze_archive(
        "d.jar",
        &z,
        &Limits {
            max_depth: 30,
            ..limits
        },
    );
    assert!(diags.is_empty());
    assert_eq!(pkgs.len(), 1);
    assert_eq!(pkgs[0].found_in.matches("!/x.jar").count(), 20);
}

#[test]
fn dot_dot_entry_names_are_not_followed() {
    let inner = jar_with_pom("g", "a", "1");
    let z = build(&[
        ("../../evil.jar", &inner, false),
        ("/abs.jar", &inner, false),
        ("lib/..\\x.jar", &inner, false),
        ("lib/ok.jar", &inner, false),
    ]);
    let (pkgs, diags) = analyze_archive("app.jar", &z, &Limits::default());
    assert_eq!(lines(&pkgs), ["/app.jar!/lib/ok.jar g:a@1 pom.properties"]);
    assert_eq!(diags.len(), 3, "{diags:?}");
    assert!(diags.iter().all(|d| d.message.contains("..")));
}

// ---- the real fixture (tests/fixtures/java/build.sh) ----------------------------------------------

fn fixture_dir() -> Option<std::path::PathBuf> {
    let root = std::env::var_os("STELLA_FIXTURES").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"),
        std::path::PathBuf::from,
    );
    let dir = root.join("java");
    if dir.join(".done-v1").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "fixture {} missing: run scanner-core/tests/fixtures/java/build.sh",
        dir.display()
    );
    eprintln!("skipped: build the fixture with scanner-core/tests/fixtures/java/build.sh");
    None
}

#[test]
fn fixture_fat_jar_war_ear() {
    let Some(dir) = fixture_dir() else { return };
    let rootfs = dir.join("rootfs");
    let mut all = Vec::new();
    let mut diags = Vec::new();
    for rel in [
        "app/demo-0.0.1-SNAPSHOT.jar",
        "srv/bundle.ear",
        "srv/webapp-1.0.war",
        "usr/share/java/atinject-jsr330-api-1.0.jar",
        "usr/share/java/commons-lang3.jar",
    ] {
        let bytes = std::fs::read(rootfs.join(rel)).unwrap();
        let (p, d) = analyze_archive(rel, &bytes, &Limits::default());
        all.extend(p);
        diags.extend(d);
    }
    assert!(diags.is_empty(), "{diags:?}");
    let demo = "/app/demo-0.0.1-SNAPSHOT.jar";
    let lib = format!("{demo}!/BOOT-INF/lib");
    let mut want = vec![
        format!("{demo} com.example:demo@0.0.1-SNAPSHOT pom.properties [Apache-2.0, MIT]"),
        format!("{lib}/aopalliance-1.0.jar -:aopalliance@1.0 filename"),
        format!("{lib}/commons-lang3-3.12.0.jar org.apache.commons:commons-lang3@3.12.0 pom.properties"),
        format!("{lib}/guava-31.1-jre.jar com.google.guava:guava@31.1-jre pom.properties [Apache-2.0]"),
        format!("{lib}/guice-servlet-4.2.3.jar com.google.inject:guice-servlet@4.2.3 manifest [Apache-2.0]"),
        format!("{lib}/inner-lib-1.0.jar com.example:inner-lib@1.0 pom.properties"),
        format!("{lib}/inner-lib-1.0.jar!/lib/slf4j-api-1.7.32.jar org.slf4j:slf4j-api@1.7.32 pom.properties"),
        format!("{lib}/jackson-databind.jar com.fasterxml.jackson.core:jackson-databind@2.14.0 pom.properties [The Apache Software License, Version 2.0]"),
    ];
    for war in ["/srv/bundle.ear!/webapp-1.0.war", "/srv/webapp-1.0.war"] {
        let l = format!("{war}!/WEB-INF/lib");
        let shaded = format!("{l}/wagon-http-shaded-3.5.3.jar");
        want.extend([
            format!("{war} com.example:webapp@1.0 pom.properties"),
            format!("{l}/commons-io-2.11.0.jar commons-io:commons-io@2.11.0 pom.xml"),
            format!("{l}/slf4j-api-1.7.32.jar org.slf4j:slf4j-api@1.7.32 pom.properties"),
            format!("{shaded} commons-codec:commons-codec@1.15 pom.properties"),
            format!("{shaded} org.apache.httpcomponents:httpclient@4.5.14 pom.properties"),
            format!("{shaded} org.apache.httpcomponents:httpcore@4.4.16 pom.properties"),
            format!("{shaded} org.apache.maven.wagon:wagon-http@3.5.3 pom.properties"),
            format!("{shaded} org.apache.maven.wagon:wagon-http-shared@3.5.3 pom.properties"),
        ]);
    }
    want.extend([
        "/usr/share/java/atinject-jsr330-api-1.0.jar javax:Atinject Dependency Injection Annotations@1.0.0 manifest".to_string(),
        "/usr/share/java/commons-lang3.jar org.apache.commons:commons-lang3@3.12.0 pom.properties".to_string(),
    ]);
    let got = lines(&all);
    assert_eq!(got, want, "\n{}", got.join("\n"));

    // SHA-1 of each package's archive, as sha1sum computed it in build.sh.
    let sums = std::fs::read_to_string(dir.join("sha1.txt")).unwrap();
    let sums: BTreeMap<&str, &str> = sums
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(h, p)| (p, h)))
        .collect();
    for p in &all {
        assert_eq!(p.checksums.len(), 1);
        assert_eq!(p.checksums[0].algorithm, "SHA-1");
        assert_eq!(
            Some(&p.checksums[0].value.as_str()),
            sums.get(p.found_in.as_str()),
            "{}",
            p.found_in
        );
        assert_eq!(p.kind, Some(PackageKind::Maven));
    }
    let vendor = all
        .iter()
        .find(|p| p.name == "guice-servlet")
        .and_then(|p| p.vendor.clone());
    assert_eq!(vendor.as_deref(), Some("Google, Inc."));
}
