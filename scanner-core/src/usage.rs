//! The usage view: what the image's entrypoint actually runs and loads.
//!
//! EntryTrace ([`crate::entrytrace::trace`]) follows the image config's Entrypoint/Cmd through shell
//! scripts and launchers to the terminal programs; [`crate::lang::native::elf_closure`] adds the shared
//! libraries the dynamic loader would map, in the image's own search order. This module marks what that
//! evidence reaches ([`Package::used_by_entrypoint`], [`NativeFile::used_by_entrypoint`]):
//! - the packages owning the terminal programs, the scripts on the way and the libraries;
//! - for `node SCRIPT`: the npm package holding the script and, through Node's `node_modules` lookup,
//!   its dependencies, transitively;
//! - for `python -m MODULE` / `python SCRIPT`: the distribution whose `RECORD` lists the module or
//!   script, and its `Requires-Dist` closure;
//! - for `java -jar JAR` / `-cp`: the archives named and what is nested in them;
//! - for Go and Rust programs: the modules and crates their build data lists.
//!
//! The inventory always stays complete; [`usage_view`] is the filtered copy.

use std::collections::{BTreeSet, HashMap};

use crate::entrytrace::{self, ImageConfig, Launcher, TraceFs};
use crate::fs::FsView;
use crate::lang::native::{self, ViewLookup};
use crate::model::{Inventory, Package, PackageKind, Usage, UsageStep};
use crate::ownership::owner_id;

struct TraceAdapter<'a>(&'a dyn FsView);

impl TraceFs for TraceAdapter<'_> {
    fn stat(&self, path: &str) -> Option<(String, u32)> {
        let s = self.0.stat(path).filter(|s| s.is_file)?;
        Some((s.real, s.mode))
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let s = self.0.stat(path)?;
        if let Some(script) = s.facts.as_ref().and_then(|f| f.script.as_ref()) {
            return Some(script.to_vec());
        }
        self.0.read(path).ok().flatten().map(|c| c.into_owned())
    }
}

fn abs(p: &str) -> String {
    format!("/{}", p.trim_start_matches('/'))
}

