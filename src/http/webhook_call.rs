//! One trigger webhook call through every check after the URL secret, for live calls and replays
//! alike, with its receipt filled in as it goes.
//!
//! Order (a refusal changes no state): method (405), rate (429), body (413, 408), signature (401),
//! exec parameters (400), duplicate delivery (200), payload filter (202, not a pulse), exec target
//! (403, 404), callouts (403, 503; then the instance and exec target are read again); then the fire,
//! the delivery id stored, and the module's webhook method.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::errors::ApiError;
use super::webhook::{driver_response, method_not_allowed, rate_limited, read_body, ExecRequest, RawExec};
use super::AppState;
use crate::domain::actor::Actor;
use crate::domain::callout::{CalloutOn, Gate};
use crate::domain::callout_log::Question;
use crate::domain::receipt::{keep_body, ExecRecord, Receipt, VerificationOutcome, REDACTED, SECRET_HEADERS};
use crate::domain::verification::idempotency_key;
use crate::domain::webhook_filter::FilterInput;
use crate::domain::{now_epoch_ms, InstanceId, ReceiptId};
use crate::drivers::sdk::WebhookRequest;
use crate::engine::dedup::Claim;
use crate::engine::exec::ExecPlan;
use crate::engine::webhook::{effective_method, WebhookTarget};
use crate::events::context;

/// Where the body comes from: the connection, or a stored receipt.
pub enum Body {
    Stream(web::Payload),
    Stored(Vec<u8>),
}

/// A call as the pipeline needs it.
pub struct Call<'a> {
    pub req: &'a HttpRequest,
    /// The path as a receipt shows it; `None`: the live request's (see [`receipt_path`]).
    pub path: Option<String>,
    pub method: &'a str,
    pub headers: &'a HeaderMap,
    pub query: &'a str,
    pub exec: Option<RawExec>,
    pub body: Body,
    /// A replay of this receipt: the signature and duplicate checks are skipped.
    pub replay_of: Option<ReceiptId>,
}

/// The answer to an accepted webhook call without exec.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookAccepted)]
pub struct NotifyResponse<'a> {
    /// `trig-…`
    pub trigger_instance: &'a InstanceId,
    /// Whether this call fired the instance (the rising edge of its conditions).
    pub fired: bool,
    /// Whether the instance is triggered after the call.
    pub triggered: bool,
    /// How often the instance has fired, this call included.
    pub trigger_count: u64,
    /// The call did not match the trigger's `webhook_filter`: it was not a pulse.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub filtered: bool,
}

/// The answer to a repeated delivery.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDuplicate)]
pub struct DuplicateResponse<'a> {
    pub trigger_instance: &'a InstanceId,
    /// Always `true`.
    pub duplicate: bool,
    /// The receipt of the first call with this delivery id (`rcpt-…`).
    pub receipt: &'a ReceiptId,
}

/// Runs the call and records its receipt, whatever the outcome.
pub async fn run(
    state: &AppState,
    target: &Arc<WebhookTarget>,
    call: Call<'_>,
) -> (Result<HttpResponse, ApiError>, ReceiptId) {
    let log = state.engine.receipts();
    // Under a load the writer cannot keep up with, receipts are dropped: then none is built either.
    let kept = log.has_room();
    let mut receipt = start_receipt(target, &call, kept);
    let id = receipt.id.clone();
    // What this call causes is the webhook's doing (a replay's too: its receipt names the original).
    context::set_actor(Actor::Webhook { receipt: id.clone() });
    let outcome = checks_and_fire(state, target, call, &mut receipt, kept).await;
    match &outcome {
        Ok(response) => receipt.status = response.status().as_u16(),
        Err(e) => {
            receipt.status = actix_web::ResponseError::status_code(e).as_u16();
            receipt.error = Some(e.code().to_owned());
        }
    }
    if kept {
        log.record(receipt);
    } else {
        log.drop_one();
    }
    (outcome, id)
}

