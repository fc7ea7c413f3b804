//! `/modules`, `/modules/{id}` and the `/drivers` catalogue modules are built from.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn system_modules(app: &TestApp, system: &Value) -> Value {
    app.get_ok(&format!("/systems/{}", id(system))).await["modules"].clone()
}

#[tokio::test]
async fn create_returns_the_module_with_its_resolved_name() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let created = app.create("/modules", json!({ "driver": "Display" })).await;

    // Assert
    assert_id_shape(&created["id"], "mod-");
    assert_eq!(created["driver"], "Display");
    assert_eq!(created["name"], "Display", "no custom_name: the driver's default module name");
    assert_eq!(created["custom_name"], Value::Null);
    assert_eq!(created["control_system_id"], Value::Null);
    assert_eq!(created["settings"], json!({}));
    assert_recent(&created["created_at"], "created_at");
    assert_eq!(created["created_at"], created["updated_at"]);
    assert!(created.get("index").is_none() && created.get("reference").is_none(), "only a system's list has those");
    assert_eq!(app.get_ok(&format!("/modules/{}", id(&created))).await, created);
}

#[tokio::test]
async fn create_with_every_field_appends_the_module_to_its_system() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let first = app.create_module("Display", Some(id(&system))).await;
    let settings = json!({ "ip": "10.0.0.7", "port": 4352, "nested": { "a": [1, 2] } });

    // Act
    let created = app
        .create(
            "/modules",
            json!({ "driver": "Display", "custom_name": "Left_Screen", "control_system_id": id(&system), "settings": settings }),
        )
        .await;

    // Assert
    assert_eq!(created["name"], "Left_Screen");
    assert_eq!(created["custom_name"], "Left_Screen");
    assert_eq!(created["control_system_id"], system["id"]);
    assert_eq!(created["settings"], settings);
    assert_eq!(system_modules(&app, &system).await, json!([id(&first), id(&created)]), "appended at the end");
}

#[tokio::test]
async fn valid_custom_names_are_accepted() {
    let app = spawn_app().await;

    for name in ["A", "lobby", "Lobby_Screen", "Screen2", "Meraki_Scanner_v2", "A_1b"] {
        let created = app.create("/modules", json!({ "driver": "Display", "custom_name": name })).await;
        assert_eq!(created["name"], name, "{name}");
    }
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    // Arrange
    let app = spawn_app().await;
    let module = app.create("/modules", json!({ "driver": "Display", "settings": { "ip": "10.0.0.1" } })).await;
    let path = format!("/modules/{}", id(&module));

    // Act
    let named = app.send_ok(Method::PATCH, &path, &json!({ "custom_name": "Projector" })).await;

    // Assert
    assert_eq!(named["name"], "Projector");
    assert_eq!(named["custom_name"], "Projector");
    assert_eq!(named["settings"], json!({ "ip": "10.0.0.1" }), "settings untouched");
    assert_eq!(named["driver"], "Display");
    assert_eq!(named["created_at"], module["created_at"]);

    let settings = app.send_ok(Method::PATCH, &path, &json!({ "settings": { "ip": "10.0.0.2" } })).await;
    assert_eq!(settings["settings"], json!({ "ip": "10.0.0.2" }), "settings are replaced as a whole");
    assert_eq!(settings["custom_name"], "Projector");

    let unnamed = app.send_ok(Method::PATCH, &path, &json!({ "custom_name": null })).await;
    assert_eq!(unnamed["custom_name"], Value::Null, "null clears the custom name");
    assert_eq!(unnamed["name"], "Display", "and the default name applies again");
    assert_eq!(app.get_ok(&path).await, unnamed);
}

#[tokio::test]
async fn put_replaces_the_whole_module() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let module = app
        .create(
            "/modules",
            json!({ "driver": "Display", "custom_name": "Old", "control_system_id": id(&system), "settings": { "a": 1 } }),
        )
        .await;
    let path = format!("/modules/{}", id(&module));

    // Act
    let replaced = app.send_ok(Method::PUT, &path, &json!({ "driver": "Display" })).await;

    // Assert
    assert_eq!(replaced["id"], module["id"]);
    assert_eq!(replaced["custom_name"], Value::Null);
    assert_eq!(replaced["name"], "Display");
    assert_eq!(replaced["settings"], json!({}));
    assert_eq!(replaced["control_system_id"], Value::Null, "an absent control_system_id takes it out of its system");
    assert_eq!(system_modules(&app, &system).await, json!([]));
    assert_eq!(app.get_ok(&path).await, replaced);
}

