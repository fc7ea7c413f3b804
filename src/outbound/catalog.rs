//! The event types a subscription can ask for, described for `GET /webhooks/event_types`. The
//! examples follow the data the engine publishes (src/engine, src/startup.rs).

use serde::Serialize;
use serde_json::{json, Value};

use super::subscription::{url_for_support, EventType, Subscription};
use crate::domain::actor::Actor;
use crate::domain::{ApiKeyId, ReceiptId};
use crate::events::EngineEvent;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = EventType)]
pub struct EventTypeInfo {
    pub event: &'static str,
    pub description: &'static str,
    /// A complete body as a receiver gets it.
    pub example: EngineEvent,
}

const SYSTEM: &str = "sys-0190f0c0a1b27c3d8e9f0a1b2c3d4e5f";
const INSTANCE: &str = "trig-0190f0c0a1b27c3d8e9f0a1b2c3d4e60";
const TRIGGER: &str = "trigger-0190f0c0a1b27c3d8e9f0a1b2c3d4e61";
const MODULE: &str = "mod-0190f0c0a1b27c3d8e9f0a1b2c3d4e62";
const SUBSCRIPTION: &str = "wh-0190f0c0a1b27c3d8e9f0a1b2c3d4e63";
const CALLOUT: &str = "co-0190f0c0a1b27c3d8e9f0a1b2c3d4e66";
const KEY: &str = "key-0190f0c0a1b27c3d8e9f0a1b2c3d4e65";
const RECEIPT: &str = "rcpt-0190f0c0a1b27c3d8e9f0a1b2c3d4e66";
const RUN: &str = "run-0190f0c0a1b27c3d8e9f0a1b2c3d4e67";
const REQUEST: &str = "0190f0c0-a1b2-7c3d-8e9f-0a1b2c3d4e68";

/// Who causes events of a type, in the examples.
#[derive(Clone, Copy)]
enum Cause {
    Admin,
    Webhook,
    Engine,
}

impl Cause {
    fn actor(self) -> (Actor, Option<String>) {
        match self {
            Cause::Admin => {
                (Actor::ApiKey { id: ApiKeyId::parse(KEY), name: "ops console".into() }, Some(REQUEST.to_owned()))
            }
            Cause::Webhook => {
                let receipt = ReceiptId::parse(RECEIPT).expect("the example receipt id is valid");
                (Actor::Webhook { receipt }, Some(REQUEST.to_owned()))
            }
            Cause::Engine => (Actor::System, None),
        }
    }
}

fn describe(t: EventType) -> (&'static str, Option<&'static str>, Value, Cause) {
    let (description, system, data) = describe_data(t);
    let cause = match t {
        EventType::TriggerFired | EventType::TriggerStateChanged | EventType::WebhookReceived => Cause::Webhook,
        EventType::ModuleExecFailed => Cause::Webhook,
        EventType::SystemCreated
        | EventType::SystemUpdated
        | EventType::SystemDeleted
        | EventType::ModuleCreated
        | EventType::ModuleUpdated
        | EventType::ModuleDeleted
        | EventType::TriggerCreated
        | EventType::TriggerUpdated
        | EventType::TriggerDeleted
        | EventType::TriggerInstanceCreated
        | EventType::TriggerInstanceUpdated
        | EventType::TriggerInstanceDeleted
        | EventType::RunRetried
        | EventType::ApiKeyCreated
        | EventType::ApiKeyDeleted
        | EventType::SubscriptionCreated
        | EventType::SubscriptionUpdated
        | EventType::SubscriptionDeleted
        | EventType::CalloutCreated
        | EventType::CalloutUpdated
        | EventType::CalloutDeleted
        | EventType::Test => Cause::Admin,
        EventType::TriggerReset
        | EventType::ModuleStatusChanged
        | EventType::RunFailed
        | EventType::SubscriptionPaused => Cause::Engine,
    };
    (description, system, data, cause)
}

