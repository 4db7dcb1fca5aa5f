//! Go modules from a Go binary's build information (`\xff Go buildinf:` blob).
//!
//! The Go linker leaves a 32-byte header in the data segment (its own section, `.go.buildinfo` in ELF,
//! `__DATA,__go_buildinfo` in Mach-O, somewhere near the start of `.data` in PE): the magic (14 bytes),
//! the pointer size, and a flags byte (bit 0: big endian, bit 1: strings inline). Go ≥ 1.18 writes the
//! toolchain version and the module information right after the header as varint-prefixed strings; older
//! linkers wrote two pointers to Go string headers instead, which we follow through the program's
//! virtual-address map (ELF `PT_LOAD`, PE sections, Mach-O segments) for 32/64-bit and both endiannesses.
//! The module information is the text `go version -m` prints (`path`, `mod`, `dep`, `=>`, `build`), as
//! Go's `debug/buildinfo` and `runtime/debug.ParseBuildInfo` read it.
//!
//! Stripped binaries (`-ldflags=-s -w`) keep the blob: only symbols and DWARF go. What this module does
//! *not* do: read symbol tables, guess a main-module version from `-ldflags -X` (a `(devel)` main module
//! has no version here), or read source `go.mod` files.

use std::collections::BTreeMap;

use goblin::Object;

use crate::model::{Package, PackageKind};

/// The 14-byte magic that starts the build-info header.
const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Header size; the blob is 16-byte aligned.
const HEADER: usize = 32;
const ALIGN: usize = 16;
/// How much of the data segment Go's reader searches for the header.
const DATA_WINDOW: u64 = 64 * 1024;
/// Longest version or module-info string we accept.
const MAX_STRING: u64 = 16 * 1024 * 1024;
/// Most `dep` lines we keep.
const MAX_DEPS: usize = 100_000;
/// Go's module-info framing sentinels are 16 bytes each (cmd/go/internal/modload infoStart/infoEnd).
const SENTINEL: usize = 16;
/// Most header candidates tried in one file.
const MAX_CANDIDATES: usize = 64;

/// Build information read from a Go binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// Toolchain version as stamped, e.g. `go1.19.8` (may carry ` X:…` experiments).
    pub go_version: String,
    /// The main package's import path (`path` line), e.g. `example.com/hello/cmd/hello`.
    pub path: String,
    /// The main module (`mod` line); `None` for binaries built outside module mode.
    pub main: Option<Module>,
    /// Dependency modules (`dep` lines), in the binary's order.
    pub deps: Vec<Module>,
    /// Build settings (`build` lines) as key/value pairs, in order.
    pub settings: Vec<(String, String)>,
}

/// One module line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    /// Module path (or, for a replacement, a module path or a local directory).
    pub path: String,
    /// Version as stamped; `(devel)` for a main module built from a checkout, empty for a local
    /// directory replacement.
    pub version: String,
    /// The `h1:` go.sum hash, when stamped.
    pub sum: Option<String>,
    /// The `=>` replacement, when there is one.
    pub replace: Option<Box<Module>>,
}

/// Why a binary's Go build information could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The header was found but the data after it is cut short.
    #[error("Go build info at file offset {offset:#x} is truncated")]
    Truncated {
        /// File offset of the header.
        offset: usize,
    },
    /// A pointer in an old-style (pre-1.18) header does not map into the file.
    #[error("Go build info: {what} at address {addr:#x} is not in the file")]
    BadPointer {
        /// Which string was being read.
        what: &'static str,
        /// The virtual address.
        addr: u64,
    },
    /// The header's pointer size is neither 4 nor 8.
    #[error("Go build info: pointer size {0} is not 4 or 8")]
    PointerSize(u8),
    /// The blob holds no toolchain version.
    #[error("Go build info has no Go version")]
    NoVersion,
    /// A module-info line is malformed (Go's own reader rejects the whole blob too).
    #[error("Go module info line {line}: {reason}")]
    ModInfo {
        /// 1-based line number inside the module information.
        line: usize,
        /// What was wrong.
        reason: String,
    },
}

