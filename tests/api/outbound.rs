//! Outbound webhook subscriptions end to end: a receiver server inside the test records what the
//! engine delivers and can be told to fail.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use switchboard::config::OutboundConfig;

use crate::event_actors::{
    configured_key_actor, delivered, delivered_event, read_stream_until, subscribe_all, KeyHolder,
};
use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An app that may deliver to 127.0.0.1, with quick retries.
async fn outbound_app(customise: impl FnOnce(&mut OutboundConfig)) -> TestApp {
    spawn_app_with(|c| {
        c.outbound.allow_private_networks = true;
        c.outbound.retry_schedule_ms = vec![20, 20, 20];
        c.outbound.attempt_timeout_ms = 2000;
        customise(&mut c.outbound);
    })
    .await
}

/// Creates a subscription (asserting 201) and returns it with its secret.
async fn subscribe(app: &TestApp, body: Value) -> (Value, String) {
    let sub = app.create("/webhooks", body).await;
    let secret = sub["secret"].as_str().expect("the secret is shown at creation").to_owned();
    (sub, secret)
}

/// The Standard Webhooks signature, computed here from the specification rather than by the server's
/// code: HMAC-SHA256 keyed with the base64-decoded part after `whsec_`, over `id.timestamp.body`.
fn expected_signature(secret: &str, msg_id: &str, timestamp: &str, body: &str) -> String {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("whsec_ prefix")).expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// What a receiver does: some signature in the header matches, and the timestamp is recent.
fn verifies(secret: &str, r: &ReceivedRequest) -> bool {
    let (id, ts) = (r.expect_header("webhook-id"), r.expect_header("webhook-timestamp"));
    let age = now_epoch_seconds() as i64 - ts.parse::<i64>().expect("unix seconds");
    let expected = expected_signature(secret, id, ts, &r.body);
    age.abs() < 300 && r.expect_header("webhook-signature").split(' ').any(|s| s == expected)
}

/// The delivery log once it holds at least `n` entries.
async fn deliveries(app: &TestApp, sub: &Value, n: usize) -> Vec<Value> {
    let path = format!("/webhooks/{}/deliveries", id(sub));
    eventually(10, &format!("{n} entries in the delivery log"), || async {
        let (items, _) = app.list(&path).await;
        (items.len() >= n).then_some(items)
    })
    .await
}

fn webhook_trigger() -> Value {
    json!({ "name": "Doorbell", "enable_webhook": true, "debounce_period": 0, "supported_methods": ["POST"] })
}

fn event_of(r: &ReceivedRequest) -> String {
    r.json()["event"].as_str().expect("event is a string").to_owned()
}

