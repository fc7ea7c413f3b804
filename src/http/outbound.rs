//! Outbound webhook subscriptions: `/api/engine/v2/webhooks…`. Admins change them; support keys may
//! read them and their delivery logs.

#[path = "outbound_views.rs"]
mod views;

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::views::page_response;
use crate::domain::ids::SubscriptionId;
use crate::outbound::subscription::{NewSubscription, SubscriptionIn, SubscriptionPatch};
use crate::outbound::{catalog, Outbound, OutboundError};
use views::{AttemptOut, SubscriptionOut};

/// Routes under `/api/engine/v2`. `/webhooks/event_types` comes before `/webhooks/{id}` so that it is
/// not taken for an id.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/webhooks").route(web::get().to(list)).route(web::post().to(create)))
        .route("/webhooks/event_types", web::get().to(event_types))
        .service(
            web::resource("/webhooks/{id}")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::delete().to(delete)),
        )
        .route("/webhooks/{id}/enable", web::post().to(enable))
        .route("/webhooks/{id}/rotate-secret", web::post().to(rotate_secret))
        .route("/webhooks/{id}/test", web::post().to(test))
        .route("/webhooks/{id}/deliveries", web::get().to(deliveries));
}

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

async fn list(_: Reader, req: HttpRequest, outbound: web::Data<Outbound>) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = outbound.list(q.search(), q.page()?).await?;
    Ok(page_response(page, SubscriptionOut::from))
}

async fn create(
    _: Admin,
    req: HttpRequest,
    body: web::Payload,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let input: SubscriptionIn = json_body(&req, body).await?;
    let sub = outbound.create(NewSubscription::try_from(input)?).await?;
    Ok(HttpResponse::Created().json(SubscriptionOut::with_secret(sub)))
}

async fn event_types(_: Reader) -> HttpResponse {
    HttpResponse::Ok().json(catalog::event_types())
}

async fn get(_: Reader, id: web::Path<String>, outbound: web::Data<Outbound>) -> Result<HttpResponse, ApiError> {
    let sub = outbound.get(subscription_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(SubscriptionOut::from(sub)))
}

async fn update(
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

async fn delete(_: Admin, id: web::Path<String>, outbound: web::Data<Outbound>) -> Result<HttpResponse, ApiError> {
    outbound.delete(subscription_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn enable(_: Admin, id: web::Path<String>, outbound: web::Data<Outbound>) -> Result<HttpResponse, ApiError> {
    let sub = outbound.enable(subscription_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(SubscriptionOut::from(sub)))
}

async fn rotate_secret(
    _: Admin,
    id: web::Path<String>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ApiError> {
    let sub = outbound.rotate_secret(subscription_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(SubscriptionOut::with_secret(sub)))
}

async fn test(_: Admin, id: web::Path<String>, outbound: web::Data<Outbound>) -> Result<HttpResponse, ApiError> {
    let attempt = outbound.send_test(subscription_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(AttemptOut::from(attempt)))
}

async fn deliveries(
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
