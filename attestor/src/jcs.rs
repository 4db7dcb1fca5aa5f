//! RFC 8785 JSON Canonicalization Scheme (JCS) of a [`serde_json::Value`]: what Rekor v2 hashes as an
//! entry body, so our bytes must be the same as Rekor's for the same entry.
//!
//! - Object members are sorted by the UTF-16 code units of their names; no whitespace is written.
//! - Strings are escaped as RFC 8785 §3.2.2.2 says: `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`, other
//!   control characters as `\u00xx` (lower-case hex), everything else (including non-ASCII and
//!   U+2028/U+2029) as literal UTF-8.
//! - Numbers are written as ECMAScript's `Number.prototype.toString` writes the IEEE 754 double
//!   (RFC 8785 §3.2.2.3): integers print exactly, `-0` prints as `0`, `1e21` and above and below
//!   `1e-6` use exponent form.
//!
//! What it does *not* do: integers whose magnitude exceeds 2^53 are refused ([`JcsError::UnsafeInteger`])
//! rather than silently rounded to the nearest double as a JavaScript implementation would; I-JSON
//! (RFC 7493), which JCS builds on, says such numbers are not interoperable. Nesting deeper than
//! [`MAX_DEPTH`] is refused so a hostile value cannot exhaust the stack.
//!
//! ```
//! let v = serde_json::json!({"b": [1, "\u{20ac}"], "a": true});
//! let canonical = attestor::jcs::canonicalize(&v).unwrap();
//! assert_eq!(canonical, r#"{"a":true,"b":[1,"€"]}"#.as_bytes());
//! ```

use serde_json::{Number, Value};

/// Deepest nesting of arrays and objects accepted (serde_json's own parser stops at 128).
pub const MAX_DEPTH: usize = 128;

/// Largest integer magnitude a double holds exactly (2^53).
const MAX_SAFE: u64 = 1 << 53;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JcsError {
    #[error(
        "integer {0} is outside the range a JSON number holds exactly (±2^53); JCS would round it"
    )]
    UnsafeInteger(String),
    #[error("number {0} is not a finite IEEE 754 double")]
    NotFinite(String),
    #[error("value nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// The RFC 8785 canonical bytes of `v`.
pub fn canonicalize(v: &Value) -> Result<Vec<u8>, JcsError> {
    let mut out = Vec::new();
    write_value(&mut out, v, 0)?;
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), JcsError> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(JcsError::TooDeep);
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(JcsError::TooDeep);
            }
            let mut members: Vec<(Vec<u16>, &String, &Value)> = map
                .iter()
                .map(|(k, v)| (k.encode_utf16().collect(), k, v))
                .collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            out.push(b'{');
            for (i, (_, k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, v, depth + 1)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), JcsError> {
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE {
            return Err(JcsError::UnsafeInteger(u.to_string()));
        }
        out.extend_from_slice(u.to_string().as_bytes());
        return Ok(());
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE {
            return Err(JcsError::UnsafeInteger(i.to_string()));
        }
        out.extend_from_slice(i.to_string().as_bytes());
        return Ok(());
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => {
            out.extend_from_slice(es6_number(f).as_bytes());
            Ok(())
        }
        _ => Err(JcsError::NotFinite(n.to_string())),
    }
}

/// ECMAScript `Number.prototype.toString(10)` of a finite double (ECMA-262 §6.1.6.1.20).
fn es6_number(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // The shortest digit string that round-trips, closest to the value and even on an exact tie:
    // what ECMAScript asks for. Ryu (serde_json's float formatter) gives exactly that; Rust's own
    // `{:e}` rounds ties up (RFC 8785's 1424953923781206.25 must print as ...206.2).
    let text = serde_json::Number::from_f64(f.abs())
        .map_or_else(|| format!("{:e}", f.abs()), |n| n.to_string());
    let (digits, n) = decimal_digits(&text);
    let k = digits.len() as i64;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e_sign = if e < 0 { "-" } else { "+" };
        let (first, rest) = digits.split_at(1);
        if rest.is_empty() {
            format!("{first}e{e_sign}{}", e.abs())
        } else {
            format!("{first}.{rest}e{e_sign}{}", e.abs())
        }
    };
    format!("{sign}{body}")
}

/// The significant digits `d1d2…dk` and exponent `n` of a decimal number's text, so that the
/// value is `0.d1d2…dk × 10^n` (no leading or trailing zeros in the digits).
fn decimal_digits(text: &str) -> (String, i64) {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (
            text.get(..i).unwrap_or(""),
            text.get(i + 1..).unwrap_or("0"),
        ),
        None => (text, "0"),
    };
    let exp: i64 = exp.trim_start_matches('+').parse().unwrap_or(0);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let leading = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // value = 0.all × 10^(int.len() + exp); dropping leading zeros shifts the point left.
    let n = int.len() as i64 + exp - leading as i64;
    (digits.to_owned(), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(f: f64) -> String {
        es6_number(f)
    }

    #[test]
    fn es6_numbers_match_rfc8785_appendix_b() {
        // RFC 8785 Appendix B (IEEE 754 hex → expected JCS text).
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for (bits, want) in cases {
            assert_eq!(num(f64::from_bits(*bits)), *want, "bits {bits:#x}");
        }
    }
}
