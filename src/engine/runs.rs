//! The action worker: carries out runs, at least once and in order.
//!
//! Runs arrive from the committer once stored (and, at a start, from the store: every run not
//! finished). One instance's runs go strictly in fire order, one task per instance with work; a run
//! waiting for a retry holds the later runs of its instance. Attempts of different instances run in
//! parallel, at most `actions.concurrency` at once. Every attempt is stored; an action that fails on
//! every attempt of the schedule is given up and counted in the instance's `action_errors`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::actions::ActionRunner;
use super::callout_gate::Clearance;
use super::runtime::TriggerRuntime;
use super::{EngineError, EngineResult};
use crate::config::ActionsConfig;
use crate::domain::callout_log::Question;
use crate::domain::run::{ActionStatus, Attempt, CalloutState, Run, RunFilter, RunStatus};
use crate::domain::{now_epoch_ms, InstanceId, RunId, SystemId};
use crate::events::EventBus;
use crate::metrics::METRICS;
use crate::store::{Page, PageRequest, Repository, StoreResult};

/// One instance's runs waiting, by fire number, whether a task is working through them, and what
/// stops that task (the instance deleted, or the server stopping).
struct Queue {
    runs: BTreeMap<u64, Run>,
    active: bool,
    stop: CancellationToken,
}

pub struct RunWorker {
    store: Repository,
    events: Arc<EventBus>,
    runner: ActionRunner,
    runtime: Weak<TriggerRuntime>,
    retry_schedule: Vec<u64>,
    runs_per_instance: usize,
    queues: Mutex<HashMap<InstanceId, Queue>>,
    /// Runs finished per instance since its runs were last trimmed.
    finished: Mutex<HashMap<InstanceId, usize>>,
    /// Runs with an attempt under way: their stored status says `pending` until the attempt ends.
    running: Mutex<HashSet<RunId>>,
    permits: Semaphore,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// Why a run stopped before it finished.
enum Stopped {
    /// The server is stopping; the next start resumes the run.
    Shutdown,
    /// The run's instance was deleted.
    Gone,
}

impl RunWorker {
    /// Starts the worker: runs the store holds unfinished first, then those the committer stores. The
    /// task ends at shutdown once running attempts have ended.
    pub fn start(
        store: Repository,
        events: Arc<EventBus>,
        runner: ActionRunner,
        runtime: Weak<TriggerRuntime>,
        config: &ActionsConfig,
        grace: Duration,
        shutdown: CancellationToken,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let (committed, mut arrivals) = mpsc::unbounded_channel();
        store.set_run_listener(committed);
        let worker = Arc::new(Self {
            store,
            events,
            runner,
            runtime,
            retry_schedule: config.retry_schedule_ms.clone(),
            runs_per_instance: config.runs_per_instance,
            queues: Mutex::default(),
            finished: Mutex::default(),
            running: Mutex::default(),
            permits: Semaphore::new(config.concurrency),
            tasks: TaskTracker::new(),
            shutdown,
        });
        let this = Arc::clone(&worker);
        let task = tokio::spawn(async move {
            // A run committed after the listener was set but before the scan comes both ways; the
            // second must not queue it again once it has finished.
            let mut scanned = std::collections::HashSet::new();
            match this.store.open_runs().await {
                Ok(runs) => {
                    if !runs.is_empty() {
                        tracing::info!(runs = runs.len(), "resuming runs of trigger actions left by the previous run");
                    }
                    scanned.extend(runs.iter().map(|run| run.id.clone()));
                    runs.into_iter().for_each(|run| this.submit(run));
                }
                Err(e) => tracing::error!(error = %e, "reading unfinished runs failed; they run after the next start"),
            }
            loop {
                tokio::select! {
                    run = arrivals.recv() => match run {
                        Some(run) if scanned.remove(&run.id) => {}
                        Some(run) => this.submit(run),
                        None => break,
                    },
                    _ = this.shutdown.cancelled() => break,
                }
            }
            // Attempts under way may finish; what is left waits in the store for the next start.
            this.tasks.close();
            if tokio::time::timeout(grace, this.tasks.wait()).await.is_err() {
                tracing::warn!(
                    "action attempts still running at shutdown were abandoned; they run again after the next start"
                );
            }
        });
        (worker, task)
    }

