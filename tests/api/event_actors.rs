//! Who and why: every engine event names its `actor` (the API key of an admin call, the receipt of a
//! trigger webhook call, a schedule, or the engine itself) and the `request_id` of the request that
//! caused it. The module, trigger, instance and run events carry their documented data and never a
//! secret. A receiver inside the test is subscribed to every event type; request actions go to another.

use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{json, Value};
use switchboard::engine::clock::ManualClock;
use switchboard::startup::Options;

use crate::helpers::*;

/// Monday 2030-01-07 08:58:00 UTC, where the manual clock starts.
const START_MS: u64 = 1_894_006_680_000;

/// Attempts a request action gets under the test config before it is given up: the first and two retries.
const ATTEMPTS: u64 = 3;

/// The events this feature added, which carry the data the tests check.
const CHANGE_EVENTS: [&str; 9] = [
    "module.created",
    "module.updated",
    "module.deleted",
    "trigger.created",
    "trigger.updated",
    "trigger.deleted",
    "trigger_instance.updated",
    "run.failed",
    // Not new, but made by the same calls as the ones above.
    "trigger_instance.created",
];

/// The events admin API calls cause.
const ADMIN_EVENTS: [&str; 12] = [
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
];

/// An app that delivers events to, and sends request actions to, receivers on 127.0.0.1.
async fn events_app() -> TestApp {
    events_app_with(Options::default()).await
}

async fn events_app_with(options: Options) -> TestApp {
    let customise = |c: &mut switchboard::config::Config| {
        c.outbound.allow_private_networks = true;
        c.outbound.retry_schedule_ms = vec![20, 20, 20];
    };
    spawn_app_with_options(customise, options).await
}

/// A receiver subscribed to every event type from now on.
pub(crate) async fn subscribe_all(app: &TestApp) -> TestReceiver {
    let receiver = TestReceiver::start().await;
    app.create("/webhooks", json!({ "name": "Everything", "url": receiver.url("/events"), "events": ["*"] })).await;
    receiver
}

/// Every event delivered to the receiver so far, in delivery order.
pub(crate) fn delivered(receiver: &TestReceiver) -> Vec<Value> {
    receiver.received().iter().map(ReceivedRequest::json).collect()
}

/// Waits until an event satisfying `pick` has been delivered; returns the first such.
pub(crate) async fn delivered_event(receiver: &TestReceiver, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    eventually(10, what, || async { delivered(receiver).into_iter().find(|e| pick(e)) }).await
}

fn api_key_actor(id: Value, name: &str) -> Value {
    json!({ "type": "api_key", "id": id, "name": name })
}

pub(crate) fn configured_key_actor() -> Value {
    api_key_actor(Value::Null, "configured admin key")
}

fn webhook_actor(receipt: &str) -> Value {
    json!({ "type": "webhook", "receipt": receipt })
}

fn is_uuid(value: &Value) -> bool {
    value.as_str().is_some_and(|v| uuid::Uuid::parse_str(v).is_ok())
}

/// Where an event came from and what caused it: `event (actor, request_id)`, for failure messages.
fn cause(event: &Value) -> String {
    format!("{} (actor {}, request_id {})", event["event"], event["actor"], event["request_id"])
}

/// Calls the hook with `X-Request-ID: request_id` and asserts that it fired and echoed the id.
async fn call_as(app: &TestApp, hook: &Hook, request_id: &str, headers: &[(&str, String)], body: &str) {
    let mut all = vec![("X-Request-ID", request_id.to_owned())];
    all.extend(headers.iter().cloned());
    let res = app.call_hook(&hook.url(app), &all, body.to_owned()).await;
    let echoed = res.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    let (status, answer) = status_and_body(res).await;
    assert_eq!((status, &answer["fired"]), (202, &json!(true)), "the call {request_id} fires: {answer}");
    assert_eq!(echoed.as_deref(), Some(request_id), "the answer echoes the request id");
}

/// Sends admin API calls with one key, each with its own `X-Request-ID`, and remembers which event each
/// call must cause.
pub(crate) struct KeyHolder<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) key: String,
    pub(crate) tag: &'static str,
    /// `(request id, event it causes)` per call, in order.
    pub(crate) caused: Vec<(String, &'static str)>,
}