/// A loaded region: virtual address range backed by file bytes.
#[derive(Debug, Clone, Copy)]
struct Region {
    vaddr: u64,
    size: u64,
    offset: u64,
}

/// The virtual-address view of an executable: loaded regions and where the data segment starts.
#[derive(Debug, Default)]
struct AddrMap {
    regions: Vec<Region>,
    data_start: Option<u64>,
}

impl AddrMap {
    fn of(obj: &Object<'_>) -> AddrMap {
        match obj {
            Object::Elf(elf) => elf_map(elf),
            Object::PE(pe) => pe_map(pe),
            Object::Mach(goblin::mach::Mach::Binary(m)) => macho_map(m),
            _ => AddrMap::default(),
        }
    }

    /// Up to `size` bytes at virtual address `addr`, cut at the end of the region holding it.
    fn read<'b>(&self, bytes: &'b [u8], addr: u64, size: u64) -> Option<&'b [u8]> {
        let r = self
            .regions
            .iter()
            .find(|r| r.size > 0 && r.vaddr <= addr && addr - r.vaddr < r.size)?;
        let within = addr - r.vaddr;
        let n = (r.size - within).min(size);
        let start = usize::try_from(r.offset.checked_add(within)?).ok()?;
        let end = start.checked_add(usize::try_from(n).ok()?)?;
        let end = end.min(bytes.len());
        bytes.get(start..end)
    }

    /// File offset of virtual address `addr`.
    fn file_offset(&self, addr: u64) -> Option<usize> {
        let r = self
            .regions
            .iter()
            .find(|r| r.size > 0 && r.vaddr <= addr && addr - r.vaddr < r.size)?;
        usize::try_from(r.offset.checked_add(addr - r.vaddr)?).ok()
    }
}

fn elf_map(elf: &goblin::elf::Elf<'_>) -> AddrMap {
    use goblin::elf::program_header::{PF_W, PF_X, PT_LOAD};
    let regions = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .map(|p| Region {
            vaddr: p.p_vaddr,
            size: p.p_filesz,
            offset: p.p_offset,
        })
        .collect();
    let named = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".go.buildinfo"))
        .map(|s| s.sh_addr);
    let data_start = named.or_else(|| {
        elf.program_headers
            .iter()
            .find(|p| p.p_type == PT_LOAD && p.p_flags & (PF_X | PF_W) == PF_W)
            .map(|p| p.p_vaddr)
    });
    AddrMap {
        regions,
        data_start,
    }
}

fn pe_map(pe: &goblin::pe::PE<'_>) -> AddrMap {
    const INITIALIZED_DATA: u32 = 0x0000_0040;
    const MEM_READ: u32 = 0x4000_0000;
    const MEM_WRITE: u32 = 0x8000_0000;
    const ALIGN_32BYTES: u32 = 0x0060_0000;
    let base = pe.image_base;
    let regions = pe
        .sections
        .iter()
        .map(|s| Region {
            vaddr: base.wrapping_add(u64::from(s.virtual_address)),
            size: u64::from(s.size_of_raw_data),
            offset: u64::from(s.pointer_to_raw_data),
        })
        .collect();
    let data_start = pe
        .sections
        .iter()
        .find(|s| {
            s.virtual_address != 0
                && s.size_of_raw_data != 0
                && s.characteristics & !ALIGN_32BYTES == INITIALIZED_DATA | MEM_READ | MEM_WRITE
        })
        .map(|s| base.wrapping_add(u64::from(s.virtual_address)));
    AddrMap {
        regions,
        data_start,
    }
}

fn macho_map(m: &goblin::mach::MachO<'_>) -> AddrMap {
    let mut regions = Vec::new();
    let mut named = None;
    let mut first_rw = None;
    for seg in m.segments.iter() {
        if seg.name().ok() == Some("__PAGEZERO") {
            continue;
        }
        regions.push(Region {
            vaddr: seg.vmaddr,
            size: seg.filesize,
            offset: seg.fileoff,
        });
        if first_rw.is_none()
            && seg.vmaddr != 0
            && seg.filesize != 0
            && seg.initprot == 3
            && seg.maxprot == 3
        {
            first_rw = Some(seg.vmaddr);
        }
        if named.is_none() {
            if let Ok(sections) = seg.sections() {
                named = sections
                    .iter()
                    .find(|(s, _)| s.name().ok() == Some("__go_buildinfo"))
                    .map(|(s, _)| s.addr);
            }
        }
    }
    AddrMap {
        regions,
        data_start: named.or(first_rw),
    }
}

