//! Who may call what: API keys in `X-API-Key` or `Authorization: Bearer`, admin and support roles.

use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::*;

/// How a request presents (or fails to present) a key.
#[derive(Clone, Copy, Debug)]
enum Credential {
    None,
    UnknownHeader,
    UnknownBearer,
    SupportHeader,
    SupportBearer,
    AdminHeader,
    AdminBearer,
    StoredAdminBearer,
}

/// What a credential is expected to get on a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Nobody,
    Support,
    Admin,
}

impl Credential {
    const ALL: [Credential; 8] = [
        Self::None,
        Self::UnknownHeader,
        Self::UnknownBearer,
        Self::SupportHeader,
        Self::SupportBearer,
        Self::AdminHeader,
        Self::AdminBearer,
        Self::StoredAdminBearer,
    ];

    fn role(self) -> Role {
        match self {
            Self::None | Self::UnknownHeader | Self::UnknownBearer => Role::Nobody,
            Self::SupportHeader | Self::SupportBearer => Role::Support,
            Self::AdminHeader | Self::AdminBearer | Self::StoredAdminBearer => Role::Admin,
        }
    }
}

struct Keys {
    support: String,
    stored_admin: String,
}

fn request(app: &TestApp, keys: &Keys, credential: Credential, method: Method, path: &str) -> RequestBuilder {
    let plain = app.client.request(method, app.api(path));
    match credential {
        Credential::None => plain,
        Credential::UnknownHeader => plain.header("X-API-Key", "not-a-key-anyone-was-given"),
        Credential::UnknownBearer => plain.bearer_auth("sbk_0190f0c0a1b27c3d8e9f0a1b2c3d4e5f_guess"),
        Credential::SupportHeader => plain.header("X-API-Key", &keys.support),
        Credential::SupportBearer => plain.bearer_auth(&keys.support),
        Credential::AdminHeader => plain.header("X-API-Key", &app.admin_key),
        Credential::AdminBearer => plain.bearer_auth(&app.admin_key),
        Credential::StoredAdminBearer => plain.bearer_auth(&keys.stored_admin),
    }
}

#[tokio::test]
async fn every_route_admits_callers_by_key_and_role() {
    // Arrange
    let app = spawn_app().await;
    let keys = Keys { support: app.key_with_role("support").await, stored_admin: app.key_with_role("admin").await };
    let system = app.create_system("Room").await;
    let module = app.create_module("Display", Some(id(&system))).await;
    let trigger = app.create_trigger(json!({ "name": "T" })).await;
    let instance =
        app.create(&format!("/systems/{}/triggers", id(&system)), json!({ "trigger_id": id(&trigger) })).await;
    let key = app.create("/api_keys", json!({ "name": "Listed", "role": "support" })).await;
    let (s, m, t, i, k) = (id(&system), id(&module), id(&trigger), id(&instance), id(&key));
    let (no_sys, no_mod, no_trigger, no_inst, no_key) =
        (unknown_id("sys-"), unknown_id("mod-"), unknown_id("trigger-"), unknown_id("trig-"), unknown_id("key-"));

    // (method, path, body, admin's status, support's status). Deletes target ids that do not exist, so
    // every credential meets the same state: an admin gets 404, which shows it got past the key check.
    let routes: Vec<(Method, String, Option<Value>, u16, u16)> = vec![
        (Method::GET, "/systems".into(), None, 200, 200),
        (Method::POST, "/systems".into(), Some(json!({ "name": "New" })), 201, 403),
        (Method::GET, format!("/systems/{s}"), None, 200, 200),
        (Method::PUT, format!("/systems/{s}"), Some(json!({ "name": "Room", "modules": [m] })), 200, 403),
        (Method::PATCH, format!("/systems/{s}"), Some(json!({ "description": "x" })), 200, 403),
        (Method::DELETE, format!("/systems/{no_sys}"), None, 404, 403),
        (Method::GET, format!("/systems/{s}/modules"), None, 200, 200),
        (Method::GET, "/modules".into(), None, 200, 200),
        (Method::POST, "/modules".into(), Some(json!({ "driver": "Display" })), 201, 403),
        (Method::GET, format!("/modules/{m}"), None, 200, 200),
        (Method::PUT, format!("/modules/{m}"), Some(json!({ "driver": "Display", "control_system_id": s })), 200, 403),
        (Method::PATCH, format!("/modules/{m}"), Some(json!({ "settings": {} })), 200, 403),
        (Method::DELETE, format!("/modules/{no_mod}"), None, 404, 403),
        (Method::GET, "/triggers".into(), None, 200, 200),
        (Method::POST, "/triggers".into(), Some(json!({ "name": "New" })), 201, 403),
        (Method::GET, format!("/triggers/{t}"), None, 200, 200),
        (Method::PUT, format!("/triggers/{t}"), Some(json!({ "name": "T" })), 200, 403),
        (Method::PATCH, format!("/triggers/{t}"), Some(json!({ "debounce_period": 5 })), 200, 403),
        (Method::DELETE, format!("/triggers/{no_trigger}"), None, 404, 403),
        (Method::GET, format!("/triggers/{t}/instances"), None, 200, 200),
        (Method::GET, format!("/systems/{s}/triggers"), None, 200, 200),
        (Method::POST, format!("/systems/{s}/triggers"), Some(json!({ "trigger_id": t })), 201, 403),
        (Method::GET, format!("/systems/{s}/triggers/{i}"), None, 200, 200),
        (Method::PATCH, format!("/systems/{s}/triggers/{i}"), Some(json!({ "enabled": true })), 200, 403),
        (Method::POST, format!("/systems/{s}/triggers/{i}/secret"), None, 200, 403),
        (Method::DELETE, format!("/systems/{s}/triggers/{no_inst}"), None, 404, 403),
        (Method::GET, "/api_keys".into(), None, 200, 403),
        (Method::POST, "/api_keys".into(), Some(json!({ "name": "New", "role": "support" })), 201, 403),
        (Method::GET, format!("/api_keys/{k}"), None, 200, 403),
        (Method::DELETE, format!("/api_keys/{no_key}"), None, 404, 403),
        (Method::GET, "/drivers".into(), None, 200, 200),
    ];

    for (method, path, body, admin_status, support_status) in &routes {
        for credential in Credential::ALL {
            // Act
            let mut req = request(&app, &keys, credential, method.clone(), path);
            if let Some(body) = body {
                req = req.json(body);
            }
            let res = req.send().await.expect("request sent");

            // Assert
            let case = format!("{method} {path} with {credential:?}");
            let (status, code) = match credential.role() {
                Role::Nobody => (401, Some("unauthorized")),
                Role::Support if *support_status == 403 => (403, Some("forbidden")),
                Role::Support => (*support_status, None),
                Role::Admin if *admin_status == 404 => (404, Some("not_found")),
                Role::Admin => (*admin_status, None),
            };
            match code {
                Some(code) => {
                    assert_rejected(res, &case, status, code, None).await;
                }
                None => {
                    let got = res.status().as_u16();
                    let text = res.text().await.unwrap();
                    assert_eq!(got, status, "[{case}] {text}");
                }
            }
        }
    }
}

