use actix_web::HttpResponse;

use super::errors::ApiError;

/// The process is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    security(()),
    responses((status = 200, description = "Alive", body = Object, example = json!({"status": "ok"})))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The process can serve: the store answers and every background worker runs.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Object, example = json!({"store": true, "workers": true})),
        (
            status = 503,
            description = "Not ready; says which part is not",
            body = Object,
            example = json!({"store": true, "workers": false}),
        ),
    )
)]
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

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    operation_id = "metrics",
    security(()),
    responses(
        (
            status = 200,
            description = "The Prometheus text format",
            body = String,
            content_type = "text/plain; version=0.0.4",
        ),
    ),
)]
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
