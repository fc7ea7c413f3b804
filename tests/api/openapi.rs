//! `GET /api/engine/v2/openapi.json`: the OpenAPI document describes exactly the routes the server has
//! (`switchboard::http::ROUTES`, generated from the same table that registers them).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use switchboard::http::ROUTES;

use crate::helpers::*;

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

async fn fetch_document(app: &TestApp) -> Value {
    let res = app.client.get(app.api("/openapi.json")).send().await.expect("request sent");
    assert_eq!(res.status(), 200, "the document is served without a key");
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "content-type: {content_type}");
    res.json().await.expect("the document is JSON")
}

/// Every `(METHOD, path)` operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item is an object").keys() {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_openapi_3_and_served_without_a_key() {
    let app = spawn_app().await;

    let doc = fetch_document(&app).await;

    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi version: {:?}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Switchboard");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = doc["components"]["securitySchemes"].as_object().expect("security schemes");
    assert_eq!(schemes["api_key"]["type"], "apiKey");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn every_route_is_in_the_document() {
    let app = spawn_app().await;

    let doc = fetch_document(&app).await;

    assert!(!ROUTES.is_empty());
    let paths = doc["paths"].as_object().expect("the document has paths");
    for (method, path) in ROUTES {
        let item =
            paths.get(*path).unwrap_or_else(|| panic!("{method} {path}: the path is not in the OpenAPI document"));
        let key = method.to_lowercase();
        assert!(item.get(&key).is_some(), "{method} {path}: the method is not in the OpenAPI document");
    }
}

#[tokio::test]
async fn the_document_has_no_route_the_server_lacks() {
    let app = spawn_app().await;

    let doc = fetch_document(&app).await;

    let routed: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    for (method, path) in documented(&doc) {
        assert!(routed.contains(&(method.clone(), path.clone())), "{method} {path} is documented but not in ROUTES");
    }
}

/// `ROUTES` is what the server routes: each listed route, called with placeholder path segments and no
/// body, reaches a handler (whatever it answers) rather than the JSON 404 for unknown routes or a 405.
#[tokio::test]
async fn every_listed_route_is_served() {
    let app = spawn_app().await;

    for (method, path) in ROUTES {
        let concrete: Vec<&str> =
            path.split('/').map(|s| if s.starts_with('{') && s.ends_with('}') { "x" } else { s }).collect();
        let url = app.url(&concrete.join("/"));
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let res = app.client.request(method.clone(), &url).header("X-API-Key", &app.admin_key).send().await.unwrap();

        let status = res.status();
        assert_ne!(status, 405, "{method} {path} answered 405");
        if status == 404 {
            let body: Value = res.json().await.unwrap_or_default();
            assert_ne!(body["message"], "route not found", "{method} {path} is not routed");
        }
        // Anything else reached a handler; `/events` is a stream that is dropped here unread.
    }
}

/// Each path's routed methods, in table order (the trigger webhooks, which take every method and decide
/// themselves, are left out).
fn routed_methods() -> std::collections::BTreeMap<&'static str, Vec<&'static str>> {
    let mut by_path: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (method, path) in ROUTES.iter().filter(|(_, path)| !path.contains("/webhook/")) {
        by_path.entry(path).or_default().push(method);
    }
    by_path
}

/// RFC 9110: a 405 says which methods the resource has. Every admin route, single-method ones included,
/// answers a method it lacks with 405 `method_not_allowed` and `Allow`, not 404.
#[tokio::test]
async fn every_other_method_is_405_with_allow() {
    let app = spawn_app().await;

    for (path, methods) in routed_methods() {
        let concrete: Vec<&str> =
            path.split('/').map(|s| if s.starts_with('{') && s.ends_with('}') { "x" } else { s }).collect();
        let url = app.url(&concrete.join("/"));
        for other in ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE"].iter().filter(|m| !methods.contains(m)) {
            let method = Method::from_bytes(other.as_bytes()).unwrap();
            let res = app.client.request(method, &url).header("X-API-Key", &app.admin_key).send().await.unwrap();
            let case = format!("{other} {path}");
            assert_eq!(res.status(), 405, "[{case}]");
            let allow = res.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(allow, Some(methods.join(", ")), "[{case}] Allow");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"], "method_not_allowed", "[{case}]");
            assert!(body["message"].as_str().is_some_and(|m| m.contains(&methods.join(", "))), "[{case}] {body}");
        }
    }
}

/// A JSON body schema that says nothing but "an object".
fn is_bare_object(schema: &Value) -> bool {
    schema.get("type") == Some(&Value::from("object"))
        && ["properties", "additionalProperties", "$ref", "oneOf", "allOf", "anyOf"]
            .iter()
            .all(|k| schema.get(k).is_none())
}

/// Every JSON request body and success response names its fields: none is a bare `{"type": "object"}`
/// (this document itself aside).
#[tokio::test]
async fn no_json_body_is_a_bare_object() {
    let app = spawn_app().await;

    let doc = fetch_document(&app).await;

    let mut bare = Vec::new();
    for (method, path) in documented(&doc).into_iter().filter(|(_, path)| !path.ends_with("/openapi.json")) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let request = &op["requestBody"]["content"]["application/json"]["schema"];
        let successes = op["responses"].as_object().into_iter().flatten().filter(|(status, _)| status.starts_with('2'));
        let responses = successes.map(|(_, r)| &r["content"]["application/json"]["schema"]);
        for schema in std::iter::once(request).chain(responses) {
            let schema = schema.get("items").unwrap_or(schema);
            if is_bare_object(schema) {
                bare.push(format!("{method} {path}"));
            }
        }
    }
    assert!(bare.is_empty(), "bodies documented as a bare object: {bare:?}");
}
