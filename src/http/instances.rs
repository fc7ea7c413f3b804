//! Triggers applied to a system: `/systems/{sys_id}/triggers[/{trig_id}]`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, JsonBodyErrors, KeyRequired, NotFound};
use super::systems::system_id;
use super::views::{page_response, InstanceOut, InstanceStateOut};
use super::AppState;
use crate::domain::{InstanceId, SystemId, TriggerId};
use crate::engine::inputs::{InstanceIn, InstancePatch};
use crate::engine::SigningSecretSet;
use crate::store::InstanceFilter;

fn ids(path: &(String, String)) -> Result<(SystemId, InstanceId), ApiError> {
    Ok((system_id(&path.0)?, path_id(&path.1, InstanceId::parse, "trigger instance")?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct InstanceListQuery {
    /// Page size: default 100, at most 10000.
    #[param(schema_with = crate::domain::schema::page_limit)]
    limit: Option<usize>,
    /// Items to skip: default 0.
    #[param(schema_with = crate::domain::schema::page_offset)]
    offset: Option<u32>,
    /// Only instances of this trigger (`trigger-…`).
    trigger_id: Option<TriggerId>,
    /// Only instances that are (or are not) triggered.
    triggered: Option<bool>,
    /// Only important (or unimportant) instances.
    important: Option<bool>,
}

/// List a system's trigger instances
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/triggers",
    tag = "trigger instances",
    operation_id = "list_trigger_instances",
    params(("id" = String, Path, description = "System id (`sys-…`)"), InstanceListQuery),
    responses(
        (
            status = 200,
            description = "One page of instances",
            body = [InstanceOut],
            headers(("X-Total-Count" = u64, description = "The number of matches before paging")),
        ),
        InvalidQuery,
        NotFound,
        KeyRequired,
    )
)]
pub async fn list(
    Reader(caller): Reader,
    sys: web::Path<String>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let system = system_id(&sys)?;
    let q: InstanceListQuery = query(&req)?;
    let page = ListQuery { q: None, limit: q.limit, offset: q.offset }.page()?;
    let filter = InstanceFilter { trigger_id: q.trigger_id, triggered: q.triggered, important: q.important };
    let found = state.engine.list_instances(system, filter, page).await?;
    Ok(page_response(found, |i| InstanceOut::new(i, &state.public_url, caller)))
}

/// Apply a trigger to a system
///
/// Creates a trigger instance with a fresh webhook secret.
#[utoipa::path(
    post,
    path = "/api/engine/v2/systems/{id}/triggers",
    tag = "trigger instances",
    operation_id = "create_trigger_instance",
    params(("id" = String, Path, description = "System id (`sys-…`)")),
    request_body(
        content = InstanceIn,
        example = json!({"trigger_id": "trigger-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f", "exec_enabled": true}),
    ),
    responses(
        (status = 201, description = "The instance, with its secret and webhook URL", body = InstanceOut),
        NotFound,
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
pub async fn create(
    Admin(caller): Admin,
    sys: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let system = system_id(&sys)?;
    let input: InstanceIn = json_body(&req, body).await?;
    let created = state.engine.apply_trigger(system, input).await?;
    Ok(HttpResponse::Created().json(InstanceOut::new(created, &state.public_url, caller)))
}

/// Get a trigger instance
///
/// Support keys see `webhook_secret` and `webhook_url` as `null`.
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}",
    tag = "trigger instances",
    operation_id = "get_trigger_instance",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
    ),
    responses(
        (status = 200, description = "The instance", body = InstanceOut),
        NotFound,
        KeyRequired,
    )
)]
pub async fn get(
    Reader(caller): Reader,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let found = state.engine.get_instance(system, id).await?;
    Ok(HttpResponse::Ok().json(InstanceOut::new(found, &state.public_url, caller)))
}

/// Update a trigger instance
#[utoipa::path(
    patch,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}",
    tag = "trigger instances",
    operation_id = "update_trigger_instance",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
    ),
    request_body(
        content = InstancePatch,
    ),
    responses(
        (status = 200, description = "The instance", body = InstanceOut),
        NotFound,
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
pub async fn update(
    Admin(caller): Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let patch: InstancePatch = json_body(&req, body).await?;
    let updated = state.engine.update_instance(system, id, patch).await?;
    Ok(HttpResponse::Ok().json(InstanceOut::new(updated, &state.public_url, caller)))
}

/// Rotate a trigger instance's webhook secret
///
/// The old secret stops working at once.
#[utoipa::path(
    post,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/secret",
    tag = "trigger instances",
    operation_id = "rotate_trigger_instance_secret",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
    ),
    responses(
        (status = 200, description = "The instance with its new secret and webhook URL", body = InstanceOut),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn rotate_secret(
    Admin(caller): Admin,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let updated = state.engine.rotate_secret(system, id).await?;
    Ok(HttpResponse::Ok().json(InstanceOut::new(updated, &state.public_url, caller)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SigningSecretInput)]
struct SigningSecretIn {
    /// The sender's secret; absent or `null`: Switchboard generates one.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 512)]
    secret: Option<String>,
}

/// Set the instance's signing secret
///
/// For triggers with `webhook_verification`: `{"secret": "…"}` stores the secret the sender generated
/// (Stripe's `whsec_…`, say); `{}` has Switchboard generate one suited to the scheme, answered this once
/// and never shown again. The secret it replaces still verifies until `previous_valid_until`
/// (`webhook.verification_grace_s` later), so the sender can be switched over without failed calls.
#[utoipa::path(
    post,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/verification_secret",
    tag = "trigger instances",
    operation_id = "set_verification_secret",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
    ),
    request_body(
        content = SigningSecretIn,
        description = "The secret must suit the trigger's scheme (`whsec_…` base64 for `standard_webhooks`, say); a \
                       422 says why it does not",
    ),
    responses(
        (status = 200, description = "The secret is set; `secret` only when generated", body = SigningSecretSet),
        JsonBodyErrors,
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn set_verification_secret(
    _: Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let input: SigningSecretIn = json_body(&req, payload).await?;
    let set = state.engine.set_signing_secret(system, id, input.secret).await?;
    Ok(HttpResponse::Ok().json(set))
}

/// Remove a trigger from a system
#[utoipa::path(
    delete,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}",
    tag = "trigger instances",
    operation_id = "delete_trigger_instance",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn delete(
    _: Admin,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    state.engine.delete_instance(system, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A trigger instance's state
///
/// Whether it is triggered, its counters and the value of every condition.
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/state",
    tag = "trigger instances",
    operation_id = "get_trigger_instance_state",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
    ),
    responses(
        (
            status = 200,
            description = "The instance's state",
            body = InstanceStateOut,
            example = json!({
                "trigger_instance": "trig-0190f0c0a1b27c3d8e9f0a1b2c3d4e64",
                "control_system_id": "sys-0190f0c0a1b27c3d8e9f0a1b2c3d4e60",
                "trigger_id": "trigger-0190f0c0a1b27c3d8e9f0a1b2c3d4e62",
                "enabled": true,
                "triggered": false,
                "trigger_count": 3,
                "action_errors": 0,
                "comparison_errors": 0,
                "last_fired_at": 1700000000,
                "conditions": {"webhook": false, "comparison_0": true}
            }),
        ),
        NotFound,
        KeyRequired,
    )
)]
pub async fn state(
    _: Reader,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (system, id) = ids(&path)?;
    let record = state.engine.get_instance(system, id).await?;
    Ok(HttpResponse::Ok().json(InstanceStateOut::from(record)))
}
