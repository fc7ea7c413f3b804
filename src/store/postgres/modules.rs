//! Modules, their place in their system's module list, and their last status maps.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{self, Listing};
use super::{structural, systems, PgStore};
use crate::domain::module::Module;
use crate::domain::system::System;
use crate::domain::{ModuleId, SystemId, ValidationError};
use crate::events::EngineEvent;
use crate::store::repo::{Announce, Change, ModuleRepo, ModuleStatus, ModuleStatusRepo};
use crate::store::{Page, PageRequest, StoreError, StoreResult};

const LISTING: Listing<'static> = Listing {
    columns: "doc",
    from_where: "modules WHERE ($1::text IS NULL OR strpos(driver_lc, $1) > 0 OR strpos(custom_name_lc, $1) > 0) \
                 AND ($2::text IS NULL OR system_id = $2) AND ($3::text IS NULL OR driver = $3)",
    order: "id",
};

#[async_trait]
impl ModuleRepo for PgStore {
    async fn get_module(&self, id: ModuleId) -> StoreResult<Module> {
        self.bounded(|client| async move { find(&client, &id, false).await?.ok_or(StoreError::NotFound("module")) })
            .await
    }

    /// Like sled: `q` is looked for in the driver and the custom name, `driver` must match exactly.
    async fn list_modules(
        &self,
        q: Option<String>,
        system: Option<SystemId>,
        driver: Option<String>,
        page: PageRequest,
    ) -> StoreResult<Page<Module>> {
        let q = q.map(|q| q.to_lowercase());
        let system = system.as_ref().map(SystemId::as_str);
        self.bounded(|client| async move {
            LISTING.page(&client, &[&q, &system, &driver], page, |row| rows::decode(row, 0)).await
        })
        .await
    }

    async fn modules_of_system(&self, system: SystemId) -> StoreResult<Vec<Module>> {
        self.bounded(|client| async move {
            let system = systems::find(&client, &system, false).await?.ok_or(StoreError::NotFound("system"))?;
            let ids: Vec<&str> = system.modules.iter().map(ModuleId::as_str).collect();
            let found: Vec<Module> =
                rows::decode_all(&rows::query(&client, "SELECT doc FROM modules WHERE id = ANY($1)", &[&ids]).await?)?;
            // In the system's order; a listed module that is gone is left out, as sled does.
            Ok(system.modules.iter().filter_map(|id| found.iter().find(|m| &m.id == id).cloned()).collect())
        })
        .await
    }

    async fn insert_module(&self, module: Module, events: Vec<EngineEvent>) -> StoreResult<Module> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            write(&tx, &module, None).await?;
            self.commit(tx, &events).await?;
            Ok(module)
        })
        .await
    }

    async fn update_module(
        &self,
        id: ModuleId,
        change: Change<Module>,
        announce: Announce<Module>,
    ) -> StoreResult<(Module, Vec<EngineEvent>)> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            let previous = find(&tx, &id, true).await?.ok_or(StoreError::NotFound("module"))?;
            let updated = change(previous.clone())?;
            let events = announce(&updated);
            write(&tx, &updated, Some(previous)).await?;
            self.commit(tx, &events).await?;
            Ok((updated, events))
        })
        .await
    }

    async fn delete_module(&self, id: ModuleId, events: Vec<EngineEvent>) -> StoreResult<()> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            let module = find(&tx, &id, true).await?.ok_or(StoreError::NotFound("module"))?;
            // Its status goes with it (ON DELETE CASCADE).
            rows::execute(&tx, "DELETE FROM modules WHERE id = $1", &[&id.as_str()]).await?;
            if let Some(system) = &module.control_system_id {
                edit_system(&tx, system, |s| s.modules.retain(|m| m != &id)).await?;
            }
            self.commit(tx, &events).await
        })
        .await
    }
}

async fn find<C: GenericClient>(client: &C, id: &ModuleId, lock: bool) -> StoreResult<Option<Module>> {
    let sql =
        if lock { "SELECT doc FROM modules WHERE id = $1 FOR UPDATE" } else { "SELECT doc FROM modules WHERE id = $1" };
    rows::query_opt(client, sql, &[&id.as_str()]).await?.map(|row| rows::decode(&row, 0)).transpose()
}

/// Stores a module (`previous` is the stored one, `None` for a new module). Like sled: a module that
/// moves to another system leaves the old system's list and is appended to the new one's.
async fn write<C: GenericClient>(client: &C, module: &Module, previous: Option<Module>) -> StoreResult<()> {
    if let Some(system) = &module.control_system_id {
        if systems::find(client, system, true).await?.is_none() {
            return Err(ValidationError::new("control_system_id", format!("system {system} does not exist")).into());
        }
    }
    put(client, module, previous.is_none()).await?;
    let old_system = previous.and_then(|p| p.control_system_id);
    if old_system == module.control_system_id {
        return Ok(());
    }
    if let Some(old) = &old_system {
        edit_system(client, old, |s| s.modules.retain(|m| m != &module.id)).await?;
    }
    if let Some(new) = &module.control_system_id {
        edit_system(client, new, |s| {
            if !s.modules.contains(&module.id) {
                s.modules.push(module.id.clone());
            }
        })
        .await?;
    }
    Ok(())
}

pub(super) async fn put<C: GenericClient>(client: &C, module: &Module, new: bool) -> StoreResult<()> {
    let sql = if new {
        "INSERT INTO modules (id, system_id, driver, driver_lc, custom_name_lc, doc) VALUES ($1, $2, $3, $4, $5, $6)"
    } else {
        "UPDATE modules SET system_id = $2, driver = $3, driver_lc = $4, custom_name_lc = $5, doc = $6 WHERE id = $1"
    };
    let system = module.control_system_id.as_ref().map(SystemId::as_str);
    let custom_name = module.custom_name.as_ref().map(|n| n.as_str().to_lowercase());
    let params: rows::Params<'_> = &[
        &module.id.as_str(),
        &system,
        &module.driver,
        &module.driver.to_lowercase(),
        &custom_name,
        &rows::doc(module)?,
    ];
    rows::execute(client, sql, params).await?;
    Ok(())
}

/// Changes a stored system's record (its module list); a system that is gone is left alone.
async fn edit_system<C: GenericClient>(client: &C, id: &SystemId, edit: impl FnOnce(&mut System)) -> StoreResult<()> {
    if let Some(mut system) = systems::find(client, id, true).await? {
        edit(&mut system);
        systems::put(client, &system, false).await?;
    }
    Ok(())
}

#[async_trait]
impl ModuleStatusRepo for PgStore {
    async fn module_statuses(&self) -> StoreResult<Vec<ModuleStatus>> {
        self.bounded(|client| async move {
            let found =
                rows::query(&client, "SELECT module_id, doc FROM module_status ORDER BY module_id", &[]).await?;
            let mut statuses = Vec::with_capacity(found.len());
            for row in &found {
                if let Some(id) = ModuleId::parse(row.try_get(0)?) {
                    statuses.push((id, rows::decode(row, 1)?));
                }
            }
            Ok(statuses)
        })
        .await
    }

    /// Like sled: a module deleted meanwhile gets nothing.
    async fn save_module_statuses(&self, statuses: Vec<ModuleStatus>) -> StoreResult<()> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let sql = "INSERT INTO module_status (module_id, doc) SELECT id, $2::jsonb FROM modules WHERE id = $1 \
                       ON CONFLICT (module_id) DO UPDATE SET doc = excluded.doc";
            for (id, status) in &statuses {
                rows::execute(&tx, sql, &[&id.as_str(), &serde_json::Value::Object(status.clone())]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}