#[tokio::test]
async fn patching_control_system_id_moves_the_module_to_the_end_of_the_new_system() {
    // Arrange
    let app = spawn_app().await;
    let (from, to) = (app.create_system("From").await, app.create_system("To").await);
    let stays = app.create_module("Display", Some(id(&from))).await;
    let moving = app.create_module("Display", Some(id(&from))).await;
    let resident = app.create_module("Display", Some(id(&to))).await;
    assert_eq!(system_modules(&app, &from).await, json!([id(&stays), id(&moving)]));

    // Act
    let moved = app
        .send_ok(Method::PATCH, &format!("/modules/{}", id(&moving)), &json!({ "control_system_id": id(&to) }))
        .await;

    // Assert
    assert_eq!(moved["control_system_id"], to["id"]);
    assert_eq!(system_modules(&app, &from).await, json!([id(&stays)]), "removed from the old system");
    assert_eq!(system_modules(&app, &to).await, json!([id(&resident), id(&moving)]), "appended to the new one");
    let refs = app.get_ok(&format!("/systems/{}/modules", id(&to))).await;
    assert_eq!(refs[1]["reference"], "Display_2");
}

#[tokio::test]
async fn patching_control_system_id_to_null_takes_the_module_out_of_its_system() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let a = app.create_module("Display", Some(id(&system))).await;
    let b = app.create_module("Display", Some(id(&system))).await;

    let freed =
        app.send_ok(Method::PATCH, &format!("/modules/{}", id(&a)), &json!({ "control_system_id": null })).await;

    assert_eq!(freed["control_system_id"], Value::Null);
    assert_eq!(system_modules(&app, &system).await, json!([id(&b)]));
    let refs = app.get_ok(&format!("/systems/{}/modules", id(&system))).await;
    assert_eq!(refs[0]["reference"], "Display_1", "the remaining module is renumbered");
}

#[tokio::test]
async fn patching_other_fields_keeps_the_module_in_place() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let a = app.create_module("Display", Some(id(&system))).await;
    let b = app.create_module("Display", Some(id(&system))).await;

    app.send_ok(Method::PATCH, &format!("/modules/{}", id(&a)), &json!({ "settings": { "x": 1 } })).await;
    app.send_ok(Method::PATCH, &format!("/modules/{}", id(&a)), &json!({ "control_system_id": id(&system) })).await;

    assert_eq!(system_modules(&app, &system).await, json!([id(&a), id(&b)]), "order unchanged");
}

#[tokio::test]
async fn delete_removes_the_module_from_its_system() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let a = app.create_module("Display", Some(id(&system))).await;
    let b = app.create_module("Display", Some(id(&system))).await;
    let c = app.create_module("Display", Some(id(&system))).await;
    let path = format!("/modules/{}", id(&b));

    // Act
    app.delete_ok(&path).await;

    // Assert
    assert_error(app.get(&path).await, 404, "not_found").await;
    assert_error(app.delete(&path).await, 404, "not_found").await;
    assert_eq!(system_modules(&app, &system).await, json!([id(&a), id(&c)]));
    let refs = app.get_ok(&format!("/systems/{}/modules", id(&system))).await;
    let refs: Vec<&str> = refs.as_array().unwrap().iter().map(|m| m["reference"].as_str().unwrap()).collect();
    assert_eq!(refs, ["Display_1", "Display_2"]);
}

#[tokio::test]
async fn deleting_an_unassigned_module_works() {
    let app = spawn_app().await;
    let module = app.create_module("Display", None).await;

    app.delete_ok(&format!("/modules/{}", id(&module))).await;

    let (items, total) = app.list("/modules").await;
    assert_eq!((items.len(), total), (0, 0));
}

#[tokio::test]
async fn unknown_or_malformed_ids_are_404() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;

    for raw in [unknown_id("mod-"), id(&system).to_owned(), "mod-1".into(), "Display_1".into()] {
        let path = format!("/modules/{raw}");
        let body = json!({ "driver": "Display" });
        for (method, body) in
            [(Method::GET, None), (Method::PUT, Some(&body)), (Method::PATCH, Some(&body)), (Method::DELETE, None)]
        {
            let res = app.send(method.clone(), &path, body).await;
            assert_rejected(res, &format!("{method} {path}"), 404, "not_found", None).await;
        }
    }
}

