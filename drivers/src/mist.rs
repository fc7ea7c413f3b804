//! Juniper Mist location webhooks, verified by `X-Mist-Signature-v2`: the hex HMAC-SHA256 of the raw
//! body keyed with the webhook's secret.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::sdk::{
    Driver, DriverDescriptor, DriverError, FunctionDescriptor, JsonType, ModuleContext, Param, StatusHandle,
    WebhookRequest, WebhookResponse,
};

pub struct Mist {
    secret: String,
    status: StatusHandle,
}

#[async_trait]
impl Driver for Mist {
    fn descriptor() -> DriverDescriptor {
        DriverDescriptor::new("Mist Location", "Mist", "Receives Juniper Mist location webhooks")
            .setting(Param::required("secret", JsonType::String).sensitive())
            .function(FunctionDescriptor::new("location_webhook", "Verifies and records a location event").webhook())
    }

    fn start(ctx: ModuleContext) -> Result<Self, DriverError> {
        let secret = ctx.setting_str("secret").filter(|s| !s.is_empty()).map(str::to_owned).ok_or_else(|| {
            DriverError::InvalidSettings { field: "secret".into(), message: "must be a non-empty string".into() }
        })?;
        Ok(Mist { secret, status: ctx.status })
    }

    async fn webhook(&mut self, function: &str, request: WebhookRequest) -> Result<WebhookResponse, DriverError> {
        if function != "location_webhook" {
            return Err(DriverError::UnknownFunction(function.to_owned()));
        }
        if !self.signed(&request) {
            return Ok(WebhookResponse::json(401, &json!({"error": "missing or wrong X-Mist-Signature-v2"})));
        }
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return Ok(WebhookResponse::json(400, &json!({"error": "the body must be JSON"})));
        };
        let latest = match body.get("events").and_then(Value::as_array) {
            Some(events) => events.last().cloned().unwrap_or(Value::Null),
            None => body.clone(),
        };
        if let Some(topic) = body.get("topic") {
            self.status.set("topic", topic.clone());
        }
        self.status.set("last_location", latest);
        Ok(WebhookResponse::json(200, &json!({"ok": true})))
    }
}

impl Mist {
    fn signed(&self, request: &WebhookRequest) -> bool {
        let Some(given) = request.header("x-mist-signature-v2").and_then(|h| hex::decode(h.trim()).ok()) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()) else {
            return false;
        };
        mac.update(&request.body);
        // verify_slice compares in constant time.
        mac.verify_slice(&given).is_ok()
    }
}
