//! Module status that survives a restart: every status change marks its module, a task stores the
//! marked modules' maps once a second (and at shutdown), and a start restores them before any driver
//! starts or condition is evaluated.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::domain::ModuleId;
use crate::drivers::runtime::ModuleRuntime;
use crate::drivers::sdk::StatusChange;
use crate::store::{Repository, StoreResult};

/// How often changed statuses are stored: a module writes at most this often, however busy.
const EVERY: Duration = Duration::from_secs(1);

/// Gives every module its stored status; returns how many had one.
pub async fn restore_statuses(store: &Repository, modules: &ModuleRuntime) -> StoreResult<usize> {
    let stored = store.module_statuses().await?;
    for (id, values) in &stored {
        modules.restore(id, values.clone());
    }
    Ok(stored.len())
}

/// Stores changed statuses until shutdown, then once more.
pub async fn keep_statuses(
    store: Repository,
    modules: Arc<ModuleRuntime>,
    mut changes: broadcast::Receiver<StatusChange>,
    shutdown: CancellationToken,
) {
    let mut dirty: HashSet<ModuleId> = HashSet::new();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(change) => dirty.extend(ModuleId::parse(&change.module_id)),
                // Which modules changed is unknown: store them all.
                Err(RecvError::Lagged(_)) => dirty.extend(modules.known_modules()),
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => store_dirty(&store, &modules, &mut dirty).await,
            _ = shutdown.cancelled() => break,
        }
    }
    store_dirty(&store, &modules, &mut dirty).await;
}

async fn store_dirty(store: &Repository, modules: &ModuleRuntime, dirty: &mut HashSet<ModuleId>) {
    if dirty.is_empty() {
        return;
    }
    let statuses: Vec<_> = dirty.iter().filter_map(|id| Some((id.clone(), modules.status_snapshot(id)?))).collect();
    match store.save_module_statuses(statuses).await {
        Ok(()) => dirty.clear(),
        // Kept marked: the next tick tries again.
        Err(e) => tracing::error!(error = %e, modules = dirty.len(), "storing module statuses failed"),
    }
}
