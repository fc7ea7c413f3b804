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

/// What the engine records about an instance as it runs. Kept apart from [`TriggerInstance`] so that
/// firing never rewrites the admin's configuration and an admin edit never loses a count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    pub triggered: bool,
    pub trigger_count: u64,
    pub last_fired_at: Option<u64>,
    /// Grows with every change, so writes that reach the store out of order cannot undo a newer one.
    #[serde(default)]
    pub version: u64,
}
