//! The little DER the TSA needs: a strict TLV reader over untrusted bytes (single-byte tags,
//! definite minimal lengths, no panics), OIDs, INTEGERs and times. Writing goes through yasna.

use yasna::models::ObjectIdentifier;

use super::TsaError;

/// Largest element length the reader accepts (lengths are at most three bytes).
const MAX_LEN: usize = 0xff_ffff;

/// The last second a GeneralizedTime can name (9999-12-31T23:59:59Z).
pub(crate) const MAX_TIME: u64 = 253_402_300_799;

pub(crate) const TAG_BOOLEAN: u8 = 0x01;
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_NULL: u8 = 0x05;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_UTC_TIME: u8 = 0x17;
pub(crate) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;
/// `[0]` constructed (EXPLICIT, or IMPLICIT over a SET / SEQUENCE).
pub(crate) const TAG_CTX0: u8 = 0xa0;
/// `[1]` constructed.
pub(crate) const TAG_CTX1: u8 = 0xa1;
/// `[0]` primitive (an IMPLICIT OCTET STRING, e.g. a SignerIdentifier subjectKeyIdentifier).
pub(crate) const TAG_CTX0_PRIM: u8 = 0x80;

/// One DER element as read: its tag, its contents and the whole encoding (tag and length included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
    pub(crate) raw: &'a [u8],
}

fn malformed(what: &str, why: &str) -> TsaError {
    TsaError::Malformed(format!("{what}: {why}"))
}

/// Reads the first element of `input`; returns it and the rest.
pub(crate) fn read_tlv<'a>(input: &'a [u8], what: &str) -> Result<(Tlv<'a>, &'a [u8]), TsaError> {
    let bad = |why: &str| malformed(what, why);
    let (&tag, rest) = input.split_first().ok_or_else(|| bad("truncated"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("multi-byte tag"));
    }
    let (&first, rest) = rest.split_first().ok_or_else(|| bad("truncated length"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 {
            return Err(bad("indefinite length (BER, not DER)"));
        }
        if n > 3 {
            return Err(bad("element too large"));
        }
        let (bytes, rest) = rest
            .split_at_checked(n)
            .ok_or_else(|| bad("truncated length"))?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if bytes.first() == Some(&0) || len < 0x80 {
            return Err(bad("non-minimal length"));
        }
        (len, rest)
    };
    if len > MAX_LEN {
        return Err(bad("element too large"));
    }
    let (content, after) = rest
        .split_at_checked(len)
        .ok_or_else(|| bad("truncated contents"))?;
    let raw = input
        .get(..input.len() - after.len())
        .ok_or_else(|| bad("truncated"))?;
    Ok((Tlv { tag, content, raw }, after))
}

/// Reads exactly one element with tag `tag` that fills `input`.
pub(crate) fn read_one<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, TsaError> {
    let mut r = Reader::new(input);
    let tlv = r.expect(tag, what)?;
    r.finish(what)?;
    Ok(tlv)
}

/// A cursor over the elements of a constructed value's contents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(contents: &'a [u8]) -> Reader<'a> {
        Reader { rest: contents }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub(crate) fn next(&mut self, what: &str) -> Result<Tlv<'a>, TsaError> {
        let (tlv, rest) = read_tlv(self.rest, what)?;
        self.rest = rest;
        Ok(tlv)
    }

    /// The next element, which must have tag `tag`.
    pub(crate) fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, TsaError> {
        let tlv = self.next(what)?;
        if tlv.tag != tag {
            return Err(malformed(
                what,
                &format!("tag {:#04x}, expected {tag:#04x}", tlv.tag),
            ));
        }
        Ok(tlv)
    }

    /// The next element if it has tag `tag`.
    pub(crate) fn optional(&mut self, tag: u8, what: &str) -> Result<Option<Tlv<'a>>, TsaError> {
        if self.peek_tag() == Some(tag) {
            self.next(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    pub(crate) fn finish(&self, what: &str) -> Result<(), TsaError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(malformed(what, "unexpected trailing elements"))
        }
    }
}

