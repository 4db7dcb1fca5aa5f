//! Errors of opening (untrusted bytes) and building (an SBOM) an index.

use std::fmt;

/// A section of the index file, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The fixed header.
    Header,
    /// The sorted purl table.
    Purls,
    /// Per-layer component bitmaps.
    Layers,
    /// Per-purl-type component bitmaps.
    Types,
    /// The `usedByEntrypoint` bitmap.
    Entrypoint,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Header => "header",
            Section::Purls => "purl table",
            Section::Layers => "layer section",
            Section::Types => "type section",
            Section::Entrypoint => "entrypoint section",
        })
    }
}

/// Why [`BomIndex::open`](crate::BomIndex::open) refused its input. Each class of corruption has its
/// own variant, so callers (and tests) can tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The file does not start with [`MAGIC`](crate::MAGIC): not a BOM-Index.
    #[error("not a BOM-Index (bad magic)")]
    BadMagic,
    /// A format version this reader does not know.
    #[error("unsupported BOM-Index version {version} (this reader knows {known})", known = crate::VERSION)]
    UnsupportedVersion {
        /// The version in the header.
        version: u16,
    },
    /// The input ends before a structure it announces.
    #[error("truncated BOM-Index: the {section} needs {needed} bytes at offset {at}, {available} available")]
    Truncated {
        /// Where.
        section: Section,
        /// Offset (within the section, or the file for the header) of the structure.
        at: u64,
        /// Bytes the structure needs.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// A section's offset or length points outside the file, or sections overlap or leave gaps.
    #[error("BOM-Index {section} at offset {offset} length {length} is out of bounds (file is {file_len} bytes, expected offset {expected})")]
    OffsetOutOfBounds {
        /// The section.
        section: Section,
        /// Its offset in the header.
        offset: u64,
        /// Its length in the header.
        length: u64,
        /// Size of the whole file.
        file_len: u64,
        /// Where the section had to start (sections are contiguous, in order, after the header).
        expected: u64,
    },
    /// The purl table is not strictly ascending (unsorted or duplicated).
    #[error("BOM-Index purl table is not sorted and deduplicated at entry {index}")]
    UnsortedPurls {
        /// The first entry not greater than its predecessor.
        index: u32,
    },
    /// A bitmap does not decode, is not in canonical form, names a component that does not exist,
    /// or contradicts the purl table.
    #[error("BOM-Index {section} has a bad bitmap ({what}): {reason}")]
    BadBitmap {
        /// The section.
        section: Section,
        /// Which bitmap (e.g. `layer 3`, `type npm`).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// Any other structural fault: invalid UTF-8, unsorted layer or type entries, counts that do not
    /// add up, reserved bits set.
    #[error("malformed BOM-Index {section}: {reason}")]
    Malformed {
        /// The section.
        section: Section,
        /// What is wrong.
        reason: String,
    },
}

impl IndexError {
    pub(crate) fn malformed(section: Section, reason: impl Into<String>) -> Self {
        IndexError::Malformed {
            section,
            reason: reason.into(),
        }
    }
}

/// Why an index could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The SBOM is not JSON, or not a CycloneDX document.
    #[error("not a CycloneDX JSON SBOM: {0}")]
    NotCycloneDx(String),
    /// More of something than the format can count (u32), or a string longer than its length field.
    #[error("SBOM too large for a BOM-Index: {0}")]
    TooLarge(String),
}