    /// Whether an attempt of this run is under way.
    pub fn is_running(&self, id: &RunId) -> bool {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).contains(id)
    }

    /// Queues a run behind the earlier runs of its instance (an admin's retry of a failed run too).
    pub fn submit(self: &Arc<Self>, run: Run) {
        let instance = run.trigger_instance.clone();
        let start = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queues.entry(instance.clone()).or_insert_with(|| Queue {
                runs: BTreeMap::new(),
                active: false,
                stop: self.shutdown.child_token(),
            });
            if let std::collections::btree_map::Entry::Vacant(slot) = queue.runs.entry(run.fire) {
                slot.insert(run);
                METRICS.runs_queued.inc();
            }
            (!std::mem::replace(&mut queue.active, true)).then(|| queue.stop.clone())
        };
        if let Some(stop) = start {
            let this = Arc::clone(self);
            self.tasks.spawn(async move { this.drain(instance, stop).await });
        }
    }

    /// Stops working on a deleted instance's runs: no attempt starts after this returns (one under way
    /// finishes; its result is not stored).
    pub fn forget(&self, instance: &InstanceId) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queue) = queues.get(instance) {
            queue.stop.cancel();
        }
        drop_queue(&mut queues, instance);
    }

    /// Why `stop` was cancelled.
    fn stopped(&self) -> Stopped {
        if self.shutdown.is_cancelled() {
            Stopped::Shutdown
        } else {
            Stopped::Gone
        }
    }

    /// Works through an instance's runs, oldest fire first, until none is left or `stop` is cancelled.
    /// While `stop` is not cancelled, the instance's queue is this task's.
    async fn drain(self: Arc<Self>, instance: InstanceId, stop: CancellationToken) {
        loop {
            let next = {
                let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                if stop.is_cancelled() {
                    // A forgotten queue is gone already; at a stop the runs wait in the store.
                    if self.shutdown.is_cancelled() {
                        drop_queue(&mut queues, &instance);
                    }
                    return;
                }
                let Some(queue) = queues.get_mut(&instance) else { return };
                match queue.runs.first_key_value() {
                    Some((_, run)) => run.clone(),
                    None => {
                        drop_queue(&mut queues, &instance);
                        return;
                    }
                }
            };
            let fire = next.fire;
            let outcome = self.execute(next, &stop).await;
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                // Stopping leaves the runs to the next start; a deleted instance's runs are gone.
                Err(Stopped::Shutdown | Stopped::Gone) => {
                    if !stop.is_cancelled() || self.shutdown.is_cancelled() {
                        drop_queue(&mut queues, &instance);
                    }
                    return;
                }
                Ok(()) => {
                    if queues.get_mut(&instance).and_then(|q| q.runs.remove(&fire)).is_some() {
                        METRICS.runs_queued.dec();
                    }
                }
            }
        }
    }

    /// Attempts the run's actions in order until every one has succeeded or been given up.
    async fn execute(&self, mut run: Run, stop: &CancellationToken) -> Result<(), Stopped> {
        if run.awaits_callouts() {
            self.ask_callouts(&mut run, stop).await?;
        }
        if run.statuses.is_none() && !run.status.finished() {
            let refs = run.status_refs();
            if !refs.is_empty() {
                run.statuses = Some(self.runner.read_statuses(&run.system_id, &refs).await);
            }
        }
        while let Some(index) = run.next_action().filter(|_| !run.status.finished()) {
            self.wait_until_due(&run, stop).await?;
            let permit = tokio::select! {
                permit = self.permits.acquire() => permit,
                _ = stop.cancelled() => return Err(self.stopped()),
            };
            let Ok(_permit) = permit else { return Err(Stopped::Shutdown) };
            if stop.is_cancelled() {
                return Err(self.stopped());
            }
            let attempt = self.attempt(&run, index).await;
            if !attempt.succeeded && self.shutdown.is_cancelled() {
                // Likely cut short by the stop itself (a module stopping): not the action's failure.
                return Err(Stopped::Shutdown);
            }
            let error = attempt.error.clone();
            let retry_after = self.retry_schedule.get(run.actions[index].attempt_count as usize).copied();
            let status = run.record(index, attempt, retry_after);
            let outcome = match status {
                ActionStatus::Succeeded => "succeeded",
                ActionStatus::Pending => "retry",
                ActionStatus::GivenUp => "given_up",
            };
            METRICS.action_attempts.with_label_values(&[outcome]).inc();
            self.save(&run).await?;
            match status {
                ActionStatus::GivenUp => self.given_up(&run, index, error.as_deref()).await,
                ActionStatus::Pending => {
                    tracing::info!(run = %run.id, instance = %run.trigger_instance, action = index,
                    error = error.as_deref().unwrap_or_default(), retry_in_ms = retry_after.unwrap_or_default(),
                    "action failed; retrying")
                }
                ActionStatus::Succeeded => {}
            }
        }
        if run.status == RunStatus::Failed {
            self.announce_failure(&run).await;
        }
        if run.status.finished() {
            self.trim_now_and_then(&run.trigger_instance).await;
        }
        Ok(())
    }

    async fn wait_until_due(&self, run: &Run, stop: &CancellationToken) -> Result<(), Stopped> {
        if let Some(due) = run.next_attempt_at {
            let wait = Duration::from_millis(due.saturating_sub(now_epoch_ms()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => return Err(self.stopped()),
            }
        }
        Ok(())
    }

    /// Asks the callouts the run needs until they allow or deny it, or the retry schedule is used up
    /// while one cannot be asked; every answer is stored with the run.
    async fn ask_callouts(&self, run: &mut Run, stop: &CancellationToken) -> Result<(), Stopped> {
        while run.awaits_callouts() {
            // Looked up after the wait: a callout changed meanwhile is asked as it is now.
            self.wait_until_due(run, stop).await?;
            let question = Question::run(run);
            let needed = self.runner.callouts.matching(&question.gate());
            if needed.is_empty() {
                return Ok(());
            }
            let asked = async {
                let _permit = self.permits.acquire().await;
                self.runner.callouts.ask(&question, &needed).await
            };
            let (state, reason) = tokio::select! {
                clearance = asked => match clearance {
                    Clearance::Allowed => (CalloutState::Allowed, None),
                    Clearance::Denied(reason) => (CalloutState::Denied, Some(reason)),
                    Clearance::Unavailable(why) => (CalloutState::Unavailable, Some(why)),
                },
                _ = stop.cancelled() => return Err(self.stopped()),
            };
            let retry_after = self.retry_schedule.get(run.callout_attempts() as usize).copied();
            run.record_callout(state, reason, retry_after, now_epoch_ms());
            tracing::info!(run = %run.id, instance = %run.trigger_instance, state = ?state, "callouts answered a run");
            self.save(run).await?;
        }
        Ok(())
    }

    /// Trims an instance's old runs once a tenth of `runs_per_instance` more have finished: a trim
    /// walks the instance's keys, too much to do for every run.
    async fn trim_now_and_then(&self, instance: &InstanceId) {
        let keep = self.runs_per_instance;
        let due = {
            let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
            let count = finished.entry(instance.clone()).or_default();
            *count += 1;
            let due = *count >= (keep / 10).max(1);
            if due {
                finished.remove(instance);
            }
            due
        };
        if due {
            if let Err(e) = self.store.trim_runs(instance.clone(), keep).await {
                tracing::warn!(error = %e, "trimming old runs failed");
            }
        }
    }

    async fn announce_failure(&self, run: &Run) {
        let given_up: Vec<_> = run
            .actions
            .iter()
            .filter(|a| a.status == ActionStatus::GivenUp)
            .map(|a| {
                let error = a.attempts.last().and_then(|t| t.error.clone());
                json!({"index": a.index, "type": a.action.kind(), "attempts": a.attempt_count, "error": error})
            })
            .collect();
        if given_up.is_empty() {
            tracing::error!(run = %run.id, instance = %run.trigger_instance,
                "run failed: its callouts could not be asked, on every attempt of the retry schedule");
        } else {
            tracing::error!(run = %run.id, instance = %run.trigger_instance, given_up = given_up.len(),
                "run failed: actions were given up after their last retry");
        }
        let data = || {
            json!({
                "run_id": run.id, "trigger_instance": run.trigger_instance, "trigger_id": run.trigger_id,
                "system_id": run.system_id, "fire": run.fire, "given_up": given_up,
            })
        };
        self.events.emit_with("run.failed", Some(run.system_id.as_str()), data).await;
    }

    async fn attempt(&self, run: &Run, index: usize) -> Attempt {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(run.id.clone());
        let started_at = now_epoch_ms();
        let clock = std::time::Instant::now();
        let result = self.runner.attempt(run, index).await;
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&run.id);
        Attempt {
            started_at,
            finished_at: now_epoch_ms(),
            latency_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            succeeded: result.is_ok(),
            error: result.err(),
        }
    }

    async fn save(&self, run: &Run) -> Result<(), Stopped> {
        match self.store.save_run(run.clone()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Stopped::Gone),
            Err(e) => {
                // The attempt happened; at worst a restart repeats it, which its idempotency key covers.
                tracing::error!(run = %run.id, error = %e, "storing a run's progress failed");
                Ok(())
            }
        }
    }

    async fn given_up(&self, run: &Run, index: usize, error: Option<&str>) {
        tracing::warn!(run = %run.id, instance = %run.trigger_instance, action = index,
            attempts = run.actions[index].attempt_count, error = error.unwrap_or_default(),
            "action given up after its last retry");
        let Some(runtime) = self.runtime.upgrade() else { return };
        let found: StoreResult<_> = self.store.get_instance(run.trigger_instance.clone()).await;
        if let Ok((inst, _)) = found {
            if let Err(e) = runtime.add_action_errors(&inst, 1).await {
                tracing::error!(error = %e, "counting a given-up action failed");
            }
        }
    }
}

