//! Crash tests of what only sled has: `store.sync_interval_ms`, the interval at which its state journal
//! is synced to the device.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;

use crate::crash::{admin_json, start, start_with, webhook_instance, Server, Storage};

/// A counter from the server's `/metrics`.
async fn counter(client: &reqwest::Client, server: &Server, name: &str) -> u64 {
    let text = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
    line[name.len() + 1..].trim().parse().unwrap()
}

#[tokio::test]
async fn with_a_sync_interval_acknowledged_fires_survive_the_process_being_killed() {
    let storage = Storage::new().await;
    let client = reqwest::Client::new();
    // Longer than the test: nothing is synced before the kill, so the fires live only in the page cache.
    let server = start_with(&storage, &[("SWITCHBOARD_STORE__SYNC_INTERVAL_MS", "10000")]);
    let (sys_id, inst) = webhook_instance(&client, &server, "Relaxed room").await;
    let inst_id = inst["id"].as_str().unwrap();
    let url = server.api(&format!("/webhook/{inst_id}/notify/{}", inst["webhook_secret"].as_str().unwrap()));

    let calls = (0..60).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move { client.post(url).send().await.unwrap().json::<Value>().await.unwrap() }
    });
    let acked = join_all(calls).await.iter().filter(|a| a["fired"] == true).count();
    server.kill_and_collect_logs();

    let server = start(&storage);
    let state =
        admin_json(&client, reqwest::Method::GET, server.api(&format!("/systems/{sys_id}/triggers/{inst_id}"))).await;
    assert_eq!(acked, 60);
    assert_eq!(state["trigger_count"], 60, "a killed process loses no acknowledged fire");
}

#[tokio::test]
async fn a_sync_interval_acknowledges_fires_before_the_device_sync_and_syncs_within_it() {
    const SYNCS: &str = "switchboard_state_journal_syncs_total";
    const FIRES: u64 = 20;
    for interval in [0u64, 400] {
        let storage = Storage::new().await;
        let client = reqwest::Client::new();
        let server = start_with(&storage, &[("SWITCHBOARD_STORE__SYNC_INTERVAL_MS", &interval.to_string())]);
        let (_, inst) = webhook_instance(&client, &server, "Sync room").await;
        let url = server.api(&format!(
            "/webhook/{}/notify/{}",
            inst["id"].as_str().unwrap(),
            inst["webhook_secret"].as_str().unwrap()
        ));

        let before = counter(&client, &server, SYNCS).await;
        let started = Instant::now();
        for _ in 0..FIRES {
            let answer: Value = client.post(&url).send().await.unwrap().json().await.unwrap();
            assert_eq!(answer["fired"], true);
        }
        let took = started.elapsed();
        let during = counter(&client, &server, SYNCS).await - before;
        if interval == 0 {
            assert!(during >= FIRES, "every acknowledged fire was synced first: {during} syncs");
            continue;
        }
        // At most one sync per interval that passed, and none per fire.
        let bound = took.as_millis() as u64 / interval + 1;
        assert!(during <= bound, "{during} syncs for {FIRES} fires in {took:?}");
        // With no more calls, the committer still syncs the pending records within the interval.
        tokio::time::sleep(Duration::from_millis(interval * 2)).await;
        assert!(counter(&client, &server, SYNCS).await > before + during, "the deferred sync ran");
    }
}