/// Reads the Go build information of an executable.
///
/// `Ok(None)` when the file is not a Go binary (no header found); `Err` when a header is there but what
/// follows is unusable. `obj` must be `bytes` parsed.
pub fn buildinfo(obj: &Object<'_>, bytes: &[u8]) -> Result<Option<BuildInfo>, Error> {
    let map = AddrMap::of(obj);
    let mut first_err = None;
    // A stray copy of the magic (a Go program that itself reads build info has the string in its
    // read-only data) must not hide the real header: try each candidate until one decodes.
    for offset in candidates(&map, bytes).take(MAX_CANDIDATES) {
        match decode(&map, bytes, offset) {
            Ok(info) => return Ok(Some(info)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(None), Err)
}

fn decode(map: &AddrMap, bytes: &[u8], offset: usize) -> Result<BuildInfo, Error> {
    let (version, modinfo) = read_blob(map, bytes, offset)?;
    if version.is_empty() {
        return Err(Error::NoVersion);
    }
    let mut info = parse_modinfo(strip_sentinels(&modinfo))?;
    info.go_version = version;
    Ok(info)
}

/// [`buildinfo`] for callers that have not parsed the file: `Ok(None)` for anything goblin cannot
/// parse as well as for non-Go executables.
pub fn buildinfo_bytes(bytes: &[u8]) -> Result<Option<BuildInfo>, Error> {
    match Object::parse(bytes) {
        Ok(obj) => buildinfo(&obj, bytes),
        Err(_) => Ok(None),
    }
}

/// File offsets where a build-info header may start: 16-aligned hits in the first 64 KiB of the data
/// start (the `.go.buildinfo` section, else the first writable segment) — exactly where Go's own
/// reader (`debug/buildinfo`, which `go version -m` and Trivy use) looks, so a binary it finds
/// nothing in is not a Go binary here either. Only when the file has no data start to look at (no
/// such section or segment, a fat Mach-O file) are 16-aligned hits anywhere in the file tried;
/// scanning every ELF file whole would cost more than reading it.
fn candidates<'b>(map: &AddrMap, bytes: &'b [u8]) -> Box<dyn Iterator<Item = usize> + 'b> {
    let window = map.data_start.and_then(|start| {
        Some((
            map.read(bytes, start, DATA_WINDOW)?,
            map.file_offset(start)?,
        ))
    });
    match window {
        Some((window, base)) => Box::new(
            aligned_hits(window)
                .take(MAX_CANDIDATES)
                .filter_map(move |i| base.checked_add(i))
                .collect::<Vec<usize>>()
                .into_iter(),
        ),
        None => Box::new(aligned_hits(bytes)),
    }
}

/// The first candidate, for tests.
#[cfg(test)]
fn find_header(map: &AddrMap, bytes: &[u8]) -> Option<usize> {
    candidates(map, bytes).next()
}

/// 16-aligned positions in `data` that start with the magic and leave room for the header.
fn aligned_hits(data: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memmem::find_iter(data, MAGIC)
        .filter(|i| i % ALIGN == 0)
        .filter(move |&i| data.len() - i >= HEADER)
}

