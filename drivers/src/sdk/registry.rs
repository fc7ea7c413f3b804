use std::sync::Arc;

use super::{Driver, DriverDescriptor, DriverError, ModuleContext};

pub type DriverFactory = Arc<dyn Fn(ModuleContext) -> Result<Box<dyn Driver>, DriverError> + Send + Sync>;

/// A registered driver: what it declares and how to start a module of it.
#[derive(Clone)]
pub struct DriverEntry {
    pub descriptor: DriverDescriptor,
    pub factory: DriverFactory,
}

/// Collects the drivers a build ships with.
#[derive(Default)]
pub struct RegistryBuilder {
    drivers: Vec<DriverEntry>,
}

impl RegistryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register<D: Driver>(&mut self) -> &mut Self {
        let factory: DriverFactory = Arc::new(|ctx| D::start(ctx).map(|d| Box::new(d) as Box<dyn Driver>));
        self.drivers.push(DriverEntry { descriptor: D::descriptor(), factory });
        self
    }

    pub fn into_entries(self) -> Vec<DriverEntry> {
        self.drivers
    }
}
