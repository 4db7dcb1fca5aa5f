//! A minimal read-only reader of the SQLite 3 file format, just enough for `rpmdb.sqlite`.
//!
//! Format: <https://www.sqlite.org/fileformat2.html>. We read the 100-byte database header (page size,
//! reserved bytes), the schema table (`sqlite_schema`, rooted at page 1) to find the root page of the
//! table `Packages`, then walk that table b-tree (interior pages `0x05`, leaf pages `0x0D`), decode each
//! row's record and return its `blob` column, following overflow-page chains.
//!
//! rpm's schema is `CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT
//! NULL)`: `hnum` aliases the rowid (stored as NULL in the record) and the blob is the second column.
//!
//! Not supported, by design: the write-ahead log (`-wal` file; rpm checkpoints it on close), index
//! b-trees, free-list walking, and anything that writes. Every page is visited at most once per b-tree
//! (a visited set defeats cycles), and the payload bytes of one walk may not exceed the file size
//! (cells of a real database never overlap; hostile cell pointers could all name one big cell), so the
//! work and the bytes returned are bounded by the file size.

use super::{be_u16, be_u32, slice, usize_from, RpmDbError};

const MAGIC: &[u8; 16] = b"SQLite format 3\0";
const TABLE_INTERIOR: u8 = 0x05;
const TABLE_LEAF: u8 = 0x0d;

/// The parsed database header and the file bytes.
#[derive(Debug)]
struct Db<'a> {
    data: &'a [u8],
    page_size: usize,
    /// Usable bytes per page (page size minus reserved bytes).
    usable: usize,
    pages: u32,
}

impl<'a> Db<'a> {
    fn open(data: &'a [u8]) -> Result<Self, RpmDbError> {
        let head = slice(data, 0, 100, "sqlite database header")?;
        if head.get(..16) != Some(&MAGIC[..]) {
            return Err(RpmDbError::BadMagic { format: "SQLite 3" });
        }
        let raw = be_u16(head, 16, "page size")?;
        let page_size: usize = if raw == 1 { 65536 } else { raw.into() };
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(RpmDbError::Unsupported {
                what: "sqlite page size",
                value: raw.into(),
            });
        }
        let reserved = usize::from(head.get(20).copied().unwrap_or(0));
        let usable = page_size.saturating_sub(reserved);
        // The format requires at least 480 usable bytes; smaller makes the overflow arithmetic wrap.
        if usable < 480 {
            return Err(RpmDbError::Unsupported {
                what: "sqlite reserved bytes per page",
                value: reserved as u64,
            });
        }
        let pages =
            u32::try_from(data.len().checked_div(page_size).unwrap_or(0)).unwrap_or(u32::MAX);
        Ok(Db {
            data,
            page_size,
            usable,
            pages,
        })
    }

    /// The bytes of 1-based page `n`.
    fn page(&self, n: u32) -> Result<&'a [u8], RpmDbError> {
        if n == 0 || n > self.pages {
            return Err(RpmDbError::PageOutOfRange {
                page: n.into(),
                pages: self.pages.into(),
            });
        }
        let start = usize_from(n.saturating_sub(1)).saturating_mul(self.page_size);
        slice(self.data, start, self.page_size, "sqlite page")
    }
}

/// Pages already visited in one walk, and the payload bytes it may still produce.
#[derive(Debug)]
struct Visited(Vec<bool>, usize);

impl Visited {
    fn new(pages: u32, budget: usize) -> Self {
        Visited(vec![false; usize_from(pages).saturating_add(1)], budget)
    }

    /// Takes `n` payload bytes from the walk's budget.
    fn spend(&mut self, n: usize, page: u32) -> Result<(), RpmDbError> {
        self.1 = self.1.checked_sub(n).ok_or(RpmDbError::BadPage {
            page: page.into(),
            what: "cells overlap: payloads larger in total than the file",
        })?;
        Ok(())
    }

