//! Extractors that admit a request by its API key: [`Reader`] for reads, [`Admin`] for changes.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::errors::ApiError;
use super::AppState;
use crate::engine::Caller;
use crate::events::context;

pub(super) fn presented_key(req: &HttpRequest) -> Option<&str> {
    if let Some(key) = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

fn caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("application state is not configured".into()))?;
    let (caller, actor) =
        presented_key(req).and_then(|key| state.engine.authenticate(key)).ok_or_else(ApiError::unauthorized)?;
    context::set_actor(actor);
    Ok(caller)
}

/// Any valid key.
pub struct Reader(pub Caller);

impl FromRequest for Reader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(req).map(Reader))
    }
}

/// An admin key; a valid key of a lesser role is a 403.
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(req).and_then(|c| if c.is_admin() { Ok(Admin(c)) } else { Err(ApiError::forbidden()) }))
    }
}
