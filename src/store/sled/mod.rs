//! The sled backend (0.34): one tree per entity, index trees kept in the same transactions, JSON values.
//!
//! [`SledStore`] is synchronous; the async side reaches it only through [`Store::run`], which moves each
//! call to tokio's blocking pool so a slow disk never stalls an HTTP worker.

mod api_keys;
mod batch_thread;
mod callouts;
mod codec;
mod durability;
mod export;
mod faults;
mod instances;
pub(crate) mod journal;
mod journal_file;
mod modules;
mod outbound;
#[cfg(test)]
mod outbound_tests;
pub(crate) mod outbox;
mod overlay;
mod receipts;
mod repo;
mod runs;
mod state;
mod systems;
mod triggers;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use sled::transaction::{TransactionError, TransactionalTree};
use sled::Transactional;
use tracing::Instrument;

pub(crate) use super::{Page, PageRequest, StoreError, StoreResult};
use crate::events::{EngineEvent, EventSink};

pub use durability::GroupCommit;
pub use faults::IoFaults;
pub use instances::InstanceFilter;
pub use receipts::SeenDelivery;

/// sled's own default: the background flusher syncs at most this long after a write.
const DEFAULT_FLUSH_EVERY_MS: u64 = 500;
/// The receipts' database, under the data directory.
const RECEIPTS_DIR: &str = "receipts";
/// The receipts' page cache: receipts are read when an admin looks, so memory is not spent keeping them.
const RECEIPTS_CACHE_BYTES: u64 = 16 << 20;

/// Bumped whenever the layout of stored data changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_KEY: &[u8] = b"format_version";

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(inner) => inner,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

pub struct SledStore {
    db: sled::Db,
    systems: sled::Tree,
    modules: sled::Tree,
    triggers: sled::Tree,
    instances: sled::Tree,
    instance_state: sled::Tree,
    instances_by_system: sled::Tree,
    instances_by_trigger: sled::Tree,
    api_keys: sled::Tree,
    callouts: sled::Tree,
    /// In the receipts' database: written often, never synced.
    callout_log: sled::Tree,
    /// Each module's last status map, restored at start.
    module_status: sled::Tree,
    /// Receipts live in a database of their own (`<data_dir>/receipts`), never synced: they need not
    /// survive a crash, and their volume must neither slow the syncs that acknowledge fires nor grow the
    /// database every state read and checkpoint goes through.
    receipts_db: sled::Db,
    receipts: sled::Tree,
    receipts_by_time: sled::Tree,
    /// Delivery ids seen per instance, for deduplication.
    deliveries: sled::Tree,
    /// Runs of trigger actions (see `runs`).
    runs: sled::Tree,
    runs_by_id: sled::Tree,
    runs_open: sled::Tree,
    /// Receives runs once the committer has stored them.
    run_listener: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<crate::domain::run::Run>>,
    /// Instance states journaled by the committer and not yet checkpointed into `instance_state`.
    overlay: overlay::Overlay,
    journal_dir: std::path::PathBuf,
    /// Failures tests inject into the journal's writes.
    faults: Arc<IoFaults>,
    /// Outbound subscriptions, delivery queues and attempt logs.
    outbound: outbound::OutboundTrees,
    /// Events the sink wants, written in the same transaction as the change they describe.
    outbox: sled::Tree,
    /// Decides which events go to the outbox, and hears when some did. Weak: the sink holds the
    /// store, and a cycle would keep sled open after shutdown.
    sink: std::sync::OnceLock<std::sync::Weak<dyn EventSink>>,
    /// Structural changes (creates, deletes, moves) read an index and then write in a transaction;
    /// sled transactions cannot scan, so this lock keeps the read and the write one step.
    structure: Mutex<()>,
}

