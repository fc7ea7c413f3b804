//! A failing disk through the real server: a fire whose journal write fails is answered 500 and its
//! state is committed again until it is stored, without waiting for another call, and it is kept
//! across a restart.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::outbound::fires_delivered_to_hook;

async fn doorbell(app: &TestApp) -> Value {
    let trigger = json!({"name": "Doorbell", "enable_webhook": true, "debounce_period": 0});
    app.webhook_instance(trigger).await.2
}

/// Built from the app's address, not the instance's `webhook_url`: a restart moves to a new port.
async fn fire(app: &TestApp, instance: &Value) -> reqwest::Response {
    let secret = instance["webhook_secret"].as_str().expect("admins see the secret");
    let url = app.api(&format!("/webhook/{}/notify?secret={secret}", id(instance)));
    app.client.request(Method::POST, url).send().await.expect("request sent")
}

/// The stored count, as admins read it (the store, not the engine's memory).
async fn stored_count(app: &TestApp, instance: &Value) -> u64 {
    let path = format!("/systems/{}/triggers/{}", instance["control_system_id"].as_str().unwrap(), id(instance));
    app.get_ok(&path).await["trigger_count"].as_u64().expect("trigger_count")
}

async fn commit_failures(app: &TestApp) -> u64 {
    let text = app.client.get(app.url("/metrics")).send().await.expect("request sent").text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("switchboard_state_commit_failures_total "));
    line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).expect("the failure counter")
}

#[tokio::test]
async fn a_fire_whose_write_fails_is_answered_500_and_stored_by_a_later_retry() {
    let app = spawn_app().await;
    let inst = doorbell(&app).await;
    let failures_before = commit_failures(&app).await;
    // The commit of the fire and its first two retries fail; the third (about 0.7 s later) succeeds.
    app.faults().fail_journal_writes(3);

    let body = assert_error(fire(&app, &inst).await, 500, "internal_error").await;
    assert!(!body["message"].as_str().unwrap().contains("injected"), "internals stay out of answers: {body}");
    assert_eq!(stored_count(&app, &inst).await, 0, "not stored while the disk fails");

    // No other call arrives: the committer's own retry stores it.
    eventually(10, "the retried state to be stored", || async { (stored_count(&app, &inst).await == 1).then_some(()) })
        .await;
    // Other tests in this process add to the counter too, never take from it.
    assert!(commit_failures(&app).await >= failures_before + 3, "operators see the failed commits");
    let app = app.restart().await;
    assert_eq!(stored_count(&app, &inst).await, 1);
}

#[tokio::test]
async fn an_acknowledgement_after_a_failed_write_covers_the_failed_state_too() {
    let app = spawn_app().await;
    let (failed, later) = (doorbell(&app).await, doorbell(&app).await);
    app.faults().fail_journal_writes(1);
    assert_error(fire(&app, &failed).await, 500, "internal_error").await;

    // Usually this commit carries the failed state; on a slow machine the 100 ms retry may store it
    // first. Either way the answer must not come before it is stored.
    let res = fire(&app, &later).await;

    assert_eq!(res.status(), 202);
    // An answer means everything queued before it is stored: the failed state went with this commit.
    assert_eq!(stored_count(&app, &failed).await, 1);
    let res = fire(&app, &failed).await;
    assert_eq!(json(res).await["trigger_count"], 2, "the failed fire counted");
    let app = app.restart().await;
    assert_eq!((stored_count(&app, &failed).await, stored_count(&app, &later).await), (2, 1));
}

#[tokio::test]
async fn a_state_whose_writes_keep_failing_is_stored_at_shutdown() {
    let app = spawn_app().await;
    let inst = doorbell(&app).await;
    app.faults().fail_journal_writes(u32::MAX);
    assert_error(fire(&app, &inst).await, 500, "internal_error").await;
    assert_eq!(stored_count(&app, &inst).await, 0);

    let app = app.restart().await;

    assert_eq!(stored_count(&app, &inst).await, 1, "a clean stop writes the failed batch to sled");
    let res = fire(&app, &inst).await;
    assert_eq!(res.status(), 202, "the new process journals normally");
    assert_eq!(json(res).await["trigger_count"], 2);
}

#[tokio::test]
async fn a_failed_journal_sync_does_not_fail_every_later_admin_write() {
    let app = spawn_app().await;
    app.faults().fail_journal_syncs(1);
    let failed = app.post("/systems", &json!({"name": "During the failure"})).await;
    assert_error(failed, 500, "internal_error").await;

    // The broken journal file is replaced at the next commit, though it held nothing to rewrite.
    for name in ["After the failure", "And again"] {
        let res = app.post("/systems", &json!({ "name": name })).await;
        assert_eq!(res.status(), 201, "{name}: {}", res.text().await.unwrap());
    }
    let inst = doorbell(&app).await;
    assert_eq!(fire(&app, &inst).await.status(), 202);
    assert_eq!(stored_count(&app, &inst).await, 1);
}

// Deliveries of fires whose commit fails.

#[tokio::test]
async fn a_fire_whose_commit_fails_after_its_delivery_was_queued_is_delivered_once_a_retry_flushes() {
    let (app, receiver, inst) = fires_delivered_to_hook().await;
    // The transaction with the state and its delivery commits; the journal sync after it fails.
    app.faults().fail_journal_syncs(1);

    let res = app.client.post(inst["webhook_url"].as_str().unwrap()).send().await.unwrap();
    let failed_at = Instant::now();

    assert_eq!(res.status(), 500);
    let got = receiver.wait_for_on("/hook", 1, 10).await;
    assert!(
        got[0].at - failed_at < Duration::from_secs(2),
        "the retry's flush wakes the delivery worker (its poll would take up to 5 s)"
    );
    assert_eq!(got[0].json()["event"], "trigger.fired");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received_on("/hook").len(), 1, "staged once, delivered once");
}

#[tokio::test]
async fn a_fire_whose_commit_fails_before_its_delivery_was_queued_is_delivered_after_the_retry() {
    let (app, receiver, inst) = fires_delivered_to_hook().await;
    // The transaction with the state and its delivery fails before writing anything.
    app.faults().fail_event_commits(1);

    let res = app.client.post(inst["webhook_url"].as_str().unwrap()).send().await.unwrap();

    assert_eq!(res.status(), 500);
    // The event went with the state into the retry: the receiver hears of the fire all the same.
    let got = receiver.wait_for_on("/hook", 1, 10).await;
    let event = got[0].json();
    assert_eq!((event["event"].as_str(), event["data"]["trigger_count"].as_u64()), (Some("trigger.fired"), Some(1)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received_on("/hook").len(), 1, "queued once, delivered once");
}
