//! Reading an ELF file without its machine code.
//!
//! The content extractors ([`crate::lang::Standard`]) look at an ELF file's headers, dynamic
//! section, string and symbol tables, notes, version sections, data (Go's build info) and read-only
//! data (Rust's panic paths), never at its code — yet the code is about half the bytes of a large
//! shared library. [`elf_ranges`] plans the byte ranges worth reading: everything but the contents
//! of executable sections (and of executable `PT_LOAD` segments outside any non-executable
//! section). [`read_elf_sparse`] reads only those into a buffer of the file's size whose other
//! bytes stay zero — and, being freshly allocated zeroed memory, are never touched at all.
//!
//! A file this cannot plan for (not ELF, no section headers, headers out of bounds, or too little
//! to save) is read whole by the caller. The corpus test `sparse_reads_give_the_same_facts` checks
//! that the facts of every ELF file of the corpus image are the same either way.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

use goblin::container::{Container, Ctx};
use goblin::elf::program_header::{ProgramHeader, PF_X, PT_LOAD};
use goblin::elf::section_header::{SectionHeader, SHF_EXECINSTR, SHT_NOBITS};
use goblin::elf::Elf;

/// Files smaller than this are read whole: the saving would not pay for the extra reads.
pub const MIN_SPARSE: u64 = 1 << 20;
/// Most section or program headers planned for (ELF allows 65535 sections without extensions).
const MAX_HEADERS: usize = 1 << 16;
/// Plan only when it skips at least a quarter of the file.
const MIN_SAVING_NUM: u64 = 1;
const MIN_SAVING_DEN: u64 = 4;

/// The sorted, merged `(offset, length)` ranges of an ELF file of `size` bytes that hold everything
/// but code. `head` is the file's first bytes (at least the ELF header: 52 or 64); `read_at(offset,
/// len)` reads the header tables. `None` when the file is not one this can plan for.
pub fn elf_ranges(
    head: &[u8],
    size: u64,
    read_at: &mut dyn FnMut(u64, usize) -> Option<Vec<u8>>,
) -> Option<Vec<(u64, u64)>> {
    if !head.starts_with(b"\x7fELF") {
        return None;
    }
    let header = Elf::parse_header(head).ok()?;
    let container = header.container().ok()?;
    let ctx = Ctx::new(container, header.endianness().ok()?);
    let (sh_size, ph_size) = match container {
        Container::Big => (64usize, 56usize),
        Container::Little => (40, 32),
    };
    let shnum = usize::from(header.e_shnum);
    let phnum = usize::from(header.e_phnum);
    if shnum == 0
        || shnum > MAX_HEADERS
        || phnum > MAX_HEADERS
        || usize::from(header.e_shentsize) != sh_size
        || (phnum > 0 && usize::from(header.e_phentsize) != ph_size)
    {
        return None;
    }
    let sh_len = shnum * sh_size;
    let ph_len = phnum * ph_size;
    // `parse_from`: the table is read on its own, at offset 0 of its buffer (`parse` takes 0 for "none").
    let shdrs = SectionHeader::parse_from(&read_at(header.e_shoff, sh_len)?, 0, shnum, ctx).ok()?;
    let phdrs = if phnum == 0 {
        Vec::new()
    } else {
        ProgramHeader::parse(&read_at(header.e_phoff, ph_len)?, 0, phnum, ctx).ok()?
    };

    let mut ranges: Vec<(u64, u64)> = vec![
        (0, u64::from(header.e_ehsize).max(head.len() as u64)),
        (header.e_phoff, ph_len as u64),
        (header.e_shoff, sh_len as u64),
    ];
    for p in &phdrs {
        if !(p.p_type == PT_LOAD && p.p_flags & PF_X != 0) {
            ranges.push((p.p_offset, p.p_filesz));
        }
    }
    for s in &shdrs {
        if s.sh_type != SHT_NOBITS && s.sh_flags & u64::from(SHF_EXECINSTR) == 0 {
            ranges.push((s.sh_offset, s.sh_size));
        }
    }
    Some(merge(ranges, size))
}

/// Clamps the ranges to `[0, size)`, drops empty ones, sorts and merges overlapping or touching
/// ones.
fn merge(mut ranges: Vec<(u64, u64)>, size: u64) -> Vec<(u64, u64)> {
    ranges.retain(|&(off, len)| len > 0 && off < size);
    for r in &mut ranges {
        r.1 = r.1.min(size - r.0);
    }
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (off, len) in ranges {
        match out.last_mut() {
            Some((o, l)) if off <= *o + *l => *l = (*l).max(off + len - *o),
            _ => out.push((off, len)),
        }
    }
    out
}

