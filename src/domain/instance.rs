use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::secret::WebhookSecret;
use super::verification::SigningSecret;
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
    /// The secret the sender signs calls with, when the trigger verifies signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SigningSecret>,
    /// The secret it replaced, still accepted during the rotation grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_signing_secret: Option<PreviousSecret>,
    pub created_at: u64,
    pub updated_at: u64,
}

/// A rotated-out signing secret and the end of its grace period (epoch seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: SigningSecret,
    pub valid_until: u64,
}

impl TriggerInstance {
    /// A new instance of `trigger` in `system` with a fresh webhook secret: enabled, not important,
    /// exec off, no signing secret, created `now` (epoch seconds).
    pub fn new(id: InstanceId, system: SystemId, trigger: TriggerId, now: u64) -> Self {
        Self {
            id,
            control_system_id: system,
            trigger_id: trigger,
            enabled: true,
            important: false,
            exec_enabled: false,
            webhook_secret: WebhookSecret::generate(),
            signing_secret: None,
            previous_signing_secret: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The signing secrets a call may be signed with at `now` (epoch seconds): the current one and,
    /// within its grace period, the previous one.
    pub fn signing_secrets(&self, now: u64) -> Vec<&SigningSecret> {
        let previous = self.previous_signing_secret.as_ref().filter(|p| p.valid_until > now).map(|p| &p.secret);
        self.signing_secret.iter().chain(previous).collect()
    }
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
