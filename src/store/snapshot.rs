//! A whole deployment as plain records, backend-neutral: what `switchboard migrate-store` reads from one
//! backend and writes into another. Each list is in the source's own order (creation order, a
//! subscription's queue head first), which the target keeps.

use std::collections::HashSet;

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

impl Snapshot {
    /// Drops records whose owner is gone (a run, receipt or delivery id of a deleted instance, a queued
    /// delivery of a deleted subscription, …): sled removes some of them in a step after the delete, so
    /// a crash can leave them behind, and PostgreSQL's foreign keys would refuse them. Returns how many
    /// of each kind went.
    pub fn drop_orphans(&mut self) -> Counts {
        let systems: HashSet<String> = self.systems.iter().map(|s| s.id.to_string()).collect();
        let triggers: HashSet<String> = self.triggers.iter().map(|t| t.id.to_string()).collect();
        let modules: HashSet<String> = self.modules.iter().map(|m| m.id.to_string()).collect();
        let before = self.counts();
        self.module_statuses.retain(|(id, _)| modules.contains(id.as_str()));
        self.instances.retain(|(i, _)| {
            systems.contains(i.control_system_id.as_str()) && triggers.contains(i.trigger_id.as_str())
        });
        self.callouts.retain(|c| c.spec.system_id.as_ref().is_none_or(|s| systems.contains(s.as_str())));
        let instances: HashSet<String> = self.instances.iter().map(|(i, _)| i.id.to_string()).collect();
        let callouts: HashSet<String> = self.callouts.iter().map(|c| c.id.to_string()).collect();
        let subscriptions: HashSet<String> = self.subscriptions.iter().map(|s| s.id.to_string()).collect();
        self.callout_log.retain(|(id, _)| callouts.contains(id.as_str()));
        self.outbound_queue.retain(|(id, _)| subscriptions.contains(id.as_str()));
        self.outbound_log.retain(|(id, _)| subscriptions.contains(id.as_str()));
        self.runs.retain(|r| instances.contains(r.trigger_instance.as_str()));
        self.receipts.retain(|r| instances.contains(r.trigger_instance.as_str()));
        self.seen_deliveries.retain(|(id, _)| instances.contains(id.as_str()));
        let after = self.counts();
        before.into_iter().zip(after).map(|((kind, b), (_, a))| (kind, b - a)).filter(|(_, n)| *n > 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::instance::{InstanceState, TriggerInstance};
    use crate::domain::trigger::TriggerSpec;
    use crate::domain::{ReceiptId, SystemId, TriggerId};

    fn instance(system: &SystemId, trigger: &TriggerId) -> InstanceRecord {
        (TriggerInstance::new(InstanceId::generate(), system.clone(), trigger.clone(), 1), InstanceState::default())
    }

    fn seen(instance: &InstanceId) -> (InstanceId, SeenDelivery) {
        (instance.clone(), SeenDelivery { delivery_id: "d".into(), receipt: ReceiptId::generate(), at: 1 })
    }

    #[test]
    fn records_whose_owner_is_gone_are_dropped_and_counted() {
        // Arrange: one system and trigger; an instance of them, one of a trigger that is gone.
        let system = System {
            id: SystemId::generate(),
            name: "s".into(),
            description: String::new(),
            modules: Vec::new(),
            created_at: 1,
            updated_at: 1,
        };
        let trigger =
            Trigger { id: TriggerId::generate(), spec: TriggerSpec::webhook_only("t"), created_at: 1, updated_at: 1 };
        let kept = instance(&system.id, &trigger.id);
        let orphan = instance(&system.id, &TriggerId::generate());
        let mut snapshot = Snapshot {
            seen_deliveries: vec![seen(&kept.0.id), seen(&orphan.0.id)],
            instances: vec![kept.clone(), orphan],
            systems: vec![system],
            triggers: vec![trigger],
            ..Snapshot::default()
        };

        // Act
        let dropped = snapshot.drop_orphans();

        // Assert: the orphan instance goes, and its delivery id with it.
        assert_eq!(dropped, vec![("instances", 1), ("instance_state", 1), ("webhook_deliveries", 1)]);
        assert_eq!(snapshot.instances.iter().map(|(i, _)| i.id.clone()).collect::<Vec<_>>(), vec![kept.0.id.clone()]);
        assert_eq!(snapshot.seen_deliveries.len(), 1);
    }
}
