//! Driver code runs off the HTTP workers: a driver that blocks its thread delays nothing else, and its
//! caller still gets its 504 on time.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use switchboard::startup::Options;

use crate::helpers::*;
use crate::test_driver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_blocking_its_thread_delays_no_webhook_call_and_its_caller_gets_504_on_time() {
    let options = Options { drivers: test_driver::registry(), ..Options::default() };
    let app = spawn_app_with_options(|c| c.drivers.call_timeout_ms = 1000, options).await;
    let system = app.create_system("Blocking room").await;
    let sys = id(&system).to_owned();
    app.create_module("Probe", Some(&sys)).await;
    let (_, _, instance) = app.webhook_instance(json!({"name": "Door", "enable_webhook": true})).await;
    let notify = instance["webhook_url"].as_str().unwrap().to_owned();

    let blocked = {
        let (client, url) = (app.client.clone(), app.api(&format!("/systems/{sys}/Probe_1/block")));
        tokio::spawn(async move {
            let started = Instant::now();
            let res = client.post(url).header("X-API-Key", ADMIN_KEY).json(&json!({})).send().await.unwrap();
            (res, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let streams = (0..4).map(|_| {
        let (client, url) = (app.client.clone(), notify.clone());
        async move {
            let mut slowest = Duration::ZERO;
            for _ in 0..50 {
                let started = Instant::now();
                let res = client.post(&url).send().await.unwrap();
                assert_eq!(res.status(), 202);
                slowest = slowest.max(started.elapsed());
            }
            slowest
        }
    });
    let slowest = join_all(streams).await.into_iter().max().unwrap();
    let (res, waited) = blocked.await.unwrap();

    assert!(slowest < Duration::from_millis(100), "a notify call took {slowest:?} while a driver blocked");
    assert_error(res, 504, "driver_timeout").await;
    assert!(waited < Duration::from_millis(1800), "the 504 came after {waited:?}, not at the 1 s timeout");
}
