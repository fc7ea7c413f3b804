//! A simulated display: power, input and volume, set by functions or by a JSON webhook body.

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::sdk::{
    Args, Driver, DriverDescriptor, DriverError, FunctionDescriptor, JsonType, ModuleContext, Param, StatusHandle,
    WebhookRequest, WebhookResponse,
};

pub struct Display {
    status: StatusHandle,
}

const INPUTS: &[&str] = &["hdmi1", "hdmi2", "hdmi3", "displayport", "usb-c", "vga"];

impl Display {
    fn power(&self, on: bool) {
        self.status.set("power", Value::Bool(on));
    }

    fn switch_to(&self, input: &str) -> Result<(), DriverError> {
        if !INPUTS.contains(&input) {
            return Err(DriverError::InvalidArgs(format!("input must be one of {}", INPUTS.join(", "))));
        }
        self.status.set("input", Value::String(input.to_owned()));
        Ok(())
    }

    fn volume(&self, level: i64) -> Result<(), DriverError> {
        if !(0..=100).contains(&level) {
            return Err(DriverError::InvalidArgs("level must be between 0 and 100".into()));
        }
        self.status.set("volume", Value::from(level));
        Ok(())
    }

    fn state(&self) -> Value {
        Value::Object(self.status.snapshot())
    }

    /// Checks the whole body before changing anything, so a bad body leaves the display as it was.
    fn apply(&self, body: &Map<String, Value>) -> Result<(), String> {
        for (key, value) in body {
            let ok = match key.as_str() {
                "power" => value.is_boolean(),
                "input" => value.as_str().is_some_and(|i| INPUTS.contains(&i)),
                "volume" => value.as_i64().is_some_and(|v| (0..=100).contains(&v)),
                _ => return Err(format!("unknown field {key}")),
            };
            if !ok {
                return Err(format!("{key} has an unusable value"));
            }
        }
        for (key, value) in body {
            self.status.set(key, value.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl Driver for Display {
    fn descriptor() -> DriverDescriptor {
        DriverDescriptor::new("Display", "Display", "A simulated display with power, input and volume")
            .function(
                FunctionDescriptor::new("power", "Turns the display on or off")
                    .param(Param::required("state", JsonType::Boolean)),
            )
            .function(
                FunctionDescriptor::new("switch_to", "Selects an input")
                    .param(Param::required("input", JsonType::String)),
            )
            .function(
                FunctionDescriptor::new("volume", "Sets the volume, 0 to 100")
                    .param(Param::required("level", JsonType::Integer)),
            )
            .function(FunctionDescriptor::new("state", "The current power, input and volume"))
            .function(
                FunctionDescriptor::new(
                    "request",
                    "Applies a JSON body such as {\"power\": true, \"input\": \"hdmi2\"}",
                )
                .webhook(),
            )
    }

    fn start(ctx: ModuleContext) -> Result<Self, DriverError> {
        let display = Display { status: ctx.status };
        if display.status.get("power").is_none() {
            display.power(false);
            display.status.set("input", json!("hdmi1"));
            display.status.set("volume", json!(50));
        }
        Ok(display)
    }

    async fn call(&mut self, function: &str, args: Args) -> Result<Value, DriverError> {
        match function {
            "power" => self.power(args.bool("state")?),
            "switch_to" => self.switch_to(args.str("input")?)?,
            "volume" => self.volume(args.i64("level")?)?,
            "state" => {}
            other => return Err(DriverError::UnknownFunction(other.to_owned())),
        }
        Ok(self.state())
    }

    async fn webhook(&mut self, function: &str, request: WebhookRequest) -> Result<WebhookResponse, DriverError> {
        if function != "request" {
            return Err(DriverError::UnknownFunction(function.to_owned()));
        }
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(v) => v,
            Err(_) => return Ok(WebhookResponse::json(400, &json!({"error": "the body must be a JSON object"}))),
        };
        let Some(fields) = body.as_object() else {
            return Ok(WebhookResponse::json(400, &json!({"error": "the body must be a JSON object"})));
        };
        match self.apply(fields) {
            Ok(()) => Ok(WebhookResponse::json(200, &self.state())),
            Err(message) => Ok(WebhookResponse::json(400, &json!({ "error": message }))),
        }
    }
}
