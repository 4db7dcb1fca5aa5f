//! Stateless DPoP server nonces (RFC 9449 §8): an HMAC-SHA256 of the current time window.

use std::fmt;

use ring::hmac;

use crate::jose::{b64url_decode, b64url_encode};

/// Domain separation, so these tags can never be confused with another use of the same secret.
const CONTEXT: &[u8] = b"stella dpop-nonce v1\0";

/// Issues and checks nonces without storing them: a nonce is `base64url(HMAC(key, window))` where
/// `window = now / window_secs`. A nonce from the current or the previous window is accepted, so a
/// nonce lives between one and two windows. The key and the clock are injected.
pub struct NonceSource {
    key: hmac::Key,
    window_secs: u64,
}

impl fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceSource")
            .field("key", &"<redacted>")
            .field("window_secs", &self.window_secs)
            .finish()
    }
}

impl NonceSource {
    /// A source over a secret (at least 32 random bytes in production) and a window length in
    /// seconds (at least 1).
    pub fn new(secret: &[u8], window_secs: u64) -> NonceSource {
        NonceSource {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            window_secs: window_secs.max(1),
        }
    }

    fn tag(&self, window: u64) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(CONTEXT);
        ctx.update(&window.to_be_bytes());
        ctx.sign()
    }

    /// The nonce to send in `DPoP-Nonce` at `now`.
    pub fn issue(&self, now: u64) -> String {
        b64url_encode(self.tag(now / self.window_secs).as_ref())
    }

    /// Whether `nonce` was issued in the current or the previous window (constant-time compare).
    pub fn check(&self, nonce: &str, now: u64) -> bool {
        let Ok(bytes) = b64url_decode(nonce) else {
            return false;
        };
        let current = now / self.window_secs;
        [Some(current), current.checked_sub(1)]
            .into_iter()
            .flatten()
            .any(|window| {
                let mut msg = CONTEXT.to_vec();
                msg.extend_from_slice(&window.to_be_bytes());
                hmac::verify(&self.key, &msg, &bytes).is_ok()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let src = NonceSource::new(&[7; 32], 300);
        let t0 = 1_700_000_100; // inside window 5_666_667
        let n = src.issue(t0);
        assert!(src.check(&n, t0));
        assert!(src.check(&n, t0 + 300), "previous window is accepted");
        assert!(!src.check(&n, t0 + 600), "two windows old is refused");
        assert!(
            !src.check(&n, t0 - 300),
            "a nonce from the future is refused"
        );
        assert!(!NonceSource::new(&[8; 32], 300).check(&n, t0), "other key");
        assert!(!src.check("", t0));
        assert!(!src.check("not base64!", t0));
        assert_ne!(src.issue(t0), src.issue(t0 + 300));
    }
}
