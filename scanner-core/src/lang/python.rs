//! Metadata analyzer (stub until its change lands).
/// Paths to keep.
pub fn wants(path: &str) -> bool {
    let _ = path;
    false
}
/// Analyze.
pub fn analyze(fs: &dyn crate::fs::FsView, inv: &mut crate::model::Inventory) {
    let _ = (fs, inv);
}