async fn checks_and_fire(
    state: &AppState,
    target: &Arc<WebhookTarget>,
    call: Call<'_>,
    receipt: &mut Receipt,
    kept: bool,
) -> Result<HttpResponse, ApiError> {
    let allowed = effective_method(call.method).is_some_and(|m| target.supported_methods().contains(m));
    if !allowed {
        return Err(method_not_allowed(target));
    }
    if let Err(wait) = state.engine.webhook_rate_check(target) {
        return Err(rate_limited(wait));
    }
    let body = match call.body {
        Body::Stream(payload) => read_body(call.req, payload, state.max_body_bytes).await?.to_vec(),
        Body::Stored(bytes) => bytes,
    };
    if kept {
        keep_receipt_body(state, receipt, &body);
    }
    let spec = &target.trigger.spec;
    let verification = spec.webhook_verification.as_ref();
    if let Some(settings) = verification.filter(|_| call.replay_of.is_none()) {
        let secrets = target.instance.signing_secrets(crate::domain::now_epoch_seconds());
        let now = i64::try_from(crate::domain::now_epoch_seconds()).unwrap_or(i64::MAX);
        if let Err(failure) = settings.verify(&secrets, call.headers, &body, now) {
            receipt.verification = VerificationOutcome::Failed;
            receipt.verification_error = Some(failure.to_string());
            return Err(ApiError::client(StatusCode::UNAUTHORIZED, "invalid_signature", failure.to_string()));
        }
        receipt.verification = VerificationOutcome::Verified;
    }
    let exec = call.exec.map(RawExec::parse).transpose()?;
    receipt.delivery_id =
        verification.and_then(|v| v.delivery_id(call.headers, &body)).or_else(|| idempotency_key(call.headers));
    let claim = match (&receipt.delivery_id, &call.replay_of) {
        (Some(delivery), None) => {
            match state.engine.claim_delivery(&target.instance.id, delivery, &receipt.id).await? {
                Claim::Duplicate(first) => {
                    receipt.duplicate = true;
                    return Ok(HttpResponse::Ok().json(DuplicateResponse {
                        trigger_instance: &target.instance.id,
                        duplicate: true,
                        receipt: &first,
                    }));
                }
                Claim::New(claim) => Some(claim),
            }
        }
        _ => None,
    };
    if let Some(filter) = &spec.webhook_filter {
        let query: Vec<(String, String)> = form_urlencoded::parse(call.query.as_bytes()).into_owned().collect();
        if !filter.matches(&FilterInput { body: &body, headers: call.headers, query: &query }) {
            receipt.filtered = true;
            let (triggered, trigger_count) = state.engine.instance_counters(&target.instance.id).await?;
            if let Some(claim) = claim {
                state.engine.confirm_delivery(claim).await?;
            }
            return Ok(HttpResponse::Accepted().json(NotifyResponse {
                trigger_instance: &target.instance.id,
                fired: false,
                triggered,
                trigger_count,
                filtered: true,
            }));
        }
    }
    let (target, plan) = match &exec {
        Some(request) => {
            let plan = state.engine.plan_exec(target, &request.module, &request.method).await?;
            let (target, plan) = clear_exec(state, target, request, plan, call.req, receipt).await?;
            (target, Some(plan))
        }
        None => (Arc::clone(target), None),
    };
    let target = &target;
    let notified = state.engine.webhook_fire(target, call.method, &receipt.id, &body).await?;
    receipt.fired = notified.fired;
    if let Some(claim) = claim {
        state.engine.confirm_delivery(claim).await?;
    }
    let Some(plan) = plan else {
        return Ok(HttpResponse::Accepted().json(NotifyResponse {
            trigger_instance: &target.instance.id,
            fired: notified.fired,
            triggered: notified.triggered,
            trigger_count: notified.trigger_count,
            filtered: false,
        }));
    };
    let request = driver_request(target, call.method, call.headers, call.query, body, receipt);
    let started = Instant::now();
    let answer = state.engine.run_exec(plan, request).await;
    if let Some(exec) = &mut receipt.exec {
        exec.latency_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        exec.status = answer.as_ref().ok().map(|a| a.status);
    }
    Ok(driver_response(answer?))
}

/// Asks the callouts the exec needs. When some were asked and allowed, the instance and the plan are
/// read again: the receiver may have changed them while it answered (disabled the instance, turned
/// exec off, removed the module), and such a change holds for this very call.
async fn clear_exec(
    state: &AppState,
    target: &Arc<WebhookTarget>,
    exec: &ExecRequest,
    plan: ExecPlan,
    req: &HttpRequest,
    receipt: &Receipt,
) -> Result<(Arc<WebhookTarget>, ExecPlan), ApiError> {
    let instance = &target.instance;
    let reference = exec.module.to_string();
    let gate = Gate {
        on: CalloutOn::Exec,
        system: &instance.control_system_id,
        module: Some(&reference),
        method: Some(&exec.method),
        trigger: Some(&instance.trigger_id),
    };
    let question = || {
        let remote = req.peer_addr().map(|a| a.to_string());
        let request_id = Some(receipt.request_id.clone());
        Question::exec(&gate, Some(instance.id.clone()), context::current().0, request_id, remote)
    };
    if !state.engine.ask_callouts(&gate, question).await? {
        return Ok((Arc::clone(target), plan));
    }
    let again = state.engine.webhook_target_unchecked(instance.id.as_str()).await?;
    let again = again.ok_or_else(|| ApiError::not_found("trigger instance"))?;
    let plan = state.engine.plan_exec(&again, &exec.module, &exec.method).await?;
    Ok((again, plan))
}

