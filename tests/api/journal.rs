//! The state journal through the real binary: fires acknowledged before and after a checkpoint
//! survive SIGKILL, checkpoints trim the journal, a restart replays and removes it, and a clean stop
//! leaves nothing to replay.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::crash::{admin_json, start, webhook_instance, Server, Storage};

/// The journal's files and their sizes, oldest first.
fn journal_files(data_dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(data_dir.join("state-journal"))
        .map(|dir| {
            dir.map(|e| e.unwrap())
                .map(|e| (e.path(), e.metadata().unwrap().len()))
                .filter(|(p, _)| p.extension().is_some_and(|x| x == "wal"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Where a file's records end: records are `len: u32 LE, crc: u32, len bytes`; zeros (or the file's
/// end) follow the last.
fn records_end(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(len) = bytes.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize) {
        if len == 0 || at + 8 + len > bytes.len() {
            break;
        }
        at += 8 + len;
    }
    at
}

/// The instance's webhook URL with its secret in the query, on `server`.
fn notify_url(server: &Server, inst: &serde_json::Value) -> String {
    let (id, secret) = (inst["id"].as_str().unwrap(), inst["webhook_secret"].as_str().unwrap());
    server.api(&format!("/webhook/{id}/notify?secret={secret}"))
}

fn journal_bytes(data_dir: &Path) -> u64 {
    journal_files(data_dir).iter().map(|(_, len)| len).sum()
}

#[tokio::test]
async fn fires_on_both_sides_of_a_checkpoint_survive_sigkill_and_the_journal_is_trimmed() {
    let storage = Storage::new().await;
    let dir = storage.data_dir();
    let client = reqwest::Client::new();
    let server = start(&storage);
    let (sys_id, inst) = webhook_instance(&client, &server, "Journaled").await;
    let inst_id = inst["id"].as_str().unwrap().to_owned();
    let notify = notify_url(&server, &inst);
    let fire = |n: usize| {
        let (client, notify) = (client.clone(), notify.clone());
        async move {
            for _ in 0..n {
                assert_eq!(client.post(&notify).send().await.unwrap().status(), 202);
            }
        }
    };

    fire(30).await;
    let before_checkpoint = journal_files(dir);
    assert!(journal_bytes(dir) > 0, "acknowledged fires are in the journal: {before_checkpoint:?}");
    // A checkpoint (every 5 s, idle or not) stores them in sled and retires their file.
    let deadline = Instant::now() + Duration::from_secs(10);
    while journal_bytes(dir) > 0 || journal_files(dir).iter().any(|f| before_checkpoint.contains(f)) {
        assert!(Instant::now() < deadline, "no checkpoint trimmed the journal: {:?}", journal_files(dir));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fire(20).await;
    let after_checkpoint = journal_files(dir);
    assert!(journal_bytes(dir) > 0, "the newest fires are only in the journal");

    server.kill_and_collect_logs();
    let server = start(&storage);
    let state = admin_json(&client, Method::GET, server.api(&format!("/systems/{sys_id}/triggers/{inst_id}"))).await;
    assert_eq!(state["trigger_count"], 50, "fires stored by the checkpoint and fires replayed from the journal");
    assert!(journal_files(dir).iter().all(|f| !after_checkpoint.contains(f)), "the replayed journal files are removed");

    let exit = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(exit.success());
    assert_eq!(journal_bytes(dir), 0, "a clean stop checkpoints everything");
    let server = start(&storage);
    let state = admin_json(&client, Method::GET, server.api(&format!("/systems/{sys_id}/triggers/{inst_id}"))).await;
    assert_eq!(state["trigger_count"], 50);
    server.kill_and_collect_logs();
}

#[tokio::test]
async fn a_torn_journal_tail_is_ignored_and_the_records_before_it_are_kept() {
    let storage = Storage::new().await;
    let dir = storage.data_dir();
    let client = reqwest::Client::new();
    let server = start(&storage);
    let (sys_id, inst) = webhook_instance(&client, &server, "Torn").await;
    let inst_id = inst["id"].as_str().unwrap().to_owned();
    let notify = notify_url(&server, &inst);
    for _ in 0..5 {
        assert_eq!(client.post(&notify).send().await.unwrap().status(), 202);
    }
    server.kill_and_collect_logs();
    // A crash in the middle of an append leaves part of a record right after the synced ones.
    let (newest, _) = journal_files(dir).pop().expect("a journal file");
    let mut bytes = std::fs::read(&newest).unwrap();
    let end = records_end(&bytes);
    assert!(end > 0, "the fires are in the newest file");
    bytes.truncate(end);
    bytes.extend_from_slice(&[200, 0, 0, 0, 7, 7, 7, 7, b'[', b'"']);
    std::fs::write(&newest, bytes).unwrap();

    let server = start(&storage);
    let state = admin_json(&client, Method::GET, server.api(&format!("/systems/{sys_id}/triggers/{inst_id}"))).await;
    assert_eq!(state["trigger_count"], 5);
    let notify = notify_url(&server, &inst);
    let answer: serde_json::Value = client.post(&notify).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["trigger_count"], 6, "the server writes on after the torn tail");
    server.kill_and_collect_logs();
}
