//! Logging: the global subscriber, the root span of every request (with webhook secrets cut out of
//! its target), and how failed requests are logged.

mod refusals;

use actix_web::dev::ServiceResponse;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::http::errors::ApiError;

pub use refusals::summarise_refusals;
use refusals::Refusal;

/// Directives always added to the filter, whatever `RUST_LOG` says. tracing-actix-web logs every error
/// answer at WARN, with the error's debug form and before this crate can decide what a refusal is
/// worth; failed requests are logged by [`RedactedRootSpan`] instead. tokio-postgres logs every
/// statement's parameters at DEBUG, and they carry stored records whole, webhook and subscription
/// secrets included.
const FIXED_DIRECTIVES: &[&str] = &["tracing_actix_web::middleware=off", "tokio_postgres::query=info"];

/// The filter when `RUST_LOG` is unset: actix's HTTP/1 dispatcher logs every malformed request (a
/// bad header, a broken chunk) at ERROR, which any client can make happen as often as it likes.
const DEFAULT_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Installs the global subscriber; `RUST_LOG` filters, [`DEFAULT_FILTER`] without it.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal;
    // Colour codes only for a terminal: in a file or a pipe they hinder every search.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A subscriber installed earlier (by a test harness, say) keeps working; nothing to do.
    drop(result);
}

fn filter() -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    for directive in FIXED_DIRECTIVES {
        // The directives are constants that parse; a unit test proves it.
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// The root span of every request, with webhook secrets cut out of the logged target (see
/// [`redact_target`]); when the request fails, it logs why, at a level that depends on who was
/// refused (see [`log_failure`]).
pub struct RedactedRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        // Field values are computed only when the span is enabled, so a quiet log level costs nothing.
        tracing::info_span!(
            "http_request",
            method = %request.method(),
            target = %redact_target(request.path(), request.query_string()),
            request_id = %request
                .extensions()
                .get::<crate::http::middleware::RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        match outcome {
            Ok(response) => {
                span.record("status", response.status().as_u16());
                if let Some(error) = response.response().error() {
                    log_failure(Some(response.request().match_info().as_str()), response.status(), error);
                }
            }
            Err(error) => log_failure(None, error.as_response_error().status_code(), error),
        }
    }
}

/// Logs a failed request inside its span. Refusals of unauthenticated calls are DEBUG (and counted:
/// see [`Refusal`]) so that anyone able to reach the port cannot fill the log; other client errors
/// are WARN, server errors ERROR. `path` is the decoded path the router matched.
fn log_failure(path: Option<&str>, status: actix_web::http::StatusCode, error: &actix_web::Error) {
    let api = error.as_error::<ApiError>();
    if matches!(api, Some(ApiError::Internal(_))) {
        // Already logged with its cause where it was answered.
        return;
    }
    let code = api.map_or("unknown", ApiError::code);
    if status.is_server_error() {
        tracing::error!(code, "request failed: {error}");
    } else if let Some(refusal) = path.and_then(|p| Refusal::classify(p, status.as_u16())) {
        refusal.count(code);
        tracing::debug!(code, "call refused: {error}");
    } else {
        tracing::warn!(code, "request refused: {error}");
    }
}

const REDACTED: &str = "[redacted]";

