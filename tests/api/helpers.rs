//! `spawn_app()` and typed helpers shared by every test file.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use switchboard::config::{Config, PostgresUrl, StoreBackend};
use switchboard::startup::{Application, Options};
use tempfile::TempDir;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub admin_key: String,
    pub client: reqwest::Client,
    /// Kept so the directory lives as long as every app opened on it.
    pub data_dir: Arc<TempDir>,
    pub config: Config,
    /// Failures to inject into the store's I/O (sled only).
    faults: Option<Arc<switchboard::store::IoFaults>>,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Settings for a test: port 0, a fresh data dir, a known admin key, and failed actions retried twice
/// within a tenth of a second rather than over minutes.
pub fn test_config(dir: &TempDir) -> Config {
    Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        admin_key: Some(ADMIN_KEY.into()),
        actions: switchboard::config::ActionsConfig { retry_schedule_ms: vec![20, 40], ..Default::default() },
        ..Config::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`test_config`] on this binary's backend: on PostgreSQL, a fresh database of the test cluster.
pub async fn backend_config(dir: &TempDir) -> Config {
    let mut config = test_config(dir);
    if crate::BACKEND == StoreBackend::Postgres {
        let url = crate::postgres_support::fresh_database().await;
        config.store.backend = StoreBackend::Postgres;
        config.store.postgres_url = Some(PostgresUrl::parse(&url).expect("a PostgreSQL URL"));
        config.store.postgres_pool_size = 4;
    }
    config
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(TempDir::new().expect("temp dir"));
    let mut config = backend_config(&dir).await;
    customise(&mut config);
    start(config, dir).await
}

/// An app with the shipped drivers plus the given ones (and a short driver call timeout).
pub async fn spawn_app_with_drivers(drivers: switchboard::drivers::sdk::RegistryBuilder) -> TestApp {
    let dir = Arc::new(TempDir::new().expect("temp dir"));
    let mut config = backend_config(&dir).await;
    config.drivers.call_timeout_ms = 500;
    start_with(config, dir, drivers).await
}

/// An app built with explicit options (drivers, a manual clock) and customised settings.
pub async fn spawn_app_with_options(customise: impl FnOnce(&mut Config), options: Options) -> TestApp {
    let dir = Arc::new(TempDir::new().expect("temp dir"));
    let mut config = backend_config(&dir).await;
    customise(&mut config);
    start_with_options(config, dir, options).await
}

async fn start(config: Config, data_dir: Arc<TempDir>) -> TestApp {
    start_with(config, data_dir, switchboard::drivers::DriverRegistry::builtin_builder()).await
}

async fn start_with(
    config: Config,
    data_dir: Arc<TempDir>,
    drivers: switchboard::drivers::sdk::RegistryBuilder,
) -> TestApp {
    start_with_options(config, data_dir, Options { drivers, ..Options::default() }).await
}

async fn start_with_options(config: Config, data_dir: Arc<TempDir>, options: Options) -> TestApp {
    let app = Application::build_with(config.clone(), options).await.expect("the app builds");
    let port = app.port();
    let handle = app.handle();
    let faults = app.store_faults();
    let admin_key =
        app.bootstrap_admin_key().map(str::to_owned).or_else(|| config.admin_key.clone()).unwrap_or_default();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        admin_key,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        data_dir,
        config,
        faults,
        handle,
        server,
    }
}

impl TestApp {
    /// Failures to inject into sled's I/O; tests that use them run on sled only.
    pub fn faults(&self) -> &switchboard::store::IoFaults {
        self.faults.as_deref().expect("store faults are injected on sled only")
    }

    /// Stops the server gracefully and waits until the store is closed.
    pub async fn stop(self) -> (Config, Arc<TempDir>) {
        self.handle.stop(true).await;
        self.server.await.expect("server task").expect("server exits cleanly");
        (self.config, self.data_dir)
    }

