//! Callouts: `/api/engine/v2/callouts…`. Admins change them; support keys may read them and their logs.

#[path = "callout_views.rs"]
mod views;

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery, PageQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, JsonBodyErrors, KeyRequired, NotFound};
use super::views::page_response;
use super::AppState;
use crate::domain::callout::CalloutSpec;
use crate::domain::callout_input::{CalloutIn, CalloutPatch};
use crate::domain::callout_log::LogEntry;
use crate::domain::ids::CalloutId;
use views::CalloutOut;

fn callout_id(raw: &str) -> Result<CalloutId, ApiError> {
    path_id(raw, CalloutId::parse, "callout")
}

/// List callouts
#[utoipa::path(
    get,
    path = "/api/engine/v2/callouts",
    tag = "callouts",
    operation_id = "list_callouts",
    params(PageQuery),
    responses(
        (
            status = 200,
            description = "One page of callouts (never their secrets)",
            body = [CalloutOut],
            headers(("X-Total-Count" = u64, description = "The number of callouts before paging")),
        ),
        InvalidQuery,
        KeyRequired,
    )
)]
pub(super) async fn list(
    Reader(caller): Reader,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = state.engine.list_callouts(q.page()?).await?;
    Ok(page_response(page, |c| CalloutOut::for_caller(c, &caller)))
}

/// Create a callout
///
/// The answer is the one place, with rotate-secret, where the signing `secret` (`whsec_…`) appears.
#[utoipa::path(
    post,
    path = "/api/engine/v2/callouts",
    tag = "callouts",
    operation_id = "create_callout",
    request_body(
        content = CalloutIn,
        description = "`system_id` must name an existing system",
        example = json!({
            "name": "Boardroom bookings",
            "url": "https://rooms.example.com/may-i",
            "on": ["exec"],
            "match": {"modules": ["Display_*"], "methods": ["power"]},
            "timeout_ms": 1500
        }),
    ),
    responses(
        (status = 201, description = "The callout with its `secret`", body = CalloutOut),
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
pub(super) async fn create(
    _: Admin,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: CalloutIn = json_body(&req, body).await?;
    let callout = state.engine.create_callout(CalloutSpec::try_from(input)?).await?;
    Ok(HttpResponse::Created().json(CalloutOut::with_secret(callout)))
}

/// Get a callout
#[utoipa::path(
    get,
    path = "/api/engine/v2/callouts/{id}",
    tag = "callouts",
    operation_id = "get_callout",
    params(("id" = String, Path, description = "Callout id (`co-…`)")),
    responses(
        (status = 200, description = "The callout (without its secret)", body = CalloutOut),
        NotFound,
        KeyRequired,
    )
)]
pub(super) async fn get(
    Reader(caller): Reader,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let callout = state.engine.get_callout(callout_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(CalloutOut::for_caller(callout, &caller)))
}

/// Update a callout
///
/// Takes any of the POST fields; `system_id: null` makes it apply to every system.
#[utoipa::path(
    patch,
    path = "/api/engine/v2/callouts/{id}",
    tag = "callouts",
    operation_id = "update_callout",
    params(("id" = String, Path, description = "Callout id (`co-…`)")),
    request_body(content = CalloutPatch),
    responses(
        (status = 200, description = "The callout", body = CalloutOut),
        NotFound,
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
pub(super) async fn update(
    _: Admin,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = callout_id(&id)?;
    let patch: CalloutPatch = json_body(&req, body).await?;
    let callout = state.engine.update_callout(id, patch).await?;
    Ok(HttpResponse::Ok().json(CalloutOut::from(callout)))
}

/// Delete a callout
#[utoipa::path(
    delete,
    path = "/api/engine/v2/callouts/{id}",
    tag = "callouts",
    operation_id = "delete_callout",
    params(("id" = String, Path, description = "Callout id (`co-…`)")),
    responses(
        (status = 204, description = "Deleted, with its log"),
        NotFound,
        AdminKeyRequired,
    )
)]
pub(super) async fn delete(
    _: Admin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.engine.delete_callout(callout_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate the signing secret
///
/// For `callouts.secret_grace_period_s`, requests carry signatures with both the new and the old secret.
#[utoipa::path(
    post,
    path = "/api/engine/v2/callouts/{id}/rotate-secret",
    tag = "callouts",
    operation_id = "rotate_callout_secret",
    params(("id" = String, Path, description = "Callout id (`co-…`)")),
    responses(
        (status = 200, description = "The callout with its new `secret`", body = CalloutOut),
        NotFound,
        AdminKeyRequired,
    )
)]
pub(super) async fn rotate_secret(
    _: Admin,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let callout = state.engine.rotate_callout_secret(callout_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(CalloutOut::with_secret(callout)))
}

/// The callout's log
///
/// Every request made to it, newest first: what was asked, what came back, and what was decided.
#[utoipa::path(
    get,
    path = "/api/engine/v2/callouts/{id}/log",
    tag = "callouts",
    operation_id = "list_callout_log",
    params(
        ("id" = String, Path, description = "Callout id (`co-…`)"),
        PageQuery,
    ),
    responses(
        (
            status = 200,
            description = "One page of requests",
            body = [LogEntry],
            headers(("X-Total-Count" = u64, description = "The number of entries before paging")),
        ),
        InvalidQuery,
        NotFound,
        KeyRequired,
    )
)]
pub(super) async fn log(
    _: Reader,
    id: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = callout_id(&id)?;
    let q: ListQuery = query(&req)?;
    let page = state.engine.callout_log(id, q.page()?).await?;
    Ok(page_response(page, |entry| entry))
}
