//! Runs of trigger actions.
//!
//! `runs` is keyed `instance \0 fire number` (zero-padded), so an instance's runs are one prefix in
//! fire order; `runs_by_id` maps a run id to that key; `runs_open` holds the keys of runs not yet
//! finished, which a start resumes. A run is first written by the committer, in the transaction that
//! stores its fire (see `durability`); the action worker then updates it.

use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::codec::{self, decode, index_key, index_prefix, tx_put, TxResult};
use super::{Page, PageRequest, SledStore, StoreResult};
use crate::domain::run::{Run, RunFilter};
use crate::domain::{InstanceId, RunId};

fn run_key(run: &Run) -> Vec<u8> {
    index_key(run.trigger_instance.as_str(), &format!("{:020}", run.fire))
}

impl SledStore {
    /// The run trees, in the order [`stage_run_tx`] takes them.
    pub(super) fn run_trees(&self) -> [sled::Tree; 3] {
        [self.runs.clone(), self.runs_by_id.clone(), self.runs_open.clone()]
    }

    /// Stores new runs outside the committer (what a failed batch leaves at shutdown).
    pub fn insert_runs(&self, runs: &[Run]) -> StoreResult<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let trees = self.run_trees();
        trees[..].transaction(|t| {
            for run in runs {
                stage_run_tx(&t[0], &t[1], &t[2], run)?;
            }
            Ok::<_, sled::transaction::ConflictableTransactionError<super::StoreError>>(())
        })?;
        self.flush()
    }

    /// Hands runs that a commit stored to whoever executes them.
    pub(super) fn runs_committed(&self, runs: Vec<Run>) {
        if runs.is_empty() {
            return;
        }
        if let Some(listener) = self.run_listener.get() {
            for run in runs {
                // The worker gone means shutting down: the run is stored, and the next start resumes it.
                let _ = listener.send(run);
            }
        }
    }

    /// Where committed runs go; only the first call has an effect.
    pub fn set_run_listener(&self, listener: tokio::sync::mpsc::UnboundedSender<Run>) {
        let _ = self.run_listener.set(listener);
    }

    /// Saves a run's progress; false (and nothing written) when the run is gone, its instance deleted.
    pub fn save_run(&self, run: &Run) -> StoreResult<bool> {
        let trees = self.run_trees();
        let saved = trees[..].transaction(|t| {
            if t[1].get(run.id.as_str())?.is_none() {
                return Ok(false);
            }
            stage_run_tx(&t[0], &t[1], &t[2], run)?;
            Ok(true)
        })?;
        Ok(saved)
    }

    /// Every run not yet finished, in fire order per instance.
    pub fn open_runs(&self) -> StoreResult<Vec<Run>> {
        let mut runs = Vec::new();
        for key in self.runs_open.iter().keys() {
            if let Some(run) = codec::get::<Run>(&self.runs, key?)? {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// An instance's runs, newest first.
    pub fn list_runs(&self, instance: &InstanceId, filter: &RunFilter, page: PageRequest) -> StoreResult<Page<Run>> {
        let mut total = 0;
        let mut items = Vec::new();
        for value in self.runs.scan_prefix(index_prefix(instance.as_str())).values().rev() {
            let run: Run = decode(&value?)?;
            if !filter.admits(&run) {
                continue;
            }
            if total >= page.offset && items.len() < page.limit {
                items.push(run);
            }
            total += 1;
        }
        Ok(Page { total, items })
    }

    pub fn get_run(&self, instance: &InstanceId, id: &RunId) -> StoreResult<Option<Run>> {
        let Some(key) = self.runs_by_id.get(id.as_str())? else { return Ok(None) };
        if !key.starts_with(&index_prefix(instance.as_str())) {
            return Ok(None);
        }
        codec::get(&self.runs, key)
    }

    /// Removes the oldest finished runs of an instance beyond the newest `keep`; reads only keys,
    /// and decodes only the runs it removes.
    pub fn trim_runs(&self, instance: &InstanceId, keep: usize) -> StoreResult<()> {
        let mut finished = Vec::new();
        for key in self.runs.scan_prefix(index_prefix(instance.as_str())).keys() {
            let key = key?;
            if !self.runs_open.contains_key(&key)? {
                finished.push(key);
            }
        }
        let excess = finished.len().saturating_sub(keep);
        for key in finished.into_iter().take(excess) {
            if let Some(run) = codec::get::<Run>(&self.runs, &key)? {
                self.remove_run(&run)?;
            }
        }
        Ok(())
    }

    /// Removes every run of a deleted instance.
    pub fn remove_runs(&self, instance: &InstanceId) -> StoreResult<()> {
        for value in self.runs.scan_prefix(index_prefix(instance.as_str())).values() {
            self.remove_run(&decode::<Run>(&value?)?)?;
        }
        Ok(())
    }

    fn remove_run(&self, run: &Run) -> StoreResult<()> {
        let key = run_key(run);
        let trees = self.run_trees();
        trees[..].transaction(|t| {
            t[0].remove(key.as_slice())?;
            t[1].remove(run.id.as_str())?;
            t[2].remove(key.as_slice())?;
            Ok::<_, sled::transaction::ConflictableTransactionError<super::StoreError>>(())
        })?;
        Ok(())
    }

    pub fn count_open_runs(&self) -> usize {
        self.runs_open.len()
    }
}

/// Writes a run into the run trees of a transaction (`runs`, `runs_by_id`, `runs_open`).
pub(super) fn stage_run_tx(
    runs: &TransactionalTree,
    by_id: &TransactionalTree,
    open: &TransactionalTree,
    run: &Run,
) -> TxResult<()> {
    let key = run_key(run);
    tx_put(runs, &key, run)?;
    by_id.insert(run.id.as_str(), key.as_slice())?;
    if run.status.finished() {
        open.remove(key.as_slice())?;
    } else {
        open.insert(key.as_slice(), &[])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::run::{Attempt, FireInfo, RunStatus};
    use crate::domain::trigger::{Actions, Mailer};

    fn run_of(store: &SledStore, instance: &crate::domain::instance::TriggerInstance, fire: u64) -> Run {
        let mailer = Mailer { emails: vec!["a@example.com".into()], content: "c".into() };
        let actions = Actions { mailers: vec![mailer], ..Actions::default() };
        let info = FireInfo {
            instance: instance.id.clone(),
            system: instance.control_system_id.clone(),
            trigger: instance.trigger_id.clone(),
            fire,
            fired_at: 1,
        };
        let run = Run::for_fire(info, &actions, "t", None).unwrap();
        let trees = store.run_trees();
        trees[..]
            .transaction(|t| {
                stage_run_tx(&t[0], &t[1], &t[2], &run)?;
                Ok::<_, sled::transaction::ConflictableTransactionError<super::super::StoreError>>(())
            })
            .unwrap();
        run
    }

    fn finish(store: &SledStore, run: &mut Run) {
        let done = Attempt { started_at: 1, finished_at: 2, latency_ms: 1, succeeded: true, error: None };
        run.record(0, done, None);
        assert!(store.save_run(run).unwrap());
    }

    #[test]
    fn open_runs_are_resumed_and_finished_ones_trimmed_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let inst = store.seed_instance();
        let mut runs: Vec<Run> = (1..=4).map(|fire| run_of(&store, &inst, fire)).collect();
        for run in &mut runs[..3] {
            finish(&store, run);
        }

        assert_eq!(store.open_runs().unwrap(), vec![runs[3].clone()]);
        store.trim_runs(&inst.id, 1).unwrap();

        let all = PageRequest { offset: 0, limit: 10 };
        let listed = store.list_runs(&inst.id, &RunFilter::default(), all).unwrap();
        let fires: Vec<u64> = listed.items.iter().map(|r| r.fire).collect();
        assert_eq!(fires, [4, 3], "newest first; the two oldest finished runs trimmed");
        let failed = RunFilter { status: Some(RunStatus::Failed) };
        assert_eq!(store.list_runs(&inst.id, &failed, all).unwrap().total, 0);
        assert_eq!(store.get_run(&inst.id, &runs[2].id).unwrap().map(|r| r.fire), Some(3));
        assert_eq!(store.get_run(&InstanceId::generate(), &runs[2].id).unwrap(), None, "only under its instance");
    }

    #[test]
    fn a_deleted_instances_runs_go_and_are_not_brought_back_by_a_late_save() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let inst = store.seed_instance();
        let mut run = run_of(&store, &inst, 1);

        store.remove_runs(&inst.id).unwrap();
        run.status = RunStatus::Running;

        assert!(!store.save_run(&run).unwrap());
        assert!(store.open_runs().unwrap().is_empty());
        assert!(store.runs.is_empty() && store.runs_by_id.is_empty());
    }
}
