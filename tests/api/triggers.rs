//! `/triggers`, `/triggers/{id}` and `/triggers/{id}/instances`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A trigger using every field, in the shape the server returns it.
fn full_trigger() -> Value {
    json!({
        "name": "Presentation mode",
        "description": "Dims the lights when the display turns on",
        "conditions": {
            "comparisons": [
                { "left": { "mod": "Display_1", "status": "power", "keys": [] }, "operator": "equal", "right": true },
                { "left": { "mod": "Sensor_2", "status": "levels", "keys": ["room", "temp"] }, "operator": "greater_than_or_equal", "right": 21.5 },
                { "left": "on", "operator": "not_equal", "right": null }
            ],
            "time_dependents": [
                { "type": "at", "time": 1_700_000_000 },
                { "type": "cron", "cron": "0 9 * * 1-5", "timezone": "Australia/Sydney" }
            ]
        },
        "actions": {
            "functions": [
                { "mod": "Display_1", "method": "switch_to", "args": { "input": "hdmi" } },
                { "mod": "Lights_1", "method": "off", "args": {} }
            ],
            "mailers": [ { "emails": ["ops@example.com", "av.team@example.org"], "content": "Presentation started" } ],
            "requests": [ {
                "method": "POST",
                "url": "https://hooks.example.com/presentations?room=12",
                "headers": { "X-Token": "t0k3n" },
                "body": { "started": true },
                "timeout_ms": 5000
            } ]
        },
        "debounce_period": 1500,
        "important": true,
        "enable_webhook": true,
        "any_match": true,
        "supported_methods": ["GET", "POST"],
        "webhook_verification": { "scheme": "stripe", "tolerance_s": 600, "require_url_secret": false },
        "webhook_filter": { "any": [
            { "header": "X-Event", "operator": "in", "value": ["a", "b"] },
            { "pointer": "/data/object/status", "operator": "matches", "value": "^paid" }
        ] }
    })
}

/// The fields of a trigger body that the server stores as given.
fn spec_of(trigger: &Value) -> Value {
    let mut spec = trigger.clone();
    let object = spec.as_object_mut().unwrap();
    for generated in ["id", "created_at", "updated_at"] {
        object.remove(generated);
    }
    spec
}

async fn apply(app: &TestApp, system: &Value, trigger: &Value) -> Value {
    app.create(&format!("/systems/{}/triggers", id(system)), json!({ "trigger_id": id(trigger) })).await
}

#[tokio::test]
async fn create_with_only_a_name_fills_in_the_defaults() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let created = app.create_trigger(json!({ "name": "Minimal" })).await;

    // Assert
    assert_id_shape(&created["id"], "trigger-");
    assert_eq!(
        spec_of(&created),
        json!({
            "name": "Minimal",
            "description": "",
            "conditions": { "comparisons": [], "time_dependents": [] },
            "actions": { "functions": [], "mailers": [], "requests": [] },
            "debounce_period": 0,
            "important": false,
            "enable_webhook": false,
            "any_match": false,
            "supported_methods": ["POST"],
            "webhook_verification": null,
            "webhook_filter": null
        })
    );
    assert_recent(&created["created_at"], "created_at");
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_eq!(app.get_ok(&format!("/triggers/{}", id(&created))).await, created);
}

#[tokio::test]
async fn create_stores_every_field_as_given() {
    let app = spawn_app().await;

    let created = app.create_trigger(full_trigger()).await;

    assert_eq!(spec_of(&created), full_trigger());
    assert_eq!(spec_of(&app.get_ok(&format!("/triggers/{}", id(&created))).await), full_trigger());
}