    /// Stops and starts again on the same data dir (and a new port).
    pub async fn restart(self) -> TestApp {
        let (mut config, dir) = self.stop().await;
        config.bind = "127.0.0.1:0".into();
        start(config, dir).await
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/engine/v2{}", self.address, path)
    }

    /// A request to `/api/engine/v2{path}` carrying the admin key.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.api(path)).header("X-API-Key", &self.admin_key)
    }

    /// A request to `/api/engine/v2{path}` with the given key (or none).
    pub fn with_key(&self, key: Option<&str>, method: Method, path: &str) -> RequestBuilder {
        let req = self.client.request(method, self.api(path));
        match key {
            Some(k) => req.header("X-API-Key", k),
            None => req,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.admin(Method::GET, path).send().await.expect("request sent")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.admin(Method::POST, path).json(body).send().await.expect("request sent")
    }

    pub async fn put(&self, path: &str, body: &Value) -> Response {
        self.admin(Method::PUT, path).json(body).send().await.expect("request sent")
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.admin(Method::PATCH, path).json(body).send().await.expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.admin(Method::DELETE, path).send().await.expect("request sent")
    }

    /// POSTs and asserts 201, returning the created object.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let res = self.post(path, &body).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 201, "POST {path} {body} answered {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn create_system(&self, name: &str) -> Value {
        self.create("/systems", json!({ "name": name })).await
    }

    pub async fn create_module(&self, driver: &str, system: Option<&str>) -> Value {
        self.create("/modules", json!({ "driver": driver, "control_system_id": system })).await
    }

    pub async fn create_trigger(&self, body: Value) -> Value {
        self.create("/triggers", body).await
    }

    /// A webhook-enabled trigger applied to a new system: `(system, trigger, instance)`.
    pub async fn webhook_instance(&self, trigger: Value) -> (Value, Value, Value) {
        let system = self.create_system("Webhook room").await;
        let trigger = self.create_trigger(trigger).await;
        let instance =
            self.create(&format!("/systems/{}/triggers", id(&system)), json!({ "trigger_id": id(&trigger) })).await;
        (system, trigger, instance)
    }

    /// Creates an API key with a role and returns its plaintext.
    pub async fn key_with_role(&self, role: &str) -> String {
        let key = self.create("/api_keys", json!({ "name": format!("{role} key"), "role": role })).await;
        key["key"].as_str().expect("key shown at creation").to_owned()
    }
}

pub fn id(v: &Value) -> &str {
    v["id"].as_str().expect("object has an id")
}

/// Asserts the status and the stable error code of an error response, returning its body.
pub async fn assert_error(res: Response, status: u16, code: &str) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "expected {status} {code}, got {got}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is JSON: {text}"));
    assert_eq!(body["error"], code, "{text}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{text}");
    body
}

pub async fn json(res: Response) -> Value {
    res.json().await.expect("JSON body")
}

// ---------------------------------------------------------------------------------------------
// Generic helpers added by the admin API suite.
// ---------------------------------------------------------------------------------------------

/// A well-formed id (`prefix` + 32 lowercase hex) that names nothing stored.
pub fn unknown_id(prefix: &str) -> String {
    format!("{prefix}0190f0c0a1b27c3d8e9f0a1b2c3d4e5f")
}

/// Asserts `value` is a string `prefix` followed by the 32 lowercase hex digits of a UUIDv7.
pub fn assert_id_shape(value: &Value, prefix: &str) {
    let id = value.as_str().unwrap_or_else(|| panic!("id {value} is a string"));
    let suffix = id.strip_prefix(prefix).unwrap_or_else(|| panic!("{id} starts with {prefix}"));
    assert_eq!(suffix.len(), 32, "{id} has a 32-character suffix");
    assert!(suffix.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')), "{id} suffix is lowercase hex");
    assert_eq!(&suffix[12..13], "7", "{id} suffix is a UUIDv7");
}

pub fn now_epoch_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs()
}

