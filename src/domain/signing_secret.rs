//! Standard Webhooks signing secrets: what signs outbound deliveries and callout requests.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;

/// A Standard Webhooks signing secret: `whsec_` and the standard base64 of random bytes. The key
/// that signs is the decoded bytes, which is what receivers' libraries use too.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    key: Vec<u8>,
}

impl SigningSecret {
    pub fn generate() -> Self {
        let mut key = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self { key }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let key = STANDARD.decode(raw.strip_prefix(SECRET_PREFIX)?).ok()?;
        (24..=64).contains(&key.len()).then_some(Self { key })
    }

    /// The `whsec_…` form shown to the admin once.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl Serialize for SigningSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expose())
    }
}

impl<'de> Deserialize<'de> for SigningSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| serde::de::Error::custom("not a whsec_ signing secret"))
    }
}

/// The secret that signed before the last rotation; it keeps signing until `signs_until`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetiredSecret {
    pub secret: SigningSecret,
    /// Epoch seconds.
    pub signs_until: u64,
}

/// The secrets that sign at `now` (epoch seconds): the current one, and the retired one until its
/// time is up, so receivers accept either during a rotation.
pub fn signing_now<'a>(
    current: &'a SigningSecret,
    retired: Option<&'a RetiredSecret>,
    now: u64,
) -> Vec<&'a SigningSecret> {
    let mut keys = vec![current];
    if let Some(old) = retired.filter(|old| now < old.signs_until) {
        keys.push(&old.secret);
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_whsec_base64_of_32_bytes_and_round_trip() {
        let s = SigningSecret::generate();
        let shown = s.expose();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&shown[6..]).unwrap().len(), 32);
        assert_eq!(SigningSecret::parse(&shown), Some(s.clone()));
        assert!(!format!("{s:?}").contains(&shown[6..]));
        assert_eq!(SigningSecret::parse("whsec_c2hvcnQ="), None, "too short");
    }
}
