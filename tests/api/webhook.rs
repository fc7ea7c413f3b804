//! Trigger webhooks through real HTTP: the check order, debounce, concurrency and durability.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn webhook_trigger(debounce_ms: u64, methods: &[&str]) -> Value {
    json!({
        "name": "Doorbell",
        "enable_webhook": true,
        "debounce_period": debounce_ms,
        "supported_methods": methods,
    })
}

fn url(instance: &Value) -> String {
    instance["webhook_url"].as_str().expect("admins see the webhook URL").to_owned()
}

fn secret(instance: &Value) -> &str {
    instance["webhook_secret"].as_str().expect("admins see the secret")
}

async fn call(app: &TestApp, method: Method, url: &str) -> reqwest::Response {
    app.client.request(method, url).send().await.expect("request sent")
}

async fn state(app: &TestApp, instance: &Value) -> Value {
    let path = format!("/systems/{}/triggers/{}", instance["control_system_id"].as_str().unwrap(), id(instance));
    json(app.get(&path).await).await
}

async fn count(app: &TestApp, instance: &Value) -> u64 {
    state(app, instance).await["trigger_count"].as_u64().unwrap()
}

#[tokio::test]
async fn an_accepted_call_fires_and_answers_202_with_the_state() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(60_000, &["POST"])).await;

    let res = call(&app, Method::POST, &url(&inst)).await;

    assert_eq!(res.status(), 202);
    let body = json(res).await;
    assert_eq!(body, json!({"trigger_instance": id(&inst), "fired": true, "triggered": true, "trigger_count": 1}));
    let after = state(&app, &inst).await;
    assert_eq!(after["triggered"], true);
    assert_eq!(after["trigger_count"], 1);
    assert!(after["last_fired_at"].as_u64().is_some());
}

#[tokio::test]
async fn the_secret_may_be_a_path_segment() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;
    let path_url = app.api(&format!("/webhook/{}/notify/{}", id(&inst), secret(&inst)));

    let res = call(&app, Method::POST, &path_url).await;

    assert_eq!(res.status(), 202);
    assert_eq!(json(res).await["fired"], true);
}

#[tokio::test]
async fn a_missing_secret_is_422_before_anything_else() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;
    for (case, url) in [
        ("no secret parameter", app.api(&format!("/webhook/{}/notify", id(&inst)))),
        ("empty secret", app.api(&format!("/webhook/{}/notify?secret=", id(&inst)))),
        ("unknown instance without secret", app.api("/webhook/trig-nope/notify")),
    ] {
        let res = call(&app, Method::POST, &url).await;
        let body = assert_error(res, 422, "missing_secret").await;
        assert!(body["message"].is_string(), "{case}");
    }
    assert_eq!(count(&app, &inst).await, 0);
}

#[tokio::test]
async fn every_kind_of_miss_is_the_same_404() {
    let app = spawn_app().await;
    let (system, trigger, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;
    let good_secret = secret(&inst).to_owned();
    let disabled = app
        .create(&format!("/systems/{}/triggers", id(&system)), json!({"trigger_id": id(&trigger), "enabled": false}))
        .await;
    let no_webhook_trigger = app.create_trigger(json!({"name": "Quiet", "enable_webhook": false})).await;
    let no_webhook =
        app.create(&format!("/systems/{}/triggers", id(&system)), json!({"trigger_id": id(&no_webhook_trigger)})).await;
    let unknown = format!("trig-{}", "0".repeat(32));

    let cases = [
        ("unknown instance", app.api(&format!("/webhook/{unknown}/notify?secret={good_secret}"))),
        ("malformed id", app.api(&format!("/webhook/not-an-id/notify?secret={good_secret}"))),
        ("wrong secret", app.api(&format!("/webhook/{}/notify?secret=wrong", id(&inst)))),
        ("secret of another instance", format!("{}{}", url(&disabled).split('?').next().unwrap(), "?secret=x")),
        ("disabled instance", url(&disabled)),
        ("trigger without enable_webhook", url(&no_webhook)),
    ];
    let mut bodies = Vec::new();
    for (case, url) in cases {
        let res = call(&app, Method::POST, &url).await;
        assert_eq!(res.status(), 404, "{case}");
        bodies.push((case, res.text().await.unwrap()));
    }
    for (case, body) in &bodies {
        assert_eq!(body, &bodies[0].1, "{case} must look exactly like {}", bodies[0].0);
    }
    assert_eq!(count(&app, &disabled).await, 0);
    assert_eq!(count(&app, &no_webhook).await, 0);
}

#[tokio::test]
async fn a_method_outside_the_allowlist_is_405_with_allow() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["GET", "PUT"])).await;

    for method in [Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS] {
        let res = call(&app, method.clone(), &url(&inst)).await;
        let allow = res.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
        assert_error(res, 405, "method_not_allowed").await;
        assert_eq!(allow.as_deref(), Some("GET, PUT, HEAD"), "{method}");
    }
    assert_eq!(count(&app, &inst).await, 0, "rejected calls change nothing");

    for method in [Method::GET, Method::PUT] {
        assert_eq!(call(&app, method, &url(&inst)).await.status(), 202);
    }
    assert_eq!(count(&app, &inst).await, 2);
}