/// Asserts `value` is an epoch-seconds timestamp taken during this test run (give or take a minute).
pub fn assert_recent(value: &Value, what: &str) {
    let t = value.as_u64().unwrap_or_else(|| panic!("{what} is an integer timestamp, got {value}"));
    let now = now_epoch_seconds();
    assert!(t + 60 >= now && t <= now + 1, "{what} = {t} should be close to now ({now})");
}

/// Asserts an error answer for one row of a bad-input table: status, stable code, non-empty message,
/// and the offending `field` (required on every 422, absent otherwise). Returns the body.
pub async fn assert_rejected(res: Response, case: &str, status: u16, code: &str, field: Option<&str>) -> Value {
    let got = res.status().as_u16();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "[{case}] expected {status} {code}, got {got}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("[{case}] error body is JSON: {text}"));
    assert_eq!(body["error"], code, "[{case}] {text}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "[{case}] message is non-empty: {text}");
    match field {
        Some(f) => assert_eq!(body["field"], f, "[{case}] names the offending field: {text}"),
        None if status == 422 => {
            assert!(body["field"].as_str().is_some_and(|f| !f.is_empty()), "[{case}] a 422 names a field: {text}")
        }
        None => assert!(body.get("field").is_none(), "[{case}] only 422s carry a field: {text}"),
    }
    body
}

/// Asserts that a write route turns away bodies that are not a JSON object sent as application/json.
pub async fn assert_rejects_malformed_bodies(app: &TestApp, method: Method, path: &str) {
    let cases: [(&str, Option<&str>, &str, u16, &str); 7] = [
        ("malformed JSON", Some("application/json"), "{\"name\": ", 400, "invalid_json"),
        ("empty body", Some("application/json"), "", 400, "invalid_json"),
        ("a JSON array", Some("application/json"), "[]", 400, "invalid_json"),
        ("a JSON string", Some("application/json"), "\"name\"", 400, "invalid_json"),
        ("JSON null", Some("application/json"), "null", 400, "invalid_json"),
        ("text/plain", Some("text/plain"), "{\"name\": \"x\"}", 400, "unsupported_content_type"),
        ("no content type", None, "{\"name\": \"x\"}", 400, "unsupported_content_type"),
    ];
    for (case, content_type, body, status, code) in cases {
        let res = app.send_raw(method.clone(), path, content_type, body).await;
        assert_rejected(res, &format!("{method} {path}: {case}"), status, code, None).await;
    }
}

impl TestApp {
    /// Sends a raw body with the admin key and the given content type (or none).
    pub async fn send_raw(&self, method: Method, path: &str, content_type: Option<&str>, body: &str) -> Response {
        let mut req = self.admin(method, path).body(body.to_owned());
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        req.send().await.expect("request sent")
    }

    /// Sends a request with the admin key and an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        let req = self.admin(method, path);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        req.send().await.expect("request sent")
    }

    /// GETs with the admin key, asserts 200 and returns the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let res = self.get(path).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 200, "GET {path} answered {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Sends `method` with a JSON body, asserts 200 and returns the body.
    pub async fn send_ok(&self, method: Method, path: &str, body: &Value) -> Value {
        let res = self.send(method.clone(), path, Some(body)).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 200, "{method} {path} {body} answered {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// GETs a listing with the admin key: its items and its `X-Total-Count`.
    pub async fn list(&self, path: &str) -> (Vec<Value>, usize) {
        let res = self.get(path).await;
        list_of(res, path).await
    }

    /// DELETEs with the admin key and asserts 204 with an empty body.
    pub async fn delete_ok(&self, path: &str) {
        let res = self.delete(path).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 204, "DELETE {path} answered {text}");
        assert!(text.is_empty(), "204 has no body: {text}");
    }
}

