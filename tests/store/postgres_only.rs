//! What only PostgreSQL has: the outbox table, database constraints, schema versions, timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::config::StoreConfig;
use switchboard::domain::ids::SubscriptionId;
use switchboard::domain::system::System;
use switchboard::domain::{ModuleId, SystemId};
use switchboard::events::{EngineEvent, EventSink};
use switchboard::store::repo::{ApiKeyRepo, ModuleRepo, SystemRepo, TriggerRepo};
use switchboard::store::{PgStore, StoreError};
use tokio_postgres::NoTls;

use crate::fixtures;

/// Wants `system.created` events only.
struct WantsCreations;

#[async_trait::async_trait]
impl EventSink for WantsCreations {
    fn wants(&self, event_type: &str, _system_id: Option<&str>) -> bool {
        event_type == "system.created"
    }
    fn targets(&self, _event: &EngineEvent) -> Vec<SubscriptionId> {
        vec![SubscriptionId::generate()]
    }
    async fn record(&self, _event: &EngineEvent) {}
    fn staged(&self) {}
}

/// A store on a fresh database, and a plain connection to the same database.
async fn store_and_client(config: StoreConfig) -> (PgStore, tokio_postgres::Client) {
    let store = PgStore::connect(&config).await.expect("PostgreSQL connects");
    (store, connect(&config).await)
}

async fn connect(config: &StoreConfig) -> tokio_postgres::Client {
    let url = String::from(config.postgres_url.clone().expect("a URL"));
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("a plain connection");
    tokio::spawn(connection);
    client
}

async fn outbox(client: &tokio_postgres::Client) -> Vec<EngineEvent> {
    let rows = client.query("SELECT event FROM outbox ORDER BY seq", &[]).await.expect("the outbox reads");
    rows.iter().map(|r| serde_json::from_value(r.get(0)).expect("an event")).collect()
}

