//! Response bodies for callouts: the signing secret only in the answers that create or rotate it;
//! support keys see the URL without the parts receivers put credentials in.

use serde::Serialize;

use crate::domain::callout::{Callout, CalloutMatch, CalloutOn, FailurePolicy};
use crate::domain::ids::CalloutId;
use crate::domain::SystemId;
use crate::engine::Caller;
use crate::outbound::subscription::url_for_support;

/// A callout.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Callout)]
pub struct CalloutOut {
    /// `co-…`
    pub id: CalloutId,
    pub name: String,
    /// Support keys see it without userinfo and with every query value `[redacted]`.
    pub url: String,
    pub on: Vec<CalloutOn>,
    /// Only this system's calls (`sys-…`); every system's when `null`.
    pub system_id: Option<SystemId>,
    #[serde(rename = "match")]
    pub matching: CalloutMatch,
    pub timeout_ms: u64,
    pub failure_policy: FailurePolicy,
    pub enabled: bool,
    /// Epoch seconds.
    pub created_at: u64,
    /// Epoch seconds.
    pub updated_at: u64,
    /// The signing secret (`whsec_…`): only in the answers to create and rotate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub secret: Option<String>,
}

impl CalloutOut {
    pub fn for_caller(callout: Callout, caller: &Caller) -> Self {
        let mut out = Self::from(callout);
        if !caller.is_admin() {
            out.url = url_for_support(&out.url);
        }
        out
    }

    /// The one view that carries the signing secret.
    pub fn with_secret(callout: Callout) -> Self {
        let secret = callout.secret.expose();
        Self { secret: Some(secret), ..Self::from(callout) }
    }
}

impl From<Callout> for CalloutOut {
    fn from(c: Callout) -> Self {
        let s = c.spec;
        Self {
            id: c.id,
            name: s.name,
            url: s.url,
            on: s.on,
            system_id: s.system_id,
            matching: s.matching,
            timeout_ms: s.timeout_ms,
            failure_policy: s.failure_policy,
            enabled: s.enabled,
            created_at: c.created_at,
            updated_at: c.updated_at,
            secret: None,
        }
    }
}