/// Reads a 200 listing: its items and its `X-Total-Count`.
pub async fn list_of(res: Response, what: &str) -> (Vec<Value>, usize) {
    let status = res.status();
    let total = res
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().expect("ASCII header").parse::<usize>().expect("X-Total-Count is a number"));
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "GET {what} answered {text}");
    let items: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what} is a JSON array: {text}"));
    (items, total.unwrap_or_else(|| panic!("GET {what} sends X-Total-Count")))
}

/// The `id`s of a list of objects, in order.
pub fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(id).collect()
}

impl TestApp {
    /// POSTs and asserts 200, returning the body.
    pub async fn create_ok(&self, path: &str, body: Value) -> Value {
        let res = self.post(path, &body).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 200, "POST {path} answered {text}");
        serde_json::from_str(&text).unwrap()
    }
}

impl TestApp {
    /// PATCHes with the admin key and returns only the status; an owned future for running many at once.
    pub fn patch_owned(&self, path: String, body: Value) -> impl std::future::Future<Output = u16> + 'static {
        let req = self.admin(Method::PATCH, &path).json(&body);
        async move { req.send().await.expect("request sent").status().as_u16() }
    }
}

/// Polls `probe` until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Signed webhooks, delivery ids, payload filters and receipts (issue 16).
// ---------------------------------------------------------------------------------------------