#[tokio::test]
async fn list_filters_by_system_driver_and_q() {
    // Arrange
    let app = spawn_app().await;
    let (room, hall) = (app.create_system("Room").await, app.create_system("Hall").await);
    let a = app.create("/modules", json!({ "driver": "Display", "control_system_id": id(&room) })).await;
    let b = app.create("/modules", json!({ "driver": "Display", "custom_name": "Lobby_Screen" })).await;
    let c = app
        .create(
            "/modules",
            json!({ "driver": "Display", "custom_name": "Hall_Screen", "control_system_id": id(&hall) }),
        )
        .await;
    let d = app.create("/modules", json!({ "driver": "Display", "control_system_id": id(&room) })).await;

    let cases: Vec<(String, Vec<&str>)> = vec![
        (String::new(), vec![id(&a), id(&b), id(&c), id(&d)]),
        (format!("control_system_id={}", id(&room)), vec![id(&a), id(&d)]),
        (format!("control_system_id={}", id(&hall)), vec![id(&c)]),
        (format!("control_system_id={}", unknown_id("sys-")), vec![]),
        ("driver=Display".into(), vec![id(&a), id(&b), id(&c), id(&d)]),
        ("driver=Projector".into(), vec![]),
        ("q=screen".into(), vec![id(&b), id(&c)]),
        ("q=LOBBY".into(), vec![id(&b)]),
        ("q=display".into(), vec![id(&a), id(&b), id(&c), id(&d)]),
        (format!("q=screen&control_system_id={}", id(&hall)), vec![id(&c)]),
        (format!("driver=Display&control_system_id={}&limit=1&offset=1", id(&room)), vec![id(&d)]),
    ];

    for (query, want) in cases {
        // Act
        let res = app.get(&format!("/modules?{query}")).await;
        let (items, total) = list_of(res, &query).await;
        // Assert
        assert_eq!(ids(&items), want, "?{query}");
        if !query.contains("limit") {
            assert_eq!(total, want.len(), "?{query}: X-Total-Count");
        } else {
            assert_eq!(total, 2, "?{query}: X-Total-Count counts matches before paging");
        }
    }
    let (listed, _) = app.list("/modules").await;
    assert_eq!(listed[1]["name"], "Lobby_Screen", "listed modules carry their resolved name");
    assert_eq!(listed[0]["name"], "Display");
}

#[tokio::test]
async fn list_pages_with_limit_and_offset() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for _ in 0..4 {
        created.push(id(&app.create_module("Display", None).await).to_owned());
    }

    for (query, range) in
        [("limit=3", 0..3), ("limit=3&offset=3", 3..4), ("offset=1&limit=2", 1..3), ("offset=9", 0..0)]
    {
        let (items, total) = app.list(&format!("/modules?{query}")).await;
        let want: Vec<&str> = created[range].iter().map(String::as_str).collect();
        assert_eq!(ids(&items), want, "{query}");
        assert_eq!(total, 4, "{query}");
    }
}

#[tokio::test]
async fn bad_list_queries_are_400() {
    let app = spawn_app().await;

    for query in [
        "limit=10001",
        "limit=x",
        "offset=-3",
        "control_system_id=nope",
        "control_system_id=mod-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f",
    ] {
        let res = app.get(&format!("/modules?{query}")).await;
        assert_rejected(res, query, 400, "invalid_query", None).await;
    }
}

#[tokio::test]
async fn bad_bodies_are_rejected_with_the_offending_field() {
    // Arrange
    let app = spawn_app().await;
    let missing_system = unknown_id("sys-");
    let long_name = format!("A{}", "b".repeat(64));

    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("unknown driver", json!({ "driver": "Projector" }), Some("driver")),
        ("driver in the wrong case", json!({ "driver": "display" }), Some("driver")),
        ("empty driver", json!({ "driver": "" }), Some("driver")),
        ("driver not a string", json!({ "driver": 1 }), Some("driver")),
        (
            "custom_name starting with a digit",
            json!({ "driver": "Display", "custom_name": "2nd" }),
            Some("custom_name"),
        ),
        ("custom_name starting with _", json!({ "driver": "Display", "custom_name": "_x" }), Some("custom_name")),
        (
            "custom_name ending in _<digits>",
            json!({ "driver": "Display", "custom_name": "Display_2" }),
            Some("custom_name"),
        ),
        ("custom_name ending in _", json!({ "driver": "Display", "custom_name": "Display_" }), Some("custom_name")),
        ("custom_name with a space", json!({ "driver": "Display", "custom_name": "Left Screen" }), Some("custom_name")),
        ("custom_name with a dash", json!({ "driver": "Display", "custom_name": "Left-Screen" }), Some("custom_name")),
        ("custom_name empty", json!({ "driver": "Display", "custom_name": "" }), Some("custom_name")),
        ("custom_name of 65 characters", json!({ "driver": "Display", "custom_name": long_name }), Some("custom_name")),
        (
            "control_system_id unknown",
            json!({ "driver": "Display", "control_system_id": missing_system }),
            Some("control_system_id"),
        ),
        (
            "control_system_id malformed",
            json!({ "driver": "Display", "control_system_id": "sys-1" }),
            Some("control_system_id"),
        ),
        (
            "control_system_id of another kind",
            json!({ "driver": "Display", "control_system_id": unknown_id("mod-") }),
            Some("control_system_id"),
        ),
        ("settings an array", json!({ "driver": "Display", "settings": [] }), Some("settings")),
        ("settings a string", json!({ "driver": "Display", "settings": "ip=1" }), Some("settings")),
        ("unknown field", json!({ "driver": "Display", "name": "Screen" }), Some("name")),
    ];

    for (case, body, field) in cases {
        // Act
        let res = app.post("/modules", &body).await;
        // Assert
        assert_rejected(res, case, 422, "invalid_field", field).await;
    }
    assert_rejects_malformed_bodies(&app, Method::POST, "/modules").await;
    let (items, total) = app.list("/modules").await;
    assert_eq!((items.len(), total), (0, 0), "nothing was created");
}