fn describe_data(t: EventType) -> (&'static str, Option<&'static str>, Value) {
    let instance_state = |triggered: bool| {
        json!({
            "trigger_instance": INSTANCE, "trigger_id": TRIGGER, "system_id": SYSTEM,
            "triggered": triggered, "trigger_count": 3, "last_fired_at": 1_700_000_000, "action_errors": 0,
            "conditions": { "webhook": triggered, "comparison_0": true },
        })
    };
    let system = json!({
        "id": SYSTEM, "name": "Lobby", "description": "", "modules": [MODULE],
        "created_at": 1_700_000_000, "updated_at": 1_700_000_000,
    });
    let module =
        || json!({ "module_id": MODULE, "driver": "Display", "custom_name": null, "control_system_id": SYSTEM });
    let trigger = || json!({ "trigger_id": TRIGGER, "name": "Lobby doorbell", "enable_webhook": true });
    let subscription = || {
        json!({
            "subscription_id": SUBSCRIPTION, "name": "Ops", "url": "https://ops.example.com/hooks?token=[redacted]",
            "events": ["trigger.fired", "subscription.paused"], "system_id": null, "enabled": true,
            "auth_header": { "name": "Authorization" },
        })
    };
    let callout = || {
        json!({
            "callout_id": CALLOUT, "name": "Boardroom bookings", "url": "https://rooms.example.com/may?key=[redacted]",
            "on": ["exec"], "system_id": SYSTEM, "enabled": true,
        })
    };
    match t {
        EventType::CalloutCreated => (
            "A callout was created. Its signing secret is never shown, and its URL is shown as support keys see it.",
            Some(SYSTEM),
            callout(),
        ),
        EventType::CalloutUpdated => (
            "A callout was changed: `changed` names the fields a PATCH set, or `secret` when rotated (never shown).",
            Some(SYSTEM),
            {
                let mut data = callout();
                data["changed"] = json!(["timeout_ms"]);
                data
            },
        ),
        EventType::CalloutDeleted => ("A callout was deleted, with its log.", None, json!({ "callout_id": CALLOUT })),
        EventType::TriggerFired => {
            ("A trigger instance fired: its conditions became true.", Some(SYSTEM), instance_state(true))
        }
        EventType::TriggerReset => (
            "A trigger instance is no longer triggered (its webhook window closed, or it fired with no window).",
            Some(SYSTEM),
            instance_state(false),
        ),
        EventType::TriggerStateChanged => (
            "A trigger instance's state changed: a condition, whether it is triggered, or its counters.",
            Some(SYSTEM),
            instance_state(true),
        ),
        EventType::WebhookReceived => (
            "A trigger webhook call passed every check and is about to be applied.",
            Some(SYSTEM),
            json!({ "trigger_instance": INSTANCE, "trigger_id": TRIGGER, "system_id": SYSTEM, "method": "POST" }),
        ),
        EventType::ModuleStatusChanged => (
            "A module published a new status value.",
            Some(SYSTEM),
            json!({ "module_id": MODULE, "key": "power", "value": true }),
        ),
        EventType::ModuleExecFailed => (
            "A module call made by a trigger webhook failed (driver error, panic or timeout).",
            Some(SYSTEM),
            json!({
                "module_id": MODULE, "method": "request", "trigger_instance": INSTANCE,
                "error": "the driver took longer than 10000 ms",
            }),
        ),
        EventType::SystemCreated => ("A system was created.", Some(SYSTEM), json!({ "system": system })),
        EventType::SystemUpdated => ("A system was changed (PUT or PATCH).", Some(SYSTEM), json!({ "system": system })),
        EventType::SystemDeleted => {
            ("A system was deleted, with its trigger instances.", Some(SYSTEM), json!({ "system_id": SYSTEM }))
        }
        EventType::ModuleCreated => ("A module was created.", Some(SYSTEM), module()),
        EventType::ModuleUpdated => ("A module was changed (its settings are not shown).", Some(SYSTEM), module()),
        EventType::ModuleDeleted => ("A module was deleted, with its stored status.", Some(SYSTEM), module()),
        EventType::TriggerCreated => ("A trigger was created.", None, trigger()),
        EventType::TriggerUpdated => ("A trigger was changed (PUT or PATCH).", None, trigger()),
        EventType::TriggerDeleted => {
            ("A trigger was deleted, with its instances in every system.", None, json!({ "trigger_id": TRIGGER }))
        }
        EventType::TriggerInstanceUpdated => (
            "A trigger instance was changed: `changed` names the fields (a rotated secret is named, never shown).",
            Some(SYSTEM),
            json!({
                "trigger_instance": INSTANCE, "trigger_id": TRIGGER, "system_id": SYSTEM,
                "enabled": true, "important": false, "exec_enabled": false, "changed": ["webhook_secret"],
            }),
        ),
        EventType::RunFailed => (
            "A run of a trigger's actions ended with an action given up after its last retry.",
            Some(SYSTEM),
            json!({
                "run_id": RUN, "trigger_instance": INSTANCE, "trigger_id": TRIGGER, "system_id": SYSTEM, "fire": 3,
                "given_up": [{ "index": 0, "type": "request", "attempts": 6, "error": "the receiver answered 503" }],
            }),
        ),
        EventType::RunRetried => (
            "An admin queued a failed run again: its given-up actions (`retried`, by index) get a new schedule of \
             attempts.",
            Some(SYSTEM),
            json!({
                "run_id": RUN, "trigger_instance": INSTANCE, "trigger_id": TRIGGER, "system_id": SYSTEM, "fire": 3,
                "retried": [0],
            }),
        ),
        EventType::ApiKeyCreated => (
            "An API key was created (its secret is never shown again, here or anywhere).",
            None,
            json!({ "key_id": KEY, "name": "ops console", "role": "admin" }),
        ),
        EventType::ApiKeyDeleted => {
            ("An API key was deleted; it stops working at once.", None, json!({ "key_id": KEY }))
        }
        EventType::TriggerInstanceCreated => (
            "A trigger was applied to a system.",
            Some(SYSTEM),
            json!({ "trigger_instance": INSTANCE, "trigger_id": TRIGGER, "system_id": SYSTEM }),
        ),
        EventType::TriggerInstanceDeleted => (
            "A trigger instance was removed from its system.",
            Some(SYSTEM),
            json!({ "trigger_instance": INSTANCE, "system_id": SYSTEM }),
        ),
        EventType::SubscriptionCreated => (
            "An outbound webhook subscription was created. Its signing secret and auth header value are never \
             shown, and its URL is shown as support keys see it, without the parts that may carry credentials.",
            None,
            subscription(),
        ),
        EventType::SubscriptionUpdated => (
            "An outbound webhook subscription was changed: `changed` names the fields (those a PATCH set; \
             `enabled`, `paused_at` and `consecutive_failures` when enabled; `secret` when rotated, never shown).",
            None,
            {
                let mut data = subscription();
                data["changed"] = json!(["name", "events"]);
                data
            },
        ),
        EventType::SubscriptionDeleted => (
            "An outbound webhook subscription was deleted, with its queued events and delivery log.",
            None,
            subscription(),
        ),
        EventType::SubscriptionPaused => (
            "An outbound webhook subscription was paused after repeated failures or a 410 Gone; its events \
             are kept until it is enabled again.",
            None,
            json!({
                "subscription_id": SUBSCRIPTION, "name": "Ops", "consecutive_failures": 10,
                "reason": "the receiver answered HTTP 503", "paused_at": 1_700_000_000,
            }),
        ),
        EventType::Test => (
            "Sent by POST /webhooks/{id}/test to that subscription only.",
            None,
            json!({ "subscription_id": SUBSCRIPTION, "message": "a test event from Switchboard" }),
        ),
    }
}

