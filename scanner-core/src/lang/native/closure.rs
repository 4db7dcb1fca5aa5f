//! The ELF dependency closure with glibc `ld.so`'s search order (`elf/dl-load.c`, `_dl_map_object`),
//! evaluated against an image through [`LibLookup`].
//!
//! For each DT_NEEDED name without a `/`, in this order:
//! 1. DT_RPATH of the object that needs it, then of the object that loaded that one, and so on up to
//!    the executable — all of it only when the needing object has no DT_RUNPATH (an object with both
//!    has its DT_RPATH ignored everywhere, as glibc does in `get-dynamic-info.h`);
//! 2. `LD_LIBRARY_PATH` — not part of an image, skipped;
//! 3. DT_RUNPATH of the needing object only (not inherited);
//! 4. the ld.so.cache: here the directories of `/etc/ld.so.conf` and its includes, which is what
//!    `ldconfig` builds the cache from;
//! 5. the default directories: `/lib/<multiarch>`, `/usr/lib/<multiarch>`, `/lib`, `/usr/lib`, and
//!    `/lib64`, `/usr/lib64` for 64-bit objects.
//!
//! `$ORIGIN` is the directory of the object as it was found (glibc's `l_origin`: the executable's real
//! path, a library's search path); `$LIB` is `lib/<multiarch>` when the image has that directory (Debian
//! and Ubuntu build glibc so), else `lib64`/`lib`; `$PLATFORM` is the machine (`i686` for i386). A
//! candidate of another class or machine is skipped and the search goes on. A name already loaded
//! (by DT_NEEDED name or SONAME) is not loaded again; nor is the same real file twice.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use super::{elf::multiarch, Format, NativeInfo};
use crate::fs::FsView;

/// Most objects in one closure.
pub const MAX_OBJECTS: usize = 4096;
/// Most [`LibLookup::lookup`] calls in one closure (each candidate path is asked once).
pub const MAX_LOOKUPS: usize = 1 << 16;
/// Most `ld.so.conf` files read (the main one and its includes), and their nesting depth.
pub const MAX_CONF_FILES: usize = 256;
/// Deepest `include` nesting followed.
pub const MAX_CONF_DEPTH: usize = 8;
/// Most directories taken from `ld.so.conf`.
pub const MAX_CONF_DIRS: usize = 1024;

/// The image as the closure sees it. Paths are root-relative without a leading `/`
/// (`usr/lib/x86_64-linux-gnu/libc.so.6`).
pub trait LibLookup {
    /// The [`NativeInfo`] of the regular file at root-relative `path` after resolving symlinks inside
    /// the image, with its real (resolved, root-relative) path; `None` if absent or not native.
    fn lookup(&self, path: &str) -> Option<(String, NativeInfo)>;
    /// The bytes of a small regular file (the `ld.so.conf` files), following symlinks; `None` if
    /// absent.
    fn read_small(&self, path: &str) -> Option<Vec<u8>>;
    /// Names of the entries directly inside directory `dir` (root-relative, `""` is the root),
    /// following symlinks; empty when absent.
    fn list(&self, dir: &str) -> Vec<String>;
}

/// Largest `ld.so.conf` file [`ViewLookup::read_small`] returns.
pub const MAX_CONF_BYTES: usize = 1 << 20;

/// A [`LibLookup`] over any [`FsView`] whose [`FsView::stat`] carries the content extractors' facts
/// (image views and [`crate::dirfs::DirFs`]): a file is found when its facts hold a [`NativeInfo`].
/// The `ld.so.conf` files are read through [`FsView::read`], so an image view must keep
/// `etc/ld.so.conf` and `etc/ld.so.conf.d/*`.
#[derive(Debug)]
pub struct ViewLookup<'a, V: ?Sized>(pub &'a V);

impl<V: FsView + ?Sized> LibLookup for ViewLookup<'_, V> {
    fn lookup(&self, path: &str) -> Option<(String, NativeInfo)> {
        let st = self.0.stat(path)?;
        if !st.is_file {
            return None;
        }
        let info = st.facts?.native.clone()?;
        Some((st.real, info))
    }
    fn read_small(&self, path: &str) -> Option<Vec<u8>> {
        let bytes = self.0.read(path).ok()??;
        (bytes.len() <= MAX_CONF_BYTES).then(|| bytes.into_owned())
    }
    fn list(&self, dir: &str) -> Vec<String> {
        self.0.list(dir)
    }
}