fn system_of(r: &ReceivedRequest) -> String {
    let body = r.json();
    body["system_id"].as_str().expect("the event names its system").to_owned()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deliveries_carry_the_envelope_and_a_standard_webhooks_signature() {
    // Arrange
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let (_, secret) = subscribe(
        &app,
        json!({
            "name": "Ops", "url": receiver.url("/hook"), "events": ["system.created"],
            "auth_header": { "name": "Authorization", "value": "Bearer t0ken" },
        }),
    )
    .await;

    // Act
    let system = app.create_system("Lobby").await;

    // Assert
    let got = receiver.wait_for_on("/hook", 1, 10).await;
    let r = &got[0];
    assert!(verifies(&secret, r), "the signature verifies: {:?}", r.headers);
    assert!(!verifies(&format!("whsec_{}", STANDARD.encode([7u8; 32])), r), "and only with the right secret");
    assert!(!r.expect_header("webhook-signature").contains(' '), "one secret, one signature");
    assert_eq!(r.expect_header("content-type"), "application/json");
    assert_eq!(r.expect_header("user-agent"), format!("Switchboard/{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(r.expect_header("authorization"), "Bearer t0ken");
    let body = r.json();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 7, "exactly the envelope: {body}");
    assert_eq!(body["actor"], json!({"type": "api_key", "id": null, "name": "configured admin key"}));
    let request_id = body["request_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "the creating request's id: {request_id}");
    assert_eq!(r.expect_header("webhook-id"), body["id"]);
    assert!(body["id"].as_str().unwrap().starts_with("evt_"), "{body}");
    assert_eq!(body["event"], "system.created");
    assert_eq!(body["system_id"], id(&system));
    assert_eq!(body["data"]["system"]["id"], id(&system));
    assert_eq!(body["data"]["system"]["name"], "Lobby");
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(), "RFC 3339 timestamp: {timestamp}");
}

#[tokio::test]
async fn subscriptions_get_only_their_event_types_and_their_system() {
    // Arrange
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let sys1 = app.create_system("One").await;
    let sys2 = app.create_system("Two").await;
    let sub = |path: &str, events: Value, extra: Value| {
        let mut body = json!({ "name": path, "url": receiver.url(path), "events": events });
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    subscribe(&app, sub("/updates", json!(["system.updated", "system.deleted"]), json!({}))).await;
    subscribe(&app, sub("/sys1", json!(["*"]), json!({ "system_id": id(&sys1) }))).await;
    let (off, _) = subscribe(&app, sub("/off", json!(["*"]), json!({ "enabled": false }))).await;
    subscribe(&app, sub("/fired", json!(["trigger.fired", "system.deleted"]), json!({}))).await;

    // Act
    let sys3 = app.create_system("Three").await;
    app.send_ok(Method::PATCH, &format!("/systems/{}", id(&sys2)), &json!({ "name": "Two!" })).await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger()).await;
    let webhook_url = inst["webhook_url"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(app.client.post(webhook_url).send().await.unwrap().status(), 202);
    }
    app.send_ok(Method::PATCH, &format!("/systems/{}", id(&sys1)), &json!({ "name": "One!" })).await;
    // Every subscription but the disabled one wants this last event; each subscription's deliveries
    // arrive in order, so once it has arrived anything wrongly delivered before it has too.
    app.delete_ok(&format!("/systems/{}", id(&sys1))).await;

    // Assert
    let updates = receiver.wait_for_on("/updates", 3, 10).await;
    let seen: Vec<(String, String)> = updates.iter().map(|r| (event_of(r), system_of(r))).collect();
    assert_eq!(
        seen,
        vec![
            ("system.updated".into(), id(&sys2).into()),
            ("system.updated".into(), id(&sys1).into()),
            ("system.deleted".into(), id(&sys1).into()),
        ],
        "only its event types; system.created for {} and the trigger events are not among them",
        id(&sys3)
    );
    let scoped = receiver.wait_for_on("/sys1", 2, 10).await;
    let seen: Vec<(String, String)> = scoped.iter().map(|r| (event_of(r), system_of(r))).collect();
    assert_eq!(seen, vec![("system.updated".into(), id(&sys1).into()), ("system.deleted".into(), id(&sys1).into())]);
    let fired = receiver.wait_for_on("/fired", 3, 10).await;
    let seen: Vec<String> = fired.iter().map(event_of).collect();
    assert_eq!(seen, vec!["trigger.fired", "trigger.fired", "system.deleted"]);
    let counts: Vec<Value> = fired[..2].iter().map(|r| r.json()["data"]["trigger_count"].clone()).collect();
    assert_eq!(counts, vec![json!(1), json!(2)]);
    assert_eq!(fired[0].json()["data"]["trigger_instance"], id(&inst));
    assert_eq!(receiver.received_on("/off").len(), 0, "a disabled subscription gets nothing");
    assert_eq!(deliveries(&app, &off, 0).await.len(), 0);
    assert_eq!(receiver.received_on("/updates").len(), 3, "nothing more arrived");
}

#[tokio::test]
async fn the_subscription_api_validates_input_hides_secrets_and_pages() {
    let app = outbound_app(|_| {}).await;
    let system = app.create_system("Room").await;
    let url = "https://hooks.example.com/in?token=abc";

    // Create: 201, an id like the others, the secret shown once.
    let (sub, secret) = subscribe(
        &app,
        json!({
            "name": " Ops ", "url": url, "events": ["trigger.fired", "*"], "system_id": id(&system),
            "auth_header": { "name": "X-Api-Key", "value": "s3cret-value" },
        }),
    )
    .await;
    assert_id_shape(&sub["id"], "wh-");
    assert_eq!(STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap().len(), 32);
    assert_eq!(sub["name"], "Ops");
    assert_eq!(sub["url"], url);
    assert_eq!(sub["events"], json!(["trigger.fired", "*"]));
    assert_eq!(sub["system_id"], id(&system));
    assert_eq!(sub["enabled"], true);
    assert_eq!(sub["paused_at"], Value::Null);
    assert_eq!(sub["consecutive_failures"], 0);
    assert_eq!(sub["last_failure_reason"], Value::Null);
    assert_eq!(sub["auth_header"], json!({ "name": "X-Api-Key" }));
    assert_recent(&sub["created_at"], "created_at");
    assert_recent(&sub["updated_at"], "updated_at");

    // Read: never the secret nor the auth header's value.
    let path = format!("/webhooks/{}", id(&sub));
    let got = app.get_ok(&path).await;
    let mut without_secret = sub.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(got, without_secret);
    assert!(!got.to_string().contains("s3cret-value"));

    // Bad input: 422 naming the field.
    let long_url = format!("https://example.com/{}", "a".repeat(3000));
    let cases = [
        ("name missing", json!({ "url": url, "events": ["*"] }), "name"),
        ("name empty", json!({ "name": " ", "url": url, "events": ["*"] }), "name"),
        ("url missing", json!({ "name": "x", "events": ["*"] }), "url"),
        ("url ftp", json!({ "name": "x", "url": "ftp://example.com/", "events": ["*"] }), "url"),
        ("url relative", json!({ "name": "x", "url": "/hook", "events": ["*"] }), "url"),
        ("url a number", json!({ "name": "x", "url": 5, "events": ["*"] }), "url"),
        ("url too long", json!({ "name": "x", "url": long_url, "events": ["*"] }), "url"),
        ("events missing", json!({ "name": "x", "url": url }), "events"),
        ("events empty", json!({ "name": "x", "url": url, "events": [] }), "events"),
        ("events a string", json!({ "name": "x", "url": url, "events": "*" }), "events"),
        ("unknown event", json!({ "name": "x", "url": url, "events": ["system.created", "x.y"] }), "events[1]"),
        (
            "system_id not sys-",
            json!({ "name": "x", "url": url, "events": ["*"], "system_id": unknown_id("mod-") }),
            "system_id",
        ),
        (
            "system_id unknown",
            json!({ "name": "x", "url": url, "events": ["*"], "system_id": unknown_id("sys-") }),
            "system_id",
        ),
        ("enabled not a bool", json!({ "name": "x", "url": url, "events": ["*"], "enabled": "yes" }), "enabled"),
        (
            "auth header replacing the signature",
            json!({ "name": "x", "url": url, "events": ["*"], "auth_header": { "name": "Webhook-Signature", "value": "v" } }),
            "auth_header.name",
        ),
        (
            "auth header value with a line break",
            json!({ "name": "x", "url": url, "events": ["*"], "auth_header": { "name": "A", "value": "a\r\nb" } }),
            "auth_header.value",
        ),
    ];
    for (case, body, field) in cases {
        let res = app.post("/webhooks", &body).await;
        assert_rejected(res, case, 422, "invalid_field", Some(field)).await;
    }
    assert_rejects_malformed_bodies(&app, Method::POST, "/webhooks").await;

    // PATCH: absent fields stay, null clears.
    let patched = app
        .send_ok(
            Method::PATCH,
            &path,
            &json!({ "name": "Ops 2", "system_id": null, "auth_header": null, "enabled": false, "events": ["test"] }),
        )
        .await;
    assert_eq!(patched["name"], "Ops 2");
    assert_eq!(patched["system_id"], Value::Null);
    assert_eq!(patched["auth_header"], Value::Null);
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["events"], json!(["test"]));
    assert_eq!(patched["url"], url, "absent, so unchanged");
    assert!(patched.get("secret").is_none());
    let res = app.patch(&path, &json!({ "url": "gopher://x" })).await;
    assert_rejected(res, "PATCH bad url", 422, "invalid_field", Some("url")).await;
    let res = app.patch(&path, &json!({ "system_id": unknown_id("sys-") })).await;
    assert_rejected(res, "PATCH unknown system", 422, "invalid_field", Some("system_id")).await;

    // Lists page like the others.
    for n in 0..2 {
        subscribe(&app, json!({ "name": format!("Other {n}"), "url": url, "events": ["*"] })).await;
    }
    let (page, total) = app.list("/webhooks?limit=2").await;
    assert_eq!((page.len(), total), (2, 3));
    assert_eq!(page[0]["id"], sub["id"], "creation order");
    assert!(page.iter().all(|s| s.get("secret").is_none()));
    let (rest, _) = app.list("/webhooks?limit=2&offset=2").await;
    assert_eq!(rest.len(), 1);
    let (found, total) = app.list("/webhooks?q=other%201").await;
    assert_eq!((found.len(), total), (1, 1));

    // Event types: every one, described, with an example body.
    let types = app.get_ok("/webhooks/event_types").await;
    let names: Vec<&str> = types.as_array().unwrap().iter().map(|t| t["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "trigger.fired",
            "trigger.reset",
            "trigger.state_changed",
            "webhook.received",
            "module.status_changed",
            "module.exec_failed",
            "system.created",
            "system.updated",
            "system.deleted",
            "module.created",
            "module.updated",
            "module.deleted",
            "trigger.created",
            "trigger.updated",
            "trigger.deleted",
            "trigger_instance.created",
            "trigger_instance.updated",
            "trigger_instance.deleted",
            "run.failed",
            "run.retried",
            "api_key.created",
            "api_key.deleted",
            "subscription.created",
            "subscription.updated",
            "subscription.deleted",
            "subscription.paused",
            "callout.created",
            "callout.updated",
            "callout.deleted",
            "test",
        ]
    );
    for t in types.as_array().unwrap() {
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()), "{t}");
        assert_eq!(t["example"]["event"], t["event"]);
        assert!(t["example"]["id"].as_str().unwrap().starts_with("evt_"));
        assert!(t["example"]["data"].is_object(), "{t}");
    }

    // Roles: support reads, only admins write; no key, no access.
    let support = app.key_with_role("support").await;
    let as_support = |method: Method, p: &str| app.with_key(Some(&support), method, p).send();
    assert_eq!(as_support(Method::GET, "/webhooks").await.unwrap().status(), 200);
    assert_eq!(as_support(Method::GET, &path).await.unwrap().status(), 200);
    assert_eq!(as_support(Method::GET, &format!("{path}/deliveries")).await.unwrap().status(), 200);
    assert_eq!(as_support(Method::GET, "/webhooks/event_types").await.unwrap().status(), 200);
    for (method, p) in [
        (Method::POST, "/webhooks".to_owned()),
        (Method::PATCH, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::POST, format!("{path}/enable")),
        (Method::POST, format!("{path}/rotate-secret")),
        (Method::POST, format!("{path}/test")),
    ] {
        let res = app.with_key(Some(&support), method.clone(), &p).json(&json!({})).send().await.unwrap();
        assert_error(res, 403, "forbidden").await;
    }
    let res = app.with_key(None, Method::GET, "/webhooks").send().await.unwrap();
    assert_error(res, 401, "unauthorized").await;

    // Delete: 204, then gone everywhere.
    app.delete_ok(&path).await;
    for p in [path.clone(), format!("{path}/deliveries")] {
        assert_error(app.get(&p).await, 404, "not_found").await;
    }
    assert_error(app.delete(&path).await, 404, "not_found").await;
    assert_error(app.get("/webhooks/wh-nope").await, 404, "not_found").await;
    assert_error(app.get(&format!("/webhooks/{}", unknown_id("wh-"))).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_it_succeeds_and_every_attempt_is_logged() {
    // Arrange
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    receiver.script_on("/hook", vec![Reply::status(500).body("boom"), Reply::status(502)]);
    receiver.respond_on("/hook", Reply::status(200).body("x".repeat(5000)));
    let (sub, _) =
        subscribe(&app, json!({ "name": "r", "url": receiver.url("/hook"), "events": ["system.created"] })).await;

    // Act
    app.create_system("Lobby").await;

    // Assert: the same event, byte for byte, three times.
    let got = receiver.wait_for_on("/hook", 3, 10).await;
    assert_eq!(got[1].expect_header("webhook-id"), got[0].expect_header("webhook-id"));
    assert_eq!(got[2].expect_header("webhook-id"), got[0].expect_header("webhook-id"));
    assert!(got.iter().all(|r| r.body == got[0].body));
    let log = deliveries(&app, &sub, 3).await;
    let summary: Vec<(Value, Value, Value)> =
        log.iter().map(|a| (a["attempt"].clone(), a["status_code"].clone(), a["success"].clone())).collect();
    assert_eq!(
        summary,
        vec![
            (json!(3), json!(200), json!(true)),
            (json!(2), json!(502), json!(false)),
            (json!(1), json!(500), json!(false))
        ],
        "newest first"
    );
    let event_id = got[0].expect_header("webhook-id");
    for entry in &log {
        assert_eq!(entry["event_id"], event_id);
        assert_eq!(entry["event_type"], "system.created");
        assert_eq!(entry["error"], Value::Null);
        assert!(entry["duration_ms"].is_u64());
        assert_recent(&entry["attempted_at"], "attempted_at");
    }
    assert_eq!(log[0]["response_body"].as_str().unwrap().len(), 2048, "the first 2 KiB");
    assert_eq!(log[2]["response_body"], "boom");
    let (page, total) = app.list(&format!("/webhooks/{}/deliveries?limit=1&offset=1", id(&sub))).await;
    assert_eq!((total, page[0]["attempt"].clone()), (3, json!(2)));
    let after = app.get_ok(&format!("/webhooks/{}", id(&sub))).await;
    assert_eq!(after["consecutive_failures"], 0, "a success resets the count");
    assert!(after["last_failure_reason"].as_str().unwrap().contains("502"), "{after}");
    assert_eq!(after["paused_at"], Value::Null);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    receiver.script_on("/hook", vec![Reply::status(429).retry_after("1")]);
    subscribe(&app, json!({ "name": "r", "url": receiver.url("/hook"), "events": ["system.created"] })).await;

    app.create_system("Lobby").await;

    let got = receiver.wait_for_on("/hook", 2, 10).await;
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_millis(950), "the retry waited {waited:?}, not the 1 s asked for");
}

