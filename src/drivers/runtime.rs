//! Running modules. Each module owns one driver value behind a fair (first come, first served) lock,
//! so it takes calls one at a time. A call runs as a task on the drivers' own runtime, never on an
//! HTTP worker: a driver that blocks its thread, loops or panics cannot delay requests that do not
//! call it, and a caller that goes away does not cut a call short. The caller waits at most the call
//! timeout (waiting for its turn included) and answers a timeout on time even when the driver never
//! yields; the abandoned call is cancelled at its next await. A call that panics is reported as a
//! driver error and the driver is started afresh, keeping the module's status map. Calls run in a
//! `module` tracing span, so a driver's log lines name their module.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::{Map, Value};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::sdk::{
    with_cause, with_idempotency_key, Args, Cause, Driver, DriverEntry, DriverError, ModuleContext, StatusChange,
    StatusHandle,
};
use super::sdk::{WebhookRequest, WebhookResponse};
use super::DriverRegistry;
use crate::domain::module::Module;
use crate::domain::ModuleId;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("the driver did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the driver failed: {0}")]
    Driver(DriverError),
    #[error("the driver panicked and its module was restarted")]
    Panicked,
    #[error("the module was stopped")]
    Stopped,
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

/// One started module: its driver (`None` until a start succeeds) and what restarts it.
struct Cell {
    entry: DriverEntry,
    ctx: ModuleContext,
    driver: tokio::sync::Mutex<Option<Box<dyn Driver>>>,
    /// Cancelled when the module is removed, restarted with new settings, or the engine stops.
    stop: CancellationToken,
    span: tracing::Span,
}

impl Cell {
    async fn run(&self, job: Job) -> Result<Done, CallError> {
        let mut driver = self.driver.lock().await;
        if self.stop.is_cancelled() {
            return Err(CallError::Stopped);
        }
        if driver.is_none() {
            *driver = Some(start_driver(&self.entry, &self.ctx)?);
        }
        let Some(active) = driver.as_mut() else { return Err(CallError::Stopped) };
        let work = async {
            match job {
                Job::Call { function, args } => active.call(&function, args).await.map(Done::Value),
                Job::Webhook { function, request } => active.webhook(&function, request).await.map(Done::Response),
            }
        };
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(result) => result.map_err(CallError::Driver),
            Err(_) => {
                tracing::error!(module = %self.ctx.module_id, driver = %self.entry.descriptor.name, "driver panicked; restarting");
                *driver = start_driver(&self.entry, &self.ctx).ok();
                Err(CallError::Panicked)
            }
        }
    }
}

struct Running {
    /// What the module was started with; a change restarts it.
    fingerprint: u64,
    /// The module value last seen to have that fingerprint: the same value again needs no new one.
    seen: Arc<Module>,
    cell: Arc<Cell>,
}

/// The runtime driver code runs on. Dropped without waiting: a driver stuck in a blocking call must not
/// hold up a stopping server.
struct DriverThreads(Option<tokio::runtime::Runtime>);

impl DriverThreads {
    fn start() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, usize::from).max(2);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("driver")
            .enable_all()
            .build()
            // Only fails when the OS refuses threads; nothing can run without them.
            .expect("the driver runtime starts");
        Self(Some(runtime))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().map(tokio::runtime::Runtime::handle).expect("the driver runtime runs until dropped")
    }
}

impl Drop for DriverThreads {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

pub struct ModuleRuntime {
    threads: DriverThreads,
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
        Self {
            threads: DriverThreads::start(),
            registry,
            call_timeout,
            running: Mutex::default(),
            statuses: Mutex::default(),
            changes,
            shutdown,
        }
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

