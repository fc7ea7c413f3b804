//! Response bodies. They are built from stored records but shaped for clients: resolved names,
//! webhook URLs, and secrets hidden from callers who may not see them.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::domain::api_key::{ApiKey, Role};
use crate::domain::module::Module;
use crate::domain::{ApiKeyId, InstanceId, ModuleId, SystemId, TriggerId};
use crate::engine::{Caller, InstanceRecord, ModuleView};
use crate::store::Page;

/// A module: a driver instance with its settings, maybe placed in a system.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Module)]
pub struct ModuleOut {
    /// `mod-…`
    pub id: ModuleId,
    pub driver: String,
    /// The resolved name: `custom_name`, else the driver's default module name.
    pub name: String,
    pub custom_name: Option<String>,
    /// The system it is placed in (`sys-…`), if any.
    pub control_system_id: Option<SystemId>,
    /// Settings, checked against the driver's declared ones.
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Position among same-named modules of the system (only in a system's module list).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = u32)]
    pub index: Option<u32>,
    /// `Name_index`, how triggers and webhooks refer to it (only in a system's module list).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub reference: Option<String>,
    /// Epoch seconds.
    pub created_at: u64,
    /// Epoch seconds.
    pub updated_at: u64,
}

impl ModuleOut {
    /// The module as `caller` may see it: settings its driver marks sensitive are null for support keys.
    pub fn for_caller(view: ModuleView, caller: Caller, drivers: &crate::drivers::DriverRegistry) -> Self {
        let mut out = Self::from(view);
        if !caller.is_admin() {
            drivers.redact_settings(&out.driver, &mut out.settings);
        }
        out
    }
}

impl From<ModuleView> for ModuleOut {
    fn from(v: ModuleView) -> Self {
        let Module { id, driver, custom_name, control_system_id, settings, created_at, updated_at } =
            std::sync::Arc::unwrap_or_clone(v.module);
        Self {
            id,
            driver,
            reference: v.index.map(|i| format!("{}_{i}", v.name)),
            name: v.name,
            custom_name: custom_name.map(String::from),
            control_system_id,
            settings,
            index: v.index,
            created_at,
            updated_at,
        }
    }
}

/// A trigger applied to a system (a trigger instance), with its state.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TriggerInstance)]
pub struct InstanceOut {
    /// `trig-…`
    pub id: InstanceId,
    /// `sys-…`
    pub control_system_id: SystemId,
    /// `trigger-…`
    pub trigger_id: TriggerId,
    pub enabled: bool,
    pub important: bool,
    /// Whether webhook calls may run a module's webhook method.
    pub exec_enabled: bool,
    /// 43 characters of URL-safe base64; `null` for support keys.
    pub webhook_secret: Option<String>,
    /// The `notify` URL with the secret in it; `null` for support keys.
    pub webhook_url: Option<String>,
    /// Whether a signing secret is set, never the secret; `null` for support keys.
    pub signing_secret: Option<SigningSecretInfo>,
    pub triggered: bool,
    pub trigger_count: u64,
    /// Epoch seconds.
    pub last_fired_at: Option<u64>,
    /// Epoch seconds.
    pub created_at: u64,
    /// Epoch seconds.
    pub updated_at: u64,
}

/// What an admin may know of an instance's signing secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SigningSecretInfo {
    pub set: bool,
    /// Epoch seconds until which the replaced secret still verifies.
    pub previous_valid_until: Option<u64>,
}

impl InstanceOut {
    /// Support callers see neither the secret nor the URL that embeds it.
    pub fn new((inst, state): InstanceRecord, public_url: &str, caller: Caller) -> Self {
        let secret = caller.is_admin().then(|| inst.webhook_secret.expose().to_owned());
        let webhook_url =
            secret.as_ref().map(|s| format!("{public_url}/api/engine/v2/webhook/{}/notify?secret={s}", inst.id));
        Self {
            id: inst.id,
            control_system_id: inst.control_system_id,
            trigger_id: inst.trigger_id,
            enabled: inst.enabled,
            important: inst.important,
            exec_enabled: inst.exec_enabled,
            signing_secret: caller.is_admin().then(|| SigningSecretInfo {
                set: inst.signing_secret.is_some(),
                previous_valid_until: inst.previous_signing_secret.as_ref().map(|p| p.valid_until),
            }),
            webhook_secret: secret,
            webhook_url,
            triggered: state.triggered,
            trigger_count: state.trigger_count,
            last_fired_at: state.last_fired_at,
            created_at: inst.created_at,
            updated_at: inst.updated_at,
        }
    }
}

/// A trigger instance's state: whether it is triggered, its counters and every condition's value.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TriggerInstanceState)]
pub struct InstanceStateOut {
    /// `trig-…`
    pub trigger_instance: InstanceId,
    /// `sys-…`
    pub control_system_id: SystemId,
    /// `trigger-…`
    pub trigger_id: TriggerId,
    pub enabled: bool,
    pub triggered: bool,
    pub trigger_count: u64,
    /// Actions given up after every retry.
    pub action_errors: u64,
    /// Comparisons that could not be evaluated.
    pub comparison_errors: u64,
    /// Epoch seconds.
    pub last_fired_at: Option<u64>,
    /// Each condition's current value, by name (`webhook`, `comparison_0`, `time_0`, …).
    pub conditions: std::collections::BTreeMap<String, bool>,
}

impl From<InstanceRecord> for InstanceStateOut {
    fn from((inst, s): InstanceRecord) -> Self {
        Self {
            trigger_instance: inst.id,
            control_system_id: inst.control_system_id,
            trigger_id: inst.trigger_id,
            enabled: inst.enabled,
            triggered: s.triggered,
            trigger_count: s.trigger_count,
            action_errors: s.action_errors,
            comparison_errors: s.comparison_errors,
            last_fired_at: s.last_fired_at,
            conditions: (*s.conditions).clone(),
        }
    }
}

/// An API key; the key itself only in the answer that created it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyOut {
    /// `key-…`
    pub id: ApiKeyId,
    pub name: String,
    /// `admin` (may do everything) or `support` (may read).
    #[schema(example = "support")]
    pub role: Role,
    /// Epoch seconds.
    pub created_at: u64,
    /// The key itself: present only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub key: Option<String>,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        Self { id: k.id, name: k.name, role: k.role, created_at: k.created_at, key: None }
    }
}

/// A JSON array of one page, with the unpaged count in `X-Total-Count`.
pub fn page_response<T, O: Serialize>(page: Page<T>, view: impl FnMut(T) -> O) -> HttpResponse {
    let items: Vec<O> = page.items.into_iter().map(view).collect();
    HttpResponse::Ok().insert_header(("X-Total-Count", page.total.to_string())).json(items)
}
