//! Placeholders in trigger actions: `{"$payload": ptr}`, `{"$status": {mod, status}}`, `{"$fire": field}`
//! and `{{…}}` templates in function args, request url/headers/body and mailer content. They are
//! checked when the trigger is saved and resolved when the run executes; a receiver inside the test
//! plays the far end of request actions, and the built-in Display driver shows what a function
//! action's args resolved to.

use reqwest::Method;
use serde_json::{json, Value};
use switchboard::config::SmtpTls;

use crate::helpers::*;
use crate::smtp_server::SmtpServer;

/// An app whose request actions may reach the receiver on 127.0.0.1.
async fn local_app() -> TestApp {
    spawn_app_with(|c| c.outbound.allow_private_networks = true).await
}

/// A new system with a `Display_1` module (the built-in Display driver).
async fn display_system(app: &TestApp) -> String {
    let system = app.create_system("Door room").await;
    app.create_module("Display", Some(id(&system))).await;
    id(&system).to_owned()
}

/// Calls `Display_1.<method>` of the system through the module API, asserting 200.
async fn call_display(app: &TestApp, system: &str, method: &str, args: Value) {
    let res = app.post(&format!("/systems/{system}/Display_1/{method}"), &args).await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 200, "Display_1.{method} {args}: {body}");
}

/// The module status of `Display_1`, as the module API shows it.
async fn display_status(app: &TestApp, system: &str) -> Value {
    app.get_ok(&format!("/systems/{system}/Display_1")).await
}

/// Calls the hook with `body` (and `content_type`, when given) and asserts that the call fired;
/// returns the answer.
async fn fire_with(app: &TestApp, hook: &Hook, content_type: Option<&str>, body: &str) -> Value {
    let headers: Vec<(&str, String)> = content_type.map(|ct| ("Content-Type", ct.to_owned())).into_iter().collect();
    let res = app.call_hook(&hook.url(app), &headers, body.to_owned()).await;
    let (status, answer) = status_and_body(res).await;
    assert_eq!((status, &answer["fired"]), (202, &json!(true)), "the call fires: {answer}");
    answer
}

/// Calls the hook with a JSON body.
async fn fire_json(app: &TestApp, hook: &Hook, body: &Value) -> Value {
    fire_with(app, hook, Some("application/json"), &body.to_string()).await
}

fn run_path(hook: &Hook, run: &str) -> String {
    format!("{}/runs/{run}", hook.path())
}

/// Waits until the run of fire `fire` of the hook has finished, and returns it.
async fn finished_run(app: &TestApp, hook: &Hook, fire: u64) -> Value {
    let path = format!("{}/runs?limit=1000", hook.path());
    eventually(10, &format!("the run of fire {fire} to finish"), || async {
        let (items, _) = app.list(&path).await;
        items.into_iter().find(|r| r["fire"] == fire && r.get("finished_at").is_some())
    })
    .await
}

fn ms(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("{value} is epoch milliseconds"))
}

/// The body of a request action that POSTs `body` to the receiver's `path`.
fn post_body(receiver: &TestReceiver, path: &str, body: Value) -> Value {
    json!({ "method": "POST", "url": receiver.url(path), "body": body })
}

