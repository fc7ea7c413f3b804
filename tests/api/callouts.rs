//! Callouts (issue 18): an outside service asked, before a webhook exec, an admin module call or a
//! run of actions goes ahead, whether it may. A `TestReceiver` plays the service; its answer allows,
//! denies, or (a timeout, a refused connection, an unreadable answer) leaves it to the failure policy.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use switchboard::config::Config;

use crate::event_actors::configured_key_actor;
use crate::helpers::*;

/// The receiver path callouts ask, unless a test needs several.
const CALLOUT: &str = "/callout";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An app that may call out to 127.0.0.1.
async fn callout_app(customise: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|c| {
        c.outbound.allow_private_networks = true;
        customise(c);
    })
    .await
}

/// `base` with the fields of `extra` set on it.
fn with(mut base: Value, extra: Value) -> Value {
    base.as_object_mut().unwrap().extend(extra.as_object().expect("extra fields are an object").clone());
    base
}

/// Creates a callout (asserting 201) on `on: ["exec"]` asking `url`, with the fields of `extra`;
/// returns it and its secret.
async fn add_callout(app: &TestApp, url: String, extra: Value) -> (Value, String) {
    let callout = app.create("/callouts", with(json!({ "name": "Bookings", "url": url, "on": ["exec"] }), extra)).await;
    let secret = callout["secret"].as_str().expect("the secret is shown at creation").to_owned();
    (callout, secret)
}

/// Whether `raw` is base64 of at least 16 bytes (a key).
fn base64_decodes(raw: &str) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(raw).is_ok_and(|k| k.len() >= 16)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A URL on 127.0.0.1 where nothing listens.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}{CALLOUT}")
}

fn request_id_of(res: &Response) -> String {
    res.headers()["x-request-id"].to_str().expect("an ASCII request id").to_owned()
}

/// A system with `Display_1` and `Display_2`, a webhook instance on it that may exec, and a receiver
/// to play the callout service.
struct Rig {
    app: TestApp,
    receiver: TestReceiver,
    hook: Hook,
}

impl Rig {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    async fn with(customise: impl FnOnce(&mut Config)) -> Self {
        let app = callout_app(customise).await;
        let system = id(&app.create_system("Callout room").await).to_owned();
        for _ in 0..2 {
            app.create_module("Display", Some(&system)).await;
        }
        let trigger =
            json!({ "name": "Exec", "enable_webhook": true, "debounce_period": 0, "supported_methods": ["POST"] });
        let trigger = id(&app.create_trigger(trigger).await).to_owned();
        let body = json!({ "trigger_id": trigger, "exec_enabled": true });
        let instance = app.create(&format!("/systems/{system}/triggers"), body).await;
        Rig { app, receiver: TestReceiver::start().await, hook: Hook { system, trigger, instance } }
    }

    /// The query form of an exec of `Display_1.request`.
    fn exec_url(&self) -> String {
        format!("{}&exec=true&mod=Display&index=1&method=request", self.hook.url(&self.app))
    }

    /// Execs `Display_1.request` with `body`.
    async fn exec(&self, body: Value) -> Response {
        self.app.call_hook(&self.exec_url(), &[], body.to_string()).await
    }

    /// Execs `Display_1.request` with `body`, sending `request_id` as `X-Request-ID`.
    async fn exec_as(&self, request_id: &str, body: Value) -> Response {
        self.app.call_hook(&self.exec_url(), &[("x-request-id", request_id.to_owned())], body.to_string()).await
    }

    /// A callout asking the receiver's `path`.
    async fn callout(&self, path: &str, extra: Value) -> (Value, String) {
        add_callout(&self.app, self.receiver.url(path), extra).await
    }

    /// `Display_{n}`'s status.
    async fn display(&self, n: u32) -> Value {
        self.app.get_ok(&format!("/systems/{}/Display_{n}", self.hook.system)).await
    }
}

/// The callout's log (`query` without the `?`) once `ready` holds for its page and total.
async fn log_until(
    app: &TestApp,
    callout: &Value,
    query: &str,
    ready: impl Fn(&[Value], usize) -> bool,
) -> (Vec<Value>, usize) {
    let path = format!("/callouts/{}/log?{query}", id(callout));
    eventually(10, &format!("the log of {} to be ready", id(callout)), || async {
        let (items, total) = app.list(&path).await;
        ready(&items, total).then_some((items, total))
    })
    .await
}

/// The `request_id`s of log entries, in order.
fn request_ids(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|e| e["request_id"].as_str().unwrap_or("<none>")).collect()
}

/// The sum of every sample of the metric `name` whose labels contain `label` ("" for any).
async fn metric(app: &TestApp, name: &str, label: &str) -> f64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let samples = text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit_once(' '));
    let ours = samples.filter(|(series, _)| series.split('{').next() == Some(name) && series.contains(label));
    ours.map(|(_, value)| value.parse::<f64>().expect("a numeric sample")).sum()
}

/// `switchboard_callout_requests_total` for the decisions allow, deny and unavailable.
async fn decision_counts(app: &TestApp) -> [f64; 3] {
    let mut counts = [0.0; 3];
    for (count, decision) in counts.iter_mut().zip(["allow", "deny", "unavailable"]) {
        *count = metric(app, "switchboard_callout_requests_total", &format!("decision=\"{decision}\"")).await;
    }
    counts
}

