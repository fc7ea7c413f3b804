//! HTTP handlers: they parse requests into typed input, call the engine and map its answers.

mod api_keys;
mod auth;
mod drivers;
pub mod errors;
mod events;
mod health;
mod input;
mod instances;
pub mod middleware;
mod module_calls;
mod modules;
mod outbound;
mod systems;
mod triggers;
mod views;
mod webhook;

use std::sync::Arc;

use actix_web::web;

use crate::engine::Engine;

pub struct AppState {
    pub engine: Arc<Engine>,
    /// Largest trigger webhook body accepted.
    pub max_body_bytes: usize,
    pub readiness: Arc<crate::readiness::Readiness>,
    /// Base of the webhook URLs shown to admins, without a trailing slash.
    pub public_url: String,
}

/// A resource that answers methods it does not have with a JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(health::method_not_allowed))
}

/// The whole route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .service(
            web::scope("/api/engine/v2")
                .service(
                    resource("/systems").route(web::get().to(systems::list)).route(web::post().to(systems::create)),
                )
                .service(
                    resource("/systems/{id}")
                        .route(web::get().to(systems::get))
                        .route(web::put().to(systems::replace))
                        .route(web::patch().to(systems::update))
                        .route(web::delete().to(systems::delete)),
                )
                .route("/systems/{id}/modules", web::get().to(systems::modules))
                .service(
                    resource("/systems/{id}/triggers")
                        .route(web::get().to(instances::list))
                        .route(web::post().to(instances::create)),
                )
                .service(
                    resource("/systems/{id}/triggers/{trig_id}")
                        .route(web::get().to(instances::get))
                        .route(web::patch().to(instances::update))
                        .route(web::delete().to(instances::delete)),
                )
                .route("/systems/{id}/triggers/{trig_id}/secret", web::post().to(instances::rotate_secret))
                .route("/systems/{id}/triggers/{trig_id}/state", web::get().to(instances::state))
                .route("/systems/{id}/{module}", web::get().to(module_calls::status))
                .route("/systems/{id}/{module}/{method}", web::post().to(module_calls::call))
                .service(
                    resource("/modules").route(web::get().to(modules::list)).route(web::post().to(modules::create)),
                )
                .service(
                    resource("/modules/{id}")
                        .route(web::get().to(modules::get))
                        .route(web::put().to(modules::replace))
                        .route(web::patch().to(modules::update))
                        .route(web::delete().to(modules::delete)),
                )
                .service(
                    resource("/triggers").route(web::get().to(triggers::list)).route(web::post().to(triggers::create)),
                )
                .service(
                    resource("/triggers/{id}")
                        .route(web::get().to(triggers::get))
                        .route(web::put().to(triggers::replace))
                        .route(web::patch().to(triggers::update))
                        .route(web::delete().to(triggers::delete)),
                )
                .route("/triggers/{id}/instances", web::get().to(triggers::instances))
                .service(
                    resource("/api_keys").route(web::get().to(api_keys::list)).route(web::post().to(api_keys::create)),
                )
                .service(
                    resource("/api_keys/{id}")
                        .route(web::get().to(api_keys::get))
                        .route(web::delete().to(api_keys::delete)),
                )
                .route("/drivers", web::get().to(drivers::list))
                .route("/events", web::get().to(events::stream))
                .configure(outbound::routes)
                .route("/webhook/{trig_id}/notify", web::route().to(webhook::notify))
                .route("/webhook/{trig_id}/notify/{secret}", web::route().to(webhook::notify))
                .route("/webhook/{trig_id}/notify/{secret}/{mod}/{index}/{method}", web::route().to(webhook::notify)),
        )
        .default_service(web::to(health::unknown_route));
}
