//! Node.js packages: installed `package.json` files, with lockfiles as declared evidence.
//!
//! **Installed** packages are the `package.json` files at a package's own position in a module
//! directory: `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`
//! (nested `node_modules` at any depth; pnpm's `node_modules/.pnpm/<name>@<ver>/node_modules/<name>`),
//! and Debian's `usr/share/nodejs`, `usr/lib/nodejs`, `usr/lib/<triplet>/nodejs`. A `package.json`
//! deeper inside a package (`dist/package.json`, test fixtures) is not a package. The views list real
//! files only, never a path through a symlink, so pnpm's symlinked top level and a workspace package
//! linked from `node_modules` are each reported once, at their real path.
//!
//! Any other `package.json` with a name and version is a **project**: a workspace member (matched by a
//! parent project's `workspaces` globs) gets `stella:npm:workspace=true`, anything else is an
//! application root and gets `stella:npm:root=true` (Trivy's node-pkg analyzer reports both too).
//!
//! **Lockfiles** (`package-lock.json` / `npm-shrinkwrap.json` v1–v3, `yarn.lock` classic and berry,
//! `pnpm-lock.yaml` v5/v6/v9; any not inside `node_modules`): an installed package below the
//! lockfile's directory with the same name and version gets `stella:npm:lockfile=<path>`; an entry no
//! installed package matches is reported from the lockfile with `stella:npm:declared-only=true` (and
//! `stella:npm:dev=true` when the lockfile marks it a development dependency).
//!
//! Fields: `license` (string, `{type}` object, or arrays of those) and the legacy `licenses` array;
//! `homepage`; `author` (string or `{name, email}`) as maintainer; `dependencies` and
//! `optionalDependencies` names as depends (never `devDependencies`).

mod lock;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod walkfs;

use super::{diag, read_capped as read};
use std::collections::{BTreeMap, BTreeSet};

pub use lock::{
    parse as parse_lockfile, parse_package_lock, parse_pnpm_lock, parse_yarn_lock, Lock, LockEntry,
    LockKind,
};
use serde_json::Value;

use crate::fs::FsView;
use crate::model::{Inventory, Package, PackageKind};

/// Largest `package.json` read.
pub const MAX_MANIFEST: usize = 16 << 20;
/// Largest lockfile read.
pub const MAX_LOCKFILE: usize = 128 << 20;

/// True for the files this analyzer reads (root-relative paths). Never allocates.
pub fn wants(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    match base {
        "package.json" => match module_rest(path) {
            Some(_) => installed_position(path),
            None => true,
        },
        _ if LockKind::of(base).is_some() => module_rest(path).is_none(),
        _ => false,
    }
}

/// What follows the innermost module directory (`node_modules/` at a component boundary, or a Debian
/// nodejs directory) in `path`, or `None` when `path` is in none.
fn module_rest(path: &str) -> Option<&str> {
    const NM: &str = "node_modules/";
    let mut best: Option<&str> = None;
    let mut search = 0;
    while let Some(i) = path.get(search..).and_then(|s| s.find(NM)) {
        let at = search + i;
        let boundary = at == 0 || path.as_bytes().get(at - 1) == Some(&b'/');
        if boundary {
            best = path.get(at + NM.len()..);
        }
        search = at + NM.len();
    }
    if best.is_some() {
        return best;
    }
    for prefix in ["usr/share/nodejs/", "usr/lib/nodejs/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            return Some(rest);
        }
    }
    // usr/lib/<triplet>/nodejs/
    let rest = path.strip_prefix("usr/lib/")?;
    let (triplet, rest) = rest.split_once('/')?;
    if triplet.is_empty() {
        return None;
    }
    rest.strip_prefix("nodejs/")
}

/// True for `<module dir>/<name>/package.json` and `<module dir>/@scope/<name>/package.json`.
fn installed_position(path: &str) -> bool {
    let Some(rest) = module_rest(path) else {
        return false;
    };
    let Some(dir) = rest.strip_suffix("/package.json") else {
        return false;
    };
    let ok = |s: &str| !s.is_empty() && !s.starts_with('.');
    match dir.split_once('/') {
        None => ok(dir) && !dir.starts_with('@'),
        Some((scope, name)) => {
            scope.len() > 1 && scope.starts_with('@') && ok(name) && !name.contains('/')
        }
    }
}

/// What this analyzer takes from a `package.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// `name` (`@scope/name` or `name`).
    pub name: Option<String>,
    /// `version`.
    pub version: Option<String>,
    /// Licences as stated, deduplicated.
    pub licenses: Vec<String>,
    /// `homepage`.
    pub homepage: Option<String>,
    /// `author` as `Name <email>`.
    pub author: Option<String>,
    /// Names in `dependencies` then `optionalDependencies`.
    pub depends: Vec<String>,
    /// `workspaces` globs (array, or yarn's `{packages: [...]}`).
    pub workspaces: Vec<String>,
}

