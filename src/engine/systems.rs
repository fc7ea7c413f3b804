use serde_json::json;

use super::inputs::{SystemIn, SystemPatch};
use super::{Engine, EngineResult, Refresh};
use crate::domain::system::System;
use crate::domain::{now_epoch_seconds, parse_description, parse_name, SystemId, ValidationError};
use crate::store::{Page, PageRequest};

fn apply(mut system: System, patch: SystemPatch) -> Result<System, ValidationError> {
    if let Some(name) = patch.name {
        system.name = parse_name("name", &name)?;
    }
    if let Some(description) = patch.description {
        system.description = parse_description("description", description)?;
    }
    if let Some(modules) = patch.modules {
        system.modules = modules;
    }
    system.updated_at = now_epoch_seconds();
    Ok(system)
}

impl Engine {
    pub async fn create_system(&self, input: SystemIn) -> EngineResult<System> {
        let now = now_epoch_seconds();
        let blank = System {
            id: SystemId::generate(),
            name: String::new(),
            description: String::new(),
            modules: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let system = apply(blank, input.into())?;
        let events = self.event("system.created", Some(system.id.as_str()), || json!({ "system": system }));
        let system = self.write(self.store.insert_system(system, events.clone())).await?;
        self.events.broadcast_all(events);
        Ok(system)
    }

    pub async fn get_system(&self, id: SystemId) -> EngineResult<System> {
        Ok(self.store.get_system(id).await?)
    }

    pub async fn list_systems(&self, q: Option<String>, page: PageRequest) -> EngineResult<Page<System>> {
        if crate::store::matches_nothing(&[q.as_deref()]) {
            return Ok(Page::empty());
        }
        Ok(self.store.list_systems(q, page).await?)
    }

    pub async fn update_system(&self, id: SystemId, patch: SystemPatch) -> EngineResult<System> {
        let announce = self
            .events_for("system.updated", |system: &System| (Some(system.id.to_string()), json!({ "system": system })));
        let change = Box::new(move |system| apply(system, patch));
        let (system, events) = self.write(self.store.update_system(id, change, announce)).await?;
        self.refresh(Refresh::System(&system.id)).await;
        self.events.broadcast_all(events);
        Ok(system)
    }

    pub async fn delete_system(&self, id: SystemId) -> EngineResult<()> {
        let events = self.event("system.deleted", Some(id.as_str()), || json!({ "system_id": id }));
        let instances = self.write(self.store.delete_system(id, events.clone())).await?;
        self.forget_instances(&instances);
        // Its scoped callouts went with it.
        self.callouts_changed(events).await
    }
}
