//! Language and binary analyzers: what ships in an image besides distro packages.
//!
//! Two kinds of analyzer live here:
//! - **metadata analyzers** (Node, Python, .NET `deps.json`) read small files that [`wants`] asks the
//!   layer reader to keep, through an [`crate::fs::FsView`];
//! - **content extractors** (Java archives, Go buildinfo, cargo-auditable, native ELF/PE/Mach-O facts)
//!   run on one file's bytes while its layer streams by, and keep only the facts they found, so a 1 GB
//!   image never sits in memory.
//!
//! Every parser here takes untrusted bytes: none may panic, each bounds sizes and depths, and each has a
//! fuzz target under `fuzz/`.

pub mod dotnet;
pub mod golang;
pub mod java;
pub mod native;
pub mod node;
pub mod python;
pub mod rustbin;
