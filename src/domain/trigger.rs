//! Trigger definitions: conditions that decide when an instance fires and actions that run when it does.
//! The shapes follow PlaceOS; evaluating them is the engine's job.

use serde::{Deserialize, Deserializer, Serialize};

use super::methods::SupportedMethods;
use super::module::ModuleRef;
use super::placeholder::{self, Placeholder};
use super::verification::VerificationSettings;
use super::webhook_filter::WebhookFilter;
use super::{TriggerId, ValidationError};

/// The longest debounce period accepted: one day, in milliseconds.
pub const MAX_DEBOUNCE_MS: u64 = 86_400_000;

/// A stored trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trigger {
    /// `trigger-…`
    pub id: TriggerId,
    #[serde(flatten)]
    pub spec: TriggerSpec,
    /// Epoch seconds.
    pub created_at: u64,
    /// Epoch seconds.
    pub updated_at: u64,
}

/// Everything an admin sets on a trigger, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriggerSpec {
    #[schema(schema_with = super::schema::name)]
    pub name: String,
    #[schema(schema_with = super::schema::description)]
    pub description: String,
    pub conditions: Conditions,
    pub actions: Actions,
    /// Milliseconds a webhook call holds the webhook condition true.
    #[schema(maximum = 86_400_000)]
    pub debounce_period: u64,
    pub important: bool,
    pub enable_webhook: bool,
    pub any_match: bool,
    pub supported_methods: SupportedMethods,
    /// How a webhook call's signature is checked; `None`: only the URL secret.
    #[serde(default)]
    #[schema(nullable)]
    pub webhook_verification: Option<VerificationSettings>,
    /// Which webhook calls are pulses; `None`: every accepted call.
    #[serde(default)]
    #[schema(nullable)]
    pub webhook_filter: Option<WebhookFilter>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default)]
    pub comparisons: Vec<Comparison>,
    #[serde(default)]
    pub time_dependents: Vec<TimeDependent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub left: Operand,
    pub operator: Operator,
    pub right: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Equal,
    NotEqual,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    And,
    Or,
    ExclusiveOr,
}

/// One side of a comparison: a module status value or a constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Operand {
    Status(StatusRef),
    Constant(Constant),
}

/// `{mod: "Display_1", status: "power", keys: ["nested", "path"]}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRef {
    #[serde(rename = "mod")]
    pub module: ModuleRef,
    #[schema(schema_with = status_name)]
    pub status: String,
    #[serde(default)]
    #[schema(schema_with = status_keys)]
    pub keys: Vec<String>,
}

/// A JSON scalar: number, string, bool or null.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Constant(pub serde_json::Value);

impl utoipa::PartialSchema for Constant {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::schema::scalar().into()
    }
}

impl utoipa::ToSchema for Constant {}

impl<'de> Deserialize<'de> for Constant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if value.is_object() || value.is_array() {
            return Err(serde::de::Error::custom("a constant must be a number, string, bool or null"));
        }
        Ok(Self(value))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimeDependent {
    /// Once, at an epoch time in seconds.
    At { time: i64 },
    /// On a cron schedule in a time zone (UTC when absent).
    Cron {
        cron: String,
        #[serde(default)]
        timezone: Option<String>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    #[serde(default)]
    pub functions: Vec<FunctionCall>,
    #[serde(default)]
    pub mailers: Vec<Mailer>,
    #[serde(default)]
    pub requests: Vec<RequestAction>,
}

impl Actions {
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty() && self.mailers.is_empty() && self.requests.is_empty()
    }

    /// Every placeholder the actions hold, checked; errors name the field (`actions.requests[0].url`).
    pub fn placeholders(&self) -> Result<Vec<Placeholder>, ValidationError> {
        let mut found = Vec::new();
        for (i, f) in self.functions.iter().enumerate() {
            let args = serde_json::Value::Object(f.args.clone());
            found.extend(placeholder::collect(&args).map_err(|e| e.within(&format!("actions.functions[{i}].args")))?);
        }
        for (i, m) in self.mailers.iter().enumerate() {
            let held = placeholder::collect_in_str(&m.content);
            found.extend(held.map_err(|e| e.within(&format!("actions.mailers[{i}].content")))?);
        }
        for (i, r) in self.requests.iter().enumerate() {
            found.extend(r.placeholders().map_err(|e| e.within(&format!("actions.requests[{i}]")))?);
        }
        Ok(found)
    }

    /// Whether a run must keep the firing call's body.
    pub fn use_payload(&self) -> bool {
        self.placeholders().is_ok_and(|found| found.iter().any(|p| matches!(p, Placeholder::Payload(_))))
    }
}

