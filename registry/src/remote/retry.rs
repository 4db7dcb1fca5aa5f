//! Retry policy for registry requests: which answers are worth another try, how long to wait
//! (jittered exponential backoff, or the server's `Retry-After`), and the per-registry concurrency
//! budget every request of the process shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::sync::Semaphore;

/// Attempts of one idempotent request (the first included).
pub(crate) const MAX_ATTEMPTS: u32 = 5;
/// No request is retried once this much time has passed since its first attempt.
pub(crate) const MAX_RETRY_TIME: Duration = Duration::from_secs(60);
/// A `Retry-After` longer than this is not waited for: the error is reported instead.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Requests in flight to one registry host from this process.
pub(crate) const REQUESTS_PER_REGISTRY: usize = 8;
const BASE_BACKOFF_MS: u64 = 200;

/// Statuses that say "try again later": rate limits and gateway trouble.
pub(crate) fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Backoff before attempt `attempt + 1` (attempt counts from 1): `base * 2^(attempt-1)`, jittered
/// into its upper half so concurrent clients spread out.
pub(crate) fn backoff(attempt: u32, base_ms: u64) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(10));
    let half = exp / 2;
    Duration::from_millis(half + jitter(half.max(1)))
}

/// The default backoff for request retries.
pub(crate) fn request_backoff(attempt: u32) -> Duration {
    backoff(attempt, BASE_BACKOFF_MS)
}

/// A number in `0..bound`, from the clock and a counter (no cryptographic quality needed: it only
/// spreads retries apart).
pub(crate) fn jitter(bound: u64) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos
        ^ COUNTER
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .rotate_left(17);
    // splitmix64 finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z % bound.max(1)
}

/// `Retry-After` as seconds or an HTTP date (IMF-fixdate), relative to `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let (_, rest) = s.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let (h, m, sec): (u64, u64, u64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + m * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The process-wide semaphore for requests to `registry`.
pub(crate) fn budget(registry: &str) -> Arc<Semaphore> {
    static BUDGETS: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    let map = BUDGETS.get_or_init(|| Mutex::new(HashMap::new()));
    match map.lock() {
        Ok(mut m) => m
            .entry(registry.to_ascii_lowercase())
            .or_insert_with(|| Arc::new(Semaphore::new(REQUESTS_PER_REGISTRY)))
            .clone(),
        // A poisoned map only means another thread panicked while inserting; a fresh budget is safe.
        Err(_) => Arc::new(Semaphore::new(REQUESTS_PER_REGISTRY)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770); // Sun, 06 Nov 1994 08:49:30 GMT
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        for attempt in 1..8 {
            let d = backoff(attempt, 100).as_millis() as u64;
            let exp = 100 * (1 << (attempt - 1));
            assert!(d >= exp / 2 && d < exp, "{attempt}: {d}");
        }
        assert!(backoff(60, 100) <= Duration::from_millis(100 << 10));
        assert!(jitter(1) == 0 && jitter(0) == 0);
    }

    #[test]
    fn statuses() {
        for s in [429, 502, 503, 504] {
            assert!(retryable_status(s));
        }
        for s in [200, 400, 401, 404, 500] {
            assert!(!retryable_status(s));
        }
    }
}
