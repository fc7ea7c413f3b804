//! The receipt log: webhook calls are recorded off the acknowledgement path. A call hands its receipt
//! to a bounded queue and moves on; a writer thread stores them in batches. When the queue is full the
//! receipt is dropped and counted (`switchboard_receipts_dropped_total`): the inspector must never slow
//! down or fail a webhook call.
//!
//! The writer runs at the lowest priority a thread can have without being starved (see
//! [`lowest_priority`]): under a load that keeps both cores busy it yields to the HTTP workers, and what
//! it cannot keep up with is dropped rather than taking CPU from the calls themselves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Engine, EngineResult};
use crate::config::ReceiptsConfig;
use crate::domain::receipt::{Receipt, ReceiptFilter};
use crate::domain::{InstanceId, ReceiptId, SystemId};
use crate::metrics::METRICS;
use crate::store::{Page, PageRequest, Repository, StoreResult};

/// Receipts waiting for the writer; beyond this, new ones are dropped.
const QUEUE: usize = 8192;
/// Receipts stored per batch.
const BATCH: usize = 512;
/// How long the writer waits for more receipts once one has arrived; a receipt is listed this much later.
const LINGER: Duration = Duration::from_millis(100);
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
    /// Receipts in the queue: a call whose receipt would be dropped does not build it.
    queued: Arc<AtomicUsize>,
    /// `receipts.max_per_second`: under a flood, receipts are a sample, so that writing them can never
    /// take the disk and CPU the calls themselves need.
    rate: governor::DefaultDirectRateLimiter,
    store: Repository,
}

impl ReceiptLog {
    /// Starts the writer thread (none when receipts are off); it stops when `shutdown` is cancelled,
    /// after storing what was queued, and the task returned ends with it.
    pub fn start(
        store: Repository,
        config: &ReceiptsConfig,
        shutdown: CancellationToken,
    ) -> std::io::Result<(Self, Option<tokio::task::JoinHandle<()>>)> {
        let queued = Arc::new(AtomicUsize::new(0));
        // Config validation guarantees at least 1.
        let per_second = std::num::NonZeroU32::new(config.max_per_second).unwrap_or(std::num::NonZeroU32::MIN);
        let rate = governor::RateLimiter::direct(governor::Quota::per_second(per_second));
        if !config.enabled {
            return Ok((Self { queue: None, queued, rate, store }, None));
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let writer = Writer {
            store: store.clone(),
            config: config.clone(),
            last_sweep: None,
            counts: HashMap::new(),
            queued: Arc::clone(&queued),
        };
        let thread = std::thread::Builder::new().name("receipts".into()).spawn(move || writer.run(rx, &shutdown))?;
        let joined = tokio::task::spawn_blocking(move || {
            if thread.join().is_err() {
                tracing::error!("the receipt writer panicked");
            }
        });
        Ok((Self { queue: Some(tx), queued, rate, store }, Some(joined)))
    }

    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Whether a receipt recorded now would be queued, within the rate; when not, a call builds none and
    /// counts it dropped ([`ReceiptLog::drop_one`]). Takes a token of the rate when it answers yes.
    pub fn has_room(&self) -> bool {
        self.enabled() && self.queued.load(Ordering::Relaxed) < QUEUE && self.rate.check().is_ok()
    }

    pub fn drop_one(&self) {
        if self.enabled() {
            METRICS.receipts_dropped.inc();
        }
    }

    /// Never waits: a full queue drops the receipt.
    pub fn record(&self, receipt: Receipt) {
        let Some(queue) = &self.queue else { return };
        match queue.try_send(Job::Store(Box::new(receipt))) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => METRICS.receipts_dropped.inc(),
        }
    }

