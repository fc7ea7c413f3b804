//! Receipts: every webhook call that passed the URL-secret check is recorded (in the background), can
//! be listed, read and replayed, and never holds a credential.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::test_driver;

/// The fields every receipt has.
const RECEIPT_FIELDS: [&str; 24] = [
    "id",
    "trigger_instance",
    "system_id",
    "received_at",
    "method",
    "path",
    "query",
    "headers",
    "remote_addr",
    "body",
    "body_encoding",
    "body_truncated",
    "body_size",
    "verification",
    "verification_error",
    "delivery_id",
    "duplicate",
    "filtered",
    "status",
    "error",
    "fired",
    "exec",
    "request_id",
    "replay_of",
];

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The decoded pairs of a receipt's `query`.
fn query_pairs(receipt: &Value) -> Vec<(String, String)> {
    let query = receipt["query"].as_str().expect("query is a string");
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn replay_path(hook: &Hook, receipt: &str) -> String {
    format!("{}/{receipt}/replay", hook.receipts_path())
}

/// Replays with the admin key: the status, the new receipt's id and the JSON body (or `Null`).
async fn replay(app: &TestApp, hook: &Hook, receipt: &str) -> (u16, Option<String>, Value) {
    let res = app.admin(Method::POST, &replay_path(hook, receipt)).send().await.expect("request sent");
    let new_receipt = res.headers().get("x-switchboard-receipt").map(|v| v.to_str().expect("ASCII header").to_owned());
    let (status, body) = status_and_body(res).await;
    (status, new_receipt, body)
}

#[tokio::test]
async fn a_call_is_recorded_with_what_it_brought_and_what_it_was_answered() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let before = now_ms();

    // Act
    let res = app
        .client
        .post(format!("{}&kind=deploy", hook.url(&app)))
        .header("X-Custom", "one")
        .header("X-Request-ID", "req-receipt-1")
        .header("Content-Type", "application/json")
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let after = now_ms();

    // Assert
    let receipts = app.receipts_eventually(&hook, 1).await;
    let r = &receipts[0];
    for field in RECEIPT_FIELDS {
        assert!(r.get(field).is_some(), "the receipt has {field}: {r}");
    }
    assert_id_shape(&r["id"], "rcpt-");
    assert_eq!(
        (r["trigger_instance"].as_str(), r["system_id"].as_str()),
        (Some(hook.id()), Some(hook.system.as_str()))
    );
    let received_at = r["received_at"].as_u64().expect("received_at is epoch ms");
    assert!((before..=after).contains(&received_at), "received_at {received_at} within [{before}, {after}]");
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], format!("/api/engine/v2/webhook/{}/notify", hook.id()));
    assert_eq!(query_pairs(r), [("secret".into(), "[redacted]".into()), ("kind".into(), "deploy".into())]);
    assert_eq!((&r["headers"]["x-custom"], &r["headers"]["content-type"]), (&json!("one"), &json!("application/json")));
    assert!(r["remote_addr"].as_str().is_some_and(|a| a.starts_with("127.0.0.1")), "{}", r["remote_addr"]);
    assert_eq!(
        (&r["body"], &r["body_encoding"], &r["body_truncated"], &r["body_size"]),
        (&json!(r#"{"n":1}"#), &json!("utf8"), &json!(false), &json!(7))
    );
    assert_eq!((&r["verification"], &r["verification_error"]), (&json!("not_configured"), &Value::Null));
    assert_eq!((&r["delivery_id"], &r["duplicate"], &r["filtered"]), (&Value::Null, &json!(false), &json!(false)));
    assert_eq!(
        (&r["status"], &r["error"], &r["fired"], &r["exec"]),
        (&json!(202), &Value::Null, &json!(true), &Value::Null)
    );
    assert_eq!((&r["request_id"], &r["replay_of"]), (&json!("req-receipt-1"), &Value::Null));
    assert_eq!(&app.get_ok(&format!("{}/{}", hook.receipts_path(), id(r))).await, r, "GET one shows the same");
}

#[tokio::test]
async fn a_secret_path_segment_is_redacted() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;

    // Act
    assert_eq!(app.call_hook(&hook.path_url(&app), &[], "{}").await.status(), 202);

    // Assert
    let r = &app.receipts_eventually(&hook, 1).await[0];
    assert_eq!(r["path"], format!("/api/engine/v2/webhook/{}/notify/[redacted]", hook.id()));
    assert_eq!(r["query"], "");
}