// ---------------------------------------------------------------------------------------------
// Request actions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_request_action_gets_its_url_headers_and_body_filled_in_from_the_payload_fire_and_statuses() {
    // Arrange: the Display is on, and the trigger's request reads the call, the fire and the Display.
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    let system = display_system(&app).await;
    call_display(&app, &system, "power", json!({ "state": true })).await;
    let power = json!({ "$status": { "mod": "Display_1", "status": "power" } });
    let action = json!({
        "method": "PUT",
        "url": receiver.url("/doors/{{payload./door/id}}/fires/{{fire.trigger_count}}?q={{payload./q}}&open={{payload./door/open}}"),
        "headers": {
            "X-Door": "{{payload./door/id}}",
            "X-Note": "note: {{payload./note}}",
            "X-Fire": "fire {{fire.trigger_count}} of {{fire.instance_id}}",
        },
        "body": {
            "open": { "$payload": "/door/open" },
            "door": { "$payload": "/door" },
            "escaped": { "$payload": "/a~1b/m~0n" },
            "missing": { "$payload": "/nothing/here" },
            "instance": { "$fire": "instance_id" },
            "system": { "$fire": "system_id" },
            "fired_at": { "$fire": "fired_at" },
            "count": { "$fire": "trigger_count" },
            "power": power,
            "nested": [[{ "$payload": "/door/id" }, { "$fire": "trigger_count" }], { "deep": [power, 7] }],
            "text": "Door {{payload./door/id}} open={{payload./door/open}} floor={{payload./door/floor}} \
                     fire={{fire.trigger_count}} power={{status.Display_1.power}} none=[{{payload./nothing}}]",
            "whole": "{{payload./door}}",
            "plain": { "kept": "as is", "n": 1, "flag": null },
            "two_keys": { "$payload": "/door/id", "note": "an object with more keys is plain data" },
        },
    });
    let hook = app.hook_in(&system, json!({ "actions": { "requests": [action] } })).await;
    let payload = json!({
        "door": { "id": "a/b c", "open": true, "floor": 2 },
        "q": "Az09-._~ é&=?#/",
        "note": "line1\r\nX-Evil: 1\tend",
        "a/b": { "m~n": "escaped" },
    });

    // Act
    let fired = fire_json(&app, &hook, &payload).await;

    // Assert: the run keeps the call's body and the status it read.
    let run = finished_run(&app, &hook, 1).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(run["fire"], fired["trigger_count"]);
    assert_eq!(run["payload"], payload, "an action reads the payload, so the run keeps it");
    assert_eq!(run["statuses"], json!({ "Display_1.power": true }));

    // Assert: exactly one request, with every placeholder resolved.
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(got.len(), 1, "sent once: {got:#?}");
    let r = &got[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path, "/doors/a%2Fb%20c/fires/1", "inserted URL values are percent-encoded");
    assert_eq!(r.query, "q=Az09-._~%20%C3%A9%26%3D%3F%23%2F&open=true", "only A-Z a-z 0-9 - . _ ~ stay as they are");
    assert_eq!(r.header("x-door"), Some("a/b c"), "a header value is inserted as it is");
    assert_eq!(r.header("x-note"), Some("note: line1X-Evil: 1end"), "control characters are removed from headers");
    assert_eq!(r.header("x-evil"), None, "no header was smuggled in: {:?}", r.headers);
    assert_eq!(r.header("x-fire").map(str::to_owned), Some(format!("fire 1 of {}", hook.id())));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.idempotency_key(), format!("{}:0", id(&run)));
    let door_text = payload["door"].to_string();
    let expected = json!({
        "open": true,
        "door": payload["door"],
        "escaped": "escaped",
        "missing": null,
        "instance": hook.id(),
        "system": system,
        "fired_at": ms(&run["fired_at"]),
        "count": 1,
        "power": true,
        "nested": [["a/b c", 1], { "deep": [true, 7] }],
        "text": "Door a/b c open=true floor=2 fire=1 power=true none=[]",
        "whole": door_text,
        "plain": { "kept": "as is", "n": 1, "flag": null },
        "two_keys": { "$payload": "/door/id", "note": "an object with more keys is plain data" },
    });
    assert_eq!(r.json(), expected);

    // Act: a second fire counts on.
    let mut second = payload.clone();
    second["door"]["id"] = json!("B2");
    fire_json(&app, &hook, &second).await;

    // Assert
    let run = finished_run(&app, &hook, 2).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let got = receiver.wait_for(2, 10).await;
    assert_eq!(got[1].path, "/doors/B2/fires/2");
    assert_eq!(got[1].json()["count"], 2);
    assert_eq!(got[1].json()["fired_at"], run["fired_at"]);
}

