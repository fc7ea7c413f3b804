//! The PostgreSQL backend: one table per entity, each record kept as `doc` (jsonb, the serde JSON
//! the sled backend stores) beside the columns filtered, ordered or constrained on (see
//! `migrations/`). It behaves as the sled backend does: same results, errors, cascades and order.
//!
//! - A write and the events it causes commit in one transaction: the events the event sink wants go
//!   to the `outbox` table, which the outbound side drains.
//! - Structural writes (creates, deletes, moves: those sled runs under its structure lock) first take
//!   a transaction-scoped advisory lock, so their check-then-write is one step across every process
//!   using the database; the record a change applies to is read `FOR UPDATE` and the change runs
//!   inside the transaction.
//! - Every call is bounded by `store.postgres_timeout_ms`, waiting for a connection included (the
//!   pool's timeouts, the server's `statement_timeout` and a deadline on the whole call); a database
//!   that cannot be reached or does not answer in time is [`StoreError::Unavailable`].
//! - Connections are plain TCP or a Unix socket: TLS to the database is not supported yet.
//! - Runs, receipts, delivery ids and outbound queues go with the instance or subscription they belong
//!   to (ON DELETE CASCADE), where sled removes them in a step of their own after the delete.
//! - The synchronous [`crate::store::repo::ReceiptWriter`] blocks its caller's thread on the runtime the
//!   store was connected on (`receipts`).
//! - The durable-fire path ([`crate::store::fire::FireLog`]) is a group commit (`fire.rs`); it hands
//!   the runs it committed to the sender `PgStore::run_listener` gives.

mod api_keys;
mod callouts;
mod error;
mod fire;
mod fire_statement;
mod import;
mod instances;
mod modules;
mod outbound;
mod receipts;
mod rows;
mod runs;
mod schema;
mod systems;
mod triggers;

use std::future::Future;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use tokio_postgres::NoTls;

use super::{StoreError, StoreResult};
use crate::config::StoreConfig;
use crate::domain::run::Run;
use crate::events::{EngineEvent, EventSink};
use crate::store::outbox::OutboxEntry;

pub use fire::PgGroupCommit;
pub use import::Imported;
pub use schema::SCHEMA_VERSION;

/// The advisory lock structural writes hold until their transaction ends ("SBSTRUCT").
const STRUCTURE_LOCK: i64 = 0x5342_5354_5255_4354;

/// The sink told after a commit, and the outbox entries it wanted.
type Staged = (Option<Arc<dyn EventSink>>, Vec<OutboxEntry>);

/// A cheap, cloneable handle on the database.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
    pool: Pool,
}

struct Inner {
    /// The connection settings, for a pool of one's own ([`PgStore::with_own_pool`]).
    config: tokio_postgres::Config,
    timeout: Duration,
    /// Which events the outbox takes. Weak: the sink holds the store, and a cycle would keep the pool
    /// open after shutdown.
    sink: OnceLock<Weak<dyn EventSink>>,
    /// Receives the runs the fire path commits; only the first listener set counts.
    run_listener: OnceLock<tokio::sync::mpsc::UnboundedSender<Run>>,
    /// The runtime the store was connected on. The [`crate::store::repo::ReceiptWriter`] methods are
    /// synchronous and called from the receipt writer's own std thread, outside any runtime; they run
    /// their queries on this runtime and block that thread (never a runtime worker) until they finish.
    runtime: tokio::runtime::Handle,
}

impl PgStore {
    /// Connects to `config.postgres_url` and brings the schema up to this build's version; refuses a
    /// database whose schema is newer than this build knows.
    pub async fn connect(config: &StoreConfig) -> StoreResult<Self> {
        let url =
            config.postgres_url.as_ref().ok_or_else(|| StoreError::Backend("store.postgres_url is not set".into()))?;
        let timeout = Duration::from_millis(config.postgres_timeout_ms);
        let pg_config = bounded_config(url.config(), timeout);
        schema::migrate(&pg_config, timeout).await?;
        let pool = pool(&pg_config, config.postgres_pool_size, timeout)?;
        let inner = Inner {
            config: pg_config,
            timeout,
            sink: OnceLock::new(),
            run_listener: OnceLock::new(),
            runtime: tokio::runtime::Handle::current(),
        };
        Ok(Self { inner: Arc::new(inner), pool })
    }