#[tokio::test]
async fn every_operator_is_accepted() {
    let app = spawn_app().await;
    let operators = [
        "equal",
        "not_equal",
        "greater_than",
        "greater_than_or_equal",
        "less_than",
        "less_than_or_equal",
        "and",
        "or",
        "exclusive_or",
    ];

    let comparisons: Vec<Value> = operators
        .iter()
        .map(|op| json!({ "left": { "mod": "Display_1", "status": "power" }, "operator": op, "right": 1 }))
        .collect();
    let created = app.create_trigger(json!({ "name": "Ops", "conditions": { "comparisons": comparisons } })).await;

    let stored: Vec<&str> = created["conditions"]["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["operator"].as_str().unwrap())
        .collect();
    assert_eq!(stored, operators);
}

#[tokio::test]
async fn supported_methods_are_case_insensitive_sorted_and_deduplicated() {
    let app = spawn_app().await;

    let created =
        app.create_trigger(json!({ "name": "M", "supported_methods": ["put", "GET", "post", "get", "Put"] })).await;

    assert_eq!(created["supported_methods"], json!(["GET", "POST", "PUT"]));
}

#[tokio::test]
async fn every_webhook_method_is_accepted() {
    let app = spawn_app().await;

    let created = app
        .create_trigger(json!({ "name": "M", "supported_methods": ["delete", "patch", "put", "post", "get"] }))
        .await;

    let mut methods: Vec<&str> =
        created["supported_methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(methods.len(), 5, "{methods:?}");
    methods.sort_unstable();
    assert_eq!(methods, ["DELETE", "GET", "PATCH", "POST", "PUT"]);
}

#[tokio::test]
async fn debounce_period_bounds_are_inclusive() {
    let app = spawn_app().await;

    for ms in [0, 86_400_000u64] {
        let created = app.create_trigger(json!({ "name": "D", "debounce_period": ms })).await;
        assert_eq!(created["debounce_period"], ms);
    }
}

#[tokio::test]
async fn put_replaces_the_whole_trigger() {
    // Arrange
    let app = spawn_app().await;
    let trigger = app.create_trigger(full_trigger()).await;
    let path = format!("/triggers/{}", id(&trigger));

    // Act
    let replaced = app.send_ok(Method::PUT, &path, &json!({ "name": "Reset", "debounce_period": 10 })).await;

    // Assert
    assert_eq!(replaced["id"], trigger["id"]);
    assert_eq!(replaced["created_at"], trigger["created_at"]);
    assert_eq!(replaced["name"], "Reset");
    assert_eq!(replaced["debounce_period"], 10);
    assert_eq!(replaced["description"], "");
    assert_eq!(replaced["conditions"], json!({ "comparisons": [], "time_dependents": [] }));
    assert_eq!(replaced["actions"], json!({ "functions": [], "mailers": [], "requests": [] }));
    assert_eq!(replaced["important"], false);
    assert_eq!(replaced["enable_webhook"], false);
    assert_eq!(replaced["any_match"], false);
    assert_eq!(replaced["supported_methods"], json!(["POST"]));
    assert_eq!(app.get_ok(&path).await, replaced);
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    // Arrange
    let app = spawn_app().await;
    let trigger = app.create_trigger(full_trigger()).await;
    let path = format!("/triggers/{}", id(&trigger));

    let cases: Vec<(&str, Value)> = vec![
        ("name", json!("Renamed")),
        ("debounce_period", json!(250)),
        ("important", json!(false)),
        ("enable_webhook", json!(false)),
        ("any_match", json!(false)),
        ("supported_methods", json!(["DELETE"])),
        ("conditions", json!({ "comparisons": [], "time_dependents": [{ "type": "at", "time": 5 }] })),
        ("actions", json!({ "functions": [], "mailers": [], "requests": [] })),
        ("description", json!("Changed")),
    ];

    let mut expected = spec_of(&trigger);
    for (field, value) in cases {
        // Act
        let patched = app.send_ok(Method::PATCH, &path, &json!({ field: value })).await;
        // Assert
        expected[field] = value;
        assert_eq!(spec_of(&patched), expected, "after patching {field}");
        assert_eq!(patched["created_at"], trigger["created_at"]);
    }
    let cleared = app.send_ok(Method::PATCH, &path, &json!({ "description": null })).await;
    assert_eq!(cleared["description"], "", "null clears the description");
    assert_eq!(cleared["name"], "Renamed");
    assert_eq!(app.get_ok(&path).await, cleared);
}

#[tokio::test]
async fn delete_removes_the_trigger_and_its_instances_in_every_system() {
    // Arrange
    let app = spawn_app().await;
    let (a, b) = (app.create_system("A").await, app.create_system("B").await);
    let doomed = app.create_trigger(json!({ "name": "Doomed" })).await;
    let other = app.create_trigger(json!({ "name": "Other" })).await;
    let in_a = apply(&app, &a, &doomed).await;
    let in_b = apply(&app, &b, &doomed).await;
    let kept = apply(&app, &a, &other).await;
    let path = format!("/triggers/{}", id(&doomed));

    // Act
    app.delete_ok(&path).await;

    // Assert
    assert_error(app.get(&path).await, 404, "not_found").await;
    assert_error(app.get(&format!("{path}/instances")).await, 404, "not_found").await;
    assert_error(app.delete(&path).await, 404, "not_found").await;
    for (system, instance) in [(&a, &in_a), (&b, &in_b)] {
        let res = app.get(&format!("/systems/{}/triggers/{}", id(system), id(instance))).await;
        assert_error(res, 404, "not_found").await;
    }
    let (left_in_a, total_a) = app.list(&format!("/systems/{}/triggers", id(&a))).await;
    assert_eq!((ids(&left_in_a), total_a), (vec![id(&kept)], 1));
    let (left_in_b, total_b) = app.list(&format!("/systems/{}/triggers", id(&b))).await;
    assert_eq!((left_in_b.len(), total_b), (0, 0));
    let res = app.post(&format!("/systems/{}/triggers", id(&a)), &json!({ "trigger_id": id(&doomed) })).await;
    assert_rejected(res, "applying a deleted trigger", 422, "invalid_field", Some("trigger_id")).await;
}

#[tokio::test]
async fn instances_lists_every_system_the_trigger_is_applied_to() {
    // Arrange
    let app = spawn_app().await;
    let (a, b) = (app.create_system("A").await, app.create_system("B").await);
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let unused = app.create_trigger(json!({ "name": "Unused" })).await;
    let first = apply(&app, &a, &trigger).await;
    let second = apply(&app, &b, &trigger).await;
    let third = apply(&app, &a, &trigger).await;

    // Act
    let listed = app.get_ok(&format!("/triggers/{}/instances", id(&trigger))).await;

    // Assert
    let listed = listed.as_array().unwrap();
    let mut got: Vec<&str> = ids(listed);
    got.sort_unstable();
    let mut want = vec![id(&first), id(&second), id(&third)];
    want.sort_unstable();
    assert_eq!(got, want);
    for instance in listed {
        assert_eq!(instance["trigger_id"], trigger["id"]);
        let original = [&first, &second, &third].into_iter().find(|i| i["id"] == instance["id"]).unwrap();
        assert_eq!(instance, original, "the same view as the system's routes");
    }
    assert_eq!(app.get_ok(&format!("/triggers/{}/instances", id(&unused))).await, json!([]));
}

#[tokio::test]
async fn unknown_or_malformed_ids_are_404() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;

    for raw in [unknown_id("trigger-"), unknown_id("trig-"), id(&system).to_owned(), "trigger-abc".into()] {
        let path = format!("/triggers/{raw}");
        let body = json!({ "name": "x" });
        for (method, path, body) in [
            (Method::GET, path.clone(), None),
            (Method::PUT, path.clone(), Some(&body)),
            (Method::PATCH, path.clone(), Some(&body)),
            (Method::DELETE, path.clone(), None),
            (Method::GET, format!("{path}/instances"), None),
        ] {
            let res = app.send(method.clone(), &path, body).await;
            assert_rejected(res, &format!("{method} {path}"), 404, "not_found", None).await;
        }
    }
}

#[tokio::test]
async fn list_pages_and_searches_name_and_description() {
    // Arrange
    let app = spawn_app().await;
    let a = app.create_trigger(json!({ "name": "Lights off" })).await;
    let b = app.create_trigger(json!({ "name": "Projector", "description": "turns the LIGHTS down" })).await;
    let c = app.create_trigger(json!({ "name": "Blinds" })).await;

    let cases: [(&str, Vec<&str>, usize); 7] = [
        ("", vec![id(&a), id(&b), id(&c)], 3),
        ("?q=lights", vec![id(&a), id(&b)], 2),
        ("?q=LIGHTS&limit=1", vec![id(&a)], 2),
        ("?q=lights&offset=1", vec![id(&b)], 2),
        ("?q=nothing", vec![], 0),
        ("?limit=2&offset=1", vec![id(&b), id(&c)], 3),
        ("?limit=10000", vec![id(&a), id(&b), id(&c)], 3),
    ];
    for (query, want, want_total) in cases {
        // Act
        let (items, total) = app.list(&format!("/triggers{query}")).await;
        // Assert
        assert_eq!(ids(&items), want, "{query}");
        assert_eq!(total, want_total, "{query}: X-Total-Count");
    }
    let (items, _) = app.list("/triggers?limit=1").await;
    assert_eq!(items[0], a, "listed triggers are full objects");
}

#[tokio::test]
async fn bad_list_queries_are_400() {
    let app = spawn_app().await;

    for query in ["limit=10001", "limit=ten", "offset=-1", "limit=99999999999999999999999"] {
        let res = app.get(&format!("/triggers?{query}")).await;
        assert_rejected(res, query, 400, "invalid_query", None).await;
    }
}

trait TapInsert {
    /// Adds `key: value` to the object at JSON pointer `at`.
    fn tap_insert(self, at: &str, key: &str, value: Value) -> Value;
}

impl TapInsert for Value {
    fn tap_insert(mut self, at: &str, key: &str, value: Value) -> Value {
        let object = self.pointer_mut(at).and_then(Value::as_object_mut).unwrap_or_else(|| panic!("{at} is an object"));
        object.insert(key.to_owned(), value);
        self
    }
}

/// `full_trigger()` with `path` (a `/`-separated JSON pointer) set to `value`.
fn with(path: &str, value: Value) -> Value {
    let mut body = full_trigger();
    *body.pointer_mut(path).unwrap_or_else(|| panic!("{path} exists in the full trigger")) = value;
    body
}

#[tokio::test]
async fn bad_bodies_are_rejected_with_the_offending_field() {
    // Arrange
    let app = spawn_app().await;
    let mut unknown_top = full_trigger();
    unknown_top["enabled"] = json!(true);

    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty name", with("/name", json!("")), "name"),
        ("name of 257 characters", with("/name", json!("n".repeat(257))), "name"),
        ("name not a string", with("/name", json!(["x"])), "name"),
        ("description not a string", with("/description", json!(7)), "description"),
        (
            "unknown operator",
            with("/conditions/comparisons/0/operator", json!("like")),
            "conditions.comparisons[0].operator",
        ),
        (
            "operator in camel case",
            with("/conditions/comparisons/1/operator", json!("greaterThan")),
            "conditions.comparisons[1].operator",
        ),
        (
            "operator missing",
            json!({ "name": "x", "conditions": { "comparisons": [{ "left": 1, "right": 2 }] } }),
            "conditions.comparisons[0].operator",
        ),
        ("array as a constant", with("/conditions/comparisons/0/right", json!([1])), "conditions.comparisons[0].right"),
        (
            "object that is not a status",
            with("/conditions/comparisons/0/left", json!({ "x": 1 })),
            "conditions.comparisons[0].left",
        ),
        (
            "status ref with a bad module reference",
            with("/conditions/comparisons/0/left/mod", json!("Display_0")),
            "conditions.comparisons[0].left",
        ),
        (
            "status ref with an empty status",
            with("/conditions/comparisons/2/left", json!({ "mod": "Display_1", "status": "" })),
            "conditions.comparisons[2].left.status",
        ),
        (
            "status ref with an empty status on the right",
            with("/conditions/comparisons/2/right", json!({ "mod": "Display_1", "status": "" })),
            "conditions.comparisons[2].right.status",
        ),
        ("unknown condition kind", with("/conditions/comparisons", json!({})), "conditions.comparisons"),
        (
            "unknown field in conditions",
            json!({ "name": "x", "conditions": { "webhooks": [] } }),
            "conditions.webhooks",
        ),
        (
            "unknown time dependent type",
            with("/conditions/time_dependents/0", json!({ "type": "weekly" })),
            "conditions.time_dependents[0].type",
        ),
        (
            "at without time",
            with("/conditions/time_dependents/0", json!({ "type": "at" })),
            "conditions.time_dependents[0].time",
        ),
        (
            "at with a string time",
            with("/conditions/time_dependents/0/time", json!("noon")),
            "conditions.time_dependents[0]",
        ),
        (
            "cron without cron",
            with("/conditions/time_dependents/1", json!({ "type": "cron" })),
            "conditions.time_dependents[1].cron",
        ),
        (
            "bad module reference in a function",
            with("/actions/functions/0/mod", json!("2Display")),
            "actions.functions[0].mod",
        ),
        ("empty method", with("/actions/functions/1/method", json!("")), "actions.functions[1].method"),
        ("args not an object", with("/actions/functions/0/args", json!([1])), "actions.functions[0].args"),
        ("mailer without addresses", with("/actions/mailers/0/emails", json!([])), "actions.mailers[0].emails"),
        (
            "mailer with a bad address",
            with("/actions/mailers/0/emails/1", json!("not-an-email")),
            "actions.mailers[0].emails[1]",
        ),
        (
            "mailer address without a domain dot",
            with("/actions/mailers/0/emails/0", json!("ops@localhost")),
            "actions.mailers[0].emails[0]",
        ),
        (
            "mailer without content",
            with("/actions/mailers/0", json!({ "emails": ["a@b.co"] })),
            "actions.mailers[0].content",
        ),
        ("debounce_period above one day", with("/debounce_period", json!(86_400_001u64)), "debounce_period"),
        ("debounce_period negative", with("/debounce_period", json!(-1)), "debounce_period"),
        ("debounce_period fractional", with("/debounce_period", json!(1.5)), "debounce_period"),
        ("important not a bool", with("/important", json!("yes")), "important"),
        ("enable_webhook not a bool", with("/enable_webhook", json!(1)), "enable_webhook"),
        ("any_match not a bool", with("/any_match", json!(null)), "any_match"),
        ("no supported methods", with("/supported_methods", json!([])), "supported_methods"),
        ("unsupported method", with("/supported_methods", json!(["GET", "HEAD"])), "supported_methods"),
        ("supported_methods not a list", with("/supported_methods", json!("GET")), "supported_methods"),
        ("unknown field in actions", json!({ "name": "x", "actions": { "sms": [] } }), "actions.sms"),
        (
            "unknown field in a function",
            full_trigger().tap_insert("/actions/functions/1", "retry", json!(3)),
            "actions.functions[1].retry",
        ),
        (
            "unknown field in a mailer",
            full_trigger().tap_insert("/actions/mailers/0", "cc", json!([])),
            "actions.mailers[0].cc",
        ),
        (
            "unknown field in a comparison",
            full_trigger().tap_insert("/conditions/comparisons/0", "negate", json!(true)),
            "conditions.comparisons[0].negate",
        ),
        ("unknown top-level field", unknown_top, "enabled"),
    ];

    for (case, body, field) in cases {
        // Act
        let res = app.post("/triggers", &body).await;
        // Assert
        assert_rejected(res, case, 422, "invalid_field", Some(field)).await;
    }
    assert_rejects_malformed_bodies(&app, Method::POST, "/triggers").await;
    let (items, total) = app.list("/triggers").await;
    assert_eq!((items.len(), total), (0, 0), "nothing was created");
}