#[tokio::test]
async fn refused_calls_are_recorded_and_calls_with_a_wrong_or_missing_secret_are_not() {
    // Arrange
    let app = spawn_app_with(|c| c.webhook.max_body_bytes = 64).await;
    let secret = "gh-receipts-secret";
    let hook = app.signed_hook(json!({"scheme": "github"}), secret).await;
    let body = br#"{"action":"opened"}"#;
    let signed = sign::github(secret, body);
    let big = vec![b'x'; 65];

    // Act
    let wrong =
        app.call_hook(&app.api(&format!("/webhook/{}/notify?secret=wrong", hook.id())), &signed, &body[..]).await;
    let missing = app.call_hook(&hook.bare_url(&app), &signed, &body[..]).await;
    let calls = [
        ("a method outside the list", app.client.get(hook.url(&app)).send().await.unwrap(), 405, "method_not_allowed"),
        (
            "a forged signature",
            app.call_hook(&hook.url(&app), &sign::github("forged", body), &body[..]).await,
            401,
            "invalid_signature",
        ),
        (
            "a body over the limit",
            app.call_hook(&hook.url(&app), &sign::github(secret, &big), big.clone()).await,
            413,
            "payload_too_large",
        ),
        (
            "bad exec parameters",
            app.call_hook(&format!("{}&exec=true", hook.url(&app)), &signed, &body[..]).await,
            400,
            "invalid_exec",
        ),
    ];
    let good = app.call_hook(&hook.url(&app), &signed, &body[..]).await;

    // Assert
    assert_eq!((wrong.status().as_u16(), missing.status().as_u16(), good.status().as_u16()), (404, 422, 202));
    for (case, res, status, _) in &calls {
        assert_eq!(res.status(), *status, "{case}");
    }
    let receipts = app.receipts_eventually(&hook, 5).await;
    let statuses: Vec<&Value> = receipts.iter().map(|r| &r["status"]).collect();
    assert_eq!(
        statuses,
        [&json!(202), &json!(400), &json!(413), &json!(401), &json!(405)],
        "newest first, and no 404 or 422"
    );
    for ((case, _, _, code), r) in calls.iter().zip(receipts[1..].iter().rev()) {
        assert_eq!((&r["error"], &r["fired"]), (&json!(code), &json!(false)), "{case}: {r}");
    }
    let by_status = |s: u64| receipts.iter().find(|r| r["status"] == s).unwrap();
    assert_eq!(by_status(405)["verification"], "not_checked");
    assert_eq!(by_status(401)["verification"], "failed");
    assert_eq!(by_status(401)["verification_error"], "no signature matches");
    assert_eq!(by_status(400)["verification"], "verified");
    assert_eq!((&by_status(202)["verification"], &by_status(202)["error"]), (&json!("verified"), &Value::Null));
}

#[tokio::test]
async fn a_rate_limited_call_is_recorded() {
    // Arrange
    let app = spawn_app_with(|c| {
        c.webhook.rate_limit_per_second = 1;
        c.webhook.rate_limit_burst = 1;
    })
    .await;
    let hook = app.hook(json!({})).await;

    // Act
    let first = app.call_hook(&hook.url(&app), &[], "{}").await;
    let second = app.call_hook(&hook.url(&app), &[], "{}").await;

    // Assert
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (202, 429));
    let receipts = app.receipts_eventually(&hook, 2).await;
    assert_eq!((&receipts[0]["status"], &receipts[0]["error"]), (&json!(429), &json!("rate_limited")));
}

