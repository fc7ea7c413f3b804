//! What admins send to create or change a callout. Required fields are options so that a missing one
//! is reported by name; a PATCH tells "absent" (outer `None`) from "null".

use serde::Deserialize;

use super::callout::{CalloutMatch, CalloutOn, CalloutSpec, FailurePolicy, DEFAULT_TIMEOUT_MS};
use super::{SystemId, ValidationError};

/// `POST /callouts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CalloutInput)]
pub struct CalloutIn {
    #[serde(default)]
    #[schema(required = true, schema_with = super::schema::name)]
    pub name: Option<String>,
    /// Where the question is POSTed: `http://` or `https://`.
    #[serde(default)]
    #[schema(required = true, schema_with = super::schema::http_url)]
    pub url: Option<String>,
    /// Asked before an `exec` (a webhook exec or an admin module call), before a run of actions, or both.
    #[serde(default)]
    #[schema(required = true, min_items = 1)]
    pub on: Option<Vec<CalloutOn>>,
    /// Only this system's calls (`sys-…`); every system's when absent.
    #[serde(default)]
    pub system_id: Option<SystemId>,
    #[serde(default, rename = "match")]
    pub matching: CalloutMatch,
    /// How long an answer is waited for: 100 to 10000 ms.
    #[serde(default = "default_timeout")]
    #[schema(minimum = 100, maximum = 10000, value_type = u64)]
    pub timeout_ms: u64,
    /// What an unanswered callout (timeout, refused, another status, an unreadable answer) means.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_true() -> bool {
    true
}

impl TryFrom<CalloutIn> for CalloutSpec {
    type Error = ValidationError;

    fn try_from(input: CalloutIn) -> Result<Self, ValidationError> {
        let required = |field: &str| ValidationError::new(field, "is required");
        CalloutSpec {
            name: input.name.ok_or_else(|| required("name"))?,
            url: input.url.ok_or_else(|| required("url"))?,
            on: input.on.ok_or_else(|| required("on"))?,
            system_id: input.system_id,
            matching: input.matching,
            timeout_ms: input.timeout_ms,
            failure_policy: input.failure_policy,
            enabled: input.enabled,
        }
        .validated()
    }
}

/// `PATCH /callouts/{id}`: absent fields stay; `system_id: null` makes the callout apply everywhere.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CalloutChanges)]
pub struct CalloutPatch {
    #[serde(default)]
    #[schema(schema_with = super::schema::nullable_name)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::schema::http_url)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(min_items = 1)]
    pub on: Option<Vec<CalloutOn>>,
    #[serde(default, deserialize_with = "super::nullable")]
    pub system_id: Option<Option<SystemId>>,
    #[serde(default, rename = "match")]
    pub matching: Option<CalloutMatch>,
    #[serde(default)]
    #[schema(minimum = 100, maximum = 10000, value_type = Option<u64>)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub failure_policy: Option<FailurePolicy>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl CalloutPatch {
    /// The spec with this patch applied, checked again as a whole.
    pub fn apply(self, mut spec: CalloutSpec) -> Result<CalloutSpec, ValidationError> {
        spec.name = self.name.unwrap_or(spec.name);
        spec.url = self.url.unwrap_or(spec.url);
        spec.on = self.on.unwrap_or(spec.on);
        spec.system_id = self.system_id.unwrap_or(spec.system_id);
        spec.matching = self.matching.unwrap_or(spec.matching);
        spec.timeout_ms = self.timeout_ms.unwrap_or(spec.timeout_ms);
        spec.failure_policy = self.failure_policy.unwrap_or(spec.failure_policy);
        spec.enabled = self.enabled.unwrap_or(spec.enabled);
        spec.validated()
    }

    /// The fields this patch sets, for `callout.updated`'s `changed`.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("url", self.url.is_some()),
            ("on", self.on.is_some()),
            ("system_id", self.system_id.is_some()),
            ("match", self.matching.is_some()),
            ("timeout_ms", self.timeout_ms.is_some()),
            ("failure_policy", self.failure_policy.is_some()),
            ("enabled", self.enabled.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> Result<CalloutSpec, ValidationError> {
        CalloutSpec::try_from(serde_json::from_value::<CalloutIn>(json).unwrap())
    }

    #[test]
    fn defaults_fill_what_is_not_sent_and_required_fields_are_named() {
        let spec = input(serde_json::json!({"name": "b", "url": "http://x.example/a", "on": ["exec"]})).unwrap();
        assert_eq!((spec.timeout_ms, spec.failure_policy, spec.enabled), (2000, FailurePolicy::Deny, true));
        let missing = input(serde_json::json!({"name": "b", "url": "http://x.example/a"})).unwrap_err();
        assert_eq!(missing.field, "on");
    }

    #[test]
    fn a_patch_is_checked_with_the_rest_and_names_what_it_sets() {
        let spec = input(serde_json::json!({"name": "b", "url": "http://x.example/a", "on": ["exec"]})).unwrap();
        let patch: CalloutPatch = serde_json::from_value(serde_json::json!({"timeout_ms": 5})).unwrap();
        assert_eq!(patch.fields(), vec!["timeout_ms"]);
        assert_eq!(patch.apply(spec.clone()).unwrap_err().field, "timeout_ms");
        let clear: CalloutPatch = serde_json::from_value(serde_json::json!({"system_id": null})).unwrap();
        assert_eq!(clear.apply(spec).unwrap().system_id, None);
    }
}
