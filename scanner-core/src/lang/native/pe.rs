//! PE facts from a goblin [`PE`].

use goblin::pe::PE;

use super::{push_unique, Format, NativeInfo, MAX_LIST};

const IMAGE_FILE_DLL: u16 = 0x2000;

/// The usual name of a COFF machine.
fn machine_name(machine: u16) -> String {
    let s = match machine {
        0x8664 => "x86_64",
        0x014c => "i386",
        0xaa64 => "arm64",
        0x01c4 => "armnt",
        0x01c0 => "arm",
        0xa641 => "arm64ec",
        0x0200 => "ia64",
        0x5064 => "riscv64",
        0x6264 => "loongarch64",
        0x0ebc => "ebc",
        _ => return format!("pe-machine-{machine:#06x}"),
    };
    s.to_owned()
}

/// The name of a Windows subsystem.
fn subsystem_name(subsystem: u16) -> String {
    let s = match subsystem {
        1 => "native",
        2 => "windows-gui",
        3 => "windows-cui",
        5 => "os2-cui",
        7 => "posix-cui",
        9 => "windows-ce-gui",
        10 => "efi-application",
        11 => "efi-boot-service-driver",
        12 => "efi-runtime-driver",
        13 => "efi-rom",
        14 => "xbox",
        16 => "windows-boot-application",
        _ => return format!("subsystem-{subsystem}"),
    };
    s.to_owned()
}

/// The facts of one PE image.
pub(crate) fn info(pe: &PE<'_>) -> NativeInfo {
    let mut n = NativeInfo::empty(Format::Pe);
    let coff = &pe.header.coff_header;
    n.machine = machine_name(coff.machine);
    n.class_bits = if pe.is_64 { 64 } else { 32 };
    n.kind = if coff.characteristics & IMAGE_FILE_DLL != 0 {
        "dll"
    } else {
        "exe"
    }
    .to_owned();
    // Import-directory order (goblin's `libraries` is sorted); delay-load imports are not listed.
    if let Some(id) = &pe.import_data {
        for entry in id.import_data.iter().take(MAX_LIST) {
            push_unique(&mut n.imports, entry.name);
        }
    }
    if let Some(oh) = &pe.header.optional_header {
        n.subsystem = Some(subsystem_name(oh.windows_fields.subsystem));
        n.is_dotnet = oh
            .data_directories
            .get_clr_runtime_header()
            .is_some_and(|d| d.virtual_address != 0 && d.size != 0);
    }
    n
}
