//! Builds the application from configuration: opens the store, loads keys, binds the listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

use crate::config::{Config, StoreBackend};
use crate::drivers::runtime::ModuleRuntime;
use crate::drivers::sdk::RegistryBuilder;
use crate::drivers::DriverRegistry;
use crate::engine::actions::ActionRunner;
use crate::engine::callout_gate::CalloutGate;
use crate::engine::clock::{Clock, SystemClock};
use crate::engine::evaluator::{scheduler, status_listener, Evaluator};
use crate::engine::mailer::Mailer;
use crate::engine::receipts::ReceiptLog;
use crate::engine::runs::RunWorker;
use crate::engine::runtime::TriggerRuntime;
use crate::engine::status_keeper::{keep_statuses, restore_statuses};
use crate::engine::webhook::WebhookLimits;
use crate::engine::{Engine, EngineParts, KeyRing};
use crate::events::EventBus;
use crate::http::middleware::{request_context, BodyTimeout};
use crate::http::{self, AppState};
use crate::outbound;
use crate::outbound::sender::Sender;
use crate::readiness::Readiness;
use crate::store::backend::Backend;
use crate::telemetry::{summarise_refusals, RedactedRootSpan};

/// What a build may swap out.
pub struct Options {
    pub drivers: RegistryBuilder,
    pub clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Self { drivers: DriverRegistry::builtin_builder(), clock: Arc::new(SystemClock) }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    store: Backend,
    bootstrap_admin_key: Option<String>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    /// Opens everything the server needs and binds its listener; nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_drivers(config, DriverRegistry::builtin_builder()).await
    }

    /// Like [`Application::build`], with the drivers given (the shipped ones plus a build's own, say).
    pub async fn build_with_drivers(config: Config, drivers: RegistryBuilder) -> anyhow::Result<Self> {
        Self::build_with(config, Options { drivers, ..Options::default() }).await
    }

    /// Builds with explicit drivers and clock (tests inject a manual clock).
    pub async fn build_with(config: Config, options: Options) -> anyhow::Result<Self> {
        let Options { drivers, clock } = options;
        let store =
            Backend::open(&config.store, &config.data_dir).await.with_context(|| match config.store.backend {
                StoreBackend::Sled => format!("opening the data directory {}", config.data_dir.display()),
                StoreBackend::Postgres => "connecting to PostgreSQL (store.postgres_url)".to_owned(),
            })?;
        let repo = store.repository();
        let keys = KeyRing::load(&repo, config.admin_key.as_deref()).await.context("loading API keys")?;
        let cleared = repo.clear_pulses().await.context("resetting trigger state")?;
        if cleared > 0 {
            tracing::info!(cleared, "reset instances left triggered by the previous run");
        }

        let shutdown = CancellationToken::new();
        let mut tasks = Vec::new();
        let events = EventBus::new();
        let (outbound, outbound_tasks) = outbound::start(repo.clone(), &events, &config.outbound, shutdown.clone())
            .await
            .context("starting outbound")?;
        tasks.extend(outbound_tasks);
        if let Some(sink) = events.sink() {
            repo.set_event_sink(sink);
        }
        let sync_interval = std::time::Duration::from_millis(config.store.sync_interval_ms);
        let (commit, flusher) =
            store.start_fire_log(&events, shutdown.clone(), sync_interval).context("starting the state journal")?;
        tasks.push(flusher);
        let runtime = TriggerRuntime::new(repo.clone(), commit, Arc::clone(&events), clock, shutdown.clone());
        let limits = WebhookLimits::new(&config.webhook);
        let drivers = Arc::new(DriverRegistry::from_builder(drivers));
        let modules = Arc::new(ModuleRuntime::new(
            Arc::clone(&drivers),
            Duration::from_millis(config.drivers.call_timeout_ms),
            shutdown.clone(),
        ));
        tasks.push(tokio::spawn(forward_status_changes(modules.subscribe(), Arc::clone(&events), shutdown.clone())));
        // Before any driver starts or condition is evaluated: both see the status from before the restart.
        restore_statuses(&repo, &modules).await.context("restoring module statuses")?;
        tasks.push(tokio::spawn(keep_statuses(
            repo.clone(),
            Arc::clone(&modules),
            modules.subscribe(),
            shutdown.clone(),
        )));

        let (callouts, callout_log) = CalloutGate::start(
            repo.clone(),
            Sender::new(&config.outbound).context("building the HTTP client of callouts")?,
            &config.callouts,
            shutdown.clone(),
        )
        .await
        .context("loading callouts")?;
        tasks.push(callout_log);
        let runner = ActionRunner {
            store: repo.clone(),
            drivers: Arc::clone(&drivers),
            modules: Arc::clone(&modules),
            mailer: Mailer::from_config(&config.smtp).context("configuring SMTP")?,
            http: Sender::new(&config.outbound).context("building the HTTP client of request actions")?,
            callouts: Arc::clone(&callouts),
        };
        let grace = Duration::from_secs(config.shutdown_timeout_s);
        let (runs, run_worker) = RunWorker::start(
            repo.clone(),
            Arc::clone(&events),
            runner,
            Arc::downgrade(&runtime),
            &config.actions,
            grace,
            shutdown.clone(),
        );
        tasks.push(run_worker);
        let evaluator = Evaluator::new(repo.clone(), Arc::clone(&drivers), Arc::clone(&modules), Arc::clone(&runtime));
        tasks.push(tokio::spawn(status_listener(Arc::clone(&evaluator), modules.subscribe(), shutdown.clone())));
        tasks.push(tokio::spawn(scheduler(Arc::clone(&evaluator), shutdown.clone())));
        let loader = Arc::clone(&evaluator);
        let loading = tokio::spawn(async move {
            if let Err(e) = loader.load_all().await {
                tracing::error!(error = %e, "loading trigger conditions failed");
            }
        });

        let (receipts, receipt_writer) = ReceiptLog::start(repo.clone(), &config.receipts, shutdown.clone())
            .context("starting the receipt writer")?;
        tasks.extend(receipt_writer);
        let engine = Arc::new(Engine::new(EngineParts {
            store: repo,
            drivers,
            keys,
            runtime,
            limits,
            modules,
            events,
            evaluator,
            receipts,
            webhook: config.webhook.clone(),
            runs,
            callouts,
        }));
        tasks.push(tokio::spawn(prune_rate_limits(Arc::downgrade(&engine), shutdown.clone())));
        tasks.push(tokio::spawn(summarise_refusals(shutdown.clone())));
        let bootstrap_admin_key = engine.bootstrap_admin_key().await.context("creating the first admin key")?;

        let listener = TcpListener::bind(&config.bind).with_context(|| format!("binding {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}:{port}", listener.local_addr()?.ip()),
        };
        let readiness = Readiness::new();
        for worker in &tasks {
            readiness.watch(worker);
        }
        let state = web::Data::new(AppState {
            engine,
            public_url,
            max_body_bytes: config.webhook.max_body_bytes,
            receipt_body_bytes: config.receipts.max_body_bytes,
            readiness,
        });
        let (console, sessions) = (config.console.clone(), crate::console::sessions(&config.console));
        let body_timeout = BodyTimeout(Duration::from_millis(config.webhook.body_timeout_ms));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::<RedactedRootSpan>::new())
                .wrap(from_fn(request_context))
                .app_data(state.clone())
                .app_data(body_timeout)
                .app_data(web::Data::from(Arc::clone(&outbound)))
                .configure(http::routes)
                // After the API: a webhook call is routed without looking at the console's routes.
                .configure(crate::console::routes(&console, sessions.clone()))
        })
        .shutdown_timeout(config.shutdown_timeout_s)
        .listen(listener)?
        .run();
        tasks.push(loading);
        Ok(Self { port, server, store, bootstrap_admin_key, shutdown, tasks })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin key minted on a first start with no key configured or stored; shown once.
    pub fn bootstrap_admin_key(&self) -> Option<&str> {
        self.bootstrap_admin_key.as_deref()
    }

    /// Failures to inject into the store's I/O (sled only): tests drive the failure paths through the
    /// real server.
    pub fn store_faults(&self) -> Option<Arc<crate::store::IoFaults>> {
        self.store.faults()
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (SIGTERM, ctrl-c or its handle): in-flight requests finish,
    /// background tasks stop, and the store is flushed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.shutdown.cancel();
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a background task failed");
            }
        }
        self.store.close(Duration::from_secs(5)).await?;
        served?;
        Ok(())
    }
}