/// The version and module-info strings of the blob at file offset `offset`.
fn read_blob(map: &AddrMap, bytes: &[u8], offset: usize) -> Result<(String, Vec<u8>), Error> {
    let header = bytes
        .get(offset..offset.saturating_add(HEADER))
        .filter(|h| h.len() == HEADER)
        .ok_or(Error::Truncated { offset })?;
    let ptr_size = header.get(14).copied().unwrap_or(0);
    let flags = header.get(15).copied().unwrap_or(0);
    if flags & 2 != 0 {
        let rest = bytes.get(offset + HEADER..).unwrap_or_default();
        let (version, rest) = varint_string(rest).ok_or(Error::Truncated { offset })?;
        // Go treats a bad module string as "no module info", not as an error.
        let modinfo = varint_string(rest).map(|(m, _)| m).unwrap_or_default();
        return Ok((
            String::from_utf8_lossy(version).into_owned(),
            modinfo.to_vec(),
        ));
    }
    let big = flags & 1 != 0;
    let ptr = match ptr_size {
        4 | 8 => usize::from(ptr_size),
        other => return Err(Error::PointerSize(other)),
    };
    let read_ptr = |b: &[u8]| -> Option<u64> { read_uint(b, ptr, big) };
    let vers_addr = header
        .get(16..16 + ptr)
        .and_then(read_ptr)
        .ok_or(Error::Truncated { offset })?;
    let mod_addr = header
        .get(16 + ptr..16 + 2 * ptr)
        .and_then(read_ptr)
        .ok_or(Error::Truncated { offset })?;
    let version = go_string(map, bytes, vers_addr, ptr, big).ok_or(Error::BadPointer {
        what: "runtime.buildVersion",
        addr: vers_addr,
    })?;
    // As in Go: an unreadable module string means "no module info".
    let modinfo = go_string(map, bytes, mod_addr, ptr, big).unwrap_or_default();
    Ok((
        String::from_utf8_lossy(version).into_owned(),
        modinfo.to_vec(),
    ))
}

fn read_uint(b: &[u8], size: usize, big: bool) -> Option<u64> {
    let b = b.get(..size)?;
    let mut v = 0u64;
    if big {
        for &x in b {
            v = (v << 8) | u64::from(x);
        }
    } else {
        for &x in b.iter().rev() {
            v = (v << 8) | u64::from(x);
        }
    }
    Some(v)
}

/// A Go string (data pointer, length) read through the address map.
fn go_string<'b>(
    map: &AddrMap,
    bytes: &'b [u8],
    addr: u64,
    ptr: usize,
    big: bool,
) -> Option<&'b [u8]> {
    let hdr = map.read(bytes, addr, 2 * ptr as u64)?;
    let data = read_uint(hdr, ptr, big)?;
    let len = read_uint(hdr.get(ptr..)?, ptr, big)?;
    if len > MAX_STRING {
        return None;
    }
    let s = map.read(bytes, data, len)?;
    (s.len() as u64 == len).then_some(s)
}

/// An unsigned LEB128 varint (Go's `binary.Uvarint`), at most 10 bytes.
fn uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        if i == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// A varint-length-prefixed string and what follows it (Go's `decodeString`).
fn varint_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, n) = uvarint(data)?;
    let rest = data.get(n..)?;
    // Go requires the string to end strictly before the data does.
    if len >= rest.len() as u64 {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// Drops Go's framing sentinels; module info without them is treated as absent, as Go does.
fn strip_sentinels(m: &[u8]) -> &[u8] {
    if m.len() > 2 * SENTINEL && m.get(m.len() - SENTINEL - 1) == Some(&b'\n') {
        m.get(SENTINEL..m.len() - SENTINEL).unwrap_or_default()
    } else {
        &[]
    }
}

/// Parses the module-info text (`runtime/debug.ParseBuildInfo`'s grammar).
fn parse_modinfo(text: &[u8]) -> Result<BuildInfo, Error> {
    let text = String::from_utf8_lossy(text);
    let mut info = BuildInfo::default();
    for (n, line) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let bad = |reason: &str| Error::ModInfo {
            line: line_no,
            reason: reason.to_owned(),
        };
        if let Some(rest) = line.strip_prefix("path\t") {
            info.path = rest.to_owned();
        } else if let Some(rest) = line.strip_prefix("go\t") {
            info.go_version = rest.to_owned();
        } else if let Some(rest) = line.strip_prefix("mod\t") {
            info.main = Some(module_line(rest).map_err(&bad)?);
        } else if let Some(rest) = line.strip_prefix("dep\t") {
            if info.deps.len() >= MAX_DEPS {
                return Err(bad("too many dependencies"));
            }
            info.deps.push(module_line(rest).map_err(&bad)?);
        } else if let Some(rest) = line.strip_prefix("=>\t") {
            let repl = module_line(rest).map_err(&bad)?;
            // A `=>` line applies to the last `dep`, else to the main module.
            let target = match info.deps.last_mut() {
                Some(d) => Some(d),
                None => info.main.as_mut(),
            };
            let target = target.ok_or_else(|| bad("replacement with no module"))?;
            if target.replace.is_some() {
                return Err(bad("replacement of a replacement"));
            }
            target.replace = Some(Box::new(repl));
        } else if let Some(rest) = line.strip_prefix("build\t") {
            info.settings.push(build_line(rest).map_err(|r| bad(&r))?);
        }
        // Go skips blank lines and lines it does not know.
    }
    Ok(info)
}

