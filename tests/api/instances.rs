//! Triggers applied to systems: `/systems/{sys_id}/triggers[/{trig_id}[/secret]]`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn instances_path(system: &Value) -> String {
    format!("/systems/{}/triggers", id(system))
}

fn instance_path(system: &Value, instance: &Value) -> String {
    format!("/systems/{}/triggers/{}", id(system), id(instance))
}

/// Asserts a 43-character URL-safe base64 secret and a webhook URL built from it, returning the secret.
fn assert_webhook_fields<'a>(instance: &'a Value, public_url: &str) -> &'a str {
    let secret = instance["webhook_secret"].as_str().unwrap_or_else(|| panic!("a secret in {instance}"));
    assert_eq!(secret.len(), 43, "{secret}");
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "URL-safe: {secret}");
    assert_eq!(
        instance["webhook_url"],
        format!("{public_url}/api/engine/v2/webhook/{}/notify?secret={secret}", id(instance)),
    );
    secret
}

#[tokio::test]
async fn apply_returns_the_instance_with_defaults_and_a_webhook_url() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;

    // Act
    let created = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;

    // Assert
    assert_id_shape(&created["id"], "trig-");
    assert_eq!(created["control_system_id"], system["id"]);
    assert_eq!(created["trigger_id"], trigger["id"]);
    assert_eq!(created["enabled"], true);
    assert_eq!(created["exec_enabled"], false);
    assert_eq!(created["important"], false, "copied from the trigger");
    assert_eq!(created["triggered"], false);
    assert_eq!(created["trigger_count"], 0);
    assert_eq!(created["last_fired_at"], Value::Null);
    assert_recent(&created["created_at"], "created_at");
    assert_eq!(created["created_at"], created["updated_at"]);
    assert_webhook_fields(&created, &format!("http://127.0.0.1:{}", app.port));
    assert_eq!(app.get_ok(&instance_path(&system, &created)).await, created);
}

#[tokio::test]
async fn apply_honours_given_flags_and_copies_important_from_the_trigger() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let important = app.create_trigger(json!({ "name": "Important", "important": true })).await;
    let path = instances_path(&system);

    let cases: Vec<(&str, Value, [bool; 3])> = vec![
        ("defaults copy important", json!({ "trigger_id": id(&important) }), [true, false, true]),
        ("explicit important wins", json!({ "trigger_id": id(&important), "important": false }), [true, false, false]),
        (
            "every flag given",
            json!({ "trigger_id": id(&important), "enabled": false, "exec_enabled": true, "important": true }),
            [false, true, true],
        ),
    ];

    for (case, body, [enabled, exec_enabled, important]) in cases {
        // Act
        let created = app.create(&path, body).await;
        // Assert
        assert_eq!(created["enabled"], enabled, "{case}");
        assert_eq!(created["exec_enabled"], exec_enabled, "{case}");
        assert_eq!(created["important"], important, "{case}");
    }
}

#[tokio::test]
async fn each_instance_gets_its_own_secret() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;

    let a = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;
    let b = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;

    assert_ne!(a["id"], b["id"]);
    assert_ne!(a["webhook_secret"], b["webhook_secret"]);
}

#[tokio::test]
async fn patch_changes_only_the_given_flags() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let instance = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;
    let path = instance_path(&system, &instance);

    let cases: [(&str, bool); 4] = [("enabled", false), ("exec_enabled", true), ("important", true), ("enabled", true)];
    let mut expected = instance.clone();
    for (field, value) in cases {
        // Act
        let patched = app.send_ok(Method::PATCH, &path, &json!({ field: value })).await;
        // Assert
        expected[field] = json!(value);
        expected["updated_at"] = patched["updated_at"].clone();
        assert_eq!(patched, expected, "after setting {field} to {value}");
    }
    let all = app
        .send_ok(Method::PATCH, &path, &json!({ "enabled": false, "exec_enabled": false, "important": false }))
        .await;
    assert_eq!(
        (&all["enabled"], &all["exec_enabled"], &all["important"]),
        (&json!(false), &json!(false), &json!(false))
    );
    assert_eq!(all["webhook_secret"], instance["webhook_secret"], "the secret is untouched");
    assert_eq!(app.get_ok(&path).await, all);
}

