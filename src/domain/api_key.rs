//! API keys. A key is `sbk_<id suffix>_<secret>`; only a SHA-256 of the whole key is stored, which is
//! enough for a 256-bit random secret (no password stretching needed).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiKeyId;

const KEY_PREFIX: &str = "sbk_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May do everything.
    Admin,
    /// May read; never sees webhook secrets.
    Support,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::Support => "support",
        })
    }
}

/// The SHA-256 of a presented key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(key.as_bytes())))
    }

    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    pub role: Role,
    pub hash: KeyHash,
    pub created_at: u64,
}

/// A freshly minted key: the plaintext exists only here, to be shown once.
pub struct NewKey {
    pub id: ApiKeyId,
    pub plaintext: String,
    pub hash: KeyHash,
}

impl NewKey {
    pub fn generate() -> Self {
        let id = ApiKeyId::generate();
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let suffix = &id.as_str()[ApiKeyId::PREFIX.len()..];
        let plaintext = format!("{KEY_PREFIX}{suffix}_{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = KeyHash::of(&plaintext);
        Self { id, plaintext, hash }
    }
}

/// The key id a presented key claims to be, if it has our shape. Keys of other shapes (such as a
/// configured `SWITCHBOARD_ADMIN_KEY`) have none and are checked against the configured hash instead.
pub fn claimed_id(presented: &str) -> Option<ApiKeyId> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (suffix, _) = rest.split_once('_')?;
    ApiKeyId::parse(&format!("{}{suffix}", ApiKeyId::PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_names_its_id_and_hashes_to_its_hash() {
        let k = NewKey::generate();
        assert_eq!(claimed_id(&k.plaintext), Some(k.id.clone()));
        assert!(KeyHash::of(&k.plaintext).ct_eq(&k.hash));
        assert!(!KeyHash::of("other").ct_eq(&k.hash));
    }

    #[test]
    fn foreign_keys_claim_no_id() {
        assert_eq!(claimed_id("my-admin-key"), None);
        assert_eq!(claimed_id("sbk_nothex_abc"), None);
    }
}