#[tokio::test]
async fn events_the_sink_wants_land_in_the_outbox_with_their_write_and_only_then() {
    let (store, client) = store_and_client(crate::postgres_config().await).await;
    let sink: Arc<dyn EventSink> = Arc::new(WantsCreations);
    store.set_event_sink(&sink);
    let system = fixtures::system("s", "");
    let created = fixtures::event("system.created", Some(&system.id));
    let unwanted = fixtures::event("system.viewed", Some(&system.id));

    store.insert_system(system.clone(), vec![unwanted.clone(), created.clone()]).await.unwrap();
    assert_eq!(outbox(&client).await, vec![created.clone()], "only the wanted event, as it was");

    // Writes that fail leave nothing behind.
    let mut bad = fixtures::system("bad", "");
    bad.modules = vec![ModuleId::generate()];
    let second = fixtures::event("system.created", Some(&bad.id));
    assert!(store.insert_system(bad, vec![second.clone()]).await.is_err());
    let refused = store
        .update_system(
            system.id.clone(),
            Box::new(|mut s: System| {
                s.modules = vec![ModuleId::generate()];
                Ok(s)
            }),
            Box::new(|s: &System| vec![fixtures::event("system.created", Some(&s.id))]),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
    let missing = store.delete_system(SystemId::generate(), vec![second.clone()]).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    let missing = store.delete_api_key(switchboard::domain::ApiKeyId::generate(), vec![second]).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    assert_eq!(outbox(&client).await, vec![created], "failed writes queued nothing");
}

#[tokio::test]
async fn a_write_with_events_is_refused_once_the_sink_has_stopped() {
    let (store, client) = store_and_client(crate::postgres_config().await).await;
    let sink: Arc<dyn EventSink> = Arc::new(WantsCreations);
    store.set_event_sink(&sink);
    drop(sink);
    let system = fixtures::system("s", "");

    let refused = store.insert_system(system.clone(), vec![fixtures::event("system.created", None)]).await;

    assert!(matches!(refused, Err(StoreError::Task(_))), "{refused:?}");
    assert!(matches!(store.get_system(system.id).await, Err(StoreError::NotFound(_))), "not stored without its events");
    assert_eq!(outbox(&client).await, vec![]);
    // Writes without events do not need the sink.
    store.insert_system(fixtures::system("quiet", ""), vec![]).await.unwrap();
}

#[tokio::test]
async fn the_database_refuses_what_the_rules_forbid() {
    let (store, client) = store_and_client(crate::postgres_config().await).await;
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let module = store.insert_module(fixtures::module("Display", None, Some(&system)), vec![]).await.unwrap().id;
    let trigger = store.insert_trigger(fixtures::trigger("t", ""), vec![]).await.unwrap().id;
    let (sys, module, trig) = (system.as_str(), module.as_str(), trigger.as_str());
    let missing = SystemId::generate();

    for (case, sql, state) in [
        ("a second record with the same id", format!("INSERT INTO systems VALUES ('{sys}', '', '', '{{}}')"), "23505"),
        (
            "a module in a missing system",
            format!("UPDATE modules SET system_id = '{missing}' WHERE id = '{module}'"),
            "23503",
        ),
        ("a system that still holds a module", format!("DELETE FROM systems WHERE id = '{sys}'"), "23503"),
        (
            "an instance of a missing trigger",
            format!("INSERT INTO instances VALUES ('trig-x', '{sys}', 'trigger-missing', '{{}}')"),
            "23503",
        ),
        (
            "an instance in a missing system",
            format!("INSERT INTO instances VALUES ('trig-x', '{missing}', '{trig}', '{{}}')"),
            "23503",
        ),
        (
            "a callout scoped to a missing system",
            format!("INSERT INTO callouts VALUES ('c', '{missing}', '{{}}')"),
            "23503",
        ),
        ("a log entry of a missing callout", "INSERT INTO callout_log VALUES ('c', 'e', 1, '{}')".into(), "23503"),
        (
            "a run of a missing instance",
            "INSERT INTO runs VALUES ('trig-missing', 1, 'run-x', 'pending', false, '{}')".into(),
            "23503",
        ),
        (
            "a receipt of a missing instance",
            "INSERT INTO receipts VALUES ('rcpt-x', 'trig-missing', 1, 202, true, '{}')".into(),
            "23503",
        ),
        (
            "a delivery id of a missing instance",
            "INSERT INTO webhook_deliveries VALUES ('trig-missing', 'd', 1, '{}')".into(),
            "23503",
        ),
        (
            "a delivery for a missing subscription",
            "INSERT INTO outbound_queue (subscription_id, queued_at_ms, doc) VALUES ('wh-missing', 1, '{}')".into(),
            "23503",
        ),
        (
            "a log entry of a missing subscription",
            "INSERT INTO outbound_log (subscription_id, attempted_at, doc) VALUES ('wh-missing', 1, '{}')".into(),
            "23503",
        ),
    ] {
        let refused = client.batch_execute(&sql).await.expect_err(case);
        assert_eq!(refused.code().map(|c| c.code()), Some(state), "[{case}] {refused}");
    }
}

#[tokio::test]
async fn a_database_with_a_newer_schema_is_refused() {
    let config = crate::postgres_config().await;
    PgStore::connect(&config).await.expect("the first start migrates");
    PgStore::connect(&config).await.expect("a second start finds nothing to do");
    let client = connect(&config).await;
    client
        .batch_execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum) \
             VALUES (99, 'from_the_future', '2030-01-01T00:00:00Z', '1')",
        )
        .await
        .unwrap();

    let refused = PgStore::connect(&config).await.err().expect("a newer schema is refused");

    assert!(matches!(refused, StoreError::UnsupportedFormat { supported: 1, .. }), "{refused:?}");
    assert!(refused.to_string().contains("99"), "the message names the newer version: {refused}");
}

