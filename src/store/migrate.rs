//! `switchboard migrate-store`: copies a whole deployment from sled into an empty PostgreSQL database
//! in one transaction, then counts each kind of record on both sides.
//!
//! The source must not be in use: sled's directory lock refuses a second process, so a running server
//! on it makes the copy fail rather than read a moving store. Opening it replays its state journal, as
//! a server start would; nothing else is written to it.

use std::path::{Path, PathBuf};

use super::postgres::{Imported, PgStore};
use super::snapshot::{Counts, Snapshot};
use super::{SledStore, StoreError};
use crate::config::{PostgresUrl, StoreBackend, StoreConfig};

/// Where a store is, as `--from`/`--to` name it: `sled:DIR` or `postgres:URL`.
#[derive(Debug)]
pub enum StoreSpec {
    Sled(PathBuf),
    Postgres(PostgresUrl),
}

impl StoreSpec {
    pub fn parse(raw: &str) -> Result<Self, MigrateError> {
        let bad = |why: &str| MigrateError::BadSpec(format!("{why}; expected sled:DIR or postgres:URL"));
        match raw.split_once(':') {
            Some(("sled", dir)) if !dir.is_empty() => Ok(Self::Sled(PathBuf::from(dir))),
            Some(("postgres", url)) => PostgresUrl::parse(url).map(Self::Postgres).map_err(|e| bad(&e)),
            Some(("sled", _)) => Err(bad("sled: names no directory")),
            _ => Err(bad(&format!("unknown store `{}`", raw.split(':').next().unwrap_or_default()))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("bad store: {0}")]
    BadSpec(String),
    #[error("only sled → PostgreSQL is supported: --from sled:DIR --to postgres:URL")]
    Direction,
    #[error("no sled store in {0} (the directory is missing or holds no sled database)")]
    MissingSource(PathBuf),
    #[error("the sled store in {0} is in use (is a server running on it?); stop it first")]
    SourceInUse(PathBuf),
    #[error("reading the sled store: {0}")]
    Source(#[source] StoreError),
    #[error("the PostgreSQL database {url}: {source}")]
    Target { url: String, source: StoreError },
    #[error("the target database already holds data ({rows} rows in {table}); migrate into an empty database")]
    TargetNotEmpty { table: &'static str, rows: usize },
    #[error("the counts differ after copying: {}", .0.join(", "))]
    Mismatch(Vec<&'static str>),
}

/// Each kind of record with its count in the source and in the target, and the records of the source
/// left behind because their owner was gone.
#[derive(Debug)]
pub struct Verification {
    pub rows: Vec<(&'static str, usize, usize)>,
    pub orphans: Counts,
}

impl Verification {
    fn of(source: Counts, target: &Counts) -> Self {
        let rows = source
            .into_iter()
            .map(|(kind, n)| (kind, n, target.iter().find(|(k, _)| *k == kind).map_or(0, |(_, m)| *m)))
            .collect();
        Self { rows, orphans: Counts::new() }
    }

    pub fn mismatched(&self) -> Vec<&'static str> {
        self.rows.iter().filter(|(_, a, b)| a != b).map(|(kind, _, _)| *kind).collect()
    }

    /// The counts as a text table.
    pub fn table(&self) -> String {
        let mut out = format!("{:<24} {:>10} {:>10}\n", "kind", "sled", "postgres");
        for (kind, a, b) in &self.rows {
            let mark = if a == b { "" } else { "  MISMATCH" };
            out.push_str(&format!("{kind:<24} {a:>10} {b:>10}{mark}\n"));
        }
        for (kind, n) in &self.orphans {
            out.push_str(&format!("left behind: {n} {kind} whose owner no longer exists\n"));
        }
        out
    }
}

/// Copies the store `from` names into the one `to` names and verifies the counts.
pub async fn migrate_store(from: &str, to: &str) -> Result<Verification, MigrateError> {
    let (StoreSpec::Sled(dir), StoreSpec::Postgres(url)) = (StoreSpec::parse(from)?, StoreSpec::parse(to)?) else {
        return Err(MigrateError::Direction);
    };
    let snapshot = read_sled(dir).await?;
    let shown = format!("{url:?}");
    let target = |source| MigrateError::Target { url: shown.clone(), source };
    let config = StoreConfig {
        backend: StoreBackend::Postgres,
        postgres_url: Some(url),
        postgres_pool_size: 2,
        ..StoreConfig::default()
    };
    let store = PgStore::connect(&config).await.map_err(target)?;
    let outcome = copy(&store, snapshot).await;
    store.close();
    outcome.map_err(|e| match e {
        Failure::Store(e) => target(e),
        Failure::Migrate(e) => e,
    })
}

enum Failure {
    Store(StoreError),
    Migrate(MigrateError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

async fn copy(store: &PgStore, mut snapshot: Snapshot) -> Result<Verification, Failure> {
    let orphans = snapshot.drop_orphans();
    if let Imported::RefusedNotEmpty { table, rows } = store.import(&snapshot).await? {
        return Err(Failure::Migrate(MigrateError::TargetNotEmpty { table, rows }));
    }
    let verification = Verification { orphans, ..Verification::of(snapshot.counts(), &store.counts().await?) };
    match verification.mismatched() {
        kinds if kinds.is_empty() => Ok(verification),
        kinds => Err(Failure::Migrate(MigrateError::Mismatch(kinds))),
    }
}

/// Everything in the sled store in `dir`, which must exist and not be open elsewhere.
async fn read_sled(dir: PathBuf) -> Result<Snapshot, MigrateError> {
    if !is_sled_store(&dir) {
        return Err(MigrateError::MissingSource(dir));
    }
    let task = tokio::task::spawn_blocking(move || match SledStore::open(&dir) {
        Ok(store) => store.snapshot().map_err(MigrateError::Source),
        Err(e) if e.to_string().contains("could not acquire lock") => Err(MigrateError::SourceInUse(dir)),
        Err(e) => Err(MigrateError::Source(e)),
    });
    task.await.map_err(|e| MigrateError::Source(StoreError::Task(e.to_string())))?
}

/// sled keeps its data in a file named `db` (and its settings in `conf`).
fn is_sled_store(dir: &Path) -> bool {
    dir.join("db").is_file() && dir.join("conf").is_file()
}