impl KeyHolder<'_> {
    /// Sends the call, asserts a 2xx answer echoing the request id, and returns the JSON body (`Null`
    /// when empty).
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
        causes: &'static str,
    ) -> Value {
        let request_id = format!("req-{}-{}", self.tag, self.caused.len() + 1);
        let mut req = self.app.with_key(Some(&self.key), method.clone(), path).header("X-Request-ID", &request_id);
        if let Some(body) = &body {
            req = req.json(body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let echoed = res.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{method} {path} answered {status}: {text}");
        assert_eq!(echoed.as_deref(), Some(request_id.as_str()), "{method} {path} echoes the request id");
        self.caused.push((request_id, causes));
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// Creates, changes and deletes a system, a module, a trigger and an instance with `key`; returns every
/// call's request id and the event it causes, and the system's id.
async fn admin_changes(app: &TestApp, key: &str, tag: &'static str) -> (Vec<(String, &'static str)>, String) {
    let mut k = KeyHolder { app, key: key.to_owned(), tag, caused: Vec::new() };
    let system =
        k.send(Method::POST, "/systems", Some(json!({ "name": format!("Room {tag}") })), "system.created").await;
    let sys = id(&system).to_owned();
    let renamed = json!({ "name": format!("Room {tag} 2") });
    k.send(Method::PATCH, &format!("/systems/{sys}"), Some(renamed), "system.updated").await;
    let module = json!({ "driver": "Display", "control_system_id": sys });
    let module = k.send(Method::POST, "/modules", Some(module), "module.created").await;
    let module_path = format!("/modules/{}", id(&module));
    k.send(Method::PATCH, &module_path, Some(json!({ "custom_name": "Wall_Screen" })), "module.updated").await;
    let trigger =
        |name: &str| json!({ "name": name, "enable_webhook": true, "webhook_verification": { "scheme": "github" } });
    let created = k.send(Method::POST, "/triggers", Some(trigger("Gate")), "trigger.created").await;
    let trigger_path = format!("/triggers/{}", id(&created));
    k.send(Method::PATCH, &trigger_path, Some(json!({ "name": "Gate 2" })), "trigger.updated").await;
    k.send(Method::PUT, &trigger_path, Some(trigger("Gate 3")), "trigger.updated").await;
    let apply = json!({ "trigger_id": id(&created) });
    let instance =
        k.send(Method::POST, &format!("/systems/{sys}/triggers"), Some(apply), "trigger_instance.created").await;
    let instance_path = format!("/systems/{sys}/triggers/{}", id(&instance));
    k.send(Method::PATCH, &instance_path, Some(json!({ "important": true })), "trigger_instance.updated").await;
    k.send(Method::POST, &format!("{instance_path}/secret"), Some(json!({})), "trigger_instance.updated").await;
    let signing = json!({ "secret": "a signing secret" });
    k.send(Method::POST, &format!("{instance_path}/verification_secret"), Some(signing), "trigger_instance.updated")
        .await;
    k.send(Method::DELETE, &instance_path, None, "trigger_instance.deleted").await;
    k.send(Method::DELETE, &module_path, None, "module.deleted").await;
    k.send(Method::DELETE, &trigger_path, None, "trigger.deleted").await;
    k.send(Method::DELETE, &format!("/systems/{sys}"), None, "system.deleted").await;
    (k.caused, sys)
}

fn is_admin_change(event: &Value) -> bool {
    ADMIN_EVENTS.contains(&event["event"].as_str().unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Actors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_admin_change_names_the_key_and_the_request_that_made_it() {
    // Arrange
    let app = events_app().await;
    let receiver = subscribe_all(&app).await;
    let stored = app.create("/api_keys", json!({ "name": "Ops console", "role": "admin" })).await;
    let stored_key = stored["key"].as_str().expect("the key is shown at creation").to_owned();
    let keys = [
        ("stored", stored_key, api_key_actor(stored["id"].clone(), "Ops console")),
        ("configured", ADMIN_KEY.to_owned(), configured_key_actor()),
    ];

    let mut wrong = Vec::new();
    for (tag, key, actor) in keys {
        let before = delivered(&receiver).len();

        // Act
        let (caused, sys) = admin_changes(&app, &key, tag).await;

        // Assert: each call caused its event, in order, naming the key and the call's request id.
        delivered_event(&receiver, &format!("the {tag} key's system.deleted"), |e| {
            e["event"] == "system.deleted" && e["system_id"] == sys.as_str()
        })
        .await;
        let events: Vec<Value> = delivered(&receiver).split_off(before).into_iter().filter(is_admin_change).collect();
        let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
        let expected: Vec<&str> = caused.iter().map(|(_, event)| *event).collect();
        assert_eq!(names, expected, "[{tag} key] one event per call, in order");
        for ((request_id, _), event) in caused.iter().zip(&events) {
            if event["actor"] != actor || event["request_id"] != request_id.as_str() {
                wrong.push(format!("[{tag} key] {request_id}: {}, expected actor {actor}", cause(event)));
            }
        }
    }
    assert!(wrong.is_empty(), "events not naming their key and request:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn the_request_id_is_the_one_sent_when_it_is_a_sane_token_and_a_generated_one_otherwise() {
    // Arrange
    let app = events_app().await;
    let receiver = subscribe_all(&app).await;
    let (long_ok, too_long) = ("r".repeat(128), "r".repeat(129));
    let cases: [(&str, Option<&str>, bool); 6] = [
        ("a token", Some("abc-123_XYZ.~:/@!"), true),
        ("128 characters", Some(&long_ok), true),
        ("129 characters", Some(&too_long), false),
        ("a space", Some("two words"), false),
        ("empty", Some(""), false),
        ("none sent", None, false),
    ];

    for (case, sent, kept) in cases {
        // Act
        let mut req = app.admin(Method::POST, "/systems").json(&json!({ "name": case }));
        if let Some(sent) = sent {
            req = req.header("X-Request-ID", sent);
        }
        let res = req.send().await.expect("request sent");
        let echoed = res.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
        let (status, system) = status_and_body(res).await;

        // Assert
        assert_eq!(status, 201, "[{case}] {system}");
        let echoed = echoed.unwrap_or_else(|| panic!("[{case}] the answer carries X-Request-ID"));
        if kept {
            assert_eq!(Some(echoed.as_str()), sent, "[{case}] a sane token is kept");
        } else {
            assert!(is_uuid(&json!(echoed)) && Some(echoed.as_str()) != sent, "[{case}] a new UUID: {echoed}");
        }
        let event = delivered_event(&receiver, &format!("[{case}] system.created"), |e| {
            e["event"] == "system.created" && e["system_id"] == system["id"]
        })
        .await;
        assert_eq!(event["request_id"], echoed.as_str(), "[{case}] the event names the request id answered");
        assert_eq!(event["actor"], configured_key_actor(), "[{case}]");
    }
}

#[tokio::test]
async fn what_a_webhook_call_causes_names_the_calls_receipt_and_request() {
    // Arrange
    let app = events_app().await;
    let receiver = subscribe_all(&app).await;
    let system = app.create_system("Webhook room").await;
    let hook = app.hook_in(id(&system), json!({})).await;

    // Act: two calls, then an admin replay of the first.
    call_as(&app, &hook, "call-1", &[], "{}").await;
    call_as(&app, &hook, "call-2", &[], "{}").await;
    let first = app.receipts_eventually(&hook, 2).await.into_iter().find(|r| r["request_id"] == "call-1").unwrap();
    let replay_path = format!("{}/{}/replay", hook.receipts_path(), id(&first));
    let res = app.admin(Method::POST, &replay_path).header("X-Request-ID", "replay-1").send().await.unwrap();
    assert_eq!(res.status(), 202, "the replay fires: {}", res.text().await.unwrap());

    // Assert: everything each call caused names that call's receipt and request id.
    let receipts = app.receipts_eventually(&hook, 3).await;
    delivered_event(&receiver, "the replay's trigger.state_changed", |e| {
        e["event"] == "trigger.state_changed" && e["request_id"] == "replay-1"
    })
    .await;
    let events = delivered(&receiver);
    for request_id in ["call-1", "call-2", "replay-1"] {
        let receipt = receipts.iter().find(|r| r["request_id"] == request_id).expect("a receipt per call");
        if request_id == "replay-1" {
            assert_eq!(receipt["replay_of"], first["id"], "the replay has a receipt of its own");
        }
        let caused: Vec<&Value> = events.iter().filter(|e| e["request_id"] == request_id).collect();
        let names: Vec<&str> = caused.iter().map(|e| e["event"].as_str().unwrap()).collect();
        for expected in ["webhook.received", "trigger.fired", "trigger.state_changed"] {
            assert!(names.contains(&expected), "[{request_id}] caused {expected}: {names:?}");
        }
        for event in &caused {
            assert_eq!(event["actor"], webhook_actor(id(receipt)), "[{request_id}] {}", cause(event));
            assert_eq!(event["data"]["trigger_instance"], hook.id(), "[{request_id}] {event}");
        }
        let received = caused.iter().find(|e| e["event"] == "webhook.received").unwrap();
        assert_eq!(received["data"]["receipt"], receipt["id"], "[{request_id}] the data names the receipt too");
    }
    for event in events.iter().filter(|e| e["actor"]["type"] == "webhook") {
        let request_id = event["request_id"].as_str().unwrap_or_default();
        assert!(["call-1", "call-2", "replay-1"].contains(&request_id), "only the calls' events: {}", cause(event));
    }
}

#[tokio::test]
async fn a_status_change_made_by_a_webhook_exec_names_the_calls_receipt_and_request() {
    // Arrange
    let app = events_app().await;
    let receiver = subscribe_all(&app).await;
    let system = app.create_system("Exec room").await;
    app.create_module("Display", Some(id(&system))).await;
    let hook = app.hook_in(id(&system), json!({})).await;
    app.send_ok(Method::PATCH, &hook.path(), &json!({ "exec_enabled": true })).await;

    // Act: the call passes `{"input": "hdmi3"}` to the display, which publishes it.
    let url = format!("{}&exec=true&mod=Display&index=1&method=request", hook.url(&app));
    let res = app.client.post(url).header("X-Request-ID", "exec-1").json(&json!({ "input": "hdmi3" })).send().await;
    assert_eq!(res.unwrap().status(), 200, "the exec is answered by the driver");

    // Assert
    let status = delivered_event(&receiver, "the exec's status change", |e| {
        e["event"] == "module.status_changed" && e["data"]["value"] == "hdmi3"
    })
    .await;
    let receipt = app.receipts_eventually(&hook, 1).await.remove(0);
    assert_eq!(status["actor"], webhook_actor(id(&receipt)), "{}", cause(&status));
    assert_eq!(status["request_id"], "exec-1", "{}", cause(&status));
}

#[tokio::test]
async fn what_a_time_condition_falling_due_causes_is_the_schedules_and_its_window_closing_the_systems() {
    // Arrange: an `at` condition 30 s after the manual clock's start, held for a minute.
    let clock = ManualClock::starting_at(START_MS);
    let app = events_app_with(Options { clock: clock.clone(), ..Options::default() }).await;
    let receiver = subscribe_all(&app).await;
    let system = app.create_system("Clock room").await;
    let at = json!({ "type": "at", "time": START_MS / 1000 + 30 });
    let trigger = app
        .create_trigger(json!({ "name": "At", "debounce_period": 60_000, "conditions": { "time_dependents": [at] } }))
        .await;
    let inst = app.create(&format!("/systems/{}/triggers", id(&system)), json!({ "trigger_id": id(&trigger) })).await;
    let state_path = format!("/systems/{}/triggers/{}/state", id(&system), id(&inst));
    eventually(10, "the schedule to load", || async {
        (app.get_ok(&state_path).await["conditions"]["time_0"] == false).then_some(())
    })
    .await;
    let of_instance = |name: &'static str, triggered: bool| {
        let inst = id(&inst).to_owned();
        move |e: &Value| {
            e["event"] == name && e["data"]["trigger_instance"] == inst && e["data"]["triggered"] == triggered
        }
    };

    // Act: the time falls due, then the window closes.
    clock.advance(Duration::from_secs(30));
    let fired = delivered_event(&receiver, "the fire at the at time", of_instance("trigger.fired", true)).await;
    let changed = delivered_event(&receiver, "the state change", of_instance("trigger.state_changed", true)).await;
    clock.advance(Duration::from_secs(61));
    let reset = delivered_event(&receiver, "the window to close", of_instance("trigger.reset", false)).await;

    // Assert
    for (case, event, actor) in [
        ("the fire", &fired, json!({ "type": "schedule" })),
        ("its state change", &changed, json!({ "type": "schedule" })),
        ("the window closing", &reset, json!({ "type": "system" })),
    ] {
        assert_eq!((&event["actor"], &event["request_id"]), (&actor, &Value::Null), "[{case}] {}", cause(event));
    }
    assert_eq!(fired["data"]["trigger_count"], 1);
    assert_eq!(reset["data"]["trigger_count"], 1, "the reset is the same fire's");
}

#[tokio::test]
async fn closing_windows_and_failed_runs_are_the_systems_and_a_calls_status_change_the_callers() {
    // Arrange
    let app = events_app().await;
    let receiver = subscribe_all(&app).await;
    let far_end = TestReceiver::start().await;
    far_end.respond_with(500);
    let system = app.create_system("Engine room").await;
    let sys = id(&system).to_owned();
    let display = app.create_module("Display", Some(&sys)).await;
    let windowed = app.hook_in(&sys, json!({ "name": "Windowed", "debounce_period": 150 })).await;
    let action = json!({ "method": "POST", "url": far_end.url("/down") });
    let failing = app.hook_in(&sys, json!({ "name": "Failing", "actions": { "requests": [action] } })).await;

    // Act: a module call changes a status; a call opens a window that closes by itself; a run fails.
    let res = app
        .admin(Method::POST, &format!("/systems/{sys}/Display_1/power"))
        .header("X-Request-ID", "req-power")
        .json(&json!({ "state": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    call_as(&app, &windowed, "req-window", &[], "").await;
    call_as(&app, &failing, "req-failing", &[], "").await;

    // Assert
    let status = delivered_event(&receiver, "module.status_changed", |e| {
        let data = &e["data"];
        e["event"] == "module.status_changed"
            && data["module_id"] == display["id"]
            && data["key"] == "power"
            && data["value"] == true
    })
    .await;
    let reset = delivered_event(&receiver, "the window to close", |e| {
        e["event"] == "trigger.reset" && e["data"]["trigger_instance"] == windowed.id()
    })
    .await;
    let failed = delivered_event(&receiver, "run.failed", |e| {
        e["event"] == "run.failed" && e["data"]["trigger_instance"] == failing.id()
    })
    .await;
    assert_eq!(status["actor"], configured_key_actor(), "the module call's key: {}", cause(&status));
    assert_eq!(status["request_id"], "req-power", "the module call's request: {}", cause(&status));
    for (case, event) in [("a window closing", &reset), ("a failed run", &failed)] {
        assert_eq!(event["actor"], json!({ "type": "system" }), "[{case}] {}", cause(event));
        assert_eq!(event["request_id"], Value::Null, "[{case}] no request caused it directly: {}", cause(event));
        assert_eq!(event["system_id"], sys.as_str(), "[{case}]");
    }
    // The fire that opened the window was the call's, not the engine's.
    let window_fire = delivered_event(&receiver, "the windowed fire", |e| {
        e["event"] == "trigger.fired" && e["data"]["trigger_instance"] == windowed.id()
    })
    .await;
    assert_eq!((&window_fire["actor"]["type"], &window_fire["request_id"]), (&json!("webhook"), &json!("req-window")));
    assert_eq!(reset["data"]["trigger_count"], 1);
    assert!(far_end.received().len() as u64 >= ATTEMPTS, "the action was tried before it was given up");
}

// ---------------------------------------------------------------------------------------------
// The new event types and their data
// ---------------------------------------------------------------------------------------------

/// Reads the live stream until an event satisfying `last` arrives (10 s at most); returns every event
/// read, in order, and the raw text.
pub(crate) async fn read_stream_until(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Unpin),
    last: impl Fn(&Value) -> bool,
) -> (Vec<Value>, String) {
    let (mut events, mut raw, mut parsed) = (Vec::new(), String::new(), 0);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            while let Some(end) = raw[parsed..].find("\n\n") {
                let frame = &raw[parsed..parsed + end];
                parsed += end + 2;
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let event: Value = serde_json::from_str(data).expect("an event is JSON");
                    let done = last(&event);
                    events.push(event);
                    if done {
                        return;
                    }
                }
            }
            let chunk = stream.next().await.expect("the stream stays open").expect("a chunk");
            raw.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the last event arrived on the stream in time");
    (events, raw)
}

#[tokio::test]
async fn module_trigger_instance_and_run_events_carry_their_data_and_never_a_secret() {
    // Arrange: everything is delivered to `receiver` and streamed live; the action's far end fails.
    const MIST_SECRET: &str = "mist-setting-s3cret-first";
    const MIST_SECRET_2: &str = "mist-setting-s3cret-second";
    const ACTION_TOKEN: &str = "Bearer action-header-s3cret";
    const SIGNING_SECRET: &str = "signing-s3cret-provided";
    let app = events_app().await;
    let receiver = subscribe_all(&app).await;
    let far_end = TestReceiver::start().await;
    far_end.respond_with(500);
    let live = app.get("/events").await;
    assert_eq!(live.status(), 200);
    let mut stream = live.bytes_stream();
    let system = app.create_system("Gatehouse").await;
    let sys = id(&system).to_owned();

    // Act: a module with a sensitive setting, created, changed and deleted …
    let module = json!({
        "driver": "Mist Location", "custom_name": "Gate_Mist", "control_system_id": sys,
        "settings": { "secret": MIST_SECRET },
    });
    let module = app.create("/modules", module).await;
    let module_path = format!("/modules/{}", id(&module));
    let changed = json!({ "custom_name": "Yard_Mist", "settings": { "secret": MIST_SECRET_2 } });
    app.send_ok(Method::PATCH, &module_path, &changed).await;
    // … a trigger whose request action carries a credential, created and changed twice …
    let trigger = |name: &str| {
        json!({
            "name": name, "enable_webhook": true, "debounce_period": 0, "supported_methods": ["POST"],
            "webhook_verification": { "scheme": "github" },
            "actions": { "requests": [
                { "method": "POST", "url": far_end.url("/gate"), "headers": { "Authorization": ACTION_TOKEN } },
            ] },
        })
    };
    let created = app.create_trigger(trigger("Gate")).await;
    let trig = id(&created).to_owned();
    app.send_ok(Method::PATCH, &format!("/triggers/{trig}"), &json!({ "name": "Gate 2" })).await;
    app.send_ok(Method::PUT, &format!("/triggers/{trig}"), &trigger("Gate 3")).await;
    // … applied, its instance patched, its webhook secret rotated and its signing secret set twice …
    let instance = app.create(&format!("/systems/{sys}/triggers"), json!({ "trigger_id": trig })).await;
    let hook = Hook { system: sys.clone(), trigger: trig.clone(), instance: instance.clone() };
    app.send_ok(Method::PATCH, &hook.path(), &json!({ "important": true, "exec_enabled": true })).await;
    let rotated = app.create_ok(&format!("{}/secret", hook.path()), json!({})).await;
    let generated = app.set_signing_secret(&hook, json!({})).await;
    app.set_signing_secret(&hook, json!({ "secret": SIGNING_SECRET })).await;
    // … fired with a signed call, so that its run gives the request up …
    let hook = Hook { instance: rotated.clone(), ..hook };
    call_as(&app, &hook, "req-fire", &sign::github(SIGNING_SECRET, b"{}"), "{}").await;
    let run_failed = delivered_event(&receiver, "run.failed", |e| e["event"] == "run.failed").await;
    let (runs, _) = app.list(&format!("{}/runs", hook.path())).await;
    let run = &runs[0];
    // … then the module and the trigger deleted.
    app.delete_ok(&module_path).await;
    app.delete_ok(&format!("/triggers/{trig}")).await;
    let is_last = |e: &Value| e["event"] == "trigger.deleted" && e["data"]["trigger_id"] == trig.as_str();
    delivered_event(&receiver, "trigger.deleted", is_last).await;
    let (streamed, raw_stream) = read_stream_until(&mut stream, is_last).await;

    // Assert: one event per change, in order, with the documented data.
    let attempts = run["actions"][0]["attempts"].as_array().expect("the run keeps its attempts");
    let module_data = |custom_name: &str| json!({ "module_id": module["id"], "driver": "Mist Location", "custom_name": custom_name, "control_system_id": sys });
    let trigger_data = |name: &str| json!({ "trigger_id": trig, "name": name, "enable_webhook": true });
    let instance_data = |changed: Value| {
        json!({
            "trigger_instance": hook.id(), "trigger_id": trig, "system_id": sys,
            "enabled": true, "important": true, "exec_enabled": true, "changed": changed,
        })
    };
    let given_up = json!([{
        "index": 0, "type": "request", "attempts": ATTEMPTS, "error": attempts[attempts.len() - 1]["error"],
    }]);
    let expected: Vec<(&str, Value, Value)> = vec![
        ("module.created", json!(sys), module_data("Gate_Mist")),
        ("module.updated", json!(sys), module_data("Yard_Mist")),
        ("trigger.created", Value::Null, trigger_data("Gate")),
        ("trigger.updated", Value::Null, trigger_data("Gate 2")),
        ("trigger.updated", Value::Null, trigger_data("Gate 3")),
        (
            "trigger_instance.created",
            json!(sys),
            json!({ "trigger_instance": hook.id(), "trigger_id": trig, "system_id": sys }),
        ),
        ("trigger_instance.updated", json!(sys), instance_data(json!(["important", "exec_enabled"]))),
        ("trigger_instance.updated", json!(sys), instance_data(json!(["webhook_secret"]))),
        ("trigger_instance.updated", json!(sys), instance_data(json!(["signing_secret"]))),
        ("trigger_instance.updated", json!(sys), instance_data(json!(["signing_secret"]))),
        (
            "run.failed",
            json!(sys),
            json!({
                "run_id": run["id"], "trigger_instance": hook.id(), "trigger_id": trig, "system_id": sys,
                "fire": 1, "given_up": given_up,
            }),
        ),
        ("module.deleted", json!(sys), module_data("Yard_Mist")),
        ("trigger.deleted", Value::Null, json!({ "trigger_id": trig })),
    ];
    let events = delivered(&receiver);
    let changes: Vec<&Value> =
        events.iter().filter(|e| CHANGE_EVENTS.contains(&e["event"].as_str().unwrap_or_default())).collect();
    let names: Vec<&str> = changes.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let expected_names: Vec<&str> = expected.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(names, expected_names, "one event per change, in order");
    for (n, (event, (name, system_id, data))) in changes.iter().zip(&expected).enumerate() {
        assert_eq!(event["data"], *data, "[{n}: {name}] data");
        assert_eq!(event["system_id"], *system_id, "[{n}: {name}] system_id");
        assert!(event["id"].as_str().is_some_and(|i| i.starts_with("evt_")), "[{n}: {name}] {event}");
        let live = streamed.iter().find(|s| s["id"] == event["id"]);
        assert_eq!(live, Some(*event), "[{n}: {name}] the live stream sent the same envelope");
    }
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(run_failed["data"]["given_up"][0]["error"].as_str().is_some_and(|e| !e.is_empty()), "{run_failed}");

    // Assert: no secret anywhere in what was delivered or streamed.
    let secrets = [
        ("the first webhook secret", instance["webhook_secret"].as_str().unwrap()),
        ("the rotated webhook secret", rotated["webhook_secret"].as_str().unwrap()),
        ("the generated signing secret", generated["secret"].as_str().unwrap()),
        ("the provided signing secret", SIGNING_SECRET),
        ("the first sensitive setting", MIST_SECRET),
        ("the second sensitive setting", MIST_SECRET_2),
        ("the action's header value", ACTION_TOKEN),
        ("the action's token", "action-header-s3cret"),
    ];
    let bodies: Vec<String> = receiver.received().into_iter().map(|r| r.body).collect();
    assert!(bodies.len() >= expected.len() + 5, "every kind of event was delivered: {}", bodies.len());
    assert_ne!(instance["webhook_secret"], rotated["webhook_secret"], "the rotation changed the secret");
    assert_no_secret_in(&secrets, &bodies, &raw_stream);
}

/// None of `secrets` (`(what, value)`) is in a delivered body or in the raw event stream.
pub(crate) fn assert_no_secret_in(secrets: &[(&str, &str)], bodies: &[String], raw_stream: &str) {
    for (what, secret) in secrets {
        for body in bodies {
            assert!(!body.contains(secret), "{what} ({secret}) was delivered: {body}");
        }
        assert!(!raw_stream.contains(secret), "{what} ({secret}) was streamed: {raw_stream}");
    }
}

// ---------------------------------------------------------------------------------------------
// The catalogue
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_catalogue_lists_every_type_with_an_example_naming_its_actor_and_request() {
    // Arrange
    let app = events_app().await;
    let admin = || json!({ "type": "api_key" });
    let webhook = || json!({ "type": "webhook" });
    let system = || json!({ "type": "system" });
    let module = json!(["module_id", "driver", "custom_name", "control_system_id"]);
    let trigger = json!(["trigger_id", "name", "enable_webhook"]);
    let subscription = ["subscription_id", "name", "url", "events", "system_id", "enabled", "auth_header"];
    let subscription_changed = json!([subscription.as_slice(), &["changed"]].concat());
    // (type, who causes it, its data's keys when this feature documents them)
    let table: [(&str, Value, Option<Value>); 30] = [
        ("trigger.fired", webhook(), None),
        ("trigger.reset", system(), None),
        ("trigger.state_changed", webhook(), None),
        ("webhook.received", webhook(), None),
        ("module.status_changed", system(), None),
        ("module.exec_failed", webhook(), None),
        ("system.created", admin(), None),
        ("system.updated", admin(), None),
        ("system.deleted", admin(), None),
        ("module.created", admin(), Some(module.clone())),
        ("module.updated", admin(), Some(module.clone())),
        ("module.deleted", admin(), Some(module)),
        ("trigger.created", admin(), Some(trigger.clone())),
        ("trigger.updated", admin(), Some(trigger)),
        ("trigger.deleted", admin(), Some(json!(["trigger_id"]))),
        ("trigger_instance.created", admin(), None),
        (
            "trigger_instance.updated",
            admin(),
            Some(json!([
                "trigger_instance",
                "trigger_id",
                "system_id",
                "enabled",
                "important",
                "exec_enabled",
                "changed"
            ])),
        ),
        ("trigger_instance.deleted", admin(), None),
        (
            "run.failed",
            system(),
            Some(json!(["run_id", "trigger_instance", "trigger_id", "system_id", "fire", "given_up"])),
        ),
        (
            "run.retried",
            admin(),
            Some(json!(["run_id", "trigger_instance", "trigger_id", "system_id", "fire", "retried"])),
        ),
        ("api_key.created", admin(), Some(json!(["key_id", "name", "role"]))),
        ("api_key.deleted", admin(), Some(json!(["key_id"]))),
        ("subscription.created", admin(), Some(json!(subscription))),
        ("subscription.updated", admin(), Some(subscription_changed)),
        ("subscription.deleted", admin(), Some(json!(subscription))),
        ("subscription.paused", system(), None),
        ("callout.created", admin(), Some(json!(["callout_id", "name", "url", "on", "system_id", "enabled"]))),
        (
            "callout.updated",
            admin(),
            Some(json!(["callout_id", "name", "url", "on", "system_id", "enabled", "changed"])),
        ),
        ("callout.deleted", admin(), Some(json!(["callout_id"]))),
        ("test", admin(), None),
    ];

    // Act
    let types = app.get_ok("/webhooks/event_types").await;

    // Assert
    let types = types.as_array().expect("a list");
    let names: Vec<&str> = types.iter().map(|t| t["event"].as_str().unwrap()).collect();
    let expected: Vec<&str> = table.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(names, expected, "all 30 types");
    let sorted = |keys: Vec<&str>| {
        let mut keys: Vec<String> = keys.into_iter().map(str::to_owned).collect();
        keys.sort_unstable();
        keys
    };
    for (t, (name, cause, data_keys)) in types.iter().zip(&table) {
        let example = &t["example"];
        let keys = sorted(example.as_object().unwrap().keys().map(String::as_str).collect());
        assert_eq!(
            keys,
            sorted(vec!["id", "event", "timestamp", "system_id", "actor", "request_id", "data"]),
            "[{name}]"
        );
        assert_eq!(example["actor"]["type"], cause["type"], "[{name}] caused by: {example}");
        let actor = example["actor"].as_object().unwrap();
        match cause["type"].as_str().unwrap() {
            "api_key" => {
                assert_eq!(sorted(actor.keys().map(String::as_str).collect()), sorted(vec!["type", "id", "name"]));
                assert!(example["actor"]["id"].as_str().is_some_and(|k| k.starts_with("key-")), "[{name}] {example}");
                assert!(example["actor"]["name"].as_str().is_some_and(|n| !n.is_empty()), "[{name}] {example}");
                assert!(example["request_id"].is_string(), "[{name}] a request caused it: {example}");
            }
            "webhook" => {
                assert_eq!(actor.len(), 2, "[{name}] {example}");
                assert!(example["actor"]["receipt"].as_str().is_some_and(|r| r.starts_with("rcpt-")), "[{name}]");
                assert!(example["request_id"].is_string(), "[{name}] a call caused it: {example}");
            }
            _ => {
                assert_eq!(actor.len(), 1, "[{name}] {example}");
                assert_eq!(example["request_id"], Value::Null, "[{name}] no request caused it: {example}");
            }
        }
        if let Some(data_keys) = data_keys {
            let data = example["data"].as_object().unwrap_or_else(|| panic!("[{name}] data is an object"));
            let want = sorted(data_keys.as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect());
            assert_eq!(sorted(data.keys().map(String::as_str).collect()), want, "[{name}] data keys");
        }
    }

    // Every type can be subscribed to by name.
    let receiver = TestReceiver::start().await;
    let body = json!({ "name": "By name", "url": receiver.url("/x"), "events": expected });
    let sub = app.create("/webhooks", body).await;
    assert_eq!(sub["events"], json!(expected));
}

#[tokio::test]
async fn api_key_changes_are_events_that_never_carry_the_key() {
    // Arrange
    let app = events_app().await;
    let receiver = subscribe_all(&app).await;

    // Act
    let created = app.create("/api_keys", json!({ "name": "Door panel", "role": "support" })).await;
    let key_id = id(&created).to_owned();
    app.delete_ok(&format!("/api_keys/{key_id}")).await;

    // Assert
    let made = delivered_event(&receiver, "api_key.created", |e| e["event"] == "api_key.created").await;
    let gone = delivered_event(&receiver, "api_key.deleted", |e| e["event"] == "api_key.deleted").await;
    assert_eq!(made["data"], json!({ "key_id": key_id, "name": "Door panel", "role": "support" }));
    assert_eq!(gone["data"], json!({ "key_id": key_id }));
    assert_eq!((&made["actor"], &gone["actor"]), (&configured_key_actor(), &configured_key_actor()));
    let plaintext = created["key"].as_str().expect("the key is shown once, at creation");
    let bodies: Vec<String> = delivered(&receiver).iter().map(Value::to_string).collect();
    assert!(bodies.iter().all(|b| !b.contains(plaintext)), "the key reached an event");
}

#[tokio::test]
async fn callout_changes_are_events_that_never_carry_the_secret_or_the_urls_credentials() {
    // Arrange
    let app = events_app().await;
    let receiver = subscribe_all(&app).await;
    let system = id(&app.create_system("Boardroom").await).to_owned();
    let body = json!({
        "name": "Bookings", "url": "https://user:PASSWD@rooms.example.com/may?key=QUERYSECRET",
        "on": ["exec"], "system_id": system,
    });

    // Act
    let created = app.create("/callouts", body).await;
    let callout = id(&created).to_owned();
    app.send_ok(Method::PATCH, &format!("/callouts/{callout}"), &json!({ "timeout_ms": 500 })).await;
    let rotated = app.create_ok(&format!("/callouts/{callout}/rotate-secret"), json!({})).await;
    app.delete_ok(&format!("/callouts/{callout}")).await;

    // Assert
    let made = delivered_event(&receiver, "callout.created", |e| e["event"] == "callout.created").await;
    let changed = delivered_event(&receiver, "callout.updated", |e| {
        e["event"] == "callout.updated" && e["data"]["changed"] == json!(["timeout_ms"])
    })
    .await;
    let rotation = delivered_event(&receiver, "callout.updated (secret)", |e| {
        e["event"] == "callout.updated" && e["data"]["changed"] == json!(["secret"])
    })
    .await;
    let gone = delivered_event(&receiver, "callout.deleted", |e| e["event"] == "callout.deleted").await;
    let description = json!({
        "callout_id": callout, "name": "Bookings", "url": "https://rooms.example.com/may?key=[redacted]",
        "on": ["exec"], "system_id": system, "enabled": true,
    });
    assert_eq!(made["data"], description);
    assert_eq!(made["system_id"], system.as_str());
    assert_eq!(changed["data"]["url"], description["url"]);
    assert_eq!(rotation["actor"], configured_key_actor());
    assert_eq!((&gone["data"], &gone["system_id"]), (&json!({ "callout_id": callout }), &json!(system)));
    let bodies: Vec<String> = delivered(&receiver).iter().map(Value::to_string).collect();
    for secret in [created["secret"].as_str().unwrap(), rotated["secret"].as_str().unwrap(), "PASSWD", "QUERYSECRET"] {
        assert!(bodies.iter().all(|b| !b.contains(secret)), "{secret} reached an event");
    }
}
