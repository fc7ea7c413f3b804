//! Control characters in admin input, on both stores alike: names, labels and identifiers refuse every
//! one, descriptions and mail contents all but tab, line feed and carriage return (422 naming the field,
//! nothing stored), and a list filter holding NUL is a 400 `invalid_query` (PostgreSQL cannot take NUL
//! as a parameter; it used to answer 500).

use reqwest::Method;
use serde_json::{json, Value};

use crate::console_http::{raw_client, session_cookie};
use crate::helpers::*;

/// `{ "<field>": value }` merged into `base`.
fn with(base: &Value, field: &str, value: Value) -> Value {
    let mut body = base.clone();
    body[field] = value;
    body
}

/// The two bad values every case is tried with: NUL, and another C0 control (BEL).
const BAD: [(&str, &str); 2] = [("NUL", "a\u{0}b"), ("BEL", "a\u{7}b")];

/// One bad-input case: a description, the request, and the field the 422 must name.
struct Case {
    case: String,
    method: Method,
    path: String,
    body: Value,
    field: &'static str,
}

impl Case {
    fn new(case: impl Into<String>, method: Method, path: &str, body: Value, field: &'static str) -> Self {
        Self { case: case.into(), method, path: path.to_owned(), body, field }
    }
}

/// Sends every case, asserting a 422 naming its field, and that `read_back` still answers as before.
async fn assert_all_refused(app: &TestApp, cases: Vec<Case>, read_back: &[&str]) {
    let mut before = Vec::new();
    for path in read_back {
        before.push(app.get_ok(path).await);
    }
    for Case { case, method, path, body, field } in cases {
        let res = app.send(method.clone(), &path, Some(&body)).await;
        assert_rejected(res, &format!("{method} {path}: {case}"), 422, "invalid_field", Some(field)).await;
    }
    for (path, before) in read_back.iter().zip(before) {
        assert_eq!(app.get_ok(path).await, before, "{path} is unchanged");
    }
}

/// For each bad value: the case's body with `field` (a top-level key) set to it, on `method path`.
fn cases_for(method: Method, path: &str, base: &Value, field: &'static str) -> Vec<Case> {
    BAD.iter()
        .map(|(what, bad)| Case::new(format!("{what} in {field}"), method.clone(), path, with(base, field, json!(bad)), field))
        .collect()
}

