//! Duplicate deliveries: a sender's retry of a call an instance has already taken fires nothing.
//!
//! Each instance remembers the delivery ids it has taken (the newest `webhook.dedup_max_ids`, for
//! `webhook.dedup_window_s`), read from the store the first time a call with an id arrives. A call
//! claims its id under the instance's lock, so of concurrent calls with one id exactly one goes on;
//! the others are duplicates of it. The claim is stored (and sled flushed) after the call's fire is
//! durable and before it is answered: a retry of an answered call is recognised after a crash too,
//! and a call that failed before firing leaves its id free for the retry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::WebhookConfig;
use crate::domain::{now_epoch_ms, InstanceId, ReceiptId, SharedIdMap};
use crate::store::{Repository, SeenDelivery, StoreResult};

#[derive(Debug, Clone)]
enum Taken {
    /// A call with this id is under way.
    InFlight(ReceiptId),
    /// A call with this id was taken at this time (epoch milliseconds).
    Done(ReceiptId, u64),
}

#[derive(Default)]
struct Seen {
    ids: HashMap<String, Taken>,
    /// Ids in the order they were taken, oldest first.
    order: VecDeque<String>,
}

type Shared = Arc<Mutex<Seen>>;

pub struct Deliveries {
    window_ms: u64,
    max_ids: usize,
    instances: SharedIdMap<InstanceId, Shared>,
}

/// What a call's delivery id says about it.
pub enum Claim {
    /// The first call with this id: go on, then [`Deliveries::confirm`] it (dropping it frees the id).
    New(ClaimGuard),
    /// An earlier call took this id; its receipt.
    Duplicate(ReceiptId),
}

/// A claimed id; dropped unconfirmed (the call failed or was cancelled), it is free again.
pub struct ClaimGuard {
    seen: Shared,
    instance: InstanceId,
    delivery_id: String,
    receipt: ReceiptId,
    confirmed: bool,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if !self.confirmed {
            let mut seen = lock(&self.seen);
            if matches!(seen.ids.get(&self.delivery_id), Some(Taken::InFlight(r)) if *r == self.receipt) {
                seen.ids.remove(&self.delivery_id);
            }
        }
    }
}

fn lock(seen: &Shared) -> MutexGuard<'_, Seen> {
    // Every change leaves the maps consistent, so a panic elsewhere cannot have left them half-done.
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

impl Deliveries {
    pub fn new(config: &WebhookConfig) -> Self {
        Self {
            window_ms: config.dedup_window_s.saturating_mul(1000),
            max_ids: config.dedup_max_ids.max(1),
            instances: SharedIdMap::default(),
        }
    }

    /// Claims `delivery_id` for a call whose receipt is `receipt`.
    pub async fn claim(
        &self,
        store: &Repository,
        instance: &InstanceId,
        delivery_id: &str,
        receipt: &ReceiptId,
    ) -> StoreResult<Claim> {
        let seen = self.seen_of(store, instance).await?;
        let mut guard = lock(&seen);
        let now = now_epoch_ms();
        match guard.ids.get(delivery_id) {
            Some(Taken::InFlight(first)) => return Ok(Claim::Duplicate(first.clone())),
            Some(Taken::Done(first, at)) if now.saturating_sub(*at) <= self.window_ms => {
                return Ok(Claim::Duplicate(first.clone()));
            }
            _ => {}
        }
        guard.ids.insert(delivery_id.to_owned(), Taken::InFlight(receipt.clone()));
        drop(guard);
        Ok(Claim::New(ClaimGuard {
            seen,
            instance: instance.clone(),
            delivery_id: delivery_id.to_owned(),
            receipt: receipt.clone(),
            confirmed: false,
        }))
    }

    /// Makes a claim permanent: remembered, and stored before this returns.
    pub async fn confirm(&self, store: &Repository, mut claim: ClaimGuard) -> StoreResult<()> {
        let at = now_epoch_ms();
        let forgotten = {
            let mut seen = lock(&claim.seen);
            seen.ids.insert(claim.delivery_id.clone(), Taken::Done(claim.receipt.clone(), at));
            seen.order.retain(|id| *id != claim.delivery_id);
            seen.order.push_back(claim.delivery_id.clone());
            self.evict(&mut seen, at)
        };
        claim.confirmed = true;
        let instance = claim.instance.clone();
        let record = SeenDelivery { delivery_id: claim.delivery_id.clone(), receipt: claim.receipt.clone(), at };
        store.record_delivery(instance, record, forgotten).await
    }

