//! The schema: versioned migrations (`migrations/V<n>__<name>.sql`) embedded in the binary and
//! applied at start by refinery, which records them in `refinery_schema_history`.

use std::time::Duration;

use tokio_postgres::NoTls;

use crate::store::{StoreError, StoreResult};

refinery::embed_migrations!("src/store/postgres/migrations");

/// The newest migration this build holds.
pub const SCHEMA_VERSION: u32 = 1;

/// Held while migrating, so that processes starting together migrate one after another ("SBMIGRAT").
const MIGRATION_LOCK: i64 = 0x5342_4d49_4752_4154;

/// Applies the migrations the database lacks, on a connection of its own: a migration may take longer
/// than the statement timeout of the pool's connections.
pub(super) async fn migrate(config: &tokio_postgres::Config, timeout: Duration) -> StoreResult<()> {
    let (mut client, connection) = tokio::time::timeout(timeout, config.connect(NoTls))
        .await
        .map_err(|_| StoreError::Unavailable(format!("no connection to PostgreSQL within {timeout:?}").into()))??;
    let connection = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the migration connection to PostgreSQL failed");
        }
    });
    client.batch_execute("SET statement_timeout = 0; SET lock_timeout = 0").await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let outcome = run(&mut client).await;
    drop(client);
    // The session ends with the connection, and its advisory lock with it.
    let _ = connection.await;
    outcome
}

async fn run(client: &mut tokio_postgres::Client) -> StoreResult<()> {
    let report = migrations::runner().set_abort_missing(true).run_async(client).await.map_err(refused)?;
    for migration in report.applied_migrations() {
        tracing::info!(version = migration.version(), name = migration.name(), "applied a PostgreSQL migration");
    }
    Ok(())
}

/// A migration the database has and this build does not means a newer build has used it.
fn refused(e: refinery::Error) -> StoreError {
    match e.kind() {
        refinery::error::Kind::MissingVersion(applied) => StoreError::UnsupportedFormat {
            found: format!(
                "{} (schema migration V{}__{}, newer than this build)",
                applied.version(),
                applied.version(),
                applied.name()
            ),
            supported: SCHEMA_VERSION,
        },
        _ => StoreError::Backend(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_is_the_newest_embedded_migration() {
        let newest = migrations::runner().get_migrations().iter().map(|m| m.version()).max();
        assert_eq!(newest, Some(SCHEMA_VERSION));
    }
}