/// Parses a `package.json`. `Err` when it is not a JSON object or its name is not a valid npm name.
pub fn parse_package_json(data: &[u8]) -> Result<Manifest, String> {
    let v: Value = serde_json::from_slice(data).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let str_of = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let name = str_of("name");
    if let Some(n) = &name {
        if !valid_name(n) {
            return Err(format!("invalid package name {n:?}"));
        }
    }
    let mut licenses = Vec::new();
    for key in ["license", "licenses"] {
        if let Some(l) = obj.get(key) {
            collect_licenses(l, &mut licenses);
        }
    }
    let author = match obj.get("author") {
        Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Some(Value::Object(a)) => {
            let n = a.get("name").and_then(Value::as_str).map(str::trim);
            let e = a.get("email").and_then(Value::as_str).map(str::trim);
            match (n.filter(|s| !s.is_empty()), e.filter(|s| !s.is_empty())) {
                (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
                (Some(n), None) => Some(n.to_owned()),
                (None, Some(e)) => Some(e.to_owned()),
                (None, None) => None,
            }
        }
        _ => None,
    };
    let mut depends: Vec<String> = Vec::new();
    for key in ["dependencies", "optionalDependencies"] {
        if let Some(m) = obj.get(key).and_then(Value::as_object) {
            for k in m.keys() {
                if !depends.contains(k) {
                    depends.push(k.clone());
                }
            }
        }
    }
    let ws = match obj.get("workspaces") {
        Some(Value::Object(o)) => o.get("packages"),
        other => other,
    };
    let workspaces = ws
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .take(64)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Manifest {
        name,
        version: str_of("version"),
        licenses,
        homepage: str_of("homepage"),
        author,
        depends,
        workspaces,
    })
}

