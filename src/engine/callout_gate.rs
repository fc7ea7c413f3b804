//! Asking callouts before a call goes ahead: which callouts the call needs (an index by system,
//! rebuilt on every change, so a call that needs none pays one map lookup), the signed requests, all
//! in parallel, the combined verdict, and the log, written by a task of its own behind the caller's back.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::CalloutsConfig;
use crate::domain::callout::{decide, with_policy, Callout, Gate, Unanswered, Verdict};
use crate::domain::callout_log::{Decision, Envelope, LogEntry, Question};
use crate::domain::ids::CalloutId;
use crate::domain::{now_epoch_ms, now_epoch_seconds, SystemId};
use crate::metrics::METRICS;
use crate::outbound::sender::Sender;
use crate::store::{Repository, StoreResult};

/// What every callout a call needed said, together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clearance {
    Allowed,
    /// A callout denied; its reason.
    Denied(String),
    /// A callout gave no usable answer and its failure policy is `deny`; why.
    Unavailable(String),
}

/// Log entries waiting for the writer, at most; beyond it they are counted and dropped.
const LOG_QUEUE: usize = 10_000;
const LOG_BATCH: usize = 256;
/// How often entries past `log_retention_hours` are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Enabled callouts by scope.
#[derive(Default)]
struct Index {
    everywhere: Vec<Arc<Callout>>,
    by_system: HashMap<SystemId, Vec<Arc<Callout>>>,
}

impl Index {
    fn build(callouts: Vec<Callout>) -> Self {
        let mut index = Self::default();
        for callout in callouts.into_iter().filter(|c| c.spec.enabled) {
            match callout.spec.system_id.clone() {
                Some(system) => index.by_system.entry(system).or_default().push(Arc::new(callout)),
                None => index.everywhere.push(Arc::new(callout)),
            }
        }
        index
    }

    fn matching(&self, gate: &Gate<'_>) -> Vec<Arc<Callout>> {
        let scoped = self.by_system.get(gate.system).map_or(&[][..], Vec::as_slice);
        self.everywhere.iter().chain(scoped).filter(|c| c.spec.applies(gate)).cloned().collect()
    }
}

pub struct CalloutGate {
    index: RwLock<Arc<Index>>,
    /// Held from reading the stored callouts until their index is in place, so that a reload which
    /// read earlier can never replace one which read later.
    reloading: tokio::sync::Mutex<()>,
    sender: Sender,
    log: mpsc::Sender<(CalloutId, LogEntry)>,
    secret_grace_s: u64,
}

impl CalloutGate {
    /// The gate, with the callouts stored, and its log writer, which ends at shutdown once it has
    /// stored what was queued.
    pub async fn start(
        store: Repository,
        sender: Sender,
        config: &CalloutsConfig,
        shutdown: CancellationToken,
    ) -> StoreResult<(Arc<Self>, JoinHandle<()>)> {
        let callouts = store.all_callouts().await?;
        let (log, queued) = mpsc::channel(LOG_QUEUE);
        let gate = Arc::new(Self {
            index: RwLock::new(Arc::new(Index::build(callouts))),
            reloading: tokio::sync::Mutex::new(()),
            sender,
            log,
            secret_grace_s: config.secret_grace_period_s,
        });
        let writer = tokio::spawn(write_log(store, queued, config.clone(), shutdown));
        Ok((gate, writer))
    }

    /// Rebuilds the index from the store; call after every change to a callout.
    pub async fn reload(&self, store: &Repository) -> StoreResult<()> {
        let _turn = self.reloading.lock().await;
        let callouts = store.all_callouts().await?;
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Index::build(callouts));
        Ok(())
    }

    /// How long a rotated-out secret keeps signing.
    pub fn secret_grace_s(&self) -> u64 {
        self.secret_grace_s
    }

    /// Whether a call needs any callout.
    pub fn needed(&self, gate: &Gate<'_>) -> bool {
        !self.matching(gate).is_empty()
    }

    /// The enabled callouts a call needs.
    pub fn matching(&self, gate: &Gate<'_>) -> Vec<Arc<Callout>> {
        // Replaced whole, never changed in place: a poisoned lock still holds a complete index.
        self.index.read().unwrap_or_else(|p| p.into_inner()).matching(gate)
    }

    /// Asks every callout at once and waits for all of them; a denial outweighs an unavailable one.
    pub async fn ask(&self, question: &Question, callouts: &[Arc<Callout>]) -> Clearance {
        let entries = join_all(callouts.iter().map(|c| self.ask_one(question, c))).await;
        let refused = || entries.iter().filter(|e| !e.allowed);
        let outcome = match refused().find(|e| e.decision == Decision::Deny) {
            Some(denied) => Clearance::Denied(denied.reason.clone().unwrap_or_default()),
            None => match refused().next() {
                Some(failed) => Clearance::Unavailable(failed.error.clone().unwrap_or_default()),
                None => Clearance::Allowed,
            },
        };
        for (callout, entry) in callouts.iter().zip(entries) {
            if self.log.try_send((callout.id.clone(), entry)).is_err() {
                METRICS.callout_log_dropped.inc();
            }
        }
        outcome
    }

    async fn ask_one(&self, question: &Question, callout: &Callout) -> LogEntry {
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let at = now_epoch_ms();
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let started = Instant::now();
        let answer = match serde_json::to_string(&Envelope { id: &id, timestamp, question }) {
            Ok(body) => {
                let secrets = callout.signing_secrets(now_epoch_seconds());
                let timeout = Duration::from_millis(callout.spec.timeout_ms);
                match self.sender.ask(&callout.spec.url, &secrets, &id, body, timeout).await {
                    Ok((status, body)) => (Some(status), decide(status, &body)),
                    Err(why) => (None, Err(Unanswered(why))),
                }
            }
            Err(e) => (None, Err(Unanswered(format!("the question could not be written: {e}")))),
        };
        let elapsed = started.elapsed();
        let entry = entry_for(id, at, question, callout, answer, elapsed);
        METRICS.callout_requests.with_label_values(&[entry.decision.as_str()]).inc();
        METRICS.callout_latency.observe(elapsed.as_secs_f64());
        entry
    }
}