#[tokio::test]
async fn statuses_are_read_when_the_run_starts_and_kept_with_it() {
    // Arrange: the Display is on; the trigger's first action turns it off, and its request then reports
    // the statuses, which were read before any action ran.
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    let system = display_system(&app).await;
    call_display(&app, &system, "power", json!({ "state": true })).await;
    let status = |module: &str, name: &str| json!({ "$status": { "mod": module, "status": name } });
    let body = json!({
        "power": status("Display_1", "power"),
        "volume": status("Display_1", "volume"),
        "no_module": status("Projector_1", "power"),
        "no_status": status("Display_1", "brightness"),
        "text": "power was {{status.Display_1.power}}, brightness [{{status.Display_1.brightness}}]",
    });
    let actions = json!({
        "functions": [{ "mod": "Display_1", "method": "power", "args": { "state": false } }],
        "requests": [post_body(&receiver, "/status", body)],
    });
    let hook = app.hook_in(&system, json!({ "actions": actions })).await;

    // Act
    fire_json(&app, &hook, &json!({ "door": "open" })).await;

    // Assert
    let run = finished_run(&app, &hook, 1).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let statuses = json!({
        "Display_1.power": true, "Display_1.volume": 50, "Projector_1.power": null, "Display_1.brightness": null,
    });
    assert_eq!(run["statuses"], statuses, "{run:#}");
    assert!(run.get("payload").is_none(), "no action reads the payload, so the run does not keep it: {run:#}");
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(
        got[0].json(),
        json!({
            "power": true, "volume": 50, "no_module": null, "no_status": null,
            "text": "power was true, brightness []",
        }),
        "the statuses as they were when the run started, not after its first action"
    );
    assert_eq!(display_status(&app, &system).await["power"], false, "the function action did run first");

    // Act: the statuses change after the run.
    call_display(&app, &system, "volume", json!({ "level": 80 })).await;
    call_display(&app, &system, "power", json!({ "state": true })).await;

    // Assert: the stored run is as it was.
    assert_eq!(app.get_ok(&run_path(&hook, id(&run))).await, run);

    // Act: a later fire reads the statuses afresh.
    fire_json(&app, &hook, &json!({})).await;

    // Assert
    let second = finished_run(&app, &hook, 2).await;
    assert_eq!(
        (&second["statuses"]["Display_1.power"], &second["statuses"]["Display_1.volume"]),
        (&json!(true), &json!(80))
    );
    assert_eq!(receiver.wait_for(2, 10).await[1].json()["volume"], 80);
    assert_eq!(app.get_ok(&run_path(&hook, id(&run))).await["statuses"], statuses, "the first run keeps its own");
}

#[tokio::test]
async fn a_body_that_is_not_json_or_no_body_resolves_payload_placeholders_to_null() {
    // Arrange
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    let body = json!({
        "open": { "$payload": "/door/open" },
        "whole": { "$payload": "" },
        "text": "door [{{payload./door/id}}] all [{{payload.}}]",
        "count": { "$fire": "trigger_count" },
    });
    let action = json!({ "method": "POST", "url": receiver.url("/door/{{payload./door/id}}x"), "body": body });
    let hook = app.hook(json!({ "actions": { "requests": [action] } })).await;
    let cases: [(&str, Option<&str>, &str); 4] = [
        ("a form body", Some("application/x-www-form-urlencoded"), "door=open&id=7"),
        ("plain text", Some("text/plain"), "the door is open"),
        ("malformed JSON", Some("application/json"), "{\"door\": {\"id\": "),
        ("no body", None, ""),
    ];

    for (fire, (case, content_type, call_body)) in (1u64..).zip(cases) {
        // Act
        fire_with(&app, &hook, content_type, call_body).await;

        // Assert
        let run = finished_run(&app, &hook, fire).await;
        assert_eq!(run["status"], "succeeded", "[{case}] {run:#}");
        assert!(run.get("payload").is_none_or(Value::is_null), "[{case}] no JSON body to keep: {run:#}");
        let got = receiver.wait_for(fire as usize, 10).await;
        let r = &got[fire as usize - 1];
        assert_eq!(r.path, "/door/x", "[{case}] an empty value in the URL");
        assert_eq!(
            r.json(),
            json!({ "open": null, "whole": null, "text": "door [] all []", "count": fire }),
            "[{case}] JSON null in the body, nothing in templates"
        );
    }

    // A JSON body after them resolves as usual, so the nulls above came from the bodies.
    fire_json(&app, &hook, &json!({ "door": { "id": "d7", "open": false } })).await;
    let run = finished_run(&app, &hook, 5).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let got = receiver.wait_for(5, 10).await;
    let whole = json!({ "door": { "id": "d7", "open": false } });
    assert_eq!(got[4].path, "/door/d7x");
    assert_eq!(
        got[4].json(),
        json!({ "open": false, "whole": whole, "text": format!("door [d7] all [{whole}]"), "count": 5 })
    );
}

