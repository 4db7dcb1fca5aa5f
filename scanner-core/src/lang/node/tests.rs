use super::*;
use crate::fs::MemFs;

#[test]
fn wants_table() {
    for (p, want) in [
        ("srv/app/package.json", true),
        ("package.json", true),
        ("srv/app/node_modules/express/package.json", true),
        ("srv/app/node_modules/@types/node/package.json", true),
        ("srv/app/node_modules/a/node_modules/b/package.json", true),
        (
            "srv/app/node_modules/.pnpm/ms@2.1.3/node_modules/ms/package.json",
            true,
        ),
        ("srv/app/node_modules/express/lib/package.json", false),
        ("srv/app/node_modules/@types/package.json", false),
        ("srv/app/node_modules/.bin/package.json", false),
        ("srv/app/node_modules/package.json", false),
        ("usr/share/nodejs/acorn/package.json", true),
        ("usr/share/nodejs/@types/node/package.json", true),
        ("usr/share/nodejs/acorn/dist/package.json", false),
        ("usr/lib/x86_64-linux-gnu/nodejs/cjs/package.json", true),
        ("usr/lib/nodejs/a/b/package.json", false),
        ("srv/app/package-lock.json", true),
        ("srv/app/npm-shrinkwrap.json", true),
        ("srv/app/yarn.lock", true),
        ("srv/app/pnpm-lock.yaml", true),
        ("srv/app/node_modules/foo/yarn.lock", false),
        ("srv/app/node_modules/.package-lock.json", false),
        ("srv/app/my_node_modules/x/lib/package.json", true),
        ("srv/app/index.js", false),
        ("", false),
    ] {
        assert_eq!(wants(p), want, "{p}");
    }
}

