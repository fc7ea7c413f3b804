//! Receipts of webhook calls and the delivery ids seen per instance.
//!
//! `receipts` is keyed `instance \0 receipt`, so an instance's receipts are one prefix in creation
//! order (receipt ids are UUIDv7); `receipts_by_time` is keyed by receipt id alone, so the oldest of
//! all come first for the age sweep. `webhook_deliveries` is keyed `instance \0 delivery id`.

use serde::{Deserialize, Serialize};

use super::codec::{self, decode, encode, index_key, index_prefix};
use super::{Page, PageRequest, SledStore, StoreResult};
use crate::domain::receipt::{Receipt, ReceiptFilter};
use crate::domain::{InstanceId, ReceiptId};

/// A delivery id an instance has seen: the receipt of its first call, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeenDelivery {
    pub delivery_id: String,
    pub receipt: ReceiptId,
    /// Epoch milliseconds.
    pub at: u64,
}

impl SledStore {
    /// Stores receipts of instances that still exist; returns how many each instance got.
    pub fn insert_receipts(&self, receipts: &[Receipt]) -> StoreResult<Vec<(InstanceId, usize)>> {
        let mut stored: Vec<(InstanceId, usize)> = Vec::new();
        let (mut by_instance, mut by_time) = (sled::Batch::default(), sled::Batch::default());
        for r in receipts {
            let known = stored.iter_mut().find(|(id, _)| *id == r.trigger_instance);
            match known {
                Some((_, n)) => *n += 1,
                // A call that passed its checks just before its instance was deleted leaves nothing behind.
                None if self.instances.contains_key(&r.trigger_instance)? => {
                    stored.push((r.trigger_instance.clone(), 1))
                }
                None => continue,
            }
            by_instance.insert(index_key(r.trigger_instance.as_str(), r.id.as_str()), encode(r)?);
            by_time.insert(r.id.as_str(), r.trigger_instance.as_str());
        }
        self.receipts.apply_batch(by_instance)?;
        self.receipts_by_time.apply_batch(by_time)?;
        Ok(stored)
    }

    /// Hands the receipts' writes to the OS at a stop; nothing syncs them otherwise.
    pub fn flush_receipts(&self) -> StoreResult<()> {
        self.receipts_db.flush()?;
        Ok(())
    }

    pub fn count_receipts(&self, instance: &InstanceId) -> StoreResult<usize> {
        let mut count = 0;
        for key in self.receipts.scan_prefix(index_prefix(instance.as_str())).keys() {
            key?;
            count += 1;
        }
        Ok(count)
    }

    /// Removes an instance's `n` oldest receipts.
    pub fn remove_oldest_receipts(&self, instance: &InstanceId, n: usize) -> StoreResult<()> {
        let prefix = index_prefix(instance.as_str());
        for key in self.receipts.scan_prefix(&prefix).keys().take(n) {
            let key = key?;
            self.receipts.remove(&key)?;
            self.receipts_by_time.remove(&key[prefix.len()..])?;
        }
        Ok(())
    }

