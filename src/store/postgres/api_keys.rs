//! API keys (only their hashes are stored).

use async_trait::async_trait;

use super::rows::{self, Listing};
use super::PgStore;
use crate::domain::api_key::ApiKey;
use crate::domain::ApiKeyId;
use crate::events::EngineEvent;
use crate::store::repo::ApiKeyRepo;
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const LISTING: Listing<'static> = Listing { columns: "doc", from_where: "api_keys", order: "id" };

#[async_trait]
impl ApiKeyRepo for PgStore {
    async fn insert_api_key(&self, key: ApiKey, events: Vec<EngineEvent>) -> StoreResult<ApiKey> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let sql = "INSERT INTO api_keys (id, doc) VALUES ($1, $2)";
            rows::execute(&tx, sql, &[&key.id.as_str(), &rows::doc(&key)?]).await?;
            self.commit(tx, &events).await?;
            Ok(key)
        })
        .await
    }

    async fn get_api_key(&self, id: ApiKeyId) -> StoreResult<ApiKey> {
        self.bounded(|client| async move {
            let row = rows::query_opt(&client, "SELECT doc FROM api_keys WHERE id = $1", &[&id.as_str()]).await?;
            rows::decode(&row.ok_or(StoreError::NotFound("API key"))?, 0)
        })
        .await
    }

    async fn list_api_keys(&self, page: PageRequest) -> StoreResult<Page<ApiKey>> {
        self.bounded(|client| async move { LISTING.page(&client, &[], page, |row| rows::decode(row, 0)).await }).await
    }

    async fn all_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.bounded(|client| async move {
            rows::decode_all(&rows::query(&client, "SELECT doc FROM api_keys ORDER BY id", &[]).await?)
        })
        .await
    }

    async fn delete_api_key(&self, id: ApiKeyId, events: Vec<EngineEvent>) -> StoreResult<()> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            if rows::execute(&tx, "DELETE FROM api_keys WHERE id = $1", &[&id.as_str()]).await? == 0 {
                return Err(StoreError::NotFound("API key"));
            }
            self.commit(tx, &events).await
        })
        .await
    }
}
