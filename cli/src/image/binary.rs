//! The binary that goes into the image: a prebuilt one checked to be a static ELF executable for the
//! target platform, or one built here with cargo (static glibc, x86_64 Linux only).

use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use goblin::elf::header::{ET_DYN, ET_EXEC};
use goblin::elf::Elf;
use registry::Platform;
use serde_json::Value;

/// Largest binary we read into memory.
pub const MAX_BINARY_BYTES: u64 = 1 << 30;
/// The only target the self-build makes.
pub const SELF_BUILD_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The flags that make it static (glibc's `crt-static`); the Dockerfiles use the same.
pub const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static";

/// ELF machine, class and byte order a platform's executables have.
fn elf_kind(platform: &Platform) -> Option<(u16, bool, bool)> {
    use goblin::elf::header::{
        EM_386, EM_AARCH64, EM_ARM, EM_LOONGARCH, EM_PPC64, EM_RISCV, EM_S390, EM_X86_64,
    };
    // (e_machine, 64-bit, little-endian)
    Some(match platform.architecture.as_str() {
        "amd64" => (EM_X86_64, true, true),
        "arm64" => (EM_AARCH64, true, true),
        "arm" => (EM_ARM, false, true),
        "386" => (EM_386, false, true),
        "ppc64le" => (EM_PPC64, true, true),
        "s390x" => (EM_S390, true, false),
        "riscv64" => (EM_RISCV, true, true),
        "loong64" => (EM_LOONGARCH, true, true),
        _ => return None,
    })
}

/// Why a binary cannot go into the image.
pub const HOW_TO_BUILD_STATIC: &str = "build it static (e.g. RUSTFLAGS='-C target-feature=+crt-static' \
     cargo build --release --target x86_64-unknown-linux-gnu, or a *-linux-musl target), or leave out \
     --binary and let stella build it";

/// Checks that `bytes` is an ELF executable for `platform` that needs no program interpreter
/// (`PT_INTERP`) and no shared library (`DT_NEEDED`): the image has nothing else in it.
pub fn check_static_elf(bytes: &[u8], platform: &Platform, name: &str) -> Result<(), String> {
    if platform.os != "linux" {
        return Err(format!(
            "platform {platform}: only linux images can be built (the binary is an ELF executable)"
        ));
    }
    let Some((machine, is_64, little_endian)) = elf_kind(platform) else {
        return Err(format!(
            "platform {platform}: unknown architecture '{}' (known: amd64, arm64, arm, 386, ppc64le, s390x, riscv64, loong64)",
            platform.architecture
        ));
    };
    let elf = Elf::parse(bytes).map_err(|e| format!("{name} is not an ELF executable: {e}"))?;
    let h = &elf.header;
    if h.e_type != ET_EXEC && h.e_type != ET_DYN || elf.entry == 0 {
        return Err(format!(
            "{name} is an ELF file but not an executable (type {}, entry point {:#x})",
            h.e_type, elf.entry
        ));
    }
    if h.e_machine != machine || elf.is_64 != is_64 || elf.little_endian != little_endian {
        return Err(format!(
            "{name} is an ELF executable for {} ({}-bit, {}), not for {platform}",
            goblin::elf::header::machine_to_str(h.e_machine),
            if elf.is_64 { 64 } else { 32 },
            if elf.little_endian {
                "little-endian"
            } else {
                "big-endian"
            }
        ));
    }
    if let Some(interp) = elf.interpreter {
        return Err(format!(
            "{name} is dynamically linked (program interpreter {interp}); the image holds nothing \
             but the binary, so {HOW_TO_BUILD_STATIC}"
        ));
    }
    if !elf.libraries.is_empty() {
        return Err(format!(
            "{name} needs shared libraries ({}); the image holds nothing but the binary, so \
             {HOW_TO_BUILD_STATIC}",
            elf.libraries.join(", ")
        ));
    }
    Ok(())
}

/// Reads a prebuilt binary (bounded).
pub fn read_binary(path: &Path) -> Result<Vec<u8>, String> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{name} is not a file"));
    }
    if meta.len() > MAX_BINARY_BYTES {
        return Err(format!(
            "{name} is {} bytes, more than the {MAX_BINARY_BYTES} this command reads",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))
}

