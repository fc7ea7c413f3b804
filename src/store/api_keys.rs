use super::codec::{self};
use super::{Page, PageRequest, SledStore, StoreError, StoreResult};
use crate::domain::api_key::ApiKey;
use crate::domain::ApiKeyId;

impl SledStore {
    pub fn insert_api_key(&self, key: ApiKey) -> StoreResult<ApiKey> {
        self.api_keys.insert(key.id.as_str(), codec::encode(&key)?)?;
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

    pub fn delete_api_key(&self, id: &ApiKeyId) -> StoreResult<()> {
        self.api_keys.remove(id.as_str())?.ok_or(StoreError::NotFound("API key"))?;
        Ok(())
    }
}
