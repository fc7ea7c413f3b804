//! Running a trigger's actions when it fires: function calls on the system's modules, then emails, in
//! order, off the request path. A failing action is logged and counted, and the rest still run.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::mailer::Mailer;
use super::modules::system_modules;
use super::runtime::{Fired, TriggerRuntime};
use crate::drivers::args;
use crate::drivers::runtime::ModuleRuntime;
use crate::drivers::DriverRegistry;
use crate::store::Store;

pub struct ActionRunner {
    pub store: Store,
    pub drivers: Arc<DriverRegistry>,
    pub modules: Arc<ModuleRuntime>,
    pub mailer: Option<Mailer>,
}

impl ActionRunner {
    /// Runs every action of one fire; returns how many failed.
    pub async fn run(&self, fired: &Fired) -> u64 {
        let inst = &fired.instance;
        let mut failures = 0;
        for (i, call) in fired.spec.actions.functions.iter().enumerate() {
            if let Err(e) = self.call_function(fired, call).await {
                failures += 1;
                tracing::warn!(instance = %inst.id, action = i, module = %call.module, method = %call.method,
                    error = %e, "function action failed");
            }
        }
        for mailer in &fired.spec.actions.mailers {
            for to in &mailer.emails {
                let sent = match &self.mailer {
                    Some(m) => m.send(to, &fired.spec.name, &mailer.content).await.map_err(|e| e.to_string()),
                    None => Err("no SMTP server is configured ([smtp] host)".to_owned()),
                };
                if let Err(e) = sent {
                    failures += 1;
                    tracing::warn!(instance = %inst.id, to = %to, error = %e, "mailer action failed");
                }
            }
        }
        failures
    }

    async fn call_function(&self, fired: &Fired, call: &crate::domain::trigger::FunctionCall) -> Result<Value, String> {
        let views = system_modules(&self.store, &self.drivers, fired.instance.control_system_id.clone())
            .await
            .map_err(|e| e.to_string())?;
        let view = views
            .into_iter()
            .find(|v| v.name == call.module.name() && v.index == Some(call.module.index()))
            .ok_or_else(|| format!("the system has no module {}", call.module))?;
        let function = self
            .drivers
            .get(&view.module.driver)
            .and_then(|d| d.find(&call.method))
            .filter(|f| !f.webhook)
            .ok_or_else(|| format!("{} has no function {}", call.module, call.method))?;
        let bound = args::bind(function, Value::Object(call.args.clone())).map_err(|e| e.to_string())?;
        self.modules.call(&view.module, &call.method, bound).await.map_err(|e| e.to_string())
    }
}

/// Takes fires from the runtime and runs their actions, each fire in its own task so a slow action
/// never holds up another instance.
pub async fn action_worker(
    runner: Arc<ActionRunner>,
    runtime: std::sync::Weak<TriggerRuntime>,
    mut fires: mpsc::UnboundedReceiver<Fired>,
    shutdown: CancellationToken,
) {
    loop {
        let fired = tokio::select! {
            fired = fires.recv() => fired,
            _ = shutdown.cancelled() => None,
        };
        let Some(fired) = fired else { return };
        if fired.spec.actions.functions.is_empty() && fired.spec.actions.mailers.is_empty() {
            continue;
        }
        let (runner, runtime) = (Arc::clone(&runner), runtime.clone());
        tokio::spawn(async move {
            let failures = runner.run(&fired).await;
            if failures > 0 {
                if let Some(rt) = runtime.upgrade() {
                    if let Err(e) = rt.add_action_errors(&fired.instance, failures).await {
                        tracing::error!(error = %e, "storing action errors failed");
                    }
                }
            }
        });
    }
}