    /// Drops ids past the window or beyond the bound, oldest first; returns them.
    fn evict(&self, seen: &mut Seen, now: u64) -> Vec<String> {
        let mut forgotten = Vec::new();
        while let Some(oldest) = seen.order.front() {
            let expired =
                matches!(seen.ids.get(oldest), Some(Taken::Done(_, at)) if now.saturating_sub(*at) > self.window_ms);
            if !expired && seen.order.len() <= self.max_ids {
                break;
            }
            let id = seen.order.pop_front().unwrap_or_default();
            seen.ids.remove(&id);
            forgotten.push(id);
        }
        forgotten
    }

    async fn seen_of(&self, store: &Repository, instance: &InstanceId) -> StoreResult<Shared> {
        if let Some(seen) = self.instances.get(instance) {
            return Ok(Arc::clone(&seen));
        }
        let stored = store.seen_deliveries(instance.clone()).await?;
        let mut seen = Seen::default();
        for s in stored {
            seen.order.push_back(s.delivery_id.clone());
            seen.ids.insert(s.delivery_id, Taken::Done(s.receipt, s.at));
        }
        self.evict(&mut seen, now_epoch_ms());
        // A concurrent first call may have loaded it already: its copy (and claims) win.
        Ok(Arc::clone(&self.instances.entry(instance.clone()).or_insert_with(|| Arc::new(Mutex::new(seen)))))
    }

    pub fn forget(&self, instance: &InstanceId) {
        self.instances.remove(instance);
    }

    /// The window, for the sweep that removes stored ids past it.
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliveries(max_ids: usize) -> Deliveries {
        Deliveries::new(&WebhookConfig { dedup_max_ids: max_ids, ..WebhookConfig::default() })
    }

    async fn take(d: &Deliveries, store: &Repository, instance: &InstanceId, id: &str) -> Result<ReceiptId, ReceiptId> {
        let receipt = ReceiptId::generate();
        match d.claim(store, instance, id, &receipt).await.unwrap() {
            Claim::New(claim) => {
                d.confirm(store, claim).await.unwrap();
                Ok(receipt)
            }
            Claim::Duplicate(first) => Err(first),
        }
    }

    #[tokio::test]
    async fn a_taken_id_is_a_duplicate_of_its_first_call_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store: Repository = Arc::new(crate::store::Store::open(dir.path()).unwrap());
        let instance = InstanceId::generate();
        let first = take(&deliveries(10), &store, &instance, "evt_1").await.unwrap();

        assert_eq!(
            take(&deliveries(10), &store, &instance, "evt_1").await,
            Err(first),
            "a fresh memory reads the store"
        );
    }

    #[tokio::test]
    async fn a_claim_in_flight_makes_concurrent_calls_duplicates_and_frees_the_id_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store: Repository = Arc::new(crate::store::Store::open(dir.path()).unwrap());
        let d = deliveries(10);
        let instance = InstanceId::generate();
        let first = ReceiptId::generate();
        let Claim::New(claim) = d.claim(&store, &instance, "x", &first).await.unwrap() else { panic!("first claim") };

        assert!(
            matches!(d.claim(&store, &instance, "x", &ReceiptId::generate()).await.unwrap(), Claim::Duplicate(r) if r == first)
        );
        drop(claim);
        assert!(take(&d, &store, &instance, "x").await.is_ok(), "a failed call leaves its id free");
    }

    #[tokio::test]
    async fn the_oldest_ids_are_forgotten_beyond_the_bound_in_memory_and_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store: Repository = Arc::new(crate::store::Store::open(dir.path()).unwrap());
        let d = deliveries(2);
        let instance = InstanceId::generate();
        for id in ["a", "b", "c"] {
            take(&d, &store, &instance, id).await.unwrap();
        }

        assert!(take(&d, &store, &instance, "a").await.is_ok(), "a was forgotten");
        assert!(take(&deliveries(2), &store, &instance, "b").await.is_ok(), "b is gone from the store too");
    }
}