fn module_line(rest: &str) -> Result<Module, &'static str> {
    let cols: Vec<&str> = rest.split('\t').collect();
    match cols.as_slice() {
        [path, version] => Ok(Module {
            path: (*path).to_owned(),
            version: (*version).to_owned(),
            ..Module::default()
        }),
        [path, version, sum] => Ok(Module {
            path: (*path).to_owned(),
            version: (*version).to_owned(),
            sum: (!sum.is_empty()).then(|| (*sum).to_owned()),
            replace: None,
        }),
        _ => Err("expected 2 or 3 columns"),
    }
}

/// `KEY=VALUE`, either side possibly Go-quoted.
fn build_line(kv: &str) -> Result<(String, String), String> {
    let (key, raw_value) = match kv.chars().next() {
        None => return Err("build line missing '='".into()),
        Some('=') => return Err("build line with missing key".into()),
        Some('"') | Some('`') => {
            let (key, used) = unquote_prefix(kv).ok_or("bad quoted key")?;
            let rest = kv.get(used..).unwrap_or_default();
            let value = rest.strip_prefix('=').ok_or("build line missing '='")?;
            (key, value)
        }
        Some(_) => {
            let (k, v) = kv.split_once('=').ok_or("build line missing '='")?;
            (k.to_owned(), v)
        }
    };
    let value = match raw_value.chars().next() {
        Some('"') | Some('`') => match unquote_prefix(raw_value) {
            Some((v, used)) if used == raw_value.len() => v,
            _ => return Err(format!("bad quoted value for {key}")),
        },
        _ => raw_value.to_owned(),
    };
    Ok((key, value))
}

/// Go's `strconv.QuotedPrefix` + `Unquote` for double-quoted and back-quoted strings: the unquoted text
/// and how many bytes of `s` the literal used.
fn unquote_prefix(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    let (_, q) = chars.next()?;
    if q == '`' {
        let end = s.get(1..)?.find('`')? + 1;
        return Some((s.get(1..end)?.replace('\r', ""), end + 1));
    }
    if q != '"' {
        return None;
    }
    let mut out = String::new();
    let mut bytes_out: Vec<u8> = Vec::new();
    let flush = |bytes_out: &mut Vec<u8>, out: &mut String| {
        if !bytes_out.is_empty() {
            out.push_str(&String::from_utf8_lossy(bytes_out));
            bytes_out.clear();
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                flush(&mut bytes_out, &mut out);
                return Some((out, i + 1));
            }
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                let simple = match e {
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'v' => Some('\u{b}'),
                    '\\' => Some('\\'),
                    '"' => Some('"'),
                    '\'' => Some('\''),
                    _ => None,
                };
                if let Some(ch) = simple {
                    flush(&mut bytes_out, &mut out);
                    out.push(ch);
                    continue;
                }
                match e {
                    'x' => {
                        let v = hex_digits(&mut chars, 2)?;
                        bytes_out.push(u8::try_from(v).ok()?);
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            let (_, d) = chars.next()?;
                            v = v * 8 + d.to_digit(8)?;
                        }
                        bytes_out.push(u8::try_from(v).ok()?);
                    }
                    'u' | 'U' => {
                        let v = hex_digits(&mut chars, if e == 'u' { 4 } else { 8 })?;
                        flush(&mut bytes_out, &mut out);
                        out.push(char::from_u32(v)?);
                    }
                    _ => return None,
                }
            }
            other => {
                flush(&mut bytes_out, &mut out);
                out.push(other);
            }
        }
    }
    None
}

