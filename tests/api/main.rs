//! The API suite on sled: every test starts the real server on a port-0 listener with a temporary
//! data directory. `tests/api_postgres` runs the same suite on PostgreSQL.

/// The backend every test's server stores in.
pub const BACKEND: switchboard::config::StoreBackend = switchboard::config::StoreBackend::Sled;

include!("suite.rs");

// What only sled has: its state journal, its data directory's lock, injected I/O failures, and processes
// killed on a data directory.
mod crash;
mod data_dir;
mod journal;
mod store_faults;