/// Forgets an instance's queue and the runs in it (they stay in the store).
fn drop_queue(queues: &mut HashMap<InstanceId, Queue>, instance: &InstanceId) {
    if let Some(queue) = queues.remove(instance) {
        METRICS.runs_queued.sub(i64::try_from(queue.runs.len()).unwrap_or(i64::MAX));
    }
}

impl super::Engine {
    /// An instance's runs, newest first; a run with an attempt under way shows `running`.
    pub async fn list_runs(
        &self,
        system: SystemId,
        instance: InstanceId,
        filter: RunFilter,
        page: PageRequest,
    ) -> EngineResult<Page<Run>> {
        // The stored status of a running run is `pending`: filter after the live status is known.
        let wanted = filter.status;
        let all = PageRequest { offset: 0, limit: usize::MAX };
        let stored = self.store.list_runs(system, instance, RunFilter::default(), all).await?;
        let matching: Vec<Run> = stored
            .items
            .into_iter()
            .map(|run| self.with_live_status(run))
            .filter(|run| wanted.is_none_or(|s| s == run.status))
            .collect();
        let total = matching.len();
        let items = matching.into_iter().skip(page.offset).take(page.limit).collect();
        Ok(Page { total, items })
    }

    pub async fn get_run(&self, system: SystemId, instance: InstanceId, id: RunId) -> EngineResult<Run> {
        let found = self.store.get_run(system, instance, id).await?;
        found.map(|run| self.with_live_status(run)).ok_or(EngineError::NotFound("run"))
    }

    /// Queues a failed run again: its given-up actions get a new schedule of attempts.
    pub async fn retry_run(&self, system: SystemId, instance: InstanceId, id: RunId) -> EngineResult<Run> {
        let mut run = self.get_run(system, instance, id).await?;
        let given_up = run.actions.iter().filter(|a| a.status == ActionStatus::GivenUp).map(|a| a.index);
        let retried: Vec<usize> = given_up.collect();
        if !run.requeue() {
            return Err(EngineError::RunNotFailed(run.status));
        }
        if !self.store.save_run(run.clone()).await? {
            return Err(EngineError::NotFound("run"));
        }
        self.runtime.flushed().await?;
        self.runs.submit(run.clone());
        let data = || {
            json!({
                "run_id": run.id, "trigger_instance": run.trigger_instance, "trigger_id": run.trigger_id,
                "system_id": run.system_id, "fire": run.fire, "retried": retried,
            })
        };
        self.events.emit_with("run.retried", Some(run.system_id.as_str()), data).await;
        Ok(run)
    }

    fn with_live_status(&self, mut run: Run) -> Run {
        if run.status == RunStatus::Pending && self.runs.is_running(&run.id) {
            run.status = RunStatus::Running;
        }
        run
    }
}
