//! `GET /api/engine/v2/events`: a Server-Sent Events stream of engine events (trigger fires, resets and
//! state changes, module status changes, …), optionally for one system, for a backoffice page that
//! watches live.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::auth::Reader;
use super::errors::ApiError;
use super::input::query;
use super::openapi::{InvalidQuery, KeyRequired};
use super::AppState;
use crate::domain::SystemId;
use crate::events::EngineEvent;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only this system's events (`sys-…`).
    system_id: Option<SystemId>,
}

/// One Server-Sent Event as the stream carries it (comment lines keep the connection alive).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the frames `frame` writes
struct SseEvent {
    /// The event's `id` (`evt_…`).
    id: String,
    /// The event type, e.g. `trigger.fired`.
    event: String,
    /// The whole event as JSON: the `Event` schema of `GET /webhooks/event_types`.
    data: String,
}

fn frame(event: &EngineEvent) -> Bytes {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("id: {}\nevent: {}\ndata: {data}\n\n", event.id, event.event))
}

/// Stream engine events
///
/// A `text/event-stream` of engine events (`id:`, `event:` and a JSON `data:` envelope per event) with a
/// comment line every 15 s to keep the connection open.
#[utoipa::path(
    get,
    path = "/api/engine/v2/events",
    tag = "events",
    operation_id = "stream_events",
    params(EventsQuery),
    responses(
        (
            status = 200,
            description = "Server-Sent Events, until the client disconnects; each event's `data` is an `Event`",
            body = SseEvent,
            content_type = "text/event-stream",
        ),
        InvalidQuery,
        KeyRequired,
    )
)]
pub async fn stream(_: Reader, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: EventsQuery = query(&req)?;
    // The stream lasts while the key does: a deleted key's stream ends at its next event or keep-alive.
    let key = super::auth::presented_key(&req).unwrap_or_default().to_owned();
    let engine = std::sync::Arc::clone(&state.engine);
    let allowed = move || engine.authenticate(&key).is_some();
    Ok(event_stream(&state, q.system_id.map(|s| s.to_string()), allowed))
}

/// The Server-Sent Events answer: every engine event from now on, or only `system`'s, for as long as
/// `allowed` holds (asked before each event and keep-alive).
pub(crate) fn event_stream(
    state: &AppState,
    system: Option<String>,
    allowed: impl Fn() -> bool + 'static,
) -> HttpResponse {
    let events = state.engine.events().subscribe();
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.reset();
    let opening = stream::once(async { Ok::<_, actix_web::Error>(Bytes::from_static(b": connected\n\n")) });
    let allowed = std::rc::Rc::new(allowed);
    let body = stream::unfold((events, keep_alive, system), move |(mut events, mut keep_alive, system)| {
        let allowed = std::rc::Rc::clone(&allowed);
        async move {
            loop {
                let chunk = tokio::select! {
                    received = events.recv() => match received {
                        Ok(event) if system.is_none() || event.system_id == system => frame(&event),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(missed)) => Bytes::from(format!(": missed {missed} events\n\n")),
                        Err(RecvError::Closed) => return None,
                    },
                    _ = keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
                };
                if !allowed() {
                    return None;
                }
                return Some((Ok::<_, actix_web::Error>(chunk), (events, keep_alive, system)));
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(futures_util::StreamExt::chain(opening, body))
}
