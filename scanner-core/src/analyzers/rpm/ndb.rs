//! rpm's NDB package store, `Packages.db` (SUSE). Layout from rpm's `lib/backend/ndb/rpmpkg.c`, all
//! little-endian:
//!
//! * a 32-byte header at offset 0: magic `RpmP`, version 0, generation, number of slot pages, next
//!   package index;
//! * `slot pages` × 4096 bytes of 16-byte slots (`Slot`, package index, block offset, block count) —
//!   the header occupies the first two slots; a block offset of 0 marks a free slot;
//! * blobs addressed in 16-byte blocks: `BlbS`, package index, timestamp, length, the header blob,
//!   zero padding, then a tail of adler32, length, `BlbE`.
//!
//! Each slot is read independently, so one damaged blob is one error. The adler32 in the tail is
//! checked: a mismatch means a torn write, and the blob is reported rather than trusted.

use super::{le_u32, slice, usize_from, RpmDbError};

const PAGE: usize = 4096;
const SLOT: usize = 16;
const BLK: usize = 16;
const HEADER_MAGIC: &[u8; 4] = b"RpmP";
const SLOT_MAGIC: &[u8; 4] = b"Slot";
const BLOB_MAGIC: &[u8; 4] = b"BlbS";
const TAIL_MAGIC: &[u8; 4] = b"BlbE";
const BLOB_HEAD: usize = 16;
const BLOB_TAIL: usize = 12;

/// Reads every header blob from an NDB `Packages.db` file: the outer error means the file is
/// unusable, an inner one that a slot or its blob is damaged.
pub fn read_blobs(data: &[u8]) -> Result<Vec<Result<Vec<u8>, RpmDbError>>, RpmDbError> {
    let head = slice(data, 0, 32, "ndb header")?;
    if head.get(..4) != Some(&HEADER_MAGIC[..]) {
        return Err(RpmDbError::BadMagic { format: "rpm ndb" });
    }
    let version = le_u32(head, 4, "ndb version")?;
    if version != 0 {
        return Err(RpmDbError::Unsupported {
            what: "ndb version",
            value: version.into(),
        });
    }
    let slot_pages = le_u32(head, 12, "ndb slot page count")?;
    let slot_bytes = usize_from(slot_pages)
        .checked_mul(PAGE)
        .filter(|&n| n > 0 && n <= data.len())
        .ok_or(RpmDbError::Unsupported {
            what: "ndb slot page count",
            value: slot_pages.into(),
        })?;
    let slots = slice(data, 0, slot_bytes, "ndb slot pages")?;
    // Real blobs never overlap, so together they are smaller than the file; slots that all point at
    // one large blob would otherwise multiply it.
    let mut budget = data.len();
    Ok(slots
        .chunks_exact(SLOT)
        .enumerate()
        .skip(32 / SLOT)
        .filter_map(|(n, s)| read_slot(data, n, s).transpose())
        .map(|r| {
            let blob = r?;
            budget = budget
                .checked_sub(blob.len())
                .ok_or(RpmDbError::Unsupported {
                    what: "ndb blobs larger in total than the file (overlapping slots)",
                    value: blob.len() as u64,
                })?;
            Ok(blob)
        })
        .collect())
}

