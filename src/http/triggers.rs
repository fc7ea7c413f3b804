use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, JsonBodyErrors, KeyRequired, NotFound};
use super::views::{page_response, InstanceOut};
use super::AppState;
use crate::domain::trigger::Trigger;
use crate::domain::TriggerId;
use crate::engine::inputs::{TriggerIn, TriggerPatch};

fn trigger_id(raw: &str) -> Result<TriggerId, ApiError> {
    path_id(raw, TriggerId::parse, "trigger")
}

/// List triggers
#[utoipa::path(
    get,
    path = "/api/engine/v2/triggers",
    tag = "triggers",
    operation_id = "list_triggers",
    params(ListQuery),
    responses(
        (
            status = 200,
            description = "One page of triggers",
            body = [Trigger],
            headers(("X-Total-Count" = u64, description = "The number of matches before paging")),
        ),
        InvalidQuery,
        KeyRequired,
    )
)]
pub async fn list(_: Reader, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = state.engine.list_triggers(q.search(), q.page()?).await?;
    Ok(page_response(page, |t| t))
}

/// Create a trigger
#[utoipa::path(
    post,
    path = "/api/engine/v2/triggers",
    tag = "triggers",
    operation_id = "create_trigger",
    request_body(
        content = TriggerIn,
        description = "Beyond the shapes, cron expressions, time zones, placeholders and regular expressions are \
                       checked; a 422 names the field at fault",
        example = json!({
            "name": "Doorbell",
            "enable_webhook": true,
            "debounce_period": 5000,
            "supported_methods": ["POST", "GET"],
            "conditions": {
                "comparisons": [{"left": {"mod": "Display_1", "status": "power"}, "operator": "equal", "right": true}],
                "time_dependents": []
            },
            "actions": {"functions": [{"mod": "Display_1", "method": "volume", "args": {"level": 10}}], "mailers": []}
        }),
    ),
    responses(
        (status = 201, description = "The trigger", body = Trigger),
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
    let input: TriggerIn = json_body(&req, body).await?;
    let trigger = state.engine.create_trigger(input).await?;
    Ok(HttpResponse::Created().json(trigger))
}

/// Get a trigger
#[utoipa::path(
    get,
    path = "/api/engine/v2/triggers/{id}",
    tag = "triggers",
    operation_id = "get_trigger",
    params(("id" = String, Path, description = "Trigger id (`trigger-…`)")),
    responses(
        (status = 200, description = "The trigger", body = Trigger),
        NotFound,
        KeyRequired,
    )
)]
pub async fn get(_: Reader, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let trigger = state.engine.get_trigger(trigger_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(trigger))
}

/// Replace a trigger
///
/// Absent optional fields are reset to their defaults.
#[utoipa::path(
    put,
    path = "/api/engine/v2/triggers/{id}",
    tag = "triggers",
    operation_id = "replace_trigger",
    params(("id" = String, Path, description = "Trigger id (`trigger-…`)")),
    request_body(
        content = TriggerIn,
        description = "Beyond the shapes, cron expressions, time zones, placeholders and regular expressions are \
                       checked; a 422 names the field at fault",
    ),
    responses(
        (status = 200, description = "The trigger", body = Trigger),
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
    let id = trigger_id(&id)?;
    let input: TriggerIn = json_body(&req, body).await?;
    let trigger = state.engine.replace_trigger(id, input).await?;
    Ok(HttpResponse::Ok().json(trigger))
}

/// Update a trigger
///
/// Absent fields stay; `description: null` clears it.
#[utoipa::path(
    patch,
    path = "/api/engine/v2/triggers/{id}",
    tag = "triggers",
    operation_id = "update_trigger",
    params(("id" = String, Path, description = "Trigger id (`trigger-…`)")),
    request_body(content = TriggerPatch),
    responses(
        (status = 200, description = "The trigger", body = Trigger),
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
    let id = trigger_id(&id)?;
    let patch: TriggerPatch = json_body(&req, body).await?;
    let trigger = state.engine.update_trigger(id, patch).await?;
    Ok(HttpResponse::Ok().json(trigger))
}

/// Delete a trigger
///
/// Removes every instance of the trigger.
#[utoipa::path(
    delete,
    path = "/api/engine/v2/triggers/{id}",
    tag = "triggers",
    operation_id = "delete_trigger",
    params(("id" = String, Path, description = "Trigger id (`trigger-…`)")),
    responses(
        (status = 204, description = "Deleted"),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn delete(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.delete_trigger(trigger_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Where a trigger is applied
#[utoipa::path(
    get,
    path = "/api/engine/v2/triggers/{id}/instances",
    tag = "triggers",
    operation_id = "list_trigger_instances_of_trigger",
    params(("id" = String, Path, description = "Trigger id (`trigger-…`)")),
    responses(
        (status = 200, description = "Every instance of the trigger", body = [InstanceOut]),
        NotFound,
        KeyRequired,
    )
)]
pub async fn instances(
    Reader(caller): Reader,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let instances = state.engine.trigger_instances(trigger_id(&id)?).await?;
    let out: Vec<InstanceOut> = instances.into_iter().map(|i| InstanceOut::new(i, &state.public_url, caller)).collect();
    Ok(HttpResponse::Ok().json(out))
}