fn hex_digits(chars: &mut std::str::CharIndices<'_>, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..n {
        let (_, d) = chars.next()?;
        v = v.checked_mul(16)?.checked_add(d.to_digit(16)?)?;
    }
    Some(v)
}

/// A module's version, with Go's `(devel)` placeholder dropped (never an invented version).
fn real_version(v: &str) -> String {
    if v == "(devel)" {
        String::new()
    } else {
        v.to_owned()
    }
}

/// True when a replacement points at a directory rather than a module (`./x`, `../x`, `/abs`).
fn is_local_path(p: &str) -> bool {
    p.starts_with("./")
        || p.starts_with("../")
        || p.starts_with('/')
        || p == "."
        || p == ".."
        || p.get(1..3) == Some(":\\")
}

/// The packages of one Go binary: the main module, every dependency module, and `stdlib` at the
/// toolchain's version (as Trivy reports it: `v1.19.8` for `go1.19.8`).
///
/// A dependency replaced by another module is reported as that module (path, version, sum), as Go
/// built it; one replaced by a local directory keeps its own path, gets no version (the directory has
/// none) and records the directory in `stella:go:replace`.
pub fn to_packages(found_in: &str, info: &BuildInfo) -> Vec<Package> {
    let go_version = info.go_version.clone();
    let base = |name: String, version: String| {
        let mut properties = BTreeMap::new();
        if !go_version.is_empty() {
            properties.insert("stella:go:version".to_owned(), go_version.clone());
        }
        Package {
            kind: Some(PackageKind::Golang),
            name,
            version,
            found_in: found_in.to_owned(),
            properties,
            ..Package::default()
        }
    };
    let mut out = Vec::new();
    let stdlib = stdlib_version(&info.go_version);
    if let Some(v) = &stdlib {
        out.push(base("stdlib".to_owned(), v.clone()));
    }
    let mut dep_names = Vec::new();
    for dep in &info.deps {
        if dep.path.is_empty() {
            // Old toolchains sometimes listed the main module as a nameless `(devel)` dep.
            continue;
        }
        let p = dep_package(dep, &base);
        dep_names.push(p.name.clone());
        out.push(p);
    }
    if let Some(main) = info.main.as_ref().filter(|m| !m.path.is_empty()) {
        let mut p = base(main.path.clone(), real_version(&main.version));
        p.properties
            .insert("stella:go:main".to_owned(), "true".to_owned());
        if !info.path.is_empty() {
            p.properties
                .insert("stella:go:path".to_owned(), info.path.clone());
        }
        if let Some(sum) = &main.sum {
            p.properties.insert("stella:go:h1".to_owned(), sum.clone());
        }
        if let Some(r) = &main.replace {
            p.properties
                .insert("stella:go:replace".to_owned(), replace_text(r));
        }
        for (k, v) in &info.settings {
            p.properties
                .insert(format!("stella:go:setting:{k}"), v.clone());
            if k == "-ldflags" {
                if let Some(v) = ldflags_version(&main.path, v) {
                    p.properties
                        .insert("stella:go:ldflags-version".to_owned(), v);
                }
            }
        }
        let mut depends = dep_names;
        if stdlib.is_some() {
            depends.push("stdlib".to_owned());
        }
        depends.sort();
        depends.dedup();
        p.depends = depends;
        out.push(p);
    }
    out
}

fn dep_package(dep: &Module, base: &dyn Fn(String, String) -> Package) -> Package {
    match dep.replace.as_deref() {
        Some(r) if !is_local_path(&r.path) && !r.path.is_empty() => {
            let mut p = base(r.path.clone(), real_version(&r.version));
            if let Some(sum) = &r.sum {
                p.properties.insert("stella:go:h1".to_owned(), sum.clone());
            }
            p.properties.insert(
                "stella:go:replaces".to_owned(),
                format!("{} {}", dep.path, dep.version)
                    .trim_end()
                    .to_owned(),
            );
            p
        }
        Some(r) => {
            let mut p = base(dep.path.clone(), String::new());
            p.properties
                .insert("stella:go:replace".to_owned(), replace_text(r));
            p
        }
        None => {
            let mut p = base(dep.path.clone(), real_version(&dep.version));
            if let Some(sum) = &dep.sum {
                p.properties.insert("stella:go:h1".to_owned(), sum.clone());
            }
            p
        }
    }
}