/// The result of [`elf_closure`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Closure {
    /// Real root-relative paths of every object loaded besides the start (the interpreter included),
    /// sorted and deduplicated.
    pub libraries: Vec<String>,
    /// Each DT_NEEDED name (or PT_INTERP path) that no search found, with the real path of the object
    /// that needed it, in the order met.
    pub unresolved: Vec<(String, String)>,
    /// Real root-relative path of the program interpreter (PT_INTERP), when it was found.
    pub interpreter: Option<String>,
}

/// One loaded object.
#[derive(Debug)]
struct Obj {
    real: String,
    /// `$ORIGIN`: root-relative directory.
    origin: String,
    info: NativeInfo,
    /// The object that caused this one to load (glibc's `l_loader`).
    loader: Option<usize>,
}

/// Machine-dependent expansion values of the start object.
#[derive(Debug)]
struct Target {
    class_bits: u8,
    machine: String,
    lib: String,
    platform: String,
    defaults: Vec<String>,
}

impl Target {
    fn new(lookup: &dyn LibLookup, info: &NativeInfo) -> Self {
        let ma = multiarch(&info.machine);
        let mut defaults = Vec::new();
        if let Some(ma) = ma {
            defaults.push(format!("lib/{ma}"));
            defaults.push(format!("usr/lib/{ma}"));
        }
        defaults.push("lib".into());
        defaults.push("usr/lib".into());
        if info.class_bits == 64 {
            defaults.push("lib64".into());
            defaults.push("usr/lib64".into());
        }
        let lib = match ma {
            Some(ma)
                if !lookup.list(&format!("lib/{ma}")).is_empty()
                    || !lookup.list(&format!("usr/lib/{ma}")).is_empty() =>
            {
                format!("lib/{ma}")
            }
            _ if info.class_bits == 64 => "lib64".into(),
            _ => "lib".into(),
        };
        let platform = match info.machine.as_str() {
            "i386" => "i686".to_owned(),
            m => m.to_owned(),
        };
        Target {
            class_bits: info.class_bits,
            machine: info.machine.clone(),
            lib,
            platform,
            defaults,
        }
    }

    fn compatible(&self, info: &NativeInfo) -> bool {
        info.format == Format::Elf
            && info.class_bits == self.class_bits
            && info.machine == self.machine
    }

    /// Expands the dynamic string tokens of one rpath/runpath entry and makes it root-relative;
    /// `None` for a relative entry (relative to the process's working directory, unknown here).
    fn expand(&self, entry: &str, origin: &str) -> Option<String> {
        let mut out = String::with_capacity(entry.len() + origin.len());
        let mut rest = entry;
        while let Some(i) = rest.find('$') {
            out.push_str(rest.get(..i)?);
            let after = rest.get(i + 1..)?;
            let (name, len) = if let Some(b) = after.strip_prefix('{') {
                let end = b.find('}')?;
                (b.get(..end)?, end + 2)
            } else {
                let end = after
                    .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .unwrap_or(after.len());
                (after.get(..end)?, end)
            };
            match name {
                "ORIGIN" => {
                    out.push('/');
                    out.push_str(origin);
                }
                "LIB" => {
                    out.push('/');
                    out.push_str(&self.lib);
                }
                "PLATFORM" => out.push_str(&self.platform),
                // glibc copies an unknown token as it stands.
                _ => out.push_str(rest.get(i..i + 1 + len)?),
            }
            rest = after.get(len..)?;
        }
        out.push_str(rest);
        if !out.starts_with('/') {
            return None;
        }
        Some(normalize(&out))
    }
}

/// Root-relative form of an absolute or root-relative path: `.` and empty components dropped, `..`
/// applied lexically and clamped at the root.
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn parent(path: &str) -> String {
    path.rsplit_once('/')
        .map_or(String::new(), |(d, _)| d.to_owned())
}

/// Memoised, budgeted lookups.
struct Finder<'a> {
    lookup: &'a dyn LibLookup,
    cache: HashMap<String, Option<(String, NativeInfo)>>,
    calls: usize,
}

impl Finder<'_> {
    fn find(&mut self, path: &str) -> Option<(String, NativeInfo)> {
        if let Some(hit) = self.cache.get(path) {
            return hit.clone();
        }
        if self.calls >= MAX_LOOKUPS {
            return None;
        }
        self.calls += 1;
        let found = self.lookup.lookup(path);
        self.cache.insert(path.to_owned(), found.clone());
        found
    }
}

