//! Comparisons, schedules, `any_match`, actions, live state and the event stream.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use switchboard::config::SmtpTls;
use switchboard::engine::clock::ManualClock;
use switchboard::startup::Options;

use crate::helpers::*;
use crate::smtp_server::SmtpServer;
use crate::test_driver;

/// Monday 2030-01-07 08:58:00 UTC.
const START_MS: u64 = 1_894_006_680_000;

struct Room {
    app: TestApp,
    sys: String,
}

impl Room {
    async fn new() -> Self {
        Self::with_options(|_| {}, Options { drivers: test_driver::registry(), ..Options::default() }).await
    }

    async fn with_options(customise: impl FnOnce(&mut switchboard::config::Config), options: Options) -> Self {
        let app = spawn_app_with_options(customise, options).await;
        let system = app.create_system("Conditions room").await;
        let sys = id(&system).to_owned();
        for driver in ["Display", "Probe"] {
            app.create_module(driver, Some(&sys)).await;
        }
        Room { app, sys }
    }

    async fn apply(&self, trigger: Value) -> Value {
        let trigger = self.app.create_trigger(trigger).await;
        self.app.create(&format!("/systems/{}/triggers", self.sys), json!({"trigger_id": id(&trigger)})).await
    }

    async fn state(&self, inst: &Value) -> Value {
        json(self.app.get(&format!("/systems/{}/triggers/{}/state", self.sys, id(inst))).await).await
    }

    /// Waits until the instance's state satisfies `check`.
    async fn until(&self, inst: &Value, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        eventually(5, what, || async {
            let s = self.state(inst).await;
            check(&s).then_some(s)
        })
        .await
    }

    async fn call(&self, module: &str, method: &str, args: Value) {
        let res = self.app.post(&format!("/systems/{}/{module}/{method}", self.sys), &args).await;
        assert_eq!(res.status(), 200, "{module}.{method}: {}", res.text().await.unwrap());
    }
}

fn power_is(value: bool) -> Value {
    json!({"left": {"mod": "Display_1", "status": "power"}, "operator": "equal", "right": value})
}

#[tokio::test]
async fn a_status_change_flips_a_comparison_both_ways() {
    let room = Room::new().await;
    let inst = room.apply(json!({"name": "Power on", "conditions": {"comparisons": [power_is(true)]}})).await;
    let initial = room.until(&inst, "initial evaluation", |s| s["conditions"]["comparison_0"] == false).await;
    assert_eq!(initial["trigger_count"], 0);

    room.call("Display_1", "power", json!([true])).await;
    let on = room.until(&inst, "the comparison to hold", |s| s["triggered"] == true).await;
    assert_eq!(on["trigger_count"], 1);

    room.call("Display_1", "power", json!([false])).await;
    room.until(&inst, "the comparison to drop", |s| s["triggered"] == false).await;
    room.call("Display_1", "power", json!([true])).await;
    let again = room.until(&inst, "a second rising edge", |s| s["trigger_count"] == 2).await;
    assert_eq!(again["triggered"], true);
    assert!(again["last_fired_at"].as_u64().is_some());
}

#[tokio::test]
async fn nested_keys_reach_into_status_values() {
    let room = Room::new().await;
    let cmp = json!({
        "left": {"mod": "Probe_1", "status": "climate", "keys": ["rooms", "lobby", "temp"]},
        "operator": "greater_than_or_equal",
        "right": 25
    });
    let inst = room.apply(json!({"name": "Hot lobby", "conditions": {"comparisons": [cmp]}})).await;

    room.call("Probe_1", "set", json!({"key": "climate", "value": {"rooms": {"lobby": {"temp": 22}}}})).await;
    room.until(&inst, "evaluation at 22", |s| s["conditions"]["comparison_0"] == false).await;
    room.call("Probe_1", "set", json!({"key": "climate", "value": {"rooms": {"lobby": {"temp": 26.5}}}})).await;
    let hot = room.until(&inst, "evaluation at 26.5", |s| s["triggered"] == true).await;
    assert_eq!(hot["comparison_errors"], 0);
}

#[tokio::test]
async fn incomparable_types_are_false_and_counted_and_missing_status_is_false() {
    let room = Room::new().await;
    let cmp = json!({"left": {"mod": "Probe_1", "status": "level"}, "operator": "greater_than", "right": 10});
    let inst = room.apply(json!({"name": "Level", "conditions": {"comparisons": [cmp]}})).await;
    let missing =
        room.until(&inst, "evaluation without the status", |s| s["conditions"]["comparison_0"] == false).await;
    assert_eq!(missing["comparison_errors"], 0, "a missing status is no error");

    room.call("Probe_1", "set", json!({"key": "level", "value": "high"})).await;
    let err = room.until(&inst, "the comparison error", |s| s["comparison_errors"] == 1).await;
    assert_eq!(err["triggered"], false);
    room.call("Probe_1", "set", json!({"key": "level", "value": 11})).await;
    room.until(&inst, "a number again", |s| s["triggered"] == true).await;
}

