//! The real binary, killed with SIGKILL: acknowledged fires, admin changes and the events they queue
//! must be stored, and no log line may carry a webhook secret. On either backend: each test's servers
//! share a data directory and, on PostgreSQL, a fresh database ([`Storage`]), so a restarted server
//! finds what the killed one stored.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};
use switchboard::config::StoreBackend;

use crate::helpers::{eventually, TestReceiver, ADMIN_KEY};

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

/// What a test's servers store in, one after the other: a temporary data directory and, on
/// PostgreSQL, a fresh database of the test cluster.
pub(crate) struct Storage {
    dir: tempfile::TempDir,
    postgres_url: Option<String>,
}

impl Storage {
    /// A new data directory and, when this binary tests PostgreSQL, a new database.
    pub(crate) async fn new() -> Self {
        let postgres_url = match crate::BACKEND {
            StoreBackend::Sled => None,
            StoreBackend::Postgres => Some(crate::postgres_support::fresh_database().await),
        };
        Self { dir: tempfile::TempDir::new().expect("a temporary data directory"), postgres_url }
    }

    #[allow(dead_code)] // Read by the sled-only tests of its state journal.
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The environment that points the binary at this storage.
    fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut env = vec![("SWITCHBOARD_DATA_DIR", self.dir.path().into())];
        if let Some(url) = &self.postgres_url {
            env.push(("SWITCHBOARD_STORE__BACKEND", "postgres".into()));
            env.push(("SWITCHBOARD_STORE__POSTGRES_URL", url.into()));
            // As `helpers::backend_config`: tests run in parallel on one cluster.
            env.push(("SWITCHBOARD_STORE__POSTGRES_POOL_SIZE", "4".into()));
        }
        env
    }
}

pub(crate) struct Server {
    child: Reaped,
    port: u16,
    logs: mpsc::Receiver<String>,
}

pub(crate) fn start(storage: &Storage) -> Server {
    start_with(storage, &[])
}

