//! HTTP handlers: they parse requests into typed input, call the engine and map its answers.

mod api_keys;
mod auth;
mod callouts;
mod drivers;
pub mod errors;
pub(crate) mod events;
mod health;
mod input;
mod instances;
pub mod middleware;
mod module_calls;
mod modules;
pub mod openapi;
mod outbound;
pub(crate) mod receipts;
mod runs;
mod systems;
mod triggers;
mod views;
pub(crate) mod webhook;
pub(crate) mod webhook_call;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::web;

use crate::engine::Engine;

pub struct AppState {
    pub engine: Arc<Engine>,
    /// Largest trigger webhook body accepted.
    pub max_body_bytes: usize,
    /// The part of a webhook body kept in its receipt.
    pub receipt_body_bytes: usize,
    pub readiness: Arc<crate::readiness::Readiness>,
    /// Base of the webhook URLs shown to admins, without a trailing slash.
    pub public_url: String,
}

/// A resource that answers the methods it does not have with a JSON 405 whose `Allow` (RFC 9110) lists
/// the ones it has.
fn resource(path: &str, methods: &[&str]) -> actix_web::Resource {
    let allow = methods.join(", ");
    web::resource(path).default_service(web::to(move || {
        let allow = allow.clone();
        async move { Err::<actix_web::HttpResponse, _>(errors::ApiError::route_method_not_allowed(allow)) }
    }))
}

/// Registers one route-table entry (see [`route_table!`]) on a `ServiceConfig`.
macro_rules! register_route {
    ($cfg:ident; resource $path:literal { $($method:ident => $handler:path),+ $(,)? }) => {
        $cfg.service(
            resource($path, &[$(stringify!($method)),+])$(.route(web::method(Method::$method).to($handler)))+
        );
    };
    ($cfg:ident; any $path:literal { $handler:path $(,)? }) => {
        $cfg.route($path, web::route().to($handler));
    };
}

/// Flattens the route table's sections into `(METHOD, full path)` pairs, in table order.
macro_rules! route_list {
    ([$($out:tt)*]) => {
        &[$($out)*]
    };
    ([$($out:tt)*] $prefix:literal {} $($sections:tt)*) => {
        route_list!([$($out)*] $($sections)*)
    };
    ([$($out:tt)*] $prefix:literal { any $path:literal { $handler:path $(,)? } $($rest:tt)* } $($sections:tt)*) => {
        route_list!(
            [
                $($out)*
                ("GET", concat!($prefix, $path)),
                ("POST", concat!($prefix, $path)),
                ("PUT", concat!($prefix, $path)),
                ("PATCH", concat!($prefix, $path)),
                ("DELETE", concat!($prefix, $path)),
            ]
            $prefix { $($rest)* } $($sections)*
        )
    };
    (
        [$($out:tt)*]
        $prefix:literal { $kind:ident $path:literal { $($method:ident => $handler:path),+ $(,)? } $($rest:tt)* }
        $($sections:tt)*
    ) => {
        route_list!(
            [$($out)* $((stringify!($method), concat!($prefix, $path)),)+]
            $prefix { $($rest)* } $($sections)*
        )
    };
}

/// The route table, written once: it expands to [`routes`], which registers it with actix in table
/// order, and to [`ROUTES`], which lists every `(METHOD, full path)` pair for the OpenAPI test.
///
/// Entry kinds:
/// - `resource PATH { METHOD => handler, … }`: one resource; other methods get the JSON 405 with `Allow`.
/// - `any PATH { handler }`: every method reaches the handler, which decides (trigger webhooks, which
///   answer GET, HEAD, POST, PUT, PATCH and DELETE). Listed in `ROUTES` as GET, POST, PUT, PATCH and
///   DELETE; HEAD is implied by GET.
///
/// Order matters to actix: a literal segment must come before a `{param}` that would also match it.
macro_rules! route_table {
    (
        root { $($rk:ident $rpath:literal { $($rbody:tt)* })* }
        scope $prefix:literal { $($sk:ident $spath:literal { $($sbody:tt)* })* }
    ) => {
        /// The whole route table: the entries outside and inside the API scope, then the JSON 404.
        pub fn routes(cfg: &mut web::ServiceConfig) {
            $(register_route!(cfg; $rk $rpath { $($rbody)* });)*
            cfg.service(web::scope($prefix).configure(|cfg| {
                $(register_route!(cfg; $sk $spath { $($sbody)* });)*
            }))
            .default_service(web::to(health::unknown_route));
        }

        /// Every `(METHOD, full path)` the server routes, in registration order. The OpenAPI document must
        /// describe exactly these (see `openapi.rs` and `tests/api/openapi.rs`).
        pub const ROUTES: &[(&str, &str)] = route_list!(
            []
            "" { $($rk $rpath { $($rbody)* })* }
            $prefix { $($sk $spath { $($sbody)* })* }
        );
    };
}