/// Headers a sender attaches to one webhook call.
pub type CallHeaders = Vec<(&'static str, String)>;

/// How each provider signs a call, written from the providers' documentation rather than from the
/// server, so that the tests check the server against the senders it must accept.
pub mod sign {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    use sha2::{Sha256, Sha512};

    use super::CallHeaders;

    pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    pub fn hmac_sha512(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    pub fn base64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    /// A Standard Webhooks secret (`whsec_` + base64 of the key bytes).
    pub fn whsec(key: &[u8]) -> String {
        format!("whsec_{}", STANDARD.encode(key))
    }

    /// Standard Webhooks: `v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>` keyed with the bytes
    /// after `whsec_`.
    pub fn standard_webhooks(secret: &str, msg_id: &str, timestamp: u64, body: &[u8]) -> CallHeaders {
        vec![
            ("webhook-id", msg_id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", format!("v1,{}", standard_webhooks_signature(secret, msg_id, timestamp, body))),
        ]
    }

    pub fn standard_webhooks_signature(secret: &str, msg_id: &str, timestamp: u64, body: &[u8]) -> String {
        let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("a whsec_ secret")).expect("base64 key");
        let mut signed = format!("{msg_id}.{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        STANDARD.encode(hmac_sha256(&key, &signed))
    }

    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body)>`.
    pub fn github(secret: &str, body: &[u8]) -> CallHeaders {
        vec![("X-Hub-Signature-256", format!("sha256={}", hex::encode(hmac_sha256(secret.as_bytes(), body))))]
    }

    /// Stripe: `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256("{ts}.{body}")>`, keyed with the whole secret.
    pub fn stripe(secret: &str, timestamp: u64, body: &[u8]) -> CallHeaders {
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        let v1 = hex::encode(hmac_sha256(secret.as_bytes(), &signed));
        vec![("Stripe-Signature", format!("t={timestamp},v1={v1}"))]
    }

    /// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256("v0:{ts}:{body}")>` and the timestamp header.
    pub fn slack(secret: &str, timestamp: u64, body: &[u8]) -> CallHeaders {
        let mut signed = format!("v0:{timestamp}:").into_bytes();
        signed.extend_from_slice(body);
        vec![
            ("X-Slack-Request-Timestamp", timestamp.to_string()),
            ("X-Slack-Signature", format!("v0={}", hex::encode(hmac_sha256(secret.as_bytes(), &signed)))),
        ]
    }

    /// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(body)>`.
    pub fn shopify(secret: &str, body: &[u8]) -> CallHeaders {
        vec![("X-Shopify-Hmac-Sha256", STANDARD.encode(hmac_sha256(secret.as_bytes(), body)))]
    }
}

/// A unique delivery id for this test process (`prefix` + a counter).
pub fn delivery_id(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!("{prefix}{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

impl TestApp {
    /// A webhook trigger (POST, no debounce, plus the trigger fields of `extra`) applied to an existing
    /// system.
    pub async fn hook_in(&self, system: &str, extra: Value) -> Hook {
        let mut trigger =
            json!({ "name": "Hook", "enable_webhook": true, "debounce_period": 0, "supported_methods": ["POST"] });
        for (key, value) in extra.as_object().expect("extra trigger fields are an object") {
            trigger[key] = value.clone();
        }
        let trigger = self.create_trigger(trigger).await;
        let instance = self.create(&format!("/systems/{system}/triggers"), json!({ "trigger_id": id(&trigger) })).await;
        Hook { system: system.to_owned(), trigger: id(&trigger).to_owned(), instance }
    }
}

/// A webhook-enabled trigger instance on its own system.
#[derive(Debug, Clone)]
pub struct Hook {
    pub system: String,
    pub trigger: String,
    /// The instance as created (admins see its `webhook_secret`).
    pub instance: Value,
}

impl Hook {
    pub fn id(&self) -> &str {
        id(&self.instance)
    }

    /// The URL secret.
    pub fn secret(&self) -> &str {
        self.instance["webhook_secret"].as_str().expect("admins see the webhook secret")
    }

    /// `/systems/{sys}/triggers/{trig}`
    pub fn path(&self) -> String {
        format!("/systems/{}/triggers/{}", self.system, self.id())
    }

    /// `/systems/{sys}/triggers/{trig}/receipts`
    pub fn receipts_path(&self) -> String {
        format!("{}/receipts", self.path())
    }

    /// The `notify` URL with the secret in the query, on `app` (whose port changes on restart).
    pub fn url(&self, app: &TestApp) -> String {
        app.api(&format!("/webhook/{}/notify?secret={}", self.id(), self.secret()))
    }

    /// The `notify` URL with the secret as a path segment.
    pub fn path_url(&self, app: &TestApp) -> String {
        app.api(&format!("/webhook/{}/notify/{}", self.id(), self.secret()))
    }

    /// The `notify` URL without any secret.
    pub fn bare_url(&self, app: &TestApp) -> String {
        app.api(&format!("/webhook/{}/notify", self.id()))
    }
}

impl TestApp {
    /// A webhook trigger (POST, no debounce, plus the fields of `extra`) applied to a new system.
    pub async fn hook(&self, extra: Value) -> Hook {
        let mut trigger = json!({
            "name": "Hook", "enable_webhook": true, "debounce_period": 0, "supported_methods": ["POST"],
        });
        for (key, value) in extra.as_object().expect("extra trigger fields are an object") {
            trigger[key] = value.clone();
        }
        let (system, trigger, instance) = self.webhook_instance(trigger).await;
        Hook { system: id(&system).to_owned(), trigger: id(&trigger).to_owned(), instance }
    }

    /// A hook whose trigger verifies signatures with `verification`, and whose instance signs with `secret`.
    pub async fn signed_hook(&self, verification: Value, secret: &str) -> Hook {
        let hook = self.hook(json!({ "webhook_verification": verification })).await;
        self.set_signing_secret(&hook, json!({ "secret": secret })).await;
        hook
    }

    /// `POST …/verification_secret`, asserting 200.
    pub async fn set_signing_secret(&self, hook: &Hook, body: Value) -> Value {
        self.create_ok(&format!("{}/verification_secret", hook.path()), body).await
    }

    /// POSTs `body` with `headers` to a webhook URL (no API key).
    pub async fn call_hook(&self, url: &str, headers: &[(&str, String)], body: impl Into<reqwest::Body>) -> Response {
        let mut req = self.client.post(url).body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        req.send().await.expect("request sent")
    }

    /// The instance as admins see it, with its state.
    pub async fn hook_state(&self, hook: &Hook) -> Value {
        self.get_ok(&hook.path()).await
    }

    pub async fn trigger_count(&self, hook: &Hook) -> u64 {
        self.hook_state(hook).await["trigger_count"].as_u64().expect("trigger_count is a number")
    }

    /// One page of the hook's receipts (`query` without the `?`) and its `X-Total-Count`.
    pub async fn receipts(&self, hook: &Hook, query: &str) -> (Vec<Value>, usize) {
        let path = if query.is_empty() { hook.receipts_path() } else { format!("{}?{query}", hook.receipts_path()) };
        self.list(&path).await
    }

    /// Waits until the hook has at least `n` receipts (they are written in the background); newest first.
    pub async fn receipts_eventually(&self, hook: &Hook, n: usize) -> Vec<Value> {
        eventually(10, &format!("{n} receipts of {}", hook.id()), || async {
            let (items, total) = self.receipts(hook, "limit=10000").await;
            (total >= n).then_some(items)
        })
        .await
    }

    /// Waits until receipt `rcpt` of the hook can be read, and returns it.
    pub async fn receipt_eventually(&self, hook: &Hook, rcpt: &str) -> Value {
        let path = format!("{}/{rcpt}", hook.receipts_path());
        eventually(10, &format!("receipt {rcpt}"), || async {
            let res = self.get(&path).await;
            match res.status().as_u16() {
                200 => Some(json(res).await),
                404 => None,
                other => panic!("GET {path} answered {other}: {}", res.text().await.unwrap()),
            }
        })
        .await
    }
}

/// Reads a response's status and JSON body (`Null` when the body is empty or not JSON).
pub async fn status_and_body(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body read");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Reads server-sent events until one satisfies `pick` (5 s at most).
pub async fn next_sse_event(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Unpin),
    buffer: &mut String,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    use futures_util::StreamExt as _;
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let event: Value = serde_json::from_str(data).expect("an event is JSON");
                    if pick(&event) {
                        return event;
                    }
                }
            }
            let chunk = body.next().await.expect("the stream stays open").expect("a chunk");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the event arrived in time")
}

// ---------------------------------------------------------------------------------------------
// A receiver for outgoing HTTP requests (trigger request actions).
// ---------------------------------------------------------------------------------------------

/// One request a [`TestReceiver`] got.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names in lower case; a repeated header keeps its last value.
    pub headers: std::collections::HashMap<String, String>,
    pub body: String,
    pub at: std::time::Instant,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The header's value; panics when it is missing.
    pub fn expect_header(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn idempotency_key(&self) -> &str {
        self.header("idempotency-key").unwrap_or_else(|| panic!("no Idempotency-Key header in {:?}", self.headers))
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("the body is JSON: {}", self.body))
    }
}

/// How a [`TestReceiver`] answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<&'static str>,
    /// Held this long before answering (the request is recorded on arrival).
    pub delay: std::time::Duration,
}

