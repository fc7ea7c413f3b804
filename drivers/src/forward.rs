//! Relays a webhook call to another HTTP service and hands its answer back.

use std::time::Duration;

use async_trait::async_trait;

use crate::sdk::{
    Driver, DriverDescriptor, DriverError, FunctionDescriptor, JsonType, ModuleContext, Param, WebhookRequest,
    WebhookResponse,
};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those the client
/// library sets itself.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

const DEFAULT_TIMEOUT_MS: u64 = 5_000;

pub struct Forward {
    url: reqwest::Url,
    client: reqwest::Client,
}

#[async_trait]
impl Driver for Forward {
    fn descriptor() -> DriverDescriptor {
        DriverDescriptor::new("HTTP Forward", "Forward", "Relays webhook calls to another HTTP endpoint")
            .setting(Param::required("url", JsonType::String).sensitive())
            .setting(Param::optional("timeout_ms", JsonType::Integer))
            .function(
                FunctionDescriptor::new("forward", "Relays method, headers and body to the url setting").webhook(),
            )
    }

    fn start(ctx: ModuleContext) -> Result<Self, DriverError> {
        let invalid = |field: &str, message: &str| DriverError::InvalidSettings {
            field: field.to_owned(),
            message: message.to_owned(),
        };
        let url = ctx
            .setting_str("url")
            .and_then(|u| reqwest::Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| invalid("url", "must be an http or https URL"))?;
        let timeout = ctx.setting_u64("timeout_ms").unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout == 0 {
            return Err(invalid("timeout_ms", "must be at least 1"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DriverError::Failed(format!("the HTTP client could not start: {e}")))?;
        Ok(Forward { url, client })
    }

    async fn webhook(&mut self, function: &str, request: WebhookRequest) -> Result<WebhookResponse, DriverError> {
        if function != "forward" {
            return Err(DriverError::UnknownFunction(function.to_owned()));
        }
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| DriverError::Failed(format!("cannot forward method {}", request.method)))?;
        let mut url = self.url.clone();
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(request.query.iter());
        }
        let mut outbound = self.client.request(method, url).body(request.body);
        for (name, value) in &request.headers {
            if !NOT_FORWARDED.contains(&name.to_ascii_lowercase().as_str()) {
                outbound = outbound.header(name, value);
            }
        }
        // `without_url`: the configured URL may hold a token, and this message reaches webhook callers.
        let upstream = outbound
            .send()
            .await
            .map_err(|e| DriverError::Failed(format!("the upstream could not be reached: {}", e.without_url())))?;
        let status = upstream.status().as_u16();
        let headers = upstream
            .headers()
            .iter()
            .filter(|(name, _)| !NOT_FORWARDED.contains(&name.as_str()))
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let body = upstream
            .bytes()
            .await
            .map_err(|e| DriverError::Failed(format!("the upstream's answer could not be read: {}", e.without_url())))?
            .to_vec();
        Ok(WebhookResponse { status, headers, body })
    }
}