/// The recorded request's headers as the Standard Webhooks library wants them.
fn header_map(r: &ReceivedRequest) -> HeaderMap {
    r.headers
        .iter()
        .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
        .collect()
}

/// Whether the official Standard Webhooks library accepts the recorded request under `secret`.
fn verifies(secret: &str, r: &ReceivedRequest) -> bool {
    let webhook = standardwebhooks::Webhook::new(secret).expect("a whsec_ secret");
    webhook.verify(r.body.as_bytes(), &header_map(r)).is_ok()
}

// ---------------------------------------------------------------------------------------------
// The callout API
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_callout_api_validates_input_shows_the_secret_once_and_lets_support_only_read() {
    let app = callout_app(|_| {}).await;
    let system = id(&app.create_system("Room").await).to_owned();
    let url = "https://bookings.example.com/may?token=abc";

    // Create: every field set, and the defaults.
    let (full, secret) = add_callout(
        &app,
        url.into(),
        json!({
            "name": " Bookings ", "on": ["actions", "exec", "exec"], "system_id": system,
            "match": { "modules": ["Display_*"], "methods": ["power"] },
            "timeout_ms": 500, "failure_policy": "allow", "enabled": false,
        }),
    )
    .await;
    assert_id_shape(&full["id"], "co-");
    let key = secret.strip_prefix("whsec_").unwrap_or_else(|| panic!("a whsec_ secret: {secret}"));
    assert!(base64_decodes(key), "the key after whsec_ is base64: {secret}");
    assert_eq!(full["name"], "Bookings");
    assert_eq!(full["url"], url);
    assert_eq!(full["on"], json!(["exec", "actions"]), "without repeats, in order");
    assert_eq!(full["system_id"], system.as_str());
    assert_eq!(full["match"], json!({ "modules": ["Display_*"], "methods": ["power"], "triggers": [] }));
    assert_eq!(
        (&full["timeout_ms"], &full["failure_policy"], &full["enabled"]),
        (&json!(500), &json!("allow"), &json!(false))
    );
    assert_recent(&full["created_at"], "created_at");
    assert_recent(&full["updated_at"], "updated_at");
    let (minimal, _) = add_callout(&app, "http://gate.example.com/".into(), json!({})).await;
    assert_eq!(minimal["system_id"], Value::Null);
    assert_eq!(minimal["match"], json!({ "modules": [], "methods": [], "triggers": [] }));
    assert_eq!(
        (&minimal["timeout_ms"], &minimal["failure_policy"], &minimal["enabled"]),
        (&json!(2000), &json!("deny"), &json!(true))
    );

    // Read: the same view, never the secret.
    let path = format!("/callouts/{}", id(&full));
    let mut without_secret = full.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(app.get_ok(&path).await, without_secret);
    let (all, total) = app.list("/callouts").await;
    assert_eq!((ids(&all), total), (vec![id(&full), id(&minimal)], 2));
    assert!(all.iter().all(|c| c.get("secret").is_none()), "{all:?}");
    let (first, total) = app.list("/callouts?limit=1").await;
    assert_eq!((first, total), (vec![all[0].clone()], 2));
    let (second, _) = app.list("/callouts?limit=1&offset=1").await;
    assert_eq!(second, vec![all[1].clone()]);

    // Bad input: 422 naming the field, and nothing created.
    let base = json!({ "name": "x", "url": url, "on": ["exec"] });
    let bad = |extra: Value| with(base.clone(), extra);
    let without = |field: &str| {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("name missing", without("name"), Some("name")),
        ("name blank", bad(json!({ "name": "  " })), Some("name")),
        ("url missing", without("url"), Some("url")),
        ("url ftp", bad(json!({ "url": "ftp://example.com/x" })), Some("url")),
        ("url relative", bad(json!({ "url": "/may" })), Some("url")),
        ("on missing", without("on"), Some("on")),
        ("on empty", bad(json!({ "on": [] })), Some("on")),
        ("on unknown", bad(json!({ "on": ["later"] })), None),
        ("timeout 50", bad(json!({ "timeout_ms": 50 })), Some("timeout_ms")),
        ("timeout 20000", bad(json!({ "timeout_ms": 20000 })), Some("timeout_ms")),
        ("system unknown", bad(json!({ "system_id": unknown_id("sys-") })), Some("system_id")),
        ("system malformed", bad(json!({ "system_id": "sys-1" })), Some("system_id")),
        ("policy unknown", bad(json!({ "failure_policy": "maybe" })), Some("failure_policy")),
        ("enabled not a bool", bad(json!({ "enabled": "yes" })), Some("enabled")),
        ("module pattern with a space", bad(json!({ "match": { "modules": ["Dis play"] } })), Some("match.modules[0]")),
        ("empty method", bad(json!({ "match": { "methods": ["power", ""] } })), Some("match.methods[1]")),
        ("unknown match field", bad(json!({ "match": { "rooms": ["x"] } })), None),
        ("unknown field", bad(json!({ "secret": "whsec_AAAA" })), Some("secret")),
    ];
    for (case, body, field) in cases {
        assert_rejected(app.post("/callouts", &body).await, case, 422, "invalid_field", field).await;
    }
    assert_rejects_malformed_bodies(&app, Method::POST, "/callouts").await;
    assert_eq!(app.list("/callouts").await.1, 2, "nothing was created");

    // PATCH: absent fields stay, null clears, bad values are refused.
    let patched = app
        .send_ok(
            Method::PATCH,
            &path,
            &json!({ "system_id": null, "timeout_ms": 100, "enabled": true, "match": { "methods": ["volume"] } }),
        )
        .await;
    assert_eq!(patched["system_id"], Value::Null);
    assert_eq!((&patched["timeout_ms"], &patched["enabled"]), (&json!(100), &json!(true)));
    assert_eq!(patched["match"]["methods"], json!(["volume"]));
    assert_eq!((&patched["name"], &patched["url"], &patched["on"]), (&full["name"], &full["url"], &full["on"]));
    assert!(patched.get("secret").is_none(), "{patched}");
    for (case, body, field) in [
        ("PATCH timeout", json!({ "timeout_ms": 20000 }), "timeout_ms"),
        ("PATCH unknown system", json!({ "system_id": unknown_id("sys-") }), "system_id"),
        ("PATCH empty on", json!({ "on": [] }), "on"),
        ("PATCH ftp url", json!({ "url": "ftp://x.example.com/" }), "url"),
    ] {
        assert_rejected(app.patch(&path, &body).await, case, 422, "invalid_field", Some(field)).await;
    }
    assert_eq!(app.get_ok(&path).await["timeout_ms"], 100, "a refused PATCH changes nothing");

    // Rotate: a new secret, shown once.
    let rotated = app.create_ok(&format!("{path}/rotate-secret"), json!({})).await;
    let new = rotated["secret"].as_str().expect("the new secret is shown once");
    assert!(new.starts_with("whsec_") && new != secret, "{new} is new");
    assert_eq!(rotated["id"], full["id"]);
    assert!(app.get_ok(&path).await.get("secret").is_none());

    // Roles: support reads (the URL's query values redacted), only admins write; no key, no access.
    let support = app.key_with_role("support").await;
    let as_support = |method: Method, p: &str| app.with_key(Some(&support), method, p);
    let seen = json(as_support(Method::GET, &path).send().await.unwrap()).await;
    assert_eq!(seen["url"], "https://bookings.example.com/may?token=[redacted]");
    assert!(seen.get("secret").is_none());
    let listed = json(as_support(Method::GET, "/callouts").send().await.unwrap()).await;
    assert_eq!(listed[0]["url"], "https://bookings.example.com/may?token=[redacted]");
    assert_eq!(as_support(Method::GET, &format!("{path}/log")).send().await.unwrap().status(), 200);
    for (method, p, body) in [
        (Method::POST, "/callouts".to_owned(), base.clone()),
        (Method::PATCH, path.clone(), json!({ "name": "Mine" })),
        (Method::DELETE, path.clone(), json!({})),
        (Method::POST, format!("{path}/rotate-secret"), json!({})),
    ] {
        let res = as_support(method.clone(), &p).json(&body).send().await.unwrap();
        assert_error(res, 403, "forbidden").await;
    }
    assert_eq!(app.get_ok(&path).await["name"], "Bookings", "support changed nothing");
    assert_error(app.with_key(None, Method::GET, "/callouts").send().await.unwrap(), 401, "unauthorized").await;

    // Delete: 204, then gone; unknown ids are 404 everywhere.
    app.delete_ok(&path).await;
    assert_eq!(app.list("/callouts").await.1, 1);
    for gone in [path.clone(), format!("/callouts/{}", unknown_id("co-")), "/callouts/co-nope".to_owned()] {
        assert_error(app.get(&gone).await, 404, "not_found").await;
        assert_error(app.get(&format!("{gone}/log")).await, 404, "not_found").await;
        assert_error(app.patch(&gone, &json!({ "name": "x" })).await, 404, "not_found").await;
        assert_error(app.post(&format!("{gone}/rotate-secret"), &json!({})).await, 404, "not_found").await;
        assert_error(app.delete(&gone).await, 404, "not_found").await;
    }
}

