//! Response bodies for outbound subscriptions: secrets are never in them, except the signing secret
//! in the answers that create or rotate it. Support keys see subscription URLs without the parts
//! receivers put credentials in.

use serde::Serialize;

use crate::domain::ids::SubscriptionId;
use crate::domain::SystemId;
use crate::engine::Caller;
use crate::outbound::delivery::DeliveryAttempt;
use crate::outbound::subscription::{url_for_support, EventFilter, Subscription};

/// Only the name: the value is a credential.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuthHeader)]
pub struct AuthHeaderOut {
    pub name: String,
}

/// An outbound webhook subscription.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Subscription)]
pub struct SubscriptionOut {
    /// `wh-…`
    pub id: SubscriptionId,
    pub name: String,
    /// `http://` or `https://`. Support keys see it without userinfo and with every query value
    /// `[redacted]`.
    pub url: String,
    /// Event types, or `"*"` for all.
    #[schema(example = json!(["trigger.fired", "subscription.paused"]))]
    pub events: EventFilter,
    /// Only this system's events (`sys-…`), if set.
    pub system_id: Option<SystemId>,
    pub enabled: bool,
    /// Epoch seconds; set while the subscription is paused.
    pub paused_at: Option<u64>,
    pub consecutive_failures: u32,
    pub last_failure_reason: Option<String>,
    pub auth_header: Option<AuthHeaderOut>,
    /// Epoch seconds.
    pub created_at: u64,
    /// Epoch seconds.
    pub updated_at: u64,
    /// The signing secret: only in the answers to create and rotate-secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub secret: Option<String>,
}

impl SubscriptionOut {
    /// The view for a reader: admins see the URL as they set it, support keys [`url_for_support`].
    pub fn for_caller(sub: Subscription, caller: &Caller) -> Self {
        let mut out = Self::from(sub);
        if !caller.is_admin() {
            out.url = url_for_support(&out.url);
        }
        out
    }

    /// The one view that carries the signing secret.
    pub fn with_secret(sub: Subscription) -> Self {
        let secret = sub.secret.expose();
        Self { secret: Some(secret), ..Self::from(sub) }
    }
}

impl From<Subscription> for SubscriptionOut {
    fn from(s: Subscription) -> Self {
        Self {
            id: s.id,
            name: s.name,
            url: s.url.as_str().to_owned(),
            events: s.events,
            system_id: s.system_id,
            enabled: s.enabled,
            paused_at: s.paused_at,
            consecutive_failures: s.consecutive_failures,
            last_failure_reason: s.last_failure_reason,
            auth_header: s.auth_header.map(|h| AuthHeaderOut { name: h.name.as_str().to_owned() }),
            created_at: s.created_at,
            updated_at: s.updated_at,
            secret: None,
        }
    }
}

/// One entry of the delivery log, and the answer to a test send.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DeliveryAttempt)]
pub struct AttemptOut {
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    /// Epoch seconds.
    pub attempted_at: u64,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// The first 2 KiB of the response body.
    pub response_body: String,
    pub error: Option<String>,
    pub success: bool,
}

impl From<DeliveryAttempt> for AttemptOut {
    fn from(a: DeliveryAttempt) -> Self {
        Self {
            event_id: a.event_id,
            event_type: a.event_type,
            attempt: a.attempt,
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            response_body: a.response_body,
            error: a.error,
            success: a.success,
        }
    }
}
