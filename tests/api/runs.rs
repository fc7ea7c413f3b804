//! Runs of trigger actions: a fire of a trigger with actions commits a run, which the action worker
//! carries out in order, retrying each action on `[actions] retry_schedule_ms` (20 and 40 ms in tests,
//! so three attempts) before giving it up. A receiver inside the test plays the far end of request
//! actions; a test driver shows what a function action's call carries.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::run_driver;

/// Attempts an action gets under the test config: the first and two retries.
const ATTEMPTS: u64 = 3;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// An app whose request actions may reach the receiver on 127.0.0.1.
async fn local_app() -> TestApp {
    local_app_with(|_| {}).await
}

async fn local_app_with(customise: impl FnOnce(&mut switchboard::config::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.outbound.allow_private_networks = true;
        customise(c);
    })
    .await
}

/// A request action that POSTs to the receiver's `/hook`.
fn post_to(receiver: &TestReceiver) -> Value {
    json!({ "method": "POST", "url": receiver.url("/hook") })
}

fn runs_path(hook: &Hook) -> String {
    format!("{}/runs", hook.path())
}

fn run_path(hook: &Hook, run: &str) -> String {
    format!("{}/runs/{run}", hook.path())
}

/// Calls the hook and asserts that the call fired; returns the answer.
async fn fire(app: &TestApp, hook: &Hook) -> Value {
    let res = app.call_hook(&hook.url(app), &[], "").await;
    let (status, body) = status_and_body(res).await;
    assert_eq!((status, &body["fired"]), (202, &json!(true)), "the call fires: {body}");
    body
}

/// One page of the hook's runs (`query` without the `?`) and its `X-Total-Count`.
async fn runs(app: &TestApp, hook: &Hook, query: &str) -> (Vec<Value>, usize) {
    let path = if query.is_empty() { runs_path(hook) } else { format!("{}?{query}", runs_path(hook)) };
    app.list(&path).await
}

/// The hook's only run, which exists as soon as its fire is acknowledged.
async fn only_run(app: &TestApp, hook: &Hook) -> Value {
    let (items, total) = runs(app, hook, "").await;
    assert_eq!((items.len(), total), (1, 1), "one fire, one run: {items:#?}");
    items[0].clone()
}

/// Polls one run until it satisfies `check` (10 s at most).
async fn run_until(app: &TestApp, hook: &Hook, run: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let path = run_path(hook, run);
    eventually(10, what, || async {
        let run = app.get_ok(&path).await;
        check(&run).then_some(run)
    })
    .await
}

/// Waits for the run to finish and returns it.
async fn finished(app: &TestApp, hook: &Hook, run: &str) -> Value {
    run_until(app, hook, run, &format!("run {run} to finish"), |r| r.get("finished_at").is_some()).await
}

fn attempts(action: &Value) -> &Vec<Value> {
    action["attempts"].as_array().expect("attempts is an array")
}

fn errors(action: &Value) -> Vec<&str> {
    attempts(action).iter().map(|a| a["error"].as_str().unwrap_or("<none>")).collect()
}

fn ms(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("{value} is epoch milliseconds"))
}

/// The instance's `action_errors`, from its `/state`.
async fn action_errors(app: &TestApp, hook: &Hook) -> Value {
    app.get_ok(&format!("{}/state", hook.path())).await["action_errors"].clone()
}

/// Waits until the instance's `action_errors` is `n`.
async fn action_errors_reach(app: &TestApp, hook: &Hook, n: u64) {
    eventually(10, &format!("action_errors = {n}"), || async { (action_errors(app, hook).await == n).then_some(()) })
        .await;
}