#[tokio::test]
async fn patch_rejects_every_other_field() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let other_system = app.create_system("Other").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let other_trigger = app.create_trigger(json!({ "name": "U" })).await;
    let instance = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;
    let path = instance_path(&system, &instance);

    let cases: Vec<(&str, Value, &str)> = vec![
        ("trigger_id", json!({ "trigger_id": id(&other_trigger) }), "trigger_id"),
        ("control_system_id", json!({ "control_system_id": id(&other_system) }), "control_system_id"),
        ("webhook_secret", json!({ "webhook_secret": "a".repeat(43) }), "webhook_secret"),
        ("webhook_url", json!({ "webhook_url": "http://evil.example/" }), "webhook_url"),
        ("triggered", json!({ "triggered": true }), "triggered"),
        ("trigger_count", json!({ "trigger_count": 5 }), "trigger_count"),
        ("last_fired_at", json!({ "last_fired_at": 1 }), "last_fired_at"),
        ("id", json!({ "id": unknown_id("trig-") }), "id"),
        ("allowed field beside a forbidden one", json!({ "enabled": false, "name": "x" }), "name"),
        ("enabled not a bool", json!({ "enabled": "false" }), "enabled"),
        ("important not a bool", json!({ "important": 1 }), "important"),
        ("exec_enabled not a bool", json!({ "exec_enabled": [] }), "exec_enabled"),
    ];

    for (case, body, field) in cases {
        // Act
        let res = app.patch(&path, &body).await;
        // Assert
        assert_rejected(res, case, 422, "invalid_field", Some(field)).await;
    }
    assert_rejects_malformed_bodies(&app, Method::PATCH, &path).await;
    assert_eq!(app.get_ok(&path).await, instance, "rejected patches change nothing");
}

#[tokio::test]
async fn apply_rejects_bad_bodies_with_the_offending_field() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let path = instances_path(&system);

    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown trigger", json!({ "trigger_id": unknown_id("trigger-") }), "trigger_id"),
        ("malformed trigger id", json!({ "trigger_id": "trigger-1" }), "trigger_id"),
        ("an instance id as trigger id", json!({ "trigger_id": unknown_id("trig-") }), "trigger_id"),
        ("trigger id not a string", json!({ "trigger_id": 7 }), "trigger_id"),
        ("enabled not a bool", json!({ "trigger_id": id(&trigger), "enabled": "yes" }), "enabled"),
        ("exec_enabled not a bool", json!({ "trigger_id": id(&trigger), "exec_enabled": 0 }), "exec_enabled"),
        ("important not a bool", json!({ "trigger_id": id(&trigger), "important": "no" }), "important"),
        ("unknown field", json!({ "trigger_id": id(&trigger), "webhook_secret": "x" }), "webhook_secret"),
    ];

    for (case, body, field) in cases {
        // Act
        let res = app.post(&path, &body).await;
        // Assert
        assert_rejected(res, case, 422, "invalid_field", Some(field)).await;
    }
    assert_rejects_malformed_bodies(&app, Method::POST, &path).await;
    let (items, total) = app.list(&path).await;
    assert_eq!((items.len(), total), (0, 0), "nothing was applied");
}

#[tokio::test]
async fn a_missing_trigger_id_is_a_422_naming_trigger_id() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;

    let res = app.post(&instances_path(&system), &json!({ "enabled": true })).await;

    assert_rejected(res, "no trigger_id", 422, "invalid_field", Some("trigger_id")).await;
}

#[tokio::test]
async fn apply_to_an_unknown_system_is_404() {
    let app = spawn_app().await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let body = json!({ "trigger_id": id(&trigger) });

    for system in [unknown_id("sys-"), "sys-1".into(), id(&trigger).to_owned()] {
        let res = app.post(&format!("/systems/{system}/triggers"), &body).await;
        assert_rejected(res, &system, 404, "not_found", None).await;
    }
    assert_eq!(app.get_ok(&format!("/triggers/{}/instances", id(&trigger))).await, json!([]));
}

