//! A small, bounded zip reader for Java archives.
//!
//! Reads the end-of-central-directory record (zip64 when the classic record overflows), the central
//! directory, and an entry's local header; inflates stored and deflated entries only, each through a
//! byte limit, and checks the CRC-32. Data prepended to the archive (a Spring Boot launch script, a
//! self-extracting stub) is tolerated the way `java.util.zip` and Go's `archive/zip` tolerate it.
//! Nothing here panics on any input: every read is a checked `get`.

use std::borrow::Cow;
use std::io::Read;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CDH_SIG: u32 = 0x0201_4b50;
const LFH_SIG: u32 = 0x0403_4b50;
const EOCD_LEN: usize = 22;
const CDH_LEN: usize = 46;
const LFH_LEN: usize = 30;

/// What went wrong reading an archive or an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ZipError {
    #[error("not a zip archive: no end-of-central-directory record")]
    NoEocd,
    #[error("truncated or inconsistent zip: {0}")]
    Corrupt(&'static str),
    #[error("archive has {0} entries, more than the limit of {1}")]
    TooManyEntries(u64, usize),
    #[error("entry {name:?}: {what}")]
    Entry { name: String, what: String },
}

/// One central-directory record.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: String,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_size: u64,
    pub(crate) uncompressed_size: u64,
    local_offset: u64,
}

impl Entry {
    pub(crate) fn is_dir(&self) -> bool {
        self.name.ends_with('/')
    }
}

/// An opened archive: the central directory, borrowing the archive's bytes.
#[derive(Debug)]
pub(crate) struct Archive<'a> {
    bytes: &'a [u8],
    /// Where offset 0 of the archive's own offsets lies in `bytes` (prepended data).
    base: u64,
    pub(crate) entries: Vec<Entry>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(s))
}