/// Reads `file` (`size` bytes, first bytes `head`) with only the [`elf_ranges`] filled in and zeros
/// elsewhere; `None` when there is no plan, the plan would not skip at least a quarter of the file
/// (read it whole instead), or a read fails.
pub fn read_elf_sparse(file: &File, head: &[u8], size: u64) -> Option<Vec<u8>> {
    if size < MIN_SPARSE {
        return None;
    }
    let mut read_at = |offset: u64, len: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    };
    let ranges = elf_ranges(head, size, &mut read_at)?;
    let loaded: u64 = ranges.iter().map(|(_, len)| len).sum();
    if loaded.saturating_mul(MIN_SAVING_DEN) > size.saturating_mul(MIN_SAVING_DEN - MIN_SAVING_NUM)
    {
        return None;
    }
    // Zeroed by the allocator (fresh pages for a large buffer): bytes never read stay untouched.
    let mut out = vec![0u8; usize::try_from(size).ok()?];
    for (off, len) in ranges {
        let start = usize::try_from(off).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        file.read_exact_at(out.get_mut(start..end)?, off).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn merge_clamps_sorts_and_joins() {
        assert_eq!(
            merge(
                vec![
                    (50, 10),
                    (0, 10),
                    (5, 10),
                    (15, 0),
                    (20, 5),
                    (25, 5),
                    (95, 20),
                    (200, 1)
                ],
                100
            ),
            [(0, 15), (20, 10), (50, 10), (95, 5)]
        );
    }

    #[test]
    fn not_elf_or_hostile_headers_give_no_plan() {
        let mut never = |_: u64, _: usize| -> Option<Vec<u8>> { None };
        assert!(elf_ranges(b"MZ\x90\x00", 1 << 24, &mut never).is_none());
        assert!(elf_ranges(b"\x7fELF", 1 << 24, &mut never).is_none());
        // A 64-bit header claiming sections whose table cannot be read.
        let mut head = vec![0u8; 64];
        head[..4].copy_from_slice(b"\x7fELF");
        head[4] = 2; // ELFCLASS64
        head[5] = 1; // little-endian
        head[6] = 1;
        head[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        head[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        head[60..62].copy_from_slice(&3u16.to_le_bytes()); // e_shnum
        assert!(elf_ranges(&head, 1 << 24, &mut never).is_none());
        // Wrong entry size.
        head[58..60].copy_from_slice(&12u16.to_le_bytes());
        let mut zeros = |_: u64, len: usize| -> Option<Vec<u8>> { Some(vec![0; len]) };
        assert!(elf_ranges(&head, 1 << 24, &mut zeros).is_none());
    }

    #[test]
    fn this_test_binary_is_planned_without_its_code() {
        let exe = std::env::current_exe().unwrap();
        let bytes = std::fs::read(&exe).unwrap();
        let size = bytes.len() as u64;
        let mut read_at = |off: u64, len: usize| -> Option<Vec<u8>> {
            let start = usize::try_from(off).ok()?;
            bytes.get(start..start + len).map(<[u8]>::to_vec)
        };
        let head = bytes.get(..64).unwrap();
        let ranges = elf_ranges(head, size, &mut read_at).unwrap();
        let loaded: u64 = ranges.iter().map(|r| r.1).sum();
        assert!(loaded < size);
        // Every non-code section with content lies inside the ranges; some code does not.
        let elf = Elf::parse(&bytes).unwrap();
        let covered =
            |off: u64, len: u64| ranges.iter().any(|&(o, l)| o <= off && off + len <= o + l);
        let mut code_skipped = false;
        for sh in &elf.section_headers {
            if sh.sh_type == SHT_NOBITS || sh.sh_size == 0 {
                continue;
            }
            if sh.sh_flags & u64::from(SHF_EXECINSTR) == 0 {
                assert!(covered(sh.sh_offset, sh.sh_size), "{sh:?}");
            } else if !covered(sh.sh_offset, sh.sh_size) {
                code_skipped = true;
            }
        }
        assert!(code_skipped);
        assert!(ranges.windows(2).all(|w| w[0].0 + w[0].1 < w[1].0));
        let file = File::open(&exe).unwrap();
        if let Some(sparse) = read_elf_sparse(&file, head, size) {
            assert_eq!(sparse.len(), bytes.len());
            for (off, len) in &ranges {
                let (s, e) = (*off as usize, (*off + *len) as usize);
                assert_eq!(sparse[s..e], bytes[s..e]);
            }
        }
    }
}
