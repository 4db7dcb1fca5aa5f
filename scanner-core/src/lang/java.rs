//! Java archives (stub until its change lands).
use crate::model::{Diagnostic, Package};
/// Limits.
#[derive(Debug, Clone, Default)]
pub struct Limits {}
/// Archive by extension.
pub fn is_archive_path(path: &str) -> bool {
    let _ = path;
    false
}
/// Packages in an archive.
pub fn analyze_archive(path: &str, bytes: &[u8], limits: &Limits) -> (Vec<Package>, Vec<Diagnostic>) {
    let _ = (path, bytes, limits);
    (Vec::new(), Vec::new())
}
