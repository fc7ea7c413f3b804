use super::codec::{self};
use super::{Page, PageRequest, SledStore, StoreError, StoreResult};
use crate::domain::api_key::ApiKey;
use crate::domain::ApiKeyId;
use crate::events::EngineEvent;
use sled::transaction::ConflictableTransactionError;

impl SledStore {
    pub fn insert_api_key(&self, key: ApiKey, events: &[EngineEvent]) -> StoreResult<ApiKey> {
        self.transact(&[&self.api_keys], events, |t| codec::tx_put(&t[0], &key.id, &key))?;
        Ok(key)
    }

    pub fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<ApiKey> {
        codec::get(&self.api_keys, id)?.ok_or(StoreError::NotFound("API key"))
    }

    pub fn list_api_keys(&self, page: PageRequest) -> StoreResult<Page<ApiKey>> {
        codec::list(&self.api_keys, page, |_: &ApiKey| true)
    }

    pub fn all_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.api_keys.iter().values().map(|v| codec::decode(&v?)).collect()
    }

    pub fn delete_api_key(&self, id: &ApiKeyId, events: &[EngineEvent]) -> StoreResult<()> {
        self.transact(&[&self.api_keys], events, |t| match t[0].remove(id.as_str())? {
            Some(_) => Ok(()),
            None => Err(ConflictableTransactionError::Abort(StoreError::NotFound("API key"))),
        })
    }
}