/// The longest time limit a request action may set, and the one it gets by default.
pub const MAX_REQUEST_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
const REQUEST_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Sends an HTTP request when the trigger fires; a `2xx` answer is success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestAction {
    #[schema(pattern = "^(GET|POST|PUT|PATCH|DELETE)$")]
    pub method: String,
    /// An `http` or `https` URL; `{{…}}` templates are filled in when the run executes.
    #[schema(schema_with = super::schema::templated_http_url)]
    pub url: String,
    /// Header names are tokens; `Idempotency-Key` and `Host` are set by Switchboard.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Sent as JSON; none for `null` or when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, schema_with = super::schema::any)]
    pub body: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 60_000)]
    pub timeout_ms: Option<u64>,
}

impl RequestAction {
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms.unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS)
    }

    pub fn placeholders(&self) -> Result<Vec<Placeholder>, ValidationError> {
        let mut found = placeholder::collect_in_str(&self.url).map_err(|e| e.within("url"))?;
        for (name, value) in &self.headers {
            found.extend(placeholder::collect_in_str(value).map_err(|e| e.within(&format!("headers.{name}")))?);
        }
        if let Some(body) = &self.body {
            found.extend(placeholder::collect(body).map_err(|e| e.within("body"))?);
        }
        Ok(found)
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if !REQUEST_METHODS.contains(&self.method.as_str()) {
            return Err(ValidationError::new("method", format!("must be one of {}", REQUEST_METHODS.join(", "))));
        }
        // Templates are filled in when the run executes; the rest of the URL must hold already.
        let sample = placeholder::interpolate(&self.url, &placeholder::Sample, &|_| "x".to_owned());
        super::parse_http_url(&sample).map_err(|m| ValidationError::new("url", m))?;
        for (name, value) in &self.headers {
            let valid_name =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b));
            if !valid_name {
                return Err(ValidationError::new(format!("headers.{name}"), "is not a valid header name"));
            }
            if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err(ValidationError::new(format!("headers.{name}"), "must not contain control characters"));
            }
            if name.eq_ignore_ascii_case("idempotency-key") || name.eq_ignore_ascii_case("host") {
                return Err(ValidationError::new(format!("headers.{name}"), "is set by Switchboard"));
            }
        }
        if self.timeout_ms.is_some_and(|t| t == 0 || t > MAX_REQUEST_TIMEOUT_MS) {
            return Err(ValidationError::new("timeout_ms", format!("must be between 1 and {MAX_REQUEST_TIMEOUT_MS}")));
        }
        Ok(())
    }
}

/// Calls `method` on module `mod` of the instance's system with named `args`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionCall {
    #[serde(rename = "mod")]
    pub module: ModuleRef,
    #[schema(schema_with = method_name)]
    pub method: String,
    /// Named arguments; values may be placeholders (`{"$payload": "/pointer"}`, …).
    #[serde(default)]
    #[schema(schema_with = super::schema::object)]
    pub args: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mailer {
    #[schema(schema_with = emails_schema)]
    pub emails: Vec<String>,
    #[schema(schema_with = super::schema::multi_line)]
    pub content: String,
}

/// A status name: one line, not empty.
fn status_name() -> utoipa::openapi::schema::Schema {
    super::schema::single_line().min_length(Some(1)).into()
}

/// Keys into a status value, each on one line.
fn status_keys() -> utoipa::openapi::schema::Schema {
    super::schema::array_of(super::schema::single_line(), 0)
}

/// A driver function's name: one line, not empty.
fn method_name() -> utoipa::openapi::schema::Schema {
    super::schema::single_line().min_length(Some(1)).into()
}

/// At least one address, each as [`looks_like_email`] accepts it.
fn emails_schema() -> utoipa::openapi::schema::Schema {
    let address = super::schema::string(
        r"^[^@\s\u0000-\u001f\u007f-\u009f]+@[^@\s\u0000-\u001f\u007f-\u009f.]+(\.[^@\s\u0000-\u001f\u007f-\u009f.]+)+$",
        254,
        "ops@example.com",
    );
    super::schema::array_of(address, 1)
}

