//! Writing a whole [`Snapshot`] into an empty database, in one transaction: owners before what they own,
//! ids, timestamps and order as the snapshot has them (queues and logs get their sequence numbers in
//! snapshot order).

use deadpool_postgres::{GenericClient, Transaction};

use super::{callouts, instances, modules, outbound, rows, runs, systems, triggers, PgStore};
use crate::store::snapshot::{Counts, Snapshot};
use crate::store::StoreResult;

/// What an import did.
#[derive(Debug, PartialEq, Eq)]
pub enum Imported {
    Written,
    /// The database already held data: `rows` rows in `table` (the first such table), nothing written.
    RefusedNotEmpty {
        table: &'static str,
        rows: usize,
    },
}

/// The tables [`Snapshot::counts`] names, in its order.
const TABLES: [&str; 16] = [
    "systems",
    "modules",
    "module_status",
    "triggers",
    "instances",
    "instance_state",
    "api_keys",
    "callouts",
    "callout_log",
    "outbound_subscriptions",
    "outbound_queue",
    "outbound_log",
    "outbox",
    "runs",
    "receipts",
    "webhook_deliveries",
];

impl PgStore {
    /// How many rows each table holds.
    pub async fn counts(&self) -> StoreResult<Counts> {
        let client = self.pool.get().await?;
        count_tables(&client).await
    }

    /// Writes `snapshot`; refused, with nothing written, unless every table is empty.
    pub async fn import(&self, snapshot: &Snapshot) -> StoreResult<Imported> {
        let mut client = self.pool.get().await?;
        client.batch_execute("SET statement_timeout = 0").await?;
        let tx = client.transaction().await?;
        rows::execute(&tx, "LOCK TABLE systems, api_keys, outbound_subscriptions IN EXCLUSIVE MODE", &[]).await?;
        if let Some((table, n)) = count_tables(&tx).await?.into_iter().find(|(_, n)| *n > 0) {
            return Ok(Imported::RefusedNotEmpty { table, rows: n });
        }
        write_structure(&tx, snapshot).await?;
        write_outbound(&tx, snapshot).await?;
        write_history(&tx, snapshot).await?;
        tx.commit().await?;
        Ok(Imported::Written)
    }
}

async fn count_tables<C: GenericClient>(client: &C) -> StoreResult<Counts> {
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        // Table names come from the constant above, never from input.
        let row = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await?;
        counts.push((table, usize::try_from(row.try_get::<_, i64>(0)?).unwrap_or(usize::MAX)));
    }
    Ok(counts)
}

/// Systems, modules and their statuses, triggers, instances with their states, keys, callouts.
async fn write_structure(tx: &Transaction<'_>, s: &Snapshot) -> StoreResult<()> {
    for system in &s.systems {
        systems::put(tx, system, true).await?;
    }
    for module in &s.modules {
        modules::put(tx, module, true).await?;
    }
    for (id, status) in &s.module_statuses {
        let sql = "INSERT INTO module_status (module_id, doc) VALUES ($1, $2)";
        rows::execute(tx, sql, &[&id.as_str(), &serde_json::Value::Object(status.clone())]).await?;
    }
    for trigger in &s.triggers {
        triggers::put(tx, trigger, true).await?;
    }
    for (instance, state) in &s.instances {
        instances::insert(tx, instance, state).await?;
    }
    for key in &s.api_keys {
        rows::execute(tx, "INSERT INTO api_keys (id, doc) VALUES ($1, $2)", &[&key.id.as_str(), &rows::doc(key)?])
            .await?;
    }
    for callout in &s.callouts {
        callouts::put(tx, callout, true).await?;
    }
    for (callout, entry) in &s.callout_log {
        let sql = "INSERT INTO callout_log (callout_id, entry_id, at, doc) VALUES ($1, $2, $3, $4)";
        let params: rows::Params<'_> = &[&callout.as_str(), &entry.id, &rows::to_i64(entry.at), &rows::doc(entry)?];
        rows::execute(tx, sql, params).await?;
    }
    Ok(())
}

/// Subscriptions, their queued deliveries and attempt logs, and the outbox not yet drained.
async fn write_outbound(tx: &Transaction<'_>, s: &Snapshot) -> StoreResult<()> {
    for sub in &s.subscriptions {
        outbound::put(tx, sub).await?;
    }
    for (id, delivery) in &s.outbound_queue {
        let sql = "INSERT INTO outbound_queue (subscription_id, queued_at_ms, doc) VALUES ($1, $2, $3)";
        rows::execute(tx, sql, &[&id.as_str(), &rows::to_i64(delivery.queued_at_ms), &rows::doc(delivery)?]).await?;
    }
    for (id, attempt) in &s.outbound_log {
        outbound::insert_log(tx, id, attempt).await?;
    }
    for entry in &s.outbox {
        let (event, targets) = (rows::doc(&entry.event)?, rows::doc(&entry.targets)?);
        rows::execute(tx, "INSERT INTO outbox (event, targets) VALUES ($1, $2)", &[&event, &targets]).await?;
    }
    Ok(())
}

/// Runs, receipts and the delivery ids each instance has seen.
async fn write_history(tx: &Transaction<'_>, s: &Snapshot) -> StoreResult<()> {
    for run in &s.runs {
        runs::stage_run(tx, run).await?;
    }
    for r in &s.receipts {
        let sql =
            "INSERT INTO receipts (id, instance_id, received_at, status, fired, doc) VALUES ($1, $2, $3, $4, $5, $6)";
        let params: rows::Params<'_> = &[
            &r.id.as_str(),
            &r.trigger_instance.as_str(),
            &rows::to_i64(r.received_at),
            &i32::from(r.status),
            &r.fired,
            &rows::doc(r)?,
        ];
        rows::execute(tx, sql, params).await?;
    }
    for (instance, seen) in &s.seen_deliveries {
        let sql = "INSERT INTO webhook_deliveries (instance_id, delivery_id, at, doc) VALUES ($1, $2, $3, $4)";
        let params: rows::Params<'_> =
            &[&instance.as_str(), &seen.delivery_id, &rows::to_i64(seen.at), &rows::doc(seen)?];
        rows::execute(tx, sql, params).await?;
    }
    Ok(())
}
