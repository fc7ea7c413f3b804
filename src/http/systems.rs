use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, JsonBodyErrors, KeyRequired, NotFound};
use super::views::{page_response, ModuleOut};
use super::AppState;
use crate::domain::system::System;
use crate::domain::SystemId;
use crate::engine::inputs::{SystemIn, SystemPatch};

pub fn system_id(raw: &str) -> Result<SystemId, ApiError> {
    path_id(raw, SystemId::parse, "system")
}

/// List systems
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems",
    tag = "systems",
    operation_id = "list_systems",
    params(ListQuery),
    responses(
        (
            status = 200,
            description = "One page of systems",
            body = [System],
            headers(("X-Total-Count" = u64, description = "The number of matches before paging")),
        ),
        InvalidQuery,
        KeyRequired,
    )
)]
pub async fn list(_: Reader, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = state.engine.list_systems(q.search(), q.page()?).await?;
    Ok(page_response(page, |s| s))
}

/// Create a system
#[utoipa::path(
    post,
    path = "/api/engine/v2/systems",
    tag = "systems",
    operation_id = "create_system",
    request_body(
        content = SystemIn,
        example = json!({"name": "Lobby", "description": "Ground floor", "modules": []}),
    ),
    responses(
        (status = 201, description = "The system", body = System),
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
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

/// Get a system
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}",
    tag = "systems",
    operation_id = "get_system",
    params(("id" = String, Path, description = "System id (`sys-…`)")),
    responses(
        (status = 200, description = "The system", body = System),
        NotFound,
        KeyRequired,
    )
)]
pub async fn get(_: Reader, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let system = state.engine.get_system(system_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(system))
}

/// Replace a system
///
/// Absent optional fields are reset. Listed modules join the system, dropped ones leave it.
#[utoipa::path(
    put,
    path = "/api/engine/v2/systems/{id}",
    tag = "systems",
    operation_id = "replace_system",
    params(("id" = String, Path, description = "System id (`sys-…`)")),
    request_body(content = SystemIn),
    responses(
        (status = 200, description = "The system", body = System),
        NotFound,
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
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

/// Update a system
///
/// Absent fields stay; `description: null` clears it; `modules` may be reordered, and listed modules join
/// the system while dropped ones leave it.
#[utoipa::path(
    patch,
    path = "/api/engine/v2/systems/{id}",
    tag = "systems",
    operation_id = "update_system",
    params(("id" = String, Path, description = "System id (`sys-…`)")),
    request_body(content = SystemPatch),
    responses(
        (status = 200, description = "The system", body = System),
        NotFound,
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
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

/// Delete a system
///
/// Removes the system's trigger instances and leaves its modules unassigned.
#[utoipa::path(
    delete,
    path = "/api/engine/v2/systems/{id}",
    tag = "systems",
    operation_id = "delete_system",
    params(("id" = String, Path, description = "System id (`sys-…`)")),
    responses(
        (status = 204, description = "Deleted"),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn delete(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.delete_system(system_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A system's modules
///
/// In system order, each with its `index` among same-named modules and its `reference` (`Display_2`).
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/modules",
    tag = "systems",
    operation_id = "list_system_modules",
    params(("id" = String, Path, description = "System id (`sys-…`)")),
    responses(
        (status = 200, description = "The modules, in order", body = [ModuleOut]),
        NotFound,
        KeyRequired,
    )
)]
pub async fn modules(
    Reader(caller): Reader,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let modules = state.engine.system_modules(system_id(&id)?).await?;
    let drivers = state.engine.drivers();
    Ok(HttpResponse::Ok()
        .json(modules.into_iter().map(|m| ModuleOut::for_caller(m, caller, drivers)).collect::<Vec<_>>()))
}
