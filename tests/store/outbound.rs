//! Outbound subscriptions, the outbox drain, the delivery queues and the attempt log. A queue is read
//! through the trait only: by claiming its heads with fresh worker runs and completing them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard::domain::ids::SubscriptionId;
use switchboard::domain::ValidationError;
use switchboard::events::{EngineEvent, EventSink};
use switchboard::outbound::delivery::{
    duration_ms, Claim, Completion, DeliveryAttempt, Finished, QueuedDelivery, RetryPolicy,
};
use switchboard::outbound::subscription::{EventFilter, SigningSecret, Subscription, WebhookUrl};
use switchboard::store::outbox::OutboxEntry;
use switchboard::store::repo::{AttemptResult, SubscriptionChange, SubscriptionEvent};
use switchboard::store::StoreError;

use crate::fixtures::{page, ALL};
use crate::{on_both_backends, Backend};

on_both_backends!(
    the_head_is_claimed_once_per_run_and_again_by_the_next_run,
    failures_retry_then_give_up_and_success_moves_to_the_next_event,
    a_410_pauses_and_keeps_the_event_until_enabled,
    enabling_a_delivering_subscription_leaves_its_head_alone,
    deleting_removes_queue_and_log_and_stops_enqueueing,
    an_attempt_completed_after_its_subscription_went_is_gone,
    an_announcement_commits_with_its_change_for_every_stored_record_that_wants_it,
    a_failed_change_writes_no_announcement,
    a_subscription_change_goes_ahead_unannounced_once_the_sink_has_stopped,
    a_head_kept_past_retention_is_dropped_when_claimed,
    old_events_and_log_entries_are_pruned,
    an_event_expires_exactly_at_the_end_of_its_retention,
    a_long_backlog_drains_whole_and_in_order,
    subscriptions_are_listed_in_creation_order_paged_and_filtered_by_q,
    the_log_is_newest_first_and_kept_only_for_subscriptions_that_exist,
    sweeping_orphans_keeps_what_live_subscriptions_own,
);

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

/// Installs a sink for which `targets` want every event; the store holds it only while the test does.
fn announce_to(store: &impl Backend, targets: &[SubscriptionId]) -> Arc<dyn EventSink> {
    let sink: Arc<dyn EventSink> = Arc::new(Wanted(targets.to_vec()));
    store.set_event_sink(&sink);
    sink
}

