use actix_web::HttpResponse;

use super::errors::ApiError;

/// The process is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    security(()),
    responses((status = 200, description = "Alive", body = Alive))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Alive { status: "ok" })
}

/// The answer of `/healthz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Alive {
    #[schema(pattern = "^ok$")]
    status: &'static str,
}

/// Which parts of the process can serve.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Readiness {
    /// The store answers.
    store: bool,
    /// Every background worker runs.
    workers: bool,
}

/// The process can serve: the store answers and every background worker runs.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness, example = json!({"store": true, "workers": true})),
        (
            status = 503,
            description = "Not ready; says which part is not",
            body = Readiness,
            example = json!({"store": true, "workers": false}),
        ),
    )
)]
pub async fn readyz(state: actix_web::web::Data<super::AppState>) -> HttpResponse {
    let store = state.engine.store().probe().await.is_ok();
    let workers = state.readiness.workers_running();
    let body = Readiness { store, workers };
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
