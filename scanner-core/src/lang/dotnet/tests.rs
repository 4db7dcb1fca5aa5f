use super::*;

use crate::fs::MemFs;
use crate::lang::golang::tests::fixture_dir;

/// The fixture's `rootfs/dotnet` tree as a [`MemFs`] under `app/…`-style root-relative paths.
fn fixture_fs(dir: &std::path::Path) -> MemFs {
    let mut fs = MemFs::new();
    for sub in ["dotnet/app", "dotnet/docs"] {
        for e in std::fs::read_dir(dir.join("rootfs").join(sub)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            fs.insert(&format!("{sub}/{name}"), std::fs::read(e.path()).unwrap());
        }
    }
    fs
}

#[test]
fn wants_deps_json_only() {
    assert!(wants("app/App.deps.json"));
    assert!(wants("App.deps.json"));
    assert!(!wants("app/.deps.json"));
    assert!(!wants("app/App.runtimeconfig.json"));
    assert!(!wants("app/deps.json"));
}

/// The MinGW-built DLLs' VERSIONINFO, as windres compiled it from the fixture's .rc files.
#[test]
fn fixture_pe_version_info() {
    let Some(dir) = fixture_dir() else { return };
    let bytes = std::fs::read(dir.join("rootfs/dotnet/app/Greeter.dll")).unwrap();
    let pe = goblin::pe::PE::parse(&bytes).unwrap();
    let info = pe_version_info(&pe, &bytes).unwrap();
    let want: BTreeMap<String, String> = [
        ("CompanyName", "Stella Ops Fixtures"),
        ("FileDescription", "Greeting library"),
        ("FileVersion", "1.2.3.4"),
        ("FixedFileVersion", "1.2.3.4"),
        ("FixedProductVersion", "1.2.3.4"),
        ("InternalName", "Greeter"),
        ("OriginalFilename", "Greeter.dll"),
        ("ProductName", "Stella Greeter"),
        ("ProductVersion", "1.2.3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(info, want);
    // A PE without a version resource (Go's Windows binary) has none.
    let go = std::fs::read(dir.join("rootfs/go/hello.exe")).unwrap();
    let pe = goblin::pe::PE::parse(&go).unwrap();
    assert_eq!(pe_version_info(&pe, &go), None);
}

#[test]
fn fixture_deps_json_with_assemblies() {
    let Some(dir) = fixture_dir() else { return };
    let fs = fixture_fs(&dir);
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    assert_eq!(inv.diagnostics, vec![]);
    let app: Vec<&Package> = inv
        .packages
        .iter()
        .filter(|p| p.found_in == "/dotnet/app/App.deps.json")
        .collect();
    let names: Vec<_> = app
        .iter()
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect();
    // Microsoft.NETCore.Platforms has no runtime asset: skipped, as Trivy does.
    assert_eq!(
        names,
        ["App@1.0.0", "Greeter@1.2.3", "Newtonsoft.Json@13.0.3"]
    );

    let a = app[0];
    assert_eq!(a.kind, Some(PackageKind::Nuget));
    assert_eq!(a.properties["stella:nuget:project"], "true");
    assert_eq!(a.depends, ["Greeter", "Newtonsoft.Json"]);
    assert_eq!(a.checksums, vec![]);
    assert_eq!(a.files[0].path, "/dotnet/app/App.dll");
    assert_eq!(a.vendor.as_deref(), Some("Stella Ops Fixtures"));
    assert_eq!(a.properties["stella:nuget:product-name"], "Stella App");

    let g = app[1];
    assert_eq!(
        g.checksums,
        vec![Checksum {
            algorithm: "SHA-512".into(),
            // sha512("Greeter 1.2.3"), as build.sh wrote it in base64.
            value: "6e5b6840430ab219a1595b961de503e8527ab938926fb6fe344d915f18c99f424feccb3b8aa57d245e058723b7c2ba0b495d8fc8d80f69166efcd14d14a5531d".into(),
        }]
    );
    assert_eq!(
        g.files,
        vec![OwnedFile {
            path: "/dotnet/app/Greeter.dll".into(),
            checksum: None
        }]
    );
    assert_eq!(g.properties["stella:nuget:file-version"], "1.2.3.4");
    assert_eq!(g.properties["stella:nuget:product-version"], "1.2.3");
    assert!(!g.properties.contains_key("stella:nuget:missing-assemblies"));

    let n = app[2];
    assert_eq!(n.checksums[0].value, "1eb0b9057765d3420ff73795fb467ce3c4163c0a02afd3f76c311982e23e8242dc04a00ec62c7fb4b1000070be52f0cd3efe1ad9dd7c94e45e1cc39a80f6becd");
    assert_eq!(n.files, vec![]);
    assert_eq!(
        n.properties["stella:nuget:missing-assemblies"],
        "Newtonsoft.Json.dll"
    );
    assert_eq!(n.vendor, None);

    // The documented RID-specific shape.
    let web: Vec<_> = inv
        .packages
        .iter()
        .filter(|p| p.found_in == "/dotnet/docs/web.deps.json")
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.properties.get("stella:nuget:missing-assemblies").cloned(),
            )
        })
        .collect();
    assert_eq!(
        web,
        vec![
            (
                "Microsoft.Data.SqlClient",
                "5.1.1",
                Some("runtimes/unix/lib/net6.0/Microsoft.Data.SqlClient.dll".to_owned())
            ),
            (
                "SQLitePCLRaw.lib.e_sqlite3",
                "2.1.6",
                Some("libe_sqlite3.so".to_owned())
            ),
            ("web", "1.0.0", Some("web.dll".to_owned())),
        ]
    );
}