#[tokio::test]
async fn delete_removes_the_instance_everywhere() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let doomed = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;
    let kept = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;
    let path = instance_path(&system, &doomed);

    // Act
    app.delete_ok(&path).await;

    // Assert
    assert_error(app.get(&path).await, 404, "not_found").await;
    assert_error(app.delete(&path).await, 404, "not_found").await;
    let (items, total) = app.list(&instances_path(&system)).await;
    assert_eq!((ids(&items), total), (vec![id(&kept)], 1));
    let by_trigger = app.get_ok(&format!("/triggers/{}/instances", id(&trigger))).await;
    assert_eq!(ids(by_trigger.as_array().unwrap()), [id(&kept)]);
    app.get_ok(&format!("/triggers/{}", id(&trigger))).await;
}

#[tokio::test]
async fn an_instance_is_404_under_another_system() {
    // Arrange
    let app = spawn_app().await;
    let (home, elsewhere) = (app.create_system("Home").await, app.create_system("Elsewhere").await);
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let instance = app.create(&instances_path(&home), json!({ "trigger_id": id(&trigger) })).await;
    let wrong = instance_path(&elsewhere, &instance);
    let patch = json!({ "enabled": false });

    for (method, path, body) in [
        (Method::GET, wrong.clone(), None),
        (Method::PATCH, wrong.clone(), Some(&patch)),
        (Method::DELETE, wrong.clone(), None),
        (Method::POST, format!("{wrong}/secret"), None),
    ] {
        // Act
        let res = app.send(method.clone(), &path, body).await;
        // Assert
        assert_rejected(res, &format!("{method} under another system"), 404, "not_found", None).await;
    }
    assert_eq!(app.get_ok(&instance_path(&home, &instance)).await, instance, "untouched in its own system");
}

#[tokio::test]
async fn unknown_or_malformed_instance_ids_are_404() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let patch = json!({ "enabled": false });

    for raw in [unknown_id("trig-"), id(&trigger).to_owned(), "trig-x".into()] {
        let path = format!("/systems/{}/triggers/{raw}", id(&system));
        for (method, path, body) in [
            (Method::GET, path.clone(), None),
            (Method::PATCH, path.clone(), Some(&patch)),
            (Method::DELETE, path.clone(), None),
            (Method::POST, format!("{path}/secret"), None),
        ] {
            let res = app.send(method.clone(), &path, body).await;
            assert_rejected(res, &format!("{method} {path}"), 404, "not_found", None).await;
        }
    }
}

#[tokio::test]
async fn list_filters_and_pages_a_systems_instances() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let other_system = app.create_system("Other").await;
    let t1 = app.create_trigger(json!({ "name": "One" })).await;
    let t2 = app.create_trigger(json!({ "name": "Two", "important": true })).await;
    let path = instances_path(&system);
    let a = app.create(&path, json!({ "trigger_id": id(&t1) })).await;
    let b = app.create(&path, json!({ "trigger_id": id(&t2) })).await;
    let c = app.create(&path, json!({ "trigger_id": id(&t1), "important": true })).await;
    let _elsewhere = app.create(&instances_path(&other_system), json!({ "trigger_id": id(&t1) })).await;

    let cases: Vec<(String, Vec<&str>, usize)> = vec![
        (String::new(), vec![id(&a), id(&b), id(&c)], 3),
        (format!("trigger_id={}", id(&t1)), vec![id(&a), id(&c)], 2),
        (format!("trigger_id={}", id(&t2)), vec![id(&b)], 1),
        (format!("trigger_id={}", unknown_id("trigger-")), vec![], 0),
        ("important=true".into(), vec![id(&b), id(&c)], 2),
        ("important=false".into(), vec![id(&a)], 1),
        ("triggered=false".into(), vec![id(&a), id(&b), id(&c)], 3),
        ("triggered=true".into(), vec![], 0),
        (format!("trigger_id={}&important=true", id(&t1)), vec![id(&c)], 1),
        ("limit=2".into(), vec![id(&a), id(&b)], 3),
        ("limit=2&offset=2".into(), vec![id(&c)], 3),
        ("offset=3".into(), vec![], 3),
        ("important=true&limit=1&offset=1".into(), vec![id(&c)], 2),
    ];

    for (query, want, want_total) in cases {
        // Act
        let (items, total) = list_of(app.get(&format!("{path}?{query}")).await, &query).await;
        // Assert
        assert_eq!(ids(&items), want, "?{query}");
        assert_eq!(total, want_total, "?{query}: X-Total-Count");
    }
    let (items, _) = app.list(&path).await;
    assert_eq!(items[0], a, "listed instances are the full view");
}

