//! Reading request input into typed values, with errors that say which field is wrong.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::errors::ApiError;
use super::middleware::BodyTimeout;
use crate::store::PageRequest;

/// Admin request bodies are small; this bounds what a client can make the server buffer.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// Reads a JSON body: wrong content type or malformed JSON is a 400, a field of the wrong type or
/// shape a 422 naming it.
pub async fn json_body<T: DeserializeOwned>(req: &HttpRequest, payload: web::Payload) -> Result<T, ApiError> {
    let value = json_value(req, payload).await?.unwrap_or(serde_json::Value::Null);
    if !value.is_object() {
        return Err(ApiError::bad_request("invalid_json", "the body must be a JSON object"));
    }
    crate::domain::from_json(&value).map_err(ApiError::invalid)
}

/// Reads any JSON value; `None` for an empty body.
pub async fn json_value(req: &HttpRequest, payload: web::Payload) -> Result<Option<serde_json::Value>, ApiError> {
    let mut body = web::BytesMut::new();
    let mut reader = BodyReader::new(req, payload);
    while let Some(chunk) = reader.next().await? {
        if body.len() + chunk.len() > MAX_ADMIN_BODY {
            return Err(ApiError::client(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body must be at most {MAX_ADMIN_BODY} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
    if body.is_empty() && !is_json {
        return Ok(None);
    }
    if !is_json {
        return Err(ApiError::bad_request("unsupported_content_type", "the body must be sent as application/json"));
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}")))
}

/// A request body read chunk by chunk under a deadline: a client that trickles its bytes would
/// otherwise hold a connection (and what it sent so far) for as long as it likes.
pub struct BodyReader {
    /// `None` once abandoned.
    payload: Option<web::Payload>,
    timeout: Duration,
    deadline: tokio::time::Instant,
}

impl BodyReader {
    pub fn new(req: &HttpRequest, payload: web::Payload) -> Self {
        // Every app registers its `BodyTimeout`; without one, the configured default applies.
        let timeout = req
            .app_data::<BodyTimeout>()
            .map_or_else(|| Duration::from_millis(crate::config::WebhookConfig::default().body_timeout_ms), |t| t.0);
        Self { payload: Some(payload), timeout, deadline: tokio::time::Instant::now() + timeout }
    }

    /// The next chunk; 408 `body_timeout` once the deadline passes, 400 `invalid_body` if the
    /// connection breaks.
    pub async fn next(&mut self) -> Result<Option<web::Bytes>, ApiError> {
        let Some(payload) = self.payload.as_mut() else {
            return Ok(None);
        };
        match tokio::time::timeout_at(self.deadline, payload.next()).await {
            Err(_) => {
                self.abandon();
                Err(ApiError::BodyTimeout { after_ms: self.timeout.as_millis() })
            }
            Ok(chunk) => chunk
                .transpose()
                .map_err(|_| ApiError::bad_request("invalid_body", "the request body could not be read")),
        }
    }

    /// Hands the rest of the body to a task on this thread that reads and drops it. Why: actix
    /// closes the connection after the answer only while the body is unread and still held; a
    /// dropped chunked body it would drain for as long as the client trickles it. The connection
    /// then closes (after a short linger), which ends the body and the task.
    fn abandon(&mut self) {
        if let Some(mut payload) = self.payload.take() {
            actix_web::rt::spawn(async move { while let Some(Ok(_)) = payload.next().await {} });
        }
    }
}

/// Reads the query string; a bad value is a 400 naming the parameter. A NUL character (`%00`) is
/// one: no stored text holds it, and PostgreSQL refuses it as a statement's parameter.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(req.query_string().as_bytes());
    if let Some((param, _)) = pairs.clone().find(|(name, value)| name.contains('\0') || value.contains('\0')) {
        let param = param.replace('\0', "\\0");
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("query parameter {param}: must not contain the NUL character"),
        ));
    }
    let de = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let param = e.path().to_string();
        ApiError::bad_request("invalid_query", format!("query parameter {param}: {}", e.into_inner()))
    })
}

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

/// Paging and search for list routes.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only items whose name contains this, case-insensitively.
    pub q: Option<String>,
    /// Page size: default 100, at most 10000.
    #[param(schema_with = crate::domain::schema::page_limit)]
    pub limit: Option<usize>,
    /// Items to skip: default 0.
    #[param(schema_with = crate::domain::schema::page_offset)]
    pub offset: Option<u32>,
}

/// Paging alone, for lists without a name search (documentation only: [`ListQuery`] reads it).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageQuery {
    /// Page size: default 100, at most 10000.
    #[param(schema_with = crate::domain::schema::page_limit)]
    limit: Option<usize>,
    /// Items to skip: default 0.
    #[param(schema_with = crate::domain::schema::page_offset)]
    offset: Option<u32>,
}

impl ListQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit > MAX_LIMIT {
            return Err(ApiError::bad_request("invalid_query", format!("query parameter limit: at most {MAX_LIMIT}")));
        }
        Ok(PageRequest { offset: self.offset.map_or(0, |o| o as usize), limit })
    }

    pub fn search(&self) -> Option<String> {
        self.q.clone().filter(|q| !q.is_empty())
    }
}

/// A path segment that must be an id of type `T`; anything else names nothing that exists.
pub fn path_id<T>(raw: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<T, ApiError> {
    parse(raw).ok_or_else(|| ApiError::not_found(what))
}
