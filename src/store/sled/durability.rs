//! Group commit of instance state. Writers queue their new state and, when they must answer a client,
//! wait for it to be applied (visible to readers) or applied and durable. One thread takes everything
//! queued at once: it appends the states to the journal, syncs it once for all durable waiters (or, with
//! a sync interval, leaves the sync to a timer: see [`GroupCommit::start`]), and
//! publishes them in the overlay, so concurrent fires share one fdatasync and the request path never
//! makes a storage call of its own. A batch that carries events for the durable sink goes through one
//! sled transaction with the events' deliveries and a sled flush instead.
//!
//! A batch is taken only after a waiter's job is dequeued, and jobs are queued in order, so a waiter is
//! answered only after every write its caller queued before it is applied.
//!
//! Every few seconds a checkpoint thread writes the newest journaled state of each instance to sled,
//! flushes sled and retires the journal files it covered; a restart replays what remains.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::codec::decode;
use super::journal::Journal;
use super::overlay::{keep_newest, States};
use super::{SledStore, Store, StoreError, StoreResult};
use crate::domain::instance::InstanceState;
use crate::domain::run::Run;
use crate::domain::InstanceId;
use crate::events::{EngineEvent, EventBus};
use crate::metrics::METRICS;
use crate::store::fire::{stopped, Answer, FireLog, Level, Write};

/// How often the journal is checkpointed into sled, and the journal size that starts one sooner. A
/// checkpoint costs a sled write per instance fired since the last, however often each fired: the
/// longer the period, the cheaper a busy server's checkpoints; the size bounds what a crash replays.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);
const CHECKPOINT_BYTES: u64 = 64 << 20;
/// The wait before a failed batch is committed again, doubling up to the longest.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Events of failing commits kept for the next attempt; older ones beyond this are dropped, so a disk
/// that fails for long cannot exhaust memory (states need no bound: one per instance).
const MAX_CARRIED_EVENTS: usize = 100_000;
/// How long events of failing commits are carried before they are given up.
const EVENTS_KEPT_FOR: Duration = Duration::from_secs(30);

/// Someone waiting for a level of everything queued up to their job.
struct Waiter {
    level: Level,
    done: oneshot::Sender<Result<(), String>>,
}

enum Job {
    /// A state, the events it causes that the durable sink wants and the run of its actions: committed
    /// in one transaction. A waiter sent with the write costs one hand-off to the committer, not two.
    Write(Box<Write>, Option<Waiter>),
    Wait(Waiter),
    Stop,
}

#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

#[async_trait::async_trait]
impl FireLog for GroupCommit {
    fn write(&self, write: Write, wait: Option<Level>) -> Option<Answer> {
        GroupCommit::write(self, write, wait)
    }

    async fn flushed(&self) -> StoreResult<()> {
        GroupCommit::flushed(self).await
    }
}

