use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; `RUST_LOG` filters, `info` by default.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A subscriber installed earlier (by a test harness, say) keeps working; nothing to do.
    drop(result);
}

/// The root span of every request, with webhook secrets cut out of the logged target: a secret may
/// be in the query (`secret=`) or be the path segment after `notify/`.
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
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        if let Ok(response) = outcome {
            span.record("status", response.status().as_u16());
        }
    }
}

/// The request target with webhook secrets replaced. Works on what the router and handler will see
/// after percent-decoding, so `%73ecret=` or `/%6Eotify/` cannot smuggle a secret past it: under
/// `/webhook/{id}/`, the segment after the `notify` segment is the secret, and so is any unexpected
/// first segment.
pub fn redact_target(path: &str, query: &str) -> String {
    let path = match path.split_once("/webhook/") {
        Some((head, tail)) => {
            let mut segments = tail.split('/');
            let id = segments.next().unwrap_or_default();
            let mut out = format!("{head}/webhook/{id}");
            match segments.next() {
                Some(seg) if decoded(seg) == "notify" => {
                    out.push_str("/notify");
                    if segments.next().is_some() {
                        out.push_str("/[redacted]");
                    }
                    for rest in segments {
                        out.push('/');
                        out.push_str(rest);
                    }
                }
                Some(_) => out.push_str("/[redacted]"),
                None => {}
            }
            out
        }
        None => path.to_owned(),
    };
    if query.is_empty() {
        return path;
    }
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if decoded(key).eq_ignore_ascii_case("secret") {
                format!("{key}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// A path segment or query key as the server decodes it.
fn decoded(raw: &str) -> String {
    form_urlencoded::parse(raw.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::redact_target;

    #[test]
    fn secrets_never_reach_the_logged_target() {
        assert_eq!(
            redact_target("/api/engine/v2/webhook/trig-1/notify", "secret=abc&exec=true"),
            "/api/engine/v2/webhook/trig-1/notify?secret=[redacted]&exec=true"
        );
        assert_eq!(
            redact_target("/api/engine/v2/webhook/trig-1/notify/abc/Display/2/request", ""),
            "/api/engine/v2/webhook/trig-1/notify/[redacted]/Display/2/request"
        );
        assert_eq!(
            redact_target("/api/engine/v2/webhook/trig-1/notify/abc", ""),
            "/api/engine/v2/webhook/trig-1/notify/[redacted]"
        );
        assert_eq!(redact_target("/healthz", ""), "/healthz");
        assert_eq!(
            redact_target("/api/engine/v2/webhook/trig-1/notify", "%73ecret=abc&x=1"),
            "/api/engine/v2/webhook/trig-1/notify?%73ecret=[redacted]&x=1"
        );
        assert_eq!(
            redact_target("/api/engine/v2/webhook/trig-1/%6Eotify/abc", ""),
            "/api/engine/v2/webhook/trig-1/notify/[redacted]"
        );
        assert_eq!(redact_target("/api/engine/v2/webhook/trig-1/abc", ""), "/api/engine/v2/webhook/trig-1/[redacted]");
    }
}
