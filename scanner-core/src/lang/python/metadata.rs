//! Pure parsers for core metadata (`METADATA`, `PKG-INFO`), `RECORD` and `entry_points.txt`.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::model::{hex, Checksum};

/// A `License:` value longer than this (in bytes), or spanning lines, is a pasted licence text, not a
/// name, and is not reported.
pub const MAX_LICENSE_NAME: usize = 128;
/// Header lines read before the rest is ignored.
const MAX_HEADER_LINES: usize = 100_000;
/// RECORD rows read before the rest is ignored.
const MAX_RECORD_ROWS: usize = 1_000_000;
/// Console scripts read from one `entry_points.txt`.
const MAX_ENTRY_POINTS: usize = 10_000;

/// What the analyzer takes from a core-metadata header block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    /// `Name:` as written (not normalised).
    pub name: String,
    /// `Version:`.
    pub version: String,
    /// Licences by the rules in the module docs, in order.
    pub licenses: Vec<String>,
    /// `Home-page:`, else a `Project-URL: Homepage, …`.
    pub homepage: Option<String>,
    /// `Author` with `Author-email`, as `Name <email>` where both are known.
    pub author: Option<String>,
    /// Names from `Requires-Dist` (as written), optional (`extra == …`) ones left out.
    pub requires: Vec<String>,
}

/// Parses the RFC 822-style header block of a `METADATA` / `PKG-INFO` file (the body, a long
/// description, is not read). `None` when `Name` or `Version` is missing.
pub fn parse_metadata(data: &[u8]) -> Option<CoreMetadata> {
    let text = String::from_utf8_lossy(data);
    let headers = headers(&text);
    let get = |key: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty() && *v != "UNKNOWN")
    };
    let all = |key: &'static str| {
        headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    let name = get("Name")?.to_owned();
    let version = get("Version")?.to_owned();

    let mut licenses = Vec::new();
    if let Some(l) = get("License-Expression") {
        licenses.push(l.to_owned());
    } else if let Some(l) =
        get("License").filter(|l| !l.contains('\n') && l.len() <= MAX_LICENSE_NAME)
    {
        licenses.push(l.to_owned());
    } else {
        for c in all("Classifier") {
            if let Some(rest) = c.strip_prefix("License :: ") {
                let last = rest.rsplit(" :: ").next().unwrap_or(rest).trim();
                if last.is_empty() || last == "OSI Approved" {
                    continue;
                }
                let l = classifier_spdx(last).unwrap_or(last).to_owned();
                if !licenses.contains(&l) {
                    licenses.push(l);
                }
            }
        }
    }

    let homepage = get("Home-page").map(str::to_owned).or_else(|| {
        all("Project-URL").find_map(|v| {
            let (label, url) = v.split_once(',')?;
            let label: String = label
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            (label == "homepage" || label == "home")
                .then(|| url.trim().to_owned())
                .filter(|u| !u.is_empty())
        })
    });

    let author = match (get("Author"), get("Author-email")) {
        (_, Some(e)) if e.contains('<') => Some(e.to_owned()),
        (Some(a), Some(e)) => Some(format!("{a} <{e}>")),
        (Some(a), None) => Some(a.to_owned()),
        (None, Some(e)) => Some(e.to_owned()),
        (None, None) => None,
    };

    let requires = all("Requires-Dist").filter_map(requirement_name).collect();

    Some(CoreMetadata {
        name,
        version,
        licenses,
        homepage,
        author,
        requires,
    })
}

/// Header fields in order, continuation lines joined with `\n`; stops at the first blank line.
fn headers(text: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    for line in text.split('\n').take(MAX_HEADER_LINES) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if line.is_empty() || out.is_empty() {
                break;
            }
            // A whitespace-only line inside a folded value (old PKG-INFO descriptions).
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        // A line that is no `Key: value` is skipped, as Trivy goes on after a MIME protocol error.
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim();
            if !k.is_empty() && !k.contains(' ') {
                out.push((k, v.trim().to_owned()));
            }
        }
    }
    out
}

