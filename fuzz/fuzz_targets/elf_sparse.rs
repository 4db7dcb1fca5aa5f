//! The sparse ELF read plan (`scanner_core::sparse::elf_ranges`) on arbitrary bytes taken as a
//! file: the plan never panics, stays inside the file, is sorted without overlaps, and the
//! extractors run on the sparse buffer it describes without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scanner_core::facts::Extractor as _;

fuzz_target!(|data: &[u8]| {
    let size = data.len() as u64;
    let mut read_at = |off: u64, len: usize| -> Option<Vec<u8>> {
        let start = usize::try_from(off).ok()?;
        data.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
    };
    let head = data.get(..data.len().min(64)).unwrap_or_default();
    let Some(ranges) = scanner_core::sparse::elf_ranges(head, size, &mut read_at) else {
        return;
    };
    let mut sparse = vec![0u8; data.len()];
    let mut end = 0u64;
    for (off, len) in ranges {
        assert!(len > 0 && off >= end && off + len <= size, "bad range {off}+{len}");
        end = off + len;
        let (s, e) = (off as usize, (off + len) as usize);
        sparse[s..e].copy_from_slice(&data[s..e]);
    }
    let _ = scanner_core::lang::Standard.extract("usr/lib/libfuzz.so", &sparse);
});
