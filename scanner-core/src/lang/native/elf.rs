//! ELF facts from a goblin [`Elf`].

use goblin::elf::Elf;

use super::{push_unique, short, Format, NativeInfo, MAX_LIST};

const ET_REL: u16 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const ET_CORE: u16 = 4;
const NT_GNU_BUILD_ID: u32 = 3;
const VER_FLG_BASE: u16 = 1;

/// The machine name of an ELF `e_machine`, with the width and byte order where they change the name.
pub(crate) fn machine_name(e_machine: u16, is_64: bool, little_endian: bool) -> String {
    let s = match (e_machine, is_64, little_endian) {
        (62, _, _) => "x86_64",
        (3, _, _) => "i386",
        (183, _, _) => "aarch64",
        (40, _, _) => "arm",
        (243, true, _) => "riscv64",
        (243, false, _) => "riscv32",
        (21, _, true) => "ppc64le",
        (21, _, false) => "ppc64",
        (20, _, _) => "ppc",
        (22, true, _) => "s390x",
        (22, false, _) => "s390",
        (8, true, true) => "mips64el",
        (8, true, false) => "mips64",
        (8, false, true) => "mipsel",
        (8, false, false) => "mips",
        (258, _, _) => "loongarch64",
        (43, _, _) => "sparc64",
        (2, _, _) => "sparc",
        (50, _, _) => "ia64",
        (42, _, _) => "sh",
        (4, _, _) => "m68k",
        (15, _, _) => "parisc",
        (9, _, _) => "s370",
        (164, _, _) => "hexagon",
        (247, _, _) => "bpf",
        _ => return format!("elf-machine-{e_machine}"),
    };
    s.to_owned()
}

/// The Debian multiarch triplet for an ELF machine name (`x86_64` → `x86_64-linux-gnu`).
pub(crate) fn multiarch(machine: &str) -> Option<&'static str> {
    Some(match machine {
        "x86_64" => "x86_64-linux-gnu",
        "i386" => "i386-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "ppc64le" => "powerpc64le-linux-gnu",
        "ppc64" => "powerpc64-linux-gnu",
        "ppc" => "powerpc-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "mips64el" => "mips64el-linux-gnuabi64",
        "mipsel" => "mipsel-linux-gnu",
        "mips" => "mips-linux-gnu",
        "loongarch64" => "loongarch64-linux-gnu",
        "sparc64" => "sparc64-linux-gnu",
        "ia64" => "ia64-linux-gnu",
        "m68k" => "m68k-linux-gnu",
        "sh" => "sh4-linux-gnu",
        "parisc" => "hppa-linux-gnu",
        _ => return None,
    })
}

/// The facts of one ELF file.
pub(crate) fn info(elf: &Elf<'_>, bytes: &[u8]) -> NativeInfo {
    let mut n = NativeInfo::empty(Format::Elf);
    let h = &elf.header;
    n.class_bits = if elf.is_64 { 64 } else { 32 };
    n.machine = machine_name(h.e_machine, elf.is_64, elf.little_endian);
    let flags_1 = elf.dynamic.as_ref().map_or(0, |d| d.info.flags_1);
    n.kind = match h.e_type {
        ET_EXEC => "exec",
        ET_DYN if flags_1 & goblin::elf::dynamic::DF_1_PIE != 0 => "pie",
        // Older linkers do not set DF_1_PIE: an interpreter and no soname is an executable.
        ET_DYN if elf.interpreter.is_some() && elf.soname.is_none() => "pie",
        ET_DYN => "dyn",
        ET_REL => "rel",
        ET_CORE => "core",
        _ => "unknown",
    }
    .to_owned();
    for lib in elf.libraries.iter().take(MAX_LIST) {
        // Duplicated DT_NEEDED entries load once; keep the first.
        push_unique(&mut n.needed, lib);
    }
    n.soname = elf.soname.map(short);
    n.interpreter = elf.interpreter.map(short);
    for r in &elf.rpaths {
        for p in r.split(':').filter(|p| !p.is_empty()) {
            push_unique(&mut n.rpath, p);
        }
    }
    for r in &elf.runpaths {
        for p in r.split(':').filter(|p| !p.is_empty()) {
            push_unique(&mut n.runpath, p);
        }
    }
    n.build_id = build_id(elf, bytes);
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter().take(MAX_LIST) {
            let Some(file) = elf.dynstrtab.get_at(need.vn_file) else {
                continue;
            };
            let mut versions = Vec::new();
            for aux in need.iter().take(MAX_LIST) {
                if let Some(v) = elf.dynstrtab.get_at(aux.vna_name) {
                    push_unique(&mut versions, v);
                }
            }
            if n.versions_needed.len() < MAX_LIST {
                n.versions_needed.push((short(file), versions));
            }
        }
    }
    if let Some(verdef) = &elf.verdef {
        for def in verdef.iter().take(MAX_LIST) {
            if def.vd_flags & VER_FLG_BASE != 0 {
                continue;
            }
            // The first verdaux names the version; the others name its parents.
            if let Some(v) = def
                .iter()
                .next()
                .and_then(|aux| elf.dynstrtab.get_at(aux.vda_name))
            {
                push_unique(&mut n.versions_defined, v);
            }
        }
    }
    n
}

/// The GNU build-id, from PT_NOTE segments first, else from the `.note.gnu.build-id` section.
fn build_id(elf: &Elf<'_>, bytes: &[u8]) -> Option<String> {
    let find = |it: goblin::elf::note::NoteIterator<'_>| {
        it.take(256)
            .map_while(Result::ok)
            .find(|note| {
                note.n_type == NT_GNU_BUILD_ID
                    && note.name.trim_end_matches('\0') == "GNU"
                    && !note.desc.is_empty()
            })
            .map(|note| crate::model::hex(note.desc.get(..64).unwrap_or(note.desc)))
    };
    elf.iter_note_headers(bytes).and_then(find).or_else(|| {
        elf.iter_note_sections(bytes, Some(".note.gnu.build-id"))
            .and_then(find)
    })
}