#[tokio::test]
async fn a_fire_that_is_not_a_webhook_call_has_a_null_payload_and_still_its_fire_values() {
    // Arrange: a trigger without a webhook that fires when the Display turns on.
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    let system = display_system(&app).await;
    let body = json!({
        "whole": { "$payload": "" },
        "door": { "$payload": "/door" },
        "count": { "$fire": "trigger_count" },
        "instance": { "$fire": "instance_id" },
        "power": { "$status": { "mod": "Display_1", "status": "power" } },
        "text": "n={{fire.trigger_count}} p=[{{payload./door}}]",
    });
    let power_on = json!({ "left": { "mod": "Display_1", "status": "power" }, "operator": "equal", "right": true });
    let trigger = json!({
        "enable_webhook": false,
        "conditions": { "comparisons": [power_on] },
        "actions": { "requests": [post_body(&receiver, "/fire/{{fire.trigger_count}}", body)] },
    });
    let hook = app.hook_in(&system, trigger).await;
    let state_path = format!("{}/state", hook.path());
    eventually(10, "the first evaluation", || async {
        (app.get_ok(&state_path).await["conditions"]["comparison_0"] == false).then_some(())
    })
    .await;

    // Act
    call_display(&app, &system, "power", json!({ "state": true })).await;

    // Assert
    let run = finished_run(&app, &hook, 1).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert!(run.get("payload").is_none_or(Value::is_null), "no call, no payload: {run:#}");
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/fire/1");
    assert_eq!(
        got[0].json(),
        json!({ "whole": null, "door": null, "count": 1, "instance": hook.id(), "power": true, "text": "n=1 p=[]" })
    );
}

#[tokio::test]
async fn a_retried_run_sends_the_values_it_resolved_at_first() {
    // Arrange: the receiver fails every attempt, so the run is given up.
    let receiver = TestReceiver::start().await;
    receiver.respond_with(500);
    let app = local_app().await;
    let system = display_system(&app).await;
    call_display(&app, &system, "power", json!({ "state": true })).await;
    let body = json!({
        "door": { "$payload": "/door" },
        "power": { "$status": { "mod": "Display_1", "status": "power" } },
        "count": { "$fire": "trigger_count" },
    });
    let hook = app.hook_in(&system, json!({ "actions": { "requests": [post_body(&receiver, "/retry", body)] } })).await;
    fire_json(&app, &hook, &json!({ "door": "north" })).await;
    let failed = finished_run(&app, &hook, 1).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    let run_id = id(&failed).to_owned();

    // Act: the Display turns off meanwhile; then the far end is fixed and an admin retries the run.
    call_display(&app, &system, "power", json!({ "state": false })).await;
    receiver.respond_with(200);
    let res = app.admin(Method::POST, &format!("{}/retry", run_path(&hook, &run_id))).send().await.unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());

    // Assert: every attempt, the retry included, sent what the run resolved when it started.
    let path = run_path(&hook, &run_id);
    let run = eventually(10, "the retried run to succeed", || async {
        let run = app.get_ok(&path).await;
        (run["status"] == "succeeded").then_some(run)
    })
    .await;
    assert_eq!(run["statuses"], json!({ "Display_1.power": true }), "the statuses are not read again: {run:#}");
    let got = receiver.received();
    assert_eq!(got.len(), 4, "three attempts, then the retry: {got:#?}");
    for r in &got {
        assert_eq!(r.json(), json!({ "door": "north", "power": true, "count": 1 }));
    }
}

#[tokio::test]
async fn each_instance_resolves_against_its_own_system() {
    // Arrange: one trigger applied to two systems, whose Displays differ.
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    let (on, off) = (display_system(&app).await, display_system(&app).await);
    call_display(&app, &on, "power", json!({ "state": true })).await;
    let body = json!({
        "power": { "$status": { "mod": "Display_1", "status": "power" } },
        "system": { "$fire": "system_id" },
        "instance": { "$fire": "instance_id" },
    });
    let trigger = app
        .create_trigger(json!({
            "name": "Shared", "enable_webhook": true, "debounce_period": 0, "supported_methods": ["POST"],
            "actions": { "requests": [post_body(&receiver, "/{{fire.system_id}}", body)] },
        }))
        .await;
    let mut hooks = Vec::new();
    for system in [&on, &off] {
        let instance = app.create(&format!("/systems/{system}/triggers"), json!({ "trigger_id": id(&trigger) })).await;
        hooks.push(Hook { system: system.clone(), trigger: id(&trigger).to_owned(), instance });
    }

    for (n, (hook, power)) in hooks.iter().zip([true, false]).enumerate() {
        // Act
        fire_json(&app, hook, &json!({})).await;

        // Assert
        let run = finished_run(&app, hook, 1).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(run["statuses"], json!({ "Display_1.power": power }));
        let got = receiver.wait_for(n + 1, 10).await;
        assert_eq!(got[n].path, format!("/{}", hook.system));
        assert_eq!(got[n].json(), json!({ "power": power, "system": hook.system, "instance": hook.id() }));
    }
}

