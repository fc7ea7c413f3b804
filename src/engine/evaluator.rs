//! Keeps comparison and time conditions of live instances up to date.
//!
//! For every enabled instance whose trigger has comparisons or time conditions, a [`Program`] holds
//! the trigger, the modules its status references name (resolved in the instance's system), and its
//! schedules. Status changes re-evaluate the comparisons that read the changed module
//! (level-triggered); a scheduler task pulses time conditions as they come due on the engine clock.
//! Programs are rebuilt when an instance, its trigger or its system's modules change.

use crate::domain::actor::Actor;
use crate::events::context;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use super::comparison::evaluate;
use super::modules::system_modules;
use super::runtime::{Change, TriggerRuntime};
use super::schedule::Schedule;
use crate::domain::instance::TriggerInstance;
use crate::domain::module::{Module, ModuleRef};
use crate::domain::trigger::{Operand, Trigger};
use crate::domain::{InstanceId, ModuleId, SystemId, TriggerId};
use crate::drivers::runtime::ModuleRuntime;
use crate::drivers::sdk::StatusChange;
use crate::drivers::DriverRegistry;
use crate::store::{Repository, StoreError, StoreResult};

struct Program {
    instance: TriggerInstance,
    trigger: Trigger,
    /// The module each status reference names, when the system has it.
    modules: HashMap<ModuleRef, Arc<Module>>,
    schedules: Vec<Schedule>,
}

#[derive(Default)]
struct Tables {
    programs: HashMap<InstanceId, Arc<Program>>,
    /// Which instances read which module's status.
    readers: HashMap<ModuleId, HashSet<InstanceId>>,
    /// Due time, instance, time condition index.
    due: BTreeSet<(u64, InstanceId, usize)>,
    /// Instances deleted while a load was running: such a load must not install them again. A load
    /// that starts after a delete reads the store without them, so the set is emptied whenever no
    /// load is running, and stays as small as the deletes that raced a load.
    deleted: HashSet<InstanceId>,
    /// Loads running now.
    loading: usize,
}

/// Counts a running load; the last one to finish empties `deleted`.
struct Loading<'a>(&'a Evaluator);

impl<'a> Loading<'a> {
    fn start(evaluator: &'a Evaluator) -> Self {
        evaluator.tables().loading += 1;
        Self(evaluator)
    }
}

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        let mut t = self.0.tables();
        t.loading -= 1;
        if t.loading == 0 {
            t.deleted.clear();
        }
    }
}

pub struct Evaluator {
    store: Repository,
    drivers: Arc<DriverRegistry>,
    modules: Arc<ModuleRuntime>,
    runtime: Arc<TriggerRuntime>,
    tables: Mutex<Tables>,
    schedule_changed: Notify,
}

