//! Outbound state in sled: three trees of its own, next to the engine's.
//!
//! - `outbound_subscriptions`: subscription id → [`Subscription`] (JSON, secrets included).
//! - `outbound_queue`: subscription id ++ sequence (u64 big-endian) → [`QueuedDelivery`]. The sequence
//!   comes from sled's persistent monotonic id generator, so a prefix scan lists one subscription's
//!   deliveries in the order their events were recorded, across restarts; the first one is the head,
//!   the only one being attempted.
//! - `outbound_log`: subscription id ++ sequence → [`DeliveryAttempt`]; a reverse prefix scan is
//!   newest first.
//!
//! Ids have a fixed length, so no subscription's prefix is a prefix of another's. Writes that touch
//! more than one record are sled transactions; the methods here are synchronous and run on the
//! blocking pool.

use std::collections::HashSet;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;

use super::backoff::retry_delay;
use super::subscription::Subscription;
use super::OutboundError;
use crate::domain::ids::SubscriptionId;
use crate::events::EngineEvent;
use crate::store::outbox::OutboxEntry;
use crate::store::{Page, PageRequest};

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
    Claimed { subscription: Box<Subscription>, key: Vec<u8>, delivery: QueuedDelivery },
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

type TxResult<T> = Result<T, ConflictableTransactionError<OutboundError>>;

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, OutboundError> {
    Ok(serde_json::to_vec(value)?)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, OutboundError> {
    Ok(serde_json::from_slice(bytes)?)
}

fn tx_get<T: DeserializeOwned>(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(v) => decode(&v).map(Some).map_err(ConflictableTransactionError::Abort),
        None => Ok(None),
    }
}

fn tx_put<T: Serialize>(tree: &TransactionalTree, key: &[u8], value: &T) -> TxResult<()> {
    tree.insert(key, encode(value).map_err(ConflictableTransactionError::Abort)?)?;
    Ok(())
}

/// Queues `event` for each of `targets` whose stored record still wants it, inside a transaction over
/// the subscription and queue trees (the caller's, so the deliveries commit with whatever the event
/// describes). The in-memory copy chose the targets; the stored record has the last word.
pub fn enqueue_in(
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
        let delivery = QueuedDelivery {
            event_id: event.id.clone(),
            event_type: event.event.clone(),
            payload: payload.clone(),
            queued_at_ms: now_ms,
            attempts: 0,
            round_start: 0,
            next_attempt_at_ms: now_ms,
            lease: None,
        };
        // A struct of strings and numbers always encodes.
        let Ok(bytes) = encode(&delivery) else { continue };
        queue.insert(entry_key(id, queue.generate_id()?), bytes)?;
        queued += 1;
    }
    Ok(queued)
}

/// The event an admin change publishes, queued in the change's own transaction so that the two commit
/// together, as the engine's `SledStore::transact` does for its records.
pub struct Announcement<'a> {
    /// Builds the event from the record as stored (for a delete, as it was). Called again if sled
    /// runs the transaction again.
    pub event: &'a dyn Fn(&Subscription) -> EngineEvent,
    /// The subscriptions the in-memory copy says may want an event; each stored record has the last word.
    pub targets: &'a dyn Fn(&EngineEvent) -> Vec<SubscriptionId>,
    pub now_ms: u64,
}

impl Announcement<'_> {
    fn stage(
        &self,
        about: &Subscription,
        subs: &TransactionalTree,
        queue: &TransactionalTree,
    ) -> TxResult<EngineEvent> {
        let event = (self.event)(about);
        enqueue_in(subs, queue, &event, &(self.targets)(&event), self.now_ms)?;
        Ok(event)
    }
}

impl From<TransactionError<OutboundError>> for OutboundError {
    fn from(e: TransactionError<OutboundError>) -> Self {
        match e {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(e) => Self::Sled(e),
        }
    }
}

