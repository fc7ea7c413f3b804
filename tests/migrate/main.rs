//! `switchboard migrate-store` end to end: a deployment built through the API on sled is copied by the
//! real binary into a fresh PostgreSQL database, and a server on that database serves all of it.
//!
//! A test binary of its own: each test runs a server on sled and then one on PostgreSQL, which neither
//! single-backend suite (`tests/api`, `tests/api_postgres`) is set up for, and it builds without them.

/// The backend `spawn_app` starts on; the PostgreSQL servers here are configured explicitly.
pub const BACKEND: switchboard::config::StoreBackend = switchboard::config::StoreBackend::Sled;

#[path = "../support/postgres.rs"]
mod postgres_support;

#[path = "../api/helpers.rs"]
mod helpers;

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};
use switchboard::config::{Config, PostgresUrl, StoreBackend};

use helpers::*;

/// Runs `switchboard migrate-store --from … --to …`.
async fn migrate(from: String, to: String) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["migrate-store", "--from", &from, "--to", &to])
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the migration task")
}

fn on_postgres(config: &mut Config, url: &str) {
    config.store.backend = StoreBackend::Postgres;
    config.store.postgres_url = Some(PostgresUrl::parse(url).expect("a PostgreSQL URL"));
    config.store.postgres_pool_size = 4;
}

fn outbound_settings(config: &mut Config) {
    config.outbound.allow_private_networks = true;
    config.outbound.retry_schedule_ms = vec![20, 20, 20];
    config.outbound.pause_after_failures = 2;
    config.actions.retry_schedule_ms = vec![3000];
}

/// What the sled deployment holds, to look for on PostgreSQL.
struct Deployment {
    system: Value,
    hook: Hook,
    fires: u64,
    key: String,
    callout: Value,
    subscription: Value,
    /// Systems created after the subscription paused: their events wait in its queue.
    queued: Vec<String>,
    receipts: Vec<Value>,
    runs: Vec<Value>,
    /// A hook whose run waits for a retry: open when the server stops.
    later: Hook,
    open_run: String,
}

/// A system with two modules, a hook fired three times (the third call a duplicate), an action run
/// per fire, a key, a callout, and a subscription paused by a receiver that is down, events queued.
async fn build(app: &TestApp, receiver: &TestReceiver) -> Deployment {
    receiver.respond_on("/down", Reply::status(500));
    let subscription = app
        .create("/webhooks", json!({ "name": "Ops", "url": receiver.url("/down"), "events": ["system.created"] }))
        .await;
    let system = app.create_system("Plant").await;
    let sys = id(&system).to_owned();
    for driver in ["Display", "Display"] {
        app.create_module(driver, Some(&sys)).await;
    }
    let action = json!({ "method": "POST", "url": receiver.url("/action") });
    let hook = app.hook_in(&sys, json!({ "actions": { "requests": [action] } })).await;
    for key in ["call-1", "call-2", "call-1"] {
        let res = app.call_hook(&hook.url(app), &[("Idempotency-Key", key.to_owned())], "{}").await;
        assert!(res.status().is_success(), "the call is taken");
    }
    let key = app.key_with_role("admin").await;
    let callout =
        app.create("/callouts", json!({ "name": "Bookings", "url": receiver.url("/c"), "on": ["exec"] })).await;
    let path = format!("/webhooks/{}", id(&subscription));
    eventually(10, "the subscription pauses", || async {
        (!app.get_ok(&path).await["paused_at"].is_null()).then_some(())
    })
    .await;
    let mut queued = vec![sys.clone()];
    for name in ["Second", "Third"] {
        queued.push(id(&app.create_system(name).await).to_owned());
    }
    let receipts = app.receipts_eventually(&hook, 3).await;
    let runs = eventually(10, "two finished runs", || async {
        let (runs, _) = app.list(&format!("{}/runs", hook.path())).await;
        (runs.len() == 2 && runs.iter().all(|r| r["status"] == "succeeded")).then_some(runs)
    })
    .await;
    let (later, open_run) = open_run(app, receiver, &sys).await;
    let (system, fires) = (app.get_ok(&format!("/systems/{sys}")).await, app.trigger_count(&hook).await);
    Deployment { system, hook, fires, key, callout, subscription, queued, receipts, runs, later, open_run }
}

/// A hook in `system` fired once, its action failed once and waiting for its retry; and the run's id.
async fn open_run(app: &TestApp, receiver: &TestReceiver, system: &str) -> (Hook, String) {
    receiver.respond_on("/later", Reply::status(500));
    let action = json!({ "method": "POST", "url": receiver.url("/later") });
    let later = app.hook_in(system, json!({ "name": "Later", "actions": { "requests": [action] } })).await;
    assert!(app.call_hook(&later.url(app), &[], "{}").await.status().is_success());
    let run = eventually(10, "a run waiting for its retry", || async {
        let (runs, _) = app.list(&format!("{}/runs", later.path())).await;
        runs.into_iter().find(|r| r["status"] == "pending" && r.get("next_attempt_at").is_some())
    })
    .await;
    (later, id(&run).to_owned())
}

/// The system with its module order, the instance's count, receipts and runs, the key, the callout.
async fn assert_objects_kept(app: &TestApp, before: &Deployment) {
    let sys = id(&before.system);
    assert_eq!(app.get_ok(&format!("/systems/{sys}")).await, before.system, "the system and its module order");
    assert_eq!(app.trigger_count(&before.hook).await, before.fires);
    assert_eq!(app.list(&format!("{}?limit=100", before.hook.receipts_path())).await.0, before.receipts);
    assert_eq!(app.list(&format!("{}/runs", before.hook.path())).await.0, before.runs);
    let callout = app.get_ok(&format!("/callouts/{}", id(&before.callout))).await;
    assert_eq!(callout["name"], before.callout["name"]);
    let res = app.with_key(Some(&before.key), reqwest::Method::GET, "/systems").send().await.expect("sent");
    assert_eq!(res.status(), 200, "the key still works");
}

