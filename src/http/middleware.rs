//! Cross-cutting request handling: request ids, metrics and the body time limit.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use crate::domain::actor::Actor;
use crate::events::context;
use crate::metrics::{route_group, METRICS};

pub const REQUEST_ID: &str = "x-request-id";

/// How long a client may take to send a whole request body (`webhook.body_timeout_ms`): app data
/// that `http::input::BodyReader` reads.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// The request's id: the caller's `X-Request-ID` if it is a sane token, else a new UUIDv7.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn accepted(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_graphic())
}

/// Assigns the request id (for the log span and handlers), echoes it, and records metrics.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| accepted(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    // The decoded path, as the router sees it: `/%77ebhook/…` is a webhook call too.
    let group = route_group(req.match_info().as_str());
    // Events the request causes carry its id, and its actor once the key or webhook call is known.
    let mut res = context::within(Some(id.clone()), Actor::System, next.call(req)).await?;
    let status = res.status().as_u16();
    METRICS.observe_http(group, status, started.elapsed());
    if group == "webhook" {
        METRICS.webhook_outcome(status);
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static(REQUEST_ID), value);
    }
    Ok(res)
}
