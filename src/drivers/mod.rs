//! The driver registry the engine consults. Driver authors write against [`sdk`], re-exported from the
//! `switchboard-drivers` crate.

use std::collections::BTreeMap;

use sdk::{DriverDescriptor, RegistryBuilder};
pub use switchboard_drivers::sdk;

/// The drivers known to this process, by name.
#[derive(Debug, Default)]
pub struct DriverRegistry {
    drivers: BTreeMap<String, DriverDescriptor>,
}

impl DriverRegistry {
    pub fn from_builder(builder: RegistryBuilder) -> Self {
        let drivers = builder.into_descriptors().into_iter().map(|d| (d.name.clone(), d)).collect();
        Self { drivers }
    }

    /// Every driver shipped in `drivers/`.
    pub fn builtin() -> Self {
        let mut builder = RegistryBuilder::new();
        switchboard_drivers::register_all(&mut builder);
        Self::from_builder(builder)
    }

    pub fn get(&self, name: &str) -> Option<&DriverDescriptor> {
        self.drivers.get(name)
    }

    pub fn all(&self) -> impl Iterator<Item = &DriverDescriptor> {
        self.drivers.values()
    }
}
