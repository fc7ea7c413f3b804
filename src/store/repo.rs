//! The storage seam: what the engine asks of a backend, one trait per concern, async, in domain types
//! and [`StoreError`]. A write takes the events it causes and commits them in the same transaction
//! (the backend's outbox); a change to a stored record is a function of the stored value, run inside
//! the backend's transaction, and the events it announces are computed from the result there too.
//!
//! The sled backend implements these on [`super::Store`]; concerns not listed here are still reached
//! through [`super::Store::run`] until they move behind a trait of their own.

use std::time::Duration;

use async_trait::async_trait;

use super::outbox::OutboxEntry;
use super::{InstanceFilter, Page, PageRequest, SeenDelivery, StoreResult};
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
use crate::domain::{ApiKeyId, InstanceId, ModuleId, ReceiptId, RunId, SystemId, TriggerId, ValidationError};
use crate::events::EngineEvent;
use crate::outbound::delivery::{Claim, Completion, DeliveryAttempt, Finished, RetryPolicy};
use crate::outbound::subscription::Subscription;

/// A change to a stored record, given its stored value.
pub type Change<T> = Box<dyn FnOnce(T) -> Result<T, ValidationError> + Send>;
/// The events a changed record causes, computed from the result.
pub type Announce<T> = Box<dyn FnOnce(&T) -> Vec<EngineEvent> + Send>;

