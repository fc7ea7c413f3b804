//! Runs of trigger actions, one row per fire of an instance (`(instance_id, fire)`), so an instance's
//! runs are in fire order, as sled's `instance \0 fire` keys are. A run goes with its instance (ON DELETE
//! CASCADE): a save after the delete finds nothing and writes nothing, as on sled once `remove_runs`
//! has run. The fire path writes its runs in the statement of its commit, as [`stage_run`] writes one.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{self, Listing};
use super::{instances, PgStore};
use crate::domain::run::{Run, RunFilter};
use crate::domain::{InstanceId, RunId, SystemId};
use crate::store::repo::RunRepo;
use crate::store::{Page, PageRequest, StoreResult};

const LISTING: Listing<'static> = Listing {
    columns: "doc",
    from_where: "runs WHERE instance_id = $1 AND ($2::text IS NULL OR status = $2)",
    order: "fire DESC",
};

/// Writes `run` (new, or replacing the run of the same fire) inside the caller's transaction; false,
/// and nothing written, when its instance does not exist (deleted before the fire committed). The
/// instance is read `FOR KEY SHARE`: a delete under way is waited for, and once committed makes this
/// write nothing rather than fail on the foreign key.
pub(crate) async fn stage_run<C: GenericClient>(client: &C, run: &Run) -> StoreResult<bool> {
    let sql = "INSERT INTO runs (instance_id, fire, id, status, finished, doc) \
               SELECT id, $2, $3, $4, $5, $6 FROM instances WHERE id = $1 FOR KEY SHARE \
               ON CONFLICT (instance_id, fire) DO UPDATE \
               SET id = excluded.id, status = excluded.status, finished = excluded.finished, doc = excluded.doc";
    let status = run.status.as_str();
    let params: rows::Params<'_> = &[
        &run.trigger_instance.as_str(),
        &rows::to_i64(run.fire),
        &run.id.as_str(),
        &status,
        &run.status.finished(),
        &rows::doc(run)?,
    ];
    Ok(rows::execute(client, sql, params).await? > 0)
}

impl PgStore {
    /// Stores new runs outside the fire path (sled's `insert_runs`: what a failed batch leaves at
    /// shutdown), in one transaction; runs of instances that no longer exist are left out.
    pub async fn insert_runs(&self, runs: Vec<Run>) -> StoreResult<()> {
        if runs.is_empty() {
            return Ok(());
        }
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            for run in &runs {
                stage_run(&tx, run).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Where committed runs go (see [`RunRepo::set_run_listener`]): the fire path hands each run it
    /// commits to it. `None` until a listener is set.
    pub(crate) fn run_listener(&self) -> Option<&tokio::sync::mpsc::UnboundedSender<Run>> {
        self.inner.run_listener.get()
    }
}

#[async_trait]
impl RunRepo for PgStore {
    /// In fire order per instance, instances in id order (sled's key order).
    async fn open_runs(&self) -> StoreResult<Vec<Run>> {
        self.bounded(|client| async move {
            let sql = "SELECT doc FROM runs WHERE NOT finished ORDER BY instance_id, fire";
            rows::decode_all(&rows::query(&client, sql, &[]).await?)
        })
        .await
    }

    async fn save_run(&self, run: Run) -> StoreResult<bool> {
        self.bounded(|client| async move {
            let sql = "UPDATE runs SET status = $2, finished = $3, doc = $4 WHERE id = $1";
            let status = run.status.as_str();
            let params: rows::Params<'_> = &[&run.id.as_str(), &status, &run.status.finished(), &rows::doc(&run)?];
            Ok(rows::execute(&client, sql, params).await? > 0)
        })
        .await
    }

    async fn list_runs(
        &self,
        system: SystemId,
        instance: InstanceId,
        filter: RunFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Run>> {
        self.bounded(|client| async move {
            instances::find_in(&client, &system, &instance, false).await?;
            let status = filter.status.map(|s| s.as_str());
            LISTING.page(&client, &[&instance.as_str(), &status], page, |row| rows::decode(row, 0)).await
        })
        .await
    }

    async fn get_run(&self, system: SystemId, instance: InstanceId, id: RunId) -> StoreResult<Option<Run>> {
        self.bounded(|client| async move {
            instances::find_in(&client, &system, &instance, false).await?;
            let sql = "SELECT doc FROM runs WHERE id = $1 AND instance_id = $2";
            let row = rows::query_opt(&client, sql, &[&id.as_str(), &instance.as_str()]).await?;
            row.map(|row| rows::decode(&row, 0)).transpose()
        })
        .await
    }

    /// Open runs are never trimmed, and do not count towards `keep`.
    async fn trim_runs(&self, instance: InstanceId, keep: usize) -> StoreResult<()> {
        self.bounded(|client| async move {
            let sql = "DELETE FROM runs WHERE instance_id = $1 AND fire IN \
                       (SELECT fire FROM runs WHERE instance_id = $1 AND finished ORDER BY fire DESC OFFSET $2)";
            rows::execute(&client, sql, &[&instance.as_str(), &rows::to_i64(keep)]).await?;
            Ok(())
        })
        .await
    }

    async fn remove_runs(&self, instance: InstanceId) -> StoreResult<()> {
        self.bounded(|client| async move {
            rows::execute(&client, "DELETE FROM runs WHERE instance_id = $1", &[&instance.as_str()]).await?;
            Ok(())
        })
        .await
    }

    /// Only the first call has an effect, as on sled.
    fn set_run_listener(&self, listener: tokio::sync::mpsc::UnboundedSender<Run>) {
        let _ = self.inner.run_listener.set(listener);
    }
}
