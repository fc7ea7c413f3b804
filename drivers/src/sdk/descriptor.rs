//! What a driver declares about itself: its name, the module name it answers to, its settings and its
//! functions. `GET /api/engine/v2/drivers` shows these.

use serde::Serialize;

/// Who may call a function through the admin API. Webhook methods must be `Support` level: the
/// webhook secret is a weaker credential than an admin key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AccessLevel {
    Support,
    Admin,
}

/// The JSON type a parameter must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

impl JsonType {
    pub fn admits(self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        match self {
            JsonType::String => value.is_string(),
            JsonType::Number => value.is_number(),
            JsonType::Integer => value.is_i64() || value.is_u64(),
            JsonType::Boolean => value.is_boolean(),
            JsonType::Object => value.is_object(),
            JsonType::Array => value.is_array(),
            JsonType::Any => !matches!(value, Value::Null),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DriverParam))]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub json_type: JsonType,
    pub required: bool,
    /// A setting only admins may read back (a shared secret, a URL holding a token).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

impl Param {
    pub fn required(name: &str, json_type: JsonType) -> Self {
        Self { name: name.to_owned(), json_type, required: true, sensitive: false }
    }

    /// Hides the setting's value from support keys.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn optional(name: &str, json_type: JsonType) -> Self {
        Self { name: name.to_owned(), json_type, required: false, sensitive: false }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DriverFunction))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Driver))]
pub struct DriverDescriptor {
    /// Unique name modules refer to in their `driver` field.
    pub name: String,
    /// The name a module of this driver answers to when it has no `custom_name`.
    pub default_module_name: String,
    pub description: String,
    /// Settings a module of this driver takes, checked when the module is created or changed.
    pub settings: Vec<Param>,
    pub functions: Vec<FunctionDescriptor>,
}

impl DriverDescriptor {
    pub fn new(name: &str, default_module_name: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            default_module_name: default_module_name.to_owned(),
            description: description.to_owned(),
            settings: Vec::new(),
            functions: Vec::new(),
        }
    }

    pub fn setting(mut self, param: Param) -> Self {
        self.settings.push(param);
        self
    }

    pub fn function(mut self, function: FunctionDescriptor) -> Self {
        self.functions.push(function);
        self
    }

    pub fn find(&self, function: &str) -> Option<&FunctionDescriptor> {
        self.functions.iter().find(|f| f.name == function)
    }
}