    /// Forgets an instance's receipts and delivery ids, after any of its receipts still queued.
    pub fn forget(&self, instance: InstanceId) {
        let Some(queue) = &self.queue else {
            // No writer: nothing queued, so the records go at once.
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.remove_call_records(instance).await {
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
    store: Repository,
    config: ReceiptsConfig,
    last_sweep: Option<Instant>,
    /// Receipts stored per instance, counted once and then kept up to date, so that keeping an
    /// instance to its bound costs nothing until it is over it.
    counts: HashMap<InstanceId, usize>,
    queued: Arc<AtomicUsize>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>, shutdown: &CancellationToken) {
        let mut jobs = Vec::with_capacity(BATCH);
        lowest_priority();
        loop {
            // Wakes now and then: to stop in time, and so that old receipts go even when no call arrives.
            match rx.recv_timeout(WAKE_EVERY) {
                Ok(job) => {
                    jobs.push(job);
                    // Receipts arriving meanwhile join the batch: one store batch for many receipts, and
                    // one wake-up of the writer, instead of one each.
                    if !shutdown.is_cancelled() {
                        std::thread::sleep(LINGER);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            jobs.extend(rx.try_iter().take(BATCH));
            self.apply(&mut jobs);
            if shutdown.is_cancelled() {
                // What is still queued at a stop is stored; what arrives later is not waited for.
                jobs.extend(rx.try_iter());
                self.apply(&mut jobs);
                if let Err(e) = self.store.flush_receipts() {
                    tracing::warn!(error = %e, "flushing receipts at shutdown failed");
                }
                break;
            }
        }
    }

    fn apply(&mut self, jobs: &mut Vec<Job>) {
        let mut receipts = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Store(r) => {
                    // Saturating: a receipt counted after the writer took it must not wrap the count.
                    let _ =
                        self.queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
                    receipts.push(*r);
                }
                Job::Forget(instance) => {
                    // Receipts queued before the instance went are stored first, then removed with it.
                    self.store_batch(&mut receipts);
                    self.counts.remove(&instance);
                    if let Err(e) = self.store.forget_calls(&instance) {
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

    fn store_batch(&mut self, receipts: &mut Vec<Receipt>) {
        if receipts.is_empty() {
            return;
        }
        if let Err(e) = self.store_and_trim(receipts) {
            METRICS.receipts_dropped.inc_by(receipts.len() as u64);
            tracing::error!(error = %e, receipts = receipts.len(), "storing receipts failed");
            // What was stored is unknown now: count again.
            self.counts.clear();
        }
        receipts.clear();
    }

    fn store_and_trim(&mut self, receipts: &[Receipt]) -> StoreResult<()> {
        let store = &self.store;
        let keep = self.config.per_instance.max(1);
        for (instance, added) in store.write_receipts(receipts)? {
            let count = match self.counts.get(&instance) {
                Some(count) => count + added,
                None => store.count_receipts(&instance)?,
            };
            let over = count.saturating_sub(keep);
            if over > 0 {
                store.remove_oldest_receipts(&instance, over)?;
            }
            self.counts.insert(instance, count - over);
        }
        Ok(())
    }

    fn sweep(&mut self) {
        // The sweep removes receipts behind the counts' back.
        self.counts.clear();
        let cutoff_ms = crate::domain::now_epoch_ms().saturating_sub(self.config.retention_hours * 3_600_000);
        let cutoff = ReceiptId::at_ms(cutoff_ms);
        match self.store.remove_receipts_before(cutoff.as_str()) {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "removed receipts past their retention"),
            Err(e) => tracing::error!(error = %e, "removing old receipts failed"),
        }
    }
}

/// `SCHED_IDLE`: the writer runs only on a core nothing else wants. Receipts have a database of their
/// own, which nothing on the acknowledgement path or in an admin write touches, so a writer that waits
/// for a slice in the middle of a write holds up no one but readers of receipts.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
        };
        use thread_priority::{ThreadPriority, ThreadPriorityOsValue};
        let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let priority = ThreadPriority::Os(ThreadPriorityOsValue::default());
        if let Err(e) = set_thread_priority_and_policy(thread_native_id(), priority, policy) {
            tracing::warn!(error = ?e, "the receipt writer runs at normal priority");
        }
    }
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
        Ok(self.store.list_receipts(system, instance, filter, page).await?)
    }

    pub async fn get_receipt(&self, system: SystemId, instance: InstanceId, id: ReceiptId) -> EngineResult<Receipt> {
        let found = self.store.get_receipt(system, instance, id).await?;
        found.ok_or(super::EngineError::NotFound("receipt"))
    }
}
