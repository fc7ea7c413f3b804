use sled::Transactional;

use super::codec::{self};
use super::systems::remove_instance_tx;
use super::{Page, PageRequest, SledStore, StoreError, StoreResult};
use crate::domain::trigger::Trigger;
use crate::domain::{InstanceId, TriggerId, ValidationError};

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

    pub fn insert_trigger(&self, trigger: Trigger) -> StoreResult<Trigger> {
        self.triggers.insert(trigger.id.as_str(), codec::encode(&trigger)?)?;
        Ok(trigger)
    }

    pub fn update_trigger(
        &self,
        id: &TriggerId,
        change: impl FnOnce(Trigger) -> Result<Trigger, ValidationError>,
    ) -> StoreResult<Trigger> {
        let _guard = self.structure_lock();
        let updated = change(self.get_trigger(id)?)?;
        self.triggers.insert(id.as_str(), codec::encode(&updated)?)?;
        Ok(updated)
    }

    /// Deletes a trigger and every instance of it, in every system; returns the instances removed.
    pub fn delete_trigger(&self, id: &TriggerId) -> StoreResult<Vec<InstanceId>> {
        let _guard = self.structure_lock();
        self.get_trigger(id)?;
        let instances = self.instances_of_trigger(id)?;
        (&self.triggers, &self.instances, &self.instance_state, &self.instances_by_system, &self.instances_by_trigger)
            .transaction(|(triggers, instances_t, state, by_system, by_trigger)| {
                triggers.remove(id.as_str())?;
                for inst in &instances {
                    remove_instance_tx(inst, instances_t, state, by_system, by_trigger)?;
                }
                Ok(())
            })?;
        Ok(instances.into_iter().map(|i| i.id).collect())
    }
}
