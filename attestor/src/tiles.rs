//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): paths, tiles and entry bundles.
//!
//! Tiles have height 8 and width 256. Tile `(L, N)` holds the hashes of the tree nodes at level
//! `8 * L` with indices `256 * N ..`; a partial tile (`.p/<W>`, 1 ≤ W ≤ 255) holds the first `W`.
//! Entry bundle `N` holds entries `256 * N ..`, each prefixed with its length as a big-endian u16.
//! Index `N` in a path is written in groups of three digits, every group but the last prefixed
//! with `x`: 1234067 is `x001/x234/067`. Parsing accepts only this canonical form.

use crate::merkle::Hash;

/// Levels of the tree covered by one tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile (and entries in a full bundle).
pub const TILE_WIDTH: u16 = 256;
/// The highest tile level a path may name (a 64-bit tree needs at most 8).
pub const MAX_TILE_LEVEL: u8 = 63;

/// Why a tile path, tile or bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// The path is not a canonical tile or entries path.
    #[error("not a tlog-tiles path: {path:?} ({reason})")]
    BadPath {
        /// The path (truncated to 200 bytes).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A tile is not a whole number of hashes between 1 and 256.
    #[error("tile is {len} bytes: not 1 to 256 hashes of 32 bytes")]
    BadTileLength {
        /// Its length in bytes.
        len: usize,
    },
    /// An entry is longer than the u16 length prefix allows.
    #[error("entry {position} is {len} bytes, longer than 65535")]
    EntryTooLarge {
        /// Its position in the bundle.
        position: usize,
        /// Its length.
        len: usize,
    },
    /// A bundle has more than 256 entries.
    #[error("entry bundle has {count} entries, more than 256")]
    TooManyEntries {
        /// How many.
        count: usize,
    },
    /// A bundle ends inside a length prefix or an entry.
    #[error("entry bundle is truncated in entry {position}")]
    TruncatedBundle {
        /// The entry being read.
        position: usize,
    },
}

/// A parsed tile or entries path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TilePath {
    /// Tile level; `None` for an entry bundle.
    pub level: Option<u8>,
    /// Tile index.
    pub index: u64,
    /// Width of a partial tile (1..=255); `None` for a full one.
    pub partial: Option<u16>,
}

impl TilePath {
    /// The path again, in canonical form.
    pub fn to_path(&self) -> String {
        match self.level {
            Some(l) => tile_path(l, self.index, self.partial),
            None => entries_path(self.index, self.partial),
        }
    }
}

fn encode_index(mut n: u64) -> String {
    let mut s = format!("{:03}", n % 1000);
    n /= 1000;
    while n > 0 {
        s = format!("x{:03}/{s}", n % 1000);
        n /= 1000;
    }
    s
}

fn suffix(partial: Option<u16>) -> String {
    match partial {
        Some(w) => format!(".p/{w}"),
        None => String::new(),
    }
}

/// `tile/<L>/<N>[.p/<W>]`.
pub fn tile_path(level: u8, index: u64, partial_width: Option<u16>) -> String {
    format!(
        "tile/{level}/{}{}",
        encode_index(index),
        suffix(partial_width)
    )
}

/// `tile/entries/<N>[.p/<W>]`.
pub fn entries_path(index: u64, partial_width: Option<u16>) -> String {
    format!(
        "tile/entries/{}{}",
        encode_index(index),
        suffix(partial_width)
    )
}

/// A decimal without sign or leading zeros.
fn canonical_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

