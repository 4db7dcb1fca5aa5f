//! .NET (stub until its change lands).
/// Paths to keep.
pub fn wants(path: &str) -> bool {
    let _ = path;
    false
}
/// Analyze.
pub fn analyze(fs: &dyn crate::fs::FsView, inv: &mut crate::model::Inventory) {
    let _ = (fs, inv);
}
/// PE version strings.
pub fn pe_version_info(
    pe: &goblin::pe::PE<'_>,
    bytes: &[u8],
) -> Option<std::collections::BTreeMap<String, String>> {
    let _ = (pe, bytes);
    None
}
