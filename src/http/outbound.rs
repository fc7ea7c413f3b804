//! Outbound webhook subscriptions: `/api/engine/v2/webhooks…`. Admins change them; support keys may
//! read them and their delivery logs.

#[path = "outbound_views.rs"]
mod views;

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery, PageQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, JsonBodyErrors, KeyRequired, NotFound};
use super::views::page_response;
use crate::domain::ids::SubscriptionId;
use crate::outbound::subscription::{NewSubscription, SubscriptionIn, SubscriptionPatch};
use crate::outbound::{catalog, Outbound, OutboundError};
use views::{AttemptOut, SubscriptionOut};

impl From<OutboundError> for ApiError {
    fn from(e: OutboundError) -> Self {
        match e {
            OutboundError::NotFound => Self::not_found("webhook subscription"),
            OutboundError::Invalid(v) => Self::invalid(v),
            other => Self::Internal(other.to_string()),
        }
    }
}

fn subscription_id(raw: &str) -> Result<SubscriptionId, ApiError> {
    path_id(raw, SubscriptionId::parse, "webhook subscription")
}

/// List subscriptions
#[utoipa::path(
    get,
    path = "/api/engine/v2/webhooks",
    tag = "outbound webhooks",
    operation_id = "list_subscriptions",
    params(ListQuery),
    responses(
        (
            status = 200,
            description = "One page of subscriptions (never their secrets)",
            body = [SubscriptionOut],
            headers(("X-Total-Count" = u64, description = "The number of matches before paging")),
        ),
        InvalidQuery,
        KeyRequired,
    )
)]
pub(super) async fn list(
    Reader(caller): Reader,
    req: HttpRequest,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = outbound.list(q.search(), q.page()?).await?;
    Ok(page_response(page, |sub| SubscriptionOut::for_caller(sub, &caller)))
}

/// Create a subscription
///
/// The answer is the one place, with rotate-secret, where the signing `secret` (`whsec_…`) appears.
#[utoipa::path(
    post,
    path = "/api/engine/v2/webhooks",
    tag = "outbound webhooks",
    operation_id = "create_subscription",
    request_body(
        content = SubscriptionIn,
        description = "`system_id` must name an existing system",
        example = json!({
            "name": "Ops",
            "url": "https://ops.example.com/hooks",
            "events": ["trigger.fired", "subscription.paused"]
        }),
    ),
    responses(
        (status = 201, description = "The subscription with its `secret`", body = SubscriptionOut),
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
pub(super) async fn create(
    _: Admin,
    req: HttpRequest,
    body: web::Payload,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let input: SubscriptionIn = json_body(&req, body).await?;
    let sub = outbound.create(NewSubscription::try_from(input)?).await?;
    Ok(HttpResponse::Created().json(SubscriptionOut::with_secret(sub)))
}

/// List event types
///
/// Every event type with a description and an example body (the envelope sent to subscribers).
#[utoipa::path(
    get,
    path = "/api/engine/v2/webhooks/event_types",
    tag = "outbound webhooks",
    operation_id = "list_event_types",
    responses(
        (status = 200, description = "The event types", body = [catalog::EventTypeInfo]),
        KeyRequired,
    )
)]
pub(super) async fn event_types(_: Reader) -> HttpResponse {
    HttpResponse::Ok().json(catalog::event_types())
}

/// Get a subscription
#[utoipa::path(
    get,
    path = "/api/engine/v2/webhooks/{id}",
    tag = "outbound webhooks",
    operation_id = "get_subscription",
    params(("id" = String, Path, description = "Subscription id (`wh-…`)")),
    responses(
        (status = 200, description = "The subscription (without its secret)", body = SubscriptionOut),
        NotFound,
        KeyRequired,
    )
)]
pub(super) async fn get(
    Reader(caller): Reader,
    id: web::Path<String>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let sub = outbound.get(subscription_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(SubscriptionOut::for_caller(sub, &caller)))
}

