//! Lockfile parsers: `package-lock.json` / `npm-shrinkwrap.json` (v1, v2, v3), `yarn.lock` (classic v1
//! and berry), `pnpm-lock.yaml` (v5, v6, v9). The YAML forms are read line by line for the subset the
//! tools write (block mappings, two-space indents, quoted or plain scalars), never a general YAML parser.

use serde_json::Value;

/// Which lockfile format, from its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// `package-lock.json` or `npm-shrinkwrap.json`.
    Npm,
    /// `yarn.lock`.
    Yarn,
    /// `pnpm-lock.yaml`.
    Pnpm,
}

impl LockKind {
    /// The kind for a file's base name.
    pub fn of(base: &str) -> Option<Self> {
        match base {
            "package-lock.json" | "npm-shrinkwrap.json" => Some(LockKind::Npm),
            "yarn.lock" => Some(LockKind::Yarn),
            "pnpm-lock.yaml" => Some(LockKind::Pnpm),
            _ => None,
        }
    }
}

/// One package a lockfile pins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockEntry {
    /// Full npm name (`@scope/name` or `name`).
    pub name: String,
    /// Resolved version.
    pub version: String,
    /// Marked as a development dependency (package-lock `dev`, pnpm v5/v6 `dev: true`).
    pub dev: bool,
    /// Names of its dependencies, when the lockfile states them.
    pub depends: Vec<String>,
    /// License, when the lockfile states it (package-lock v2/v3).
    pub license: Option<String>,
}

/// What one lockfile says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    /// The packages it pins.
    pub entries: Vec<LockEntry>,
    /// Directories (relative to the lockfile's) of workspace members and linked local packages:
    /// package-lock `packages` keys outside `node_modules` and `link` targets, v1 `file:` versions,
    /// pnpm `importers`, berry `workspace:` resolutions.
    pub workspaces: Vec<String>,
}

/// Entries read from one lockfile before the rest is ignored.
const MAX_ENTRIES: usize = 200_000;

/// Parses a lockfile of `kind`. `Err` only when the file is not that format at all.
pub fn parse(kind: LockKind, data: &[u8]) -> Result<Lock, String> {
    match kind {
        LockKind::Npm => package_lock(data),
        LockKind::Yarn => Ok(yarn_lock(data)),
        LockKind::Pnpm => Ok(pnpm_lock(data)),
    }
}

/// `package-lock.json`: v2/v3 `packages` (keyed by install path), else v1's nested `dependencies`.
pub fn parse_package_lock(data: &[u8]) -> Result<Vec<LockEntry>, String> {
    package_lock(data).map(|l| l.entries)
}

fn push_dir(dirs: &mut Vec<String>, d: &str) {
    let d = d.trim_start_matches("./").trim_end_matches('/');
    if !d.is_empty() && d != "." && dirs.len() < MAX_ENTRIES && !dirs.iter().any(|x| x == d) {
        dirs.push(d.to_owned());
    }
}

fn package_lock(data: &[u8]) -> Result<Lock, String> {
    let v: Value = serde_json::from_slice(data).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let mut out = Vec::new();
    let mut dirs = Vec::new();
    if let Some(pkgs) = obj.get("packages").and_then(Value::as_object) {
        for (key, p) in pkgs {
            if key.is_empty() || out.len() >= MAX_ENTRIES {
                continue;
            }
            if p.get("link").and_then(Value::as_bool) == Some(true) {
                if let Some(target) = p.get("resolved").and_then(Value::as_str) {
                    push_dir(&mut dirs, target);
                }
                continue;
            }
            if !key.starts_with("node_modules/") && !key.contains("/node_modules/") {
                push_dir(&mut dirs, key);
            }
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    key.rfind("node_modules/")
                        .and_then(|i| key.get(i + "node_modules/".len()..))
                        .map(str::to_owned)
                });
            let (Some(name), Some(version)) = (name, p.get("version").and_then(Value::as_str))
            else {
                continue;
            };
            if name.is_empty() || version.is_empty() {
                continue;
            }
            let flag = |k: &str| p.get(k).and_then(Value::as_bool) == Some(true);
            out.push(LockEntry {
                name,
                version: version.to_owned(),
                dev: flag("dev") || flag("devOptional"),
                depends: dep_names(p, &["dependencies", "optionalDependencies"]),
                license: p.get("license").and_then(Value::as_str).map(str::to_owned),
            });
        }
        return Ok(Lock {
            entries: out,
            workspaces: dirs,
        });
    }
    if let Some(deps) = obj.get("dependencies").and_then(Value::as_object) {
        v1_walk(deps, &mut out, &mut dirs);
        return Ok(Lock {
            entries: out,
            workspaces: dirs,
        });
    }
    Err("neither `packages` nor `dependencies`".into())
}