// ---------------------------------------------------------------------------------------------
// Request actions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_fire_sends_its_request_action_once_with_the_runs_idempotency_key() {
    // Arrange
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    let action = json!({
        "method": "PUT", "url": receiver.url("/hook?room=12"), "headers": { "X-Token": "t0k3n" },
        "body": { "any": ["json", 1], "nested": { "ok": true } }, "timeout_ms": 5000,
    });
    let hook = app.hook(json!({ "actions": { "requests": [action.clone()] } })).await;
    let before = now_ms();

    // Act
    let fired = fire(&app, &hook).await;
    let after = now_ms();

    // Assert: the run committed with the fire, so it is listed as soon as the fire is acknowledged.
    let listed = only_run(&app, &hook).await;
    let run_id = id(&listed).to_owned();
    let run = finished(&app, &hook, &run_id).await;
    assert_id_shape(&run["id"], "run-");
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(
        (run["trigger_instance"].as_str(), run["system_id"].as_str(), run["trigger_id"].as_str()),
        (Some(hook.id()), Some(hook.system.as_str()), Some(hook.trigger.as_str()))
    );
    assert_eq!(run["fire"], fired["trigger_count"], "fire is the instance's trigger_count after the fire");
    assert_eq!(run["fire"], 1);
    let fired_at = ms(&run["fired_at"]);
    assert!((before..=after).contains(&fired_at), "fired_at {fired_at} within [{before}, {after}]");
    assert!(run.get("next_attempt_at").is_none(), "nothing waits: {run:#}");

    let actions = run["actions"].as_array().expect("actions is an array");
    assert_eq!(actions.len(), 1, "{run:#}");
    let a = &actions[0];
    assert_eq!((&a["index"], &a["type"]), (&json!(0), &json!("request")));
    for field in ["method", "url", "headers", "body", "timeout_ms"] {
        assert_eq!(a[field], action[field], "the action keeps its {field}");
    }
    assert_eq!((&a["status"], &a["attempt_count"]), (&json!("succeeded"), &json!(1)));
    let attempt = &attempts(a)[0];
    assert_eq!(attempts(a).len(), 1);
    assert_eq!(attempt["succeeded"], true);
    assert!(attempt.get("error").is_none(), "a success has no error: {attempt}");
    let (started, ended) = (ms(&attempt["started_at"]), ms(&attempt["finished_at"]));
    assert!(fired_at <= started && started <= ended, "{attempt}");
    assert!(attempt["latency_ms"].as_u64().is_some_and(|l| l <= ended - started + 1), "{attempt}");
    assert_eq!(ms(&run["finished_at"]), ended);

    let got = receiver.received();
    assert_eq!(got.len(), 1, "sent once: {got:#?}");
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_str()), ("PUT", "/hook", "room=12"));
    assert_eq!(r.header("x-token"), Some("t0k3n"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), action["body"]);
    assert_eq!(r.idempotency_key(), format!("{run_id}:0"));

    assert_eq!(runs(&app, &hook, "").await.0, vec![run.clone()], "the list shows the run as GET does");
    for (status, total) in [("succeeded", 1), ("failed", 0), ("pending", 0), ("running", 0)] {
        assert_eq!(runs(&app, &hook, &format!("status={status}")).await.1, total, "status={status}");
    }
}

#[tokio::test]
async fn a_request_without_a_body_sends_none() {
    // Arrange
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    let requests = json!([
        { "method": "DELETE", "url": receiver.url("/absent") },
        { "method": "POST", "url": receiver.url("/null"), "body": null },
    ]);
    let hook = app.hook(json!({ "actions": { "requests": requests } })).await;

    // Act
    fire(&app, &hook).await;

    // Assert
    let run = finished(&app, &hook, id(&only_run(&app, &hook).await)).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let got = receiver.received();
    let sent: Vec<(&str, &str, &str)> =
        got.iter().map(|r| (r.method.as_str(), r.path.as_str(), r.body.as_str())).collect();
    assert_eq!(sent, [("DELETE", "/absent", ""), ("POST", "/null", "")], "in action order, without bodies");
    assert_eq!(got[1].header("content-type"), None, "no JSON body, no JSON content type");
    assert_eq!(got[1].idempotency_key(), format!("{}:1", id(&run)));
}

#[tokio::test]
async fn a_trigger_without_actions_makes_no_runs() {
    // Arrange
    let app = spawn_app().await;
    let hook = app.hook(json!({})).await;

    // Act
    fire(&app, &hook).await;
    fire(&app, &hook).await;

    // Assert: a run would be committed with its fire, before the answer.
    assert_eq!(app.trigger_count(&hook).await, 2);
    assert_eq!(runs(&app, &hook, "").await, (vec![], 0));
}

