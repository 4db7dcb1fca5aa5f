//! Berkeley DB hash databases: rpm's legacy `Packages` file (RHEL/CentOS ≤ 8, Amazon Linux 2).
//!
//! Layout as read by rpm's `bdb_ro` backend and go-rpmdb: page 0 is the hash metadata page (magic
//! `0x061561`, page size, last page number); hash pages (type 13, or 2 on very old databases) hold an
//! array of 16-bit item offsets, alternating key and value. rpm's keys are the 4-byte header number
//! (key 0 is bookkeeping and skipped); values are either inline (`H_KEYDATA`) or — for anything larger
//! than a fraction of a page, i.e. every real header — an `H_OFFPAGE` reference to a chain of overflow
//! pages (type 7) whose contents are concatenated. Both byte orders are read (the metadata magic tells
//! which). Each overflow page is used at most once, so output is bounded by the file size.

use super::{array, slice, usize_from, RpmDbError};

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

#[derive(Debug)]
struct Db<'a> {
    data: &'a [u8],
    big_endian: bool,
    page_size: usize,
    /// Pages present (the lesser of what the metadata declares and what the file holds).
    pages: u32,
    /// Pages the metadata declares.
    declared: u32,
}

impl<'a> Db<'a> {
    fn u16(&self, data: &[u8], offset: usize, what: &'static str) -> Result<u16, RpmDbError> {
        let b = array(data, offset, what)?;
        Ok(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, data: &[u8], offset: usize, what: &'static str) -> Result<u32, RpmDbError> {
        let b = array(data, offset, what)?;
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn page(&self, n: u32) -> Result<&'a [u8], RpmDbError> {
        if n >= self.pages {
            return Err(RpmDbError::PageOutOfRange {
                page: n.into(),
                pages: self.pages.into(),
            });
        }
        slice(
            self.data,
            usize_from(n).saturating_mul(self.page_size),
            self.page_size,
            "bdb page",
        )
    }
}

fn open(data: &[u8]) -> Result<Db<'_>, RpmDbError> {
    let magic: [u8; 4] = array(data, 12, "bdb metadata magic")?;
    let big_endian = if u32::from_le_bytes(magic) == HASH_MAGIC {
        false
    } else if u32::from_be_bytes(magic) == HASH_MAGIC {
        true
    } else {
        return Err(RpmDbError::BadMagic {
            format: "Berkeley DB hash",
        });
    };
    let mut db = Db {
        data,
        big_endian,
        page_size: 0,
        pages: 0,
        declared: 0,
    };
    let page_size = db.u32(data, 20, "bdb page size")?;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(RpmDbError::Unsupported {
            what: "bdb page size",
            value: page_size.into(),
        });
    }
    let encryption = data.get(24).copied().unwrap_or(0);
    if encryption != 0 {
        return Err(RpmDbError::Unsupported {
            what: "bdb encryption algorithm",
            value: encryption.into(),
        });
    }
    let kind = data.get(25).copied().unwrap_or(0);
    if kind != P_HASHMETA {
        return Err(RpmDbError::BadPageType { page: 0, kind });
    }
    let last = db.u32(data, 32, "bdb last page number")?;
    db.page_size = usize_from(page_size);
    let in_file =
        u32::try_from(data.len().checked_div(db.page_size).unwrap_or(0)).unwrap_or(u32::MAX);
    db.declared = last.saturating_add(1);
    db.pages = db.declared.min(in_file);
    Ok(db)
}

/// Reads every header blob from a Berkeley DB hash `Packages` file: the outer error means the file is
/// unusable, an inner one that one page or item is damaged.
pub fn read_blobs(data: &[u8]) -> Result<Vec<Result<Vec<u8>, RpmDbError>>, RpmDbError> {
    let db = open(data)?;
    let mut used = vec![false; usize_from(db.pages)];
    let mut out = Vec::new();
    for n in 1..db.pages {
        if let Err(e) = read_hash_page(&db, n, &mut used, &mut out) {
            out.push(Err(e));
        }
    }
    if db.pages < db.declared {
        out.push(Err(RpmDbError::Truncated {
            what: "bdb file (metadata declares more pages)",
            offset: data.len(),
            needed: usize_from(db.declared).saturating_mul(db.page_size),
        }));
    }
    Ok(out)
}

fn read_hash_page(
    db: &Db<'_>,
    n: u32,
    used: &mut [bool],
    out: &mut Vec<Result<Vec<u8>, RpmDbError>>,
) -> Result<(), RpmDbError> {
    let page = db.page(n)?;
    let kind = page.get(25).copied().unwrap_or(0);
    if kind != P_HASH && kind != P_HASH_UNSORTED {
        return Ok(());
    }
    let entries = usize::from(db.u16(page, 20, "bdb entry count")?);
    let offset_of = |i: usize| -> Result<usize, RpmDbError> {
        let at = i
            .checked_mul(2)
            .and_then(|o| o.checked_add(PAGE_HEADER))
            .ok_or(RpmDbError::BadPage {
                page: n.into(),
                what: "item index",
            })?;
        Ok(usize::from(db.u16(page, at, "bdb item offset")?))
    };
    // Item `i` spans from its offset to the previous item's offset (items grow down from the end).
    let item = |i: usize| -> Result<&[u8], RpmDbError> {
        let start = offset_of(i)?;
        let end = match i.checked_sub(1) {
            Some(prev) => offset_of(prev)?,
            None => db.page_size,
        };
        page.get(start..end)
            .filter(|s| !s.is_empty() && start >= PAGE_HEADER)
            .ok_or(RpmDbError::BadPage {
                page: n.into(),
                what: "item outside the page",
            })
    };
    for pair in 0..entries / 2 {
        let key_index = pair.saturating_mul(2);
        let key = item(key_index)?;
        let record = match key {
            [H_KEYDATA, k @ ..] if k.len() == 4 => db.u32(k, 0, "bdb key")?,
            _ => 0xffff_ffff,
        };
        if record == 0 {
            continue; // rpm's bookkeeping record, not a header
        }
        let value = item(key_index.saturating_add(1))?;
        out.push(match value {
            [H_KEYDATA, v @ ..] => Ok(v.to_vec()),
            [H_OFFPAGE, ..] => read_overflow(db, value, used),
            _ => Err(RpmDbError::BadRecord {
                record: record.into(),
                what: "unsupported bdb item type",
            }),
        });
    }
    Ok(())
}