impl Evaluator {
    pub fn new(
        store: Repository,
        drivers: Arc<DriverRegistry>,
        modules: Arc<ModuleRuntime>,
        runtime: Arc<TriggerRuntime>,
    ) -> Arc<Self> {
        Arc::new(Self { store, drivers, modules, runtime, tables: Mutex::default(), schedule_changed: Notify::new() })
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds (or drops) the program of one instance from what is stored now, and evaluates it.
    pub async fn load(&self, id: &InstanceId) -> StoreResult<()> {
        let _loading = Loading::start(self);
        match self.build(id).await {
            // Deleted while it was being loaded: nothing to track.
            Err(StoreError::NotFound(_)) => {
                self.unload(id);
                Ok(())
            }
            other => other,
        }
    }

    async fn build(&self, id: &InstanceId) -> StoreResult<()> {
        let lookup = id.clone();
        let found = self.store.webhook_target(lookup).await?;
        let Some((instance, trigger, _)) = found else {
            self.unload(id);
            return Ok(());
        };
        if !instance.enabled || !has_levels_or_times(&trigger) {
            self.unload(id);
            // A live instance whose trigger lost its conditions is brought in line with the edit.
            if self.runtime.live_state(id).is_some() {
                self.runtime.apply(&instance, &trigger.spec, None, Change::Configure, false).await?;
            }
            return Ok(());
        }
        let views = system_modules(&self.store, &self.drivers, instance.control_system_id.clone()).await?;
        let mut modules = HashMap::new();
        for cmp in &trigger.spec.conditions.comparisons {
            for operand in [&cmp.left, &cmp.right] {
                if let Operand::Status(s) = operand {
                    let found = views.iter().find(|v| v.name == s.module.name() && v.index == Some(s.module.index()));
                    if let Some(view) = found {
                        modules.insert(s.module.clone(), view.module.clone());
                    }
                }
            }
        }
        let schedules = trigger
            .spec
            .conditions
            .time_dependents
            .iter()
            .enumerate()
            .filter_map(|(i, td)| Schedule::parse(td, &format!("time_{i}")).ok())
            .collect();
        let program = Arc::new(Program { instance, trigger, modules, schedules });
        if !self.install(Arc::clone(&program)) {
            return Ok(());
        }
        self.evaluate(&program, None).await
    }

    /// Installs a program unless its instance was deleted meanwhile; says whether it did.
    fn install(&self, program: Arc<Program>) -> bool {
        let id = program.instance.id.clone();
        let now = self.runtime.clock().now_ms();
        {
            let mut t = self.tables();
            if t.deleted.contains(&id) {
                return false;
            }
            remove(&mut t, &id);
            for module in program.modules.values() {
                t.readers.entry(module.id.clone()).or_default().insert(id.clone());
            }
            for (i, schedule) in program.schedules.iter().enumerate() {
                if let Some(at) = schedule.next_after(now) {
                    t.due.insert((at, id.clone(), i));
                }
            }
            t.programs.insert(id, program);
        }
        self.schedule_changed.notify_one();
        true
    }

    /// Drops a deleted instance for good.
    pub fn forget(&self, id: &InstanceId) {
        {
            let mut t = self.tables();
            if t.loading > 0 {
                t.deleted.insert(id.clone());
            }
        }
        self.unload(id);
    }

    pub fn unload(&self, id: &InstanceId) {
        remove(&mut self.tables(), id);
        self.schedule_changed.notify_one();
    }

    pub async fn load_all(&self) -> StoreResult<()> {
        let ids = self.store.instances_with_levels_or_times().await?;
        for id in ids {
            self.load(&id).await?;
        }
        Ok(())
    }

    pub async fn reload_system(&self, system: &SystemId) -> StoreResult<()> {
        let system = system.clone();
        let ids = self.store.instance_ids_of_system(system).await?;
        for id in ids {
            self.load(&id).await?;
        }
        Ok(())
    }

    pub async fn reload_trigger(&self, trigger: &TriggerId) -> StoreResult<()> {
        let trigger = trigger.clone();
        let ids = self.store.instance_ids_of_trigger(trigger).await?;
        for id in ids {
            self.load(&id).await?;
        }
        Ok(())
    }

    /// Re-evaluates every comparison of a program and sets its condition values.
    /// With `changed`, only comparisons that read that status are evaluated, and only they may count a
    /// comparison error; a full evaluation (load, edit, missed changes) counts none, so one bad
    /// comparison is counted once per change of what it reads, not once per refresh.
    async fn evaluate(&self, program: &Program, changed: Option<&StatusChange>) -> StoreResult<()> {
        let spec = &program.trigger.spec;
        self.runtime.apply(&program.instance, spec, None, Change::Configure, false).await?;
        let mut statuses: HashMap<ModuleId, serde_json::Map<String, Value>> = HashMap::new();
        for module in program.modules.values() {
            if let Ok(status) = self.modules.status(module) {
                statuses.insert(module.id.clone(), status);
            }
        }
        let reads_change = |cmp: &crate::domain::trigger::Comparison| {
            changed.is_none_or(|c| {
                [&cmp.left, &cmp.right].into_iter().any(|side| match side {
                    Operand::Status(s) => {
                        s.status == c.key
                            && program.modules.get(&s.module).is_some_and(|m| m.id.as_str() == c.module_id)
                    }
                    Operand::Constant(_) => false,
                })
            })
        };
        for (i, cmp) in program.trigger.spec.conditions.comparisons.iter().enumerate() {
            if !reads_change(cmp) {
                continue;
            }
            let result = evaluate(cmp, |s| {
                let module = program.modules.get(&s.module)?;
                statuses.get(&module.id)?.get(&s.status).cloned()
            });
            let name = format!("comparison_{i}");
            let change = Change::Set { name: &name, value: result.value, error: result.error && changed.is_some() };
            self.runtime.apply(&program.instance, &program.trigger.spec, None, change, false).await?;
        }
        Ok(())
    }

    async fn on_status_change(&self, change: &StatusChange) {
        let Some(module) = ModuleId::parse(&change.module_id) else { return };
        let programs: Vec<Arc<Program>> = {
            let t = self.tables();
            let Some(readers) = t.readers.get(&module) else { return };
            readers.iter().filter_map(|id| t.programs.get(id).cloned()).collect()
        };
        for program in programs {
            if let Err(e) = self.evaluate(&program, Some(change)).await {
                tracing::error!(instance = %program.instance.id, error = %e, "evaluating comparisons failed");
            }
        }
    }

    /// Pulses time conditions as they come due; reschedules cron conditions.
    async fn run_due(&self) -> Option<u64> {
        loop {
            let now = self.runtime.clock().now_ms();
            let next = {
                let mut t = self.tables();
                match t.due.first().cloned() {
                    Some(entry) if entry.0 <= now => {
                        t.due.remove(&entry);
                        let program = t.programs.get(&entry.1).cloned();
                        if let Some(p) = &program {
                            if let Some(again) = p.schedules.get(entry.2).and_then(|s| s.next_after(entry.0)) {
                                t.due.insert((again, entry.1.clone(), entry.2));
                            }
                        }
                        program.map(|p| (p, entry.2))
                    }
                    Some(entry) => return Some(entry.0),
                    None => return None,
                }
            };
            if let Some((program, index)) = next {
                let name = format!("time_{index}");
                let change = Change::Pulse(&name);
                if let Err(e) = self.runtime.apply(&program.instance, &program.trigger.spec, None, change, false).await
                {
                    tracing::error!(instance = %program.instance.id, error = %e, "a scheduled condition failed");
                }
            }
        }
    }
}

fn has_levels_or_times(trigger: &Trigger) -> bool {
    !trigger.spec.conditions.comparisons.is_empty() || !trigger.spec.conditions.time_dependents.is_empty()
}

fn remove(t: &mut Tables, id: &InstanceId) {
    if t.programs.remove(id).is_some() {
        t.readers.retain(|_, readers| {
            readers.remove(id);
            !readers.is_empty()
        });
        t.due.retain(|(_, inst, _)| inst != id);
    }
}

/// Feeds status changes to the evaluator.
pub async fn status_listener(
    evaluator: Arc<Evaluator>,
    changes: broadcast::Receiver<StatusChange>,
    shutdown: CancellationToken,
) {
    let on_change = |change: StatusChange| {
        let evaluator = Arc::clone(&evaluator);
        async move { evaluator.on_status_change(&change).await }
    };
    let on_lag = |missed: u64| {
        let evaluator = Arc::clone(&evaluator);
        async move {
            tracing::warn!(missed, "status changes were missed; re-evaluating everything");
            let programs: Vec<Arc<Program>> = evaluator.tables().programs.values().cloned().collect();
            for p in programs {
                if let Err(e) = evaluator.evaluate(&p, None).await {
                    tracing::error!(instance = %p.instance.id, error = %e, "evaluating comparisons failed");
                }
            }
        }
    };
    crate::events::consume(changes, shutdown, on_change, on_lag).await;
}

/// Runs due schedules, sleeping on the engine clock until the next one or a schedule change.
pub async fn scheduler(evaluator: Arc<Evaluator>, shutdown: CancellationToken) {
    let clock = Arc::clone(evaluator.runtime.clock());
    loop {
        let next = context::within(None, Actor::Schedule, evaluator.run_due()).await;
        let changed = evaluator.schedule_changed.notified();
        tokio::select! {
            _ = async {
                match next {
                    Some(at) => clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
            _ = changed => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
