//! The durable-fire path on PostgreSQL: a group commit. Fires queue their state, events and run; one
//! task takes everything queued at once and commits it in one transaction (the states that are newer
//! than the stored ones, the runs, the outbox entries), so concurrent fires share one commit and its
//! WAL flush. Every level is reached at the commit: a committed state is visible and, with the server's
//! `synchronous_commit` (on by default), durable; admin writes commit on their own before they answer.
//!
//! A commit that fails answers its waiters `store_unavailable` at once (a caller never waits past the
//! failure) and is tried again, merged with what arrived meanwhile, until it succeeds; the wait
//! between tries (a backoff) ends early when a caller waits for an answer, and a caller waits for its
//! commit no longer than `store.postgres_timeout_ms` (a write queued behind a try that hangs is
//! answered unavailable then, and stays queued): the engine
//! holds the fire in memory already, so it must reach the database, and runs and events are never
//! dropped.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{rows, PgStore};
use crate::domain::instance::InstanceState;
use crate::domain::run::Run;
use crate::domain::InstanceId;
use crate::events::EngineEvent;
use crate::store::fire::{stopped, Answer, FireLog, Level, Write};
use crate::store::StoreResult;

/// Most writes one commit takes; the rest wait for the next.
const MAX_BATCH: usize = 1024;
/// The wait before a failed commit is tried again, doubling up to the longest.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

type Done = oneshot::Sender<Result<(), String>>;

enum Job {
    Write(Box<Write>, Option<Done>),
    /// Answered once everything queued before it is committed.
    Barrier(Done),
}

/// What one commit carries.
#[derive(Default)]
struct Batch {
    states: HashMap<InstanceId, InstanceState>,
    events: Vec<EngineEvent>,
    runs: Vec<Run>,
    waiters: Vec<Done>,
}

impl Batch {
    fn add(&mut self, job: Job) {
        match job {
            Job::Write(write, done) => {
                let Write { id, state, events, run } = *write;
                match self.states.get(&id) {
                    Some(kept) if kept.version >= state.version => {}
                    _ => {
                        self.states.insert(id, state);
                    }
                }
                self.events.extend(events);
                self.runs.extend(run);
                self.waiters.extend(done);
            }
            Job::Barrier(done) => self.waiters.push(done),
        }
    }

    fn is_empty(&self) -> bool {
        self.states.is_empty() && self.events.is_empty() && self.runs.is_empty() && self.waiters.is_empty()
    }
}

pub struct PgGroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
    /// `store.postgres_timeout_ms`: the longest a caller waits for its commit.
    timeout: Duration,
}

impl PgGroupCommit {
    /// Starts the committer; it commits what is queued when `shutdown` is cancelled, then stops.
    pub fn start(store: PgStore, shutdown: CancellationToken) -> (Self, JoinHandle<()>) {
        let (jobs, queue) = mpsc::unbounded_channel();
        let timeout = store.inner.timeout;
        let task = tokio::spawn(commit_loop(store, queue, shutdown));
        (Self { jobs, timeout }, task)
    }

    fn queue(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }
}

#[async_trait]
impl FireLog for PgGroupCommit {
    fn write(&self, write: Write, wait: Option<Level>) -> Option<Answer> {
        let (done, answer) = match wait {
            Some(_) => {
                let (done, answer) = oneshot::channel();
                (Some(done), Some(Answer::unavailable_on_refusal(answer).within(self.timeout)))
            }
            None => (None, None),
        };
        // A stopped committer drops the sender, and the answer says so.
        self.queue(Job::Write(Box::new(write), done));
        answer
    }

    async fn flushed(&self) -> StoreResult<()> {
        let (done, answer) = oneshot::channel();
        if !self.queue(Job::Barrier(done)) {
            return Err(stopped());
        }
        Answer::unavailable_on_refusal(answer).within(self.timeout).wait().await
    }
}