/// Walks up from `start` to the `Cargo.toml` whose `[workspace]` lists `generator` in `members`.
pub fn find_workspace(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| is_stella_workspace(&dir.join("Cargo.toml")))
        .map(Path::to_owned)
}

/// Whether `manifest` is a workspace manifest listing `generator` among its members. A line-based
/// reading of the `[workspace]` table's `members` array, which is all we need of TOML here.
pub fn is_stella_workspace(manifest: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(manifest) else {
        return false;
    };
    let mut members = String::new();
    let mut collecting = false;
    for t in table_lines(&text, "workspace") {
        let t = t.split('#').next().unwrap_or_default();
        if collecting {
            members.push_str(t);
            if t.contains(']') {
                break;
            }
            continue;
        }
        if let Some(value) = value_of(t, "members") {
            members.push_str(value);
            collecting = !value.contains(']');
            if !collecting {
                break;
            }
        }
    }
    members
        .split(',')
        .map(|m| {
            m.trim()
                .trim_matches(['[', ']'])
                .trim()
                .trim_matches(['"', '\''])
        })
        .any(|m| m == "generator" || m == "./generator")
}

/// A one-line string value of `[workspace.package]` (`repository = "…"`), from a manifest's text.
pub fn workspace_package_field(manifest_text: &str, key: &str) -> Option<String> {
    table_lines(manifest_text, "workspace.package")
        .find_map(|t| value_of(t, key))
        .map(|v| v.split('#').next().unwrap_or_default().trim())
        .and_then(|v| v.strip_prefix('"')?.strip_suffix('"'))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The trimmed lines of one TOML table (`[name]`), up to the next table header.
fn table_lines<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let header = format!("[{name}]");
    let mut inside = false;
    text.lines().map(str::trim).filter(move |t| {
        if t.starts_with('[') && t.ends_with(']') && !t.contains('=') && !t.contains('"') {
            inside = *t == header;
            return false;
        }
        inside
    })
}

/// The text after `key =` on a line that sets `key`.
fn value_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.strip_prefix(key)?
        .trim_start()
        .strip_prefix('=')
        .map(str::trim_start)
}

/// Where the self-build puts its output: `$CARGO_TARGET_DIR/static` when that is set, else
/// `<workspace>/target/static`: a directory of its own, so the static flags do not invalidate the
/// normal build's cache.
pub fn static_target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("static"),
        None => workspace.join("target/static"),
    }
}

/// The cargo to run: `$CARGO` (set when stella itself runs under cargo), else `cargo` on PATH.
fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .filter(|c| !c.is_empty())
        .map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// Runs `cargo build --release --locked -p PACKAGE --target x86_64-unknown-linux-gnu` with static
/// flags in the workspace, cargo's progress on our stderr, and returns the binary's path.
pub fn self_build(workspace: &Path, package: &str, bin: &str) -> Result<PathBuf, String> {
    let target_dir = static_target_dir(workspace);
    let manifest = workspace.join("Cargo.toml");
    let cargo = cargo();
    eprintln!(
        "stella: building {package} (static, {SELF_BUILD_TARGET}) in {} with {}",
        target_dir.display(),
        cargo.display()
    );
    // Our stdout carries only the manifest digest: cargo's stdout goes to stderr too.
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::inherit(), Stdio::from);
    let status = Command::new(&cargo)
        .arg("build")
        .args(["--release", "--locked", "-p", package, "--target"])
        .arg(SELF_BUILD_TARGET)
        .arg("--manifest-path")
        .arg(&manifest)
        .current_dir(workspace)
        .env("RUSTFLAGS", STATIC_RUSTFLAGS)
        // It would override RUSTFLAGS (cargo sets it for build scripts of an outer build).
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "cannot run {}: not found; install Rust (https://rustup.rs) with the \
                 {SELF_BUILD_TARGET} target, or pass --binary PATH with a prebuilt static binary",
                cargo.display()
            ),
            _ => format!("cannot run {}: {e}", cargo.display()),
        })?;
    if !status.success() {
        return Err(format!(
            "cargo build of {package} failed ({status}); see its output above"
        ));
    }
    let path = target_dir.join(SELF_BUILD_TARGET).join("release").join(bin);
    if !path.is_file() {
        return Err(format!(
            "cargo build of {package} succeeded but {} is not there",
            path.display()
        ));
    }
    Ok(path)
}