impl SledStore {
    pub fn open(dir: &Path) -> StoreResult<Self> {
        let db = open_waiting_for_lock(dir, Some(DEFAULT_FLUSH_EVERY_MS), None)?;
        let meta = db.open_tree("meta")?;
        match meta.get(FORMAT_KEY)? {
            Some(v) if v.as_ref() != FORMAT_VERSION.to_string().as_bytes() => {
                let found = String::from_utf8_lossy(&v).into_owned();
                return Err(StoreError::UnsupportedFormat { found, supported: FORMAT_VERSION });
            }
            Some(_) => {}
            None => {
                meta.insert(FORMAT_KEY, FORMAT_VERSION.to_string().as_bytes())?;
            }
        }
        let receipts_db = open_waiting_for_lock(&dir.join(RECEIPTS_DIR), None, Some(RECEIPTS_CACHE_BYTES))?;
        let store = Self {
            systems: db.open_tree("systems")?,
            modules: db.open_tree("modules")?,
            triggers: db.open_tree("triggers")?,
            instances: db.open_tree("instances")?,
            instance_state: db.open_tree("instance_state")?,
            instances_by_system: db.open_tree("idx_instances_by_system")?,
            instances_by_trigger: db.open_tree("idx_instances_by_trigger")?,
            api_keys: db.open_tree("api_keys")?,
            callouts: db.open_tree("callouts")?,
            callout_log: receipts_db.open_tree("callout_log")?,
            module_status: db.open_tree("module_status")?,
            receipts: receipts_db.open_tree("receipts")?,
            receipts_by_time: receipts_db.open_tree("receipts_by_time")?,
            receipts_db,
            deliveries: db.open_tree("webhook_deliveries")?,
            runs: db.open_tree("runs")?,
            runs_by_id: db.open_tree("runs_by_id")?,
            runs_open: db.open_tree("runs_open")?,
            run_listener: std::sync::OnceLock::new(),
            overlay: overlay::Overlay::default(),
            journal_dir: journal::Journal::dir_in(dir),
            faults: Arc::default(),
            outbox: db.open_tree(outbox::OUTBOX_TREE)?,
            outbound: outbound::OutboundTrees::open(&db)?,
            db,
            sink: std::sync::OnceLock::new(),
            structure: Mutex::new(()),
        };
        store.recover_journal()?;
        Ok(store)
    }

    /// Stores what the previous run journaled but had not checkpointed, then drops its files.
    fn recover_journal(&self) -> StoreResult<()> {
        let (records, newest) = journal::Journal::read_all(&self.journal_dir).map_err(StoreError::Journal)?;
        if !self.journal_dir.exists() {
            return Ok(());
        }
        if !records.is_empty() {
            tracing::info!(records = records.len(), "storing trigger states journaled by the previous run");
        }
        // Files hold many states of a busy instance; only the newest goes to sled.
        let mut newest_states = overlay::States::default();
        for (id, state) in records {
            overlay::keep_newest(&mut newest_states, id, state);
        }
        for (id, state) in &newest_states {
            self.write_state(id, state)?;
        }
        self.db.flush()?;
        // Files kept for reuse go too, even when no journal file is left: this run numbers its files
        // afresh, and none of them may reuse a number a kept file's old records were summed with.
        journal::Journal::remove_through(&self.journal_dir, newest.unwrap_or(0)).map_err(StoreError::Journal)
    }

    fn structure_lock(&self) -> MutexGuard<'_, ()> {
        // A panic while holding the guard cannot leave sled half-written (writes are transactional),
        // so a poisoned lock is still safe to take.
        self.structure.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A cheap read that fails if the store cannot be read.
    pub fn probe(&self) -> StoreResult<()> {
        self.systems.first()?;
        Ok(())
    }

    /// Installs the durable event sink; only the first call has an effect.
    pub fn set_event_sink(&self, sink: &Arc<dyn EventSink>) {
        let _ = self.sink.set(Arc::downgrade(sink));
    }

