use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::views::{page_response, ModuleOut};
use super::AppState;
use crate::domain::{ModuleId, SystemId};
use crate::engine::inputs::{ModuleIn, ModulePatch};

fn module_id(raw: &str) -> Result<ModuleId, ApiError> {
    path_id(raw, ModuleId::parse, "module")
}

#[derive(Deserialize)]
struct ModuleListQuery {
    q: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    control_system_id: Option<SystemId>,
    driver: Option<String>,
}

pub async fn list(_: Reader, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: ModuleListQuery = query(&req)?;
    let paging = ListQuery { q: q.q, limit: q.limit, offset: q.offset };
    let page = state.engine.list_modules(paging.search(), q.control_system_id, q.driver, paging.page()?).await?;
    Ok(page_response(page, ModuleOut::from))
}

pub async fn create(
    _: Admin,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: ModuleIn = json_body(&req, body).await?;
    let module = state.engine.create_module(input).await?;
    Ok(HttpResponse::Created().json(ModuleOut::from(module)))
}

pub async fn get(_: Reader, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let module = state.engine.get_module(module_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ModuleOut::from(module)))
}

pub async fn replace(
    _: Admin,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = module_id(&id)?;
    let input: ModuleIn = json_body(&req, body).await?;
    let module = state.engine.update_module(id, input.into()).await?;
    Ok(HttpResponse::Ok().json(ModuleOut::from(module)))
}

pub async fn update(
    _: Admin,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = module_id(&id)?;
    let patch: ModulePatch = json_body(&req, body).await?;
    let module = state.engine.update_module(id, patch).await?;
    Ok(HttpResponse::Ok().json(ModuleOut::from(module)))
}

pub async fn delete(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.delete_module(module_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