fn v1_walk(
    deps: &serde_json::Map<String, Value>,
    out: &mut Vec<LockEntry>,
    dirs: &mut Vec<String>,
) {
    for (name, d) in deps {
        if out.len() >= MAX_ENTRIES {
            return;
        }
        let Some(version) = d.get("version").and_then(Value::as_str) else {
            continue;
        };
        if let Some(local) = version.strip_prefix("file:") {
            push_dir(dirs, local);
        }
        // `file:`, `git+…`, `link:` versions are not registry packages; aliases are `npm:name@ver`.
        let (name, version) = match version.strip_prefix("npm:") {
            Some(alias) => match split_name_version(alias) {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => continue,
            },
            None => (name.clone(), version.to_owned()),
        };
        if looks_like_version(&version) {
            out.push(LockEntry {
                name,
                version,
                dev: d.get("dev").and_then(Value::as_bool) == Some(true),
                depends: d
                    .get("requires")
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default(),
                license: None,
            });
        }
        if let Some(nested) = d.get("dependencies").and_then(Value::as_object) {
            v1_walk(nested, out, dirs);
        }
    }
}

fn dep_names(p: &Value, keys: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        if let Some(m) = p.get(*k).and_then(Value::as_object) {
            for n in m.keys() {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
    }
    out
}

/// A version as registries publish them (`1.2.3…`: digits then a dot), not a URL, path, hash or tag.
fn looks_like_version(v: &str) -> bool {
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && v.as_bytes().get(digits) == Some(&b'.')
}

/// `@scope/name@1.0` → (`@scope/name`, `1.0`): splits at the last `@` after the first character.
pub fn split_name_version(s: &str) -> Option<(&str, &str)> {
    let at = s.get(1..)?.rfind('@')? + 1;
    let name = s.get(..at)?;
    let version = s.get(at + 1..)?;
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

/// Splits `name@range` at the `@` that ends the name (the first after the first character).
fn split_name_range(s: &str) -> Option<(&str, &str)> {
    let at = s.get(1..)?.find('@')? + 1;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// `key: value` or (yarn classic) `key "value"` / `key value`.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim();
    if let Some(rest) = t.strip_prefix('"') {
        // A quoted key: `"@types/node" "^1"` or `"@types/node": ^1`.
        let end = rest.find('"')?;
        let key = rest.get(..end)?;
        let value = rest.get(end + 1..)?.trim_start();
        let value = value.strip_prefix(':').unwrap_or(value);
        return Some((key, unquote(value)));
    }
    if let Some(rest) = t.strip_prefix('\'') {
        let end = rest.find('\'')?;
        let key = rest.get(..end)?;
        let value = rest.get(end + 1..)?.trim_start();
        let value = value.strip_prefix(':').unwrap_or(value);
        return Some((key, unquote(value)));
    }
    let split = t.find([':', ' '])?;
    let key = t.get(..split)?;
    let value = t.get(split + 1..)?;
    Some((key, unquote(value)))
}

/// `yarn.lock`, classic (`# yarn lockfile v1`) or berry (`__metadata:`), read as blocks: a top-level
/// `specifier[, specifier]:` line, then indented fields.
pub fn parse_yarn_lock(data: &[u8]) -> Vec<LockEntry> {
    yarn_lock(data).entries
}

fn yarn_lock(data: &[u8]) -> Lock {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut dirs = Vec::new();
    let mut cur: Option<YarnBlock> = None;
    let mut flush = |cur: &mut Option<YarnBlock>, out: &mut Vec<LockEntry>| {
        if let Some(mut b) = cur.take() {
            if let Some((_, ws)) = b
                .resolution
                .as_deref()
                .and_then(split_name_range)
                .and_then(|(n, r)| Some((n, r.strip_prefix("workspace:")?)))
            {
                push_dir(&mut dirs, ws);
            }
            if let Some(name) = yarn_name(&b.spec, b.resolution.as_deref()) {
                b.entry.name = name;
                let v = &b.entry.version;
                if looks_like_version(v) && !v.ends_with("-use.local") && out.len() < MAX_ENTRIES {
                    out.push(b.entry);
                }
            }
        }
    };
    for raw in text.lines() {
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if ind == 0 {
            flush(&mut cur, &mut out);
            let Some(head) = line.strip_suffix(':') else {
                continue;
            };
            let first = head.split(", ").next().unwrap_or(head);
            let first = unquote(first);
            if first == "__metadata" {
                continue;
            }
            cur = Some(YarnBlock {
                spec: first.to_owned(),
                ..YarnBlock::default()
            });
            continue;
        }
        let Some(b) = cur.as_mut() else {
            continue;
        };
        let Some((k, v)) = key_value(line) else {
            continue;
        };
        if ind <= 2 {
            b.in_deps = matches!(k, "dependencies" | "optionalDependencies") && v.is_empty();
            match k {
                "version" => b.entry.version = v.to_owned(),
                "resolution" => b.resolution = Some(v.to_owned()),
                _ => {}
            }
        } else if b.in_deps && !b.entry.depends.iter().any(|d| d == k) {
            b.entry.depends.push(k.to_owned());
        }
    }
    flush(&mut cur, &mut out);
    Lock {
        entries: out,
        workspaces: dirs,
    }
}

#[derive(Default)]
struct YarnBlock {
    /// The first specifier of the block's head line.
    spec: String,
    /// berry's `resolution: "name@npm:1.2.3"`.
    resolution: Option<String>,
    in_deps: bool,
    entry: LockEntry,
}

/// The package name of a yarn block: berry's `resolution` when it is an `npm:` one, else the first
/// specifier's name (aliases `alias@npm:real@^1` give `real`). `None` for workspace, link, portal,
/// file and patch entries.
fn yarn_name(spec: &str, resolution: Option<&str>) -> Option<String> {
    if let Some(res) = resolution {
        let (name, rest) = split_name_range(res)?;
        return rest.starts_with("npm:").then(|| name.to_owned());
    }
    let (name, range) = split_name_range(spec)?;
    if let Some(alias) = range.strip_prefix("npm:") {
        return match split_name_range(alias) {
            Some((real, _)) => Some(real.to_owned()),
            None => Some(alias.to_owned()),
        };
    }
    if range.contains(':') && !range.starts_with("npm:") {
        return None;
    }
    Some(name.to_owned())
}

/// `pnpm-lock.yaml` v5 (`/name/1.0.0_peer`), v6 (`/name@1.0.0(peer)`), v9 (`name@1.0.0` under
/// `packages:`, dependencies under `snapshots:`).
pub fn parse_pnpm_lock(data: &[u8]) -> Vec<LockEntry> {
    pnpm_lock(data).entries
}

fn pnpm_lock(data: &[u8]) -> Lock {
    let mut dirs = Vec::new();
    let text = String::from_utf8_lossy(data);
    let mut v5 = false;
    let mut section = "";
    let mut out: Vec<LockEntry> = Vec::new();
    let mut cur: Option<(String, LockEntry, bool)> = None; // (key, entry, in deps)
    let flush =
        |cur: &mut Option<(String, LockEntry, bool)>, out: &mut Vec<LockEntry>, v5: bool| {
            if let Some((key, mut e, _)) = cur.take() {
                if let Some((n, v)) = pnpm_key(&key, v5) {
                    if e.name.is_empty() {
                        e.name = n;
                    }
                    if e.version.is_empty() || !looks_like_version(&e.version) {
                        e.version = v;
                    }
                }
                if !e.name.is_empty() && looks_like_version(&e.version) && out.len() < MAX_ENTRIES {
                    out.push(e);
                }
            }
        };
    for raw in text.lines() {
        let line = raw.trim_end();
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let ind = indent(line);
        if ind == 0 {
            flush(&mut cur, &mut out, v5);
            if let Some((k, v)) = key_value(line) {
                if k == "lockfileVersion" {
                    v5 = v.starts_with('5');
                }
                section = match k {
                    "packages" => "packages",
                    "importers" => "importers",
                    _ => "",
                };
            }
            continue;
        }
        if section == "importers" {
            if let Some((key, _)) = key_value(line).filter(|_| ind == 2) {
                push_dir(&mut dirs, key);
            }
            continue;
        }
        if section != "packages" {
            continue;
        }
        if ind == 2 {
            flush(&mut cur, &mut out, v5);
            let key = line.trim().strip_suffix(':').unwrap_or(line.trim());
            cur = Some((unquote(key).to_owned(), LockEntry::default(), false));
            continue;
        }
        let Some((_, e, in_deps)) = cur.as_mut() else {
            continue;
        };
        let Some((k, v)) = key_value(line) else {
            continue;
        };
        if ind == 4 {
            *in_deps = matches!(k, "dependencies" | "optionalDependencies") && v.is_empty();
            match k {
                "name" => e.name = v.to_owned(),
                "version" => e.version = v.to_owned(),
                "dev" => e.dev = v == "true",
                _ => {}
            }
        } else if *in_deps && !e.depends.iter().any(|d| d == k) {
            e.depends.push(k.to_owned());
        }
    }
    flush(&mut cur, &mut out, v5);
    Lock {
        entries: out,
        workspaces: dirs,
    }
}

/// Name and version from a pnpm `packages:` key.
fn pnpm_key(key: &str, v5: bool) -> Option<(String, String)> {
    let k = key.strip_prefix('/').unwrap_or(key);
    // Peer-dependency suffixes: v6+ `(peer@1)`, v5 `_peer@1`.
    let k = k.split('(').next().unwrap_or(k);
    if v5 || !k.get(1..).is_some_and(|r| r.contains('@')) {
        let (name, version) = k.rsplit_once('/')?;
        let version = version.split('_').next().unwrap_or(version);
        if name.is_empty() || !looks_like_version(version) {
            return None;
        }
        return Some((name.to_owned(), version.to_owned()));
    }
    let (name, version) = split_name_version(k)?;
    looks_like_version(version).then(|| (name.to_owned(), version.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nv(v: &[LockEntry]) -> Vec<String> {
        v.iter()
            .map(|e| format!("{}@{}", e.name, e.version))
            .collect()
    }

    #[test]
    fn split() {
        assert_eq!(split_name_version("@a/b@1.0"), Some(("@a/b", "1.0")));
        assert_eq!(split_name_version("b@1.0"), Some(("b", "1.0")));
        assert_eq!(split_name_version("@a/b"), None);
        assert_eq!(split_name_version("@"), None);
        assert_eq!(split_name_version(""), None);
        assert_eq!(
            split_name_range("@a/b@npm:c@^1"),
            Some(("@a/b", "npm:c@^1"))
        );
    }

    #[test]
    fn pnpm_keys() {
        for (k, v5, want) in [
            ("/ms/2.1.3", true, Some(("ms", "2.1.3"))),
            (
                "/@babel/core/7.0.0_supports-color@5.0.0",
                true,
                Some(("@babel/core", "7.0.0")),
            ),
            ("/ms@2.1.3", false, Some(("ms", "2.1.3"))),
            (
                "/@types/node@22.9.0(foo@1.0.0)",
                false,
                Some(("@types/node", "22.9.0")),
            ),
            ("@types/node@22.9.0", false, Some(("@types/node", "22.9.0"))),
            ("/ms/2.1.3", false, Some(("ms", "2.1.3"))),
            ("github.com/a/b/0123abc", false, None),
            ("file:../x", false, None),
            ("", false, None),
        ] {
            let got = pnpm_key(k, v5);
            assert_eq!(
                got.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                want,
                "{k}"
            );
        }
    }

    #[test]
    fn pnpm_v5_and_v6() {
        let v5 = "lockfileVersion: 5.4\n\nspecifiers:\n  ms: 2.1.3\n\npackages:\n\n  /ms/2.1.3:\n    resolution: {integrity: sha512-x}\n    dev: false\n\n  /@babel/core/7.0.0_x@1.0.0:\n    resolution: {integrity: sha512-y}\n    dependencies:\n      ms: 2.1.3\n    dev: true\n\n  registry.example/foo/-/foo-1.0.0.tgz:\n    resolution: {tarball: x}\n    name: foo\n    version: 1.0.0\n";
        let e = parse_pnpm_lock(v5.as_bytes());
        assert_eq!(nv(&e), ["ms@2.1.3", "@babel/core@7.0.0", "foo@1.0.0"]);
        assert!(!e[0].dev && e[1].dev);
        assert_eq!(e[1].depends, ["ms"]);
        let v6 = "lockfileVersion: '6.0'\n\npackages:\n\n  /ms@2.1.3:\n    resolution: {integrity: sha512-x}\n    dev: false\n\n  /@types/node@22.9.0(a@1):\n    resolution: {integrity: sha512-y}\n";
        assert_eq!(
            nv(&parse_pnpm_lock(v6.as_bytes())),
            ["ms@2.1.3", "@types/node@22.9.0"]
        );
    }

    #[test]
    fn yarn_classic_and_berry() {
        let classic = "# yarn lockfile v1\n\n\"@types/node@22.9.0\", \"@types/node@^22\":\n  version \"22.9.0\"\n  dependencies:\n    undici-types \"~6.19.8\"\n\nms@^2.1.3:\n  version \"2.1.3\"\n\nalias@npm:real@^1:\n  version \"1.0.0\"\n\nlocal@file:../x:\n  version \"0.0.1\"\n";
        let e = parse_yarn_lock(classic.as_bytes());
        assert_eq!(nv(&e), ["@types/node@22.9.0", "ms@2.1.3", "real@1.0.0"]);
        assert_eq!(e[0].depends, ["undici-types"]);
        let berry = "__metadata:\n  version: 6\n  cacheKey: 8\n\n\"@types/node@npm:22.9.0\":\n  version: 22.9.0\n  resolution: \"@types/node@npm:22.9.0\"\n  dependencies:\n    undici-types: \"npm:~6.19.8\"\n  languageName: node\n  linkType: hard\n\n\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n\n\"ms@npm:^2.1.3, ms@npm:2.1.3\":\n  version: 2.1.3\n  resolution: \"ms@npm:2.1.3\"\n";
        assert_eq!(yarn_lock(berry.as_bytes()).workspaces, Vec::<String>::new());
        let ws = "\"w@workspace:packages/w\":\n  version: 0.0.0-use.local\n  resolution: \"w@workspace:packages/w\"\n";
        assert_eq!(yarn_lock(ws.as_bytes()).workspaces, ["packages/w"]);
        let e = parse_yarn_lock(berry.as_bytes());
        assert_eq!(nv(&e), ["@types/node@22.9.0", "ms@2.1.3"]);
        assert_eq!(e[0].depends, ["undici-types"]);
    }

    #[test]
    fn package_lock_v1_nested_and_alias() {
        let v1 = br#"{"lockfileVersion":1,"dependencies":{
            "a":{"version":"1.0.0","requires":{"b":"^2"},"dependencies":{"b":{"version":"2.0.0","dev":true}}},
            "x":{"version":"npm:@s/y@3.0.0"},
            "w":{"version":"file:packages/w"},
            "g":{"version":"git+https://example.org/g.git#abc"}}}"#;
        let e = parse_package_lock(v1).unwrap();
        assert_eq!(nv(&e), ["a@1.0.0", "b@2.0.0", "@s/y@3.0.0"]);
        assert!(e[1].dev);
        assert_eq!(e[0].depends, ["b"]);
        assert_eq!(package_lock(v1).unwrap().workspaces, ["packages/w"]);
        assert!(parse_package_lock(b"[]").is_err());
        assert!(parse_package_lock(b"{}").is_err());
        assert!(parse_package_lock(b"{\"packages\":").is_err());
    }

    #[test]
    fn package_lock_v3_paths_links_names() {
        let v3 = br#"{"lockfileVersion":3,"packages":{
            "":{"name":"app","version":"1.0.0"},
            "node_modules/a":{"version":"1.0.0","license":"MIT","dependencies":{"b":"1"}},
            "node_modules/a/node_modules/@s/b":{"version":"2.0.0","devOptional":true},
            "node_modules/alias":{"name":"real","version":"3.0.0"},
            "node_modules/ws":{"resolved":"packages/ws","link":true},
            "packages/ws":{"name":"ws","version":"0.1.0"},
            "node_modules/nov":{}}}"#;
        let e = parse_package_lock(v3).unwrap();
        assert_eq!(nv(&e), ["a@1.0.0", "@s/b@2.0.0", "real@3.0.0", "ws@0.1.0"]);
        assert_eq!(e[0].license.as_deref(), Some("MIT"));
        assert!(e[1].dev);
        assert_eq!(package_lock(v3).unwrap().workspaces, ["packages/ws"]);
    }
}
