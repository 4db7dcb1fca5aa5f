//! Distro identification from `os-release(5)` plus the distro's own, more precise, version file.
//!
//! os-release is a shell-compatible `KEY=value` file: values may be unquoted, `"double"` quoted (where
//! `\"`, `\\`, `` \` `` and `\$` are escapes) or `'single'` quoted; lines starting with `#` are comments.
//! We read `etc/os-release`, falling back to `usr/lib/os-release` as the spec says (the first is often
//! a symlink to the second; the view resolves symlinks).

use super::{read_or_diag, text};
use crate::fs::FsView;
use crate::model::{Distro, Inventory};

const ETC_OS_RELEASE: &str = "etc/os-release";
const USR_OS_RELEASE: &str = "usr/lib/os-release";
const DEBIAN_VERSION: &str = "etc/debian_version";
const ALPINE_RELEASE: &str = "etc/alpine-release";

/// True for the files this module reads.
pub fn wants(path: &str) -> bool {
    matches!(
        path,
        ETC_OS_RELEASE | USR_OS_RELEASE | DEBIAN_VERSION | ALPINE_RELEASE
    )
}

/// Parses os-release content. Never fails: unknown keys and malformed lines are ignored, and a missing
/// `ID=` becomes `linux`, the default the os-release specification gives.
pub fn parse_os_release(data: &[u8]) -> Distro {
    let text = String::from_utf8_lossy(data);
    let mut distro = Distro::default();
    let mut id = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = unquote(raw.trim());
        let opt = || (!value.is_empty()).then(|| value.clone());
        match key {
            "ID" => id = opt(),
            "VERSION_ID" => distro.version_id = opt(),
            "VERSION_CODENAME" => distro.codename = opt(),
            "PRETTY_NAME" => distro.pretty_name = opt(),
            "HOME_URL" => distro.home_url = opt(),
            "ID_LIKE" => distro.id_like = value.split_whitespace().map(str::to_owned).collect(),
            _ => {}
        }
    }
    distro.id = id.unwrap_or_else(|| "linux".to_owned());
    distro
}

/// Shell-style unquoting of one os-release value: quotes removed, escapes resolved, stops at an
/// unquoted space (what a shell would do with `KEY=a b`) so a trailing `# comment` is dropped.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (Some(_), '\\') => match chars.next() {
                Some(n @ ('"' | '\\' | '`' | '$')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (None, c) if c.is_whitespace() => break,
            (_, c) => out.push(c),
        }
    }
    out
}

/// The first line of a version file, if it looks like a version (starts with a digit).
fn version_file(data: &[u8]) -> Option<String> {
    let first = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let v = text(first);
    v.starts_with(|c: char| c.is_ascii_digit()).then_some(v)
}

/// Identifies the distro in `fs`; read errors become diagnostics in `inv`.
///
/// `version` is `etc/debian_version` for Debian (only when it is a number such as `12.8`; testing and
/// unstable say `trixie/sid`), `etc/alpine-release` for Alpine, else `VERSION_ID`. Without any
/// os-release file, a numeric `etc/debian_version` or `etc/alpine-release` alone still identifies
/// the distro (as Trivy does), since very old or stripped images lack os-release.
pub fn detect(fs: &dyn FsView, inv: &mut Inventory) -> Option<Distro> {
    let os_release = read_or_diag(fs, ETC_OS_RELEASE, inv)
        .or_else(|| read_or_diag(fs, USR_OS_RELEASE, inv))
        .map(|data| parse_os_release(&data));
    match os_release {
        Some(mut d) => {
            let precise = match d.id.as_str() {
                "debian" => read_version(fs, DEBIAN_VERSION, inv),
                "alpine" => read_version(fs, ALPINE_RELEASE, inv),
                _ => None,
            };
            d.version = precise.or_else(|| d.version_id.clone());
            Some(d)
        }
        None => {
            let (id, version) = match read_version(fs, ALPINE_RELEASE, inv) {
                Some(v) => ("alpine", v),
                None => ("debian", read_version(fs, DEBIAN_VERSION, inv)?),
            };
            Some(Distro {
                id: id.to_owned(),
                version: Some(version),
                ..Distro::default()
            })
        }
    }
}

fn read_version(fs: &dyn FsView, path: &str, inv: &mut Inventory) -> Option<String> {
    read_or_diag(fs, path, inv)
        .as_deref()
        .and_then(version_file)
}