fn collect_licenses(v: &Value, out: &mut Vec<String>) {
    let mut push = |s: &str| {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    match v {
        Value::String(s) => push(s),
        Value::Object(o) => {
            if let Some(t) = o.get("type").and_then(Value::as_str) {
                push(t);
            }
        }
        Value::Array(a) => {
            for item in a.iter().take(64) {
                match item {
                    Value::String(s) => push(s),
                    Value::Object(o) => {
                        if let Some(t) = o.get("type").and_then(Value::as_str) {
                            push(t);
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// npm's URL-safe names: `^(@[A-Za-z0-9-._]+/)?[A-Za-z0-9-._]+$` (the check Trivy applies).
fn valid_name(name: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    match name.strip_prefix('@') {
        Some(rest) => rest
            .split_once('/')
            .is_some_and(|(s, n)| part(s) && part(n)),
        None => part(name),
    }
}

/// Splits `@scope/name` into (`Some("@scope")`, `name`).
fn split_scope(full: &str) -> (Option<String>, String) {
    match full.split_once('/') {
        Some((scope, name)) if scope.starts_with('@') => (Some(scope.to_owned()), name.to_owned()),
        _ => (None, full.to_owned()),
    }
}

fn full_name(p: &Package) -> String {
    match &p.namespace {
        Some(ns) => format!("{ns}/{}", p.name),
        None => p.name.clone(),
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// Finds installed packages, projects and lockfiles in `fs` and pushes them to `inv`.
pub fn analyze(fs: &dyn FsView, inv: &mut Inventory) {
    let files = fs.files();
    let mut pkgs: Vec<Package> = Vec::new();
    // (index into pkgs, project dir) for projects; (project dir, workspace globs).
    let mut projects: Vec<(usize, String)> = Vec::new();
    let mut globs: Vec<(String, Vec<String>)> = Vec::new();
    let mut lockfiles: Vec<(&str, LockKind)> = Vec::new();

    for path in &files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if let Some(kind) = LockKind::of(base) {
            if module_rest(path).is_none() {
                lockfiles.push((path, kind));
            }
            continue;
        }
        if base != "package.json" {
            continue;
        }
        let installed = match module_rest(path) {
            Some(_) if installed_position(path) => true,
            Some(_) => continue,
            None => false,
        };
        let Some(data) = read(fs, path, MAX_MANIFEST, inv) else {
            continue;
        };
        let m = match parse_package_json(&data) {
            Ok(m) => m,
            Err(e) => {
                diag(inv, path, &e);
                continue;
            }
        };
        if !installed && !m.workspaces.is_empty() {
            globs.push((parent(path).to_owned(), m.workspaces.clone()));
        }
        let (Some(name), Some(version)) = (m.name, m.version) else {
            if installed {
                diag(inv, path, "package.json has no name or version");
            }
            continue;
        };
        let (namespace, name) = split_scope(&name);
        if !installed {
            projects.push((pkgs.len(), parent(path).to_owned()));
        }
        pkgs.push(Package {
            kind: Some(PackageKind::Npm),
            namespace,
            name,
            version,
            licenses: m.licenses,
            homepage: m.homepage,
            maintainer: m.author,
            depends: m.depends,
            found_in: format!("/{path}"),
            ..Default::default()
        });
    }

    // Lockfiles, read once: their entries, and the member directories they name.
    let mut locks: Vec<(&str, Lock)> = Vec::new();
    let mut member_dirs: BTreeSet<String> = BTreeSet::new();
    for (path, kind) in lockfiles {
        let Some(data) = read(fs, path, MAX_LOCKFILE, inv) else {
            continue;
        };
        match lock::parse(kind, &data) {
            Ok(l) => {
                for w in &l.workspaces {
                    if let Some(d) = join_dir(parent(path), w) {
                        member_dirs.insert(d);
                    }
                }
                locks.push((path, l));
            }
            Err(e) => diag(inv, path, &e),
        }
    }

    for (i, dir) in &projects {
        let member = member_dirs.contains(dir)
            || globs.iter().any(|(root, pats)| {
                root != dir
                    && (root.is_empty() || dir.starts_with(root.as_str()))
                    && pats.iter().any(|p| workspace_match(root, p, dir))
            });
        let key = if member {
            "stella:npm:workspace"
        } else {
            "stella:npm:root"
        };
        if let Some(p) = pkgs.get_mut(*i) {
            p.properties.insert(key.into(), "true".into());
        }
    }

    let mut by_id: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, p) in pkgs.iter().enumerate() {
        if !p.properties.contains_key("stella:npm:root") {
            by_id
                .entry((full_name(p), p.version.clone()))
                .or_default()
                .push(i);
        }
    }
    let mut declared: Vec<Package> = Vec::new();
    for (path, l) in locks {
        let entries = l.entries;
        let abs = format!("/{path}");
        let dir = parent(path);
        let under = if dir.is_empty() {
            "/".to_owned()
        } else {
            format!("/{dir}/")
        };
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        for e in entries {
            let id = (e.name.clone(), e.version.clone());
            if !seen.insert(id.clone()) {
                continue;
            }
            let mut matched = false;
            for &i in by_id.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(p) = pkgs.get_mut(i).filter(|p| p.found_in.starts_with(&under)) {
                    matched = true;
                    p.properties
                        .entry("stella:npm:lockfile".into())
                        .or_insert_with(|| abs.clone());
                }
            }
            if matched || !valid_name(&e.name) {
                continue;
            }
            let (namespace, name) = split_scope(&e.name);
            let mut p = Package {
                kind: Some(PackageKind::Npm),
                namespace,
                name,
                version: e.version,
                licenses: e.license.into_iter().collect(),
                depends: e.depends,
                found_in: abs.clone(),
                ..Default::default()
            };
            p.properties
                .insert("stella:npm:declared-only".into(), "true".into());
            p.properties
                .insert("stella:npm:lockfile".into(), abs.clone());
            if e.dev {
                p.properties.insert("stella:npm:dev".into(), "true".into());
            }
            declared.push(p);
        }
    }
    inv.packages.extend(pkgs);
    inv.packages.extend(declared);
}

/// `dir/rel` with `.` and `..` resolved (clamped at the root), root-relative; `None` when empty.
fn join_dir(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    let base = if rel.starts_with('/') { "" } else { dir };
    for c in base.split('/').chain(rel.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// True when project directory `dir` matches workspace glob `pat` of the project at `root`
/// (`*` within a component, `**` across components; `!` negations are not applied).
fn workspace_match(root: &str, pat: &str, dir: &str) -> bool {
    if pat.starts_with('!') {
        return false;
    }
    let rel = if root.is_empty() {
        Some(dir)
    } else {
        dir.strip_prefix(root).and_then(|r| r.strip_prefix('/'))
    };
    let Some(rel) = rel else {
        return false;
    };
    let pat = pat.trim_start_matches("./").trim_end_matches('/');
    let p: Vec<&str> = pat.split('/').filter(|s| !s.is_empty()).collect();
    let r: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    if p.len() > 32 || r.len() > 256 {
        return false;
    }
    glob_segments(&p, &r)
}

/// Component-wise glob match by dynamic programming (no backtracking blow-up on `**/**/…`).
fn glob_segments(p: &[&str], r: &[&str]) -> bool {
    // ok[j] = pattern prefix p[..i] matches path prefix r[..j], row by row over i.
    let mut ok = vec![false; r.len() + 1];
    if let Some(first) = ok.first_mut() {
        *first = true;
    }
    for pat in p {
        let mut next = vec![false; r.len() + 1];
        if *pat == "**" {
            // `**` matches zero or more components: next[j] = any ok[k] for k <= j.
            let mut any = false;
            for (j, n) in next.iter_mut().enumerate() {
                any |= ok.get(j).copied().unwrap_or(false);
                *n = any;
            }
        } else {
            for (j, seg) in r.iter().enumerate() {
                if ok.get(j).copied().unwrap_or(false) && wildcard(pat, seg) {
                    if let Some(n) = next.get_mut(j + 1) {
                        *n = true;
                    }
                }
            }
        }
        ok = next;
    }
    ok.last().copied().unwrap_or(false)
}

/// `*` matches any run of characters within one component.
fn wildcard(pat: &str, s: &str) -> bool {
    let mut parts = pat.split('*');
    let Some(first) = parts.next() else {
        return pat == s;
    };
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = rest.get(i + m.len()..).unwrap_or(""),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}
