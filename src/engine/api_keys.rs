//! API keys and who a request's key says the caller is.

use crate::domain::actor::Actor;
use std::collections::HashMap;
use std::sync::RwLock;

use super::inputs::ApiKeyIn;
use super::{Engine, EngineResult};
use crate::domain::api_key::{claimed_id, ApiKey, KeyHash, NewKey, Role};
use crate::domain::{now_epoch_seconds, parse_name, ApiKeyId};
use crate::store::{Page, PageRequest, Repository, StoreResult};

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Every usable key's hash, held in memory so authentication costs no storage call.
pub struct KeyRing {
    configured_admin: Option<KeyHash>,
    stored: RwLock<HashMap<ApiKeyId, ApiKey>>,
}

impl KeyRing {
    pub async fn load(store: &Repository, configured_admin_key: Option<&str>) -> StoreResult<Self> {
        let stored = store.all_api_keys().await?;
        Ok(Self {
            configured_admin: configured_admin_key.map(KeyHash::of),
            stored: RwLock::new(stored.into_iter().map(|k| (k.id.clone(), k)).collect()),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.configured_admin.is_none() && self.read().is_empty()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ApiKeyId, ApiKey>> {
        // The map is only ever replaced entry by entry, so a poisoned lock still holds a consistent map.
        self.stored.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ApiKeyId, ApiKey>> {
        self.stored.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The caller a presented key identifies, and the key as the actor of what it changes; hashes are
    /// compared in constant time.
    pub fn authenticate(&self, presented: &str) -> Option<(Caller, Actor)> {
        let hash = KeyHash::of(presented);
        if let Some(id) = claimed_id(presented) {
            if let Some(key) = self.read().get(&id) {
                if key.hash.ct_eq(&hash) {
                    let actor = Actor::ApiKey { id: Some(key.id.clone()), name: key.name.clone() };
                    return Some((Caller { role: key.role }, actor));
                }
            }
        }
        match &self.configured_admin {
            Some(admin) if admin.ct_eq(&hash) => {
                Some((Caller { role: Role::Admin }, Actor::ApiKey { id: None, name: "configured admin key".into() }))
            }
            _ => None,
        }
    }
}

impl Engine {
    pub fn authenticate(&self, presented: &str) -> Option<(Caller, Actor)> {
        self.keys.authenticate(presented)
    }

    /// Stores a new key and returns it with its plaintext, which is never available again.
    pub async fn create_api_key(&self, input: ApiKeyIn) -> EngineResult<(ApiKey, String)> {
        let name = parse_name("name", &input.name)?;
        let new = NewKey::generate();
        let key = ApiKey { id: new.id, name, role: input.role, hash: new.hash, created_at: now_epoch_seconds() };
        let events = self.event(
            "api_key.created",
            None,
            || serde_json::json!({ "key_id": key.id, "name": key.name, "role": key.role }),
        );
        let key = self.write(self.store.insert_api_key(key, events.clone())).await?;
        self.keys.write().insert(key.id.clone(), key.clone());
        self.events.broadcast_all(events);
        Ok((key, new.plaintext))
    }

    /// On a first start with no key at all, mints an admin key so the API is reachable.
    pub async fn bootstrap_admin_key(&self) -> EngineResult<Option<String>> {
        if !self.keys.is_empty() {
            return Ok(None);
        }
        let input = ApiKeyIn { name: "bootstrap admin".into(), role: Role::Admin };
        let (_, plaintext) = self.create_api_key(input).await?;
        Ok(Some(plaintext))
    }

    pub async fn get_api_key(&self, id: ApiKeyId) -> EngineResult<ApiKey> {
        Ok(self.store.get_api_key(id).await?)
    }

    pub async fn list_api_keys(&self, page: PageRequest) -> EngineResult<Page<ApiKey>> {
        Ok(self.store.list_api_keys(page).await?)
    }

    pub async fn delete_api_key(&self, id: ApiKeyId) -> EngineResult<()> {
        let events = self.event("api_key.deleted", None, || serde_json::json!({ "key_id": id }));
        self.write(self.store.delete_api_key(id.clone(), events.clone())).await?;
        self.keys.write().remove(&id);
        self.events.broadcast_all(events);
        Ok(())
    }
}
