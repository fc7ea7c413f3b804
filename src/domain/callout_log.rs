//! What a callout is asked, and the record of each time it was.

use serde::{Deserialize, Serialize};

use super::actor::Actor;
use super::callout::{CalloutOn, Gate};
use super::run::Run;
use super::{InstanceId, RunId, SystemId, TriggerId};

/// The call about to happen and who makes it: the body a callout receives, with an `id` and a
/// `timestamp` added per request.
#[derive(Debug, Clone, Serialize)]
pub struct Question {
    pub action: CalloutOn,
    pub system_id: SystemId,
    /// The module reference an exec addresses (`Display_1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_instance: Option<InstanceId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<TriggerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
    pub actor: Actor,
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
}

impl Question {
    /// The question about an exec at `gate`; `instance` is the webhook's, when a webhook makes it.
    pub fn exec(
        gate: &Gate<'_>,
        instance: Option<InstanceId>,
        actor: Actor,
        request_id: Option<String>,
        remote_addr: Option<String>,
    ) -> Self {
        Self {
            action: CalloutOn::Exec,
            system_id: gate.system.clone(),
            module: gate.module.map(str::to_owned),
            method: gate.method.map(str::to_owned),
            trigger_instance: instance,
            trigger_id: gate.trigger.cloned(),
            run: None,
            actor,
            request_id,
            remote_addr,
        }
    }

    /// The question about a run of actions, asked by the engine itself.
    pub fn run(run: &Run) -> Self {
        Self {
            action: CalloutOn::Actions,
            system_id: run.system_id.clone(),
            module: None,
            method: None,
            trigger_instance: Some(run.trigger_instance.clone()),
            trigger_id: Some(run.trigger_id.clone()),
            run: Some(run.id.clone()),
            actor: Actor::System,
            request_id: None,
            remote_addr: None,
        }
    }

    pub fn gate(&self) -> Gate<'_> {
        Gate {
            on: self.action,
            system: &self.system_id,
            module: self.module.as_deref(),
            method: self.method.as_deref(),
            trigger: self.trigger_id.as_ref(),
        }
    }
}

/// The request body: the question with the request's id (also its `webhook-id`) and time.
#[derive(Serialize)]
pub struct Envelope<'a> {
    pub id: &'a str,
    /// RFC 3339.
    pub timestamp: String,
    #[serde(flatten)]
    pub question: &'a Question,
}

/// How a callout answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
    /// No usable answer: its failure policy decided.
    Unavailable,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Unavailable => "unavailable",
        }
    }
}

/// One request to a callout, as its log shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CalloutLogEntry)]
pub struct LogEntry {
    /// The request's id, as sent in `webhook-id` and the body.
    pub id: String,
    /// Epoch milliseconds.
    pub at: u64,
    pub action: CalloutOn,
    pub system_id: SystemId,
    pub module: Option<String>,
    pub method: Option<String>,
    pub trigger_instance: Option<InstanceId>,
    pub run: Option<RunId>,
    /// The answer's HTTP status; `null` when none came.
    pub status: Option<u16>,
    /// Why no usable answer came (timeout, refused connection, another status, an unreadable body).
    pub error: Option<String>,
    pub latency_ms: u64,
    pub decision: Decision,
    /// Whether the call could go ahead as far as this callout is concerned (its failure policy applied).
    pub allowed: bool,
    /// A denial's reason.
    pub reason: Option<String>,
    /// The request that caused the question, if one did.
    pub request_id: Option<String>,
}
