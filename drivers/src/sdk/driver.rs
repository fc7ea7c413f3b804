use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use super::{Args, DriverDescriptor, WebhookRequest, WebhookResponse};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverError {
    /// The module's settings cannot be used; `field` names the setting.
    InvalidSettings { field: String, message: String },
    /// The arguments were well-typed but not acceptable (e.g. a volume of 120).
    InvalidArgs(String),
    /// The driver does not implement the function it was asked for.
    UnknownFunction(String),
    /// The device or service behind the driver failed.
    Failed(String),
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriverError::InvalidSettings { field, message } => write!(f, "setting {field}: {message}"),
            DriverError::InvalidArgs(m) => write!(f, "invalid arguments: {m}"),
            DriverError::UnknownFunction(name) => write!(f, "the driver has no function {name}"),
            DriverError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DriverError {}

/// One changed status value, broadcast inside the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub module_id: String,
    pub system_id: Option<String>,
    pub key: String,
    pub value: Value,
    /// What the engine said caused the call that made the change (see [`with_cause`]); `None` for a
    /// change a driver makes on its own, outside any call.
    pub cause: Option<Cause>,
}

/// The engine's record of why a call runs, opaque to drivers: carried from the call to the status
/// changes it makes, so that their events name who made the call.
#[derive(Clone)]
pub struct Cause(pub Arc<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cause(..)")
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A module's status map. Cloning shares the map.
#[derive(Clone)]
pub struct StatusHandle {
    module_id: String,
    system_id: Option<String>,
    map: Arc<RwLock<Map<String, Value>>>,
    changes: broadcast::Sender<StatusChange>,
}

impl StatusHandle {
    pub fn new(module_id: &str, system_id: Option<&str>, changes: broadcast::Sender<StatusChange>) -> Self {
        Self { module_id: module_id.to_owned(), system_id: system_id.map(str::to_owned), map: Arc::default(), changes }
    }

    /// The same map, reporting changes as belonging to another system (after the module moved).
    pub fn in_system(&self, system_id: Option<&str>) -> Self {
        Self { system_id: system_id.map(str::to_owned), ..self.clone() }
    }

    /// Publishes a value; an unchanged value is not broadcast again.
    pub fn set(&self, key: &str, value: Value) {
        let changed = {
            let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
            if map.get(key) == Some(&value) {
                false
            } else {
                map.insert(key.to_owned(), value.clone());
                true
            }
        };
        if changed {
            // Nobody listening is fine: the map still holds the value.
            let _ = self.changes.send(StatusChange {
                module_id: self.module_id.clone(),
                system_id: self.system_id.clone(),
                key: key.to_owned(),
                value,
                cause: CAUSE.try_with(Clone::clone).ok(),
            });
        }
    }

    /// Sets values without announcing them: the engine restoring a module's last status before its
    /// driver starts. The driver's own writes replace them.
    pub fn preset(&self, values: Map<String, Value>) {
        self.map.write().unwrap_or_else(|p| p.into_inner()).extend(values);
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    pub fn snapshot(&self) -> Map<String, Value> {
        self.map.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What a module is given when it starts.
#[derive(Clone)]
pub struct ModuleContext {
    pub module_id: String,
    pub system_id: Option<String>,
    /// Already checked against the driver's declared settings.
    pub settings: Map<String, Value>,
    pub status: StatusHandle,
}

tokio::task_local! {
    /// The idempotency key of the trigger action a call carries out.
    static IDEMPOTENCY_KEY: String;
    /// Why the call under way runs (the engine sets it around every call).
    static CAUSE: Cause;
}

/// Runs `call` with `cause`, which the status changes it makes carry (the engine does this).
pub async fn with_cause<F: std::future::Future>(cause: Cause, call: F) -> F::Output {
    CAUSE.scope(cause, call).await
}

/// Runs `call` as the attempt of a trigger action with this idempotency key (the engine does this).
pub async fn with_idempotency_key<F: std::future::Future>(key: String, call: F) -> F::Output {
    IDEMPOTENCY_KEY.scope(key, call).await
}

impl ModuleContext {
    /// While a call made by a trigger action runs: its idempotency key, `run_id:action_index`, the same
    /// on every retry of that action, so a driver can tell a retry from a new request. `None` for
    /// calls from the API or a webhook.
    pub fn idempotency_key(&self) -> Option<String> {
        IDEMPOTENCY_KEY.try_with(Clone::clone).ok()
    }

    pub fn setting_str(&self, name: &str) -> Option<&str> {
        self.settings.get(name).and_then(Value::as_str)
    }

    pub fn setting_u64(&self, name: &str) -> Option<u64> {
        self.settings.get(name).and_then(Value::as_u64)
    }
}

/// A driver. The engine creates one value per module with [`Driver::start`] and hands it calls one
/// at a time, so `&mut self` needs no locking. A panic in a call restarts the module.
#[async_trait]
pub trait Driver: Send + 'static {
    fn descriptor() -> DriverDescriptor
    where
        Self: Sized;

    /// Starts a module. It must be cheap and free of side effects: the engine also calls it (and drops
    /// the result) to validate settings when a module is saved. Connect to devices lazily.
    fn start(ctx: ModuleContext) -> Result<Self, DriverError>
    where
        Self: Sized;

    /// An ordinary function, with its arguments by name.
    async fn call(&mut self, function: &str, _args: Args) -> Result<Value, DriverError> {
        Err(DriverError::UnknownFunction(function.to_owned()))
    }

    /// A webhook method, with the HTTP request that reached the trigger webhook.
    async fn webhook(&mut self, function: &str, _request: WebhookRequest) -> Result<WebhookResponse, DriverError> {
        Err(DriverError::UnknownFunction(function.to_owned()))
    }
}
