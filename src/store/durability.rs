//! Group commit of instance state. Writers queue their new state and, when they must answer a client,
//! wait for it to be applied (or applied and flushed). One task applies everything queued at once in
//! one blocking call and flushes once for all durable waiters, so concurrent fires share one fsync
//! and the request path never makes a storage call of its own.
//!
//! A batch is taken only after a waiter's job is dequeued, and jobs are queued in order, so a waiter is
//! answered only after every write its caller queued before it is applied.
//!
//! The committer is a thread of its own on the blocking pool: it waits on its queue and writes to sled
//! directly, so a batch costs no hop between async tasks and blocking threads.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::codec::decode;
use super::{SledStore, Store, StoreError, StoreResult};
use crate::domain::instance::InstanceState;
use crate::domain::InstanceId;
use crate::events::{EngineEvent, EventBus};

enum Job {
    /// A state and the events it causes that the durable sink wants: committed in one transaction.
    Write(InstanceId, InstanceState, Vec<EngineEvent>),
    Wait {
        durable: bool,
        done: oneshot::Sender<Result<(), String>>,
    },
    Stop,
}

#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the committer; it stops when `shutdown` is cancelled, after applying and answering
    /// everything queued.
    pub fn start(store: Store, events: Arc<EventBus>, shutdown: CancellationToken) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::channel();
        let stopper = queue.clone();
        let committer = tokio::task::spawn_blocking(move || commit_loop(&store, &events, &rx));
        let task = tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = stopper.send(Job::Stop);
            if let Err(e) = committer.await {
                tracing::error!(error = %e, "the state committer failed");
            }
        });
        (Self { queue }, task)
    }

    /// Queues a state write with the events it causes (for the durable sink); the newest version of
    /// an instance's state wins, and every event is kept.
    pub fn write(&self, id: InstanceId, state: InstanceState, events: Vec<EngineEvent>) {
        if self.queue.send(Job::Write(id, state, events)).is_err() {
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
    events: Vec<EngineEvent>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    flush: bool,
}

impl Batch {
    fn add(&mut self, job: Job) {
        match job {
            Job::Write(id, state, events) => {
                self.events.extend(events);
                match self.writes.get(&id) {
                    Some(queued) if queued.version >= state.version => {}
                    _ => {
                        self.writes.insert(id, state);
                    }
                }
            }
            Job::Wait { durable, done } => {
                self.flush |= durable;
                self.waiters.push(done);
            }
            Job::Stop => {}
        }
    }

    fn commit(self, store: &SledStore, bus: &EventBus) {
        let Batch { writes, events, waiters, flush } = self;
        let sink = bus.sink().filter(|_| !events.is_empty());
        let mut staged = 0;
        let mut apply = || -> StoreResult<()> {
            match sink {
                None => {
                    for (id, state) in &writes {
                        store.write_state(id, state)?;
                    }
                }
                Some(sink) => {
                    // The states and the deliveries of the events they caused commit together.
                    let mut trees = vec![store.instance_state.clone()];
                    trees.extend(sink.trees());
                    staged = trees[..].transaction(|t| {
                        for (id, state) in &writes {
                            write_state_tx(&t[0], id, state)?;
                        }
                        let mut staged = 0;
                        for event in &events {
                            staged += sink.stage(event, &t[1..])?;
                        }
                        Ok::<_, ConflictableTransactionError<StoreError>>(staged)
                    })?;
                }
            }
            if flush || staged > 0 {
                store.flush()?;
            }
            Ok(())
        };
        let result = apply().map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "committing trigger state failed");
        } else if staged > 0 {
            if let Some(sink) = sink {
                sink.staged();
            }
        }
        for waiter in waiters {
            // A waiter that gave up (its request was cancelled) needs no answer.
            let _ = waiter.send(result.clone());
        }
    }
}

/// `write_state` inside a transaction: never recreates a deleted instance's state, never goes back
/// to an older version.
fn write_state_tx(
    tree: &TransactionalTree,
    id: &InstanceId,
    state: &InstanceState,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let Some(old) = tree.get(id.as_str())? else { return Ok(()) };
    if decode::<InstanceState>(&old).is_ok_and(|current| current.version >= state.version) {
        return Ok(());
    }
    let bytes = serde_json::to_vec(state).map_err(|e| ConflictableTransactionError::Abort(StoreError::Codec(e)))?;
    tree.insert(id.as_str(), bytes)?;
    Ok(())
}

fn commit_loop(store: &Store, bus: &EventBus, rx: &mpsc::Receiver<Job>) {
    let store = store.blocking();
    // `recv` fails only when every sender is gone, which cannot happen before `Stop` arrives.
    while let Ok(first) = rx.recv() {
        let stopping = matches!(first, Job::Stop);
        let mut batch = Batch { flush: stopping, ..Batch::default() };
        batch.add(first);
        let mut stop = stopping;
        while let Ok(more) = rx.try_recv() {
            stop |= matches!(more, Job::Stop);
            batch.add(more);
        }
        // At a stop, whatever was queued is still applied, flushed and answered.
        batch.flush |= stop;
        batch.commit(store, bus);
        if stop {
            return;
        }
    }
}