fn driver_request(
    target: &WebhookTarget,
    method: &str,
    headers: &HeaderMap,
    query: &str,
    body: Vec<u8>,
    receipt: &Receipt,
) -> WebhookRequest {
    WebhookRequest {
        method: method.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        query: form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| !super::webhook::RESERVED_QUERY.contains(&k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        body,
        trigger_instance_id: target.instance.id.to_string(),
        system_id: target.instance.control_system_id.to_string(),
        request_id: receipt.request_id.clone(),
    }
}

fn keep_receipt_body(state: &AppState, receipt: &mut Receipt, body: &[u8]) {
    let (text, encoding, truncated) = keep_body(body, state.receipt_body_bytes);
    receipt.body = text;
    receipt.body_encoding = encoding;
    receipt.body_truncated = truncated;
    receipt.body_size = body.len();
}

/// With receipts off, only what the call itself needs (its id, for dedup and events) is filled in.
fn start_receipt(target: &WebhookTarget, call: &Call<'_>, kept: bool) -> Receipt {
    let instance = &target.instance;
    let verification = match (&target.trigger.spec.webhook_verification, &call.replay_of) {
        (None, _) => VerificationOutcome::NotConfigured,
        (Some(_), Some(_)) => VerificationOutcome::Skipped,
        (Some(_), None) => VerificationOutcome::NotChecked,
    };
    Receipt {
        id: ReceiptId::generate(),
        trigger_instance: instance.id.clone(),
        system_id: instance.control_system_id.clone(),
        received_at: now_epoch_ms(),
        method: call.method.to_owned(),
        path: match (&call.path, kept) {
            (_, false) => String::new(),
            (Some(path), true) => path.clone(),
            (None, true) => receipt_path(call.req, &instance.id),
        },
        query: if kept { redact_query(call.query) } else { String::new() },
        headers: if kept { redact_headers(call.headers, token_header(target)) } else { BTreeMap::new() },
        remote_addr: call.req.peer_addr().filter(|_| kept).map(|a| a.to_string()),
        body: String::new(),
        body_encoding: crate::domain::receipt::BodyEncoding::Utf8,
        body_truncated: false,
        body_size: 0,
        verification,
        verification_error: None,
        delivery_id: None,
        duplicate: false,
        filtered: false,
        status: 0,
        error: None,
        fired: false,
        exec: call.exec.as_ref().map(|e| ExecRecord {
            module: e.module.clone().unwrap_or_default(),
            index: e.index.clone(),
            method: e.method.clone().unwrap_or_default(),
            status: None,
            latency_ms: None,
        }),
        request_id: super::webhook::request_id(call.req),
        replay_of: call.replay_of.clone(),
    }
}

/// The header a token scheme carries its secret in.
fn token_header(target: &WebhookTarget) -> Option<String> {
    let settings = target.trigger.spec.webhook_verification.as_ref()?;
    settings.secret_header().map(str::to_ascii_lowercase)
}

/// The path in its canonical form, the secret segment replaced: what actix routed on, never the raw
/// (possibly percent-encoded) target.
fn receipt_path(req: &HttpRequest, id: &InstanceId) -> String {
    let info = req.match_info();
    let mut path = format!("/api/engine/v2/webhook/{id}/notify");
    if info.get("secret").is_some() {
        path.push('/');
        path.push_str(REDACTED);
    }
    if let (Some(module), Some(index), Some(method)) = (info.get("mod"), info.get("index"), info.get("method")) {
        path.push_str(&format!("/{module}/{index}/{method}"));
    }
    path
}

/// The query as it arrived, but for the secret's value; a key is compared as the server decodes it, so
/// `%73ecret=` is redacted too.
pub(crate) fn redact_query(query: &str) -> String {
    let pairs = query.split('&').map(|pair| match pair.split_once('=') {
        Some((key, _)) if decoded_key(key) == "secret" => format!("{key}={REDACTED}"),
        _ => pair.to_owned(),
    });
    pairs.collect::<Vec<_>>().join("&")
}

fn decoded_key(raw: &str) -> String {
    form_urlencoded::parse(raw.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default()
}

fn redact_headers(headers: &HeaderMap, token: Option<String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers.iter() {
        let name = name.as_str();
        let secret = SECRET_HEADERS.contains(&name) || name == "x-api-key" || token.as_deref() == Some(name);
        let value = if secret { REDACTED.into() } else { String::from_utf8_lossy(value.as_bytes()).into_owned() };
        out.entry(name.to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}