fn subscription(name: &str, url: &str) -> Subscription {
    Subscription {
        id: SubscriptionId::generate(),
        name: name.into(),
        url: WebhookUrl::parse(url).unwrap(),
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

pub fn any_subscription() -> Subscription {
    subscription("s", "https://example.com/hook")
}

fn about() -> SubscriptionEvent {
    Box::new(|sub| EngineEvent::new("subscription.updated", None, json!({ "subscription_id": sub.id })))
}

fn attempt(status: u16, attempted_at: u64) -> DeliveryAttempt {
    DeliveryAttempt {
        event_id: "evt_x".into(),
        event_type: "system.created".into(),
        attempt: 1,
        attempted_at,
        status_code: Some(status),
        duration_ms: 1,
        response_body: String::new(),
        error: None,
        success: status < 300,
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy { schedule_ms: vec![100, 100], pause_after_failures: 5, retention: RETENTION }
}

fn event(n: u32) -> EngineEvent {
    EngineEvent::new("system.created", None, json!({ "n": n }))
}

async fn insert(store: &impl Backend, sub: &Subscription) -> EngineEvent {
    store.insert_subscription(sub.clone(), about()).await.unwrap()
}

/// Queues `event` for `targets` the way the engine's changes do: through the outbox.
async fn enqueue(store: &impl Backend, event: &EngineEvent, targets: &[SubscriptionId], now_ms: u64) -> usize {
    let entry = OutboxEntry { event: event.clone(), targets: targets.to_vec() };
    store.append_outbox(entry).await.unwrap();
    store.drain_outbox(now_ms).await.unwrap()
}

async fn claim(store: &impl Backend, id: &SubscriptionId, now: u64) -> (Vec<u8>, QueuedDelivery) {
    match store.claim_head(id.clone(), now, RUN, LEASE, RETENTION).await.unwrap() {
        Claim::Claimed { key, delivery, .. } => (key, delivery),
        other => panic!("expected a claim at {now}, got {other:?}"),
    }
}

async fn complete(store: &impl Backend, id: &SubscriptionId, key: Vec<u8>, status: u16, now_ms: u64) -> Completion {
    let finished = Finished { attempt: attempt(status, now_ms / 1000), gone: status == 410, retry_after: None };
    let result = AttemptResult { finished, policy: policy(), now_ms, jitter: 0.0 };
    store.complete_attempt(id.clone(), key, result).await.unwrap()
}

/// Empties a deliverable subscription's queue, head first, by claiming each head with a run of its own
/// (so no lease stands in the way) and delivering it; returns what it held.
async fn take_queue(store: &impl Backend, id: &SubscriptionId) -> Vec<QueuedDelivery> {
    let (far, forever) = (1 << 50, Duration::from_secs(u64::MAX));
    let mut taken = Vec::new();
    for run in 1_000.. {
        match store.claim_head(id.clone(), far, run, LEASE, forever).await.unwrap() {
            Claim::Claimed { key, delivery, .. } => {
                assert_eq!(complete(store, id, key, 200, far).await, Completion::Delivered);
                taken.push(delivery);
            }
            Claim::Idle => return taken,
            other => panic!("a queue being emptied: {other:?}"),
        }
    }
    unreachable!("the loop returns")
}

fn payload_n(delivery: &QueuedDelivery) -> u64 {
    let payload: serde_json::Value = serde_json::from_str(&delivery.payload).unwrap();
    payload["data"]["n"].as_u64().unwrap()
}

async fn the_head_is_claimed_once_per_run_and_again_by_the_next_run(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    for n in 0..2 {
        assert_eq!(enqueue(store, &event(n), std::slice::from_ref(&sub.id), 1_000).await, 1);
    }

    let (key, first) = claim(store, &sub.id, 1_000).await;
    assert_eq!((first.attempts, payload_n(&first)), (1, 0), "the oldest event is the head, its attempt counted");
    let again = store.claim_head(sub.id.clone(), 1_001, RUN, LEASE, RETENTION).await.unwrap();
    assert!(matches!(again, Claim::Leased(until) if until == 1_000 + duration_ms(LEASE)), "{again:?}");
    // A restarted process (another run) may take it over at once: the old one is gone.
    match store.claim_head(sub.id.clone(), 1_001, RUN + 1, LEASE, RETENTION).await.unwrap() {
        Claim::Claimed { key: again, delivery, .. } => {
            assert_eq!(again, key, "the same delivery");
            assert_eq!(delivery.attempts, 2);
        }
        other => panic!("{other:?}"),
    }
    let left: Vec<u64> = take_queue(store, &sub.id).await.iter().map(payload_n).collect();
    assert_eq!(left, [0, 1], "in order, nothing lost");
}

async fn failures_retry_then_give_up_and_success_moves_to_the_next_event(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    for n in 0..2 {
        enqueue(store, &event(n), std::slice::from_ref(&sub.id), 0).await;
    }

    let (key, _) = claim(store, &sub.id, 0).await;
    assert_eq!(complete(store, &sub.id, key, 500, 0).await, Completion::Retrying(100));
    let early = store.claim_head(sub.id.clone(), 50, RUN, LEASE, RETENTION).await.unwrap();
    assert!(matches!(early, Claim::NotDue(100)), "{early:?}");
    let (key, _) = claim(store, &sub.id, 100).await;
    assert_eq!(complete(store, &sub.id, key, 500, 100).await, Completion::Retrying(200));
    let (key, _) = claim(store, &sub.id, 200).await;
    assert_eq!(complete(store, &sub.id, key, 500, 200).await, Completion::GaveUp);
    assert_eq!(store.queue_len().await.unwrap(), 1, "the event given up left the queue");
    let (key, next) = claim(store, &sub.id, 200).await;
    assert_eq!((payload_n(&next), next.attempts), (1, 1), "the next event, fresh");
    assert_eq!(complete(store, &sub.id, key, 200, 200).await, Completion::Delivered);

    assert_eq!(store.queue_len().await.unwrap(), 0);
    let stored = store.get_subscription(sub.id.clone()).await.unwrap().unwrap();
    assert_eq!(stored.consecutive_failures, 0);
    assert!(stored.last_failure_reason.unwrap().contains("500"));
    let log = store.attempts(sub.id.clone(), ALL).await.unwrap();
    assert_eq!(log.total, 4);
    assert!(log.items[0].success, "newest first");
}

async fn a_410_pauses_and_keeps_the_event_until_enabled(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    enqueue(store, &event(0), std::slice::from_ref(&sub.id), 0).await;

    let (key, _) = claim(store, &sub.id, 0).await;
    assert_eq!(complete(store, &sub.id, key, 410, 5_000).await, Completion::Held { newly_paused: true });
    assert_eq!(store.get_subscription(sub.id.clone()).await.unwrap().unwrap().paused_at, Some(5));
    let held = store.claim_head(sub.id.clone(), 6_000, RUN, LEASE, RETENTION).await.unwrap();
    assert!(matches!(held, Claim::Idle), "{held:?}");
    assert_eq!(store.queue_len().await.unwrap(), 1, "kept");

    let (enabled, _) = store.enable_subscription(sub.id.clone(), 7, about()).await.unwrap();
    assert_eq!((enabled.paused_at, enabled.consecutive_failures, enabled.updated_at), (None, 0, 7));
    let (_, d) = claim(store, &sub.id, 6_000).await;
    assert_eq!((d.attempts, d.round_start), (2, 1), "a fresh round of retries");
}

async fn enabling_a_delivering_subscription_leaves_its_head_alone(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    enqueue(store, &event(0), std::slice::from_ref(&sub.id), 0).await;
    let (key, _) = claim(store, &sub.id, 0).await;
    assert_eq!(complete(store, &sub.id, key, 500, 0).await, Completion::Retrying(100));

    store.enable_subscription(sub.id.clone(), 1, about()).await.unwrap();

    let still = store.claim_head(sub.id.clone(), 50, RUN, LEASE, RETENTION).await.unwrap();
    assert!(matches!(still, Claim::NotDue(100)), "its retry time stands: {still:?}");
}

async fn deleting_removes_queue_and_log_and_stops_enqueueing(store: &impl Backend) {
    let (sub, other) = (any_subscription(), any_subscription());
    insert(store, &sub).await;
    insert(store, &other).await;
    let event = event(0);
    assert_eq!(enqueue(store, &event, &[sub.id.clone(), other.id.clone()], 0).await, 2);
    store.log_attempt(sub.id.clone(), attempt(200, 1)).await.unwrap();

    store.delete_subscription(sub.id.clone(), about()).await.unwrap();

    assert_eq!(store.queue_len().await.unwrap(), 1, "its delivery went, the other's stays");
    assert_eq!(store.attempts(sub.id.clone(), ALL).await.unwrap().total, 0);
    assert_eq!(store.get_subscription(sub.id.clone()).await.unwrap().map(|s| s.id), None);
    assert_eq!(enqueue(store, &event, std::slice::from_ref(&sub.id), 0).await, 0);
    assert!(matches!(store.claim_head(sub.id.clone(), 0, RUN, LEASE, RETENTION).await.unwrap(), Claim::Idle));
    assert_eq!(take_queue(store, &other.id).await.len(), 1, "others keep theirs");
    let again = store.delete_subscription(sub.id.clone(), about()).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
}

async fn an_attempt_completed_after_its_subscription_went_is_gone(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    enqueue(store, &event(0), std::slice::from_ref(&sub.id), 0).await;
    let (key, _) = claim(store, &sub.id, 0).await;

    store.delete_subscription(sub.id.clone(), about()).await.unwrap();

    assert_eq!(complete(store, &sub.id, key, 200, 0).await, Completion::Gone);
    assert_eq!(store.attempts(sub.id.clone(), ALL).await.unwrap().total, 0, "no log for a deleted one");
    assert_eq!(store.queue_len().await.unwrap(), 0);
}

async fn an_announcement_commits_with_its_change_for_every_stored_record_that_wants_it(store: &impl Backend) {
    let (watcher, sub) = (any_subscription(), any_subscription());
    let _sink = announce_to(store, &[watcher.id.clone(), sub.id.clone()]);

    let own = insert(store, &watcher).await;
    assert_eq!(store.drain_outbox(0).await.unwrap(), 1, "the watcher sees its own creation");
    let created = insert(store, &sub).await;
    assert_eq!(store.drain_outbox(0).await.unwrap(), 2, "a new record sees its own event");
    let disable: SubscriptionChange = Box::new(|s| Ok(Subscription { enabled: false, ..s }));
    let (disabled, updated) = store.update_subscription(sub.id.clone(), disable, about()).await.unwrap();
    assert!(!disabled.enabled);
    assert_eq!(store.drain_outbox(0).await.unwrap(), 1, "a disabled record does not");
    let deleted = store.delete_subscription(sub.id.clone(), about()).await.unwrap();
    assert_eq!(store.drain_outbox(0).await.unwrap(), 1, "nor a deleted one");

    assert_eq!(store.queue_len().await.unwrap(), 4, "the deleted one's delivery went with it");
    let queued: Vec<String> = take_queue(store, &watcher.id).await.into_iter().map(|d| d.event_id).collect();
    assert_eq!(queued, [own.id, created.id, updated.id, deleted.id], "in order");
}

async fn a_failed_change_writes_no_announcement(store: &impl Backend) {
    let watcher = any_subscription();
    let _sink = announce_to(store, std::slice::from_ref(&watcher.id));
    insert(store, &watcher).await;
    store.drain_outbox(0).await.unwrap();
    let missing = SubscriptionId::generate();

    let refuse: SubscriptionChange = Box::new(|_| Err(ValidationError::new("name", "refused")));
    let refused = store.update_subscription(watcher.id.clone(), refuse, about()).await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
    for (case, result) in [
        ("update", store.update_subscription(missing.clone(), Box::new(Ok), about()).await.map(|_| ())),
        ("enable", store.enable_subscription(missing.clone(), 0, about()).await.map(|_| ())),
        ("delete", store.delete_subscription(missing.clone(), about()).await.map(|_| ())),
    ] {
        assert!(matches!(result, Err(StoreError::NotFound(_))), "[{case}] {result:?}");
    }

    assert_eq!(store.drain_outbox(0).await.unwrap(), 0, "the outbox holds nothing");
    assert_eq!(store.queue_len().await.unwrap(), 1, "only the watcher's own creation");
    assert_eq!(store.get_subscription(watcher.id.clone()).await.unwrap().unwrap().name, "s", "unchanged");
}

async fn a_head_kept_past_retention_is_dropped_when_claimed(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    enqueue(store, &event(0), std::slice::from_ref(&sub.id), 0).await;
    let later = duration_ms(RETENTION);
    enqueue(store, &event(1), std::slice::from_ref(&sub.id), later).await;

    let (_, head) = claim(store, &sub.id, later).await;

    assert_eq!(payload_n(&head), 1, "the expired head was dropped on the way");
    assert_eq!(store.queue_len().await.unwrap(), 1);
}

async fn old_events_and_log_entries_are_pruned(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    enqueue(store, &event(0), std::slice::from_ref(&sub.id), 0).await;
    store.log_attempt(sub.id.clone(), attempt(200, 0)).await.unwrap();
    let later = duration_ms(RETENTION) + 2_000;
    enqueue(store, &event(1), std::slice::from_ref(&sub.id), later).await;
    store.log_attempt(sub.id.clone(), attempt(200, later / 1000)).await.unwrap();

    assert_eq!(store.prune_outbound(later, RETENTION).await.unwrap(), (1, 1));

    assert_eq!(store.attempts(sub.id.clone(), ALL).await.unwrap().total, 1, "the recent entry stays");
    let left: Vec<u64> = take_queue(store, &sub.id).await.iter().map(payload_n).collect();
    assert_eq!(left, [1], "the recent event stays");
}

async fn subscriptions_are_listed_in_creation_order_paged_and_filtered_by_q(store: &impl Backend) {
    let subs = [
        subscription("Lobby Display", "https://a.example.com/hook"),
        subscription("boardroom", "https://LOBBY.example.net/in"),
        subscription("kitchen", "https://c.example.org/x"),
    ];
    for sub in &subs {
        insert(store, sub).await;
    }
    let ids = |items: Vec<Subscription>| items.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let pick = |which: &[usize]| which.iter().map(|&i| subs[i].id.clone()).collect::<Vec<_>>();

    assert_eq!(ids(store.all_subscriptions().await.unwrap()), pick(&[0, 1, 2]));
    for (case, q, offset, limit, total, expected) in [
        ("all", None, 0, 10, 3, pick(&[0, 1, 2])),
        ("a page", None, 1, 1, 3, pick(&[1])),
        ("past the end", None, 5, 1, 3, vec![]),
        ("in a name or a URL, any case", Some("lobby"), 0, 10, 2, pick(&[0, 1])),
        ("upper-case q", Some("KITCHEN"), 0, 10, 1, pick(&[2])),
        ("in a URL only", Some(".org"), 0, 10, 1, pick(&[2])),
        ("nowhere", Some("garage"), 0, 10, 0, vec![]),
    ] {
        let found = store.list_subscriptions(q.map(str::to_owned), page(offset, limit)).await.unwrap();
        assert_eq!((found.total, ids(found.items)), (total, expected), "[{case}]");
    }
    let rename: SubscriptionChange = Box::new(|s| Ok(Subscription { name: "Garage".into(), ..s }));
    store.update_subscription(subs[2].id.clone(), rename, about()).await.unwrap();
    assert_eq!(ids(store.list_subscriptions(Some("garage".into()), ALL).await.unwrap().items), pick(&[2]));
    assert_eq!(store.get_subscription(SubscriptionId::generate()).await.unwrap().map(|s| s.id), None);
}

async fn the_log_is_newest_first_and_kept_only_for_subscriptions_that_exist(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    for at in 1..=3 {
        store.log_attempt(sub.id.clone(), attempt(200, at)).await.unwrap();
    }
    let missing = SubscriptionId::generate();
    store.log_attempt(missing.clone(), attempt(200, 9)).await.unwrap();

    let times = |items: Vec<DeliveryAttempt>| items.into_iter().map(|a| a.attempted_at).collect::<Vec<_>>();
    let second = store.attempts(sub.id.clone(), page(1, 1)).await.unwrap();
    assert_eq!((second.total, times(second.items)), (3, vec![2]));
    assert_eq!(times(store.attempts(sub.id.clone(), ALL).await.unwrap().items), [3, 2, 1]);
    assert_eq!(store.attempts(missing, ALL).await.unwrap().total, 0, "no log for a missing subscription");
}

async fn sweeping_orphans_keeps_what_live_subscriptions_own(store: &impl Backend) {
    let (sub, gone) = (any_subscription(), any_subscription());
    insert(store, &sub).await;
    insert(store, &gone).await;
    enqueue(store, &event(0), &[sub.id.clone(), gone.id.clone()], 0).await;
    store.log_attempt(sub.id.clone(), attempt(200, 1)).await.unwrap();
    store.delete_subscription(gone.id.clone(), about()).await.unwrap();

    assert_eq!(store.sweep_outbound_orphans().await.unwrap(), 0, "a delete leaves no orphans");

    assert_eq!(store.attempts(sub.id.clone(), ALL).await.unwrap().total, 1);
    assert_eq!(take_queue(store, &sub.id).await.len(), 1);
}

async fn an_event_expires_exactly_at_the_end_of_its_retention(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    let (queued_at, retention) = (5_000, duration_ms(RETENTION));
    enqueue(store, &event(0), std::slice::from_ref(&sub.id), queued_at).await;

    for (case, now, dropped) in [
        ("within the first period of the clock", retention - 1, 0),
        ("a moment before its end", queued_at + retention - 1, 0),
        ("at its end", queued_at + retention, 1),
    ] {
        assert_eq!(store.prune_outbound(now, RETENTION).await.unwrap(), (dropped, 0), "[{case}]");
    }
    assert_eq!(store.queue_len().await.unwrap(), 0);
}

async fn a_long_backlog_drains_whole_and_in_order(store: &impl Backend) {
    let sub = any_subscription();
    insert(store, &sub).await;
    // More than a PostgreSQL drain takes in one transaction.
    let n = 300;
    for i in 0..n {
        let entry = OutboxEntry { event: event(i), targets: vec![sub.id.clone()] };
        store.append_outbox(entry).await.unwrap();
    }

    assert_eq!(store.drain_outbox(0).await.unwrap(), 300);

    let order: Vec<u64> = take_queue(store, &sub.id).await.iter().map(payload_n).collect();
    assert_eq!(order, (0..u64::from(n)).collect::<Vec<_>>());
}

async fn a_subscription_change_goes_ahead_unannounced_once_the_sink_has_stopped(store: &impl Backend) {
    let watcher = any_subscription();
    insert(store, &watcher).await;
    let sink = announce_to(store, std::slice::from_ref(&watcher.id));
    drop(sink);
    let sub = any_subscription();

    insert(store, &sub).await;
    let rename: SubscriptionChange = Box::new(|s| Ok(Subscription { name: "renamed".into(), ..s }));
    store.update_subscription(sub.id.clone(), rename, about()).await.unwrap();

    assert_eq!(store.get_subscription(sub.id.clone()).await.unwrap().unwrap().name, "renamed");
    assert_eq!(store.drain_outbox(0).await.unwrap(), 0, "nothing announced");
    assert_eq!(store.queue_len().await.unwrap(), 0);
}
