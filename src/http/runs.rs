//! Runs of a trigger instance's actions: `/systems/{sys}/triggers/{trig}/runs[/{run}[/retry]]`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::errors::ErrorBody;
use super::input::{path_id, query, ListQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, KeyRequired, NotFound};
use super::receipts::instance_ids;
use super::AppState;
use crate::domain::run::{Run, RunFilter, RunStatus};
use crate::domain::{InstanceId, RunId, SystemId};

fn ids(sys: &str, trig: &str, run: &str) -> Result<(SystemId, InstanceId, RunId), ApiError> {
    let (system, instance) = instance_ids(sys, trig)?;
    Ok((system, instance, path_id(run, RunId::parse, "run")?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RunListQuery {
    /// Page size: default 100, at most 10000.
    #[param(schema_with = crate::domain::schema::page_limit)]
    limit: Option<usize>,
    /// Items to skip: default 0.
    #[param(schema_with = crate::domain::schema::page_offset)]
    offset: Option<u32>,
    /// Only runs in this state.
    #[param(value_type = Option<RunStatus>, inline)]
    status: Option<String>,
}

/// List a trigger instance's runs
///
/// Newest first. A run is the actions of one fire, as they were when it fired, with every attempt to
/// carry them out; an instance's runs are carried out one at a time, in fire order.
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/runs",
    tag = "trigger instances",
    operation_id = "list_runs",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        RunListQuery,
    ),
    responses(
        (
            status = 200,
            description = "One page of runs",
            body = [Run],
            headers(("X-Total-Count" = u64, description = "The number of matches before paging")),
        ),
        InvalidQuery,
        NotFound,
        KeyRequired,
    )
)]
pub async fn list(
    _: Reader,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, instance) = instance_ids(&path.0, &path.1)?;
    let q: RunListQuery = query(&req)?;
    let page = ListQuery { q: None, limit: q.limit, offset: q.offset }.page()?;
    let status = match q.status.as_deref() {
        None => None,
        Some(raw) => Some(RunStatus::parse(raw).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                "query parameter status: must be pending, running, succeeded, failed or denied",
            )
        })?),
    };
    let found = state.engine.list_runs(system, instance, RunFilter { status }, page).await?;
    Ok(super::views::page_response(found, |r| r))
}

/// One run, with every attempt of every action
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/runs/{run_id}",
    tag = "trigger instances",
    operation_id = "get_run",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        ("run_id" = String, Path, description = "Run id (`run-…`)"),
    ),
    responses((status = 200, description = "The run", body = Run), NotFound, KeyRequired)
)]
pub async fn get(
    _: Reader,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, instance, run) = ids(&path.0, &path.1, &path.2)?;
    Ok(HttpResponse::Ok().json(state.engine.get_run(system, instance, run).await?))
}

/// Retry a failed run
///
/// Its given-up actions get a new schedule of attempts (those that succeeded are not repeated), behind
/// the instance's other waiting runs. Answers the run as queued.
#[utoipa::path(
    post,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/runs/{run_id}/retry",
    tag = "trigger instances",
    operation_id = "retry_run",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        ("run_id" = String, Path, description = "Run id (`run-…`)"),
    ),
    responses(
        (status = 202, description = "The run, queued again", body = Run),
        (status = 409, description = "`run_not_failed`: only a failed run can be retried", body = ErrorBody),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn retry(
    _: Admin,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, instance, run) = ids(&path.0, &path.1, &path.2)?;
    Ok(HttpResponse::Accepted().json(state.engine.retry_run(system, instance, run).await?))
}
