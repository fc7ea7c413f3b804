//! One attempt at one action of a run: a function call on a module of the run's system, an email, or
//! an HTTP request. Each carries the action's idempotency key (`run_id:action_index`).

use std::sync::Arc;

use super::mailer::Mailer;
use super::modules::system_modules;
use crate::domain::module::ModuleRef;
use crate::domain::placeholder::Placeholder;
use crate::domain::run::{Action, Run};
use crate::domain::trigger::FunctionCall;
use crate::domain::SystemId;
use crate::drivers::args;
use crate::drivers::runtime::ModuleRuntime;
use crate::drivers::DriverRegistry;
use crate::outbound::sender::Sender;
use crate::store::Repository;

pub struct ActionRunner {
    pub store: Repository,
    pub drivers: Arc<DriverRegistry>,
    pub modules: Arc<ModuleRuntime>,
    pub mailer: Option<Mailer>,
    /// Request actions go through the outbound webhooks' kind of client: no redirects, no proxy, and
    /// private addresses refused unless `outbound.allow_private_networks`.
    pub http: Sender,
    /// Asked before a run's first action.
    pub callouts: Arc<super::callout_gate::CalloutGate>,
}

impl ActionRunner {
    /// Carries out the run's action `index` once; the error says why it failed.
    pub async fn attempt(&self, run: &Run, index: usize) -> Result<(), String> {
        let key = run.idempotency_key(index);
        let Some(action) = run.actions.get(index) else { return Err(format!("the run has no action {index}")) };
        match &action.action.resolved(run) {
            Action::Function(call) => self.call_function(&run.system_id, call, key).await,
            Action::Email { to, subject, content } => match &self.mailer {
                Some(mailer) => mailer.send(to, subject, content).await.map_err(|e| e.to_string()),
                None => Err("no SMTP server is configured ([smtp] host)".to_owned()),
            },
            Action::Request(request) => {
                let outcome = self.http.request(request, &key).await;
                match (outcome.success(), outcome.error, outcome.status) {
                    (true, _, _) => Ok(()),
                    (false, Some(error), _) => Err(error),
                    (false, None, Some(status)) => Err(format!("the receiver answered {status}")),
                    (false, None, None) => Err("no answer".to_owned()),
                }
            }
        }
    }

    async fn call_function(&self, system: &SystemId, call: &FunctionCall, key: String) -> Result<(), String> {
        let views = system_modules(&self.store, &self.drivers, system.clone()).await.map_err(|e| e.to_string())?;
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
        let bound = args::bind(function, serde_json::Value::Object(call.args.clone())).map_err(|e| e.to_string())?;
        self.modules.call_keyed(&view.module, &call.method, bound, Some(key)).await.map(drop).map_err(|e| e.to_string())
    }

    /// The statuses a run's actions read, as they are now: `Display_1.power` → value (`null` when the
    /// system has no such module or the module no such status).
    pub async fn read_statuses(
        &self,
        system: &SystemId,
        refs: &[(String, String)],
    ) -> std::collections::BTreeMap<String, serde_json::Value> {
        let views = system_modules(&self.store, &self.drivers, system.clone()).await.unwrap_or_else(|e| {
            tracing::warn!(system = %system, error = %e, "reading the statuses a run uses failed; they are null");
            Vec::new()
        });
        refs.iter()
            .map(|(module, status)| {
                let wanted = ModuleRef::parse(module).ok();
                let value = views
                    .iter()
                    .find(|v| wanted.as_ref().is_some_and(|m| v.name == m.name() && v.index == Some(m.index())))
                    .and_then(|v| self.modules.status(&v.module).ok())
                    .and_then(|map| map.get(status).cloned())
                    .unwrap_or(serde_json::Value::Null);
                (Placeholder::status_key(module, status), value)
            })
            .collect()
    }
}
