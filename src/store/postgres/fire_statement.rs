//! The group commit's one statement: a batch of fires committed in one round trip.

use std::collections::{HashMap, HashSet};

use super::{rows, PgStore};
use crate::domain::instance::InstanceState;
use crate::domain::run::Run;
use crate::domain::InstanceId;
use crate::store::fire::Write;
use crate::store::StoreResult;

/// The whole commit as one statement (one round trip, committed on its own): the states newer than
/// the stored ones (an instance deleted meanwhile gets nothing), the runs (as `runs::stage_run` writes
/// one) and the outbox entries of the events, in their order.
const COMMIT: &str = "WITH new_states AS (\
        UPDATE instance_state s SET version = v.version, doc = v.doc \
        FROM UNNEST($1::text[], $2::int8[], $3::jsonb[]) AS v(id, version, doc) \
        WHERE s.instance_id = v.id AND s.version < v.version), \
    new_runs AS (\
        INSERT INTO runs (instance_id, fire, id, status, finished, doc) \
        SELECT r.* FROM UNNEST($4::text[], $5::int8[], $6::text[], $7::text[], $8::bool[], $9::jsonb[]) \
            AS r(instance_id, fire, id, status, finished, doc) \
        WHERE EXISTS (SELECT 1 FROM instances i WHERE i.id = r.instance_id FOR KEY SHARE) \
        ON CONFLICT (instance_id, fire) DO UPDATE \
        SET id = excluded.id, status = excluded.status, finished = excluded.finished, doc = excluded.doc), \
    new_outbox AS (\
        INSERT INTO outbox (event, targets) \
        SELECT o.event, o.targets FROM UNNEST($10::jsonb[], $11::jsonb[]) WITH ORDINALITY AS o(event, targets, n) \
        ORDER BY o.n) \
    SELECT 1";

/// Commits `writes` (in queue order) with [`COMMIT`], then tells the event sink of the outbox entries
/// it wrote. Of an instance's states the newest wins; every event and run is kept.
pub(super) async fn commit(store: &PgStore, writes: &[&Write]) -> StoreResult<()> {
    let mut newest: HashMap<&InstanceId, &InstanceState> = HashMap::new();
    for write in writes {
        let kept = newest.entry(&write.id).or_insert(&write.state);
        if kept.version < write.state.version {
            *kept = &write.state;
        }
    }
    let mut states: Vec<_> = newest.into_iter().collect();
    // One lock order for every commit.
    states.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let ids: Vec<&str> = states.iter().map(|(id, _)| id.as_str()).collect();
    let versions: Vec<i64> = states.iter().map(|(_, state)| rows::to_i64(state.version)).collect();
    let docs = states.iter().map(|(_, state)| rows::doc(state)).collect::<StoreResult<Vec<_>>>()?;
    let runs = distinct_runs(writes.iter().filter_map(|write| write.run.as_ref()));
    let run_instances: Vec<&str> = runs.iter().map(|run| run.trigger_instance.as_str()).collect();
    let run_fires: Vec<i64> = runs.iter().map(|run| rows::to_i64(run.fire)).collect();
    let run_ids: Vec<&str> = runs.iter().map(|run| run.id.as_str()).collect();
    let run_statuses: Vec<&str> = runs.iter().map(|run| run.status.as_str()).collect();
    let run_finished: Vec<bool> = runs.iter().map(|run| run.status.finished()).collect();
    let run_docs = runs.iter().map(rows::doc).collect::<StoreResult<Vec<_>>>()?;
    let (sink, entries) = store.wanted(writes.iter().flat_map(|write| &write.events))?;
    let events = entries.iter().map(|entry| rows::doc(&entry.event)).collect::<StoreResult<Vec<_>>>()?;
    let targets = entries.iter().map(|entry| rows::doc(&entry.targets)).collect::<StoreResult<Vec<_>>>()?;
    let params: rows::Params<'_> = &[
        &ids,
        &versions,
        &docs,
        &run_instances,
        &run_fires,
        &run_ids,
        &run_statuses,
        &run_finished,
        &run_docs,
        &events,
        &targets,
    ];
    store.bounded(|client| async move { rows::execute(&client, COMMIT, params).await }).await?;
    if let Some(sink) = sink.filter(|_| !entries.is_empty()) {
        sink.staged();
    }
    Ok(())
}

/// One run per fire of an instance (the last queued wins, as one row per fire keeps), in queue order.
fn distinct_runs<'a>(runs: impl DoubleEndedIterator<Item = &'a Run>) -> Vec<&'a Run> {
    let mut seen = HashSet::new();
    let mut distinct: Vec<&Run> = runs.rev().filter(|run| seen.insert((&run.trigger_instance, run.fire))).collect();
    distinct.reverse();
    distinct
}
