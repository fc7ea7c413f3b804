//! The real binary, killed with SIGKILL: acknowledged fires must be on disk, and no log line may
//! carry a webhook secret.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::ADMIN_KEY;

/// Kills the process when dropped, so no test leaves a server behind.
struct Reaped(Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Server {
    child: Reaped,
    port: u16,
    logs: mpsc::Receiver<String>,
}

// The child is killed and reaped by `Server::drop` on every path, including a panic while starting.
#[allow(clippy::zombie_processes)]
fn start(data_dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--log-format", "json", "--bind", "127.0.0.1:0"])
        .env("SWITCHBOARD_DATA_DIR", data_dir)
        .env("SWITCHBOARD_ADMIN_KEY", ADMIN_KEY)
        .env("SWITCHBOARD_WEBHOOK__RATE_LIMIT_BURST", "1000")
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let mut child = Reaped(Some(child));
    let (tx, logs) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = logs.recv_timeout(remaining).expect("the server logs that it listens");
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            if event["fields"]["message"] == "switchboard listening" {
                let port = event["fields"]["port"].as_u64().expect("port field") as u16;
                return Server { child: Reaped(child.0.take()), port, logs };
            }
        }
    }
}

impl Server {
    fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/api/engine/v2{path}", self.port)
    }

    fn kill_and_collect_logs(mut self) -> String {
        let mut child = self.child.0.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        self.logs.try_iter().collect::<Vec<_>>().join("\n")
    }
}

async fn create(client: &reqwest::Client, url: String, body: Value) -> Value {
    let res = client.post(url).header("X-API-Key", ADMIN_KEY).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test]
async fn acknowledged_fires_survive_sigkill_and_secrets_stay_out_of_logs() {
    let dir = tempfile::TempDir::new().unwrap();
    let client = reqwest::Client::new();
    let server = start(dir.path());
    let system = create(&client, server.api("/systems"), json!({"name": "Crash room"})).await;
    let trigger = create(
        &client,
        server.api("/triggers"),
        json!({"name": "Counter", "enable_webhook": true, "supported_methods": ["POST"]}),
    )
    .await;
    let sys_id = system["id"].as_str().unwrap();
    let inst =
        create(&client, server.api(&format!("/systems/{sys_id}/triggers")), json!({"trigger_id": trigger["id"]})).await;
    let inst_id = inst["id"].as_str().unwrap();
    let secret = inst["webhook_secret"].as_str().unwrap().to_owned();
    let query_url = server.api(&format!("/webhook/{inst_id}/notify?secret={secret}"));
    let path_url = server.api(&format!("/webhook/{inst_id}/notify/{secret}"));

    let calls = (0..120).map(|i| {
        let url = if i % 2 == 0 { query_url.clone() } else { path_url.clone() };
        let client = client.clone();
        async move { client.post(url).send().await.unwrap().json::<Value>().await.unwrap() }
    });
    let acked = join_all(calls).await.iter().filter(|a| a["fired"] == true).count();
    let wrong = client.post(server.api(&format!("/webhook/{inst_id}/notify/{secret}x"))).send().await.unwrap();
    assert_eq!(wrong.status(), 404);

    let logs = server.kill_and_collect_logs();
    let server = start(dir.path());
    let state: Value = client
        .get(server.api(&format!("/systems/{sys_id}/triggers/{inst_id}")))
        .header("X-API-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logs = format!("{logs}\n{}", server.kill_and_collect_logs());

    assert_eq!(acked, 120);
    assert_eq!(state["trigger_count"].as_u64().unwrap() as usize, acked);
    assert!(logs.contains("[redacted]"), "request targets are logged, redacted");
    assert!(!logs.contains(&secret), "a webhook secret reached the logs");
}