    /// Marks `page`; an error if it was marked before (a cycle) or is out of range.
    fn mark(&mut self, page: u32) -> Result<(), RpmDbError> {
        let pages = self.0.len().saturating_sub(1) as u64;
        let slot = self
            .0
            .get_mut(usize_from(page))
            .ok_or(RpmDbError::PageOutOfRange {
                page: page.into(),
                pages,
            })?;
        if *slot {
            return Err(RpmDbError::PageCycle { page: page.into() });
        }
        *slot = true;
        Ok(())
    }
}

/// Reads a SQLite varint at `offset`: returns the value and its length in bytes.
fn varint(data: &[u8], offset: usize) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for i in 0..9usize {
        let b = *data.get(offset.checked_add(i)?)?;
        if i == 8 {
            return Some(((value << 8) | u64::from(b), 9));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((value, i.checked_add(1)?));
        }
    }
    None
}

/// One row of a table b-tree: its rowid and its complete payload.
#[derive(Debug)]
struct Row {
    rowid: i64,
    payload: Vec<u8>,
}

/// Walks the table b-tree rooted at `root`, returning each row or, for a damaged subtree, an error in
/// its place.
fn walk_table(db: &Db<'_>, root: u32) -> Vec<Result<Row, RpmDbError>> {
    let mut visited = Visited::new(db.pages, db.data.len());
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(page_no) = stack.pop() {
        if let Err(e) = visit_page(db, page_no, &mut visited, &mut stack, &mut out) {
            out.push(Err(e));
        }
    }
    out
}

fn visit_page(
    db: &Db<'_>,
    page_no: u32,
    visited: &mut Visited,
    stack: &mut Vec<u32>,
    out: &mut Vec<Result<Row, RpmDbError>>,
) -> Result<(), RpmDbError> {
    visited.mark(page_no)?;
    let page = db.page(page_no)?;
    // Page 1 starts with the 100-byte database header; its b-tree header follows.
    let hdr = if page_no == 1 { 100 } else { 0 };
    let kind = *page.get(hdr).ok_or(RpmDbError::BadPage {
        page: page_no.into(),
        what: "missing b-tree header",
    })?;
    let cells = usize::from(be_u16(page, hdr.saturating_add(3), "cell count")?);
    let (ptrs, interior) = match kind {
        TABLE_LEAF => (hdr.saturating_add(8), false),
        TABLE_INTERIOR => (hdr.saturating_add(12), true),
        _ => {
            return Err(RpmDbError::BadPageType {
                page: page_no.into(),
                kind,
            })
        }
    };
    let bad = |what| RpmDbError::BadPage {
        page: page_no.into(),
        what,
    };
    let mut children = Vec::new();
    if interior {
        children.push(be_u32(page, hdr.saturating_add(8), "right-most pointer")?);
    }
    for i in 0..cells {
        let at = i.checked_mul(2).and_then(|o| o.checked_add(ptrs));
        let cell = usize::from(be_u16(
            page,
            at.ok_or_else(|| bad("cell pointer"))?,
            "cell pointer",
        )?);
        if cell >= db.usable {
            return Err(bad("cell pointer past the usable page"));
        }
        if interior {
            children.push(be_u32(page, cell, "child pointer")?);
        } else {
            out.push(read_leaf_cell(db, page, page_no, cell, visited));
        }
    }
    // Push in reverse so rows come out in rowid order.
    stack.extend(children.into_iter().rev());
    Ok(())
}