/// A package's `version`, `license` and `repository` as `cargo metadata` reports them (so workspace
/// inheritance is resolved by cargo itself).
pub fn package_metadata(
    workspace: &Path,
    package: &str,
) -> Result<(String, Option<String>, Option<String>), String> {
    let cargo = cargo();
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {} metadata: {e}", cargo.display()))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed ({})", out.status));
    }
    let doc: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed something that is not JSON: {e}"))?;
    let pkg = doc
        .get("packages")
        .and_then(Value::as_array)
        .and_then(|p| {
            p.iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(package))
        })
        .ok_or_else(|| {
            format!(
                "the workspace {} has no package {package}",
                workspace.display()
            )
        })?;
    let field = |k: &str| pkg.get(k).and_then(Value::as_str).map(str::to_owned);
    let version =
        field("version").ok_or_else(|| format!("cargo metadata gives {package} no version"))?;
    Ok((version, field("license"), field("repository")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_by_its_members() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        let write = |body: &str| std::fs::write(ws.join("Cargo.toml"), body).unwrap();
        std::fs::create_dir_all(ws.join("generator/src")).unwrap();
        write("[workspace]\nresolver = \"2\"\nmembers = [\"scanner-core\", \"generator\"]\n");
        assert_eq!(
            find_workspace(&ws.join("generator/src")).as_deref(),
            Some(ws)
        );
        write("[workspace]\nmembers = [\n  \"cli\",\n  \"generator\", # the generator\n]\n");
        assert!(is_stella_workspace(&ws.join("Cargo.toml")));
        write("[package]\nname = \"x\"\n[workspace]\nmembers = [\"cli\"]\n[dependencies]\ngenerator = \"1\"\n");
        assert!(!is_stella_workspace(&ws.join("Cargo.toml")));
        write("[package]\nname = \"generator\"\nmembers = [\"generator\"]\n");
        assert!(!is_stella_workspace(&ws.join("Cargo.toml")));
        let text = "[workspace.package]\nversion = \"0.1.0\" # v\nrepository = \"https://x/y\"\n[workspace.dependencies]\nrepository = \"no\"\n";
        assert_eq!(
            workspace_package_field(text, "repository").as_deref(),
            Some("https://x/y")
        );
        assert_eq!(
            workspace_package_field(text, "version").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(workspace_package_field(text, "license"), None);
        assert!(!is_stella_workspace(&ws.join("missing/Cargo.toml")));
    }

    #[test]
    fn refuses_what_is_not_a_static_elf_for_the_platform() {
        let amd64 = Platform::new("linux", "amd64", None);
        let e = check_static_elf(b"#!/bin/sh\n", &amd64, "x").unwrap_err();
        assert!(e.contains("not an ELF"), "{e}");
        let e = check_static_elf(&[], &amd64, "x").unwrap_err();
        assert!(e.contains("not an ELF"), "{e}");
        // The stella test binary itself: dynamically linked on glibc.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let e = check_static_elf(&me, &amd64, "me").unwrap_err();
        assert!(e.contains("dynamically linked"), "{e}");
        let arm = Platform::new("linux", "arm64", None);
        let e = check_static_elf(&me, &arm, "me").unwrap_err();
        assert!(e.contains("not for linux/arm64"), "{e}");
        let e = check_static_elf(&me, &Platform::new("windows", "amd64", None), "me").unwrap_err();
        assert!(e.contains("only linux"), "{e}");
        let e = check_static_elf(&me, &Platform::new("linux", "mips", None), "me").unwrap_err();
        assert!(e.contains("unknown architecture"), "{e}");
    }
}
