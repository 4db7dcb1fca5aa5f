//! Writers: golden snapshots, determinism, structural checks, and validation by tools we did not write.

mod fixture;
mod snapshots;
mod structure;
mod validate;
