//! Calls into modules: webhook methods reached through a trigger webhook with `exec=true`, and
//! ordinary functions reached through the admin API. Everything that can be refused is checked before
//! the trigger fires (see [`Engine::plan_exec`]).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::webhook::WebhookTarget;
use super::{Caller, Engine, EngineResult};
use crate::domain::callout::{CalloutOn, Gate};
use crate::domain::callout_log::Question;
use crate::domain::module::{Module, ModuleRef};
use crate::domain::SystemId;
use crate::drivers::args;
use crate::drivers::runtime::CallError;
use crate::drivers::sdk::{AccessLevel, DriverError, FunctionDescriptor, WebhookRequest, WebhookResponse};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec is not enabled for this trigger instance")]
    Disabled,
    #[error("the system has no module {0}")]
    ModuleNotFound(String),
    #[error("{0}")]
    MethodNotFound(String),
    #[error("{0} needs an admin key")]
    Forbidden(String),
    /// The driver refused the arguments' values (a volume of 120, say).
    #[error("{0}")]
    InvalidArgs(String),
    #[error("{0}")]
    Driver(String),
    #[error("the driver did not answer in time")]
    Timeout,
    /// A callout denied the call; its reason.
    #[error("{0}")]
    DeniedByCallout(String),
    /// A callout whose failure policy is `deny` could not be asked (why is in its log, never answered).
    #[error("a callout that must allow this call could not be asked")]
    CalloutUnavailable,
}

impl From<CallError> for ExecError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Timeout(_) => ExecError::Timeout,
            CallError::Driver(DriverError::InvalidArgs(m)) => ExecError::InvalidArgs(m),
            CallError::Driver(inner) => ExecError::Driver(inner.to_string()),
            other => ExecError::Driver(other.to_string()),
        }
    }
}

/// A webhook method that passed every check and may be called once the trigger has fired.
pub struct ExecPlan {
    module: Arc<Module>,
    function: String,
}

impl Engine {
    /// The module a reference names inside a system, counting same-named modules in system order.
    async fn find_module(&self, system: SystemId, reference: &ModuleRef) -> EngineResult<Arc<Module>> {
        self.resolved_modules(system)
            .await?
            .iter()
            .find(|v| v.name == reference.name() && v.index == Some(reference.index()))
            .map(|v| Arc::clone(&v.module))
            .ok_or_else(|| ExecError::ModuleNotFound(reference.to_string()).into())
    }

    fn function_of(
        &self,
        module: &Module,
        reference: &ModuleRef,
        method: &str,
    ) -> Result<&FunctionDescriptor, ExecError> {
        self.drivers
            .get(&module.driver)
            .and_then(|d| d.find(method))
            .ok_or_else(|| ExecError::MethodNotFound(format!("{reference} has no function {method}")))
    }

    /// Checks an exec request completely, before anything fires.
    pub async fn plan_exec(
        &self,
        target: &WebhookTarget,
        reference: &ModuleRef,
        method: &str,
    ) -> EngineResult<ExecPlan> {
        if !target.instance.exec_enabled {
            return Err(ExecError::Disabled.into());
        }
        let module = self.find_module(target.instance.control_system_id.clone(), reference).await?;
        let function = self.function_of(&module, reference, method)?;
        if !function.webhook {
            return Err(ExecError::MethodNotFound(format!("{reference}.{method} is not a webhook method")).into());
        }
        if function.access == AccessLevel::Admin {
            return Err(ExecError::Forbidden(format!("{reference}.{method}")).into());
        }
        let function = function.name.clone();
        Ok(ExecPlan { module, function })
    }

    pub async fn run_exec(&self, plan: ExecPlan, request: WebhookRequest) -> EngineResult<WebhookResponse> {
        let instance = request.trigger_instance_id.clone();
        let started = std::time::Instant::now();
        let answer = self.modules.webhook(&plan.module, &plan.function, request).await;
        crate::metrics::METRICS
            .exec_latency
            .with_label_values(&[&plan.module.driver])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match answer {
            Ok(r) if (100..=599).contains(&r.status) => Ok(r),
            Ok(r) => Err(ExecError::Driver(format!("the driver answered with status {}", r.status))),
            Err(e) => Err(ExecError::from(e)),
        };
        if let Err(e) = &outcome {
            let data = serde_json::json!({
                "module_id": plan.module.id, "method": plan.function, "trigger_instance": instance,
                "error": e.to_string(),
            });
            let system = plan.module.control_system_id.as_ref().map(|s| s.as_str());
            self.events.emit("module.exec_failed", system, data).await;
        }
        Ok(outcome?)
    }

    /// Calls an ordinary function of a module with JSON arguments (array or object), once the callouts
    /// it needs allow it. What they allow is checked again after they answer: the receiver may have
    /// changed the module meanwhile.
    pub async fn call_function(
        &self,
        system: SystemId,
        reference: &ModuleRef,
        method: &str,
        raw_args: Value,
        caller: Caller,
        remote_addr: Option<String>,
    ) -> EngineResult<Value> {
        let reference_text = reference.to_string();
        let gate = Gate {
            on: CalloutOn::Exec,
            system: &system,
            module: Some(&reference_text),
            method: Some(method),
            trigger: None,
        };
        // The arguments are bound again after callouts allow; copied only when one will be asked.
        let again = self.callouts.needed(&gate).then(|| raw_args.clone());
        let (mut module, mut args) = self.plan_call(&system, reference, method, raw_args, caller).await?;
        let question = || {
            let (actor, request_id) = crate::events::context::current();
            Question::exec(&gate, None, actor, request_id, remote_addr)
        };
        if let (true, Some(raw_args)) = (self.ask_callouts(&gate, question).await?, again) {
            (module, args) = self.plan_call(&system, reference, method, raw_args, caller).await?;
        }
        Ok(self.modules.call(&module, method, args).await.map_err(ExecError::from)?)
    }

    /// The module and bound arguments of a function call, after every check.
    async fn plan_call(
        &self,
        system: &SystemId,
        reference: &ModuleRef,
        method: &str,
        raw_args: Value,
        caller: Caller,
    ) -> EngineResult<(Arc<Module>, crate::drivers::sdk::Args)> {
        let module = self.find_module(system.clone(), reference).await?;
        let function = self.function_of(&module, reference, method)?;
        if function.webhook {
            return Err(ExecError::MethodNotFound(format!(
                "{reference}.{method} is a webhook method; call it through a trigger webhook"
            ))
            .into());
        }
        if function.access == AccessLevel::Admin && !caller.is_admin() {
            return Err(ExecError::Forbidden(format!("{reference}.{method}")).into());
        }
        let args = args::bind(function, raw_args)?;
        Ok((module, args))
    }

    pub async fn module_status(&self, system: SystemId, reference: &ModuleRef) -> EngineResult<Map<String, Value>> {
        let module = self.find_module(system, reference).await?;
        Ok(self.modules.status(&module).map_err(ExecError::from)?)
    }
}
