//! The little DER this module needs: writing X.509 pieces with yasna, and a strict TLV reader that
//! keeps the raw bytes of every element (so a TBSCertificate can be taken apart and put back together
//! byte for byte, minus one extension).

use yasna::models::ObjectIdentifier;
use yasna::DERWriter;

use super::KeylessError;

/// ecdsa-with-SHA256 (RFC 5758 §3.2).
pub(crate) const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
/// id-at-commonName.
pub(crate) const OID_CN: &[u64] = &[2, 5, 4, 3];
/// id-at-organizationName.
pub(crate) const OID_O: &[u64] = &[2, 5, 4, 10];
/// id-ce-subjectKeyIdentifier.
pub(crate) const OID_SKI: &[u64] = &[2, 5, 29, 14];
/// id-ce-keyUsage.
pub(crate) const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
/// id-ce-subjectAltName.
pub(crate) const OID_SAN: &[u64] = &[2, 5, 29, 17];
/// id-ce-basicConstraints.
pub(crate) const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
/// id-ce-authorityKeyIdentifier.
pub(crate) const OID_AKI: &[u64] = &[2, 5, 29, 35];
/// id-ce-extKeyUsage.
pub(crate) const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
/// id-kp-codeSigning.
pub(crate) const OID_KP_CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];
/// The RFC 6962 §3.3 SignedCertificateTimestampList extension.
pub(crate) const OID_SCT_LIST: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2];

/// The last second a certificate time can name (9999-12-31T23:59:59Z).
pub(crate) const MAX_TIME: u64 = 253_402_300_799;

/// Largest element length the reader accepts (lengths are at most three bytes).
const MAX_LEN: usize = 0xff_ffff;

pub(crate) const TAG_BOOLEAN: u8 = 0x01;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
/// `[0] EXPLICIT` (the TBSCertificate version).
pub(crate) const TAG_CTX0: u8 = 0xa0;
/// `[3] EXPLICIT` (the TBSCertificate extensions).
pub(crate) const TAG_CTX3: u8 = 0xa3;

pub(crate) fn oid(components: &[u64]) -> ObjectIdentifier {
    ObjectIdentifier::from_slice(components)
}

/// The DER of an OBJECT IDENTIFIER, to compare with what the reader finds.
pub(crate) fn oid_der(components: &[u64]) -> Vec<u8> {
    yasna::construct_der(|w| w.write_oid(&oid(components)))
}

/// `AlgorithmIdentifier { ecdsa-with-SHA256 }` (no parameters, RFC 5758 §3.2).
pub(crate) fn write_ecdsa_sha256(w: DERWriter<'_>) {
    w.write_sequence(|w| w.next().write_oid(&oid(OID_ECDSA_SHA256)));
}

/// One extension: `SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING }`.
pub(crate) fn write_extension(w: DERWriter<'_>, id: &[u64], critical: bool, value: &[u8]) {
    w.write_sequence(|w| {
        w.next().write_oid(&oid(id));
        if critical {
            w.next().write_bool(true);
        }
        w.next().write_bytes(value);
    });
}

/// A certificate time: UTCTime up to 2049, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5).
pub(crate) fn time_der(unix: u64) -> Result<Vec<u8>, KeylessError> {
    if unix > MAX_TIME {
        return Err(KeylessError::InvalidValidity(format!(
            "{unix} is after the year 9999"
        )));
    }
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let (tag, text) = if year < 2050 {
        (
            0x17u8,
            format!("{:02}{month:02}{day:02}{hh:02}{mm:02}{ss:02}Z", year % 100),
        )
    } else {
        (
            0x18u8,
            format!("{year:04}{month:02}{day:02}{hh:02}{mm:02}{ss:02}Z"),
        )
    };
    let mut out = vec![tag, text.len() as u8];
    out.extend_from_slice(text.as_bytes());
    Ok(out)
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

/// One DER element as read: its tag, its contents and the whole encoding (tag and length included).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
    pub(crate) raw: &'a [u8],
}

