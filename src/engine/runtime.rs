//! Live trigger instances: their condition state in memory, their counters in the store.
//!
//! The in-memory [`ConditionState`] decides; every change it reports is written to the store with a
//! growing version, and a fire is acknowledged only after a group-committed flush, so an acknowledged
//! fire survives a crash.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::condition_state::{ConditionState, Step, WEBHOOK};
use serde_json::json;

use crate::domain::instance::{InstanceState, TriggerInstance};
use crate::domain::trigger::TriggerSpec;
use crate::domain::{now_epoch_seconds, InstanceId};
use crate::events::EventBus;
use crate::store::{GroupCommit, Store, StoreResult};

struct Live {
    conditions: ConditionState,
    state: InstanceState,
}

/// The state after a webhook call.
#[derive(Debug, Clone, Copy)]
pub struct Notified {
    pub fired: bool,
    pub triggered: bool,
    pub trigger_count: u64,
}

pub struct TriggerRuntime {
    store: Store,
    commit: GroupCommit,
    events: Arc<EventBus>,
    shutdown: CancellationToken,
    epoch: Instant,
    live: Mutex<HashMap<InstanceId, Live>>,
}

/// The condition names a trigger defines, in a stable order.
fn condition_names(spec: &TriggerSpec) -> impl Iterator<Item = String> + '_ {
    let webhook = spec.enable_webhook.then(|| WEBHOOK.to_owned());
    let comparisons = (0..spec.conditions.comparisons.len()).map(|i| format!("comparison_{i}"));
    let times = (0..spec.conditions.time_dependents.len()).map(|i| format!("time_{i}"));
    webhook.into_iter().chain(comparisons).chain(times)
}

impl TriggerRuntime {
    pub fn new(store: Store, commit: GroupCommit, events: Arc<EventBus>, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self { store, commit, events, shutdown, epoch: Instant::now(), live: Mutex::new(HashMap::new()) })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceId, Live>> {
        // Every critical section leaves the map consistent before it can panic, so poison is harmless.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies one accepted webhook call. `stored` seeds the instance the first time it is seen.
    pub async fn webhook_call(
        self: &Arc<Self>,
        inst: &TriggerInstance,
        spec: &TriggerSpec,
        stored: InstanceState,
    ) -> StoreResult<Notified> {
        let id = &inst.id;
        let now = self.now_ms();
        let (step, snapshot, window_opened) = {
            let mut live = self.live();
            let entry = live.entry(id.clone()).or_insert_with(|| Live {
                conditions: ConditionState::new(),
                state: InstanceState { triggered: false, ..stored },
            });
            entry.conditions.configure(spec.any_match, condition_names(spec));
            let had_window = entry.conditions.window_until().is_some();
            let step = entry.conditions.webhook_call(now, spec.debounce_period);
            record(entry, step);
            let window_opened = !had_window && entry.conditions.window_until().is_some();
            (step, entry.state.clone(), window_opened)
        };
        if window_opened {
            self.watch_window(inst.clone());
        }
        if step.fired || step.changed {
            let (store_id, state) = (id.clone(), snapshot.clone());
            self.store.run(move |s| s.write_state(&store_id, &state)).await?;
            self.announce(inst, step, &snapshot).await;
        }
        if step.fired {
            self.commit.durable().await?;
        }
        Ok(Notified { fired: step.fired, triggered: snapshot.triggered, trigger_count: snapshot.trigger_count })
    }

    /// Publishes what a step did: a fire, and a reset when the instance is no longer triggered.
    async fn announce(&self, inst: &TriggerInstance, step: Step, state: &InstanceState) {
        let data = json!({
            "trigger_instance": inst.id,
            "trigger_id": inst.trigger_id,
            "system_id": inst.control_system_id,
            "triggered": state.triggered,
            "trigger_count": state.trigger_count,
            "last_fired_at": state.last_fired_at,
        });
        let system = Some(inst.control_system_id.as_str());
        if step.fired {
            self.events.emit("trigger.fired", system, data.clone()).await;
        }
        if !state.triggered && (step.fired || step.changed) {
            self.events.emit("trigger.reset", system, data).await;
        }
    }

    /// Closes the instance's webhook window when it ends, following any extensions.
    fn watch_window(self: &Arc<Self>, inst: TriggerInstance) {
        let id = inst.id.clone();
        let weak: Weak<Self> = Arc::downgrade(self);
        let shutdown = self.shutdown.clone();
        let epoch = self.epoch;
        tokio::spawn(async move {
            let mut deadline = match weak.upgrade().and_then(|rt| rt.window_end(&id)) {
                Some(until) => until,
                None => return,
            };
            loop {
                let wake = epoch + Duration::from_millis(deadline);
                tokio::select! {
                    _ = tokio::time::sleep_until(wake.into()) => {}
                    _ = shutdown.cancelled() => return,
                }
                let Some(rt) = weak.upgrade() else { return };
                match rt.close_window(&inst).await {
                    Ok(Some(next)) => deadline = next,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!(instance = %id, error = %e, "storing a closed webhook window failed");
                        return;
                    }
                }
            }
        });
    }

    fn window_end(&self, id: &InstanceId) -> Option<u64> {
        self.live().get(id).and_then(|l| l.conditions.window_until())
    }

    /// Expires the window if it has ended; returns the new end if it was extended meanwhile.
    async fn close_window(&self, inst: &TriggerInstance) -> StoreResult<Option<u64>> {
        let id = &inst.id;
        let now = self.now_ms();
        let (step, snapshot, next) = {
            let mut live = self.live();
            let Some(entry) = live.get_mut(id) else { return Ok(None) };
            let step = entry.conditions.expire(now);
            record(entry, step);
            (step, entry.state.clone(), entry.conditions.window_until())
        };
        if step.changed {
            let (store_id, state) = (id.clone(), snapshot.clone());
            self.store.run(move |s| s.write_state(&store_id, &state)).await?;
            self.announce(inst, step, &snapshot).await;
        }
        Ok(next)
    }
}

/// Folds a step into the instance's counters.
fn record(live: &mut Live, step: Step) {
    if step.fired {
        live.state.trigger_count += 1;
        live.state.last_fired_at = Some(now_epoch_seconds());
    }
    if step.fired || step.changed {
        live.state.triggered = live.conditions.triggered();
        live.state.version += 1;
    }
}