/// Sets `inv.distro` from `fs`.
pub fn analyze(fs: &dyn FsView, inv: &mut Inventory) {
    if let Some(d) = detect(fs, inv) {
        inv.distro = Some(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

    #[test]
    fn parses_real_debian() {
        let d = parse_os_release(DEBIAN.as_bytes());
        assert_eq!(d.id, "debian");
        assert_eq!(d.version_id.as_deref(), Some("12"));
        assert_eq!(d.codename.as_deref(), Some("bookworm"));
        assert_eq!(
            d.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(d.home_url.as_deref(), Some("https://www.debian.org/"));
        assert_eq!(d.version, None);
    }

    #[test]
    fn unquote_table() {
        let cases = [
            ("plain", "plain"),
            (r#""double quoted""#, "double quoted"),
            ("'single $x \\n'", "single $x \\n"),
            (r#""a \"b\" \\ \$ \` \n""#, "a \"b\" \\ $ ` \\n"),
            (r"esc\ aped", "esc aped"),
            ("value # comment", "value"),
            (r#""con"cat'ed'"#, "concated"),
            (r#""unterminated"#, "unterminated"),
            ("\"trailing\\", "trailing\\"),
            ("", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(unquote(raw), want, "{raw}");
        }
    }

    #[test]
    fn comments_id_like_crlf_and_defaults() {
        let d = parse_os_release(
            b"# comment\r\nID_LIKE=\"rhel centos fedora\"\r\n  VERSION_ID = 9.4 \r\nnot a line\r\n",
        );
        assert_eq!(d.id, "linux");
        assert_eq!(d.id_like, ["rhel", "centos", "fedora"]);
        assert_eq!(d.version_id.as_deref(), Some("9.4"));
    }

    #[test]
    fn garbage_does_not_panic() {
        let d = parse_os_release(&[0xff, b'=', 0xfe, b'\n', b'"', b'\\']);
        assert_eq!(d.id, "linux");
    }

    fn detect_in(files: &[(&str, &str)]) -> Option<Distro> {
        let mut fs = MemFs::new();
        for (p, c) in files {
            fs.insert(p, *c);
        }
        let mut inv = Inventory::default();
        let d = detect(&fs, &mut inv);
        assert!(inv.diagnostics.is_empty());
        d
    }

    #[test]
    fn version_sources() {
        let d = detect_in(&[
            ("usr/lib/os-release", DEBIAN),
            ("etc/debian_version", "12.8\n"),
        ]);
        assert_eq!(d.unwrap().version.as_deref(), Some("12.8"));

        let d = detect_in(&[
            ("etc/os-release", DEBIAN),
            ("etc/debian_version", "bookworm/sid\n"),
        ]);
        assert_eq!(d.unwrap().version.as_deref(), Some("12"));

        let d = detect_in(&[
            ("etc/os-release", "ID=alpine\nVERSION_ID=3.20.3\n"),
            ("etc/alpine-release", "3.20.3_alpha\n"),
        ]);
        assert_eq!(d.unwrap().version.as_deref(), Some("3.20.3_alpha"));

        // Ubuntu ships a debian_version too (`bookworm/sid`); it is not Ubuntu's version.
        let d = detect_in(&[
            ("etc/os-release", "ID=ubuntu\nVERSION_ID=\"24.04\"\n"),
            ("etc/debian_version", "13.0\n"),
        ]);
        assert_eq!(d.unwrap().version.as_deref(), Some("24.04"));

        // etc/os-release wins over usr/lib/os-release.
        let d = detect_in(&[
            ("etc/os-release", "ID=wolfi\n"),
            ("usr/lib/os-release", DEBIAN),
        ]);
        assert_eq!(d.unwrap().id, "wolfi");
    }

    #[test]
    fn version_files_alone() {
        let d = detect_in(&[("etc/alpine-release", "3.19.1\n")]).unwrap();
        assert_eq!(
            (d.id.as_str(), d.version.as_deref()),
            ("alpine", Some("3.19.1"))
        );
        let d = detect_in(&[("etc/debian_version", "11.11\n")]).unwrap();
        assert_eq!(
            (d.id.as_str(), d.version.as_deref()),
            ("debian", Some("11.11"))
        );
        assert_eq!(detect_in(&[("etc/debian_version", "trixie/sid\n")]), None);
        assert_eq!(detect_in(&[]), None);
    }
}