/// Reads the first element of `input`; returns it and the rest. Strict DER: single-byte tags,
/// definite minimal lengths.
pub(crate) fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), KeylessError> {
    let bad = |why: &str| KeylessError::Malformed(format!("DER: {why}"));
    let (&tag, rest) = input.split_first().ok_or_else(|| bad("truncated"))?;
    if tag & 0x1f == 0x1f {
        return Err(bad("multi-byte tags are not used in certificates"));
    }
    let (&first, rest) = rest.split_first().ok_or_else(|| bad("truncated length"))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 {
            return Err(bad("indefinite length"));
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
    let raw_len = input.len() - after.len();
    let raw = input.get(..raw_len).ok_or_else(|| bad("truncated"))?;
    Ok((Tlv { tag, content, raw }, after))
}

/// Reads exactly one element with tag `tag` that fills `input`.
pub(crate) fn read_one<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, KeylessError> {
    let (tlv, rest) = read_tlv(input)?;
    if tlv.tag != tag {
        return Err(KeylessError::Malformed(format!(
            "{what}: tag {:#04x}, expected {tag:#04x}",
            tlv.tag
        )));
    }
    if !rest.is_empty() {
        return Err(KeylessError::Malformed(format!("{what}: trailing bytes")));
    }
    Ok(tlv)
}

/// Every element of a constructed value's contents.
pub(crate) fn read_all(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, KeylessError> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tlv, rest) = read_tlv(input)?;
        out.push(tlv);
        input = rest;
    }
    Ok(out)
}

/// A certificate taken apart: `SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`.
#[derive(Debug)]
pub(crate) struct CertParts<'a> {
    /// The TBSCertificate's elements, version first.
    pub(crate) fields: Vec<Tlv<'a>>,
}

/// One extension of a TBSCertificate.
#[derive(Debug)]
pub(crate) struct Extension<'a> {
    /// The DER of the OBJECT IDENTIFIER (tag included).
    pub(crate) oid: &'a [u8],
    pub(crate) value: &'a [u8],
    pub(crate) raw: &'a [u8],
}

impl<'a> CertParts<'a> {
    /// Splits a certificate; the TBSCertificate must be X.509 v3.
    pub(crate) fn parse(der: &'a [u8]) -> Result<CertParts<'a>, KeylessError> {
        let cert = read_one(der, TAG_SEQUENCE, "certificate")?;
        let outer = read_all(cert.content)?;
        let [tbs, alg, sig] = outer.as_slice() else {
            return Err(KeylessError::Malformed(
                "certificate: not three elements".into(),
            ));
        };
        if tbs.tag != TAG_SEQUENCE || alg.tag != TAG_SEQUENCE || sig.tag != TAG_BIT_STRING {
            return Err(KeylessError::Malformed(
                "certificate: unexpected element types".into(),
            ));
        }
        let fields = read_all(tbs.content)?;
        if fields.first().map(|f| f.tag) != Some(TAG_CTX0) || fields.len() < 7 {
            return Err(KeylessError::Malformed(
                "TBSCertificate: not an X.509 v3 certificate".into(),
            ));
        }
        Ok(CertParts { fields })
    }

    fn field(&self, index: usize, tag: u8, what: &str) -> Result<Tlv<'a>, KeylessError> {
        match self.fields.get(index) {
            Some(f) if f.tag == tag => Ok(*f),
            _ => Err(KeylessError::Malformed(format!(
                "TBSCertificate: bad {what}"
            ))),
        }
    }

