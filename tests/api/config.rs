//! Configuration as the running service sees it: the bootstrap admin key, `public_url`, and the
//! binary refusing invalid settings.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::*;

/// Long enough for a cold debug binary on a busy 2-core machine; a test never waits longer.
const BINARY_DEADLINE: Duration = Duration::from_secs(30);

async fn status_with(app: &TestApp, key: &str, method: Method, path: &str) -> u16 {
    let req = app.with_key(Some(key), method.clone(), path);
    let req = if method == Method::POST { req.json(&json!({ "name": "Probe" })) } else { req };
    req.send().await.expect("request sent").status().as_u16()
}

#[tokio::test]
async fn a_first_start_without_a_key_mints_a_working_admin_key() {
    // Arrange / Act
    let app = spawn_app_with(|c| c.admin_key = None).await;

    // Assert
    let key = app.admin_key.clone();
    assert!(!key.is_empty(), "a key was minted");
    assert_eq!(status_with(&app, &key, Method::GET, "/systems").await, 200);
    assert_eq!(status_with(&app, &key, Method::POST, "/systems").await, 201, "it is an admin key");
    let (keys, total) = app.list("/api_keys").await;
    assert_eq!(total, 1, "exactly one key is stored: {keys:?}");
    assert_eq!(keys[0]["role"], "admin");
    assert!(keys[0].get("key").is_none());
}

#[tokio::test]
async fn a_restart_mints_no_new_key_and_keeps_the_first() {
    // Arrange
    let app = spawn_app_with(|c| c.admin_key = None).await;
    let minted = app.admin_key.clone();
    let (before, _) = app.list("/api_keys").await;

    // Act
    let app = app.restart().await;

    // Assert
    assert!(app.admin_key.is_empty(), "no key was minted on the second start");
    assert_eq!(status_with(&app, &minted, Method::POST, "/systems").await, 201, "the first key still works");
    let res = app.with_key(Some(&minted), Method::GET, "/api_keys").send().await.unwrap();
    let (after, total) = list_of(res, "/api_keys").await;
    assert_eq!(total, 1);
    assert_eq!(after, before, "the same single key");
}

#[tokio::test]
async fn a_configured_admin_key_means_no_key_is_minted() {
    let app = spawn_app().await;

    let (keys, total) = app.list("/api_keys").await;

    assert_eq!(app.admin_key, ADMIN_KEY);
    assert_eq!((keys.len(), total), (0, 0), "the configured key is not stored");
}

#[tokio::test]
async fn a_minted_key_stops_working_once_deleted() {
    // Arrange: a second admin key so the API stays reachable
    let app = spawn_app_with(|c| c.admin_key = None).await;
    let minted = app.admin_key.clone();
    let (keys, _) = app.list("/api_keys").await;
    let other = app.key_with_role("admin").await;

    // Act
    let res = app.with_key(Some(&other), Method::DELETE, &format!("/api_keys/{}", id(&keys[0]))).send().await.unwrap();

    // Assert
    assert_eq!(res.status(), 204);
    assert_eq!(status_with(&app, &minted, Method::GET, "/systems").await, 401);
    assert_eq!(status_with(&app, &other, Method::GET, "/systems").await, 200);
}

#[tokio::test]
async fn public_url_is_the_base_of_webhook_urls() {
    // Arrange: a trailing slash must not double up
    let app = spawn_app_with(|c| c.public_url = Some("https://hooks.example.com/switchboard/".into())).await;

    // Act
    let (_, _, instance) = app.webhook_instance(json!({ "name": "T", "enable_webhook": true })).await;

    // Assert
    let secret = instance["webhook_secret"].as_str().unwrap();
    assert_eq!(
        instance["webhook_url"],
        format!("https://hooks.example.com/switchboard/api/engine/v2/webhook/{}/notify?secret={secret}", id(&instance))
    );
}

#[tokio::test]
async fn without_public_url_webhook_urls_use_the_bound_address() {
    let app = spawn_app().await;

    let (_, _, instance) = app.webhook_instance(json!({ "name": "T", "enable_webhook": true })).await;

    let url = instance["webhook_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://127.0.0.1:{}/api/engine/v2/webhook/trig-", app.port)), "{url}");
}

/// Runs the server binary with only the given environment (plus a fresh data dir) and flags.
fn spawn_binary(dir: &TempDir, env: &[(&str, &str)], args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env_clear()
        .env("SWITCHBOARD_DATA_DIR", dir.path().join("data"))
        .env("SWITCHBOARD_BIND", "127.0.0.1:0")
        .envs(env.iter().copied())
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("the binary starts")
}

