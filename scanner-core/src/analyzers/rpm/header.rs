//! The rpm header blob: an index of `(tag, type, offset, count)` entries followed by a data store.
//!
//! Layout (<https://rpm-software-management.github.io/rpm/manual/format_header.html>), all big-endian:
//! `il: u32`, `dl: u32`, `il` entries of 16 bytes, then `dl` bytes of data. Databases store the blob
//! without the 8-byte header magic that package files carry; both forms are accepted. Every entry is
//! checked against the data store before use.

use super::{be_u32, slice, usize_from, RpmDbError};
use crate::model::{hex, Checksum, OwnedFile, Package, PackageKind, SourcePackage};

/// The magic that precedes a header in package files (and is absent in databases).
const HEADER_MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
/// rpm's own limits (`hdrchkTags`, `hdrchkData`): no real header comes near them.
const MAX_TAGS: u32 = 0x0001_0000;
const MAX_DATA: u32 = 0x1000_0000;
/// Cap on the bytes of file paths built from a header, per byte of its data store.
const PATH_BYTES_PER_HEADER_BYTE: usize = 64;

/// Tag numbers this analyzer reads.
pub mod tag {
    #![allow(missing_docs)]
    pub const SIGMD5: u32 = 261;
    pub const SHA256HEADER: u32 = 273;
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const SUMMARY: u32 = 1004;
    pub const SIZE: u32 = 1009;
    pub const VENDOR: u32 = 1011;
    pub const LICENSE: u32 = 1014;
    pub const PACKAGER: u32 = 1015;
    pub const URL: u32 = 1020;
    pub const ARCH: u32 = 1022;
    pub const OLDFILENAMES: u32 = 1027;
    pub const FILEDIGESTS: u32 = 1035;
    pub const SOURCERPM: u32 = 1044;
    pub const PROVIDENAME: u32 = 1047;
    pub const REQUIRENAME: u32 = 1049;
    pub const DIRINDEXES: u32 = 1116;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
    pub const LONGSIZE: u32 = 5009;
    pub const FILEDIGESTALGO: u32 = 5011;
}

/// Header data types.
mod kind {
    pub const CHAR: u32 = 1;
    pub const INT8: u32 = 2;
    pub const INT16: u32 = 3;
    pub const INT32: u32 = 4;
    pub const INT64: u32 = 5;
    pub const STRING: u32 = 6;
    pub const BIN: u32 = 7;
    pub const STRING_ARRAY: u32 = 8;
    pub const I18NSTRING: u32 = 9;
}

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Tag number.
    pub tag: u32,
    /// Data type.
    pub kind: u32,
    /// Offset into the data store.
    pub offset: u32,
    /// Number of values.
    pub count: u32,
}

/// A parsed header: the index and the data store it points into.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    entries: Vec<Entry>,
    data: &'a [u8],
}

impl<'a> Header<'a> {
    /// Parses the index of `blob` (with or without the leading header magic). Entries are checked
    /// lazily, when a value is read; the counts and total size are checked here.
    pub fn parse(blob: &'a [u8]) -> Result<Self, RpmDbError> {
        let blob = blob.strip_prefix(&HEADER_MAGIC[..]).unwrap_or(blob);
        let il = be_u32(blob, 0, "header index length")?;
        let dl = be_u32(blob, 4, "header data length")?;
        if il == 0 || il > MAX_TAGS {
            return Err(RpmDbError::Unsupported {
                what: "header tag count",
                value: il.into(),
            });
        }
        if dl > MAX_DATA {
            return Err(RpmDbError::Unsupported {
                what: "header data length",
                value: dl.into(),
            });
        }
        let index_len = usize_from(il)
            .checked_mul(16)
            .ok_or(RpmDbError::Unsupported {
                what: "header tag count",
                value: il.into(),
            })?;
        let index = slice(blob, 8, index_len, "header index")?;
        let data = slice(
            blob,
            8usize.saturating_add(index_len),
            usize_from(dl),
            "header data",
        )?;
        let entries = index
            .chunks_exact(16)
            .map(|e| {
                Ok(Entry {
                    tag: be_u32(e, 0, "header entry")?,
                    kind: be_u32(e, 4, "header entry")?,
                    offset: be_u32(e, 8, "header entry")?,
                    count: be_u32(e, 12, "header entry")?,
                })
            })
            .collect::<Result<Vec<_>, RpmDbError>>()?;
        Ok(Header { entries, data })
    }

