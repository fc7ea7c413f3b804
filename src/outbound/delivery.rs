//! Deliveries in the outbound queue and the rules they follow, whatever stores them: when a head may be
//! attempted, and what a finished attempt does to its subscription and to the delivery.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::backoff::retry_delay;
use super::subscription::Subscription;
use crate::events::EngineEvent;

/// A delivery waiting in the queue: one event for one subscription.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedDelivery {
    pub event_id: String,
    pub event_type: String,
    /// The exact body of every attempt; signatures cover these bytes, so retries must not re-encode.
    pub payload: String,
    pub queued_at_ms: u64,
    /// Attempts started so far (counted when claimed, so a crash mid-attempt still counts).
    pub attempts: u32,
    /// `attempts` when the current run of retries began; re-enabling a paused subscription starts a
    /// new one, so a kept event gets the whole schedule again.
    pub round_start: u32,
    pub next_attempt_at_ms: u64,
    pub lease: Option<Lease>,
}

/// A claim on a delivery by one worker run. Only one process can open the data directory, so a lease
/// from another run belongs to a process that has stopped: it is free at once. Within a run it guards
/// against a second claim until `until_ms` (an attempt whose task died releases it by expiring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub run: u64,
    pub until_ms: u64,
}

/// One attempt, as the delivery log shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    /// Epoch seconds.
    pub attempted_at: u64,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// The first 2 KiB of the response body.
    pub response_body: String,
    pub error: Option<String>,
    pub success: bool,
}

impl DeliveryAttempt {
    /// What `last_failure_reason` says about a failed attempt.
    pub fn failure_reason(&self) -> String {
        match (&self.error, self.status_code) {
            (Some(e), _) => e.clone(),
            (None, Some(status)) => format!("the receiver answered HTTP {status}"),
            (None, None) => "the attempt failed".into(),
        }
    }
}

/// A finished attempt and what the receiver said about retrying.
#[derive(Debug, Clone)]
pub struct Finished {
    pub attempt: DeliveryAttempt,
    /// The receiver answered 410 Gone: pause at once.
    pub gone: bool,
    /// The receiver's `Retry-After`, when it sent one with a 429 or 503.
    pub retry_after: Option<Duration>,
}

/// The rules a completed attempt is judged by.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub schedule_ms: Vec<u64>,
    pub pause_after_failures: u32,
    pub retention: Duration,
}

/// What the worker found at the head of a subscription's queue.
#[derive(Debug)]
pub enum Claim {
    /// Nothing to deliver (empty queue, or the subscription is paused, disabled or gone).
    Idle,
    /// The head waits for its retry time (epoch ms).
    NotDue(u64),
    /// This run holds the head's lease until then (epoch ms).
    Leased(u64),
    /// Claimed for one attempt; `delivery.attempts` already counts it.
    Claimed {
        subscription: Box<Subscription>,
        /// The store's key for the delivery, handed back with its result.
        key: Vec<u8>,
        delivery: QueuedDelivery,
    },
}

/// What recording an attempt's result did.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    Delivered,
    /// Scheduled again (epoch ms).
    Retrying(u64),
    /// No retry left: the event is dropped for this subscription.
    GaveUp,
    /// The subscription is paused (by this attempt or before it); the event is kept.
    Held {
        newly_paused: bool,
    },
    /// The subscription or the delivery was deleted while the attempt ran.
    Gone,
}

impl QueuedDelivery {
    /// `event` for one subscription, due at once; `payload` is its encoding, shared by its deliveries.
    pub fn new(event: &EngineEvent, payload: &str, now_ms: u64) -> Self {
        Self {
            event_id: event.id.clone(),
            event_type: event.event.clone(),
            payload: payload.to_owned(),
            queued_at_ms: now_ms,
            attempts: 0,
            round_start: 0,
            next_attempt_at_ms: now_ms,
            lease: None,
        }
    }

    /// Kept past the retention period: dropped rather than attempted.
    pub fn expired(&self, now_ms: u64, retention: Duration) -> bool {
        self.queued_at_ms.saturating_add(duration_ms(retention)) <= now_ms
    }

    /// Why this head cannot be claimed by `run` now, if it cannot.
    pub fn wait(&self, now_ms: u64, run: u64) -> Option<Claim> {
        if let Some(lease) = self.lease.filter(|l| l.run == run && l.until_ms > now_ms) {
            return Some(Claim::Leased(lease.until_ms));
        }
        (self.next_attempt_at_ms > now_ms).then_some(Claim::NotDue(self.next_attempt_at_ms))
    }

    /// The head claimed by `run` for one attempt, counted now so that a crash mid-attempt still counts.
    pub fn claimed(mut self, run: u64, now_ms: u64, lease_for: Duration) -> Self {
        self.attempts += 1;
        self.lease = Some(Lease { run, until_ms: now_ms + duration_ms(lease_for) });
        self
    }

    /// A held head, due at once with the whole retry schedule again (a paused subscription enabled).
    pub fn restart(&mut self) {
        self.round_start = self.attempts;
        self.next_attempt_at_ms = 0;
        self.lease = None;
    }
}

impl Completion {
    /// Whether the delivery leaves the queue.
    pub fn removes_delivery(&self) -> bool {
        matches!(self, Self::Delivered | Self::GaveUp | Self::Gone)
    }
}

/// What a finished attempt does: updates the subscription's failure count and pause and the delivery's
/// retry time, and says what became of the delivery. The store applies it in one transaction with
/// the attempt's log entry.
pub fn judge(
    sub: &mut Subscription,
    delivery: &mut QueuedDelivery,
    finished: &Finished,
    policy: &RetryPolicy,
    now_ms: u64,
    jitter: f64,
) -> Completion {
    let Finished { attempt, gone, retry_after } = finished;
    if attempt.success {
        sub.consecutive_failures = 0;
        return Completion::Delivered;
    }
    sub.consecutive_failures = sub.consecutive_failures.saturating_add(1);
    sub.last_failure_reason = Some(attempt.failure_reason());
    let newly_paused = sub.paused_at.is_none() && (*gone || sub.consecutive_failures >= policy.pause_after_failures);
    if newly_paused {
        sub.paused_at = Some(now_ms / 1000);
    }
    delivery.lease = None;
    let failed_in_round = delivery.attempts.saturating_sub(delivery.round_start);
    if sub.paused_at.is_some() {
        // Kept for when the subscription is enabled again.
        delivery.next_attempt_at_ms = now_ms;
        Completion::Held { newly_paused }
    } else if let Some(wait) = retry_delay(&policy.schedule_ms, failed_in_round, *retry_after, jitter) {
        delivery.next_attempt_at_ms = now_ms + duration_ms(wait);
        Completion::Retrying(delivery.next_attempt_at_ms)
    } else {
        Completion::GaveUp
    }
}

pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