fn to_usize(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Where the central directory is, as the archive states it.
struct Directory {
    entries: u64,
    size: u64,
    offset: u64,
    /// Position in `bytes` of the record that follows the directory (zip64 EOCD or EOCD).
    end_pos: u64,
}

fn find_eocd(bytes: &[u8]) -> Option<usize> {
    // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
    let last = bytes.len().checked_sub(EOCD_LEN)?;
    let first = last.saturating_sub(usize::from(u16::MAX));
    (first..=last).rev().find(|&pos| {
        u32_at(bytes, pos) == Some(EOCD_SIG)
            && u16_at(bytes, pos + 20)
                .is_some_and(|c| pos + EOCD_LEN + usize::from(c) <= bytes.len())
    })
}

fn directory(bytes: &[u8]) -> Result<Directory, ZipError> {
    let eocd = find_eocd(bytes).ok_or(ZipError::NoEocd)?;
    let field16 = |off| u16_at(bytes, eocd + off).ok_or(ZipError::Corrupt("end record"));
    let field32 = |off| u32_at(bytes, eocd + off).ok_or(ZipError::Corrupt("end record"));
    let entries = field16(10)?;
    let size = field32(12)?;
    let offset = field32(16)?;
    let classic = Directory {
        entries: u64::from(entries),
        size: u64::from(size),
        offset: u64::from(offset),
        end_pos: eocd as u64,
    };
    if entries != u16::MAX && size != u32::MAX && offset != u32::MAX {
        return Ok(classic);
    }
    // zip64: a locator sits right before the classic record and points at the zip64 record.
    let Some(loc) = eocd.checked_sub(20) else {
        return Ok(classic);
    };
    if u32_at(bytes, loc) != Some(ZIP64_LOCATOR_SIG) {
        return Ok(classic);
    }
    let stated = u64_at(bytes, loc + 8).ok_or(ZipError::Corrupt("zip64 locator"))?;
    // Like the directory offset, the zip64 record's offset may be shifted by prepended data: the
    // record is 56 bytes (plus extensible data) and ends where the locator starts.
    let pos = [Some(stated), (loc as u64).checked_sub(56)]
        .into_iter()
        .flatten()
        .filter_map(to_usize)
        .find(|&p| u32_at(bytes, p) == Some(ZIP64_EOCD_SIG))
        .ok_or(ZipError::Corrupt("zip64 end record not found"))?;
    let f64 = |off| u64_at(bytes, pos + off).ok_or(ZipError::Corrupt("zip64 end record"));
    Ok(Directory {
        entries: f64(32)?,
        size: f64(40)?,
        offset: f64(48)?,
        end_pos: pos as u64,
    })
}

/// Zip64 extended information (extra field 0x0001): only the fields whose classic value overflowed,
/// in this order.
fn zip64_extra(extra: &[u8], usize_: &mut u64, csize: &mut u64, offset: &mut u64) {
    let mut at = 0usize;
    while let (Some(id), Some(len)) = (u16_at(extra, at), u16_at(extra, at + 2)) {
        let body_start = at + 4;
        let body_end = body_start + usize::from(len);
        if id == 0x0001 {
            let Some(body) = extra.get(body_start..body_end) else {
                return;
            };
            let mut p = 0usize;
            for field in [usize_, csize, offset] {
                if *field == u64::from(u32::MAX) {
                    match u64_at(body, p) {
                        Some(v) => *field = v,
                        None => return,
                    }
                    p += 8;
                }
            }
            return;
        }
        at = body_end;
    }
}

fn parse_directory(
    bytes: &[u8],
    start: usize,
    dir: &Directory,
    max_entries: usize,
) -> Result<Vec<Entry>, ZipError> {
    // Never trust the stated count for an allocation: each record is at least 46 bytes.
    let cap = to_usize(dir.entries)
        .unwrap_or(usize::MAX)
        .min(bytes.len() / CDH_LEN);
    let mut entries = Vec::with_capacity(cap.min(max_entries));
    let end = start
        .checked_add(to_usize(dir.size).ok_or(ZipError::Corrupt("directory size"))?)
        .filter(|&e| e <= bytes.len())
        .ok_or(ZipError::Corrupt("central directory runs past the end"))?;
    let mut at = start;
    while at < end && u32_at(bytes, at) == Some(CDH_SIG) {
        if entries.len() >= max_entries {
            return Err(ZipError::TooManyEntries(
                dir.entries.max(entries.len() as u64 + 1),
                max_entries,
            ));
        }
        let f16 = |off| u16_at(bytes, at + off).ok_or(ZipError::Corrupt("directory record"));
        let f32 = |off| u32_at(bytes, at + off).ok_or(ZipError::Corrupt("directory record"));
        let flags = f16(8)?;
        let method = f16(10)?;
        let crc32 = f32(16)?;
        let mut csize = u64::from(f32(20)?);
        let mut usize_ = u64::from(f32(24)?);
        let name_len = usize::from(f16(28)?);
        let extra_len = usize::from(f16(30)?);
        let comment_len = usize::from(f16(32)?);
        let mut offset = u64::from(f32(42)?);
        let name_start = at + CDH_LEN;
        let name = bytes
            .get(name_start..name_start + name_len)
            .ok_or(ZipError::Corrupt("entry name runs past the directory"))?;
        let extra = bytes
            .get(name_start + name_len..name_start + name_len + extra_len)
            .ok_or(ZipError::Corrupt("extra field runs past the directory"))?;
        zip64_extra(extra, &mut usize_, &mut csize, &mut offset);
        entries.push(Entry {
            name: String::from_utf8_lossy(name).into_owned(),
            flags,
            method,
            crc32,
            compressed_size: csize,
            uncompressed_size: usize_,
            local_offset: offset,
        });
        at = name_start + name_len + extra_len + comment_len;
    }
    if (entries.len() as u64) < dir.entries.min(u64::from(u16::MAX) - 1) {
        return Err(ZipError::Corrupt("fewer directory records than stated"));
    }
    Ok(entries)
}

impl<'a> Archive<'a> {
    /// Reads the central directory; more than `max_entries` records is an error.
    pub(crate) fn open(bytes: &'a [u8], max_entries: usize) -> Result<Self, ZipError> {
        let dir = directory(bytes)?;
        // With data prepended, the directory sits `base` bytes later than it says.
        let stated_end = dir.offset.checked_add(dir.size);
        let base = match stated_end {
            Some(e) if e <= dir.end_pos => dir.end_pos - e,
            _ => return Err(ZipError::Corrupt("central directory offset past its end")),
        };
        let mut tries = vec![base];
        if base != 0 {
            tries.push(0);
        }
        let mut last = ZipError::Corrupt("central directory not found");
        for b in tries {
            let Some(start) = dir.offset.checked_add(b).and_then(to_usize) else {
                continue;
            };
            if dir.entries > 0 && u32_at(bytes, start) != Some(CDH_SIG) {
                continue;
            }
            match parse_directory(bytes, start, &dir, max_entries) {
                Ok(entries) => {
                    return Ok(Archive {
                        bytes,
                        base: b,
                        entries,
                    })
                }
                Err(e @ ZipError::TooManyEntries(..)) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The entry's raw (compressed) data, located through its local header.
    fn raw(&self, e: &Entry) -> Result<&'a [u8], ZipError> {
        let bad = |what: &str| ZipError::Entry {
            name: e.name.clone(),
            what: what.to_string(),
        };
        let at = e
            .local_offset
            .checked_add(self.base)
            .and_then(to_usize)
            .ok_or_else(|| bad("local header offset out of range"))?;
        if u32_at(self.bytes, at) != Some(LFH_SIG) {
            return Err(bad("no local header at the stated offset"));
        }
        let name_len = u16_at(self.bytes, at + 26).ok_or_else(|| bad("truncated local header"))?;
        let extra_len = u16_at(self.bytes, at + 28).ok_or_else(|| bad("truncated local header"))?;
        let start = at + LFH_LEN + usize::from(name_len) + usize::from(extra_len);
        let len = to_usize(e.compressed_size).ok_or_else(|| bad("size out of range"))?;
        start
            .checked_add(len)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| bad("data runs past the end of the archive"))
    }

    /// The entry's content, at most `max` bytes (more is an error, as is a CRC mismatch). Stored
    /// entries are borrowed, not copied.
    pub(crate) fn read(&self, e: &Entry, max: u64) -> Result<Cow<'a, [u8]>, ZipError> {
        let bad = |what: String| ZipError::Entry {
            name: e.name.clone(),
            what,
        };
        if e.flags & 1 != 0 {
            return Err(bad("encrypted".into()));
        }
        if e.uncompressed_size > max {
            return Err(bad(format!(
                "{} bytes uncompressed, over the limit of {max}",
                e.uncompressed_size
            )));
        }
        let raw = self.raw(e)?;
        let data: Cow<'a, [u8]> = match e.method {
            0 => {
                if raw.len() as u64 != e.uncompressed_size {
                    return Err(bad("stored entry sizes differ".into()));
                }
                Cow::Borrowed(raw)
            }
            8 => {
                let mut out = Vec::with_capacity(
                    to_usize(e.uncompressed_size.min(1 << 20)).unwrap_or_default(),
                );
                flate2::read::DeflateDecoder::new(raw)
                    .take(max.saturating_add(1))
                    .read_to_end(&mut out)
                    .map_err(|err| bad(format!("bad deflate data: {err}")))?;
                if out.len() as u64 > max {
                    return Err(bad(format!("inflates past the limit of {max} bytes")));
                }
                if out.len() as u64 != e.uncompressed_size {
                    return Err(bad(format!(
                        "inflated to {} bytes, directory says {}",
                        out.len(),
                        e.uncompressed_size
                    )));
                }
                Cow::Owned(out)
            }
            m => return Err(bad(format!("compression method {m} not supported"))),
        };
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        if crc.sum() != e.crc32 {
            return Err(bad("CRC-32 mismatch".into()));
        }
        Ok(data)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A minimal zip writer for tests: (name, content, deflate?).
    pub(crate) fn build(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, content, deflate) in entries {
            let data = if *deflate {
                let mut enc =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(content).unwrap();
                enc.finish().unwrap()
            } else {
                content.to_vec()
            };
            let mut crc = flate2::Crc::new();
            crc.update(content);
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            out.extend_from_slice(&LFH_SIG.to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&crc.sum().to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(content.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&data);
            cd.extend_from_slice(&CDH_SIG.to_le_bytes());
            cd.extend_from_slice(&20u16.to_le_bytes());
            cd.extend_from_slice(&20u16.to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes());
            cd.extend_from_slice(&method.to_le_bytes());
            cd.extend_from_slice(&[0; 4]);
            cd.extend_from_slice(&crc.sum().to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(content.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0; 12]);
            cd.extend_from_slice(&offset.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[test]
    fn reads_stored_and_deflated() {
        let z = build(&[
            ("a.txt", b"hello", false),
            ("b/c.txt", b"world world", true),
        ]);
        let a = Archive::open(&z, 10).unwrap();
        assert_eq!(a.entries.len(), 2);
        assert_eq!(&*a.read(&a.entries[0], 100).unwrap(), b"hello");
        assert_eq!(&*a.read(&a.entries[1], 100).unwrap(), b"world world");
        assert!(a.read(&a.entries[1], 5).is_err());
    }

    #[test]
    fn prepended_data_is_tolerated() {
        let mut z = b"#!/bin/sh\nexec java -jar \"$0\"\n".to_vec();
        z.extend(build(&[("x", b"1", true)]));
        let a = Archive::open(&z, 10).unwrap();
        assert_eq!(&*a.read(&a.entries[0], 10).unwrap(), b"1");
    }

    #[test]
    fn zip64_end_record() {
        // Rewrite a classic archive into one whose EOCD fields overflow to the zip64 record.
        let z = build(&[("x", b"abc", false)]);
        let eocd = find_eocd(&z).unwrap();
        let cd_size = u32_at(&z, eocd + 12).unwrap() as u64;
        let cd_off = u32_at(&z, eocd + 16).unwrap() as u64;
        let mut out = z[..eocd].to_vec();
        let z64 = out.len() as u64;
        out.extend_from_slice(&ZIP64_EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&cd_size.to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&z64.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&[0xff; 4]);
        out.extend_from_slice(&[0xff; 8]);
        out.extend_from_slice(&0u16.to_le_bytes());
        let a = Archive::open(&out, 10).unwrap();
        assert_eq!(a.entries.len(), 1);
        assert_eq!(&*a.read(&a.entries[0], 10).unwrap(), b"abc");
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let z = build(&[("a", b"hello hello hello", true)]);
        assert_eq!(Archive::open(b"", 10).unwrap_err(), ZipError::NoEocd);
        assert_eq!(
            Archive::open(b"garbage bytes", 10).unwrap_err(),
            ZipError::NoEocd
        );
        for cut in 0..z.len() {
            // Every truncation: an error or a readable/erroring entry, never a panic.
            if let Ok(a) = Archive::open(&z[..cut], 10) {
                for e in &a.entries {
                    let _ = a.read(e, 100);
                }
            }
        }
        // Corrupt the deflate stream: the entry read fails.
        let mut bad = z.clone();
        bad[31] = 0xff;
        bad[32] = 0xff;
        let a = Archive::open(&bad, 10).unwrap();
        assert!(a.read(&a.entries[0], 100).is_err());
        // Stored data changed after the CRC was taken; an unsupported method; the encrypted flag.
        let z = build(&[("a", b"hello", false)]);
        let mut crc_bad = z.clone();
        crc_bad[31] ^= 1;
        let a = Archive::open(&crc_bad, 10).unwrap();
        assert!(a
            .read(&a.entries[0], 100)
            .unwrap_err()
            .to_string()
            .contains("CRC"));
        let cd = find_eocd(&z).unwrap() - (CDH_LEN + 1);
        let mut bzip = z.clone();
        bzip[cd + 10] = 12;
        let a = Archive::open(&bzip, 10).unwrap();
        assert!(a
            .read(&a.entries[0], 100)
            .unwrap_err()
            .to_string()
            .contains("method 12"));
        let mut enc = z.clone();
        enc[cd + 8] = 1;
        let a = Archive::open(&enc, 10).unwrap();
        assert!(a
            .read(&a.entries[0], 100)
            .unwrap_err()
            .to_string()
            .contains("encrypted"));
        // Too many entries.
        let many = build(&[("a", b"", false), ("b", b"", false), ("c", b"", false)]);
        assert!(matches!(
            Archive::open(&many, 2),
            Err(ZipError::TooManyEntries(3, 2))
        ));
    }
}
