//! Duplicate deliveries: a second call with a delivery id the instance has taken fires nothing and is
//! answered `200 {"duplicate": true, "receipt": …}` with the first call's receipt.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

/// A call carrying delivery id `id`, signed at `timestamp` with `secret`: its headers and body.
type Delivery = fn(&str, &str, u64) -> (CallHeaders, Vec<u8>);

const BODY: &[u8] = br#"{"type":"order.paid","n":1}"#;

fn with(mut headers: CallHeaders, name: &'static str, value: &str) -> CallHeaders {
    headers.push((name, value.to_owned()));
    headers
}

/// Asserts a duplicate answer naming `hook`, and returns the receipt it names.
async fn assert_duplicate(res: reqwest::Response, hook: &Hook, case: &str) -> String {
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 200, "[{case}] a duplicate is 200: {body}");
    let receipt = body["receipt"].as_str().unwrap_or_else(|| panic!("[{case}] names a receipt: {body}")).to_owned();
    assert_id_shape(&body["receipt"], "rcpt-");
    assert_eq!(body, json!({"trigger_instance": hook.id(), "duplicate": true, "receipt": receipt}), "[{case}]");
    receipt
}

async fn assert_fired(res: reqwest::Response, case: &str) -> Value {
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 202, "[{case}] {body}");
    assert_eq!(body["fired"], true, "[{case}] {body}");
    body
}

#[tokio::test]
async fn a_repeated_idempotency_key_is_a_duplicate_that_names_the_first_receipt_and_fires_nothing() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let key = [("Idempotency-Key", "order-7".to_owned())];
    assert_fired(app.call_hook(&hook.url(&app), &key, BODY).await, "first call").await;

    // Act
    let res = app.call_hook(&hook.url(&app), &key, BODY).await;

    // Assert
    let first = assert_duplicate(res, &hook, "second call").await;
    assert_eq!(app.trigger_count(&hook).await, 1, "the duplicate fired nothing");
    let original = app.receipt_eventually(&hook, &first).await;
    assert_eq!(
        (&original["delivery_id"], &original["duplicate"], &original["fired"], &original["status"]),
        (&json!("order-7"), &json!(false), &json!(true), &json!(202)),
        "the receipt named is the first call's: {original}"
    );
    let receipts = app.receipts_eventually(&hook, 2).await;
    let repeat = &receipts[0];
    assert_ne!(id(repeat), first);
    assert_eq!(
        (&repeat["delivery_id"], &repeat["duplicate"], &repeat["fired"], &repeat["status"]),
        (&json!("order-7"), &json!(true), &json!(false), &json!(200)),
        "the duplicate has its own receipt: {repeat}"
    );
}

