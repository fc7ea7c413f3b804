//! The driver registry and the module runtime. Driver authors write against [`sdk`], re-exported from
//! the `switchboard-drivers` crate.

pub mod args;
pub mod runtime;

use std::collections::BTreeMap;

use sdk::{DriverDescriptor, DriverEntry, RegistryBuilder};
pub use switchboard_drivers::sdk;

use crate::domain::ValidationError;

/// The drivers known to this process, by name.
#[derive(Default)]
pub struct DriverRegistry {
    drivers: BTreeMap<String, DriverEntry>,
}

impl DriverRegistry {
    pub fn from_builder(builder: RegistryBuilder) -> Self {
        let drivers = builder.into_entries().into_iter().map(|d| (d.descriptor.name.clone(), d)).collect();
        Self { drivers }
    }

    /// Every driver shipped in `drivers/`.
    pub fn builtin() -> Self {
        Self::from_builder(Self::builtin_builder())
    }

    /// A builder holding the shipped drivers, to which a build may add its own.
    pub fn builtin_builder() -> RegistryBuilder {
        let mut builder = RegistryBuilder::new();
        switchboard_drivers::register_all(&mut builder);
        builder
    }

    pub fn get(&self, name: &str) -> Option<&DriverDescriptor> {
        self.drivers.get(name).map(|e| &e.descriptor)
    }

    pub fn entry(&self, name: &str) -> Option<&DriverEntry> {
        self.drivers.get(name)
    }

    pub fn all(&self) -> impl Iterator<Item = &DriverDescriptor> {
        self.drivers.values().map(|e| &e.descriptor)
    }

    /// Blanks the settings the driver marks sensitive, for callers who may not read them.
    pub fn redact_settings(&self, driver: &str, settings: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(descriptor) = self.get(driver) {
            for param in descriptor.settings.iter().filter(|p| p.sensitive) {
                if let Some(value) = settings.get_mut(&param.name) {
                    *value = serde_json::Value::Null;
                }
            }
        }
    }

    /// Checks settings against what the driver declares: required ones present, every declared one of
    /// its type. Undeclared settings are kept for the driver to read or ignore.
    pub fn check_settings(
        &self,
        driver: &str,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ValidationError> {
        let Some(descriptor) = self.get(driver) else {
            return Err(ValidationError::new("driver", format!("no driver named {driver:?} is registered")));
        };
        for param in &descriptor.settings {
            match settings.get(&param.name).filter(|v| !v.is_null()) {
                None if param.required => {
                    return Err(ValidationError::new(format!("settings.{}", param.name), "is required by the driver"));
                }
                Some(value) if !param.json_type.admits(value) => {
                    return Err(ValidationError::new(
                        format!("settings.{}", param.name),
                        format!("must be of type {}", serde_json::to_string(&param.json_type).unwrap_or_default()),
                    ));
                }
                _ => {}
            }
        }
        self.trial_start(driver, settings)
    }

    /// Starts the driver once with these settings and drops it, so settings only the driver can judge
    /// (a URL's scheme, an empty secret) are refused when saved rather than at the first call.
    fn trial_start(
        &self,
        driver: &str,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ValidationError> {
        let Some(entry) = self.entry(driver) else { return Ok(()) };
        let ctx = sdk::ModuleContext {
            module_id: String::new(),
            system_id: None,
            settings: settings.clone(),
            status: sdk::StatusHandle::new("", None, tokio::sync::broadcast::channel(1).0),
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (entry.factory)(ctx))) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(sdk::DriverError::InvalidSettings { field, message })) => {
                Err(ValidationError::new(format!("settings.{field}"), message))
            }
            Ok(Err(other)) => Err(ValidationError::new("settings", other.to_string())),
            Err(_) => Err(ValidationError::new("settings", "the driver could not start with these settings")),
        }
    }
}
