#![no_main]
//! ELF / PE / Mach-O facts (goblin underneath) on arbitrary bytes; the sniffer must agree with the
//! parser about what is not native.

use libfuzzer_sys::fuzz_target;
use scanner_core::lang::native;

fuzz_target!(|data: &[u8]| {
    let sniffed = native::looks_native(data);
    match native::native_info_bytes(data) {
        Ok(Some(info)) => {
            assert!(sniffed);
            assert!(info.class_bits == 32 || info.class_bits == 64 || info.class_bits == 0);
        }
        Ok(None) | Err(_) => {}
    }
});