/// The dependency closure of the ELF object at root-relative `start` (usually an executable): every
/// library the dynamic loader would map, found with the image's own search order (see the module
/// documentation), breadth-first like `ld.so`, bounded by [`MAX_OBJECTS`] and [`MAX_LOOKUPS`].
/// An empty closure when `start` is absent or not ELF.
pub fn elf_closure(lookup: &dyn LibLookup, start: &str) -> Closure {
    let mut closure = Closure::default();
    let mut finder = Finder {
        lookup,
        cache: HashMap::new(),
        calls: 0,
    };
    let start = normalize(start);
    let Some((real, info)) = finder.find(&start) else {
        return closure;
    };
    if info.format != Format::Elf {
        return closure;
    }
    let target = Target::new(lookup, &info);
    let conf_dirs: Vec<String> = ld_so_conf_dirs(lookup)
        .iter()
        .map(|d| normalize(d))
        .collect();

    let mut objs: Vec<Obj> = Vec::new();
    // DT_NEEDED names and SONAMEs of loaded objects, and their real paths.
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut by_real: HashMap<String, usize> = HashMap::new();
    let mut unresolved_seen: HashSet<(String, String)> = HashSet::new();
    let interp = info.interpreter.clone();
    by_real.insert(real.clone(), 0);
    if let Some(s) = &info.soname {
        by_name.insert(s.clone(), 0);
    }
    objs.push(Obj {
        origin: parent(&real),
        real: real.clone(),
        info,
        loader: None,
    });

    if let Some(interp) = interp {
        match finder.find(&normalize(&interp)) {
            Some((ireal, iinfo)) if target.compatible(&iinfo) => {
                let idx = match by_real.get(&ireal) {
                    Some(i) => *i,
                    None => {
                        let idx = objs.len();
                        by_real.insert(ireal.clone(), idx);
                        if let Some(s) = &iinfo.soname {
                            by_name.insert(s.clone(), idx);
                        }
                        objs.push(Obj {
                            origin: parent(&normalize(&interp)),
                            real: ireal.clone(),
                            info: iinfo,
                            loader: None,
                        });
                        idx
                    }
                };
                by_name.insert(interp.clone(), idx);
                closure.interpreter = Some(ireal);
            }
            _ => {
                closure.unresolved.push((interp, real.clone()));
            }
        }
    }

    let mut queue: VecDeque<usize> = (0..objs.len()).collect();
    while let Some(cur) = queue.pop_front() {
        let Some(obj) = objs.get(cur) else { continue };
        let needed = obj.info.needed.clone();
        // The same directories for every name this object needs.
        let dirs = search_dirs(&objs, cur, &target, &conf_dirs);
        for name in needed {
            if by_name.contains_key(&name) {
                continue;
            }
            let found = if name.contains('/') {
                // A path: taken as it stands after `$ORIGIN` & co. (a relative one is relative to
                // the working directory; the image root is the best guess).
                let origin = objs.get(cur).map(|o| o.origin.as_str()).unwrap_or_default();
                let p = target
                    .expand(&name, origin)
                    .unwrap_or_else(|| normalize(&name));
                finder
                    .find(&p)
                    .filter(|(_, i)| target.compatible(i))
                    .map(|f| (f, parent(&p)))
            } else {
                dirs.iter().find_map(|d| {
                    let p = join(d, &name);
                    finder
                        .find(&p)
                        .filter(|(_, i)| target.compatible(i))
                        .map(|f| (f, d.clone()))
                })
            };
            match found {
                Some(((lreal, linfo), origin)) => {
                    let idx = match by_real.get(&lreal) {
                        Some(i) => *i,
                        None => {
                            if objs.len() >= MAX_OBJECTS {
                                break;
                            }
                            let idx = objs.len();
                            by_real.insert(lreal.clone(), idx);
                            if let Some(s) = &linfo.soname {
                                by_name.entry(s.clone()).or_insert(idx);
                            }
                            objs.push(Obj {
                                real: lreal,
                                origin,
                                info: linfo,
                                loader: Some(cur),
                            });
                            queue.push_back(idx);
                            idx
                        }
                    };
                    by_name.insert(name, idx);
                }
                None => {
                    let by = objs.get(cur).map(|o| o.real.clone()).unwrap_or_default();
                    if unresolved_seen.insert((name.clone(), by.clone())) {
                        closure.unresolved.push((name, by));
                    }
                }
            }
        }
    }
    let libs: BTreeSet<String> = objs.iter().skip(1).map(|o| o.real.clone()).collect();
    closure.libraries = libs.into_iter().collect();
    closure
}

