//! `/api_keys`: admin-only key management.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn as_key(app: &TestApp, key: &str, method: Method, path: &str, body: Option<&Value>) -> reqwest::Response {
    let req = app.with_key(Some(key), method, path);
    let req = match body {
        Some(b) => req.json(b),
        None => req,
    };
    req.send().await.expect("request sent")
}

#[tokio::test]
async fn create_returns_the_key_once_with_its_metadata() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let created = app.create("/api_keys", json!({ "name": "CI pipeline", "role": "admin" })).await;

    // Assert
    assert_id_shape(&created["id"], "key-");
    assert_eq!(created["name"], "CI pipeline");
    assert_eq!(created["role"], "admin");
    assert_recent(&created["created_at"], "created_at");
    let key = created["key"].as_str().expect("the plaintext key is shown at creation");
    assert!(key.len() >= 32, "a long random key: {key}");
    let mut keys: Vec<&str> = created.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "id", "key", "name", "role"], "no hash or other internals");

    let fetched = app.get_ok(&format!("/api_keys/{}", id(&created))).await;
    let mut without_key = created.clone();
    without_key.as_object_mut().unwrap().remove("key");
    assert_eq!(fetched, without_key, "GET shows everything but the key");
}

#[tokio::test]
async fn a_new_admin_key_can_do_everything() {
    let app = spawn_app().await;
    let key = app.key_with_role("admin").await;

    let res = as_key(&app, &key, Method::POST, "/systems", Some(&json!({ "name": "By new key" }))).await;
    assert_eq!(res.status(), 201);
    let res = as_key(&app, &key, Method::POST, "/api_keys", Some(&json!({ "name": "n", "role": "support" }))).await;
    assert_eq!(res.status(), 201, "an admin key can mint keys");
    let res = as_key(&app, &key, Method::GET, "/api_keys", None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_new_support_key_reads_but_cannot_write() {
    let app = spawn_app().await;
    let created = app.create("/api_keys", json!({ "name": "Helpdesk", "role": "support" })).await;
    let key = created["key"].as_str().unwrap();
    assert_eq!(created["role"], "support");

    let read = as_key(&app, key, Method::GET, "/systems", None).await;
    let write = as_key(&app, key, Method::POST, "/systems", Some(&json!({ "name": "x" }))).await;

    assert_eq!(read.status(), 200);
    assert_rejected(write, "support POST /systems", 403, "forbidden", None).await;
}

#[tokio::test]
async fn list_shows_every_key_without_its_secret() {
    // Arrange
    let app = spawn_app().await;
    let a = app.create("/api_keys", json!({ "name": "A", "role": "admin" })).await;
    let b = app.create("/api_keys", json!({ "name": "B", "role": "support" })).await;
    let c = app.create("/api_keys", json!({ "name": "C", "role": "support" })).await;

    // Act
    let (items, total) = app.list("/api_keys").await;

    // Assert
    assert_eq!(total, 3);
    assert_eq!(ids(&items), [id(&a), id(&b), id(&c)], "creation order");
    for (item, created) in items.iter().zip([&a, &b, &c]) {
        assert!(item.get("key").is_none(), "no plaintext in the list: {item}");
        assert_eq!(item["name"], created["name"]);
        assert_eq!(item["role"], created["role"]);
        assert_eq!(item["created_at"], created["created_at"]);
    }
    let text = serde_json::to_string(&items).unwrap();
    for created in [&a, &b, &c] {
        assert!(!text.contains(created["key"].as_str().unwrap()), "no key in the list");
    }
    let (page, total) = app.list("/api_keys?limit=1&offset=1").await;
    assert_eq!((ids(&page), total), (vec![id(&b)], 3), "pages like every list");
    let res = app.get("/api_keys?limit=10001").await;
    assert_rejected(res, "limit above 10000", 400, "invalid_query", None).await;
}

#[tokio::test]
async fn deleting_a_key_revokes_it_at_once() {
    // Arrange
    let app = spawn_app().await;
    let created = app.create("/api_keys", json!({ "name": "Leaked", "role": "admin" })).await;
    let key = created["key"].as_str().unwrap();
    let kept = app.key_with_role("support").await;
    assert_eq!(as_key(&app, key, Method::GET, "/systems", None).await.status(), 200, "works before");
    let path = format!("/api_keys/{}", id(&created));

    // Act
    app.delete_ok(&path).await;

    // Assert
    let res = as_key(&app, key, Method::GET, "/systems", None).await;
    assert_rejected(res, "revoked key", 401, "unauthorized", None).await;
    let res = app.client.get(app.api("/systems")).bearer_auth(key).send().await.unwrap();
    assert_rejected(res, "revoked key as Bearer", 401, "unauthorized", None).await;
    assert_error(app.get(&path).await, 404, "not_found").await;
    assert_error(app.delete(&path).await, 404, "not_found").await;
    assert_eq!(as_key(&app, &kept, Method::GET, "/systems", None).await.status(), 200, "other keys still work");
    let (items, total) = app.list("/api_keys").await;
    assert_eq!(total, 1);
    assert_eq!(items[0]["name"], "support key");
}

#[tokio::test]
async fn a_key_can_revoke_itself() {
    let app = spawn_app().await;
    let created = app.create("/api_keys", json!({ "name": "Self", "role": "admin" })).await;
    let key = created["key"].as_str().unwrap();
    let path = format!("/api_keys/{}", id(&created));

    let res = as_key(&app, key, Method::DELETE, &path, None).await;

    assert_eq!(res.status(), 204);
    let res = as_key(&app, key, Method::GET, "/api_keys", None).await;
    assert_rejected(res, "self-revoked key", 401, "unauthorized", None).await;
}

#[tokio::test]
async fn support_keys_cannot_see_or_manage_keys() {
    // Arrange
    let app = spawn_app().await;
    let support = app.key_with_role("support").await;
    let admin_key = app.create("/api_keys", json!({ "name": "Admin", "role": "admin" })).await;
    let path = format!("/api_keys/{}", id(&admin_key));
    let body = json!({ "name": "Escalate", "role": "admin" });

    for (method, path, body) in [
        (Method::GET, "/api_keys".to_owned(), None),
        (Method::GET, path.clone(), None),
        (Method::POST, "/api_keys".to_owned(), Some(&body)),
        (Method::DELETE, path.clone(), None),
        (Method::GET, format!("/api_keys/{}", unknown_id("key-")), None),
    ] {
        // Act
        let res = as_key(&app, &support, method.clone(), &path, body).await;
        // Assert
        assert_rejected(res, &format!("support {method} {path}"), 403, "forbidden", None).await;
    }
    let (items, total) = app.list("/api_keys").await;
    assert_eq!(total, 2, "no key was created or deleted: {items:?}");
}

#[tokio::test]
async fn unknown_or_malformed_key_ids_are_404() {
    let app = spawn_app().await;
    let system = app.create_system("Room").await;

    for raw in [unknown_id("key-"), id(&system).to_owned(), "key-123".into(), "sbk_abc".into()] {
        let path = format!("/api_keys/{raw}");
        for method in [Method::GET, Method::DELETE] {
            let res = app.send(method.clone(), &path, None).await;
            assert_rejected(res, &format!("{method} {path}"), 404, "not_found", None).await;
        }
    }
}

#[tokio::test]
async fn bad_bodies_are_rejected_with_the_offending_field() {
    let app = spawn_app().await;

    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown role", json!({ "name": "k", "role": "root" }), "role"),
        ("role in upper case", json!({ "name": "k", "role": "ADMIN" }), "role"),
        ("role not a string", json!({ "name": "k", "role": 1 }), "role"),
        ("role null", json!({ "name": "k", "role": null }), "role"),
        ("empty name", json!({ "name": "", "role": "admin" }), "name"),
        ("name of 257 characters", json!({ "name": "k".repeat(257), "role": "admin" }), "name"),
        ("name not a string", json!({ "name": {}, "role": "admin" }), "name"),
        ("caller-chosen key", json!({ "name": "k", "role": "admin", "key": "my-own-key-0123456789" }), "key"),
        ("caller-chosen id", json!({ "name": "k", "role": "admin", "id": unknown_id("key-") }), "id"),
    ];

    for (case, body, field) in cases {
        let res = app.post("/api_keys", &body).await;
        assert_rejected(res, case, 422, "invalid_field", Some(field)).await;
    }
    assert_rejects_malformed_bodies(&app, Method::POST, "/api_keys").await;
    let (items, total) = app.list("/api_keys").await;
    assert_eq!((items.len(), total), (0, 0), "nothing was created");
}

#[tokio::test]
async fn missing_name_or_role_is_a_422_naming_it() {
    let app = spawn_app().await;

    for (body, field) in [(json!({ "role": "admin" }), "name"), (json!({ "name": "k" }), "role")] {
        let res = app.post("/api_keys", &body).await;
        assert_rejected(res, &format!("without {field}"), 422, "invalid_field", Some(field)).await;
    }
}
