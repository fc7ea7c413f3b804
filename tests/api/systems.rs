//! `/systems`, `/systems/{id}` and `/systems/{id}/modules`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn module_named(app: &TestApp, custom_name: Option<&str>) -> Value {
    app.create("/modules", json!({ "driver": "Display", "custom_name": custom_name })).await
}

#[tokio::test]
async fn create_returns_the_stored_system() {
    // Arrange
    let app = spawn_app().await;
    let module = app.create_module("Display", None).await;

    // Act
    let created = app
        .create("/systems", json!({ "name": "Boardroom", "description": "Level 3", "modules": [id(&module)] }))
        .await;

    // Assert
    assert_id_shape(&created["id"], "sys-");
    assert_eq!(created["name"], "Boardroom");
    assert_eq!(created["description"], "Level 3");
    assert_eq!(created["modules"], json!([id(&module)]));
    assert_recent(&created["created_at"], "created_at");
    assert_eq!(created["created_at"], created["updated_at"]);
    let fetched = app.get_ok(&format!("/systems/{}", id(&created))).await;
    assert_eq!(fetched, created, "GET returns what POST returned");
}

#[tokio::test]
async fn create_defaults_description_and_modules_to_empty() {
    let app = spawn_app().await;

    let created = app.create_system("Lobby").await;

    assert_eq!(created["description"], "");
    assert_eq!(created["modules"], json!([]));
}

#[tokio::test]
async fn names_of_1_and_256_characters_are_accepted() {
    let app = spawn_app().await;

    for name in ["x".to_owned(), "é".repeat(256)] {
        let created = app.create("/systems", json!({ "name": name })).await;
        assert_eq!(created["name"], name.as_str(), "{} characters", name.chars().count());
    }
}

#[tokio::test]
async fn ids_are_distinct_and_sort_in_creation_order() {
    let app = spawn_app().await;

    let mut created = Vec::new();
    for i in 0..5 {
        created.push(id(&app.create_system(&format!("Room {i}")).await).to_owned());
    }

    let mut sorted = created.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, created, "ids are unique and creation-sortable");
}

#[tokio::test]
async fn put_replaces_the_whole_system() {
    // Arrange
    let app = spawn_app().await;
    let (a, b) = (app.create_module("Display", None).await, app.create_module("Display", None).await);
    let system =
        app.create("/systems", json!({ "name": "Old", "description": "Old text", "modules": [id(&a), id(&b)] })).await;
    let path = format!("/systems/{}", id(&system));

    // Act
    let replaced = app.send_ok(Method::PUT, &path, &json!({ "name": "New" })).await;

    // Assert
    assert_eq!(replaced["id"], system["id"]);
    assert_eq!(replaced["name"], "New");
    assert_eq!(replaced["description"], "", "an absent description is reset");
    assert_eq!(replaced["modules"], json!([]), "absent modules are reset");
    assert_eq!(replaced["created_at"], system["created_at"]);
    assert_eq!(app.get_ok(&path).await, replaced);
    for module in [&a, &b] {
        let m = app.get_ok(&format!("/modules/{}", id(module))).await;
        assert_eq!(m["control_system_id"], Value::Null, "a module dropped by PUT leaves the system");
    }
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    // Arrange
    let app = spawn_app().await;
    let module = app.create_module("Display", None).await;
    let system =
        app.create("/systems", json!({ "name": "Old", "description": "Keep me", "modules": [id(&module)] })).await;
    let path = format!("/systems/{}", id(&system));

    // Act
    let renamed = app.send_ok(Method::PATCH, &path, &json!({ "name": "Renamed" })).await;

    // Assert
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(renamed["description"], "Keep me");
    assert_eq!(renamed["modules"], json!([id(&module)]));
    assert_eq!(renamed["created_at"], system["created_at"]);
    assert_eq!(app.get_ok(&path).await, renamed);
}

#[tokio::test]
async fn patch_with_a_null_description_clears_it() {
    let app = spawn_app().await;
    let system = app.create("/systems", json!({ "name": "Room", "description": "Temporary" })).await;
    let path = format!("/systems/{}", id(&system));

    let cleared = app.send_ok(Method::PATCH, &path, &json!({ "description": null })).await;

    assert_eq!(cleared["description"], "");
    assert_eq!(cleared["name"], "Room");
    assert_eq!(app.get_ok(&path).await["description"], "");
}