    /// The subject Name DER.
    pub(crate) fn subject(&self) -> Result<&'a [u8], KeylessError> {
        Ok(self.field(5, TAG_SEQUENCE, "subject")?.raw)
    }

    /// The SubjectPublicKeyInfo DER.
    pub(crate) fn spki(&self) -> Result<&'a [u8], KeylessError> {
        Ok(self.field(6, TAG_SEQUENCE, "subjectPublicKeyInfo")?.raw)
    }

    /// The index of the `[3]` extensions field, if any.
    fn extensions_index(&self) -> Option<usize> {
        self.fields.iter().position(|f| f.tag == TAG_CTX3)
    }

    /// The extensions, in order.
    pub(crate) fn extensions(&self) -> Result<Vec<Extension<'a>>, KeylessError> {
        let Some(index) = self.extensions_index() else {
            return Ok(Vec::new());
        };
        let wrapper = self.field(index, TAG_CTX3, "extensions")?;
        let list = read_one(wrapper.content, TAG_SEQUENCE, "extensions")?;
        read_all(list.content)?
            .into_iter()
            .map(|ext| {
                if ext.tag != TAG_SEQUENCE {
                    return Err(KeylessError::Malformed("extension: not a SEQUENCE".into()));
                }
                let parts = read_all(ext.content)?;
                // DER leaves out `critical` when it is FALSE (the default).
                let (oid, value) = match parts.as_slice() {
                    [oid, value] => (oid, value),
                    [oid, crit, value] if crit.tag == TAG_BOOLEAN && crit.content == [0xff] => {
                        (oid, value)
                    }
                    _ => return Err(KeylessError::Malformed("extension: bad structure".into())),
                };
                if oid.tag != TAG_OID || value.tag != TAG_OCTET_STRING {
                    return Err(KeylessError::Malformed("extension: bad structure".into()));
                }
                Ok(Extension {
                    oid: oid.raw,
                    value: value.content,
                    raw: ext.raw,
                })
            })
            .collect()
    }

    /// The TBSCertificate re-encoded without the extension at `skip` (an index into
    /// [`CertParts::extensions`]); every other byte is kept as it was.
    pub(crate) fn tbs_without(&self, skip: usize) -> Result<Vec<u8>, KeylessError> {
        let exts = self.extensions()?;
        let kept: Vec<&[u8]> = exts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, e)| e.raw)
            .collect();
        Ok(yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for field in &self.fields {
                    if field.tag == TAG_CTX3 {
                        if kept.is_empty() {
                            continue;
                        }
                        w.next().write_tagged(yasna::Tag::context(3), |w| {
                            w.write_sequence(|w| {
                                for raw in &kept {
                                    w.next().write_der(raw);
                                }
                            })
                        });
                    } else {
                        w.next().write_der(field.raw);
                    }
                }
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_switch_to_generalized_in_2050() {
        // 2024-03-01T12:34:56Z (after a leap day)
        assert_eq!(time_der(1_709_296_496).unwrap()[2..], *b"240301123456Z");
        assert_eq!(time_der(0).unwrap()[2..], *b"700101000000Z");
        assert_eq!(time_der(0).unwrap()[0], 0x17);
        // 2049-12-31T23:59:59Z and 2050-01-01T00:00:00Z
        assert_eq!(time_der(2_524_607_999).unwrap()[2..], *b"491231235959Z");
        let g = time_der(2_524_608_000).unwrap();
        assert_eq!((g[0], &g[2..]), (0x18, &b"20500101000000Z"[..]));
        assert_eq!(time_der(MAX_TIME).unwrap()[2..], *b"99991231235959Z");
        assert!(time_der(MAX_TIME + 1).is_err());
    }

    #[test]
    fn reader_is_strict() {
        assert!(read_tlv(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err()); // non-minimal
        assert!(read_tlv(&[0x30, 0x80, 0, 0]).is_err()); // indefinite
        assert!(read_tlv(&[0x04, 0x03, 1, 2]).is_err()); // truncated
        assert!(read_tlv(&[0x1f, 0x01, 0]).is_err()); // multi-byte tag
        assert!(read_tlv(&[0x04, 0x82, 0x00, 0x90]).is_err()); // leading zero length byte
        let (tlv, rest) = read_tlv(&[0x04, 0x01, 9, 0xff]).unwrap();
        assert_eq!(
            (tlv.tag, tlv.content, tlv.raw, rest),
            (4, &[9u8][..], &[4u8, 1, 9][..], &[0xffu8][..])
        );
        assert!(read_one(&[0x04, 0x01, 9, 0xff], 4, "x").is_err());
    }
}
