//! Triggers; deleting one takes its instances.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{self, Listing};
use super::systems::instance_ids;
use super::{structural, PgStore};
use crate::domain::trigger::Trigger;
use crate::domain::{InstanceId, TriggerId};
use crate::events::EngineEvent;
use crate::store::repo::{Announce, Change, TriggerRepo};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const LISTING: Listing<'static> = Listing {
    columns: "doc",
    from_where: "triggers WHERE ($1::text IS NULL OR strpos(name_lc, $1) > 0 OR strpos(description_lc, $1) > 0)",
    order: "id",
};

#[async_trait]
impl TriggerRepo for PgStore {
    async fn get_trigger(&self, id: TriggerId) -> StoreResult<Trigger> {
        self.bounded(|client| async move { find(&client, &id, false).await?.ok_or(StoreError::NotFound("trigger")) })
            .await
    }

    /// Like sled: `q` is looked for in the name and the description.
    async fn list_triggers(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<Trigger>> {
        let q = q.map(|q| q.to_lowercase());
        self.bounded(|client| async move { LISTING.page(&client, &[&q], page, |row| rows::decode(row, 0)).await }).await
    }

    async fn insert_trigger(&self, trigger: Trigger, events: Vec<EngineEvent>) -> StoreResult<Trigger> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            put(&tx, &trigger, true).await?;
            self.commit(tx, &events).await?;
            Ok(trigger)
        })
        .await
    }

    async fn update_trigger(
        &self,
        id: TriggerId,
        change: Change<Trigger>,
        announce: Announce<Trigger>,
    ) -> StoreResult<(Trigger, Vec<EngineEvent>)> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            let previous = find(&tx, &id, true).await?.ok_or(StoreError::NotFound("trigger"))?;
            let updated = change(previous)?;
            let events = announce(&updated);
            put(&tx, &updated, false).await?;
            self.commit(tx, &events).await?;
            Ok((updated, events))
        })
        .await
    }

    /// Deletes it and every instance of it, in every system; returns the instances in id order.
    async fn delete_trigger(&self, id: TriggerId, events: Vec<EngineEvent>) -> StoreResult<Vec<InstanceId>> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            find(&tx, &id, true).await?.ok_or(StoreError::NotFound("trigger"))?;
            let sql = "DELETE FROM instances WHERE trigger_id = $1 RETURNING id";
            let instances = instance_ids(&rows::query(&tx, sql, &[&id.as_str()]).await?)?;
            rows::execute(&tx, "DELETE FROM triggers WHERE id = $1", &[&id.as_str()]).await?;
            self.commit(tx, &events).await?;
            Ok(instances)
        })
        .await
    }
}

pub(super) async fn find<C: GenericClient>(client: &C, id: &TriggerId, lock: bool) -> StoreResult<Option<Trigger>> {
    let sql = if lock {
        "SELECT doc FROM triggers WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT doc FROM triggers WHERE id = $1"
    };
    rows::query_opt(client, sql, &[&id.as_str()]).await?.map(|row| rows::decode(&row, 0)).transpose()
}

pub(super) async fn put<C: GenericClient>(client: &C, trigger: &Trigger, new: bool) -> StoreResult<()> {
    let sql = if new {
        "INSERT INTO triggers (id, name_lc, description_lc, doc) VALUES ($1, $2, $3, $4)"
    } else {
        "UPDATE triggers SET name_lc = $2, description_lc = $3, doc = $4 WHERE id = $1"
    };
    let (name, description) = (trigger.spec.name.to_lowercase(), trigger.spec.description.to_lowercase());
    rows::execute(client, sql, &[&trigger.id.as_str(), &name, &description, &rows::doc(trigger)?]).await?;
    Ok(())
}