    /// Runs `change` in one transaction over `trees` and, when there are events, the outbox, where the
    /// events the sink wants are written: a change and its events commit together or not at all.
    fn transact<T>(
        &self,
        trees: &[&sled::Tree],
        events: &[EngineEvent],
        change: impl Fn(&[TransactionalTree]) -> codec::TxResult<T>,
    ) -> StoreResult<T> {
        let sink = match self.sink.get().filter(|_| !events.is_empty()) {
            // Gone only while shutting down: refuse the change rather than store it without its events.
            Some(weak) => Some(weak.upgrade().ok_or_else(|| StoreError::Task("the event sink has stopped".into()))?),
            None => None,
        };
        let sink = sink.as_deref();
        let mut all: Vec<sled::Tree> = trees.iter().map(|t| (*t).clone()).collect();
        let own = all.len();
        if sink.is_some() {
            all.push(self.outbox.clone());
        }
        let (value, staged) = all[..].transaction(|t| {
            let value = change(&t[..own])?;
            let staged = match sink {
                Some(sink) => outbox::stage_tx(&t[own], sink, events)?,
                None => 0,
            };
            Ok((value, staged))
        })?;
        if let Some(sink) = sink.filter(|_| staged > 0) {
            // Delivered only once a crash cannot take the change back.
            self.db.flush()?;
            sink.staged();
        }
        Ok(value)
    }

    pub fn flush(&self) -> StoreResult<()> {
        self.db.flush()?;
        Ok(())
    }

    /// For unit tests: a stored instance of a webhook-only trigger in a new system.
    #[cfg(test)]
    pub(crate) fn seed_instance(&self) -> crate::domain::instance::TriggerInstance {
        use crate::domain::instance::TriggerInstance;
        use crate::domain::system::System;
        use crate::domain::trigger::{Trigger, TriggerSpec};
        use crate::domain::{InstanceId, SystemId, TriggerId};
        let now = crate::domain::now_epoch_seconds();
        let system = System {
            id: SystemId::generate(),
            name: "s".into(),
            description: String::new(),
            modules: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let system_id = system.id.clone();
        self.insert_system(system, &[]).expect("a new system is stored");
        let spec = TriggerSpec::webhook_only("t");
        let trigger = Trigger { id: TriggerId::generate(), spec, created_at: now, updated_at: now };
        let trigger_id = trigger.id.clone();
        self.insert_trigger(trigger, &[]).expect("a new trigger is stored");
        let build = |t: &Trigger| TriggerInstance::new(InstanceId::generate(), system_id.clone(), t.id.clone(), now);
        self.insert_instance(&system_id, &trigger_id, build, &[]).expect("a new instance is stored").0
    }
}

/// sled releases its directory lock from its background flusher thread, a moment after the last
/// handle is dropped; a process reopening the directory right after closing it (a restart in tests,
/// a supervisor restarting quickly) waits for that rather than failing.
fn open_waiting_for_lock(dir: &Path, flush_every_ms: Option<u64>, cache_bytes: Option<u64>) -> StoreResult<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut config = sled::Config::new().path(dir).flush_every_ms(flush_every_ms);
        if let Some(bytes) = cache_bytes {
            config = config.cache_capacity(bytes);
        }
        match config.open() {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(sled::Error::Io(e).into());
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// A cheap, cloneable handle that runs store calls on the blocking pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<SledStore>,
}

impl Store {
    pub fn open(dir: &Path) -> StoreResult<Self> {
        Ok(Self { inner: Arc::new(SledStore::open(dir)?) })
    }

    /// The synchronous store, for code that already runs on a blocking thread of its own.
    pub(crate) fn blocking(&self) -> &SledStore {
        &self.inner
    }

    /// Failures to inject into this store's I/O (tests drive the failure paths with it).
    pub fn faults(&self) -> Arc<IoFaults> {
        Arc::clone(&self.inner.faults)
    }

    /// See [`SledStore::set_event_sink`].
    pub fn set_event_sink(&self, sink: &Arc<dyn EventSink>) {
        self.inner.set_event_sink(sink);
    }

    /// Flushes and waits (up to `timeout`) until this is the last handle, so that dropping it closes
    /// sled and frees the data directory for the next process or test to open.
    pub async fn close(self, timeout: std::time::Duration) -> StoreResult<()> {
        self.run(|s| s.flush()).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        // Worker threads of the HTTP server release their handles shortly after the server stops.
        while Arc::strong_count(&self.inner) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        if Arc::strong_count(&self.inner) > 1 {
            tracing::warn!("the store is still in use at shutdown; sled will close when its last user ends");
        }
        Ok(())
    }

    pub async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&SledStore) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| f(&inner)))
            .instrument(tracing::Span::current())
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}
