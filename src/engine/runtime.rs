//! Live trigger instances: their condition state in memory, their counters in the store.
//!
//! The in-memory [`ConditionState`] decides; every change it reports is written to the store with a
//! growing version (so writes that land out of order cannot undo a newer one), and a webhook fire is
//! acknowledged only after a group-committed flush, so an acknowledged fire survives a crash. A fire
//! of a trigger with actions commits a run of them with its state, which the action worker carries out
//! once committed: a fire never waits for its actions, and an acknowledged fire's actions are on disk.

use std::sync::{Arc, Weak};

use dashmap::mapref::entry::Entry;

use serde_json::json;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::clock::Clock;
use super::condition_state::{ConditionState, WEBHOOK};
use crate::domain::instance::{is_pulse_condition, InstanceState, TriggerInstance};
use crate::domain::run::{FireInfo, Run};
use crate::domain::trigger::TriggerSpec;
use crate::domain::{now_epoch_ms, now_epoch_seconds, InstanceId, SharedIdMap};
use crate::events::{EngineEvent, EventBus};
use crate::store::{Answer, FireLog, Level, Repository, StoreError, StoreResult, Write};

struct Live {
    conditions: ConditionState,
    /// The trigger shape `conditions` was configured for; reconfiguring only when it changes keeps
    /// the webhook path free of allocations for condition names.
    shape: Option<Shape>,
    state: InstanceState,
    /// The window watcher task running for this instance: dropping it (replaced, no window left, the
    /// instance forgotten) stops the task.
    watcher: Option<Watcher>,
    /// The `conditions` revision `state.conditions` was last brought in line with.
    published: Option<u64>,
}

impl Live {
    fn resume(stored: InstanceState) -> Self {
        let levels = stored.conditions.iter().filter(|(k, _)| !is_pulse_condition(k)).map(|(k, v)| (k.clone(), *v));
        let conditions = ConditionState::restore(levels.collect(), stored.triggered);
        Self { conditions, shape: None, state: stored, watcher: None, published: None }
    }

    /// Brings `state.conditions` in line with the condition values; true when they differed. Compares
    /// the maps only when the values have changed since the last call.
    fn publish_values(&mut self) -> bool {
        let revision = self.conditions.revision();
        if self.published.replace(revision) == Some(revision) || *self.state.conditions == *self.conditions.values() {
            return false;
        }
        self.state.conditions = Arc::new(self.conditions.values().clone());
        true
    }
}

/// A running window watcher and the window end it sleeps until.
struct Watcher {
    _stop: DropGuard,
    until: u64,
}

/// The state after a webhook call.
#[derive(Debug, Clone, Copy)]
pub struct Notified {
    pub fired: bool,
    pub triggered: bool,
    pub trigger_count: u64,
}

/// What happened to an instance's conditions.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Hold a condition true for the debounce period (webhook call, schedule due).
    Pulse(&'a str),
    /// Set a level condition; `error` counts a comparison error.
    Set { name: &'a str, value: bool, error: bool },
    /// Only bring the instance's condition set in line with its trigger (after an edit or a load).
    Configure,
}

/// What [`TriggerRuntime::step`] did to a live instance.
struct Outcome {
    notified: Notified,
    was_triggered: bool,
    /// The state to store, when it changed.
    changed: Option<InstanceState>,
    /// A window watcher to start, and what stops it.
    start_watch: Option<CancellationToken>,
}

pub struct TriggerRuntime {
    store: Repository,
    commit: Arc<dyn FireLog>,
    events: Arc<EventBus>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    live: SharedIdMap<InstanceId, Live>,
}

/// What decides a trigger's condition set: `any_match`, webhook, number of comparisons and schedules.
type Shape = (bool, bool, usize, usize);

fn shape(spec: &TriggerSpec) -> Shape {
    (spec.any_match, spec.enable_webhook, spec.conditions.comparisons.len(), spec.conditions.time_dependents.len())
}

/// The condition names a trigger defines, in a stable order.
pub fn condition_names(spec: &TriggerSpec) -> impl Iterator<Item = String> + '_ {
    let webhook = spec.enable_webhook.then(|| WEBHOOK.to_owned());
    let comparisons = (0..spec.conditions.comparisons.len()).map(|i| format!("comparison_{i}"));
    let times = (0..spec.conditions.time_dependents.len()).map(|i| format!("time_{i}"));
    webhook.into_iter().chain(comparisons).chain(times)
}

