//! The sled outbound keys. How the outbound repository behaves is tested on every backend by the
//! storage conformance suite (`tests/store/outbound.rs`).

use super::outbound::{entry_key, key_owner};
use crate::domain::ids::SubscriptionId;

#[test]
fn keys_sort_by_sequence_within_a_subscription() {
    let id = SubscriptionId::generate();
    assert!(entry_key(&id, 255) < entry_key(&id, 256), "big-endian, so byte order is numeric order");
    assert_eq!(key_owner(&entry_key(&id, 9)), id.as_str().as_bytes());
}
