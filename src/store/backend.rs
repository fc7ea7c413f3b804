//! The backend a deployment chose (`[store] backend`), opened: what startup asks of it beyond the
//! repository traits (its durable-fire path, fault injection for tests, closing).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::postgres::{PgGroupCommit, PgStore};
use super::{FireLog, GroupCommit, IoFaults, Repository, Store, StoreResult};
use crate::config::{StoreBackend, StoreConfig};
use crate::events::EventBus;

pub enum Backend {
    Sled(Store),
    Postgres(PgStore),
}

impl Backend {
    /// Opens sled in `data_dir`, or connects to PostgreSQL and brings its schema up to date.
    pub async fn open(config: &StoreConfig, data_dir: &Path) -> StoreResult<Self> {
        match config.backend {
            StoreBackend::Sled => {
                let dir = data_dir.to_owned();
                let opened = tokio::task::spawn_blocking(move || Store::open(&dir)).await;
                Ok(Self::Sled(opened.map_err(|e| super::StoreError::Task(e.to_string()))??))
            }
            StoreBackend::Postgres => Ok(Self::Postgres(PgStore::connect(config).await?)),
        }
    }

    pub fn repository(&self) -> Repository {
        match self {
            Self::Sled(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// Starts the group commit fires go through; it stops when `shutdown` is cancelled.
    pub fn start_fire_log(
        &self,
        events: &Arc<EventBus>,
        shutdown: CancellationToken,
        sync_interval: Duration,
    ) -> StoreResult<(Arc<dyn FireLog>, JoinHandle<()>)> {
        match self {
            Self::Sled(store) => {
                let (commit, task) = GroupCommit::start(store.clone(), Arc::clone(events), shutdown, sync_interval)?;
                Ok((Arc::new(commit), task))
            }
            Self::Postgres(store) => {
                let (commit, task) = PgGroupCommit::start(store, shutdown)?;
                Ok((Arc::new(commit), task))
            }
        }
    }

    /// Failures tests inject into sled's I/O; PostgreSQL has none (tests stop the database instead).
    pub fn faults(&self) -> Option<Arc<IoFaults>> {
        match self {
            Self::Sled(store) => Some(store.faults()),
            Self::Postgres(_) => None,
        }
    }

    /// Makes everything durable and lets go of the backend.
    pub async fn close(self, timeout: Duration) -> StoreResult<()> {
        match self {
            Self::Sled(store) => store.close(timeout).await,
            Self::Postgres(store) => {
                store.close();
                Ok(())
            }
        }
    }
}