#[test]
fn package_json_fields() {
    let m = parse_package_json(
        br#"{"name":"@s/x","version":"1.0.0","license":{"type":"MIT","url":"u"},
        "licenses":[{"type":"MIT"},"Apache-2.0",3],"homepage":"https://x.example",
        "author":{"name":"A","email":"a@x"},"dependencies":{"b":"1","c":"2"},
        "optionalDependencies":{"c":"2","d":"3"},"devDependencies":{"e":"1"},
        "workspaces":{"packages":["packages/*"]}}"#,
    )
    .unwrap();
    assert_eq!(m.name.as_deref(), Some("@s/x"));
    assert_eq!(m.licenses, ["MIT", "Apache-2.0"]);
    assert_eq!(m.author.as_deref(), Some("A <a@x>"));
    assert_eq!(m.depends, ["b", "c", "d"]);
    assert_eq!(m.workspaces, ["packages/*"]);
    let m = parse_package_json(br#"{"name":"x","license":["ISC"],"author":"B <b@x> (http://b)"}"#)
        .unwrap();
    assert_eq!(m.version, None);
    assert_eq!(m.licenses, ["ISC"]);
    assert_eq!(m.author.as_deref(), Some("B <b@x> (http://b)"));
    for bad in [
        &b""[..],
        b"[]",
        b"{",
        b"{\"name\":\"a b\"}",
        b"{\"name\":\"@/x\"}",
        b"\xff",
    ] {
        assert!(parse_package_json(bad).is_err(), "{bad:?}");
    }
    // Non-string fields are ignored, not errors.
    let m = parse_package_json(br#"{"name":1,"version":[],"license":null,"author":7}"#).unwrap();
    assert_eq!(m, Manifest::default());
}

#[test]
fn names_and_globs() {
    assert!(valid_name("a.b-c_d") && valid_name("@s/n") && !valid_name("@s") && !valid_name("A/B"));
    assert!(workspace_match(
        "srv/app",
        "packages/*",
        "srv/app/packages/util"
    ));
    assert!(workspace_match(
        "srv/app",
        "./packages/*/",
        "srv/app/packages/util"
    ));
    assert!(workspace_match("", "apps/**", "apps/a/b"));
    assert!(workspace_match("r", "**/x-*", "r/a/b/x-1"));
    assert!(!workspace_match(
        "srv/app",
        "packages/*",
        "srv/app/packages/a/b"
    ));
    assert!(!workspace_match(
        "srv/app",
        "!packages/*",
        "srv/app/packages/a"
    ));
    assert!(!workspace_match(
        "srv/app",
        "packages/*",
        "srv/other/packages/a"
    ));
    assert!(workspace_match("", "**/**/a/**", "x/a"));
    assert!(!workspace_match("", "**/b", "x/a"));
    let deep = "**/".repeat(31) + "z";
    let path = "a/".repeat(200) + "y";
    assert!(!workspace_match("", &deep, &path));
    assert!(wildcard("a*b*c", "axxbyyc") && !wildcard("a*b", "ab-") && wildcard("*", ""));
}

#[test]
fn lockfile_declared_only_and_matches() {
    let mut fs = MemFs::new();
    fs.insert(
        "srv/app/package.json",
        r#"{"name":"app","version":"1.0.0"}"#,
    )
    .insert(
        "srv/app/node_modules/a/package.json",
        r#"{"name":"a","version":"1.0.0","license":"MIT"}"#,
    )
    .insert(
        "srv/app/node_modules/@s/b/package.json",
        r#"{"name":"@s/b","version":"2.0.0"}"#,
    )
    .insert("srv/app/node_modules/bad/package.json", "{")
    .insert("srv/app/node_modules/nov/package.json", r#"{"name":"nov"}"#)
    .insert(
        "srv/app/package-lock.json",
        r#"{"lockfileVersion":3,"packages":{"":{"name":"app","version":"1.0.0"},
            "node_modules/a":{"version":"1.0.0"},"node_modules/@s/b":{"version":"2.0.0"},
            "node_modules/c":{"version":"3.0.0","dev":true,"license":"ISC"},
            "node_modules/x/node_modules/c":{"version":"3.0.0"},
            "node_modules/app":{"version":"1.0.0"}}}"#,
    )
    .insert("other/yarn.lock", "a@^1:\n  version \"1.0.0\"\n")
    .insert("srv/app/pnpm-lock.yaml", "\u{0}\u{1}not yaml at all");
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    let got: Vec<String> = inv
        .packages
        .iter()
        .map(|p| {
            format!(
                "{}{}{}@{} {} {:?}",
                p.namespace.as_deref().unwrap_or(""),
                if p.namespace.is_some() { "/" } else { "" },
                p.name,
                p.version,
                p.found_in,
                p.properties
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "@s/b@2.0.0 /srv/app/node_modules/@s/b/package.json {\"stella:npm:lockfile\": \"/srv/app/package-lock.json\"}",
            "a@1.0.0 /srv/app/node_modules/a/package.json {\"stella:npm:lockfile\": \"/srv/app/package-lock.json\"}",
            "app@1.0.0 /srv/app/package.json {\"stella:npm:root\": \"true\"}",
            // The root project is the app, not an installed `app`: the lockfile's entry is declared only.
            "a@1.0.0 /other/yarn.lock {\"stella:npm:declared-only\": \"true\", \"stella:npm:lockfile\": \"/other/yarn.lock\"}",
            "c@3.0.0 /srv/app/package-lock.json {\"stella:npm:declared-only\": \"true\", \"stella:npm:dev\": \"true\", \"stella:npm:lockfile\": \"/srv/app/package-lock.json\"}",
            "app@1.0.0 /srv/app/package-lock.json {\"stella:npm:declared-only\": \"true\", \"stella:npm:lockfile\": \"/srv/app/package-lock.json\"}",
        ]
    );
    assert_eq!(inv.packages[1].licenses, ["MIT"]);
    assert_eq!(inv.packages[0].namespace.as_deref(), Some("@s"));
    assert_eq!(inv.packages[4].licenses, ["ISC"]);
    let diags: Vec<&str> = inv.diagnostics.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        diags,
        [
            "/srv/app/node_modules/bad/package.json",
            "/srv/app/node_modules/nov/package.json"
        ]
    );
}

fn run(part: &str) -> Option<Inventory> {
    let root = walkfs::fixture(part)?;
    let fs = walkfs::WalkFs::new(&root);
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    assert_eq!(inv.diagnostics, []);
    Some(inv)
}