/// Every event type, with a description and an example body.
pub fn event_types() -> Vec<EventTypeInfo> {
    EventType::ALL
        .into_iter()
        .map(|t| {
            let (description, system, data, cause) = describe(t);
            let (actor, request_id) = cause.actor();
            EventTypeInfo {
                event: t.as_str(),
                description,
                example: EngineEvent {
                    id: "evt_0190f0c0a1b27c3d8e9f0a1b2c3d4e64".into(),
                    event: t.as_str().into(),
                    timestamp: "2023-11-14T22:13:20.000Z".into(),
                    system_id: system.map(str::to_owned),
                    actor,
                    request_id,
                    data,
                },
            }
        })
        .collect()
}

/// The data of a `test` event.
pub fn test_data(subscription_id: &str) -> Value {
    json!({ "subscription_id": subscription_id, "message": "a test event from Switchboard" })
}

/// The data of `subscription.created`, `.updated` and `.deleted`: never the signing secrets or the auth
/// header's value, and the URL as support keys see it, since support keys read the live stream and
/// other subscriptions' receivers get these events too. `changed` names the fields an update set.
pub fn subscription_data(sub: &Subscription, changed: Option<&[&str]>) -> Value {
    let mut data = json!({
        "subscription_id": sub.id,
        "name": sub.name,
        "url": url_for_support(sub.url.as_str()),
        "events": sub.events,
        "system_id": sub.system_id,
        "enabled": sub.enabled,
        "auth_header": sub.auth_header.as_ref().map(|h| json!({ "name": h.name })),
    });
    if let Some(changed) = changed {
        data["changed"] = json!(changed);
    }
    data
}