impl GroupCommit {
    /// Starts the committer; it stops when `shutdown` is cancelled, after applying and answering
    /// everything queued.
    /// With a zero `sync_interval` a durable waiter is answered once its state is on the device;
    /// otherwise once the journal has handed it to the operating system, and the journal is synced at
    /// most `sync_interval` later.
    pub fn start(
        store: Store,
        events: Arc<EventBus>,
        shutdown: CancellationToken,
        sync_interval: Duration,
    ) -> StoreResult<(Self, JoinHandle<()>)> {
        let direct = sync_interval.is_zero();
        let journal = Journal::create_with(&store.blocking().journal_dir, direct)
            .map_err(StoreError::Journal)?
            .with_faults(store.faults());
        let (queue, rx) = mpsc::channel();
        let stopper = queue.clone();
        let committer = tokio::task::spawn_blocking(move || commit_loop(&store, &events, journal, &rx, sync_interval));
        let task = tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = stopper.send(Job::Stop);
            if let Err(e) = committer.await {
                tracing::error!(error = %e, "the state committer failed");
            }
        });
        Ok((Self { queue }, task))
    }

    /// Queues a state write with the events it causes (for the durable sink) and the run of a fire's
    /// actions; the newest version of an instance's state wins, and every event and run is kept. With
    /// `wait`, the answer comes once this write and everything queued before it reach that level. A
    /// run is durable before any waiter of its batch is answered, and handed to the run listener once
    /// committed.
    pub fn write(&self, write: Write, wait: Option<Level>) -> Option<Answer> {
        let (waiter, answer) = match wait {
            Some(level) => {
                let (done, answer) = oneshot::channel();
                (Some(Waiter { level, done }), Some(Answer::new(answer)))
            }
            None => (None, None),
        };
        if self.queue.send(Job::Write(Box::new(write), waiter)).is_err() {
            tracing::warn!("a state write arrived after shutdown and was dropped");
        }
        // After a failed send the answer reports that the committer has stopped.
        answer
    }

    /// Returns once everything queued before is applied and on disk, and sled is flushed, so that
    /// writes made to sled directly before the call are on disk too.
    pub async fn flushed(&self) -> StoreResult<()> {
        self.wait(Level::Flushed).await
    }

    async fn wait(&self, level: Level) -> StoreResult<()> {
        let (done, answer) = oneshot::channel();
        self.queue.send(Job::Wait(Waiter { level, done })).map_err(|_| stopped())?;
        Answer::new(answer).wait().await
    }
}

#[derive(Default)]
struct Batch {
    writes: States,
    events: Vec<EngineEvent>,
    runs: Vec<Run>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    level: Level,
    /// An earlier, failed attempt staged deliveries without flushing sled: the delivery worker is woken
    /// once this batch has flushed it.
    wake_sink: bool,
}

impl Batch {
    fn add(&mut self, job: Job) {
        match job {
            Job::Write(write, waiter) => {
                let Write { id, state, events, run } = *write;
                self.events.extend(events);
                self.runs.extend(run);
                keep_newest(&mut self.writes, id, state);
                if let Some(waiter) = waiter {
                    self.add_waiter(waiter);
                }
            }
            Job::Wait(waiter) => self.add_waiter(waiter),
            Job::Stop => {}
        }
    }

    fn add_waiter(&mut self, Waiter { level, done }: Waiter) {
        self.level = self.level.max(level);
        self.waiters.push(done);
    }

