//! Receipts of webhook calls and the delivery ids each instance has seen; both go with their instance
//! (ON DELETE CASCADE). Receipt ids are UUIDv7s, so an instance's receipts in id order are oldest
//! first, as sled's `instance \0 receipt` keys are.
//! Writes read the instance `FOR KEY SHARE`: one deleted meanwhile gets nothing written, rather than
//! failing the write on the foreign key.
//!
//! [`ReceiptWriter`] is synchronous: the receipt writer calls it from a std thread of its own, at the
//! lowest priority, never from the async runtime. Its methods run the same async queries on the
//! runtime the store was connected on and block that thread until they finish (see `PgStore::block`).
//! Receipts are committed with `synchronous_commit = off`: like sled's never-synced receipts database,
//! a crash of the database server may lose the last moment's receipts, and no commit waits for a disk.

use std::collections::HashSet;
use std::future::Future;

use async_trait::async_trait;

use super::rows::{self, Listing};
use super::{instances, PgStore};
use crate::domain::receipt::{Receipt, ReceiptFilter};
use crate::domain::{InstanceId, ReceiptId, SystemId};
use crate::store::repo::{ReceiptRepo, ReceiptWriter};
use crate::store::{Page, PageRequest, SeenDelivery, StoreResult};

const LISTING: Listing<'static> = Listing {
    columns: "doc",
    from_where: "receipts WHERE instance_id = $1 AND ($2::integer IS NULL OR status = $2) \
                 AND ($3::boolean IS NULL OR fired = $3) AND ($4::bigint IS NULL OR received_at >= $4)",
    order: "id DESC",
};

impl PgStore {
    /// Runs `work` on the store's runtime from a thread outside its workers (the receipt writer's own
    /// thread, or the blocking pool), blocking that thread until it is done. The connection's I/O is
    /// driven by the runtime's own threads meanwhile. Called on a runtime worker it would stall the
    /// runtime, and tokio panics instead: the trait promises it never is.
    fn block<T>(&self, work: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        self.inner.runtime.block_on(work)
    }