#[tokio::test]
async fn head_is_answered_like_get_without_a_body() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["GET"])).await;

    let res = call(&app, Method::HEAD, &url(&inst)).await;

    assert_eq!(res.status(), 202);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_eq!(count(&app, &inst).await, 1);
}

#[tokio::test]
async fn calls_over_the_rate_limit_are_429_with_retry_after_and_change_nothing() {
    let app = spawn_app_with(|c| {
        c.webhook.rate_limit_per_second = 1;
        c.webhook.rate_limit_burst = 2;
    })
    .await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;
    let (_, _, other) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;

    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..3 {
            s.push(call(&app, Method::POST, &url(&inst)).await.status().as_u16());
        }
        s
    };
    let limited = call(&app, Method::POST, &url(&inst)).await;
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_error(limited, 429, "rate_limited").await;

    assert_eq!(statuses, [202, 202, 429]);
    assert!((1..=2).contains(&retry_after), "retry after {retry_after}");
    assert_eq!(count(&app, &inst).await, 2);
    assert_eq!(call(&app, Method::POST, &url(&other)).await.status(), 202, "limits are per instance");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_changes_nothing() {
    let app = spawn_app_with(|c| c.webhook.max_body_bytes = 16).await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;

    let declared = app.client.post(url(&inst)).body(vec![b'x'; 17]).send().await.unwrap();
    assert_error(declared, 413, "payload_too_large").await;

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![b'x'; 10]), Ok(vec![b'y'; 10])];
    let streamed = app
        .client
        .post(url(&inst))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_error(streamed, 413, "payload_too_large").await;

    assert_eq!(count(&app, &inst).await, 0);
    let fits = app.client.post(url(&inst)).body(vec![b'x'; 16]).send().await.unwrap();
    assert_eq!(fits.status(), 202);
}

#[tokio::test]
async fn bad_exec_parameters_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;
    let base = url(&inst);
    let path_base = app.api(&format!("/webhook/{}/notify/{}", id(&inst), secret(&inst)));

    for (case, url) in [
        ("no mod", format!("{base}&exec=true&method=request")),
        ("no method", format!("{base}&exec=true&mod=Display")),
        ("empty method", format!("{base}&exec=true&mod=Display&method=")),
        ("index zero", format!("{base}&exec=true&mod=Display&index=0&method=request")),
        ("index negative", format!("{base}&exec=true&mod=Display&index=-1&method=request")),
        ("index not a number", format!("{base}&exec=true&mod=Display&index=two&method=request")),
        ("mod not a name", format!("{base}&exec=true&mod=Dis%20play&method=request")),
        ("index twice", format!("{base}&exec=true&mod=Display_2&index=2&method=request")),
        ("path index zero", format!("{path_base}/Display/0/request")),
        ("path index text", format!("{path_base}/Display/x/request")),
    ] {
        let res = call(&app, Method::POST, &url).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 400, "{case}: {body}");
        assert!(body.contains("\"invalid_exec\""), "{case}: {body}");
    }
    assert_eq!(count(&app, &inst).await, 0);
}

#[tokio::test]
async fn calls_inside_the_debounce_window_fire_once_and_the_window_closes() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(400, &["POST"])).await;

    let first = json(call(&app, Method::POST, &url(&inst)).await).await;
    let second = json(call(&app, Method::POST, &url(&inst)).await).await;
    assert_eq!((first["fired"].clone(), second["fired"].clone()), (json!(true), json!(false)));
    assert_eq!(second["triggered"], true);
    assert_eq!(second["trigger_count"], 1);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while state(&app, &inst).await["triggered"] == true {
        assert!(std::time::Instant::now() < deadline, "the window never closed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let after = json(call(&app, Method::POST, &url(&inst)).await).await;
    assert_eq!(after["fired"], true);
    assert_eq!(after["trigger_count"], 2);
}

#[tokio::test]
async fn shortening_the_debounce_period_ends_an_open_window_sooner() {
    let app = spawn_app().await;
    let (_, trigger, inst) = app.webhook_instance(webhook_trigger(600_000, &["POST"])).await;
    let trigger_path = format!("/triggers/{}", id(&trigger));
    let period = |ms: u64| {
        let (app, path) = (&app, &trigger_path);
        async move { app.send_ok(Method::PATCH, path, &json!({"debounce_period": ms})).await }
    };
    let closed = || async { (state(&app, &inst).await["triggered"] == false).then_some(()) };
    let called = std::time::Instant::now();
    assert_eq!(json(call(&app, Method::POST, &url(&inst)).await).await["fired"], true);

    // Ten minutes become 3 s: the open window now ends 3 s after the call, closed by its timer.
    period(3_000).await;
    if called.elapsed() < std::time::Duration::from_millis(2_500) {
        assert_eq!(state(&app, &inst).await["triggered"], true, "still inside the shortened window");
    }
    eventually(15, "the shortened window to close", closed).await;
    let again = json(call(&app, Method::POST, &url(&inst)).await).await;
    assert_eq!((again["fired"].clone(), again["trigger_count"].clone()), (json!(true), json!(2)));

    // Back to ten minutes, and then zero: the open window ends at the edit.
    period(600_000).await;
    assert_eq!(state(&app, &inst).await["triggered"], true, "a longer period keeps it open");
    period(0).await;
    eventually(5, "the window to close at the edit", closed).await;
    assert_eq!(json(call(&app, Method::POST, &url(&inst)).await).await["trigger_count"], 3);
}

#[tokio::test]
async fn with_period_zero_every_call_fires() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;

    for n in 1..=5u64 {
        let body = json(call(&app, Method::POST, &url(&inst)).await).await;
        assert_eq!(body["fired"], true);
        assert_eq!(body["trigger_count"], n);
    }
    assert_eq!(state(&app, &inst).await["triggered"], false, "a zero-length window is already closed");
}

