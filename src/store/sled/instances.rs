use super::codec::{self, tx_put};
use super::systems::remove_instance_tx;
use super::{Page, PageRequest, SledStore, StoreError, StoreResult};
use crate::domain::instance::{InstanceState, TriggerInstance};
use crate::domain::trigger::Trigger;
use crate::domain::{InstanceId, SystemId, TriggerId, ValidationError};
use crate::events::EngineEvent;

/// Filters of a system's trigger list.
#[derive(Debug, Default, Clone)]
pub struct InstanceFilter {
    pub trigger_id: Option<TriggerId>,
    pub triggered: Option<bool>,
    pub important: Option<bool>,
}

impl SledStore {
    /// Applies a trigger to a system. `build` sees the trigger so defaults can be copied from it.
    pub fn insert_instance(
        &self,
        system: &SystemId,
        trigger: &TriggerId,
        build: impl FnOnce(&Trigger) -> TriggerInstance,
        events: &[EngineEvent],
    ) -> StoreResult<(TriggerInstance, InstanceState)> {
        let _guard = self.structure_lock();
        if !self.systems.contains_key(system)? {
            return Err(StoreError::NotFound("system"));
        }
        let trigger: Trigger = codec::get(&self.triggers, trigger)?
            .ok_or_else(|| ValidationError::new("trigger_id", format!("trigger {trigger} does not exist")))?;
        let inst = build(&trigger);
        let state = InstanceState::default();
        let trees = [&self.instances, &self.instance_state, &self.instances_by_system, &self.instances_by_trigger];
        self.transact(&trees, events, |t| {
            let (instances, states, by_system, by_trigger) = (&t[0], &t[1], &t[2], &t[3]);
            tx_put(instances, &inst.id, &inst)?;
            tx_put(states, &inst.id, &state)?;
            by_system.insert(codec::index_key(inst.control_system_id.as_str(), inst.id.as_str()), &[])?;
            by_trigger.insert(codec::index_key(inst.trigger_id.as_str(), inst.id.as_str()), &[])?;
            Ok(())
        })?;
        Ok((inst, state))
    }

    pub fn get_instance(&self, id: &InstanceId) -> StoreResult<(TriggerInstance, InstanceState)> {
        let inst: TriggerInstance = codec::get(&self.instances, id)?.ok_or(StoreError::NotFound("trigger instance"))?;
        let state = self.state_of(id)?.unwrap_or_default();
        Ok((inst, state))
    }

    /// An instance, only if it belongs to `system`.
    pub fn get_instance_in(&self, system: &SystemId, id: &InstanceId) -> StoreResult<(TriggerInstance, InstanceState)> {
        match self.get_instance(id)? {
            found if &found.0.control_system_id == system => Ok(found),
            _ => Err(StoreError::NotFound("trigger instance")),
        }
    }

    pub fn list_instances_of_system(
        &self,
        system: &SystemId,
        filter: &InstanceFilter,
        page: PageRequest,
    ) -> StoreResult<Page<(TriggerInstance, InstanceState)>> {
        if !self.systems.contains_key(system)? {
            return Err(StoreError::NotFound("system"));
        }
        let mut total = 0;
        let mut items = Vec::new();
        for inst in self.instances_of_system(system)? {
            let state: InstanceState = self.state_of(&inst.id)?.unwrap_or_default();
            let keep = filter.trigger_id.as_ref().is_none_or(|t| &inst.trigger_id == t)
                && filter.triggered.is_none_or(|t| state.triggered == t)
                && filter.important.is_none_or(|i| inst.important == i);
            if !keep {
                continue;
            }
            if total >= page.offset && items.len() < page.limit {
                items.push((inst, state));
            }
            total += 1;
        }
        Ok(Page { total, items })
    }

    pub fn list_instances_of_trigger(&self, trigger: &TriggerId) -> StoreResult<Vec<(TriggerInstance, InstanceState)>> {
        self.get_trigger(trigger)?;
        self.instances_of_trigger(trigger)?
            .into_iter()
            .map(|inst| {
                let state = self.state_of(&inst.id)?.unwrap_or_default();
                Ok((inst, state))
            })
            .collect()
    }

    pub(super) fn instances_of_system(&self, system: &SystemId) -> StoreResult<Vec<TriggerInstance>> {
        self.instances_listed_under(&self.instances_by_system, system.as_str())
    }

    pub(super) fn instances_of_trigger(&self, trigger: &TriggerId) -> StoreResult<Vec<TriggerInstance>> {
        self.instances_listed_under(&self.instances_by_trigger, trigger.as_str())
    }

    fn instances_listed_under(&self, index: &sled::Tree, parent: &str) -> StoreResult<Vec<TriggerInstance>> {
        codec::index_children(index, parent)?
            .into_iter()
            .filter_map(|id| codec::get(&self.instances, id).transpose())
            .collect()
    }

    /// Changes an instance; `events` describe the result and commit with it (and are returned).
    pub fn update_instance(
        &self,
        system: &SystemId,
        id: &InstanceId,
        change: impl FnOnce(TriggerInstance) -> TriggerInstance,
        events: impl FnOnce(&TriggerInstance) -> Vec<EngineEvent>,
    ) -> StoreResult<((TriggerInstance, InstanceState), Vec<EngineEvent>)> {
        let _guard = self.structure_lock();
        let (inst, state) = self.get_instance_in(system, id)?;
        let updated = change(inst);
        let events = events(&updated);
        self.transact(&[&self.instances], &events, |t| tx_put(&t[0], id, &updated))?;
        Ok(((updated, state), events))
    }

    pub fn delete_instance(&self, system: &SystemId, id: &InstanceId, events: &[EngineEvent]) -> StoreResult<()> {
        let _guard = self.structure_lock();
        let (inst, _) = self.get_instance_in(system, id)?;
        let trees = [&self.instances, &self.instance_state, &self.instances_by_system, &self.instances_by_trigger];
        self.transact(&trees, events, |t| remove_instance_tx(&inst, &t[0], &t[1], &t[2], &t[3]))?;
        Ok(())
    }
}
