//! The repository traits on sled: each call runs the synchronous [`SledStore`] method on the blocking
//! pool, so a slow disk never stalls an HTTP worker.

use async_trait::async_trait;

use super::repo::{Announce, ApiKeyRepo, CalloutRepo, Change, ModuleRepo, SystemRepo, TriggerRepo};
use super::{Page, PageRequest, SledStore, Store, StoreResult};
use crate::domain::api_key::ApiKey;
use crate::domain::callout::Callout;
use crate::domain::callout_log::LogEntry;
use crate::domain::ids::CalloutId;
use crate::domain::module::Module;
use crate::domain::system::System;
use crate::domain::trigger::Trigger;
use crate::domain::{ApiKeyId, InstanceId, ModuleId, SystemId, TriggerId};
use crate::events::EngineEvent;

#[async_trait]
impl SystemRepo for Store {
    async fn get_system(&self, id: SystemId) -> StoreResult<System> {
        self.run(move |s| s.get_system(&id)).await
    }

    async fn list_systems(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<System>> {
        self.run(move |s| s.list_systems(q.as_deref(), page)).await
    }

    async fn insert_system(&self, system: System, events: Vec<EngineEvent>) -> StoreResult<System> {
        self.run(move |s| s.insert_system(system, &events)).await
    }

    async fn update_system(
        &self,
        id: SystemId,
        change: Change<System>,
        announce: Announce<System>,
    ) -> StoreResult<(System, Vec<EngineEvent>)> {
        self.run(move |s| s.update_system(&id, change, announce)).await
    }

    async fn delete_system(&self, id: SystemId, events: Vec<EngineEvent>) -> StoreResult<Vec<InstanceId>> {
        self.run(move |s| s.delete_system(&id, &events)).await
    }
}

#[async_trait]
impl ModuleRepo for Store {
    async fn get_module(&self, id: ModuleId) -> StoreResult<Module> {
        self.run(move |s| s.get_module(&id)).await
    }

    async fn list_modules(
        &self,
        q: Option<String>,
        system: Option<SystemId>,
        driver: Option<String>,
        page: PageRequest,
    ) -> StoreResult<Page<Module>> {
        self.run(move |s| s.list_modules(q.as_deref(), system.as_ref(), driver.as_deref(), page)).await
    }

    async fn insert_module(&self, module: Module, events: Vec<EngineEvent>) -> StoreResult<Module> {
        self.run(move |s| s.insert_module(module, &events)).await
    }

    async fn update_module(
        &self,
        id: ModuleId,
        change: Change<Module>,
        announce: Announce<Module>,
    ) -> StoreResult<(Module, Vec<EngineEvent>)> {
        self.run(move |s| s.update_module(&id, change, announce)).await
    }

    async fn delete_module(&self, id: ModuleId, events: Vec<EngineEvent>) -> StoreResult<()> {
        self.run(move |s| s.delete_module(&id, &events)).await
    }
}

#[async_trait]
impl TriggerRepo for Store {
    async fn get_trigger(&self, id: TriggerId) -> StoreResult<Trigger> {
        self.run(move |s| s.get_trigger(&id)).await
    }

    async fn list_triggers(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<Trigger>> {
        self.run(move |s| s.list_triggers(q.as_deref(), page)).await
    }

    async fn insert_trigger(&self, trigger: Trigger, events: Vec<EngineEvent>) -> StoreResult<Trigger> {
        self.run(move |s| s.insert_trigger(trigger, &events)).await
    }

    async fn update_trigger(
        &self,
        id: TriggerId,
        change: Change<Trigger>,
        announce: Announce<Trigger>,
    ) -> StoreResult<(Trigger, Vec<EngineEvent>)> {
        self.run(move |s| s.update_trigger(&id, change, announce)).await
    }

    async fn delete_trigger(&self, id: TriggerId, events: Vec<EngineEvent>) -> StoreResult<Vec<InstanceId>> {
        self.run(move |s| s.delete_trigger(&id, &events)).await
    }
}

#[async_trait]
impl ApiKeyRepo for Store {
    async fn insert_api_key(&self, key: ApiKey, events: Vec<EngineEvent>) -> StoreResult<ApiKey> {
        self.run(move |s| s.insert_api_key(key, &events)).await
    }

    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<ApiKey> {
        self.run(move |s| s.get_api_key(&id)).await
    }

    async fn list_api_keys(&self, page: PageRequest) -> StoreResult<Page<ApiKey>> {
        self.run(move |s| s.list_api_keys(page)).await
    }

    async fn all_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.run(SledStore::all_api_keys).await
    }

    async fn delete_api_key(&self, id: ApiKeyId, events: Vec<EngineEvent>) -> StoreResult<()> {
        self.run(move |s| s.delete_api_key(&id, &events)).await
    }
}

#[async_trait]
impl CalloutRepo for Store {
    async fn insert_callout(&self, callout: Callout, events: Vec<EngineEvent>) -> StoreResult<Callout> {
        self.run(move |s| s.insert_callout(callout, &events)).await
    }

    async fn get_callout(&self, id: CalloutId) -> StoreResult<Callout> {
        self.run(move |s| s.get_callout(&id)).await
    }

    async fn list_callouts(&self, page: PageRequest) -> StoreResult<Page<Callout>> {
        self.run(move |s| s.list_callouts(page)).await
    }

    async fn all_callouts(&self) -> StoreResult<Vec<Callout>> {
        self.run(SledStore::all_callouts).await
    }

    async fn update_callout(
        &self,
        id: CalloutId,
        change: Change<Callout>,
        announce: Announce<Callout>,
    ) -> StoreResult<(Callout, Vec<EngineEvent>)> {
        self.run(move |s| s.update_callout(&id, change, announce)).await
    }

    async fn delete_callout(&self, id: CalloutId, announce: Announce<Callout>) -> StoreResult<Vec<EngineEvent>> {
        self.run(move |s| s.delete_callout(&id, announce)).await
    }

    async fn append_callout_log(&self, entries: Vec<(CalloutId, LogEntry)>) -> StoreResult<()> {
        self.run(move |s| s.append_callout_log(&entries)).await
    }

    async fn count_callout_log(&self, callout: CalloutId) -> StoreResult<usize> {
        self.run(move |s| s.count_callout_log(&callout)).await
    }

    async fn remove_oldest_callout_log(&self, callout: CalloutId, n: usize) -> StoreResult<()> {
        self.run(move |s| s.remove_oldest_callout_log(&callout, n)).await
    }

    async fn remove_callout_log_before(&self, cutoff: u64) -> StoreResult<usize> {
        self.run(move |s| s.remove_callout_log_before(cutoff)).await
    }

    async fn list_callout_log(&self, callout: CalloutId, page: PageRequest) -> StoreResult<Page<LogEntry>> {
        self.run(move |s| s.list_callout_log(&callout, page)).await
    }
}