impl TriggerRuntime {
    pub fn new(
        store: Repository,
        commit: Arc<dyn FireLog>,
        events: Arc<EventBus>,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self { store, commit, events, clock, shutdown, live: SharedIdMap::default() })
    }

    /// Returns once everything written so far, through the runtime or to sled directly, is on disk.
    pub async fn flushed(&self) -> StoreResult<()> {
        self.commit.flushed().await
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// One accepted webhook call with its body; the answer comes after a fire is on disk.
    pub async fn webhook_call(
        self: &Arc<Self>,
        inst: &TriggerInstance,
        spec: &TriggerSpec,
        body: &[u8],
    ) -> StoreResult<Notified> {
        self.apply_with(inst, spec, None, Change::Pulse(WEBHOOK), true, Some(body)).await
    }

    /// Applies a change to an instance's conditions, storing and announcing what it did. `stored`
    /// seeds an instance not yet live (it is read from the store when `None`). With `durable`, returns
    /// only once a fire is flushed.
    pub async fn apply(
        self: &Arc<Self>,
        inst: &TriggerInstance,
        spec: &TriggerSpec,
        stored: Option<InstanceState>,
        change: Change<'_>,
        durable: bool,
    ) -> StoreResult<Notified> {
        self.apply_with(inst, spec, stored, change, durable, None).await
    }

    /// [`TriggerRuntime::apply`] for a change a webhook call made: `body` is its payload.
    async fn apply_with(
        self: &Arc<Self>,
        inst: &TriggerInstance,
        spec: &TriggerSpec,
        mut stored: Option<InstanceState>,
        change: Change<'_>,
        durable: bool,
        body: Option<&[u8]>,
    ) -> StoreResult<Notified> {
        let now = self.clock.now_ms();
        let outcome = loop {
            if let Some(outcome) = self.step(inst, spec, &mut stored, change, now) {
                break outcome;
            }
            let id = inst.id.clone();
            // A call that passed its checks just before the instance was deleted must not bring it
            // back to life in memory.
            let found = self.store.find_state(id).await?;
            stored = Some(found.ok_or(StoreError::NotFound("trigger instance"))?);
        };
        let Outcome { notified, was_triggered, changed, start_watch } = outcome;
        let run = notified.fired.then(|| run_of(inst, spec, notified.trigger_count, body)).flatten();
        if notified.fired {
            crate::metrics::METRICS.fires.inc();
        }
        if let Some(stop) = start_watch {
            self.watch_windows(inst.clone(), stop);
        }
        // A client told of a fire must find it on disk; one told of any other change, in the store.
        let wait = match (durable, notified.fired) {
            (false, _) => None,
            (true, true) => Some(Level::Durable),
            (true, false) => Some(Level::Applied),
        };
        // Queued before any await: a caller cancelled from here on still has its fire's actions run.
        if let Some(answer) =
            changed.and_then(|state| self.store_and_announce(inst, notified.fired, was_triggered, state, run, wait))
        {
            answer.wait().await?;
        }
        Ok(notified)
    }

    /// The in-memory part of [`TriggerRuntime::apply`]; `None` when the instance is not live and
    /// `stored` holds nothing to start it from.
    fn step(
        &self,
        inst: &TriggerInstance,
        spec: &TriggerSpec,
        stored: &mut Option<InstanceState>,
        change: Change<'_>,
        now: u64,
    ) -> Option<Outcome> {
        let mut found = match self.live.entry(inst.id.clone()) {
            Entry::Occupied(found) => found.into_ref(),
            Entry::Vacant(slot) => slot.insert(Live::resume(stored.take()?)),
        };
        let entry = &mut *found;
        let was_triggered = entry.state.triggered;
        let mut edited_fire = false;
        if entry.shape != Some(shape(spec)) {
            edited_fire = entry.conditions.configure(spec.any_match, condition_names(spec)).fired;
            entry.shape = Some(shape(spec));
        }
        let mut counted_error = false;
        let step = match change {
            Change::Pulse(name) => entry.conditions.pulse(name, now, spec.debounce_period),
            Change::Set { name, value, error } => {
                counted_error = error;
                entry.state.comparison_errors += u64::from(error);
                entry.conditions.set(name, value)
            }
            Change::Configure => {
                entry.conditions.set_period(spec.debounce_period);
                entry.conditions.expire(now)
            }
        };
        let fired = step.fired || edited_fire;
        if fired {
            entry.state.trigger_count += 1;
            entry.state.last_fired_at = Some(now_epoch_seconds());
        }
        entry.state.triggered = entry.conditions.triggered();
        let values_changed = entry.publish_values();
        let changed = fired || was_triggered != entry.state.triggered || values_changed || counted_error;
        if changed {
            entry.state.version += 1;
        }
        let next = entry.conditions.next_deadline();
        if next.is_some_and(|end| entry.watcher.as_ref().is_some_and(|w| end < w.until)) {
            // A shorter debounce period moved a window's end before the one the watcher sleeps until.
            entry.watcher = None;
        }
        let start_watch = match next {
            Some(until) if entry.watcher.is_none() => {
                let stop = self.shutdown.child_token();
                entry.watcher = Some(Watcher { _stop: stop.clone().drop_guard(), until });
                Some(stop)
            }
            _ => None,
        };
        let notified = Notified { fired, triggered: entry.state.triggered, trigger_count: entry.state.trigger_count };
        Some(Outcome { notified, was_triggered, changed: changed.then(|| entry.state.clone()), start_watch })
    }

    /// Queues the state for storage and publishes a fire, a reset (no longer triggered after being
    /// triggered or firing) and the state change. With `wait`, answers once the state reaches that level.
    fn store_and_announce(
        &self,
        inst: &TriggerInstance,
        fired: bool,
        was_triggered: bool,
        state: InstanceState,
        run: Option<Run>,
        wait: Option<Level>,
    ) -> Option<Answer> {
        let system = Some(inst.control_system_id.as_str());
        let kinds = [
            ("trigger.fired", fired),
            ("trigger.reset", !state.triggered && (fired || was_triggered)),
            ("trigger.state_changed", true),
        ];
        let live = self.events.has_listeners();
        let mut durable = Vec::new();
        let mut announced = Vec::new();
        for (kind, happened) in kinds {
            let wanted_durably = happened && self.events.sink_wants(kind, system);
            if !(happened && (live || wanted_durably)) {
                continue;
            }
            let data = json!({
                "trigger_instance": inst.id,
                "trigger_id": inst.trigger_id,
                "system_id": inst.control_system_id,
                "triggered": state.triggered,
                "trigger_count": state.trigger_count,
                "last_fired_at": state.last_fired_at,
                "action_errors": state.action_errors,
                "conditions": state.conditions,
            });
            let event = EngineEvent::new(kind, system, data);
            if wanted_durably {
                durable.push(event.clone());
            }
            announced.push(event);
        }
        // The state, its fire's run and its events' deliveries commit in one transaction.
        let answer = self.commit.write(Write { id: inst.id.clone(), state, events: durable, run }, wait);
        for event in announced {
            self.events.broadcast(event);
        }
        answer
    }

    /// Counts actions given up; an instance not live is brought to life from the store first.
    pub async fn add_action_errors(&self, inst: &TriggerInstance, errors: u64) -> StoreResult<()> {
        let mut stored = None;
        let snapshot = loop {
            if let Some(snapshot) = self.bump_action_errors(&inst.id, &mut stored, errors) {
                break snapshot;
            }
            let id = inst.id.clone();
            let found = self.store.find_state(id).await?;
            stored = Some(found.ok_or(StoreError::NotFound("trigger instance"))?);
        };
        self.store_and_announce(inst, false, snapshot.triggered, snapshot, None, None);
        Ok(())
    }

    fn bump_action_errors(
        &self,
        id: &InstanceId,
        stored: &mut Option<InstanceState>,
        errors: u64,
    ) -> Option<InstanceState> {
        let mut entry = match self.live.entry(id.clone()) {
            Entry::Occupied(found) => found.into_ref(),
            Entry::Vacant(slot) => slot.insert(Live::resume(stored.take()?)),
        };
        entry.state.action_errors += errors;
        entry.state.version += 1;
        Some(entry.state.clone())
    }

    /// The live state of an instance, if it is live.
    pub fn live_state(&self, id: &InstanceId) -> Option<InstanceState> {
        self.live.get(id).map(|l| l.state.clone())
    }

    /// Drops a deleted or disabled instance from memory.
    pub fn forget(&self, id: &InstanceId) {
        self.live.remove(id);
    }

    /// Closes the instance's windows as they end, following extensions, until none is open.
    fn watch_windows(self: &Arc<Self>, inst: TriggerInstance, stop: CancellationToken) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let clock = Arc::clone(&self.clock);
        tokio::spawn(async move {
            loop {
                let Some(deadline) = weak.upgrade().and_then(|rt| rt.next_deadline(&inst.id, &stop)) else { return };
                tokio::select! {
                    _ = clock.sleep_until(deadline) => {}
                    // Replaced, no longer needed, or shutting down.
                    _ = stop.cancelled() => return,
                }
                let Some(rt) = weak.upgrade() else { return };
                if let Err(e) = rt.close_windows(&inst).await {
                    tracing::error!(instance = %inst.id, error = %e, "storing a closed window failed");
                }
            }
        });
    }

    /// The next window end for the watcher stopped by `stop` to sleep until. With none, the watcher
    /// is dropped, so a later pulse starts a new one; `None` too when it has been stopped.
    fn next_deadline(&self, id: &InstanceId, stop: &CancellationToken) -> Option<u64> {
        let mut entry = self.live.get_mut(id)?;
        if stop.is_cancelled() {
            return None;
        }
        let next = entry.conditions.next_deadline();
        match (next, entry.watcher.as_mut()) {
            (Some(end), Some(watcher)) => watcher.until = end,
            _ => entry.watcher = None,
        }
        next
    }

    async fn close_windows(&self, inst: &TriggerInstance) -> StoreResult<()> {
        let now = self.clock.now_ms();
        let (was_triggered, snapshot) = {
            let Some(mut found) = self.live.get_mut(&inst.id) else { return Ok(()) };
            let entry = &mut *found;
            let was_triggered = entry.state.triggered;
            let step = entry.conditions.expire(now);
            if !entry.publish_values() && !step.changed {
                return Ok(());
            }
            entry.state.triggered = entry.conditions.triggered();
            entry.state.version += 1;
            (was_triggered, entry.state.clone())
        };
        self.store_and_announce(inst, false, was_triggered, snapshot, None, None);
        Ok(())
    }
}