    /// Removes receipts received before `cutoff` (a receipt id with that time); returns how many.
    pub fn remove_receipts_before(&self, cutoff: &str) -> StoreResult<usize> {
        let mut removed = 0;
        for entry in self.receipts_by_time.range(..cutoff.as_bytes()) {
            let (id, instance) = entry?;
            self.receipts.remove(index_key(&String::from_utf8_lossy(&instance), &String::from_utf8_lossy(&id)))?;
            self.receipts_by_time.remove(&id)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Forgets everything recorded about an instance's calls.
    pub fn remove_call_records(&self, instance: &InstanceId) -> StoreResult<()> {
        let prefix = index_prefix(instance.as_str());
        for key in self.receipts.scan_prefix(&prefix).keys() {
            let key = key?;
            self.receipts.remove(&key)?;
            self.receipts_by_time.remove(&key[prefix.len()..])?;
        }
        for key in self.deliveries.scan_prefix(&prefix).keys() {
            self.deliveries.remove(key?)?;
        }
        Ok(())
    }

    /// An instance's receipts, newest first.
    pub fn list_receipts(
        &self,
        instance: &InstanceId,
        filter: &ReceiptFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Receipt>> {
        let mut total = 0;
        let mut items = Vec::new();
        for value in self.receipts.scan_prefix(index_prefix(instance.as_str())).values().rev() {
            let receipt: Receipt = decode(&value?)?;
            if !filter.admits(&receipt) {
                continue;
            }
            if total >= page.offset && items.len() < page.limit {
                items.push(receipt);
            }
            total += 1;
        }
        Ok(Page { total, items })
    }

    pub fn get_receipt(&self, instance: &InstanceId, id: &ReceiptId) -> StoreResult<Option<Receipt>> {
        codec::get(&self.receipts, index_key(instance.as_str(), id.as_str()))
    }

    /// The delivery ids an instance has seen, oldest first.
    pub fn seen_deliveries(&self, instance: &InstanceId) -> StoreResult<Vec<SeenDelivery>> {
        let mut seen: Vec<SeenDelivery> = self
            .deliveries
            .scan_prefix(index_prefix(instance.as_str()))
            .values()
            .map(|v| decode(&v?))
            .collect::<StoreResult<_>>()?;
        seen.sort_by_key(|s| s.at);
        Ok(seen)
    }

    /// Records a delivery id and forgets the ones memory dropped, then flushes: a retry after a crash
    /// must still be recognised once its first call was answered.
    pub fn record_delivery(&self, instance: &InstanceId, seen: &SeenDelivery, forgotten: &[String]) -> StoreResult<()> {
        self.deliveries.insert(index_key(instance.as_str(), &seen.delivery_id), encode(seen)?)?;
        for id in forgotten {
            self.deliveries.remove(index_key(instance.as_str(), id))?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// Removes delivery ids seen before `cutoff` (epoch milliseconds); returns how many.
    pub fn remove_deliveries_before(&self, cutoff: u64) -> StoreResult<usize> {
        let mut removed = 0;
        for entry in self.deliveries.iter() {
            let (key, value) = entry?;
            if decode::<SeenDelivery>(&value).map_or(true, |s| s.at < cutoff) {
                self.deliveries.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::receipt::{BodyEncoding, VerificationOutcome};
    use crate::domain::SystemId;

    fn receipt(instance: &InstanceId, system: &SystemId) -> Receipt {
        Receipt {
            id: ReceiptId::generate(),
            trigger_instance: instance.clone(),
            system_id: system.clone(),
            received_at: crate::domain::now_epoch_ms(),
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: BTreeMap::new(),
            remote_addr: None,
            body: String::new(),
            body_encoding: BodyEncoding::Utf8,
            body_truncated: false,
            body_size: 0,
            verification: VerificationOutcome::NotConfigured,
            verification_error: None,
            delivery_id: None,
            duplicate: false,
            filtered: false,
            status: 202,
            error: None,
            fired: true,
            exec: None,
            request_id: String::new(),
            replay_of: None,
        }
    }

    /// A store with one system and one instance in it.
    fn store_with_instance(dir: &std::path::Path) -> (SledStore, SystemId, InstanceId) {
        let store = SledStore::open(dir).unwrap();
        let instance = store.seed_instance();
        (store, instance.control_system_id, instance.id)
    }

    fn ids(page: Page<Receipt>) -> Vec<ReceiptId> {
        page.items.into_iter().map(|r| r.id).collect()
    }

    #[test]
    fn the_oldest_receipts_go_first_and_lists_are_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (store, system, instance) = store_with_instance(dir.path());
        let made: Vec<Receipt> = (0..5).map(|_| receipt(&instance, &system)).collect();

        assert_eq!(store.insert_receipts(&made).unwrap(), vec![(instance.clone(), 5)]);
        assert_eq!(store.count_receipts(&instance).unwrap(), 5);
        store.remove_oldest_receipts(&instance, 2).unwrap();

        let all = PageRequest { offset: 0, limit: 100 };
        let listed = store.list_receipts(&instance, &ReceiptFilter::default(), all).unwrap();
        assert_eq!(listed.total, 3);
        assert_eq!(ids(listed), vec![made[4].id.clone(), made[3].id.clone(), made[2].id.clone()]);
        assert_eq!(store.receipts_by_time.len(), 3, "the time index follows the trim");
    }

    #[test]
    fn receipts_before_a_time_are_removed_and_later_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (store, system, instance) = store_with_instance(dir.path());
        let old = receipt(&instance, &system);
        std::thread::sleep(std::time::Duration::from_millis(3));
        let cutoff = ReceiptId::at_ms(crate::domain::now_epoch_ms());
        let new = receipt(&instance, &system);
        store.insert_receipts(&[old.clone(), new.clone()]).unwrap();

        assert_eq!(store.remove_receipts_before(cutoff.as_str()).unwrap(), 1);

        assert_eq!(store.get_receipt(&instance, &old.id).unwrap(), None);
        assert_eq!(store.get_receipt(&instance, &new.id).unwrap(), Some(new));
    }

    #[test]
    fn receipts_of_an_unknown_instance_are_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (store, system, _) = store_with_instance(dir.path());
        let stray = receipt(&InstanceId::generate(), &system);

        assert_eq!(store.insert_receipts(std::slice::from_ref(&stray)).unwrap(), vec![]);

        assert_eq!(store.get_receipt(&stray.trigger_instance, &stray.id).unwrap(), None);
        assert!(store.receipts_by_time.is_empty());
    }
}