impl TriggerSpec {
    /// A trigger whose only condition is its webhook, with no actions, debounce 0 and the default
    /// methods: what the seeding example and tests of the webhook path need.
    pub fn webhook_only(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            conditions: Conditions::default(),
            actions: Actions::default(),
            debounce_period: 0,
            important: false,
            enable_webhook: true,
            any_match: false,
            supported_methods: super::methods::SupportedMethods::default(),
            webhook_verification: None,
            webhook_filter: None,
        }
    }

    /// Checks what the types alone cannot: bounds, non-empty lists, address shapes.
    pub fn validate(&self) -> Result<(), ValidationError> {
        super::parse_name("name", &self.name)?;
        super::parse_description("description", Some(self.description.clone()))?;
        if self.debounce_period > MAX_DEBOUNCE_MS {
            return Err(ValidationError::new(
                "debounce_period",
                format!("must be between 0 and {MAX_DEBOUNCE_MS} milliseconds"),
            ));
        }
        for (i, c) in self.conditions.comparisons.iter().enumerate() {
            for (side, operand) in [("left", &c.left), ("right", &c.right)] {
                if let Operand::Status(s) = operand {
                    let field = format!("conditions.comparisons[{i}].{side}");
                    if s.status.is_empty() {
                        return Err(ValidationError::new(format!("{field}.status"), "must not be empty"));
                    }
                    super::check_single_line(&format!("{field}.status"), &s.status)?;
                    for (k, key) in s.keys.iter().enumerate() {
                        super::check_single_line(&format!("{field}.keys[{k}]"), key)?;
                    }
                }
            }
        }
        for (i, f) in self.actions.functions.iter().enumerate() {
            let field = format!("actions.functions[{i}].method");
            if f.method.is_empty() {
                return Err(ValidationError::new(field, "must not be empty"));
            }
            super::check_single_line(&field, &f.method)?;
        }
        for (i, r) in self.actions.requests.iter().enumerate() {
            r.validate().map_err(|e| e.within(&format!("actions.requests[{i}]")))?;
        }
        self.actions.placeholders()?;
        for (i, m) in self.actions.mailers.iter().enumerate() {
            super::check_multi_line(&format!("actions.mailers[{i}].content"), &m.content)?;
            if m.emails.is_empty() {
                return Err(ValidationError::new(
                    format!("actions.mailers[{i}].emails"),
                    "must list at least one address",
                ));
            }
            for (j, e) in m.emails.iter().enumerate() {
                if !looks_like_email(e) {
                    return Err(ValidationError::new(
                        format!("actions.mailers[{i}].emails[{j}]"),
                        "must be an email address",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn looks_like_email(raw: &str) -> bool {
    match raw.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
                && raw.len() <= 254
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeos_condition_shapes_parse() {
        let c: Conditions = serde_json::from_value(json!({
            "comparisons": [
                {"left": {"mod": "Display_1", "status": "power"}, "operator": "equal", "right": true},
                {"left": {"mod": "Sensor", "status": "temp", "keys": ["a", "b"]}, "operator": "greater_than", "right": 21.5}
            ],
            "time_dependents": [
                {"type": "at", "time": 1700000000},
                {"type": "cron", "cron": "0 9 * * 1-5", "timezone": "Australia/Sydney"}
            ]
        }))
        .unwrap();
        assert_eq!(c.comparisons.len(), 2);
        assert_eq!(c.time_dependents.len(), 2);
    }

    #[test]
    fn malformed_shapes_are_rejected() {
        for bad in [
            json!({"comparisons": [{"left": 1, "operator": "like", "right": 2}]}),
            json!({"comparisons": [{"left": [1], "operator": "equal", "right": 2}]}),
            json!({"time_dependents": [{"type": "weekly"}]}),
            json!({"time_dependents": [{"type": "at"}]}),
            json!({"other": []}),
        ] {
            assert!(serde_json::from_value::<Conditions>(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_shapes() {
        assert!(looks_like_email("ops@example.com"));
        for bad in ["", "ops", "@example.com", "ops@example", "o ps@example.com", "ops@.com"] {
            assert!(!looks_like_email(bad), "{bad:?}");
        }
    }
}
