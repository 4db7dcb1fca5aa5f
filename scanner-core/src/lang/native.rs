//! native analyzer (issue 3): placeholder until its change lands.
/// Native object facts (placeholder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NativeInfo;
