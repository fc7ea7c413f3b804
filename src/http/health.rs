use actix_web::HttpResponse;

use super::errors::ApiError;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

pub async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}
