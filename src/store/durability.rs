//! Group commit: callers that need their writes on disk wait for one shared flush instead of each
//! flushing. A flush starts only after it has taken a waiter off the queue, so it covers every write
//! that waiter made; waiters that arrive during a flush share the next one.

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Store, StoreError, StoreResult};

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::UnboundedSender<Waiter>,
}

impl GroupCommit {
    /// Starts the flusher; it stops when `shutdown` is cancelled, after answering everyone queued.
    pub fn start(store: Store, shutdown: CancellationToken) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(flush_loop(store, rx, shutdown));
        (Self { queue }, task)
    }

    /// Returns once everything this task wrote before the call is durable.
    pub async fn durable(&self) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.queue.send(tx).map_err(|_| StoreError::Task("the flusher has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Task("the flusher has stopped".into()))?.map_err(StoreError::Task)
    }
}

async fn flush_loop(store: Store, mut rx: mpsc::UnboundedReceiver<Waiter>, shutdown: CancellationToken) {
    let mut batch = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            waiter = rx.recv() => waiter,
            _ = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        answer(&store, &mut batch).await;
    }
    // Whoever queued before the shutdown still gets a real answer.
    rx.close();
    while let Some(waiter) = rx.recv().await {
        batch.push(waiter);
    }
    if !batch.is_empty() {
        answer(&store, &mut batch).await;
    }
}

async fn answer(store: &Store, batch: &mut Vec<Waiter>) {
    let result = store.run(|s| s.flush()).await.map_err(|e| e.to_string());
    if let Err(e) = &result {
        tracing::error!(error = %e, "flushing the store failed");
    }
    for waiter in batch.drain(..) {
        // A waiter that gave up (its request was cancelled) needs no answer.
        let _ = waiter.send(result.clone());
    }
}