/// `subscription id ++ sequence (big-endian)`.
pub fn entry_key(id: &SubscriptionId, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.as_str().len() + 8);
    key.extend_from_slice(id.as_str().as_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The subscription an entry key belongs to.
fn key_owner(key: &[u8]) -> &[u8] {
    &key[..key.len().saturating_sub(8)]
}

pub struct OutboundRepo {
    db: sled::Db,
    subscriptions: sled::Tree,
    queue: sled::Tree,
    log: sled::Tree,
    /// The engine store's outbox (see `store::outbox`), drained into `queue`.
    outbox: sled::Tree,
}

impl OutboundRepo {
    pub fn open(db: &sled::Db) -> Result<Self, OutboundError> {
        Ok(Self {
            db: db.clone(),
            subscriptions: db.open_tree("outbound_subscriptions")?,
            queue: db.open_tree("outbound_queue")?,
            log: db.open_tree("outbound_log")?,
            outbox: db.open_tree(crate::store::sled::outbox::OUTBOX_TREE)?,
        })
    }

    /// Deliveries waiting, across all subscriptions (a scan: call it now and then, not per event).
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub fn all_subscriptions(&self) -> Result<Vec<Subscription>, OutboundError> {
        self.subscriptions.iter().values().map(|v| decode(&v?)).collect()
    }

    pub fn get(&self, id: &SubscriptionId) -> Result<Option<Subscription>, OutboundError> {
        self.subscriptions.get(id)?.map(|v| decode(&v)).transpose()
    }

    pub fn insert(&self, sub: &Subscription, announce: &Announcement) -> Result<EngineEvent, OutboundError> {
        let event = (&self.subscriptions, &self.queue).transaction(|(subs, queue)| {
            tx_put(subs, sub.id.as_ref(), sub)?;
            announce.stage(sub, subs, queue)
        })?;
        self.db.flush()?;
        Ok(event)
    }

    /// Subscriptions in creation order whose name or URL contains `q` (case-insensitive).
    pub fn list(&self, q: Option<&str>, page: PageRequest) -> Result<Page<Subscription>, OutboundError> {
        let q = q.map(str::to_lowercase);
        let mut total = 0;
        let mut items = Vec::new();
        for value in self.subscriptions.iter().values() {
            let sub: Subscription = decode(&value?)?;
            let hit = q
                .as_deref()
                .is_none_or(|q| sub.name.to_lowercase().contains(q) || sub.url.as_str().to_lowercase().contains(q));
            if !hit {
                continue;
            }
            if total >= page.offset && items.len() < page.limit {
                items.push(sub);
            }
            total += 1;
        }
        Ok(Page { total, items })
    }

    /// Read-modify-write of one subscription in a transaction, so the worker's failure counts and an
    /// admin's changes never overwrite each other.
    pub fn update(
        &self,
        id: &SubscriptionId,
        change: impl Fn(Subscription) -> Result<Subscription, OutboundError>,
        announce: &Announcement,
    ) -> Result<(Subscription, EngineEvent), OutboundError> {
        let updated = (&self.subscriptions, &self.queue).transaction(|(subs, queue)| {
            let current: Subscription =
                tx_get(subs, id.as_ref())?.ok_or(ConflictableTransactionError::Abort(OutboundError::NotFound))?;
            let changed = change(current).map_err(ConflictableTransactionError::Abort)?;
            tx_put(subs, id.as_ref(), &changed)?;
            let event = announce.stage(&changed, subs, queue)?;
            Ok((changed, event))
        })?;
        self.db.flush()?;
        Ok(updated)
    }

    /// Clears a pause: the kept head is due at once with a fresh retry schedule.
    pub fn enable(
        &self,
        id: &SubscriptionId,
        now: u64,
        announce: &Announcement,
    ) -> Result<(Subscription, EngineEvent), OutboundError> {
        let head = self.queue.scan_prefix(id).keys().next().transpose()?;
        let enabled = (&self.subscriptions, &self.queue).transaction(|(subs, queue)| {
            let mut sub: Subscription =
                tx_get(subs, id.as_ref())?.ok_or(ConflictableTransactionError::Abort(OutboundError::NotFound))?;
            let was_held = !sub.deliverable();
            sub.enabled = true;
            sub.paused_at = None;
            sub.consecutive_failures = 0;
            sub.updated_at = now;
            tx_put(subs, id.as_ref(), &sub)?;
            // While the subscription delivers, its head may be mid-attempt; only a held head restarts.
            if let Some(key) = head.as_ref().filter(|_| was_held) {
                if let Some(mut d) = tx_get::<QueuedDelivery>(queue, key)? {
                    d.round_start = d.attempts;
                    d.next_attempt_at_ms = 0;
                    d.lease = None;
                    tx_put(queue, key, &d)?;
                }
            }
            let event = announce.stage(&sub, subs, queue)?;
            Ok((sub, event))
        })?;
        self.db.flush()?;
        Ok(enabled)
    }

    /// Removes the subscription, then its queue and log. Once the record is gone no delivery can be
    /// added for it (enqueueing checks the record in its transaction), so the sweep after it is final;
    /// what a crash between the two leaves behind is swept at the next start.
    pub fn delete(&self, id: &SubscriptionId, announce: &Announcement) -> Result<EngineEvent, OutboundError> {
        let event = (&self.subscriptions, &self.queue).transaction(|(subs, queue)| {
            let gone: Subscription =
                tx_get(subs, id.as_ref())?.ok_or(ConflictableTransactionError::Abort(OutboundError::NotFound))?;
            subs.remove(id.as_ref())?;
            announce.stage(&gone, subs, queue)
        })?;
        for tree in [&self.queue, &self.log] {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix(id).keys() {
                batch.remove(key?);
            }
            tree.apply_batch(batch)?;
        }
        self.db.flush()?;
        Ok(event)
    }

    /// Writes an event no stored change carries into the outbox, durably.
    pub fn append_outbox(&self, entry: &OutboxEntry) -> Result<(), OutboundError> {
        self.outbox.insert(self.db.generate_id()?.to_be_bytes(), encode(entry)?)?;
        // The engine acknowledges the action after this returns; the event must outlive a crash.
        self.db.flush()?;
        Ok(())
    }

    /// Moves the outbox entries, oldest first, into the queues of the subscriptions they are for, each
    /// in one transaction with its removal. Returns how many deliveries were queued.
    pub fn drain_outbox(&self, now_ms: u64) -> Result<usize, OutboundError> {
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
            queued += (&self.outbox, &self.subscriptions, &self.queue).transaction(|(outbox, subs, queue)| {
                if outbox.remove(&key)?.is_none() {
                    return Ok(0);
                }
                Ok::<_, ConflictableTransactionError<OutboundError>>(enqueue_in(
                    subs,
                    queue,
                    &entry.event,
                    &entry.targets,
                    now_ms,
                )?)
            })?;
        }
        if drained > 0 {
            // The worker sends only what a crash cannot take back.
            self.db.flush()?;
        }
        Ok(queued)
    }

    /// Claims the head of a deliverable subscription's queue for one attempt. Heads older than the
    /// retention period are dropped on the way.
    pub fn claim_head(
        &self,
        id: &SubscriptionId,
        now_ms: u64,
        run: u64,
        lease_for: Duration,
        retention: Duration,
    ) -> Result<Claim, OutboundError> {
        let Some(subscription) = self.get(id)?.filter(Subscription::deliverable) else {
            return Ok(Claim::Idle);
        };
        loop {
            let Some((key, bytes)) = self.queue.scan_prefix(id).next().transpose()? else {
                return Ok(Claim::Idle);
            };
            let delivery: QueuedDelivery = decode(&bytes)?;
            if expired(&delivery, now_ms, retention) {
                tracing::warn!(subscription = %id, event = %delivery.event_id, "dropping an event kept past the retention period");
                // A changed value means someone else touched it; look again.
                let _ = self.queue.compare_and_swap(&key, Some(&bytes), None::<&[u8]>)?;
                continue;
            }
            if let Some(lease) = delivery.lease.filter(|l| l.run == run && l.until_ms > now_ms) {
                return Ok(Claim::Leased(lease.until_ms));
            }
            if delivery.next_attempt_at_ms > now_ms {
                return Ok(Claim::NotDue(delivery.next_attempt_at_ms));
            }
            let mut claimed = delivery;
            claimed.attempts += 1;
            claimed.lease = Some(Lease { run, until_ms: now_ms + duration_ms(lease_for) });
            let swapped = self.queue.compare_and_swap(&key, Some(&bytes), Some(encode(&claimed)?))?;
            if swapped.is_ok() {
                // Not flushed: a crash that loses the claim only means the attempt is not counted.
                return Ok(Claim::Claimed {
                    subscription: Box::new(subscription),
                    key: key.to_vec(),
                    delivery: claimed,
                });
            }
        }
    }

    /// Records an attempt's result: the log entry, the subscription's failure count and pause, and
    /// the delivery's removal or next retry, in one transaction.
    pub fn complete(
        &self,
        id: &SubscriptionId,
        key: &[u8],
        finished: &Finished,
        policy: &RetryPolicy,
        now_ms: u64,
        jitter: f64,
    ) -> Result<Completion, OutboundError> {
        let Finished { attempt, gone, retry_after } = finished;
        let completion = (&self.subscriptions, &self.queue, &self.log).transaction(|(subs, queue, log)| {
            let Some(mut sub) = tx_get::<Subscription>(subs, id.as_ref())? else {
                queue.remove(key)?;
                return Ok(Completion::Gone);
            };
            let Some(mut delivery) = tx_get::<QueuedDelivery>(queue, key)? else {
                return Ok(Completion::Gone);
            };
            tx_put(log, &entry_key(id, log.generate_id()?), attempt)?;
            if attempt.success {
                queue.remove(key)?;
                sub.consecutive_failures = 0;
                tx_put(subs, id.as_ref(), &sub)?;
                return Ok(Completion::Delivered);
            }
            sub.consecutive_failures = sub.consecutive_failures.saturating_add(1);
            sub.last_failure_reason = Some(attempt.failure_reason());
            let newly_paused =
                sub.paused_at.is_none() && (*gone || sub.consecutive_failures >= policy.pause_after_failures);
            if newly_paused {
                sub.paused_at = Some(now_ms / 1000);
            }
            delivery.lease = None;
            let failed_in_round = delivery.attempts.saturating_sub(delivery.round_start);
            let completion = if sub.paused_at.is_some() {
                // Kept for when the subscription is enabled again.
                delivery.next_attempt_at_ms = now_ms;
                tx_put(queue, key, &delivery)?;
                Completion::Held { newly_paused }
            } else if let Some(wait) = retry_delay(&policy.schedule_ms, failed_in_round, *retry_after, jitter) {
                delivery.next_attempt_at_ms = now_ms + duration_ms(wait);
                tx_put(queue, key, &delivery)?;
                Completion::Retrying(delivery.next_attempt_at_ms)
            } else {
                queue.remove(key)?;
                Completion::GaveUp
            };
            tx_put(subs, id.as_ref(), &sub)?;
            Ok(completion)
        })?;
        // Not flushed here (sled flushes on its own within half a second, and at shutdown): a crash
        // that loses a result makes the attempt again, which at-least-once delivery allows.
        Ok(completion)
    }

    /// Adds an attempt made outside the queue (`POST /webhooks/{id}/test`) to the log.
    pub fn log_attempt(&self, id: &SubscriptionId, attempt: &DeliveryAttempt) -> Result<(), OutboundError> {
        (&self.subscriptions, &self.log).transaction(|(subs, log)| {
            // A subscription deleted meanwhile keeps no log.
            if subs.get(id.as_ref())?.is_some() {
                tx_put(log, &entry_key(id, log.generate_id()?), attempt)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// A subscription's attempts, newest first.
    pub fn attempts(&self, id: &SubscriptionId, page: PageRequest) -> Result<Page<DeliveryAttempt>, OutboundError> {
        let total = self.log.scan_prefix(id).keys().count();
        let items = self
            .log
            .scan_prefix(id)
            .values()
            .rev()
            .skip(page.offset)
            .take(page.limit)
            .map(|v| decode(&v?))
            .collect::<Result<_, _>>()?;
        Ok(Page { total, items })
    }

    /// How many deliveries wait for a subscription (including one being attempted).
    pub fn pending(&self, id: &SubscriptionId) -> usize {
        self.queue.scan_prefix(id).keys().count()
    }

    /// Drops queued events and log entries older than the retention period. Returns how many of each.
    pub fn prune(&self, now_ms: u64, retention: Duration) -> Result<(usize, usize), OutboundError> {
        let mut dropped = 0;
        let mut batch = sled::Batch::default();
        for entry in self.queue.iter() {
            let (key, value) = entry?;
            if expired(&decode(&value)?, now_ms, retention) {
                batch.remove(key);
                dropped += 1;
            }
        }
        self.queue.apply_batch(batch)?;
        let oldest_kept = now_ms.saturating_sub(duration_ms(retention)) / 1000;
        let mut pruned = 0;
        let mut batch = sled::Batch::default();
        for entry in self.log.iter() {
            let (key, value) = entry?;
            if decode::<DeliveryAttempt>(&value)?.attempted_at < oldest_kept {
                batch.remove(key);
                pruned += 1;
            }
        }
        self.log.apply_batch(batch)?;
        Ok((dropped, pruned))
    }

    /// Removes queue and log entries of subscriptions that no longer exist (a crash in the middle of a
    /// delete leaves them).
    pub fn sweep_orphans(&self) -> Result<usize, OutboundError> {
        let known: HashSet<Vec<u8>> =
            self.subscriptions.iter().keys().map(|k| k.map(|k| k.to_vec())).collect::<Result<_, _>>()?;
        let mut swept = 0;
        for tree in [&self.queue, &self.log] {
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

fn expired(delivery: &QueuedDelivery, now_ms: u64, retention: Duration) -> bool {
    delivery.queued_at_ms.saturating_add(duration_ms(retention)) <= now_ms
}

pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::subscription::{EventFilter, SigningSecret, WebhookUrl};
    use serde_json::json;

    const RUN: u64 = 7;
    const LEASE: Duration = Duration::from_secs(10);
    const RETENTION: Duration = Duration::from_secs(3600);

    impl OutboundRepo {
        /// Queues `event` for `targets` the way the engine's changes do: through the outbox.
        fn enqueue(
            &self,
            event: &EngineEvent,
            targets: &[SubscriptionId],
            now_ms: u64,
        ) -> Result<usize, OutboundError> {
            self.append_outbox(&OutboxEntry { event: event.clone(), targets: targets.to_vec() })?;
            let queued = self.drain_outbox(now_ms)?;
            assert_eq!(self.outbox.len(), 0, "the outbox is empty once drained");
            Ok(queued)
        }
    }

    fn repo() -> (tempfile::TempDir, OutboundRepo) {
        let dir = tempfile::TempDir::new().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let repo = OutboundRepo::open(&db).unwrap();
        (dir, repo)
    }

    fn subscription() -> Subscription {
        Subscription {
            id: SubscriptionId::generate(),
            name: "s".into(),
            url: WebhookUrl::parse("https://example.com/hook").unwrap(),
            events: serde_json::from_value::<EventFilter>(json!(["*"])).unwrap(),
            system_id: None,
            enabled: true,
            paused_at: None,
            consecutive_failures: 0,
            last_failure_reason: None,
            auth_header: None,
            secret: SigningSecret::generate(),
            previous_secret: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn about(sub: &Subscription) -> EngineEvent {
        EngineEvent::new("subscription.updated", None, json!({ "subscription_id": sub.id }))
    }

    fn nobody(_: &EngineEvent) -> Vec<SubscriptionId> {
        Vec::new()
    }

    /// An announcement no subscription wants.
    fn quiet() -> Announcement<'static> {
        Announcement { event: &about, targets: &nobody, now_ms: 0 }
    }

    fn attempt(success: bool, status: u16) -> DeliveryAttempt {
        DeliveryAttempt {
            event_id: "evt_x".into(),
            event_type: "system.created".into(),
            attempt: 1,
            attempted_at: 1,
            status_code: Some(status),
            duration_ms: 1,
            response_body: String::new(),
            error: None,
            success,
        }
    }

    fn finished(success: bool, status: u16) -> Finished {
        Finished { attempt: attempt(success, status), gone: status == 410, retry_after: None }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy { schedule_ms: vec![100, 100], pause_after_failures: 5, retention: RETENTION }
    }

    fn claim(repo: &OutboundRepo, id: &SubscriptionId, now: u64) -> (Vec<u8>, QueuedDelivery) {
        match repo.claim_head(id, now, RUN, LEASE, RETENTION).unwrap() {
            Claim::Claimed { key, delivery, .. } => (key, delivery),
            other => panic!("expected a claim at {now}, got {other:?}"),
        }
    }

    #[test]
    fn keys_sort_by_sequence_within_a_subscription() {
        let id = SubscriptionId::generate();
        assert!(entry_key(&id, 255) < entry_key(&id, 256), "big-endian, so byte order is numeric order");
        assert_eq!(key_owner(&entry_key(&id, 9)), id.as_str().as_bytes());
    }

    #[test]
    fn the_head_is_claimed_once_per_run_and_again_by_the_next_run() {
        let (_dir, repo) = repo();
        let sub = subscription();
        repo.insert(&sub, &quiet()).unwrap();
        for n in 0..2 {
            let event = EngineEvent::new("system.created", None, json!({ "n": n }));
            assert_eq!(repo.enqueue(&event, std::slice::from_ref(&sub.id), 1_000).unwrap(), 1);
        }
        let (key, first) = claim(&repo, &sub.id, 1_000);
        assert_eq!(first.attempts, 1);
        assert!(first.payload.contains("\"n\":0"), "the oldest event is the head");
        assert!(matches!(repo.claim_head(&sub.id, 1_001, RUN, LEASE, RETENTION).unwrap(), Claim::Leased(_)));
        // A restarted process (another run) may take it over at once: the old one is gone.
        match repo.claim_head(&sub.id, 1_001, RUN + 1, LEASE, RETENTION).unwrap() {
            Claim::Claimed { key: again, delivery, .. } => {
                assert_eq!(again, key);
                assert_eq!(delivery.attempts, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failures_retry_then_give_up_and_success_moves_to_the_next_event() {
        let (_dir, repo) = repo();
        let sub = subscription();
        repo.insert(&sub, &quiet()).unwrap();
        for _ in 0..2 {
            repo.enqueue(&EngineEvent::new("system.created", None, json!({})), std::slice::from_ref(&sub.id), 0)
                .unwrap();
        }
        let p = policy();
        let (key, _) = claim(&repo, &sub.id, 0);
        let done = repo.complete(&sub.id, &key, &finished(false, 500), &p, 0, 0.0).unwrap();
        assert_eq!(done, Completion::Retrying(100));
        assert!(matches!(repo.claim_head(&sub.id, 50, RUN, LEASE, RETENTION).unwrap(), Claim::NotDue(100)));
        let (key, _) = claim(&repo, &sub.id, 100);
        assert_eq!(
            repo.complete(&sub.id, &key, &finished(false, 500), &p, 100, 0.0).unwrap(),
            Completion::Retrying(200)
        );
        let (key, _) = claim(&repo, &sub.id, 200);
        assert_eq!(repo.complete(&sub.id, &key, &finished(false, 500), &p, 200, 0.0).unwrap(), Completion::GaveUp);
        assert_eq!(repo.pending(&sub.id), 1);
        let (key, _) = claim(&repo, &sub.id, 200);
        assert_eq!(repo.complete(&sub.id, &key, &finished(true, 200), &p, 200, 0.0).unwrap(), Completion::Delivered);
        assert_eq!(repo.pending(&sub.id), 0);
        let stored = repo.get(&sub.id).unwrap().unwrap();
        assert_eq!(stored.consecutive_failures, 0);
        assert!(stored.last_failure_reason.unwrap().contains("500"));
        let log = repo.attempts(&sub.id, PageRequest { offset: 0, limit: 10 }).unwrap();
        assert_eq!(log.total, 4);
        assert!(log.items[0].success, "newest first");
    }

    #[test]
    fn a_410_pauses_and_keeps_the_event_until_enabled() {
        let (_dir, repo) = repo();
        let sub = subscription();
        repo.insert(&sub, &quiet()).unwrap();
        repo.enqueue(&EngineEvent::new("system.created", None, json!({})), std::slice::from_ref(&sub.id), 0).unwrap();
        let (key, _) = claim(&repo, &sub.id, 0);
        let done = repo.complete(&sub.id, &key, &finished(false, 410), &policy(), 5_000, 0.0).unwrap();
        assert_eq!(done, Completion::Held { newly_paused: true });
        assert_eq!(repo.get(&sub.id).unwrap().unwrap().paused_at, Some(5));
        assert!(matches!(repo.claim_head(&sub.id, 6_000, RUN, LEASE, RETENTION).unwrap(), Claim::Idle));
        let (enabled, _) = repo.enable(&sub.id, 7, &quiet()).unwrap();
        assert_eq!((enabled.paused_at, enabled.consecutive_failures), (None, 0));
        let (_, d) = claim(&repo, &sub.id, 6_000);
        assert_eq!((d.attempts, d.round_start), (2, 1), "a fresh round of retries");
    }

    #[test]
    fn deleting_removes_queue_and_log_and_stops_enqueueing() {
        let (_dir, repo) = repo();
        let sub = subscription();
        let other = subscription();
        repo.insert(&sub, &quiet()).unwrap();
        repo.insert(&other, &quiet()).unwrap();
        let event = EngineEvent::new("system.created", None, json!({}));
        repo.enqueue(&event, &[sub.id.clone(), other.id.clone()], 0).unwrap();
        repo.log_attempt(&sub.id, &attempt(true, 200)).unwrap();
        repo.delete(&sub.id, &quiet()).unwrap();
        assert_eq!(repo.pending(&sub.id), 0);
        assert_eq!(repo.attempts(&sub.id, PageRequest { offset: 0, limit: 10 }).unwrap().total, 0);
        assert_eq!(repo.enqueue(&event, std::slice::from_ref(&sub.id), 0).unwrap(), 0);
        assert_eq!(repo.pending(&other.id), 1, "others keep theirs");
        assert!(matches!(repo.delete(&sub.id, &quiet()), Err(OutboundError::NotFound)));
    }

    #[test]
    fn an_announcement_commits_with_its_change_for_every_stored_record_that_wants_it() {
        let (_dir, repo) = repo();
        let watcher = subscription();
        repo.insert(&watcher, &quiet()).unwrap();
        let sub = subscription();
        let ids = [watcher.id.clone(), sub.id.clone()];
        let everyone = |_: &EngineEvent| ids.to_vec();
        let announce = Announcement { event: &about, targets: &everyone, now_ms: 0 };
        let created = repo.insert(&sub, &announce).unwrap();
        assert_eq!((repo.pending(&watcher.id), repo.pending(&sub.id)), (1, 1), "a new record sees its own event");
        let (_, updated) = repo.update(&sub.id, |s| Ok(Subscription { enabled: false, ..s }), &announce).unwrap();
        assert_eq!(repo.pending(&sub.id), 1, "a disabled record does not");
        let deleted = repo.delete(&sub.id, &announce).unwrap();
        assert_eq!((repo.pending(&watcher.id), repo.pending(&sub.id)), (3, 0), "nor a deleted one");
        let (key, head) = claim(&repo, &watcher.id, 0);
        assert_eq!(head.event_id, created.id);
        repo.complete(&watcher.id, &key, &finished(true, 200), &policy(), 0, 0.0).unwrap();
        let queued: Vec<String> = repo
            .queue
            .scan_prefix(&watcher.id)
            .values()
            .map(|v| decode::<QueuedDelivery>(&v.unwrap()).unwrap().event_id)
            .collect();
        assert_eq!(queued, [updated.id, deleted.id], "in order, and a delivery queued nothing new");
    }

    #[test]
    fn a_failed_change_queues_no_announcement() {
        let (_dir, repo) = repo();
        let watcher = subscription();
        repo.insert(&watcher, &quiet()).unwrap();
        let ids = [watcher.id.clone()];
        let everyone = |_: &EngineEvent| ids.to_vec();
        let announce = Announcement { event: &about, targets: &everyone, now_ms: 0 };
        let refused = repo.update(&watcher.id, |_| Err(OutboundError::NotFound), &announce);
        assert!(matches!(refused, Err(OutboundError::NotFound)));
        let missing = SubscriptionId::generate();
        assert!(matches!(repo.delete(&missing, &announce), Err(OutboundError::NotFound)));
        assert!(matches!(repo.enable(&missing, 0, &announce), Err(OutboundError::NotFound)));
        assert_eq!(repo.pending(&watcher.id), 0);
    }

    #[test]
    fn old_events_and_log_entries_are_pruned() {
        let (_dir, repo) = repo();
        let sub = subscription();
        repo.insert(&sub, &quiet()).unwrap();
        repo.enqueue(&EngineEvent::new("system.created", None, json!({})), std::slice::from_ref(&sub.id), 0).unwrap();
        repo.log_attempt(&sub.id, &attempt(true, 200)).unwrap();
        let later = duration_ms(RETENTION) + 2_000;
        assert_eq!(repo.prune(later, RETENTION).unwrap(), (1, 1));
        assert_eq!(repo.pending(&sub.id), 0);
    }
}
