//! The delivery worker: claims due queue heads, runs their attempts concurrently (one per
//! subscription, so each subscription's events arrive in order) and records the results.
//!
//! It sleeps until the earliest known retry time, a wake-up from the sink or a finished attempt, or a
//! polling interval that catches anything else (a lease that expired, a clock jump).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::delivery::{Claim, Completion, DeliveryAttempt, Finished, QueuedDelivery};
use super::subscription::Subscription;
use super::{now_ms, Outbound};
use crate::domain::ids::SubscriptionId;
use crate::metrics::METRICS;
use crate::store::repo::AttemptResult;
use crate::store::{Repository, StoreResult};

/// Longest sleep without a reason to wake.
const POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Attempts running at once, across all subscriptions.
const MAX_IN_FLIGHT: usize = 64;
/// How often the queue depth metric is refreshed.
const DEPTH_INTERVAL: Duration = Duration::from_secs(1);
/// How often old events and log entries are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

pub(super) async fn run(outbound: Arc<Outbound>, shutdown: CancellationToken) {
    let mut attempts: JoinSet<()> = JoinSet::new();
    let mut in_flight: HashMap<Id, SubscriptionId> = HashMap::new();
    let mut next_prune = Instant::now() + PRUNE_INTERVAL;
    let mut next_depth = Instant::now();
    loop {
        drain_outbox(&outbound).await;
        let wake_at = dispatch(&outbound, &mut attempts, &mut in_flight).await;
        if Instant::now() >= next_depth {
            next_depth = Instant::now() + DEPTH_INTERVAL;
            if let Ok(depth) = outbound.shared.repo.queue_len().await {
                METRICS.delivery_queue_depth.set(i64::try_from(depth).unwrap_or(i64::MAX));
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(joined) = attempts.join_next_with_id(), if !attempts.is_empty() => {
                let id = match joined {
                    Ok((id, ())) => id,
                    Err(e) => {
                        // Its lease expires and the delivery is attempted again.
                        tracing::error!(error = %e, "a delivery attempt task failed");
                        e.id()
                    }
                };
                in_flight.remove(&id);
            }
            _ = outbound.shared.wake.notified() => {}
            _ = tokio::time::sleep_until(wake_at) => {}
        }
        if Instant::now() >= next_prune {
            next_prune = Instant::now() + PRUNE_INTERVAL;
            prune(&outbound).await;
        }
    }
    // Attempts cut short here keep their lease, which the next run ignores: they are made again then.
    attempts.shutdown().await;
}

/// Moves what the outbox holds into the queues; a failure leaves it for the next wake-up or poll.
async fn drain_outbox(outbound: &Arc<Outbound>) {
    let shared = &outbound.shared;
    if !shared.outbox_pending.swap(false, Ordering::AcqRel) {
        return;
    }
    if let Err(e) = shared.repo.drain_outbox(now_ms()).await {
        tracing::error!(error = %e, "moving events from the outbox into delivery queues failed");
        shared.outbox_pending.store(true, Ordering::Release);
    }
}

/// Claims the due heads of deliverable subscriptions that have no attempt running and starts their
/// attempts. Returns when the worker should look again at the latest.
async fn dispatch(
    outbound: &Arc<Outbound>,
    attempts: &mut JoinSet<()>,
    in_flight: &mut HashMap<Id, SubscriptionId>,
) -> Instant {
    let busy: HashSet<&SubscriptionId> = in_flight.values().collect();
    let candidates: Vec<SubscriptionId> = outbound
        .shared
        .cache()
        .values()
        .filter(|s| s.deliverable() && !busy.contains(&s.id))
        .map(|s| s.id.clone())
        .collect();
    let room = MAX_IN_FLIGHT.saturating_sub(attempts.len());
    let started = Instant::now();
    let mut wake_at = started + POLL_INTERVAL;
    if candidates.is_empty() || room == 0 {
        return wake_at;
    }
    let (run, lease_for, retention) = (outbound.run, outbound.lease_for, outbound.policy.retention);
    let now = now_ms();
    let claims = claim_heads(&outbound.shared.repo, candidates, room, now, (run, lease_for, retention)).await;
    let claims = match claims {
        Ok(claims) => claims,
        Err(e) => {
            tracing::error!(error = %e, "claiming outbound deliveries failed");
            return started + Duration::from_secs(1);
        }
    };
    for (id, claim) in claims {
        match claim {
            Claim::Claimed { subscription, key, delivery } => {
                let span = tracing::info_span!(
                    "outbound_attempt",
                    subscription = %id,
                    event_id = %delivery.event_id,
                    attempt = delivery.attempts
                );
                let handle =
                    attempts.spawn(attempt(Arc::clone(outbound), *subscription, key, delivery).instrument(span));
                in_flight.insert(handle.id(), id);
            }
            Claim::NotDue(at_ms) | Claim::Leased(at_ms) => {
                wake_at = wake_at.min(started + Duration::from_millis(at_ms.saturating_sub(now)));
            }
            Claim::Idle => {}
        }
    }
    wake_at
}

/// Claims the heads of `candidates` in turn, until `room` are claimed.
async fn claim_heads(
    repo: &Repository,
    candidates: Vec<SubscriptionId>,
    room: usize,
    now: u64,
    (run, lease_for, retention): (u64, Duration, Duration),
) -> StoreResult<Vec<(SubscriptionId, Claim)>> {
    let mut claims = Vec::new();
    let mut claimed = 0;
    for id in candidates {
        if claimed == room {
            break;
        }
        let claim = repo.claim_head(id.clone(), now, run, lease_for, retention).await?;
        claimed += usize::from(matches!(claim, Claim::Claimed { .. }));
        claims.push((id, claim));
    }
    Ok(claims)
}

/// Sends one delivery and records what happened.
async fn attempt(outbound: Arc<Outbound>, sub: Subscription, key: Vec<u8>, delivery: QueuedDelivery) {
    let outcome = outbound.sender.send(&sub, &delivery.event_id, &delivery.payload).await;
    let record = DeliveryAttempt::from_outcome(&delivery.event_id, &delivery.event_type, delivery.attempts, &outcome);
    let outcome_label = match (record.success, outcome.status) {
        (true, _) => "success",
        (false, Some(_)) => "http_error",
        (false, None) => "network_error",
    };
    METRICS.delivery_attempts.with_label_values(&[outcome_label]).inc();
    if record.success {
        tracing::info!(status = ?outcome.status, duration_ms = record.duration_ms, "delivered");
    } else {
        tracing::warn!(status = ?outcome.status, error = record.error.as_deref().unwrap_or(""), "delivery attempt failed");
    }
    let result = AttemptResult {
        finished: Finished { attempt: record, gone: outcome.gone(), retry_after: outcome.retry_after },
        policy: outbound.policy.clone(),
        now_ms: now_ms(),
        jitter: rand::random(),
    };
    let completed = match outbound.shared.repo.complete_attempt(sub.id.clone(), key, result).await {
        Ok(completion) => outbound.shared.reload(&sub.id).await.map(|()| completion),
        Err(e) => Err(e.into()),
    };
    match completed {
        Ok(Completion::Held { newly_paused: true }) => outbound.announce_pause(&sub.id).await,
        Ok(Completion::GaveUp) => tracing::warn!("no retry left; the event is dropped for this subscription"),
        Ok(_) => {}
        // The lease expires and the attempt is made again.
        Err(e) => tracing::error!(error = %e, "recording a delivery attempt failed"),
    }
}

async fn prune(outbound: &Arc<Outbound>) {
    let retention = outbound.policy.retention;
    match outbound.shared.repo.prune_outbound(now_ms(), retention).await {
        Ok((0, 0)) => {}
        Ok((dropped, pruned)) => tracing::info!(dropped, pruned, "pruned outbound events and log entries"),
        Err(e) => tracing::error!(error = %e, "pruning outbound events failed"),
    }
}
