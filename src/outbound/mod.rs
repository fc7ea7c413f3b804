//! Outbound webhook subscriptions and their deliveries.
//!
//! **Recording.** [`Shared`] is the event bus's durable sink. The store writes every event some
//! subscription wants (an in-memory check) to its outbox, with the subscriptions it is for, in the
//! transaction of the change the event describes, and makes it durable before the change is
//! acknowledged; events no change carries are written there by `record`. The worker then moves
//! outbox entries into the queues: one [`delivery::QueuedDelivery`] per subscription whose stored
//! record still wants the event, paused ones included, in one transaction with the entry's removal.
//!
//! **Delivering.** Each subscription's queue is delivered in order, one attempt at a time (the head
//! blocks the events behind it while it is retried). The [`worker`] claims a due head with a lease
//! (a compare-and-swap that also counts the attempt), sends it, and records the result in one
//! transaction: the log entry, the failure count, the pause, and the removal or the next retry time.
//! Leases carry the id of the process run that took them. Only one process can open the data
//! directory, so a lease from another run was left by a process that stopped or crashed mid-attempt:
//! the delivery is attempted again at once (at least once, never lost). Within a run a lease expires
//! after the attempt timeout plus a margin, which recovers from an attempt task that died.
//!
//! **Failing.** A failed attempt is retried after the `retry_schedule_ms` entry for it plus jitter (or
//! a longer `Retry-After` on 429/503); with no retry left the event is dropped for that subscription.
//! After `pause_after_failures` consecutive failures, or at once on 410 Gone, the subscription is
//! paused: its events keep queueing and wait (up to `retention_days`) until `POST …/enable`, which
//! gives the kept head a fresh schedule. Pausing publishes `subscription.paused`.
//!
//! **Announcing.** Each admin change (create, update, enable, rotate-secret, delete) publishes
//! `subscription.created`, `.updated` or `.deleted`, written to the outbox for the subscriptions that want it in the
//! change's own transaction and broadcast live after it. Only these calls announce; the worker's own
//! writes (failure counts, and pauses, which publish only `subscription.paused`) never do, so a
//! subscription that receives events about itself cannot cause more of them by receiving them.

pub mod backoff;
pub mod catalog;
pub mod delivery;
pub mod sender;
pub mod signing;
pub mod ssrf;
pub mod subscription;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::OutboundConfig;
use crate::domain::ids::SubscriptionId;
use crate::domain::{now_epoch_seconds, parse_name, SystemId, ValidationError};
use crate::events::{context, EngineEvent, EventBus, EventSink};
use crate::store::outbox::OutboxEntry;
use crate::store::repo::SubscriptionEvent;
use crate::store::{Page, PageRequest, Repository, StoreError};
use delivery::{DeliveryAttempt, RetryPolicy};
use sender::{Outcome, Sender};
use subscription::{EventType, NewSubscription, RetiredSecret, SigningSecret, Subscription, SubscriptionPatch};

/// Time, beyond the attempt timeout, that a lease allows for recording the attempt's result.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("webhook subscription not found")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("an event could not be encoded: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("the store: {0}")]
    Store(#[source] StoreError),
}

impl From<StoreError> for OutboundError {
    fn from(e: StoreError) -> Self {
        match e {
            // The repository's only records here are subscriptions.
            StoreError::NotFound(_) => Self::NotFound,
            StoreError::Invalid(e) => Self::Invalid(e),
            e => Self::Store(e),
        }
    }
}

pub type OutboundResult<T> = Result<T, OutboundError>;

/// What the sink, the worker and the handlers share: the store and an in-memory copy of every
/// subscription (for the sink's cheap `wants` and the worker's list of what to deliver).
struct Shared {
    repo: Repository,
    subscriptions: RwLock<HashMap<SubscriptionId, Subscription>>,
    /// Serialises `reload`. Not the cache lock: store calls must never run under it, because the sink
    /// reads the cache inside store transactions, and a read may wait for those to finish.
    reloading: tokio::sync::Mutex<()>,
    /// Whether the outbox may hold entries to move into the queues (true at start: a crash may have
    /// left some).
    outbox_pending: AtomicBool,
    wake: Notify,
}

