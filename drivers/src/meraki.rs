//! Cisco Meraki Scanning API receiver: Meraki validates the endpoint with a GET that must echo the
//! `validator`, then POSTs observations carrying the shared `secret`.

use async_trait::async_trait;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::sdk::{
    Driver, DriverDescriptor, DriverError, FunctionDescriptor, JsonType, ModuleContext, Param, StatusHandle,
    WebhookRequest, WebhookResponse,
};

pub struct Meraki {
    validator: String,
    secret: String,
    status: StatusHandle,
}

#[async_trait]
impl Driver for Meraki {
    fn descriptor() -> DriverDescriptor {
        DriverDescriptor::new("Meraki Scanning", "Meraki", "Receives Cisco Meraki Scanning API observations")
            .setting(Param::required("validator", JsonType::String))
            .setting(Param::required("secret", JsonType::String).sensitive())
            .function(
                FunctionDescriptor::new("scanning_api", "GET answers the validator; POST records observations")
                    .webhook(),
            )
    }

    fn start(ctx: ModuleContext) -> Result<Self, DriverError> {
        let setting = |name: &str| {
            ctx.setting_str(name).filter(|v| !v.is_empty()).map(str::to_owned).ok_or_else(|| {
                DriverError::InvalidSettings { field: name.to_owned(), message: "must be a non-empty string".into() }
            })
        };
        Ok(Meraki { validator: setting("validator")?, secret: setting("secret")?, status: ctx.status })
    }

    async fn webhook(&mut self, function: &str, request: WebhookRequest) -> Result<WebhookResponse, DriverError> {
        if function != "scanning_api" {
            return Err(DriverError::UnknownFunction(function.to_owned()));
        }
        match request.method.as_str() {
            "GET" | "HEAD" => Ok(WebhookResponse::text(200, self.validator.clone())),
            "POST" => Ok(self.observations(&request.body)),
            _ => Ok(WebhookResponse::json(405, &json!({"error": "use GET to validate or POST to send observations"}))),
        }
    }
}

impl Meraki {
    fn observations(&self, body: &[u8]) -> WebhookResponse {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return WebhookResponse::json(400, &json!({"error": "the body must be JSON"}));
        };
        let given = body.get("secret").and_then(Value::as_str).unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(self.secret.as_bytes())) {
            return WebhookResponse::json(401, &json!({"error": "wrong secret"}));
        }
        let count = body.pointer("/data/observations").and_then(Value::as_array).map_or(0, Vec::len);
        self.status.set("observation_count", json!(count));
        self.status.set("version", body.get("version").cloned().unwrap_or(Value::Null));
        if let Some(kind) = body.get("type") {
            self.status.set("type", kind.clone());
        }
        WebhookResponse::json(200, &json!({ "received": count }))
    }
}
