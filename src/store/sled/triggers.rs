use super::codec::{self};
use super::systems::remove_instance_tx;
use super::{Page, PageRequest, SledStore, StoreError, StoreResult};
use crate::domain::trigger::Trigger;
use crate::domain::{InstanceId, TriggerId, ValidationError};
use crate::events::EngineEvent;

impl SledStore {
    pub fn get_trigger(&self, id: &TriggerId) -> StoreResult<Trigger> {
        codec::get(&self.triggers, id)?.ok_or(StoreError::NotFound("trigger"))
    }

    pub fn list_triggers(&self, q: Option<&str>, page: PageRequest) -> StoreResult<Page<Trigger>> {
        let q = q.map(str::to_lowercase);
        codec::list(&self.triggers, page, |t: &Trigger| match &q {
            Some(q) => t.spec.name.to_lowercase().contains(q) || t.spec.description.to_lowercase().contains(q),
            None => true,
        })
    }

    pub fn insert_trigger(&self, trigger: Trigger, events: &[EngineEvent]) -> StoreResult<Trigger> {
        self.transact(&[&self.triggers], events, |t| codec::tx_put(&t[0], &trigger.id, &trigger))?;
        Ok(trigger)
    }

    /// Changes a trigger; `events` describe the result and commit with it (and are returned).
    pub fn update_trigger(
        &self,
        id: &TriggerId,
        change: impl FnOnce(Trigger) -> Result<Trigger, ValidationError>,
        events: impl FnOnce(&Trigger) -> Vec<EngineEvent>,
    ) -> StoreResult<(Trigger, Vec<EngineEvent>)> {
        let _guard = self.structure_lock();
        let updated = change(self.get_trigger(id)?)?;
        let events = events(&updated);
        self.transact(&[&self.triggers], &events, |t| codec::tx_put(&t[0], id, &updated))?;
        Ok((updated, events))
    }

    /// Deletes a trigger and every instance of it, in every system; returns the instances removed.
    pub fn delete_trigger(&self, id: &TriggerId, events: &[EngineEvent]) -> StoreResult<Vec<InstanceId>> {
        let _guard = self.structure_lock();
        self.get_trigger(id)?;
        let instances = self.instances_of_trigger(id)?;
        let trees = [
            &self.triggers,
            &self.instances,
            &self.instance_state,
            &self.instances_by_system,
            &self.instances_by_trigger,
        ];
        self.transact(&trees, events, |t| {
            t[0].remove(id.as_str())?;
            for inst in &instances {
                remove_instance_tx(inst, &t[1], &t[2], &t[3], &t[4])?;
            }
            Ok(())
        })?;
        Ok(instances.into_iter().map(|i| i.id).collect())
    }
}
