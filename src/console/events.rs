//! Live events: the engine's event stream for the console's pages (the same stream as the API's
//! `/events`, admitted by the session), and a page that tails it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::page::{page, select, shell, ConsoleError};
use super::session::{Sessions, Signed};
use crate::domain::SystemId;
use crate::http::AppState;
use crate::outbound::subscription::EventType;
use crate::store::PageRequest;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/events", web::get().to(tail)).route("/events/stream", web::get().to(stream));
}

#[derive(Deserialize)]
struct SystemQuery {
    #[serde(default)]
    system_id: String,
}

fn system_of(q: &SystemQuery) -> Option<String> {
    SystemId::parse(&q.system_id).map(|s| s.to_string())
}

/// Lasts while the session does: it ends at the next event or keep-alive after sign-out, idle expiry
/// or the deletion of the session's key.
async fn stream(
    signed: Signed,
    q: web::Query<SystemQuery>,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
) -> HttpResponse {
    let engine = std::sync::Arc::clone(&state.engine);
    let allowed = move || sessions.key_if_live(&signed.token).is_some_and(|key| engine.authenticate(&key).is_some());
    crate::http::events::event_stream(&state, system_of(&q), allowed)
}

async fn tail(
    signed: Signed,
    q: web::Query<SystemQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let systems = state.engine.list_systems(None, PageRequest { offset: 0, limit: 500 }).await?;
    let mut options = vec![(String::new(), "Every system".to_owned())];
    options.extend(systems.items.iter().map(|s| (s.id.to_string(), s.name.clone())));
    let system = system_of(&q).unwrap_or_default();
    Ok(page(
        StatusCode::OK,
        shell(
            "Live events",
            Some(&signed),
            html! {
                h1 { "Live events" }
                form.search method="get" action="/console/events" {
                    (select("system_id", "System", &options, &system, &None))
                    button type="submit" { "Show" }
                }
                p { "Events appear here as they happen, newest first." }
                ol.events data-event-tail=(system) data-kinds=(kinds()) aria-live="polite" {}
            },
        ),
    ))
}

/// Every event type's name, for the page's script to listen to.
fn kinds() -> String {
    EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" ")
}