/// The directories searched for a DT_NEEDED name of object `cur`, in order, deduplicated.
fn search_dirs(objs: &[Obj], cur: usize, target: &Target, conf_dirs: &[String]) -> Vec<String> {
    let mut dirs: Vec<String> = Vec::new();
    let add = |d: String, dirs: &mut Vec<String>| {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    };
    let Some(obj) = objs.get(cur) else {
        return dirs;
    };
    if obj.info.runpath.is_empty() {
        // The loader chain up to the executable (object 0, whose chain always ends there, except for
        // the interpreter, which has no loader: glibc then tries the executable's DT_RPATH last).
        let mut at = Some(cur);
        let mut did_main = false;
        let mut hops = 0;
        while let Some(i) = at {
            let Some(o) = objs.get(i) else { break };
            if o.info.runpath.is_empty() {
                for r in &o.info.rpath {
                    if let Some(d) = target.expand(r, &o.origin) {
                        add(d, &mut dirs);
                    }
                }
            }
            did_main |= i == 0;
            at = o.loader;
            hops += 1;
            if hops > MAX_OBJECTS {
                break;
            }
        }
        if !did_main {
            if let Some(main) = objs.first() {
                if main.info.runpath.is_empty() {
                    for r in &main.info.rpath {
                        if let Some(d) = target.expand(r, &main.origin) {
                            add(d, &mut dirs);
                        }
                    }
                }
            }
        }
    }
    for r in &obj.info.runpath {
        if let Some(d) = target.expand(r, &obj.origin) {
            add(d, &mut dirs);
        }
    }
    for d in conf_dirs {
        add(d.clone(), &mut dirs);
    }
    for d in &target.defaults {
        add(d.clone(), &mut dirs);
    }
    dirs
}

/// The library directories `ldconfig` would cache: those listed in `/etc/ld.so.conf` and, in place,
/// in the files its `include` lines name (absolute, or relative to the including file's directory;
/// `*` and `?` are expanded in the last component, matches in name order). `hwcap` lines and
/// comments are skipped. Absolute paths as written (`/usr/local/lib`), normalised, deduplicated, in
/// order; bounded by [`MAX_CONF_FILES`], [`MAX_CONF_DEPTH`] and [`MAX_CONF_DIRS`].
pub fn ld_so_conf_dirs(lookup: &dyn LibLookup) -> Vec<String> {
    let mut out = Vec::new();
    let mut files = 0;
    let mut stack = Vec::new();
    conf_file(lookup, "etc/ld.so.conf", &mut stack, &mut files, &mut out);
    out
}

/// Reads one conf file; `stack` holds the files being read (an include loop is skipped).
fn conf_file(
    lookup: &dyn LibLookup,
    file: &str,
    stack: &mut Vec<String>,
    files: &mut usize,
    out: &mut Vec<String>,
) {
    if stack.len() > MAX_CONF_DEPTH || *files >= MAX_CONF_FILES || stack.iter().any(|f| f == file) {
        return;
    }
    *files += 1;
    let Some(bytes) = lookup.read_small(file) else {
        return;
    };
    stack.push(file.to_owned());
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        match words.next() {
            Some("include") => {
                for pattern in words {
                    let path = if pattern.starts_with('/') {
                        normalize(pattern)
                    } else {
                        normalize(&join(&parent(file), pattern))
                    };
                    for f in glob(lookup, &path) {
                        conf_file(lookup, &f, stack, files, out);
                    }
                }
            }
            Some("hwcap") => {}
            _ => {
                // Old ldconfig accepted `dir=TYPE`; the type is ignored.
                let dir = line.split('=').next().unwrap_or_default().trim();
                if !dir.starts_with('/') {
                    continue;
                }
                let dir = format!("/{}", normalize(dir));
                if out.len() < MAX_CONF_DIRS && !out.contains(&dir) {
                    out.push(dir);
                }
            }
        }
    }
    stack.pop();
}

/// Root-relative files matching `path`, whose last component may hold `*` and `?`.
fn glob(lookup: &dyn LibLookup, path: &str) -> Vec<String> {
    let (dir, pat) = path.rsplit_once('/').unwrap_or(("", path));
    if !pat.contains(['*', '?']) {
        return vec![path.to_owned()];
    }
    let mut names: Vec<String> = lookup
        .list(dir)
        .into_iter()
        .filter(|n| !n.starts_with('.') || pat.starts_with('.'))
        .filter(|n| wildcard(pat.as_bytes(), n.as_bytes()))
        .map(|n| join(dir, &n))
        .collect();
    names.sort();
    names.truncate(MAX_CONF_FILES);
    names
}

/// `*` and `?` matching, iterative (no exponential backtracking).
pub(crate) fn wildcard(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p, i));
                p += 1;
            }
            Some(c) if *c == b'?' || Some(c) == s.get(i) => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..).unwrap_or_default().iter().all(|c| *c == b'*')
}