#[tokio::test]
async fn a_call_that_waits_past_the_timeout_fails_as_unavailable() {
    // Long enough for a busy test server to answer, short enough to wait out.
    let config = StoreConfig { postgres_timeout_ms: 1000, ..crate::postgres_config().await };
    let (store, mut client) = store_and_client(config).await;
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    // Another session holds the table: every read of it waits.
    let blocker = client.transaction().await.unwrap();
    blocker.batch_execute("LOCK TABLE systems IN ACCESS EXCLUSIVE MODE").await.unwrap();

    let started = Instant::now();
    let result = store.get_system(system.clone()).await;

    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "bounded, took {:?}", started.elapsed());
    blocker.rollback().await.unwrap();
    assert_eq!(store.get_system(system.clone()).await.unwrap().id, system, "answers again once the lock is gone");
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_unavailable() {
    // Port 1 on loopback: nothing listens there.
    let url = switchboard::config::PostgresUrl::parse("postgres://sb:secret-pw@127.0.0.1:1/sb").unwrap();
    let config = StoreConfig { postgres_url: Some(url), postgres_timeout_ms: 500, ..StoreConfig::default() };

    let refused = PgStore::connect(&config).await.err().expect("nothing to connect to");

    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
    assert!(!refused.to_string().contains("secret-pw"), "the password is not shown: {refused}");
}

#[tokio::test]
async fn module_order_survives_in_the_stored_record() {
    let (store, client) = store_and_client(crate::postgres_config().await).await;
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(store.insert_module(fixtures::module("Display", None, Some(&system)), vec![]).await.unwrap().id);
    }
    let reorder = vec![ids[2].clone(), ids[0].clone(), ids[1].clone()];
    let change = {
        let reorder = reorder.clone();
        Box::new(move |mut s: System| {
            s.modules = reorder;
            Ok(s)
        })
    };
    store.update_system(system.clone(), change, Box::new(|_| vec![])).await.unwrap();

    let row = client.query_one("SELECT doc FROM systems WHERE id = $1", &[&system.as_str()]).await.unwrap();
    let stored: System = serde_json::from_value(row.get(0)).unwrap();
    assert_eq!(stored.modules, reorder, "the doc keeps the order, as sled's record does");
    let owners = client.query("SELECT count(*) FROM modules WHERE system_id = $1", &[&system.as_str()]).await.unwrap();
    assert_eq!(owners[0].get::<_, i64>(0), 3);
}

#[tokio::test]
async fn clearing_pulses_clears_what_a_pulse_held_and_keeps_comparisons() {
    use switchboard::domain::instance::InstanceState;
    use switchboard::store::repo::{InstanceRepo, TriggerRepo as _};

    let (store, client) = store_and_client(crate::postgres_config().await).await;
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let trigger = store.insert_trigger(fixtures::trigger("t", ""), vec![]).await.unwrap().id;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let build = fixtures::build_instance(&system);
        ids.push(store.insert_instance(system.clone(), trigger.clone(), build, vec![]).await.unwrap().0.id);
    }
    // States only the fire path writes, set here directly.
    let states = [
        serde_json::json!({"triggered": true, "trigger_count": 1, "last_fired_at": 5,
                           "conditions": {"webhook": true, "comparison_0": true}, "version": 4}),
        serde_json::json!({"triggered": true, "trigger_count": 2, "last_fired_at": 6, "conditions": {}, "version": 2}),
        serde_json::json!({"triggered": true, "trigger_count": 3, "last_fired_at": 7,
                           "conditions": {"comparison_0": true}, "version": 9}),
    ];
    for (id, state) in ids.iter().zip(&states) {
        let sql = "UPDATE instance_state SET doc = $2 WHERE instance_id = $1";
        client.execute(sql, &[&id.as_str(), state]).await.unwrap();
    }

    assert_eq!(store.clear_pulses().await.unwrap(), 2);

    let state = |i: usize| store.find_state(ids[i].clone());
    let first: InstanceState = state(0).await.unwrap().unwrap();
    assert_eq!((first.triggered, first.version), (false, 5));
    assert_eq!(first.conditions.get("webhook"), Some(&false));
    assert_eq!(first.conditions.get("comparison_0"), Some(&true), "comparisons keep their values");
    let second = state(1).await.unwrap().unwrap();
    assert_eq!((second.triggered, second.version), (false, 3), "triggered by a webhook-only trigger");
    let third = state(2).await.unwrap().unwrap();
    assert_eq!((third.triggered, third.version), (true, 9), "a comparison still holds it");
}

