//! A whole deployment as plain records, backend-neutral: what `switchboard migrate-store` reads from one
//! backend and writes into another. Each list is in the source's own order (creation order, a
//! subscription's queue head first), which the target keeps.

use crate::domain::api_key::ApiKey;
use crate::domain::callout::Callout;
use crate::domain::callout_log::LogEntry;
use crate::domain::ids::{CalloutId, SubscriptionId};
use crate::domain::module::Module;
use crate::domain::receipt::Receipt;
use crate::domain::run::Run;
use crate::domain::system::System;
use crate::domain::trigger::Trigger;
use crate::domain::InstanceId;
use crate::outbound::delivery::{DeliveryAttempt, QueuedDelivery};
use crate::outbound::subscription::Subscription;
use crate::store::outbox::OutboxEntry;
use crate::store::repo::{InstanceRecord, ModuleStatus};
use crate::store::SeenDelivery;

#[derive(Debug, Default)]
pub struct Snapshot {
    pub systems: Vec<System>,
    pub modules: Vec<Module>,
    pub module_statuses: Vec<ModuleStatus>,
    pub triggers: Vec<Trigger>,
    /// Each with its newest state.
    pub instances: Vec<InstanceRecord>,
    pub api_keys: Vec<ApiKey>,
    pub callouts: Vec<Callout>,
    pub callout_log: Vec<(CalloutId, LogEntry)>,
    pub subscriptions: Vec<Subscription>,
    /// Each subscription's pending deliveries, head first.
    pub outbound_queue: Vec<(SubscriptionId, QueuedDelivery)>,
    /// Each subscription's attempt log, oldest first.
    pub outbound_log: Vec<(SubscriptionId, DeliveryAttempt)>,
    /// Events not yet moved into delivery queues, oldest first.
    pub outbox: Vec<OutboxEntry>,
    pub runs: Vec<Run>,
    pub receipts: Vec<Receipt>,
    pub seen_deliveries: Vec<(InstanceId, SeenDelivery)>,
}

/// How many records of each kind a store holds, in the order they are written (a record's owner
/// first), kinds named as their PostgreSQL tables are.
pub type Counts = Vec<(&'static str, usize)>;

impl Snapshot {
    pub fn counts(&self) -> Counts {
        vec![
            ("systems", self.systems.len()),
            ("modules", self.modules.len()),
            ("module_status", self.module_statuses.len()),
            ("triggers", self.triggers.len()),
            ("instances", self.instances.len()),
            ("instance_state", self.instances.len()),
            ("api_keys", self.api_keys.len()),
            ("callouts", self.callouts.len()),
            ("callout_log", self.callout_log.len()),
            ("outbound_subscriptions", self.subscriptions.len()),
            ("outbound_queue", self.outbound_queue.len()),
            ("outbound_log", self.outbound_log.len()),
            ("outbox", self.outbox.len()),
            ("runs", self.runs.len()),
            ("receipts", self.receipts.len()),
            ("webhook_deliveries", self.seen_deliveries.len()),
        ]
    }
}
