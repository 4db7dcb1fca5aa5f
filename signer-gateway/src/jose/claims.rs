//! JWT claim validation (RFC 7519 §4.1) against an injected clock.

use serde_json::{Map, Value};

/// The largest clock skew a policy may allow, in seconds.
pub const MAX_SKEW: u64 = 300;
/// The most `aud` entries read from an array.
const MAX_AUDIENCES: usize = 32;

/// What a JWT must say to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsPolicy {
    /// The exact `iss`.
    pub issuer: String,
    /// A value `aud` must contain.
    pub audience: String,
    /// Allowed clock skew in seconds; values above [`MAX_SKEW`] are treated as [`MAX_SKEW`].
    pub skew: u64,
}

impl ClaimsPolicy {
    /// A policy with the default skew of 60 seconds.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> ClaimsPolicy {
        ClaimsPolicy {
            issuer: issuer.into(),
            audience: audience.into(),
            skew: 60,
        }
    }

    fn skew(&self) -> u64 {
        self.skew.min(MAX_SKEW)
    }
}

/// Why the claims of a JWT were refused. Each names the claim at fault, so a service can answer
/// RFC 6750 `invalid_token` with a precise description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("JWT payload is not a JSON object")]
    NotObject,
    #[error("claim `{0}` is missing")]
    Missing(&'static str),
    #[error("claim `{0}` has the wrong type")]
    WrongType(&'static str),
    #[error("claim `iss` is not the expected issuer")]
    WrongIssuer,
    #[error("claim `aud` does not contain the expected audience")]
    WrongAudience,
    #[error("claim `exp` ({exp}) has passed (now {now})")]
    Expired { exp: u64, now: u64 },
    #[error("claim `nbf` ({nbf}) is in the future (now {now})")]
    NotYetValid { nbf: u64, now: u64 },
    #[error("claim `iat` ({iat}) is in the future (now {now})")]
    IssuedInFuture { iat: u64, now: u64 },
}

/// The registered claims of a validated JWT, and the whole claim object for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub jti: Option<String>,
    /// The full claim object (registered claims included), for `cnf`, `scope` and the like.
    pub raw: Map<String, Value>,
}

/// A NumericDate: a non-negative JSON number, fractions truncated.
pub(crate) fn numeric_date(
    obj: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, ClaimsError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(f)) if (0.0..1.0e18).contains(&f) => Ok(Some(f as u64)),
            _ => Err(ClaimsError::WrongType(name)),
        },
        Some(_) => Err(ClaimsError::WrongType(name)),
    }
}

fn opt_string(obj: &Map<String, Value>, name: &'static str) -> Result<Option<String>, ClaimsError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ClaimsError::WrongType(name)),
    }
}