// ---------------------------------------------------------------------------------------------
// Gating an exec
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_allowed_exec_reaches_the_module_and_the_callout_hears_what_and_who() {
    // Arrange
    let rig = Rig::new().await;
    rig.receiver.respond_on(CALLOUT, Reply::status(204));
    rig.callout(CALLOUT, json!({})).await;

    // Act
    let res = rig.exec(json!({ "power": true })).await;

    // Assert: the exec went ahead.
    let request_id = request_id_of(&res);
    let (status, answer) = status_and_body(res).await;
    assert_eq!((status, &answer["power"]), (200, &json!(true)), "{answer}");
    assert_eq!(rig.display(1).await["power"], true);
    assert_eq!(rig.app.trigger_count(&rig.hook).await, 1, "an allowed exec fires the trigger");

    // Assert: what the callout was asked.
    let asked = rig.receiver.received_on(CALLOUT);
    assert_eq!(asked.len(), 1, "asked once: {asked:#?}");
    let r = &asked[0];
    assert_eq!(r.method, "POST");
    assert!(r.expect_header("content-type").starts_with("application/json"));
    let body = r.json();
    assert!(body["id"].as_str().is_some_and(|i| !i.is_empty()), "{body}");
    assert_eq!(r.expect_header("webhook-id"), body["id"], "the header names the body's id");
    let timestamp: i64 = r.expect_header("webhook-timestamp").parse().expect("unix seconds");
    assert!((timestamp - now_epoch_seconds() as i64).abs() < 60, "a current webhook-timestamp: {timestamp}");
    assert!(r.expect_header("webhook-signature").starts_with("v1,"));
    assert_eq!(body["action"], "exec");
    let at = body["timestamp"].as_str().unwrap_or_else(|| panic!("a timestamp: {body}"));
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "RFC 3339: {at}");
    assert_eq!(body["system_id"], rig.hook.system.as_str());
    assert_eq!((&body["module"], &body["method"]), (&json!("Display_1"), &json!("request")));
    assert_eq!(body["trigger_instance"], rig.hook.id());
    assert_eq!(body["trigger_id"], rig.hook.trigger.as_str());
    assert!(body.get("run").is_none_or(Value::is_null), "an exec has no run: {body}");
    assert_eq!(body["request_id"], request_id.as_str(), "the exec's X-Request-ID");
    let addr = &body["remote_addr"];
    assert!(addr.as_str().is_some_and(|a| a.starts_with("127.0.0.1:")), "the caller's address: {body}");
    assert_eq!(body["actor"]["type"], "webhook", "{body}");
    let receipt = body["actor"]["receipt"].as_str().unwrap_or_else(|| panic!("the actor names a receipt: {body}"));
    assert_id_shape(&json!(receipt), "rcpt-");
    assert_eq!(body["actor"].as_object().unwrap().len(), 2, "type and receipt only: {body}");
    let recorded = rig.app.receipt_eventually(&rig.hook, receipt).await;
    assert_eq!(recorded["id"], receipt, "the receipt of this very call");

    // Act: the path form, to the second display.
    let path_url = format!("{}/Display/2/request", rig.hook.path_url(&rig.app));
    let res = rig.app.call_hook(&path_url, &[], json!({ "volume": 70 }).to_string()).await;

    // Assert
    assert_eq!(res.status(), 200);
    assert_eq!(rig.display(2).await["volume"], 70);
    let asked = rig.receiver.received_on(CALLOUT);
    assert_eq!(asked.len(), 2, "the path form is asked about too");
    assert_eq!((&asked[1].json()["module"], &asked[1].json()["method"]), (&json!("Display_2"), &json!("request")));
    assert_ne!(asked[1].json()["id"], asked[0].json()["id"], "each question has its own id");
}