/// The request target with webhook secrets replaced: the query's `secret` value, and under a
/// `webhook` segment the segment after `notify` (or everything after the instance id when the next
/// segment is not `notify`). Segments and query keys are compared as the server decodes them, so
/// `%77ebhook`, `%6Eotify` or `%73ecret=` cannot smuggle a secret past it; the output keeps the bytes
/// as sent, so a decoded `%0A` cannot forge a log line either.
pub fn redact_target(path: &str, query: &str) -> String {
    let path = redact_path(path);
    if query.is_empty() {
        return path;
    }
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if decoded(key).eq_ignore_ascii_case("secret") {
                format!("{key}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// Actix splits the path on `/` before it decodes a segment (it never decodes `%2F`), so splitting
/// the raw path gives the segments it routes on. Names are compared ignoring case: actix routes only
/// the exact case, but a secret sent to a near-miss path is still a secret.
fn redact_path(path: &str) -> String {
    let Some(webhook) = path.split('/').position(|s| named(s, "webhook")) else {
        return path.to_owned();
    };
    let mut segments: Vec<&str> = path.split('/').collect();
    // webhook / {trig_id} / notify / {secret} / …
    let after_id = webhook + 2;
    match segments.get(after_id) {
        Some(s) if named(s, "notify") => {
            if let Some(secret) = segments.get_mut(after_id + 1) {
                *secret = REDACTED;
            }
        }
        Some(_) => {
            segments.truncate(after_id);
            segments.push(REDACTED);
        }
        None => {}
    }
    segments.join("/")
}

fn named(segment: &str, name: &str) -> bool {
    if !segment.contains(['%', '+']) {
        // Nothing to decode: no allocation on the path of every request.
        return segment.eq_ignore_ascii_case(name);
    }
    // Each character is at most three bytes encoded (`%77`); longer segments cannot match.
    segment.len() <= 3 * name.len() && decoded(segment).eq_ignore_ascii_case(name)
}

/// A path segment or query key as the server decodes it.
fn decoded(raw: &str) -> String {
    form_urlencoded::parse(raw.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{filter, redact_target, FIXED_DIRECTIVES};

    #[test]
    fn secrets_never_reach_the_logged_target() {
        let cases = [
            (
                "query secret",
                "/api/engine/v2/webhook/trig-1/notify",
                "secret=abc&exec=true",
                "/api/engine/v2/webhook/trig-1/notify?secret=[redacted]&exec=true",
            ),
            (
                "path secret with exec",
                "/api/engine/v2/webhook/trig-1/notify/abc/Display/2/request",
                "",
                "/api/engine/v2/webhook/trig-1/notify/[redacted]/Display/2/request",
            ),
            (
                "path secret",
                "/api/engine/v2/webhook/trig-1/notify/abc",
                "",
                "/api/engine/v2/webhook/trig-1/notify/[redacted]",
            ),
            ("no webhook", "/healthz", "", "/healthz"),
            (
                "encoded query key",
                "/api/engine/v2/webhook/trig-1/notify",
                "%73ecret=abc&x=1",
                "/api/engine/v2/webhook/trig-1/notify?%73ecret=[redacted]&x=1",
            ),
            (
                "encoded notify",
                "/api/engine/v2/webhook/trig-1/%6Eotify/abc",
                "",
                "/api/engine/v2/webhook/trig-1/%6Eotify/[redacted]",
            ),
            (
                "encoded webhook",
                "/api/engine/v2/%77ebhook/trig-1/notify/abc/Display/0/request",
                "",
                "/api/engine/v2/%77ebhook/trig-1/notify/[redacted]/Display/0/request",
            ),
            (
                "upper-case encoding and name",
                "/%61pi/engine/v2/%57EBHOOK/trig-1/%4E%4f%54%49%46%59/abc",
                "",
                "/%61pi/engine/v2/%57EBHOOK/trig-1/%4E%4f%54%49%46%59/[redacted]",
            ),
            ("not notify", "/api/engine/v2/webhook/trig-1/abc/x", "", "/api/engine/v2/webhook/trig-1/[redacted]"),
            (
                "newline stays encoded",
                "/api/engine/v2/webhook/trig-1/notify/abc%0Aforged",
                "",
                "/api/engine/v2/webhook/trig-1/notify/[redacted]",
            ),
        ];
        for (case, path, query, expected) in cases {
            assert_eq!(redact_target(path, query), expected, "{case}");
        }
    }

    #[test]
    fn the_fixed_directives_parse() {
        for directive in FIXED_DIRECTIVES {
            assert!(directive.parse::<tracing_subscriber::filter::Directive>().is_ok(), "{directive}");
        }
        assert!(filter().to_string().contains("tracing_actix_web::middleware=off"));
        assert!(filter().to_string().contains("tokio_postgres::query=info"));
    }
}