fn read_leaf_cell(
    db: &Db<'_>,
    page: &[u8],
    page_no: u32,
    cell: usize,
    visited: &mut Visited,
) -> Result<Row, RpmDbError> {
    let bad = |what| RpmDbError::BadPage {
        page: page_no.into(),
        what,
    };
    let (size, n1) = varint(page, cell).ok_or_else(|| bad("payload size varint"))?;
    let at = cell.saturating_add(n1);
    let (rowid, n2) = varint(page, at).ok_or_else(|| bad("rowid varint"))?;
    let at = at.saturating_add(n2);
    // A payload cannot be larger than the file that stores it: this bounds the allocation.
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= db.data.len())
        .ok_or_else(|| bad("payload larger than the file"))?;
    // Local payload size, from the file-format document (table b-tree leaf cells).
    let u = db.usable;
    let max_local = u.saturating_sub(35);
    let local = if size <= max_local {
        size
    } else {
        let min_local = (u.saturating_sub(12).saturating_mul(32) / 255).saturating_sub(23);
        let k = min_local.saturating_add(
            size.saturating_sub(min_local)
                .checked_rem(u.saturating_sub(4))
                .unwrap_or(0),
        );
        if k <= max_local {
            k
        } else {
            min_local
        }
    };
    visited.spend(size, page_no)?;
    let mut payload = Vec::with_capacity(size);
    payload.extend_from_slice(
        page.get(at..at.saturating_add(local).min(db.usable))
            .filter(|s| s.len() == local)
            .ok_or_else(|| bad("local payload past the usable page"))?,
    );
    if local < size {
        let mut next = be_u32(page, at.saturating_add(local), "first overflow page")?;
        let chunk = u.saturating_sub(4);
        while payload.len() < size {
            visited.mark(next)?;
            let ov = db.page(next)?;
            let want = chunk.min(size.saturating_sub(payload.len()));
            payload.extend_from_slice(slice(ov, 4, want, "overflow page content")?);
            next = be_u32(ov, 0, "overflow page link")?;
        }
    }
    Ok(Row {
        rowid: i64::from_ne_bytes(rowid.to_ne_bytes()),
        payload,
    })
}

/// One column value of a record.
#[derive(Debug, PartialEq)]
enum Value<'a> {
    Null,
    Int(i64),
    Other,
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// Decodes the first `max_cols` columns of a record.
fn record(payload: &[u8], max_cols: usize) -> Option<Vec<Value<'_>>> {
    let (hdr_len, n) = varint(payload, 0)?;
    let hdr_len = usize::try_from(hdr_len).ok()?;
    if hdr_len > payload.len() {
        return None;
    }
    let mut at = n;
    let mut body = hdr_len;
    let mut out = Vec::new();
    while at < hdr_len && out.len() < max_cols {
        let (serial, n) = varint(payload, at)?;
        at = at.checked_add(n)?;
        let len: usize = match serial {
            0 | 8 | 9 | 10 | 11 => 0,
            1..=4 => usize::try_from(serial).ok()?,
            5 => 6,
            6 | 7 => 8,
            s => usize::try_from((s.checked_sub(12)?) / 2).ok()?,
        };
        let bytes = payload.get(body..body.checked_add(len)?)?;
        body = body.checked_add(len)?;
        out.push(match serial {
            0 => Value::Null,
            1..=6 => {
                // Big-endian two's complement of 1–8 bytes, sign-extended.
                let neg = bytes.first().is_some_and(|b| b & 0x80 != 0);
                let init = if neg { u64::MAX } else { 0 };
                let v = bytes.iter().fold(init, |acc, &b| (acc << 8) | u64::from(b));
                Value::Int(i64::from_ne_bytes(v.to_ne_bytes()))
            }
            8 => Value::Int(0),
            9 => Value::Int(1),
            s if s >= 12 && s % 2 == 0 => Value::Blob(bytes),
            s if s >= 13 => Value::Text(bytes),
            _ => Value::Other,
        });
    }
    Some(out)
}

