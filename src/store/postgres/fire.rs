//! The durable-fire path on PostgreSQL: a group commit. Fires queue their state, events and run; the
//! committer takes what is queued and commits it as one statement (`fire_statement.rs`), so concurrent
//! fires share one commit and its WAL flush. Every level is reached at the commit: a committed state
//! is visible and, with the server's `synchronous_commit` (on by default), durable; admin writes commit
//! on their own before they answer.
//!
//! The committer runs on a thread of its own with a connection of its own: a commit's round trip is
//! never kept waiting behind request handlers for a runtime to poll it. One commit is under way at a
//! time (measured: two at once halve the batches and lower the throughput, bench/NOTES.md), and a
//! barrier ([`FireLog::flushed`]) is answered with the commit of everything queued before it.
//!
//! A commit the database cannot take now (unavailable) answers its waiters `store_unavailable` at
//! once and is tried again, ahead of what arrived meanwhile, until it succeeds; the wait between tries
//! (a backoff) ends early when a caller waits for an answer, and a caller waits no longer than
//! `store.postgres_timeout_ms`: the engine holds the fire in memory already, so it must reach the
//! database. A commit refused for what it holds (a value the database will not store) is tried again
//! one write at a time, and the write the database refuses on its own is dropped and logged, so that
//! one bad write can never hold up every later fire.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{FuturesOrdered, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fire_statement::commit;
use super::PgStore;
use crate::store::fire::{stopped, Answer, FireLog, Level, Write};
use crate::store::{StoreError, StoreResult};

/// Most writes one commit takes; the rest wait for the next.
const MAX_BATCH: usize = 1024;
/// The wait before an unavailable database is tried again, doubling up to the longest.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

type Done = oneshot::Sender<Result<(), String>>;

enum Job {
    Write {
        write: Box<Write>,
        done: Option<Done>,
        alone: bool,
    },
    /// Answered once everything queued before it is committed.
    Barrier(Done),
}

impl Job {
    fn waits(&self) -> bool {
        matches!(self, Job::Write { done: Some(_), .. } | Job::Barrier(_))
    }

    fn answer(self, result: Result<(), String>) {
        if let Job::Write { done: Some(done), .. } | Job::Barrier(done) = self {
            let _ = done.send(result);
        }
    }
}

pub struct PgGroupCommit {
    jobs: mpsc::UnboundedSender<Job>,
    /// `store.postgres_timeout_ms`: the longest a caller waits for its commit.
    timeout: Duration,
}

