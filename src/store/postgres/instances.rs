//! Trigger instances and their runtime state. An instance goes with its system and with its trigger
//! (ON DELETE CASCADE), its state with it.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::{self, Listing};
use super::{structural, systems, triggers, PgStore};
use crate::domain::instance::{is_pulse_condition, InstanceState, TriggerInstance};
use crate::domain::trigger::Trigger;
use crate::domain::{InstanceId, SystemId, TriggerId, ValidationError};
use crate::events::EngineEvent;
use crate::store::repo::{Announce, BuildInstance, InstanceRecord, InstanceRepo};
use crate::store::{InstanceFilter, Page, PageRequest, StoreError, StoreResult};

/// An instance and its state (sled reads a missing state as the default one).
const RECORD: &str = "SELECT i.doc, s.doc FROM instances i LEFT JOIN instance_state s ON s.instance_id = i.id";

const OF_SYSTEM: Listing<'static> = Listing {
    columns: "i.doc, s.doc",
    from_where: "instances i LEFT JOIN instance_state s ON s.instance_id = i.id WHERE i.system_id = $1 \
                 AND ($2::text IS NULL OR i.trigger_id = $2) \
                 AND ($3::bool IS NULL OR coalesce((s.doc->>'triggered')::bool, false) = $3) \
                 AND ($4::bool IS NULL OR (i.doc->>'important')::bool = $4)",
    order: "i.id",
};

#[async_trait]
impl InstanceRepo for PgStore {
    async fn insert_instance(
        &self,
        system: SystemId,
        trigger: TriggerId,
        build: BuildInstance,
        events: Vec<EngineEvent>,
    ) -> StoreResult<InstanceRecord> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            systems::find(&tx, &system, true).await?.ok_or(StoreError::NotFound("system"))?;
            let trigger = triggers::find(&tx, &trigger, true)
                .await?
                .ok_or_else(|| ValidationError::new("trigger_id", format!("trigger {trigger} does not exist")))?;
            let instance = build(&trigger);
            let state = InstanceState::default();
            insert(&tx, &instance, &state).await?;
            self.commit(tx, &events).await?;
            Ok((instance, state))
        })
        .await
    }

    async fn get_instance(&self, id: InstanceId) -> StoreResult<InstanceRecord> {
        self.bounded(|client| async move {
            find(&client, &id, false).await?.ok_or(StoreError::NotFound("trigger instance"))
        })
        .await
    }

    async fn get_instance_in(&self, system: SystemId, id: InstanceId) -> StoreResult<InstanceRecord> {
        self.bounded(|client| async move { find_in(&client, &system, &id, false).await }).await
    }

    async fn list_instances_of_system(
        &self,
        system: SystemId,
        filter: InstanceFilter,
        page: PageRequest,
    ) -> StoreResult<Page<InstanceRecord>> {
        self.bounded(|client| async move {
            systems::find(&client, &system, false).await?.ok_or(StoreError::NotFound("system"))?;
            let trigger = filter.trigger_id.as_ref().map(TriggerId::as_str);
            let params: rows::Params<'_> = &[&system.as_str(), &trigger, &filter.triggered, &filter.important];
            OF_SYSTEM.page(&client, params, page, record).await
        })
        .await
    }

    async fn list_instances_of_trigger(&self, trigger: TriggerId) -> StoreResult<Vec<InstanceRecord>> {
        self.bounded(|client| async move {
            triggers::find(&client, &trigger, false).await?.ok_or(StoreError::NotFound("trigger"))?;
            let sql = format!("{RECORD} WHERE i.trigger_id = $1 ORDER BY i.id");
            rows::query(&client, &sql, &[&trigger.as_str()]).await?.iter().map(record).collect()
        })
        .await
    }

    async fn update_instance(
        &self,
        system: SystemId,
        id: InstanceId,
        change: Box<dyn FnOnce(TriggerInstance) -> TriggerInstance + Send>,
        announce: Announce<TriggerInstance>,
    ) -> StoreResult<(InstanceRecord, Vec<EngineEvent>)> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            let (instance, state) = find_in(&tx, &system, &id, true).await?;
            let updated = change(instance);
            let events = announce(&updated);
            let sql = "UPDATE instances SET doc = $2 WHERE id = $1";
            rows::execute(&tx, sql, &[&id.as_str(), &rows::doc(&updated)?]).await?;
            self.commit(tx, &events).await?;
            Ok(((updated, state), events))
        })
        .await
    }

    async fn delete_instance(&self, system: SystemId, id: InstanceId, events: Vec<EngineEvent>) -> StoreResult<()> {
        self.bounded(|mut client| async move {
            let tx = structural(&mut client).await?;
            find_in(&tx, &system, &id, true).await?;
            rows::execute(&tx, "DELETE FROM instances WHERE id = $1", &[&id.as_str()]).await?;
            self.commit(tx, &events).await
        })
        .await
    }

    async fn webhook_target(&self, id: InstanceId) -> StoreResult<Option<(TriggerInstance, Trigger, InstanceState)>> {
        self.bounded(|client| async move {
            let sql = "SELECT i.doc, t.doc, s.doc FROM instances i JOIN triggers t ON t.id = i.trigger_id \
                       LEFT JOIN instance_state s ON s.instance_id = i.id WHERE i.id = $1";
            let Some(row) = rows::query_opt(&client, sql, &[&id.as_str()]).await? else {
                return Ok(None);
            };
            Ok(Some((rows::decode(&row, 0)?, rows::decode(&row, 1)?, state(&row, 2)?)))
        })
        .await
    }

    async fn find_state(&self, id: InstanceId) -> StoreResult<Option<InstanceState>> {
        self.bounded(|client| async move {
            let sql = "SELECT doc FROM instance_state WHERE instance_id = $1";
            rows::query_opt(&client, sql, &[&id.as_str()]).await?.map(|row| rows::decode(&row, 0)).transpose()
        })
        .await
    }

    /// Like sled: conditions a pulse window held are cleared, and an instance they held triggered is
    /// not triggered any more; comparisons keep their values.
    async fn clear_pulses(&self) -> StoreResult<usize> {
        self.bounded(|mut client| async move {
            let tx = client.transaction().await?;
            let stored = rows::query(&tx, "SELECT instance_id, doc FROM instance_state FOR UPDATE", &[]).await?;
            let mut cleared = 0;
            for row in &stored {
                if let Some(state) = without_pulses(rows::decode(row, 1)?) {
                    let id: &str = row.try_get(0)?;
                    put_state(&tx, id, &state).await?;
                    cleared += 1;
                }
            }
            tx.commit().await?;
            Ok(cleared)
        })
        .await
    }

    async fn instances_with_levels_or_times(&self) -> StoreResult<Vec<InstanceId>> {
        self.bounded(|client| async move {
            let sql = "SELECT i.id FROM instances i JOIN triggers t ON t.id = i.trigger_id \
                       WHERE jsonb_array_length(coalesce(t.doc->'conditions'->'comparisons', '[]')) > 0 \
                       OR jsonb_array_length(coalesce(t.doc->'conditions'->'time_dependents', '[]')) > 0 \
                       ORDER BY i.id";
            Ok(ids(&rows::query(&client, sql, &[]).await?))
        })
        .await
    }

    async fn instance_ids_of_system(&self, system: SystemId) -> StoreResult<Vec<InstanceId>> {
        self.bounded(|client| async move {
            let sql = "SELECT id FROM instances WHERE system_id = $1 ORDER BY id";
            Ok(ids(&rows::query(&client, sql, &[&system.as_str()]).await?))
        })
        .await
    }

    async fn instance_ids_of_trigger(&self, trigger: TriggerId) -> StoreResult<Vec<InstanceId>> {
        self.bounded(|client| async move {
            let sql = "SELECT id FROM instances WHERE trigger_id = $1 ORDER BY id";
            Ok(ids(&rows::query(&client, sql, &[&trigger.as_str()]).await?))
        })
        .await
    }
}

