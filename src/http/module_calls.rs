//! PlaceOS-style module access inside a system: `GET /systems/{sys_id}/{module}` for a module's status
//! and `POST /systems/{sys_id}/{module}/{method}` to call one of its functions.

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Reader;
use super::errors::{ApiError, ErrorBody};
use super::input::json_value;
use super::openapi::KeyRequired;
use super::systems::system_id;
use super::AppState;
use crate::domain::module::ModuleRef;

fn module_ref(raw: &str) -> Result<ModuleRef, ApiError> {
    ModuleRef::parse(raw).map_err(|_| {
        ApiError::client(actix_web::http::StatusCode::NOT_FOUND, "module_not_found", format!("no module {raw}"))
    })
}

/// A module's status
///
/// The status map of a module of the system, named by reference: `Display_1` is the first module called
/// `Display` in system order.
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/{module}",
    tag = "modules",
    operation_id = "get_module_status",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("module" = String, Path, description = "Module reference, e.g. `Display_1`"),
    ),
    responses(
        (
            status = 200,
            description = "The module's status values by name",
            body = std::collections::BTreeMap<String, serde_json::Value>,
            example = json!({"power": true, "input": "hdmi2"}),
        ),
        (status = 404, description = "`not_found` (no such system) or `module_not_found`", body = ErrorBody),
        KeyRequired,
    )
)]
pub async fn status(
    _: Reader,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, module) = (system_id(&path.0)?, module_ref(&path.1)?);
    state.engine.get_system(system.clone()).await?;
    let status = state.engine.module_status(system, &module).await?;
    Ok(HttpResponse::Ok().json(status))
}

/// Call a module function
///
/// Arguments are a JSON array in parameter order, or an object by parameter name; an empty body means no
/// arguments. Functions marked admin need an admin key.
#[utoipa::path(
    post,
    path = "/api/engine/v2/systems/{id}/{module}/{method}",
    tag = "modules",
    operation_id = "call_module_function",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("module" = String, Path, description = "Module reference, e.g. `Display_1`"),
        ("method" = String, Path, description = "Function name, e.g. `power`"),
    ),
    request_body(content = Value, description = "The arguments: an array or an object", example = json!([true])),
    responses(
        (status = 200, description = "The function's result", body = Value),
        (status = 400, description = "`invalid_json`, `unsupported_content_type` or `invalid_body`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no API key, or one that is not known", body = ErrorBody),
        (
            status = 403,
            description = "`forbidden_method`: the function needs an admin key; `denied_by_callout`: a callout \
                           refused the call (the message is its reason)",
            body = ErrorBody,
        ),
        (
            status = 404,
            description = "`not_found` (no such system), `module_not_found` or `method_not_found`",
            body = ErrorBody,
        ),
        (status = 413, description = "`payload_too_large`: the body is over 1 MiB", body = ErrorBody),
        (
            status = 422,
            description = "`invalid_args`: the arguments do not fit the function's parameters",
            body = ErrorBody,
        ),
        (status = 502, description = "`driver_error`: the driver failed or panicked", body = ErrorBody),
        (
            status = 503,
            description = "`callout_unavailable`: a callout whose failure policy is `deny` could not be asked",
            body = ErrorBody,
        ),
        (
            status = 504,
            description = "`driver_timeout`: the call took longer than `drivers.call_timeout_ms`",
            body = ErrorBody,
        ),
    )
)]
pub async fn call(
    Reader(caller): Reader,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, module) = (system_id(&path.0)?, module_ref(&path.1)?);
    let args = json_value(&req, body).await?.unwrap_or(serde_json::Value::Null);
    state.engine.get_system(system.clone()).await?;
    let remote = req.peer_addr().map(|a| a.to_string());
    let result = state.engine.call_function(system, &module, &path.2, args, caller, remote).await?;
    Ok(HttpResponse::Ok().json(result))
}