#[tokio::test]
async fn a_url_host_taken_from_the_payload_is_still_refused_on_a_private_network() {
    // Arrange: private networks are not allowed (the default), and the host comes from the call.
    let receiver = TestReceiver::start().await;
    let app = spawn_app().await;
    assert!(!app.config.outbound.allow_private_networks);
    let action = json!({ "method": "POST", "url": format!("http://{{{{payload./host}}}}:{}/ssrf", receiver.port) });
    let hook = app.hook(json!({ "actions": { "requests": [action] } })).await;

    // Act
    fire_json(&app, &hook, &json!({ "host": "127.0.0.1" })).await;

    // Assert
    let run = finished_run(&app, &hook, 1).await;
    assert_eq!(run["status"], "failed", "{run:#}");
    let attempts = run["actions"][0]["attempts"].as_array().expect("attempts is an array");
    assert!(attempts.iter().all(|a| a["error"].as_str().is_some_and(|e| e.contains("loopback address"))), "{run:#}");
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
}

// ---------------------------------------------------------------------------------------------
// Function and email actions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_function_actions_args_are_filled_in_from_the_payload() {
    // Arrange
    let app = spawn_app().await;
    let system = display_system(&app).await;
    let function = json!({ "mod": "Display_1", "method": "power", "args": { "state": { "$payload": "/on" } } });
    let hook = app.hook_in(&system, json!({ "actions": { "functions": [function] } })).await;
    assert_eq!(display_status(&app, &system).await["power"], false, "the Display starts off");

    for (fire, on) in [(1, true), (2, false)] {
        // Act
        fire_json(&app, &hook, &json!({ "on": on })).await;

        // Assert
        let run = finished_run(&app, &hook, fire).await;
        assert_eq!(run["status"], "succeeded", "{run:#}");
        assert_eq!(run["payload"], json!({ "on": on }));
        assert!(run.get("statuses").is_none(), "no action reads a status: {run:#}");
        assert_eq!(display_status(&app, &system).await["power"], on, "fire {fire} called power with state {on}");
    }
}

