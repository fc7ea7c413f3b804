//! The outbound repository on sled, through the trait the worker and handlers use.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::outbound::{entry_key, key_owner};
use super::Store;
use crate::domain::ids::SubscriptionId;
use crate::events::{EngineEvent, EventSink};
use crate::outbound::delivery::{
    duration_ms, Claim, Completion, DeliveryAttempt, Finished, QueuedDelivery, RetryPolicy,
};
use crate::outbound::subscription::{EventFilter, SigningSecret, Subscription, WebhookUrl};
use crate::store::outbox::OutboxEntry;
use crate::store::repo::{AttemptResult, OutboundRepo, SubscriptionEvent};
use crate::store::{PageRequest, StoreError};

const RUN: u64 = 7;
const LEASE: Duration = Duration::from_secs(10);
const RETENTION: Duration = Duration::from_secs(3600);

/// A sink for which the listed subscriptions want every event.
struct Wanted(Vec<SubscriptionId>);

#[async_trait::async_trait]
impl EventSink for Wanted {
    fn wants(&self, _: &str, _: Option<&str>) -> bool {
        true
    }

    fn targets(&self, _: &EngineEvent) -> Vec<SubscriptionId> {
        self.0.clone()
    }

    async fn record(&self, _: &EngineEvent) {}

    fn staged(&self) {}
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Store,
    _sink: Option<Arc<dyn EventSink>>,
}

impl Rig {
    fn new() -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::open(dir.path()).unwrap();
        Self { _dir: dir, store, _sink: None }
    }

    /// With a sink for which `targets` want every event.
    fn announcing_to(targets: &[SubscriptionId]) -> Self {
        let mut rig = Self::new();
        let sink: Arc<dyn EventSink> = Arc::new(Wanted(targets.to_vec()));
        rig.store.set_event_sink(&sink);
        rig._sink = Some(sink);
        rig
    }

    /// Queues `event` for `targets` the way the engine's changes do: through the outbox.
    async fn enqueue(&self, event: &EngineEvent, targets: &[SubscriptionId], now_ms: u64) -> usize {
        let entry = OutboxEntry { event: event.clone(), targets: targets.to_vec() };
        self.store.append_outbox(entry).await.unwrap();
        self.store.drain_outbox(now_ms).await.unwrap()
    }

    fn pending(&self, id: &SubscriptionId) -> Vec<QueuedDelivery> {
        self.store.blocking().queued(id)
    }

    async fn insert(&self, sub: &Subscription) -> EngineEvent {
        self.store.insert_subscription(sub.clone(), about()).await.unwrap()
    }

    async fn claim(&self, id: &SubscriptionId, now: u64) -> (Vec<u8>, QueuedDelivery) {
        match self.store.claim_head(id.clone(), now, RUN, LEASE, RETENTION).await.unwrap() {
            Claim::Claimed { key, delivery, .. } => (key, delivery),
            other => panic!("expected a claim at {now}, got {other:?}"),
        }
    }

    async fn complete(&self, id: &SubscriptionId, key: Vec<u8>, status: u16, now_ms: u64) -> Completion {
        let result = AttemptResult { finished: finished(status), policy: policy(), now_ms, jitter: 0.0 };
        self.store.complete_attempt(id.clone(), key, result).await.unwrap()
    }
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

fn about() -> SubscriptionEvent {
    Box::new(|sub| EngineEvent::new("subscription.updated", None, json!({ "subscription_id": sub.id })))
}

fn attempt(status: u16) -> DeliveryAttempt {
    DeliveryAttempt {
        event_id: "evt_x".into(),
        event_type: "system.created".into(),
        attempt: 1,
        attempted_at: 1,
        status_code: Some(status),
        duration_ms: 1,
        response_body: String::new(),
        error: None,
        success: status < 300,
    }
}

fn finished(status: u16) -> Finished {
    Finished { attempt: attempt(status), gone: status == 410, retry_after: None }
}

fn policy() -> RetryPolicy {
    RetryPolicy { schedule_ms: vec![100, 100], pause_after_failures: 5, retention: RETENTION }
}

fn event() -> EngineEvent {
    EngineEvent::new("system.created", None, json!({}))
}

