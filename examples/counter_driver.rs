//! A complete small driver, and a server that runs it beside the shipped ones.
//!
//! Run it with `cargo run --example counter_driver`, create a module with `"driver": "Counter"`, and
//! call `POST /api/engine/v2/systems/{sys_id}/Counter_1/add` with `{"by": 2}`, or send a trigger
//! webhook with `exec=true&mod=Counter&method=hit`.

use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard::drivers::sdk::{
    Args, Driver, DriverDescriptor, DriverError, FunctionDescriptor, JsonType, ModuleContext, Param, RegistryBuilder,
    StatusHandle, WebhookRequest, WebhookResponse,
};

/// Counts: by function call, or one per webhook hit. The count is published as the `count` status,
/// which trigger comparisons can watch.
pub struct Counter {
    count: i64,
    limit: i64,
    status: StatusHandle,
}

impl Counter {
    fn add(&mut self, by: i64) -> Result<i64, DriverError> {
        let next = self.count.checked_add(by).filter(|n| *n <= self.limit);
        let next = next.ok_or_else(|| DriverError::InvalidArgs(format!("the count may not pass {}", self.limit)))?;
        self.count = next;
        self.status.set("count", json!(next));
        Ok(next)
    }
}

#[async_trait]
impl Driver for Counter {
    fn descriptor() -> DriverDescriptor {
        DriverDescriptor::new("Counter", "Counter", "Counts function calls and webhook hits")
            .setting(Param::optional("limit", JsonType::Integer))
            .function(
                FunctionDescriptor::new("add", "Adds to the count").param(Param::required("by", JsonType::Integer)),
            )
            .function(FunctionDescriptor::new("reset", "Sets the count to zero").admin_only())
            .function(FunctionDescriptor::new("hit", "Adds one per webhook call").webhook())
    }

    fn start(ctx: ModuleContext) -> Result<Self, DriverError> {
        let limit = match ctx.settings.get("limit") {
            None => i64::MAX,
            Some(v) => v.as_i64().filter(|l| *l > 0).ok_or_else(|| DriverError::InvalidSettings {
                field: "limit".into(),
                message: "must be a positive integer".into(),
            })?,
        };
        ctx.status.set("count", json!(0));
        Ok(Counter { count: 0, limit, status: ctx.status })
    }

    async fn call(&mut self, function: &str, args: Args) -> Result<Value, DriverError> {
        match function {
            "add" => Ok(json!(self.add(args.i64("by")?)?)),
            "reset" => {
                self.count = 0;
                self.status.set("count", json!(0));
                Ok(json!(0))
            }
            other => Err(DriverError::UnknownFunction(other.to_owned())),
        }
    }

    async fn webhook(&mut self, function: &str, _request: WebhookRequest) -> Result<WebhookResponse, DriverError> {
        match function {
            "hit" => match self.add(1) {
                Ok(count) => Ok(WebhookResponse::json(200, &json!({ "count": count }))),
                Err(e) => Ok(WebhookResponse::json(409, &json!({ "error": e.to_string() }))),
            },
            other => Err(DriverError::UnknownFunction(other.to_owned())),
        }
    }
}

/// The shipped drivers plus this one.
pub fn drivers() -> RegistryBuilder {
    let mut drivers = switchboard::drivers::DriverRegistry::builtin_builder();
    drivers.register::<Counter>();
    drivers
}

#[allow(dead_code)] // The integration tests include this file for `drivers()` only.
#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let config = switchboard::config::Config::load(None, Default::default())?;
    switchboard::telemetry::init(config.log_format);
    let app = switchboard::startup::Application::build_with_drivers(config, drivers()).await?;
    if let Some(key) = app.bootstrap_admin_key() {
        eprintln!("admin key (shown once): {key}");
    }
    tracing::info!(port = app.port(), "switchboard with the Counter driver listening");
    app.run_until_stopped().await
}