#[tokio::test]
async fn any_match_fires_on_one_condition_and_all_needs_every_one() {
    let room = Room::new().await;
    let comparisons = json!([
        power_is(true),
        {"left": {"mod": "Display_1", "status": "volume"}, "operator": "greater_than", "right": 80}
    ]);
    let all = room.apply(json!({"name": "All", "conditions": {"comparisons": comparisons}})).await;
    let any = room.apply(json!({"name": "Any", "any_match": true, "conditions": {"comparisons": comparisons}})).await;

    room.call("Display_1", "power", json!([true])).await;
    room.until(&any, "any_match to fire on one", |s| s["triggered"] == true).await;
    let all_state = room.until(&all, "the first condition", |s| s["conditions"]["comparison_0"] == true).await;
    assert_eq!(all_state["triggered"], false, "one of two is not enough without any_match");

    room.call("Display_1", "volume", json!([90])).await;
    room.until(&all, "both conditions", |s| s["triggered"] == true).await;
    assert_eq!(room.state(&any).await["trigger_count"], 1, "any_match was already triggered");
}

#[tokio::test]
async fn a_webhook_call_and_a_comparison_combine() {
    let room = Room::new().await;
    let inst = room
        .apply(json!({
            "name": "Both", "enable_webhook": true, "debounce_period": 60000,
            "conditions": {"comparisons": [power_is(true)]}
        }))
        .await;
    room.until(&inst, "evaluation", |s| s["conditions"]["comparison_0"] == false).await;

    let call = room.app.client.post(inst["webhook_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(json(call).await["fired"], false, "the comparison does not hold yet");
    room.call("Display_1", "power", json!([true])).await;
    let fired = room.until(&inst, "the fire", |s| s["trigger_count"] == 1).await;
    assert_eq!(fired["conditions"], json!({"webhook": true, "comparison_0": true}));
}

async fn clock_room() -> (Room, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::starting_at(START_MS);
    let options = Options { drivers: test_driver::registry(), clock: clock.clone() };
    (Room::with_options(|_| {}, options).await, clock)
}

#[tokio::test]
async fn cron_conditions_fire_on_schedule_in_their_time_zone_with_an_injected_clock() {
    let (room, clock) = clock_room().await;
    let utc = room
        .apply(json!({"name": "Nine UTC", "debounce_period": 60000,
            "conditions": {"time_dependents": [{"type": "cron", "cron": "0 9 * * *"}]}}))
        .await;
    // 09:00 in Sydney on 2030-01-08 is 22:00 UTC on the 7th.
    let sydney = room
        .apply(json!({"name": "Nine Sydney", "conditions": {"time_dependents": [
            {"type": "cron", "cron": "0 9 * * *", "timezone": "Australia/Sydney"}]}}))
        .await;
    room.until(&utc, "the program to load", |s| s["conditions"]["time_0"] == false).await;

    clock.advance(Duration::from_secs(120));
    let nine = room.until(&utc, "09:00 UTC", |s| s["trigger_count"] == 1).await;
    assert_eq!(nine["triggered"], true, "held for the debounce period");
    clock.advance(Duration::from_secs(61));
    room.until(&utc, "the window to close", |s| s["triggered"] == false).await;
    assert_eq!(room.state(&sydney).await["trigger_count"], 0);

    clock.advance(Duration::from_secs(13 * 3600));
    room.until(&sydney, "09:00 Sydney", |s| s["trigger_count"] == 1).await;
    clock.advance(Duration::from_secs(11 * 3600));
    room.until(&utc, "the next day's 09:00 UTC", |s| s["trigger_count"] == 2).await;
}

#[tokio::test]
async fn an_at_condition_fires_once() {
    let (room, clock) = clock_room().await;
    let at = START_MS / 1000 + 30;
    let inst =
        room.apply(json!({"name": "Once", "conditions": {"time_dependents": [{"type": "at", "time": at}]}})).await;
    room.until(&inst, "the program to load", |s| s["conditions"]["time_0"] == false).await;

    clock.advance(Duration::from_secs(29));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(room.state(&inst).await["trigger_count"], 0, "not yet");
    clock.advance(Duration::from_secs(1));
    room.until(&inst, "the at time", |s| s["trigger_count"] == 1).await;
    clock.advance(Duration::from_secs(86_400));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(room.state(&inst).await["trigger_count"], 1, "only once");
}

#[tokio::test]
async fn bad_schedules_are_rejected_when_saved() {
    let app = spawn_app().await;
    for (td, field) in [
        (json!({"type": "cron", "cron": "every day"}), "conditions.time_dependents[0].cron"),
        (json!({"type": "cron", "cron": "0 25 * * *"}), "conditions.time_dependents[0].cron"),
        (
            json!({"type": "cron", "cron": "0 9 * * *", "timezone": "Moon/Base"}),
            "conditions.time_dependents[0].timezone",
        ),
        (json!({"type": "at", "time": -1}), "conditions.time_dependents[0].time"),
    ] {
        let res = app.post("/triggers", &json!({"name": "Bad", "conditions": {"time_dependents": [td]}})).await;
        let err = assert_error(res, 422, "invalid_field").await;
        assert_eq!(err["field"], field, "{td}");
    }
}

#[tokio::test]
async fn actions_run_in_order_and_failures_are_counted_without_stopping_the_rest() {
    let room = Room::new().await;
    let inst = room
        .apply(json!({
            "name": "Actions", "enable_webhook": true,
            "actions": {"functions": [
                {"mod": "Probe_1", "method": "record", "args": {"tag": "first"}},
                {"mod": "Display_1", "method": "volume", "args": {"level": 300}},
                {"mod": "Projector_1", "method": "power", "args": {"state": true}},
                {"mod": "Probe_1", "method": "record", "args": {"tag": "second"}},
                {"mod": "Display_1", "method": "power", "args": {"state": true}}
            ]}
        }))
        .await;

    let res = room.app.client.post(inst["webhook_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), 202);

    let runs = format!("/systems/{}/triggers/{}/runs", room.sys, id(&inst));
    let run = eventually(5, "the run to finish", || async {
        let (runs, _) = room.app.list(&runs).await;
        runs.first().filter(|r| r["finished_at"].is_u64()).cloned()
    })
    .await;
    assert_eq!(run["status"], "failed", "two actions were given up");
    let state = room.until(&inst, "the action errors", |s| s["action_errors"] == 2).await;
    assert_eq!(state["trigger_count"], 1);
    let probe = json(room.app.get(&format!("/systems/{}/Probe_1", room.sys)).await).await;
    assert_eq!(probe["log"], json!(["first", "second"]));
    let display = json(room.app.get(&format!("/systems/{}/Display_1", room.sys)).await).await;
    assert_eq!(display["power"], true, "the action after the failures still ran");
}

#[tokio::test]
async fn mailers_send_one_email_per_address_through_smtp() {
    let smtp = SmtpServer::start().await;
    let port = smtp.port;
    let room = Room::with_options(
        |c| {
            c.smtp.host = Some("127.0.0.1".into());
            c.smtp.port = port;
            c.smtp.tls = SmtpTls::None;
            c.smtp.from = "engine@switchboard.test".into();
        },
        Options { drivers: test_driver::registry(), ..Options::default() },
    )
    .await;
    let inst = room
        .apply(json!({
            "name": "Door opened", "enable_webhook": true,
            "actions": {"mailers": [{"emails": ["ops@example.com", "guard@example.com"], "content": "The lobby door opened."}]}
        }))
        .await;

    room.app.client.post(inst["webhook_url"].as_str().unwrap()).send().await.unwrap();

    let mails = eventually(10, "two emails", || async {
        let got = smtp.received();
        (got.len() == 2).then_some(got)
    })
    .await;
    let mut recipients: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    assert_eq!(recipients, ["<guard@example.com>", "<ops@example.com>"]);
    for mail in &mails {
        assert_eq!(mail.from, "<engine@switchboard.test>");
        assert!(mail.data.contains("Subject: Door opened"), "{}", mail.data);
        assert!(mail.data.contains("The lobby door opened."), "{}", mail.data);
    }
    assert_eq!(room.state(&inst).await["action_errors"], 0);
}

#[tokio::test]
async fn a_mailer_without_smtp_counts_an_action_error() {
    let room = Room::new().await;
    let inst = room
        .apply(json!({"name": "No mail", "enable_webhook": true,
            "actions": {"mailers": [{"emails": ["ops@example.com"], "content": "x"}]}}))
        .await;
    room.app.client.post(inst["webhook_url"].as_str().unwrap()).send().await.unwrap();
    room.until(&inst, "the failed email", |s| s["action_errors"] == 1).await;
}

#[tokio::test]
async fn counters_survive_a_trigger_edit_and_a_restart() {
    let room = Room::new().await;
    let inst = room.apply(json!({"name": "Counted", "enable_webhook": true})).await;
    let url = inst["webhook_url"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        room.app.client.post(&url).send().await.unwrap();
    }

    let trigger_path = format!("/triggers/{}", inst["trigger_id"].as_str().unwrap());
    let res = room.app.patch(&trigger_path, &json!({"name": "Counted (edited)", "debounce_period": 10})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(room.state(&inst).await["trigger_count"], 3, "an edit keeps the count");
    let after_edit = json(room.app.client.post(&url).send().await.unwrap()).await;
    assert_eq!(after_edit["trigger_count"], 4);

    let sys = room.sys.clone();
    let app = room.app.restart().await;
    let state = json(app.get(&format!("/systems/{sys}/triggers/{}/state", id(&inst))).await).await;
    assert_eq!(state["trigger_count"], 4);
}

/// Reads SSE frames until one satisfies `pick`.
async fn next_event(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Unpin),
    buffer: &mut String,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let event: Value = serde_json::from_str(data).unwrap();
                    if pick(&event) {
                        return event;
                    }
                }
            }
            let chunk = body.next().await.expect("the stream stays open").unwrap();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the event arrived")
}

#[tokio::test]
async fn the_event_stream_shows_fires_and_status_changes_for_one_system() {
    let room = Room::new().await;
    let other = room.app.create_system("Elsewhere").await;
    let inst = room.apply(json!({"name": "Streamed", "enable_webhook": true})).await;
    let support = room.app.key_with_role("support").await;

    let res = room
        .app
        .client
        .get(room.app.api(&format!("/events?system_id={}", room.sys)))
        .header("X-API-Key", &support)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.bytes_stream();
    let mut buffer = String::new();

    room.app.patch(&format!("/systems/{}", id(&other)), &json!({"name": "Elsewhere 2"})).await;
    room.app.client.post(inst["webhook_url"].as_str().unwrap()).send().await.unwrap();
    let fired = next_event(&mut body, &mut buffer, |e| e["event"] == "trigger.fired").await;
    assert_eq!(fired["system_id"], room.sys.as_str());
    assert_eq!(fired["data"]["trigger_instance"], id(&inst));
    assert!(fired["id"].as_str().unwrap().starts_with("evt_"));

    room.call("Display_1", "power", json!([true])).await;
    let status = next_event(&mut body, &mut buffer, |e| {
        e["event"] == "module.status_changed" && e["data"]["key"] == "power" && e["data"]["value"] == true
    })
    .await;
    assert_eq!(status["system_id"], room.sys.as_str());

    let no_key = room.app.client.get(room.app.api("/events")).send().await.unwrap();
    assert_error(no_key, 401, "unauthorized").await;
}

#[tokio::test]
async fn editing_a_trigger_re_derives_triggered_and_a_later_edge_fires() {
    let room = Room::new().await;
    let inst = room.apply(json!({"name": "Edited", "conditions": {"comparisons": [power_is(true)]}})).await;
    room.until(&inst, "evaluation", |s| s["conditions"]["comparison_0"] == false).await;
    room.call("Display_1", "power", json!([true])).await;
    room.until(&inst, "the first fire", |s| s["trigger_count"] == 1).await;

    let volume_99 = json!({"left": {"mod": "Display_1", "status": "volume"}, "operator": "equal", "right": 99});
    let path = format!("/triggers/{}", inst["trigger_id"].as_str().unwrap());
    let res = room.app.patch(&path, &json!({"conditions": {"comparisons": [power_is(true), volume_99]}})).await;
    assert_eq!(res.status(), 200);
    let edited = room.until(&inst, "the edit to apply", |s| s["conditions"]["comparison_1"] == false).await;
    assert_eq!(edited["triggered"], false, "a new false condition breaks the set");

    room.call("Display_1", "volume", json!([99])).await;
    let fired = room.until(&inst, "a fire after the edit", |s| s["trigger_count"] == 2).await;
    assert_eq!(fired["triggered"], true);
}

#[tokio::test]
async fn an_unrelated_status_change_does_not_count_comparison_errors_again() {
    let room = Room::new().await;
    let cmp = json!({"left": {"mod": "Probe_1", "status": "level"}, "operator": "greater_than", "right": 10});
    let inst = room.apply(json!({"name": "Level", "conditions": {"comparisons": [cmp]}})).await;
    room.until(&inst, "evaluation", |s| s["conditions"]["comparison_0"] == false).await;
    room.call("Probe_1", "set", json!({"key": "level", "value": "high"})).await;
    room.until(&inst, "the error", |s| s["comparison_errors"] == 1).await;

    room.call("Probe_1", "set", json!({"key": "other", "value": 1})).await;
    room.call("Probe_1", "record", json!({"tag": "x"})).await;
    room.app.patch(&format!("/systems/{}", room.sys), &json!({"name": "Renamed"})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(room.state(&inst).await["comparison_errors"], 1);
}