#[test]
fn keys_sort_by_sequence_within_a_subscription() {
    let id = SubscriptionId::generate();
    assert!(entry_key(&id, 255) < entry_key(&id, 256), "big-endian, so byte order is numeric order");
    assert_eq!(key_owner(&entry_key(&id, 9)), id.as_str().as_bytes());
}

#[tokio::test]
async fn the_head_is_claimed_once_per_run_and_again_by_the_next_run() {
    let rig = Rig::new();
    let sub = subscription();
    rig.insert(&sub).await;
    for n in 0..2 {
        let event = EngineEvent::new("system.created", None, json!({ "n": n }));
        assert_eq!(rig.enqueue(&event, std::slice::from_ref(&sub.id), 1_000).await, 1);
    }
    let (key, first) = rig.claim(&sub.id, 1_000).await;
    assert_eq!(first.attempts, 1);
    assert!(first.payload.contains("\"n\":0"), "the oldest event is the head");
    let again = rig.store.claim_head(sub.id.clone(), 1_001, RUN, LEASE, RETENTION).await.unwrap();
    assert!(matches!(again, Claim::Leased(_)), "{again:?}");
    // A restarted process (another run) may take it over at once: the old one is gone.
    match rig.store.claim_head(sub.id.clone(), 1_001, RUN + 1, LEASE, RETENTION).await.unwrap() {
        Claim::Claimed { key: again, delivery, .. } => {
            assert_eq!(again, key);
            assert_eq!(delivery.attempts, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn failures_retry_then_give_up_and_success_moves_to_the_next_event() {
    let rig = Rig::new();
    let sub = subscription();
    rig.insert(&sub).await;
    for _ in 0..2 {
        rig.enqueue(&event(), std::slice::from_ref(&sub.id), 0).await;
    }
    let (key, _) = rig.claim(&sub.id, 0).await;
    assert_eq!(rig.complete(&sub.id, key, 500, 0).await, Completion::Retrying(100));
    let early = rig.store.claim_head(sub.id.clone(), 50, RUN, LEASE, RETENTION).await.unwrap();
    assert!(matches!(early, Claim::NotDue(100)), "{early:?}");
    let (key, _) = rig.claim(&sub.id, 100).await;
    assert_eq!(rig.complete(&sub.id, key, 500, 100).await, Completion::Retrying(200));
    let (key, _) = rig.claim(&sub.id, 200).await;
    assert_eq!(rig.complete(&sub.id, key, 500, 200).await, Completion::GaveUp);
    assert_eq!(rig.pending(&sub.id).len(), 1);
    let (key, _) = rig.claim(&sub.id, 200).await;
    assert_eq!(rig.complete(&sub.id, key, 200, 200).await, Completion::Delivered);
    assert!(rig.pending(&sub.id).is_empty());
    let stored = rig.store.get_subscription(sub.id.clone()).await.unwrap().unwrap();
    assert_eq!(stored.consecutive_failures, 0);
    assert!(stored.last_failure_reason.unwrap().contains("500"));
    let log = rig.store.attempts(sub.id.clone(), PageRequest { offset: 0, limit: 10 }).await.unwrap();
    assert_eq!(log.total, 4);
    assert!(log.items[0].success, "newest first");
}

#[tokio::test]
async fn a_410_pauses_and_keeps_the_event_until_enabled() {
    let rig = Rig::new();
    let sub = subscription();
    rig.insert(&sub).await;
    rig.enqueue(&event(), std::slice::from_ref(&sub.id), 0).await;
    let (key, _) = rig.claim(&sub.id, 0).await;
    assert_eq!(rig.complete(&sub.id, key, 410, 5_000).await, Completion::Held { newly_paused: true });
    assert_eq!(rig.store.get_subscription(sub.id.clone()).await.unwrap().unwrap().paused_at, Some(5));
    let held = rig.store.claim_head(sub.id.clone(), 6_000, RUN, LEASE, RETENTION).await.unwrap();
    assert!(matches!(held, Claim::Idle), "{held:?}");
    let (enabled, _) = rig.store.enable_subscription(sub.id.clone(), 7, about()).await.unwrap();
    assert_eq!((enabled.paused_at, enabled.consecutive_failures), (None, 0));
    let (_, d) = rig.claim(&sub.id, 6_000).await;
    assert_eq!((d.attempts, d.round_start), (2, 1), "a fresh round of retries");
}

#[tokio::test]
async fn deleting_removes_queue_and_log_and_stops_enqueueing() {
    let rig = Rig::new();
    let (sub, other) = (subscription(), subscription());
    rig.insert(&sub).await;
    rig.insert(&other).await;
    let event = event();
    rig.enqueue(&event, &[sub.id.clone(), other.id.clone()], 0).await;
    rig.store.log_attempt(sub.id.clone(), attempt(200)).await.unwrap();
    rig.store.delete_subscription(sub.id.clone(), about()).await.unwrap();
    assert!(rig.pending(&sub.id).is_empty());
    assert_eq!(rig.store.attempts(sub.id.clone(), PageRequest { offset: 0, limit: 10 }).await.unwrap().total, 0);
    assert_eq!(rig.enqueue(&event, std::slice::from_ref(&sub.id), 0).await, 0);
    assert_eq!(rig.pending(&other.id).len(), 1, "others keep theirs");
    let again = rig.store.delete_subscription(sub.id.clone(), about()).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
}

#[tokio::test]
async fn an_announcement_commits_with_its_change_for_every_stored_record_that_wants_it() {
    let (watcher, sub) = (subscription(), subscription());
    let rig = Rig::announcing_to(&[watcher.id.clone(), sub.id.clone()]);
    rig.insert(&watcher).await;
    rig.store.drain_outbox(0).await.unwrap();
    let created = rig.insert(&sub).await;
    rig.store.drain_outbox(0).await.unwrap();
    assert_eq!((rig.pending(&watcher.id).len(), rig.pending(&sub.id).len()), (2, 1), "a new record sees its own event");
    let disable: crate::store::repo::SubscriptionChange = Box::new(|s| Ok(Subscription { enabled: false, ..s }));
    let (_, updated) = rig.store.update_subscription(sub.id.clone(), disable, about()).await.unwrap();
    rig.store.drain_outbox(0).await.unwrap();
    assert_eq!(rig.pending(&sub.id).len(), 1, "a disabled record does not");
    let deleted = rig.store.delete_subscription(sub.id.clone(), about()).await.unwrap();
    rig.store.drain_outbox(0).await.unwrap();
    assert!(rig.pending(&sub.id).is_empty(), "nor a deleted one");
    let queued: Vec<String> = rig.pending(&watcher.id).into_iter().map(|d| d.event_id).collect();
    assert_eq!(queued[1..], [created.id, updated.id, deleted.id], "in order");
}

#[tokio::test]
async fn a_failed_change_writes_no_announcement() {
    let watcher = subscription();
    let rig = Rig::announcing_to(std::slice::from_ref(&watcher.id));
    rig.insert(&watcher).await;
    rig.store.drain_outbox(0).await.unwrap();
    let before = rig.pending(&watcher.id).len();
    let refuse: crate::store::repo::SubscriptionChange =
        Box::new(|_| Err(crate::domain::ValidationError::new("name", "refused")));
    let refused = rig.store.update_subscription(watcher.id.clone(), refuse, about()).await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
    let missing = SubscriptionId::generate();
    assert!(matches!(rig.store.delete_subscription(missing.clone(), about()).await, Err(StoreError::NotFound(_))));
    assert!(matches!(rig.store.enable_subscription(missing, 0, about()).await, Err(StoreError::NotFound(_))));
    assert_eq!(rig.store.drain_outbox(0).await.unwrap(), 0, "the outbox holds nothing");
    assert_eq!(rig.pending(&watcher.id).len(), before);
}

#[tokio::test]
async fn old_events_and_log_entries_are_pruned() {
    let rig = Rig::new();
    let sub = subscription();
    rig.insert(&sub).await;
    rig.enqueue(&event(), std::slice::from_ref(&sub.id), 0).await;
    rig.store.log_attempt(sub.id.clone(), attempt(200)).await.unwrap();
    let later = duration_ms(RETENTION) + 2_000;
    assert_eq!(rig.store.prune_outbound(later, RETENTION).await.unwrap(), (1, 1));
    assert!(rig.pending(&sub.id).is_empty());
}
