//! Systems, and the modules each places in itself.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{self, Listing};
use super::{structural, PgStore};
use crate::domain::system::System;
use crate::domain::{InstanceId, ModuleId, SystemId, ValidationError};
use crate::events::EngineEvent;
use crate::store::repo::{Announce, Change, SystemRepo};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const LISTING: Listing<'static> = Listing {
    columns: "doc",
    from_where: "systems WHERE ($1::text IS NULL OR strpos(name_lc, $1) > 0 OR strpos(description_lc, $1) > 0)",
    order: "id",
};

#[async_trait]
impl SystemRepo for PgStore {
    async fn get_system(&self, id: SystemId) -> StoreResult<System> {
        self.bounded(|client| async move { find(&client, &id, false).await?.ok_or(StoreError::NotFound("system")) })
            .await
    }

    /// Like sled: `q` is looked for in the name and the description.
    async fn list_systems(&self, q: Option<String>, page: PageRequest) -> StoreResult<Page<System>> {
        let q = q.map(|q| q.to_lowercase());
        self.bounded(|client| async move { LISTING.page(&client, &[&q], page, |row| rows::decode(row, 0)).await }).await
    }

    async fn insert_system(&self, system: System, events: Vec<EngineEvent>) -> StoreResult<System> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            check_module_list(&tx, &system.id, &system.modules).await?;
            put(&tx, &system, true).await?;
            place_modules(&tx, &system, &[]).await?;
            self.commit(tx, &events).await?;
            Ok(system)
        })
        .await
    }

    async fn update_system(
        &self,
        id: SystemId,
        change: Change<System>,
        announce: Announce<System>,
    ) -> StoreResult<(System, Vec<EngineEvent>)> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            let previous = find(&tx, &id, true).await?.ok_or(StoreError::NotFound("system"))?;
            let updated = change(previous.clone())?;
            let events = announce(&updated);
            check_module_list(&tx, &updated.id, &updated.modules).await?;
            put(&tx, &updated, false).await?;
            place_modules(&tx, &updated, &previous.modules).await?;
            self.commit(tx, &events).await?;
            Ok((updated, events))
        })
        .await
    }

    async fn delete_system(&self, id: SystemId, events: Vec<EngineEvent>) -> StoreResult<Vec<InstanceId>> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            find(&tx, &id, true).await?.ok_or(StoreError::NotFound("system"))?;
            let sql = "UPDATE modules SET system_id = NULL, doc = jsonb_set(doc, '{control_system_id}', 'null') \
                       WHERE system_id = $1";
            rows::execute(&tx, sql, &[&id.as_str()]).await?;
            let sql = "DELETE FROM instances WHERE system_id = $1 RETURNING id";
            let instances = instance_ids(&rows::query(&tx, sql, &[&id.as_str()]).await?)?;
            // Its scoped callouts and their logs go with it (foreign keys ON DELETE CASCADE).
            rows::execute(&tx, "DELETE FROM systems WHERE id = $1", &[&id.as_str()]).await?;
            self.commit(tx, &events).await?;
            Ok(instances)
        })
        .await
    }
}

/// Instance ids in id order, as sled's index lists them.
pub(super) fn instance_ids(rows: &[tokio_postgres::Row]) -> StoreResult<Vec<InstanceId>> {
    let mut ids = rows::texts(rows)?;
    ids.sort();
    Ok(ids.iter().filter_map(|id| InstanceId::parse(id)).collect())
}

/// The stored system; `lock` holds it until the transaction ends.
pub(super) async fn find<C: GenericClient>(client: &C, id: &SystemId, lock: bool) -> StoreResult<Option<System>> {
    let sql =
        if lock { "SELECT doc FROM systems WHERE id = $1 FOR UPDATE" } else { "SELECT doc FROM systems WHERE id = $1" };
    rows::query_opt(client, sql, &[&id.as_str()]).await?.map(|row| rows::decode(&row, 0)).transpose()
}

/// Stores a system: a new row, or over the stored one.
pub(super) async fn put<C: GenericClient>(client: &C, system: &System, new: bool) -> StoreResult<()> {
    let sql = if new {
        "INSERT INTO systems (id, name_lc, description_lc, doc) VALUES ($1, $2, $3, $4)"
    } else {
        "UPDATE systems SET name_lc = $2, description_lc = $3, doc = $4 WHERE id = $1"
    };
    let (name, description) = (system.name.to_lowercase(), system.description.to_lowercase());
    rows::execute(client, sql, &[&system.id.as_str(), &name, &description, &rows::doc(system)?]).await?;
    Ok(())
}

/// Like sled: each listed module exists, is listed once and belongs to no other system.
async fn check_module_list<C: GenericClient>(client: &C, system: &SystemId, list: &[ModuleId]) -> StoreResult<()> {
    let ids: Vec<&str> = list.iter().map(ModuleId::as_str).collect();
    let sql = "SELECT id, system_id FROM modules WHERE id = ANY($1) FOR UPDATE";
    let owners: HashMap<String, Option<String>> = rows::query(client, sql, &[&ids])
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    let mut seen = HashSet::new();
    for (i, id) in list.iter().enumerate() {
        let field = format!("modules[{i}]");
        if !seen.insert(id) {
            return Err(ValidationError::new(field, format!("{id} is listed twice")).into());
        }
        match owners.get(id.as_str()) {
            None => return Err(ValidationError::new(field, format!("module {id} does not exist")).into()),
            Some(Some(owner)) if owner != system.as_str() => {
                return Err(ValidationError::new(field, format!("module {id} belongs to system {owner}")).into());
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Places exactly the modules `system` lists in it: listed modules join it, modules `before` listed
/// and it no longer does leave it.
async fn place_modules<C: GenericClient>(client: &C, system: &System, before: &[ModuleId]) -> StoreResult<()> {
    let listed: Vec<&str> = system.modules.iter().map(ModuleId::as_str).collect();
    let dropped: Vec<&str> = before.iter().filter(|m| !system.modules.contains(m)).map(ModuleId::as_str).collect();
    let join = "UPDATE modules SET system_id = $1, doc = jsonb_set(doc, '{control_system_id}', to_jsonb($1::text)) \
                WHERE id = ANY($2) AND system_id IS DISTINCT FROM $1";
    rows::execute(client, join, &[&system.id.as_str(), &listed]).await?;
    let leave = "UPDATE modules SET system_id = NULL, doc = jsonb_set(doc, '{control_system_id}', 'null') \
                 WHERE id = ANY($1)";
    rows::execute(client, leave, &[&dropped]).await?;
    Ok(())
}
