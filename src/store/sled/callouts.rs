//! Callouts and their logs.
//!
//! `callouts` holds each callout by id. `callout_log` lives in the receipts' database (written often,
//! never synced, lost at worst in a crash) keyed `callout \0 entry`: entry ids are UUIDv7, so one
//! callout's entries are one prefix, oldest first.

use sled::transaction::ConflictableTransactionError;

use super::codec::{self, decode, encode, index_key, index_prefix};
use super::{Page, PageRequest, SledStore, StoreError, StoreResult};
use crate::domain::callout::Callout;
use crate::domain::callout_log::LogEntry;
use crate::domain::ids::CalloutId;
use crate::domain::ValidationError;
use crate::events::EngineEvent;

impl SledStore {
    /// Stores a new callout; a scope must name an existing system.
    pub fn insert_callout(&self, callout: Callout, events: &[EngineEvent]) -> StoreResult<Callout> {
        let _guard = self.structure_lock();
        self.check_scope(&callout)?;
        self.transact(&[&self.callouts], events, |t| codec::tx_put(&t[0], &callout.id, &callout))?;
        Ok(callout)
    }

    pub fn get_callout(&self, id: &CalloutId) -> StoreResult<Callout> {
        codec::get(&self.callouts, id)?.ok_or(StoreError::NotFound("callout"))
    }

    pub fn list_callouts(&self, page: PageRequest) -> StoreResult<Page<Callout>> {
        codec::list(&self.callouts, page, |_: &Callout| true)
    }

    pub fn all_callouts(&self) -> StoreResult<Vec<Callout>> {
        self.callouts.iter().values().map(|v| decode(&v?)).collect()
    }

    /// Changes a stored callout with `change`; `announce` describes the result for its events, which
    /// commit with it and are returned.
    pub fn update_callout(
        &self,
        id: &CalloutId,
        change: impl FnOnce(Callout) -> Result<Callout, ValidationError>,
        announce: impl FnOnce(&Callout) -> Vec<EngineEvent>,
    ) -> StoreResult<(Callout, Vec<EngineEvent>)> {
        let _guard = self.structure_lock();
        let updated = change(self.get_callout(id)?)?;
        self.check_scope(&updated)?;
        let events = announce(&updated);
        self.transact(&[&self.callouts], &events, |t| codec::tx_put(&t[0], &updated.id, &updated))?;
        Ok((updated, events))
    }

    /// Removes a callout, then its log; `announce` describes it for its events.
    pub fn delete_callout(
        &self,
        id: &CalloutId,
        announce: impl FnOnce(&Callout) -> Vec<EngineEvent>,
    ) -> StoreResult<Vec<EngineEvent>> {
        let guard = self.structure_lock();
        let events = announce(&self.get_callout(id)?);
        self.transact(&[&self.callouts], &events, |t| match t[0].remove(id.as_str())? {
            Some(_) => Ok(()),
            None => Err(ConflictableTransactionError::Abort(StoreError::NotFound("callout"))),
        })?;
        drop(guard);
        self.remove_oldest_callout_log(id, usize::MAX)?;
        Ok(events)
    }

    /// The callouts scoped to a system, for its deletion to take with it. Callers hold the structure lock.
    pub(super) fn callouts_of(&self, system: &crate::domain::SystemId) -> StoreResult<Vec<CalloutId>> {
        let mut found = Vec::new();
        for value in self.callouts.iter().values() {
            let callout: Callout = decode(&value?)?;
            if callout.spec.system_id.as_ref() == Some(system) {
                found.push(callout.id);
            }
        }
        Ok(found)
    }

    /// Callers hold the structure lock, so the system cannot go between this read and their write.
    fn check_scope(&self, callout: &Callout) -> StoreResult<()> {
        match &callout.spec.system_id {
            Some(system) if !self.systems.contains_key(system.as_str())? => {
                Err(ValidationError::new("system_id", format!("system {system} does not exist")).into())
            }
            _ => Ok(()),
        }
    }

    /// Stores log entries of callouts that still exist: one asked just before its deletion leaves
    /// nothing behind.
    pub fn append_callout_log(&self, entries: &[(CalloutId, LogEntry)]) -> StoreResult<()> {
        let mut batch = sled::Batch::default();
        let mut known: Vec<&CalloutId> = Vec::new();
        for (callout, entry) in entries {
            if !known.contains(&callout) {
                if !self.callouts.contains_key(callout.as_str())? {
                    continue;
                }
                known.push(callout);
            }
            batch.insert(index_key(callout.as_str(), &entry.id), encode(entry)?);
        }
        self.callout_log.apply_batch(batch)?;
        Ok(())
    }

    pub fn count_callout_log(&self, callout: &CalloutId) -> StoreResult<usize> {
        let mut count = 0;
        for key in self.callout_log.scan_prefix(index_prefix(callout.as_str())).keys() {
            key?;
            count += 1;
        }
        Ok(count)
    }

    /// Removes a callout's `n` oldest log entries.
    pub fn remove_oldest_callout_log(&self, callout: &CalloutId, n: usize) -> StoreResult<()> {
        for key in self.callout_log.scan_prefix(index_prefix(callout.as_str())).keys().take(n) {
            self.callout_log.remove(key?)?;
        }
        Ok(())
    }

    /// Removes every log entry made before `cutoff` (epoch milliseconds); returns how many.
    pub fn remove_callout_log_before(&self, cutoff: u64) -> StoreResult<usize> {
        let mut removed = 0;
        for entry in self.callout_log.iter() {
            let (key, value) = entry?;
            if decode::<LogEntry>(&value)?.at < cutoff {
                self.callout_log.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A callout's log, newest first.
    pub fn list_callout_log(&self, callout: &CalloutId, page: PageRequest) -> StoreResult<Page<LogEntry>> {
        self.get_callout(callout)?;
        let prefix = index_prefix(callout.as_str());
        let total = self.count_callout_log(callout)?;
        let values = self.callout_log.scan_prefix(prefix).values().rev();
        let items = values.skip(page.offset).take(page.limit).map(|v| decode(&v?)).collect::<StoreResult<_>>()?;
        Ok(Page { total, items })
    }
}