pub(super) async fn insert<C: GenericClient>(
    client: &C,
    instance: &TriggerInstance,
    state: &InstanceState,
) -> StoreResult<()> {
    let sql = "INSERT INTO instances (id, system_id, trigger_id, doc) VALUES ($1, $2, $3, $4)";
    let (id, system, trigger) =
        (instance.id.as_str(), instance.control_system_id.as_str(), instance.trigger_id.as_str());
    rows::execute(client, sql, &[&id, &system, &trigger, &rows::doc(instance)?]).await?;
    let sql = "INSERT INTO instance_state (instance_id, version, doc) VALUES ($1, $2, $3)";
    rows::execute(client, sql, &[&id, &rows::to_i64(state.version), &rows::doc(state)?]).await?;
    Ok(())
}

async fn put_state<C: GenericClient>(client: &C, id: &str, state: &InstanceState) -> StoreResult<()> {
    let sql = "UPDATE instance_state SET version = $2, doc = $3 WHERE instance_id = $1";
    rows::execute(client, sql, &[&id, &rows::to_i64(state.version), &rows::doc(state)?]).await?;
    Ok(())
}

async fn find<C: GenericClient>(client: &C, id: &InstanceId, lock: bool) -> StoreResult<Option<InstanceRecord>> {
    let sql = format!("{RECORD} WHERE i.id = $1{}", if lock { " FOR UPDATE OF i" } else { "" });
    rows::query_opt(client, &sql, &[&id.as_str()]).await?.as_ref().map(record).transpose()
}

/// An instance, only if it belongs to `system`.
pub(super) async fn find_in<C: GenericClient>(
    client: &C,
    system: &SystemId,
    id: &InstanceId,
    lock: bool,
) -> StoreResult<InstanceRecord> {
    match find(client, id, lock).await? {
        Some(found) if &found.0.control_system_id == system => Ok(found),
        _ => Err(StoreError::NotFound("trigger instance")),
    }
}

fn record(row: &Row) -> StoreResult<InstanceRecord> {
    Ok((rows::decode(row, 0)?, state(row, 1)?))
}

/// The state in `column`, the default one when there is none.
fn state(row: &Row, column: usize) -> StoreResult<InstanceState> {
    let value: Option<serde_json::Value> = row.try_get(column)?;
    Ok(value.map(serde_json::from_value).transpose()?.unwrap_or_default())
}

fn ids(rows: &[Row]) -> Vec<InstanceId> {
    rows.iter().filter_map(|row| row.try_get(0).ok().and_then(InstanceId::parse)).collect()
}

/// The state with its pulse-held conditions cleared, or `None` when nothing changes (as sled decides).
fn without_pulses(mut state: InstanceState) -> Option<InstanceState> {
    let held: Vec<String> =
        state.conditions.iter().filter(|(k, v)| **v && is_pulse_condition(k)).map(|(k, _)| k.clone()).collect();
    if held.is_empty() && !(state.triggered && state.conditions.is_empty()) {
        return None;
    }
    let conditions = std::sync::Arc::make_mut(&mut state.conditions);
    for name in held {
        conditions.insert(name, false);
    }
    state.triggered = false;
    state.version += 1;
    Some(state)
}
