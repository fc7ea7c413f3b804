//! Outbound webhooks on sled: three trees next to the engine's, and the outbox that feeds them.
//!
//! - `outbound_subscriptions`: subscription id → [`Subscription`] (JSON, secrets included).
//! - `outbound_queue`: subscription id ++ sequence (u64 big-endian) → [`QueuedDelivery`]. The sequence
//!   comes from sled's persistent monotonic id generator, so a prefix scan lists one subscription's
//!   deliveries in the order their events were recorded, across restarts; the first one is the head,
//!   the only one being attempted.
//! - `outbound_log`: subscription id ++ sequence → [`DeliveryAttempt`]; a reverse prefix scan is
//!   newest first.
//!
//! Ids have a fixed length, so no subscription's prefix is a prefix of another's.

use std::collections::HashSet;
use std::time::Duration;

use sled::transaction::{ConflictableTransactionError, TransactionalTree, UnabortableTransactionError};
use sled::Transactional;

use super::codec::{decode, encode, get, tx_get, tx_put, TxResult};
use super::{outbox, SledStore};
use crate::domain::ids::SubscriptionId;
use crate::events::EngineEvent;
use crate::outbound::delivery::{duration_ms, Claim, Completion, DeliveryAttempt, QueuedDelivery};
use crate::outbound::subscription::Subscription;
use crate::store::outbox::OutboxEntry;
use crate::store::repo::{AttemptResult, SubscriptionChange, SubscriptionEvent};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const SUBSCRIPTION: &str = "webhook subscription";

pub(super) struct OutboundTrees {
    pub(super) subscriptions: sled::Tree,
    pub(super) queue: sled::Tree,
    pub(super) log: sled::Tree,
}

impl OutboundTrees {
    pub(super) fn open(db: &sled::Db) -> StoreResult<Self> {
        Ok(Self {
            subscriptions: db.open_tree("outbound_subscriptions")?,
            queue: db.open_tree("outbound_queue")?,
            log: db.open_tree("outbound_log")?,
        })
    }
}

/// Queues `event` for each of `targets` whose stored record still wants it, inside a transaction over
/// the subscription and queue trees. The in-memory copy chose the targets; the stored record has the
/// last word.
fn enqueue_in(
    subs: &TransactionalTree,
    queue: &TransactionalTree,
    event: &EngineEvent,
    targets: &[SubscriptionId],
    now_ms: u64,
) -> Result<usize, UnabortableTransactionError> {
    let Ok(payload) = serde_json::to_string(event) else { return Ok(0) };
    let mut queued = 0;
    for id in targets {
        let wanted = match subs.get(id.as_ref())? {
            Some(raw) => decode::<Subscription>(&raw).is_ok_and(|s| s.wants(event)),
            None => false,
        };
        if !wanted {
            continue;
        }
        // A struct of strings and numbers always encodes.
        let Ok(bytes) = encode(&QueuedDelivery::new(event, &payload, now_ms)) else { continue };
        queue.insert(entry_key(id, queue.generate_id()?), bytes)?;
        queued += 1;
    }
    Ok(queued)
}

/// `subscription id ++ sequence (big-endian)`.
pub(super) fn entry_key(id: &SubscriptionId, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.as_str().len() + 8);
    key.extend_from_slice(id.as_str().as_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The subscription an entry key belongs to.
pub(super) fn key_owner(key: &[u8]) -> &[u8] {
    &key[..key.len().saturating_sub(8)]
}

fn not_found<T>() -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(StoreError::NotFound(SUBSCRIPTION)))
}

