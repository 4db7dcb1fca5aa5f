//! Native binaries (issue 3 item 7, and the ELF half of item 9): facts from ELF, PE and Mach-O files,
//! and the ELF dependency closure computed with the image's own loader search order.
//!
//! - [`looks_native`] decides from a file's first bytes whether it is a native binary at all, so the
//!   layer reader only keeps (and parses) candidates. Java `.class` files share Mach-O fat's `cafebabe`
//!   magic; they are told apart by the architecture count.
//! - [`native_info_bytes`] / [`native_info`] turn one binary into a [`NativeInfo`]: DT_NEEDED, SONAME,
//!   RPATH/RUNPATH, PT_INTERP, GNU symbol versions, build-id (ELF); imported DLLs, subsystem and the CLR
//!   header (PE); LC_LOAD_DYLIB & co., LC_ID_DYLIB, LC_RPATH, UUID (Mach-O, every slice of a fat file).
//! - [`elf_closure`] follows DT_NEEDED breadth-first from an executable the way glibc's `ld.so` does
//!   (DT_RPATH chain unless DT_RUNPATH, DT_RUNPATH, `/etc/ld.so.conf` directories, default directories,
//!   `$ORIGIN`/`$LIB`/`$PLATFORM`, wrong class or machine skipped), through a [`LibLookup`] that the
//!   caller implements over the image.
//!
//! What it does not do: read files itself (the lookup trait does), link files to the OS packages that
//! own them (the integrator does that with `Package.files`), `LD_LIBRARY_PATH`/`LD_PRELOAD` (not part
//! of an image), glibc-hwcaps subdirectories, musl's `/etc/ld-musl-*.path`.
//!
//! Every count read from a file is bounded (see the `MAX_*` constants); goblin errors become
//! [`Error::Malformed`].
//!
//! ```
//! use scanner_core::lang::native::{looks_native, native_info_bytes};
//! let bytes = b"not a binary at all";
//! assert!(!looks_native(bytes));
//! assert_eq!(native_info_bytes(bytes).ok().flatten(), None);
//! ```

mod closure;
mod elf;
mod macho;
mod pe;

#[cfg(test)]
mod tests;

pub use closure::{elf_closure, ld_so_conf_dirs, Closure, LibLookup, ViewLookup};

/// Most entries of any one list kept from a file (needed libraries, rpath entries, versions, imports).
pub const MAX_LIST: usize = 4096;
/// Most slices read from a Mach-O fat file.
pub const MAX_FAT_ARCHES: usize = 32;
/// Largest string kept from a file (a library name, an rpath).
pub const MAX_STRING: usize = 4096;
/// Largest input [`native_info_bytes`] parses (goblin works on the whole file in memory).
pub const MAX_BYTES: usize = 2 << 30;

/// The object file format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Format {
    /// ELF (Linux and most Unixes).
    Elf,
    /// PE/COFF (Windows).
    Pe,
    /// Mach-O (macOS, iOS), thin or fat.
    MachO,
}

/// The facts read from one native binary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NativeInfo {
    /// Object format.
    pub format: Format,
    /// Machine in the usual lowercase spelling: `x86_64`, `i386`, `aarch64`, `arm`, `ppc64le`,
    /// `s390x`, `riscv64`, … (ELF); `x86_64`, `i386`, `arm64`, `armnt` (PE); `x86_64`, `arm64`, …
    /// (Mach-O; a fat file joins its slices' machines with `+`).
    pub machine: String,
    /// 32 or 64.
    pub class_bits: u8,
    /// ELF: `exec`, `pie`, `dyn`, `rel`, `core`; PE: `exe`, `dll`; Mach-O: `exec`, `pie`, `dylib`,
    /// `bundle`, `object`, `dylinker`, `core`, `kext`, `dsym`; `unknown` otherwise.
    pub kind: String,
    /// ELF DT_NEEDED; Mach-O LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB,
    /// LC_LOAD_UPWARD_DYLIB — in file order.
    pub needed: Vec<String>,
    /// ELF DT_SONAME; Mach-O LC_ID_DYLIB.
    pub soname: Option<String>,
    /// ELF DT_RPATH entries (split at `:`, unexpanded); Mach-O LC_RPATH.
    pub rpath: Vec<String>,
    /// ELF DT_RUNPATH entries (split at `:`, unexpanded).
    pub runpath: Vec<String>,
    /// ELF PT_INTERP; Mach-O LC_LOAD_DYLINKER.
    pub interpreter: Option<String>,
    /// GNU build-id note, lowercase hex.
    pub build_id: Option<String>,
    /// ELF verneed: each file with the versions needed from it (`libc.so.6` → `GLIBC_2.2.5`, …), in
    /// file order.
    pub versions_needed: Vec<(String, Vec<String>)>,
    /// ELF verdef: the versions this object defines, without the base entry (which is its own name).
    pub versions_defined: Vec<String>,
    /// PE imported DLLs, in import-table order, deduplicated.
    pub imports: Vec<String>,
    /// PE with a CLR runtime header (a .NET assembly).
    pub is_dotnet: bool,
    /// Mach-O LC_UUID, lowercase hex with dashes.
    pub uuid: Option<String>,
    /// PE subsystem: `windows-gui`, `windows-cui`, `native`, `efi-application`, … (not in the brief's
    /// list of fields; needed to report it).
    pub subsystem: Option<String>,
    /// Mach-O fat file: the facts of each slice, in file order (empty otherwise). The top-level
    /// record then holds the union of the slices' libraries and rpaths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<NativeInfo>,
}

