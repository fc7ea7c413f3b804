//! Builds the application from configuration: opens the store, loads keys, binds the listener.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::config::Config;
use crate::drivers::DriverRegistry;
use crate::engine::{Engine, KeyRing};
use crate::http::{self, AppState};
use crate::store::Store;

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    bootstrap_admin_key: Option<String>,
}

impl Application {
    /// Opens everything the server needs and binds its listener; nothing is served until
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let data_dir = config.data_dir.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&data_dir))
            .await
            .context("opening the store")?
            .with_context(|| format!("opening the data directory {}", config.data_dir.display()))?;
        let keys = KeyRing::load(&store, config.admin_key.as_deref()).await.context("loading API keys")?;
        let engine = Engine::new(store.clone(), Arc::new(DriverRegistry::builtin()), keys);
        let bootstrap_admin_key = engine.bootstrap_admin_key().await.context("creating the first admin key")?;

        let listener = TcpListener::bind(&config.bind).with_context(|| format!("binding {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}:{port}", listener.local_addr()?.ip()),
        };
        let state = web::Data::new(AppState { engine, public_url });
        let server = HttpServer::new(move || {
            App::new().wrap(TracingLogger::default()).app_data(state.clone()).configure(http::routes)
        })
        .listen(listener)?
        .run();
        Ok(Self { port, server, store, bootstrap_admin_key })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin key minted on a first start with no key configured or stored; shown once.
    pub fn bootstrap_admin_key(&self) -> Option<&str> {
        self.bootstrap_admin_key.as_deref()
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (SIGTERM, ctrl-c or its handle), then flushes the store.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        let store = self.store;
        store.run(|s| s.flush()).await?;
        Ok(())
    }
}