    /// The index entries in stored order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    fn out_of_bounds(e: &Entry) -> RpmDbError {
        RpmDbError::TagOutOfBounds {
            tag: e.tag,
            kind: e.kind,
            offset: e.offset,
            count: e.count,
        }
    }

    /// The bytes from the entry's offset to the end of the data store.
    fn tail(&self, e: &Entry) -> Result<&'a [u8], RpmDbError> {
        self.data
            .get(usize_from(e.offset)..)
            .ok_or_else(|| Self::out_of_bounds(e))
    }

    /// `count` NUL-terminated strings starting at the entry's offset.
    fn strings(&self, e: &Entry) -> Result<Vec<String>, RpmDbError> {
        let mut rest = self.tail(e)?;
        // Every string takes at least its NUL, so a count above the remaining bytes is a lie; checking
        // first also bounds the allocation.
        if usize_from(e.count) > rest.len() {
            return Err(Self::out_of_bounds(e));
        }
        let mut out = Vec::with_capacity(usize_from(e.count));
        for _ in 0..e.count {
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| Self::out_of_bounds(e))?;
            let (s, after) = rest.split_at(nul);
            out.push(String::from_utf8_lossy(s).into_owned());
            rest = after.get(1..).unwrap_or_default();
        }
        Ok(out)
    }

    /// A string-valued tag (STRING, or the first value of STRING_ARRAY / I18NSTRING).
    pub fn string(&self, tag: u32) -> Result<Option<String>, RpmDbError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        match e.kind {
            kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING if e.count > 0 => {
                if usize_from(e.count) > self.tail(e)?.len() {
                    return Err(Self::out_of_bounds(e));
                }
                let one = Entry { count: 1, ..*e };
                Ok(self.strings(&one)?.into_iter().next())
            }
            _ => Err(RpmDbError::BadTagType { tag, kind: e.kind }),
        }
    }

    /// A string-array tag (an absent tag is an empty list; a lone STRING is a one-element list).
    pub fn string_array(&self, tag: u32) -> Result<Vec<String>, RpmDbError> {
        let Some(e) = self.entry(tag) else {
            return Ok(Vec::new());
        };
        match e.kind {
            kind::STRING_ARRAY | kind::I18NSTRING | kind::STRING => self.strings(e),
            _ => Err(RpmDbError::BadTagType { tag, kind: e.kind }),
        }
    }

    /// An integer-array tag of any integer width, widened to `u64`.
    pub fn ints(&self, tag: u32) -> Result<Vec<u64>, RpmDbError> {
        let Some(e) = self.entry(tag) else {
            return Ok(Vec::new());
        };
        let width: usize = match e.kind {
            kind::CHAR | kind::INT8 => 1,
            kind::INT16 => 2,
            kind::INT32 => 4,
            kind::INT64 => 8,
            _ => return Err(RpmDbError::BadTagType { tag, kind: e.kind }),
        };
        let len = usize_from(e.count)
            .checked_mul(width)
            .ok_or_else(|| Self::out_of_bounds(e))?;
        let bytes = slice(self.data, usize_from(e.offset), len, "header integers")
            .map_err(|_| Self::out_of_bounds(e))?;
        Ok(bytes
            .chunks_exact(width)
            .map(|c| c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
            .collect())
    }

    /// The first value of an integer tag.
    pub fn int(&self, tag: u32) -> Result<Option<u64>, RpmDbError> {
        Ok(self.ints(tag)?.into_iter().next())
    }

    /// A BIN tag's bytes.
    pub fn bin(&self, tag: u32) -> Result<Option<&'a [u8]>, RpmDbError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if e.kind != kind::BIN {
            return Err(RpmDbError::BadTagType { tag, kind: e.kind });
        }
        slice(
            self.data,
            usize_from(e.offset),
            usize_from(e.count),
            "header bin",
        )
        .map(Some)
        .map_err(|_| Self::out_of_bounds(e))
    }

    /// The absolute paths of the package's files, new style (`DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]`)
    /// or old style (`OLDFILENAMES`).
    pub fn file_names(&self) -> Result<Vec<String>, RpmDbError> {
        let basenames = self.string_array(tag::BASENAMES)?;
        if basenames.is_empty() {
            return self.string_array(tag::OLDFILENAMES);
        }
        let dirnames = self.string_array(tag::DIRNAMES)?;
        let indexes = self.ints(tag::DIRINDEXES)?;
        if indexes.len() != basenames.len() {
            return Err(RpmDbError::BadTagType {
                tag: tag::DIRINDEXES,
                kind: kind::INT32,
            });
        }
        // Directory names are shared, so the paths are longer than the header; a hostile header could
        // pair a million basenames with one huge directory name. Real headers stay far below this.
        let budget = self.data.len().saturating_mul(PATH_BYTES_PER_HEADER_BYTE);
        let mut total = 0usize;
        basenames
            .iter()
            .zip(&indexes)
            .map(|(base, &i)| {
                let dir = usize::try_from(i)
                    .ok()
                    .and_then(|i| dirnames.get(i))
                    .ok_or(RpmDbError::MissingTag { tag: tag::DIRNAMES })?;
                total = total.saturating_add(dir.len()).saturating_add(base.len());
                if total > budget {
                    return Err(RpmDbError::Unsupported {
                        what: "total length of file paths",
                        value: total as u64,
                    });
                }
                Ok(format!("{dir}{base}"))
            })
            .collect()
    }
}