impl NativeInfo {
    pub(crate) fn empty(format: Format) -> Self {
        NativeInfo {
            format,
            machine: String::new(),
            class_bits: 0,
            kind: "unknown".into(),
            needed: Vec::new(),
            soname: None,
            rpath: Vec::new(),
            runpath: Vec::new(),
            interpreter: None,
            build_id: None,
            versions_needed: Vec::new(),
            versions_defined: Vec::new(),
            imports: Vec::new(),
            is_dotnet: false,
            uuid: None,
            subsystem: None,
            slices: Vec::new(),
        }
    }
}

/// Why a file that looked native could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// goblin rejected the file (truncated, inconsistent headers, …).
    #[error("malformed native binary: {0}")]
    Malformed(String),
    /// The file is larger than [`MAX_BYTES`].
    #[error("native binary of {size} bytes is larger than the limit of {limit}")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
}

/// Whether `head` (the first bytes of a file; 64 are enough for a certain answer) starts like a native
/// binary: ELF, MZ with a PE header (or one beyond `head`), Mach-O thin in either endianness and either
/// width, or Mach-O fat (`cafebabe`/`cafebabf`) with 1 to 20 architectures — a Java `.class` file has
/// its major version (45 and up) where fat has the count.
pub fn looks_native(head: &[u8]) -> bool {
    let magic = match head.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => return false,
    };
    match magic {
        [0x7f, b'E', b'L', b'F'] => {
            // EI_CLASS and EI_DATA, when present, must be 1 or 2.
            let ok = |i: usize| head.get(i).is_none_or(|b| *b == 1 || *b == 2);
            ok(4) && ok(5)
        }
        [b'M', b'Z', _, _] => {
            let Some(lfanew) = head.get(0x3c..0x40) else {
                // Too short to hold a DOS header; a PE never is.
                return false;
            };
            let lfanew = u32::from_le_bytes([lfanew[0], lfanew[1], lfanew[2], lfanew[3]]) as usize;
            if !(0x40..=1 << 24).contains(&lfanew) {
                return false;
            }
            match head.get(lfanew..lfanew.saturating_add(4)) {
                Some(sig) => sig == b"PE\0\0",
                None => head.len() <= lfanew.saturating_add(4) && head.len() < 4096,
            }
        }
        [0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe] => true,
        [0xca, 0xfe, 0xba, 0xbe | 0xbf] => match head.get(4..8) {
            Some(n) => {
                let n = u32::from_be_bytes([n[0], n[1], n[2], n[3]]);
                (1..=20).contains(&n)
            }
            None => false,
        },
        _ => false,
    }
}

/// The facts of an already parsed goblin object; `None` for what is not a native executable object
/// (archives, COFF objects, TE images, unknown magic).
pub fn native_info(obj: &goblin::Object<'_>, bytes: &[u8]) -> Option<NativeInfo> {
    match obj {
        goblin::Object::Elf(e) => Some(elf::info(e, bytes)),
        goblin::Object::PE(p) => Some(pe::info(p)),
        goblin::Object::Mach(m) => macho::info(m, bytes).ok(),
        _ => None,
    }
}

/// Parses `bytes` with goblin and returns its facts; `Ok(None)` when the bytes are not a native
/// binary at all (see [`looks_native`]), `Err` when they look like one but do not parse.
pub fn native_info_bytes(bytes: &[u8]) -> Result<Option<NativeInfo>, Error> {
    if !looks_native(bytes) {
        return Ok(None);
    }
    if bytes.len() > MAX_BYTES {
        return Err(Error::TooLarge {
            size: bytes.len(),
            limit: MAX_BYTES,
        });
    }
    let obj = goblin::Object::parse(bytes).map_err(|e| Error::Malformed(short(&e.to_string())))?;
    match &obj {
        goblin::Object::Mach(m) => macho::info(m, bytes).map(Some),
        _ => Ok(native_info(&obj, bytes)),
    }
}

/// A string from a file, cut to [`MAX_STRING`] bytes on a character boundary.
pub(crate) fn short(s: &str) -> String {
    if s.len() <= MAX_STRING {
        return s.to_owned();
    }
    let mut end = MAX_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

/// Pushes `s` unless present or the list is full.
pub(crate) fn push_unique(list: &mut Vec<String>, s: &str) {
    if list.len() < MAX_LIST && !list.iter().any(|x| x == s) {
        list.push(short(s));
    }
}
