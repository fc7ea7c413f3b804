use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::secret::WebhookSecret;
use super::{InstanceId, SystemId, TriggerId};

/// A trigger applied to a system: what admins configure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerInstance {
    pub id: InstanceId,
    pub control_system_id: SystemId,
    pub trigger_id: TriggerId,
    pub enabled: bool,
    pub important: bool,
    pub exec_enabled: bool,
    pub webhook_secret: WebhookSecret,
    pub created_at: u64,
    pub updated_at: u64,
}

/// Conditions held true by a pulse (a webhook call or a schedule) rather than by a level.
pub fn is_pulse_condition(name: &str) -> bool {
    name == "webhook" || name.starts_with("time_")
}

/// What the engine records about an instance as it runs. Kept apart from [`TriggerInstance`] so that
/// firing never rewrites the admin's configuration and an admin edit never loses a count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    pub triggered: bool,
    pub trigger_count: u64,
    pub last_fired_at: Option<u64>,
    /// Actions that failed, over the instance's life.
    #[serde(default)]
    pub action_errors: u64,
    /// Comparisons that met values they could not compare.
    #[serde(default)]
    pub comparison_errors: u64,
    /// The value of every condition (`webhook`, `comparison_0`, `time_0`, …). Shared: a state is copied
    /// on every fire (to the journal, the overlay, events), its conditions seldom change.
    #[serde(default)]
    pub conditions: Arc<BTreeMap<String, bool>>,
    /// Grows with every change, so writes that reach the store out of order cannot undo a newer one.
    #[serde(default)]
    pub version: u64,
}