    /// The running module, starting it (or restarting it, if its settings changed).
    fn cell(&self, module: &Arc<Module>) -> Result<Arc<Cell>, CallError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = running.get_mut(&module.id).filter(|r| !r.cell.stop.is_cancelled()) {
            // Comparing pointers first spares serialising the settings on every call.
            if Arc::ptr_eq(&r.seen, module) || r.fingerprint == fingerprint(module) {
                r.seen = Arc::clone(module);
                return Ok(Arc::clone(&r.cell));
            }
        }
        if let Some(r) = running.remove(&module.id) {
            r.cell.stop.cancel();
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
        // Started here rather than at the first call so the initial status exists once this returns.
        let driver = start_driver(&entry, &ctx).ok();
        // Everything a driver logs carries its module and driver.
        let span = tracing::info_span!("module", module_id = %module.id, driver = %module.driver);
        let stop = self.shutdown.child_token();
        let cell = Arc::new(Cell { entry, ctx, driver: tokio::sync::Mutex::new(driver), stop, span });
        tokio::spawn(drop_when_stopped(Arc::clone(&cell)));
        running.insert(
            module.id.clone(),
            Running { fingerprint: fingerprint(module), seen: Arc::clone(module), cell: Arc::clone(&cell) },
        );
        Ok(cell)
    }

    /// `key`: the idempotency key of the trigger action the call carries out.
    async fn dispatch(&self, module: &Arc<Module>, job: Job, key: Option<String>) -> Result<Done, CallError> {
        let cell = self.cell(module)?;
        let timeout = self.call_timeout;
        let span = cell.span.clone();
        // The caller's actor and request, for the events of the status changes the call makes.
        let cause = Cause(Arc::new(crate::events::context::current()));
        let work = with_cause(cause, async move { cell.run(job).await });
        // A task of its own on the drivers' runtime, so the call completes even if its caller is
        // cancelled, and a driver that blocks its thread blocks none of the HTTP workers.
        let mut call = self.threads.handle().spawn(
            async move {
                match key {
                    Some(key) => with_idempotency_key(key, work).await,
                    None => work.await,
                }
            }
            .instrument(span),
        );
        match tokio::time::timeout(timeout, &mut call).await {
            Ok(done) => done.map_err(|_| CallError::Panicked)?,
            Err(_) => {
                call.abort();
                Err(CallError::Timeout(timeout))
            }
        }
    }

    pub async fn call(&self, module: &Arc<Module>, function: &str, args: Args) -> Result<Value, CallError> {
        self.call_keyed(module, function, args, None).await
    }

    /// A call made by a trigger action, whose idempotency key the driver can read.
    pub async fn call_keyed(
        &self,
        module: &Arc<Module>,
        function: &str,
        args: Args,
        key: Option<String>,
    ) -> Result<Value, CallError> {
        match self.dispatch(module, Job::Call { function: function.to_owned(), args }, key).await? {
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
        match self.dispatch(module, Job::Webhook { function: function.to_owned(), request }, None).await? {
            Done::Response(r) => Ok(r),
            Done::Value(_) => Err(CallError::Panicked),
        }
    }

    /// The module's status map, starting the module if it is not running so its initial status exists.
    pub fn status(&self, module: &Arc<Module>) -> Result<Map<String, Value>, CallError> {
        self.cell(module)?;
        Ok(self.status_handle(module).snapshot())
    }

    /// Gives a module the status it had before a restart, before its driver starts.
    pub fn restore(&self, id: &ModuleId, values: Map<String, Value>) {
        let mut statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        // The system is set whenever the handle is handed out (`status_handle`).
        statuses
            .entry(id.clone())
            .or_insert_with(|| StatusHandle::new(id.as_str(), None, self.changes.clone()))
            .preset(values);
    }

    /// A module's status map as it is, without starting the module; `None` for a module not seen.
    pub fn status_snapshot(&self, id: &ModuleId) -> Option<Map<String, Value>> {
        self.statuses.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(StatusHandle::snapshot)
    }

    /// Every module with a status map.
    pub fn known_modules(&self) -> Vec<ModuleId> {
        self.statuses.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }

    /// Stops a deleted module and forgets its status.
    pub fn remove(&self, id: &ModuleId) {
        if let Some(r) = self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
            r.cell.stop.cancel();
        }
        self.statuses.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// Drops a stopped module's driver once the call it may be running ends (a driver may hold
/// connections that close on drop).
async fn drop_when_stopped(cell: Arc<Cell>) {
    cell.stop.cancelled().await;
    cell.driver.lock().await.take();
}

fn start_driver(entry: &DriverEntry, ctx: &ModuleContext) -> Result<Box<dyn Driver>, CallError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| (entry.factory)(ctx.clone()))) {
        Ok(Ok(driver)) => Ok(driver),
        Ok(Err(e)) => Err(CallError::Driver(e)),
        Err(_) => Err(CallError::Panicked),
    }
}
