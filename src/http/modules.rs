use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, JsonBodyErrors, KeyRequired, NotFound};
use super::views::{page_response, ModuleOut};
use super::AppState;
use crate::domain::{ModuleId, SystemId};
use crate::engine::inputs::{ModuleIn, ModulePatch};

fn module_id(raw: &str) -> Result<ModuleId, ApiError> {
    path_id(raw, ModuleId::parse, "module")
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ModuleListQuery {
    /// Only modules whose name contains this, case-insensitively.
    q: Option<String>,
    /// Page size: default 100, at most 10000.
    #[param(schema_with = crate::domain::schema::page_limit)]
    limit: Option<usize>,
    /// Items to skip: default 0.
    #[param(schema_with = crate::domain::schema::page_offset)]
    offset: Option<u32>,
    /// Only modules in this system (`sys-…`).
    control_system_id: Option<SystemId>,
    /// Only modules of this driver.
    driver: Option<String>,
}

/// List modules
#[utoipa::path(
    get,
    path = "/api/engine/v2/modules",
    tag = "modules",
    operation_id = "list_modules",
    params(ModuleListQuery),
    responses(
        (
            status = 200,
            description = "One page of modules",
            body = [ModuleOut],
            headers(("X-Total-Count" = u64, description = "The number of matches before paging")),
        ),
        InvalidQuery,
        KeyRequired,
    )
)]
pub async fn list(
    Reader(caller): Reader,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q: ModuleListQuery = query(&req)?;
    let paging = ListQuery { q: q.q, limit: q.limit, offset: q.offset };
    let page = state.engine.list_modules(paging.search(), q.control_system_id, q.driver, paging.page()?).await?;
    Ok(page_response(page, |m| ModuleOut::for_caller(m, caller, state.engine.drivers())))
}

/// Create a module
#[utoipa::path(
    post,
    path = "/api/engine/v2/modules",
    tag = "modules",
    operation_id = "create_module",
    request_body(
        content = ModuleIn,
        description = "Beyond the shapes, the driver must be registered and the settings must be the ones it \
                       declares; a 422 names the field at fault",
        example = json!({"driver": "Display", "control_system_id": "sys-0190f0c0a1b27c3d8e9f0a1b2c3d4e60"}),
    ),
    responses(
        (status = 201, description = "The module", body = ModuleOut),
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
    let input: ModuleIn = json_body(&req, body).await?;
    let module = state.engine.create_module(input).await?;
    Ok(HttpResponse::Created().json(ModuleOut::from(module)))
}

/// Get a module
#[utoipa::path(
    get,
    path = "/api/engine/v2/modules/{id}",
    tag = "modules",
    operation_id = "get_module",
    params(("id" = String, Path, description = "Module id (`mod-…`)")),
    responses(
        (status = 200, description = "The module", body = ModuleOut),
        NotFound,
        KeyRequired,
    )
)]
pub async fn get(
    Reader(caller): Reader,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let module = state.engine.get_module(module_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ModuleOut::for_caller(module, caller, state.engine.drivers())))
}

/// Replace a module
///
/// Absent optional fields are reset.
#[utoipa::path(
    put,
    path = "/api/engine/v2/modules/{id}",
    tag = "modules",
    operation_id = "replace_module",
    params(("id" = String, Path, description = "Module id (`mod-…`)")),
    request_body(
        content = ModuleIn,
        description = "Beyond the shapes, the driver must be registered and the settings must be the ones it \
                       declares; a 422 names the field at fault",
    ),
    responses(
        (status = 200, description = "The module", body = ModuleOut),
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
    let id = module_id(&id)?;
    let input: ModuleIn = json_body(&req, body).await?;
    let module = state.engine.update_module(id, input.into()).await?;
    Ok(HttpResponse::Ok().json(ModuleOut::from(module)))
}

/// Update a module
///
/// Absent fields stay; `custom_name: null` and `control_system_id: null` clear them.
#[utoipa::path(
    patch,
    path = "/api/engine/v2/modules/{id}",
    tag = "modules",
    operation_id = "update_module",
    params(("id" = String, Path, description = "Module id (`mod-…`)")),
    request_body(content = ModulePatch),
    responses(
        (status = 200, description = "The module", body = ModuleOut),
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
    let id = module_id(&id)?;
    let patch: ModulePatch = json_body(&req, body).await?;
    let module = state.engine.update_module(id, patch).await?;
    Ok(HttpResponse::Ok().json(ModuleOut::from(module)))
}

/// Delete a module
#[utoipa::path(
    delete,
    path = "/api/engine/v2/modules/{id}",
    tag = "modules",
    operation_id = "delete_module",
    params(("id" = String, Path, description = "Module id (`mod-…`)")),
    responses(
        (status = 204, description = "Deleted"),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn delete(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.delete_module(module_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
