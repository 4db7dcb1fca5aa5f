//! Go buildinfo (stub until its change lands).
/// Error.
#[derive(Debug, thiserror::Error)]
#[error("go")]
pub struct Error;
/// Build info.
#[derive(Debug, Clone)]
pub struct BuildInfo {}
/// Reads buildinfo.
pub fn buildinfo(obj: &goblin::Object<'_>, bytes: &[u8]) -> Result<Option<BuildInfo>, Error> {
    let _ = (obj, bytes);
    Ok(None)
}
/// Packages.
pub fn to_packages(found_in: &str, info: &BuildInfo) -> Vec<crate::model::Package> {
    let _ = (found_in, info);
    Vec::new()
}