/// One slot: `Ok(None)` when free.
fn read_slot(data: &[u8], slot_no: usize, slot: &[u8]) -> Result<Option<Vec<u8>>, RpmDbError> {
    let bad = |what| RpmDbError::BadRecord {
        record: slot_no as u64,
        what,
    };
    if slot.get(..4) != Some(&SLOT_MAGIC[..]) {
        return Err(bad("bad ndb slot magic"));
    }
    let pkg = le_u32(slot, 4, "ndb slot")?;
    let blk_off = le_u32(slot, 8, "ndb slot")?;
    let blk_cnt = le_u32(slot, 12, "ndb slot")?;
    if blk_off == 0 {
        return Ok(None);
    }
    let record = |what| RpmDbError::BadRecord {
        record: pkg.into(),
        what,
    };
    if pkg == 0 {
        return Err(bad("used ndb slot without a package index"));
    }
    let start = usize_from(blk_off)
        .checked_mul(BLK)
        .ok_or_else(|| record("ndb block offset out of range"))?;
    let len = usize_from(blk_cnt)
        .checked_mul(BLK)
        .ok_or_else(|| record("ndb block count out of range"))?;
    let block = slice(data, start, len, "ndb blob blocks")?;
    if block.get(..4) != Some(&BLOB_MAGIC[..]) {
        return Err(record("bad ndb blob magic"));
    }
    if le_u32(block, 4, "ndb blob header")? != pkg {
        return Err(record("ndb blob belongs to another package"));
    }
    let blob_len = usize_from(le_u32(block, 12, "ndb blob header")?);
    let needed = BLOB_HEAD
        .checked_add(blob_len)
        .and_then(|n| n.checked_add(BLOB_TAIL))
        .ok_or_else(|| record("ndb blob length out of range"))?;
    if needed > len || len.saturating_sub(needed) >= BLK {
        return Err(record("ndb blob length disagrees with its block count"));
    }
    let tail_at = len.saturating_sub(BLOB_TAIL);
    let tail = slice(block, tail_at, BLOB_TAIL, "ndb blob tail")?;
    if tail.get(8..12) != Some(&TAIL_MAGIC[..])
        || usize_from(le_u32(tail, 4, "ndb tail")?) != blob_len
    {
        return Err(record("bad ndb blob tail"));
    }
    let summed = slice(block, 0, tail_at, "ndb blob")?;
    if adler32(summed) != le_u32(tail, 0, "ndb tail")? {
        return Err(record("ndb blob checksum mismatch"));
    }
    Ok(Some(
        slice(block, BLOB_HEAD, blob_len, "ndb blob")?.to_vec(),
    ))
}

/// Adler-32 (RFC 1950).
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that can be summed before `b` could overflow a u32.
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a = a.wrapping_add(u32::from(byte));
            b = b.wrapping_add(a);
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn fixture() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rpm/ndb/Packages.db"
        ))
        .unwrap()
    }

    #[test]
    fn adler() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(&[0xff; 100_000]), {
            let (mut a, mut b) = (1u64, 0u64);
            for _ in 0..100_000 {
                a = (a + 255) % 65521;
                b = (b + a) % 65521;
            }
            ((b << 16) | a) as u32
        });
    }

    #[test]
    fn reads_the_fixture() {
        let blobs = read_blobs(&fixture()).unwrap();
        assert_eq!(blobs.len(), 4);
        assert!(blobs.iter().all(|b| b.is_ok()));
    }

    #[test]
    fn truncations_never_panic() {
        let db = fixture();
        for len in (0..db.len()).step_by(97) {
            let _ = read_blobs(&db[..len]);
        }
        assert!(read_blobs(&db[..100]).is_err());
        let cut = read_blobs(&db[..db.len() - 1]).unwrap();
        assert_eq!(cut.iter().filter(|r| r.is_err()).count(), 1);
    }

    #[test]
    fn damaged_blob_is_one_error() {
        let mut db = fixture();
        let last = db.len() - 40;
        db[last] ^= 0xff;
        let blobs = read_blobs(&db).unwrap();
        assert_eq!(blobs.iter().filter(|b| b.is_ok()).count(), 3);
        assert!(blobs.iter().any(|b| matches!(
            b,
            Err(RpmDbError::BadRecord {
                what: "ndb blob checksum mismatch",
                ..
            })
        )));
    }

    #[test]
    fn slots_sharing_one_blob_are_bounded() {
        let mut db = fixture();
        let first: [u8; 16] = db[32..48].try_into().unwrap();
        for slot in 3..256 {
            db[slot * 16..slot * 16 + 16].copy_from_slice(&first);
        }
        let blobs = read_blobs(&db).unwrap();
        let total: usize = blobs.iter().flatten().map(Vec::len).sum();
        assert!(total <= db.len());
        assert!(blobs.iter().any(|b| b.is_err()));
    }

    #[test]
    fn hostile_slots() {
        let mut db = fixture();
        // Slot 2 (the first real one): offset and count at the top of the range.
        db[32 + 8..32 + 16].copy_from_slice(&[0xff; 8]);
        let blobs = read_blobs(&db).unwrap();
        assert_eq!(blobs.iter().filter(|b| b.is_err()).count(), 1);
        // A slot page count far beyond the file.
        db[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_blobs(&db).is_err());
    }
}
