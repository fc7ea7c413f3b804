use actix_web::HttpResponse;

use super::errors::ApiError;

/// The process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The process can serve: the store answers and every background worker runs.
pub async fn readyz(state: actix_web::web::Data<super::AppState>) -> HttpResponse {
    let store = state.engine.store().run(|s| s.probe()).await.is_ok();
    let workers = state.readiness.workers_running();
    let body = serde_json::json!({"store": store, "workers": workers});
    if store && workers {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(crate::metrics::METRICS.render())
}

pub async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}

pub async fn method_not_allowed(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::client(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not supported on this route", req.method()),
    ))
}
