//! Turns the license strings package databases state into SPDX identifiers and expressions.
//!
//! Package databases spell licenses three ways: SPDX already (apk, modern Fedora), Debian DEP-5 short
//! names (`GPL-2+`, `BSD-3-clause`, `Expat`, `GPL-2+ or Artistic`), or old Fedora names (`GPLv2+`,
//! `MIT and BSD`). Each word is mapped to an SPDX identifier where the mapping is exact (DEP-5 and GNU
//! spellings, case-insensitive list look-up), operators are upper-cased, and the result is accepted only
//! if the `spdx` crate parses it in strict mode. Anything else (`public-domain`, `Artistic`, `BSD`,
//! `GPL-2+ with OpenSSL exception`) stays a plain name: guessing would put wrong facts in an SBOM.

use spdx::identifiers::{EXCEPTIONS, LICENSES};

/// What one stated license string is, in SPDX terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum License {
    /// A single SPDX license identifier from the list, e.g. `GPL-2.0-or-later`.
    Id(String),
    /// A valid SPDX expression that is not a single listed identifier, e.g. `MIT OR Apache-2.0`.
    Expression(String),
    /// Not expressible in SPDX: kept verbatim.
    Name(String),
}

impl License {
    /// The SPDX expression, when the license has one.
    pub fn expression(&self) -> Option<&str> {
        match self {
            License::Id(s) | License::Expression(s) => Some(s),
            License::Name(_) => None,
        }
    }
}

/// Classifies one license string as stated by a package.
pub fn classify(raw: &str) -> License {
    let raw = raw.trim();
    match to_spdx(raw) {
        Some(expr) if is_single_listed_id(&expr) => License::Id(expr),
        Some(expr) => License::Expression(expr),
        None => License::Name(raw.to_owned()),
    }
}

fn is_single_listed_id(expr: &str) -> bool {
    !expr.contains(' ') && !expr.ends_with('+') && spdx::license_id(expr).is_some()
}

/// The canonical SPDX expression for `raw`, or `None` when some part has no exact SPDX meaning.
/// `LicenseRef-`s are valid here (CycloneDX needs no declaration for them).
fn to_spdx(raw: &str) -> Option<String> {
    build(raw, true, &mut |_| None)
}

/// The names in `raw` that an SPDX document must declare as `LicenseRef-`s: the words that are not
/// on the SPDX list (including stated `LicenseRef-…`s) when the rest is a valid expression around
/// them (`GPL-1+ or Artistic` → `Artistic`), else the whole string (`Public Domain`,
/// `GPL-2+ with OpenSSL exception`). Empty when `raw` uses listed ids only.
pub fn unknown_names(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Vec::new();
    }
    let mut words = Vec::new();
    let placeholder = &mut |w: &str| {
        words.push(w.to_owned());
        Some("LicenseRef-unknown".to_owned())
    };
    if build(raw, false, placeholder).is_some() {
        words.sort();
        words.dedup();
        words
    } else {
        vec![raw.to_owned()]
    }
}

/// The SPDX expression for `raw` with every name from [`unknown_names`] replaced by `license_ref(name)`
/// (which must return a `LicenseRef-…` id). `None` when `raw` is empty or a name has no id.
pub fn expression_with_refs(
    raw: &str,
    license_ref: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let names = unknown_names(raw);
    if names.iter().any(|n| n == raw) {
        return license_ref(raw);
    }
    build(raw, false, &mut |w| license_ref(w))
}