/// Finds the root page of table `Packages` in the schema (page 1).
fn packages_root(db: &Db<'_>) -> Result<u32, RpmDbError> {
    let mut first_error = None;
    for row in walk_table(db, 1) {
        // A damaged schema page need not hide the Packages entry on another one.
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        // sqlite_schema columns: type, name, tbl_name, rootpage, sql.
        let Some(cols) = record(&row.payload, 4) else {
            continue;
        };
        if let [Value::Text(b"table"), Value::Text(b"Packages"), _, Value::Int(root)] = cols[..] {
            return u32::try_from(root).map_err(|_| RpmDbError::BadRecord {
                record: row.rowid as u64,
                what: "Packages root page out of range",
            });
        }
    }
    Err(first_error.unwrap_or(RpmDbError::NoPackagesTable))
}

/// Reads every header blob from an `rpmdb.sqlite` file: the outer error means the file is unusable,
/// an inner one that a row or a subtree of the table is damaged.
pub fn read_blobs(data: &[u8]) -> Result<Vec<Result<Vec<u8>, RpmDbError>>, RpmDbError> {
    let db = Db::open(data)?;
    let root = packages_root(&db)?;
    Ok(walk_table(&db, root)
        .into_iter()
        .map(|row| {
            let row = row?;
            let record_no = row.rowid as u64;
            let cols = record(&row.payload, 2).ok_or(RpmDbError::BadRecord {
                record: record_no,
                what: "malformed record",
            })?;
            match cols.get(1) {
                Some(Value::Blob(b)) => Ok(b.to_vec()),
                _ => Err(RpmDbError::BadRecord {
                    record: record_no,
                    what: "blob column is not a BLOB",
                }),
            }
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn fixture() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rpm/sqlite/rpmdb.sqlite"
        ))
        .unwrap()
    }

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x05], 0), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00], 0), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9], 0), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81], 0), None);
        assert_eq!(varint(&[], 0), None);
    }

    #[test]
    fn records() {
        // header len 3, NULL, blob of 2 bytes (serial 16)
        let rec = [3, 0, 16, 0xaa, 0xbb];
        assert_eq!(
            record(&rec, 2).unwrap(),
            vec![Value::Null, Value::Blob(&[0xaa, 0xbb])]
        );
        // header claims a 100-byte blob in a 5-byte record
        assert_eq!(record(&[2, 212, 1], 1), None);
        // negative int8
        assert_eq!(record(&[2, 1, 0xff], 1).unwrap(), vec![Value::Int(-1)]);
    }

    #[test]
    fn reads_the_fixture_with_overflow_pages() {
        let blobs = read_blobs(&fixture()).unwrap();
        assert_eq!(blobs.len(), 4);
        // stella-many's header is larger than a page, so it came through an overflow chain.
        assert!(blobs.iter().any(|b| b.as_ref().unwrap().len() > 4096));
    }

    #[test]
    fn not_sqlite() {
        assert!(matches!(
            read_blobs(b"hello"),
            Err(RpmDbError::Truncated { .. })
        ));
        assert!(matches!(
            read_blobs(&[0u8; 200]),
            Err(RpmDbError::BadMagic { .. })
        ));
    }

    #[test]
    fn truncated_files_never_panic() {
        let db = fixture();
        let page = 4096;
        for len in (0..db.len()).step_by(page / 2).chain([99, 100, 101, 4095]) {
            let _ = read_blobs(&db[..len]);
        }
        assert!(read_blobs(&db[..page])
            .unwrap_or_default()
            .iter()
            .all(|r| r.is_err()));
    }

    fn page_size(db: &[u8]) -> usize {
        usize::from(u16::from_be_bytes([db[16], db[17]]))
    }

    fn root_of_packages(db: &[u8]) -> u32 {
        packages_root(&Db::open(db).unwrap()).unwrap()
    }

    #[test]
    fn interior_page_pointing_at_itself_is_a_cycle() {
        let mut db = fixture();
        let ps = page_size(&db);
        let root = root_of_packages(&db);
        let off = (root as usize - 1) * ps;
        // Turn the root into an interior page whose right-most child is itself.
        db[off] = TABLE_INTERIOR;
        db[off + 3..off + 5].copy_from_slice(&0u16.to_be_bytes());
        db[off + 8..off + 12].copy_from_slice(&root.to_be_bytes());
        let rows = read_blobs(&db).unwrap();
        assert_eq!(rows, vec![Err(RpmDbError::PageCycle { page: root.into() })]);
    }

    #[test]
    fn cells_sharing_one_payload_are_bounded() {
        let mut db = fixture();
        let ps = page_size(&db);
        // Descend along right-most pointers to a leaf of the Packages table.
        let mut leaf = root_of_packages(&db);
        while db[(leaf as usize - 1) * ps] == TABLE_INTERIOR {
            let at = (leaf as usize - 1) * ps + 8;
            leaf = u32::from_be_bytes(db[at..at + 4].try_into().unwrap());
        }
        let off = (leaf as usize - 1) * ps;
        let hdr = 0;
        assert_eq!(db[off], TABLE_LEAF);
        // Claim the maximum number of cells, every one pointing at the first cell.
        let first = [db[off + hdr + 8], db[off + hdr + 9]];
        // As many as fit below the cell content area, so the first cell itself stays intact.
        let content = u16::from_be_bytes([db[off + 5], db[off + 6]]) as usize;
        let cells = (content - 8) / 2;
        db[off + hdr + 3..off + hdr + 5].copy_from_slice(&(cells as u16).to_be_bytes());
        for i in 0..cells {
            let p = off + hdr + 8 + 2 * i;
            db[p..p + 2].copy_from_slice(&first);
        }
        let rows = read_blobs(&db).unwrap();
        let total: usize = rows.iter().flatten().map(Vec::len).sum();
        assert!(total <= db.len());
        assert!(rows.iter().any(|r| matches!(
            r,
            Err(RpmDbError::BadPage { what, .. }) if what.starts_with("cells overlap")
        )));
    }

    #[test]
    fn child_pointer_out_of_range() {
        let mut db = fixture();
        let ps = page_size(&db);
        let root = root_of_packages(&db);
        let off = (root as usize - 1) * ps;
        db[off] = TABLE_INTERIOR;
        db[off + 3..off + 5].copy_from_slice(&0u16.to_be_bytes());
        db[off + 8..off + 12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        let rows = read_blobs(&db).unwrap();
        assert!(matches!(rows[..], [Err(RpmDbError::PageOutOfRange { .. })]));
    }

    #[test]
    fn corrupt_cell_pointers_and_overflow_links() {
        let orig = fixture();
        let ps = page_size(&orig);
        let root = root_of_packages(&orig);
        let off = (root as usize - 1) * ps;
        let hdr = if root == 1 { 100 } else { 0 };
        // Every cell pointer aimed at every interesting place: never a panic, always an error or rows.
        for target in [0u16, 1, 7, (ps - 1) as u16, (ps - 4) as u16, 0xffff] {
            let mut db = orig.clone();
            let cells = u16::from_be_bytes([db[off + hdr + 3], db[off + hdr + 4]]) as usize;
            for i in 0..cells {
                let p = off + hdr + 8 + 2 * i;
                db[p..p + 2].copy_from_slice(&target.to_be_bytes());
            }
            let _ = read_blobs(&db);
        }
        // Overflow links pointing back at the leaf or past the end: rewrite the link of every page
        // that is not a b-tree page (b-tree pages start with a non-zero type byte; overflow-page
        // links, being small page numbers, start with a zero byte).
        for bad in [root, 1, u32::MAX] {
            let mut db = orig.clone();
            for p in 1..db.len() / ps {
                if db[p * ps] == 0 {
                    db[p * ps..p * ps + 4].copy_from_slice(&bad.to_be_bytes());
                }
            }
            let rows = read_blobs(&db).unwrap();
            assert!(rows.iter().any(|r| r.is_err()), "link {bad}");
        }
    }
}
