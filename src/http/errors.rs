//! The one error type handlers return, and its JSON form `{"error": code, "message": text}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::ValidationError;
use crate::engine::{EngineError, ExecError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Client { status: StatusCode, code: &'static str, message: String, field: Option<String> },
    /// The method is not one the route (or the trigger, `on` says which) accepts; `allow` lists those it does.
    #[error("method not allowed")]
    MethodNotAllowed { allow: String, on: &'static str },
    #[error("rate limited")]
    RateLimited { retry_after: u64 },
    /// The body did not arrive in time (`webhook.body_timeout_ms`). The connection is closed after
    /// the answer: what is left of the body may never come.
    #[error("the request body took longer than {after_ms} ms to arrive")]
    BodyTimeout { after_ms: u128 },
    /// Anything the client cannot act on. Logged in full, answered opaquely.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every error answer: a stable code, a human message and, for 422s, the offending input.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(
    as = Error,
    example = json!({"error": "invalid_field", "message": "name: must not be empty", "field": "name"})
)]
pub(super) struct ErrorBody<'a> {
    /// A stable code: `unauthorized`, `forbidden`, `not_found`, `invalid_field`, `store_unavailable`, …
    error: &'a str,
    /// Human text; never carries secrets.
    message: &'a str,
    /// The input at fault (`name`, `modules[0]`, `conditions.comparisons[0].operator`, …), on 422s.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    field: Option<&'a str>,
}

impl ApiError {
    /// A method the route has no handler for.
    pub fn route_method_not_allowed(allow: String) -> Self {
        Self::MethodNotAllowed { allow, on: "route" }
    }

    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Client { status, code, message: message.into(), field: None }
    }

    /// The stable code the answer carries (`internal_error` for anything unexpected).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Client { code, .. } => code,
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::BodyTimeout { .. } => "body_timeout",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn unauthorized() -> Self {
        Self::client(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an API key is required in X-API-Key or Authorization: Bearer",
        )
    }

    pub fn forbidden() -> Self {
        Self::client(StatusCode::FORBIDDEN, "forbidden", "this API key may not make changes")
    }

    pub fn not_found(what: &str) -> Self {
        Self::client(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid(e: ValidationError) -> Self {
        let message = if e.field.is_empty() { e.message.clone() } else { format!("{}: {}", e.field, e.message) };
        Self::Client {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            message,
            field: Some(e.field).filter(|f| !f.is_empty()),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(what) => Self::not_found(what),
            EngineError::Invalid(v) => Self::invalid(v),
            EngineError::Exec(e) => {
                let (status, code) = match &e {
                    ExecError::Disabled => (StatusCode::FORBIDDEN, "exec_disabled"),
                    ExecError::ModuleNotFound(_) => (StatusCode::NOT_FOUND, "module_not_found"),
                    ExecError::MethodNotFound(_) => (StatusCode::NOT_FOUND, "method_not_found"),
                    ExecError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden_method"),
                    ExecError::InvalidArgs(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_args"),
                    ExecError::Driver(_) => (StatusCode::BAD_GATEWAY, "driver_error"),
                    ExecError::Timeout => (StatusCode::GATEWAY_TIMEOUT, "driver_timeout"),
                    ExecError::DeniedByCallout(_) => (StatusCode::FORBIDDEN, "denied_by_callout"),
                    ExecError::CalloutUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "callout_unavailable"),
                };
                Self::client(status, code, e.to_string())
            }
            EngineError::RunNotFailed(status) => {
                Self::client(StatusCode::CONFLICT, "run_not_failed", EngineError::RunNotFailed(status).to_string())
            }
            EngineError::Store(StoreError::Unavailable(cause)) => {
                tracing::warn!(error = %cause, "the store is unavailable");
                Self::client(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the store is unavailable; try again shortly",
                )
            }
            EngineError::Store(inner) => Self::Internal(inner.to_string()),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Client { status, .. } => *status,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Client { status, code, message, field } => {
                HttpResponse::build(*status).json(ErrorBody { error: code, message, field: field.as_deref() })
            }
            Self::MethodNotAllowed { allow, on } => HttpResponse::MethodNotAllowed()
                .insert_header((actix_web::http::header::ALLOW, allow.as_str()))
                .json(ErrorBody {
                    error: "method_not_allowed",
                    message: &format!("this {on} accepts {allow}"),
                    field: None,
                }),
            Self::RateLimited { retry_after } => HttpResponse::TooManyRequests()
                .insert_header((actix_web::http::header::RETRY_AFTER, retry_after.to_string()))
                .json(ErrorBody {
                    error: "rate_limited",
                    message: &format!("too many calls to this webhook; retry in {retry_after} s"),
                    field: None,
                }),
            Self::BodyTimeout { .. } => HttpResponse::RequestTimeout().force_close().json(ErrorBody {
                error: "body_timeout",
                message: &self.to_string(),
                field: None,
            }),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                HttpResponse::InternalServerError().json(ErrorBody {
                    error: "internal_error",
                    message: "the server could not complete the request",
                    field: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    #[test]
    fn an_unavailable_store_answers_503_store_unavailable_and_other_store_failures_500() {
        for (error, status, code) in [
            (StoreError::Unavailable("connection refused".into()), 503, "store_unavailable"),
            (StoreError::Backend("disk on fire".into()), 500, "internal_error"),
        ] {
            let api = ApiError::from(EngineError::from(error));
            let response = api.error_response();
            assert_eq!(response.status().as_u16(), status);
            let body = response.into_body().try_into_bytes().expect("a JSON body");
            let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(body["error"], code, "{body}");
            assert!(!body.to_string().contains("disk on fire"), "internal detail leaked: {body}");
        }
    }
}