/// Traces `config` in `fs` and marks what the entrypoint uses in `inv` (already analyzed and linked).
pub fn apply(fs: &dyn FsView, config: &ImageConfig, inv: &mut Inventory) {
    let trace = entrytrace::trace(config, &TraceAdapter(fs));
    let mut usage = Usage {
        chain: trace
            .chain
            .iter()
            .map(|s| UsageStep {
                file: s.file.clone(),
                line: s.line,
                command: s.command.clone(),
            })
            .collect(),
        notes: trace.diagnostics.clone(),
        ..Usage::default()
    };
    // Real root-relative paths of every file the entrypoint runs or maps.
    let mut used_files: BTreeSet<String> = BTreeSet::new();
    for step in &trace.chain {
        if step.line > 0 {
            if let Some(s) = fs.stat(&step.file) {
                used_files.insert(s.real);
            }
        }
    }
    let mut roots: Vec<Root> = Vec::new();
    for t in &trace.terminals {
        usage.terminals.push(abs(&t.program));
        used_files.insert(t.program.trim_start_matches('/').to_owned());
        let closure = native::elf_closure(&ViewLookup(fs), &t.program);
        for lib in closure.libraries.iter().chain(closure.interpreter.iter()) {
            used_files.insert(lib.trim_start_matches('/').to_owned());
            usage.libraries.push(abs(lib));
        }
        for (name, by) in &closure.unresolved {
            usage
                .unresolved
                .push(format!("{name} (needed by {})", abs(by)));
        }
        match &t.launcher {
            Launcher::Node { script } => roots.push(Root::Node(real(fs, script))),
            Launcher::Python { module, script } => {
                if let Some(m) = module {
                    roots.push(Root::PyModule(m.clone()));
                }
                if let Some(s) = script {
                    roots.push(Root::File(real(fs, s)));
                }
            }
            Launcher::Java { jar, classpath, .. } => {
                for j in jar.iter().chain(classpath.iter()) {
                    roots.push(Root::Archive(real(fs, j)));
                }
            }
            _ => {}
        }
        roots.push(Root::Binary(t.program.trim_start_matches('/').to_owned()));
    }
    usage.libraries.sort();
    usage.libraries.dedup();
    usage.unresolved.sort();
    usage.unresolved.dedup();
    usage.terminals.sort();
    usage.terminals.dedup();

    let mut marked: BTreeSet<usize> = BTreeSet::new();
    let mut owners: BTreeSet<String> = BTreeSet::new();
    for n in &mut inv.natives {
        if used_files.contains(n.path.trim_start_matches('/')) {
            n.used_by_entrypoint = true;
            owners.extend(n.owner.clone());
        }
    }
    let by_id: HashMap<String, Vec<usize>> =
        inv.packages
            .iter()
            .enumerate()
            .fold(HashMap::new(), |mut m, (i, p)| {
                m.entry(owner_id(p)).or_default().push(i);
                m
            });
    // Files listed by a package (OS or RECORD) and used: their owner.
    for (i, p) in inv.packages.iter().enumerate() {
        if p.files
            .iter()
            .any(|f| used_files.contains(&real(fs, &f.path)))
            || used_files.contains(&real(fs, &p.found_in))
        {
            marked.insert(i);
        }
    }
    for id in &owners {
        marked.extend(by_id.get(id).into_iter().flatten());
    }
    for root in &roots {
        match root {
            Root::Node(script) => mark_node(fs, inv, script, &mut marked),
            Root::PyModule(m) => mark_python_module(inv, m, &mut marked),
            Root::File(f) => {
                for (i, p) in inv.packages.iter().enumerate() {
                    if p.files.iter().any(|x| real(fs, &x.path) == *f) {
                        marked.insert(i);
                    }
                }
            }
            Root::Archive(a) => {
                let outer = abs(a);
                for (i, p) in inv.packages.iter().enumerate() {
                    if p.found_in == outer || p.found_in.starts_with(&format!("{outer}!/")) {
                        marked.insert(i);
                    }
                }
            }
            Root::Binary(b) => {
                let b = abs(b);
                for (i, p) in inv.packages.iter().enumerate() {
                    if matches!(p.kind, Some(PackageKind::Golang | PackageKind::Cargo))
                        && p.found_in == b
                    {
                        marked.insert(i);
                    }
                }
            }
        }
    }
    // Python dependency closure of what is marked.
    close_python(inv, &mut marked);
    // A language package owned by an OS package brings its owner.
    let extra: Vec<usize> = marked
        .iter()
        .filter_map(|&i| inv.packages.get(i)?.owner.as_ref())
        .filter_map(|o| by_id.get(o))
        .flatten()
        .copied()
        .collect();
    marked.extend(extra);
    for &i in &marked {
        if let Some(p) = inv.packages.get_mut(i) {
            p.used_by_entrypoint = true;
        }
    }
    inv.usage = Some(usage);
}

enum Root {
    Node(String),
    PyModule(String),
    File(String),
    Archive(String),
    Binary(String),
}

/// The real root-relative path of a file (or the path itself when nothing is there).
fn real(fs: &dyn FsView, path: &str) -> String {
    fs.stat(path)
        .map_or_else(|| path.trim_start_matches('/').to_owned(), |s| s.real)
}

/// Marks the npm package holding `script` (the nearest `package.json` above it) and, following Node's
/// `node_modules` lookup from each package's directory, its dependencies, transitively.
fn mark_node(fs: &dyn FsView, inv: &Inventory, script: &str, marked: &mut BTreeSet<usize>) {
    let npm: HashMap<String, usize> = inv
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == Some(PackageKind::Npm) && !p.found_in.contains("!/"))
        .map(|(i, p)| (real(fs, &p.found_in), i))
        .collect();
    let mut dir = script.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    let root = loop {
        let candidate = join(&dir, "package.json");
        if let Some(&i) = npm.get(&candidate) {
            break Some(i);
        }
        match dir.rsplit_once('/') {
            Some((up, _)) => dir = up.to_owned(),
            None if !dir.is_empty() => dir.clear(),
            None => break None,
        }
    };
    let Some(root) = root else { return };
    let mut queue = vec![root];
    while let Some(i) = queue.pop() {
        if !marked.insert(i) {
            continue;
        }
        let Some(p) = inv.packages.get(i) else {
            continue;
        };
        let from = real(fs, &p.found_in);
        let from_dir = from.rsplit_once('/').map_or("", |(d, _)| d);
        for dep in &p.depends {
            if let Some(j) = node_resolve(&npm, from_dir, dep) {
                queue.push(j);
            }
        }
    }
}