/// What the callout service does in one case.
enum Far {
    Answers(Reply),
    /// Holds its (allowing) answer for 2 s, far beyond the callout's 200 ms timeout.
    Holds,
    /// Nothing listens at the callout's URL.
    Refused,
}

/// A case of an exec's callout: its name, the far end, the failure policy, the exec's status, error
/// code and message.
type AnswerCase = (&'static str, Far, &'static str, u16, Option<&'static str>, Option<&'static str>);

/// A denial whose reason runs to 4 KB: it must be read whole, never cut short into an unreadable answer.
fn long_denial() -> String {
    json!({ "allow": false, "reason": "x".repeat(4096) }).to_string()
}

#[tokio::test]
async fn each_answer_allows_denies_or_leaves_it_to_the_failure_policy() {
    let rig = Rig::new().await;
    let denial = r#"{"allow": false, "reason": "no booking"}"#;
    let held = Duration::from_secs(2);
    let cases: Vec<AnswerCase> = vec![
        ("204", Far::Answers(Reply::status(204)), "deny", 200, None, None),
        ("empty 200", Far::Answers(Reply::status(200)), "deny", 200, None, None),
        ("allow true", Far::Answers(Reply::status(200).body(r#"{"allow": true}"#)), "deny", 200, None, None),
        (
            "allow false",
            Far::Answers(Reply::status(200).body(denial)),
            "deny",
            403,
            Some("denied_by_callout"),
            Some("no booking"),
        ),
        (
            "allow false, policy allow",
            Far::Answers(Reply::status(200).body(denial)),
            "allow",
            403,
            Some("denied_by_callout"),
            Some("no booking"),
        ),
        ("bare 403", Far::Answers(Reply::status(403)), "deny", 403, Some("denied_by_callout"), None),
        (
            "403 with a reason",
            Far::Answers(Reply::status(403).body(r#"{"allow": false, "reason": "closed"}"#)),
            "deny",
            403,
            Some("denied_by_callout"),
            Some("closed"),
        ),
        ("timeout", Far::Holds, "deny", 503, Some("callout_unavailable"), None),
        ("timeout, policy allow", Far::Holds, "allow", 200, None, None),
        ("refused", Far::Refused, "deny", 503, Some("callout_unavailable"), None),
        ("refused, policy allow", Far::Refused, "allow", 200, None, None),
        (
            "malformed",
            Far::Answers(Reply::status(200).body("yes please")),
            "deny",
            503,
            Some("callout_unavailable"),
            None,
        ),
        ("500", Far::Answers(Reply::status(500)), "deny", 503, Some("callout_unavailable"), None),
        ("redirect", Far::Answers(Reply::status(302)), "deny", 503, Some("callout_unavailable"), None),
        (
            "a denial longer than a delivery excerpt, policy allow",
            Far::Answers(Reply::status(200).body(long_denial())),
            "allow",
            403,
            Some("denied_by_callout"),
            None,
        ),
        ("500, policy allow", Far::Answers(Reply::status(500)), "allow", 200, None, None),
    ];

    for (n, (case, far, policy, status, code, message)) in cases.into_iter().enumerate() {
        // Arrange: one callout per case, at its own path.
        let path = format!("/case-{n}");
        let url = match &far {
            Far::Answers(reply) => {
                rig.receiver.respond_on(&path, reply.clone());
                rig.receiver.url(&path)
            }
            Far::Holds => {
                rig.receiver.respond_on(&path, Reply::status(204).delay(held));
                rig.receiver.url(&path)
            }
            Far::Refused => refused_url(),
        };
        let (callout, _) = add_callout(&rig.app, url, json!({ "timeout_ms": 200, "failure_policy": policy })).await;
        let (count, volume) = (rig.app.trigger_count(&rig.hook).await, rig.display(1).await["volume"].clone());
        let level = n as u64 + 1;

        // Act
        let started = Instant::now();
        let res = rig.exec(json!({ "volume": level })).await;
        let took = started.elapsed();

        // Assert
        if status == 200 {
            let (got, answer) = status_and_body(res).await;
            assert_eq!((got, &answer["volume"]), (200, &json!(level)), "[{case}] the exec went ahead: {answer}");
            assert_eq!(rig.display(1).await["volume"], level, "[{case}]");
            assert_eq!(rig.app.trigger_count(&rig.hook).await, count + 1, "[{case}] the trigger fired");
        } else {
            let body = assert_error(res, status, code.unwrap()).await;
            // An unavailable callout's cause (an address, a refusal) stays in its log.
            let unavailable = (status == 503).then_some("a callout that must allow this call could not be asked");
            if let Some(message) = message.or(unavailable) {
                assert_eq!(body["message"], message, "[{case}] the callout's reason, or a fixed text");
            }
            assert_eq!(rig.display(1).await["volume"], volume, "[{case}] the module was not called");
            assert_eq!(rig.app.trigger_count(&rig.hook).await, count, "[{case}] the trigger did not fire");
        }
        let asked = rig.receiver.received_on(&path).len();
        assert_eq!(asked, usize::from(!matches!(far, Far::Refused)), "[{case}] asked once");
        if matches!(far, Far::Holds) {
            assert!(took >= Duration::from_millis(190), "[{case}] waited for the timeout: {took:?}");
            assert!(took < held - Duration::from_millis(500), "[{case}] not for the held answer: {took:?}");
        }
        rig.app.delete_ok(&format!("/callouts/{}", id(&callout))).await;
    }
}

#[tokio::test]
async fn every_matching_callout_is_asked_at_once_and_one_denial_is_enough() {
    // Arrange: both answers are held, so both questions are open at the same time only if they are
    // asked in parallel.
    let rig = Rig::new().await;
    let hold = Duration::from_millis(400);
    rig.receiver.respond_on("/yes", Reply::status(204).delay(hold));
    rig.receiver.respond_on("/no", Reply::status(200).body(r#"{"allow": false, "reason": "busy"}"#).delay(hold));
    rig.callout("/yes", json!({})).await;
    rig.callout("/no", json!({})).await;

    // Act
    let res = rig.exec_as("two-callouts", json!({ "power": true })).await;

    // Assert
    let body = assert_error(res, 403, "denied_by_callout").await;
    assert_eq!(body["message"], "busy");
    assert_eq!(rig.display(1).await["power"], false);
    assert_eq!(rig.app.trigger_count(&rig.hook).await, 0);
    for path in ["/yes", "/no"] {
        let asked = rig.receiver.received_on(path);
        assert_eq!(asked.len(), 1, "{path} was asked");
        assert_eq!(asked[0].json()["request_id"], "two-callouts", "{path}");
    }
    assert_eq!(rig.receiver.max_in_flight(), 2, "both were asked at once");
}

#[tokio::test]
async fn only_enabled_callouts_whose_scope_and_match_fit_the_call_are_asked() {
    // Arrange
    let rig = Rig::new().await;
    rig.receiver.respond_with(204);
    let other_system = id(&rig.app.create_system("Elsewhere").await).to_owned();
    let other_trigger = id(&rig.app.create_trigger(json!({ "name": "Other" })).await).to_owned();
    // (receiver path, callout fields, asked before the exec of Display_1.request, before the module
    // call Display_1.power)
    let cases: Vec<(&str, Value, bool, bool)> = vec![
        ("/everything", json!({}), true, true),
        ("/own-system", json!({ "system_id": rig.hook.system }), true, true),
        ("/other-system", json!({ "system_id": other_system }), false, false),
        ("/displays", json!({ "match": { "modules": ["Display_*"] } }), true, true),
        ("/display-2", json!({ "match": { "modules": ["Display_2"] } }), false, false),
        ("/cameras", json!({ "match": { "modules": ["Camera_*"] } }), false, false),
        ("/request", json!({ "match": { "methods": ["request"] } }), true, false),
        ("/power", json!({ "match": { "methods": ["power"] } }), false, true),
        ("/this-trigger", json!({ "match": { "triggers": [rig.hook.trigger] } }), true, false),
        ("/other-trigger", json!({ "match": { "triggers": [other_trigger] } }), false, false),
        ("/disabled", json!({ "enabled": false }), false, false),
        ("/actions", json!({ "on": ["actions"] }), false, false),
    ];
    for (path, extra, _, _) in &cases {
        rig.callout(path, extra.clone()).await;
    }

    // Act: a fire without exec, which no callout is asked about.
    let plain = rig.app.call_hook(&rig.hook.url(&rig.app), &[], "").await;
    assert_eq!(plain.status(), 202);
    assert!(rig.receiver.received().is_empty(), "a plain fire asks nobody: {:?}", rig.receiver.received());

    // Act: the exec; every question is answered before it goes ahead.
    let res = rig.exec(json!({ "power": true })).await;
    assert_eq!(res.status(), 200);
    let after_exec: Vec<(&str, usize)> = cases.iter().map(|(p, ..)| (*p, rig.receiver.received_on(p).len())).collect();

    // Act: the module call.
    let call = rig.app.post(&format!("/systems/{}/Display_1/power", rig.hook.system), &json!([false])).await;
    assert_eq!(call.status(), 200);

    // Assert
    for ((path, _, by_exec, by_call), (_, exec_count)) in cases.iter().zip(after_exec) {
        assert_eq!(exec_count, usize::from(*by_exec), "{path} asked about the exec");
        let total = rig.receiver.received_on(path).len();
        assert_eq!(total - exec_count, usize::from(*by_call), "{path} asked about the module call");
    }
}

#[tokio::test]
async fn what_an_admin_changes_while_a_callout_is_pending_holds_for_that_very_exec() {
    // (case, the change: path under the rig's system or instance and body, status, code)
    let cases: [(&str, bool, Value, u16, &str); 3] = [
        ("instance disabled", true, json!({ "enabled": false }), 404, "not_found"),
        ("exec turned off", true, json!({ "exec_enabled": false }), 403, "exec_disabled"),
        ("modules removed from the system", false, json!({ "modules": [] }), 404, "module_not_found"),
    ];
    for (case, on_instance, change, status, code) in cases {
        // Arrange
        let rig = Rig::new().await;
        rig.receiver.respond_on(CALLOUT, Reply::status(204).delay(Duration::from_secs(1)));
        rig.callout(CALLOUT, json!({ "timeout_ms": 5000 })).await;
        let path = if on_instance { rig.hook.path() } else { format!("/systems/{}", rig.hook.system) };

        // Act: the exec waits on its callout while an admin makes the change.
        let pending =
            tokio::spawn(rig.app.client.post(rig.exec_url()).body(json!({ "power": true }).to_string()).send());
        rig.receiver.wait_for_on(CALLOUT, 1, 5).await;
        rig.app.send_ok(Method::PATCH, &path, &change).await;
        assert!(!pending.is_finished(), "[{case}] the exec still waits for its callout");
        let res = pending.await.unwrap().expect("the exec is answered");

        // Assert: answered as the change makes any exec be, and nothing happened.
        assert_error(res, status, code).await;
        assert_eq!(rig.app.trigger_count(&rig.hook).await, 0, "[{case}] the trigger did not fire");
        if on_instance {
            assert_eq!(rig.display(1).await["power"], false, "[{case}] the module was not called");
        }
    }
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    for host in ["127.0.0.1", "localhost"] {
        // Arrange
        let rig = Rig::with(|c| c.outbound.allow_private_networks = false).await;
        let url = rig.receiver.url(CALLOUT).replace("127.0.0.1", host);
        let (callout, _) = add_callout(&rig.app, url, json!({})).await;

        // Act
        let res = rig.exec(json!({ "power": true })).await;

        // Assert: never sent, unavailable, and the log says why.
        assert_error(res, 503, "callout_unavailable").await;
        assert!(rig.receiver.received_on(CALLOUT).is_empty(), "[{host}] nothing reached the address");
        let (log, _) = log_until(&rig.app, &callout, "", |items, _| !items.is_empty()).await;
        let error = log[0]["error"].as_str().unwrap_or_default();
        assert!(error.contains("allow_private_networks"), "[{host}] the refusal: {}", log[0]);
    }
}

#[tokio::test]
async fn questions_are_signed_with_the_callouts_secret_and_its_rotated_successor() {
    // Arrange
    let rig = Rig::new().await;
    rig.receiver.respond_on(CALLOUT, Reply::status(204));
    let (callout, secret) = rig.callout(CALLOUT, json!({})).await;
    let (_, stranger) =
        add_callout(&rig.app, "https://elsewhere.example.com/".into(), json!({ "enabled": false })).await;

    // Act
    assert_eq!(rig.exec(json!({ "power": true })).await.status(), 200);

    // Assert
    let first = rig.receiver.received_on(CALLOUT).remove(0);
    assert!(verifies(&secret, &first), "the Standard Webhooks library accepts it: {:?}", first.headers);
    assert!(!verifies(&stranger, &first), "and only under its own secret");
    let mut tampered = first.clone();
    tampered.body.push(' ');
    assert!(!verifies(&secret, &tampered), "the signature covers the body");

    // Act: rotate, and ask again.
    let rotated = rig.app.create_ok(&format!("/callouts/{}/rotate-secret", id(&callout)), json!({})).await;
    let new = rotated["secret"].as_str().expect("the new secret").to_owned();
    assert_eq!(rig.exec(json!({ "power": false })).await.status(), 200);

    // Assert
    let second = rig.receiver.received_on(CALLOUT).remove(1);
    assert!(verifies(&new, &second), "signed with the new secret: {:?}", second.headers);
    assert!(verifies(&secret, &second), "and, for a grace period, with the old one: {:?}", second.headers);
}

#[tokio::test]
async fn an_admin_module_call_is_gated_and_the_callout_hears_the_key() {
    // Arrange: the first question is denied, later ones allowed.
    let rig = Rig::new().await;
    let denial = Reply::status(200).body(r#"{"allow": false, "reason": "room locked"}"#);
    rig.receiver.script_on(CALLOUT, [denial]);
    rig.receiver.respond_on(CALLOUT, Reply::status(204));
    rig.callout(CALLOUT, json!({})).await;
    let path = format!("/systems/{}/Display_1/power", rig.hook.system);

    // Act
    let denied = rig.app.post(&path, &json!([true])).await;

    // Assert
    let request_id = request_id_of(&denied);
    let body = assert_error(denied, 403, "denied_by_callout").await;
    assert_eq!(body["message"], "room locked");
    assert_eq!(rig.display(1).await["power"], false, "the function was not called");
    let asked = rig.receiver.received_on(CALLOUT);
    assert_eq!(asked.len(), 1, "reading a status asks nobody");
    let question = asked[0].json();
    assert_eq!(question["action"], "exec");
    assert_eq!(question["system_id"], rig.hook.system.as_str());
    assert_eq!((&question["module"], &question["method"]), (&json!("Display_1"), &json!("power")));
    assert_eq!(question["actor"], configured_key_actor(), "{question}");
    assert_eq!(question["request_id"], request_id.as_str());
    assert!(question.get("trigger_instance").is_none_or(Value::is_null), "no webhook involved: {question}");

    // Act
    let allowed = rig.app.post(&path, &json!([true])).await;

    // Assert
    assert_eq!(allowed.status(), 200);
    assert_eq!(rig.display(1).await["power"], true);
    assert_eq!(rig.receiver.received_on(CALLOUT).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// The log and the metrics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_question_is_logged_newest_first_and_counted() {
    // Arrange
    let rig = Rig::new().await;
    let deny = Reply::status(200).body(r#"{"allow": false, "reason": "closed"}"#);
    let held = Reply::status(204).delay(Duration::from_secs(1));
    rig.receiver.script_on(CALLOUT, [Reply::status(204), deny, Reply::status(500), held]);
    let (callout, _) = rig.callout(CALLOUT, json!({ "timeout_ms": 200 })).await;
    let before = decision_counts(&rig.app).await;
    let durations = metric(&rig.app, "switchboard_callout_duration_seconds_count", "").await;
    let since = now_ms();

    // Act
    for (n, expected) in [(1, 200), (2, 403), (3, 503), (4, 503)] {
        let res = rig.exec_as(&format!("log-{n}"), json!({ "volume": n })).await;
        assert_eq!(res.status(), expected, "call {n}");
    }

    // Assert: the log, newest first.
    let (log, total) = log_until(&rig.app, &callout, "", |items, _| items.len() >= 4).await;
    assert_eq!((log.len(), total), (4, 4));
    assert_eq!(request_ids(&log), ["log-4", "log-3", "log-2", "log-1"]);
    let summary: Vec<(&Value, &Value, &Value, &Value)> =
        log.iter().map(|e| (&e["decision"], &e["allowed"], &e["status"], &e["reason"])).collect();
    assert_eq!(
        summary,
        [
            (&json!("unavailable"), &json!(false), &Value::Null, &Value::Null),
            (&json!("unavailable"), &json!(false), &json!(500), &Value::Null),
            (&json!("deny"), &json!(false), &json!(200), &json!("closed")),
            (&json!("allow"), &json!(true), &json!(204), &Value::Null),
        ]
    );
    assert!(log[0]["error"].as_str().is_some_and(|e| !e.is_empty()), "a timeout says so: {}", log[0]);
    assert!(log[1]["error"].as_str().is_some_and(|e| !e.is_empty()), "a 500 is an error: {}", log[1]);
    assert_eq!((&log[2]["error"], &log[3]["error"]), (&Value::Null, &Value::Null), "answers are no errors");
    let entry_ids: std::collections::HashSet<&str> = log.iter().map(|e| e["id"].as_str().expect("an id")).collect();
    assert_eq!(entry_ids.len(), 4, "each entry has its own id");
    for e in &log {
        assert_eq!(e["action"], "exec", "{e}");
        assert_eq!(e["system_id"], rig.hook.system.as_str(), "{e}");
        assert_eq!((&e["module"], &e["method"]), (&json!("Display_1"), &json!("request")), "{e}");
        assert_eq!(e["trigger_instance"], rig.hook.id(), "{e}");
        let at = e["at"].as_u64().unwrap_or_else(|| panic!("at is epoch ms: {e}"));
        assert!((since..=now_ms()).contains(&at), "at {at} during the test: {e}");
        assert!(e["latency_ms"].is_u64(), "{e}");
    }
    assert!(log[0]["latency_ms"].as_u64().unwrap() >= 190, "the timeout's latency: {}", log[0]);

    // Assert: paging.
    let (page, total) = rig.app.list(&format!("/callouts/{}/log?limit=1", id(&callout))).await;
    assert_eq!((page, total), (vec![log[0].clone()], 4));
    let (page, _) = rig.app.list(&format!("/callouts/{}/log?limit=1&offset=1", id(&callout))).await;
    assert_eq!(page, vec![log[1].clone()]);

    // Assert: the metrics grew (other tests share them, so by at least this test's questions).
    let after = decision_counts(&rig.app).await;
    let grew: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert!(grew[0] >= 1.0 && grew[1] >= 1.0 && grew[2] >= 2.0, "allow, deny, unavailable grew by {grew:?}");
    let timed = metric(&rig.app, "switchboard_callout_duration_seconds_count", "").await - durations;
    assert!(timed >= 4.0, "the duration histogram counted every question: {timed}");
}

#[tokio::test]
async fn the_log_keeps_only_the_newest_entries() {
    // Arrange
    let rig = Rig::with(|c| c.callouts.log_max_entries = 3).await;
    rig.receiver.respond_on(CALLOUT, Reply::status(204));
    let (callout, _) = rig.callout(CALLOUT, json!({})).await;

    // Act
    for n in 1..=5 {
        assert_eq!(rig.exec_as(&format!("keep-{n}"), json!({ "volume": n })).await.status(), 200);
    }

    // Assert
    let (log, total) =
        log_until(&rig.app, &callout, "", |items, total| total == 3 && request_ids(items)[0] == "keep-5").await;
    assert_eq!(request_ids(&log), ["keep-5", "keep-4", "keep-3"]);
    assert_eq!(total, 3);
}

// ---------------------------------------------------------------------------------------------
// Gating a run of actions
// ---------------------------------------------------------------------------------------------

/// A case of a run's callout: its name, the callout's scripted answers then its standing one, the
/// run's status, its callout state, the questions asked, the requests its action sent.
type RunCase = (&'static str, Vec<Reply>, Reply, &'static str, Option<&'static str>, usize, usize);

#[tokio::test]
async fn a_run_goes_ahead_only_when_its_actions_callout_allows() {
    // Arrange: retries every 20 then 40 ms (the test config), so an unavailable callout is asked 3 times.
    let app = callout_app(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let denial = Reply::status(200).body(r#"{"allow": false, "reason": "quiet hours"}"#);
    let cases: Vec<RunCase> = vec![
        ("allowed", vec![], Reply::status(204), "succeeded", None, 1, 1),
        ("denied", vec![], denial, "denied", Some("denied"), 1, 0),
        ("unavailable", vec![], Reply::status(500), "failed", Some("unavailable"), 3, 0),
        ("unavailable once", vec![Reply::status(500)], Reply::status(204), "succeeded", None, 2, 1),
    ];
    let mut done = Vec::new();
    for (n, (case, script, standing, status, state, questions, sent)) in cases.into_iter().enumerate() {
        let (ask, act) = (format!("/callout-{n}"), format!("/action-{n}"));
        receiver.script_on(&ask, script);
        receiver.respond_on(&ask, standing);
        let action = json!({ "method": "POST", "url": receiver.url(&act) });
        let hook = app.hook(json!({ "actions": { "requests": [action] } })).await;
        let scope = json!({ "on": ["actions"], "match": { "triggers": [hook.trigger] } });
        add_callout(&app, receiver.url(&ask), scope).await;

        // Act
        let fired = app.call_hook(&hook.url(&app), &[], "").await;
        assert_eq!(fired.status(), 202, "[{case}] the fire itself is not gated");

        // Assert
        let (runs, _) = app.list(&format!("{}/runs", hook.path())).await;
        let run_path = format!("{}/runs/{}", hook.path(), id(&runs[0]));
        let run = eventually(10, &format!("[{case}] the run to end"), || async {
            let run = app.get_ok(&run_path).await;
            ["succeeded", "failed", "denied"].contains(&run["status"].as_str().unwrap()).then_some(run)
        })
        .await;
        assert_eq!(run["status"], status, "[{case}] {run:#}");
        if let Some(state) = state {
            assert_eq!(run["callout"]["state"], state, "[{case}] {run:#}");
            assert_eq!(run["callout"]["attempts"], questions, "[{case}] {run:#}");
        }
        if case == "denied" {
            assert_eq!(run["callout"]["reason"], "quiet hours", "[{case}] {run:#}");
        }
        let asked = receiver.received_on(&ask);
        assert_eq!(asked.len(), questions, "[{case}] questions asked");
        let question = asked[0].json();
        assert_eq!(question["action"], "actions", "[{case}] {question}");
        assert_eq!(question["system_id"], hook.system.as_str(), "[{case}]");
        assert_eq!(question["trigger_instance"], hook.id(), "[{case}]");
        assert_eq!(question["trigger_id"], hook.trigger.as_str(), "[{case}]");
        assert_eq!(question["run"], id(&run), "[{case}]");
        assert_eq!(receiver.received_on(&act).len(), sent, "[{case}] requests the action sent");
        done.push((case, run_path, run, ask, act, questions, sent));
    }

    // Assert: well past the retry schedule, nothing more was asked or sent and no run changed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (case, run_path, run, ask, act, questions, sent) in done {
        assert_eq!(receiver.received_on(&ask).len(), questions, "[{case}] no further question");
        assert_eq!(receiver.received_on(&act).len(), sent, "[{case}] no further action");
        assert_eq!(app.get_ok(&run_path).await, run, "[{case}] the run stays as it ended");
    }
}

#[tokio::test]
async fn deleting_a_system_deletes_the_callouts_scoped_to_it() {
    // Arrange
    let rig = Rig::new().await;
    let (scoped, _) = rig.callout(CALLOUT, json!({ "system_id": rig.hook.system })).await;
    let (everywhere, _) = rig.callout(CALLOUT, json!({})).await;

    // Act
    rig.app.delete_ok(&format!("/systems/{}", rig.hook.system)).await;

    // Assert: the scoped one is gone with its system, the unscoped one stays.
    assert_error(rig.app.get(&format!("/callouts/{}", id(&scoped))).await, 404, "not_found").await;
    assert_error(rig.app.get(&format!("/callouts/{}/log", id(&scoped))).await, 404, "not_found").await;
    let (left, total) = rig.app.list("/callouts").await;
    assert_eq!((ids(&left), total), (vec![id(&everywhere)], 1));
}
