//! Running modules. Each module is a task that owns its driver value and takes calls one at a time
//! from a bounded mailbox. A call that overruns the timeout is abandoned (its future dropped) and
//! reported as a timeout; a call that panics is reported as a driver error and the driver is started
//! afresh, keeping the module's status map. Nothing outside the module is affected by either. The task
//! runs in a `module` tracing span, so a driver's log lines name their module.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::sdk::{Args, Driver, DriverEntry, DriverError, ModuleContext, StatusChange, StatusHandle};
use super::sdk::{WebhookRequest, WebhookResponse};
use super::DriverRegistry;
use crate::domain::module::Module;
use crate::domain::ModuleId;

const MAILBOX: usize = 64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("the driver did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the driver failed: {0}")]
    Driver(DriverError),
    #[error("the driver panicked and its module was restarted")]
    Panicked,
    #[error("the module's driver {0:?} is not registered")]
    UnknownDriver(String),
}

enum Job {
    Call { function: String, args: Args },
    Webhook { function: String, request: WebhookRequest },
}

enum Done {
    Value(Value),
    Response(WebhookResponse),
}

struct Envelope {
    job: Job,
    reply: oneshot::Sender<Result<Done, CallError>>,
}

struct Running {
    /// What the module was started with; a change restarts it.
    fingerprint: u64,
    /// The module value last seen to have that fingerprint: the same value again needs no new one.
    seen: Arc<Module>,
    mailbox: mpsc::Sender<Envelope>,
    stop: CancellationToken,
}

pub struct ModuleRuntime {
    registry: Arc<DriverRegistry>,
    call_timeout: Duration,
    running: Mutex<HashMap<ModuleId, Running>>,
    statuses: Mutex<HashMap<ModuleId, StatusHandle>>,
    changes: broadcast::Sender<StatusChange>,
    shutdown: CancellationToken,
}

fn fingerprint(module: &Module) -> u64 {
    let mut h = DefaultHasher::new();
    module.driver.hash(&mut h);
    module.control_system_id.as_ref().map(|s| s.as_str().to_owned()).hash(&mut h);
    Value::Object(module.settings.clone()).to_string().hash(&mut h);
    h.finish()
}

impl ModuleRuntime {
    pub fn new(registry: Arc<DriverRegistry>, call_timeout: Duration, shutdown: CancellationToken) -> Self {
        let (changes, _) = broadcast::channel(1024);
        Self { registry, call_timeout, running: Mutex::default(), statuses: Mutex::default(), changes, shutdown }
    }

    /// Every status change of every module.
    pub fn subscribe(&self) -> broadcast::Receiver<StatusChange> {
        self.changes.subscribe()
    }

    fn status_handle(&self, module: &Module) -> StatusHandle {
        let system = module.control_system_id.as_ref().map(|s| s.as_str());
        let mut statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        statuses
            .entry(module.id.clone())
            .or_insert_with(|| StatusHandle::new(module.id.as_str(), system, self.changes.clone()))
            .in_system(system)
    }

