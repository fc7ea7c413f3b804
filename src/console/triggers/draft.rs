//! What the trigger form holds: a [`Draft`], text as typed, read from a stored trigger (or, in
//! `posted.rs`, from the posted fields), with the names of the inputs it shows.
//!
//! Every input is named after the JSON path it fills (`conditions.comparisons[0].operator`), so that a
//! 422 naming a path is shown at the input that holds it ([`place`]). Blank rows are dropped when the
//! form is read, and rows are numbered again from 0, so that the paths of the JSON sent and the names
//! of the inputs shown again agree.

use chrono::{TimeZone, Utc};

use super::basics::debounce_parts;
use crate::console::page::FieldError;
use crate::domain::trigger::{Comparison, FunctionCall, Operand, RequestAction, TimeDependent, TriggerSpec};

/// The lists of rows, by the JSON path of each.
pub const COMPARISONS: &str = "conditions.comparisons";
pub const TIMES: &str = "conditions.time_dependents";
pub const FUNCTIONS: &str = "actions.functions";
pub const MAILERS: &str = "actions.mailers";
pub const REQUESTS: &str = "actions.requests";

const TOP_FIELDS: [&str; 11] = [
    "name",
    "description",
    "supported_methods",
    "debounce_period",
    "debounce_unit",
    "enable_webhook",
    "any_match",
    "important",
    "webhook_filter",
    "webhook_verification",
    "csrf",
];
const COMPARISON_FIELDS: [&str; 9] =
    ["left", "left.mod", "left.status", "left.keys", "operator", "right", "right.mod", "right.status", "right.keys"];
const TIME_FIELDS: [&str; 3] = ["cron", "timezone", "time"];
const FUNCTION_FIELDS: [&str; 3] = ["mod", "method", "args"];
const MAILER_FIELDS: [&str; 2] = ["emails", "content"];
const REQUEST_FIELDS: [&str; 5] = ["method", "url", "headers", "body", "timeout_ms"];

/// One side of a comparison: a module status (module, status, keys) or a constant as JSON text.
#[derive(Default, Clone)]
pub struct Side {
    pub module: String,
    pub status: String,
    pub keys: String,
    pub constant: String,
}

#[derive(Clone)]
pub struct ComparisonRow {
    pub left: Side,
    pub operator: String,
    pub right: Side,
}

/// A cron expression (with its time zone), or a date and time (`at`, read in the time zone).
#[derive(Default, Clone)]
pub struct TimeRow {
    pub cron: String,
    pub timezone: String,
    pub at: String,
}

#[derive(Default, Clone)]
pub struct FunctionRow {
    pub module: String,
    pub method: String,
    pub args: String,
}

#[derive(Default, Clone)]
pub struct MailerRow {
    pub emails: String,
    pub content: String,
}

#[derive(Clone)]
pub struct RequestRow {
    pub method: String,
    pub url: String,
    pub headers: String,
    pub body: String,
    pub timeout: String,
}

/// A trigger as the form holds it: text, as typed.
#[derive(Clone)]
pub struct Draft {
    pub name: String,
    pub description: String,
    pub methods: Vec<String>,
    pub debounce: String,
    pub unit: String,
    pub enable_webhook: bool,
    pub any_match: bool,
    pub important: bool,
    pub comparisons: Vec<ComparisonRow>,
    pub times: Vec<TimeRow>,
    pub functions: Vec<FunctionRow>,
    pub mailers: Vec<MailerRow>,
    pub requests: Vec<RequestRow>,
    pub webhook_filter: String,
    pub webhook_verification: String,
}

impl Default for Draft {
    /// A new trigger: POST only, no debounce.
    fn default() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            methods: vec!["POST".to_owned()],
            debounce: "0".to_owned(),
            unit: "ms".to_owned(),
            enable_webhook: false,
            any_match: false,
            important: false,
            comparisons: Vec::new(),
            times: Vec::new(),
            functions: Vec::new(),
            mailers: Vec::new(),
            requests: Vec::new(),
            webhook_filter: String::new(),
            webhook_verification: String::new(),
        }
    }
}

