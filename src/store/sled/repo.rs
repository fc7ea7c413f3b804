//! The repository traits on sled: each call runs the synchronous [`SledStore`] method on the blocking
//! pool, so a slow disk never stalls an HTTP worker.

use std::time::Duration;

use async_trait::async_trait;

use super::{InstanceFilter, SeenDelivery, SledStore, Store};
use crate::domain::api_key::ApiKey;
use crate::domain::callout::Callout;
use crate::domain::callout_log::LogEntry;
use crate::domain::ids::{CalloutId, SubscriptionId};
use crate::domain::instance::{InstanceState, TriggerInstance};
use crate::domain::module::Module;
use crate::domain::receipt::{Receipt, ReceiptFilter};
use crate::domain::run::{Run, RunFilter};
use crate::domain::system::System;
use crate::domain::trigger::Trigger;
use crate::domain::{ApiKeyId, InstanceId, ModuleId, ReceiptId, RunId, SystemId, TriggerId};
use crate::events::EngineEvent;
use crate::outbound::delivery::{Claim, Completion, DeliveryAttempt};
use crate::outbound::subscription::Subscription;
use crate::store::outbox::OutboxEntry;
use crate::store::repo::{
    Announce, ApiKeyRepo, AttemptResult, BuildInstance, CalloutRepo, Change, InstanceRecord, InstanceRepo, ModuleRepo,
    ModuleStatus, ModuleStatusRepo, OutboundRepo, ReceiptRepo, ReceiptWriter, Repo, RunRepo, SubscriptionChange,
    SubscriptionEvent, SystemRepo, TriggerRepo,
};
use crate::store::{Page, PageRequest, StoreResult};

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

    async fn modules_of_system(&self, system: SystemId) -> StoreResult<Vec<Module>> {
        self.run(move |s| {
            let system = s.get_system(&system)?;
            s.modules_of_system(&system)
        })
        .await
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

#[async_trait]
impl InstanceRepo for Store {
    async fn insert_instance(
        &self,
        system: SystemId,
        trigger: TriggerId,
        build: BuildInstance,
        events: Vec<EngineEvent>,
    ) -> StoreResult<InstanceRecord> {
        self.run(move |s| s.insert_instance(&system, &trigger, build, &events)).await
    }

    async fn get_instance(&self, id: InstanceId) -> StoreResult<InstanceRecord> {
        self.run(move |s| s.get_instance(&id)).await
    }

    async fn get_instance_in(&self, system: SystemId, id: InstanceId) -> StoreResult<InstanceRecord> {
        self.run(move |s| s.get_instance_in(&system, &id)).await
    }

    async fn list_instances_of_system(
        &self,
        system: SystemId,
        filter: InstanceFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InstanceRecord>> {
        self.run(move |s| s.list_instances_of_system(&system, &filter, page)).await
    }

    async fn list_instances_of_trigger(&self, trigger: TriggerId) -> StoreResult<Vec<InstanceRecord>> {
        self.run(move |s| s.list_instances_of_trigger(&trigger)).await
    }

    async fn update_instance(
        &self,
        system: SystemId,
        id: InstanceId,
        change: Box<dyn FnOnce(TriggerInstance) -> TriggerInstance + Send>,
        announce: Announce<TriggerInstance>,
    ) -> StoreResult<(InstanceRecord, Vec<EngineEvent>)> {
        self.run(move |s| s.update_instance(&system, &id, change, announce)).await
    }

    async fn delete_instance(&self, system: SystemId, id: InstanceId, events: Vec<EngineEvent>) -> StoreResult<()> {
        self.run(move |s| s.delete_instance(&system, &id, &events)).await
    }

    async fn webhook_target(&self, id: InstanceId) -> StoreResult<Option<(TriggerInstance, Trigger, InstanceState)>> {
        self.run(move |s| s.webhook_target(&id)).await
    }

    async fn find_state(&self, id: InstanceId) -> StoreResult<Option<InstanceState>> {
        self.run(move |s| s.find_state(&id)).await
    }

    async fn clear_pulses(&self) -> StoreResult<usize> {
        self.run(SledStore::clear_pulses).await
    }

    async fn instances_with_levels_or_times(&self) -> StoreResult<Vec<InstanceId>> {
        self.run(SledStore::instances_with_levels_or_times).await
    }

    async fn instance_ids_of_system(&self, system: SystemId) -> StoreResult<Vec<InstanceId>> {
        self.run(move |s| s.instance_ids_of_system(&system)).await
    }

    async fn instance_ids_of_trigger(&self, trigger: TriggerId) -> StoreResult<Vec<InstanceId>> {
        self.run(move |s| s.instance_ids_of_trigger(&trigger)).await
    }
}

#[async_trait]
impl RunRepo for Store {
    async fn open_runs(&self) -> StoreResult<Vec<Run>> {
        self.run(SledStore::open_runs).await
    }

    async fn save_run(&self, run: Run) -> StoreResult<bool> {
        self.run(move |s| s.save_run(&run)).await
    }

    async fn list_runs(
        &self,
        system: SystemId,
        instance: InstanceId,
        filter: RunFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Run>> {
        self.run(move |s| {
            s.get_instance_in(&system, &instance)?;
            s.list_runs(&instance, &filter, page)
        })
        .await
    }

    async fn get_run(&self, system: SystemId, instance: InstanceId, id: RunId) -> StoreResult<Option<Run>> {
        self.run(move |s| {
            s.get_instance_in(&system, &instance)?;
            s.get_run(&instance, &id)
        })
        .await
    }

    async fn trim_runs(&self, instance: InstanceId, keep: usize) -> StoreResult<()> {
        self.run(move |s| s.trim_runs(&instance, keep)).await
    }

    async fn remove_runs(&self, instance: InstanceId) -> StoreResult<()> {
        self.run(move |s| s.remove_runs(&instance)).await
    }

    fn set_run_listener(&self, listener: tokio::sync::mpsc::UnboundedSender<Run>) {
        self.blocking().set_run_listener(listener);
    }
}

#[async_trait]
impl ReceiptRepo for Store {
    async fn list_receipts(
        &self,
        system: SystemId,
        instance: InstanceId,
        filter: ReceiptFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Receipt>> {
        self.run(move |s| {
            s.get_instance_in(&system, &instance)?;
            s.list_receipts(&instance, &filter, page)
        })
        .await
    }

    async fn get_receipt(&self, system: SystemId, instance: InstanceId, id: ReceiptId) -> StoreResult<Option<Receipt>> {
        self.run(move |s| {
            s.get_instance_in(&system, &instance)?;
            s.get_receipt(&instance, &id)
        })
        .await
    }

    async fn remove_call_records(&self, instance: InstanceId) -> StoreResult<()> {
        self.run(move |s| s.remove_call_records(&instance)).await
    }

    async fn seen_deliveries(&self, instance: InstanceId) -> StoreResult<Vec<SeenDelivery>> {
        self.run(move |s| s.seen_deliveries(&instance)).await
    }

    async fn record_delivery(
        &self,
        instance: InstanceId,
        seen: SeenDelivery,
        forgotten: Vec<String>,
    ) -> StoreResult<()> {
        self.run(move |s| s.record_delivery(&instance, &seen, &forgotten)).await
    }

    async fn remove_deliveries_before(&self, cutoff: u64) -> StoreResult<usize> {
        self.run(move |s| s.remove_deliveries_before(cutoff)).await
    }
}

#[async_trait]
impl ModuleStatusRepo for Store {
    async fn module_statuses(&self) -> StoreResult<Vec<ModuleStatus>> {
        self.run(SledStore::module_statuses).await
    }

    async fn save_module_statuses(&self, statuses: Vec<ModuleStatus>) -> StoreResult<()> {
        self.run(move |s| s.save_module_statuses(&statuses)).await
    }
}

#[async_trait]
impl Repo for Store {
    async fn probe(&self) -> StoreResult<()> {
        self.run(SledStore::probe).await
    }

    fn set_event_sink(&self, sink: &std::sync::Arc<dyn crate::events::EventSink>) {
        Store::set_event_sink(self, sink);
    }
}

#[async_trait]
impl OutboundRepo for Store {
    async fn all_subscriptions(&self) -> StoreResult<Vec<Subscription>> {
        self.run(SledStore::all_subscriptions).await
    }

    async fn get_subscription(&self, id: SubscriptionId) -> StoreResult<Option<Subscription>> {
        self.run(move |s| s.get_subscription(&id)).await
    }

    async fn list_subscriptions(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<Subscription>> {
        self.run(move |s| s.list_subscriptions(q.as_deref(), page)).await
    }

    async fn insert_subscription(&self, sub: Subscription, announce: SubscriptionEvent) -> StoreResult<EngineEvent> {
        self.run(move |s| s.insert_subscription(&sub, &announce)).await
    }

    async fn update_subscription(
        &self,
        id: SubscriptionId,
        change: SubscriptionChange,
        announce: SubscriptionEvent,
    ) -> StoreResult<(Subscription, EngineEvent)> {
        self.run(move |s| s.update_subscription(&id, &change, &announce)).await
    }

    async fn enable_subscription(
        &self,
        id: SubscriptionId,
        now: u64,
        announce: SubscriptionEvent,
    ) -> StoreResult<(Subscription, EngineEvent)> {
        self.run(move |s| s.enable_subscription(&id, now, &announce)).await
    }

    async fn delete_subscription(&self, id: SubscriptionId, announce: SubscriptionEvent) -> StoreResult<EngineEvent> {
        self.run(move |s| s.delete_subscription(&id, &announce)).await
    }

    async fn append_outbox(&self, entry: OutboxEntry) -> StoreResult<()> {
        self.run(move |s| s.append_outbox(&entry)).await
    }

    async fn drain_outbox(&self, now_ms: u64) -> StoreResult<usize> {
        self.run(move |s| s.drain_outbox(now_ms)).await
    }

    async fn claim_head(
        &self,
        id: SubscriptionId,
        now_ms: u64,
        run: u64,
        lease_for: Duration,
        retention: Duration,
    ) -> StoreResult<Claim> {
        self.run(move |s| s.claim_head(&id, now_ms, run, lease_for, retention)).await
    }

    async fn complete_attempt(
        &self,
        id: SubscriptionId,
        key: Vec<u8>,
        result: AttemptResult,
    ) -> StoreResult<Completion> {
        self.run(move |s| s.complete_attempt(&id, &key, &result)).await
    }

    async fn log_attempt(&self, id: SubscriptionId, attempt: DeliveryAttempt) -> StoreResult<()> {
        self.run(move |s| s.log_attempt(&id, &attempt)).await
    }

    async fn attempts(&self, id: SubscriptionId, page: PageRequest) -> StoreResult<Page<DeliveryAttempt>> {
        self.run(move |s| s.attempts(&id, page)).await
    }

    async fn queue_len(&self) -> StoreResult<usize> {
        self.run(|s| Ok(s.queue_len())).await
    }

    async fn prune_outbound(&self, now_ms: u64, retention: Duration) -> StoreResult<(usize, usize)> {
        self.run(move |s| s.prune_outbound(now_ms, retention)).await
    }

    async fn sweep_outbound_orphans(&self) -> StoreResult<usize> {
        self.run(SledStore::sweep_outbound_orphans).await
    }
}

impl ReceiptWriter for Store {
    fn write_receipts(&self, receipts: &[Receipt]) -> StoreResult<Vec<(InstanceId, usize)>> {
        self.blocking().insert_receipts(receipts)
    }

    fn count_receipts(&self, instance: &InstanceId) -> StoreResult<usize> {
        self.blocking().count_receipts(instance)
    }

    fn remove_oldest_receipts(&self, instance: &InstanceId, n: usize) -> StoreResult<()> {
        self.blocking().remove_oldest_receipts(instance, n)
    }

    fn remove_receipts_before(&self, cutoff: &str) -> StoreResult<usize> {
        self.blocking().remove_receipts_before(cutoff)
    }

    fn forget_calls(&self, instance: &InstanceId) -> StoreResult<()> {
        self.blocking().remove_call_records(instance)
    }

    fn flush_receipts(&self) -> StoreResult<()> {
        self.blocking().flush_receipts()
    }
}