    /// The module's mailbox, starting (or restarting, if its settings changed) its task.
    fn mailbox(&self, module: &Arc<Module>) -> Result<mpsc::Sender<Envelope>, CallError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = running.get(&module.id).filter(|r| Arc::ptr_eq(&r.seen, module) && !r.mailbox.is_closed()) {
            return Ok(r.mailbox.clone());
        }
        let print = fingerprint(module);
        if let Some(r) = running.get_mut(&module.id) {
            if r.fingerprint == print && !r.mailbox.is_closed() {
                r.seen = Arc::clone(module);
                return Ok(r.mailbox.clone());
            }
            r.stop.cancel();
        }
        let entry = self
            .registry
            .entry(&module.driver)
            .cloned()
            .ok_or_else(|| CallError::UnknownDriver(module.driver.clone()))?;
        let ctx = ModuleContext {
            module_id: module.id.to_string(),
            system_id: module.control_system_id.as_ref().map(ToString::to_string),
            settings: module.settings.clone(),
            status: self.status_handle(module),
        };
        let (tx, rx) = mpsc::channel(MAILBOX);
        let stop = self.shutdown.child_token();
        // Started here rather than in the task so the initial status exists once this returns.
        let driver = start_driver(&entry, &ctx).ok();
        // Everything a driver logs carries its module and driver.
        let span = tracing::info_span!("module", module_id = %module.id, driver = %module.driver);
        tokio::spawn(run_module(entry, ctx, driver, rx, self.call_timeout, stop.clone()).instrument(span));
        running.insert(
            module.id.clone(),
            Running { fingerprint: print, seen: Arc::clone(module), mailbox: tx.clone(), stop },
        );
        Ok(tx)
    }

    async fn dispatch(&self, module: &Arc<Module>, job: Job) -> Result<Done, CallError> {
        let mailbox = self.mailbox(module)?;
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            mailbox.send(Envelope { job, reply }).await.map_err(|_| CallError::Panicked)?;
            answer.await.map_err(|_| CallError::Panicked)?
        };
        tokio::time::timeout(self.call_timeout, exchange).await.map_err(|_| CallError::Timeout(self.call_timeout))?
    }

    pub async fn call(&self, module: &Arc<Module>, function: &str, args: Args) -> Result<Value, CallError> {
        match self.dispatch(module, Job::Call { function: function.to_owned(), args }).await? {
            Done::Value(v) => Ok(v),
            Done::Response(_) => Err(CallError::Panicked),
        }
    }

    pub async fn webhook(
        &self,
        module: &Arc<Module>,
        function: &str,
        request: WebhookRequest,
    ) -> Result<WebhookResponse, CallError> {
        match self.dispatch(module, Job::Webhook { function: function.to_owned(), request }).await? {
            Done::Response(r) => Ok(r),
            Done::Value(_) => Err(CallError::Panicked),
        }
    }

    /// The module's status map, starting the module if it is not running so its initial status exists.
    pub fn status(&self, module: &Arc<Module>) -> Result<Map<String, Value>, CallError> {
        self.mailbox(module)?;
        Ok(self.status_handle(module).snapshot())
    }

    /// Stops a deleted module and forgets its status.
    pub fn remove(&self, id: &ModuleId) {
        if let Some(r) = self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
            r.stop.cancel();
        }
        self.statuses.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

fn start_driver(entry: &DriverEntry, ctx: &ModuleContext) -> Result<Box<dyn Driver>, CallError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| (entry.factory)(ctx.clone()))) {
        Ok(Ok(driver)) => Ok(driver),
        Ok(Err(e)) => Err(CallError::Driver(e)),
        Err(_) => Err(CallError::Panicked),
    }
}

async fn run_module(
    entry: DriverEntry,
    ctx: ModuleContext,
    mut driver: Option<Box<dyn Driver>>,
    mut mailbox: mpsc::Receiver<Envelope>,
    call_timeout: Duration,
    stop: CancellationToken,
) {
    loop {
        let envelope = tokio::select! {
            envelope = mailbox.recv() => envelope,
            _ = stop.cancelled() => None,
        };
        let Some(Envelope { job, reply }) = envelope else { return };
        if reply.is_closed() {
            continue; // The caller already gave up.
        }
        if driver.is_none() {
            match start_driver(&entry, &ctx) {
                Ok(d) => driver = Some(d),
                Err(e) => {
                    let _ = reply.send(Err(e));
                    continue;
                }
            }
        }
        let Some(active) = driver.as_mut() else { continue };
        let work = async {
            match job {
                Job::Call { function, args } => active.call(&function, args).await.map(Done::Value),
                Job::Webhook { function, request } => active.webhook(&function, request).await.map(Done::Response),
            }
        };
        let outcome = tokio::time::timeout(call_timeout, AssertUnwindSafe(work).catch_unwind()).await;
        let result = match outcome {
            Err(_) => Err(CallError::Timeout(call_timeout)),
            Ok(Err(_)) => {
                tracing::error!(module = %ctx.module_id, driver = %entry.descriptor.name, "driver panicked; restarting");
                driver = start_driver(&entry, &ctx).ok();
                Err(CallError::Panicked)
            }
            Ok(Ok(r)) => r.map_err(CallError::Driver),
        };
        let _ = reply.send(result);
    }
}
