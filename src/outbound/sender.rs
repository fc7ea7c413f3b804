//! One delivery attempt over HTTP: the signed request, its time limit, and what came back.

use std::error::Error as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use super::backoff::parse_retry_after;
use super::signing::signature_header;
use super::ssrf::{self, GuardedResolver, Refused};
use super::subscription::{SigningSecret, Subscription};
use crate::config::OutboundConfig;
use crate::domain::trigger::RequestAction;

/// The delivery log keeps this much of each response body.
pub const BODY_EXCERPT_BYTES: usize = 2048;

/// The longest callout answer read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub const USER_AGENT: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));

/// What one attempt produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub duration: Duration,
    pub response_body: String,
    /// Why no HTTP answer was obtained (refused, unreachable, timed out).
    pub error: Option<String>,
    /// The receiver's `Retry-After` on a 429 or 503.
    pub retry_after: Option<Duration>,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// 410 Gone: the receiver says the endpoint will not come back.
    pub fn gone(&self) -> bool {
        self.status == Some(StatusCode::GONE.as_u16())
    }

    fn failed(error: String, started: Instant) -> Self {
        Self {
            status: None,
            duration: started.elapsed(),
            response_body: String::new(),
            error: Some(error),
            retry_after: None,
        }
    }
}

pub struct Sender {
    client: reqwest::Client,
    allow_private_networks: bool,
    timeout: Duration,
}

impl Sender {
    pub fn new(config: &OutboundConfig) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // A redirect would reach a URL the admin never configured, past the address check.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would be connected to instead of the receiver, so its address would be checked.
            .no_proxy();
        if !config.allow_private_networks {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            client: builder.build()?,
            allow_private_networks: config.allow_private_networks,
            timeout: Duration::from_millis(config.attempt_timeout_ms),
        })
    }

    /// Sends `payload` (the event envelope) signed for `event_id` to the subscription's URL. Never
    /// fails: every problem is an outcome the delivery log records.
    pub async fn send(&self, sub: &Subscription, event_id: &str, payload: &str) -> Outcome {
        let started = Instant::now();
        let url = match sub.url.to_url() {
            Ok(url) => without_overridden_userinfo(url, sub),
            Err(e) => return Outcome::failed(format!("the URL cannot be used: {e}"), started),
        };
        if !self.allow_private_networks {
            if let Some(refused) = refused_literal(&url) {
                return Outcome::failed(refused.to_string(), started);
            }
        }
        let now = chrono::Utc::now();
        let secrets = sub.signing_secrets(u64::try_from(now.timestamp()).unwrap_or(0));
        let mut request = self.signed_post(url, &secrets, event_id, now.timestamp(), payload.to_owned());
        if let Some(auth) = &sub.auth_header {
            request = request.header(auth.name.as_str(), auth.value.expose());
        }
        self.exchange(request, self.timeout, now).await
    }

    /// Asks a callout: `body` POSTed to `url`, signed for `id` with every secret in `secrets`; the
    /// answer's status and whole body within `timeout`, or why there is none. A body cut off or over
    /// [`MAX_ANSWER_BYTES`] is no answer: read in part, a denial could pass for an allow.
    pub async fn ask(
        &self,
        url: &str,
        secrets: &[&SigningSecret],
        id: &str,
        body: String,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), String> {
        let url = self.checked_url(url)?;
        let request = self.signed_post(url, secrets, id, chrono::Utc::now().timestamp(), body);
        let exchange = async {
            let mut response = request.send().await.map_err(describe)?;
            let status = response.status().as_u16();
            let mut answer = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(describe)? {
                if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(format!("the answer is longer than {MAX_ANSWER_BYTES} bytes"));
                }
                answer.extend_from_slice(&chunk);
            }
            Ok((status, answer))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("timed out after {} ms", timeout.as_millis())),
        }
    }

    /// A JSON POST of `body` with the Standard Webhooks headers: `id`, `timestamp` (Unix seconds) and one
    /// signature per secret.
    fn signed_post(
        &self,
        url: reqwest::Url,
        secrets: &[&SigningSecret],
        id: &str,
        timestamp: i64,
        body: String,
    ) -> reqwest::RequestBuilder {
        let signature = signature_header(secrets, id, timestamp, body.as_bytes());
        self.client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
    }

    /// A URL to send to, unless it cannot be parsed or is an IP literal the SSRF guard refuses.
    fn checked_url(&self, raw: &str) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(raw).map_err(|e| format!("the URL cannot be used: {e}"))?;
        match refused_literal(&url).filter(|_| !self.allow_private_networks) {
            Some(refused) => Err(refused.to_string()),
            None => Ok(url),
        }
    }

    /// Sends a trigger's request action: `Idempotency-Key` carries `key`, the same on every retry.
    /// Never fails: every problem is an outcome.
    pub async fn request(&self, action: &RequestAction, key: &str) -> Outcome {
        let started = Instant::now();
        let url = match self.checked_url(&action.url) {
            Ok(url) => url,
            Err(e) => return Outcome::failed(e, started),
        };
        let method = match reqwest::Method::from_bytes(action.method.as_bytes()) {
            Ok(method) => method,
            Err(e) => return Outcome::failed(format!("the method cannot be used: {e}"), started),
        };
        let mut request = self.client.request(method, url).header("idempotency-key", key);
        for (name, value) in &action.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = action.body.as_ref().filter(|b| !b.is_null()) {
            request = request.json(body);
        }
        let timeout = Duration::from_millis(action.timeout_ms());
        self.exchange(request, timeout, chrono::Utc::now()).await
    }

    /// Sends a built request within `timeout` and reads what came back.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Outcome {
        let started = Instant::now();
        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status();
            let retry_after = if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now))
            } else {
                None
            };
            let body = read_excerpt(&mut response).await;
            Ok::<_, reqwest::Error>((status, retry_after, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok((status, retry_after, body))) => Outcome {
                status: Some(status.as_u16()),
                duration: started.elapsed(),
                response_body: body,
                error: None,
                retry_after,
            },
            Ok(Err(e)) => Outcome::failed(describe(e), started),
            Err(_) => Outcome::failed(format!("timed out after {} ms", timeout.as_millis()), started),
        }
    }
}

/// The URL without its userinfo when the subscription sends its own `Authorization` header: the
/// client would turn the userinfo into a second `Authorization: Basic` header, and receivers differ
/// in which of two they read. The explicit header wins: it is the one set for this purpose.
fn without_overridden_userinfo(mut url: reqwest::Url, sub: &Subscription) -> reqwest::Url {
    if sub.auth_header.as_ref().is_some_and(|h| h.name.as_str().eq_ignore_ascii_case("authorization")) {
        // Both fail only for a URL without a host, which has no userinfo to remove.
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    url
}

/// An IP-literal host never reaches the resolver, so it is checked here.
fn refused_literal(url: &reqwest::Url) -> Option<Refused> {
    // `host_str` writes IPv6 literals in brackets.
    let host = url.host_str()?;
    let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    ssrf::check_ip(host, ip).err()
}

/// The first [`BODY_EXCERPT_BYTES`] of the body; the rest is not read. A body that breaks off keeps
/// what arrived: the status already says how the receiver answered.
async fn read_excerpt(response: &mut reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < BODY_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(BODY_EXCERPT_BYTES);
    String::from_utf8_lossy(&body).into_owned()
}

/// A transport error in words: the SSRF refusal itself when that is the cause, else the error chain
/// (without the URL, whose query may hold a receiver's token).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        source = cause.source();
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
