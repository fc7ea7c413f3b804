//! Group commit of instance state. Writers queue their new state and, when they must answer a client,
//! wait for it to be applied (or applied and flushed). One task applies everything queued at once in
//! one blocking call and flushes once for all durable waiters, so concurrent fires share one fsync
//! and the request path never makes a storage call of its own.
//!
//! A batch is taken only after a waiter's job is dequeued, and jobs are queued in order, so a waiter is
//! answered only after every write its caller queued before it is applied.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Store, StoreError, StoreResult};
use crate::domain::instance::InstanceState;
use crate::domain::InstanceId;

enum Job {
    Write(InstanceId, InstanceState),
    Wait { durable: bool, done: oneshot::Sender<Result<(), String>> },
}

#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::UnboundedSender<Job>,
}

impl GroupCommit {
    /// Starts the committer; it stops when `shutdown` is cancelled, after applying and answering
    /// everything queued.
    pub fn start(store: Store, shutdown: CancellationToken) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(commit_loop(store, rx, shutdown));
        (Self { queue }, task)
    }

    /// Queues a state write; the newest version of an instance's state wins.
    pub fn write(&self, id: InstanceId, state: InstanceState) {
        if self.queue.send(Job::Write(id, state)).is_err() {
            tracing::warn!("a state write arrived after shutdown and was dropped");
        }
    }

    /// Returns once everything queued before is applied and flushed to disk.
    pub async fn durable(&self) -> StoreResult<()> {
        self.wait(true).await
    }

    /// Returns once everything queued before is applied (visible to readers).
    pub async fn applied(&self) -> StoreResult<()> {
        self.wait(false).await
    }

    async fn wait(&self, durable: bool) -> StoreResult<()> {
        let stopped = || StoreError::Task("the committer has stopped".into());
        let (done, answer) = oneshot::channel();
        self.queue.send(Job::Wait { durable, done }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(StoreError::Task)
    }
}

#[derive(Default)]
struct Batch {
    writes: HashMap<InstanceId, InstanceState>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    flush: bool,
}

impl Batch {
    fn add(&mut self, job: Job) {
        match job {
            Job::Write(id, state) => match self.writes.get(&id) {
                Some(queued) if queued.version >= state.version => {}
                _ => {
                    self.writes.insert(id, state);
                }
            },
            Job::Wait { durable, done } => {
                self.flush |= durable;
                self.waiters.push(done);
            }
        }
    }

    async fn commit(self, store: &Store) {
        let Batch { writes, waiters, flush } = self;
        let result = store
            .run(move |s| {
                for (id, state) in &writes {
                    s.write_state(id, state)?;
                }
                if flush {
                    s.flush()?;
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "committing trigger state failed");
        }
        for waiter in waiters {
            // A waiter that gave up (its request was cancelled) needs no answer.
            let _ = waiter.send(result.clone());
        }
    }
}

async fn commit_loop(store: Store, mut rx: mpsc::UnboundedReceiver<Job>, shutdown: CancellationToken) {
    loop {
        let first = tokio::select! {
            biased;
            job = rx.recv() => job,
            _ = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        let mut batch = Batch::default();
        batch.add(first);
        while let Ok(more) = rx.try_recv() {
            batch.add(more);
        }
        batch.commit(&store).await;
    }
    // Whatever was queued before the shutdown is still applied and answered.
    rx.close();
    let mut batch = Batch { flush: true, ..Batch::default() };
    while let Some(job) = rx.recv().await {
        batch.add(job);
    }
    batch.commit(&store).await;
}