/// Maps words to SPDX ids and operators, asking `unknown` for words that are not listed licenses
/// (and for `LicenseRef-`/`DocumentRef-` words unless `refs_valid`), and accepts the result only if
/// the `spdx` crate parses it strictly.
fn build(
    raw: &str,
    refs_valid: bool,
    unknown: &mut dyn FnMut(&str) -> Option<String>,
) -> Option<String> {
    let mut out: Vec<String> = Vec::new();
    let mut after_with = false;
    for token in tokens(raw) {
        let mapped = match token {
            "(" | ")" => token.to_owned(),
            t if t.eq_ignore_ascii_case("and") => "AND".to_owned(),
            t if t.eq_ignore_ascii_case("or") => "OR".to_owned(),
            t if t.eq_ignore_ascii_case("with") => {
                after_with = true;
                out.push("WITH".to_owned());
                continue;
            }
            t if after_with => exception_id(t)?,
            t if t.starts_with("LicenseRef-") || t.starts_with("DocumentRef-") => {
                if refs_valid {
                    t.to_owned()
                } else {
                    unknown(t)?
                }
            }
            t => match license_id(t) {
                Some(id) => id,
                None => unknown(t)?,
            },
        };
        after_with = false;
        out.push(mapped);
    }
    if out.is_empty() {
        return None;
    }
    let expr = out.join(" ").replace("( ", "(").replace(" )", ")");
    spdx::Expression::parse(&expr).ok().map(|_| expr)
}