#[tokio::test]
async fn bad_put_and_patch_bodies_are_rejected_and_change_nothing() {
    // Arrange
    let app = spawn_app().await;
    let trigger = app.create_trigger(full_trigger()).await;
    let path = format!("/triggers/{}", id(&trigger));

    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (Method::PATCH, "debounce above a day", json!({ "debounce_period": 86_400_001u64 }), "debounce_period"),
        (Method::PATCH, "empty methods", json!({ "supported_methods": [] }), "supported_methods"),
        (Method::PATCH, "empty name", json!({ "name": "" }), "name"),
        (
            Method::PATCH,
            "bad email",
            json!({ "actions": { "mailers": [{ "emails": ["x"], "content": "c" }] } }),
            "actions.mailers[0].emails[0]",
        ),
        (
            Method::PATCH,
            "bad operator",
            json!({ "conditions": { "comparisons": [{ "left": 1, "operator": "eq", "right": 1 }] } }),
            "conditions.comparisons[0].operator",
        ),
        (Method::PATCH, "unknown field", json!({ "id": unknown_id("trigger-") }), "id"),
        (
            Method::PUT,
            "PUT with bad methods",
            json!({ "name": "x", "supported_methods": ["TRACE"] }),
            "supported_methods",
        ),
        (
            Method::PUT,
            "PUT with debounce above a day",
            json!({ "name": "x", "debounce_period": 100_000_000 }),
            "debounce_period",
        ),
        (Method::PUT, "PUT with unknown field", json!({ "name": "x", "created_at": 1 }), "created_at"),
    ];

    for (method, case, body, field) in cases {
        let res = app.send(method, &path, Some(&body)).await;
        assert_rejected(res, case, 422, "invalid_field", Some(field)).await;
    }
    assert_rejects_malformed_bodies(&app, Method::PUT, &path).await;
    assert_rejects_malformed_bodies(&app, Method::PATCH, &path).await;
    assert_eq!(app.get_ok(&path).await, trigger, "rejected writes leave the trigger as it was");
}

#[tokio::test]
async fn a_missing_name_is_a_422_naming_name() {
    let app = spawn_app().await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;

    for (method, path) in [(Method::POST, "/triggers".to_owned()), (Method::PUT, format!("/triggers/{}", id(&trigger)))]
    {
        let res = app.send(method.clone(), &path, Some(&json!({ "debounce_period": 5 }))).await;
        assert_rejected(res, &format!("{method} {path} without name"), 422, "invalid_field", Some("name")).await;
    }
}

#[tokio::test]
async fn editing_a_trigger_keeps_its_instances() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T", "important": false })).await;
    let instance = apply(&app, &system, &trigger).await;
    let path = format!("/triggers/{}", id(&trigger));

    // Act
    app.send_ok(Method::PUT, &path, &json!({ "name": "Replaced", "important": true })).await;
    app.send_ok(Method::PATCH, &path, &json!({ "name": "Patched" })).await;

    // Assert
    let instances = app.get_ok(&format!("{path}/instances")).await;
    assert_eq!(instances, json!([instance]), "same instance, same secret, important not re-copied");
}
