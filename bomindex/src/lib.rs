//! # bomindex — the BOM-Index sidecar
//!
//! A compact binary index of one image SBOM for fast policy joins: the SBOM's purls as a sorted,
//! deduplicated table (a component's id is its position) and roaring bitmaps of component ids — per
//! layer (what each layer introduced), per purl type (`deb`, `npm`, …) and the `usedByEntrypoint`
//! set. Lookups: exact purl, purl prefix, version-less purl (`pkg:npm/lodash` finds every version),
//! and joins of a whole [`PurlSet`] (say, every purl an advisory feed names) as one linear merge of
//! two sorted lists into a bitmap.
//!
//! With the `report` feature, `from_report` indexes a `scanner_core::model::ScanReport`; without
//! it the crate does not depend on the scanner at all.
//!
//! What it does not do: it keeps no versions ranges, licenses or dependency edges (the SBOM has
//! them), and no I/O: callers hand in SBOM bytes and get index bytes back. Output is a pure
//! function of the SBOM: the same SBOM gives byte-identical index bytes.
//!
//! [`BomIndex::open`] treats its input as hostile: it checks magic, version, every offset and
//! length, order and UTF-8 of the purl table and every bitmap before returning, never panics, and
//! reports each class of corruption as its own [`IndexError`] variant.
//!
//! ## Format, version 1 (all integers little-endian)
//!
//! ```text
//! header (96 bytes)
//!   0  magic            8  "\x89BOMIDX\n"
//!   8  version          u16 = 1
//!  10  flags            u16  bit 0: usage traced (the usedByEntrypoint set is meaningful)
//!  12  purl count       u32
//!  16  layer count      u32
//!  20  type count       u32
//!  24  component count  u32  components with a purl in the SBOM, before deduplication
//!  28  reserved         u32 = 0
//!  32  SBOM SHA-256     32 bytes
//!  64  4 × (offset u32, length u32): purls, layers, types, entrypoint — contiguous, in this order,
//!      the first at 96, the last ending at the end of the file
//! purls:      (count + 1) × u32 end offsets (the first 0) into the UTF-8 bytes that follow;
//!             strictly ascending byte order
//! layers:     count × (index u32 ascending, diffID len u16 + UTF-8, bitmap len u32 + bitmap)
//! types:      count × (type len u16 + UTF-8 ascending, bitmap len u32 + bitmap)
//! entrypoint: one bitmap filling the section
//! bitmap:     the portable roaring format, as roaring-rs writes it (canonical: re-encoding a
//!             decoded bitmap must give the same bytes)
//! ```
//!
//! ## Example
//!
//! ```
//! use bomindex::{BomIndex, Component, IndexBuilder, PurlSet};
//!
//! let mut b = IndexBuilder::new([0; 32]);
//! for (purl, layer) in [("pkg:npm/lodash@4.17.21", 1), ("pkg:deb/debian/openssl@3.0.11-1", 0)] {
//!     b.component(Component { purl: purl.into(), layer: Some(layer), used_by_entrypoint: false });
//! }
//! let bytes = b.build()?;
//! let index = BomIndex::open(&bytes)?;
//! assert_eq!(index.matching("pkg:npm/lodash").len(), 1);
//! let hits = index.join(&PurlSet::new(["pkg:deb/debian/openssl", "pkg:npm/react"]));
//! assert_eq!(hits.iter().filter_map(|id| index.purl(id)).collect::<Vec<_>>(),
//!            ["pkg:deb/debian/openssl@3.0.11-1"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(clippy::indexing_slicing)]

mod builder;
mod error;
mod index;
pub mod purl;

#[cfg(feature = "report")]
pub use builder::from_report;
pub use builder::{builder_from_cyclonedx_json, from_cyclonedx_json, Component, IndexBuilder};
pub use error::{BuildError, IndexError, Section};
pub use index::{BomIndex, Layer};
pub use purl::PurlSet;
pub use roaring::RoaringBitmap;

/// The first 8 bytes of every index (PNG-style: a high byte, a name, a newline).
pub const MAGIC: [u8; 8] = *b"\x89BOMIDX\n";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 96;
/// Header flag: the SBOM traced entrypoint usage.
pub const FLAG_USAGE_TRACED: u16 = 1;
/// OCI `artifactType` (and layer media type) of an index attached to an image as a referrer.
pub const ARTIFACT_TYPE: &str = "application/vnd.stella.bom-index.v1";
/// Referrer annotation: the digest (`sha256:…`) of the SBOM the index was built from.
pub const ANNOTATION_SBOM_DIGEST: &str = "dev.stella.bom-index.sbom.digest";