async fn commit_loop(store: PgStore, mut queue: mpsc::UnboundedReceiver<Job>, shutdown: CancellationToken) {
    let mut carried = Batch::default();
    let mut retry = RETRY_FIRST;
    loop {
        let stopping = shutdown.is_cancelled();
        if carried.is_empty() {
            let job = if stopping {
                // What is queued at a stop is committed; then the committer ends.
                queue.try_recv().ok()
            } else {
                tokio::select! {
                    job = queue.recv() => job,
                    _ = shutdown.cancelled() => continue,
                }
            };
            let Some(job) = job else { return };
            carried.add(job);
        }
        while carried.waiters.len() + carried.states.len() < MAX_BATCH {
            let Ok(job) = queue.try_recv() else { break };
            carried.add(job);
        }
        let batch = std::mem::take(&mut carried);
        let started = std::time::Instant::now();
        let result = commit(&store, &batch).await;
        let metrics = &crate::metrics::METRICS;
        metrics.commit_batch_size.observe((batch.states.len() + batch.waiters.len()) as f64);
        metrics.commit_latency.observe(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                retry = RETRY_FIRST;
                for done in batch.waiters {
                    let _ = done.send(Ok(()));
                }
                if let Some(listener) = store.run_listener() {
                    for run in batch.runs {
                        let _ = listener.send(run);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, states = batch.states.len(), "committing trigger state failed; retrying");
                metrics.commit_failures.inc();
                let Batch { states, events, runs, waiters } = batch;
                for done in waiters {
                    let _ = done.send(Err(e.to_string()));
                }
                carried = Batch { states, events, runs, waiters: Vec::new() };
                if stopping {
                    // Nothing here was acknowledged: its waiters were just refused.
                    tracing::error!(states = carried.states.len(), "trigger state left uncommitted at shutdown");
                    return;
                }
                wait_to_retry(&mut carried, &mut queue, retry, &shutdown).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Waits `retry` before a failed commit is tried again, taking in what is queued meanwhile; returns
/// early once a caller waits for an answer, so that no caller waits past the store's timeout for a
/// backoff to end (a database that refuses connections refuses each such try at once; one that hangs
/// takes the timeout), or when shutting down.
async fn wait_to_retry(
    carried: &mut Batch,
    queue: &mut mpsc::UnboundedReceiver<Job>,
    retry: Duration,
    shutdown: &CancellationToken,
) {
    let backoff = tokio::time::sleep(retry);
    tokio::pin!(backoff);
    let mut open = true;
    loop {
        tokio::select! {
            _ = &mut backoff => return,
            _ = shutdown.cancelled() => return,
            job = queue.recv(), if open => match job {
                Some(job) => {
                    carried.add(job);
                    if !carried.waiters.is_empty() {
                        return;
                    }
                }
                None => open = false,
            },
        }
    }
}

/// One transaction: the states newer than the stored ones (an instance deleted meanwhile gets
/// nothing), the runs, and the outbox entries of the events.
async fn commit(store: &PgStore, batch: &Batch) -> StoreResult<()> {
    store
        .bounded(|mut client| async move {
            let tx = client.transaction().await?;
            if !batch.states.is_empty() {
                let mut ids = Vec::with_capacity(batch.states.len());
                let mut versions = Vec::with_capacity(batch.states.len());
                let mut docs = Vec::with_capacity(batch.states.len());
                for (id, state) in &batch.states {
                    ids.push(id.as_str().to_owned());
                    versions.push(rows::to_i64(state.version));
                    docs.push(rows::doc(state)?);
                }
                let sql = "UPDATE instance_state s SET version = v.version, doc = v.doc \
                           FROM UNNEST($1::text[], $2::int8[], $3::jsonb[]) AS v(id, version, doc) \
                           WHERE s.instance_id = v.id AND s.version < v.version";
                rows::execute(&tx, sql, &[&ids, &versions, &docs]).await?;
            }
            for run in &batch.runs {
                super::runs::stage_run(&tx, run).await?;
            }
            store.commit(tx, &batch.events).await
        })
        .await
}