#[tokio::test]
async fn a_sled_deployment_moves_to_postgres_whole() {
    // Arrange: a deployment on sled, its server stopped.
    let receiver = TestReceiver::start().await;
    let app = spawn_app_with(outbound_settings).await;
    let before = build(&app, &receiver).await;
    let (_, dir) = app.stop().await;
    let url = postgres_support::fresh_database().await;

    // Act
    let out = migrate(format!("sled:{}", dir.path().display()), format!("postgres:{url}")).await;

    // Assert: every count printed and matching.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for kind in ["systems 3", "modules 2", "instances 2", "outbound_queue 3", "runs 3", "webhook_deliveries 2"] {
        let (name, n) = kind.split_once(' ').unwrap();
        let row = stdout.lines().find(|l| l.split_whitespace().next() == Some(name)).expect(name);
        assert_eq!(row.split_whitespace().collect::<Vec<_>>(), [name, n, n], "{stdout}");
    }

    // Assert: a server on PostgreSQL serves it all, and delivers the queue once enabled.
    let app = spawn_app_with(|c| {
        outbound_settings(c);
        on_postgres(c, &url);
    })
    .await;
    assert_objects_kept(&app, &before).await;
    let repeat = app.call_hook(&before.hook.url(&app), &[("Idempotency-Key", "call-2".to_owned())], "{}").await;
    assert_eq!(json(repeat).await["duplicate"], true, "the delivery ids seen came along");
    receiver.respond_on("/down", Reply::status(204));
    let failed = receiver.received_on("/down").len();
    app.create_ok(&format!("/webhooks/{}/enable", id(&before.subscription)), json!({})).await;
    receiver.respond_on("/later", Reply::status(200));
    let path = format!("{}/runs/{}", before.later.path(), before.open_run);
    let resumed = eventually(10, "the open run resumed", || async {
        Some(app.get_ok(&path).await).filter(|r| r["status"] != "pending" && r["status"] != "running")
    })
    .await;
    assert_eq!((&resumed["status"], &resumed["actions"][0]["attempt_count"]), (&json!("succeeded"), &json!(2)));
    let got = receiver.wait_for_on("/down", failed + 3, 10).await;
    let order: Vec<String> =
        got[failed..].iter().map(|r| r.json()["system_id"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(order, before.queued, "the queued events, in order");
    app.stop().await;
}

#[tokio::test]
async fn a_target_holding_data_is_refused_and_left_as_it_was() {
    // Arrange: two sled deployments; the first already migrated.
    let url = postgres_support::fresh_database().await;
    let mut dirs = Vec::new();
    for name in ["First", "Second"] {
        let app = spawn_app().await;
        app.create_system(name).await;
        dirs.push(app.stop().await.1);
    }
    let first = migrate(format!("sled:{}", dirs[0].path().display()), format!("postgres:{url}")).await;
    assert!(first.status.success());

    // Act
    let second = migrate(format!("sled:{}", dirs[1].path().display()), format!("postgres:{url}")).await;

    // Assert
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(stderr.contains("already holds data") && stderr.contains("systems"), "{stderr}");
    let app = spawn_app_with(|c| on_postgres(c, &url)).await;
    let (systems, _) = app.list("/systems").await;
    assert_eq!(systems.iter().map(|s| s["name"].clone()).collect::<Vec<_>>(), [json!("First")]);
    app.stop().await;
}

#[tokio::test]
async fn bad_stores_are_one_line_errors_that_never_show_the_password() {
    let live = spawn_app().await;
    let in_use = live.data_path().display().to_string();
    let empty = tempfile::TempDir::new().unwrap();
    let empty = empty.path().display().to_string();
    let to = "postgres:postgres://sb:hunter2@127.0.0.1:1/sb".to_owned();
    let missing = Path::new(&empty).join("nothing").display().to_string();
    let cases = [
        ("an unknown scheme", "mysql:/x".to_owned(), to.clone(), "unknown store `mysql`"),
        ("no directory", "sled:".to_owned(), to.clone(), "names no directory"),
        ("a bad URL", format!("sled:{in_use}"), "postgres:not a url".to_owned(), "not a PostgreSQL connection URL"),
        ("the wrong way round", to.clone(), format!("sled:{in_use}"), "only sled → PostgreSQL"),
        ("a missing directory", format!("sled:{missing}"), to.clone(), "no sled store in"),
        ("a directory that is no store", format!("sled:{empty}"), to.clone(), "no sled store in"),
        ("a store in use", format!("sled:{in_use}"), to.clone(), "is in use"),
        ("an unreachable database", format!("sled:{}", make_store().await), to.clone(), "127.0.0.1"),
    ];
    for (case, from, to, expected) in cases {
        let out = migrate(from, to).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{case}: fails");
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{case}: one line: {stderr}");
        assert!(!stderr.contains("hunter2"), "{case}: no password: {stderr}");
    }
    live.stop().await;
}

/// A stopped sled store; its directory lives for the rest of the process.
async fn make_store() -> String {
    let (_, dir) = spawn_app().await.stop().await;
    let path = dir.path().display().to_string();
    std::mem::forget(dir);
    path
}