async fn concurrent_calls(app: &TestApp, url: &str, n: usize) -> Vec<Value> {
    let calls = (0..n).map(|_| async {
        let res = app.client.post(url).send().await.unwrap();
        assert_eq!(res.status(), 202);
        res.json::<Value>().await.unwrap()
    });
    join_all(calls).await
}

#[tokio::test]
async fn two_hundred_simultaneous_calls_in_one_window_fire_exactly_once() {
    let app = spawn_app_with(|c| c.webhook.rate_limit_burst = 1000).await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(60_000, &["POST"])).await;

    let answers = concurrent_calls(&app, &url(&inst), 200).await;

    assert_eq!(answers.iter().filter(|a| a["fired"] == true).count(), 1);
    assert_eq!(count(&app, &inst).await, 1);
}

#[tokio::test]
async fn with_period_zero_n_simultaneous_calls_fire_n_times() {
    let app = spawn_app_with(|c| c.webhook.rate_limit_burst = 1000).await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;

    let answers = concurrent_calls(&app, &url(&inst), 200).await;

    assert_eq!(answers.iter().filter(|a| a["fired"] == true).count(), 200);
    let mut counts: Vec<u64> = answers.iter().map(|a| a["trigger_count"].as_u64().unwrap()).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=200).collect::<Vec<_>>(), "each fire saw its own count");
    assert_eq!(count(&app, &inst).await, 200);
}

#[tokio::test]
async fn a_rotated_secret_stops_working_at_once() {
    let app = spawn_app().await;
    let (system, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;
    assert_eq!(call(&app, Method::POST, &url(&inst)).await.status(), 202);

    let rotated = app.create_ok(&format!("/systems/{}/triggers/{}/secret", id(&system), id(&inst)), json!({})).await;

    assert_error(call(&app, Method::POST, &url(&inst)).await, 404, "not_found").await;
    assert_eq!(call(&app, Method::POST, &url(&rotated)).await.status(), 202);
}

#[tokio::test]
async fn counts_survive_a_restart() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST"])).await;
    for _ in 0..7 {
        assert_eq!(call(&app, Method::POST, &url(&inst)).await.status(), 202);
    }

    let app = app.restart().await;

    let after = state(&app, &inst).await;
    assert_eq!(after["trigger_count"], 7);
    assert_eq!(after["triggered"], false);
    let next = json(call(&app, Method::POST, &app.api(url(&inst).split("/api/engine/v2").nth(1).unwrap())).await).await;
    assert_eq!(next["trigger_count"], 8);
}

#[tokio::test]
async fn arbitrary_bytes_never_cause_a_5xx() {
    let app = spawn_app().await;
    let (_, _, inst) = app.webhook_instance(webhook_trigger(0, &["POST", "GET", "PUT", "PATCH", "DELETE"])).await;
    let base = app.api(&format!("/webhook/{}/notify", id(&inst)));
    let s = secret(&inst);
    let paths = [
        format!("{base}?secret=%FF%FE"),
        format!("{base}?secret={s}&exec=%00&mod=%FF&index=99999999999999999999&method=%C3%28"),
        format!("{base}?secret={s}&exec=true&mod=%FF&method=x"),
        format!("{base}/%FF%FE"),
        format!("{base}/{s}/%FF/1/%00"),
        format!("{base}/{s}/Display/18446744073709551616/x"),
        format!("{base}?&&&==&secret&secret={s}"),
        app.api("/webhook/%FF/notify?secret=x"),
        app.api(&format!("/webhook/{}/notify/%2F%2F", id(&inst))),
    ];
    for url in &paths {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let res = app
                .client
                .request(method.clone(), url)
                .header("X-Weird", reqwest::header::HeaderValue::from_bytes(b"\xff\xfe\x80").unwrap())
                .header("Content-Type", "application/json")
                .body(vec![0u8, 159, 146, 150, b'{'])
                .send()
                .await
                .unwrap();
            assert!(res.status().as_u16() < 500, "{method} {url} answered {}", res.status());
        }
    }
}