#[tokio::test]
async fn delete_removes_the_system() {
    let app = spawn_app().await;
    let system = app.create_system("Doomed").await;
    let path = format!("/systems/{}", id(&system));

    app.delete_ok(&path).await;

    assert_error(app.get(&path).await, 404, "not_found").await;
    assert_error(app.delete(&path).await, 404, "not_found").await;
    let (items, total) = app.list("/systems").await;
    assert!(items.is_empty() && total == 0, "the list no longer holds it: {items:?}");
}

#[tokio::test]
async fn unknown_or_malformed_ids_are_404_on_every_route() {
    let app = spawn_app().await;
    let module = app.create_module("Display", None).await;

    for raw in
        [unknown_id("sys-"), id(&module).to_owned(), "sys-xyz".into(), "nope".into(), unknown_id("sys-").to_uppercase()]
    {
        let path = format!("/systems/{raw}");
        let body = json!({ "name": "x" });
        for (method, path, body) in [
            (Method::GET, path.clone(), None),
            (Method::PUT, path.clone(), Some(&body)),
            (Method::PATCH, path.clone(), Some(&body)),
            (Method::DELETE, path.clone(), None),
            (Method::GET, format!("{path}/modules"), None),
            (Method::GET, format!("{path}/triggers"), None),
        ] {
            let res = app.send(method.clone(), &path, body).await;
            assert_rejected(res, &format!("{method} {path}"), 404, "not_found", None).await;
        }
    }
}

#[tokio::test]
async fn list_returns_systems_in_creation_order_with_a_total() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(app.create_system(&format!("Room {i}")).await);
    }

    let (items, total) = app.list("/systems").await;

    assert_eq!(total, 3);
    assert_eq!(items, created, "full objects, in creation order");
}

#[tokio::test]
async fn list_pages_with_limit_and_offset() {
    // Arrange
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(id(&app.create_system(&format!("Room {i}")).await).to_owned());
    }

    // Act / Assert: (query, expected ids, expected total)
    let cases: [(&str, &[usize]); 6] = [
        ("?limit=2", &[0, 1]),
        ("?limit=2&offset=2", &[2, 3]),
        ("?limit=2&offset=4", &[4]),
        ("?offset=5", &[]),
        ("?offset=100", &[]),
        ("?limit=0", &[]),
    ];
    for (query, expected) in cases {
        let (items, total) = app.list(&format!("/systems{query}")).await;
        let want: Vec<&str> = expected.iter().map(|&i| created[i].as_str()).collect();
        assert_eq!(ids(&items), want, "{query}");
        assert_eq!(total, 5, "{query}: X-Total-Count counts every match before paging");
    }
}

#[tokio::test]
async fn list_defaults_to_100_items_and_accepts_a_limit_of_10000() {
    let app = spawn_app().await;
    for i in 0..101 {
        app.create_system(&format!("Room {i}")).await;
    }

    let (default_page, total) = app.list("/systems").await;
    let (max_page, _) = app.list("/systems?limit=10000").await;

    assert_eq!(default_page.len(), 100, "the default limit is 100");
    assert_eq!(total, 101);
    assert_eq!(max_page.len(), 101);
}

#[tokio::test]
async fn q_matches_name_or_description_case_insensitively() {
    // Arrange
    let app = spawn_app().await;
    let board = app.create("/systems", json!({ "name": "Boardroom North" })).await;
    let lobby = app.create("/systems", json!({ "name": "Lobby", "description": "next to the BOARDROOM" })).await;
    let _other = app.create("/systems", json!({ "name": "Kitchen", "description": "coffee" })).await;
    let south = app.create("/systems", json!({ "name": "boardroom south" })).await;

    // Act / Assert
    let cases: [(&str, Vec<&str>); 4] = [
        ("boardroom", vec![id(&board), id(&lobby), id(&south)]),
        ("BoArD", vec![id(&board), id(&lobby), id(&south)]),
        ("north", vec![id(&board)]),
        ("nothing-matches", vec![]),
    ];
    for (q, want) in cases {
        let (items, total) = app.list(&format!("/systems?q={q}")).await;
        assert_eq!(ids(&items), want, "q={q}");
        assert_eq!(total, want.len(), "q={q}");
    }
    let (_, total) = app.list("/systems?q=").await;
    assert_eq!(total, 4, "an empty q matches everything");

    let (page, total) = app.list("/systems?q=boardroom&limit=1&offset=1").await;
    assert_eq!(ids(&page), [id(&lobby)], "q combines with paging");
    assert_eq!(total, 3, "X-Total-Count counts matches, not all systems");
}