    /// `sled_unflushed`: an earlier batch wrote states to sled without flushing it; a durable waiter
    /// covers those too.
    /// `defer_sync`: a `Durable` level is met once the journal has the states (the committer syncs it
    /// within the configured interval); then the answer says whether acknowledged records may be unsynced.
    /// After a failure the waiters are told, and the states (and the events, unless their deliveries
    /// were staged) come back to be committed again: the callers' in-memory states already hold them,
    /// and a later waiter's answer covers everything queued before it.
    fn commit(
        self,
        store: &SledStore,
        bus: &EventBus,
        journal: &mut Journal,
        sled_unflushed: &mut bool,
        defer_sync: bool,
    ) -> (Pending, Option<Batch>) {
        let Batch { writes, events, runs, waiters, level, wake_sink } = self;
        let sink = bus.sink().filter(|_| !events.is_empty());
        let mut staged = 0;
        let mut events_staged = false;
        let mut runs_staged = false;
        let mut synced = false;
        let mut apply = || -> StoreResult<()> {
            rewrite_if_broken(store, journal)?;
            if sink.is_none() && runs.is_empty() {
                journal.append(writes.iter()).map_err(StoreError::Journal)?;
                if level == Level::Flushed || (level == Level::Durable && !defer_sync) {
                    journal.sync().map_err(StoreError::Journal)?;
                    synced = true;
                }
                if level == Level::Flushed || (level == Level::Durable && *sled_unflushed) {
                    store.flush()?;
                    *sled_unflushed = false;
                }
                return Ok(());
            }
            store.faults.event_commit().map_err(|e| StoreError::from(sled::Error::Io(e)))?;
            // The states, the runs of their fires and the deliveries of their events commit together.
            let mut trees = vec![store.instance_state.clone()];
            trees.extend(store.run_trees());
            if sink.is_some() {
                trees.push(store.outbox.clone());
            }
            staged = trees[..].transaction(|t| {
                for (id, state) in &writes {
                    write_state_tx(&t[0], id, state)?;
                }
                for run in &runs {
                    super::runs::stage_run_tx(&t[1], &t[2], &t[3], run)?;
                }
                let staged = match &sink {
                    Some(sink) => super::outbox::stage_tx(&t[4], sink.as_ref(), &events)?,
                    None => 0,
                };
                Ok::<_, ConflictableTransactionError<StoreError>>(staged)
            })?;
            events_staged = sink.is_some();
            runs_staged = true;
            if level >= Level::Durable || staged > 0 || !runs.is_empty() {
                // Earlier batches' journaled states are covered by a durable waiter too.
                journal.sync().map_err(StoreError::Journal)?;
                synced = true;
                store.flush()?;
                *sled_unflushed = false;
            } else {
                *sled_unflushed = true;
            }
            Ok(())
        };
        let result = apply().map_err(|e| e.to_string());
        let mut again = None;
        match &result {
            Err(e) => {
                tracing::error!(error = %e, states = writes.len(), "committing trigger state failed; retrying");
                METRICS.commit_failures.inc();
                let mut events = if events_staged { Vec::new() } else { events };
                if runs_staged {
                    // The transaction wrote states, runs and deliveries that no flush covers yet.
                    *sled_unflushed = true;
                    store.runs_committed(runs.clone());
                }
                let runs = if runs_staged { Vec::new() } else { runs };
                let wake_sink = wake_sink || staged > 0;
                if events.len() > MAX_CARRIED_EVENTS {
                    let lost = events.len() - MAX_CARRIED_EVENTS;
                    tracing::error!(lost, "events of failing commits dropped: their deliveries were never queued");
                    events.drain(..lost);
                }
                if !writes.is_empty() || !events.is_empty() || !runs.is_empty() || wake_sink {
                    // A flush must cover what this attempt staged before the worker is woken for it.
                    let level = if wake_sink { level.max(Level::Durable) } else { level };
                    again = Some(Batch { writes, events, runs, waiters: Vec::new(), level, wake_sink });
                }
            }
            Ok(()) => {
                if !runs_staged {
                    store.overlay.put(writes);
                }
                store.runs_committed(runs);
                if staged > 0 || wake_sink {
                    if let Some(sink) = bus.sink() {
                        sink.staged();
                    }
                }
            }
        }
        for waiter in waiters {
            // A waiter that gave up (its request was cancelled) needs no answer.
            let _ = waiter.send(result.clone());
        }
        // After a failure too: the journal is broken, and the deferred sync rewrites it in time.
        let pending = if defer_sync && !(result.is_ok() && synced) { Pending::Sync } else { Pending::Nothing };
        (pending, again)
    }
}

/// Whether a batch left acknowledged records that a deferred sync must still make durable.
#[derive(Debug, PartialEq, Eq)]
enum Pending {
    Nothing,
    Sync,
}

