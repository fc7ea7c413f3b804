//! The engine decides: it turns validated input into stored records, enforces the rules that need
//! stored data (registered drivers, existing modules) and answers the queries the HTTP layer needs.

pub mod actions;
mod api_keys;
pub mod callout_gate;
mod callouts;
pub mod clock;
pub mod comparison;
pub mod condition_state;
pub mod dedup;
pub mod evaluator;
pub mod exec;
pub mod inputs;
mod instances;
pub mod mailer;
mod modules;
pub mod receipts;
pub mod runs;
pub mod runtime;
pub mod schedule;
pub mod status_keeper;
mod systems;
pub(crate) mod triggers;
pub mod webhook;

use std::sync::Arc;

pub use api_keys::{Caller, KeyRing};
pub use exec::ExecError;
pub use instances::{InstanceRecord, SigningSecretSet};
pub use modules::ModuleView;

use crate::domain::ValidationError;
use crate::drivers::runtime::ModuleRuntime;
use crate::drivers::DriverRegistry;
use crate::events::{EngineEvent, EventBus};
use crate::store::{Repository, StoreError};
use evaluator::Evaluator;
use runtime::TriggerRuntime;
use webhook::WebhookLimits;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// An expected refusal of an exec request or a module call.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A retry asked of a run that has not failed.
    #[error("only a failed run can be retried; this one is {}", .0.as_str())]
    RunNotFailed(crate::domain::run::RunStatus),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Invalid(v) => Self::Invalid(v),
            other => Self::Store(other),
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

enum Refresh<'a> {
    Instance(&'a crate::domain::InstanceId),
    System(&'a crate::domain::SystemId),
    Trigger(&'a crate::domain::TriggerId),
}

pub struct Engine {
    store: Repository,
    drivers: Arc<DriverRegistry>,
    keys: KeyRing,
    runtime: Arc<TriggerRuntime>,
    limits: WebhookLimits,
    modules: Arc<ModuleRuntime>,
    events: Arc<EventBus>,
    evaluator: Arc<Evaluator>,
    targets: webhook::TargetCache,
    receipts: receipts::ReceiptLog,
    dedup: dedup::Deliveries,
    webhook: crate::config::WebhookConfig,
    runs: Arc<runs::RunWorker>,
    callouts: Arc<callout_gate::CalloutGate>,
}

/// Everything an [`Engine`] is built from.
pub struct EngineParts {
    pub store: Repository,
    pub drivers: Arc<DriverRegistry>,
    pub keys: KeyRing,
    pub runtime: Arc<TriggerRuntime>,
    pub limits: WebhookLimits,
    pub modules: Arc<ModuleRuntime>,
    pub events: Arc<EventBus>,
    pub evaluator: Arc<Evaluator>,
    pub receipts: receipts::ReceiptLog,
    pub webhook: crate::config::WebhookConfig,
    pub runs: Arc<runs::RunWorker>,
    pub callouts: Arc<callout_gate::CalloutGate>,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Self {
        let EngineParts {
            store,
            drivers,
            keys,
            runtime,
            limits,
            modules,
            events,
            evaluator,
            receipts,
            webhook,
            runs,
            callouts,
        } = parts;
        let dedup = dedup::Deliveries::new(&webhook);
        Self {
            store,
            drivers,
            keys,
            runtime,
            limits,
            modules,
            events,
            evaluator,
            targets: Default::default(),
            receipts,
            dedup,
            webhook,
            runs,
            callouts,
        }
    }

    /// Awaits a store write and returns once it is on disk: an admin change a 2xx acknowledges
    /// survives a crash. The flush is shared with concurrent fires through the group commit.
    async fn write<T>(
        &self,
        write: impl std::future::Future<Output = crate::store::StoreResult<T>>,
    ) -> EngineResult<T> {
        let value = write.await?;
        self.runtime.flushed().await?;
        Ok(value)
    }

    /// See [`EventBus::make`].
    fn event(&self, kind: &str, system: Option<&str>, data: impl FnOnce() -> serde_json::Value) -> Vec<EngineEvent> {
        self.events.make(kind, system, data)
    }

    /// The events describing a record a store call computes, for that call to commit with it:
    /// `describe` gives the event's system and data. The cause (actor, request) is taken now, in the
    /// request's task: the store call runs on the blocking pool, outside it.
    fn events_for<T>(
        &self,
        kind: &'static str,
        describe: impl FnOnce(&T) -> (Option<String>, serde_json::Value) + Send + 'static,
    ) -> crate::store::repo::Announce<T> {
        let bus = Arc::clone(&self.events);
        let cause = crate::events::context::current();
        Box::new(move |record| {
            let (system, data) = describe(record);
            crate::events::context::within_sync(cause, || bus.make(kind, system.as_deref(), || data))
        })
    }

    pub fn events(&self) -> &Arc<EventBus> {
        &self.events
    }

    /// Rebuilds condition tracking after an admin change; failures are logged, never surfaced, since
    /// the change itself is stored.
    async fn refresh(&self, what: Refresh<'_>) {
        self.targets.invalidate();
        let result = match what {
            Refresh::Instance(id) => self.evaluator.load(id).await,
            Refresh::System(id) => self.evaluator.reload_system(id).await,
            Refresh::Trigger(id) => self.evaluator.reload_trigger(id).await,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "refreshing trigger conditions failed");
        }
    }

    pub fn modules(&self) -> &Arc<ModuleRuntime> {
        &self.modules
    }

    pub fn drivers(&self) -> &DriverRegistry {
        &self.drivers
    }

    pub fn store(&self) -> &Repository {
        &self.store
    }
}
