//! What admins send to create or change things, already typed: a value of one of these has passed
//! every check that needs no stored data. PATCH types tell "absent" (outer `None`) from "null".

use serde::Deserialize;

use crate::domain::api_key::Role;
use crate::domain::methods::SupportedMethods;
use crate::domain::module::ModuleName;
use crate::domain::schema;
use crate::domain::trigger::{Actions, Conditions};
#[allow(unused_imports)] // named by the `schema(value_type = …)` attributes
use crate::domain::{verification::VerificationSettings, webhook_filter::WebhookFilter};
use crate::domain::{ModuleId, SystemId, TriggerId};

pub type JsonObject = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SystemInput)]
pub struct SystemIn {
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::nullable_description)]
    pub description: Option<String>,
    /// Module ids; listed modules join the system in this order.
    #[serde(default)]
    pub modules: Vec<ModuleId>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SystemChanges)]
pub struct SystemPatch {
    #[serde(default)]
    #[schema(schema_with = schema::nullable_name)]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::domain::nullable")]
    #[schema(schema_with = schema::nullable_description)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub modules: Option<Vec<ModuleId>>,
}

impl From<SystemIn> for SystemPatch {
    fn from(s: SystemIn) -> Self {
        Self { name: Some(s.name), description: Some(s.description), modules: Some(s.modules) }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ModuleInput)]
pub struct ModuleIn {
    /// A registered driver's name (`GET /drivers`).
    pub driver: String,
    #[serde(default)]
    pub custom_name: Option<ModuleName>,
    #[serde(default)]
    pub control_system_id: Option<SystemId>,
    /// Checked against the driver's declared settings.
    #[serde(default)]
    #[schema(schema_with = schema::object)]
    pub settings: JsonObject,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ModuleChanges)]
pub struct ModulePatch {
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::nullable")]
    pub custom_name: Option<Option<ModuleName>>,
    #[serde(default, deserialize_with = "crate::domain::nullable")]
    pub control_system_id: Option<Option<SystemId>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<JsonObject>,
}

impl From<ModuleIn> for ModulePatch {
    fn from(m: ModuleIn) -> Self {
        Self {
            driver: Some(m.driver),
            custom_name: Some(m.custom_name),
            control_system_id: Some(m.control_system_id),
            settings: Some(m.settings),
        }
    }
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TriggerInput)]
pub struct TriggerIn {
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::nullable_description)]
    pub description: Option<String>,
    #[serde(default)]
    pub conditions: Conditions,
    #[serde(default)]
    pub actions: Actions,
    /// Milliseconds a webhook call holds the webhook condition true.
    #[serde(default)]
    #[schema(maximum = 86_400_000)]
    pub debounce_period: u64,
    #[serde(default)]
    pub important: bool,
    #[serde(default)]
    pub enable_webhook: bool,
    #[serde(default)]
    pub any_match: bool,
    #[serde(default)]
    pub supported_methods: SupportedMethods,
    /// Parsed by the engine, so that an error names the field inside it.
    #[serde(default)]
    #[schema(value_type = Option<VerificationSettings>)]
    pub webhook_verification: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(value_type = Option<WebhookFilter>)]
    pub webhook_filter: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TriggerChanges)]
pub struct TriggerPatch {
    #[schema(schema_with = schema::nullable_name)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::domain::nullable")]
    #[schema(schema_with = schema::nullable_description)]
    pub description: Option<Option<String>>,
    pub conditions: Option<Conditions>,
    pub actions: Option<Actions>,
    #[schema(maximum = 86_400_000)]
    pub debounce_period: Option<u64>,
    pub important: Option<bool>,
    pub enable_webhook: Option<bool>,
    pub any_match: Option<bool>,
    pub supported_methods: Option<SupportedMethods>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::domain::nullable")]
    #[schema(value_type = Option<VerificationSettings>)]
    pub webhook_verification: Option<Option<serde_json::Value>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::domain::nullable")]
    #[schema(value_type = Option<WebhookFilter>)]
    pub webhook_filter: Option<Option<serde_json::Value>>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TriggerInstanceInput)]
pub struct InstanceIn {
    pub trigger_id: TriggerId,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub exec_enabled: bool,
    /// Copied from the trigger when absent.
    #[serde(default)]
    pub important: Option<bool>,
}

/// The only fields of an applied trigger an admin may change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TriggerInstanceChanges)]
pub struct InstancePatch {
    pub enabled: Option<bool>,
    pub important: Option<bool>,
    pub exec_enabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ApiKeyInput)]
pub struct ApiKeyIn {
    #[schema(schema_with = schema::name)]
    pub name: String,
    pub role: Role,
}
