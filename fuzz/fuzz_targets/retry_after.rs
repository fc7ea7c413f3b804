//! A delivery receiver's `Retry-After` (delay-seconds or an HTTP date), read at any time `now`, and the
//! wait it leads to: never a panic, never longer than the schedule's step or the cap.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use switchboard::outbound::backoff::{parse_retry_after, retry_delay, MAX_RETRY_AFTER};

const SCHEDULE: [u64; 3] = [1_000, 10_000, 60_000];

fuzz_target!(|data: &[u8]| {
    let Some((now, value)) = data.split_first_chunk::<8>() else { return };
    let Some(now) = chrono::DateTime::from_timestamp(i64::from_le_bytes(*now) >> 24, 0) else { return };
    let Ok(value) = std::str::from_utf8(value) else { return };

    let asked = parse_retry_after(value, now);
    if let Ok(secs) = value.trim().parse::<u64>() {
        assert_eq!(asked, Some(Duration::from_secs(secs)));
    }
    for failed in 1..=3 {
        let step = Duration::from_millis(SCHEDULE[failed as usize - 1]).mul_f64(1.2);
        let wait = retry_delay(&SCHEDULE, failed, asked, 0.999).expect("the schedule has this retry");
        assert!(wait <= step.max(MAX_RETRY_AFTER), "{value:?}: {wait:?}");
    }
});
