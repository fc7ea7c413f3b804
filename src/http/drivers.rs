use actix_web::{web, HttpResponse};

use super::auth::Reader;
use super::AppState;

pub async fn list(_: Reader, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.engine.drivers().all().collect::<Vec<_>>())
}
