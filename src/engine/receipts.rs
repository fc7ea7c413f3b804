//! The receipt log: webhook calls are recorded off the acknowledgement path. A call hands its receipt
//! to a bounded queue and moves on; a writer thread stores them in batches. When the queue is full the
//! receipt is dropped and counted (`switchboard_receipts_dropped_total`): the inspector must never slow
//! down or fail a webhook call.
//!
//! The writer takes up a batch at the lowest priority (`SCHED_IDLE` on Linux): under a load that keeps
//! both cores busy it yields to the HTTP workers, and what it cannot keep up with is dropped rather than
//! taking CPU from the calls themselves. It stores the batch at normal priority, so it is never starved
//! in the middle of a sled write that others may wait for.

use std::time::{Duration, Instant};

use std::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Engine, EngineResult};
use crate::config::ReceiptsConfig;
use crate::domain::receipt::{Receipt, ReceiptFilter};
use crate::domain::{InstanceId, ReceiptId, SystemId};
use crate::metrics::METRICS;
use crate::store::{Page, PageRequest, Store};

/// Receipts waiting for the writer; beyond this, new ones are dropped.
const QUEUE: usize = 8192;
/// Receipts stored per batch.
const BATCH: usize = 256;
/// How often receipts past their retention are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// The longest the writer sleeps without looking at the shutdown token.
const WAKE_EVERY: Duration = Duration::from_millis(250);

enum Job {
    Store(Box<Receipt>),
    /// Forget an instance's receipts; queued behind the receipts already waiting, so none of them
    /// outlives its instance.
    Forget(InstanceId),
}

pub struct ReceiptLog {
    queue: Option<mpsc::SyncSender<Job>>,
    store: Store,
}

impl ReceiptLog {
    /// Starts the writer thread (none when receipts are off); it stops when `shutdown` is cancelled,
    /// after storing what was queued, and the task returned ends with it.
    pub fn start(
        store: Store,
        config: &ReceiptsConfig,
        shutdown: CancellationToken,
    ) -> std::io::Result<(Self, Option<tokio::task::JoinHandle<()>>)> {
        if !config.enabled {
            return Ok((Self { queue: None, store }, None));
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let writer = Writer { store: store.clone(), config: config.clone(), last_sweep: None };
        let thread = std::thread::Builder::new().name("receipts".into()).spawn(move || writer.run(rx, &shutdown))?;
        let joined = tokio::task::spawn_blocking(move || {
            if thread.join().is_err() {
                tracing::error!("the receipt writer panicked");
            }
        });
        Ok((Self { queue: Some(tx), store }, Some(joined)))
    }

    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Never waits: a full queue drops the receipt.
    pub fn record(&self, receipt: Receipt) {
        let Some(queue) = &self.queue else { return };
        if queue.try_send(Job::Store(Box::new(receipt))).is_err() {
            METRICS.receipts_dropped.inc();
        }
    }

    /// Forgets an instance's receipts and delivery ids, after any of its receipts still queued.
    pub fn forget(&self, instance: InstanceId) {
        let Some(queue) = &self.queue else {
            // No writer: nothing queued, so the records go at once.
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.run(move |s| s.remove_call_records(&instance)).await {
                    tracing::error!(error = %e, "removing a deleted instance's delivery ids failed");
                }
            });
            return;
        };
        if let Err(mpsc::TrySendError::Full(job)) = queue.try_send(Job::Forget(instance)) {
            let queue = queue.clone();
            // Waits for room on a blocking thread; a send fails only once the writer has stopped.
            tokio::task::spawn_blocking(move || queue.send(job));
        }
    }
}