/// CycloneDX spelling of rpm's `PGPHASHALGO_*` numbers (FILEDIGESTALGO).
fn digest_algorithm(algo: u64) -> Option<&'static str> {
    match algo {
        1 => Some("MD5"),
        2 => Some("SHA-1"),
        8 => Some("SHA-256"),
        9 => Some("SHA-384"),
        10 => Some("SHA-512"),
        _ => None,
    }
}

/// Splits `name-version-release.src.rpm` into the source package name and `version-release`.
pub fn parse_source_rpm(srpm: &str) -> Option<SourcePackage> {
    let stem = srpm
        .strip_suffix(".src.rpm")
        .or_else(|| srpm.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    Some(SourcePackage {
        name: name.to_owned(),
        version: Some(format!("{version}-{release}")),
    })
}

/// The strings of `values` that pass `keep`, first occurrence only, in order (linear time: lists can
/// hold hundreds of thousands of entries in a hostile header).
fn unique(values: Vec<String>, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values
        .into_iter()
        .filter(|v| keep(v) && seen.insert(v.clone()))
        .collect()
}

/// Parses one header blob into a [`Package`] recorded as found in `found_in`.
/// `Ok(None)` for `gpg-pubkey` pseudo-packages (imported signing keys, not software).
pub fn parse_package(blob: &[u8], found_in: &str) -> Result<Option<Package>, RpmDbError> {
    let h = Header::parse(blob)?;
    let name = h
        .string(tag::NAME)?
        .ok_or(RpmDbError::MissingTag { tag: tag::NAME })?;
    if name == "gpg-pubkey" {
        return Ok(None);
    }
    let version = h
        .string(tag::VERSION)?
        .ok_or(RpmDbError::MissingTag { tag: tag::VERSION })?;
    let release = h
        .string(tag::RELEASE)?
        .ok_or(RpmDbError::MissingTag { tag: tag::RELEASE })?;

    let mut checksums = Vec::new();
    if let Some(md5) = h.bin(tag::SIGMD5)? {
        checksums.push(Checksum {
            algorithm: "MD5".to_owned(),
            value: hex(md5),
        });
    }
    if let Some(sha256) = h.string(tag::SHA256HEADER)? {
        checksums.push(Checksum {
            algorithm: "SHA-256".to_owned(),
            value: sha256.to_ascii_lowercase(),
        });
    }

    let depends = unique(h.string_array(tag::REQUIRENAME)?, |r| {
        !r.starts_with("rpmlib(")
    });
    let provides = unique(h.string_array(tag::PROVIDENAME)?, |_| true);

    let algorithm = match h.int(tag::FILEDIGESTALGO)? {
        None => Some("MD5"),
        Some(a) => digest_algorithm(a),
    };
    let digests = h.string_array(tag::FILEDIGESTS)?;
    let files = h
        .file_names()?
        .into_iter()
        .enumerate()
        .map(|(i, path)| OwnedFile {
            checksum: digests
                .get(i)
                .filter(|d| !d.is_empty())
                .zip(algorithm)
                .map(|(d, a)| Checksum {
                    algorithm: a.to_owned(),
                    value: d.to_ascii_lowercase(),
                }),
            path,
        })
        .collect();

    let installed_size = match h.int(tag::LONGSIZE)? {
        Some(size) => Some(size),
        None => h.int(tag::SIZE)?,
    };

    Ok(Some(Package {
        kind: Some(PackageKind::Rpm),
        version: format!("{version}-{release}"),
        name,
        epoch: h.int(tag::EPOCH)?,
        arch: h.string(tag::ARCH)?,
        source: h
            .string(tag::SOURCERPM)?
            .as_deref()
            .and_then(parse_source_rpm),
        licenses: h.string(tag::LICENSE)?.into_iter().collect(),
        maintainer: h.string(tag::PACKAGER)?,
        vendor: h.string(tag::VENDOR)?,
        homepage: h.string(tag::URL)?,
        depends,
        provides,
        checksums,
        installed_size,
        files,
        found_in: found_in.to_owned(),
        ..Package::default()
    }))
}

/// Builds header blobs for tests and fuzz seeds.
#[cfg(test)]
pub(crate) mod build {
    #![allow(clippy::arithmetic_side_effects)]

    /// A value to store.
    pub enum Value<'a> {
        Str(&'a str),
        Strs(&'a [&'a str]),
        I32(&'a [u32]),
        Bin(&'a [u8]),
    }

    /// Serializes `(tag, value)` pairs into a database-style header blob (no magic).
    pub fn header(tags: &[(u32, Value<'_>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        for (tag, value) in tags {
            let (kind, count) = match value {
                Value::Str(_) => (6u32, 1u32),
                Value::Strs(v) => (8, v.len() as u32),
                Value::I32(v) => {
                    while data.len() % 4 != 0 {
                        data.push(0);
                    }
                    (4, v.len() as u32)
                }
                Value::Bin(v) => (7, v.len() as u32),
            };
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&kind.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&count.to_be_bytes());
            match value {
                Value::Str(s) => {
                    data.extend_from_slice(s.as_bytes());
                    data.push(0);
                }
                Value::Strs(v) => {
                    for s in *v {
                        data.extend_from_slice(s.as_bytes());
                        data.push(0);
                    }
                }
                Value::I32(v) => {
                    for i in *v {
                        data.extend_from_slice(&i.to_be_bytes());
                    }
                }
                Value::Bin(v) => data.extend_from_slice(v),
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((tags.len() as u32).to_be_bytes()));
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&index);
        out.extend_from_slice(&data);
        out
    }

    /// A small but complete package header.
    pub fn sample() -> Vec<u8> {
        header(&[
            (super::tag::NAME, Value::Str("bash")),
            (super::tag::VERSION, Value::Str("5.2.15")),
            (super::tag::RELEASE, Value::Str("3.el9")),
            (super::tag::EPOCH, Value::I32(&[1])),
            (super::tag::ARCH, Value::Str("x86_64")),
            (super::tag::LICENSE, Value::Str("GPL-3.0-or-later")),
            (
                super::tag::SOURCERPM,
                Value::Str("bash-5.2.15-3.el9.src.rpm"),
            ),
            (super::tag::SIZE, Value::I32(&[7_000_000])),
            (
                super::tag::REQUIRENAME,
                Value::Strs(&["libc.so.6()(64bit)", "rpmlib(FileDigests)", "/bin/sh"]),
            ),
            (super::tag::PROVIDENAME, Value::Strs(&["bash", "/bin/sh"])),
            (super::tag::SIGMD5, Value::Bin(&[0xab; 16])),
            (super::tag::DIRNAMES, Value::Strs(&["/usr/bin/", "/etc/"])),
            (super::tag::BASENAMES, Value::Strs(&["bash", "bashrc"])),
            (super::tag::DIRINDEXES, Value::I32(&[0, 1])),
            (super::tag::FILEDIGESTS, Value::Strs(&["AA11", ""])),
            (super::tag::FILEDIGESTALGO, Value::I32(&[8])),
        ])
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::build::{header, sample, Value};
    use super::*;

    #[test]
    fn parses_a_complete_header() {
        let p = parse_package(&sample(), "/var/lib/rpm/rpmdb.sqlite")
            .unwrap()
            .unwrap();
        assert_eq!(p.kind, Some(PackageKind::Rpm));
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("bash", "5.2.15-3.el9")
        );
        assert_eq!(p.epoch, Some(1));
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        assert_eq!(p.licenses, vec!["GPL-3.0-or-later"]);
        assert_eq!(
            p.source,
            Some(SourcePackage {
                name: "bash".into(),
                version: Some("5.2.15-3.el9".into())
            })
        );
        assert_eq!(p.installed_size, Some(7_000_000));
        assert_eq!(p.depends, vec!["libc.so.6()(64bit)", "/bin/sh"]);
        assert_eq!(p.provides, vec!["bash", "/bin/sh"]);
        assert_eq!(p.checksums[0].value, "ab".repeat(16));
        assert_eq!(p.files.len(), 2);
        assert_eq!(p.files[0].path, "/usr/bin/bash");
        let c = p.files[0].checksum.as_ref().unwrap();
        assert_eq!(
            (c.algorithm.as_str(), c.value.as_str()),
            ("SHA-256", "aa11")
        );
        assert_eq!(p.files[1].path, "/etc/bashrc");
        assert_eq!(p.files[1].checksum, None);
        assert_eq!(p.found_in, "/var/lib/rpm/rpmdb.sqlite");
    }

    #[test]
    fn accepts_the_package_file_magic() {
        let mut blob = HEADER_MAGIC.to_vec();
        blob.extend(sample());
        assert!(parse_package(&blob, "x").unwrap().is_some());
    }

    #[test]
    fn skips_gpg_pubkey() {
        let blob = header(&[
            (tag::NAME, Value::Str("gpg-pubkey")),
            (tag::VERSION, Value::Str("fd431d51")),
            (tag::RELEASE, Value::Str("4ae0493b")),
        ]);
        assert_eq!(parse_package(&blob, "x").unwrap(), None);
    }

    #[test]
    fn old_filenames_and_default_md5() {
        let blob = header(&[
            (tag::NAME, Value::Str("old")),
            (tag::VERSION, Value::Str("1")),
            (tag::RELEASE, Value::Str("1")),
            (tag::OLDFILENAMES, Value::Strs(&["/bin/old"])),
            (
                tag::FILEDIGESTS,
                Value::Strs(&["d41d8cd98f00b204e9800998ecf8427e"]),
            ),
        ]);
        let p = parse_package(&blob, "x").unwrap().unwrap();
        assert_eq!(p.files[0].path, "/bin/old");
        assert_eq!(p.files[0].checksum.as_ref().unwrap().algorithm, "MD5");
        assert_eq!(p.epoch, None);
    }

    #[test]
    fn source_rpm_names() {
        let s = parse_source_rpm("python-foo-bar-1.2-3.fc40.src.rpm").unwrap();
        assert_eq!(s.name, "python-foo-bar");
        assert_eq!(s.version.as_deref(), Some("1.2-3.fc40"));
        assert_eq!(parse_source_rpm("nodashes.src.rpm"), None);
        assert_eq!(parse_source_rpm("a-1.src.rpm"), None);
        assert_eq!(parse_source_rpm("a-1-2.tar.gz"), None);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let blob = sample();
        for len in 0..blob.len() {
            let _ = parse_package(&blob[..len], "x");
        }
        assert!(parse_package(&blob[..7], "x").is_err());
        assert!(parse_package(&blob[..blob.len() - 1], "x").is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_package(&[0xff; 64], "x").is_err());
        assert!(parse_package(b"", "x").is_err());
        // A huge il with a tiny blob must not allocate or panic.
        let mut blob = vec![0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0];
        blob.extend([0; 32]);
        assert!(matches!(
            parse_package(&blob, "x"),
            Err(RpmDbError::Truncated { .. })
        ));
    }

    /// Rewrites the offset (or count) of the `n`th entry.
    fn patch(blob: &mut [u8], n: usize, field: usize, value: u32) {
        let at = 8 + n * 16 + field;
        blob[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }

    #[test]
    fn out_of_bounds_offsets_and_counts_are_errors() {
        for (field, value) in [(8, u32::MAX), (8, 100_000), (12, u32::MAX), (12, 5000)] {
            for n in 0..16 {
                let mut blob = sample();
                patch(&mut blob, n, field, value);
                assert!(
                    parse_package(&blob, "x").is_err(),
                    "entry {n} field {field}"
                );
            }
        }
    }

    #[test]
    fn wrong_types_are_errors() {
        let mut blob = sample();
        patch(&mut blob, 0, 4, kind::INT32); // NAME as INT32
        assert!(matches!(
            parse_package(&blob, "x"),
            Err(RpmDbError::BadTagType { tag: 1000, .. })
        ));
    }

    #[test]
    fn shared_huge_dirname_cannot_blow_up_paths() {
        let dir = "d".repeat(100_000);
        let bases = vec!["b"; 10_000];
        let blob = header(&[
            (tag::NAME, Value::Str("x")),
            (tag::VERSION, Value::Str("1")),
            (tag::RELEASE, Value::Str("1")),
            (tag::DIRNAMES, Value::Strs(&[&dir])),
            (tag::BASENAMES, Value::Strs(&bases)),
            (tag::DIRINDEXES, Value::I32(&[0; 10_000])),
        ]);
        assert!(matches!(
            parse_package(&blob, "x"),
            Err(RpmDbError::Unsupported { .. })
        ));
    }

    #[test]
    fn dirindex_out_of_range_is_an_error() {
        let blob = header(&[
            (tag::NAME, Value::Str("x")),
            (tag::VERSION, Value::Str("1")),
            (tag::RELEASE, Value::Str("1")),
            (tag::DIRNAMES, Value::Strs(&["/"])),
            (tag::BASENAMES, Value::Strs(&["a"])),
            (tag::DIRINDEXES, Value::I32(&[7])),
        ]);
        assert!(parse_package(&blob, "x").is_err());
    }
}
