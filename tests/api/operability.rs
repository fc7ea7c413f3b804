//! Metrics, readiness and request ids.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn metrics_count_requests_webhook_outcomes_fires_and_exec_latency() {
    let app = spawn_app().await;
    let system = app.create_system("Metered").await;
    app.create_module("Display", Some(id(&system))).await;
    let trigger = app.create_trigger(json!({"name": "M", "enable_webhook": true})).await;
    let inst = app
        .create(
            &format!("/systems/{}/triggers", id(&system)),
            json!({"trigger_id": id(&trigger), "exec_enabled": true}),
        )
        .await;
    let url = inst["webhook_url"].as_str().unwrap();
    app.client.post(url).send().await.unwrap();
    app.client.post(format!("{url}x")).send().await.unwrap();
    let exec = app
        .client
        .post(format!("{url}&exec=true&mod=Display&method=request"))
        .json(&json!({"power": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(exec.status(), 200);

    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    for needle in [
        "switchboard_http_requests_total{route=\"systems\",status=\"2xx\"}",
        "switchboard_http_request_duration_seconds_bucket{route=\"webhook\"",
        "switchboard_webhook_responses_total{code=\"202\"}",
        "switchboard_webhook_responses_total{code=\"404\"}",
        "switchboard_trigger_fires_total",
        "switchboard_exec_duration_seconds_count{driver=\"Display\"}",
        "switchboard_delivery_queue_depth",
        "switchboard_state_commit_batch_size_count",
        "switchboard_state_commit_duration_seconds_bucket",
        "switchboard_state_commit_failures_total",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\\n{text}");
    }
    let commits = text
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_state_commit_batch_size_count "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap();
    assert!(commits >= 1.0, "the fire went through the group commit");
}

#[tokio::test]
async fn readyz_reports_the_store_and_workers() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await, json!({"store": true, "workers": true}));
}

#[tokio::test]
async fn request_ids_are_honoured_or_generated_and_echoed() {
    let app = spawn_app().await;
    let given = app.admin(Method::GET, "/systems").header("X-Request-ID", "abc-123").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "abc-123");

    let generated = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    let too_long = "x".repeat(200);
    let replaced = app.client.get(app.url("/healthz")).header("X-Request-ID", &too_long).send().await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], too_long.as_str());
    let on_error = app.client.get(app.url("/nope")).header("X-Request-ID", "err-1").send().await.unwrap();
    assert_eq!(on_error.status(), 404);
    assert_eq!(on_error.headers()["x-request-id"], "err-1", "errors carry the id too");
}