fn entry_for(
    id: String,
    at: u64,
    question: &Question,
    callout: &Callout,
    (status, answer): (Option<u16>, Result<Verdict, Unanswered>),
    elapsed: Duration,
) -> LogEntry {
    let (decision, reason, error) = match &answer {
        Ok(Verdict::Allow) => (Decision::Allow, None, None),
        Ok(Verdict::Deny { reason }) => (Decision::Deny, Some(reason.clone()), None),
        Err(why) => (Decision::Unavailable, None, Some(why.0.clone())),
    };
    let allowed = with_policy(answer, callout.spec.failure_policy) == Verdict::Allow;
    LogEntry {
        id,
        at,
        action: question.action,
        system_id: question.system_id.clone(),
        module: question.module.clone(),
        method: question.method.clone(),
        trigger_instance: question.trigger_instance.clone(),
        run: question.run.clone(),
        status,
        error,
        latency_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        decision,
        allowed,
        reason,
        request_id: question.request_id.clone(),
    }
}

/// Stores log entries in batches, keeps each callout's newest `log_max_entries`, and removes entries
/// past `log_retention_hours` every [`SWEEP_EVERY`].
async fn write_log(
    store: Repository,
    mut queued: mpsc::Receiver<(CalloutId, LogEntry)>,
    config: CalloutsConfig,
    shutdown: CancellationToken,
) {
    let mut counts: HashMap<CalloutId, usize> = HashMap::new();
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    let mut batch = Vec::with_capacity(LOG_BATCH);
    loop {
        tokio::select! {
            received = queued.recv_many(&mut batch, LOG_BATCH) => {
                if received == 0 {
                    return;
                }
                counts = store_batch(&store, counts, std::mem::take(&mut batch), config.log_max_entries).await;
            }
            _ = sweep.tick() => {
                // The sweep removes entries behind the counts' back.
                counts.clear();
                let cutoff = now_epoch_ms().saturating_sub(config.log_retention_hours.saturating_mul(3_600_000));
                if let Err(e) = store.remove_callout_log_before(cutoff).await {
                    tracing::warn!(error = %e, "removing old callout log entries failed");
                }
            }
            _ = shutdown.cancelled() => {
                while let Ok(entry) = queued.try_recv() {
                    batch.push(entry);
                }
                store_batch(&store, counts, batch, config.log_max_entries).await;
                return;
            }
        }
    }
}

/// Stores a batch and trims the callouts it touched; returns the counts known after it.
async fn store_batch(
    store: &Repository,
    mut counts: HashMap<CalloutId, usize>,
    entries: Vec<(CalloutId, LogEntry)>,
    keep: usize,
) -> HashMap<CalloutId, usize> {
    let mut added: HashMap<CalloutId, usize> = HashMap::new();
    for (callout, _) in &entries {
        *added.entry(callout.clone()).or_default() += 1;
    }
    let stored: StoreResult<_> = async {
        store.append_callout_log(entries).await?;
        for (callout, added) in added {
            let count = match counts.get(&callout) {
                Some(known) => known + added,
                // The scan sees this batch's entries too.
                None => store.count_callout_log(callout.clone()).await?,
            };
            let over = count.saturating_sub(keep);
            if over > 0 {
                store.remove_oldest_callout_log(callout.clone(), over).await?;
            }
            counts.insert(callout, count - over);
        }
        Ok(counts)
    }
    .await;
    stored.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "storing callout log entries failed");
        HashMap::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::callout::{CalloutMatch, CalloutOn, CalloutSpec, FailurePolicy};
    use crate::domain::signing_secret::SigningSecret;

    fn callout(system: Option<SystemId>, enabled: bool) -> Callout {
        let spec = CalloutSpec {
            name: "c".into(),
            url: "http://127.0.0.1:9/".into(),
            on: vec![CalloutOn::Exec],
            system_id: system,
            matching: CalloutMatch::default(),
            timeout_ms: 100,
            failure_policy: FailurePolicy::Deny,
            enabled,
        };
        let secret = SigningSecret::generate();
        Callout { id: CalloutId::generate(), spec, secret, previous_secret: None, created_at: 0, updated_at: 0 }
    }

    #[test]
    fn the_index_finds_enabled_callouts_of_the_system_and_of_every_system() {
        let (sys, other) = (SystemId::generate(), SystemId::generate());
        let everywhere = callout(None, true);
        let scoped = callout(Some(sys.clone()), true);
        let index = Index::build(vec![
            everywhere.clone(),
            scoped.clone(),
            callout(Some(other.clone()), true),
            callout(None, false),
        ]);
        let gate = |system| Gate { on: CalloutOn::Exec, system, module: None, method: None, trigger: None };
        let found: Vec<CalloutId> = index.matching(&gate(&sys)).iter().map(|c| c.id.clone()).collect();
        assert_eq!(found, vec![everywhere.id.clone(), scoped.id]);
        assert_eq!(index.matching(&gate(&SystemId::generate())).len(), 1, "only the unscoped one");
    }
}
