//! Trigger webhooks: `/webhook/{trig_id}/notify?secret=…`, `/notify/{secret}` and
//! `/notify/{secret}/{mod}/{index}/{method}`, for GET, HEAD, POST, PUT, PATCH and DELETE.
//!
//! Checks run in a fixed order and all of them before anything fires, so a rejected call changes no
//! state: secret and instance (404, the same for every kind of miss), then in `webhook_call`: method
//! (405), rate (429), body size (413), signature (401), exec parameters (400), duplicate delivery (200),
//! payload filter (202, not a pulse), then the exec target: exec enabled (403), module (404), webhook
//! method (404), access (403). Only then does the trigger fire and the module method run.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::errors::{ApiError, ErrorBody};
use super::webhook_call::{self, Body, Call, NotifyResponse};
use super::AppState;
use crate::domain::module::{ModuleName, ModuleRef};
use crate::drivers::sdk::WebhookResponse;
use crate::engine::webhook::WebhookTarget;

/// The refusals and failures of a trigger webhook that may pass the call to a module.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Documentation only: the handlers answer through `ApiError`.
enum ExecErrors {
    /// `not_found` (unknown instance, wrong secret, disabled instance, or a trigger without
    /// `enable_webhook`, indistinguishable), `module_not_found` (no such module in the system) or
    /// `method_not_found` (no such function, or not a webhook method).
    #[response(status = 404)]
    NotFound(ErrorBody<'static>),
    /// `method_not_allowed`: the method is not in the trigger's `supported_methods`; `Allow` lists those.
    #[response(status = 405)]
    MethodNotAllowed(ErrorBody<'static>),
    /// `rate_limited`: over the instance's rate limit; `Retry-After` says how many seconds to wait.
    #[response(status = 429)]
    RateLimited(ErrorBody<'static>),
    /// `invalid_signature`: the trigger verifies signatures and this one is missing, malformed, stale or
    /// does not match (the message says which, never the expected value).
    #[response(status = 401)]
    InvalidSignature(ErrorBody<'static>),
    /// `payload_too_large`: the body is over `webhook.max_body_bytes` (refused from `Content-Length`
    /// before reading).
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody<'static>),
    /// `body_timeout`: the body did not arrive within `webhook.body_timeout_ms`; the connection is closed.
    #[response(status = 408)]
    BodyTimeout(ErrorBody<'static>),
    /// `invalid_exec`: exec without `mod` or `method`, or `index` not an integer ≥ 1.
    #[response(status = 400)]
    InvalidExec(ErrorBody<'static>),
    /// `exec_disabled` (the instance's `exec_enabled` is false), `forbidden_method` (the webhook method
    /// needs admin access) or `denied_by_callout` (a callout refused the exec; the message is its reason).
    #[response(status = 403)]
    Forbidden(ErrorBody<'static>),
    /// `callout_unavailable`: a callout whose failure policy is `deny` could not be asked.
    #[response(status = 503)]
    CalloutUnavailable(ErrorBody<'static>),
    /// `driver_error`: the driver returned an error, panicked, or gave a status outside 100–599.
    #[response(status = 502)]
    DriverError(ErrorBody<'static>),
    /// `driver_timeout`: the driver took longer than `drivers.call_timeout_ms`.
    #[response(status = 504)]
    DriverTimeout(ErrorBody<'static>),
}

/// What the caller asked a module to do with the call.
#[derive(Debug)]
pub(crate) struct ExecRequest {
    pub module: ModuleRef,
    pub method: String,
}

/// Exec parameters as they arrived, checked only after the cheaper checks pass.
#[derive(Debug, Default, Clone)]
pub(crate) struct RawExec {
    pub module: Option<String>,
    pub index: Option<String>,
    pub method: Option<String>,
}

impl RawExec {
    pub fn parse(self) -> Result<ExecRequest, ApiError> {
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
pub(crate) struct NotifyCall {
    pub secret: String,
    pub exec: Option<RawExec>,
}

pub(crate) fn read_call(req: &HttpRequest) -> NotifyCall {
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

/// Call a trigger webhook (secret in the query)
///
/// `?secret=S` fires the trigger instance; with `exec=true&mod=Display&index=2&method=request` (or
/// `mod=Display_2`) the call is also passed to that module's webhook method, whose answer is returned.
///
/// GET, POST, PUT, PATCH and DELETE (HEAD is answered like GET, without a body) are accepted when they
/// are in the trigger's `supported_methods`. Checks run in this order, all before anything fires, so a
/// rejected call changes nothing: secret and instance (404), method (405), rate (429), body size (413),
/// signature (401, with `webhook_verification`), exec parameters (400), duplicate delivery (200
/// `{"trigger_instance", "duplicate": true, "receipt"}`), payload filter (202 `"filtered": true`, not a
/// pulse), exec target (403, 404). The secret is the credential: no API key (or, with
/// `require_url_secret: false`, a valid signature stands in for it).
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/api/engine/v2/webhook/{trig_id}/notify",
    tag = "trigger webhooks",
    operation_id = "notify",
    security(()),
    params(
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        ("secret" = String, Query, min_length = 1, description = "The instance's webhook secret"),
        (
            "exec" = Option<String>,
            Query,
            description = "`true` or `1` passes the call to a module; any other value, or none, does not (and then \
                           `mod`, `index` and `method` are not read)"
        ),
        (
            "mod" = Option<String>,
            Query,
            description = "Exec (required): module name (`Display`) or reference (`Display_2`); else 400 `invalid_exec`"
        ),
        (
            "index" = Option<String>,
            Query,
            description = "Exec: which same-named module, an integer from 1 to 999999; else 400 `invalid_exec`"
        ),
        ("method" = Option<String>, Query, description = "Exec (required): the module's webhook method"),
    ),
    request_body(
        description = "Optional, any content type, up to `webhook.max_body_bytes`: passed to the module's webhook \
                       method on exec, otherwise ignored",
        content(("*/*")),
    ),
    responses(
        (status = 202, description = "Accepted, no exec", body = NotifyResponse),
        (
            status = "default",
            description = "Accepted exec: the driver's status (100–599), headers and body",
        ),
        (
            status = 422,
            description = "`missing_secret`: no secret",
            body = ErrorBody,
        ),
        ExecErrors,
    )
)]
pub async fn notify(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let call = read_call(&req);
    let trig_id = req.match_info().get("trig_id").unwrap_or_default();
    let target = if call.secret.is_empty() {
        // A signature may stand in for the secret, when the trigger says so.
        state.engine.webhook_target_unchecked(trig_id).await?.filter(|t| t.signature_replaces_secret()).ok_or_else(
            || {
                ApiError::client(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "missing_secret",
                    "the webhook secret is required (?secret= or /notify/{secret})",
                )
            },
        )?
    } else {
        state
            .engine
            .webhook_target(trig_id, &call.secret)
            .await?
            .ok_or_else(|| ApiError::not_found("trigger instance"))?
    };
    let call = Call {
        req: &req,
        path: None,
        method: req.method().as_str(),
        headers: req.headers(),
        query: req.query_string(),
        exec: call.exec,
        body: Body::Stream(payload),
        replay_of: None,
    };
    webhook_call::run(&state, &target, call).await.0
}

/// Call a trigger webhook (secret in the path)
///
/// `/notify/{secret}` fires the trigger instance, like `?secret=`; query parameters are not read.
///
/// GET, POST, PUT, PATCH and DELETE (HEAD is answered like GET, without a body) are accepted when they
/// are in the trigger's `supported_methods`. Checks run in this order, all before anything fires, so a
/// rejected call changes nothing: secret and instance (404), method (405), rate (429), body size (413),
/// signature (401, with `webhook_verification`), exec parameters (400), duplicate delivery (200
/// `{"trigger_instance", "duplicate": true, "receipt"}`), payload filter (202 `"filtered": true`, not a
/// pulse), exec target (403, 404). The secret is the credential: no API key (or, with
/// `require_url_secret: false`, a valid signature stands in for it).
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/api/engine/v2/webhook/{trig_id}/notify/{secret}",
    tag = "trigger webhooks",
    operation_id = "notify_with_secret",
    security(()),
    params(
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        ("secret" = String, Path, description = "The instance's webhook secret"),
    ),
    request_body(
        description = "Optional, any content type, up to `webhook.max_body_bytes`: passed to the module's webhook \
                       method on exec, otherwise ignored",
        content(("*/*")),
    ),
    responses(
        (status = 202, description = "Accepted", body = NotifyResponse),
        (
            status = 404,
            description = "`not_found`: unknown instance, wrong secret, disabled instance, or a trigger without \
                           `enable_webhook` (indistinguishable; the secret is compared in constant time)",
            body = ErrorBody,
        ),
        (
            status = 405,
            description = "`method_not_allowed`: the method is not in the trigger's `supported_methods`",
            body = ErrorBody,
            headers(("Allow" = String, description = "The methods the trigger accepts")),
        ),
        (
            status = 429,
            description = "`rate_limited`: over the instance's rate limit",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait")),
        ),
        (
            status = 413,
            description = "`payload_too_large`: the body is over `webhook.max_body_bytes` (refused from \
                           `Content-Length` before reading)",
            body = ErrorBody,
        ),
    )
)]
pub(super) async fn notify_with_secret(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // The same handler as `notify`; a function of its own so that the document can describe this form.
    notify(req, payload, state).await
}

/// Call a trigger webhook and a module's webhook method
///
/// `/notify/{secret}/{mod}/{index}/{method}` fires the trigger instance and passes the call (method,
/// headers, query, body) to the webhook method of the `index`-th module named `mod` in the system; the
/// module's answer is returned.
///
/// GET, POST, PUT, PATCH and DELETE (HEAD is answered like GET, without a body) are accepted when they
/// are in the trigger's `supported_methods`. Checks run in this order, all before anything fires, so a
/// rejected call changes nothing: secret and instance (404), method (405), rate (429), body size (413),
/// signature (401, with `webhook_verification`), exec parameters (400), duplicate delivery (200
/// `{"trigger_instance", "duplicate": true, "receipt"}`), payload filter (202 `"filtered": true`, not a
/// pulse), exec target (403, 404). The secret is the credential: no API key (or, with
/// `require_url_secret: false`, a valid signature stands in for it).
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/api/engine/v2/webhook/{trig_id}/notify/{secret}/{mod}/{index}/{method}",
    tag = "trigger webhooks",
    operation_id = "notify_exec",
    security(()),
    params(
        ("trig_id" = String, Path, description = "Trigger instance id (`trig-…`)"),
        ("secret" = String, Path, description = "The instance's webhook secret"),
        ("mod" = ModuleName, Path, description = "Module name, e.g. `Display`"),
        ("index" = u32, Path, minimum = 1, maximum = 999_999, description = "Which same-named module, from 1"),
        ("method" = String, Path, description = "The module's webhook method"),
    ),
    request_body(
        description = "Optional, any content type, up to `webhook.max_body_bytes`: passed to the module's webhook \
                       method on exec, otherwise ignored",
        content(("*/*")),
    ),
    responses(
        (
            status = "default",
            description = "Accepted exec: the driver's status (100–599), headers and body",
        ),
        ExecErrors,
    )
)]
pub(super) async fn notify_exec(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // The same handler as `notify`; a function of its own so that the document can describe this form.
    notify(req, payload, state).await
}

/// Query parameters that address the engine, not the driver.
pub(super) const RESERVED_QUERY: &[&str] = &["secret", "exec", "mod", "index", "method"];

/// Headers that belong to one connection, or that the server computes itself.
const NOT_RELAYED: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "upgrade", "content-length", "te", "trailer"];

pub(super) fn request_id(req: &HttpRequest) -> String {
    use actix_web::HttpMessage;
    req.extensions().get::<super::middleware::RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}

/// The driver's answer as the webhook caller's response; headers that are not valid HTTP are dropped.
pub(super) fn driver_response(answer: WebhookResponse) -> HttpResponse {
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

pub(super) fn method_not_allowed(target: &WebhookTarget) -> ApiError {
    let mut allow: Vec<&str> = target.supported_methods().iter().map(|m| m.as_str()).collect();
    if allow.contains(&"GET") {
        allow.push("HEAD");
    }
    let allow = allow.join(", ");
    ApiError::MethodNotAllowed { allow, on: "webhook" }
}

pub(super) fn rate_limited(wait: std::time::Duration) -> ApiError {
    // Round up: a client that waits the advertised whole seconds is never early.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited { retry_after: secs.max(1) }
}

/// Reads the body up to `limit` bytes, refusing a larger one as soon as that is known, and one that
/// takes longer than `webhook.body_timeout_ms` to arrive.
pub(super) async fn read_body(req: &HttpRequest, payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
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
    let mut reader = super::input::BodyReader::new(req, payload);
    while let Some(chunk) = reader.next().await? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