impl Shared {
    fn cache(&self) -> RwLockReadGuard<'_, HashMap<SubscriptionId, Subscription>> {
        // Entries are replaced whole, so a poisoned lock still holds consistent records.
        self.subscriptions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn cache_mut(&self) -> RwLockWriteGuard<'_, HashMap<SubscriptionId, Subscription>> {
        self.subscriptions.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Copies the stored record into the cache. Reloads run one at a time, each reading after the
    /// write it follows, so a slower writer can never put back an older record than the newest stored.
    async fn reload(&self, id: &SubscriptionId) -> OutboundResult<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let stored = self.repo.get_subscription(id.clone()).await?;
        let mut cache = self.cache_mut();
        match stored {
            Some(sub) => cache.insert(id.clone(), sub),
            None => cache.remove(id),
        };
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventSink for Shared {
    fn wants(&self, event_type: &str, system_id: Option<&str>) -> bool {
        self.cache().values().any(|s| s.wants_kind(event_type, system_id))
    }

    /// The subscriptions whose in-memory copy wants `event`.
    fn targets(&self, event: &EngineEvent) -> Vec<SubscriptionId> {
        self.cache().values().filter(|s| s.wants(event)).map(|s| s.id.clone()).collect()
    }

    async fn record(&self, event: &EngineEvent) {
        let Some(entry) = OutboxEntry::for_event(self, event) else { return };
        match self.repo.append_outbox(entry).await {
            Ok(()) => self.staged(),
            Err(e) => tracing::error!(
                error = %e, event = %event.event, event_id = %event.id, "queueing an event for outbound delivery failed"
            ),
        }
    }

    fn staged(&self) {
        self.outbox_pending.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Builds the `kind` event about a subscription, for the store call that commits the change. The cause
/// (actor, request) is taken now, in the request's task: the store call may run on another thread.
fn announcer(kind: EventType, changed: Option<Vec<&'static str>>) -> SubscriptionEvent {
    let cause = context::current();
    Box::new(move |sub| {
        let data = catalog::subscription_data(sub, changed.as_deref());
        let system = sub.system_id.as_ref().map(SystemId::as_str);
        context::within_sync(cause.clone(), || EngineEvent::new(kind.as_str(), system, data))
    })
}

/// The fields a PATCH sets, for `subscription.updated`'s `changed`.
fn patched_fields(patch: &SubscriptionPatch) -> Vec<&'static str> {
    [
        ("name", patch.name.is_some()),
        ("url", patch.url.is_some()),
        ("events", patch.events.is_some()),
        ("system_id", patch.system_id.is_some()),
        ("enabled", patch.enabled.is_some()),
        ("auth_header", patch.auth_header.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect()
}

/// Applies a PATCH (its name already parsed) to the stored record.
fn apply_patch(mut sub: Subscription, name: Option<&String>, patch: &SubscriptionPatch) -> Subscription {
    if let Some(name) = name {
        sub.name = name.clone();
    }
    if let Some(url) = &patch.url {
        sub.url = url.clone();
    }
    if let Some(events) = &patch.events {
        sub.events = events.clone();
    }
    if let Some(system) = &patch.system_id {
        sub.system_id = system.clone();
    }
    if let Some(enabled) = patch.enabled {
        sub.enabled = enabled;
    }
    if let Some(auth) = &patch.auth_header {
        sub.auth_header = auth.clone();
    }
    sub.updated_at = now_epoch_seconds();
    sub
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The outbound service: subscriptions for the HTTP handlers, deliveries for the worker.
pub struct Outbound {
    shared: Arc<Shared>,
    /// Weak: the bus holds the sink, and the sink must not keep the bus (and so the store) alive.
    bus: Weak<EventBus>,
    sender: Sender,
    policy: RetryPolicy,
    lease_for: Duration,
    secret_grace: Duration,
    /// This process run's lease owner id.
    run: u64,
}

/// Cleans the queue and log, installs the durable sink on `bus` and starts the delivery worker.
pub async fn start(
    repo: Repository,
    bus: &Arc<EventBus>,
    config: &OutboundConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<(Arc<Outbound>, Vec<JoinHandle<()>>)> {
    let policy = RetryPolicy {
        schedule_ms: config.retry_schedule_ms.clone(),
        pause_after_failures: config.pause_after_failures,
        retention: Duration::from_secs(u64::from(config.retention_days) * 86_400),
    };
    let swept = repo.sweep_outbound_orphans().await?;
    let (dropped, pruned) = repo.prune_outbound(now_ms(), policy.retention).await?;
    if swept + dropped + pruned > 0 {
        tracing::info!(swept, dropped, pruned, "cleaned outbound queue and log at start");
    }
    let subscriptions = repo.all_subscriptions().await?;
    let shared = Arc::new(Shared {
        repo,
        subscriptions: RwLock::new(subscriptions.into_iter().map(|s| (s.id.clone(), s)).collect()),
        reloading: tokio::sync::Mutex::new(()),
        outbox_pending: AtomicBool::new(true),
        wake: Notify::new(),
    });
    bus.set_sink(Arc::clone(&shared) as Arc<dyn EventSink>);
    let outbound = Arc::new(Outbound {
        shared,
        bus: Arc::downgrade(bus),
        sender: Sender::new(config)?,
        policy,
        lease_for: Duration::from_millis(config.attempt_timeout_ms) + LEASE_MARGIN,
        secret_grace: Duration::from_secs(config.secret_grace_period_s),
        run: rand::random(),
    });
    let worker =
        tokio::spawn(worker::run(Arc::clone(&outbound), shutdown).instrument(tracing::info_span!("outbound_worker")));
    Ok((outbound, vec![worker]))
}

impl DeliveryAttempt {
    fn from_outcome(event_id: &str, event_type: &str, attempt: u32, outcome: &Outcome) -> Self {
        Self {
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            attempt,
            attempted_at: now_epoch_seconds(),
            status_code: outcome.status,
            duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
            response_body: outcome.response_body.clone(),
            error: outcome.error.clone(),
            success: outcome.success(),
        }
    }
}

impl Outbound {
    /// A system a subscription is scoped to must exist when the scope is set.
    async fn check_system(&self, system: &SystemId) -> OutboundResult<()> {
        match self.shared.repo.get_system(system.clone()).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound(_)) => {
                Err(ValidationError::new("system_id", format!("system {system} does not exist")).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create(&self, input: NewSubscription) -> OutboundResult<Subscription> {
        if let Some(system) = &input.system_id {
            self.check_system(system).await?;
        }
        let now = now_epoch_seconds();
        let sub = Subscription {
            id: SubscriptionId::generate(),
            name: input.name,
            url: input.url,
            events: input.events,
            system_id: input.system_id,
            enabled: input.enabled,
            paused_at: None,
            consecutive_failures: 0,
            last_failure_reason: None,
            auth_header: input.auth_header,
            secret: SigningSecret::generate(),
            previous_secret: None,
            created_at: now,
            updated_at: now,
        };
        let id = sub.id.clone();
        let announce = announcer(EventType::SubscriptionCreated, None);
        let event = self.shared.repo.insert_subscription(sub.clone(), announce).await?;
        self.announced(&id, event).await?;
        Ok(sub)
    }

    pub async fn list(&self, q: Option<String>, page: PageRequest) -> OutboundResult<Page<Subscription>> {
        if crate::store::matches_nothing(&[q.as_deref()]) {
            return Ok(Page::empty());
        }
        Ok(self.shared.repo.list_subscriptions(q, page).await?)
    }

    pub async fn get(&self, id: SubscriptionId) -> OutboundResult<Subscription> {
        self.shared.repo.get_subscription(id).await?.ok_or(OutboundError::NotFound)
    }

    pub async fn update(&self, id: SubscriptionId, patch: SubscriptionPatch) -> OutboundResult<Subscription> {
        let name = patch.name.as_deref().map(|n| parse_name("name", n)).transpose()?;
        if let Some(Some(system)) = &patch.system_id {
            self.check_system(system).await?;
        }
        let changed = patched_fields(&patch);
        let announce = announcer(EventType::SubscriptionUpdated, Some(changed));
        let change = Box::new(move |sub| Ok(apply_patch(sub, name.as_ref(), &patch)));
        let (updated, event) = self.shared.repo.update_subscription(id.clone(), change, announce).await?;
        self.announced(&id, event).await?;
        Ok(updated)
    }

    pub async fn delete(&self, id: SubscriptionId) -> OutboundResult<()> {
        let announce = announcer(EventType::SubscriptionDeleted, None);
        match self.shared.repo.delete_subscription(id.clone(), announce).await {
            Ok(event) => self.announced(&id, event).await,
            Err(e) => {
                // The cache follows the store, whatever became of the delete.
                self.shared.reload(&id).await?;
                Err(e.into())
            }
        }
    }

    /// Clears a pause (and a disable): kept events are delivered again, oldest first.
    pub async fn enable(&self, id: SubscriptionId) -> OutboundResult<Subscription> {
        let changed = vec!["enabled", "paused_at", "consecutive_failures"];
        let announce = announcer(EventType::SubscriptionUpdated, Some(changed));
        let (sub, event) = self.shared.repo.enable_subscription(id.clone(), now_epoch_seconds(), announce).await?;
        self.announced(&id, event).await?;
        tracing::info!(subscription = %sub.id, "subscription enabled");
        Ok(sub)
    }

    /// A new secret signs from now on; the previous one also signs for `secret_grace_period_s`.
    pub async fn rotate_secret(&self, id: SubscriptionId) -> OutboundResult<Subscription> {
        let grace = self.secret_grace.as_secs();
        // Generated outside the transaction, which may run more than once.
        let fresh = SigningSecret::generate();
        let rotate = Box::new(move |mut sub: Subscription| {
            let now = now_epoch_seconds();
            let old = std::mem::replace(&mut sub.secret, fresh.clone());
            sub.previous_secret = (grace > 0).then(|| RetiredSecret { secret: old, signs_until: now + grace });
            sub.updated_at = now;
            Ok(sub)
        });
        // Named, never shown: the event goes where the secret must not.
        let announce = announcer(EventType::SubscriptionUpdated, Some(vec!["secret"]));
        let (rotated, event) = self.shared.repo.update_subscription(id.clone(), rotate, announce).await?;
        self.announced(&id, event).await?;
        Ok(rotated)
    }

    /// After an admin change the store committed with its event: refreshes the cache, wakes the
    /// worker for the deliveries the change queued (and, after an enable, the kept ones) and sends the
    /// event to live listeners.
    async fn announced(&self, id: &SubscriptionId, event: EngineEvent) -> OutboundResult<()> {
        self.shared.reload(id).await?;
        self.shared.wake.notify_one();
        if let Some(bus) = self.bus.upgrade() {
            bus.broadcast(event);
        }
        Ok(())
    }

    /// Sends a `test` event to this subscription only, at once, whatever its state, and logs it.
    /// It does not count towards pausing.
    pub async fn send_test(&self, id: SubscriptionId) -> OutboundResult<DeliveryAttempt> {
        let sub = self.get(id.clone()).await?;
        let event = EngineEvent::new(
            EventType::Test.as_str(),
            sub.system_id.as_ref().map(SystemId::as_str),
            catalog::test_data(id.as_str()),
        );
        // Live listeners see it; the sink never queues `test` events (Subscription::wants).
        if let Some(bus) = self.bus.upgrade() {
            bus.publish(event.clone()).await;
        }
        let payload = serde_json::to_string(&event)?;
        let outcome = self.sender.send(&sub, &event.id, &payload).await;
        let attempt = DeliveryAttempt::from_outcome(&event.id, &event.event, 1, &outcome);
        self.shared.repo.log_attempt(id, attempt.clone()).await?;
        Ok(attempt)
    }

    /// The delivery log, newest first.
    pub async fn deliveries(&self, id: SubscriptionId, page: PageRequest) -> OutboundResult<Page<DeliveryAttempt>> {
        if self.shared.repo.get_subscription(id.clone()).await?.is_none() {
            return Err(OutboundError::NotFound);
        }
        Ok(self.shared.repo.attempts(id, page).await?)
    }

    /// Publishes `subscription.paused` for a subscription this run just paused.
    async fn announce_pause(&self, id: &SubscriptionId) {
        let sub = match self.shared.repo.get_subscription(id.clone()).await {
            Ok(Some(sub)) => sub,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "reading a paused subscription failed");
                return;
            }
        };
        tracing::warn!(
            subscription = %sub.id,
            failures = sub.consecutive_failures,
            reason = sub.last_failure_reason.as_deref().unwrap_or(""),
            "outbound subscription paused"
        );
        let data = serde_json::json!({
            "subscription_id": sub.id,
            "name": sub.name,
            "consecutive_failures": sub.consecutive_failures,
            "reason": sub.last_failure_reason,
            "paused_at": sub.paused_at,
        });
        if let Some(bus) = self.bus.upgrade() {
            bus.emit(EventType::SubscriptionPaused.as_str(), None, data).await;
        }
    }
}