#[tokio::test]
async fn bad_list_queries_are_400() {
    let app = spawn_app().await;

    for query in ["limit=10001", "limit=abc", "limit=-1", "offset=-1", "offset=1.5", "limit="] {
        let res = app.get(&format!("/systems?{query}")).await;
        assert_rejected(res, query, 400, "invalid_query", None).await;
    }
}

#[tokio::test]
async fn bad_bodies_are_rejected_with_the_offending_field() {
    // Arrange
    let app = spawn_app().await;
    let free = app.create_module("Display", None).await;
    let owner = app.create_system("Owner").await;
    let taken = app.create_module("Display", Some(id(&owner))).await;
    let (free, taken) = (id(&free), id(&taken));
    let missing_module = unknown_id("mod-");
    let long_name = "x".repeat(257);

    let cases: Vec<(&str, Value, u16, &str, Option<&str>)> = vec![
        ("name empty", json!({ "name": "" }), 422, "invalid_field", Some("name")),
        ("name of 257 characters", json!({ "name": long_name }), 422, "invalid_field", Some("name")),
        ("name not a string", json!({ "name": 5 }), 422, "invalid_field", Some("name")),
        ("name null", json!({ "name": null }), 422, "invalid_field", Some("name")),
        (
            "description not a string",
            json!({ "name": "x", "description": [] }),
            422,
            "invalid_field",
            Some("description"),
        ),
        ("modules not a list", json!({ "name": "x", "modules": free }), 422, "invalid_field", Some("modules")),
        (
            "module id malformed",
            json!({ "name": "x", "modules": [free, "mod-nope"] }),
            422,
            "invalid_field",
            Some("modules[1]"),
        ),
        (
            "module id of another kind",
            json!({ "name": "x", "modules": [id(&owner)] }),
            422,
            "invalid_field",
            Some("modules[0]"),
        ),
        (
            "module does not exist",
            json!({ "name": "x", "modules": [free, missing_module] }),
            422,
            "invalid_field",
            Some("modules[1]"),
        ),
        (
            "module listed twice",
            json!({ "name": "x", "modules": [free, free] }),
            422,
            "invalid_field",
            Some("modules[1]"),
        ),
        (
            "module of another system",
            json!({ "name": "x", "modules": [free, taken] }),
            422,
            "invalid_field",
            Some("modules[1]"),
        ),
        ("unknown field", json!({ "name": "x", "colour": "red" }), 422, "invalid_field", Some("colour")),
    ];

    for (case, body, status, code, field) in cases {
        // Act
        let res = app.post("/systems", &body).await;
        // Assert
        assert_rejected(res, case, status, code, field).await;
    }
    assert_rejects_malformed_bodies(&app, Method::POST, "/systems").await;
    let (items, _) = app.list("/systems").await;
    assert_eq!(ids(&items), [id(&owner)], "no rejected body created a system");
    let other = app.get_ok(&format!("/modules/{taken}")).await;
    assert_eq!(other["control_system_id"], owner["id"], "a rejected list does not steal a module");
}

#[tokio::test]
async fn bad_put_and_patch_bodies_are_rejected_and_change_nothing() {
    // Arrange
    let app = spawn_app().await;
    let mine = app.create_module("Display", None).await;
    let system = app.create("/systems", json!({ "name": "Mine", "description": "d", "modules": [id(&mine)] })).await;
    let other = app.create_system("Other").await;
    let taken = app.create_module("Display", Some(id(&other))).await;
    let path = format!("/systems/{}", id(&system));

    let cases: Vec<(Method, &str, Value, Option<&str>)> = vec![
        (Method::PUT, "PUT with empty name", json!({ "name": "" }), Some("name")),
        (Method::PUT, "PUT stealing a module", json!({ "name": "x", "modules": [id(&taken)] }), Some("modules[0]")),
        (Method::PUT, "PUT with unknown field", json!({ "name": "x", "id": "sys-1" }), Some("id")),
        (Method::PATCH, "PATCH with empty name", json!({ "name": "" }), Some("name")),
        (
            Method::PATCH,
            "PATCH with duplicate modules",
            json!({ "modules": [id(&mine), id(&mine)] }),
            Some("modules[1]"),
        ),
        (Method::PATCH, "PATCH stealing a module", json!({ "modules": [id(&mine), id(&taken)] }), Some("modules[1]")),
        (Method::PATCH, "PATCH with a missing module", json!({ "modules": [unknown_id("mod-")] }), Some("modules[0]")),
        (Method::PATCH, "PATCH with unknown field", json!({ "created_at": 1 }), Some("created_at")),
        (Method::PATCH, "PATCH with description as number", json!({ "description": 1 }), Some("description")),
    ];

    for (method, case, body, field) in cases {
        let res = app.send(method, &path, Some(&body)).await;
        assert_rejected(res, case, 422, "invalid_field", field).await;
    }
    assert_rejects_malformed_bodies(&app, Method::PUT, &path).await;
    assert_rejects_malformed_bodies(&app, Method::PATCH, &path).await;
    assert_eq!(app.get_ok(&path).await, system, "rejected writes leave the system as it was");
    let taken_now = app.get_ok(&format!("/modules/{}", id(&taken))).await;
    assert_eq!(taken_now["control_system_id"], other["id"]);
}

