//! The decisions behind a trigger webhook call: which instance it names, whether its secret and method
//! admit it, whether it is over its rate, and what firing does.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::dedup::{Claim, ClaimGuard};
use super::runtime::{Notified, TriggerRuntime};
use super::{Engine, EngineResult};
use crate::config::WebhookConfig;

use super::ModuleView;
use crate::domain::instance::TriggerInstance;
use crate::domain::methods::{SupportedMethods, WebhookMethod};
use crate::domain::secret::WebhookSecret;
use crate::domain::trigger::Trigger;
use crate::domain::{InstanceId, ReceiptId, SharedIdMap, SystemId};

/// An instance with its trigger; from [`Engine::webhook_target`], one whose secret matched and that
/// accepts webhooks.
pub struct WebhookTarget {
    pub instance: TriggerInstance,
    pub trigger: Arc<Trigger>,
}

/// One reference count per instance to bump on a call, not the trigger's that all its instances share.
type Resolved = Option<Arc<WebhookTarget>>;
/// Cached values with the generation they were read in.
type Cached<K, V> = SharedIdMap<K, (u64, V)>;

/// What the webhook path knows about instances, so that a call costs no storage read. Any admin
/// change that could alter an answer bumps the generation; an entry from an older generation is
/// read again. Unknown ids are remembered too (up to a bound), so that known and unknown ids cost
/// the same.
#[derive(Default)]
pub struct TargetCache {
    generation: std::sync::atomic::AtomicU64,
    entries: Cached<InstanceId, Resolved>,
    /// Systems' modules with their names and indexes, for exec requests.
    systems: Cached<SystemId, Arc<Vec<ModuleView>>>,
}

/// Entries kept before the cache starts over, bounding what random ids can make it hold.
const MAX_CACHED: usize = 200_000;

impl TargetCache {
    fn current(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn get(&self, id: &InstanceId) -> Option<Resolved> {
        self.entries.get(id).filter(|e| e.0 == self.current()).map(|e| e.1.clone())
    }

    /// `generation` is the one read before loading, so a change that raced the load wins.
    fn put(&self, id: InstanceId, generation: u64, resolved: Resolved) {
        // `len` visits every shard: a miss's cost, not a hit's.
        if self.entries.len() >= MAX_CACHED {
            self.entries.clear();
        }
        self.entries.insert(id, (generation, resolved));
    }

    fn modules(&self, system: &SystemId) -> Option<Arc<Vec<ModuleView>>> {
        self.systems.get(system).filter(|e| e.0 == self.current()).map(|e| Arc::clone(&e.1))
    }

    fn put_modules(&self, system: SystemId, generation: u64, modules: Arc<Vec<ModuleView>>) {
        if self.systems.len() >= MAX_CACHED {
            self.systems.clear();
        }
        self.systems.insert(system, (generation, modules));
    }

    /// Forgets everything; called after admin changes to instances, triggers, systems or modules.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.entries.clear();
        self.systems.clear();
    }
}

impl WebhookTarget {
    pub fn supported_methods(&self) -> &SupportedMethods {
        &self.trigger.spec.supported_methods
    }

    fn accepts_webhooks(&self) -> bool {
        self.instance.enabled && self.trigger.spec.enable_webhook
    }

    /// Calls without a URL secret are taken when their signature verifies.
    pub fn signature_replaces_secret(&self) -> bool {
        self.trigger.spec.webhook_verification.as_ref().is_some_and(|v| !v.require_url_secret())
    }
}

/// Per-instance request rate limits.
pub struct WebhookLimits {
    limiter: DefaultKeyedRateLimiter<InstanceId>,
    clock: DefaultClock,
}

impl WebhookLimits {
    pub fn new(config: &WebhookConfig) -> Self {
        // Config validation guarantees both are at least 1.
        let rate = NonZeroU32::new(config.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(config.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        Self { limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)), clock: DefaultClock::default() }
    }

    /// `Err(wait)` when the instance is over its rate.
    fn check(&self, id: &InstanceId) -> Result<(), Duration> {
        self.limiter.check_key(id).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets instances that have been quiet long enough to be back at a full burst.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// A secret that can never match, compared when the instance does not exist so that an unknown id
/// costs the same comparison as a wrong secret.
fn decoy() -> &'static WebhookSecret {
    static DECOY: std::sync::OnceLock<WebhookSecret> = std::sync::OnceLock::new();
    DECOY.get_or_init(WebhookSecret::generate)
}

impl Engine {
    /// The instance named by `raw_id` if `secret` is its secret, it is enabled and its trigger accepts
    /// webhooks; `None` for every other case alike.
    pub async fn webhook_target(&self, raw_id: &str, secret: &str) -> EngineResult<Option<Arc<WebhookTarget>>> {
        let Some(target) = self.resolve_target(raw_id).await? else {
            decoy().matches(secret);
            return Ok(None);
        };
        let secret_ok = target.instance.webhook_secret.matches(secret);
        Ok(target.accepts_webhooks().then_some(target).filter(|_| secret_ok))
    }