/// Node's lookup: `DIR/node_modules/NAME/package.json`, then each parent directory's.
fn node_resolve(npm: &HashMap<String, usize>, from_dir: &str, name: &str) -> Option<usize> {
    let mut dir = from_dir.to_owned();
    loop {
        let candidate = join(&join(&join(&dir, "node_modules"), name), "package.json");
        if let Some(&i) = npm.get(&candidate) {
            return Some(i);
        }
        match dir.rsplit_once('/') {
            Some((up, _)) => dir = up.to_owned(),
            None if !dir.is_empty() => dir.clear(),
            None => return None,
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// Marks the distribution whose RECORD lists `module` (`a.b` → `…/a/b.py`, `…/a/b/__init__.py`,
/// `…/a/b/__main__.py`, or a package `a` owning `…/a/__init__.py`).
fn mark_python_module(inv: &Inventory, module: &str, marked: &mut BTreeSet<usize>) {
    let rel = module.replace('.', "/");
    let top = rel.split('/').next().unwrap_or(&rel).to_owned();
    let wanted = [
        format!("/{rel}.py"),
        format!("/{rel}/__init__.py"),
        format!("/{rel}/__main__.py"),
        format!("/{top}/__init__.py"),
    ];
    for (i, p) in inv.packages.iter().enumerate() {
        if p.kind == Some(PackageKind::Pypi)
            && p.files
                .iter()
                .any(|f| wanted.iter().any(|w| f.path.ends_with(w.as_str())))
        {
            marked.insert(i);
        }
    }
}

/// Adds the `Requires-Dist` closure of every marked Python distribution.
fn close_python(inv: &Inventory, marked: &mut BTreeSet<usize>) {
    let by_name: HashMap<&str, Vec<usize>> = inv
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == Some(PackageKind::Pypi))
        .fold(HashMap::new(), |mut m, (i, p)| {
            m.entry(p.name.as_str()).or_default().push(i);
            m
        });
    let mut queue: Vec<usize> = marked
        .iter()
        .copied()
        .filter(|&i| {
            inv.packages
                .get(i)
                .is_some_and(|p| p.kind == Some(PackageKind::Pypi))
        })
        .collect();
    let mut seen: BTreeSet<usize> = queue.iter().copied().collect();
    while let Some(i) = queue.pop() {
        marked.insert(i);
        let Some(p) = inv.packages.get(i) else {
            continue;
        };
        for dep in &p.depends {
            let name = crate::sbom::purl::pep503(dep);
            for &j in by_name.get(name.as_str()).into_iter().flatten() {
                if seen.insert(j) {
                    queue.push(j);
                }
            }
        }
    }
}

/// Which view of the inventory to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Everything found (each component flagged `usedByEntrypoint` when usage was traced).
    #[default]
    Inventory,
    /// Only what the entrypoint uses: its programs, their libraries, and the packages they load.
    Usage,
}

/// The usage view of a traced inventory: used packages and native files only. The distro, the
/// evidence ([`Inventory::usage`]) and the diagnostics are kept.
pub fn usage_view(inv: &Inventory) -> Inventory {
    Inventory {
        packages: inv
            .packages
            .iter()
            .filter(|p| p.used_by_entrypoint)
            .cloned()
            .collect::<Vec<Package>>(),
        natives: inv
            .natives
            .iter()
            .filter(|n| n.used_by_entrypoint)
            .cloned()
            .collect(),
        view: crate::model::InventoryView::Usage,
        ..inv.clone()
    }
}
