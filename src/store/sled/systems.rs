use std::collections::HashSet;

use super::codec::{self, tx_get, tx_put};
use super::{Page, PageRequest, SledStore, StoreError, StoreResult};
use crate::domain::instance::TriggerInstance;
use crate::domain::module::Module;
use crate::domain::system::System;
use crate::domain::{InstanceId, ModuleId, SystemId, ValidationError};
use crate::events::EngineEvent;

impl SledStore {
    pub fn get_system(&self, id: &SystemId) -> StoreResult<System> {
        codec::get(&self.systems, id)?.ok_or(StoreError::NotFound("system"))
    }

    pub fn list_systems(&self, q: Option<&str>, page: PageRequest) -> StoreResult<Page<System>> {
        let q = q.map(str::to_lowercase);
        codec::list(&self.systems, page, |s: &System| match &q {
            Some(q) => s.name.to_lowercase().contains(q) || s.description.to_lowercase().contains(q),
            None => true,
        })
    }

    /// Stores a new system; `events` commit with it.
    pub fn insert_system(&self, system: System, events: &[EngineEvent]) -> StoreResult<System> {
        let _guard = self.structure_lock();
        self.write_system(system, None, events)
    }

    /// Applies `change` to the stored system atomically with respect to other structural writes; the
    /// events `announce` makes of the result commit with it and are returned.
    pub fn update_system(
        &self,
        id: &SystemId,
        change: impl FnOnce(System) -> Result<System, ValidationError>,
        announce: impl FnOnce(&System) -> Vec<EngineEvent>,
    ) -> StoreResult<(System, Vec<EngineEvent>)> {
        let _guard = self.structure_lock();
        let previous = self.get_system(id)?;
        let updated = change(previous.clone())?;
        let events = announce(&updated);
        Ok((self.write_system(updated, Some(previous), &events)?, events))
    }

    /// Stores a system and places exactly the modules it lists in it: listed modules join it, modules
    /// it no longer lists leave it.
    fn write_system(&self, system: System, previous: Option<System>, events: &[EngineEvent]) -> StoreResult<System> {
        self.check_module_list(&system.id, &system.modules)?;
        let dropped: Vec<ModuleId> = previous
            .map(|p| p.modules.into_iter().filter(|m| !system.modules.contains(m)).collect())
            .unwrap_or_default();

        self.transact(&[&self.systems, &self.modules], events, |t| {
            let (systems, modules) = (&t[0], &t[1]);
            tx_put(systems, &system.id, &system)?;
            for id in &system.modules {
                if let Some(mut m) = tx_get::<Module>(modules, id)? {
                    if m.control_system_id.as_ref() != Some(&system.id) {
                        m.control_system_id = Some(system.id.clone());
                        tx_put(modules, id, &m)?;
                    }
                }
            }
            for id in &dropped {
                if let Some(mut m) = tx_get::<Module>(modules, id)? {
                    m.control_system_id = None;
                    tx_put(modules, id, &m)?;
                }
            }
            Ok(())
        })?;
        Ok(system)
    }

    fn check_module_list(&self, system: &SystemId, list: &[ModuleId]) -> StoreResult<()> {
        let mut seen = HashSet::new();
        for (i, id) in list.iter().enumerate() {
            let field = format!("modules[{i}]");
            if !seen.insert(id) {
                return Err(ValidationError::new(field, format!("{id} is listed twice")).into());
            }
            let module: Module = codec::get(&self.modules, id)?
                .ok_or_else(|| ValidationError::new(field.clone(), format!("module {id} does not exist")))?;
            if let Some(owner) = module.control_system_id.filter(|owner| owner != system) {
                return Err(ValidationError::new(field, format!("module {id} belongs to system {owner}")).into());
            }
        }
        Ok(())
    }

    /// Deletes a system with its trigger instances (returned); its modules stay, no longer in any system.
    /// Deletes a system with its instances and the callouts scoped to it (widening them to every
    /// system instead would ask them about calls they were never meant for).
    pub fn delete_system(&self, id: &SystemId, events: &[EngineEvent]) -> StoreResult<Vec<InstanceId>> {
        let _guard = self.structure_lock();
        let system = self.get_system(id)?;
        let instances = self.instances_of_system(id)?;
        let callouts = self.callouts_of(id)?;

        let trees = [
            &self.systems,
            &self.modules,
            &self.instances,
            &self.instance_state,
            &self.instances_by_system,
            &self.instances_by_trigger,
            &self.callouts,
        ];
        self.transact(&trees, events, |t| {
            let (systems, modules, instances_t, state, by_system, by_trigger) =
                (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]);
            systems.remove(id.as_str())?;
            for module_id in &system.modules {
                if let Some(mut m) = tx_get::<Module>(modules, module_id)? {
                    m.control_system_id = None;
                    tx_put(modules, module_id, &m)?;
                }
            }
            for inst in &instances {
                remove_instance_tx(inst, instances_t, state, by_system, by_trigger)?;
            }
            for callout in &callouts {
                t[6].remove(callout.as_str())?;
            }
            Ok(())
        })?;
        for callout in &callouts {
            self.remove_oldest_callout_log(callout, usize::MAX)?;
        }
        Ok(instances.into_iter().map(|i| i.id).collect())
    }
}

pub(super) fn remove_instance_tx(
    inst: &TriggerInstance,
    instances: &sled::transaction::TransactionalTree,
    state: &sled::transaction::TransactionalTree,
    by_system: &sled::transaction::TransactionalTree,
    by_trigger: &sled::transaction::TransactionalTree,
) -> codec::TxResult<()> {
    instances.remove(inst.id.as_str())?;
    state.remove(inst.id.as_str())?;
    by_system.remove(codec::index_key(inst.control_system_id.as_str(), inst.id.as_str()))?;
    by_trigger.remove(codec::index_key(inst.trigger_id.as_str(), inst.id.as_str()))?;
    Ok(())
}
