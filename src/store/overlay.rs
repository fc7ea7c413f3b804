//! Instance states that are journaled but not yet in sled. Readers see the newest of sled's state and
//! these; a checkpoint moves them into sled and only then lets them go.
//!
//! Two layers: `fresh` takes the committer's writes, `checkpointing` is the set a checkpoint is
//! writing to sled. Keeping only the newest state per instance is what makes a checkpoint cheap: an
//! instance called a thousand times between checkpoints is written to sled once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::domain::instance::InstanceState;
use crate::domain::InstanceId;

pub type States = HashMap<InstanceId, InstanceState>;

#[derive(Default)]
pub struct Overlay {
    layers: RwLock<Layers>,
}

#[derive(Default)]
struct Layers {
    fresh: States,
    checkpointing: Arc<States>,
}

impl Overlay {
    // Every critical section leaves the layers consistent before it can panic, so poison is harmless.
    fn read(&self) -> RwLockReadGuard<'_, Layers> {
        self.layers.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Layers> {
        self.layers.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The newer of `stored` and what the overlay holds for `id`.
    pub fn newest(&self, id: &InstanceId, stored: InstanceState) -> InstanceState {
        let layers = self.read();
        let pending = [layers.fresh.get(id), layers.checkpointing.get(id)];
        match pending.into_iter().flatten().filter(|s| s.version > stored.version).max_by_key(|s| s.version) {
            Some(newer) => newer.clone(),
            None => stored,
        }
    }

    pub fn put(&self, states: impl IntoIterator<Item = (InstanceId, InstanceState)>) {
        let mut layers = self.write();
        for (id, state) in states {
            match layers.fresh.get(&id) {
                Some(held) if held.version >= state.version => {}
                _ => {
                    layers.fresh.insert(id, state);
                }
            }
        }
    }

    /// Hands the fresh layer to a checkpoint; `None` while one is still running.
    pub fn begin_checkpoint(&self) -> Option<Arc<States>> {
        let mut layers = self.write();
        if !layers.checkpointing.is_empty() {
            return None;
        }
        layers.checkpointing = Arc::new(std::mem::take(&mut layers.fresh));
        Some(Arc::clone(&layers.checkpointing))
    }

    /// The checkpoint's states are in sled and flushed.
    pub fn end_checkpoint(&self) {
        self.write().checkpointing = Arc::default();
    }

    pub fn checkpoint_running(&self) -> bool {
        !self.read().checkpointing.is_empty()
    }

    pub fn fresh_len(&self) -> usize {
        self.read().fresh.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(version: u64) -> InstanceState {
        InstanceState { trigger_count: version, version, ..InstanceState::default() }
    }

    #[test]
    fn readers_see_the_newest_version_through_a_checkpoint() {
        let overlay = Overlay::default();
        let id = InstanceId::parse("trig-0000000000000000000000000000000a").unwrap();
        assert_eq!(overlay.newest(&id, state(3)).version, 3);
        assert!(overlay.begin_checkpoint().unwrap().is_empty());
        overlay.end_checkpoint();
        overlay.put([(id.clone(), state(5)), (id.clone(), state(4))]);
        assert_eq!(overlay.newest(&id, state(3)).version, 5);
        let taken = overlay.begin_checkpoint().unwrap();
        assert_eq!(taken[&id].version, 5);
        assert!(overlay.begin_checkpoint().is_none(), "one checkpoint at a time");
        overlay.put([(id.clone(), state(6))]);
        assert_eq!(overlay.newest(&id, state(3)).version, 6);
        overlay.end_checkpoint();
        assert_eq!(overlay.newest(&id, state(3)).version, 6);
        // sled may already hold a newer state than the overlay (a transaction that carried events).
        assert_eq!(overlay.newest(&id, state(9)).version, 9);
    }
}
