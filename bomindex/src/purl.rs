//! The purl matching rule and [`PurlSet`], the sorted query side of a join.
//!
//! A query purl `Q` matches a component purl `C` when `C == Q`, or `C` starts with `Q` and the rest
//! of `C` begins where `Q` stops being specific:
//!
//! | `Q` has …                      | rest of `C` may start with | example `Q` → matches             |
//! |--------------------------------|----------------------------|-----------------------------------|
//! | no version                     | `@`, `?` or `#`            | `pkg:npm/lodash` → every version  |
//! | a version, no qualifiers       | `?` or `#`                 | `pkg:deb/debian/zlib1g@1:1.2.13` → any `arch`/`distro` |
//! | qualifiers, no subpath         | `#`                        |                                   |
//! | a subpath                      | (nothing: exact)           |                                   |
//!
//! So `pkg:npm/lodash` does not match `pkg:npm/lodash-es@4`, and `pkg:npm/lodash@4.17.2` does not
//! match `pkg:npm/lodash@4.17.21`. Because every match of `Q` starts with `Q`, the matches of `Q`
//! are a contiguous run of a sorted table starting at `Q`'s lower bound: a join is a merge.

/// How specific a query purl is: what may follow it in a component purl that matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Specificity {
    /// No `@version`: any version, qualifiers and subpath.
    Name,
    /// A version but no qualifiers: any qualifiers and subpath.
    Version,
    /// Qualifiers but no subpath: any subpath.
    Qualifiers,
    /// A subpath: exact only.
    Exact,
}

impl Specificity {
    pub(crate) fn of(purl: &str) -> Self {
        if purl.contains('#') {
            return Specificity::Exact;
        }
        if purl.contains('?') {
            return Specificity::Qualifiers;
        }
        // The version follows the last `@` after the last `/` (a namespace spells `@` as `%40`).
        let last_segment = purl.rsplit_once('/').map_or(purl, |(_, s)| s);
        if last_segment.contains('@') {
            Specificity::Version
        } else {
            Specificity::Name
        }
    }

    /// True when a component purl `query + rest` matches the query.
    #[inline]
    pub(crate) fn accepts(self, rest: &[u8]) -> bool {
        match rest.first() {
            None => true,
            Some(&c) => match self {
                Specificity::Name => c == b'@' || c == b'?' || c == b'#',
                Specificity::Version => c == b'?' || c == b'#',
                Specificity::Qualifiers => c == b'#',
                Specificity::Exact => false,
            },
        }
    }
}

/// The purl type (`npm` in `pkg:npm/lodash@4`), lower-cased, or `None` when `purl` is not `pkg:TYPE/…`.
pub fn purl_type(purl: &str) -> Option<String> {
    let rest = purl.strip_prefix("pkg:")?;
    let (ty, _) = rest.split_once('/')?;
    if ty.is_empty()
        || !ty
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'+' || b == b'-')
    {
        return None;
    }
    Some(ty.to_ascii_lowercase())
}

/// A sorted, deduplicated set of query purls (e.g. every purl an advisory feed names), laid out in
/// one buffer for a cache-friendly merge against an index. Build it once, join it with many indexes.
#[derive(Debug, Clone, Default)]
pub struct PurlSet {
    blob: String,
    /// `ends[i]` is the end of entry `i` in `blob`; entry `i` starts at `ends[i - 1]` (or 0).
    ends: Vec<usize>,
    specificity: Vec<Specificity>,
}

impl PurlSet {
    /// Sorts and deduplicates `purls`; empty entries are dropped. Entries are taken as they are
    /// (not trimmed): a purl matches only the bytes it has.
    pub fn new<I, S>(purls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let owned: Vec<S> = purls.into_iter().collect();
        let mut refs: Vec<&str> = owned
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| !s.is_empty())
            .collect();
        refs.sort_unstable();
        refs.dedup();
        let mut set = PurlSet {
            blob: String::with_capacity(refs.iter().map(|s| s.len()).sum()),
            ends: Vec::with_capacity(refs.len()),
            specificity: Vec::with_capacity(refs.len()),
        };
        for s in refs {
            set.blob.push_str(s);
            set.ends.push(set.blob.len());
            set.specificity.push(Specificity::of(s));
        }
        set
    }

    /// Number of distinct purls.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let start = match i.checked_sub(1) {
            None => 0,
            Some(p) => *self.ends.get(p)?,
        };
        let end = *self.ends.get(i)?;
        self.blob.get(start..end)
    }

    /// The purls in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, Specificity)> + '_ {
        self.iter().zip(self.specificity.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specificity_table() {
        for (q, s) in [
            ("pkg:npm/lodash", Specificity::Name),
            ("pkg:npm/%40types/node", Specificity::Name),
            ("pkg:npm/lodash@4.17.21", Specificity::Version),
            (
                "pkg:deb/debian/zlib1g@1:1.2.13?arch=amd64",
                Specificity::Qualifiers,
            ),
            ("pkg:golang/example.com/a@v1#sub/dir", Specificity::Exact),
            ("pkg:golang/example.com/a@v1/sub", Specificity::Name),
        ] {
            assert_eq!(Specificity::of(q), s, "{q}");
        }
    }

    #[test]
    fn accepts_table() {
        let name = Specificity::Name;
        assert!(name.accepts(b""));
        assert!(name.accepts(b"@4"));
        assert!(!name.accepts(b"-es@4"));
        assert!(Specificity::Version.accepts(b"?arch=amd64"));
        assert!(!Specificity::Version.accepts(b"1"));
        assert!(Specificity::Qualifiers.accepts(b"#x"));
        assert!(!Specificity::Qualifiers.accepts(b"&distro=x"));
        assert!(!Specificity::Exact.accepts(b"/x"));
    }

    #[test]
    fn purl_types() {
        assert_eq!(purl_type("pkg:npm/a@1").as_deref(), Some("npm"));
        assert_eq!(purl_type("pkg:DEB/debian/a").as_deref(), Some("deb"));
        assert_eq!(purl_type("pkg:/a"), None);
        assert_eq!(purl_type("npm/a"), None);
        assert_eq!(purl_type("pkg:a b/c"), None);
    }

    #[test]
    fn set_sorts_and_dedups() {
        let s = PurlSet::new(["pkg:npm/b", "", "pkg:npm/a", "pkg:npm/b"]);
        assert_eq!(s.iter().collect::<Vec<_>>(), ["pkg:npm/a", "pkg:npm/b"]);
        assert_eq!(s.get(2), None);
    }
}
