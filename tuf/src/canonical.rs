//! OLPC canonical JSON, as securesystemslib and python-tuf produce it: object keys sorted by code
//! point, no insignificant whitespace, only `\` and `"` escaped in strings, integers only.
//!
//! Signatures are made and checked over this encoding of a metadata file's `signed` value, as parsed
//! (unknown fields included), never over a re-serialised struct.

use serde_json::Value;

/// The canonical encoding of `value`, or `None` if it holds a non-integer number (canonical JSON has
/// no floats; securesystemslib refuses them too).
pub fn encode(value: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    write(value, &mut out)?;
    Some(out)
}

fn write(value: &Value, out: &mut Vec<u8>) -> Option<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return None;
            }
        }
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(v, out)?;
            }
            out.push(b'}');
        }
    }
    Some(())
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'\\' || b == b'"' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_securesystemslib() {
        // Outputs of securesystemslib.formats.encode_canonical for the same inputs.
        let cases = [
            (
                json!({"b": 1, "a": [true, null, "x"]}),
                r#"{"a":[true,null,"x"],"b":1}"#,
            ),
            (json!({"q": "a\"b\\c\nd"}), "{\"q\":\"a\\\"b\\\\c\nd\"}"),
            (json!({"é": -3, "Z": {}}), r#"{"Z":{},"é":-3}"#),
        ];
        for (v, want) in cases {
            assert_eq!(
                encode(&v).map(String::from_utf8),
                Some(Ok(want.to_string()))
            );
        }
        assert_eq!(encode(&json!({"f": 1.5})), None);
    }
}
