//! The API suite on PostgreSQL: the same tests as `tests/api`, each server on a fresh database of the
//! test cluster (`tests/support/postgres.rs`). The crash tests (`tests/api/crash.rs`) kill the real
//! binary and restart it on the same database; the cluster runs with `fsync` and `synchronous_commit`
//! off, which they do not depend on, as they kill Switchboard, never PostgreSQL.

/// The backend every test's server stores in.
pub const BACKEND: switchboard::config::StoreBackend = switchboard::config::StoreBackend::Postgres;

include!("../api/suite.rs");

// What only PostgreSQL has: a database server that goes away and comes back.
mod outage;
// What only PostgreSQL refuses: a write the database will not store.
mod refused_write;