/// Assembles an `H_OFFPAGE` item: `type, 3 pad, pgno: u32, tlen: u32`.
fn read_overflow(db: &Db<'_>, item: &[u8], used: &mut [bool]) -> Result<Vec<u8>, RpmDbError> {
    let mut next = db.u32(item, 4, "bdb off-page item")?;
    let total = usize_from(db.u32(item, 8, "bdb off-page item")?);
    // The pages that hold the item are in the file, so its length is bounded by the file size.
    if total > db.data.len() {
        return Err(RpmDbError::Unsupported {
            what: "bdb off-page item length",
            value: total as u64,
        });
    }
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let page = db.page(next)?;
        let seen = used
            .get_mut(usize_from(next))
            .ok_or(RpmDbError::PageOutOfRange {
                page: next.into(),
                pages: db.pages.into(),
            })?;
        if *seen {
            return Err(RpmDbError::PageCycle { page: next.into() });
        }
        *seen = true;
        let kind = page.get(25).copied().unwrap_or(0);
        if kind != P_OVERFLOW {
            return Err(RpmDbError::BadPageType {
                page: next.into(),
                kind,
            });
        }
        // On overflow pages the "high free offset" field holds the bytes stored on this page.
        let len = usize::from(db.u16(page, 22, "bdb overflow length")?);
        let want = len.min(total.saturating_sub(out.len()));
        out.extend_from_slice(slice(page, PAGE_HEADER, want, "bdb overflow data")?);
        next = db.u32(page, 16, "bdb next page")?;
        if next == 0 {
            break;
        }
    }
    if out.len() != total {
        return Err(RpmDbError::Truncated {
            what: "bdb overflow chain",
            offset: out.len(),
            needed: total,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn fixture() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rpm/bdb/Packages"
        ))
        .unwrap()
    }

    #[test]
    fn reads_the_fixture() {
        let blobs = read_blobs(&fixture()).unwrap();
        assert_eq!(blobs.len(), 4);
        assert!(blobs.iter().all(|b| b.is_ok()));
        assert!(blobs.iter().any(|b| b.as_ref().unwrap().len() > 4096));
    }

    #[test]
    fn not_bdb() {
        assert!(read_blobs(b"").is_err());
        assert!(matches!(
            read_blobs(&[0u8; 512]),
            Err(RpmDbError::BadMagic { .. })
        ));
    }

    #[test]
    fn truncations_never_panic() {
        let db = fixture();
        for len in (0..db.len())
            .step_by(509)
            .chain([4095, 4096, 4097, db.len() - 1])
        {
            if let Ok(records) = read_blobs(&db[..len]) {
                // Whatever comes back complete must be a whole header from the fixture.
                assert!(records.iter().filter(|r| r.is_ok()).count() <= 4);
            }
        }
        assert!(read_blobs(&db[..db.len() - 1])
            .unwrap()
            .iter()
            .any(|r| r.is_err()));
    }

    #[test]
    fn overflow_cycle_is_detected() {
        let mut db = fixture();
        let ps = 4096;
        // Point every overflow page's "next" at itself.
        for p in 1..db.len() / ps {
            if db[p * ps + 25] == P_OVERFLOW {
                let me = (p as u32).to_le_bytes();
                db[p * ps + 16..p * ps + 20].copy_from_slice(&me);
            }
        }
        let records = read_blobs(&db).unwrap();
        assert!(records
            .iter()
            .any(|r| matches!(r, Err(RpmDbError::PageCycle { .. }))));
    }

    #[test]
    fn big_endian_databases_are_read() {
        // Byte-swap the header fields we read on every page; blob bytes stay as they are.
        let mut db = fixture();
        let ps = 4096;
        let swap = |db: &mut Vec<u8>, at: usize, n: usize| db[at..at + n].reverse();
        for (at, n) in [(12, 4), (20, 4), (32, 4)] {
            swap(&mut db, at, n);
        }
        for p in 1..db.len() / ps {
            let base = p * ps;
            let kind = db[base + 25];
            let entries = u16::from_le_bytes([db[base + 20], db[base + 21]]) as usize;
            for (at, n) in [(8, 4), (12, 4), (16, 4), (20, 2), (22, 2)] {
                swap(&mut db, base + at, n);
            }
            if kind == P_HASH {
                for i in 0..entries {
                    let at = base + PAGE_HEADER + 2 * i;
                    let off = u16::from_le_bytes([db[at], db[at + 1]]) as usize;
                    swap(&mut db, at, 2);
                    if db[base + off] == H_OFFPAGE {
                        swap(&mut db, base + off + 4, 4);
                        swap(&mut db, base + off + 8, 4);
                    } else if db[base + off] == H_KEYDATA && i % 2 == 0 {
                        swap(&mut db, base + off + 1, 4);
                    }
                }
            }
        }
        let le = read_blobs(&fixture()).unwrap();
        let be = read_blobs(&db).unwrap();
        assert_eq!(le, be);
    }
}