#[tokio::test]
async fn a_request_that_keeps_failing_is_given_up_counted_and_can_be_retried_by_an_admin() {
    // Arrange
    let receiver = TestReceiver::start().await;
    receiver.respond_with(500);
    let app = local_app().await;
    let hook = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;

    // Act
    fire(&app, &hook).await;

    // Assert: three attempts with the same key, then given up.
    let run_id = id(&only_run(&app, &hook).await).to_owned();
    let run = finished(&app, &hook, &run_id).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(run.get("next_attempt_at").is_none(), "nothing left to wait for: {run:#}");
    let action = &run["actions"][0];
    assert_eq!((&action["status"], &action["attempt_count"]), (&json!("given_up"), &json!(ATTEMPTS)));
    assert!(attempts(action).iter().all(|a| a["succeeded"] == false), "{action:#}");
    assert!(errors(action).iter().all(|e| e.contains("500")), "each attempt says what came back: {action:#}");
    let tries = attempts(action);
    for (i, wait) in [(1, 20), (2, 40)] {
        let (prev_end, next_start) = (ms(&tries[i - 1]["finished_at"]), ms(&tries[i]["started_at"]));
        assert!(next_start >= prev_end + wait, "retry {i} waited {wait} ms: {action:#}");
    }
    let got = receiver.received();
    let keys: Vec<&str> = got.iter().map(ReceivedRequest::idempotency_key).collect();
    assert_eq!(keys, vec![format!("{run_id}:0"); ATTEMPTS as usize], "the same key on every attempt");
    action_errors_reach(&app, &hook, 1).await;

    // Act: the far end is fixed, and an admin retries the run.
    receiver.respond_with(200);
    let events = crate::event_actors::subscribe_all(&app).await;
    let res = app.admin(Method::POST, &format!("{}/retry", run_path(&hook, &run_id))).send().await.unwrap();

    // Assert
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (status, queued) = status_and_body(res).await;
    let retried = crate::event_actors::delivered_event(&events, "run.retried", |e| e["event"] == "run.retried").await;
    assert_eq!(retried["actor"], crate::event_actors::configured_key_actor(), "{retried}");
    assert_eq!(retried["request_id"], request_id.as_str(), "{retried}");
    assert_eq!(
        retried["data"],
        json!({
            "run_id": run_id, "trigger_instance": hook.id(), "trigger_id": hook.trigger, "system_id": hook.system,
            "fire": 1, "retried": [0],
        })
    );
    assert_eq!(status, 202, "{queued}");
    assert_eq!((queued["id"].as_str(), &queued["status"]), (Some(run_id.as_str()), &json!("pending")));
    assert_eq!(
        (&queued["actions"][0]["status"], &queued["actions"][0]["attempt_count"]),
        (&json!("pending"), &json!(3))
    );
    assert!(queued.get("finished_at").is_none(), "a queued run is not finished: {queued:#}");
    let run = finished(&app, &hook, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let action = &run["actions"][0];
    assert_eq!((&action["status"], &action["attempt_count"]), (&json!("succeeded"), &json!(4)));
    assert_eq!(attempts(action).last().unwrap()["succeeded"], true);
    let keys: Vec<String> = receiver.received().iter().map(|r| r.idempotency_key().to_owned()).collect();
    assert_eq!(keys, vec![format!("{run_id}:0"); 4], "the retry carries the action's key too");
    assert_eq!(action_errors(&app, &hook).await, 1, "a later success does not undo the count");

    let again = app.admin(Method::POST, &format!("{}/retry", run_path(&hook, &run_id))).send().await.unwrap();
    assert_error(again, 409, "run_not_failed").await;
}

#[tokio::test]
async fn a_request_that_fails_once_succeeds_on_its_retry() {
    // Arrange
    let receiver = TestReceiver::start().await;
    receiver.script([503]);
    let app = local_app().await;
    let hook = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;

    // Act
    fire(&app, &hook).await;

    // Assert
    let run_id = id(&only_run(&app, &hook).await).to_owned();
    let run = finished(&app, &hook, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert!(run.get("next_attempt_at").is_none(), "the retry is done: {run:#}");
    let action = &run["actions"][0];
    assert_eq!((&action["status"], &action["attempt_count"]), (&json!("succeeded"), &json!(2)));
    let tries = attempts(action);
    assert_eq!((&tries[0]["succeeded"], &tries[1]["succeeded"]), (&json!(false), &json!(true)));
    assert!(tries[0]["error"].as_str().is_some_and(|e| e.contains("503")), "{action:#}");
    assert!(ms(&tries[1]["started_at"]) >= ms(&tries[0]["finished_at"]) + 20, "the first retry waits 20 ms");
    let keys: Vec<String> = receiver.received().iter().map(|r| r.idempotency_key().to_owned()).collect();
    assert_eq!(keys, [format!("{run_id}:0"), format!("{run_id}:0")]);
    assert_eq!(action_errors(&app, &hook).await, 0, "a retried success is no action error");
}

#[tokio::test]
async fn a_request_to_a_loopback_address_is_refused_without_allow_private_networks() {
    // Arrange
    let receiver = TestReceiver::start().await;
    let app = spawn_app().await;
    assert!(!app.config.outbound.allow_private_networks, "the default refuses private networks");
    let hook = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;

    // Act
    fire(&app, &hook).await;

    // Assert
    let run = finished(&app, &hook, id(&only_run(&app, &hook).await)).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let action = &run["actions"][0];
    assert_eq!((&action["status"], &action["attempt_count"]), (&json!("given_up"), &json!(ATTEMPTS)));
    assert!(errors(action).iter().all(|e| e.contains("loopback address")), "{action:#}");
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
    action_errors_reach(&app, &hook, 1).await;
}

// ---------------------------------------------------------------------------------------------
// Order and concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn one_instances_runs_go_one_at_a_time_in_fire_order() {
    // Arrange: a receiver slow enough that later fires queue up behind earlier runs.
    const CALLS: usize = 30;
    let receiver = TestReceiver::start().await;
    receiver.delay(Duration::from_millis(15));
    let app = local_app().await;
    let hook = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;

    // Act
    let url = hook.url(&app);
    let calls = (0..CALLS).map(|_| app.call_hook(&url, &[], ""));
    let answers = join_all(calls).await;

    // Assert: every acknowledged fire has exactly one run, and they all succeed.
    let mut acked = Vec::new();
    for res in answers {
        let (status, body) = status_and_body(res).await;
        assert_eq!(status, 202, "{body}");
        if body["fired"] == true {
            acked.push(body["trigger_count"].as_u64().expect("trigger_count"));
        }
    }
    acked.sort_unstable();
    assert_eq!(acked, (1..=CALLS as u64).collect::<Vec<_>>(), "with no debounce every call fires");
    let all = eventually(20, "every run to succeed", || async {
        let (items, total) = runs(&app, &hook, "limit=1000").await;
        (total == acked.len() && items.iter().all(|r| r["status"] == "succeeded")).then_some(items)
    })
    .await;
    let mut fires: Vec<u64> = all.iter().map(|r| r["fire"].as_u64().unwrap()).collect();
    fires.sort_unstable();
    assert_eq!(fires, acked, "one run per acknowledged fire");
    assert!(all.iter().all(|r| r["actions"][0]["attempt_count"] == 1), "no run needed a retry");

    // Assert: the receiver saw each run's key once, in fire order, one request at a time.
    let fire_of: HashMap<String, u64> =
        all.iter().map(|r| (format!("{}:0", id(r)), r["fire"].as_u64().unwrap())).collect();
    let seen: Vec<u64> = receiver
        .received()
        .iter()
        .map(|r| *fire_of.get(r.idempotency_key()).unwrap_or_else(|| panic!("{} is no run's key", r.idempotency_key())))
        .collect();
    assert_eq!(seen, acked, "the receiver saw the fires once each, in fire order");
    assert_eq!(receiver.max_in_flight(), 1, "one instance's runs never overlap");
}

#[tokio::test]
async fn runs_of_different_instances_proceed_in_parallel_up_to_the_concurrency() {
    for (concurrency, expected) in [(32, 2), (1, 1)] {
        // Arrange: each request is held long enough for the other instance's to arrive meanwhile.
        let receiver = TestReceiver::start().await;
        receiver.delay(Duration::from_millis(600));
        let app = local_app_with(|c| c.actions.concurrency = concurrency).await;
        let first = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;
        let second = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;

        // Act
        futures_util::join!(fire(&app, &first), fire(&app, &second));

        // Assert
        for hook in [&first, &second] {
            let run = finished(&app, hook, id(&only_run(&app, hook).await)).await;
            assert_eq!(run["status"], "succeeded", "{run:#}");
        }
        assert_eq!(receiver.received().len(), 2);
        assert_eq!(receiver.max_in_flight(), expected, "requests under way at once with concurrency {concurrency}");
    }
}

// ---------------------------------------------------------------------------------------------
// Function and email actions
// ---------------------------------------------------------------------------------------------

/// An app with the key probe driver, a system with a `KeyProbe_1` module, and a hook on that system
/// whose trigger calls `method` on it.
async fn key_probe_hook(method: &str) -> (TestApp, Hook) {
    let app = spawn_app_with_drivers(run_driver::registry()).await;
    let system = app.create_system("Keys room").await;
    app.create_module("KeyProbe", Some(id(&system))).await;
    let functions = json!([{ "mod": "KeyProbe_1", "method": method }]);
    let hook = app.hook_in(id(&system), json!({ "actions": { "functions": functions } })).await;
    (app, hook)
}

async fn probe_status(app: &TestApp, hook: &Hook) -> Value {
    app.get_ok(&format!("/systems/{}/KeyProbe_1", hook.system)).await
}

#[tokio::test]
async fn a_function_action_sees_its_idempotency_key_and_an_api_call_does_not() {
    // Arrange
    let (app, hook) = key_probe_hook("remember").await;

    // Act
    fire(&app, &hook).await;

    // Assert
    let run = finished(&app, &hook, id(&only_run(&app, &hook).await)).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let action = &run["actions"][0];
    assert_eq!(
        (&action["type"], &action["mod"], &action["method"], &action["attempt_count"]),
        (&json!("function"), &json!("KeyProbe_1"), &json!("remember"), &json!(1))
    );
    let key = format!("{}:0", id(&run));
    assert_eq!(probe_status(&app, &hook).await["keys"], json!([key]), "the driver read the action's key");

    // Act: the same function called through the module API.
    let res = app.post(&format!("/systems/{}/KeyProbe_1/remember", hook.system), &json!({})).await;

    // Assert
    let (status, body) = status_and_body(res).await;
    assert_eq!((status, body), (200, json!({ "key": null })), "an API call carries no idempotency key");
    assert_eq!(probe_status(&app, &hook).await["keys"], json!([key, null]));
}

#[tokio::test]
async fn a_failing_function_action_is_retried_with_the_same_key_then_given_up() {
    // Arrange
    let (app, hook) = key_probe_hook("refuse").await;

    // Act
    fire(&app, &hook).await;

    // Assert
    let run = finished(&app, &hook, id(&only_run(&app, &hook).await)).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let action = &run["actions"][0];
    assert_eq!((&action["status"], &action["attempt_count"]), (&json!("given_up"), &json!(ATTEMPTS)));
    assert!(errors(action).iter().all(|e| e.contains("refused on purpose")), "{action:#}");
    let key = format!("{}:0", id(&run));
    assert_eq!(probe_status(&app, &hook).await["refused"], json!([key, key, key]), "one key for every attempt");
    action_errors_reach(&app, &hook, 1).await;
}

#[tokio::test]
async fn an_action_given_up_does_not_stop_the_actions_after_it() {
    // Arrange: no SMTP server is configured, so both emails fail; the request after them works.
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    assert!(app.config.smtp.host.is_none());
    let mailer = json!({ "emails": ["ops@example.com", "av@example.org"], "content": "The lobby door opened." });
    let actions = json!({ "mailers": [mailer], "requests": [post_to(&receiver)] });
    let hook = app.hook(json!({ "name": "Lobby door", "actions": actions })).await;

    // Act
    fire(&app, &hook).await;

    // Assert: one action per address, then the request.
    let run = finished(&app, &hook, id(&only_run(&app, &hook).await)).await;
    assert_eq!(run["status"], "failed", "an action was given up: {run:#}");
    let acts = run["actions"].as_array().unwrap();
    assert_eq!(acts.len(), 3, "{run:#}");
    for (i, to) in [(0, "ops@example.com"), (1, "av@example.org")] {
        let a = &acts[i];
        assert_eq!(
            (&a["index"], &a["type"], &a["to"], &a["subject"], &a["content"]),
            (&json!(i), &json!("email"), &json!(to), &json!("Lobby door"), &json!("The lobby door opened.")),
        );
        assert_eq!((&a["status"], &a["attempt_count"]), (&json!("given_up"), &json!(ATTEMPTS)), "{a:#}");
        assert!(errors(a).iter().all(|e| e.contains("no SMTP server is configured")), "{a:#}");
    }
    let request = &acts[2];
    assert_eq!((&request["index"], &request["type"]), (&json!(2), &json!("request")));
    assert_eq!((&request["status"], &request["attempt_count"]), (&json!("succeeded"), &json!(1)), "{request:#}");
    let last_email_end = ms(&attempts(&acts[1]).last().unwrap()["finished_at"]);
    assert!(ms(&attempts(request)[0]["started_at"]) >= last_email_end, "actions run in order");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].idempotency_key(), format!("{}:2", id(&run)), "functions, then emails, then requests");
    action_errors_reach(&app, &hook, 2).await;
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn request_actions_with_bad_fields_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let ok = json!({ "method": "POST", "url": "https://hooks.example.com/x" });
    let with = |changes: Value| {
        let mut action = ok.clone();
        for (k, v) in changes.as_object().unwrap() {
            action[k] = v.clone();
        }
        action
    };
    let long_url = format!("https://example.com/{}", "a".repeat(2049 - "https://example.com/".len()));
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("an unknown method", with(json!({ "method": "TRACE" })), Some("actions.requests[0].method")),
        ("a lower-case method", with(json!({ "method": "post" })), Some("actions.requests[0].method")),
        ("an empty method", with(json!({ "method": "" })), Some("actions.requests[0].method")),
        ("a relative URL", with(json!({ "url": "/hook" })), Some("actions.requests[0].url")),
        ("an ftp URL", with(json!({ "url": "ftp://example.com/x" })), Some("actions.requests[0].url")),
        ("a URL without a host", with(json!({ "url": "http://" })), Some("actions.requests[0].url")),
        ("a URL of 2049 characters", with(json!({ "url": long_url })), Some("actions.requests[0].url")),
        (
            "a header name with a space",
            with(json!({ "headers": { "X Token": "t" } })),
            Some("actions.requests[0].headers.X Token"),
        ),
        (
            "a header value with a newline",
            with(json!({ "headers": { "X-Token": "a\r\nX-Evil: 1" } })),
            Some("actions.requests[0].headers.X-Token"),
        ),
        (
            "an Idempotency-Key header",
            with(json!({ "headers": { "Idempotency-Key": "mine" } })),
            Some("actions.requests[0].headers.Idempotency-Key"),
        ),
        ("a Host header", with(json!({ "headers": { "Host": "evil" } })), Some("actions.requests[0].headers.Host")),
        ("a host header", with(json!({ "headers": { "host": "evil" } })), Some("actions.requests[0].headers.host")),
        ("a zero timeout", with(json!({ "timeout_ms": 0 })), Some("actions.requests[0].timeout_ms")),
        ("a timeout over a minute", with(json!({ "timeout_ms": 60_001 })), Some("actions.requests[0].timeout_ms")),
        ("an unknown field", with(json!({ "retries": 3 })), None),
        ("no URL", json!({ "method": "GET" }), None),
    ];
    for (case, action, field) in &cases {
        let res = app.post("/triggers", &json!({ "name": "Bad", "actions": { "requests": [action] } })).await;
        assert_rejected(res, case, 422, "invalid_field", *field).await;
    }
    // The index names the request at fault.
    let two = json!([ok.clone(), with(json!({ "url": "x" }))]);
    let res = app.post("/triggers", &json!({ "name": "Bad", "actions": { "requests": two } })).await;
    assert_rejected(res, "the second request", 422, "invalid_field", Some("actions.requests[1].url")).await;
    // An edit is checked the same way.
    let trigger = app.create_trigger(json!({ "name": "Edited" })).await;
    let patch = json!({ "actions": { "requests": [with(json!({ "timeout_ms": 0 }))] } });
    let res = app.patch(&format!("/triggers/{}", id(&trigger)), &patch).await;
    assert_rejected(res, "PATCH", 422, "invalid_field", Some("actions.requests[0].timeout_ms")).await;

    // The bounds themselves are accepted.
    let edge = format!("https://example.com/{}", "a".repeat(2048 - "https://example.com/".len()));
    for (case, action) in [
        ("a 1 ms timeout", with(json!({ "timeout_ms": 1 }))),
        ("a one-minute timeout", with(json!({ "timeout_ms": 60_000 }))),
        ("a URL of 2048 characters", with(json!({ "url": edge }))),
        ("every method", with(json!({ "method": "PATCH", "headers": { "Authorization": "Bearer x\ty" } }))),
    ] {
        let res = app.post("/triggers", &json!({ "name": case, "actions": { "requests": [action] } })).await;
        assert_eq!(res.status(), 201, "[{case}] {}", res.text().await.unwrap());
    }
}

