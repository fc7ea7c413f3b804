//! Prefixed, time-sortable identifiers.
//!
//! The suffix is a UUIDv7 in lowercase hex: its first 48 bits are the creation time in milliseconds, so
//! byte order of the ids (and of sled keys built from them) is creation order, and the 74 random bits make
//! collisions practically impossible.

use std::fmt;

use arrayvec::ArrayString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const SUFFIX_LEN: usize = 32;
/// The longest prefix (`trigger-`) and the suffix.
const MAX_LEN: usize = 8 + SUFFIX_LEN;

/// A map keyed by ids for the paths every webhook call takes: a keyed hash much cheaper than std's
/// SipHash on 40-byte keys, randomly seeded like it.
pub type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
/// An [`IdMap`] in shards, for maps every webhook call changes: calls on different workers rarely wait
/// for each other. A shard stays locked while a reference into it lives, so never hold one across an
/// await or while touching the same map again.
pub type SharedIdMap<K, V> = dashmap::DashMap<K, V, foldhash::quality::RandomState>;

/// `prefix` and a new suffix.
fn generate(prefix: &str) -> ArrayString<MAX_LEN> {
    let mut id = ArrayString::new();
    id.push_str(prefix);
    id.push_str(uuid::Uuid::now_v7().simple().encode_lower(&mut uuid::Uuid::encode_buffer()));
    id
}

fn suffix_is_valid(suffix: &str) -> bool {
    suffix.len() == SUFFIX_LEN && suffix.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ArrayString<MAX_LEN>);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(generate($prefix))
            }

            /// Accepts only ids of the exact shape this type generates.
            pub fn parse(raw: &str) -> Option<Self> {
                raw.strip_prefix($prefix)
                    .filter(|suffix| suffix_is_valid(suffix))
                    .and_then(|_| ArrayString::from(raw).ok())
                    .map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        /// A string of exactly the shape [`Self::parse`] accepts, so the API document tells the truth.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-9a-f]{32}$")))
                    .examples([concat!($prefix, "0193c6a0b1c27e4d9f0a1b2c3d4e5f60")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // A visitor, so that reading an id from JSON bytes copies it only into the id.
                struct Visit;
                impl serde::de::Visitor<'_> for Visit {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {} id", $prefix.trim_end_matches('-'))
                    }
                    fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<$name, E> {
                        $name::parse(raw).ok_or_else(|| {
                            E::custom(format!("not a valid {} id", $prefix.trim_end_matches('-')))
                        })
                    }
                }
                d.deserialize_str(Visit)
            }
        }
    };
}

prefixed_id!(
    /// A control system: an ordered set of modules that triggers are applied to.
    SystemId, "sys-"
);
prefixed_id!(
    /// A module: one instance of a driver, optionally placed in a system.
    ModuleId, "mod-"
);
prefixed_id!(
    /// A trigger definition (conditions and actions), not yet bound to a system.
    TriggerId, "trigger-"
);
prefixed_id!(
    /// A trigger applied to a system; its webhook URL and state belong to it.
    InstanceId, "trig-"
);
prefixed_id!(
    /// An API key's public identifier (the secret part is never stored).
    ApiKeyId, "key-"
);
prefixed_id!(
    /// A recorded trigger webhook call: what arrived and what was answered.
    ReceiptId, "rcpt-"
);
prefixed_id!(
    /// The actions of one fire, carried out by the action worker.
    RunId, "run-"
);
prefixed_id!(
    /// An outbound webhook subscription: a URL that receives signed engine events.
    SubscriptionId, "wh-"
);
prefixed_id!(
    /// A callout: an outside service asked before an exec or a run of actions goes ahead.
    CalloutId, "co-"
);

impl ReceiptId {
    /// The smallest id of a receipt made at `ms` (epoch milliseconds): every receipt made before sorts
    /// before it, every one made at or after does not.
    pub fn at_ms(ms: u64) -> Self {
        let mut id = ArrayString::new();
        id.push_str(Self::PREFIX);
        // UUIDv7 starts with the 48-bit millisecond time.
        let _ = std::fmt::write(&mut id, format_args!("{:012x}{:020}", ms & 0xffff_ffff_ffff, 0));
        Self(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_sort_by_creation() {
        let a = SystemId::generate();
        let b = SystemId::generate();
        assert_eq!(SystemId::parse(a.as_str()), Some(a.clone()));
        assert!(a < b, "{a} should sort before {b}");
    }

    #[test]
    fn a_receipt_id_at_a_time_sorts_between_ids_made_before_and_after() {
        let before = ReceiptId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let now = crate::domain::now_epoch_ms();
        let bound = ReceiptId::at_ms(now);
        let after = ReceiptId::generate();
        assert!(ReceiptId::parse(bound.as_str()).is_some(), "{bound}");
        assert!(before < bound && bound <= after, "{before} < {bound} <= {after}");
    }

    #[test]
    fn foreign_or_malformed_ids_are_rejected() {
        let good = SystemId::generate();
        for bad in [
            "",
            "sys-",
            "sys-xyz",
            "mod-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f",
            "sys-0190F0C0A1B27C3D8E9F0A1B2C3D4E5F",
            &format!("{good}0"),
        ] {
            assert_eq!(SystemId::parse(bad), None, "{bad:?} must not parse");
        }
    }
}
