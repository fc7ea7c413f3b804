//! Outbound webhooks: subscriptions, the delivery queue the outbox drains into, the attempt log.
//!
//! - `outbound_queue` holds each subscription's deliveries in `seq` order (a sequence, so the order the
//!   drain queued them in); the lowest is the head, the only one attempted. A claim locks the head
//!   with `FOR UPDATE SKIP LOCKED`: a process that finds it locked (another one claiming or completing
//!   it) looks again shortly rather than waiting, and never skips to the next delivery, which would
//!   break the subscription's order. `Claim::Claimed.key` is the head's `seq`, big-endian.
//! - Queue and log go with their subscription (ON DELETE CASCADE), so no delete leaves orphans behind.
//! - The delivery rules (when a head may be claimed, what a finished attempt does) are those of
//!   [`crate::outbound::delivery`], applied inside the transaction.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};

use super::rows::{self, Listing};
use super::PgStore;
use crate::domain::ids::SubscriptionId;
use crate::events::EngineEvent;
use crate::outbound::delivery::{duration_ms, judge, Claim, Completion, DeliveryAttempt, QueuedDelivery};
use crate::outbound::subscription::Subscription;
use crate::store::outbox::OutboxEntry;
use crate::store::repo::{AttemptResult, OutboundRepo, SubscriptionChange, SubscriptionEvent};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const SUBSCRIPTION: &str = "webhook subscription";

/// Held while draining the outbox ("SBOUTBOX"), so that concurrent drains cannot interleave one
/// subscription's deliveries out of event order.
const DRAIN_LOCK: i64 = 0x5342_4f55_5442_4f58;

/// Outbox entries moved per transaction.
const DRAIN_BATCH: usize = 256;

/// How long after finding a head locked by another process the worker looks again (ms).
const BUSY_HEAD_RETRY_MS: u64 = 50;

const LISTING: Listing<'static> = Listing {
    columns: "doc",
    from_where: "outbound_subscriptions \
                 WHERE ($1::text IS NULL OR strpos(name_lc, $1) > 0 OR strpos(url_lc, $1) > 0)",
    order: "id",
};
const LOG_LISTING: Listing<'static> =
    Listing { columns: "doc", from_where: "outbound_log WHERE subscription_id = $1", order: "seq DESC" };

#[async_trait]
impl OutboundRepo for PgStore {
    /// In id (creation) order.
    async fn all_subscriptions(&self) -> StoreResult<Vec<Subscription>> {
        self.bounded(|client| async move {
            rows::decode_all(&rows::query(&client, "SELECT doc FROM outbound_subscriptions ORDER BY id", &[]).await?)
        })
        .await
    }

    async fn get_subscription(&self, id: SubscriptionId) -> StoreResult<Option<Subscription>> {
        self.bounded(|client| async move { find(&client, &id, false).await }).await
    }

