//! # scanner-core — the facts engine
//!
//! Image layers or a rootfs directory in, a typed SBOM model ([`model::ScanReport`]) and CycloneDX 1.6 /
//! SPDX 2.3 documents out. Pure and synchronous: this crate reads the bytes it is handed and nothing
//! else — it never touches the network, never prints, never reads the clock (document time comes from
//! `SOURCE_DATE_EPOCH` or the image config, passed in by the caller). The one exception is
//! [`cache::DiskCache`], the embedded per-layer cache: it reads and writes the directory it is given and
//! stamps access times from the clock (tests inject one).
//!
//! Data flow: layer tar streams (plain, gzip, zstd) → per-layer changes keeping only the files analyzers
//! want → an overlay applying whiteouts and opaque directories in order → OS analyzers (dpkg, apk, rpm,
//! os-release) on the merged view and on each layer alone (for layer attribution) → the model → writers.

pub mod analyzers;
pub mod cache;
pub mod dirfs;
pub mod entrytrace;
pub mod facts;
pub mod fragment;
pub mod fs;
pub mod lang;
pub mod layer;
pub mod model;
pub mod overlay;
pub mod ownership;
pub mod sbom;
pub mod scan;
pub mod sparse;
pub mod time;
pub mod usage;