/// Every element of a constructed value's contents.
pub(crate) fn read_all<'a>(contents: &'a [u8], what: &str) -> Result<Vec<Tlv<'a>>, TsaError> {
    let mut r = Reader::new(contents);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(r.next(what)?);
    }
    Ok(out)
}

pub(crate) fn oid(components: &[u64]) -> ObjectIdentifier {
    ObjectIdentifier::from_slice(components)
}

/// The whole DER of an OBJECT IDENTIFIER, to compare with a [`Tlv::raw`].
pub(crate) fn oid_der(components: &[u64]) -> Vec<u8> {
    yasna::construct_der(|w| w.write_oid(&oid(components)))
}

/// The dotted form of an OBJECT IDENTIFIER's contents ("1.2.840.113549"); strict base-128.
pub(crate) fn oid_to_string(content: &[u8], what: &str) -> Result<String, TsaError> {
    let bad = |why: &str| malformed(what, why);
    if content.is_empty() || content.last().is_some_and(|b| b & 0x80 != 0) {
        return Err(bad("bad OBJECT IDENTIFIER"));
    }
    let mut arcs: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    let mut start = true;
    for &b in content {
        if start && b == 0x80 {
            return Err(bad("non-minimal OBJECT IDENTIFIER arc"));
        }
        if acc > (u128::MAX >> 7) {
            return Err(bad("OBJECT IDENTIFIER arc too large"));
        }
        acc = (acc << 7) | u128::from(b & 0x7f);
        start = b & 0x80 == 0;
        if start {
            arcs.push(acc);
            acc = 0;
        }
    }
    let mut out = String::new();
    for (i, arc) in arcs.iter().enumerate() {
        if i == 0 {
            let (a, b) = match *arc {
                x if x < 40 => (0, x),
                x if x < 80 => (1, x - 40),
                x => (2, x - 80),
            };
            out.push_str(&format!("{a}.{b}"));
        } else {
            out.push_str(&format!(".{arc}"));
        }
    }
    Ok(out)
}

/// The whole DER of an OBJECT IDENTIFIER given in dotted form with arcs up to 128 bits (UUID
/// OIDs under 2.25 need them); `None` if it is not a valid OID.
pub(crate) fn oid_der_dotted(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u128> = dotted
        .split('.')
        .map(|a| a.parse::<u128>().ok())
        .collect::<Option<_>>()?;
    let (&first, rest) = arcs.split_first()?;
    let (&second, rest) = rest.split_first()?;
    if first > 2 || (first < 2 && second >= 40) {
        return None;
    }
    let mut content = Vec::new();
    for arc in
        std::iter::once(first.checked_mul(40)?.checked_add(second)?).chain(rest.iter().copied())
    {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v != 0 {
            groups.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        content.extend(groups.iter().rev());
    }
    Some(tlv(TAG_OID, &content))
}

/// Checks an INTEGER's contents are minimal two's complement; returns them.
pub(crate) fn integer<'a>(tlv: &Tlv<'a>, what: &str) -> Result<&'a [u8], TsaError> {
    if tlv.tag != TAG_INTEGER {
        return Err(malformed(what, "not an INTEGER"));
    }
    match tlv.content {
        [] => Err(malformed(what, "empty INTEGER")),
        [0x00, next, ..] if next & 0x80 == 0 => Err(malformed(what, "non-minimal INTEGER")),
        [0xff, next, ..] if next & 0x80 != 0 => Err(malformed(what, "non-minimal INTEGER")),
        c => Ok(c),
    }
}

