//! What probing the server as an attacker would found, proved fixed through the real server: webhook
//! secrets behind percent-encoded paths, credentials in subscription URLs, bodies trickled to hold a
//! connection, and refused calls flooding the log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// The real binary, for what it writes to stderr
// ---------------------------------------------------------------------------------------------

/// The server binary on port 0 with its own data dir; killed when dropped.
struct Binary {
    child: Option<Child>,
    port: u16,
    lines: mpsc::Receiver<String>,
    client: reqwest::Client,
    _dir: TempDir,
}

impl Binary {
    /// Starts it with `--log-format format` and `RUST_LOG` set to `rust_log` (or unset).
    fn start(format: &str, rust_log: Option<&str>) -> Self {
        let dir = TempDir::new().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(["serve", "--log-format", format, "--bind", "127.0.0.1:0"])
            .env("SWITCHBOARD_DATA_DIR", dir.path().join("data"))
            .env("SWITCHBOARD_ADMIN_KEY", ADMIN_KEY)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let mut child = cmd.spawn().expect("the binary starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut binary = Self { child: Some(child), port: 0, lines, client: reqwest::Client::new(), _dir: dir };
        binary.port = binary.wait_for_port();
        binary
    }

    /// The port from the `switchboard listening` line, in either format.
    fn wait_for_port(&self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = plain(&self.lines.recv_timeout(left).expect("the server says where it listens"));
            if !line.contains("switchboard listening") {
                continue;
            }
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                return event["fields"]["port"].as_u64().expect("port field") as u16;
            }
            let port = line.split("port=").nth(1).expect("port= in the text line");
            return port.trim().parse().expect("a port number");
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn admin_create(&self, path: &str, body: Value) -> Value {
        let res = self.client.post(self.url(&format!("/api/engine/v2{path}"))).header("X-API-Key", ADMIN_KEY);
        let res = res.json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201, "POST {path}");
        res.json().await.unwrap()
    }

    /// A POST-only, exec-enabled webhook instance in a system with one Display: `(trig id, secret)`.
    async fn webhook_instance(&self) -> (String, String) {
        let system = self.admin_create("/systems", json!({ "name": "Lobby" })).await;
        self.admin_create("/modules", json!({ "driver": "Display", "control_system_id": id(&system) })).await;
        let trigger = json!({ "name": "Bell", "enable_webhook": true, "supported_methods": ["POST"] });
        let trigger = self.admin_create("/triggers", trigger).await;
        let path = format!("/systems/{}/triggers", id(&system));
        let instance = self.admin_create(&path, json!({ "trigger_id": id(&trigger), "exec_enabled": true })).await;
        (id(&instance).to_owned(), instance["webhook_secret"].as_str().unwrap().to_owned())
    }

    /// A counter's value from `/metrics` (0 when it has no such series yet).
    async fn counter(&self, series: &str) -> u64 {
        let text = self.client.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{series} ")));
        line.map_or(0, |l| l[series.len() + 1..].trim().parse().unwrap())
    }

    /// Stops it with SIGTERM (so it logs what it does at shutdown) and returns every line it wrote.
    fn stop(mut self) -> Vec<String> {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The reader thread ends at EOF, which closes the channel.
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        lines
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A log line without terminal colour codes.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some((before, after)) = rest.split_once('\x1b') {
        out.push_str(before);
        rest = after.split_once('m').map_or("", |(_, tail)| tail);
    }
    out.push_str(rest);
    out
}

/// A log line's level, in either format.
fn level(line: &str) -> &'static str {
    let json = serde_json::from_str::<Value>(line).ok();
    let level = match &json {
        Some(event) => event["level"].as_str().unwrap_or_default().to_owned(),
        None => plain(line).split_whitespace().nth(1).unwrap_or_default().to_owned(),
    };
    ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].into_iter().find(|l| *l == level).unwrap_or("?")
}

// ---------------------------------------------------------------------------------------------
// 1. Webhook secrets stay out of the log, however the path is encoded
// ---------------------------------------------------------------------------------------------

