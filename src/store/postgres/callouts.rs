//! Callouts and their logs. A callout's log entries are ordered by entry id (UUIDv7: oldest first).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{self, Listing};
use super::{structural, systems, PgStore};
use crate::domain::callout::Callout;
use crate::domain::callout_log::LogEntry;
use crate::domain::ids::CalloutId;
use crate::domain::{SystemId, ValidationError};
use crate::events::EngineEvent;
use crate::store::repo::{Announce, CalloutRepo, Change};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const LISTING: Listing<'static> = Listing { columns: "doc", from_where: "callouts", order: "id" };
const LOG_LISTING: Listing<'static> =
    Listing { columns: "doc", from_where: "callout_log WHERE callout_id = $1", order: "entry_id DESC" };

#[async_trait]
impl CalloutRepo for PgStore {
    async fn insert_callout(&self, callout: Callout, events: Vec<EngineEvent>) -> StoreResult<Callout> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            check_scope(&tx, &callout).await?;
            put(&tx, &callout, true).await?;
            self.commit(tx, &events).await?;
            Ok(callout)
        })
        .await
    }

    async fn get_callout(&self, id: CalloutId) -> StoreResult<Callout> {
        self.bounded(|client| async move { find(&client, &id, false).await?.ok_or(StoreError::NotFound("callout")) })
            .await
    }

    async fn list_callouts(&self, page: PageRequest) -> StoreResult<Page<Callout>> {
        self.bounded(|client| async move { LISTING.page(&client, &[], page, |row| rows::decode(row, 0)).await }).await
    }

    async fn all_callouts(&self) -> StoreResult<Vec<Callout>> {
        self.bounded(|client| async move {
            rows::decode_all(&rows::query(&client, "SELECT doc FROM callouts ORDER BY id", &[]).await?)
        })
        .await
    }

    async fn update_callout(
        &self,
        id: CalloutId,
        change: Change<Callout>,
        announce: Announce<Callout>,
    ) -> StoreResult<(Callout, Vec<EngineEvent>)> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            let previous = find(&tx, &id, true).await?.ok_or(StoreError::NotFound("callout"))?;
            let updated = change(previous)?;
            check_scope(&tx, &updated).await?;
            let events = announce(&updated);
            put(&tx, &updated, false).await?;
            self.commit(tx, &events).await?;
            Ok((updated, events))
        })
        .await
    }

    /// Its log goes with it (ON DELETE CASCADE).
    async fn delete_callout(&self, id: CalloutId, announce: Announce<Callout>) -> StoreResult<Vec<EngineEvent>> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            let callout = find(&tx, &id, true).await?.ok_or(StoreError::NotFound("callout"))?;
            let events = announce(&callout);
            rows::execute(&tx, "DELETE FROM callouts WHERE id = $1", &[&id.as_str()]).await?;
            self.commit(tx, &events).await?;
            Ok(events)
        })
        .await
    }

    /// Like sled: only entries of callouts that still exist are kept.
    async fn append_callout_log(&self, entries: Vec<(CalloutId, LogEntry)>) -> StoreResult<()> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let sql = "INSERT INTO callout_log (callout_id, entry_id, at, doc) \
                       SELECT id, $2::text, $3::bigint, $4::jsonb FROM callouts WHERE id = $1 \
                       ON CONFLICT (callout_id, entry_id) DO UPDATE SET at = excluded.at, doc = excluded.doc";
            for (callout, entry) in &entries {
                let params: rows::Params<'_> =
                    &[&callout.as_str(), &entry.id, &rows::to_i64(entry.at), &rows::doc(entry)?];
                rows::execute(&tx, sql, params).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn count_callout_log(&self, callout: CalloutId) -> StoreResult<usize> {
        self.bounded(|client| async move {
            let sql = "SELECT count(*) FROM callout_log WHERE callout_id = $1";
            let rows = rows::query(&client, sql, &[&callout.as_str()]).await?;
            let count: i64 = rows.first().map(|row| row.try_get(0)).transpose()?.unwrap_or(0);
            Ok(usize::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn remove_oldest_callout_log(&self, callout: CalloutId, n: usize) -> StoreResult<()> {
        self.bounded(|client| async move {
            let sql = "DELETE FROM callout_log WHERE callout_id = $1 AND entry_id IN \
                       (SELECT entry_id FROM callout_log WHERE callout_id = $1 ORDER BY entry_id LIMIT $2)";
            rows::execute(&client, sql, &[&callout.as_str(), &rows::to_i64(n)]).await?;
            Ok(())
        })
        .await
    }

    async fn remove_callout_log_before(&self, cutoff: u64) -> StoreResult<usize> {
        self.bounded(|client| async move {
            let removed =
                rows::execute(&client, "DELETE FROM callout_log WHERE at < $1", &[&rows::to_i64(cutoff)]).await?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
        .await
    }

    /// Newest first; not found when the callout is not.
    async fn list_callout_log(&self, callout: CalloutId, page: PageRequest) -> StoreResult<Page<LogEntry>> {
        self.bounded(|client| async move {
            find(&client, &callout, false).await?.ok_or(StoreError::NotFound("callout"))?;
            LOG_LISTING.page(&client, &[&callout.as_str()], page, |row| rows::decode(row, 0)).await
        })
        .await
    }
}

async fn find<C: GenericClient>(client: &C, id: &CalloutId, lock: bool) -> StoreResult<Option<Callout>> {
    let sql = if lock {
        "SELECT doc FROM callouts WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT doc FROM callouts WHERE id = $1"
    };
    rows::query_opt(client, sql, &[&id.as_str()]).await?.map(|row| rows::decode(&row, 0)).transpose()
}

pub(super) async fn put<C: GenericClient>(client: &C, callout: &Callout, new: bool) -> StoreResult<()> {
    let sql = if new {
        "INSERT INTO callouts (id, system_id, doc) VALUES ($1, $2, $3)"
    } else {
        "UPDATE callouts SET system_id = $2, doc = $3 WHERE id = $1"
    };
    let system = callout.spec.system_id.as_ref().map(SystemId::as_str);
    rows::execute(client, sql, &[&callout.id.as_str(), &system, &rows::doc(callout)?]).await?;
    Ok(())
}

/// A scope must name an existing system (held until the transaction ends).
async fn check_scope<C: GenericClient>(client: &C, callout: &Callout) -> StoreResult<()> {
    match &callout.spec.system_id {
        Some(system) if systems::find(client, system, true).await?.is_none() => {
            Err(ValidationError::new("system_id", format!("system {system} does not exist")).into())
        }
        _ => Ok(()),
    }
}
