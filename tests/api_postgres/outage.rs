//! A PostgreSQL that goes away and comes back, under load, through the real server on a cluster of
//! the test's own (`DedicatedCluster`; the shared cluster is never stopped): while it is down every
//! request that needs it answers 503 `store_unavailable` within `postgres_timeout_ms` and a margin,
//! `/readyz` answers 503 and `/healthz` 200; once it is back, requests succeed again without a restart
//! of Switchboard, and nothing acknowledged is lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use switchboard::config::{Config, PostgresUrl, StoreBackend};

use crate::helpers::*;
use crate::postgres_support::DedicatedCluster;

/// `store.postgres_timeout_ms` in these tests.
const TIMEOUT: Duration = Duration::from_millis(1000);
/// What an answer may take beyond [`TIMEOUT`]: scheduling on two shared cores in a debug build.
const MARGIN: Duration = Duration::from_millis(1500);
/// How long the database stays down.
const OUTAGE: Duration = Duration::from_secs(4);
/// The longest requests may keep failing once the database accepts connections again.
const RECOVERY: Duration = Duration::from_secs(10);

async fn new_cluster() -> Arc<DedicatedCluster> {
    Arc::new(tokio::task::spawn_blocking(DedicatedCluster::start_new).await.expect("the cluster starts"))
}

async fn stop(cluster: &Arc<DedicatedCluster>) {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || cluster.stop()).await.expect("the cluster stops");
}

async fn start(cluster: &Arc<DedicatedCluster>) {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || cluster.start()).await.expect("the cluster starts again");
}

/// The settings of an app on `cluster`, with the lowered timeout.
fn on_cluster(config: &mut Config, cluster: &DedicatedCluster) {
    config.store.backend = StoreBackend::Postgres;
    config.store.postgres_url = Some(PostgresUrl::parse(&cluster.url()).expect("a PostgreSQL URL"));
    config.store.postgres_timeout_ms = TIMEOUT.as_millis() as u64;
    // The load is one instance called as fast as it answers: no rate limit in the way.
    config.webhook.rate_limit_per_second = 1_000_000;
    config.webhook.rate_limit_burst = 1_000_000;
    // Events are delivered to a receiver in the test.
    config.outbound.allow_private_networks = true;
}

/// One answer seen by a load task.
#[derive(Debug)]
struct Seen {
    what: &'static str,
    status: u16,
    body: Value,
    took: Duration,
}

/// What the load tasks saw, and what they were answered 2xx for.
#[derive(Default)]
struct Load {
    seen: Mutex<Vec<Seen>>,
    /// Webhook calls answered 2xx `"fired": true`.
    fired: Mutex<u64>,
    /// Systems whose creation was answered 201, and the name they were given.
    created: Mutex<Vec<(String, String)>>,
    /// Systems whose PATCH was answered 200, and the description they were given last.
    described: Mutex<Vec<(String, String)>>,
}

impl Load {
    fn record(&self, what: &'static str, status: u16, body: Value, took: Duration) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(Seen { what, status, body, took });
    }

    /// Every answer since `from`: 2xx or 503 `store_unavailable`, none slower than the timeout and
    /// its margin. Returns how many were 503.
    fn check_since(&self, from: usize, phase: &str) -> usize {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut unavailable = 0;
        let slowest = seen[from..].iter().map(|s| s.took).max().unwrap_or_default();
        eprintln!("[{phase}] {} answers, the slowest in {slowest:?}", seen.len() - from);
        for s in &seen[from..] {
            assert!(s.took <= TIMEOUT + MARGIN, "[{phase}] {} took {:?}: {} {}", s.what, s.took, s.status, s.body);
            match s.status {
                200..=299 => {}
                503 => {
                    assert_eq!(s.body["error"], "store_unavailable", "[{phase}] {}: {}", s.what, s.body);
                    unavailable += 1;
                }
                other => panic!("[{phase}] {} answered {other}: {}", s.what, s.body),
            }
        }
        unavailable
    }

    fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

async fn timed(req: reqwest::RequestBuilder) -> (u16, Value, Duration) {
    let started = Instant::now();
    let res = req.timeout(Duration::from_secs(30)).send().await.expect("the server answers");
    let (status, body) = status_and_body(res).await;
    (status, body, started.elapsed())
}

/// Fires the hook continuously (debounce 0).
async fn fire_continuously(app: Arc<TestApp>, hook: Hook, load: Arc<Load>, running: Arc<AtomicBool>) {
    let url = hook.url(&app);
    while running.load(Ordering::Relaxed) {
        let (status, body, took) = timed(app.client.post(&url).json(&json!({ "n": 1 }))).await;
        if (200..300).contains(&status) && body["fired"] == true {
            *load.fired.lock().unwrap() += 1;
        }
        load.record("webhook call", status, body, took);
    }
}

/// Creates and describes systems, and reads them back, continuously.
async fn admin_continuously(app: Arc<TestApp>, load: Arc<Load>, running: Arc<AtomicBool>) {
    let mut n = 0;
    while running.load(Ordering::Relaxed) {
        n += 1;
        let name = format!("Room {n}");
        let (status, body, took) = timed(app.admin(Method::POST, "/systems").json(&json!({ "name": name }))).await;
        if status == 201 {
            load.created.lock().unwrap().push((id(&body).to_owned(), name));
        }
        load.record("POST /systems", status, body, took);

        let (status, body, took) = timed(app.admin(Method::GET, "/systems?limit=5")).await;
        load.record("GET /systems", status, body, took);

        let target = load.created.lock().unwrap().last().map(|(id, _)| id.clone());
        if let Some(system) = target {
            let description = format!("pass {n}");
            let req =
                app.admin(Method::PATCH, &format!("/systems/{system}")).json(&json!({ "description": description }));
            let (status, body, took) = timed(req).await;
            if status == 200 {
                let mut described = load.described.lock().unwrap();
                described.retain(|(id, _)| *id != system);
                described.push((system, description));
            }
            load.record("PATCH /systems/{id}", status, body, took);
        }
    }
}

/// Waits until `path` answers `status`, at most `within`; returns how long it took.
async fn until_status(app: &TestApp, path: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let res = app.client.get(app.url(path)).timeout(TIMEOUT + MARGIN).send().await;
        if res.is_ok_and(|r| r.status().as_u16() == status) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{path} did not answer {status} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that everything acknowledged is stored: the hook has fired at least as often as it was
/// answered `"fired": true`, and every system created or described is there as answered.
async fn assert_nothing_lost(app: &TestApp, hook: &Hook, load: &Load, when: &str) {
    let fired = *load.fired.lock().unwrap();
    let count = app.trigger_count(hook).await;
    assert!(count >= fired, "[{when}] trigger_count {count}, but {fired} calls were answered \"fired\": true");
    // A call answered 503 may still be committed with a later try (the engine counted it), never more.
    let calls = load.seen.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|s| s.what == "webhook call").count();
    assert!(count <= calls as u64, "[{when}] trigger_count {count} from {calls} calls");
    let created = load.created.lock().unwrap().clone();
    for (system, name) in &created {
        let got = app.get_ok(&format!("/systems/{system}")).await;
        assert_eq!(got["name"], json!(name), "[{when}] system {system} created during the load");
    }
    let described = load.described.lock().unwrap().clone();
    for (system, description) in &described {
        let got = app.get_ok(&format!("/systems/{system}")).await;
        assert_eq!(got["description"], json!(description), "[{when}] the last description of {system} answered 200");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_goes_away_answers_503_and_comes_back_losing_nothing_acknowledged() {
    // Arrange: an app on a cluster of its own, a hook, and load on both.
    let cluster = new_cluster().await;
    let app = Arc::new(spawn_app_with(|c| on_cluster(c, &cluster)).await);
    let hook = app.hook(json!({})).await;
    // A quiet system the load never touches, whose fires go to a receiver.
    let quiet = app.create_system("Quiet").await;
    let receiver = TestReceiver::start().await;
    let subscription = json!({ "name": "Quiet", "url": receiver.url("/events"), "events": ["trigger.fired"], "system_id": id(&quiet) });
    app.create("/webhooks", subscription).await;
    let load = Arc::new(Load::default());
    let running = Arc::new(AtomicBool::new(true));
    let tasks = vec![
        tokio::spawn(fire_continuously(app.clone(), hook.clone(), load.clone(), running.clone())),
        tokio::spawn(fire_continuously(app.clone(), hook.clone(), load.clone(), running.clone())),
        tokio::spawn(admin_continuously(app.clone(), load.clone(), running.clone())),
    ];
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(load.check_since(0, "before the outage"), 0, "nothing fails before the outage");
    assert!(*load.fired.lock().unwrap() > 0, "the hook fires before the outage");

    // Act 1: the database goes away.
    stop(&cluster).await;
    let down_from = load.len();
    let down_at = Instant::now();

    // Assert 1: every request answers 503 store_unavailable (or succeeded), none hangs; not ready, alive.
    let (status, body, took) = timed(app.client.get(app.url("/readyz"))).await;
    assert_eq!((status, body), (503, json!({ "store": false, "workers": true })), "/readyz");
    assert!(took <= TIMEOUT + MARGIN, "/readyz took {took:?}");
    let res = app.client.get(app.url("/healthz")).send().await.expect("/healthz answers");
    assert_eq!(res.status(), 200, "/healthz while the database is down");
    tokio::time::sleep(OUTAGE.saturating_sub(down_at.elapsed())).await;
    let refused = load.check_since(down_from, "during the outage");
    assert!(refused > 0, "requests were refused during the outage");

    // Act 2: the database comes back.
    start(&cluster).await;
    let up_from = load.len();

    // Assert 2: ready again, and requests succeed, without restarting Switchboard.
    let ready_after = until_status(&app, "/readyz", 200, RECOVERY).await;
    let fired_before = *load.fired.lock().unwrap();
    let created_before = load.created.lock().unwrap().len();
    let recovered = eventually(RECOVERY.as_secs(), "webhook calls and admin writes succeed again", || async {
        let fired = *load.fired.lock().unwrap() > fired_before;
        let created = load.created.lock().unwrap().len() > created_before;
        (fired && created).then_some(())
    });
    recovered.await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.store(false, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a load task");
    }
    load.check_since(up_from, "after the outage");
    // Everything answered once recovered succeeds: a pooled connection broken by the outage is not
    // handed out again.
    let last_second = load.seen.lock().unwrap().iter().rev().take(20).map(|s| s.status).collect::<Vec<_>>();
    assert!(last_second.iter().all(|s| (200..300).contains(s)), "the last answers succeed: {last_second:?}");
    // The background writers work again: a call after the outage gets its receipt, and its event is
    // delivered.
    let late = app.hook_in(id(&quiet), json!({})).await;
    let res = app.call_hook(&late.url(&app), &[], "{}").await;
    assert_eq!(json(res).await["fired"], true, "a call after the outage");
    app.receipts_eventually(&late, 1).await;
    eventually(10, "the event of a fire after the outage is delivered", || async {
        receiver.received().iter().any(|r| r.body.contains(late.id())).then_some(())
    })
    .await;
    eprintln!("ready {ready_after:?} after the database started; {refused} refused during the outage");

    // Assert 3: nothing acknowledged is lost, as this app sees it and as the database has it.
    let app = Arc::into_inner(app).expect("the load tasks have ended");
    assert_nothing_lost(&app, &hook, &load, "recovered").await;
    let app = app.restart().await;
    assert_nothing_lost(&app, &hook, &load, "after a restart").await;
}

#[tokio::test]
async fn starting_against_a_database_that_is_down_fails_with_a_clear_error() {
    // Arrange
    let cluster = new_cluster().await;
    stop(&cluster).await;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut config = test_config(&dir);
    on_cluster(&mut config, &cluster);

    // Act
    let started = Instant::now();
    let built = switchboard::startup::Application::build(config).await;

    // Assert
    let took = started.elapsed();
    let Err(e) = built else { panic!("the app started against a stopped database") };
    let message = format!("{e:#}");
    assert!(took <= TIMEOUT + MARGIN, "failing took {took:?}: {message}");
    assert!(message.contains("PostgreSQL"), "the error names PostgreSQL: {message}");
    assert!(!message.contains("password"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_that_hangs_answers_503_within_the_timeout_and_comes_back() {
    // Arrange
    let cluster = new_cluster().await;
    let app = spawn_app_with(|c| on_cluster(c, &cluster)).await;
    let hook = app.hook(json!({})).await;
    let system = app.create_system("Room").await;
    let res = app.call_hook(&hook.url(&app), &[], "{}").await;
    assert_eq!(json(res).await["fired"], true, "a call before the database hangs");

    // Act
    let frozen = cluster.clone();
    tokio::task::spawn_blocking(move || frozen.freeze()).await.expect("frozen");

    // Assert: each request that needs the database is refused within the timeout, none hangs.
    let load = Load::default();
    for _ in 0..2 {
        let (status, body, took) = timed(app.client.post(hook.url(&app)).json(&json!({}))).await;
        load.record("webhook call", status, body, took);
        let (status, body, took) = timed(app.admin(Method::GET, &format!("/systems/{}", id(&system)))).await;
        load.record("GET /systems/{id}", status, body, took);
        let (status, body, took) = timed(app.admin(Method::POST, "/systems").json(&json!({ "name": "New" }))).await;
        load.record("POST /systems", status, body, took);
        let (status, body, took) = timed(app.client.get(app.url("/readyz"))).await;
        assert_eq!(status, 503, "/readyz while the database hangs: {body}");
        assert!(took <= TIMEOUT + MARGIN, "/readyz took {took:?}");
    }
    let refused = load.check_since(0, "while the database hangs");
    assert_eq!(refused, load.len(), "every request that needs the database is refused");
    let res = app.client.get(app.url("/healthz")).send().await.expect("/healthz answers");
    assert_eq!(res.status(), 200, "/healthz while the database hangs");

    // Act: it answers again.
    let thawed = cluster.clone();
    tokio::task::spawn_blocking(move || thawed.thaw()).await.expect("thawed");

    // Assert: requests succeed again without restarting Switchboard.
    until_status(&app, "/readyz", 200, RECOVERY).await;
    eventually(RECOVERY.as_secs(), "a call succeeds after the database answers again", || async {
        let res = app.client.post(hook.url(&app)).json(&json!({})).send().await.expect("answered");
        (res.status().as_u16() == 202 || res.status().as_u16() == 200).then_some(())
    })
    .await;
    for _ in 0..20 {
        let (status, body, _) = timed(app.admin(Method::POST, "/systems").json(&json!({ "name": "After" }))).await;
        assert_eq!(status, 201, "an admin write after the database answers again: {body}");
    }
}