/// Waits (at most [`BINARY_DEADLINE`]) for the binary to exit, returning its exit code and stderr.
fn wait_for_exit(mut child: Child) -> (Option<i32>, String) {
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    match rx.recv_timeout(BINARY_DEADLINE) {
        Ok(text) => (child.wait().expect("the binary is reaped").code(), text),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary was still running after {BINARY_DEADLINE:?}; it should have refused its settings");
        }
    }
}

/// One refusal: what is wrong, the environment, the flags, and the key the message must name.
type Refusal = (&'static str, Vec<(&'static str, &'static str)>, Vec<&'static str>, &'static str);

#[test]
fn the_binary_refuses_invalid_settings_and_names_the_key() {
    let cases: Vec<Refusal> = vec![
        ("bind that is not an address", vec![("SWITCHBOARD_BIND", "nowhere")], vec![], "bind"),
        (
            "rate limit that is not a number",
            vec![("SWITCHBOARD_WEBHOOK__RATE_LIMIT_PER_SECOND", "fast")],
            vec![],
            "rate_limit_per_second",
        ),
        (
            "rate limit of zero",
            vec![("SWITCHBOARD_WEBHOOK__RATE_LIMIT_PER_SECOND", "0")],
            vec![],
            "rate_limit_per_second",
        ),
        ("burst of zero", vec![("SWITCHBOARD_WEBHOOK__RATE_LIMIT_BURST", "0")], vec![], "rate_limit_burst"),
        ("sync interval over 10 s", vec![("SWITCHBOARD_STORE__SYNC_INTERVAL_MS", "10001")], vec![], "sync_interval_ms"),
        ("max body of zero", vec![("SWITCHBOARD_WEBHOOK__MAX_BODY_BYTES", "0")], vec![], "max_body_bytes"),
        (
            "public_url that is not http",
            vec![("SWITCHBOARD_PUBLIC_URL", "ftp://hooks.example.com")],
            vec![],
            "public_url",
        ),
        (
            "more than 10 retries",
            vec![("SWITCHBOARD_OUTBOUND__RETRY_SCHEDULE_MS", "[1,2,3,4,5,6,7,8,9,10,11]")],
            vec![],
            "retry_schedule_ms",
        ),
        ("admin key that is too short", vec![("SWITCHBOARD_ADMIN_KEY", "short")], vec![], "admin_key"),
        ("unknown log format", vec![("SWITCHBOARD_LOG_FORMAT", "xml")], vec![], "log_format"),
        ("bind flag that is not an address", vec![], vec!["--bind", "nowhere"], "bind"),
        (
            "a flag overrides a valid environment",
            vec![("SWITCHBOARD_PUBLIC_URL", "https://ok.example.com")],
            vec!["--public-url", "gopher://x"],
            "public_url",
        ),
    ];

    for (case, env, args, key) in cases {
        // Arrange
        let dir = TempDir::new().unwrap();
        // Act
        let (code, stderr) = wait_for_exit(spawn_binary(&dir, &env, &args));
        // Assert
        assert!(code.is_some_and(|c| c != 0), "[{case}] exits non-zero, got {code:?}: {stderr}");
        assert!(stderr.to_lowercase().contains(key), "[{case}] the message names {key}: {stderr}");
    }
}

#[test]
fn the_binary_refuses_a_bad_config_file() {
    // Arrange
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("switchboard.toml");
    std::fs::write(&file, "bnd = \"127.0.0.1:0\"\n").unwrap();
    let missing = dir.path().join("absent.toml");

    for (case, path, key) in [("unknown key in the file", &file, "bnd"), ("missing file", &missing, "absent.toml")] {
        // Act
        let (code, stderr) = wait_for_exit(spawn_binary(&dir, &[], &["--config", path.to_str().unwrap()]));
        // Assert
        assert!(code.is_some_and(|c| c != 0), "[{case}] exits non-zero, got {code:?}: {stderr}");
        assert!(stderr.to_lowercase().contains(key), "[{case}] the message names {key}: {stderr}");
    }
}

#[test]
fn the_binary_starts_with_valid_settings_and_prints_the_bootstrap_key_once() {
    // Arrange: the control case for the refusals above
    let dir = TempDir::new().unwrap();
    let mut child = spawn_binary(&dir, &[], &[]);
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // Act: read stderr until the key is shown or the deadline passes
    let deadline = std::time::Instant::now() + BINARY_DEADLINE;
    let mut seen = Vec::new();
    let key = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(key) = line.split_whitespace().find(|w| w.starts_with("sbk_")) {
                    break Some(key.to_owned());
                }
                seen.push(line);
            }
            Err(_) => break None,
        }
    };
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();

    // Assert
    let key = key.unwrap_or_else(|| panic!("the bootstrap key is printed; stderr was {seen:#?}"));
    assert!(key.len() > 40, "{key}");
    assert!(still_running, "the server keeps running with valid settings");
}