route_table! {
    root {
        resource "/healthz" { GET => health::healthz }
        resource "/readyz" { GET => health::readyz }
        resource "/metrics" { GET => health::metrics }
    }
    scope "/api/engine/v2" {
        // First: the hot path, matched before every other pattern is tried.
        any "/webhook/{trig_id}/notify" { webhook::notify }
        any "/webhook/{trig_id}/notify/{secret}" { webhook::notify_with_secret }
        any "/webhook/{trig_id}/notify/{secret}/{mod}/{index}/{method}" { webhook::notify_exec }
        resource "/systems" { GET => systems::list, POST => systems::create }
        resource "/systems/{id}" {
            GET => systems::get,
            PUT => systems::replace,
            PATCH => systems::update,
            DELETE => systems::delete,
        }
        // Before `/systems/{id}/{module}`, which would take `modules` and `triggers` for a module.
        resource "/systems/{id}/modules" { GET => systems::modules }
        resource "/systems/{id}/triggers" { GET => instances::list, POST => instances::create }
        resource "/systems/{id}/triggers/{trig_id}" {
            GET => instances::get,
            PATCH => instances::update,
            DELETE => instances::delete,
        }
        resource "/systems/{id}/triggers/{trig_id}/secret" { POST => instances::rotate_secret }
        resource "/systems/{id}/triggers/{trig_id}/state" { GET => instances::state }
        resource "/systems/{id}/triggers/{trig_id}/verification_secret" { POST => instances::set_verification_secret }
        resource "/systems/{id}/triggers/{trig_id}/receipts" { GET => receipts::list }
        resource "/systems/{id}/triggers/{trig_id}/receipts/{rcpt_id}" { GET => receipts::get }
        resource "/systems/{id}/triggers/{trig_id}/receipts/{rcpt_id}/replay" { POST => receipts::replay }
        resource "/systems/{id}/triggers/{trig_id}/runs" { GET => runs::list }
        resource "/systems/{id}/triggers/{trig_id}/runs/{run_id}" { GET => runs::get }
        resource "/systems/{id}/triggers/{trig_id}/runs/{run_id}/retry" { POST => runs::retry }
        resource "/systems/{id}/{module}" { GET => module_calls::status }
        resource "/systems/{id}/{module}/{method}" { POST => module_calls::call }
        resource "/modules" { GET => modules::list, POST => modules::create }
        resource "/modules/{id}" {
            GET => modules::get,
            PUT => modules::replace,
            PATCH => modules::update,
            DELETE => modules::delete,
        }
        resource "/triggers" { GET => triggers::list, POST => triggers::create }
        resource "/triggers/{id}" {
            GET => triggers::get,
            PUT => triggers::replace,
            PATCH => triggers::update,
            DELETE => triggers::delete,
        }
        resource "/triggers/{id}/instances" { GET => triggers::instances }
        resource "/api_keys" { GET => api_keys::list, POST => api_keys::create }
        resource "/api_keys/{id}" { GET => api_keys::get, DELETE => api_keys::delete }
        resource "/drivers" { GET => drivers::list }
        resource "/events" { GET => events::stream }
        // Outbound webhook subscriptions. `/webhooks/event_types` comes before `/webhooks/{id}` so that it
        // is not taken for an id.
        resource "/webhooks" { GET => outbound::list, POST => outbound::create }
        resource "/webhooks/event_types" { GET => outbound::event_types }
        resource "/webhooks/{id}" {
            GET => outbound::get,
            PATCH => outbound::update,
            DELETE => outbound::delete,
        }
        resource "/webhooks/{id}/enable" { POST => outbound::enable }
        resource "/webhooks/{id}/rotate-secret" { POST => outbound::rotate_secret }
        resource "/webhooks/{id}/test" { POST => outbound::test }
        resource "/webhooks/{id}/deliveries" { GET => outbound::deliveries }
        resource "/callouts" { GET => callouts::list, POST => callouts::create }
        resource "/callouts/{id}" {
            GET => callouts::get,
            PATCH => callouts::update,
            DELETE => callouts::delete,
        }
        resource "/callouts/{id}/rotate-secret" { POST => callouts::rotate_secret }
        resource "/callouts/{id}/log" { GET => callouts::log }
        resource "/openapi.json" { GET => openapi::serve }
    }
}
