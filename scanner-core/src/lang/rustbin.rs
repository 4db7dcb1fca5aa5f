//! Rust binaries (stub until its change lands).
/// Error.
#[derive(Debug, thiserror::Error)]
#[error("rust")]
pub struct Error;
/// What a binary is.
#[derive(Debug)]
pub enum RustBinary {
    /// With audit data.
    Audited(Vec<crate::model::Package>),
    /// Rust, no data.
    Unaudited,
    /// Not Rust.
    NotRust,
}
/// Inspect.
pub fn inspect(obj: &goblin::Object<'_>, bytes: &[u8], found_in: &str) -> Result<RustBinary, Error> {
    let _ = (obj, bytes, found_in);
    Ok(RustBinary::NotRust)
}