    async fn list_subscriptions(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<Subscription>> {
        let q = q.map(|q| q.to_lowercase());
        self.bounded(|client| async move { LISTING.page(&client, &[&q], page, |row| rows::decode(row, 0)).await }).await
    }

    /// Like sled, a record with the same id is replaced.
    async fn insert_subscription(&self, sub: Subscription, announce: SubscriptionEvent) -> StoreResult<EngineEvent> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            put(&tx, &sub).await?;
            let event = announce(&sub);
            self.commit_announcement(tx, &event).await?;
            Ok(event)
        })
        .await
    }

    /// Read-modify-write under the record's row lock, so the worker's failure counts and an admin's
    /// changes never overwrite each other.
    async fn update_subscription(
        &self,
        id: SubscriptionId,
        change: SubscriptionChange,
        announce: SubscriptionEvent,
    ) -> StoreResult<(Subscription, EngineEvent)> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let current = find(&tx, &id, true).await?.ok_or(StoreError::NotFound(SUBSCRIPTION))?;
            let changed = change(current)?;
            put(&tx, &changed).await?;
            let event = announce(&changed);
            self.commit_announcement(tx, &event).await?;
            Ok((changed, event))
        })
        .await
    }

    async fn enable_subscription(
        &self,
        id: SubscriptionId,
        now: u64,
        announce: SubscriptionEvent,
    ) -> StoreResult<(Subscription, EngineEvent)> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let mut sub = find(&tx, &id, true).await?.ok_or(StoreError::NotFound(SUBSCRIPTION))?;
            let was_held = !sub.deliverable();
            sub.enabled = true;
            sub.paused_at = None;
            sub.consecutive_failures = 0;
            sub.updated_at = now;
            put(&tx, &sub).await?;
            // While the subscription delivers, its head may be mid-attempt; only a held head restarts.
            if was_held {
                let sql = "SELECT seq, doc FROM outbound_queue WHERE subscription_id = $1 ORDER BY seq LIMIT 1 \
                           FOR UPDATE";
                if let Some(row) = rows::query_opt(&tx, sql, &[&id.as_str()]).await? {
                    let (seq, mut head): (i64, QueuedDelivery) = (row.try_get(0)?, rows::decode(&row, 1)?);
                    head.restart();
                    put_delivery(&tx, seq, &head).await?;
                }
            }
            let event = announce(&sub);
            self.commit_announcement(tx, &event).await?;
            Ok((sub, event))
        })
        .await
    }

    /// Its queue and log go with it, in the same transaction.
    async fn delete_subscription(&self, id: SubscriptionId, announce: SubscriptionEvent) -> StoreResult<EngineEvent> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let gone = find(&tx, &id, true).await?.ok_or(StoreError::NotFound(SUBSCRIPTION))?;
            rows::execute(&tx, "DELETE FROM outbound_subscriptions WHERE id = $1", &[&id.as_str()]).await?;
            let event = announce(&gone);
            self.commit_announcement(tx, &event).await?;
            Ok(event)
        })
        .await
    }

    /// Committed (durable) before it returns, like sled's flush.
    async fn append_outbox(&self, entry: OutboxEntry) -> StoreResult<()> {
        self.bounded(|client| async move {
            let (event, targets) = (rows::doc(&entry.event)?, rows::doc(&entry.targets)?);
            rows::execute(&client, "INSERT INTO outbox (event, targets) VALUES ($1, $2)", &[&event, &targets]).await?;
            Ok(())
        })
        .await
    }

    /// Oldest first, in transactions of [`DRAIN_BATCH`] entries (so a long backlog never makes one
    /// call run past the timeout): each entry goes to the queues of its targets whose stored record
    /// still wants it (read under a share lock, so a concurrent delete waits), and leaves the outbox.
    async fn drain_outbox(&self, now_ms: u64) -> StoreResult<usize> {
        let mut queued = 0;
        loop {
            let (drained, batch_queued) =
                self.bounded(|mut client| async move { drain_batch(&mut client, now_ms).await }).await?;
            queued += batch_queued;
            if drained < DRAIN_BATCH {
                return Ok(queued);
            }
        }
    }

    async fn claim_head(
        &self,
        id: SubscriptionId,
        now_ms: u64,
        run: u64,
        lease_for: Duration,
        retention: Duration,
    ) -> StoreResult<Claim> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let Some(subscription) = find(&tx, &id, false).await?.filter(Subscription::deliverable) else {
                return Ok(Claim::Idle);
            };
            // The head, only if no one else holds it: never the delivery after it.
            let head = "SELECT seq, doc FROM outbound_queue WHERE seq = \
                        (SELECT min(seq) FROM outbound_queue WHERE subscription_id = $1) FOR UPDATE SKIP LOCKED";
            let claim = loop {
                let Some(row) = rows::query_opt(&tx, head, &[&id.as_str()]).await? else {
                    let sql = "SELECT EXISTS (SELECT 1 FROM outbound_queue WHERE subscription_id = $1)";
                    let busy: bool = rows::query_opt(&tx, sql, &[&id.as_str()])
                        .await?
                        .map(|row| row.try_get(0))
                        .transpose()?
                        .unwrap_or(false);
                    break if busy { Claim::NotDue(now_ms + BUSY_HEAD_RETRY_MS) } else { Claim::Idle };
                };
                let (seq, delivery): (i64, QueuedDelivery) = (row.try_get(0)?, rows::decode(&row, 1)?);
                if delivery.expired(now_ms, retention) {
                    tracing::warn!(subscription = %id, event = %delivery.event_id, "dropping an event kept past the retention period");
                    rows::execute(&tx, "DELETE FROM outbound_queue WHERE seq = $1", &[&seq]).await?;
                    continue;
                }
                if let Some(wait) = delivery.wait(now_ms, run) {
                    break wait;
                }
                let claimed = delivery.claimed(run, now_ms, lease_for);
                put_delivery(&tx, seq, &claimed).await?;
                break Claim::Claimed {
                    subscription: Box::new(subscription),
                    key: seq.to_be_bytes().to_vec(),
                    delivery: claimed,
                };
            };
            tx.commit().await?;
            Ok(claim)
        })
        .await
    }

    async fn complete_attempt(
        &self,
        id: SubscriptionId,
        key: Vec<u8>,
        result: AttemptResult,
    ) -> StoreResult<Completion> {
        // Only keys this store handed out name a delivery; anything else names none.
        let Ok(seq) = <[u8; 8]>::try_from(key.as_slice()).map(i64::from_be_bytes) else {
            return Ok(Completion::Gone);
        };
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let Some(mut sub) = find(&tx, &id, true).await? else {
                // Its queue went with it.
                return Ok(Completion::Gone);
            };
            let sql = "SELECT doc FROM outbound_queue WHERE seq = $1 AND subscription_id = $2 FOR UPDATE";
            let Some(row) = rows::query_opt(&tx, sql, &[&seq, &id.as_str()]).await? else {
                return Ok(Completion::Gone);
            };
            let mut delivery: QueuedDelivery = rows::decode(&row, 0)?;
            let attempt = &result.finished.attempt;
            insert_log(&tx, &id, attempt).await?;
            let completion =
                judge(&mut sub, &mut delivery, &result.finished, &result.policy, result.now_ms, result.jitter);
            if completion.removes_delivery() {
                rows::execute(&tx, "DELETE FROM outbound_queue WHERE seq = $1", &[&seq]).await?;
            } else {
                put_delivery(&tx, seq, &delivery).await?;
            }
            put(&tx, &sub).await?;
            tx.commit().await?;
            Ok(completion)
        })
        .await
    }

    async fn log_attempt(&self, id: SubscriptionId, attempt: DeliveryAttempt) -> StoreResult<()> {
        self.bounded(|client| async move { insert_log(&client, &id, &attempt).await }).await
    }

    async fn attempts(&self, id: SubscriptionId, page: PageRequest) -> StoreResult<Page<DeliveryAttempt>> {
        self.bounded(|client| async move {
            LOG_LISTING.page(&client, &[&id.as_str()], page, |row| rows::decode(row, 0)).await
        })
        .await
    }

    async fn queue_len(&self) -> StoreResult<usize> {
        self.bounded(|client| async move {
            let rows = rows::query(&client, "SELECT count(*) FROM outbound_queue", &[]).await?;
            let count: i64 = rows.first().map(|row| row.try_get(0)).transpose()?.unwrap_or(0);
            Ok(usize::try_from(count).unwrap_or(0))
        })
        .await
    }

    /// A queued event goes when [`QueuedDelivery::expired`] says so, written as a condition on
    /// `queued_at_ms`; a log entry when it was made before the retention period (in whole seconds, as
    /// sled compares).
    async fn prune_outbound(&self, now_ms: u64, retention: Duration) -> StoreResult<(usize, usize)> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            // queued_at + retention <= now; nothing has expired while now is within the first period.
            let dropped = match now_ms.checked_sub(duration_ms(retention)) {
                Some(latest) => {
                    let sql = "DELETE FROM outbound_queue WHERE queued_at_ms <= $1";
                    rows::execute(&tx, sql, &[&rows::to_i64(latest)]).await?
                }
                None => 0,
            };
            let oldest_kept = now_ms.saturating_sub(duration_ms(retention)) / 1000;
            let sql = "DELETE FROM outbound_log WHERE attempted_at < $1";
            let pruned = rows::execute(&tx, sql, &[&rows::to_i64(oldest_kept)]).await?;
            tx.commit().await?;
            Ok((usize::try_from(dropped).unwrap_or(usize::MAX), usize::try_from(pruned).unwrap_or(usize::MAX)))
        })
        .await
    }

    /// The foreign keys take a subscription's queue and log with it, so this finds nothing unless the
    /// schema was tampered with; kept so the call means the same on every backend.
    async fn sweep_outbound_orphans(&self) -> StoreResult<usize> {
        self.bounded(|client| async move {
            let mut swept = 0;
            for table in ["outbound_queue", "outbound_log"] {
                let sql = format!(
                    "DELETE FROM {table} t WHERE NOT EXISTS \
                     (SELECT 1 FROM outbound_subscriptions s WHERE s.id = t.subscription_id)"
                );
                swept += rows::execute(&client, &sql, &[]).await?;
            }
            Ok(usize::try_from(swept).unwrap_or(usize::MAX))
        })
        .await
    }
}