#[tokio::test]
async fn bad_put_and_patch_bodies_are_rejected_and_change_nothing() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let module = app
        .create("/modules", json!({ "driver": "Display", "custom_name": "Keep", "control_system_id": id(&system) }))
        .await;
    let path = format!("/modules/{}", id(&module));

    let cases: Vec<(Method, &str, Value, Option<&str>)> = vec![
        (Method::PATCH, "unknown driver", json!({ "driver": "Projector" }), Some("driver")),
        (Method::PATCH, "bad custom_name", json!({ "custom_name": "9lives" }), Some("custom_name")),
        (
            Method::PATCH,
            "unknown system",
            json!({ "control_system_id": unknown_id("sys-") }),
            Some("control_system_id"),
        ),
        (
            Method::PATCH,
            "valid name with unknown driver",
            json!({ "custom_name": "Other", "driver": "Nope" }),
            Some("driver"),
        ),
        (Method::PATCH, "unknown field", json!({ "id": unknown_id("mod-") }), Some("id")),
        (Method::PUT, "PUT with unknown driver", json!({ "driver": "Nope" }), Some("driver")),
        (
            Method::PUT,
            "PUT with unknown system",
            json!({ "driver": "Display", "control_system_id": unknown_id("sys-") }),
            Some("control_system_id"),
        ),
        (Method::PUT, "PUT with unknown field", json!({ "driver": "Display", "index": 1 }), Some("index")),
    ];

    for (method, case, body, field) in cases {
        let res = app.send(method, &path, Some(&body)).await;
        assert_rejected(res, case, 422, "invalid_field", field).await;
    }
    assert_rejects_malformed_bodies(&app, Method::PUT, &path).await;
    assert_rejects_malformed_bodies(&app, Method::PATCH, &path).await;
    assert_eq!(app.get_ok(&path).await, module, "rejected writes leave the module as it was");
    assert_eq!(system_modules(&app, &system).await, json!([id(&module)]));
}

#[tokio::test]
async fn a_missing_driver_is_a_422_naming_driver() {
    let app = spawn_app().await;
    let module = app.create_module("Display", None).await;

    for (method, path) in [(Method::POST, "/modules".to_owned()), (Method::PUT, format!("/modules/{}", id(&module)))] {
        let res = app.send(method.clone(), &path, Some(&json!({ "custom_name": "Screen" }))).await;
        assert_rejected(res, &format!("{method} {path} without driver"), 422, "invalid_field", Some("driver")).await;
    }
}

#[tokio::test]
async fn drivers_lists_the_registered_drivers_for_any_key() {
    // Arrange
    let app = spawn_app().await;
    let support = app.key_with_role("support").await;

    // Act
    let res = app.with_key(Some(&support), Method::GET, "/drivers").send().await.unwrap();

    // Assert
    assert_eq!(res.status(), 200);
    let drivers: Value = res.json().await.unwrap();
    let drivers = drivers.as_array().expect("an array");
    let display = drivers.iter().find(|d| d["name"] == "Display").unwrap_or_else(|| panic!("Display in {drivers:?}"));
    for driver in drivers {
        assert!(driver["name"].is_string() && driver["default_module_name"].is_string(), "{driver}");
        assert!(driver["description"].is_string() && driver["functions"].is_array(), "{driver}");
    }
    assert_eq!(display["name"], "Display");
    assert_eq!(display["default_module_name"], "Display");
    assert!(display["description"].as_str().is_some_and(|d| !d.is_empty()));
    let functions = display["functions"].as_array().expect("functions");
    let names: Vec<&str> = functions.iter().map(|f| f["name"].as_str().unwrap()).collect();
    for expected in ["power", "switch_to", "volume", "request"] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    for f in functions {
        assert!(f["description"].is_string(), "{f}");
        assert!(f["params"].is_array(), "{f}");
        assert!(f["webhook"].is_boolean(), "{f}");
        assert!(matches!(f["access"].as_str(), Some("support" | "admin")), "{f}");
    }
    let power = functions.iter().find(|f| f["name"] == "power").unwrap();
    assert_eq!(power["params"], json!([{ "name": "state", "type": "boolean", "required": true }]));
}