#[tokio::test]
async fn bad_list_queries_are_400_and_unknown_systems_404() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let path = instances_path(&system);

    for query in ["limit=10001", "limit=-1", "offset=x", "trigger_id=nope", "triggered=maybe", "important=2"] {
        let res = app.get(&format!("{path}?{query}")).await;
        assert_rejected(res, query, 400, "invalid_query", None).await;
    }
    let res = app.get(&format!("/systems/{}/triggers", unknown_id("sys-"))).await;
    assert_rejected(res, "unknown system", 404, "not_found", None).await;
}

#[tokio::test]
async fn rotating_the_secret_replaces_it_and_the_url() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let instance = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;
    let path = instance_path(&system, &instance);
    let public_url = format!("http://127.0.0.1:{}", app.port);

    // Act
    let res = app.send(Method::POST, &format!("{path}/secret"), None).await;

    // Assert
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    let new_secret = assert_webhook_fields(&rotated, &public_url);
    assert_ne!(new_secret, instance["webhook_secret"].as_str().unwrap(), "a new secret");
    assert_ne!(rotated["webhook_url"], instance["webhook_url"]);
    for unchanged in ["id", "control_system_id", "trigger_id", "enabled", "important", "exec_enabled", "created_at"] {
        assert_eq!(rotated[unchanged], instance[unchanged], "{unchanged} is unchanged");
    }
    assert_eq!(app.get_ok(&path).await, rotated, "the new secret is stored");

    let again = app.send(Method::POST, &format!("{path}/secret"), None).await.json::<Value>().await.unwrap();
    assert_ne!(again["webhook_secret"], rotated["webhook_secret"], "every rotation gives a new secret");
}

#[tokio::test]
async fn support_keys_read_instances_without_secrets_or_urls() {
    // Arrange
    let app = spawn_app().await;
    let support = app.key_with_role("support").await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let instance = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;
    let mut redacted = instance.clone();
    redacted["webhook_secret"] = Value::Null;
    redacted["webhook_url"] = Value::Null;
    redacted["signing_secret"] = Value::Null;
    let read = |path: String| {
        let req = app.with_key(Some(&support), Method::GET, &path);
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "GET {path}");
            res.json::<Value>().await.unwrap()
        }
    };

    // Act
    let one = read(instance_path(&system, &instance)).await;
    let list = read(instances_path(&system)).await;
    let by_trigger = read(format!("/triggers/{}/instances", id(&trigger))).await;

    // Assert
    assert_eq!(one, redacted, "GET one");
    assert_eq!(list, json!([redacted]), "system list");
    assert_eq!(by_trigger, json!([redacted]), "trigger's instance list");
    let text = serde_json::to_string(&[&one, &list, &by_trigger]).unwrap();
    assert!(!text.contains(instance["webhook_secret"].as_str().unwrap()), "the secret appears nowhere");
    // The admin still sees both.
    assert_eq!(app.get_ok(&instance_path(&system, &instance)).await, instance);
}

#[tokio::test]
async fn support_keys_cannot_change_instances() {
    // Arrange
    let app = spawn_app().await;
    let support = app.key_with_role("support").await;
    let system = app.create_system("Room").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let instance = app.create(&instances_path(&system), json!({ "trigger_id": id(&trigger) })).await;
    let path = instance_path(&system, &instance);

    for (method, path, body) in [
        (Method::POST, instances_path(&system), Some(json!({ "trigger_id": id(&trigger) }))),
        (Method::PATCH, path.clone(), Some(json!({ "enabled": false }))),
        (Method::POST, format!("{path}/secret"), None),
        (Method::DELETE, path.clone(), None),
    ] {
        // Act
        let mut req = app.with_key(Some(&support), method.clone(), &path);
        if let Some(body) = &body {
            req = req.json(body);
        }
        let res = req.send().await.unwrap();
        // Assert
        assert_rejected(res, &format!("support {method} {path}"), 403, "forbidden", None).await;
    }
    assert_eq!(app.get_ok(&path).await, instance, "nothing changed, not even the secret");
    let (items, _) = app.list(&instances_path(&system)).await;
    assert_eq!(items.len(), 1);
}