/// Validates a JWT payload (already verified) against `policy` at `now` (seconds since the epoch):
/// `iss` exact, `aud` contains the audience, `exp` required and `exp > now - skew`,
/// `nbf <= now + skew`, `iat <= now + skew`.
pub fn validate_claims(
    payload: &[u8],
    policy: &ClaimsPolicy,
    now: u64,
) -> Result<Claims, ClaimsError> {
    let raw = match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => map,
        _ => return Err(ClaimsError::NotObject),
    };
    let skew = policy.skew();

    let iss = opt_string(&raw, "iss")?.ok_or(ClaimsError::Missing("iss"))?;
    if iss != policy.issuer {
        return Err(ClaimsError::WrongIssuer);
    }

    let aud = match raw.get("aud") {
        None => return Err(ClaimsError::Missing("aud")),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) if list.len() <= MAX_AUDIENCES => list
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(ClaimsError::WrongType("aud"))?,
        Some(_) => return Err(ClaimsError::WrongType("aud")),
    };
    if !aud.contains(&policy.audience) {
        return Err(ClaimsError::WrongAudience);
    }

    let exp = numeric_date(&raw, "exp")?.ok_or(ClaimsError::Missing("exp"))?;
    if exp.saturating_add(skew) <= now {
        return Err(ClaimsError::Expired { exp, now });
    }
    let nbf = numeric_date(&raw, "nbf")?;
    if let Some(nbf) = nbf {
        if nbf > now.saturating_add(skew) {
            return Err(ClaimsError::NotYetValid { nbf, now });
        }
    }
    let iat = numeric_date(&raw, "iat")?;
    if let Some(iat) = iat {
        if iat > now.saturating_add(skew) {
            return Err(ClaimsError::IssuedInFuture { iat, now });
        }
    }

    Ok(Claims {
        iss,
        sub: opt_string(&raw, "sub")?,
        aud,
        exp,
        nbf,
        iat,
        jti: opt_string(&raw, "jti")?,
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn check(claims: Value) -> Result<Claims, ClaimsError> {
        validate_claims(
            claims.to_string().as_bytes(),
            &ClaimsPolicy::new("https://iss", "signer"),
            NOW,
        )
    }

    #[test]
    fn claim_table() {
        let ok = |extra: Value| {
            let mut base = json!({"iss": "https://iss", "aud": "signer", "exp": NOW + 60});
            for (k, v) in extra.as_object().unwrap() {
                base[k] = v.clone();
            }
            base
        };
        let cases: Vec<(&str, Value, Result<(), ClaimsError>)> = vec![
            ("valid", ok(json!({})), Ok(())),
            ("aud array", ok(json!({"aud": ["x", "signer"]})), Ok(())),
            ("exp within skew", ok(json!({"exp": NOW - 59})), Ok(())),
            (
                "exp fractional",
                ok(json!({"exp": (NOW + 10) as f64 + 0.5})),
                Ok(()),
            ),
            (
                "expired",
                ok(json!({"exp": NOW - 60})),
                Err(ClaimsError::Expired {
                    exp: NOW - 60,
                    now: NOW,
                }),
            ),
            ("nbf within skew", ok(json!({"nbf": NOW + 60})), Ok(())),
            (
                "not yet valid",
                ok(json!({"nbf": NOW + 61})),
                Err(ClaimsError::NotYetValid {
                    nbf: NOW + 61,
                    now: NOW,
                }),
            ),
            ("iat within skew", ok(json!({"iat": NOW + 60})), Ok(())),
            (
                "future iat",
                ok(json!({"iat": NOW + 61})),
                Err(ClaimsError::IssuedInFuture {
                    iat: NOW + 61,
                    now: NOW,
                }),
            ),
            (
                "wrong iss",
                ok(json!({"iss": "https://ISS"})),
                Err(ClaimsError::WrongIssuer),
            ),
            (
                "wrong aud",
                ok(json!({"aud": "signerx"})),
                Err(ClaimsError::WrongAudience),
            ),
            (
                "wrong aud array",
                ok(json!({"aud": ["a", "b"]})),
                Err(ClaimsError::WrongAudience),
            ),
            (
                "aud not string",
                ok(json!({"aud": 7})),
                Err(ClaimsError::WrongType("aud")),
            ),
            (
                "aud array of numbers",
                ok(json!({"aud": [1]})),
                Err(ClaimsError::WrongType("aud")),
            ),
            (
                "exp string",
                ok(json!({"exp": "soon"})),
                Err(ClaimsError::WrongType("exp")),
            ),
            (
                "exp negative",
                ok(json!({"exp": -1})),
                Err(ClaimsError::WrongType("exp")),
            ),
            (
                "missing exp",
                json!({"iss": "https://iss", "aud": "signer"}),
                Err(ClaimsError::Missing("exp")),
            ),
            (
                "missing iss",
                json!({"aud": "signer", "exp": NOW + 60}),
                Err(ClaimsError::Missing("iss")),
            ),
            (
                "missing aud",
                json!({"iss": "https://iss", "exp": NOW + 60}),
                Err(ClaimsError::Missing("aud")),
            ),
            ("not object", json!([1, 2]), Err(ClaimsError::NotObject)),
        ];
        for (name, claims, want) in cases {
            assert_eq!(check(claims).map(|_| ()), want, "{name}");
        }
    }

    #[test]
    fn typed_claims_and_raw_extras() {
        let c = check(
            json!({"iss": "https://iss", "aud": "signer", "exp": NOW + 60,
            "sub": "repo:x", "jti": "j1", "cnf": {"jkt": "abc"}}),
        )
        .unwrap();
        assert_eq!(c.sub.as_deref(), Some("repo:x"));
        assert_eq!(c.jti.as_deref(), Some("j1"));
        assert_eq!(c.aud, vec!["signer".to_owned()]);
        assert_eq!(c.raw["cnf"]["jkt"], "abc");
    }

    #[test]
    fn skew_is_bounded() {
        let policy = ClaimsPolicy {
            skew: u64::MAX,
            ..ClaimsPolicy::new("https://iss", "signer")
        };
        let claims = json!({"iss": "https://iss", "aud": "signer", "exp": NOW - MAX_SKEW});
        assert!(matches!(
            validate_claims(claims.to_string().as_bytes(), &policy, NOW),
            Err(ClaimsError::Expired { .. })
        ));
    }
}