#[tokio::test]
async fn the_runs_api_refuses_bad_queries_unknown_runs_and_retries_by_non_admins() {
    // Arrange: a failed run (no SMTP server is configured) and a second instance.
    let app = spawn_app().await;
    let mailer = json!({ "emails": ["ops@example.com"], "content": "x" });
    let hook = app.hook(json!({ "actions": { "mailers": [mailer] } })).await;
    let other = app.hook_in(&hook.system, json!({ "name": "Other" })).await;
    fire(&app, &hook).await;
    let run_id = id(&only_run(&app, &hook).await).to_owned();
    assert_eq!(finished(&app, &hook, &run_id).await["status"], "failed");
    let support = app.key_with_role("support").await;
    let base = format!("/systems/{}/triggers", hook.system);
    let (no_sys, no_inst, no_run) = (unknown_id("sys-"), unknown_id("trig-"), unknown_id("run-"));
    let admin = Some(app.admin_key.as_str());

    // Act and assert: (method, path, key, status, code).
    let cases: Vec<(Method, String, Option<&str>, u16, &str)> = vec![
        (Method::GET, format!("{}?status=done", runs_path(&hook)), admin, 400, "invalid_query"),
        (Method::GET, format!("{}?status=FAILED", runs_path(&hook)), admin, 400, "invalid_query"),
        (Method::GET, format!("{}?limit=10001", runs_path(&hook)), admin, 400, "invalid_query"),
        (Method::GET, format!("{}?limit=many", runs_path(&hook)), admin, 400, "invalid_query"),
        (Method::GET, run_path(&hook, &no_run), admin, 404, "not_found"),
        (Method::GET, run_path(&hook, "run-123"), admin, 404, "not_found"),
        (Method::GET, run_path(&hook, hook.id()), admin, 404, "not_found"),
        (Method::GET, run_path(&other, &run_id), admin, 404, "not_found"),
        (Method::GET, format!("{base}/{no_inst}/runs"), admin, 404, "not_found"),
        (Method::GET, format!("/systems/{no_sys}/triggers/{}/runs", hook.id()), admin, 404, "not_found"),
        (Method::GET, format!("/systems/{no_sys}/triggers/{}/runs/{run_id}", hook.id()), admin, 404, "not_found"),
        (Method::POST, format!("{}/retry", run_path(&other, &run_id)), admin, 404, "not_found"),
        (Method::POST, format!("{}/retry", run_path(&hook, &no_run)), admin, 404, "not_found"),
        (Method::POST, format!("{}/retry", run_path(&hook, &run_id)), Some(support.as_str()), 403, "forbidden"),
        (Method::POST, format!("{}/retry", run_path(&hook, &run_id)), None, 401, "unauthorized"),
        (Method::GET, runs_path(&hook), None, 401, "unauthorized"),
    ];
    for (method, path, key, status, code) in cases {
        let res = app.with_key(key, method.clone(), &path).send().await.unwrap();
        assert_rejected(res, &format!("{method} {path}"), status, code, None).await;
    }

    // A read-only key may read runs, and the refused retries left the run as it was.
    for path in [runs_path(&hook), run_path(&hook, &run_id)] {
        let res = app.with_key(Some(&support), Method::GET, &path).send().await.unwrap();
        assert_eq!(res.status(), 200, "GET {path} with a support key");
    }
    let run = app.get_ok(&run_path(&hook, &run_id)).await;
    assert_eq!((&run["status"], &run["actions"][0]["attempt_count"]), (&json!("failed"), &json!(ATTEMPTS)));
}