impl SledStore {
    /// Runs `change` over the subscription, queue and outbox trees and writes the event it returns to
    /// the outbox, all in one transaction; flushed before it returns.
    fn subscription_change<T>(
        &self,
        change: impl Fn(&TransactionalTree, &TransactionalTree) -> TxResult<(T, EngineEvent)>,
    ) -> StoreResult<(T, EngineEvent)> {
        let sink = self.sink.get().and_then(std::sync::Weak::upgrade);
        let o = &self.outbound;
        let (value, event, staged) =
            (&o.subscriptions, &o.queue, &self.outbox).transaction(|(subs, queue, outbox_tx)| {
                let (value, event) = change(subs, queue)?;
                let staged = match &sink {
                    Some(sink) => outbox::stage_tx(outbox_tx, sink.as_ref(), std::slice::from_ref(&event))?,
                    None => 0,
                };
                Ok((value, event, staged))
            })?;
        self.db.flush()?;
        if let Some(sink) = sink.filter(|_| staged > 0) {
            sink.staged();
        }
        Ok((value, event))
    }

    pub(super) fn all_subscriptions(&self) -> StoreResult<Vec<Subscription>> {
        self.outbound.subscriptions.iter().values().map(|v| decode(&v?)).collect()
    }

    pub(super) fn get_subscription(&self, id: &SubscriptionId) -> StoreResult<Option<Subscription>> {
        get(&self.outbound.subscriptions, id)
    }

    pub(super) fn list_subscriptions(&self, q: Option<&str>, page: PageRequest) -> StoreResult<Page<Subscription>> {
        let q = q.map(str::to_lowercase);
        super::codec::list(&self.outbound.subscriptions, page, |sub: &Subscription| {
            q.as_deref()
                .is_none_or(|q| sub.name.to_lowercase().contains(q) || sub.url.as_str().to_lowercase().contains(q))
        })
    }

    pub(super) fn insert_subscription(
        &self,
        sub: &Subscription,
        announce: &SubscriptionEvent,
    ) -> StoreResult<EngineEvent> {
        let ((), event) = self.subscription_change(|subs, _| {
            tx_put(subs, sub.id.as_ref(), sub)?;
            Ok(((), announce(sub)))
        })?;
        Ok(event)
    }

    /// Read-modify-write of one subscription in a transaction, so the worker's failure counts and an
    /// admin's changes never overwrite each other.
    pub(super) fn update_subscription(
        &self,
        id: &SubscriptionId,
        change: &SubscriptionChange,
        announce: &SubscriptionEvent,
    ) -> StoreResult<(Subscription, EngineEvent)> {
        self.subscription_change(|subs, _| {
            let Some(current) = tx_get::<Subscription>(subs, id.as_ref())? else { return not_found() };
            let changed = change(current).map_err(|e| ConflictableTransactionError::Abort(e.into()))?;
            tx_put(subs, id.as_ref(), &changed)?;
            let event = announce(&changed);
            Ok((changed, event))
        })
    }

    pub(super) fn enable_subscription(
        &self,
        id: &SubscriptionId,
        now: u64,
        announce: &SubscriptionEvent,
    ) -> StoreResult<(Subscription, EngineEvent)> {
        let head = self.outbound.queue.scan_prefix(id).keys().next().transpose()?;
        self.subscription_change(|subs, queue| {
            let Some(mut sub) = tx_get::<Subscription>(subs, id.as_ref())? else { return not_found() };
            let was_held = !sub.deliverable();
            sub.enabled = true;
            sub.paused_at = None;
            sub.consecutive_failures = 0;
            sub.updated_at = now;
            tx_put(subs, id.as_ref(), &sub)?;
            // While the subscription delivers, its head may be mid-attempt; only a held head restarts.
            if let Some(key) = head.as_ref().filter(|_| was_held) {
                if let Some(mut d) = tx_get::<QueuedDelivery>(queue, key)? {
                    d.restart();
                    tx_put(queue, key, &d)?;
                }
            }
            let event = announce(&sub);
            Ok((sub, event))
        })
    }

