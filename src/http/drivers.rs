use actix_web::{web, HttpResponse};

use super::auth::Reader;
use super::openapi::KeyRequired;
use super::AppState;
use switchboard_drivers::sdk::DriverDescriptor;

/// List drivers
///
/// Every registered driver with its module name, settings and functions (parameters, access level,
/// whether it is a webhook method).
#[utoipa::path(
    get,
    path = "/api/engine/v2/drivers",
    tag = "drivers",
    operation_id = "list_drivers",
    responses(
        (status = 200, description = "The drivers", body = [DriverDescriptor]),
        KeyRequired,
    )
)]
pub async fn list(_: Reader, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.engine.drivers().all().collect::<Vec<_>>())
}
