//! Everything the admin API stores survives a stop and a start on the same data directory.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// An instance as seen through an app on `port`: the URL embeds the address, which changes on restart.
fn with_url_for(instance: &Value, port: u16) -> Value {
    let mut expected = instance.clone();
    let secret = instance["webhook_secret"].as_str().unwrap();
    expected["webhook_url"] =
        json!(format!("http://127.0.0.1:{port}/api/engine/v2/webhook/{}/notify?secret={secret}", id(instance)));
    expected
}

#[tokio::test]
async fn every_object_survives_a_restart() {
    // Arrange
    let app = spawn_app().await;
    let room = app.create("/systems", json!({ "name": "Room", "description": "Level 2" })).await;
    let hall = app.create_system("Hall").await;
    let a = app.create("/modules", json!({ "driver": "Display", "control_system_id": id(&room) })).await;
    let b = app
        .create(
            "/modules",
            json!({ "driver": "Display", "custom_name": "Side", "control_system_id": id(&room), "settings": { "ip": "10.1.1.1" } }),
        )
        .await;
    let c = app.create("/modules", json!({ "driver": "Display", "control_system_id": id(&room) })).await;
    let loose = app.create_module("Display", None).await;
    // A reorder, so the stored order is not the creation order.
    app.send_ok(Method::PATCH, &format!("/systems/{}", id(&room)), &json!({ "modules": [id(&c), id(&b), id(&a)] }))
        .await;
    let trigger = app
        .create_trigger(json!({
            "name": "Full",
            "description": "every field",
            "conditions": {
                "comparisons": [{ "left": { "mod": "Display_2", "status": "power", "keys": ["a"] }, "operator": "exclusive_or", "right": false }],
                "time_dependents": [{ "type": "cron", "cron": "*/5 * * * *", "timezone": "UTC" }]
            },
            "actions": { "functions": [{ "mod": "Side_1", "method": "power", "args": { "state": true } }], "mailers": [] },
            "debounce_period": 900,
            "important": true,
            "enable_webhook": true,
            "any_match": true,
            "supported_methods": ["GET", "DELETE"]
        }))
        .await;
    let plain = app.create_trigger(json!({ "name": "Plain" })).await;
    let in_room = app
        .create(
            &format!("/systems/{}/triggers", id(&room)),
            json!({ "trigger_id": id(&trigger), "enabled": false, "exec_enabled": true }),
        )
        .await;
    let in_hall = app.create(&format!("/systems/{}/triggers", id(&hall)), json!({ "trigger_id": id(&plain) })).await;
    let support = app.key_with_role("support").await;
    let admin = app.key_with_role("admin").await;

    let before = snapshot(&app, &room).await;

    // Act
    let app = app.restart().await;

    // Assert
    assert_eq!(snapshot(&app, &room).await, before, "systems (with module order), modules, triggers and keys");
    let room_now = app.get_ok(&format!("/systems/{}", id(&room))).await;
    assert_eq!(room_now["modules"], json!([id(&c), id(&b), id(&a)]));
    assert_eq!(app.get_ok(&format!("/modules/{}", id(&loose))).await["control_system_id"], Value::Null);
    for (system, instance) in [(&room, &in_room), (&hall, &in_hall)] {
        let got = app.get_ok(&format!("/systems/{}/triggers/{}", id(system), id(instance))).await;
        assert_eq!(got, with_url_for(instance, app.port), "instance with its secret and flags");
    }
    let by_trigger = app.get_ok(&format!("/triggers/{}/instances", id(&trigger))).await;
    assert_eq!(by_trigger, json!([with_url_for(&in_room, app.port)]), "the trigger index survives");
    let (room_instances, total) = app.list(&format!("/systems/{}/triggers", id(&room))).await;
    assert_eq!((ids(&room_instances), total), (vec![id(&in_room)], 1), "the system index survives");
    for (key, write_status) in [(&support, 403), (&admin, 201)] {
        let read = app.with_key(Some(key), Method::GET, "/systems").send().await.unwrap();
        assert_eq!(read.status(), 200, "stored keys still authenticate");
        let write =
            app.with_key(Some(key), Method::POST, "/systems").json(&json!({ "name": "After" })).send().await.unwrap();
        assert_eq!(write.status(), write_status, "and keep their role");
    }
}

/// Every listing the restart must reproduce exactly.
async fn snapshot(app: &TestApp, room: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/systems".to_owned(),
        "/modules".to_owned(),
        "/triggers".to_owned(),
        "/api_keys".to_owned(),
        format!("/systems/{}/modules", id(room)),
    ] {
        out.push(app.get_ok(&path).await);
    }
    out
}