fn three_digits(s: &str) -> Option<u64> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parse a canonical `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
pub fn parse_tile_path(path: &str) -> Result<TilePath, TileError> {
    let bad = |reason| TileError::BadPath {
        path: path.chars().take(200).collect(),
        reason,
    };
    if path.len() > 128 {
        return Err(bad("too long"));
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    if parts.len() < 3 || parts.first() != Some(&"tile") {
        return Err(bad("must start with tile/<level or entries>/"));
    }
    let level = match parts.get(1) {
        Some(&"entries") => None,
        Some(l) => match canonical_decimal(l) {
            Some(l) if l <= u64::from(MAX_TILE_LEVEL) => Some(l as u8),
            _ => return Err(bad("level is not a decimal from 0 to 63")),
        },
        None => return Err(bad("no level")),
    };
    // A partial suffix: ".../NNN.p/W".
    let mut partial = None;
    if parts.len() >= 4 {
        let n = parts.len();
        if let Some(stripped) = parts.get(n - 2).and_then(|p| p.strip_suffix(".p")) {
            let w = parts
                .get(n - 1)
                .and_then(|w| canonical_decimal(w))
                .filter(|w| (1..u64::from(TILE_WIDTH)).contains(w))
                .ok_or_else(|| bad("partial width is not a decimal from 1 to 255"))?;
            partial = Some(w as u16);
            parts.truncate(n - 1);
            if let Some(last) = parts.last_mut() {
                *last = stripped;
            }
        }
    }
    let groups = parts.get(2..).unwrap_or_default();
    if groups.is_empty() || groups.len() > 7 {
        return Err(bad("index has no or too many groups"));
    }
    let mut index: u64 = 0;
    for (i, g) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let digits = if last {
            *g
        } else {
            g.strip_prefix('x')
                .ok_or_else(|| bad("every index group but the last starts with x"))?
        };
        let v = three_digits(digits).ok_or_else(|| bad("index group is not three digits"))?;
        if i == 0 && v == 0 && !last {
            return Err(bad("index has a leading zero group"));
        }
        index = index
            .checked_mul(1000)
            .and_then(|x| x.checked_add(v))
            .ok_or_else(|| bad("index does not fit in 64 bits"))?;
    }
    Ok(TilePath {
        level,
        index,
        partial,
    })
}

/// Concatenate entries, each behind a big-endian u16 length.
pub fn encode_entry_bundle(entries: &[&[u8]]) -> Result<Vec<u8>, TileError> {
    if entries.len() > usize::from(TILE_WIDTH) {
        return Err(TileError::TooManyEntries {
            count: entries.len(),
        });
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for (position, e) in entries.iter().enumerate() {
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge {
            position,
            len: e.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Split an entry bundle back into its entries (at most 256).
pub fn decode_entry_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let position = out.len();
        if position >= usize::from(TILE_WIDTH) {
            return Err(TileError::TooManyEntries {
                count: position + 1,
            });
        }
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(TileError::TruncatedBundle { position });
        };
        let len = usize::from(u16::from_be_bytes(*len));
        let Some((entry, tail)) = tail.split_at_checked(len) else {
            return Err(TileError::TruncatedBundle { position });
        };
        out.push(entry);
        rest = tail;
    }
    Ok(out)
}

/// The hashes in a tile (1 to 256 of them).
pub fn decode_tile(bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    let n = bytes.len() / 32;
    if bytes.len() % 32 != 0 || n == 0 || n > usize::from(TILE_WIDTH) {
        return Err(TileError::BadTileLength { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(32)
        .filter_map(|c| Hash::try_from(c).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_spec_examples() {
        assert_eq!(tile_path(0, 1234, None), "tile/0/x001/234");
        assert_eq!(tile_path(1, 1234067, Some(5)), "tile/1/x001/x234/067.p/5");
        assert_eq!(tile_path(2, 0, None), "tile/2/000");
        assert_eq!(
            entries_path(1234067, Some(8)),
            "tile/entries/x001/x234/067.p/8"
        );
        assert_eq!(
            entries_path(u64::MAX, None),
            "tile/entries/x018/x446/x744/x073/x709/x551/615"
        );
    }

    #[test]
    fn parse_round_trips() {
        for index in [0u64, 1, 999, 1000, 1234067, u64::MAX] {
            for partial in [None, Some(1u16), Some(255)] {
                for level in [None, Some(0u8), Some(5), Some(63)] {
                    let t = TilePath {
                        level,
                        index,
                        partial,
                    };
                    assert_eq!(parse_tile_path(&t.to_path()), Ok(t));
                }
            }
        }
    }

    #[test]
    fn parse_rejects_non_canonical_and_hostile_paths() {
        for p in [
            "",
            "tile",
            "tile/0",
            "tile/0/",
            "tile/00/000",
            "tile/64/000",
            "tile/-1/000",
            "tile/0/1",
            "tile/0/0001",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/0/x001/234/",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/05",
            "tile/0/000.p/",
            "tile/0/000.p",
            "tile/entries/../checkpoint",
            "tile/0/../../etc/passwd",
            "/tile/0/000",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x001/x002/x003/x004/x005/x006/x007/008",
            "tile/data/000",
            "tile/0/+12",
        ] {
            assert!(parse_tile_path(p).is_err(), "{p:?} was accepted");
        }
    }

    #[test]
    fn bundles_round_trip_and_reject_truncation() {
        let big = vec![7u8; 65535];
        let entries: Vec<&[u8]> = vec![b"", b"a", b"hello", &big];
        let enc = encode_entry_bundle(&entries).unwrap();
        assert_eq!(&enc[..3], &[0, 0, 0]);
        assert_eq!(decode_entry_bundle(&enc).unwrap(), entries);
        for cut in [1, 3, 4, enc.len() - 1] {
            assert!(decode_entry_bundle(&enc[..cut]).is_err(), "cut at {cut}");
        }
        let too_big = vec![0u8; 65536];
        assert_eq!(
            encode_entry_bundle(&[b"x", &too_big]),
            Err(TileError::EntryTooLarge {
                position: 1,
                len: 65536
            })
        );
        assert!(decode_entry_bundle(&[0u8; 2 * 257]).is_err());
        assert_eq!(decode_entry_bundle(&[]).unwrap(), Vec::<&[u8]>::new());
    }

    #[test]
    fn tiles_are_whole_hashes() {
        assert!(decode_tile(&[]).is_err());
        assert!(decode_tile(&[0; 33]).is_err());
        assert!(decode_tile(&[0; 32 * 257]).is_err());
        assert_eq!(decode_tile(&[1; 64]).unwrap(), vec![[1u8; 32]; 2]);
    }
}