#[tokio::test]
async fn repeated_failures_pause_and_enable_delivers_the_kept_events_in_order() {
    // Arrange
    let app = outbound_app(|o| {
        o.pause_after_failures = 3;
        o.retry_schedule_ms = vec![20, 20, 20, 20, 20];
    })
    .await;
    let receiver = TestReceiver::start().await;
    receiver.respond_on("/down", Reply::status(500));
    let (sub, _) =
        subscribe(&app, json!({ "name": "Down", "url": receiver.url("/down"), "events": ["system.created"] })).await;
    subscribe(&app, json!({ "name": "Watch", "url": receiver.url("/ops"), "events": ["subscription.paused"] })).await;
    let path = format!("/webhooks/{}", id(&sub));

    // Act: three failures in a row.
    let first = app.create_system("First").await;

    // Assert: paused, announced, and nothing more sent.
    let paused = receiver.wait_for_on("/ops", 1, 10).await;
    let announced = paused[0].json();
    assert_eq!(announced["event"], "subscription.paused");
    assert_eq!(announced["data"]["subscription_id"], id(&sub));
    assert_eq!(announced["data"]["consecutive_failures"], 3);
    assert!(announced["data"]["reason"].as_str().unwrap().contains("500"), "{announced}");
    let state = app.get_ok(&path).await;
    assert_recent(&state["paused_at"], "paused_at");
    assert_eq!(state["consecutive_failures"], 3);
    assert!(state["last_failure_reason"].as_str().unwrap().contains("500"), "{state}");
    assert_eq!(state["enabled"], true);
    assert_eq!(receiver.received_on("/down").len(), 3);

    // Events while paused are kept.
    let second = app.create_system("Second").await;
    let third = app.create_system("Third").await;
    receiver.respond_on("/down", Reply::status(204));
    assert_eq!(receiver.received_on("/down").len(), 3, "nothing is sent while paused");

    // Act: enable.
    let enabled = app.create_ok(&format!("{path}/enable"), json!({})).await;

    // Assert: the kept events, oldest first, the first one being the event that failed.
    assert_eq!(enabled["paused_at"], Value::Null);
    assert_eq!(enabled["consecutive_failures"], 0);
    let got = receiver.wait_for_on("/down", 6, 10).await;
    let order: Vec<String> = got[3..].iter().map(system_of).collect();
    assert_eq!(order, vec![id(&first), id(&second), id(&third)]);
    assert_eq!(got[3].expect_header("webhook-id"), got[0].expect_header("webhook-id"));
    let log = deliveries(&app, &sub, 6).await;
    assert!(log[..3].iter().all(|a| a["success"] == true));
}