/// A small non-negative INTEGER (versions).
pub(crate) fn small_uint(tlv: &Tlv<'_>, what: &str) -> Result<u64, TsaError> {
    let c = integer(tlv, what)?;
    if c.len() > 8 || c.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(malformed(what, "INTEGER out of range"));
    }
    Ok(c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// A DER BOOLEAN (0x00 or 0xff).
pub(crate) fn boolean(tlv: &Tlv<'_>, what: &str) -> Result<bool, TsaError> {
    match (tlv.tag, tlv.content) {
        (TAG_BOOLEAN, [0x00]) => Ok(false),
        (TAG_BOOLEAN, [0xff]) => Ok(true),
        _ => Err(malformed(what, "not a DER BOOLEAN")),
    }
}

/// A whole DER element from a tag and contents (for raw bytes yasna has no writer for).
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// RFC 3161 genTime: `YYYYMMDDhhmmss[.fff]Z`, the fraction only when the milliseconds are not zero,
/// without trailing zeros (DER, X.690 §11.7).
pub(crate) fn generalized_time_millis(millis: u64) -> Result<Vec<u8>, TsaError> {
    let secs = millis / 1000;
    let ms = millis % 1000;
    if secs > MAX_TIME {
        return Err(TsaError::InvalidTime(format!(
            "{millis} ms is after the year 9999"
        )));
    }
    let (year, month, day, hh, mm, ss) = civil(secs);
    let mut text = format!("{year:04}{month:02}{day:02}{hh:02}{mm:02}{ss:02}");
    if ms != 0 {
        let frac = format!("{ms:03}");
        text.push('.');
        text.push_str(frac.trim_end_matches('0'));
    }
    text.push('Z');
    Ok(tlv(TAG_GENERALIZED_TIME, text.as_bytes()))
}

/// A certificate time: UTCTime up to 2049, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5).
pub(crate) fn cert_time(unix: u64) -> Result<Vec<u8>, TsaError> {
    if unix > MAX_TIME {
        return Err(TsaError::InvalidTime(format!(
            "{unix} is after the year 9999"
        )));
    }
    let (year, month, day, hh, mm, ss) = civil(unix);
    Ok(if year < 2050 {
        let text = format!("{:02}{month:02}{day:02}{hh:02}{mm:02}{ss:02}Z", year % 100);
        tlv(TAG_UTC_TIME, text.as_bytes())
    } else {
        let text = format!("{year:04}{month:02}{day:02}{hh:02}{mm:02}{ss:02}Z");
        tlv(TAG_GENERALIZED_TIME, text.as_bytes())
    })
}

/// Parses a GeneralizedTime's contents in the DER form RFC 3161 requires (`YYYYMMDDhhmmss[.f+]Z`,
/// no trailing zero in the fraction) to Unix milliseconds; digits beyond milliseconds are dropped.
pub(crate) fn parse_generalized_time_millis(content: &[u8]) -> Result<u64, TsaError> {
    let bad = || malformed("genTime", "not a DER GeneralizedTime (YYYYMMDDhhmmss[.f]Z)");
    let (zulu, body) = content.split_last().ok_or_else(bad)?;
    if *zulu != b'Z' {
        return Err(bad());
    }
    let (whole, frac) = match body.iter().position(|b| *b == b'.') {
        Some(i) => (
            body.get(..i).ok_or_else(bad)?,
            Some(body.get(i + 1..).ok_or_else(bad)?),
        ),
        None => (body, None),
    };
    if whole.len() != 14 || !whole.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let num = |from: usize, to: usize| -> u64 {
        whole
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
    };
    let (year, month, day) = (num(0, 4), num(4, 6), num(6, 8));
    let (hh, mm, ss) = (num(8, 10), num(10, 12), num(12, 14));
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hh > 23
        || mm > 59
        || ss > 59
        || year < 1970
    {
        return Err(bad());
    }
    let mut millis = 0u64;
    if let Some(frac) = frac {
        if frac.is_empty()
            || frac.len() > 9
            || !frac.iter().all(u8::is_ascii_digit)
            || frac.last() == Some(&b'0')
        {
            return Err(bad());
        }
        for i in 0..3 {
            millis = millis * 10 + frac.get(i).map_or(0, |d| u64::from(d - b'0'));
        }
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hh * 3600 + mm * 60 + ss;
    Ok(secs * 1000 + millis)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix seconds to (year, month, day, hour, minute, second).
fn civil(unix: u64) -> (u64, u64, u64, u64, u64, u64) {
    let (year, month, day) = civil_from_days(unix / 86_400);
    let secs = unix % 86_400;
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// `civil_from_days`, for non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`] for years from 1970 (Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y % 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
