//! Trigger webhooks: `/webhook/{trig_id}/notify?secret=…`, `/notify/{secret}` and
//! `/notify/{secret}/{mod}/{index}/{method}`, for GET, HEAD, POST, PUT, PATCH and DELETE.
//!
//! Checks run in a fixed order and all of them before anything fires, so a rejected call changes no
//! state: secret and instance (404, the same for every kind of miss), method (405), rate (429), body
//! size (413), exec parameters (400), then the exec target: exec enabled (403), module (404), webhook
//! method (404), access (403). Only then does the trigger fire and the module method run.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;

use super::errors::ApiError;
use super::AppState;
use crate::domain::module::ModuleRef;
use crate::domain::InstanceId;
use crate::drivers::sdk::{WebhookRequest, WebhookResponse};
use crate::engine::webhook::{effective_method, WebhookTarget};

/// What the caller asked a module to do with the call.
#[derive(Debug)]
struct ExecRequest {
    module: ModuleRef,
    method: String,
}

/// Exec parameters as they arrived, checked only after the cheaper checks pass.
#[derive(Debug, Default)]
struct RawExec {
    module: Option<String>,
    index: Option<String>,
    method: Option<String>,
}

impl RawExec {
    fn parse(self) -> Result<ExecRequest, ApiError> {
        let invalid = |message: &str| ApiError::bad_request("invalid_exec", message.to_owned());
        let module = self.module.filter(|m| !m.is_empty()).ok_or_else(|| invalid("exec needs a module (mod)"))?;
        let method =
            self.method.filter(|m| !m.is_empty()).ok_or_else(|| invalid("exec needs a module method (method)"))?;
        let module = match self.index {
            Some(index) => {
                let index = index
                    .parse::<u32>()
                    .ok()
                    .filter(|i| *i >= 1)
                    .ok_or_else(|| invalid("index must be an integer of at least 1"))?;
                ModuleRef::new(&module, index)
            }
            None => ModuleRef::parse(&module),
        }
        .map_err(|e| invalid(&format!("mod: {}", e.message)))?;
        Ok(ExecRequest { module, method })
    }
}

/// Where the secret and exec parameters were found.
struct NotifyCall {
    secret: String,
    exec: Option<RawExec>,
}

fn read_call(req: &HttpRequest) -> NotifyCall {
    let info = req.match_info();
    let mut secret = info.get("secret").map(str::to_owned);
    let mut exec = info.get("method").map(|method| RawExec {
        module: info.get("mod").map(str::to_owned),
        index: info.get("index").map(str::to_owned),
        method: Some(method.to_owned()),
    });
    if secret.is_none() {
        let mut wants_exec = false;
        let mut raw = RawExec::default();
        for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
            let slot = match key.as_ref() {
                "secret" => &mut secret,
                "mod" => &mut raw.module,
                "index" => &mut raw.index,
                "method" => &mut raw.method,
                "exec" => {
                    wants_exec = matches!(value.as_ref(), "true" | "1");
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        if wants_exec {
            exec = Some(raw);
        }
    }
    NotifyCall { secret: secret.unwrap_or_default(), exec }
}

#[derive(Serialize)]
struct NotifyResponse<'a> {
    trigger_instance: &'a InstanceId,
    fired: bool,
    triggered: bool,
    trigger_count: u64,
}

pub async fn notify(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let call = read_call(&req);
    if call.secret.is_empty() {
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_secret",
            "the webhook secret is required (?secret= or /notify/{secret})",
        ));
    }
    let trig_id = req.match_info().get("trig_id").unwrap_or_default();
    let target = state
        .engine
        .webhook_target(trig_id, &call.secret)
        .await?
        .ok_or_else(|| ApiError::not_found("trigger instance"))?;

    let allowed = effective_method(req.method().as_str()).is_some_and(|m| target.supported_methods().contains(m));
    if !allowed {
        return Err(method_not_allowed(&target));
    }
    if let Err(wait) = state.engine.webhook_rate_check(&target) {
        return Err(rate_limited(wait));
    }
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let exec = call.exec.map(RawExec::parse).transpose()?;
    let plan = match &exec {
        Some(exec) => Some(state.engine.plan_exec(&target, &exec.module, &exec.method).await?),
        None => None,
    };

    let id = target.instance.id.clone();
    let system = target.instance.control_system_id.clone();
    let notified = state.engine.webhook_fire(target, req.method().as_str()).await?;
    if let Some(plan) = plan {
        let request = WebhookRequest {
            method: req.method().as_str().to_owned(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            query: form_urlencoded::parse(req.query_string().as_bytes())
                .filter(|(k, _)| !RESERVED_QUERY.contains(&k.as_ref()))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            body: body.to_vec(),
            trigger_instance_id: id.to_string(),
            system_id: system.to_string(),
            request_id: request_id(&req),
        };
        let answer = state.engine.run_exec(plan, request).await?;
        return Ok(driver_response(answer));
    }
    Ok(HttpResponse::Accepted().json(NotifyResponse {
        trigger_instance: &id,
        fired: notified.fired,
        triggered: notified.triggered,
        trigger_count: notified.trigger_count,
    }))
}

/// Query parameters that address the engine, not the driver.
const RESERVED_QUERY: &[&str] = &["secret", "exec", "mod", "index", "method"];

/// Headers that belong to one connection, or that the server computes itself.
const NOT_RELAYED: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "upgrade", "content-length", "te", "trailer"];

fn request_id(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    req.extensions().get::<super::middleware::RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}

/// The driver's answer as the webhook caller's response; headers that are not valid HTTP are dropped.
fn driver_response(answer: WebhookResponse) -> HttpResponse {
    // run_exec checked the range; 100..=599 is always a valid status code.
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for (name, value) in &answer.headers {
        if NOT_RELAYED.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) =
            (header::HeaderName::from_bytes(name.as_bytes()), header::HeaderValue::from_str(value))
        {
            response.append_header((name, value));
        }
    }
    response.body(answer.body)
}

fn method_not_allowed(target: &WebhookTarget) -> ApiError {
    let mut allow: Vec<&str> = target.supported_methods().iter().map(|m| m.as_str()).collect();
    if allow.contains(&"GET") {
        allow.push("HEAD");
    }
    let allow = allow.join(", ");
    ApiError::MethodNotAllowed { allow }
}

fn rate_limited(wait: std::time::Duration) -> ApiError {
    // Round up: a client that waits the advertised whole seconds is never early.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited { retry_after: secs.max(1) }
}

/// Reads the body up to `limit` bytes, refusing a larger one as soon as that is known.
async fn read_body(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body must be at most {limit} bytes"),
        )
    };
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("invalid_body", "the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
