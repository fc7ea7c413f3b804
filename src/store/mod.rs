//! Persistence. The engine reaches it through the repository traits of [`repo`], in domain types
//! and [`StoreError`]; [`sled`] (the embedded default) and [`postgres`] implement them (PostgreSQL not yet
//! the durable-fire path, [`fire::FireLog`]).

pub mod backend;
pub mod fire;
pub mod migrate;
pub mod outbox;
pub mod postgres;
pub mod repo;
pub(crate) mod sled;
pub mod snapshot;

use crate::domain::ValidationError;

pub use self::sled::{GroupCommit, InstanceFilter, IoFaults, SeenDelivery, SledStore, Store, FORMAT_VERSION};
pub use fire::{Answer, FireLog, Level, Write};
pub use postgres::PgStore;

/// The backend the engine stores through.
pub type Repository = std::sync::Arc<dyn repo::Repo>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input that refers to something the store does not hold in the required state.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The backend failed (I/O, its own consistency checks).
    #[error("the store: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend cannot be reached or did not answer in time (a database server that went away);
    /// asking again later may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored record could not be decoded: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("the store holds format version {found}; this build reads version {supported}")]
    UnsupportedFormat { found: String, supported: u32 },
    #[error("the state journal: {0}")]
    Journal(#[source] std::io::Error),
    #[error("the blocking storage task failed: {0}")]
    Task(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a listing and the number of records that matched before paging.
#[derive(Debug)]
pub struct Page<T> {
    pub total: usize,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    /// Nothing found: what a search that holds a NUL character finds, without asking the store
    /// (see [`matches_nothing`]).
    pub fn empty() -> Self {
        Self { total: 0, items: Vec::new() }
    }
}

/// Whether one of a listing's text filters holds a NUL character: no name or description can
/// (they refuse control characters), and PostgreSQL refuses it as a statement's parameter. The
/// admin API answers such a query 400 before it gets here; the console lists nothing, on either store.
pub fn matches_nothing(filters: &[Option<&str>]) -> bool {
    filters.iter().flatten().any(|text| text.contains('\0'))
}

#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub offset: usize,
    pub limit: usize,
}