    /// Removes the subscription, then its queue and log. Once the record is gone no delivery can be
    /// added for it (enqueueing checks the record in its transaction), so the sweep after it is final;
    /// what a crash between the two leaves behind is swept at the next start.
    pub(super) fn delete_subscription(
        &self,
        id: &SubscriptionId,
        announce: &SubscriptionEvent,
    ) -> StoreResult<EngineEvent> {
        let ((), event) = self.subscription_change(|subs, _| {
            let Some(gone) = tx_get::<Subscription>(subs, id.as_ref())? else { return not_found() };
            subs.remove(id.as_ref())?;
            Ok(((), announce(&gone)))
        })?;
        for tree in [&self.outbound.queue, &self.outbound.log] {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix(id).keys() {
                batch.remove(key?);
            }
            tree.apply_batch(batch)?;
        }
        self.db.flush()?;
        Ok(event)
    }

    pub(super) fn append_outbox(&self, entry: &OutboxEntry) -> StoreResult<()> {
        self.outbox.insert(self.db.generate_id()?.to_be_bytes(), encode(entry)?)?;
        // The engine acknowledges the action after this returns; the event must outlive a crash.
        self.db.flush()?;
        Ok(())
    }

    /// Each entry moves in one transaction with its removal.
    pub(super) fn drain_outbox(&self, now_ms: u64) -> StoreResult<usize> {
        let o = &self.outbound;
        let mut queued = 0;
        let mut drained = 0;
        for item in self.outbox.iter() {
            let (key, bytes) = item?;
            drained += 1;
            let entry: OutboxEntry = match decode(&bytes) {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::error!(error = %e, "dropping an outbox entry that cannot be decoded");
                    self.outbox.remove(&key)?;
                    continue;
                }
            };
            queued += (&self.outbox, &o.subscriptions, &o.queue).transaction(|(outbox, subs, queue)| {
                if outbox.remove(&key)?.is_none() {
                    return Ok(0);
                }
                let queued = enqueue_in(subs, queue, &entry.event, &entry.targets, now_ms)?;
                Ok::<_, ConflictableTransactionError<StoreError>>(queued)
            })?;
        }
        if drained > 0 {
            // The worker sends only what a crash cannot take back.
            self.db.flush()?;
        }
        Ok(queued)
    }

    pub(super) fn claim_head(
        &self,
        id: &SubscriptionId,
        now_ms: u64,
        run: u64,
        lease_for: Duration,
        retention: Duration,
    ) -> StoreResult<Claim> {
        let Some(subscription) = self.get_subscription(id)?.filter(Subscription::deliverable) else {
            return Ok(Claim::Idle);
        };
        let queue = &self.outbound.queue;
        loop {
            let Some((key, bytes)) = queue.scan_prefix(id).next().transpose()? else {
                return Ok(Claim::Idle);
            };
            let delivery: QueuedDelivery = decode(&bytes)?;
            if delivery.expired(now_ms, retention) {
                tracing::warn!(subscription = %id, event = %delivery.event_id, "dropping an event kept past the retention period");
                // A changed value means someone else touched it; look again.
                let _ = queue.compare_and_swap(&key, Some(&bytes), None::<&[u8]>)?;
                continue;
            }
            if let Some(wait) = delivery.wait(now_ms, run) {
                return Ok(wait);
            }
            let claimed = delivery.claimed(run, now_ms, lease_for);
            if queue.compare_and_swap(&key, Some(&bytes), Some(encode(&claimed)?))?.is_ok() {
                // Not flushed: a crash that loses the claim only means the attempt is not counted.
                return Ok(Claim::Claimed {
                    subscription: Box::new(subscription),
                    key: key.to_vec(),
                    delivery: claimed,
                });
            }
        }
    }

    /// Not flushed (sled flushes on its own within half a second, and at shutdown): a crash that loses
    /// a result makes the attempt again, which at-least-once delivery allows.
    pub(super) fn complete_attempt(
        &self,
        id: &SubscriptionId,
        key: &[u8],
        result: &AttemptResult,
    ) -> StoreResult<Completion> {
        let o = &self.outbound;
        let attempt = &result.finished.attempt;
        let completion = (&o.subscriptions, &o.queue, &o.log).transaction(|(subs, queue, log)| {
            let Some(mut sub) = tx_get::<Subscription>(subs, id.as_ref())? else {
                queue.remove(key)?;
                return Ok(Completion::Gone);
            };
            let Some(mut delivery) = tx_get::<QueuedDelivery>(queue, key)? else {
                return Ok(Completion::Gone);
            };
            tx_put(log, entry_key(id, log.generate_id()?), attempt)?;
            let completion = crate::outbound::delivery::judge(
                &mut sub,
                &mut delivery,
                &result.finished,
                &result.policy,
                result.now_ms,
                result.jitter,
            );
            if completion.removes_delivery() {
                queue.remove(key)?;
            } else {
                tx_put(queue, key, &delivery)?;
            }
            tx_put(subs, id.as_ref(), &sub)?;
            Ok(completion)
        })?;
        Ok(completion)
    }

    pub(super) fn log_attempt(&self, id: &SubscriptionId, attempt: &DeliveryAttempt) -> StoreResult<()> {
        let o = &self.outbound;
        (&o.subscriptions, &o.log).transaction(|(subs, log)| {
            if subs.get(id.as_ref())?.is_some() {
                tx_put(log, entry_key(id, log.generate_id()?), attempt)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    pub(super) fn attempts(&self, id: &SubscriptionId, page: PageRequest) -> StoreResult<Page<DeliveryAttempt>> {
        let log = &self.outbound.log;
        let total = log.scan_prefix(id).keys().count();
        let items = log
            .scan_prefix(id)
            .values()
            .rev()
            .skip(page.offset)
            .take(page.limit)
            .map(|v| decode(&v?))
            .collect::<StoreResult<_>>()?;
        Ok(Page { total, items })
    }

    pub(super) fn queue_len(&self) -> usize {
        self.outbound.queue.len()
    }

    pub(super) fn prune_outbound(&self, now_ms: u64, retention: Duration) -> StoreResult<(usize, usize)> {
        let o = &self.outbound;
        let dropped = remove_where(&o.queue, |v| Ok(decode::<QueuedDelivery>(v)?.expired(now_ms, retention)))?;
        let oldest_kept = now_ms.saturating_sub(duration_ms(retention)) / 1000;
        let pruned = remove_where(&o.log, |v| Ok(decode::<DeliveryAttempt>(v)?.attempted_at < oldest_kept))?;
        Ok((dropped, pruned))
    }

    /// Queue and log entries of subscriptions that no longer exist (a crash in the middle of a delete
    /// leaves them).
    pub(super) fn sweep_outbound_orphans(&self) -> StoreResult<usize> {
        let o = &self.outbound;
        let known: HashSet<Vec<u8>> =
            o.subscriptions.iter().keys().map(|k| k.map(|k| k.to_vec())).collect::<Result<_, _>>()?;
        let mut swept = 0;
        for tree in [&o.queue, &o.log] {
            let mut batch = sled::Batch::default();
            for key in tree.iter().keys() {
                let key = key?;
                if !known.contains(key_owner(&key)) {
                    batch.remove(key);
                    swept += 1;
                }
            }
            tree.apply_batch(batch)?;
        }
        Ok(swept)
    }
}

/// Removes the entries of `tree` whose value `doomed` picks; returns how many.
fn remove_where(tree: &sled::Tree, doomed: impl Fn(&[u8]) -> StoreResult<bool>) -> StoreResult<usize> {
    let mut removed = 0;
    let mut batch = sled::Batch::default();
    for entry in tree.iter() {
        let (key, value) = entry?;
        if doomed(&value)? {
            batch.remove(key);
            removed += 1;
        }
    }
    tree.apply_batch(batch)?;
    Ok(removed)
}