// ---------------------------------------------------------------------------------------------
// Lifecycle: trimming, deletion, restart
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn finished_runs_beyond_runs_per_instance_are_trimmed_oldest_first() {
    // Arrange
    let receiver = TestReceiver::start().await;
    let app = local_app_with(|c| c.actions.runs_per_instance = 2).await;
    let hook = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;

    // Act
    fire(&app, &hook).await;
    let first = id(&only_run(&app, &hook).await).to_owned();
    for _ in 0..3 {
        fire(&app, &hook).await;
    }

    // Assert
    receiver.wait_for(4, 10).await;
    let kept = eventually(10, "the two newest runs to be all that is kept", || async {
        let (items, total) = runs(&app, &hook, "").await;
        let fires: Vec<&Value> = items.iter().map(|r| &r["fire"]).collect();
        (total == 2 && fires == [&json!(4), &json!(3)]).then_some(items)
    })
    .await;
    assert!(kept.iter().all(|r| r["status"] == "succeeded"), "{kept:#?}");
    assert_error(app.get(&run_path(&hook, &first)).await, 404, "not_found").await;
}

#[tokio::test]
async fn deleting_an_instance_deletes_its_runs_and_stops_their_retries() {
    // Arrange: a run waiting for its first retry.
    let receiver = TestReceiver::start().await;
    receiver.respond_with(500);
    let app = local_app_with(|c| c.actions.retry_schedule_ms = vec![300, 300, 300]).await;
    let hook = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;
    fire(&app, &hook).await;
    let run_id = id(&only_run(&app, &hook).await).to_owned();
    run_until(&app, &hook, &run_id, "the run to wait for a retry", |r| r.get("next_attempt_at").is_some()).await;

    // Act
    app.delete_ok(&hook.path()).await;
    let deleted_at = std::time::Instant::now();

    // Assert
    assert_error(app.get(&runs_path(&hook)).await, 404, "not_found").await;
    assert_error(app.get(&run_path(&hook, &run_id)).await, 404, "not_found").await;
    // The retries were due 300, 600 and 900 ms after the first attempt: wait past all of them. (A bounded
    // wait: there is nothing to poll for when checking that something does not happen.)
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let got = receiver.received();
    let after: Vec<Duration> = got.iter().filter_map(|r| r.at.checked_duration_since(deleted_at)).collect();
    assert!(after.is_empty(), "requests arrived this long after the instance was deleted: {after:?}");
    assert_eq!(got.len(), 1, "only the first attempt was made: {got:#?}");
}