#[tokio::test]
async fn deletions_and_changes_survive_a_restart() {
    // Arrange: create, then delete or change one of each kind
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let module = app.create_module("Display", Some(id(&system))).await;
    let gone_module = app.create_module("Display", Some(id(&system))).await;
    let gone_system = app.create_system("Gone").await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let gone_trigger = app.create_trigger(json!({ "name": "Gone" })).await;
    let instance =
        app.create(&format!("/systems/{}/triggers", id(&system)), json!({ "trigger_id": id(&trigger) })).await;
    app.create(&format!("/systems/{}/triggers", id(&system)), json!({ "trigger_id": id(&gone_trigger) })).await;
    let revoked = app.create("/api_keys", json!({ "name": "Revoked", "role": "admin" })).await;

    app.delete_ok(&format!("/modules/{}", id(&gone_module))).await;
    app.delete_ok(&format!("/systems/{}", id(&gone_system))).await;
    app.delete_ok(&format!("/triggers/{}", id(&gone_trigger))).await;
    app.delete_ok(&format!("/api_keys/{}", id(&revoked))).await;
    let instance_path = format!("/systems/{}/triggers/{}", id(&system), id(&instance));
    let patched = app.send_ok(Method::PATCH, &instance_path, &json!({ "important": true })).await;
    let res = app.send(Method::POST, &format!("{instance_path}/secret"), None).await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    assert_ne!(rotated["webhook_secret"], patched["webhook_secret"]);
    app.send_ok(Method::PATCH, &format!("/triggers/{}", id(&trigger)), &json!({ "debounce_period": 42 })).await;

    // Act
    let app = app.restart().await;

    // Assert
    for path in [
        format!("/modules/{}", id(&gone_module)),
        format!("/systems/{}", id(&gone_system)),
        format!("/triggers/{}", id(&gone_trigger)),
        format!("/api_keys/{}", id(&revoked)),
    ] {
        assert_error(app.get(&path).await, 404, "not_found").await;
    }
    let res = app.with_key(revoked["key"].as_str(), Method::GET, "/systems").send().await.unwrap();
    assert_error(res, 401, "unauthorized").await;
    assert_eq!(app.get_ok(&format!("/systems/{}", id(&system))).await["modules"], json!([id(&module)]));
    let got = app.get_ok(&instance_path).await;
    assert_eq!(got, with_url_for(&rotated, app.port), "the rotated secret and the patched flag");
    assert_eq!(got["important"], true);
    let (instances, total) = app.list(&format!("/systems/{}/triggers", id(&system))).await;
    assert_eq!((ids(&instances), total), (vec![id(&instance)], 1), "the deleted trigger's instance stays gone");
    assert_eq!(app.get_ok(&format!("/triggers/{}", id(&trigger))).await["debounce_period"], 42);
}

#[tokio::test]
async fn objects_created_after_a_restart_list_after_the_old_ones() {
    // Arrange
    let app = spawn_app().await;
    let old = app.create_system("Old").await;
    let app = app.restart().await;

    // Act
    let new = app.create_system("New").await;

    // Assert
    assert!(id(&old) < id(&new), "ids keep sorting by creation");
    let (items, total) = app.list("/systems").await;
    assert_eq!((ids(&items), total), (vec![id(&old), id(&new)], 2));
}

#[tokio::test]
async fn data_survives_two_restarts() {
    let app = spawn_app().await;
    let system = app.create_system("Twice").await;

    let app = app.restart().await;
    let after_one = app.get_ok(&format!("/systems/{}", id(&system))).await;
    let app = app.restart().await;
    let after_two = app.get_ok(&format!("/systems/{}", id(&system))).await;

    assert_eq!(after_one, system);
    assert_eq!(after_two, system);
}

#[tokio::test]
async fn an_app_can_be_stopped_and_reopened_right_after_starting() {
    // Arrange
    let mut app = spawn_app().await;
    let system = app.create_system("Kept").await;

    // Act: no request in between, so a stop races the workers' start-up
    for _ in 0..10 {
        app = app.restart().await;
    }

    // Assert
    assert_eq!(app.get_ok(&format!("/systems/{}", id(&system))).await, system);
}

#[tokio::test]
async fn module_status_survives_a_restart_and_conditions_see_it() {
    // Arrange
    let app = spawn_app().await;
    let room = app.create_system("Status room").await;
    let sys = id(&room).to_owned();
    app.create_module("Display", Some(&sys)).await;
    app.send_ok(Method::POST, &format!("/systems/{sys}/Display_1/power"), &json!({ "state": true })).await;
    app.send_ok(Method::POST, &format!("/systems/{sys}/Display_1/volume"), &json!({ "level": 70 })).await;

    // Act
    let app = app.restart().await;
    let status = app.get_ok(&format!("/systems/{sys}/Display_1")).await;
    let trigger = app
        .create_trigger(json!({
            "name": "Display on",
            "conditions": { "comparisons": [{ "left": { "mod": "Display_1", "status": "power" }, "operator": "equal", "right": true }] }
        }))
        .await;
    let inst = app.create(&format!("/systems/{sys}/triggers"), json!({ "trigger_id": id(&trigger) })).await;

    // Assert
    assert_eq!((status["power"].clone(), status["volume"].clone()), (json!(true), json!(70)), "{status}");
    let state = eventually(5, "the comparison to hold", || async {
        let state = app.get_ok(&format!("/systems/{sys}/triggers/{}/state", id(&inst))).await;
        (state["triggered"] == true).then_some(state)
    })
    .await;
    assert_eq!(state["conditions"]["comparison_0"], true, "{state}");
}