#[tokio::test]
async fn a_mailers_content_is_filled_in_from_the_payload_fire_and_statuses() {
    // Arrange
    let smtp = SmtpServer::start().await;
    let port = smtp.port;
    let app = spawn_app_with(|c| {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = port;
        c.smtp.tls = SmtpTls::None;
        c.smtp.from = "engine@switchboard.test".into();
    })
    .await;
    let system = display_system(&app).await;
    call_display(&app, &system, "power", json!({ "state": true })).await;
    let content = "Door {{payload./door/id}} opened, fire {{fire.trigger_count}}, \
                   power {{status.Display_1.power}}, missing [{{payload./nothing}}].";
    let mailer = json!({ "emails": ["ops@example.com"], "content": content });
    let hook = app.hook_in(&system, json!({ "name": "Door opened", "actions": { "mailers": [mailer] } })).await;

    // Act
    fire_json(&app, &hook, &json!({ "door": { "id": "D-12" } })).await;

    // Assert
    let run = finished_run(&app, &hook, 1).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(run["statuses"], json!({ "Display_1.power": true }));
    let mails = eventually(10, "the email", || async {
        let got = smtp.received();
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].to, ["<ops@example.com>"]);
    let data = &mails[0].data;
    assert!(data.contains("Subject: Door opened"), "{data}");
    assert!(data.contains("Door D-12 opened, fire 1, power true, missing []."), "the content is filled in: {data}");
    assert!(!data.contains("{{"), "no template is left: {data}");
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_placeholders_are_refused_when_a_trigger_is_saved_naming_the_field() {
    let app = spawn_app().await;
    let request = |changes: Value| {
        let mut action = json!({ "method": "POST", "url": "https://hooks.example.com/x" });
        for (k, v) in changes.as_object().unwrap() {
            action[k] = v.clone();
        }
        json!({ "requests": [action] })
    };
    let body = |body: Value| request(json!({ "body": body }));
    let url = |path: &str| request(json!({ "url": format!("https://hooks.example.com{path}") }));
    let header = |value: &str| request(json!({ "headers": { "X-Door": value } }));
    let args = |args: Value| json!({ "functions": [{ "mod": "Display_1", "method": "power", "args": args }] });
    let content = |content: &str| json!({ "mailers": [{ "emails": ["ops@example.com"], "content": content }] });
    let status = |status: Value| body(json!({ "$status": status }));
    let cases: Vec<(&str, Value, &str)> = vec![
        // $payload
        (
            "a pointer without /",
            body(json!({ "door": { "$payload": "door" } })),
            "actions.requests[0].body.door.$payload",
        ),
        ("a ~ not ~0 or ~1", body(json!({ "door": { "$payload": "/a~2" } })), "actions.requests[0].body.door.$payload"),
        ("a trailing ~", body(json!({ "door": { "$payload": "/a~" } })), "actions.requests[0].body.door.$payload"),
        (
            "a pointer that is no string",
            body(json!({ "door": { "$payload": 3 } })),
            "actions.requests[0].body.door.$payload",
        ),
        ("a null pointer", body(json!({ "door": { "$payload": null } })), "actions.requests[0].body.door.$payload"),
        // $status
        (
            "module index 0",
            status(json!({ "mod": "Display_0", "status": "power" })),
            "actions.requests[0].body.$status.mod",
        ),
        ("an empty module", status(json!({ "mod": "", "status": "power" })), "actions.requests[0].body.$status.mod"),
        (
            "a module with a space",
            status(json!({ "mod": "Dis play", "status": "power" })),
            "actions.requests[0].body.$status.mod",
        ),
        (
            "a module that is no string",
            status(json!({ "mod": 1, "status": "power" })),
            "actions.requests[0].body.$status.mod",
        ),
        ("no module", status(json!({ "status": "power" })), "actions.requests[0].body.$status.mod"),
        ("no status", status(json!({ "mod": "Display_1" })), "actions.requests[0].body.$status.status"),
        (
            "an empty status",
            status(json!({ "mod": "Display_1", "status": "" })),
            "actions.requests[0].body.$status.status",
        ),
        (
            "a status that is no string",
            status(json!({ "mod": "Display_1", "status": true })),
            "actions.requests[0].body.$status.status",
        ),
        ("a status string", status(json!("Display_1.power")), "actions.requests[0].body.$status"),
        // $fire and other $ keys
        ("an unknown fire field", body(json!({ "$fire": "count" })), "actions.requests[0].body.$fire"),
        ("a fire field that is no string", body(json!({ "$fire": 1 })), "actions.requests[0].body.$fire"),
        ("an unknown $ key", body(json!({ "$secret": "x" })), "actions.requests[0].body.$secret"),
        (
            "a bad fire in a list",
            body(json!({ "list": [1, { "$fire": "x" }] })),
            "actions.requests[0].body.list[1].$fire",
        ),
        ("a body that is a list", body(json!([{ "$payload": "x" }])), "actions.requests[0].body[0].$payload"),
        ("a bad template in a body string", body(json!({ "t": "{{payload.x}}" })), "actions.requests[0].body.t"),
        // Templates in a URL
        ("a pointer without / in the url", url("/{{payload.x}}"), "actions.requests[0].url"),
        ("an unknown source in the url", url("/{{other.x}}"), "actions.requests[0].url"),
        ("an unclosed template in the url", url("/{{payload./a"), "actions.requests[0].url"),
        ("a status without its name in the url", url("/{{status.Display_1}}"), "actions.requests[0].url"),
        ("an unknown fire field in the url", url("/?n={{fire.count}}"), "actions.requests[0].url"),
        ("an empty template in the url", url("/{{}}"), "actions.requests[0].url"),
        // Templates in a header
        ("a pointer without / in a header", header("{{payload.x}}"), "actions.requests[0].headers.X-Door"),
        ("an unclosed template in a header", header("door {{payload./a"), "actions.requests[0].headers.X-Door"),
        ("a bad module in a header", header("{{status.Display_0.power}}"), "actions.requests[0].headers.X-Door"),
        // Function args
        (
            "a pointer without / in args",
            args(json!({ "state": { "$payload": "on" } })),
            "actions.functions[0].args.state.$payload",
        ),
        (
            "a bad fire deep in args",
            args(json!({ "list": [0, [{ "$fire": "x" }]] })),
            "actions.functions[0].args.list[1][0].$fire",
        ),
        (
            "an unknown $ key in args",
            args(json!({ "state": { "$env": "HOME" } })),
            "actions.functions[0].args.state.$env",
        ),
        ("a bad template in args", args(json!({ "state": "{{fire.x}}" })), "actions.functions[0].args.state"),
        // Mailer content
        ("an unknown fire field in content", content("fire {{fire.nothing}}"), "actions.mailers[0].content"),
        ("an unclosed template in content", content("door {{payload./a"), "actions.mailers[0].content"),
        ("an unknown source in content", content("{{secret.key}}"), "actions.mailers[0].content"),
    ];
    let (_, before) = app.list("/triggers").await;

    for (case, actions, field) in &cases {
        let res = app.post("/triggers", &json!({ "name": "Bad", "actions": actions })).await;
        assert_rejected(res, case, 422, "invalid_field", Some(field)).await;
    }

    // The index names the action at fault.
    let ok = json!({ "method": "POST", "url": "https://hooks.example.com/{{payload./id}}" });
    let bad = json!({ "method": "POST", "url": "https://hooks.example.com/{{payload.id}}" });
    let res = app.post("/triggers", &json!({ "name": "Bad", "actions": { "requests": [ok, bad] } })).await;
    assert_rejected(res, "the second request", 422, "invalid_field", Some("actions.requests[1].url")).await;
    let (_, after) = app.list("/triggers").await;
    assert_eq!(after, before, "no refused trigger was saved");

    // Good placeholders are accepted, in every place.
    let good = json!({
        "functions": [{ "mod": "Display_1", "method": "power", "args": { "state": { "$payload": "" } } }],
        "mailers": [{ "emails": ["ops@example.com"], "content": "{{payload./a~0b~1c}} {{status.Display.power}}" }],
        "requests": [{
            "method": "POST", "url": "https://hooks.example.com/{{fire.system_id}}/{{fire.instance_id}}",
            "headers": { "X-Door": "{{fire.fired_at}}" },
            "body": { "s": { "$status": { "mod": "Display_2", "status": "power" } }, "f": { "$fire": "fired_at" } },
        }],
    });
    let trigger = app.create_trigger(json!({ "name": "Good", "actions": good })).await;
    assert_eq!(trigger["actions"], good, "the trigger keeps its placeholders as written");
    let path = format!("/triggers/{}", id(&trigger));

    // An edit is checked the same way, and a refused one changes nothing.
    let patch = json!({ "actions": body(json!({ "door": { "$payload": "door" } })) });
    let res = app.patch(&path, &patch).await;
    assert_rejected(res, "PATCH", 422, "invalid_field", Some("actions.requests[0].body.door.$payload")).await;
    let put = json!({ "name": "Good", "actions": content("{{fire.nothing}}") });
    let res = app.send(Method::PUT, &path, Some(&put)).await;
    assert_rejected(res, "PUT", 422, "invalid_field", Some("actions.mailers[0].content")).await;
    assert_eq!(app.get_ok(&path).await["actions"], good);
}

#[tokio::test]
async fn a_payload_holding_a_nul_character_reaches_its_action_and_stops_no_other_fire() {
    // Arrange: one trigger whose action sends a value of the payload on, one plain trigger.
    let receiver = TestReceiver::start().await;
    let app = local_app().await;
    let action = json!({ "method": "POST", "url": receiver.url("/nul"), "body": { "x": { "$payload": "/x" } } });
    let nul = app.hook(json!({ "actions": { "requests": [action] } })).await;
    let plain = app.hook(json!({})).await;
    let json_type = [("content-type", "application/json".to_owned())];

    // Act
    let fired = app.call_hook(&nul.url(&app), &json_type, r#"{"x": "a\u0000b"}"#).await;
    let after = app.call_hook(&plain.url(&app), &json_type, "{}").await;

    // Assert: both fired, the action got the value as sent, and both fires are stored.
    assert_eq!((fired.status().as_u16(), after.status().as_u16()), (202, 202));
    let got = receiver.wait_for(1, 10).await;
    assert_eq!(got[0].json()["x"], "a\u{0}b");
    assert_eq!((app.trigger_count(&nul).await, app.trigger_count(&plain).await), (1, 1));
}
