//! A driver that shows what a trigger action's call carries: it records the call's idempotency key.

use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard::drivers::sdk::{
    Args, Driver, DriverDescriptor, DriverError, FunctionDescriptor, ModuleContext, RegistryBuilder,
};

pub struct KeyProbe {
    ctx: ModuleContext,
}

impl KeyProbe {
    /// Appends the call's idempotency key (`null` when it has none) to the status list `name`.
    fn append_key(&self, name: &str) -> Value {
        let key = self.ctx.idempotency_key().map_or(Value::Null, Value::String);
        let mut list = self.ctx.status.get(name).and_then(|l| l.as_array().cloned()).unwrap_or_default();
        list.push(key.clone());
        self.ctx.status.set(name, Value::Array(list));
        key
    }
}

#[async_trait]
impl Driver for KeyProbe {
    fn descriptor() -> DriverDescriptor {
        DriverDescriptor::new("KeyProbe", "KeyProbe", "Test driver")
            .function(FunctionDescriptor::new("remember", "Appends the call's idempotency key to `keys`"))
            .function(FunctionDescriptor::new("refuse", "Appends the call's idempotency key to `refused`, then fails"))
    }

    fn start(ctx: ModuleContext) -> Result<Self, DriverError> {
        ctx.status.set("keys", json!([]));
        Ok(KeyProbe { ctx })
    }

    async fn call(&mut self, function: &str, _args: Args) -> Result<Value, DriverError> {
        match function {
            "remember" => Ok(json!({ "key": self.append_key("keys") })),
            "refuse" => {
                self.append_key("refused");
                Err(DriverError::Failed("refused on purpose".into()))
            }
            other => Err(DriverError::UnknownFunction(other.into())),
        }
    }
}

/// The shipped drivers plus the key probe.
pub fn registry() -> RegistryBuilder {
    let mut builder = switchboard::drivers::DriverRegistry::builtin_builder();
    builder.register::<KeyProbe>();
    builder
}