    /// The instance named by `raw_id` if it accepts webhooks, whatever its URL secret: for calls whose
    /// signature stands in for the secret (`require_url_secret: false`) and for replays.
    pub async fn webhook_target_unchecked(&self, raw_id: &str) -> EngineResult<Option<Arc<WebhookTarget>>> {
        Ok(self.resolve_target(raw_id).await?.filter(|t| t.accepts_webhooks()))
    }

    async fn resolve_target(&self, raw_id: &str) -> EngineResult<Option<Arc<WebhookTarget>>> {
        let Some(id) = InstanceId::parse(raw_id) else {
            return Ok(None);
        };
        if let Some(resolved) = self.targets.get(&id) {
            return Ok(resolved);
        }
        let generation = self.targets.current();
        let lookup = id.clone();
        let found = self.store.webhook_target(lookup).await?;
        let resolved =
            found.map(|(instance, trigger, _)| Arc::new(WebhookTarget { instance, trigger: Arc::new(trigger) }));
        self.targets.put(id, generation, resolved.clone());
        Ok(resolved)
    }

    /// A system's modules as exec requests resolve them, from the cache when it is current.
    pub(super) async fn resolved_modules(&self, system: SystemId) -> EngineResult<Arc<Vec<ModuleView>>> {
        if let Some(modules) = self.targets.modules(&system) {
            return Ok(modules);
        }
        let generation = self.targets.current();
        let modules = Arc::new(self.system_modules(system.clone()).await?);
        self.targets.put_modules(system, generation, Arc::clone(&modules));
        Ok(modules)
    }

    /// Takes one token from the instance's bucket, or says how long until one is free.
    pub fn webhook_rate_check(&self, target: &WebhookTarget) -> Result<(), Duration> {
        self.limits.check(&target.instance.id)
    }

    /// Fires the instance's webhook condition for the call recorded as `receipt`.
    pub async fn webhook_fire(
        &self,
        target: &WebhookTarget,
        method: &str,
        receipt: &ReceiptId,
        body: &[u8],
    ) -> EngineResult<Notified> {
        let inst = &target.instance;
        let data = || {
            serde_json::json!({
                "trigger_instance": inst.id, "trigger_id": inst.trigger_id, "system_id": inst.control_system_id,
                "method": method, "receipt": receipt,
            })
        };
        self.events.emit_with("webhook.received", Some(inst.control_system_id.as_str()), data).await;
        Ok(self.runtime.webhook_call(inst, &target.trigger.spec, body).await?)
    }

    /// Claims a call's delivery id for the instance; see [`super::dedup`].
    pub async fn claim_delivery(
        &self,
        instance: &InstanceId,
        delivery: &str,
        receipt: &ReceiptId,
    ) -> EngineResult<Claim> {
        Ok(self.dedup.claim(&self.store, instance, delivery, receipt).await?)
    }

    /// Stores a claimed delivery id; call once the call's fire is durable.
    pub async fn confirm_delivery(&self, claim: ClaimGuard) -> EngineResult<()> {
        Ok(self.dedup.confirm(&self.store, claim).await?)
    }

    /// Removes stored delivery ids older than the deduplication window; failures are logged.
    pub async fn sweep_deliveries(&self) {
        let cutoff = crate::domain::now_epoch_ms().saturating_sub(self.dedup.window_ms());
        match self.store.remove_deliveries_before(cutoff).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "removed delivery ids past the deduplication window"),
            Err(e) => tracing::error!(error = %e, "removing old delivery ids failed"),
        }
    }

    /// Whether the instance is triggered, and how often it has fired.
    pub async fn instance_counters(&self, instance: &InstanceId) -> EngineResult<(bool, u64)> {
        let id = instance.clone();
        let state = self.store.find_state(id).await?.unwrap_or_default();
        Ok((state.triggered, state.trigger_count))
    }

    pub fn webhook_limits(&self) -> &WebhookLimits {
        &self.limits
    }

    pub fn runtime(&self) -> &Arc<TriggerRuntime> {
        &self.runtime
    }
}

/// HEAD is answered like GET.
pub fn effective_method(method: &str) -> Option<WebhookMethod> {
    WebhookMethod::parse(if method == "HEAD" { "GET" } else { method })
}