impl Reply {
    /// `status` with an empty body, at once.
    pub fn status(status: u16) -> Self {
        Self { status, body: String::new(), retry_after: None, delay: std::time::Duration::ZERO }
    }

    pub fn body(self, body: impl Into<String>) -> Self {
        Self { body: body.into(), ..self }
    }

    pub fn retry_after(self, after: &'static str) -> Self {
        Self { retry_after: Some(after), ..self }
    }

    pub fn delay(self, delay: std::time::Duration) -> Self {
        Self { delay, ..self }
    }

    /// What [`TestReceiver::respond_with`] and [`TestReceiver::script`] answer.
    fn answered(status: u16) -> Self {
        Self::status(status).body(format!("answered {status}"))
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<ReceivedRequest>,
    /// One-off replies per path, used first, in order.
    path_scripts: std::collections::HashMap<String, std::collections::VecDeque<Reply>>,
    /// The reply per path once its script is used up.
    path_replies: std::collections::HashMap<String, Reply>,
    /// One-off replies for any path without its own, in order.
    script: std::collections::VecDeque<Reply>,
    /// The reply once all the above are used up (200 until set).
    standing: Option<Reply>,
    /// How long every answer is held, on top of the reply's own delay.
    delay: std::time::Duration,
    in_flight: usize,
    max_in_flight: usize,
}

/// A tiny HTTP server on 127.0.0.1:0 that records every request (method, path, headers, body) and
/// answers as the test sets, for every path or per path, optionally after a delay.
pub struct TestReceiver {
    pub port: u16,
    state: Arc<std::sync::Mutex<ReceiverState>>,
    handle: actix_web::dev::ServerHandle,
}

async fn receive_request(
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
    state: actix_web::web::Data<std::sync::Mutex<ReceiverState>>,
) -> actix_web::HttpResponse {
    let (reply, delay) = {
        let state = &mut *state.lock().unwrap();
        let path = req.path();
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("<binary>").to_owned()))
            .collect();
        state.received.push(ReceivedRequest {
            method: req.method().to_string(),
            path: path.to_owned(),
            query: req.query_string().to_owned(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: std::time::Instant::now(),
        });
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        let reply = (state.path_scripts.get_mut(path).and_then(std::collections::VecDeque::pop_front))
            .or_else(|| state.path_replies.get(path).cloned())
            .or_else(|| state.script.pop_front())
            .or_else(|| state.standing.clone())
            .unwrap_or_else(|| Reply::answered(200));
        let delay = reply.delay + state.delay;
        (reply, delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    state.lock().unwrap().in_flight -= 1;
    let mut res =
        actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).expect("a valid status"));
    if let Some(after) = reply.retry_after {
        res.insert_header(("retry-after", after));
    }
    res.body(reply.body)
}