#[tokio::test]
async fn listing_a_module_assigns_it_and_dropping_it_unassigns_it() {
    // Arrange
    let app = spawn_app().await;
    let (a, b, c) = (
        app.create_module("Display", None).await,
        app.create_module("Display", None).await,
        app.create_module("Display", None).await,
    );
    let system = app.create("/systems", json!({ "name": "Room", "modules": [id(&a), id(&b)] })).await;
    let path = format!("/systems/{}", id(&system));
    let owner = |m: Value| m["control_system_id"].clone();

    // Assert: creating with a list assigns
    assert_eq!(owner(app.get_ok(&format!("/modules/{}", id(&a))).await), system["id"]);
    assert_eq!(owner(app.get_ok(&format!("/modules/{}", id(&b))).await), system["id"]);

    // Act: drop a, add c
    let updated = app.send_ok(Method::PATCH, &path, &json!({ "modules": [id(&c), id(&b)] })).await;

    // Assert
    assert_eq!(updated["modules"], json!([id(&c), id(&b)]));
    assert_eq!(owner(app.get_ok(&format!("/modules/{}", id(&a))).await), Value::Null, "dropped module is unassigned");
    assert_eq!(owner(app.get_ok(&format!("/modules/{}", id(&b))).await), system["id"]);
    assert_eq!(owner(app.get_ok(&format!("/modules/{}", id(&c))).await), system["id"], "listed module is assigned");
    let (in_system, total) = app.list(&format!("/modules?control_system_id={}", id(&system))).await;
    assert_eq!(total, 2);
    assert_eq!(ids(&in_system), [id(&b), id(&c)], "the module filter sees the same assignment");
}

#[tokio::test]
async fn an_unassigned_module_can_be_listed_by_another_system() {
    // Arrange: a module dropped from one system is free again
    let app = spawn_app().await;
    let module = app.create_module("Display", None).await;
    let first = app.create("/systems", json!({ "name": "First", "modules": [id(&module)] })).await;
    app.send_ok(Method::PATCH, &format!("/systems/{}", id(&first)), &json!({ "modules": [] })).await;

    // Act
    let second = app.create("/systems", json!({ "name": "Second", "modules": [id(&module)] })).await;

    // Assert
    let m = app.get_ok(&format!("/modules/{}", id(&module))).await;
    assert_eq!(m["control_system_id"], second["id"]);
    assert_eq!(app.get_ok(&format!("/systems/{}", id(&first))).await["modules"], json!([]));
}

#[tokio::test]
async fn relisting_its_own_modules_in_a_new_order_is_allowed() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let a = app.create_module("Display", Some(id(&system))).await;
    let b = app.create_module("Display", Some(id(&system))).await;
    let path = format!("/systems/{}", id(&system));

    let reordered = app.send_ok(Method::PATCH, &path, &json!({ "modules": [id(&b), id(&a)] })).await;

    assert_eq!(reordered["modules"], json!([id(&b), id(&a)]));
    let put = app.send_ok(Method::PUT, &path, &json!({ "name": "Room", "modules": [id(&a), id(&b)] })).await;
    assert_eq!(put["modules"], json!([id(&a), id(&b)]));
}

