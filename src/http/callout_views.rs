//! Response bodies for callouts: the signing secret only in the answers that create or rotate it;
//! support keys see the URL without the parts receivers put credentials in.

use serde::Serialize;

use crate::domain::callout::{Callout, CalloutSpec};
use crate::domain::ids::CalloutId;
use crate::engine::Caller;
use crate::outbound::subscription::url_for_support;

/// A callout.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Callout)]
pub struct CalloutOut {
    /// `co-…`
    pub id: CalloutId,
    /// Support keys see `url` without userinfo and with every query value `[redacted]`.
    #[serde(flatten)]
    pub spec: CalloutSpec,
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
            out.spec.url = url_for_support(&out.spec.url);
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
        Self { id: c.id, spec: c.spec, created_at: c.created_at, updated_at: c.updated_at, secret: None }
    }
}
