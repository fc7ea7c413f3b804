//! When to try a failed delivery again: the configured schedule plus jitter, and a receiver's
//! `Retry-After` when it asks for more time.

use std::time::Duration;

/// Jitter adds up to this fraction of the scheduled delay, so receivers that come back after an
/// outage are not hit by every subscription's retries at the same instant.
const JITTER_FRACTION: f64 = 0.2;

/// A `Retry-After` longer than this is treated as this long; the schedule still bounds the attempts.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// More retries than this are ignored, whatever the configured schedule says.
pub const MAX_RETRIES: usize = 10;

/// The wait after the `failed`-th failed attempt of a delivery (1 for the first attempt), or `None`
/// when the schedule has no retry left. `jitter` is a random number in `[0, 1)`.
pub fn retry_delay(schedule: &[u64], failed: u32, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
    let index = usize::try_from(failed).ok()?.checked_sub(1)?;
    let base = *schedule.get(index).filter(|_| index < MAX_RETRIES)?;
    let jittered = Duration::from_millis(base).mul_f64(1.0 + JITTER_FRACTION * jitter.clamp(0.0, 1.0));
    Some(match retry_after {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

/// Reads `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: [u64; 3] = [100, 1_000, 10_000];

    #[test]
    fn the_schedule_is_followed_then_exhausted() {
        assert_eq!(retry_delay(&SCHEDULE, 1, None, 0.0), Some(Duration::from_millis(100)));
        assert_eq!(retry_delay(&SCHEDULE, 2, None, 0.0), Some(Duration::from_millis(1_000)));
        assert_eq!(retry_delay(&SCHEDULE, 3, None, 0.0), Some(Duration::from_millis(10_000)));
        assert_eq!(retry_delay(&SCHEDULE, 4, None, 0.0), None);
        assert_eq!(retry_delay(&SCHEDULE, 0, None, 0.0), None);
        assert_eq!(retry_delay(&[], 1, None, 0.0), None, "an empty schedule never retries");
    }

    #[test]
    fn jitter_adds_at_most_a_fifth() {
        for jitter in [0.0, 0.25, 0.5, 0.999, 7.0, -1.0] {
            let d = retry_delay(&SCHEDULE, 2, None, jitter).unwrap();
            assert!(d >= Duration::from_millis(1_000) && d <= Duration::from_millis(1_200), "{jitter}: {d:?}");
        }
    }

    #[test]
    fn retry_after_extends_but_never_shortens_the_wait() {
        let longer = retry_delay(&SCHEDULE, 1, Some(Duration::from_secs(3)), 0.0);
        assert_eq!(longer, Some(Duration::from_secs(3)));
        let shorter = retry_delay(&SCHEDULE, 2, Some(Duration::from_millis(10)), 0.0);
        assert_eq!(shorter, Some(Duration::from_millis(1_000)));
        let huge = retry_delay(&SCHEDULE, 1, Some(Duration::from_secs(10 * 24 * 3600)), 0.0);
        assert_eq!(huge, Some(MAX_RETRY_AFTER));
        assert_eq!(retry_delay(&SCHEDULE, 4, Some(Duration::from_secs(1)), 0.0), None, "no retry left");
    }

    #[test]
    fn at_most_ten_retries() {
        let long = [1u64; 15];
        assert!(retry_delay(&long, 10, None, 0.0).is_some());
        assert_eq!(retry_delay(&long, 11, None, 0.0), None);
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 5 ", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO), "in the past");
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