#[async_trait]
pub trait SystemRepo: Send + Sync {
    async fn get_system(&self, id: SystemId) -> StoreResult<System>;
    /// `q`: names containing it, case-insensitively.
    async fn list_systems(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<System>>;
    async fn insert_system(&self, system: System, events: Vec<EngineEvent>) -> StoreResult<System>;
    /// Also checks that the modules it lists exist and belong to no other system.
    async fn update_system(
        &self,
        id: SystemId,
        change: Change<System>,
        announce: Announce<System>,
    ) -> StoreResult<(System, Vec<EngineEvent>)>;
    /// Deletes its instances and the callouts scoped to it; its modules stay, outside any system.
    /// Returns the deleted instances.
    async fn delete_system(&self, id: SystemId, events: Vec<EngineEvent>) -> StoreResult<Vec<InstanceId>>;
}

#[async_trait]
pub trait ModuleRepo: Send + Sync {
    async fn get_module(&self, id: ModuleId) -> StoreResult<Module>;
    async fn list_modules(
        &self,
        q: Option<String>,
        system: Option<SystemId>,
        driver: Option<String>,
        page: PageRequest,
    ) -> StoreResult<Page<Module>>;
    /// A system's modules in its order; not found when the system is not.
    async fn modules_of_system(&self, system: SystemId) -> StoreResult<Vec<Module>>;
    /// Appended to its system's modules, when it names one.
    async fn insert_module(&self, module: Module, events: Vec<EngineEvent>) -> StoreResult<Module>;
    /// A module moved to another system leaves the old one's list and joins the end of the new one's.
    async fn update_module(
        &self,
        id: ModuleId,
        change: Change<Module>,
        announce: Announce<Module>,
    ) -> StoreResult<(Module, Vec<EngineEvent>)>;
    async fn delete_module(&self, id: ModuleId, events: Vec<EngineEvent>) -> StoreResult<()>;
}

#[async_trait]
pub trait TriggerRepo: Send + Sync {
    async fn get_trigger(&self, id: TriggerId) -> StoreResult<Trigger>;
    async fn list_triggers(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<Trigger>>;
    async fn insert_trigger(&self, trigger: Trigger, events: Vec<EngineEvent>) -> StoreResult<Trigger>;
    async fn update_trigger(
        &self,
        id: TriggerId,
        change: Change<Trigger>,
        announce: Announce<Trigger>,
    ) -> StoreResult<(Trigger, Vec<EngineEvent>)>;
    /// Deletes its instances too; returns them.
    async fn delete_trigger(&self, id: TriggerId, events: Vec<EngineEvent>) -> StoreResult<Vec<InstanceId>>;
}

#[async_trait]
pub trait ApiKeyRepo: Send + Sync {
    async fn insert_api_key(&self, key: ApiKey, events: Vec<EngineEvent>) -> StoreResult<ApiKey>;
    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<ApiKey>;
    async fn list_api_keys(&self, page: PageRequest) -> StoreResult<Page<ApiKey>>;
    /// Every key, for the in-memory key ring.
    async fn all_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    async fn delete_api_key(&self, id: ApiKeyId, events: Vec<EngineEvent>) -> StoreResult<()>;
}

#[async_trait]
pub trait CalloutRepo: Send + Sync {
    /// Refused when its scope names a system that does not exist.
    async fn insert_callout(&self, callout: Callout, events: Vec<EngineEvent>) -> StoreResult<Callout>;
    async fn get_callout(&self, id: CalloutId) -> StoreResult<Callout>;
    async fn list_callouts(&self, page: PageRequest) -> StoreResult<Page<Callout>>;
    /// Every callout, for the gate's index.
    async fn all_callouts(&self) -> StoreResult<Vec<Callout>>;
    async fn update_callout(
        &self,
        id: CalloutId,
        change: Change<Callout>,
        announce: Announce<Callout>,
    ) -> StoreResult<(Callout, Vec<EngineEvent>)>;
    /// Deletes its log too; returns the events `announce` made of it.
    async fn delete_callout(&self, id: CalloutId, announce: Announce<Callout>) -> StoreResult<Vec<EngineEvent>>;
    async fn append_callout_log(&self, entries: Vec<(CalloutId, LogEntry)>) -> StoreResult<()>;
    async fn count_callout_log(&self, callout: CalloutId) -> StoreResult<usize>;
    async fn remove_oldest_callout_log(&self, callout: CalloutId, n: usize) -> StoreResult<()>;
    /// Entries older than `cutoff` (epoch ms); returns how many went.
    async fn remove_callout_log_before(&self, cutoff: u64) -> StoreResult<usize>;
    /// Newest first.
    async fn list_callout_log(&self, callout: CalloutId, page: PageRequest) -> StoreResult<Page<LogEntry>>;
}

/// Makes a new instance from its trigger.
pub type BuildInstance = Box<dyn FnOnce(&Trigger) -> TriggerInstance + Send>;

/// A trigger instance with its state.
pub type InstanceRecord = (TriggerInstance, InstanceState);
/// A module's last known status values.
pub type ModuleStatus = (ModuleId, serde_json::Map<String, serde_json::Value>);

#[async_trait]
pub trait InstanceRepo: Send + Sync {
    /// `build` makes the instance from its trigger, which must exist, as must the system.
    async fn insert_instance(
        &self,
        system: SystemId,
        trigger: TriggerId,
        build: BuildInstance,
        events: Vec<EngineEvent>,
    ) -> StoreResult<InstanceRecord>;
    async fn get_instance(&self, id: InstanceId) -> StoreResult<InstanceRecord>;
    /// Not found unless the instance belongs to `system`.
    async fn get_instance_in(&self, system: SystemId, id: InstanceId) -> StoreResult<InstanceRecord>;
    async fn list_instances_of_system(
        &self,
        system: SystemId,
        filter: InstanceFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InstanceRecord>>;
    async fn list_instances_of_trigger(&self, trigger: TriggerId) -> StoreResult<Vec<InstanceRecord>>;
    async fn update_instance(
        &self,
        system: SystemId,
        id: InstanceId,
        change: Box<dyn FnOnce(TriggerInstance) -> TriggerInstance + Send>,
        announce: Announce<TriggerInstance>,
    ) -> StoreResult<(InstanceRecord, Vec<EngineEvent>)>;
    async fn delete_instance(&self, system: SystemId, id: InstanceId, events: Vec<EngineEvent>) -> StoreResult<()>;
    /// What a webhook call needs: the instance, its trigger and its state; `None` when any is gone.
    async fn webhook_target(&self, id: InstanceId) -> StoreResult<Option<(TriggerInstance, Trigger, InstanceState)>>;
    async fn find_state(&self, id: InstanceId) -> StoreResult<Option<InstanceState>>;
    /// At start: no pulse window survives a restart, so conditions held by one are cleared (and an
    /// instance they held triggered is no longer); returns how many instances changed.
    async fn clear_pulses(&self) -> StoreResult<usize>;
    /// Instances whose conditions need watching from the start: comparisons or time conditions.
    async fn instances_with_levels_or_times(&self) -> StoreResult<Vec<InstanceId>>;
    async fn instance_ids_of_system(&self, system: SystemId) -> StoreResult<Vec<InstanceId>>;
    async fn instance_ids_of_trigger(&self, trigger: TriggerId) -> StoreResult<Vec<InstanceId>>;
}

#[async_trait]
pub trait RunRepo: Send + Sync {
    /// Runs not finished yet, to resume at start.
    async fn open_runs(&self) -> StoreResult<Vec<Run>>;
    /// False (and nothing written) when the run is gone, its instance deleted.
    async fn save_run(&self, run: Run) -> StoreResult<bool>;
    /// An instance of `system`'s runs, newest first; not found unless the instance is the system's.
    async fn list_runs(
        &self,
        system: SystemId,
        instance: InstanceId,
        filter: RunFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Run>>;
    async fn get_run(&self, system: SystemId, instance: InstanceId, id: RunId) -> StoreResult<Option<Run>>;
    /// Keeps the newest `keep` finished runs of the instance.
    async fn trim_runs(&self, instance: InstanceId, keep: usize) -> StoreResult<()>;
    async fn remove_runs(&self, instance: InstanceId) -> StoreResult<()>;
    /// Hands every run committed from now on (with its fire) to `listener`.
    fn set_run_listener(&self, listener: tokio::sync::mpsc::UnboundedSender<Run>);
}

#[async_trait]
pub trait ReceiptRepo: Send + Sync {
    /// An instance of `system`'s receipts, newest first; not found unless the instance is the system's.
    async fn list_receipts(
        &self,
        system: SystemId,
        instance: InstanceId,
        filter: ReceiptFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Receipt>>;
    async fn get_receipt(&self, system: SystemId, instance: InstanceId, id: ReceiptId) -> StoreResult<Option<Receipt>>;
    /// An instance's receipts and the delivery ids it has seen.
    async fn remove_call_records(&self, instance: InstanceId) -> StoreResult<()>;
    async fn seen_deliveries(&self, instance: InstanceId) -> StoreResult<Vec<SeenDelivery>>;
    /// Records a delivery id seen, and forgets the ids `forgotten`.
    async fn record_delivery(
        &self,
        instance: InstanceId,
        seen: SeenDelivery,
        forgotten: Vec<String>,
    ) -> StoreResult<()>;
    /// Delivery ids seen before `cutoff` (epoch ms); returns how many went.
    async fn remove_deliveries_before(&self, cutoff: u64) -> StoreResult<usize>;
}

/// Receipt writes, made from the receipt writer's own low-priority thread, in batches: they may block,
/// and never run on the async runtime.
pub trait ReceiptWriter: Send + Sync {
    /// Stores receipts; returns how many each instance gained.
    fn write_receipts(&self, receipts: &[Receipt]) -> StoreResult<Vec<(InstanceId, usize)>>;
    fn count_receipts(&self, instance: &InstanceId) -> StoreResult<usize>;
    fn remove_oldest_receipts(&self, instance: &InstanceId, n: usize) -> StoreResult<()>;
    /// Receipts older than `cutoff` (a receipt id, which sorts by time); returns how many went.
    fn remove_receipts_before(&self, cutoff: &str) -> StoreResult<usize>;
    /// An instance's receipts and the delivery ids it has seen.
    fn forget_calls(&self, instance: &InstanceId) -> StoreResult<()>;
    /// Makes what was written durable, at a stop.
    fn flush_receipts(&self) -> StoreResult<()>;
}

#[async_trait]
pub trait ModuleStatusRepo: Send + Sync {
    async fn module_statuses(&self) -> StoreResult<Vec<ModuleStatus>>;
    /// A module deleted meanwhile gets nothing: its status went with it.
    async fn save_module_statuses(&self, statuses: Vec<ModuleStatus>) -> StoreResult<()>;
}

/// A change to a stored subscription; may run more than once.
pub type SubscriptionChange = Box<dyn Fn(Subscription) -> Result<Subscription, ValidationError> + Send + Sync>;
/// The event about a changed subscription, built from the record as stored (for a delete, as it was);
/// may run more than once.
pub type SubscriptionEvent = Box<dyn Fn(&Subscription) -> EngineEvent + Send + Sync>;

/// Outbound webhooks: subscriptions, the outbox and the delivery queues it feeds, the attempt log.
/// Each subscription change writes its event to the outbox in the same transaction.
#[async_trait]
pub trait OutboundRepo: Send + Sync {
    async fn all_subscriptions(&self) -> StoreResult<Vec<Subscription>>;
    async fn get_subscription(&self, id: SubscriptionId) -> StoreResult<Option<Subscription>>;
    /// In creation order; `q`: name or URL containing it, case-insensitively.
    async fn list_subscriptions(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<Subscription>>;
    async fn insert_subscription(&self, sub: Subscription, announce: SubscriptionEvent) -> StoreResult<EngineEvent>;
    async fn update_subscription(
        &self,
        id: SubscriptionId,
        change: SubscriptionChange,
        announce: SubscriptionEvent,
    ) -> StoreResult<(Subscription, EngineEvent)>;
    /// Clears a pause and a disable: a held head is due at once with a fresh retry schedule.
    async fn enable_subscription(
        &self,
        id: SubscriptionId,
        now: u64,
        announce: SubscriptionEvent,
    ) -> StoreResult<(Subscription, EngineEvent)>;
    /// Its queue and log go too.
    async fn delete_subscription(&self, id: SubscriptionId, announce: SubscriptionEvent) -> StoreResult<EngineEvent>;
    /// An event no stored change carries, written durably.
    async fn append_outbox(&self, entry: OutboxEntry) -> StoreResult<()>;
    /// Moves outbox entries, oldest first, into the queues of the subscriptions they are for whose
    /// stored record still wants them; returns how many deliveries were queued.
    async fn drain_outbox(&self, now_ms: u64) -> StoreResult<usize>;
    /// Claims the head of a deliverable subscription's queue for one attempt by `run`, dropping heads
    /// kept past `retention` on the way.
    async fn claim_head(
        &self,
        id: SubscriptionId,
        now_ms: u64,
        run: u64,
        lease_for: Duration,
        retention: Duration,
    ) -> StoreResult<Claim>;
    /// Records an attempt's result (see [`crate::outbound::delivery::judge`]) with its log entry, in
    /// one transaction.
    async fn complete_attempt(
        &self,
        id: SubscriptionId,
        key: Vec<u8>,
        result: AttemptResult,
    ) -> StoreResult<Completion>;
    /// An attempt made outside the queue; a subscription deleted meanwhile keeps no log.
    async fn log_attempt(&self, id: SubscriptionId, attempt: DeliveryAttempt) -> StoreResult<()>;
    /// Newest first.
    async fn attempts(&self, id: SubscriptionId, page: PageRequest) -> StoreResult<Page<DeliveryAttempt>>;
    /// Deliveries waiting across all subscriptions.
    async fn queue_len(&self) -> StoreResult<usize>;
    /// Drops queued events and log entries older than `retention`; returns how many of each.
    async fn prune_outbound(&self, now_ms: u64, retention: Duration) -> StoreResult<(usize, usize)>;
    /// Removes queue and log entries of subscriptions that no longer exist; returns how many.
    async fn sweep_outbound_orphans(&self) -> StoreResult<usize>;
}

/// A finished attempt with what judging it needs.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub finished: Finished,
    pub policy: RetryPolicy,
    pub now_ms: u64,
    /// A random number in `[0, 1)` for the retry's jitter.
    pub jitter: f64,
}

/// Every concern at once: what a backend is.
#[async_trait]
pub trait Repo:
    SystemRepo
    + ModuleRepo
    + TriggerRepo
    + ApiKeyRepo
    + CalloutRepo
    + InstanceRepo
    + RunRepo
    + ReceiptRepo
    + ReceiptWriter
    + ModuleStatusRepo
    + OutboundRepo
{
    /// Whether the store answers, for readiness.
    async fn probe(&self) -> StoreResult<()>;
    /// Installs the sink that decides which events go to the outbox; only the first call counts.
    fn set_event_sink(&self, sink: &std::sync::Arc<dyn crate::events::EventSink>);
}
