//! The webhook inspector: `/systems/{sys}/triggers/{trig}/receipts[/{rcpt}[/replay]]`.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;

use super::auth::{Admin, Reader};
use super::errors::ApiError;
use super::input::{path_id, query, ListQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, KeyRequired, NotFound};
use super::systems::system_id;
use super::webhook::RawExec;
use super::webhook_call::{self, Body, Call};
use super::AppState;
use crate::domain::receipt::{Receipt, ReceiptFilter, REDACTED};
use crate::domain::{InstanceId, ReceiptId, SystemId};

/// The header a replay's answer names its new receipt in.
const RECEIPT_HEADER: &str = "x-switchboard-receipt";

/// Headers a replay does not send again: they belong to the original connection.
const NOT_REPLAYED: &[&str] = &["content-length", "transfer-encoding", "connection", "host", "x-request-id"];

/// The system and trigger instance a `/systems/{id}/triggers/{trig_id}/…` path names.
pub(super) fn instance_ids(sys: &str, trig: &str) -> Result<(SystemId, InstanceId), ApiError> {
    Ok((system_id(sys)?, path_id(trig, InstanceId::parse, "trigger instance")?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReceiptListQuery {
    /// Page size: default 100, at most 10000.
    #[param(schema_with = crate::domain::schema::page_limit)]
    limit: Option<usize>,
    /// Items to skip: default 0.
    #[param(schema_with = crate::domain::schema::page_offset)]
    offset: Option<u32>,
    /// Only calls answered with this status.
    #[param(schema_with = crate::domain::schema::status_code)]
    status: Option<u16>,
    /// Only calls that fired (or did not).
    fired: Option<bool>,
    /// Only calls received at or after this time (epoch milliseconds).
    #[param(schema_with = crate::domain::schema::epoch_ms)]
    since: Option<u64>,
}

/// List a trigger instance's webhook calls
///
/// Newest first. Every call that passed the URL secret check (or, for a trigger whose signature stands
/// in for the secret, named a real instance) is recorded, whatever it was answered.
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/receipts",
    tag = "trigger instances",
    operation_id = "list_receipts",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        ReceiptListQuery,
    ),
    responses(
        (
            status = 200,
            description = "One page of receipts",
            body = [Receipt],
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
    let q: ReceiptListQuery = query(&req)?;
    let page = ListQuery { q: None, limit: q.limit, offset: q.offset }.page()?;
    let filter = ReceiptFilter { status: q.status, fired: q.fired, since: q.since };
    let found = state.engine.list_receipts(system, instance, filter, page).await?;
    Ok(super::views::page_response(found, |r| r))
}

/// One webhook call's receipt
#[utoipa::path(
    get,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/receipts/{rcpt_id}",
    tag = "trigger instances",
    operation_id = "get_receipt",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        ("rcpt_id" = String, Path, description = "Receipt id (`rcpt-…`)"),
    ),
    responses((status = 200, description = "The receipt", body = Receipt), NotFound, KeyRequired)
)]
pub async fn get(
    _: Reader,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let receipt = find(&state, &path).await?;
    Ok(HttpResponse::Ok().json(receipt))
}

async fn find(state: &AppState, path: &(String, String, String)) -> Result<Receipt, ApiError> {
    let (system, instance) = instance_ids(&path.0, &path.1)?;
    let id = path_id(&path.2, ReceiptId::parse, "receipt")?;
    Ok(state.engine.get_receipt(system, instance, id).await?)
}

/// Replay a webhook call
///
/// Runs the recorded call (method, query, headers but the redacted ones, body, exec target) through the
/// webhook checks again, skipping the signature, timestamp and duplicate checks: the admin vouches for
/// it. Answers what that call answers, with the new receipt's id in `X-Switchboard-Receipt`; the new
/// receipt has `replay_of`. A receipt whose body was cut to `receipts.max_body_bytes` cannot be replayed
/// (409 `body_truncated`).
#[utoipa::path(
    post,
    path = "/api/engine/v2/systems/{id}/triggers/{trig_id}/receipts/{rcpt_id}/replay",
    tag = "trigger instances",
    operation_id = "replay_receipt",
    params(
        ("id" = String, Path, description = "System id (`sys-…`)"),
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        ("rcpt_id" = String, Path, description = "Receipt id (`rcpt-…`)"),
    ),
    responses(
        (
            status = "default",
            description = "What the call answers now",
            headers(("X-Switchboard-Receipt" = String, description = "The new receipt (`rcpt-…`)")),
        ),
        (status = 409, description = "`body_truncated`: the receipt holds only part of the body"),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn replay(
    _: Admin,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let receipt = find(&state, &path).await?;
    let (outcome, new_id) = replay_receipt(&state, &req, receipt).await?;
    let mut response = outcome.unwrap_or_else(|e| e.error_response());
    if let Ok(value) = HeaderValue::from_str(new_id.as_str()) {
        response.headers_mut().insert(HeaderName::from_static(RECEIPT_HEADER), value);
    }
    Ok(response)
}

/// Runs a recorded call again (see [`replay`]); the call's own answer, and the new receipt's id.
pub(crate) async fn replay_receipt(
    state: &AppState,
    req: &HttpRequest,
    receipt: Receipt,
) -> Result<(Result<HttpResponse, ApiError>, ReceiptId), ApiError> {
    if receipt.body_truncated {
        return Err(ApiError::client(
            actix_web::http::StatusCode::CONFLICT,
            "body_truncated",
            "the receipt holds only the first part of the body; the call cannot be replayed",
        ));
    }
    let target = state
        .engine
        .webhook_target_unchecked(receipt.trigger_instance.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("trigger instance accepting webhooks"))?;
    let headers = replayed_headers(&receipt);
    let exec = receipt.exec.as_ref().map(|e| RawExec {
        module: Some(e.module.clone()),
        index: e.index.clone(),
        method: Some(e.method.clone()),
    });
    let call = Call {
        req,
        path: Some(receipt.path.clone()),
        method: &receipt.method,
        headers: &headers,
        query: &receipt.query,
        exec,
        body: Body::Stored(receipt.body_bytes()),
        replay_of: Some(receipt.id.clone()),
    };
    Ok(webhook_call::run(state, &target, call).await)
}

fn replayed_headers(receipt: &Receipt) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in &receipt.headers {
        if value == REDACTED || NOT_REPLAYED.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
    headers
}