impl PgStore {
    /// Commits `tx` with the outbox entry of `event`, if the sink wants it. Unlike other writes, a
    /// subscription change goes ahead without its event once the sink has stopped, as on sled.
    async fn commit_announcement(&self, tx: Transaction<'_>, event: &EngineEvent) -> StoreResult<()> {
        if self.inner.sink.get().is_some_and(|weak| weak.strong_count() == 0) {
            tx.commit().await?;
            return Ok(());
        }
        self.commit(tx, std::slice::from_ref(event)).await
    }
}

async fn find<C: GenericClient>(client: &C, id: &SubscriptionId, lock: bool) -> StoreResult<Option<Subscription>> {
    let sql = if lock {
        "SELECT doc FROM outbound_subscriptions WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT doc FROM outbound_subscriptions WHERE id = $1"
    };
    rows::query_opt(client, sql, &[&id.as_str()]).await?.map(|row| rows::decode(&row, 0)).transpose()
}

pub(super) async fn put<C: GenericClient>(client: &C, sub: &Subscription) -> StoreResult<()> {
    let sql = "INSERT INTO outbound_subscriptions (id, name_lc, url_lc, doc) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (id) DO UPDATE SET name_lc = excluded.name_lc, url_lc = excluded.url_lc, doc = excluded.doc";
    let (name, url) = (sub.name.to_lowercase(), sub.url.as_str().to_lowercase());
    rows::execute(client, sql, &[&sub.id.as_str(), &name, &url, &rows::doc(sub)?]).await?;
    Ok(())
}

