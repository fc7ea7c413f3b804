//! PlaceOS-style module access inside a system: `GET /systems/{sys_id}/{module}` for a module's status
//! and `POST /systems/{sys_id}/{module}/{method}` to call one of its functions.

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Reader;
use super::errors::ApiError;
use super::input::json_value;
use super::systems::system_id;
use super::AppState;
use crate::domain::module::ModuleRef;

fn module_ref(raw: &str) -> Result<ModuleRef, ApiError> {
    ModuleRef::parse(raw).map_err(|_| {
        ApiError::client(actix_web::http::StatusCode::NOT_FOUND, "module_not_found", format!("no module {raw}"))
    })
}

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
    let result = state.engine.call_function(system, &module, &path.2, args, caller).await?;
    Ok(HttpResponse::Ok().json(result))
}