/// Keeps the per-instance rate limiter from growing with every instance ever called, and removes stored
/// delivery ids past the deduplication window.
async fn prune_rate_limits(engine: std::sync::Weak<Engine>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    for minute in 0u64.. {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let Some(engine) = engine.upgrade() else { return };
        engine.webhook_limits().prune();
        if minute % 60 == 0 {
            engine.sweep_deliveries().await;
        }
    }
}

/// Turns module status changes into `module.status_changed` events.
async fn forward_status_changes(
    changes: tokio::sync::broadcast::Receiver<crate::drivers::sdk::StatusChange>,
    events: Arc<EventBus>,
    shutdown: CancellationToken,
) {
    let on_change = |c: crate::drivers::sdk::StatusChange| {
        let events = Arc::clone(&events);
        async move {
            let data = serde_json::json!({"module_id": c.module_id, "key": c.key, "value": c.value});
            let emit = events.emit("module.status_changed", c.system_id.as_deref(), data);
            // A change made by a call names the call's actor and request; one a driver made on its own
            // is the system's.
            let cause = c
                .cause
                .as_ref()
                .and_then(|c| c.0.downcast_ref::<(crate::domain::actor::Actor, Option<String>)>())
                .cloned();
            match cause {
                Some((actor, request_id)) => crate::events::context::within(request_id, actor, emit).await,
                None => emit.await,
            }
        }
    };
    let on_lag = |missed: u64| async move {
        tracing::warn!(missed, "status changes were dropped before they became events");
    };
    crate::events::consume(changes, shutdown, on_change, on_lag).await;
}