    /// Stores receipts of instances that still exist; returns how many each instance got, instances in
    /// the order they first appear.
    async fn insert_receipts(&self, receipts: &[Receipt]) -> StoreResult<Vec<(InstanceId, usize)>> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = receipts.iter().map(|r| r.id.as_str()).collect();
        let instances: Vec<&str> = receipts.iter().map(|r| r.trigger_instance.as_str()).collect();
        let times: Vec<i64> = receipts.iter().map(|r| rows::to_i64(r.received_at)).collect();
        let statuses: Vec<i32> = receipts.iter().map(|r| i32::from(r.status)).collect();
        let fired: Vec<bool> = receipts.iter().map(|r| r.fired).collect();
        let docs = receipts.iter().map(rows::doc).collect::<StoreResult<Vec<_>>>()?;
        let stored = self
            .bounded(|mut client| async move {
                let tx = client.transaction().await?;
                // Receipts need not survive a crash (sled keeps them in a database it never syncs): the
                // commit does not wait for the WAL to reach the disk.
                rows::execute(&tx, "SET LOCAL synchronous_commit = off", &[]).await?;
                // A call that passed its checks just before its instance was deleted leaves nothing behind.
                let sql = "INSERT INTO receipts (id, instance_id, received_at, status, fired, doc) \
                           SELECT r.* FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[], \
                           $5::boolean[], $6::jsonb[]) AS r(id, instance_id, received_at, status, fired, doc) \
                           WHERE EXISTS (SELECT 1 FROM instances i WHERE i.id = r.instance_id FOR KEY SHARE) \
                           ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, \
                           received_at = excluded.received_at, status = excluded.status, fired = excluded.fired, \
                           doc = excluded.doc RETURNING id";
                let params: rows::Params<'_> = &[&ids, &instances, &times, &statuses, &fired, &docs];
                let stored: HashSet<String> = rows::texts(&rows::query(&tx, sql, params).await?)?.into_iter().collect();
                tx.commit().await?;
                Ok(stored)
            })
            .await?;
        let mut counts: Vec<(InstanceId, usize)> = Vec::new();
        for r in receipts.iter().filter(|r| stored.contains(r.id.as_str())) {
            match counts.iter_mut().find(|(id, _)| *id == r.trigger_instance) {
                Some((_, n)) => *n += 1,
                None => counts.push((r.trigger_instance.clone(), 1)),
            }
        }
        Ok(counts)
    }

    async fn count(&self, instance: &InstanceId) -> StoreResult<usize> {
        self.bounded(|client| async move {
            let rows =
                rows::query(&client, "SELECT count(*) FROM receipts WHERE instance_id = $1", &[&instance.as_str()])
                    .await?;
            let count: i64 = rows.first().map(|row| row.try_get(0)).transpose()?.unwrap_or(0);
            Ok(usize::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn remove_oldest(&self, instance: &InstanceId, n: usize) -> StoreResult<()> {
        self.bounded(|client| async move {
            let sql = "DELETE FROM receipts WHERE id IN \
                       (SELECT id FROM receipts WHERE instance_id = $1 ORDER BY id LIMIT $2)";
            rows::execute(&client, sql, &[&instance.as_str(), &rows::to_i64(n)]).await?;
            Ok(())
        })
        .await
    }

    async fn remove_before(&self, cutoff: &str) -> StoreResult<usize> {
        self.bounded(|client| async move {
            let removed = rows::execute(&client, "DELETE FROM receipts WHERE id < $1", &[&cutoff]).await?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }

    /// An instance's receipts and delivery ids, in one transaction.
    async fn remove_calls(&self, instance: &InstanceId) -> StoreResult<()> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            rows::execute(&tx, "DELETE FROM receipts WHERE instance_id = $1", &[&instance.as_str()]).await?;
            rows::execute(&tx, "DELETE FROM webhook_deliveries WHERE instance_id = $1", &[&instance.as_str()]).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl ReceiptRepo for PgStore {
    async fn list_receipts(
        &self,
        system: SystemId,
        instance: InstanceId,
        filter: ReceiptFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Receipt>> {
        self.bounded(|client| async move {
            instances::find_in(&client, &system, &instance, false).await?;
            let status = filter.status.map(i32::from);
            let since = filter.since.map(rows::to_i64);
            let params: rows::Params<'_> = &[&instance.as_str(), &status, &filter.fired, &since];
            LISTING.page(&client, params, page, |row| rows::decode(row, 0)).await
        })
        .await
    }

    async fn get_receipt(&self, system: SystemId, instance: InstanceId, id: ReceiptId) -> StoreResult<Option<Receipt>> {
        self.bounded(|client| async move {
            instances::find_in(&client, &system, &instance, false).await?;
            let sql = "SELECT doc FROM receipts WHERE id = $1 AND instance_id = $2";
            let row = rows::query_opt(&client, sql, &[&id.as_str(), &instance.as_str()]).await?;
            row.map(|row| rows::decode(&row, 0)).transpose()
        })
        .await
    }

    async fn remove_call_records(&self, instance: InstanceId) -> StoreResult<()> {
        self.remove_calls(&instance).await
    }

    /// Oldest first; ids seen at the same time in id order (sled's key order, kept by its stable sort).
    async fn seen_deliveries(&self, instance: InstanceId) -> StoreResult<Vec<SeenDelivery>> {
        self.bounded(|client| async move {
            let sql = "SELECT doc FROM webhook_deliveries WHERE instance_id = $1 ORDER BY at, delivery_id";
            rows::decode_all(&rows::query(&client, sql, &[&instance.as_str()]).await?)
        })
        .await
    }

    /// Committed before it returns: a retry after a crash must still be recognised once its first call
    /// was answered. An instance deleted meanwhile keeps nothing (sled keeps the id until the
    /// instance's call records are removed, a moment later).
    async fn record_delivery(
        &self,
        instance: InstanceId,
        seen: SeenDelivery,
        forgotten: Vec<String>,
    ) -> StoreResult<()> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let sql = "INSERT INTO webhook_deliveries (instance_id, delivery_id, at, doc) \
                       SELECT id, $2, $3, $4 FROM instances WHERE id = $1 FOR KEY SHARE \
                       ON CONFLICT (instance_id, delivery_id) DO UPDATE SET at = excluded.at, doc = excluded.doc";
            let params: rows::Params<'_> =
                &[&instance.as_str(), &seen.delivery_id, &rows::to_i64(seen.at), &rows::doc(&seen)?];
            rows::execute(&tx, sql, params).await?;
            if !forgotten.is_empty() {
                let sql = "DELETE FROM webhook_deliveries WHERE instance_id = $1 AND delivery_id = ANY($2)";
                rows::execute(&tx, sql, &[&instance.as_str(), &forgotten]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn remove_deliveries_before(&self, cutoff: u64) -> StoreResult<usize> {
        self.bounded(|client| async move {
            let sql = "DELETE FROM webhook_deliveries WHERE at < $1";
            let removed = rows::execute(&client, sql, &[&rows::to_i64(cutoff)]).await?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }
}

impl ReceiptWriter for PgStore {
    fn write_receipts(&self, receipts: &[Receipt]) -> StoreResult<Vec<(InstanceId, usize)>> {
        self.block(self.insert_receipts(receipts))
    }

    fn count_receipts(&self, instance: &InstanceId) -> StoreResult<usize> {
        self.block(self.count(instance))
    }

    fn remove_oldest_receipts(&self, instance: &InstanceId, n: usize) -> StoreResult<()> {
        self.block(self.remove_oldest(instance, n))
    }

    fn remove_receipts_before(&self, cutoff: &str) -> StoreResult<usize> {
        self.block(self.remove_before(cutoff))
    }

    fn forget_calls(&self, instance: &InstanceId) -> StoreResult<()> {
        self.block(self.remove_calls(instance))
    }

    /// Nothing to do: every write above was committed before it returned, and the server writes the
    /// receipts' WAL (committed without waiting for it) to disk within its `wal_writer_delay`, whether
    /// or not this process is still running.
    fn flush_receipts(&self) -> StoreResult<()> {
        Ok(())
    }
}
