//! Native objects (stub until its change lands).
/// Error.
#[derive(Debug, thiserror::Error)]
#[error("native")]
pub struct Error;
/// Format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// ELF.
    Elf,
    /// PE.
    Pe,
    /// Mach-O.
    MachO,
}
/// Facts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NativeInfo {
    /// f
    pub format: Format,
    /// f
    pub machine: String,
    /// f
    pub class_bits: u8,
    /// f
    pub kind: String,
    /// f
    pub needed: Vec<String>,
    /// f
    pub soname: Option<String>,
    /// f
    pub rpath: Vec<String>,
    /// f
    pub runpath: Vec<String>,
    /// f
    pub interpreter: Option<String>,
    /// f
    pub build_id: Option<String>,
    /// f
    pub versions_needed: Vec<(String, Vec<String>)>,
    /// f
    pub versions_defined: Vec<String>,
    /// f
    pub imports: Vec<String>,
    /// f
    pub is_dotnet: bool,
    /// f
    pub uuid: Option<String>,
}
/// Sniff.
pub fn looks_native(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}
/// Facts.
pub fn native_info(obj: &goblin::Object<'_>, bytes: &[u8]) -> Option<NativeInfo> {
    let _ = (obj, bytes);
    None
}
/// Lookup.
pub trait LibLookup {
    /// l
    fn lookup(&self, path: &str) -> Option<(String, NativeInfo)>;
    /// r
    fn read_small(&self, path: &str) -> Option<Vec<u8>>;
    /// l
    fn list(&self, dir: &str) -> Vec<String>;
}
/// Closure.
#[derive(Debug, Clone, Default)]
pub struct Closure {
    /// l
    pub libraries: Vec<String>,
    /// u
    pub unresolved: Vec<(String, String)>,
    /// i
    pub interpreter: Option<String>,
}
/// Closure.
pub fn elf_closure(lookup: &dyn LibLookup, start: &str) -> Closure {
    let _ = (lookup, start);
    Closure::default()
}
