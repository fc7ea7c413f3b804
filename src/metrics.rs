//! Prometheus metrics. One registry per process: what it counts is the process's traffic, so several
//! apps in one test process share it (tests look at differences, not absolute values).

use std::collections::BTreeMap;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub webhook_outcomes: IntCounterVec,
    pub fires: IntCounter,
    pub exec_latency: HistogramVec,
    pub delivery_attempts: IntCounterVec,
    pub delivery_queue_depth: IntGauge,
    pub commit_batch_size: prometheus::Histogram,
    pub commit_latency: prometheus::Histogram,
    pub journal_syncs: IntCounter,
    pub commit_failures: IntCounter,
    pub receipts_dropped: IntCounter,
    pub webhook_refusals: IntCounterVec,
    pub unauthenticated_refusals: IntCounterVec,
    pub runs_queued: IntGauge,
    pub action_attempts: IntCounterVec,
    pub callout_requests: IntCounterVec,
    pub callout_latency: prometheus::Histogram,
    pub callout_log_dropped: IntCounter,
}

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("switchboard".into()), None)?;
    let http_requests = IntCounterVec::new(
        Opts::new("http_requests_total", "HTTP requests by route group and status class"),
        &["route", "status"],
    )?;
    let http_latency = HistogramVec::new(
        HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route group")
            .buckets(LATENCY_BUCKETS.to_vec()),
        &["route"],
    )?;
    let webhook_outcomes =
        IntCounterVec::new(Opts::new("webhook_responses_total", "Trigger webhook answers by status code"), &["code"])?;
    let fires = IntCounter::new("trigger_fires_total", "Trigger instances that fired")?;
    let exec_latency = HistogramVec::new(
        HistogramOpts::new("exec_duration_seconds", "Webhook exec calls into drivers")
            .buckets(LATENCY_BUCKETS.to_vec()),
        &["driver"],
    )?;
    let delivery_attempts = IntCounterVec::new(
        Opts::new("delivery_attempts_total", "Outbound webhook delivery attempts by outcome"),
        &["outcome"],
    )?;
    let delivery_queue_depth = IntGauge::new("delivery_queue_depth", "Outbound deliveries waiting to be sent")?;
    let commit_batch_size = prometheus::Histogram::with_opts(
        HistogramOpts::new("state_commit_batch_size", "Jobs (state writes and waiters) taken in one group commit")
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0]),
    )?;
    let commit_latency = prometheus::Histogram::with_opts(
        HistogramOpts::new("state_commit_duration_seconds", "Time to apply one group commit and make it durable")
            .buckets(LATENCY_BUCKETS.to_vec()),
    )?;
    let journal_syncs = IntCounter::new(
        "state_journal_syncs_total",
        "State journal writes made durable on the device (a direct write or an fdatasync)",
    )?;
    let commit_failures = IntCounter::new(
        "state_commit_failures_total",
        "Group commits that failed; their states are committed again until they are stored",
    )?;
    let receipts_dropped = IntCounter::new(
        "receipts_dropped_total",
        "Webhook call receipts not stored: the writer's queue was full or the store failed",
    )?;
    registry.register(Box::new(receipts_dropped.clone()))?;
    let webhook_refusals = IntCounterVec::new(
        Opts::new("webhook_refusals_total", "Trigger webhook calls refused with a 4xx, by error code"),
        &["code"],
    )?;
    let unauthenticated_refusals = IntCounterVec::new(
        Opts::new(
            "unauthenticated_refusals_total",
            "Other calls refused without looking further, by error code: 401s, and 4xx answers to paths outside the API",
        ),
        &["code"],
    )?;
    registry.register(Box::new(webhook_refusals.clone()))?;
    registry.register(Box::new(unauthenticated_refusals.clone()))?;
    registry.register(Box::new(journal_syncs.clone()))?;
    registry.register(Box::new(commit_failures.clone()))?;
    registry.register(Box::new(commit_batch_size.clone()))?;
    registry.register(Box::new(commit_latency.clone()))?;
    registry.register(Box::new(http_requests.clone()))?;
    registry.register(Box::new(http_latency.clone()))?;
    registry.register(Box::new(webhook_outcomes.clone()))?;
    registry.register(Box::new(fires.clone()))?;
    registry.register(Box::new(exec_latency.clone()))?;
    registry.register(Box::new(delivery_attempts.clone()))?;
    registry.register(Box::new(delivery_queue_depth.clone()))?;
    let runs_queued =
        IntGauge::new("runs_queued", "Runs of trigger actions the action worker holds, not yet finished")?;
    let action_attempts = IntCounterVec::new(
        Opts::new("action_attempts_total", "Attempts at trigger actions by outcome: succeeded, retry, given_up"),
        &["outcome"],
    )?;
    registry.register(Box::new(runs_queued.clone()))?;
    registry.register(Box::new(action_attempts.clone()))?;
    let callout_requests = IntCounterVec::new(
        Opts::new("callout_requests_total", "Requests to callouts by decision: allow, deny, unavailable"),
        &["decision"],
    )?;
    let callout_latency = prometheus::Histogram::with_opts(
        HistogramOpts::new("callout_duration_seconds", "Time from a request to a callout to its answer or failure")
            .buckets(LATENCY_BUCKETS.to_vec()),
    )?;
    let callout_log_dropped =
        IntCounter::new("callout_log_dropped_total", "Callout log entries not stored: the writer's queue was full")?;
    registry.register(Box::new(callout_requests.clone()))?;
    registry.register(Box::new(callout_latency.clone()))?;
    registry.register(Box::new(callout_log_dropped.clone()))?;
    Ok(Metrics {
        registry,
        http_requests,
        http_latency,
        webhook_outcomes,
        fires,
        exec_latency,
        delivery_attempts,
        delivery_queue_depth,
        commit_batch_size,
        commit_latency,
        journal_syncs,
        commit_failures,
        receipts_dropped,
        webhook_refusals,
        unauthenticated_refusals,
        runs_queued,
        action_attempts,
        callout_requests,
        callout_latency,
        callout_log_dropped,
    })
}