#[tokio::test]
async fn a_run_waiting_for_a_retry_is_resumed_after_a_restart() {
    // Arrange: the first attempt fails, and its retry is due well after the restart.
    let receiver = TestReceiver::start().await;
    receiver.respond_with(500);
    let app = local_app_with(|c| c.actions.retry_schedule_ms = vec![1500]).await;
    let hook = app.hook(json!({ "actions": { "requests": [post_to(&receiver)] } })).await;
    fire(&app, &hook).await;
    let run_id = id(&only_run(&app, &hook).await).to_owned();
    let waiting =
        run_until(&app, &hook, &run_id, "the run to wait for a retry", |r| r.get("next_attempt_at").is_some()).await;
    assert_eq!((&waiting["status"], &waiting["actions"][0]["attempt_count"]), (&json!("pending"), &json!(1)));
    let due = ms(&waiting["next_attempt_at"]);

    // Act
    let app = app.restart().await;
    receiver.respond_with(200);

    // Assert
    let run = finished(&app, &hook, &run_id).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let action = &run["actions"][0];
    assert_eq!(action["attempt_count"], 2, "{action:#}");
    assert!(ms(&attempts(action)[1]["started_at"]) >= due, "the retry kept its time across the restart: {run:#}");
    let keys: HashSet<String> = receiver.received().iter().map(|r| r.idempotency_key().to_owned()).collect();
    assert_eq!(keys, HashSet::from([format!("{run_id}:0")]));
    assert_eq!(receiver.received().len(), 2);
}
