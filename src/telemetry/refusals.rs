//! Refused unauthenticated calls. Anyone who can reach the port can make them, as fast as they like,
//! so each is logged at DEBUG only; Prometheus counts every one exactly, and a WARN line sums them
//! up once a minute (and at shutdown), only when there were any.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::{route_group, METRICS};

/// How often refusals are summed up in the log.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// Which counter a refusal goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A 4xx answer of a trigger webhook route: `switchboard_webhook_refusals_total`.
    Webhook,
    /// A 401 anywhere else, or a 4xx for a path outside the API's routes:
    /// `switchboard_unauthenticated_refusals_total`.
    Unauthenticated,
}

impl Refusal {
    /// Whether an answer with `status` to the (decoded) `path` refuses an unauthenticated call.
    pub fn classify(path: &str, status: u16) -> Option<Self> {
        if !(400..500).contains(&status) {
            return None;
        }
        match route_group(path) {
            "webhook" => Some(Self::Webhook),
            "other" => Some(Self::Unauthenticated),
            _ if status == 401 => Some(Self::Unauthenticated),
            _ => None,
        }
    }

    /// Counts one refusal with its error code.
    pub fn count(self, code: &str) {
        let counter = match self {
            Self::Webhook => &METRICS.webhook_refusals,
            Self::Unauthenticated => &METRICS.unauthenticated_refusals,
        };
        counter.with_label_values(&[code]).inc();
    }
}

/// Logs, every [`SUMMARY_EVERY`] and once more when `shutdown` fires, how many calls were refused
/// since the last summary, by counter and error code; nothing when there were none.
pub async fn summarise_refusals(shutdown: CancellationToken) {
    // The metrics belong to the process; start from what they say now.
    let mut last = METRICS.refusal_counts();
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + SUMMARY_EVERY, SUMMARY_EVERY);
    loop {
        let stopping = tokio::select! {
            _ = every.tick() => false,
            _ = shutdown.cancelled() => true,
        };
        let now = METRICS.refusal_counts();
        if let Some(summary) = summary(&last, &now) {
            tracing::warn!(
                refusals = %summary.0,
                total = summary.1,
                "calls refused since the last summary (each one is logged at debug level)"
            );
        }
        last = now;
        if stopping {
            return;
        }
    }
}

/// `("webhook.not_found=12 unauthenticated.unauthorized=2", 14)`, or `None` when nothing changed.
fn summary(last: &BTreeMap<String, u64>, now: &BTreeMap<String, u64>) -> Option<(String, u64)> {
    let mut text = String::new();
    let mut total = 0;
    for (key, count) in now {
        let delta = count - last.get(key).copied().unwrap_or(0).min(*count);
        if delta > 0 {
            let _ = write!(text, "{}{key}={delta}", if text.is_empty() { "" } else { " " });
            total += delta;
        }
    }
    (total > 0).then_some((text, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_the_client_errors_of_unauthenticated_calls() {
        let cases = [
            ("/api/engine/v2/webhook/trig-1/notify", 404, Some(Refusal::Webhook)),
            ("/api/engine/v2/webhook/trig-1/notify", 429, Some(Refusal::Webhook)),
            ("/api/engine/v2/webhook/trig-1/notify", 202, None),
            ("/api/engine/v2/webhook/trig-1/notify", 502, None),
            ("/api/engine/v2/systems", 401, Some(Refusal::Unauthenticated)),
            ("/api/engine/v2/systems", 422, None),
            ("/api/engine/v2/systems", 403, None),
            ("/wp-login.php", 404, Some(Refusal::Unauthenticated)),
        ];
        for (path, status, expected) in cases {
            assert_eq!(Refusal::classify(path, status), expected, "{status} {path}");
        }
    }

    #[test]
    fn a_summary_shows_what_changed_and_nothing_when_nothing_did() {
        let last = BTreeMap::from([("webhook.not_found".to_owned(), 3)]);
        let now = BTreeMap::from([
            ("webhook.not_found".to_owned(), 10),
            ("webhook.rate_limited".to_owned(), 2),
            ("unauthenticated.unauthorized".to_owned(), 0),
        ]);
        assert_eq!(summary(&last, &now), Some(("webhook.not_found=7 webhook.rate_limited=2".to_owned(), 9)));
        assert_eq!(summary(&now, &now), None);
    }
}