/// The process's metrics. Building them can fail only on a programming error (duplicate names),
/// which the unit test below would catch.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| build().expect("metric definitions are valid"));

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn observe_http(&self, route: &'static str, status: u16, elapsed: Duration) {
        let class = usize::from(status.clamp(100, 599) / 100 - 1);
        let group = ROUTE_GROUPS.iter().position(|g| *g == route).unwrap_or(ROUTE_GROUPS.len() - 1);
        let handles = &HANDLES.http[group];
        handles.requests[class]
            .get_or_init(|| self.http_requests.with_label_values(&[ROUTE_GROUPS[group], STATUS_CLASSES[class]]))
            .inc();
        handles
            .latency
            .get_or_init(|| self.http_latency.with_label_values(&[ROUTE_GROUPS[group]]))
            .observe(elapsed.as_secs_f64());
    }

    /// Every refusal counter's value, keyed `webhook.{code}` or `unauthenticated.{code}`.
    pub fn refusal_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for (kind, vec) in [("webhook", &self.webhook_refusals), ("unauthenticated", &self.unauthenticated_refusals)] {
            for metric in vec.collect().iter().flat_map(|family| family.get_metric()) {
                let code = metric.get_label().first().map_or("", |l| l.value());
                // Counters hold whole numbers; the f64 is exact below 2^53.
                counts.insert(format!("{kind}.{code}"), metric.get_counter().get_value() as u64);
            }
        }
        counts
    }

    /// Counts a trigger webhook's answer by status code.
    pub fn webhook_outcome(&self, status: u16) {
        let code = status.clamp(100, 599);
        HANDLES.webhook_outcomes[usize::from(code - 100)]
            .get_or_init(|| self.webhook_outcomes.with_label_values(&[&code.to_string()]))
            .inc();
    }
}

/// Every label value `route_group` can return; the last is the catch-all.
const ROUTE_GROUPS: &[&str] = &[
    "systems",
    "modules",
    "triggers",
    "webhook",
    "webhooks",
    "api_keys",
    "drivers",
    "events",
    "openapi.json",
    "healthz",
    "readyz",
    "metrics",
    "other",
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Children of the labelled metrics every request updates, looked up once: `with_label_values` hashes
/// the labels and takes the vector's lock, and its handle's reference count is one more cache line
/// both workers write, on every request.
struct Handles {
    http: Vec<HttpHandles>,
    /// By status code - 100.
    webhook_outcomes: Vec<OnceLock<IntCounter>>,
}

#[derive(Default)]
struct HttpHandles {
    requests: [OnceLock<IntCounter>; 5],
    latency: OnceLock<prometheus::Histogram>,
}

static HANDLES: LazyLock<Handles> = LazyLock::new(|| Handles {
    http: ROUTE_GROUPS.iter().map(|_| HttpHandles::default()).collect(),
    webhook_outcomes: (100..600).map(|_| OnceLock::new()).collect(),
});

/// The route group a request path belongs to: the first segment after `/api/engine/v2` (`systems`,
/// `webhook`, …), or the path itself for the few top-level routes. Bounded, so labels stay few.
pub fn route_group(path: &str) -> &'static str {
    // The first entries of ROUTE_GROUPS are the API's first path segments.
    const GROUPS: &[&str] = ROUTE_GROUPS.split_at(9).0;
    match path.strip_prefix("/api/engine/v2/") {
        Some(rest) => {
            let first = rest.split('/').next().unwrap_or_default();
            GROUPS.iter().find(|g| **g == first).copied().unwrap_or("other")
        }
        None => match path {
            "/healthz" => "healthz",
            "/readyz" => "readyz",
            "/metrics" => "metrics",
            _ => "other",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_build_and_render() {
        METRICS.fires.inc();
        METRICS.observe_http("systems", 201, Duration::from_millis(3));
        let text = METRICS.render();
        assert!(text.contains("switchboard_trigger_fires_total"));
        assert!(text.contains("switchboard_http_requests_total{route=\"systems\",status=\"2xx\"}"));
    }

    #[test]
    fn route_groups_are_bounded() {
        assert_eq!(route_group("/api/engine/v2/webhook/trig-1/notify/abc"), "webhook");
        assert_eq!(route_group("/api/engine/v2/systems/sys-1/triggers"), "systems");
        assert_eq!(route_group("/api/engine/v2/anything-else"), "other");
        assert_eq!(route_group("/healthz"), "healthz");
        assert_eq!(route_group("/random/path"), "other");
        for path in ["/api/engine/v2/openapi.json", "/api/engine/v2/events", "/metrics", "/readyz"] {
            assert_ne!(route_group(path), "other", "{path}");
            assert!(ROUTE_GROUPS.contains(&route_group(path)));
        }
    }
}