impl TestReceiver {
    /// Starts on a free port of 127.0.0.1, answering 200 at once.
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let state = Arc::new(std::sync::Mutex::new(ReceiverState::default()));
        let data = actix_web::web::Data::from(Arc::clone(&state));
        let port = listener.local_addr().unwrap().port();
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new().app_data(data.clone()).default_service(actix_web::web::to(receive_request))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("the receiver listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { port, state, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The status of every answer from now on (after any scripted ones).
    pub fn respond_with(&self, status: u16) {
        self.state.lock().unwrap().standing = Some(Reply::answered(status));
    }

    /// One-off statuses for the next requests, before the standing one.
    pub fn script(&self, statuses: impl IntoIterator<Item = u16>) {
        self.state.lock().unwrap().script.extend(statuses.into_iter().map(Reply::answered));
    }

    /// How `path` answers from now on (after any replies scripted for it), whatever is set for all paths.
    pub fn respond_on(&self, path: &str, reply: Reply) {
        self.state.lock().unwrap().path_replies.insert(path.to_owned(), reply);
    }

    /// One-off replies for the next requests to `path`, before anything else.
    pub fn script_on(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().path_scripts.entry(path.to_owned()).or_default().extend(replies);
    }

    /// Holds every answer this long from now on.
    pub fn delay(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.state.lock().unwrap().received.clone()
    }

    /// Every request to `path` so far, in arrival order.
    pub fn received_on(&self, path: &str) -> Vec<ReceivedRequest> {
        self.received().into_iter().filter(|r| r.path == path).collect()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    /// Waits (at most `secs` seconds) until at least `n` requests have arrived; returns them all.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<ReceivedRequest> {
        eventually(secs, &format!("{n} requests at the receiver"), || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }

    /// Waits (at most `secs` seconds) until at least `n` requests to `path` have arrived; returns them all.
    pub async fn wait_for_on(&self, path: &str, n: usize, secs: u64) -> Vec<ReceivedRequest> {
        eventually(secs, &format!("{n} requests to {path} at the receiver"), || async {
            let got = self.received_on(path);
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        // Stops the worker thread; held answers are cut off.
        drop(self.handle.stop(false));
    }
}
