//! The OpenAPI 3 document served at `GET /api/engine/v2/openapi.json`, generated from the handlers'
//! `#[utoipa::path]` attributes and the `ToSchema` derives of the very types requests are parsed into
//! and responses serialised from, so the schemas cannot drift from the code.
//!
//! It must describe exactly the routes in [`super::ROUTES`]: the tests below and `tests/api/openapi.rs`
//! fail naming any route that is missing from it, or any operation it has that the server does not route;
//! `tests/api/schemathesis.rs` checks that the server behaves as it says.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::PathItem;
use utoipa::{IntoResponses, Modify, OpenApi};

use super::errors::{ApiError, ErrorBody};
use super::{
    api_keys, callouts, drivers, events, health, instances, module_calls, modules, outbound, receipts, runs, systems,
    triggers, webhook,
};

/// The document. Every operation needs `X-API-Key` or `Authorization: Bearer` unless it says otherwise
/// (the trigger webhooks, whose secret is the credential, the health and metrics routes, and this document).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "A trigger-and-module automation engine with PlaceOS-compatible webhooks. Errors are \
                       `{\"error\": \"stable_code\", \"message\": \"…\"}` (422s add `field`); anything \
                       unexpected is a logged, opaque 500 `internal_error`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        systems::list,
        systems::create,
        systems::get,
        systems::replace,
        systems::update,
        systems::delete,
        systems::modules,
        instances::list,
        instances::create,
        instances::get,
        instances::update,
        instances::delete,
        instances::rotate_secret,
        instances::state,
        instances::set_verification_secret,
        receipts::list,
        receipts::get,
        receipts::replay,
        runs::list,
        runs::get,
        runs::retry,
        module_calls::status,
        module_calls::call,
        modules::list,
        modules::create,
        modules::get,
        modules::replace,
        modules::update,
        modules::delete,
        triggers::list,
        triggers::create,
        triggers::get,
        triggers::replace,
        triggers::update,
        triggers::delete,
        triggers::instances,
        api_keys::list,
        api_keys::create,
        api_keys::get,
        api_keys::delete,
        drivers::list,
        events::stream,
        callouts::list,
        callouts::create,
        callouts::get,
        callouts::update,
        callouts::delete,
        callouts::rotate_secret,
        callouts::log,
        outbound::list,
        outbound::create,
        outbound::event_types,
        outbound::get,
        outbound::update,
        outbound::delete,
        outbound::enable,
        outbound::rotate_secret,
        outbound::test,
        outbound::deliveries,
        webhook::notify,
        webhook::notify_with_secret,
        webhook::notify_exec,
        serve,
    ),
    // The types named in `body = …` are collected from the paths; `ErrorBody` is only named by the
    // reusable error answers below, which are not.
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes, &UniqueOperationIds),
    security(("api_key" = []), ("bearer" = [])),
    tags(
        (name = "health", description = "Liveness, readiness and Prometheus metrics; no key needed"),
        (name = "systems", description = "Control systems and the modules in them"),
        (name = "modules", description = "Modules (driver instances) and calls to their functions"),
        (name = "triggers", description = "Trigger definitions: conditions, actions, webhook settings"),
        (name = "trigger instances", description = "Triggers applied to a system, with their state and secret"),
        (name = "trigger webhooks", description = "Called by external services; the secret is the credential"),
        (name = "outbound webhooks", description = "Subscriptions that receive engine events, and their delivery logs"),
        (
            name = "callouts",
            description = "Outside services asked before an exec or a run of actions goes ahead, and their logs"
        ),
        (name = "api keys", description = "Admin and support API keys (admin only)"),
        (name = "drivers", description = "Registered drivers"),
        (name = "events", description = "Live engine events as Server-Sent Events"),
        (name = "openapi", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The two ways to present an API key, named by the document's `security` requirements.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An admin or support API key (`sbk_…`)",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The same API key as `Authorization: Bearer KEY`"))
                    .build(),
            ),
        );
    }
}

/// An operation documented for several methods at once (the trigger webhooks) is one operation under
/// each method; OpenAPI wants every `operationId` unique, so each copy gets its method as a suffix.
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = operations_mut(item);
            if operations.len() < 2 {
                continue;
            }
            let first = operations[0].1.operation_id.clone();
            if operations.iter().all(|(_, op)| op.operation_id == first) {
                for (method, op) in operations {
                    if let Some(id) = &mut op.operation_id {
                        id.push('_');
                        id.push_str(method);
                    }
                }
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/engine/v2/openapi.json",
    tag = "openapi",
    operation_id = "openapi_document",
    security(()),
    responses((status = 200, description = "The OpenAPI document of this API", body = Object))
)]
pub(super) async fn serve() -> Result<HttpResponse, ApiError> {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let document = match DOCUMENT.get() {
        Some(document) => document,
        None => {
            let json = ApiDoc::openapi().to_json().map_err(|e| ApiError::Internal(e.to_string()))?;
            DOCUMENT.get_or_init(|| json)
        }
    };
    Ok(HttpResponse::Ok().content_type(mime::APPLICATION_JSON).body(document.as_str()))
}

