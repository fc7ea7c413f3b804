//! Writes of the runtime state of trigger instances, and what the webhook path reads in one call.

use super::codec::{self, decode, encode};
use super::{SledStore, StoreResult};
use crate::domain::instance::{InstanceState, TriggerInstance};
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
        let state = codec::get(&self.instance_state, id)?.unwrap_or_default();
        Ok(Some((inst, trigger, state)))
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

    /// No debounce window survives a restart, so nothing can still be triggered when the process starts.
    pub fn clear_triggered(&self) -> StoreResult<usize> {
        let mut cleared = 0;
        for entry in self.instance_state.iter() {
            let (key, value) = entry?;
            let mut state: InstanceState = decode(&value)?;
            if state.triggered {
                state.triggered = false;
                state.version += 1;
                self.instance_state.compare_and_swap(&key, Some(value), Some(encode(&state)?))?.ok();
                cleared += 1;
            }
        }
        Ok(cleared)
    }
}