/// Splits on whitespace and keeps parentheses as tokens of their own.
fn tokens(raw: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for word in raw.split_whitespace() {
        let mut rest = word;
        while let Some(i) = rest.find(['(', ')']) {
            if let (Some(before), Some(paren), Some(after)) =
                (rest.get(..i), rest.get(i..=i), rest.get(i + 1..))
            {
                if !before.is_empty() {
                    out.push(before);
                }
                out.push(paren);
                rest = after;
            } else {
                break;
            }
        }
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out
}

/// Debian DEP-5 and other common names whose SPDX identifier is not just a case change.
const ALIASES: &[(&str, &str)] = &[
    ("apache-2", "Apache-2.0"),
    ("cc0", "CC0-1.0"),
    ("expat", "MIT"),
    ("mpl-1.1", "MPL-1.1"),
    ("mpl-2", "MPL-2.0"),
    ("psf-2", "PSF-2.0"),
    ("python-2.0", "Python-2.0"),
    ("zlib", "Zlib"),
];

/// Maps one license word to an SPDX identifier (possibly with `+`), or `None`.
fn license_id(word: &str) -> Option<String> {
    if let Some(id) = gnu_id(word) {
        return Some(id);
    }
    let lower = word.to_ascii_lowercase();
    if let Some((_, id)) = ALIASES.iter().find(|(alias, _)| *alias == lower) {
        return Some((*id).to_owned());
    }
    let (base, plus) = match word.strip_suffix('+') {
        Some(base) => (base, "+"),
        None => (word, ""),
    };
    let listed = LICENSES
        .iter()
        .filter(|l| l.name.eq_ignore_ascii_case(base))
        .find(|l| spdx::license_id(l.name).is_some_and(|id| !id.is_deprecated()))?;
    Some(format!("{}{plus}", listed.name))
}

/// GNU family spellings: `GPL-2`, `GPL-2+`, `GPLv2+`, `LGPL-2.1+`, `GPL-3.0`, `AGPL-3+`, `GFDL-1.3+`.
fn gnu_id(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let (base, rest) = ["agpl", "lgpl", "gpl", "gfdl"]
        .iter()
        .find_map(|b| lower.strip_prefix(b).map(|rest| (*b, rest)))?;
    let rest = rest
        .strip_prefix('-')
        .or_else(|| rest.strip_prefix('v'))
        .unwrap_or(rest);
    let (version, or_later) = if let Some(v) = rest.strip_suffix('+') {
        (v, true)
    } else if let Some(v) = rest.strip_suffix("-or-later") {
        (v, true)
    } else if let Some(v) = rest.strip_suffix("-only") {
        (v, false)
    } else {
        (rest, false)
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let version = if version.contains('.') {
        version.to_owned()
    } else {
        format!("{version}.0")
    };
    let id = format!(
        "{}-{version}-{}",
        base.to_ascii_uppercase(),
        if or_later { "or-later" } else { "only" }
    );
    spdx::license_id(&id)
        .filter(|l| !l.is_deprecated())
        .map(|l| l.name.to_owned())
}

fn exception_id(word: &str) -> Option<String> {
    EXCEPTIONS
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(word))
        .map(|e| e.name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_table() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(unknown_names("MIT"), v(&[]));
        assert_eq!(unknown_names(""), v(&[]));
        assert_eq!(unknown_names("public-domain"), v(&["public-domain"]));
        assert_eq!(unknown_names("GPL-1+ or Artistic"), v(&["Artistic"]));
        assert_eq!(
            unknown_names("Foo and (Bar or MIT) and Foo"),
            v(&["Bar", "Foo"])
        );
        assert_eq!(unknown_names("Public Domain"), v(&["Public Domain"]));
        assert_eq!(
            unknown_names("MIT OR LicenseRef-Foo"),
            v(&["LicenseRef-Foo"])
        );
        assert_eq!(
            unknown_names("GPL-2+ with OpenSSL exception"),
            v(&["GPL-2+ with OpenSSL exception"])
        );
        let r = |n: &str| Some(format!("LicenseRef-{}", n.replace(' ', "-")));
        assert_eq!(
            expression_with_refs("GPL-1+ or Artistic", r).as_deref(),
            Some("GPL-1.0-or-later OR LicenseRef-Artistic")
        );
        assert_eq!(
            expression_with_refs("Public Domain", r).as_deref(),
            Some("LicenseRef-Public-Domain")
        );
        assert_eq!(expression_with_refs("Expat", r).as_deref(), Some("MIT"));
        assert_eq!(expression_with_refs(" ", r), None);
    }

    #[test]
    fn classify_table() {
        let id = |s: &str| License::Id(s.to_owned());
        let expr = |s: &str| License::Expression(s.to_owned());
        let name = |s: &str| License::Name(s.to_owned());
        for (input, want) in [
            ("MIT", id("MIT")),
            ("mit", id("MIT")),
            ("Expat", id("MIT")),
            ("GPL-2", id("GPL-2.0-only")),
            ("GPL-2+", id("GPL-2.0-or-later")),
            ("GPL-2.0+", id("GPL-2.0-or-later")),
            ("GPLv3+", id("GPL-3.0-or-later")),
            ("LGPL-2+", id("LGPL-2.0-or-later")),
            ("LGPL-2.1+", id("LGPL-2.1-or-later")),
            ("LGPL-2.1", id("LGPL-2.1-only")),
            ("AGPL-3", id("AGPL-3.0-only")),
            ("GFDL-1.3+", id("GFDL-1.3-or-later")),
            ("GPL-2.0-only", id("GPL-2.0-only")),
            ("BSD-3-clause", id("BSD-3-Clause")),
            ("bsd-2-clause", id("BSD-2-Clause")),
            ("Apache-2", id("Apache-2.0")),
            ("zlib", id("Zlib")),
            ("MPL-1.1+", expr("MPL-1.1+")),
            (
                "GPL-2+ or Artistic-2.0",
                expr("GPL-2.0-or-later OR Artistic-2.0"),
            ),
            ("MIT and BSD-3-clause", expr("MIT AND BSD-3-Clause")),
            (
                "(MIT OR Apache-2.0) AND Zlib",
                expr("(MIT OR Apache-2.0) AND Zlib"),
            ),
            (
                "GPL-2.0-or-later WITH Classpath-exception-2.0",
                expr("GPL-2.0-or-later WITH Classpath-exception-2.0"),
            ),
            ("LicenseRef-Custom", expr("LicenseRef-Custom")),
            ("public-domain", name("public-domain")),
            ("Public Domain", name("Public Domain")),
            ("Artistic", name("Artistic")),
            ("BSD", name("BSD")),
            ("GPL", name("GPL")),
            (
                "GPL-2+ with OpenSSL exception",
                name("GPL-2+ with OpenSSL exception"),
            ),
            ("MIT and", name("MIT and")),
            ("(MIT", name("(MIT")),
            ("GPL-9+", name("GPL-9+")),
            ("  ", name("")),
        ] {
            assert_eq!(classify(input), want, "{input:?}");
        }
    }
}
