//! Instance states that are journaled but not yet in sled. Readers see the newest of sled's state and
//! these; a checkpoint moves them into sled and only then lets them go.
//!
//! Two layers: `fresh` takes the committer's writes, `checkpointing` is the set a checkpoint is
//! writing to sled. Keeping only the newest state per instance is what makes a checkpoint cheap: an
//! instance called a thousand times between checkpoints is written to sled once.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::domain::instance::InstanceState;
use crate::domain::{IdMap, InstanceId};

pub type States = IdMap<InstanceId, InstanceState>;

/// Puts `state` in `states` unless they hold a newer (or the same) version of the instance's state.
pub fn keep_newest(states: &mut States, id: InstanceId, state: InstanceState) {
    match states.get(&id) {
        Some(held) if held.version >= state.version => {}
        _ => {
            states.insert(id, state);
        }
    }
}

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

    /// The newest state the overlay holds for `id`. Read it before sled: a checkpoint lets a state go
    /// only after sled holds it, so sled read afterwards is at least as new.
    pub fn pending(&self, id: &InstanceId) -> Option<InstanceState> {
        let layers = self.read();
        [layers.fresh.get(id), layers.checkpointing.get(id)].into_iter().flatten().max_by_key(|s| s.version).cloned()
    }

    pub fn put(&self, states: impl IntoIterator<Item = (InstanceId, InstanceState)>) {
        let mut layers = self.write();
        for (id, state) in states {
            keep_newest(&mut layers.fresh, id, state);
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

    /// The checkpoint of `states` is in sled and flushed; a later checkpoint's layer is left alone.
    pub fn end_checkpoint(&self, states: &Arc<States>) {
        let mut layers = self.write();
        if Arc::ptr_eq(&layers.checkpointing, states) {
            layers.checkpointing = Arc::default();
        }
    }

    pub fn checkpoint_running(&self) -> bool {
        !self.read().checkpointing.is_empty()
    }

    pub fn fresh_len(&self) -> usize {
        self.read().fresh.len()
    }

    /// A copy of the states not yet handed to a checkpoint.
    pub fn fresh(&self) -> Vec<(InstanceId, InstanceState)> {
        self.read().fresh.iter().map(|(id, state)| (id.clone(), state.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(version: u64) -> InstanceState {
        InstanceState { trigger_count: version, version, ..InstanceState::default() }
    }

    #[test]
    fn the_newest_pending_state_is_kept_through_a_checkpoint() {
        let overlay = Overlay::default();
        let id = InstanceId::parse("trig-0000000000000000000000000000000a").unwrap();
        let version = |o: &Overlay| o.pending(&id).map(|s| s.version);
        assert_eq!(version(&overlay), None);
        let empty = overlay.begin_checkpoint().unwrap();
        assert!(empty.is_empty());
        overlay.end_checkpoint(&empty);
        overlay.put([(id.clone(), state(5)), (id.clone(), state(4))]);
        assert_eq!(version(&overlay), Some(5));
        let taken = overlay.begin_checkpoint().unwrap();
        assert_eq!(taken[&id].version, 5);
        assert!(overlay.begin_checkpoint().is_none(), "one checkpoint at a time");
        assert_eq!(version(&overlay), Some(5), "still readable while it is written to sled");
        overlay.put([(id.clone(), state(6))]);
        assert_eq!(version(&overlay), Some(6));
        overlay.end_checkpoint(&taken);
        assert_eq!(version(&overlay), Some(6));
        // Ending a checkpoint twice (a retry) must not drop a later checkpoint's states.
        let later = overlay.begin_checkpoint().unwrap();
        overlay.end_checkpoint(&taken);
        assert_eq!(version(&overlay), Some(6));
        overlay.end_checkpoint(&later);
        assert_eq!(version(&overlay), None);
    }
}