#[tokio::test]
async fn names_and_descriptions_with_control_characters_are_refused_on_create_and_change() {
    // Arrange: one of each resource, with good text.
    let app = spawn_app().await;
    let system = app.create("/systems", json!({ "name": "Lobby", "description": "main door" })).await;
    let sys = format!("/systems/{}", id(&system));
    let module = app.create("/modules", json!({ "driver": "Display", "custom_name": "Screen" })).await;
    let module_path = format!("/modules/{}", id(&module));
    let trigger = app.create("/triggers", json!({ "name": "Doorbell", "description": "rings" })).await;
    let trig = format!("/triggers/{}", id(&trigger));
    let callout_body = json!({ "name": "Bookings", "url": "https://callout.example.com/ask", "on": ["exec"] });
    let callout = app.create("/callouts", callout_body.clone()).await;
    let call = format!("/callouts/{}", id(&callout));
    let sub_body = json!({ "name": "Audit", "url": "https://receiver.example.com/hook", "events": ["trigger.fired"] });
    let sub = app.create("/webhooks", sub_body.clone()).await;
    let hook = format!("/webhooks/{}", id(&sub));
    let (_, systems_before) = app.list("/systems").await;
    let (_, modules_before) = app.list("/modules").await;
    let (_, triggers_before) = app.list("/triggers").await;
    let (_, callouts_before) = app.list("/callouts").await;
    let (_, subs_before) = app.list("/webhooks").await;
    let (_, keys_before) = app.list("/api_keys").await;

    // Act / Assert: every create, replace and change with a control character in a text field.
    let system_in = json!({ "name": "Lobby" });
    let trigger_in = json!({ "name": "Doorbell" });
    let mut cases = Vec::new();
    for field in ["name", "description"] {
        cases.extend(cases_for(Method::POST, "/systems", &system_in, field));
        cases.extend(cases_for(Method::PUT, &sys, &system_in, field));
        cases.extend(cases_for(Method::PATCH, &sys, &json!({}), field));
        cases.extend(cases_for(Method::POST, "/triggers", &trigger_in, field));
        cases.extend(cases_for(Method::PUT, &trig, &trigger_in, field));
        cases.extend(cases_for(Method::PATCH, &trig, &json!({}), field));
    }
    let module_in = json!({ "driver": "Display" });
    for field in ["custom_name", "driver"] {
        cases.extend(cases_for(Method::POST, "/modules", &module_in, field));
        cases.extend(cases_for(Method::PUT, &module_path, &module_in, field));
        cases.extend(cases_for(Method::PATCH, &module_path, &json!({}), field));
    }
    cases.extend(cases_for(Method::POST, "/callouts", &callout_body, "name"));
    cases.extend(cases_for(Method::PATCH, &call, &json!({}), "name"));
    cases.extend(cases_for(Method::POST, "/webhooks", &sub_body, "name"));
    cases.extend(cases_for(Method::PATCH, &hook, &json!({}), "name"));
    cases.extend(cases_for(Method::POST, "/api_keys", &json!({ "role": "support" }), "name"));
    // Identifiers and free text inside bodies.
    for (what, bad) in BAD {
        let methods = json!({ "match": { "methods": ["power", bad] } });
        let field = "match.methods[1]";
        cases.push(Case::new(format!("{what} in a method"), Method::POST, "/callouts", with(&callout_body, "match", methods["match"].clone()), field));
        cases.push(Case::new(format!("{what} in a method"), Method::PATCH, &call, methods, field));
        let trigger_cases: [(&str, Value, &'static str); 5] = [
            (
                "a status name",
                json!({ "conditions": { "comparisons": [{ "left": { "mod": "Display_1", "status": bad }, "operator": "equal", "right": true }] } }),
                "conditions.comparisons[0].left.status",
            ),
            (
                "a status key",
                json!({ "conditions": { "comparisons": [{ "left": true, "operator": "equal", "right": { "mod": "Display_1", "status": "input", "keys": ["ok", bad] } }] } }),
                "conditions.comparisons[0].right.keys[1]",
            ),
            (
                "a function name",
                json!({ "actions": { "functions": [{ "mod": "Display_1", "method": bad }] } }),
                "actions.functions[0].method",
            ),
            (
                "a mail's content",
                json!({ "actions": { "mailers": [{ "emails": ["ops@example.com"], "content": bad }] } }),
                "actions.mailers[0].content",
            ),
            (
                "a filter's parameter name",
                json!({ "webhook_filter": { "all": [{ "query": bad, "operator": "exists" }] } }),
                "webhook_filter.all[0].query",
            ),
        ];
        for (part, changes, field) in trigger_cases {
            let mut full = trigger_in.clone();
            full.as_object_mut().unwrap().extend(changes.as_object().unwrap().clone());
            cases.push(Case::new(format!("{what} in {part}"), Method::POST, "/triggers", full.clone(), field));
            cases.push(Case::new(format!("{what} in {part}"), Method::PUT, &trig, full, field));
            cases.push(Case::new(format!("{what} in {part}"), Method::PATCH, &trig, changes, field));
        }
    }
    assert_all_refused(&app, cases, &[&sys, &module_path, &trig, &call, &hook]).await;

    // Assert: nothing was created either.
    assert_eq!(app.list("/systems").await.1, systems_before);
    assert_eq!(app.list("/modules").await.1, modules_before);
    assert_eq!(app.list("/triggers").await.1, triggers_before);
    assert_eq!(app.list("/callouts").await.1, callouts_before);
    assert_eq!(app.list("/webhooks").await.1, subs_before);
    assert_eq!(app.list("/api_keys").await.1, keys_before);
}

#[tokio::test]
async fn descriptions_may_span_lines() {
    let app = spawn_app().await;
    let text = "first line\r\nsecond\tline\n";
    for (path, body) in [("/systems", json!({ "name": "Lobby", "description": text })), ("/triggers", json!({ "name": "Bell", "description": text }))] {
        // Created with it, read back as sent.
        let created = app.create(path, body).await;
        let at = format!("{path}/{}", id(&created));
        assert_eq!(app.get_ok(&at).await["description"], text, "{path}: kept as sent");
        // Changed to another, and to nothing.
        let changed = app.send_ok(Method::PATCH, &at, &json!({ "description": "one\ntwo" })).await;
        assert_eq!(changed["description"], "one\ntwo", "{path}");
        assert_eq!(app.get_ok(&at).await["description"], "one\ntwo", "{path}");
        // A search for part of it finds it.
        let (found, _) = app.list(&format!("{path}?q=one%0Atwo")).await;
        assert_eq!(ids(&found), vec![id(&created)], "{path}: found by a search with a line feed");
    }
    let mail = json!({ "name": "Mailer", "actions": { "mailers": [{ "emails": ["ops@example.com"], "content": text }] } });
    let trigger = app.create("/triggers", mail).await;
    assert_eq!(trigger["actions"]["mailers"][0]["content"], text);
}

#[tokio::test]
async fn a_list_filter_holding_nul_is_an_invalid_query() {
    // Arrange: something to find in every list.
    let app = spawn_app().await;
    app.create_system("Lobby").await;
    app.create_module("Display", None).await;
    app.create_trigger(json!({ "name": "Doorbell" })).await;
    let sub = json!({ "name": "Audit", "url": "https://receiver.example.com/hook", "events": ["trigger.fired"] });
    app.create("/webhooks", sub).await;

    // Act / Assert: 400 on either store, never a 500.
    let cases = [
        "/systems?q=%00",
        "/systems?q=Lob%00by",
        "/triggers?q=%00",
        "/modules?q=%00",
        "/modules?driver=Display%00",
        "/webhooks?q=%00",
        "/callouts?q=%00",
        "/api_keys?q=%00",
        "/systems?limit=10&x%00=1",
    ];
    for path in cases {
        assert_rejected(app.get(path).await, path, 400, "invalid_query", None).await;
    }
    // The searches still work.
    for (path, expected) in [("/systems?q=lob", 1), ("/triggers?q=door", 1), ("/modules?driver=Display", 1), ("/webhooks?q=aud", 1)] {
        assert_eq!(app.list(path).await.1, expected, "{path}");
    }

    // The console's searches find nothing rather than fail.
    let cookie = session_cookie(&app, &app.admin_key).await;
    for path in ["/console/systems?q=%00", "/console/triggers?q=%00", "/console/modules?q=%00&driver=%00"] {
        let res = raw_client().get(app.url(path)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}: {}", res.text().await.unwrap());
    }
}