/// Update a subscription
///
/// Takes any of the POST fields; `system_id: null` and `auth_header: null` clear them.
#[utoipa::path(
    patch,
    path = "/api/engine/v2/webhooks/{id}",
    tag = "outbound webhooks",
    operation_id = "update_subscription",
    params(("id" = String, Path, description = "Subscription id (`wh-…`)")),
    request_body(content = SubscriptionPatch),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionOut),
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
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let id = subscription_id(&id)?;
    let patch: SubscriptionPatch = json_body(&req, body).await?;
    let sub = outbound.update(id, patch).await?;
    Ok(HttpResponse::Ok().json(SubscriptionOut::from(sub)))
}

/// Delete a subscription
#[utoipa::path(
    delete,
    path = "/api/engine/v2/webhooks/{id}",
    tag = "outbound webhooks",
    operation_id = "delete_subscription",
    params(("id" = String, Path, description = "Subscription id (`wh-…`)")),
    responses(
        (status = 204, description = "Deleted"),
        NotFound,
        AdminKeyRequired,
    )
)]
pub(super) async fn delete(
    _: Admin,
    id: web::Path<String>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    outbound.delete(subscription_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End a pause
///
/// Clears `paused_at` and `consecutive_failures`; the kept events go out, oldest first.
#[utoipa::path(
    post,
    path = "/api/engine/v2/webhooks/{id}/enable",
    tag = "outbound webhooks",
    operation_id = "enable_subscription",
    params(("id" = String, Path, description = "Subscription id (`wh-…`)")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionOut),
        NotFound,
        AdminKeyRequired,
    )
)]
pub(super) async fn enable(
    _: Admin,
    id: web::Path<String>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let sub = outbound.enable(subscription_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(SubscriptionOut::from(sub)))
}

/// Rotate the signing secret
///
/// For `outbound.secret_grace_period_s` deliveries carry signatures with both the new and the old secret.
#[utoipa::path(
    post,
    path = "/api/engine/v2/webhooks/{id}/rotate-secret",
    tag = "outbound webhooks",
    operation_id = "rotate_subscription_secret",
    params(("id" = String, Path, description = "Subscription id (`wh-…`)")),
    responses(
        (status = 200, description = "The subscription with its new `secret`", body = SubscriptionOut),
        NotFound,
        AdminKeyRequired,
    )
)]
pub(super) async fn rotate_secret(
    _: Admin,
    id: web::Path<String>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let sub = outbound.rotate_secret(subscription_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(SubscriptionOut::with_secret(sub)))
}

/// Send a test event
///
/// Sends a `test` event to this subscription at once and answers the attempt; it is logged but never
/// counts towards a pause.
#[utoipa::path(
    post,
    path = "/api/engine/v2/webhooks/{id}/test",
    tag = "outbound webhooks",
    operation_id = "test_subscription",
    params(("id" = String, Path, description = "Subscription id (`wh-…`)")),
    responses(
        (status = 200, description = "The attempt, successful or not", body = AttemptOut),
        NotFound,
        AdminKeyRequired,
    )
)]
pub(super) async fn test(
    _: Admin,
    id: web::Path<String>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let attempt = outbound.send_test(subscription_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(AttemptOut::from(attempt)))
}

/// The delivery log
///
/// Attempts, newest first.
#[utoipa::path(
    get,
    path = "/api/engine/v2/webhooks/{id}/deliveries",
    tag = "outbound webhooks",
    operation_id = "list_subscription_deliveries",
    params(
        ("id" = String, Path, description = "Subscription id (`wh-…`)"),
        PageQuery,
    ),
    responses(
        (
            status = 200,
            description = "One page of attempts",
            body = [AttemptOut],
            headers(("X-Total-Count" = u64, description = "The number of matches before paging")),
        ),
        InvalidQuery,
        NotFound,
        KeyRequired,
    )
)]
pub(super) async fn deliveries(
    _: Reader,
    id: web::Path<String>,
    req: HttpRequest,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let id = subscription_id(&id)?;
    let q: ListQuery = query(&req)?;
    let page = outbound.deliveries(id, q.page()?).await?;
    Ok(page_response(page, AttemptOut::from))
}
