//! `spawn_app()` and typed helpers shared by every test file.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use switchboard::config::Config;
use switchboard::startup::Application;
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
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Settings for a test: port 0, a fresh data dir, a known admin key.
pub fn test_config(dir: &TempDir) -> Config {
    Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        admin_key: Some(ADMIN_KEY.into()),
        ..Config::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customise: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(TempDir::new().expect("temp dir"));
    let mut config = test_config(&dir);
    customise(&mut config);
    start(config, dir).await
}

async fn start(config: Config, data_dir: Arc<TempDir>) -> TestApp {
    let app = Application::build(config.clone()).await.expect("the app builds");
    let port = app.port();
    let handle = app.handle();
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
        handle,
        server,
    }
}

impl TestApp {
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
