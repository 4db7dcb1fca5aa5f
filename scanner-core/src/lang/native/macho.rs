//! Mach-O facts: thin files and each slice of a fat file.

use goblin::mach::load_command::CommandVariant;
use goblin::mach::{Mach, MachO, SingleArch};

use super::{push_unique, short, Error, Format, NativeInfo, MAX_FAT_ARCHES, MAX_LIST, MAX_STRING};

/// The facts of a thin file, or of a fat file with its slices.
pub(crate) fn info(mach: &Mach<'_>, bytes: &[u8]) -> Result<NativeInfo, Error> {
    match mach {
        Mach::Binary(m) => Ok(thin(m, bytes)),
        Mach::Fat(fat) => {
            let mut slices = Vec::new();
            let mut last_err = None;
            for (i, arch) in fat.iter_arches().take(MAX_FAT_ARCHES).enumerate() {
                let arch = match arch {
                    Ok(a) => a,
                    Err(e) => {
                        last_err = Some(e.to_string());
                        break;
                    }
                };
                match fat.get(i) {
                    Ok(SingleArch::MachO(m)) => slices.push(thin(&m, arch.slice(bytes))),
                    // A static library slice carries none of these facts.
                    Ok(SingleArch::Archive(_)) => {}
                    Err(e) => last_err = Some(e.to_string()),
                }
            }
            let Some(first) = slices.first() else {
                return Err(Error::Malformed(short(
                    &last_err.unwrap_or_else(|| "fat Mach-O without a Mach-O slice".into()),
                )));
            };
            let mut n = first.clone();
            n.machine = slices
                .iter()
                .map(|s| s.machine.as_str())
                .collect::<Vec<_>>()
                .join("+");
            for s in slices.iter().skip(1) {
                for l in &s.needed {
                    push_unique(&mut n.needed, l);
                }
                for r in &s.rpath {
                    push_unique(&mut n.rpath, r);
                }
            }
            n.slices = slices;
            Ok(n)
        }
    }
}

/// The Mach-O name of a CPU type.
fn cpu_name(cputype: u32) -> String {
    let s = match cputype {
        0x0100_0007 => "x86_64",
        7 => "i386",
        0x0100_000c => "arm64",
        0x0200_000c => "arm64_32",
        12 => "arm",
        18 => "ppc",
        0x0100_0012 => "ppc64",
        _ => return format!("macho-cpu-{cputype:#x}"),
    };
    s.to_owned()
}

/// The C string at `offset` of `bytes`, if valid UTF-8 and NUL-terminated within [`MAX_STRING`].
fn cstr(bytes: &[u8], offset: usize) -> Option<String> {
    let rest = bytes.get(offset..)?;
    let rest = rest.get(..rest.len().min(MAX_STRING + 1))?;
    let end = rest.iter().position(|b| *b == 0)?;
    std::str::from_utf8(rest.get(..end)?)
        .ok()
        .map(str::to_owned)
}

fn thin(m: &MachO<'_>, bytes: &[u8]) -> NativeInfo {
    let mut n = NativeInfo::empty(Format::MachO);
    let h = &m.header;
    n.machine = cpu_name(h.cputype);
    n.class_bits = if m.is_64 { 64 } else { 32 };
    n.kind = match h.filetype {
        1 => "object",
        2 if h.flags & goblin::mach::header::MH_PIE != 0 => "pie",
        2 => "exec",
        4 => "core",
        6 => "dylib",
        7 => "dylinker",
        8 => "bundle",
        10 => "dsym",
        11 => "kext",
        _ => "unknown",
    }
    .to_owned();
    for lc in m.load_commands.iter().take(MAX_LIST * 4) {
        let at = |name: u32| {
            lc.offset
                .checked_add(name as usize)
                .and_then(|o| cstr(bytes, o))
        };
        match &lc.command {
            CommandVariant::LoadDylib(c)
            | CommandVariant::LoadWeakDylib(c)
            | CommandVariant::ReexportDylib(c)
            | CommandVariant::LazyLoadDylib(c)
            | CommandVariant::LoadUpwardDylib(c) => {
                if let Some(s) = at(c.dylib.name) {
                    push_unique(&mut n.needed, &s);
                }
            }
            CommandVariant::IdDylib(c) if n.soname.is_none() => n.soname = at(c.dylib.name),
            CommandVariant::Rpath(c) => {
                if let Some(s) = at(c.path) {
                    push_unique(&mut n.rpath, &s);
                }
            }
            CommandVariant::LoadDylinker(c) if n.interpreter.is_none() => {
                n.interpreter = at(c.name)
            }
            CommandVariant::Uuid(c) if n.uuid.is_none() => n.uuid = Some(uuid(&c.uuid)),
            _ => {}
        }
    }
    n
}

/// `8-4-4-4-12` lowercase hex, as `dwarfdump --uuid` prints it (there in uppercase).
fn uuid(u: &[u8; 16]) -> String {
    let h = crate::model::hex(u);
    let part = |a: usize, b: usize| h.get(a..b).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        part(0, 8),
        part(8, 12),
        part(12, 16),
        part(16, 20),
        part(20, 32)
    )
}