#[tokio::test]
async fn a_head_another_session_holds_is_not_skipped_for_the_next_one() {
    use switchboard::outbound::delivery::Claim;
    use switchboard::store::outbox::OutboxEntry;
    use switchboard::store::repo::OutboundRepo;

    let (store, mut client) = store_and_client(crate::postgres_config().await).await;
    let sub = crate::outbound::any_subscription();
    let announce = || -> switchboard::store::repo::SubscriptionEvent { Box::new(|_| fixtures::event("x", None)) };
    store.insert_subscription(sub.clone(), announce()).await.unwrap();
    for kind in ["first", "second"] {
        let entry = OutboxEntry { event: fixtures::event(kind, None), targets: vec![sub.id.clone()] };
        store.append_outbox(entry).await.unwrap();
    }
    assert_eq!(store.drain_outbox(0).await.unwrap(), 2);
    // Another process is in the middle of claiming or completing the head.
    let other = client.transaction().await.unwrap();
    other.query("SELECT seq FROM outbound_queue ORDER BY seq LIMIT 1 FOR UPDATE", &[]).await.unwrap();

    let lease = Duration::from_secs(10);
    let busy = store.claim_head(sub.id.clone(), 1_000, 1, lease, Duration::from_secs(3600)).await.unwrap();

    assert!(matches!(busy, Claim::NotDue(at) if at > 1_000), "look again shortly, not the second event: {busy:?}");
    other.rollback().await.unwrap();
    match store.claim_head(sub.id.clone(), 1_000, 1, lease, Duration::from_secs(3600)).await.unwrap() {
        Claim::Claimed { delivery, key, .. } => {
            assert_eq!(delivery.event_type, "first");
            assert_eq!(key.len(), 8, "the row's sequence number, big-endian");
        }
        other => panic!("the head is free again: {other:?}"),
    }
}

#[tokio::test]
async fn a_shared_pgstore_is_a_repository() {
    let (store, client) = store_and_client(crate::postgres_config().await).await;

    let repository: switchboard::store::Repository = Arc::new(store);

    repository.probe().await.expect("the database answers");
    let sink: Arc<dyn EventSink> = Arc::new(WantsCreations);
    repository.set_event_sink(&sink);
    let system = fixtures::system("s", "");
    let created = fixtures::event("system.created", Some(&system.id));
    repository.insert_system(system, vec![created.clone()]).await.unwrap();
    assert_eq!(outbox(&client).await, vec![created], "the sink set through the trait chose it");
    assert_eq!(repository.drain_outbox(0).await.unwrap(), 0, "its one target is no stored subscription");
    assert_eq!(outbox(&client).await, vec![], "drained all the same");
}

#[tokio::test]
async fn a_delivery_id_recorded_while_its_instance_is_deleted_is_dropped_not_failed() {
    use switchboard::store::repo::{InstanceRepo, ReceiptRepo};
    use switchboard::store::SeenDelivery;

    let config = crate::postgres_config().await;
    let (store, mut client) = store_and_client(config.clone()).await;
    let watcher = connect(&config).await;
    let system = store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id;
    let trigger = store.insert_trigger(fixtures::trigger("t", ""), vec![]).await.unwrap().id;
    let build = fixtures::build_instance(&system);
    let instance = store.insert_instance(system, trigger, build, vec![]).await.unwrap().0.id;
    // Another session is deleting the instance and has not committed yet.
    let deleting = client.transaction().await.unwrap();
    deleting.execute("DELETE FROM instances WHERE id = $1", &[&instance.as_str()]).await.unwrap();
    let seen = SeenDelivery { delivery_id: "d-1".into(), receipt: switchboard::domain::ReceiptId::generate(), at: 1 };
    let recording = tokio::spawn({
        let (store, instance) = (store.clone(), instance.clone());
        async move { store.record_delivery(instance, seen, vec![]).await }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while sessions_waiting_on_a_lock(&watcher).await == 0 {
        assert!(Instant::now() < deadline, "the recording never waited for the delete");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    deleting.commit().await.unwrap();

    let recorded = recording.await.unwrap();
    assert!(recorded.is_ok(), "no foreign-key failure: {recorded:?}");
    assert_eq!(store.seen_deliveries(instance).await.unwrap(), vec![], "nothing kept for a deleted instance");
}

async fn sessions_waiting_on_a_lock(client: &tokio_postgres::Client) -> i64 {
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    client.query_one(sql, &[]).await.expect("pg_stat_activity reads").get(0)
}