async fn put_delivery<C: GenericClient>(client: &C, seq: i64, delivery: &QueuedDelivery) -> StoreResult<()> {
    rows::execute(client, "UPDATE outbound_queue SET doc = $2 WHERE seq = $1", &[&seq, &rows::doc(delivery)?]).await?;
    Ok(())
}

/// Only for a subscription that exists (read `FOR KEY SHARE`: one deleted meanwhile gets nothing).
pub(super) async fn insert_log<C: GenericClient>(
    client: &C,
    id: &SubscriptionId,
    attempt: &DeliveryAttempt,
) -> StoreResult<()> {
    let sql = "INSERT INTO outbound_log (subscription_id, attempted_at, doc) \
               SELECT id, $2, $3 FROM outbound_subscriptions WHERE id = $1 FOR KEY SHARE";
    rows::execute(client, sql, &[&id.as_str(), &rows::to_i64(attempt.attempted_at), &rows::doc(attempt)?]).await?;
    Ok(())
}

/// Moves up to [`DRAIN_BATCH`] of the oldest outbox entries into the queues in one transaction; returns
/// how many entries it took and how many deliveries it queued.
async fn drain_batch(client: &mut deadpool_postgres::Client, now_ms: u64) -> StoreResult<(usize, usize)> {
    let tx = client.transaction().await?;
    rows::execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&DRAIN_LOCK]).await?;
    let sql = "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT $1) \
               RETURNING seq, event, targets";
    let mut entries = rows::query(&tx, sql, &[&rows::to_i64(DRAIN_BATCH)]).await?;
    entries.sort_by_key(|row| row.try_get::<_, i64>(0).unwrap_or(i64::MAX));
    let mut decoded = Vec::with_capacity(entries.len());
    for row in &entries {
        match (rows::decode::<EngineEvent>(row, 1), rows::decode::<Vec<SubscriptionId>>(row, 2)) {
            (Ok(event), Ok(targets)) => decoded.push((event, targets)),
            (Err(e), _) | (_, Err(e)) => tracing::error!(error = %e, "dropping an outbox entry that cannot be decoded"),
        }
    }
    let mut targets: Vec<&str> = decoded.iter().flat_map(|(_, t)| t.iter().map(SubscriptionId::as_str)).collect();
    targets.sort_unstable();
    targets.dedup();
    // The stored records have the last word; the sink only chose the targets.
    let sql = "SELECT id, doc FROM outbound_subscriptions WHERE id = ANY($1) ORDER BY id FOR SHARE";
    let mut stored: HashMap<String, Subscription> = HashMap::new();
    for row in rows::query(&tx, sql, &[&targets]).await? {
        if let Ok(sub) = rows::decode::<Subscription>(&row, 1) {
            stored.insert(row.try_get(0)?, sub);
        }
    }
    let mut queued = 0;
    for (event, targets) in &decoded {
        let payload = serde_json::to_string(event)?;
        for id in targets {
            if !stored.get(id.as_str()).is_some_and(|s| s.wants(event)) {
                continue;
            }
            let delivery = QueuedDelivery::new(event, &payload, now_ms);
            let sql = "INSERT INTO outbound_queue (subscription_id, queued_at_ms, doc) VALUES ($1, $2, $3)";
            rows::execute(&tx, sql, &[&id.as_str(), &rows::to_i64(delivery.queued_at_ms), &rows::doc(&delivery)?])
                .await?;
            queued += 1;
        }
    }
    tx.commit().await?;
    Ok((entries.len(), queued))
}
