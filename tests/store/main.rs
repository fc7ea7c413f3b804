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
mod postgres_only;
mod systems;
mod triggers;

use switchboard::config::{PostgresUrl, StoreBackend, StoreConfig};
use switchboard::store::repo::{ApiKeyRepo, CalloutRepo, InstanceRepo, ModuleRepo, SystemRepo, TriggerRepo};
use switchboard::store::{PgStore, Store};

/// What the suite asks of a backend.
pub trait Backend: SystemRepo + ModuleRepo + TriggerRepo + ApiKeyRepo + CalloutRepo + InstanceRepo {}
impl<T: SystemRepo + ModuleRepo + TriggerRepo + ApiKeyRepo + CalloutRepo + InstanceRepo> Backend for T {}

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
