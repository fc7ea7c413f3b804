//! The driver API. A driver is a type implementing [`Driver`]; a module is one running instance of it,
//! given calls one at a time, in arrival order, by the engine.

mod args;
mod descriptor;
mod driver;
mod registry;
mod webhook;

pub use args::Args;
pub use descriptor::{AccessLevel, DriverDescriptor, FunctionDescriptor, JsonType, Param};
pub use driver::{
    with_cause, with_idempotency_key, Cause, Driver, DriverError, ModuleContext, StatusChange, StatusHandle,
};
pub use registry::{DriverEntry, DriverFactory, RegistryBuilder};
pub use webhook::{WebhookRequest, WebhookResponse};