impl Draft {
    /// The form for a stored trigger.
    pub fn from_spec(spec: &TriggerSpec) -> Self {
        let (debounce, unit) = debounce_parts(spec.debounce_period);
        let (c, a) = (&spec.conditions, &spec.actions);
        Self {
            name: spec.name.clone(),
            description: spec.description.clone(),
            methods: spec.supported_methods.iter().map(|m| m.as_str().to_owned()).collect(),
            debounce,
            unit: unit.to_owned(),
            enable_webhook: spec.enable_webhook,
            any_match: spec.any_match,
            important: spec.important,
            comparisons: c.comparisons.iter().map(ComparisonRow::of).collect(),
            times: c.time_dependents.iter().map(TimeRow::of).collect(),
            functions: a.functions.iter().map(FunctionRow::of).collect(),
            mailers: a
                .mailers
                .iter()
                .map(|m| MailerRow { emails: m.emails.join(", "), content: m.content.clone() })
                .collect(),
            requests: a.requests.iter().map(RequestRow::of).collect(),
            webhook_filter: spec.webhook_filter.as_ref().map(pretty).unwrap_or_default(),
            webhook_verification: spec.webhook_verification.as_ref().map(pretty).unwrap_or_default(),
        }
    }

    /// The names of the inputs the form shows for this draft (blank rows aside: errors never name them).
    pub fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = TOP_FIELDS.iter().map(|s| (*s).to_owned()).collect();
        let lists: [(&str, usize, &[&str]); 5] = [
            (COMPARISONS, self.comparisons.len(), &COMPARISON_FIELDS),
            (TIMES, self.times.len(), &TIME_FIELDS),
            (FUNCTIONS, self.functions.len(), &FUNCTION_FIELDS),
            (MAILERS, self.mailers.len(), &MAILER_FIELDS),
            (REQUESTS, self.requests.len(), &REQUEST_FIELDS),
        ];
        for (list, rows, fields) in lists {
            for i in 0..rows {
                names.extend(fields.iter().map(|f| format!("{list}[{i}].{f}")));
            }
        }
        names
    }
}

impl ComparisonRow {
    fn of(c: &Comparison) -> Self {
        let operator = serde_json::to_value(c.operator).ok().and_then(|v| v.as_str().map(str::to_owned));
        Self { left: Side::of(&c.left), operator: operator.unwrap_or_default(), right: Side::of(&c.right) }
    }
}

impl Side {
    fn of(operand: &Operand) -> Self {
        match operand {
            Operand::Status(s) => Side {
                module: s.module.to_string(),
                status: s.status.clone(),
                keys: keys_text(&s.keys),
                constant: String::new(),
            },
            Operand::Constant(c) => Side { constant: c.0.to_string(), ..Side::default() },
        }
    }
}

impl TimeRow {
    fn of(td: &TimeDependent) -> Self {
        match td {
            TimeDependent::At { time } => TimeRow { at: local_value(*time), ..TimeRow::default() },
            TimeDependent::Cron { cron, timezone } => {
                TimeRow { cron: cron.clone(), timezone: timezone.clone().unwrap_or_default(), at: String::new() }
            }
        }
    }
}

impl FunctionRow {
    fn of(f: &FunctionCall) -> Self {
        let args = if f.args.is_empty() { String::new() } else { pretty(&f.args) };
        Self { module: f.module.to_string(), method: f.method.clone(), args }
    }
}

impl RequestRow {
    fn of(r: &RequestAction) -> Self {
        Self {
            method: r.method.clone(),
            url: r.url.clone(),
            headers: if r.headers.is_empty() { String::new() } else { pretty(&r.headers) },
            body: r.body.as_ref().map(pretty).unwrap_or_default(),
            timeout: r.timeout_ms.map(|t| t.to_string()).unwrap_or_default(),
        }
    }
}

/// Keys as one line: `a, b`; as a JSON array when a key would not survive that.
fn keys_text(keys: &[String]) -> String {
    let plain = keys.iter().all(|k| !k.is_empty() && !k.contains(',') && k.trim() == k && !k.starts_with('['));
    if plain {
        keys.join(", ")
    } else {
        serde_json::to_string(keys).unwrap_or_default()
    }
}

/// An epoch time as a `datetime-local` value in UTC.
fn local_value(epoch_seconds: i64) -> String {
    Utc.timestamp_opt(epoch_seconds, 0)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| epoch_seconds.to_string())
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Where a 422's field is shown: the input whose name is the longest one the field starts with
/// (`actions.requests[0].headers.X-Key` → `actions.requests[0].headers`); else as the server named it,
/// above the form.
pub fn place(error: FieldError, names: &[String]) -> FieldError {
    let (field, message) = error?;
    let owner = names
        .iter()
        .filter(|n| {
            field == **n
                || (field.starts_with(n.as_str()) && matches!(field.as_bytes().get(n.len()), Some(b'.' | b'[')))
        })
        .max_by_key(|n| n.len())
        .cloned();
    Some((owner.unwrap_or(field), message))
}