fn replace_text(r: &Module) -> String {
    let v = real_version(&r.version);
    if v.is_empty() {
        r.path.clone()
    } else {
        format!("{} {v}", r.path)
    }
}

/// A version the builder stamped with `-ldflags '-X <pkg>.version=<semver>'`, chosen as Trivy does: keys
/// ending in `.version`/`.ver` with a semver value, preferring `<module>/cmd/…` keys, then the `main`,
/// `common`, `version` and `cmd` packages, then any; two candidates of the same rank give none.
/// It is recorded as `stella:go:ldflags-version`, never as the module's version.
fn ldflags_version(module: &str, ldflags: &str) -> Option<String> {
    let words = shell_words(ldflags);
    let mut ranks: [Vec<String>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut i = 0;
    while let Some(w) = words.get(i) {
        i += 1;
        let arg = if w == "-X" || w == "--X" {
            i += 1;
            words.get(i - 1).cloned()
        } else {
            w.strip_prefix("-X=")
                .or_else(|| w.strip_prefix("--X="))
                .map(str::to_owned)
        };
        let Some(arg) = arg else { continue };
        let Some((key, val)) = arg.split_once('=') else {
            continue;
        };
        let key = key.trim_start_matches('\'');
        let val = val.trim_end_matches('\'');
        let lower = key.to_ascii_lowercase();
        if !(lower.ends_with(".version") || lower.ends_with(".ver")) || !is_semver(val) {
            continue;
        }
        let last = key.rsplit('/').next().unwrap_or(key);
        let pkg = last.split('.').next().unwrap_or(last).to_ascii_lowercase();
        let rank = if key.starts_with(&format!("{module}/cmd/")) {
            0
        } else if matches!(pkg.as_str(), "main" | "common" | "version" | "cmd") {
            1
        } else {
            2
        };
        if let Some(r) = ranks.get_mut(rank) {
            if !r.iter().any(|v| v == val) {
                r.push(val.to_owned());
            }
        }
    }
    let found = ranks.into_iter().find(|r| !r.is_empty())?;
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// Splits like a POSIX shell (quotes and backslashes), as Trivy's shellwords does for `-ldflags`.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Go's `semver.IsValid`, with or without the leading `v`.
fn is_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (v, build) = v.split_once('+').map_or((v, None), |(a, b)| (a, Some(b)));
    let (core, pre) = v.split_once('-').map_or((v, None), |(a, b)| (a, Some(b)));
    let ident_ok = |s: &str, numeric_rule: bool| {
        !s.is_empty()
            && s.split('.').all(|p| {
                !p.is_empty()
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !(numeric_rule
                        && p.len() > 1
                        && p.starts_with('0')
                        && p.chars().all(|c| c.is_ascii_digit()))
            })
    };
    let parts: Vec<&str> = core.split('.').collect();
    let num_ok = |p: &&str| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    let shortened = parts.len() < 3;
    (1..=3).contains(&parts.len())
        && parts.iter().all(num_ok)
        && !(shortened && (pre.is_some() || build.is_some()))
        && pre.is_none_or(|p| ident_ok(p, true))
        && build.is_none_or(|b| ident_ok(b, false))
}

/// `go1.22.3 X:boringcrypto` → `v1.22.3` (Trivy's `stdlib` version); `None` for a version that is not a
/// release (`devel +abc…`).
fn stdlib_version(go_version: &str) -> Option<String> {
    let v = go_version.strip_prefix("go")?;
    let v = v.split(' ').next().unwrap_or(v);
    if v.is_empty() || !v.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("v{v}"))
}

#[cfg(test)]
pub(crate) mod tests;