/// Starts the binary with extra environment settings.
// The child is killed and reaped by `Server::drop` on every path, including a panic while starting.
#[allow(clippy::zombie_processes)]
pub(crate) fn start_with(storage: &Storage, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--log-format", "json", "--bind", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .envs(storage.env())
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
    fn pid(&self) -> u32 {
        self.child.0.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("kill runs");
        assert!(status.success());
        let mut child = self.child.0.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A URL on the server, `path` starting with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn api(&self, path: &str) -> String {
        self.url(&format!("/api/engine/v2{path}"))
    }

    pub(crate) fn kill_and_collect_logs(mut self) -> String {
        let mut child = self.child.0.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        self.logs.try_iter().collect::<Vec<_>>().join("\n")
    }
}

/// An admin request without a body, answered with JSON.
pub(crate) async fn admin_json(client: &reqwest::Client, method: reqwest::Method, url: String) -> Value {
    client.request(method, url).header("X-API-Key", ADMIN_KEY).send().await.unwrap().json().await.unwrap()
}

async fn create(client: &reqwest::Client, url: String, body: Value) -> Value {
    let res = client.post(url).header("X-API-Key", ADMIN_KEY).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// A system and a webhook-enabled trigger applied to it: `(system id, instance)`.
pub(crate) async fn webhook_instance(client: &reqwest::Client, server: &Server, name: &str) -> (String, Value) {
    let system = create(client, server.api("/systems"), json!({ "name": name })).await;
    let sys_id = system["id"].as_str().unwrap().to_owned();
    let trigger = create(client, server.api("/triggers"), json!({"name": name, "enable_webhook": true})).await;
    let inst =
        create(client, server.api(&format!("/systems/{sys_id}/triggers")), json!({"trigger_id": trigger["id"]})).await;
    (sys_id, inst)
}

#[tokio::test]
async fn acknowledged_fires_survive_sigkill_and_secrets_stay_out_of_logs() {
    let storage = Storage::new().await;
    let client = reqwest::Client::new();
    let server = start(&storage);
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
    let server = start(&storage);
    let state =
        admin_json(&client, reqwest::Method::GET, server.api(&format!("/systems/{sys_id}/triggers/{inst_id}"))).await;
    let logs = format!("{logs}\n{}", server.kill_and_collect_logs());

    assert_eq!(acked, 120);
    assert_eq!(state["trigger_count"].as_u64().unwrap() as usize, acked);
    assert!(logs.contains("[redacted]"), "request targets are logged, redacted");
    assert!(!logs.contains(&secret), "a webhook secret reached the logs");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_webhook_finish_and_keeps_its_fire() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    // An upstream that answers slowly, so the webhook is in flight when SIGTERM arrives.
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&hits);
    let upstream = actix_web::HttpServer::new(move || {
        let seen = Arc::clone(&seen);
        actix_web::App::new().default_service(actix_web::web::to(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                actix_web::HttpResponse::Ok().body("slow ok")
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let upstream_port = upstream.addrs()[0].port();
    let upstream = upstream.run();
    let upstream_handle = upstream.handle();
    tokio::spawn(upstream);

    let storage = Storage::new().await;
    let client = reqwest::Client::new();
    let server = start(&storage);
    let system = create(&client, server.api("/systems"), json!({"name": "Shutdown room"})).await;
    let sys_id = system["id"].as_str().unwrap().to_owned();
    let module = json!({"driver": "HTTP Forward", "control_system_id": sys_id,
        "settings": {"url": format!("http://127.0.0.1:{upstream_port}/")}});
    create(&client, server.api("/modules"), module).await;
    let trigger = create(&client, server.api("/triggers"), json!({"name": "Slow", "enable_webhook": true})).await;
    let inst = create(
        &client,
        server.api(&format!("/systems/{sys_id}/triggers")),
        json!({"trigger_id": trigger["id"], "exec_enabled": true}),
    )
    .await;
    let inst_id = inst["id"].as_str().unwrap().to_owned();
    let url = format!("{}&exec=true&mod=Forward&method=forward", inst["webhook_url"].as_str().unwrap());

    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            let res = client.post(url).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while hits.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the webhook never reached the upstream");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let exit = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    let (status, body) = in_flight.await.unwrap();

    assert_eq!((status, body.as_str()), (200, "slow ok"), "the in-flight call completed");
    assert!(exit.success(), "exit status {exit:?}");
    let server = start(&storage);
    let state =
        admin_json(&client, reqwest::Method::GET, server.api(&format!("/systems/{sys_id}/triggers/{inst_id}/state")))
            .await;
    assert_eq!(state["trigger_count"], 1, "the fire of the in-flight call was kept");
    server.kill_and_collect_logs();
    upstream_handle.stop(false).await;
}

#[tokio::test]
async fn an_acknowledged_admin_change_survives_sigkill() {
    let storage = Storage::new().await;
    let client = reqwest::Client::new();
    let server = start(&storage);
    let (sys_id, inst) = webhook_instance(&client, &server, "Rotating").await;
    let inst_id = inst["id"].as_str().unwrap().to_owned();
    let old_secret = inst["webhook_secret"].as_str().unwrap().to_owned();
    let rotated =
        admin_json(&client, reqwest::Method::POST, server.api(&format!("/systems/{sys_id}/triggers/{inst_id}/secret")))
            .await;
    let new_secret = rotated["webhook_secret"].as_str().unwrap().to_owned();

    server.kill_and_collect_logs();
    let server = start(&storage);
    let notify = |secret: &str| server.api(&format!("/webhook/{inst_id}/notify?secret={secret}"));

    assert_eq!(client.post(notify(&old_secret)).send().await.unwrap().status(), 404, "the old secret is gone");
    assert_eq!(client.post(notify(&new_secret)).send().await.unwrap().status(), 202);
    server.kill_and_collect_logs();
}

/// Records the `event` of every JSON body it receives; answers 200.
async fn start_receiver(port: u16) -> (actix_web::dev::ServerHandle, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = Arc::clone(&got);
    let server = actix_web::HttpServer::new(move || {
        let seen = Arc::clone(&seen);
        actix_web::App::new().default_service(actix_web::web::to(move |body: actix_web::web::Bytes| {
            seen.lock().unwrap().push(serde_json::from_slice(&body).expect("a JSON envelope"));
            async { actix_web::HttpResponse::Ok().finish() }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", port))
    .expect("the receiver's port is free again")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (handle, got)
}

#[tokio::test]
async fn events_of_acknowledged_changes_are_delivered_after_sigkill() {
    // Arrange: the receiver is down while the server runs, so every event is still queued at the kill.
    // The queue's head (the first event) is retried for some seconds, so that it is not given up before
    // the kill however long the setup takes, and a second at most after the restart.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = [
        ("SWITCHBOARD_OUTBOUND__ALLOW_PRIVATE_NETWORKS", "true"),
        ("SWITCHBOARD_OUTBOUND__RETRY_SCHEDULE_MS", "[1000,1000,1000,1000,1000]"),
    ];
    let storage = Storage::new().await;
    let client = reqwest::Client::new();
    let server = start_with(&storage, &env);
    let events = json!(["system.created", "trigger_instance.created", "trigger.fired"]);
    create(
        &client,
        server.api("/webhooks"),
        json!({"name": "r", "url": format!("http://127.0.0.1:{port}/hook"), "events": events}),
    )
    .await;
    let (_, inst) = webhook_instance(&client, &server, "Durable events").await;
    let url = inst["webhook_url"].as_str().unwrap().to_owned();
    let calls = (0..40).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move { client.post(url).send().await.unwrap().json::<Value>().await.unwrap() }
    });
    let fired = join_all(calls).await.iter().filter(|a| a["fired"] == true).count();

    // Act
    server.kill_and_collect_logs();
    let (receiver, got) = start_receiver(port).await;
    let server = start_with(&storage, &env);

    // Assert: one delivery per acknowledged change, each event once (by id).
    let expected = 2 + fired;
    let deadline = Instant::now() + Duration::from_secs(30);
    let events = loop {
        let mut by_id: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for body in got.lock().unwrap().iter() {
            by_id.insert(body["id"].as_str().unwrap().to_owned(), body["event"].as_str().unwrap().to_owned());
        }
        if by_id.len() >= expected || Instant::now() > deadline {
            break by_id.into_values().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let count = |name: &str| events.iter().filter(|e| *e == name).count();
    assert_eq!(fired, 40);
    assert_eq!(
        (count("system.created"), count("trigger_instance.created"), count("trigger.fired")),
        (1, 1, fired),
        "delivered after the restart: {events:?}"
    );
    server.kill_and_collect_logs();
    receiver.stop(false).await;
}

#[tokio::test]
async fn actions_of_acknowledged_fires_run_after_sigkill() {
    // Arrange: a slow receiver, and one instance whose runs go one at a time, so most runs are still
    // waiting when the process is killed.
    let receiver = TestReceiver::start().await;
    receiver.delay(Duration::from_millis(50));
    let env = [
        ("SWITCHBOARD_OUTBOUND__ALLOW_PRIVATE_NETWORKS", "true"),
        ("SWITCHBOARD_ACTIONS__RETRY_SCHEDULE_MS", "[20,40]"),
    ];
    let storage = Storage::new().await;
    let client = reqwest::Client::new();
    let server = start_with(&storage, &env);
    let system = create(&client, server.api("/systems"), json!({"name": "Action room"})).await;
    let sys_id = system["id"].as_str().unwrap().to_owned();
    let action = json!({"method": "POST", "url": receiver.url("/hook"), "body": {"from": "crash test"}});
    let trigger = create(
        &client,
        server.api("/triggers"),
        json!({"name": "Acting", "enable_webhook": true, "actions": {"requests": [action]}}),
    )
    .await;
    let inst =
        create(&client, server.api(&format!("/systems/{sys_id}/triggers")), json!({"trigger_id": trigger["id"]})).await;
    let inst_id = inst["id"].as_str().unwrap().to_owned();
    let url = inst["webhook_url"].as_str().unwrap().to_owned();
    let calls = (0..60).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move { client.post(url).send().await.unwrap().json::<Value>().await.unwrap() }
    });
    let mut acked: Vec<u64> = join_all(calls)
        .await
        .iter()
        .filter(|a| a["fired"] == true)
        .map(|a| a["trigger_count"].as_u64().unwrap())
        .collect();
    acked.sort_unstable();

    // Act: killed right after the last acknowledgement, while runs are under way.
    let seen_at_kill = receiver.received().len();
    server.kill_and_collect_logs();
    let server = start_with(&storage, &env);

    // Assert: every acknowledged fire has a run, and every run's request reached the receiver.
    assert_eq!(acked.len(), 60, "with no debounce every call fires");
    assert!(seen_at_kill < acked.len(), "the kill came while runs were waiting ({seen_at_kill} requests seen)");
    let runs_url = server.api(&format!("/systems/{sys_id}/triggers/{inst_id}/runs?limit=10000"));
    let runs = eventually(30, "every run to succeed after the restart", || async {
        let runs = admin_json(&client, reqwest::Method::GET, runs_url.clone()).await;
        let runs = runs.as_array().expect("a list of runs").clone();
        (runs.len() >= acked.len() && runs.iter().all(|r| r["status"] == "succeeded")).then_some(runs)
    })
    .await;
    let mut fires: Vec<u64> = runs.iter().map(|r| r["fire"].as_u64().unwrap()).collect();
    fires.sort_unstable();
    assert_eq!(fires, acked, "one run per acknowledged fire");

    let received = receiver.received();
    let mut per_key: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for r in &received {
        *per_key.entry(r.idempotency_key().to_owned()).or_default() += 1;
    }
    for run in &runs {
        let key = format!("{}:0", run["id"].as_str().unwrap());
        assert!(per_key.contains_key(&key), "the request of run {} (fire {}) was sent", key, run["fire"]);
    }
    assert!(per_key.len() >= acked.len(), "{} distinct keys for {} acknowledged fires", per_key.len(), acked.len());
    let duplicated: Vec<(&String, &usize)> = per_key.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "{} acknowledged fires, {seen_at_kill} requests before the kill, {} requests in all, {} keys sent more than \
         once: {duplicated:?}",
        acked.len(),
        received.len(),
        duplicated.len()
    );
    server.kill_and_collect_logs();
}

#[tokio::test]
async fn module_status_written_a_second_ago_survives_sigkill() {
    let storage = Storage::new().await;
    let client = reqwest::Client::new();
    let server = start(&storage);
    let system = create(&client, server.api("/systems"), json!({"name": "Status crash room"})).await;
    let sys_id = system["id"].as_str().unwrap().to_owned();
    create(&client, server.api("/modules"), json!({"driver": "Display", "control_system_id": sys_id})).await;
    let set = client
        .post(server.api(&format!("/systems/{sys_id}/Display_1/switch_to")))
        .header("X-API-Key", ADMIN_KEY)
        .json(&json!({"input": "hdmi2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    // Statuses are stored at most once a second: past that, a kill cannot take the change back.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    server.kill_and_collect_logs();
    let server = start(&storage);
    let status = admin_json(&client, reqwest::Method::GET, server.api(&format!("/systems/{sys_id}/Display_1"))).await;

    assert_eq!(status["input"], "hdmi2", "{status}");
}
