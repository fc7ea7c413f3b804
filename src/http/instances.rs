//! Triggers applied to a system: `/systems/{sys_id}/triggers[/{trig_id}]`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::systems::system_id;
use super::views::{page_response, InstanceOut};
use super::AppState;
use crate::domain::{InstanceId, SystemId, TriggerId};
use crate::engine::inputs::{InstanceIn, InstancePatch};
use crate::store::InstanceFilter;

fn ids(path: &(String, String)) -> Result<(SystemId, InstanceId), ApiError> {
    Ok((system_id(&path.0)?, path_id(&path.1, InstanceId::parse, "trigger instance")?))
}

#[derive(Deserialize)]
struct InstanceListQuery {
    limit: Option<usize>,
    offset: Option<usize>,
    trigger_id: Option<TriggerId>,
    triggered: Option<bool>,
    important: Option<bool>,
}

pub async fn list(
    Reader(caller): Reader,
    sys: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let system = system_id(&sys)?;
    let q: InstanceListQuery = query(&req)?;
    let page = ListQuery { q: None, limit: q.limit, offset: q.offset }.page()?;
    let filter = InstanceFilter { trigger_id: q.trigger_id, triggered: q.triggered, important: q.important };
    let found = state.engine.list_instances(system, filter, page).await?;
    Ok(page_response(found, |i| InstanceOut::new(i, &state.public_url, caller)))
}

pub async fn create(
    Admin(caller): Admin,
    sys: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let system = system_id(&sys)?;
    let input: InstanceIn = json_body(&req, body).await?;
    let created = state.engine.apply_trigger(system, input).await?;
    Ok(HttpResponse::Created().json(InstanceOut::new(created, &state.public_url, caller)))
}

pub async fn get(
    Reader(caller): Reader,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let found = state.engine.get_instance(system, id).await?;
    Ok(HttpResponse::Ok().json(InstanceOut::new(found, &state.public_url, caller)))
}

pub async fn update(
    Admin(caller): Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let patch: InstancePatch = json_body(&req, body).await?;
    let updated = state.engine.update_instance(system, id, patch).await?;
    Ok(HttpResponse::Ok().json(InstanceOut::new(updated, &state.public_url, caller)))
}

pub async fn rotate_secret(
    Admin(caller): Admin,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let updated = state.engine.rotate_secret(system, id).await?;
    Ok(HttpResponse::Ok().json(InstanceOut::new(updated, &state.public_url, caller)))
}

pub async fn delete(
    _: Admin,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    state.engine.delete_instance(system, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn state(
    _: Reader,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let (inst, s) = state.engine.get_instance(system, id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "trigger_instance": inst.id,
        "control_system_id": inst.control_system_id,
        "trigger_id": inst.trigger_id,
        "enabled": inst.enabled,
        "triggered": s.triggered,
        "trigger_count": s.trigger_count,
        "action_errors": s.action_errors,
        "comparison_errors": s.comparison_errors,
        "last_fired_at": s.last_fired_at,
        "conditions": s.conditions,
    })))
}
