//! The API suite on sled: every test starts the real server on a port-0 listener with a temporary
//! data directory (the crash tests start the real binary and kill it). `tests/api_postgres` runs the
//! same suite, crash tests included, on PostgreSQL; the modules listed below the suite are sled's alone.

/// The backend every test's server stores in.
pub const BACKEND: switchboard::config::StoreBackend = switchboard::config::StoreBackend::Sled;

include!("suite.rs");

// What only sled has: its state journal (and the interval at which it is synced), its data directory's
// lock, and injected I/O failures.
mod crash_sled;
mod data_dir;
mod journal;
mod store_faults;