impl PgGroupCommit {
    /// Starts the committer on a thread of its own, with connections of its own that thread drives:
    /// a commit's round trips never wait behind request handlers for a runtime to poll them. It
    /// commits what is queued when `shutdown` is cancelled, then stops; the task returned ends then.
    pub fn start(store: &PgStore, shutdown: CancellationToken) -> StoreResult<(Self, JoinHandle<()>)> {
        let store = store.with_own_pool(1)?;
        let (jobs, queue) = mpsc::unbounded_channel();
        let timeout = store.inner.timeout;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let (ended, end) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("pg-commit".into())
            .spawn(move || {
                runtime.block_on(Committer::new(store).run(queue, shutdown));
                let _ = ended.send(());
            })
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let task = tokio::spawn(async move {
            let _ = end.await;
        });
        Ok((Self { jobs, timeout }, task))
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
        self.queue(Job::Write { write: Box::new(write), done, alone: false });
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

type Sent = futures_util::future::BoxFuture<'static, (Vec<Job>, StoreResult<()>)>;

struct Committer {
    store: PgStore,
    /// Jobs not sent yet, in queue order; those a failed commit gives back come first.
    pending: VecDeque<Job>,
    /// The commit under way, if any (never more than one).
    in_flight: FuturesOrdered<Sent>,
    retry: Duration,
    /// After a failure, nothing is sent before this (unless a caller waits).
    hold: Option<Instant>,
}

impl Committer {
    fn new(store: PgStore) -> Self {
        Self { store, pending: VecDeque::new(), in_flight: FuturesOrdered::new(), retry: RETRY_FIRST, hold: None }
    }

    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Job>, shutdown: CancellationToken) {
        let mut open = true;
        loop {
            let stopping = shutdown.is_cancelled();
            while let Ok(job) = queue.try_recv() {
                self.take_in(job);
            }
            self.send_ready(stopping);
            // What is queued at a stop is committed (a failure then leaves it uncommitted): stopping,
            // nothing is pending once nothing is under way after `send_ready`.
            if self.in_flight.is_empty() && (stopping || (!open && self.pending.is_empty())) {
                return;
            }
            let hold = self.hold.filter(|_| !stopping);
            tokio::select! {
                Some((jobs, result)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.finished(jobs, result, stopping);
                }
                job = queue.recv(), if open && !stopping => match job {
                    Some(job) => self.take_in(job),
                    None => open = false,
                },
                _ = shutdown.cancelled(), if !stopping => {}
                _ = tokio::time::sleep_until(hold.unwrap_or_else(Instant::now)), if hold.is_some() => self.hold = None,
            }
        }
    }

    fn take_in(&mut self, job: Job) {
        if job.waits() {
            // A caller waits for an answer: try now rather than at the end of a backoff.
            self.hold = None;
        }
        self.pending.push_back(job);
    }

    /// Sends the next commit, unless one is under way or a backoff holds it.
    fn send_ready(&mut self, stopping: bool) {
        if !self.in_flight.is_empty() || (self.hold.is_some() && !stopping) {
            return;
        }
        let jobs = self.next_batch();
        if jobs.is_empty() {
            return;
        }
        let store = self.store.clone();
        let started = std::time::Instant::now();
        self.in_flight.push_back(Box::pin(async move {
            let writes: Vec<&Write> = jobs.iter().filter_map(write_of).collect();
            let result = if writes.is_empty() { Ok(()) } else { commit(&store, &writes).await };
            let metrics = &crate::metrics::METRICS;
            metrics.commit_batch_size.observe(jobs.len() as f64);
            metrics.commit_latency.observe(started.elapsed().as_secs_f64());
            (jobs, result)
        }));
    }

    /// The pending jobs the next commit takes, in queue order, up to [`MAX_BATCH`]; a write to be
    /// tried alone goes on its own.
    fn next_batch(&mut self) -> Vec<Job> {
        let mut taken = Vec::new();
        while let Some(job) = self.pending.front() {
            let alone = matches!(job, Job::Write { alone: true, .. });
            if taken.len() >= MAX_BATCH || (alone && !taken.is_empty()) {
                break;
            }
            taken.extend(self.pending.pop_front());
            if alone {
                break;
            }
        }
        taken
    }

    /// Answers a commit's waiters and hands its runs to the run worker; a failed commit's writes go
    /// back ahead of everything pending.
    fn finished(&mut self, jobs: Vec<Job>, result: StoreResult<()>, stopping: bool) {
        match result {
            Ok(()) => {
                self.retry = RETRY_FIRST;
                let listener = self.store.run_listener();
                for job in jobs {
                    if let (Some(listener), Job::Write { write, .. }) = (listener, &job) {
                        if let Some(run) = &write.run {
                            let _ = listener.send(run.clone());
                        }
                    }
                    job.answer(Ok(()));
                }
            }
            Err(e) => self.failed(jobs, e, stopping),
        }
    }

    fn failed(&mut self, jobs: Vec<Job>, e: StoreError, stopping: bool) {
        crate::metrics::METRICS.commit_failures.inc();
        let writes = jobs.iter().filter(|job| write_of(job).is_some()).count();
        if !matches!(e, StoreError::Unavailable(_)) {
            if writes > 1 {
                tracing::error!(error = %e, writes, "the database refused a commit of trigger state; trying its writes one at a time");
                for job in jobs.into_iter().rev() {
                    self.pending.push_front(alone(job));
                }
                return;
            }
            // The database refuses this write whatever else commits with it: it is dropped.
            for job in jobs {
                if let Job::Write { write, .. } = &job {
                    tracing::error!(error = %e, instance = %write.id, "the database refused a trigger state write; dropped");
                }
                job.answer(Err(e.to_string()));
            }
            return;
        }
        tracing::error!(error = %e, writes, "committing trigger state failed; retrying");
        let why = e.to_string();
        let mut kept = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job {
                Job::Write { write, done, alone } => {
                    if let Some(done) = done {
                        let _ = done.send(Err(why.clone()));
                    }
                    kept.push(Job::Write { write, done: None, alone });
                }
                barrier @ Job::Barrier(_) => barrier.answer(Err(why.clone())),
            }
        }
        if stopping {
            // Nothing here was acknowledged: its waiters were just refused.
            tracing::error!(writes = kept.len(), "trigger state left uncommitted at shutdown");
            return;
        }
        for job in kept.into_iter().rev() {
            self.pending.push_front(job);
        }
        self.hold = Some(Instant::now() + self.retry);
        self.retry = (self.retry * 2).min(RETRY_MAX);
    }
}

fn write_of(job: &Job) -> Option<&Write> {
    match job {
        Job::Write { write, .. } => Some(write),
        Job::Barrier(_) => None,
    }
}

/// `job`, to be committed on its own.
fn alone(job: Job) -> Job {
    match job {
        Job::Write { write, done, .. } => Job::Write { write, done, alone: true },
        barrier => barrier,
    }
}