#[tokio::test]
async fn system_modules_resolve_names_indexes_and_references_in_order() {
    // Arrange
    let app = spawn_app().await;
    let d1 = module_named(&app, None).await;
    let l1 = module_named(&app, Some("Lobby_Screen")).await;
    let d2 = module_named(&app, None).await;
    let l2 = module_named(&app, Some("Lobby_Screen")).await;
    let system =
        app.create("/systems", json!({ "name": "Room", "modules": [id(&d1), id(&l1), id(&d2), id(&l2)] })).await;

    // Act
    let modules = app.get_ok(&format!("/systems/{}/modules", id(&system))).await;

    // Assert
    let got: Vec<(&str, &str, u64, &str)> = modules
        .as_array()
        .expect("an array")
        .iter()
        .map(|m| (id(m), m["name"].as_str().unwrap(), m["index"].as_u64().unwrap(), m["reference"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (id(&d1), "Display", 1, "Display_1"),
            (id(&l1), "Lobby_Screen", 1, "Lobby_Screen_1"),
            (id(&d2), "Display", 2, "Display_2"),
            (id(&l2), "Lobby_Screen", 2, "Lobby_Screen_2"),
        ]
    );
    let first = &modules[0];
    assert_eq!(first["driver"], "Display");
    assert_eq!(first["control_system_id"], system["id"]);
    assert_eq!(first["custom_name"], Value::Null);
    assert_eq!(modules[1]["custom_name"], "Lobby_Screen");
}

#[tokio::test]
async fn reordering_modules_renumbers_their_references() {
    // Arrange
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let a = app.create_module("Display", Some(id(&system))).await;
    let b = app.create_module("Display", Some(id(&system))).await;
    let c = app.create_module("Display", Some(id(&system))).await;

    // Act
    app.send_ok(Method::PATCH, &format!("/systems/{}", id(&system)), &json!({ "modules": [id(&c), id(&a), id(&b)] }))
        .await;

    // Assert
    let modules = app.get_ok(&format!("/systems/{}/modules", id(&system))).await;
    let got: Vec<(&str, &str)> =
        modules.as_array().unwrap().iter().map(|m| (id(m), m["reference"].as_str().unwrap())).collect();
    assert_eq!(got, [(id(&c), "Display_1"), (id(&a), "Display_2"), (id(&b), "Display_3")]);
}

#[tokio::test]
async fn a_system_without_modules_lists_none() {
    let app = spawn_app().await;
    let system = app.create_system("Empty").await;

    let modules = app.get_ok(&format!("/systems/{}/modules", id(&system))).await;

    assert_eq!(modules, json!([]));
}

#[tokio::test]
async fn deleting_a_system_unassigns_its_modules_and_deletes_its_instances() {
    // Arrange
    let app = spawn_app().await;
    let doomed = app.create_system("Doomed").await;
    let survivor = app.create_system("Survivor").await;
    let module = app.create_module("Display", Some(id(&doomed))).await;
    let trigger = app.create_trigger(json!({ "name": "Shared" })).await;
    let gone = app.create(&format!("/systems/{}/triggers", id(&doomed)), json!({ "trigger_id": id(&trigger) })).await;
    let kept = app.create(&format!("/systems/{}/triggers", id(&survivor)), json!({ "trigger_id": id(&trigger) })).await;

    // Act
    app.delete_ok(&format!("/systems/{}", id(&doomed))).await;

    // Assert
    let m = app.get_ok(&format!("/modules/{}", id(&module))).await;
    assert_eq!(m["control_system_id"], Value::Null, "the module survives, unassigned");
    let instances = app.get_ok(&format!("/triggers/{}/instances", id(&trigger))).await;
    assert_eq!(ids(instances.as_array().unwrap()), [id(&kept)], "only the other system's instance remains");
    let res = app.get(&format!("/systems/{}/triggers/{}", id(&doomed), id(&gone))).await;
    assert_error(res, 404, "not_found").await;
    app.get_ok(&format!("/triggers/{}", id(&trigger))).await;
    let (left, total) = app.list("/systems").await;
    assert_eq!((ids(&left), total), (vec![id(&survivor)], 1));
    // The freed module can join another system.
    app.send_ok(Method::PATCH, &format!("/systems/{}", id(&survivor)), &json!({ "modules": [id(&module)] })).await;
}

#[tokio::test]
async fn a_missing_name_is_a_422_naming_name() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;

    for (method, path) in [(Method::POST, "/systems".to_owned()), (Method::PUT, format!("/systems/{}", id(&system)))] {
        let res = app.send(method.clone(), &path, Some(&json!({ "description": "no name" }))).await;
        assert_rejected(res, &format!("{method} {path} without name"), 422, "invalid_field", Some("name")).await;
    }
}