    /// The same store with a pool of `size` connections of its own, whose connections are driven by
    /// the runtime that first uses them (a task with a thread of its own, say).
    pub(crate) fn with_own_pool(&self, size: usize) -> StoreResult<Self> {
        let pool = pool(&self.inner.config, size, self.inner.timeout)?;
        Ok(Self { inner: Arc::clone(&self.inner), pool })
    }

    /// Closes the pool: calls made from now on fail as unavailable.
    pub fn close(&self) {
        self.pool.close();
    }

    /// Installs the durable event sink; only the first call has an effect.
    pub fn set_event_sink(&self, sink: &Arc<dyn EventSink>) {
        let _ = self.inner.sink.set(Arc::downgrade(sink));
    }

    /// Runs `call` with a pooled connection, failing as unavailable past the timeout.
    async fn bounded<T, F>(&self, call: impl FnOnce(deadpool_postgres::Client) -> F) -> StoreResult<T>
    where
        F: Future<Output = StoreResult<T>>,
    {
        let work = async {
            let client = self.pool.get().await?;
            call(client).await
        };
        match tokio::time::timeout(self.inner.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(
                format!("no answer from PostgreSQL within {} ms", self.inner.timeout.as_millis()).into(),
            )),
        }
    }

    /// The outbox entries of the events the sink wants; none without a sink.
    fn wanted<'a>(&self, events: impl IntoIterator<Item = &'a EngineEvent>) -> StoreResult<Staged> {
        let mut events = events.into_iter().peekable();
        let Some(weak) = self.inner.sink.get().filter(|_| events.peek().is_some()) else {
            return Ok((None, Vec::new()));
        };
        // Gone only while shutting down: refuse the change rather than store it without its events.
        let sink = weak.upgrade().ok_or_else(|| StoreError::Task("the event sink has stopped".into()))?;
        let entries = events.filter_map(|e| OutboxEntry::for_event(sink.as_ref(), e)).collect();
        Ok((Some(sink), entries))
    }

    /// Writes the wanted events into the outbox inside `tx`, then commits it and tells the sink.
    async fn commit(&self, tx: Transaction<'_>, events: &[EngineEvent]) -> StoreResult<()> {
        let (sink, entries) = self.wanted(events)?;
        for entry in &entries {
            let event = rows::doc(&entry.event)?;
            let targets = rows::doc(&entry.targets)?;
            rows::execute(&tx, "INSERT INTO outbox (event, targets) VALUES ($1, $2)", &[&event, &targets]).await?;
        }
        tx.commit().await?;
        if let Some(sink) = sink.filter(|_| !entries.is_empty()) {
            sink.staged();
        }
        Ok(())
    }
}

fn pool(config: &tokio_postgres::Config, size: usize, timeout: Duration) -> StoreResult<Pool> {
    let manager =
        Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| StoreError::Backend(Box::new(e)))
}

/// Starts a transaction that holds the structure lock (see the module docs) until it ends.
async fn structural(client: &mut deadpool_postgres::Client) -> StoreResult<Transaction<'_>> {
    let tx = client.transaction().await?;
    rows::execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&STRUCTURE_LOCK]).await?;
    Ok(tx)
}

/// The connection settings with every wait bounded by `timeout`.
fn bounded_config(mut config: tokio_postgres::Config, timeout: Duration) -> tokio_postgres::Config {
    let ms = timeout.as_millis();
    let options = format!(
        "{} -c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms}",
        config.get_options().unwrap_or_default()
    );
    config.options(options.trim_start()).connect_timeout(timeout);
    if config.get_application_name().is_none() {
        config.application_name("switchboard");
    }
    config
}

impl PgStore {
    /// A cheap query that fails if the database cannot be reached, for readiness.
    pub async fn probe(&self) -> StoreResult<()> {
        self.bounded(|client| async move {
            rows::execute(&client, "SELECT 1", &[]).await?;
            Ok(())
        })
        .await
    }
}

#[async_trait::async_trait]
impl crate::store::repo::Repo for PgStore {
    async fn probe(&self) -> StoreResult<()> {
        PgStore::probe(self).await
    }

    fn set_event_sink(&self, sink: &Arc<dyn EventSink>) {
        PgStore::set_event_sink(self, sink);
    }
}