#[tokio::test]
async fn a_410_pauses_the_subscription_at_once() {
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    receiver.respond_on("/gone", Reply::status(410));
    let (sub, _) = subscribe(&app, json!({ "name": "g", "url": receiver.url("/gone"), "events": ["*"] })).await;
    let path = format!("/webhooks/{}", id(&sub));

    app.create_system("Lobby").await;

    let state = eventually(10, "the subscription to pause", || async {
        let s = app.get_ok(&path).await;
        (!s["paused_at"].is_null()).then_some(s)
    })
    .await;
    assert_eq!(state["consecutive_failures"], 1);
    assert!(state["last_failure_reason"].as_str().unwrap().contains("410"), "{state}");
    let log = deliveries(&app, &sub, 1).await;
    assert_eq!((log.len(), log[0]["status_code"].clone()), (1, json!(410)));
    assert_eq!(receiver.received_on("/gone").len(), 1, "no retry");
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_during_the_grace_period() {
    // Arrange
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let (sub, old) =
        subscribe(&app, json!({ "name": "r", "url": receiver.url("/hook"), "events": ["system.created"] })).await;
    let path = format!("/webhooks/{}", id(&sub));

    // Act
    let rotated = app.create_ok(&format!("{path}/rotate-secret"), json!({})).await;
    app.create_system("Lobby").await;

    // Assert
    let new = rotated["secret"].as_str().expect("the new secret is shown once").to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(app.get_ok(&path).await.get("secret").is_none());
    let got = receiver.wait_for_on("/hook", 1, 10).await;
    let signatures: Vec<&str> = got[0].expect_header("webhook-signature").split(' ').collect();
    assert_eq!(signatures.len(), 2, "{signatures:?}");
    let r = &got[0];
    let (id_, ts) = (r.expect_header("webhook-id"), r.expect_header("webhook-timestamp"));
    assert_eq!(signatures[0], expected_signature(&new, id_, ts, &r.body), "the new secret signs first");
    assert_eq!(signatures[1], expected_signature(&old, id_, ts, &r.body), "the old one still signs");
    assert!(verifies(&old, r) && verifies(&new, r));

    // With no grace period the old secret stops at once.
    let strict = outbound_app(|o| o.secret_grace_period_s = 0).await;
    let (sub, old) =
        subscribe(&strict, json!({ "name": "s", "url": receiver.url("/strict"), "events": ["system.created"] })).await;
    let rotated = strict.create_ok(&format!("/webhooks/{}/rotate-secret", id(&sub)), json!({})).await;
    strict.create_system("Lobby").await;
    let got = receiver.wait_for_on("/strict", 1, 10).await;
    assert!(verifies(rotated["secret"].as_str().unwrap(), &got[0]));
    assert!(!verifies(&old, &got[0]));
}

#[tokio::test]
async fn the_test_endpoint_sends_a_signed_test_event_and_reports_the_outcome() {
    // Arrange
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    receiver.respond_on("/hook", Reply::status(200).body("pong"));
    let (sub, secret) =
        subscribe(&app, json!({ "name": "t", "url": receiver.url("/hook"), "events": ["system.deleted"] })).await;
    let path = format!("/webhooks/{}", id(&sub));

    // Act
    let ok = app.create_ok(&format!("{path}/test"), json!({})).await;
    receiver.respond_on("/hook", Reply::status(500).body("nope"));
    let failed = app.create_ok(&format!("{path}/test"), json!({})).await;

    // Assert
    assert_eq!((ok["success"].clone(), ok["status_code"].clone()), (json!(true), json!(200)), "{ok}");
    assert_eq!(ok["response_body"], "pong");
    assert_eq!(ok["error"], Value::Null);
    assert_eq!(ok["event_type"], "test");
    assert!(ok["duration_ms"].is_u64());
    assert_eq!((failed["success"].clone(), failed["status_code"].clone()), (json!(false), json!(500)));
    let got = receiver.received_on("/hook");
    assert_eq!(got.len(), 2, "sent at once, not queued");
    assert!(verifies(&secret, &got[0]));
    let body = got[0].json();
    assert_eq!(body["event"], "test");
    assert_eq!(body["id"], ok["event_id"]);
    assert_eq!(body["data"]["subscription_id"], id(&sub));
    let log = deliveries(&app, &sub, 2).await;
    assert_eq!(log[0]["status_code"], 500);
    assert_eq!(log[1]["event_type"], "test");
    let state = app.get_ok(&path).await;
    assert_eq!((state["consecutive_failures"].clone(), state["paused_at"].clone()), (json!(0), Value::Null));
    assert_error(app.post(&format!("/webhooks/{}/test", unknown_id("wh-")), &json!({})).await, 404, "not_found").await;
}

#[tokio::test]
async fn private_addresses_are_refused_when_private_networks_are_not_allowed() {
    // Arrange
    let app = outbound_app(|o| o.allow_private_networks = false).await;
    let receiver = TestReceiver::start().await;
    let (by_ip, _) =
        subscribe(&app, json!({ "name": "ip", "url": receiver.url("/ip"), "events": ["system.created"] })).await;
    let by_name = format!("http://localhost:{}/name", receiver.port);
    let (by_name, _) = subscribe(&app, json!({ "name": "name", "url": by_name, "events": ["test"] })).await;

    // Act
    app.create_system("Lobby").await;
    let tested = app.create_ok(&format!("/webhooks/{}/test", id(&by_name)), json!({})).await;

    // Assert
    let log = deliveries(&app, &by_ip, 1).await;
    let last = &log[log.len() - 1];
    assert_eq!(last["event_type"], "system.created");
    assert_eq!((last["success"].clone(), last["status_code"].clone()), (json!(false), Value::Null));
    let error = last["error"].as_str().unwrap();
    for part in ["refused", "127.0.0.1", "loopback", "allow_private_networks"] {
        assert!(error.contains(part), "{error} should mention {part}");
    }
    let error = tested["error"].as_str().unwrap();
    assert_eq!(tested["success"], false);
    assert!(error.contains("refused") && error.contains("localhost") && error.contains("loopback"), "{error}");
    assert!(receiver.received_on("/ip").is_empty() && receiver.received_on("/name").is_empty());
}

#[tokio::test]
async fn deliveries_pending_at_a_stop_are_delivered_after_a_restart() {
    // Arrange: the receiver holds the first attempt, so it is in flight when the server stops, and two
    // more events wait behind it.
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    receiver.script_on("/hook", vec![Reply::status(200).delay(Duration::from_secs(30))]);
    subscribe(&app, json!({ "name": "r", "url": receiver.url("/hook"), "events": ["system.created"] })).await;
    let mut systems = Vec::new();
    for name in ["One", "Two", "Three"] {
        systems.push(id(&app.create_system(name).await).to_owned());
    }
    let held = receiver.wait_for_on("/hook", 1, 10).await;

    // Act
    let _app = app.restart().await;

    // Assert: the interrupted event again (same id), then the others, in order.
    let got = receiver.wait_for_on("/hook", 4, 10).await;
    assert_eq!(got[1].expect_header("webhook-id"), held[0].expect_header("webhook-id"));
    let order: Vec<String> = got[1..].iter().map(system_of).collect();
    assert_eq!(order, systems);
}

#[tokio::test]
async fn fires_and_subscription_edits_at_once_neither_stall_nor_lose_a_delivery() {
    // Arrange: fires queue deliveries inside the state transaction while edits and attempts refresh
    // the subscription cache; the two once waited on each other for ever.
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let (sub, _) =
        subscribe(&app, json!({ "name": "r", "url": receiver.url("/hook"), "events": ["trigger.fired"] })).await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger()).await;
    let webhook_url = inst["webhook_url"].as_str().unwrap().to_owned();
    let sub_path = format!("/webhooks/{}", id(&sub));
    const FIRES: usize = 150; // within the default rate-limit burst

    // Act
    let fires = (0..FIRES).map(|_| {
        let (client, url) = (app.client.clone(), webhook_url.clone());
        async move { client.post(url).send().await.unwrap().status().as_u16() }
    });
    let edits = (0..100).map(|i| {
        let (app, path) = (&app, sub_path.clone());
        async move { app.send_ok(Method::PATCH, &path, &json!({ "name": format!("r{i}") })).await }
    });
    let both = futures_util::future::join(futures_util::future::join_all(fires), futures_util::future::join_all(edits));
    let (statuses, _) = tokio::time::timeout(Duration::from_secs(30), both).await.expect("no request stalls");

    // Assert
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    let got = receiver.wait_for_on("/hook", FIRES, 10).await;
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.expect_header("webhook-id")).collect();
    assert_eq!(ids.len(), FIRES, "one delivery per fire");
}

