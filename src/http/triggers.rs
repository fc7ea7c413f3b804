use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::views::{page_response, InstanceOut};
use super::AppState;
use crate::domain::TriggerId;
use crate::engine::inputs::{TriggerIn, TriggerPatch};

fn trigger_id(raw: &str) -> Result<TriggerId, ApiError> {
    path_id(raw, TriggerId::parse, "trigger")
}

pub async fn list(_: Reader, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = state.engine.list_triggers(q.search(), q.page()?).await?;
    Ok(page_response(page, |t| t))
}

pub async fn create(
    _: Admin,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: TriggerIn = json_body(&req, body).await?;
    let trigger = state.engine.create_trigger(input).await?;
    Ok(HttpResponse::Created().json(trigger))
}

pub async fn get(_: Reader, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let trigger = state.engine.get_trigger(trigger_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(trigger))
}

pub async fn replace(
    _: Admin,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = trigger_id(&id)?;
    let input: TriggerIn = json_body(&req, body).await?;
    let trigger = state.engine.replace_trigger(id, input).await?;
    Ok(HttpResponse::Ok().json(trigger))
}

pub async fn update(
    _: Admin,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = trigger_id(&id)?;
    let patch: TriggerPatch = json_body(&req, body).await?;
    let trigger = state.engine.update_trigger(id, patch).await?;
    Ok(HttpResponse::Ok().json(trigger))
}

pub async fn delete(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.delete_trigger(trigger_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn instances(
    Reader(caller): Reader,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let instances = state.engine.trigger_instances(trigger_id(&id)?).await?;
    let out: Vec<InstanceOut> = instances.into_iter().map(|i| InstanceOut::new(i, &state.public_url, caller)).collect();
    Ok(HttpResponse::Ok().json(out))
}
