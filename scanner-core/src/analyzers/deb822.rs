//! A zero-copy reader for deb822 control data (dpkg `status`, `status.d/*`): paragraphs of
//! `Field: value` lines, continuation lines starting with a space or tab, paragraphs separated by blank
//! (or whitespace-only) lines. CRLF line ends are tolerated.
//!
//! Field values are byte ranges into the input, so a huge `Description` costs nothing unless asked for.

use super::{IssueKind, Issues};

/// Fields kept per paragraph; real dpkg records have about 20. Bounds the linear field lookup.
pub(crate) const MAX_FIELDS: usize = 256;

/// One `Field: value` entry (value includes its continuation lines, newlines and all).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub(crate) name: &'a [u8],
    /// Start and end offsets of the raw value in the input.
    start: usize,
    end: usize,
    /// 1-based line of the field name.
    pub(crate) line: usize,
}

/// One paragraph.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paragraph<'a> {
    /// 1-based line of the first field.
    pub(crate) line: usize,
    pub(crate) fields: Vec<Field<'a>>,
}

impl<'a> Paragraph<'a> {
    /// The first field named `name` (ASCII case-insensitive, as deb822 says).
    pub(crate) fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// How many times `name` occurs.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            .count()
    }
}

impl Field<'_> {
    /// The raw value bytes (first line after the colon, plus continuation lines).
    pub(crate) fn raw<'d>(&self, data: &'d [u8]) -> &'d [u8] {
        data.get(self.start..self.end).unwrap_or_default()
    }

    /// The value folded to one line: lines trimmed and joined by one space, lossy UTF-8.
    pub(crate) fn folded(&self, data: &[u8]) -> String {
        let mut out = String::new();
        for line in self.lines(data) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&String::from_utf8_lossy(line));
        }
        out
    }

    /// The value's lines, each trimmed, empty ones skipped.
    pub(crate) fn lines<'d>(&self, data: &'d [u8]) -> impl Iterator<Item = &'d [u8]> {
        self.raw(data)
            .split(|&b| b == b'\n')
            .map(<[u8]>::trim_ascii)
            .filter(|l| !l.is_empty())
    }
}

/// Splits `data` into lines: (1-based number, start offset, line without `\n` / `\r\n`).
pub(crate) fn lines(data: &[u8]) -> impl Iterator<Item = (usize, usize, &[u8])> {
    let mut offset = 0usize;
    data.split(|&b| b == b'\n')
        .enumerate()
        .map(move |(i, line)| {
            let start = offset;
            offset = offset.saturating_add(line.len()).saturating_add(1);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (i.saturating_add(1), start, line)
        })
}

/// Parses every paragraph of `data`; problems go to `issues`.
pub(crate) fn paragraphs<'a>(data: &'a [u8], issues: &mut Issues) -> Vec<Paragraph<'a>> {
    let mut out = Vec::new();
    let mut cur = Paragraph::default();
    // What a continuation line would continue: nothing (paragraph start), the last field, or a bad or
    // dropped line whose continuations were already reported with it.
    #[derive(PartialEq)]
    enum Last {
        Nothing,
        Field,
        Bad,
    }
    let mut last = Last::Nothing;
    let mut too_many_reported = false;
    for (no, start, line) in lines(data) {
        if line.iter().all(|b| *b == b' ' || *b == b'\t') {
            if !cur.fields.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = Last::Nothing;
            too_many_reported = false;
            continue;
        }
        let end = start.saturating_add(line.len());
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            match (&last, cur.fields.last_mut()) {
                (Last::Field, Some(field)) => field.end = end,
                (Last::Bad, _) => {}
                _ => issues.push(no, IssueKind::OrphanContinuation),
            }
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            issues.push(no, IssueKind::NotAField);
            last = Last::Bad;
            continue;
        };
        let name = line.get(..colon).unwrap_or_default().trim_ascii();
        if name.is_empty() {
            issues.push(no, IssueKind::NotAField);
            last = Last::Bad;
            continue;
        }
        if cur.fields.len() >= MAX_FIELDS {
            if !too_many_reported {
                issues.push(no, IssueKind::TooManyFields(MAX_FIELDS));
                too_many_reported = true;
            }
            last = Last::Bad;
            continue;
        }
        if cur.fields.is_empty() {
            cur.line = no;
        }
        cur.fields.push(Field {
            name,
            start: start.saturating_add(colon).saturating_add(1),
            end,
            line: no,
        });
        last = Last::Field;
    }
    if !cur.fields.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &[u8]) -> (Vec<Paragraph<'_>>, Vec<super::super::Issue>) {
        let mut issues = Issues::default();
        let p = paragraphs(data, &mut issues);
        (p, issues.finish(0))
    }

    #[test]
    fn fields_continuations_and_separators() {
        let data = b"Package: a\r\nDescription: one\r\n two\r\n .\r\n\r\n \t\nPackage: b\nDepends: x,\n  y\n";
        let (ps, issues) = parse(data);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(ps.len(), 2);
        let a = &ps[0];
        assert_eq!(a.line, 1);
        assert_eq!(a.field("package").unwrap().folded(data), "a");
        assert_eq!(a.field("Description").unwrap().folded(data), "one two .");
        let b = &ps[1];
        assert_eq!(b.line, 7);
        assert_eq!(b.field("Depends").unwrap().folded(data), "x, y");
        assert!(b.field("Version").is_none());
    }

    #[test]
    fn bad_lines_are_reported_not_fatal() {
        let data = b" orphan\nno colon here\n  cont of bad line\n: empty name\nPackage: ok\n";
        let (ps, issues) = parse(data);
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].field("Package").unwrap().folded(data), "ok");
        let kinds: Vec<_> = issues.iter().map(|i| (i.line, i.kind.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                (1, IssueKind::OrphanContinuation),
                (2, IssueKind::NotAField),
                (4, IssueKind::NotAField),
            ]
        );
    }

    #[test]
    fn too_many_fields_are_capped() {
        let mut data = Vec::new();
        for i in 0..(MAX_FIELDS + 10) {
            data.extend_from_slice(format!("F{i}: v\n").as_bytes());
        }
        let (ps, issues) = parse(&data);
        assert_eq!(ps[0].fields.len(), MAX_FIELDS);
        assert_eq!(issues.len(), 1);
    }
}