#[tokio::test]
async fn the_key_is_checked_before_the_request_is_read() {
    // Arrange
    let app = spawn_app().await;
    let support = app.key_with_role("support").await;

    let cases: [(Option<&str>, Method, String, u16, &str); 6] = [
        (None, Method::POST, "/systems".into(), 401, "unauthorized"),
        (None, Method::GET, format!("/systems/{}", unknown_id("sys-")), 401, "unauthorized"),
        (None, Method::GET, "/systems?limit=99999".into(), 401, "unauthorized"),
        (Some(&support), Method::POST, "/systems".into(), 403, "forbidden"),
        (Some(&support), Method::PATCH, format!("/systems/{}", unknown_id("sys-")), 403, "forbidden"),
        (Some(&support), Method::POST, "/modules".into(), 403, "forbidden"),
    ];

    for (key, method, path, status, code) in cases {
        // Act: a malformed body, an unknown id or a bad query, behind a missing or weaker key
        let res = app
            .with_key(key, method.clone(), &path)
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        // Assert
        assert_rejected(res, &format!("{method} {path} with {key:?}"), status, code, None).await;
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_401() {
    // Arrange
    let app = spawn_app().await;
    let stored = app.key_with_role("admin").await;
    let mut near_miss = stored.clone();
    let last = near_miss.pop().unwrap();
    near_miss.push(if last == 'A' { 'B' } else { 'A' });

    let cases: Vec<(&str, &str, String)> = vec![
        ("Basic scheme", "Authorization", format!("Basic {}", app.admin_key)),
        ("Token scheme", "Authorization", format!("Token {}", app.admin_key)),
        ("bare key in Authorization", "Authorization", app.admin_key.clone()),
        ("Bearer without a key", "Authorization", "Bearer ".into()),
        ("empty X-API-Key", "X-API-Key", String::new()),
        ("configured key with a suffix", "X-API-Key", format!("{}x", app.admin_key)),
        ("configured key truncated", "X-API-Key", app.admin_key[..app.admin_key.len() - 1].to_owned()),
        ("stored key with its last character changed", "X-API-Key", near_miss),
        ("stored key's id part only", "X-API-Key", stored.splitn(3, '_').take(2).collect::<Vec<_>>().join("_")),
    ];

    for (case, header, value) in cases {
        // Act
        let res = app.client.get(app.api("/systems")).header(header, value).send().await.unwrap();
        // Assert
        assert_rejected(res, case, 401, "unauthorized", None).await;
    }
}

#[tokio::test]
async fn healthz_needs_no_key_and_ignores_a_bad_one() {
    let app = spawn_app().await;

    let res = app.client.get(app.url("/healthz")).header("X-API-Key", "wrong").send().await.unwrap();

    assert_eq!(res.status(), 200);
}