// Reusable error answers for the handlers' `responses(...)`. They only describe responses; nothing
// constructs them.

/// The error answers of a route that takes any valid API key.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(super) enum KeyRequired {
    /// `unauthorized`: no API key, or one that is not known.
    #[response(status = 401)]
    Unauthorized(ErrorBody<'static>),
}

/// The error answers of a route that takes an admin key.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(super) enum AdminKeyRequired {
    /// `unauthorized`: no API key, or one that is not known.
    #[response(status = 401)]
    Unauthorized(ErrorBody<'static>),
    /// `forbidden`: a support key, which may only read.
    #[response(status = 403)]
    Forbidden(ErrorBody<'static>),
}

/// The error answers of reading a JSON object body into an input type.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(super) enum JsonBodyErrors {
    /// `invalid_json` (malformed, or not an object), `unsupported_content_type` (not `application/json`)
    /// or `invalid_body`.
    #[response(status = 400)]
    BadRequest(ErrorBody<'static>),
    /// `payload_too_large`: the body is over 1 MiB.
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody<'static>),
    /// `body_timeout`: the body did not arrive within `webhook.body_timeout_ms`; the connection is closed.
    #[response(status = 408)]
    BodyTimeout(ErrorBody<'static>),
    /// `invalid_field`: a field is missing, unknown, of the wrong type or not valid; `field` names it
    /// (`name`, `modules[0]`, `conditions.comparisons[0].operator`, `settings.url`, …).
    #[response(status = 422)]
    Unprocessable(ErrorBody<'static>),
}

/// `invalid_query`: a query parameter has a value of the wrong type or holds a NUL character (`%00`),
/// or `limit` is over 10000.
#[derive(IntoResponses)]
#[response(status = 400)]
#[allow(dead_code)]
pub(super) struct InvalidQuery(ErrorBody<'static>);

/// `not_found`: the path names nothing that exists (a malformed id included).
#[derive(IntoResponses)]
#[response(status = 404)]
#[allow(dead_code)]
pub(super) struct NotFound(ErrorBody<'static>);

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use serde_json::Value;

    use super::*;
    use crate::http::ROUTES;

    const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("the document serialises")
    }

    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        let paths = doc["paths"].as_object().expect("paths is an object");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("a path item is an object");
                item.keys().filter(|k| METHODS.contains(&k.as_str())).map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect()
    }

    #[test]
    fn every_route_is_documented_and_nothing_else() {
        let doc = document();
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "not OpenAPI 3: {}", doc["openapi"]);
        let documented = operations(&doc);
        let routed: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        assert_eq!(routed.len(), ROUTES.len(), "ROUTES lists a route twice");
        for (method, path) in &routed {
            assert!(
                documented.contains(&(method.clone(), path.clone())),
                "{method} {path} is not in the OpenAPI document"
            );
        }
        for (method, path) in &documented {
            assert!(routed.contains(&(method.clone(), path.clone())), "{method} {path} is documented but not routed");
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = HashSet::new();
        for (method, path) in operations(&doc) {
            let id = doc["paths"][&path][method.to_lowercase()]["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_owned();
            assert!(seen.insert(id.clone()), "operationId {id} is used twice ({method} {path})");
        }
    }

    #[test]
    fn every_path_parameter_is_declared() {
        let doc = document();
        for (method, path) in operations(&doc) {
            let op = &doc["paths"][&path][method.to_lowercase()];
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|params| params.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            let in_template: BTreeSet<&str> =
                path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
            assert_eq!(declared, in_template, "{method} {path}: path parameters");
        }
    }

    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty(), "the document references no schema");
        for r in found {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} is not a local reference"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    /// Only the trigger webhooks, health, metrics and this document go without a key; everything else
    /// inherits the document's key requirement.
    #[test]
    fn only_public_routes_waive_the_key() {
        let doc = document();
        let schemes = doc["components"]["securitySchemes"].as_object().expect("security schemes");
        assert_eq!(schemes["api_key"]["name"], "X-API-Key");
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(doc["security"], serde_json::json!([{"api_key": []}, {"bearer": []}]));
        for (method, path) in operations(&doc) {
            let op = &doc["paths"][&path][method.to_lowercase()];
            let public = !path.starts_with("/api/engine/v2/")
                || path.starts_with("/api/engine/v2/webhook/")
                || path == "/api/engine/v2/openapi.json";
            if public {
                assert_eq!(op["security"], serde_json::json!([{}]), "{method} {path} should need no key");
            } else {
                assert!(op.get("security").is_none(), "{method} {path} should need a key");
            }
        }
    }
}