/// After a failed write or sync the broken file's records since its last good sync may be gone, and the
/// next durable answer covers them too: every state not yet checkpointed goes into a new file again.
fn rewrite_if_broken(store: &SledStore, journal: &mut Journal) -> StoreResult<()> {
    if journal.is_broken() {
        journal.start_over().map_err(StoreError::Journal)?;
        journal.append(store.overlay.fresh().iter().map(|(id, state)| (id, state))).map_err(StoreError::Journal)?;
    }
    Ok(())
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

/// The checkpoint thread's work: the journal files up to a number and the states they hold.
type CheckpointJob = (u64, Arc<States>);

fn commit_loop(store: &Store, bus: &EventBus, mut journal: Journal, rx: &mpsc::Receiver<Job>, sync_interval: Duration) {
    let _batch = super::batch_thread::BatchThread::enter();
    let (jobs, checkpoints) = mpsc::channel::<CheckpointJob>();
    let stopping = Arc::new(AtomicBool::new(false));
    let checkpointer = {
        let (store, stopping) = (store.clone(), Arc::clone(&stopping));
        std::thread::Builder::new().name("state-checkpoint".into()).spawn(move || {
            for (through, states) in checkpoints {
                checkpoint(store.blocking(), through, &states, &stopping, Journal::recycle_through);
            }
        })
    };
    let store = store.blocking();
    let mut last_checkpoint = Instant::now();
    let mut sled_unflushed = false;
    let defer_sync = !sync_interval.is_zero();
    // When the journal first held records not yet synced, with a deferred sync.
    let mut unsynced_since: Option<Instant> = None;
    // A batch that failed, committed again with the next one or when its retry is due.
    let mut retry: Option<Retry> = None;
    // `recv` fails only when every sender is gone, which cannot happen before `Stop` arrives.
    loop {
        // Waking when idle lets a quiet journal be checkpointed, and a deferred sync happen, in time.
        let mut wait = unsynced_since.map_or(CHECKPOINT_EVERY, |t| sync_interval.saturating_sub(t.elapsed()));
        if let Some(retry) = &retry {
            wait = wait.min(retry.at.saturating_duration_since(Instant::now()));
        }
        let first = match rx.recv_timeout(wait) {
            Ok(job) => Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            // Cannot happen before `Stop` arrives: the stopper holds a sender until it has sent it.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let retry_due = retry.as_ref().is_some_and(|r| r.at <= Instant::now());
        if first.is_some() || retry_due {
            let started = Instant::now();
            let (mut batch, failures, failing_since) =
                retry.take().map_or_else(|| (Batch::default(), 0, started), |r| (r.batch, r.failures, r.since));
            if started - failing_since >= EVENTS_KEPT_FOR && !batch.events.is_empty() {
                // Events failing this long may be what fails the batch: new batches must not share their
                // fate. States are kept; the journal takes any state.
                let lost = batch.events.len();
                tracing::error!(lost, failures, "events dropped: their deliveries were never queued");
                batch.events.clear();
            }
            let mut stop = false;
            let mut jobs_taken = 0;
            for job in first.into_iter().chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                stop |= matches!(job, Job::Stop);
                batch.add(job);
                jobs_taken += 1;
            }
            // At a stop, whatever was queued is still applied, flushed and answered.
            if stop {
                batch.level = Level::Flushed;
            }
            let (pending, again) = batch.commit(store, bus, &mut journal, &mut sled_unflushed, defer_sync);
            match pending {
                Pending::Nothing => unsynced_since = None,
                Pending::Sync => {
                    unsynced_since.get_or_insert_with(Instant::now);
                }
            }
            retry = again.map(|batch| Retry::after(batch, failures + 1, failing_since, Instant::now()));
            if jobs_taken > 0 {
                METRICS.commit_batch_size.observe(f64::from(jobs_taken));
                METRICS.commit_latency.observe(started.elapsed().as_secs_f64());
            }
            if stop {
                break;
            }
        }
        if unsynced_since.is_some_and(|t| t.elapsed() >= sync_interval) {
            // A failed sync breaks the file; the next attempt rewrites its states into a new one.
            let synced = journal.sync().map_err(StoreError::Journal).or_else(|e| {
                tracing::error!(error = %e, "syncing the state journal failed; writing its states again");
                rewrite_if_broken(store, &mut journal)?;
                journal.sync().map_err(StoreError::Journal)
            });
            unsynced_since = match synced {
                Ok(()) => None,
                Err(e) => {
                    tracing::error!(error = %e, "syncing the state journal failed; trying again in one interval");
                    Some(Instant::now())
                }
            };
        }
        let due = last_checkpoint.elapsed() >= CHECKPOINT_EVERY || journal.len() >= CHECKPOINT_BYTES;
        if due && store.overlay.fresh_len() > 0 && start_checkpoint(store, &mut journal, &jobs) {
            last_checkpoint = Instant::now();
        }
    }
    stopping.store(true, Ordering::Release);
    drop(jobs);
    match checkpointer {
        Ok(thread) => {
            if thread.join().is_err() {
                tracing::error!("the state checkpoint thread panicked");
            }
        }
        Err(e) => tracing::error!(error = %e, "the state checkpoint thread could not start"),
    }
    // Everything journaled goes to sled now, so a clean stop leaves no journal to replay.
    match store.overlay.begin_checkpoint() {
        Some(states) => checkpoint(store, journal.seq(), &states, &stopping, Journal::remove_through),
        None => tracing::warn!("a failed checkpoint left journaled states; the next start replays them"),
    }
    // The last batch failed too: its states have one more chance, straight into sled.
    if let Some(Retry { batch, .. }) = retry {
        let lost_events = batch.events.len();
        match store_states(store, &batch.writes) {
            Ok(()) => tracing::info!(states = batch.writes.len(), "stored the states of a failed batch at shutdown"),
            Err(e) => tracing::error!(error = %e, states = batch.writes.len(), "trigger states were not stored"),
        }
        if lost_events > 0 {
            tracing::error!(events = lost_events, "events of a failed batch were not queued for delivery");
        }
        if let Err(e) = store.insert_runs(&batch.runs) {
            tracing::error!(error = %e, runs = batch.runs.len(), "runs of a failed batch were not stored");
        }
    }
}

/// A failed batch waiting to be committed again, with the failures so far and when they began.
struct Retry {
    batch: Batch,
    failures: u32,
    since: Instant,
    at: Instant,
}

impl Retry {
    /// The first retry comes soon; a disk that keeps failing is tried less and less often.
    fn after(batch: Batch, failures: u32, since: Instant, now: Instant) -> Self {
        let wait = RETRY_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(10)).min(RETRY_MAX);
        Self { batch, failures, since, at: now + wait }
    }
}

