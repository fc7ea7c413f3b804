//! Outbound webhook subscriptions and their deliveries. (Being built: see the outbound issue.)

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::OutboundConfig;
use crate::events::EventBus;
use crate::store::Store;

/// Starts outbound delivery: installs the durable sink on `bus` and returns the background tasks.
pub fn start(
    _store: &Store,
    _bus: &Arc<EventBus>,
    _config: &OutboundConfig,
    _shutdown: CancellationToken,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    Ok(Vec::new())
}