fn line(p: &Package) -> String {
    format!("{}@{} {}", full_name(p), p.version, p.found_in)
}

/// npm 11 install: express 4.21.2 (nested `debug/node_modules/ms`, `send/node_modules/encodeurl`),
/// `@types/node`, a workspace linked from node_modules, lockfile v3. The expected list is every
/// package.json under the fixture, read independently of this code (see the file's provenance in the
/// test below).
#[test]
fn real_fixture_npm() {
    let Some(inv) = run("npm") else { return };
    let mut got: Vec<String> = inv.packages.iter().map(line).collect();
    got.sort_by(|a, b| a.split(' ').nth(1).cmp(&b.split(' ').nth(1)));
    let want: Vec<&str> = include_str!("npm_fixture_expected.txt").lines().collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 76);
    let by = |f: &str| inv.packages.iter().find(|p| p.found_in == f).unwrap();
    let root = by("/srv/app/package.json");
    assert_eq!(
        root.properties.get("stella:npm:root").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        root.depends,
        ["express", "@types/node", "fixture-util", "ms"]
    );
    let ws = by("/srv/app/packages/util/package.json");
    assert_eq!(
        ws.properties
            .get("stella:npm:workspace")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(
        ws.properties.get("stella:npm:lockfile").map(String::as_str),
        Some("/srv/app/package-lock.json")
    );
    let express = by("/srv/app/node_modules/express/package.json");
    assert_eq!(express.licenses, ["MIT"]);
    assert_eq!(express.homepage.as_deref(), Some("http://expressjs.com/"));
    assert_eq!(
        express.maintainer.as_deref(),
        Some("TJ Holowaychuk <tj@vision-media.ca>")
    );
    assert_eq!(express.depends.len(), 31);
    let types = by("/srv/app/node_modules/@types/node/package.json");
    assert_eq!(
        (types.namespace.as_deref(), types.name.as_str()),
        (Some("@types"), "node")
    );
    assert_eq!(types.depends, ["undici-types"]);
    let um = by("/srv/app/node_modules/utils-merge/package.json");
    assert_eq!(um.licenses, ["MIT"]);
    assert_eq!(
        um.maintainer.as_deref(),
        Some("Jared Hanson <jaredhanson@gmail.com>")
    );
    // Every installed package is in the v3 lockfile.
    for p in &inv.packages {
        if !p.properties.contains_key("stella:npm:root") {
            assert_eq!(
                p.properties.get("stella:npm:lockfile").map(String::as_str),
                Some("/srv/app/package-lock.json"),
                "{}",
                line(p)
            );
        }
    }
    // The same project locked as v1 and v2: the same packages (v1 has the workspace only as `file:`).
    let root = walkfs::fixture("").unwrap();
    let set = |f: &str| {
        let mut v: Vec<String> = parse_package_lock(&std::fs::read(root.join(f)).unwrap())
            .unwrap()
            .into_iter()
            .map(|e| format!("{}@{}", e.name, e.version))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let v3 = set("npm/srv/app/package-lock.json");
    let v2 = set("package-lock.v2.json");
    let v1 = set("package-lock.v1.json");
    assert_eq!(v3.len(), 75);
    assert_eq!(v2, v3);
    let v3_minus_ws: Vec<String> = v3
        .into_iter()
        .filter(|s| s != "fixture-util@1.2.3")
        .collect();
    assert_eq!(v1, v3_minus_ws);
}

/// pnpm 9.15: real packages under `node_modules/.pnpm/<name>@<ver>/node_modules/<name>`, the top level
/// symlinks: each reported once, at its real path.
#[test]
fn real_fixture_pnpm() {
    let Some(inv) = run("pnpm") else { return };
    let got: Vec<String> = inv.packages.iter().map(line).collect();
    let nm = "/srv/app/node_modules/.pnpm";
    assert_eq!(
        got,
        [
            format!("@types/node@22.9.0 {nm}/@types+node@22.9.0/node_modules/@types/node/package.json"),
            format!("debug@4.3.7 {nm}/debug@4.3.7/node_modules/debug/package.json"),
            format!("ms@2.0.0 {nm}/ms@2.0.0/node_modules/ms/package.json"),
            format!("ms@2.1.3 {nm}/ms@2.1.3/node_modules/ms/package.json"),
            format!("undici-types@6.19.8 {nm}/undici-types@6.19.8/node_modules/undici-types/package.json"),
            "fixture-pnpm@0.1.0 /srv/app/package.json".to_owned(),
        ]
    );
    for p in inv.packages.iter().take(5) {
        assert_eq!(
            p.properties.get("stella:npm:lockfile").map(String::as_str),
            Some("/srv/app/pnpm-lock.yaml")
        );
    }
    let root = walkfs::fixture("pnpm").unwrap();
    let entries = parse_pnpm_lock(&std::fs::read(root.join("srv/app/pnpm-lock.yaml")).unwrap());
    let names: Vec<String> = entries
        .iter()
        .map(|e| format!("{}@{}", e.name, e.version))
        .collect();
    assert_eq!(
        names,
        [
            "@types/node@22.9.0",
            "debug@4.3.7",
            "ms@2.0.0",
            "ms@2.1.3",
            "undici-types@6.19.8"
        ]
    );
}

/// yarn 1.22 classic lockfile and its node_modules.
#[test]
fn real_fixture_yarn() {
    let Some(inv) = run("yarn") else { return };
    let got: Vec<String> = inv
        .packages
        .iter()
        .map(|p| format!("{} {:?}", line(p), p.properties.get("stella:npm:lockfile")))
        .collect();
    let lock = "Some(\"/srv/app/yarn.lock\")";
    assert_eq!(
        got,
        [
            format!("@types/node@22.9.0 /srv/app/node_modules/@types/node/package.json {lock}"),
            format!("debug@4.3.7 /srv/app/node_modules/debug/package.json {lock}"),
            format!("ms@2.1.3 /srv/app/node_modules/ms/package.json {lock}"),
            format!("undici-types@6.19.8 /srv/app/node_modules/undici-types/package.json {lock}"),
            "fixture-yarn@0.1.0 /srv/app/package.json None".to_owned(),
        ]
    );
}

/// For the Trivy comparison: `STELLA_DUMP_ROOT=<rootfs> STELLA_DUMP_OUT=<file> cargo test … -- --ignored
/// dump_lang_packages` writes one `kind<TAB>name<TAB>version<TAB>found_in<TAB>licenses<TAB>properties`
/// line per npm and PyPI package.
#[test]
#[ignore]
fn dump_lang_packages() {
    let (Some(root), Some(out)) = (
        std::env::var_os("STELLA_DUMP_ROOT"),
        std::env::var_os("STELLA_DUMP_OUT"),
    ) else {
        return;
    };
    let fs = walkfs::WalkFs::new(std::path::Path::new(&root));
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    crate::lang::python::analyze(&fs, &mut inv);
    let mut s = String::new();
    for p in &inv.packages {
        let kind = if p.kind == Some(PackageKind::Npm) {
            "npm"
        } else {
            "pypi"
        };
        let name = if kind == "npm" {
            full_name(p)
        } else {
            p.name.clone()
        };
        s.push_str(&format!(
            "{kind}\t{name}\t{}\t{}\t{}\t{:?}\n",
            p.version,
            p.found_in,
            p.licenses.join("|"),
            p.properties
        ));
    }
    for d in &inv.diagnostics {
        s.push_str(&format!("diag\t{}\t{}\n", d.path, d.message));
    }
    std::fs::write(out, s).unwrap();
}

/// Debian's node-xtend: `/usr/share/nodejs/xtend/package.json` is an installed package, not a project.
#[test]
fn real_fixture_debian_nodejs() {
    let Some(inv) = run("debian") else { return };
    let got: Vec<String> = inv
        .packages
        .iter()
        .map(|p| format!("{} {:?} {:?}", line(p), p.licenses, p.properties))
        .collect();
    assert_eq!(
        got,
        ["xtend@4.0.2 /usr/share/nodejs/xtend/package.json [\"MIT\"] {}"]
    );
}

/// Lockfiles with nothing installed, written by pnpm 8 (v6.0), pnpm 7 (v5.4), yarn 4 (berry) and
/// npm 11 (`--lockfile-version 1`): every entry is declared-only evidence.
#[test]
fn real_fixture_lockfiles_declared_only() {
    let Some(inv) = run("locks") else { return };
    let mut per_lock: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut roots = Vec::new();
    for p in &inv.packages {
        if p.properties.contains_key("stella:npm:root") {
            roots.push(line(p));
            continue;
        }
        assert_eq!(
            p.properties
                .get("stella:npm:declared-only")
                .map(String::as_str),
            Some("true")
        );
        assert_eq!(p.properties.get("stella:npm:lockfile"), Some(&p.found_in));
        per_lock
            .entry(p.found_in.clone())
            .or_default()
            .push(format!("{}@{}", full_name(p), p.version));
    }
    assert_eq!(
        roots,
        [
            "fixture-lock@0.1.0 /srv/berry/package.json",
            "fixture-app@1.0.0 /srv/npm1/package.json",
            "fixture-lock@0.1.0 /srv/pnpm5/package.json",
            "fixture-lock@0.1.0 /srv/pnpm6/package.json",
        ]
    );
    let five = [
        "@types/node@22.9.0",
        "debug@4.3.7",
        "ms@2.0.0",
        "ms@2.1.3",
        "undici-types@6.19.8",
    ];
    for lock in [
        "/srv/berry/yarn.lock",
        "/srv/pnpm5/pnpm-lock.yaml",
        "/srv/pnpm6/pnpm-lock.yaml",
    ] {
        let mut got = per_lock.get(lock).cloned().unwrap_or_default();
        got.sort();
        assert_eq!(got, five, "{lock}");
    }
    let npm1 = per_lock.get("/srv/npm1/package-lock.json").unwrap();
    assert_eq!(npm1.len(), 74);
    assert!(npm1.contains(&"ms@2.0.0".to_owned()) && npm1.contains(&"express@4.21.2".to_owned()));
    // pnpm v5 states dependencies per package; berry too.
    let deps = |lock: &str, name: &str| {
        inv.packages
            .iter()
            .find(|p| p.found_in == lock && p.name == name)
            .map(|p| p.depends.clone())
            .unwrap()
    };
    assert_eq!(deps("/srv/pnpm5/pnpm-lock.yaml", "debug"), ["ms"]);
    assert_eq!(deps("/srv/berry/yarn.lock", "node"), ["undici-types"]);
}

/// A pnpm workspace member (named by `importers`, no `workspaces` field) and an npm `file:` link are
/// workspace members, not application roots.
#[test]
fn lockfile_named_members_are_workspaces() {
    let mut fs = MemFs::new();
    fs.insert("w/package.json", r#"{"name":"top","version":"1.0.0"}"#)
        .insert("w/packages/a/package.json", r#"{"name":"a","version":"0.1.0"}"#)
        .insert(
            "w/pnpm-lock.yaml",
            "lockfileVersion: '9.0'\nimporters:\n  .:\n    dependencies:\n      a:\n        specifier: workspace:*\n        version: link:packages/a\n  packages/a: {}\n",
        )
        .insert("n/package.json", r#"{"name":"app","version":"1.0.0"}"#)
        .insert("libs/l/package.json", r#"{"name":"l","version":"2.0.0"}"#)
        .insert(
            "n/package-lock.json",
            r#"{"lockfileVersion":3,"packages":{"node_modules/l":{"resolved":"../libs/l","link":true}}}"#,
        );
    let mut inv = Inventory::default();
    analyze(&fs, &mut inv);
    let got: Vec<String> = inv
        .packages
        .iter()
        .map(|p| format!("{} {:?}", line(p), p.properties.keys().collect::<Vec<_>>()))
        .collect();
    assert_eq!(
        got,
        [
            "l@2.0.0 /libs/l/package.json [\"stella:npm:workspace\"]",
            "app@1.0.0 /n/package.json [\"stella:npm:root\"]",
            "top@1.0.0 /w/package.json [\"stella:npm:root\"]",
            "a@0.1.0 /w/packages/a/package.json [\"stella:npm:workspace\"]",
        ]
    );
}
