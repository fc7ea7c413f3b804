use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::views::{page_response, ModuleOut};
use super::AppState;
use crate::domain::SystemId;
use crate::engine::inputs::{SystemIn, SystemPatch};

pub fn system_id(raw: &str) -> Result<SystemId, ApiError> {
    path_id(raw, SystemId::parse, "system")
}

pub async fn list(_: Reader, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = state.engine.list_systems(q.search(), q.page()?).await?;
    Ok(page_response(page, |s| s))
}

pub async fn create(
    _: Admin,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: SystemIn = json_body(&req, body).await?;
    let system = state.engine.create_system(input).await?;
    Ok(HttpResponse::Created().json(system))
}

pub async fn get(_: Reader, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let system = state.engine.get_system(system_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(system))
}

pub async fn replace(
    _: Admin,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = system_id(&id)?;
    let input: SystemIn = json_body(&req, body).await?;
    let system = state.engine.update_system(id, input.into()).await?;
    Ok(HttpResponse::Ok().json(system))
}

pub async fn update(
    _: Admin,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = system_id(&id)?;
    let patch: SystemPatch = json_body(&req, body).await?;
    let system = state.engine.update_system(id, patch).await?;
    Ok(HttpResponse::Ok().json(system))
}

pub async fn delete(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.delete_system(system_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn modules(_: Reader, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let modules = state.engine.system_modules(system_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(modules.into_iter().map(ModuleOut::from).collect::<Vec<_>>()))
}