/// The SPDX id of a `License :: OSI Approved :: …` classifier's last part, where it names exactly one
/// licence version (`BSD License` and `Apache Software License` do not, and stay as written).
fn classifier_spdx(name: &str) -> Option<&'static str> {
    Some(match name {
        "MIT License" => "MIT",
        "MIT No Attribution License (MIT-0)" => "MIT-0",
        "ISC License (ISCL)" => "ISC",
        "Mozilla Public License 1.1 (MPL 1.1)" => "MPL-1.1",
        "Mozilla Public License 2.0 (MPL 2.0)" => "MPL-2.0",
        "GNU General Public License v2 (GPLv2)" => "GPL-2.0-only",
        "GNU General Public License v2 or later (GPLv2+)" => "GPL-2.0-or-later",
        "GNU General Public License v3 (GPLv3)" => "GPL-3.0-only",
        "GNU General Public License v3 or later (GPLv3+)" => "GPL-3.0-or-later",
        "GNU Lesser General Public License v2 (LGPLv2)" => "LGPL-2.0-only",
        "GNU Lesser General Public License v2 or later (LGPLv2+)" => "LGPL-2.0-or-later",
        "GNU Lesser General Public License v3 (LGPLv3)" => "LGPL-3.0-only",
        "GNU Lesser General Public License v3 or later (LGPLv3+)" => "LGPL-3.0-or-later",
        "GNU Affero General Public License v3" => "AGPL-3.0-only",
        "GNU Affero General Public License v3 or later (AGPLv3+)" => "AGPL-3.0-or-later",
        "Python Software Foundation License" => "PSF-2.0",
        "The Unlicense (Unlicense)" => "Unlicense",
        "Boost Software License 1.0 (BSL-1.0)" => "BSL-1.0",
        "Eclipse Public License 1.0 (EPL-1.0)" => "EPL-1.0",
        "Eclipse Public License 2.0 (EPL-2.0)" => "EPL-2.0",
        "European Union Public Licence 1.2 (EUPL 1.2)" => "EUPL-1.2",
        "Universal Permissive License (UPL)" => "UPL-1.0",
        "zlib/libpng License" => "Zlib",
        "Historical Permission Notice and Disclaimer (HPND)" => "HPND",
        "Apache License 2.0" | "Apache Software License 2.0" => "Apache-2.0",
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication" => "CC0-1.0",
        _ => return None,
    })
}

/// The distribution name of one `Requires-Dist` value, or `None` when it is optional (its marker
/// tests `extra == …`) or has no name.
pub fn requirement_name(raw: &str) -> Option<String> {
    let (spec, marker) = raw.split_once(';').unwrap_or((raw, ""));
    if mentions_extra(marker) {
        return None;
    }
    let spec = spec.trim_start();
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(spec.len());
    let name = spec.get(..end)?.trim_end_matches(['.', '-', '_']);
    if name.is_empty() {
        return None;
    }
    Some(name.to_owned())
}

fn mentions_extra(marker: &str) -> bool {
    let mut rest = marker;
    while let Some(i) = rest.find("extra") {
        let before_ok = rest
            .get(..i)
            .and_then(|b| b.chars().next_back())
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after = rest.get(i + "extra".len()..).unwrap_or("");
        if before_ok && after.trim_start().starts_with("==") {
            return true;
        }
        rest = after;
    }
    false
}

/// One row of a `RECORD` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    /// The path as written (relative to site-packages, or absolute).
    pub path: String,
    /// The stated hash, decoded to hex, when it is SHA-256 or SHA-512.
    pub checksum: Option<Checksum>,
}

/// Parses a `RECORD` (CSV: path, hash, size). Returns the rows and how many were malformed.
pub fn parse_record(data: &[u8]) -> (Vec<RecordEntry>, usize) {
    let text = String::from_utf8_lossy(data);
    let mut rows = Vec::new();
    let mut bad = 0;
    for line in text.lines().take(MAX_RECORD_ROWS) {
        if line.trim().is_empty() {
            continue;
        }
        let fields = csv_fields(line);
        let Some(path) = fields.first().filter(|p| !p.is_empty()) else {
            bad += 1;
            continue;
        };
        let hash = fields.get(1).map(String::as_str).unwrap_or("");
        let checksum = if hash.is_empty() {
            None
        } else {
            match decode_hash(hash) {
                Some(c) => Some(c),
                None => {
                    bad += 1;
                    None
                }
            }
        };
        rows.push(RecordEntry {
            path: path.clone(),
            checksum,
        });
    }
    (rows, bad)
}

/// Splits one CSV line (RFC 4180 quoting with `""` escapes).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn decode_hash(hash: &str) -> Option<Checksum> {
    let (algo, b64) = hash.split_once('=')?;
    let (algorithm, len) = match algo {
        "sha256" => ("SHA-256", 32),
        "sha512" => ("SHA-512", 64),
        _ => return None,
    };
    let bytes = B64.decode(b64.trim()).ok()?;
    (bytes.len() == len).then(|| Checksum {
        algorithm: algorithm.into(),
        value: hex(&bytes),
    })
}

/// The `[console_scripts]` of an `entry_points.txt`: `(name, "module:func")`, extras dropped.
pub fn parse_entry_points(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut in_scripts = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_scripts = section.trim() == "console_scripts";
            continue;
        }
        if !in_scripts {
            continue;
        }
        let Some((name, target)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let target = target.split('[').next().unwrap_or(target).trim();
        if name.is_empty() || target.is_empty() {
            continue;
        }
        out.push((name.to_owned(), target.to_owned()));
        if out.len() >= MAX_ENTRY_POINTS {
            break;
        }
    }
    out
}