/// Moves the journaled states to the checkpoint thread; false when one is still running.
fn start_checkpoint(store: &SledStore, journal: &mut Journal, jobs: &mpsc::Sender<CheckpointJob>) -> bool {
    if store.overlay.checkpoint_running() {
        return false;
    }
    // Rotate first: the checkpoint removes the files it covers, and the committer must not be writing to one.
    // A broken file is rotated without a sync, so its states go into a new file first (which the rotation
    // syncs): acknowledged but unsynced states must not wait for the checkpoint's sled flush.
    let through = match rewrite_if_broken(store, journal).and_then(|()| journal.rotate().map_err(StoreError::Journal)) {
        Ok(through) => through,
        Err(e) => {
            tracing::error!(error = %e, "starting a new journal file failed; checkpoint postponed");
            return false;
        }
    };
    let Some(states) = store.overlay.begin_checkpoint() else { return false };
    jobs.send((through, states)).is_ok()
}

/// Stores a checkpoint's states, retrying with backoff until it succeeds or the committer is stopping
/// (the journal then keeps them for the next start); then retires the journal files up to `through`.
fn checkpoint(
    store: &SledStore,
    through: u64,
    states: &Arc<States>,
    stopping: &AtomicBool,
    retire: fn(&std::path::Path, u64) -> std::io::Result<()>,
) {
    let mut wait = Duration::from_millis(100);
    while let Err(e) = store_states(store, states) {
        tracing::error!(error = %e, "checkpointing trigger states into sled failed");
        if stopping.load(Ordering::Acquire) {
            tracing::error!("journaled trigger states are left for the next start to store");
            return;
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(5));
    }
    store.overlay.end_checkpoint(states);
    // A file left behind is removed by the next checkpoint or replayed (harmlessly) at the next start.
    if let Err(e) = retire(&store.journal_dir, through) {
        tracing::warn!(error = %e, "retiring checkpointed journal files failed");
    }
}

/// Writes the states to sled (never over a newer one, never for a deleted instance) and flushes.
fn store_states(store: &SledStore, states: &States) -> StoreResult<()> {
    for (id, state) in states {
        store.write_state(id, state)?;
    }
    store.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_the_first_wait_to_the_longest() {
        let now = Instant::now();
        let waits: Vec<_> = [1, 2, 3, 6, 7, 40, u32::MAX]
            .into_iter()
            .map(|failures| (Retry::after(Batch::default(), failures, now, now).at - now).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 3200, 5000, 5000, 5000]);
    }
}