#[tokio::test]
async fn json_with_a_charset_or_a_json_suffix_is_accepted() {
    let app = spawn_app().await;

    for content_type in ["application/json; charset=utf-8", "application/merge-patch+json"] {
        let res = app.send_raw(Method::POST, "/systems", Some(content_type), r#"{"name": "Typed"}"#).await;
        assert_eq!(res.status(), 201, "{content_type}");
    }
}

#[tokio::test]
async fn a_custom_name_equal_to_a_default_name_shares_its_numbering() {
    let app = spawn_app().await;
    let default = module_named(&app, None).await;
    let custom = module_named(&app, Some("Display")).await;
    let system = app.create("/systems", json!({ "name": "Room", "modules": [id(&default), id(&custom)] })).await;

    let modules = app.get_ok(&format!("/systems/{}/modules", id(&system))).await;

    assert_eq!(modules[0]["reference"], "Display_1");
    assert_eq!(modules[1]["reference"], "Display_2");
}

#[tokio::test]
async fn two_systems_racing_for_one_module_cannot_both_get_it() {
    // Arrange
    let app = spawn_app().await;
    let module = app.create_module("Display", None).await;
    let body = |name: &str| json!({ "name": name, "modules": [id(&module)] });
    let (body_a, body_b) = (body("A"), body("B"));

    // Act
    let (a, b) = tokio::join!(app.post("/systems", &body_a), app.post("/systems", &body_b));

    // Assert
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 422], "exactly one claim wins");
    let (systems, _) = app.list("/systems").await;
    assert_eq!(systems.len(), 1);
    assert_eq!(systems[0]["modules"], json!([id(&module)]));
    let owner = app.get_ok(&format!("/modules/{}", id(&module))).await["control_system_id"].clone();
    assert_eq!(owner, systems[0]["id"]);
}

#[tokio::test]
async fn concurrent_moves_keep_system_lists_and_module_owners_in_step() {
    // Arrange
    let app = spawn_app().await;
    let systems = [app.create_system("A").await, app.create_system("B").await, app.create_system("C").await];
    let mut modules = Vec::new();
    for i in 0..9 {
        modules.push(app.create_module("Display", Some(id(&systems[i % 3]))).await);
    }

    // Act: every module moves (or leaves) while one system rewrites its list
    let mut requests = Vec::new();
    for (i, m) in modules.iter().enumerate() {
        let target = if i % 4 == 0 { Value::Null } else { json!(id(&systems[(i + 1) % 3])) };
        requests.push(app.patch_owned(format!("/modules/{}", id(m)), json!({ "control_system_id": target })));
    }
    requests.push(app.patch_owned(format!("/systems/{}", id(&systems[0])), json!({ "modules": [] })));
    let statuses: Vec<u16> = futures_util::future::join_all(requests).await;

    // Assert
    assert!(statuses.iter().all(|s| [200, 422].contains(s)), "{statuses:?}");
    let mut listed = std::collections::HashMap::new();
    for system in &systems {
        let stored = app.get_ok(&format!("/systems/{}", id(system))).await;
        for m in stored["modules"].as_array().unwrap() {
            let m = m.as_str().unwrap().to_owned();
            assert!(listed.insert(m.clone(), id(system).to_owned()).is_none(), "{m} is listed by one system only");
        }
    }
    for m in &modules {
        let stored = app.get_ok(&format!("/modules/{}", id(m))).await;
        assert_eq!(
            stored["control_system_id"].as_str(),
            listed.get(id(m)).map(String::as_str),
            "{} names the system that lists it",
            id(m)
        );
    }
}

#[tokio::test]
async fn methods_a_route_does_not_have_answer_a_json_error() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;
    let s = id(&system);

    for (method, path) in [
        (Method::DELETE, "/systems".to_owned()),
        (Method::PATCH, "/systems".to_owned()),
        (Method::POST, format!("/systems/{s}")),
        (Method::PUT, "/modules".to_owned()),
        (Method::POST, format!("/modules/{}", unknown_id("mod-"))),
        (Method::DELETE, "/triggers".to_owned()),
        (Method::PUT, format!("/systems/{s}/triggers")),
        (Method::PUT, format!("/systems/{s}/triggers/{}", unknown_id("trig-"))),
        (Method::PUT, format!("/api_keys/{}", unknown_id("key-"))),
        (Method::PATCH, "/api_keys".to_owned()),
    ] {
        let res = app.send(method.clone(), &path, None).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let case = format!("{method} {path}");
        assert!(status == 404 || status == 405, "[{case}] 404 (or 405): {status} {text}");
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("[{case}] a JSON error body: {text:?}"));
        assert!(body["error"].as_str().is_some_and(|c| !c.is_empty()), "[{case}] {text}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "[{case}] {text}");
        if status == 404 {
            assert_eq!(body["error"], "not_found", "[{case}]");
        }
    }
}
