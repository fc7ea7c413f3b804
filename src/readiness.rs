//! Whether the process can serve: the store answers and every background worker is still running.

use std::sync::{Arc, Mutex};

use tokio::task::{AbortHandle, JoinHandle};

#[derive(Default)]
pub struct Readiness {
    workers: Mutex<Vec<AbortHandle>>,
}

impl Readiness {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Watches a worker that must keep running for the process to be ready.
    pub fn watch(&self, worker: &JoinHandle<()>) {
        self.workers.lock().unwrap_or_else(|p| p.into_inner()).push(worker.abort_handle());
    }

    pub fn workers_running(&self) -> bool {
        self.workers.lock().unwrap_or_else(|p| p.into_inner()).iter().all(|w| !w.is_finished())
    }
}