#[test]
fn parse_table() {
    // No matching target: every package/project library is kept, without edges.
    let j = br#"{"runtimeTarget":{"name":"nope"},"targets":{},"libraries":{
        "A/1.0.0":{"type":"package","sha512":"sha512-notbase64!"},
        "B/2.0.0":{"type":"reference"},
        "C":{"type":"package"},
        "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.1":{"type":"runtimepack","sha512":""}
    }}"#;
    let p = parse_deps_json(j, "/a.deps.json").unwrap();
    let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["A", "Microsoft.NETCore.App.Runtime.linux-x64"]);
    assert_eq!(p[0].checksums, vec![], "bad base64 is no checksum");
    assert_eq!(p[1].properties["stella:nuget:runtimepack"], "true");
    // Edges only to reported packages; runtime-pack prefix stripped on both sides.
    let j = br#"{"runtimeTarget":{"name":"t"},"targets":{"t":{
        "App/1.0.0":{"dependencies":{"X":"1.0.0","Meta":"1.0.0","runtimepack.R":"8.0.0"},"runtime":{"App.dll":{}}},
        "X/1.0.0":{"runtime":{"lib/X.dll":{}}},
        "Meta/1.0.0":{"dependencies":{"X":"1.0.0"}},
        "runtimepack.R/8.0.0":{"native":{"libR.so":{}}}
    }},"libraries":{
        "App/1.0.0":{"type":"project"},
        "X/1.0.0":{"type":"Package"},
        "Meta/1.0.0":{"type":"package"},
        "runtimepack.R/8.0.0":{"type":"runtimepack"}
    }}"#;
    let p = parse_deps_json(j, "/a.deps.json").unwrap();
    let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["App", "X", "R"]);
    assert_eq!(p[0].depends, ["R", "X"]);
    for bad in [
        &b"\"s\""[..],
        b"{",
        b"{\"libraries\":[]}",
        b"{\"targets\":{\"t\":{\"A/1\":{\"dependencies\":1}}}}",
    ] {
        assert!(
            parse_deps_json(bad, "/x").is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(parse_deps_json(b"{}", "/x").unwrap().is_empty());
}

#[test]
fn analyze_reports_bad_files_as_diagnostics() {
    let mut fs = MemFs::new();
    fs.insert("srv/bad.deps.json", "{not json");
    fs.insert(
        "srv/ok.deps.json",
        r#"{"libraries":{"A/1.0.0":{"type":"package"}}}"#,
    );
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    assert_eq!(inv.diagnostics.len(), 1);
    assert_eq!(inv.diagnostics[0].path, "/srv/bad.deps.json");
    assert_eq!(inv.packages.len(), 1);
    assert_eq!(inv.packages[0].found_in, "/srv/ok.deps.json");
}
