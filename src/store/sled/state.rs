//! Writes of the runtime state of trigger instances, and what the webhook path reads in one call.

use super::codec::{self, decode, encode};
use super::{SledStore, StoreResult};
use crate::domain::instance::{is_pulse_condition, InstanceState, TriggerInstance};
use crate::domain::trigger::Trigger;
use crate::domain::InstanceId;

impl SledStore {
    /// The instance, its trigger and its state, or `None` if any is gone.
    pub fn webhook_target(&self, id: &InstanceId) -> StoreResult<Option<(TriggerInstance, Trigger, InstanceState)>> {
        let Some(inst) = codec::get::<TriggerInstance>(&self.instances, id)? else {
            return Ok(None);
        };
        let Some(trigger) = codec::get::<Trigger>(&self.triggers, &inst.trigger_id)? else {
            return Ok(None);
        };
        let state = self.state_of(id)?.unwrap_or_default();
        Ok(Some((inst, trigger, state)))
    }

    /// The stored state; every instance has one from its creation, so `None` means it was deleted.
    pub fn find_state(&self, id: &InstanceId) -> StoreResult<Option<InstanceState>> {
        self.state_of(id)
    }

    /// The newest state: sled's, or a journaled one not yet checkpointed into sled. `None` when sled
    /// has none, which means the instance was deleted (its journaled states are then left to expire).
    pub(super) fn state_of(&self, id: &InstanceId) -> StoreResult<Option<InstanceState>> {
        let pending = self.overlay.pending(id);
        let stored: Option<InstanceState> = codec::get(&self.instance_state, id)?;
        Ok(stored.map(|stored| match pending {
            Some(pending) if pending.version > stored.version => pending,
            _ => stored,
        }))
    }

    /// Stores `state` unless the stored one is newer, and never for an instance that was deleted.
    pub fn write_state(&self, id: &InstanceId, state: &InstanceState) -> StoreResult<()> {
        let encoded = encode(state)?;
        self.instance_state.update_and_fetch(id, |old| {
            let old = old?;
            match decode::<InstanceState>(old) {
                Ok(current) if current.version >= state.version => Some(old.to_vec()),
                _ => Some(encoded.clone()),
            }
        })?;
        Ok(())
    }

    /// No pulse window (webhook, schedule) survives a restart: conditions held by one are false when the
    /// process starts, and an instance they held triggered is not triggered any more. Comparisons keep
    /// their values so that a still-true comparison does not fire again.
    pub fn clear_pulses(&self) -> StoreResult<usize> {
        let mut cleared = 0;
        for entry in self.instance_state.iter() {
            let (key, value) = entry?;
            let mut state: InstanceState = decode(&value)?;
            let held: Vec<String> =
                state.conditions.iter().filter(|(k, v)| **v && is_pulse_condition(k)).map(|(k, _)| k.clone()).collect();
            if !held.is_empty() || (state.triggered && state.conditions.is_empty()) {
                let conditions = std::sync::Arc::make_mut(&mut state.conditions);
                for name in held {
                    conditions.insert(name, false);
                }
                state.triggered = false;
                state.version += 1;
                self.instance_state.compare_and_swap(&key, Some(value), Some(encode(&state)?))?.ok();
                cleared += 1;
            }
        }
        Ok(cleared)
    }
}

impl SledStore {
    /// Instances whose trigger has comparisons or time conditions, the ones the evaluator tracks.
    pub fn instances_with_levels_or_times(&self) -> StoreResult<Vec<InstanceId>> {
        let mut triggers: std::collections::HashMap<Vec<u8>, bool> = std::collections::HashMap::new();
        let mut ids = Vec::new();
        for entry in self.instances.iter().values() {
            let inst: TriggerInstance = decode(&entry?)?;
            let key = inst.trigger_id.as_str().as_bytes().to_vec();
            let wanted = match triggers.get(&key) {
                Some(w) => *w,
                None => {
                    let w = codec::get::<Trigger>(&self.triggers, &inst.trigger_id)?.is_some_and(|t| {
                        !t.spec.conditions.comparisons.is_empty() || !t.spec.conditions.time_dependents.is_empty()
                    });
                    triggers.insert(key, w);
                    w
                }
            };
            if wanted {
                ids.push(inst.id);
            }
        }
        Ok(ids)
    }

    pub fn instance_ids_of_system(&self, system: &crate::domain::SystemId) -> StoreResult<Vec<InstanceId>> {
        Ok(self.instances_of_system(system)?.into_iter().map(|i| i.id).collect())
    }

    pub fn instance_ids_of_trigger(&self, trigger: &crate::domain::TriggerId) -> StoreResult<Vec<InstanceId>> {
        Ok(self.instances_of_trigger(trigger)?.into_iter().map(|i| i.id).collect())
    }
}
