//! Reading a whole sled deployment out as a [`Snapshot`], tree by tree in key (creation) order.

use serde::de::DeserializeOwned;

use super::codec::decode;
use super::{SledStore, StoreResult};
use crate::domain::ids::{CalloutId, SubscriptionId};
use crate::domain::instance::TriggerInstance;
use crate::domain::InstanceId;
use crate::outbound::delivery::QueuedDelivery;
use crate::store::snapshot::Snapshot;

/// Every value of `tree`, in key order.
fn values<T: DeserializeOwned>(tree: &sled::Tree) -> StoreResult<Vec<T>> {
    tree.iter().values().map(|v| decode(&v?)).collect()
}

/// Every value of a tree keyed `owner \0 child`, with its owner.
fn owned_values<O, T: DeserializeOwned>(
    tree: &sled::Tree,
    owner: impl Fn(&str) -> Option<O>,
) -> StoreResult<Vec<(O, T)>> {
    let mut found = Vec::new();
    for entry in tree.iter() {
        let (key, value) = entry?;
        let prefix = key.split(|b| *b == 0).next().unwrap_or_default();
        if let Some(id) = owner(&String::from_utf8_lossy(prefix)) {
            found.push((id, decode(&value)?));
        }
    }
    Ok(found)
}

/// Every value of an outbound tree keyed `subscription id ++ sequence (8 bytes)`, with its subscription.
fn outbound_values<T: DeserializeOwned>(tree: &sled::Tree) -> StoreResult<Vec<(SubscriptionId, T)>> {
    let mut found = Vec::new();
    for entry in tree.iter() {
        let (key, value) = entry?;
        let id = key.len().checked_sub(8).and_then(|end| SubscriptionId::parse(&String::from_utf8_lossy(&key[..end])));
        if let Some(id) = id {
            found.push((id, decode(&value)?));
        }
    }
    Ok(found)
}

impl SledStore {
    /// Everything stored, instance states as the newest journaled ones. Leases on queued deliveries are
    /// dropped: the process that held them has stopped.
    pub fn snapshot(&self) -> StoreResult<Snapshot> {
        let instances: Vec<TriggerInstance> = values(&self.instances)?;
        let mut records = Vec::with_capacity(instances.len());
        for instance in instances {
            let state = self.state_of(&instance.id)?.unwrap_or_default();
            records.push((instance, state));
        }
        let mut queue: Vec<(SubscriptionId, QueuedDelivery)> = outbound_values(&self.outbound.queue)?;
        for (_, delivery) in &mut queue {
            delivery.lease = None;
        }
        Ok(Snapshot {
            systems: values(&self.systems)?,
            modules: values(&self.modules)?,
            module_statuses: self.module_statuses()?,
            triggers: values(&self.triggers)?,
            instances: records,
            api_keys: values(&self.api_keys)?,
            callouts: values(&self.callouts)?,
            callout_log: owned_values(&self.callout_log, CalloutId::parse)?,
            subscriptions: values(&self.outbound.subscriptions)?,
            outbound_queue: queue,
            outbound_log: outbound_values(&self.outbound.log)?,
            outbox: values(&self.outbox)?,
            runs: values(&self.runs)?,
            receipts: values(&self.receipts)?,
            seen_deliveries: owned_values(&self.deliveries, InstanceId::parse)?,
        })
    }
}
