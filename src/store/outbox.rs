//! The outbox: events written by the store in the transaction of the change they describe, each with
//! the subscriptions it is for, and moved into delivery queues afterwards. A change and its events
//! commit together or not at all, on every backend.

use serde::{Deserialize, Serialize};

use crate::domain::ids::SubscriptionId;
use crate::events::{EngineEvent, EventSink};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub event: EngineEvent,
    /// The subscriptions that wanted it when it was written; each one's stored record has the last word
    /// when the entry is delivered.
    pub targets: Vec<SubscriptionId>,
}

impl OutboxEntry {
    /// The entry for `event`, if any subscription wants it.
    pub fn for_event(sink: &dyn EventSink, event: &EngineEvent) -> Option<Self> {
        if !sink.wants(&event.event, event.system_id.as_deref()) {
            return None;
        }
        let targets = sink.targets(event);
        (!targets.is_empty()).then(|| Self { event: event.clone(), targets })
    }
}
