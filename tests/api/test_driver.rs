//! A driver whose webhook methods misbehave on purpose, to drive the error paths of exec dispatch.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard::drivers::sdk::{
    Args, Driver, DriverDescriptor, DriverError, FunctionDescriptor, JsonType, ModuleContext, Param, RegistryBuilder,
    StatusHandle, WebhookRequest, WebhookResponse,
};

pub struct Probe {
    status: StatusHandle,
    calls: u64,
}

#[async_trait]
impl Driver for Probe {
    fn descriptor() -> DriverDescriptor {
        DriverDescriptor::new("Probe", "Probe", "Test driver")
            .function(FunctionDescriptor::new("echo", "Answers with what it received").webhook())
            .function(FunctionDescriptor::new("fail", "Returns a driver error").webhook())
            .function(FunctionDescriptor::new("slow", "Never answers in time").webhook())
            .function(FunctionDescriptor::new("panic", "Panics").webhook())
            .function(FunctionDescriptor::new("nap", "Sleeps 150 ms, then sets `napped`").webhook())
            .function(FunctionDescriptor::new("bad_status", "Answers status 42").webhook())
            .function(FunctionDescriptor::new("admin_hook", "An admin-only webhook method").webhook().admin_only())
            .function(FunctionDescriptor::new("calls", "How many calls this driver value has seen"))
            .function(FunctionDescriptor::new("block", "Blocks its thread for 5 s, never yielding"))
            .function(
                FunctionDescriptor::new("record", "Appends a tag to the `log` status")
                    .param(Param::required("tag", JsonType::String)),
            )
            .function(
                FunctionDescriptor::new("set", "Sets any status value")
                    .param(Param::required("key", JsonType::String))
                    .param(Param::optional("value", JsonType::Any)),
            )
            .function(
                FunctionDescriptor::new("reset", "An admin-only function")
                    .param(Param::optional("to", JsonType::Integer))
                    .admin_only(),
            )
    }

    fn start(ctx: ModuleContext) -> Result<Self, DriverError> {
        ctx.status.set("started", json!(true));
        Ok(Probe { status: ctx.status, calls: 0 })
    }

    async fn call(&mut self, function: &str, args: Args) -> Result<Value, DriverError> {
        self.calls += 1;
        match function {
            "calls" => Ok(json!(self.calls)),
            "block" => {
                std::thread::sleep(Duration::from_secs(5));
                Ok(json!(null))
            }
            "record" => {
                let mut log = self.status.get("log").and_then(|l| l.as_array().cloned()).unwrap_or_default();
                log.push(json!(args.str("tag")?));
                self.status.set("log", Value::Array(log));
                Ok(json!(null))
            }
            "set" => {
                self.status.set(args.str("key")?, args.get("value").cloned().unwrap_or(Value::Null));
                Ok(json!(null))
            }
            "reset" => {
                self.calls = args.get("to").and_then(Value::as_u64).unwrap_or(0);
                Ok(json!(self.calls))
            }
            other => Err(DriverError::UnknownFunction(other.into())),
        }
    }

    async fn webhook(&mut self, function: &str, request: WebhookRequest) -> Result<WebhookResponse, DriverError> {
        self.calls += 1;
        self.status.set("last", json!(function));
        match function {
            "echo" => {
                let mut response = WebhookResponse::json(
                    201,
                    &json!({
                        "method": request.method,
                        "headers": request.headers,
                        "query": request.query,
                        "body": String::from_utf8_lossy(&request.body),
                        "trigger_instance_id": request.trigger_instance_id,
                        "system_id": request.system_id,
                        "request_id": request.request_id,
                    }),
                );
                response.headers.push(("x-probe".into(), "yes".into()));
                response.headers.push(("connection".into(), "close".into()));
                Ok(response)
            }
            "fail" => Err(DriverError::Failed("the probe is broken".into())),
            "slow" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(WebhookResponse::new(200))
            }
            "nap" => {
                tokio::time::sleep(Duration::from_millis(150)).await;
                self.status.set("napped", json!(true));
                Ok(WebhookResponse::new(204))
            }
            "panic" => panic!("probe panic"),
            "bad_status" => Ok(WebhookResponse::new(42)),
            "admin_hook" => Ok(WebhookResponse::new(204)),
            other => Err(DriverError::UnknownFunction(other.into())),
        }
    }
}

/// The shipped drivers plus the probe.
pub fn registry() -> RegistryBuilder {
    let mut builder = switchboard::drivers::DriverRegistry::builtin_builder();
    builder.register::<Probe>();
    builder
}