/// Every byte of `s` percent-encoded.
fn encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn no_log_line_carries_a_webhook_secret_whatever_the_encoding() {
    for format in ["text", "json"] {
        // Arrange
        let server = Binary::start(format, Some("debug"));
        let (t, s) = server.webhook_instance().await;
        let (head, tail) = s.split_at(3);
        let partly = format!("{}{tail}", encode_all(head));
        let cases: Vec<(&str, Method, String, u16)> = vec![
            (
                "the reported probe",
                Method::POST,
                format!("/api/engine/v2/%77ebhook/{t}/notify/{s}/Display/0/request"),
                400,
            ),
            (
                "every segment encoded",
                Method::POST,
                format!("/%61%70%69/%65ngine/%762/%77%65%62%68%6f%6f%6b/{t}/%6E%6F%74%69%66%79/{s}"),
                202,
            ),
            (
                "exec form, upper-case hex",
                Method::POST,
                format!("/api/engine/v2/%77ebhook/{t}/%6E%6F%74ify/{s}/Display/1/request"),
                200,
            ),
            ("wrong-case notify: not routed", Method::POST, format!("/api/engine/v2/%77ebhook/{t}/%4Eotify/{s}"), 404),
            ("query form, encoded key", Method::POST, format!("/api/engine/v2/%77ebhook/{t}/notify?%73ecret={s}"), 202),
            (
                "query form with exec",
                Method::POST,
                format!("/api/engine/v2/%77ebhook/{t}/notify?secret={s}&exec=true&mod=Display&index=0&method=request"),
                400,
            ),
            ("secret partly encoded", Method::POST, format!("/api/engine/v2/%77ebhook/{t}/notify/{partly}"), 202),
            (
                "secret wholly encoded",
                Method::POST,
                format!("/api/engine/v2/webhook/{t}/notify/{}", encode_all(&s)),
                202,
            ),
            ("upper-case W: not routed", Method::POST, format!("/api/engine/v2/%57ebhook/{t}/notify/{s}"), 404),
            ("method refused", Method::GET, format!("/api/engine/v2/%77ebhook/{t}/notify/{s}"), 405),
        ];

        // Act
        for (case, method, path, status) in &cases {
            let req = server.client.request(method.clone(), server.url(path));
            // A body the Display's webhook method accepts, so that the exec form answers 200.
            let res = req.body(r#"{"power": true}"#).send().await.unwrap();
            assert_eq!(res.status().as_u16(), *status, "[{format}: {case}] {}", res.text().await.unwrap());
        }
        let logs = server.stop();

        // Assert: no line holds the secret, plain or encoded; the targets were logged, redacted
        let leaks: Vec<&String> =
            logs.iter().filter(|l| l.contains(tail) || l.contains(&encode_all(&s)[9..])).collect();
        assert!(leaks.is_empty(), "[{format}] a secret reached the log: {leaks:#?}");
        assert!(logs.iter().any(|l| l.contains("%77ebhook") && l.contains("[redacted]")), "[{format}] targets logged");
        assert!(logs.iter().any(|l| level(l) == "DEBUG" && l.contains("call refused")), "[{format}] refusals logged");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Credentials in subscription URLs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn support_keys_see_subscription_urls_without_credentials() {
    // Arrange
    let app = spawn_app().await;
    let support = app.key_with_role("support").await;
    let cases = [
        (
            "userinfo and a token",
            "http://user:PASSWD@hooks.example.com/h?token=QT",
            "http://hooks.example.com/h?token=[redacted]",
        ),
        (
            "every query value",
            "https://hooks.example.com/h?a=QT&b=QT2&QT3",
            "https://hooks.example.com/h?a=[redacted]&b=[redacted]&[redacted]",
        ),
        ("nothing to hide", "https://hooks.example.com:8443/h", "https://hooks.example.com:8443/h"),
    ];
    for (case, url, shown) in cases {
        let sub = app.create("/webhooks", json!({ "name": case, "url": url, "events": ["*"] })).await;
        let path = format!("/webhooks/{}", id(&sub));

        // Act
        let as_support = json(app.with_key(Some(&support), Method::GET, &path).send().await.unwrap()).await;
        let listed = app.with_key(Some(&support), Method::GET, "/webhooks").send().await.unwrap();
        let (listed, _) = list_of(listed, "/webhooks").await;
        let as_admin = app.get_ok(&path).await;

        // Assert
        assert_eq!(as_support["url"], shown, "[{case}] GET");
        let listed = listed.iter().find(|s| s["id"] == sub["id"]).expect("listed");
        assert_eq!(listed["url"], shown, "[{case}] list");
        assert!(!as_support.to_string().contains("QT") && !as_support.to_string().contains("PASSWD"), "[{case}]");
        assert_eq!(as_admin["url"], url, "[{case}] admins see the URL as they set it");
    }
}

/// A receiver that records every header line of every request, duplicates included.
async fn header_receiver() -> (u16, Arc<Mutex<Vec<Vec<(String, String)>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            // Read the whole body first: closing with unread bytes would reset the connection.
            let length = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap_or(0));
            let mut got = body.len();
            while got < length {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            record.lock().unwrap().push(headers);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        }
    });
    (port, seen)
}

