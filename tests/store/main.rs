//! The storage conformance suite: each test is one function, generic over the backend, run against
//! sled (a temporary directory) and PostgreSQL (a fresh database on the test server, see
//! `tests/support/postgres.rs`). Both must give the same results, errors, order and cascades.

#[path = "../support/postgres.rs"]
mod postgres_support;

mod fixtures;

mod api_keys;
mod callouts;
mod instances;
mod modules;
mod outbound;
mod postgres_only;
mod receipts;
mod runs;
mod systems;
mod triggers;

use switchboard::config::{PostgresUrl, StoreBackend, StoreConfig};
use switchboard::domain::run::Run;
use switchboard::events::EventBus;
use switchboard::store::fire::{Level, Write};
use switchboard::store::repo::{InstanceRepo, Repo};
use switchboard::store::{GroupCommit, PgStore, Store};
use tokio_util::sync::CancellationToken;

/// What the suite asks of a backend: every repository trait, and a way to store runs, which only the
/// fire path writes.
#[async_trait::async_trait]
pub trait Backend: Repo + Clone + 'static {
    /// Stores new runs the way a fire does.
    async fn store_runs(&self, runs: Vec<Run>);
}

#[async_trait::async_trait]
impl Backend for Store {
    /// Through the group commit, each run with its instance's state as stored.
    async fn store_runs(&self, runs: Vec<Run>) {
        let shutdown = CancellationToken::new();
        let (commit, committer) =
            GroupCommit::start(self.clone(), EventBus::new(), shutdown.clone(), Default::default())
                .expect("the group commit starts");
        for run in runs {
            let id = run.trigger_instance.clone();
            let state = self.find_state(id.clone()).await.unwrap().unwrap_or_default();
            let write = Write { id, state, events: Vec::new(), run: Some(run) };
            commit.write(write, Some(Level::Durable)).expect("an answer").wait().await.expect("the run is stored");
        }
        shutdown.cancel();
        committer.await.expect("the committer stops");
    }
}

#[async_trait::async_trait]
impl Backend for PgStore {
    async fn store_runs(&self, runs: Vec<Run>) {
        self.insert_runs(runs).await.expect("the runs are stored");
    }
}

/// Runs a [`switchboard::store::repo::ReceiptWriter`] call as the receipt writer does: on a thread of
/// its own, outside the runtime.
pub async fn on_writer_thread<S: Backend, T: Send + 'static>(
    store: &S,
    call: impl FnOnce(&S) -> T + Send + 'static,
) -> T {
    let store = store.clone();
    tokio::task::spawn_blocking(move || call(&store)).await.expect("the writer thread does not panic")
}

/// A sled store in a directory that lives as long as it.
pub async fn sled() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path()).expect("sled opens");
    (store, dir)
}

/// The settings of a PostgreSQL store on a fresh database.
pub async fn postgres_config() -> StoreConfig {
    let url = postgres_support::fresh_database().await;
    StoreConfig {
        backend: StoreBackend::Postgres,
        postgres_url: Some(PostgresUrl::parse(&url).expect("a PostgreSQL URL")),
        postgres_pool_size: 4,
        ..StoreConfig::default()
    }
}

/// A PostgreSQL store on a fresh database.
pub async fn postgres() -> (PgStore, ()) {
    let store = PgStore::connect(&postgres_config().await).await.expect("PostgreSQL connects and migrates");
    (store, ())
}

/// One test per backend for each generic test function named: `mod name { fn sled; fn postgres }`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sled() {
                let (store, _dir) = $crate::sled().await;
                super::$name(&store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let (store, _) = $crate::postgres().await;
                super::$name(&store).await;
            }
        }
    )*};
}

/// A stored instance of a new webhook-only trigger, in `system` (a new one when `None`).
pub async fn new_instance<S: Backend>(
    store: &S,
    system: Option<&switchboard::domain::SystemId>,
) -> switchboard::domain::instance::TriggerInstance {
    let system = match system {
        Some(system) => system.clone(),
        None => store.insert_system(fixtures::system("s", ""), vec![]).await.unwrap().id,
    };
    let trigger = store.insert_trigger(fixtures::trigger("t", ""), vec![]).await.unwrap().id;
    let build = fixtures::build_instance(&system);
    store.insert_instance(system, trigger, build, vec![]).await.unwrap().0
}