#[tokio::test]
async fn each_sender_s_delivery_id_deduplicates_even_when_re_signed() {
    let app = spawn_app().await;
    let whsec = sign::whsec(b"dedup-standard-webhooks-key-0001");
    let cases: [(&str, Option<Value>, String, Delivery); 6] = [
        ("Idempotency-Key without verification", None, String::new(), |_, id, _| {
            (vec![("Idempotency-Key", id.to_owned())], BODY.to_vec())
        }),
        ("standard_webhooks webhook-id", Some(json!({"scheme": "standard_webhooks"})), whsec, |secret, id, ts| {
            (sign::standard_webhooks(secret, id, ts, BODY), BODY.to_vec())
        }),
        ("github X-GitHub-Delivery", Some(json!({"scheme": "github"})), "gh-secret".into(), |secret, id, _| {
            (with(sign::github(secret, BODY), "X-GitHub-Delivery", id), BODY.to_vec())
        }),
        ("shopify X-Shopify-Webhook-Id", Some(json!({"scheme": "shopify"})), "shp-secret".into(), |secret, id, _| {
            (with(sign::shopify(secret, BODY), "X-Shopify-Webhook-Id", id), BODY.to_vec())
        }),
        ("stripe body id", Some(json!({"scheme": "stripe"})), "whsec_stripe_dedup_secret".into(), |secret, id, ts| {
            let body = format!(r#"{{"id":"{id}","object":"event","type":"charge.succeeded"}}"#).into_bytes();
            (sign::stripe(secret, ts, &body), body)
        }),
        (
            "Idempotency-Key with a scheme that names no id",
            Some(json!({"scheme": "token", "header": "X-Token"})),
            "shared-token".into(),
            |secret, id, _| (vec![("X-Token", secret.to_owned()), ("Idempotency-Key", id.to_owned())], BODY.to_vec()),
        ),
    ];

    for (case, settings, secret, delivery) in &cases {
        // Arrange
        let hook = match settings {
            Some(settings) => app.signed_hook(settings.clone(), secret).await,
            None => app.hook(json!({})).await,
        };
        let (first_id, other_id) = (delivery_id("evt_"), delivery_id("evt_"));
        let now = now_epoch_seconds();
        let (headers, body) = delivery(secret, &first_id, now - 5);
        assert_fired(app.call_hook(&hook.url(&app), &headers, body).await, case).await;

        // Act: the sender's retry, signed again a few seconds later
        let (headers, body) = delivery(secret, &first_id, now);
        let retry = app.call_hook(&hook.url(&app), &headers, body).await;
        let (headers, body) = delivery(secret, &other_id, now);
        let other = app.call_hook(&hook.url(&app), &headers, body).await;

        // Assert
        assert_duplicate(retry, &hook, case).await;
        assert_fired(other, &format!("{case}, another id")).await;
        assert_eq!(app.trigger_count(&hook).await, 2, "[{case}]");
    }
}

#[tokio::test]
async fn delivery_ids_are_per_instance() {
    // Arrange
    let app = spawn_app().await;
    let (a, b) = (app.hook(json!({})).await, app.hook(json!({})).await);
    let key = [("Idempotency-Key", "shared-key".to_owned())];

    // Act
    let on_a = app.call_hook(&a.url(&app), &key, BODY).await;
    let on_b = app.call_hook(&b.url(&app), &key, BODY).await;

    // Assert
    assert_fired(on_a, "instance a").await;
    assert_fired(on_b, "instance b: the same key on another instance").await;
}

#[tokio::test]
async fn a_call_refused_for_its_signature_does_not_use_up_its_delivery_id() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.signed_hook(json!({"scheme": "github"}), "gh-secret").await;
    let delivery = delivery_id("gh-");
    let forged = with(sign::github("not-the-secret", BODY), "X-GitHub-Delivery", &delivery);
    let genuine = with(sign::github("gh-secret", BODY), "X-GitHub-Delivery", &delivery);
    assert_error(app.call_hook(&hook.url(&app), &forged, BODY).await, 401, "invalid_signature").await;

    // Act
    let first = app.call_hook(&hook.url(&app), &genuine, BODY).await;
    let second = app.call_hook(&hook.url(&app), &genuine, BODY).await;

    // Assert
    assert_fired(first, "the genuine call after the forged one").await;
    assert_duplicate(second, &hook, "the genuine call again").await;
    assert_eq!(app.trigger_count(&hook).await, 1);
}

#[tokio::test]
async fn twenty_simultaneous_calls_with_one_key_fire_exactly_once() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let url = hook.url(&app);
    let calls = (0..20).map(|_| async {
        let res = app.call_hook(&url, &[("Idempotency-Key", "simultaneous".to_owned())], BODY).await;
        status_and_body(res).await
    });

    // Act
    let answers = join_all(calls).await;

    // Assert
    let accepted: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 202).map(|(_, b)| b).collect();
    let duplicates: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, b)| b).collect();
    assert_eq!((accepted.len(), duplicates.len()), (1, 19), "{answers:?}");
    assert_eq!(accepted[0]["fired"], true);
    let receipt = &duplicates[0]["receipt"];
    assert!(duplicates.iter().all(|d| d["duplicate"] == true && d["receipt"] == *receipt), "{duplicates:?}");
    assert_eq!(app.trigger_count(&hook).await, 1);
    let original = app.receipt_eventually(&hook, receipt.as_str().unwrap()).await;
    assert_eq!((original["fired"].clone(), original["duplicate"].clone()), (json!(true), json!(false)));
}

#[tokio::test]
async fn a_delivery_id_is_remembered_across_a_restart() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let key = [("Idempotency-Key", "before-restart".to_owned())];
    assert_fired(app.call_hook(&hook.url(&app), &key, BODY).await, "before the restart").await;
    let first = app.receipts_eventually(&hook, 1).await;

    // Act
    let app = app.restart().await;
    let res = app.call_hook(&hook.url(&app), &key, BODY).await;

    // Assert
    let named = assert_duplicate(res, &hook, "after the restart").await;
    assert_eq!(named, id(&first[0]), "the receipt of the call before the restart");
    assert_eq!(app.trigger_count(&hook).await, 1);
}

#[tokio::test]
async fn beyond_dedup_max_ids_the_oldest_id_is_forgotten() {
    // Arrange
    let app = spawn_app_with(|c| c.webhook.dedup_max_ids = 2).await;
    let hook = app.hook(json!({})).await;
    let call = |key: &str| {
        let headers = [("Idempotency-Key", key.to_owned())];
        let url = hook.url(&app);
        let app = &app;
        async move { app.call_hook(&url, &headers, BODY).await }
    };
    for key in ["a", "b", "c"] {
        assert_fired(call(key).await, key).await;
    }

    // Act
    let newest_again = call("c").await;
    let oldest_again = call("a").await;

    // Assert
    assert_duplicate(newest_again, &hook, "c is among the newest two").await;
    assert_fired(oldest_again, "a was forgotten").await;
    assert_eq!(app.trigger_count(&hook).await, 4);
}