/// The run of a fire's actions, as they are now; `None` for a trigger without actions. It keeps the
/// firing call's body (when JSON) only if an action reads it.
fn run_of(inst: &TriggerInstance, spec: &TriggerSpec, fire: u64, body: Option<&[u8]>) -> Option<Run> {
    if spec.actions.is_empty() {
        return None;
    }
    let payload = body.filter(|_| spec.actions.use_payload()).and_then(|b| serde_json::from_slice(b).ok());
    let info = FireInfo {
        instance: inst.id.clone(),
        system: inst.control_system_id.clone(),
        trigger: inst.trigger_id.clone(),
        fire,
        fired_at: now_epoch_ms(),
    };
    Run::for_fire(info, &spec.actions, &spec.name, payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::clock::ManualClock;

    fn spec() -> TriggerSpec {
        TriggerSpec::webhook_only("t")
    }

    #[tokio::test]
    async fn a_call_that_arrives_after_the_delete_is_refused_and_not_brought_back_to_life() {
        // Arrange
        let dir = tempfile::TempDir::new().unwrap();
        let store = crate::store::Store::open(dir.path()).unwrap();
        let shutdown = CancellationToken::new();
        let events = EventBus::new();
        let (commit, committer) = crate::store::GroupCommit::start(
            store.clone(),
            Arc::clone(&events),
            shutdown.clone(),
            std::time::Duration::ZERO,
        )
        .unwrap();
        let clock: Arc<dyn Clock> = ManualClock::starting_at(1_000);
        let runtime = TriggerRuntime::new(Arc::new(store.clone()), Arc::new(commit), events, clock, shutdown.clone());
        let (kept, deleted) = store
            .run(|s| {
                let (kept, deleted) = (s.seed_instance(), s.seed_instance());
                s.delete_instance(&deleted.control_system_id, &deleted.id, &[])?;
                Ok((kept, deleted))
            })
            .await
            .unwrap();

        // Act
        let refused = runtime.webhook_call(&deleted, &spec(), b"").await;
        let accepted = runtime.webhook_call(&kept, &spec(), b"").await.unwrap();

        // Assert
        assert!(matches!(refused, Err(StoreError::NotFound(_))), "{refused:?}");
        assert!(runtime.live_state(&deleted.id).is_none(), "no live entry for a deleted instance");
        assert!(accepted.fired && accepted.trigger_count == 1);
        shutdown.cancel();
        committer.await.unwrap();
    }
}