#[tokio::test]
async fn receipts_are_listed_newest_first_and_filtered_by_status_fired_and_since() {
    // Arrange: one fire, three calls inside its debounce window, one refused method
    let app = spawn_app().await;
    let hook = app.hook(json!({"debounce_period": 60_000})).await;
    for n in 1..=4 {
        assert_eq!(app.call_hook(&hook.url(&app), &[], format!(r#"{{"n":{n}}}"#)).await.status(), 202);
    }
    assert_eq!(app.client.delete(hook.url(&app)).send().await.unwrap().status(), 405);
    let all = app.receipts_eventually(&hook, 5).await;

    // Act / Assert: the whole list
    let (listed, total) = app.receipts(&hook, "").await;
    assert_eq!((ids(&listed), total), (ids(&all), 5));
    let statuses: Vec<u64> = all.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [405, 202, 202, 202, 202]);
    let bodies: Vec<&str> = all[1..].iter().map(|r| r["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, [r#"{"n":4}"#, r#"{"n":3}"#, r#"{"n":2}"#, r#"{"n":1}"#], "newest first");
    let times: Vec<u64> = all.iter().map(|r| r["received_at"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "received_at does not increase: {times:?}");

    // Filters and paging
    let since = times[2];
    let expected_since: Vec<&str> =
        all.iter().filter(|r| r["received_at"].as_u64().unwrap() >= since).map(id).collect();
    let cases: [(String, Vec<&str>, usize); 8] = [
        ("fired=true".into(), vec![id(&all[4])], 1),
        ("fired=false".into(), ids(&all[..4]), 4),
        ("status=405".into(), vec![id(&all[0])], 1),
        ("status=202".into(), ids(&all[1..]), 4),
        ("status=202&fired=false".into(), ids(&all[1..4]), 3),
        ("limit=2&offset=1".into(), ids(&all[1..3]), 5),
        (format!("since={since}"), expected_since.clone(), expected_since.len()),
        (format!("since={}", now_ms() + 60_000), vec![], 0),
    ];
    for (query, expected, expected_total) in cases {
        let (items, total) = app.receipts(&hook, &query).await;
        assert_eq!((ids(&items), total), (expected, expected_total), "?{query}");
    }

    for query in ["status=abc", "fired=maybe", "since=yesterday", "limit=10001", "offset=-1"] {
        let res = app.get(&format!("{}?{query}", hook.receipts_path())).await;
        assert_rejected(res, query, 400, "invalid_query", None).await;
    }
}

#[tokio::test]
async fn support_keys_may_read_receipts_but_not_replay_them() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    app.call_hook(&hook.url(&app), &[], "{}").await;
    let rcpt = id(&app.receipts_eventually(&hook, 1).await[0]).to_owned();
    let support = app.key_with_role("support").await;
    let one = format!("{}/{rcpt}", hook.receipts_path());

    // Act
    let list = app.with_key(Some(&support), Method::GET, &hook.receipts_path()).send().await.unwrap();
    let get = app.with_key(Some(&support), Method::GET, &one).send().await.unwrap();
    let replay = app.with_key(Some(&support), Method::POST, &replay_path(&hook, &rcpt)).send().await.unwrap();
    let anonymous = app.with_key(None, Method::GET, &hook.receipts_path()).send().await.unwrap();

    // Assert
    assert_eq!((list.status().as_u16(), get.status().as_u16()), (200, 200));
    assert_error(replay, 403, "forbidden").await;
    assert_error(anonymous, 401, "unauthorized").await;
    assert_eq!(app.trigger_count(&hook).await, 1, "the refused replay fired nothing");
}

#[tokio::test]
async fn unknown_receipts_and_instances_are_404() {
    // Arrange
    let app = spawn_app().await;
    let (hook, other) = (app.hook(json!({})).await, app.hook(json!({})).await);
    app.call_hook(&other.url(&app), &[], "{}").await;
    let others = id(&app.receipts_eventually(&other, 1).await[0]).to_owned();
    let unknown_instance = format!("/systems/{}/triggers/{}/receipts", hook.system, unknown_id("trig-"));
    let cases = [
        ("an unknown receipt", format!("{}/{}", hook.receipts_path(), unknown_id("rcpt-"))),
        ("another instance's receipt", format!("{}/{others}", hook.receipts_path())),
        ("a malformed receipt id", format!("{}/not-a-receipt", hook.receipts_path())),
        ("an unknown instance", unknown_instance.clone()),
        ("the instance under another system", format!("/systems/{}/triggers/{}/receipts", other.system, hook.id())),
        ("a receipt of an unknown instance", format!("{unknown_instance}/{others}")),
    ];

    for (case, path) in cases {
        // Act
        let res = app.get(&path).await;

        // Assert
        assert_rejected(res, case, 404, "not_found", None).await;
    }
    let res = app.post(&replay_path(&hook, &others), &json!({})).await;
    assert_rejected(res, "replaying another instance's receipt", 404, "not_found", None).await;
    assert_eq!(app.trigger_count(&other).await, 1);
}

#[tokio::test]
async fn credentials_never_reach_a_receipt() {
    // Arrange
    let app = spawn_app().await;
    let token = "glpat-receipts-token-0123";
    let gitlab = app.signed_hook(json!({"scheme": "token", "header": "X-Gitlab-Token"}), token).await;
    let github = app.hook(json!({"webhook_verification": {"scheme": "github"}})).await;
    let github_secret = app.set_signing_secret(&github, json!({})).await["secret"].as_str().unwrap().to_owned();
    let standard = app.hook(json!({"webhook_verification": {"scheme": "standard_webhooks"}})).await;
    let standard_secret = app.set_signing_secret(&standard, json!({})).await["secret"].as_str().unwrap().to_owned();
    let credentials: CallHeaders = vec![
        ("Authorization", "Bearer bearer-credential-123".into()),
        ("Cookie", "session=cookie-credential-456".into()),
        ("Proxy-Authorization", "Basic proxy-credential-789".into()),
        ("X-API-Key", "api-key-credential-000".into()),
    ];
    let body = br#"{"object_kind":"push"}"#;

    // Act
    for url in [gitlab.url(&app), gitlab.path_url(&app)] {
        let mut headers = credentials.clone();
        headers.push(("X-Gitlab-Token", token.to_owned()));
        assert_eq!(app.call_hook(&url, &headers, &body[..]).await.status(), 202);
    }
    let mut headers = credentials.clone();
    headers.extend(sign::github(&github_secret, body));
    assert_eq!(app.call_hook(&github.url(&app), &headers, &body[..]).await.status(), 202);
    let wrong = sign::github("not-the-secret", body);
    assert_eq!(app.call_hook(&github.url(&app), &wrong, &body[..]).await.status(), 401);
    let signed = sign::standard_webhooks(&standard_secret, &delivery_id("msg_"), now_epoch_seconds(), body);
    assert_eq!(app.call_hook(&standard.path_url(&app), &signed, &body[..]).await.status(), 202);

    // Assert
    let gitlab_receipts = app.receipts_eventually(&gitlab, 2).await;
    for r in &gitlab_receipts {
        for name in ["authorization", "cookie", "proxy-authorization", "x-api-key", "x-gitlab-token"] {
            assert_eq!(r["headers"][name], "[redacted]", "{name} in {r}");
        }
    }
    let secrets = [
        gitlab.secret(),
        github.secret(),
        standard.secret(),
        token,
        &github_secret,
        &standard_secret,
        standard_secret.trim_start_matches("whsec_"),
        "bearer-credential-123",
        "cookie-credential-456",
        "proxy-credential-789",
        "api-key-credential-000",
    ];
    for (hook, n) in [(&gitlab, 2), (&github, 2), (&standard, 1)] {
        app.receipts_eventually(hook, n).await;
        let text = app.get(&hook.receipts_path()).await.text().await.unwrap();
        for secret in secrets {
            assert!(!text.contains(secret), "the receipts of {} show {secret}: {text}", hook.id());
        }
    }
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_kept_as_base64() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let bytes = vec![0xff, 0x00, 0x01, b'{', 0xc3];

    // Act
    assert_eq!(app.call_hook(&hook.url(&app), &[], bytes.clone()).await.status(), 202);

    // Assert
    let r = &app.receipts_eventually(&hook, 1).await[0];
    assert_eq!(
        (&r["body_encoding"], &r["body_size"], &r["body_truncated"]),
        (&json!("base64"), &json!(5), &json!(false))
    );
    use base64::Engine as _;
    let kept = base64::engine::general_purpose::STANDARD.decode(r["body"].as_str().unwrap()).expect("base64");
    assert_eq!(kept, bytes);
}

#[tokio::test]
async fn a_body_over_the_receipt_limit_is_cut_and_cannot_be_replayed() {
    // Arrange
    let app = spawn_app_with(|c| c.receipts.max_body_bytes = 8).await;
    let hook = app.hook(json!({})).await;
    assert_eq!(app.call_hook(&hook.url(&app), &[], "0123456789abcdef").await.status(), 202);
    let r = app.receipts_eventually(&hook, 1).await.remove(0);

    // Act
    let (status, new_receipt, body) = replay(&app, &hook, id(&r)).await;

    // Assert
    assert_eq!((&r["body"], &r["body_truncated"], &r["body_size"]), (&json!("01234567"), &json!(true), &json!(16)));
    assert_eq!((status, &body["error"]), (409, &json!("body_truncated")), "{body}");
    assert_eq!(new_receipt, None, "nothing was replayed");
    assert_eq!(app.trigger_count(&hook).await, 1);
}

#[tokio::test]
async fn only_the_newest_receipts_per_instance_are_kept() {
    // Arrange
    let app = spawn_app_with(|c| c.receipts.per_instance = 3).await;
    let hook = app.hook(json!({})).await;

    // Act
    for n in 1..=5 {
        assert_eq!(app.call_hook(&hook.url(&app), &[], format!("call-{n}")).await.status(), 202);
    }

    // Assert
    let kept = eventually(10, "the oldest receipts to go", || async {
        let (items, total) = app.receipts(&hook, "").await;
        let bodies: Vec<String> = items.iter().map(|r| r["body"].as_str().unwrap().to_owned()).collect();
        (total == 3 && bodies.first().map(String::as_str) == Some("call-5")).then_some(bodies)
    })
    .await;
    assert_eq!(kept, ["call-5", "call-4", "call-3"]);
}

#[tokio::test]
async fn calls_beyond_the_receipt_rate_are_served_but_not_recorded() {
    // Arrange: a rate of 2 a second, and 8 calls well within one second
    let app = spawn_app_with(|c| c.receipts.max_per_second = 2).await;
    let hook = app.hook(json!({})).await;

    // Act
    let started = std::time::Instant::now();
    for n in 1..=8 {
        assert_eq!(app.call_hook(&hook.url(&app), &[], format!("call-{n}")).await.status(), 202, "served");
    }
    let elapsed = started.elapsed();

    // Assert: the first two are recorded; of the rest, only what the rate refilled meanwhile
    let recorded = eventually(10, "the first receipts", || async {
        let (items, total) = app.receipts(&hook, "").await;
        (total >= 2).then_some(items)
    })
    .await;
    let refilled = 2 * elapsed.as_secs() as usize + 2;
    assert!(recorded.len() <= 2 + refilled, "{} recorded in {elapsed:?}", recorded.len());
    assert!(recorded.len() < 8 || elapsed.as_secs() >= 3, "the rate held: {} recorded", recorded.len());
    let bodies: Vec<&str> = recorded.iter().rev().take(2).map(|r| r["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["call-1", "call-2"], "the first calls within the rate are the ones recorded");
    assert_eq!(app.trigger_count(&hook).await, 8, "every call fired");
}

#[tokio::test]
async fn with_receipts_disabled_nothing_is_recorded() {
    // Arrange
    let app = spawn_app_with(|c| c.receipts.enabled = false).await;
    let hook = app.hook(json!({})).await;

    // Act
    for _ in 0..3 {
        assert_eq!(app.call_hook(&hook.url(&app), &[], "{}").await.status(), 202);
    }

    // Assert: with receipts off there is no writer at all, so nothing can still be on its way.
    assert_eq!(app.receipts(&hook, "").await, (vec![], 0));
    assert_eq!(app.trigger_count(&hook).await, 3, "calls are unaffected");
}

#[tokio::test]
async fn a_replay_answers_like_the_call_and_is_recorded_as_a_replay() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let res = app.call_hook(&hook.url(&app), &[("X-Custom", "kept".into())], r#"{"n":1}"#).await;
    assert_eq!(res.status(), 202);
    let original = app.receipts_eventually(&hook, 1).await.remove(0);

    // Act
    let (status, new_receipt, body) = replay(&app, &hook, id(&original)).await;

    // Assert
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, json!({"trigger_instance": hook.id(), "fired": true, "triggered": false, "trigger_count": 2}));
    let new_receipt = new_receipt.expect("the answer names the new receipt");
    assert_id_shape(&json!(new_receipt), "rcpt-");
    let r = app.receipt_eventually(&hook, &new_receipt).await;
    assert_eq!((&r["replay_of"], &r["fired"], &r["status"]), (&json!(id(&original)), &json!(true), &json!(202)));
    assert_eq!(
        (&r["method"], &r["body"], &r["headers"]["x-custom"]),
        (&json!("POST"), &json!(r#"{"n":1}"#), &json!("kept"))
    );
    assert_eq!(r["verification"], "not_configured");
    assert_eq!(app.trigger_count(&hook).await, 2);
}

#[tokio::test]
async fn a_replay_skips_the_signature_timestamp_and_duplicate_checks() {
    // Arrange: a signed call, accepted, then re-sent until its timestamp is stale.
    let app = spawn_app().await;
    let secret = sign::whsec(b"receipts-replay-key-of-32-bytes!");
    let hook = app.signed_hook(json!({"scheme": "standard_webhooks", "tolerance_s": 2}), &secret).await;
    let body = br#"{"type":"invoice.paid"}"#;
    let headers = sign::standard_webhooks(&secret, "msg_replayed", now_epoch_seconds(), body);
    assert_eq!(app.call_hook(&hook.url(&app), &headers, &body[..]).await.status(), 202);
    let original = app.receipts_eventually(&hook, 1).await.remove(0);
    assert_eq!((&original["verification"], &original["delivery_id"]), (&json!("verified"), &json!("msg_replayed")));
    let stale = eventually(15, "the signed timestamp to go stale", || async {
        let res = app.call_hook(&hook.url(&app), &headers, &body[..]).await;
        match res.status().as_u16() {
            200 => None,
            401 => Some(json(res).await),
            other => panic!("the re-sent call got {other}"),
        }
    })
    .await;
    assert!(stale["message"].as_str().unwrap().contains("timestamp"), "{stale}");

    // Act
    let (status, new_receipt, answer) = replay(&app, &hook, id(&original)).await;

    // Assert
    assert_eq!((status, &answer["fired"], &answer["trigger_count"]), (202, &json!(true), &json!(2)), "{answer}");
    let r = app.receipt_eventually(&hook, &new_receipt.expect("X-Switchboard-Receipt")).await;
    assert_eq!(
        (&r["verification"], &r["duplicate"], &r["replay_of"]),
        (&json!("skipped"), &json!(false), &json!(id(&original)))
    );
    let fresh = sign::standard_webhooks(&secret, "msg_replayed", now_epoch_seconds(), body);
    let (status, again) = status_and_body(app.call_hook(&hook.url(&app), &fresh, &body[..]).await).await;
    assert_eq!((status, &again["duplicate"], &again["receipt"]), (200, &json!(true), &json!(id(&original))), "{again}");
    assert_eq!(app.trigger_count(&hook).await, 2);
}

#[tokio::test]
async fn a_refused_call_can_be_replayed_once_fixed() {
    // Arrange: a call refused because its sender signed with an old secret.
    let app = spawn_app().await;
    let secret = "gh-replay-secret";
    let hook = app.signed_hook(json!({"scheme": "github"}), secret).await;
    let body = br#"{"action":"published"}"#;
    assert_eq!(app.call_hook(&hook.url(&app), &sign::github("old-secret", body), &body[..]).await.status(), 401);
    let refused = app.receipts_eventually(&hook, 1).await.remove(0);

    // Act
    let (status, _, answer) = replay(&app, &hook, id(&refused)).await;

    // Assert
    assert_eq!((status, &answer["fired"]), (202, &json!(true)), "the admin vouches for the call: {answer}");
    assert_eq!(app.trigger_count(&hook).await, 1);
}

#[tokio::test]
async fn a_replay_of_an_exec_call_answers_with_the_driver() {
    // Arrange
    let app = spawn_app_with_drivers(test_driver::registry()).await;
    let system = app.create_system("Replay exec").await;
    app.create_module("Probe", Some(id(&system))).await;
    let trigger =
        app.create_trigger(json!({"name": "Exec", "enable_webhook": true, "supported_methods": ["POST"]})).await;
    let instance = app
        .create(
            &format!("/systems/{}/triggers", id(&system)),
            json!({"trigger_id": id(&trigger), "exec_enabled": true}),
        )
        .await;
    let hook = Hook { system: id(&system).to_owned(), trigger: id(&trigger).to_owned(), instance };
    let url = format!("{}&exec=true&mod=Probe_1&method=echo&extra=1", hook.url(&app));
    let first = app.call_hook(&url, &[("X-Custom", "exec".into())], "hello").await;
    assert_eq!(first.status(), 201);
    let original = app.receipts_eventually(&hook, 1).await.remove(0);

    // Act
    let res = app.admin(Method::POST, &replay_path(&hook, id(&original))).send().await.unwrap();

    // Assert
    assert_eq!(res.status(), 201, "the driver's status");
    assert_eq!(res.headers()["x-probe"], "yes", "the driver's headers");
    let new_receipt = res.headers()["x-switchboard-receipt"].to_str().unwrap().to_owned();
    let seen = json(res).await;
    assert_eq!((&seen["method"], &seen["body"]), (&json!("POST"), &json!("hello")));
    assert_eq!(seen["query"], json!([["extra", "1"]]), "engine parameters are not passed on");
    assert!(seen["headers"].as_array().unwrap().iter().any(|h| h == &json!(["x-custom", "exec"])), "{seen}");
    let exec = &original["exec"];
    assert_eq!((&exec["module"], &exec["method"], &exec["status"]), (&json!("Probe_1"), &json!("echo"), &json!(201)));
    assert!(exec["latency_ms"].is_u64(), "{exec}");
    let replayed = app.receipt_eventually(&hook, &new_receipt).await;
    assert_eq!((&replayed["exec"]["status"], &replayed["replay_of"]), (&json!(201), &json!(id(&original))));
    assert_eq!(app.trigger_count(&hook).await, 2);
}

#[tokio::test]
async fn duplicate_and_filtered_calls_are_recorded_as_such() {
    // Arrange
    let app = spawn_app().await;
    let filter = json!({"all": [{"pointer": "/go", "operator": "equal", "value": true}]});
    let hook = app.hook(json!({"webhook_filter": filter})).await;
    let key = [("Idempotency-Key", "filtered-once".to_owned())];

    // Act
    assert_eq!(app.call_hook(&hook.url(&app), &key, r#"{"go":false}"#).await.status(), 202);
    assert_eq!(app.call_hook(&hook.url(&app), &key, r#"{"go":false}"#).await.status(), 200);

    // Assert
    let receipts = app.receipts_eventually(&hook, 2).await;
    let (duplicate, filtered) = (&receipts[0], &receipts[1]);
    assert_eq!(
        (&filtered["filtered"], &filtered["fired"], &filtered["status"], &filtered["duplicate"]),
        (&json!(true), &json!(false), &json!(202), &json!(false)),
        "{filtered}"
    );
    assert_eq!(
        (&duplicate["duplicate"], &duplicate["fired"], &duplicate["status"], &duplicate["delivery_id"]),
        (&json!(true), &json!(false), &json!(200), &json!("filtered-once")),
        "{duplicate}"
    );
}

#[tokio::test]
async fn deleting_the_instance_deletes_its_receipts() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    app.call_hook(&hook.url(&app), &[], "{}").await;
    let rcpt = id(&app.receipts_eventually(&hook, 1).await[0]).to_owned();

    // Act
    app.delete_ok(&hook.path()).await;

    // Assert
    assert_error(app.get(&hook.receipts_path()).await, 404, "not_found").await;
    assert_error(app.get(&format!("{}/{rcpt}", hook.receipts_path())).await, 404, "not_found").await;
    assert_error(app.post(&replay_path(&hook, &rcpt), &json!({})).await, 404, "not_found").await;
}

#[tokio::test]
async fn the_webhook_received_event_names_the_receipt() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;
    let res = app.get(&format!("/events?system_id={}", hook.system)).await;
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut buffer = String::new();

    // Act
    assert_eq!(app.call_hook(&hook.url(&app), &[("X-Request-ID", "req-event".into())], "{}").await.status(), 202);

    // Assert
    let event = next_sse_event(&mut stream, &mut buffer, |e| e["event"] == "webhook.received").await;
    assert_eq!(event["data"]["trigger_instance"], hook.id());
    let rcpt = event["data"]["receipt"].as_str().unwrap_or_else(|| panic!("the event names a receipt: {event}"));
    assert_id_shape(&json!(rcpt), "rcpt-");
    let r = app.receipt_eventually(&hook, rcpt).await;
    assert_eq!((&r["request_id"], &r["fired"]), (&json!("req-event"), &json!(true)), "the receipt is this call's");
}