/// An app whose `trigger.fired` events go to the receiver's `/hook`, and a webhook instance to fire.
// Used by the sled-only `store_faults` tests, so unused in the PostgreSQL binary.
#[allow(dead_code)]
pub(crate) async fn fires_delivered_to_hook() -> (TestApp, TestReceiver, Value) {
    let app = outbound_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let body = json!({ "name": "Ops", "url": receiver.url("/hook"), "events": ["trigger.fired"] });
    subscribe(&app, body).await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger()).await;
    (app, receiver, inst)
}

// ---------------------------------------------------------------------------------------------
// Subscription changes are events
// ---------------------------------------------------------------------------------------------

/// Credentials a subscription carries; none of them may reach an event.
const URL_PASSWORD: &str = "url-passw0rd";
const URL_TOKEN: &str = "url-t0ken";
const AUTH_VALUE: &str = "Bearer first-auth-s3cret";
const AUTH_VALUE_2: &str = "Bearer second-auth-s3cret";

fn is_subscription_event(event: &Value, sub: &str) -> bool {
    event["event"].as_str().is_some_and(|e| e.starts_with("subscription.")) && event["data"]["subscription_id"] == sub
}

#[tokio::test]
async fn every_subscription_change_is_an_event_naming_its_key_and_request_and_no_credential() {
    // Arrange: every event goes to `observer` and to the live stream.
    let app = outbound_app(|_| {}).await;
    let observer = subscribe_all(&app).await;
    let mut stream = app.get("/events").await.bytes_stream();
    let sys = id(&app.create_system("Subscribed room").await).to_owned();
    let url = format!("https://ops:{URL_PASSWORD}@hooks.example.com/h?token={URL_TOKEN}");
    let mut admin = KeyHolder { app: &app, key: ADMIN_KEY.to_owned(), tag: "sub", caused: Vec::new() };

    // Act: created, then each change (path under the subscription, body, event, `changed`).
    let body = json!({
        "name": "Ops", "url": url, "events": ["system.deleted"], "system_id": sys,
        "auth_header": { "name": "Authorization", "value": AUTH_VALUE },
    });
    let created = admin.send(Method::POST, "/webhooks", Some(body), "subscription.created").await;
    let sub = id(&created).to_owned();
    let support = app.key_with_role("support").await;
    let shown_to_support =
        json(app.with_key(Some(&support), Method::GET, &format!("/webhooks/{sub}")).send().await.unwrap()).await;
    let patch =
        json!({ "name": "Ops 2", "enabled": false, "auth_header": { "name": "X-Api-Key", "value": AUTH_VALUE_2 } });
    let steps: [(Method, &str, Option<Value>, &str, Value); 4] = [
        (Method::PATCH, "", Some(patch), "subscription.updated", json!(["name", "enabled", "auth_header"])),
        (
            Method::POST,
            "/enable",
            None,
            "subscription.updated",
            json!(["enabled", "paused_at", "consecutive_failures"]),
        ),
        (Method::POST, "/rotate-secret", None, "subscription.updated", json!(["secret"])),
        (Method::DELETE, "", None, "subscription.deleted", Value::Null),
    ];
    let mut answers = vec![created.clone()];
    for (method, under, body, event, _) in &steps {
        answers.push(admin.send(method.clone(), &format!("/webhooks/{sub}{under}"), body.clone(), event).await);
    }

    // Assert: one event per call, in order, naming the key and the call's request id, with the data.
    let is_last = |e: &Value| e["event"] == "subscription.deleted" && e["data"]["subscription_id"] == sub.as_str();
    delivered_event(&observer, "subscription.deleted", is_last).await;
    let (streamed, raw_stream) = read_stream_until(&mut stream, is_last).await;
    let events: Vec<Value> = delivered(&observer).into_iter().filter(|e| is_subscription_event(e, &sub)).collect();
    let data = |name: &str, enabled: bool, auth: &str, changed: &Value| {
        let mut data = json!({
            "subscription_id": sub, "name": name, "url": shown_to_support["url"], "events": ["system.deleted"],
            "system_id": sys, "enabled": enabled, "auth_header": { "name": auth },
        });
        if !changed.is_null() {
            data["changed"] = changed.clone();
        }
        data
    };
    let mut expected = vec![("subscription.created", data("Ops", true, "Authorization", &Value::Null))];
    for (n, (_, _, _, event, changed)) in steps.iter().enumerate() {
        let enabled = n > 0;
        expected.push((event, data("Ops 2", enabled, "X-Api-Key", changed)));
    }
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, expected.iter().map(|(name, _)| *name).collect::<Vec<_>>(), "one event per call, in order");
    for ((event, (name, data)), (request_id, _)) in events.iter().zip(&expected).zip(&admin.caused) {
        assert_eq!(event["actor"], configured_key_actor(), "[{request_id}: {name}] {event}");
        assert_eq!(event["request_id"], request_id.as_str(), "[{request_id}: {name}] {event}");
        assert_eq!(event["system_id"], sys.as_str(), "[{request_id}: {name}] the subscription's system");
        assert_eq!(event["data"], *data, "[{request_id}: {name}] data");
        let live = streamed.iter().find(|s| s["id"] == event["id"]);
        assert_eq!(live, Some(event), "[{request_id}: {name}] the live stream sent the same envelope");
    }
    assert_ne!(shown_to_support["url"], url, "the URL as support keys see it, not as set");

    // Assert: no secret or credential anywhere in what was delivered or streamed.
    let secrets = [
        ("the first signing secret", created["secret"].as_str().unwrap()),
        ("the rotated signing secret", answers[3]["secret"].as_str().unwrap()),
        ("the first auth header value", AUTH_VALUE),
        ("the second auth header value", AUTH_VALUE_2),
        ("the URL's password", URL_PASSWORD),
        ("the URL's token", URL_TOKEN),
    ];
    let bodies: Vec<String> = observer.received().into_iter().map(|r| r.body).collect();
    crate::event_actors::assert_no_secret_in(&secrets, &bodies, &raw_stream);
}

#[tokio::test]
async fn a_subscription_hears_of_its_own_change_once_and_receiving_it_causes_nothing() {
    // Arrange
    let app = outbound_app(|_| {}).await;
    let observer = subscribe_all(&app).await;
    let (subscriptions, _) = app.list("/webhooks").await;
    let me = &subscriptions[0];

    // Act: the subscription changes itself, and its delivery is recorded before anything else happens.
    app.send_ok(Method::PATCH, &format!("/webhooks/{}", id(me)), &json!({ "name": "Renamed" })).await;
    delivered_event(&observer, "its own subscription.updated", |e| is_subscription_event(e, id(me))).await;
    deliveries(&app, me, 1).await;
    let marker = app.create_system("Marker").await;

    // Assert: the marker was queued after the delivery was recorded, and a subscription's deliveries
    // arrive in order, so an event that recording it caused would have arrived first.
    delivered_event(&observer, "the marker", |e| e["event"] == "system.created" && e["system_id"] == id(&marker)).await;
    let names: Vec<String> = delivered(&observer).iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["subscription.updated", "system.created"], "nothing more");
    let log = deliveries(&app, me, 2).await;
    assert!(log.iter().all(|a| a["success"] == true), "{log:?}");
}