/// base64("user:PASSWD"), as a client sends the URL's userinfo.
const BASIC: &str = "Basic dXNlcjpQQVNTV0Q=";

/// Header names and the one value each must have.
type Headers = &'static [(&'static str, &'static str)];

#[tokio::test]
async fn an_explicit_authorization_header_replaces_the_urls_userinfo() {
    // Arrange
    let app = spawn_app_with(|c| c.outbound.allow_private_networks = true).await;
    let (port, seen) = header_receiver().await;
    let cases: [(&str, Value, Headers); 3] = [
        ("userinfo only", Value::Null, &[("authorization", BASIC)]),
        (
            "userinfo and Authorization",
            json!({ "name": "Authorization", "value": "Bearer explicit" }),
            &[("authorization", "Bearer explicit")],
        ),
        (
            "userinfo and another header",
            json!({ "name": "X-Api-Key", "value": "k1" }),
            &[("authorization", BASIC), ("x-api-key", "k1")],
        ),
    ];
    for (i, (case, auth_header, expected)) in cases.iter().enumerate() {
        let url = format!("http://user:PASSWD@127.0.0.1:{port}/h");
        let body = json!({ "name": case, "url": url, "events": ["test"], "auth_header": auth_header });
        let sub = app.create("/webhooks", body).await;

        // Act
        let attempt = app.create_ok(&format!("/webhooks/{}/test", id(&sub)), json!({})).await;

        // Assert
        assert_eq!(attempt["status_code"], 200, "[{case}] {attempt}");
        let headers = seen.lock().unwrap()[i].clone();
        for (name, value) in *expected {
            let values: Vec<&str> = headers.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
            assert_eq!(values, [*value], "[{case}] exactly one {name}: {headers:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Bodies trickled to hold a connection
// ---------------------------------------------------------------------------------------------

/// Sends `head`, then `unit` every 50 ms until the server stops reading; returns what the server
/// answered, once it has closed the connection (or after 10 s).
async fn trickle(port: u16, head: String, unit: &'static [u8]) -> (String, bool, Duration) {
    let started = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        while write.write_all(unit).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    writer.abort();
    (String::from_utf8_lossy(&answer).into_owned(), closed, started.elapsed())
}

#[tokio::test]
async fn a_body_trickled_past_the_time_limit_is_answered_408_and_the_connection_closed() {
    // Arrange
    let app = spawn_app_with(|c| c.webhook.body_timeout_ms = 300).await;
    let (_, _, instance) = app.webhook_instance(json!({ "name": "T", "enable_webhook": true })).await;
    let notify =
        format!("/api/engine/v2/webhook/{}/notify/{}", id(&instance), instance["webhook_secret"].as_str().unwrap());
    let cases: [(&str, String, &[u8]); 3] = [
        (
            "webhook, a megabyte declared",
            format!("POST {notify} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"),
            b"a",
        ),
        (
            "webhook, chunked",
            format!("POST {notify} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
            b"1\r\na\r\n",
        ),
        (
            "admin JSON body",
            format!(
                "POST /api/engine/v2/systems HTTP/1.1\r\nHost: x\r\nX-API-Key: {ADMIN_KEY}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            ),
            b" ",
        ),
    ];
    for (case, head, unit) in cases {
        // Act
        let (answer, closed, took) = trickle(app.port, head, unit).await;

        // Assert
        assert!(answer.starts_with("HTTP/1.1 408"), "[{case}] {answer}");
        assert!(answer.contains(r#""error":"body_timeout""#), "[{case}] {answer}");
        assert!(closed, "[{case}] the server closed the connection");
        assert!(took >= Duration::from_millis(300), "[{case}] not before the limit: {took:?}");
    }
}

#[tokio::test]
async fn bodies_within_the_time_limit_are_read_as_before() {
    // Arrange
    let app = spawn_app_with(|c| c.webhook.body_timeout_ms = 300).await;
    let (_, _, instance) = app.webhook_instance(json!({ "name": "T", "enable_webhook": true })).await;
    let url = instance["webhook_url"].as_str().unwrap();

    // Act
    let webhook = app.client.post(url).body("{\"a\": 1}").send().await.unwrap().status();
    let admin = app.post("/systems", &json!({ "name": "Quick" })).await.status();
    let stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let path = url.split_once(&format!("127.0.0.1:{}", app.port)).unwrap().1;
    let pieces = slow_but_in_time(stream, path).await;

    // Assert
    assert_eq!((webhook.as_u16(), admin.as_u16()), (202, 201));
    assert!(pieces.starts_with("HTTP/1.1 202"), "a body in pieces, all within the limit: {pieces}");
}

/// Sends a 3-byte body in three pieces 50 ms apart and returns the start of the answer.
async fn slow_but_in_time(mut stream: TcpStream, path: &str) -> String {
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    for byte in [b"a", b"b", b"c"] {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.write_all(byte).await.unwrap();
    }
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await.unwrap().unwrap();
    answer
}

// ---------------------------------------------------------------------------------------------
// 4. Refused calls are counted, not logged one by one
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn refused_calls_are_counted_exactly_and_summed_up_in_one_warning() {
    // Arrange: the default filter (RUST_LOG unset), as a server is usually run
    let server = Binary::start("json", None);
    let (t, _) = server.webhook_instance().await;
    let webhook = |query: &str| server.url(&format!("/api/engine/v2/webhook/{t}/notify{query}"));
    let series = [
        r#"switchboard_webhook_refusals_total{code="not_found"}"#,
        r#"switchboard_webhook_refusals_total{code="missing_secret"}"#,
        r#"switchboard_unauthenticated_refusals_total{code="unauthorized"}"#,
    ];

    // Act: 12 wrong secrets, 6 without a secret, 5 without an API key, 3 malformed requests
    for _ in 0..12 {
        assert_eq!(server.client.post(webhook("?secret=wrong")).send().await.unwrap().status(), 404);
    }
    for _ in 0..6 {
        assert_eq!(server.client.post(webhook("")).send().await.unwrap().status(), 422);
    }
    for _ in 0..5 {
        assert_eq!(server.client.get(server.url("/api/engine/v2/systems")).send().await.unwrap().status(), 401);
    }
    for _ in 0..3 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer)).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }
    let mut counts = Vec::new();
    for s in series {
        counts.push(server.counter(s).await);
    }
    let logs = server.stop();

    // Assert: exact counts, and one WARN line for all of them (logged at shutdown, before a minute)
    assert_eq!(counts, [12, 6, 5]);
    let loud: Vec<&String> = logs.iter().filter(|l| matches!(level(l), "WARN" | "ERROR")).collect();
    assert_eq!(loud.len(), 1, "only the summary: {loud:#?}");
    let summary: Value = serde_json::from_str(loud[0]).unwrap();
    assert_eq!(summary["fields"]["total"], 23, "{summary}");
    let refusals = summary["fields"]["refusals"].as_str().unwrap();
    for part in ["webhook.not_found=12", "webhook.missing_secret=6", "unauthenticated.unauthorized=5"] {
        assert!(refusals.contains(part), "{part} in {refusals}");
    }
}