struct Writer {
    store: Store,
    config: ReceiptsConfig,
    last_sweep: Option<Instant>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>, shutdown: &CancellationToken) {
        let mut jobs = Vec::with_capacity(BATCH);
        loop {
            // Woken at idle priority, the writer runs once nothing else wants the core, never
            // preempting an HTTP worker; by then more receipts are queued for the batch.
            set_priority(Priority::Idle);
            // Wakes now and then: to stop in time, and so that old receipts go even when no call arrives.
            match rx.recv_timeout(WAKE_EVERY) {
                Ok(job) => jobs.push(job),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            jobs.extend(rx.try_iter().take(BATCH));
            set_priority(Priority::Normal);
            self.apply(&mut jobs);
            if shutdown.is_cancelled() {
                // What is still queued at a stop is stored; what arrives later is not waited for.
                jobs.extend(rx.try_iter());
                self.apply(&mut jobs);
                break;
            }
        }
    }

    fn apply(&mut self, jobs: &mut Vec<Job>) {
        let store = self.store.blocking();
        let mut receipts = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Store(r) => receipts.push(*r),
                Job::Forget(instance) => {
                    // Receipts queued before the instance went are stored first, then removed with it.
                    self.store_batch(&mut receipts);
                    if let Err(e) = store.remove_call_records(&instance) {
                        tracing::error!(error = %e, "removing a deleted instance's receipts failed");
                    }
                }
            }
        }
        self.store_batch(&mut receipts);
        if self.last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
            self.last_sweep = Some(Instant::now());
            self.sweep();
        }
    }

    fn store_batch(&self, receipts: &mut Vec<Receipt>) {
        if receipts.is_empty() {
            return;
        }
        if let Err(e) = self.store.blocking().insert_receipts(receipts, self.config.per_instance) {
            METRICS.receipts_dropped.inc_by(receipts.len() as u64);
            tracing::error!(error = %e, receipts = receipts.len(), "storing receipts failed");
        }
        receipts.clear();
    }

    fn sweep(&self) {
        let cutoff_ms = crate::domain::now_epoch_ms().saturating_sub(self.config.retention_hours * 3_600_000);
        let cutoff = ReceiptId::at_ms(cutoff_ms);
        match self.store.blocking().remove_receipts_before(cutoff.as_str()) {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "removed receipts past their retention"),
            Err(e) => tracing::error!(error = %e, "removing old receipts failed"),
        }
    }
}

/// The writer's scheduling class: `SCHED_IDLE` while it waits, so that it runs only on a core nothing
/// else wants, and normal while it is inside sled, so that it is never starved while holding what an
/// admin write or a flush may wait for (a log reservation, a lock).
#[derive(Clone, Copy)]
enum Priority {
    Idle,
    Normal,
}

fn set_priority(priority: Priority) {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
        };
        use thread_priority::{ThreadPriority, ThreadPriorityOsValue};
        let policy = match priority {
            Priority::Idle => NormalThreadSchedulePolicy::Idle,
            Priority::Normal => NormalThreadSchedulePolicy::Other,
        };
        let os = ThreadPriority::Os(ThreadPriorityOsValue::default());
        if let Err(e) = set_thread_priority_and_policy(thread_native_id(), os, ThreadSchedulePolicy::Normal(policy)) {
            tracing::debug!(error = ?e, "could not change the receipt writer's scheduling class");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = priority;
}

impl Engine {
    pub fn receipts(&self) -> &ReceiptLog {
        &self.receipts
    }

    pub async fn list_receipts(
        &self,
        system: SystemId,
        instance: InstanceId,
        filter: ReceiptFilter,
        page: PageRequest,
    ) -> EngineResult<Page<Receipt>> {
        Ok(self
            .store
            .run(move |s| {
                s.get_instance_in(&system, &instance)?;
                s.list_receipts(&instance, &filter, page)
            })
            .await?)
    }

    pub async fn get_receipt(&self, system: SystemId, instance: InstanceId, id: ReceiptId) -> EngineResult<Receipt> {
        let found = self
            .store
            .run(move |s| {
                s.get_instance_in(&system, &instance)?;
                s.get_receipt(&instance, &id)
            })
            .await?;
        found.ok_or(super::EngineError::NotFound("receipt"))
    }
}
