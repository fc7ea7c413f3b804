//! The outbox on sled: one tree, sequence (u64 big-endian, from sled's monotonic id generator) →
//! [`OutboxEntry`] (JSON), written inside the transaction of the change the events describe.

use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use crate::events::{EngineEvent, EventSink};
use crate::store::outbox::OutboxEntry;

pub const OUTBOX_TREE: &str = "outbox";

/// Writes the entries of `events` that `sink` wants into `outbox`; returns how many.
pub fn stage_tx(
    outbox: &TransactionalTree,
    sink: &dyn EventSink,
    events: &[EngineEvent],
) -> Result<usize, UnabortableTransactionError> {
    let mut staged = 0;
    for entry in events.iter().filter_map(|e| OutboxEntry::for_event(sink, e)) {
        // A struct of strings always encodes.
        let Ok(bytes) = serde_json::to_vec(&entry) else { continue };
        outbox.insert(&outbox.generate_id()?.to_be_bytes(), bytes)?;
        staged += 1;
    }
    Ok(staged)
}
