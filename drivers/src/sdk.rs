//! What a driver declares about itself. The engine (`switchboard::drivers`) builds its registry from
//! these descriptors.

use serde::Serialize;

/// Who may call a function through the admin API. Webhook methods must be `Support` level: the
/// webhook secret is a weaker credential than an admin key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    Support,
    Admin,
}

/// The JSON type a parameter must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Any,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub json_type: JsonType,
    pub required: bool,
}

impl Param {
    pub fn required(name: &str, json_type: JsonType) -> Self {
        Self { name: name.to_owned(), json_type, required: true }
    }

    pub fn optional(name: &str, json_type: JsonType) -> Self {
        Self { name: name.to_owned(), json_type, required: false }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionDescriptor {
    pub name: String,
    pub description: String,
    pub params: Vec<Param>,
    /// Whether a trigger webhook with `exec=true` may call it.
    pub webhook: bool,
    pub access: AccessLevel,
}

impl FunctionDescriptor {
    pub fn new(name: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            params: Vec::new(),
            webhook: false,
            access: AccessLevel::Support,
        }
    }

    pub fn param(mut self, param: Param) -> Self {
        self.params.push(param);
        self
    }

    pub fn webhook(mut self) -> Self {
        self.webhook = true;
        self
    }

    pub fn admin_only(mut self) -> Self {
        self.access = AccessLevel::Admin;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriverDescriptor {
    /// Unique name modules refer to in their `driver` field.
    pub name: String,
    /// The name a module of this driver answers to when it has no `custom_name`.
    pub default_module_name: String,
    pub description: String,
    pub functions: Vec<FunctionDescriptor>,
}

/// Collects the drivers a build ships with.
#[derive(Debug, Default)]
pub struct RegistryBuilder {
    drivers: Vec<DriverDescriptor>,
}

impl RegistryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, driver: DriverDescriptor) -> &mut Self {
        self.drivers.push(driver);
        self
    }

    pub fn into_descriptors(self) -> Vec<DriverDescriptor> {
        self.drivers
    }
}
