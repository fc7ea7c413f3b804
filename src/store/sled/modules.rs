use sled::Transactional;

use super::codec::{self, tx_get, tx_put};
use super::{Page, PageRequest, SledStore, StoreError, StoreResult};
use crate::domain::module::Module;
use crate::domain::system::System;
use crate::domain::{ModuleId, SystemId, ValidationError};
use crate::events::EngineEvent;

impl SledStore {
    pub fn get_module(&self, id: &ModuleId) -> StoreResult<Module> {
        codec::get(&self.modules, id)?.ok_or(StoreError::NotFound("module"))
    }

    pub fn list_modules(
        &self,
        q: Option<&str>,
        system: Option<&SystemId>,
        driver: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<Module>> {
        let q = q.map(str::to_lowercase);
        codec::list(&self.modules, page, |m: &Module| {
            let matches_q = q.as_ref().is_none_or(|q| {
                m.driver.to_lowercase().contains(q)
                    || m.custom_name.as_ref().is_some_and(|n| n.as_str().to_lowercase().contains(q))
            });
            matches_q
                && system.is_none_or(|s| m.control_system_id.as_ref() == Some(s))
                && driver.is_none_or(|d| m.driver == d)
        })
    }

    /// The modules of a system in its order.
    pub fn modules_of_system(&self, system: &System) -> StoreResult<Vec<Module>> {
        system.modules.iter().filter_map(|id| codec::get(&self.modules, id).transpose()).collect()
    }

    pub fn insert_module(&self, module: Module, events: &[EngineEvent]) -> StoreResult<Module> {
        let _guard = self.structure_lock();
        self.write_module(module, None, events)
    }

    /// Changes a module; `events` describe the result and commit with it (and are returned).
    pub fn update_module(
        &self,
        id: &ModuleId,
        change: impl FnOnce(Module) -> Result<Module, ValidationError>,
        events: impl FnOnce(&Module) -> Vec<EngineEvent>,
    ) -> StoreResult<(Module, Vec<EngineEvent>)> {
        let _guard = self.structure_lock();
        let previous = self.get_module(id)?;
        let updated = change(previous.clone())?;
        let events = events(&updated);
        Ok((self.write_module(updated, Some(previous), &events)?, events))
    }

    /// A module that moves to another system leaves the old system's list and is appended to the new one's.
    fn write_module(&self, module: Module, previous: Option<Module>, events: &[EngineEvent]) -> StoreResult<Module> {
        if let Some(system) = &module.control_system_id {
            if !self.systems.contains_key(system)? {
                return Err(ValidationError::new("control_system_id", format!("system {system} does not exist")).into());
            }
        }
        let old_system = previous.and_then(|p| p.control_system_id);

        self.transact(&[&self.modules, &self.systems], events, |t| {
            let (modules, systems) = (&t[0], &t[1]);
            tx_put(modules, &module.id, &module)?;
            if old_system != module.control_system_id {
                if let Some(old) = &old_system {
                    if let Some(mut s) = tx_get::<System>(systems, old)? {
                        s.modules.retain(|m| m != &module.id);
                        tx_put(systems, old, &s)?;
                    }
                }
                if let Some(new) = &module.control_system_id {
                    if let Some(mut s) = tx_get::<System>(systems, new)? {
                        if !s.modules.contains(&module.id) {
                            s.modules.push(module.id.clone());
                        }
                        tx_put(systems, new, &s)?;
                    }
                }
            }
            Ok(())
        })?;
        Ok(module)
    }

    pub fn delete_module(&self, id: &ModuleId, events: &[EngineEvent]) -> StoreResult<()> {
        let _guard = self.structure_lock();
        let module = self.get_module(id)?;
        self.transact(&[&self.modules, &self.systems, &self.module_status], events, |t| {
            let (modules, systems, statuses) = (&t[0], &t[1], &t[2]);
            modules.remove(id.as_str())?;
            statuses.remove(id.as_str())?;
            if let Some(sys) = &module.control_system_id {
                if let Some(mut s) = tx_get::<System>(systems, sys)? {
                    s.modules.retain(|m| m != id);
                    tx_put(systems, sys, &s)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Stores modules' status maps; a module deleted meanwhile gets nothing (its status went with it).
    pub fn save_module_statuses(
        &self,
        statuses: &[(ModuleId, serde_json::Map<String, serde_json::Value>)],
    ) -> StoreResult<()> {
        (&self.modules, &self.module_status).transaction(|(modules, stored)| {
            for (id, status) in statuses {
                if modules.get(id.as_str())?.is_some() {
                    tx_put(stored, id, status)?;
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Every stored status map, by module.
    pub fn module_statuses(&self) -> StoreResult<Vec<(ModuleId, serde_json::Map<String, serde_json::Value>)>> {
        let mut found = Vec::new();
        for entry in self.module_status.iter() {
            let (key, value) = entry?;
            if let Some(id) = ModuleId::parse(&String::from_utf8_lossy(&key)) {
                found.push((id, super::codec::decode(&value)?));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn module(store: &SledStore) -> Module {
        let now = crate::domain::now_epoch_seconds();
        let module = Module {
            id: ModuleId::generate(),
            driver: "Display".into(),
            custom_name: None,
            control_system_id: None,
            settings: serde_json::Map::new(),
            created_at: now,
            updated_at: now,
        };
        store.insert_module(module, &[]).expect("a new module is stored")
    }

    #[test]
    fn a_deleted_modules_status_is_removed_and_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let (kept, deleted) = (module(&store), module(&store));
        let status = |v: i64| json!({"volume": v}).as_object().cloned().unwrap();
        store.save_module_statuses(&[(kept.id.clone(), status(1)), (deleted.id.clone(), status(2))]).unwrap();

        store.delete_module(&deleted.id, &[]).unwrap();
        store.save_module_statuses(&[(deleted.id.clone(), status(3))]).unwrap();

        assert_eq!(store.module_statuses().unwrap(), vec![(kept.id, status(1))]);
    }
}
