//! The trigger form: what an admin typed (a [`Draft`]), read from a stored trigger or from the posted
//! fields, shown again as inputs, and turned into the API's JSON body (`TriggerIn`).
//!
//! Every input is named after the JSON path it fills (`conditions.comparisons[0].operator`), so that a
//! 422 naming a path is shown at the input that holds it ([`place`]). Blank rows are dropped when the
//! form is read, and rows are numbered again from 0, so that the paths of the JSON sent and the names
//! of the inputs shown again agree.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use chrono::{NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use maud::{html, Markup};
use serde_json::{json, Map, Value};

use crate::console::page::{self, FieldError};
use crate::domain::methods::WebhookMethod;
use crate::domain::module::ModuleRef;
use crate::domain::trigger::{Operand, TimeDependent, TriggerSpec};
use crate::engine::schedule::Schedule;

/// `(value, text)` of the comparison operators, in the README's order.
pub const OPERATORS: [(&str, &str); 9] = [
    ("equal", "equal (=)"),
    ("not_equal", "not equal (≠)"),
    ("greater_than", "greater than (>)"),
    ("greater_than_or_equal", "greater than or equal (≥)"),
    ("less_than", "less than (<)"),
    ("less_than_or_equal", "less than or equal (≤)"),
    ("and", "and (both truthy)"),
    ("or", "or (either truthy)"),
    ("exclusive_or", "exclusive or (one truthy)"),
];

/// Blank rows offered after the filled ones.
const BLANK_COMPARISONS: usize = 3;
const BLANK_TIMES: usize = 2;
const BLANK_FUNCTIONS: usize = 2;
const BLANK_MAILERS: usize = 1;
const BLANK_REQUESTS: usize = 1;
/// Rows read from a posted form, at most, per list (a bound on what a form can make the server build).
const MAX_ROWS: usize = 200;

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

const COMPARISONS: &str = "conditions.comparisons";
const TIMES: &str = "conditions.time_dependents";
const FUNCTIONS: &str = "actions.functions";
const MAILERS: &str = "actions.mailers";
const REQUESTS: &str = "actions.requests";

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

/// A debounce period in milliseconds as the form shows it: whole seconds in `s`, else `ms`.
pub fn debounce_parts(ms: u64) -> (String, &'static str) {
    if ms > 0 && ms.is_multiple_of(1000) {
        ((ms / 1000).to_string(), "s")
    } else {
        (ms.to_string(), "ms")
    }
}

/// A debounce period for reading: `2 s`, `1500 ms`.
pub fn debounce_text(ms: u64) -> String {
    let (n, unit) = debounce_parts(ms);
    format!("{n} {unit}")
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

fn side_of(operand: &Operand) -> Side {
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

impl Draft {
    /// The form for a stored trigger.
    pub fn from_spec(spec: &TriggerSpec) -> Self {
        let (debounce, unit) = debounce_parts(spec.debounce_period);
        let c = &spec.conditions;
        let a = &spec.actions;
        Self {
            name: spec.name.clone(),
            description: spec.description.clone(),
            methods: spec.supported_methods.iter().map(|m| m.as_str().to_owned()).collect(),
            debounce,
            unit: unit.to_owned(),
            enable_webhook: spec.enable_webhook,
            any_match: spec.any_match,
            important: spec.important,
            comparisons: c
                .comparisons
                .iter()
                .map(|c| ComparisonRow {
                    left: side_of(&c.left),
                    operator: serde_json::to_value(c.operator)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    right: side_of(&c.right),
                })
                .collect(),
            times: c
                .time_dependents
                .iter()
                .map(|t| match t {
                    TimeDependent::At { time } => TimeRow { at: local_value(*time), ..TimeRow::default() },
                    TimeDependent::Cron { cron, timezone } => TimeRow {
                        cron: cron.clone(),
                        timezone: timezone.clone().unwrap_or_default(),
                        at: String::new(),
                    },
                })
                .collect(),
            functions: a
                .functions
                .iter()
                .map(|f| FunctionRow {
                    module: f.module.to_string(),
                    method: f.method.clone(),
                    args: if f.args.is_empty() { String::new() } else { pretty(&f.args) },
                })
                .collect(),
            mailers: a
                .mailers
                .iter()
                .map(|m| MailerRow { emails: m.emails.join(", "), content: m.content.clone() })
                .collect(),
            requests: a
                .requests
                .iter()
                .map(|r| RequestRow {
                    method: r.method.clone(),
                    url: r.url.clone(),
                    headers: if r.headers.is_empty() { String::new() } else { pretty(&r.headers) },
                    body: r.body.as_ref().map(pretty).unwrap_or_default(),
                    timeout: r.timeout_ms.map(|t| t.to_string()).unwrap_or_default(),
                })
                .collect(),
            webhook_filter: spec.webhook_filter.as_ref().map(pretty).unwrap_or_default(),
            webhook_verification: spec.webhook_verification.as_ref().map(pretty).unwrap_or_default(),
        }
    }

    /// What a posted form holds, blank rows left out.
    pub fn from_fields(fields: &Fields) -> Self {
        let comparisons = fields
            .rows(COMPARISONS)
            .into_iter()
            .map(|p| ComparisonRow {
                left: fields.side(&format!("{p}.left")),
                operator: fields.get(&format!("{p}.operator")).to_owned(),
                right: fields.side(&format!("{p}.right")),
            })
            .filter(|r| !(blank(&[&r.left.module, &r.left.status, &r.left.keys, &r.left.constant]) && r.right_blank()))
            .collect();
        let times = fields
            .rows(TIMES)
            .into_iter()
            .map(|p| TimeRow {
                cron: fields.get(&format!("{p}.cron")).to_owned(),
                timezone: fields.get(&format!("{p}.timezone")).to_owned(),
                at: fields.get(&format!("{p}.time")).to_owned(),
            })
            .filter(|r| !blank(&[&r.cron, &r.timezone, &r.at]))
            .collect();
        let functions = fields
            .rows(FUNCTIONS)
            .into_iter()
            .map(|p| FunctionRow {
                module: fields.get(&format!("{p}.mod")).to_owned(),
                method: fields.get(&format!("{p}.method")).to_owned(),
                args: fields.get(&format!("{p}.args")).to_owned(),
            })
            .filter(|r| !blank(&[&r.module, &r.method, &r.args]))
            .collect();
        let mailers = fields
            .rows(MAILERS)
            .into_iter()
            .map(|p| MailerRow {
                emails: fields.get(&format!("{p}.emails")).to_owned(),
                content: fields.get(&format!("{p}.content")).to_owned(),
            })
            .filter(|r| !blank(&[&r.emails, &r.content]))
            .collect();
        let requests = fields
            .rows(REQUESTS)
            .into_iter()
            .map(|p| RequestRow {
                method: fields.get(&format!("{p}.method")).to_owned(),
                url: fields.get(&format!("{p}.url")).to_owned(),
                headers: fields.get(&format!("{p}.headers")).to_owned(),
                body: fields.get(&format!("{p}.body")).to_owned(),
                timeout: fields.get(&format!("{p}.timeout_ms")).to_owned(),
            })
            .filter(|r| !blank(&[&r.url, &r.headers, &r.body, &r.timeout]))
            .collect();
        Self {
            name: fields.get("name").to_owned(),
            description: fields.get("description").to_owned(),
            methods: WebhookMethod::ALL
                .iter()
                .map(|m| m.as_str())
                .filter(|m| fields.methods.iter().any(|t| t == m))
                .map(str::to_owned)
                .collect(),
            debounce: fields.get("debounce_period").to_owned(),
            unit: fields.get("debounce_unit").to_owned(),
            enable_webhook: fields.ticked("enable_webhook"),
            any_match: fields.ticked("any_match"),
            important: fields.ticked("important"),
            comparisons,
            times,
            functions,
            mailers,
            requests,
            webhook_filter: fields.get("webhook_filter").to_owned(),
            webhook_verification: fields.get("webhook_verification").to_owned(),
        }
    }

    /// The API's JSON body for this draft, or the field at fault and why, for what the form itself
    /// must read (numbers, JSON text, dates); everything else is left to the engine.
    pub fn to_json(&self) -> Result<Value, (String, String)> {
        let mut body = Map::new();
        body.insert("name".into(), json!(self.name));
        if !self.description.is_empty() {
            body.insert("description".into(), json!(self.description));
        }
        if self.methods.is_empty() {
            return Err(refused("supported_methods", "tick at least one method"));
        }
        body.insert("supported_methods".into(), json!(self.methods));
        body.insert("debounce_period".into(), json!(debounce_ms(&self.debounce, &self.unit)?));
        body.insert("enable_webhook".into(), json!(self.enable_webhook));
        body.insert("any_match".into(), json!(self.any_match));
        body.insert("important".into(), json!(self.important));

        let mut comparisons = Vec::new();
        for (i, row) in self.comparisons.iter().enumerate() {
            let p = format!("{COMPARISONS}[{i}]");
            let left = operand(&row.left, &format!("{p}.left"))?;
            let right = operand(&row.right, &format!("{p}.right"))?;
            comparisons.push(json!({ "left": left, "operator": row.operator, "right": right }));
        }
        let mut times = Vec::new();
        for (i, row) in self.times.iter().enumerate() {
            times.push(time_dependent(row, &format!("{TIMES}[{i}]"))?);
        }
        body.insert("conditions".into(), json!({ "comparisons": comparisons, "time_dependents": times }));

        let mut functions = Vec::new();
        for (i, row) in self.functions.iter().enumerate() {
            let p = format!("{FUNCTIONS}[{i}]");
            let mut f = Map::new();
            f.insert("mod".into(), json!(row.module.trim()));
            f.insert("method".into(), json!(row.method.trim()));
            if let Some(args) = json_text(&row.args, &format!("{p}.args"))? {
                f.insert("args".into(), args);
            }
            functions.push(Value::Object(f));
        }
        let mailers: Vec<Value> = self
            .mailers
            .iter()
            .map(|m| {
                let emails: Vec<&str> = m
                    .emails
                    .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                    .filter(|e| !e.is_empty())
                    .collect();
                json!({ "emails": emails, "content": m.content })
            })
            .collect();
        let mut requests = Vec::new();
        for (i, row) in self.requests.iter().enumerate() {
            let p = format!("{REQUESTS}[{i}]");
            let mut r = Map::new();
            r.insert("method".into(), json!(row.method));
            r.insert("url".into(), json!(row.url.trim()));
            if let Some(headers) = json_text(&row.headers, &format!("{p}.headers"))? {
                r.insert("headers".into(), headers);
            }
            if let Some(body) = json_text(&row.body, &format!("{p}.body"))? {
                r.insert("body".into(), body);
            }
            let timeout = row.timeout.trim();
            if !timeout.is_empty() {
                let ms = timeout
                    .parse::<u64>()
                    .map_err(|_| refused(&format!("{p}.timeout_ms"), "must be a whole number of milliseconds"))?;
                r.insert("timeout_ms".into(), json!(ms));
            }
            requests.push(Value::Object(r));
        }
        body.insert("actions".into(), json!({ "functions": functions, "mailers": mailers, "requests": requests }));

        for name in ["webhook_filter", "webhook_verification"] {
            let text = if name == "webhook_filter" { &self.webhook_filter } else { &self.webhook_verification };
            if let Some(value) = json_text(text, name)? {
                body.insert(name.into(), value);
            }
        }
        Ok(Value::Object(body))
    }

    /// The next five times of each cron row that parses, by row; the first row that does not parse
    /// as the field at fault.
    pub fn previews(&self) -> (Vec<Option<Vec<String>>>, FieldError) {
        let mut first_error = None;
        let previews = self
            .times
            .iter()
            .enumerate()
            .map(|(i, row)| {
                if row.cron.trim().is_empty() {
                    return None;
                }
                match next_five(&row.cron, &row.timezone, &format!("{TIMES}[{i}]")) {
                    Ok(times) => Some(times),
                    Err(e) => {
                        first_error.get_or_insert(e);
                        None
                    }
                }
            })
            .collect();
        (previews, first_error)
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
    fn right_blank(&self) -> bool {
        blank(&[&self.right.module, &self.right.status, &self.right.keys, &self.right.constant])
    }
}

fn blank(values: &[&str]) -> bool {
    values.iter().all(|v| v.trim().is_empty())
}

fn refused(field: &str, message: &str) -> (String, String) {
    (field.to_owned(), message.to_owned())
}

/// A number of `unit`s (`ms` or `s`) as whole milliseconds.
fn debounce_ms(raw: &str, unit: &str) -> Result<u64, (String, String)> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(0);
    }
    let invalid = || refused("debounce_period", "must be a number of milliseconds or seconds, 0 or more");
    let n: f64 = raw.parse().map_err(|_| invalid())?;
    if !n.is_finite() || n < 0.0 {
        return Err(invalid());
    }
    let ms = if unit == "s" { n * 1000.0 } else { n };
    if (ms - ms.round()).abs() > 1e-6 {
        return Err(refused("debounce_period", "must be a whole number of milliseconds"));
    }
    // A value past u64 saturates, and the engine refuses it with its bounds.
    Ok(ms.round() as u64)
}

/// JSON text, or `None` when blank.
fn json_text(raw: &str, field: &str) -> Result<Option<Value>, (String, String)> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(raw).map(Some).map_err(|e| refused(field, &format!("is not valid JSON: {e}")))
}

/// A side of a comparison: a status reference when a module or status is given, else the constant.
fn operand(side: &Side, field: &str) -> Result<Value, (String, String)> {
    let by_status = !blank(&[&side.module, &side.status, &side.keys]);
    let constant = side.constant.trim();
    match (by_status, constant.is_empty()) {
        (true, false) => Err(refused(field, "give either a module and status or a constant, not both")),
        (false, true) => Err(refused(field, "give a module and status, or a constant")),
        (false, false) => serde_json::from_str(constant)
            .map_err(|_| refused(field, "must be JSON: a number, a \"string\" in double quotes, true, false or null")),
        (true, true) => {
            // Checked here: inside an untagged operand, serde would only say that the side matches
            // neither shape, at the side.
            let module = side.module.trim();
            if module.is_empty() {
                return Err(refused(&format!("{field}.mod"), "must name a module, e.g. Display_1"));
            }
            ModuleRef::parse(module).map_err(|e| refused(&format!("{field}.mod"), &e.message))?;
            let mut status = Map::new();
            status.insert("mod".into(), json!(side.module.trim()));
            status.insert("status".into(), json!(side.status.trim()));
            let keys = side.keys.trim();
            if keys.starts_with('[') {
                let list: Value = serde_json::from_str(keys)
                    .map_err(|e| refused(&format!("{field}.keys"), &format!("is not valid JSON: {e}")))?;
                status.insert("keys".into(), list);
            } else if !keys.is_empty() {
                let list: Vec<&str> = keys.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
                status.insert("keys".into(), json!(list));
            }
            Ok(Value::Object(status))
        }
    }
}

fn time_zone(raw: &str, field: &str) -> Result<Tz, (String, String)> {
    match raw.trim() {
        "" => Ok(Tz::UTC),
        name => Tz::from_str(name).map_err(|_| refused(field, &format!("{name:?} is not an IANA time zone"))),
    }
}

/// A cron row, or an `at` row with its date and time read in the row's time zone.
fn time_dependent(row: &TimeRow, prefix: &str) -> Result<Value, (String, String)> {
    let (cron, at) = (row.cron.trim(), row.at.trim());
    match (cron.is_empty(), at.is_empty()) {
        (false, false) => {
            Err(refused(&format!("{prefix}.time"), "give a cron expression or a date and time, not both"))
        }
        (true, true) => Err(refused(&format!("{prefix}.cron"), "give a cron expression or a date and time")),
        (false, true) => {
            let timezone = Some(row.timezone.trim()).filter(|t| !t.is_empty());
            Ok(json!({ "type": "cron", "cron": cron, "timezone": timezone }))
        }
        (true, false) => {
            let tz = time_zone(&row.timezone, &format!("{prefix}.timezone"))?;
            let field = format!("{prefix}.time");
            let naive = NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M"))
                .or_else(|_| NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M"))
                .map_err(|_| refused(&field, "must be a date and time, e.g. 2030-01-31T09:00"))?;
            let local = tz
                .from_local_datetime(&naive)
                .earliest()
                .ok_or_else(|| refused(&field, "does not exist in that time zone (a daylight-saving change)"))?;
            Ok(json!({ "type": "at", "time": local.timestamp() }))
        }
    }
}

/// The next five times of a cron expression, in its time zone; errors as the engine words them.
pub fn next_five(cron: &str, timezone: &str, prefix: &str) -> Result<Vec<String>, (String, String)> {
    let td = TimeDependent::Cron {
        cron: cron.trim().to_owned(),
        timezone: Some(timezone.trim().to_owned()).filter(|t| !t.is_empty()),
    };
    match Schedule::parse(&td, prefix) {
        Ok(Schedule::Cron(schedule, tz)) => Ok(schedule
            .after(&Utc::now().with_timezone(&tz))
            .take(5)
            .map(|t| t.format("%a %Y-%m-%d %H:%M:%S %Z").to_string())
            .collect()),
        Ok(Schedule::At(_)) => Ok(Vec::new()),
        Err(e) => Err((e.field.clone(), format!("{}: {}", e.field, e.message))),
    }
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

/// A posted form's fields: the last value of each name, and the ticked methods.
pub struct Fields {
    values: HashMap<String, String>,
    methods: Vec<String>,
}

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        let mut values = HashMap::new();
        let mut methods = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            if k == "supported_methods" {
                methods.push(v.into_owned());
            } else {
                values.insert(k.into_owned(), v.into_owned());
            }
        }
        Self { values, methods }
    }

    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    fn ticked(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    fn side(&self, prefix: &str) -> Side {
        Side {
            module: self.get(&format!("{prefix}.mod")).to_owned(),
            status: self.get(&format!("{prefix}.status")).to_owned(),
            keys: self.get(&format!("{prefix}.keys")).to_owned(),
            constant: self.get(prefix).to_owned(),
        }
    }

    /// `list[i]` for each row index the form posted under `list`, in order.
    fn rows(&self, list: &str) -> Vec<String> {
        let start = format!("{list}[");
        let indices: BTreeSet<usize> = self
            .values
            .keys()
            .filter_map(|k| k.strip_prefix(&start)?.split_once(']')?.0.parse::<usize>().ok())
            .collect();
        indices.into_iter().take(MAX_ROWS).map(|i| format!("{list}[{i}]")).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The form's inputs.
// ---------------------------------------------------------------------------------------------

/// Names of modules and functions the registered drivers declare, offered as suggestions.
pub struct Pickers {
    pub modules: Vec<String>,
    pub functions: Vec<String>,
}

/// The `id` of the input named `name`.
pub fn field_id(name: &str) -> String {
    format!("f-{}", name.replace(['.', '[', ']'], "-"))
}

fn message_for<'a>(error: &'a FieldError, name: &str) -> Option<&'a str> {
    error.as_ref().filter(|(field, _)| field == name).map(|(_, m)| m.as_str())
}

/// What an input may carry beyond its name, label and value.
#[derive(Default, Clone, Copy)]
struct Extra<'a> {
    /// A `datalist` of suggestions.
    list: Option<&'a str>,
    hint: Option<&'a str>,
    placeholder: Option<&'a str>,
    /// The keyboard a phone shows (`decimal`, `numeric`, `url`).
    inputmode: Option<&'a str>,
}

fn described_by(id: &str, hint: bool, message: bool) -> Option<String> {
    let parts: Vec<String> =
        [hint.then(|| format!("{id}-hint")), message.then(|| format!("{id}-error"))].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn input(kind: &str, name: &str, label: &str, value: &str, error: &FieldError, extra: Extra) -> Markup {
    let id = field_id(name);
    let message = message_for(error, name);
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) list=[extra.list] placeholder=[extra.placeholder]
                inputmode=[extra.inputmode] step=[(kind == "datetime-local").then_some("1")]
                aria-invalid=[message.map(|_| "true")]
                aria-describedby=[described_by(&id, extra.hint.is_some(), message.is_some())];
            @if let Some(hint) = extra.hint { small id=(format!("{id}-hint")) { (hint) } }
            @if let Some(message) = message { p.field-error id=(format!("{id}-error")) { (message) } }
        }
    }
}

fn text(name: &str, label: &str, value: &str, error: &FieldError) -> Markup {
    input("text", name, label, value, error, Extra::default())
}

fn textarea(name: &str, label: &str, value: &str, rows: u8, error: &FieldError, hint: Option<&str>) -> Markup {
    let id = field_id(name);
    let message = message_for(error, name);
    html! {
        div.field {
            label for=(id) { (label) }
            textarea id=(id) name=(name) rows=(rows) spellcheck="false" aria-invalid=[message.map(|_| "true")]
                aria-describedby=[described_by(&id, hint.is_some(), message.is_some())] { (value) }
            @if let Some(hint) = hint { small id=(format!("{id}-hint")) { (hint) } }
            @if let Some(message) = message { p.field-error id=(format!("{id}-error")) { (message) } }
        }
    }
}

fn select(name: &str, label: &str, options: &[(&str, &str)], selected: &str, error: &FieldError) -> Markup {
    let id = field_id(name);
    let message = message_for(error, name);
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) aria-invalid=[message.map(|_| "true")]
                aria-describedby=[described_by(&id, false, message.is_some())] {
                @for (value, text) in options {
                    option value=(value) selected[*value == selected] { (text) }
                }
            }
            @if let Some(message) = message { p.field-error id=(format!("{id}-error")) { (message) } }
        }
    }
}

fn checkbox(name: &str, label: &str, checked: bool, hint: &str) -> Markup {
    let id = field_id(name);
    html! {
        div.field {
            div {
                input id=(id) name=(name) type="checkbox" checked[checked] aria-describedby=(format!("{id}-hint"));
                " "
                label for=(id) { (label) }
            }
            small id=(format!("{id}-hint")) { (hint) }
        }
    }
}

/// A message for a group of inputs (a fieldset), when the 422 named it.
fn group_error(error: &FieldError, name: &str) -> Markup {
    html! {
        @if let Some(message) = message_for(error, name) {
            p.field-error id=(format!("{}-error", field_id(name))) role="alert" { (message) }
        }
    }
}

/// Whether a 422 named a field under `prefix`: its section opens.
fn has_error(error: &FieldError, prefix: &str) -> bool {
    error.as_ref().is_some_and(|(f, _)| f.starts_with(prefix))
}

fn side_inputs(prefix: &str, which: &str, side: &Side, error: &FieldError) -> Markup {
    let modules = Extra { list: Some("dl-modules"), ..Extra::default() };
    html! {
        fieldset {
            legend { (which) }
            (input("text", &format!("{prefix}.mod"), "Module", &side.module, error, modules))
            (text(&format!("{prefix}.status"), "Status", &side.status, error))
            (text(&format!("{prefix}.keys"), "Keys", &side.keys, error))
            (text(prefix, "Or a constant (JSON)", &side.constant, error))
        }
    }
}

fn comparisons_section(draft: &Draft, error: &FieldError) -> Markup {
    let blank = ComparisonRow { left: Side::default(), operator: "equal".to_owned(), right: Side::default() };
    let rows = draft.comparisons.iter().chain(std::iter::repeat_n(&blank, BLANK_COMPARISONS));
    let operators: Vec<(&str, &str)> = OPERATORS.to_vec();
    html! {
        details open[!draft.comparisons.is_empty() || has_error(error, COMPARISONS)] {
            summary { "Comparisons (" (draft.comparisons.len()) ")" }
            p {
                "Each side is a module's status — the module (e.g. " code { "Display_1" } "), the status, and \
                 optional keys into its value separated by commas — or a constant in JSON: a number, a "
                code { "\"string\"" } " in double quotes, " code { "true" } ", " code { "false" } " or "
                code { "null" } ". Blank rows are ignored."
            }
            @for (i, row) in rows.enumerate() {
                @let p = format!("{COMPARISONS}[{i}]");
                fieldset {
                    legend { "Comparison " (i + 1) }
                    (side_inputs(&format!("{p}.left"), "Left side", &row.left, error))
                    (select(&format!("{p}.operator"), "Operator", &operators, &row.operator, error))
                    (side_inputs(&format!("{p}.right"), "Right side", &row.right, error))
                }
            }
        }
    }
}

fn times_section(draft: &Draft, error: &FieldError, previews: &[Option<Vec<String>>]) -> Markup {
    let blank = TimeRow::default();
    let rows = draft.times.iter().chain(std::iter::repeat_n(&blank, BLANK_TIMES));
    let zones = Extra {
        list: Some("dl-zones"),
        placeholder: Some("Australia/Sydney"),
        hint: Some("An IANA time zone; UTC when blank."),
        ..Extra::default()
    };
    let cron = Extra {
        placeholder: Some("0 9 * * Mon-Fri"),
        hint: Some("Five fields (minute hour day month weekday), or six or seven with seconds and year."),
        ..Extra::default()
    };
    html! {
        details open[!draft.times.is_empty() || has_error(error, TIMES)] {
            summary { "Time conditions (" (draft.times.len()) ")" }
            p { "A cron schedule in a time zone, or once at a date and time (read in the time zone). \
                 Blank rows are ignored. " strong { "Preview schedules" } " below shows the next five times." }
            @for (i, row) in rows.enumerate() {
                @let p = format!("{TIMES}[{i}]");
                fieldset {
                    legend { "Time condition " (i + 1) }
                    (input("text", &format!("{p}.cron"), "Cron expression", &row.cron, error, cron))
                    (input("text", &format!("{p}.timezone"), "Time zone", &row.timezone, error, zones))
                    (input("datetime-local", &format!("{p}.time"), "Or once at (date and time)", &row.at, error,
                        Extra::default()))
                    @if let Some(Some(times)) = previews.get(i) {
                        (next_times(&format!("preview-{i}"), times))
                    }
                }
            }
        }
    }
}

/// The next five times of a cron condition.
pub fn next_times(id: &str, times: &[String]) -> Markup {
    html! {
        div.preview {
            p id=(id) { "Next five times:" }
            ol aria-labelledby=(id) { @for t in times { li { (t) } } }
        }
    }
}

fn functions_section(draft: &Draft, error: &FieldError) -> Markup {
    let blank = FunctionRow::default();
    let rows = draft.functions.iter().chain(std::iter::repeat_n(&blank, BLANK_FUNCTIONS));
    html! {
        details open[!draft.functions.is_empty() || has_error(error, FUNCTIONS)] {
            summary { "Functions (" (draft.functions.len()) ")" }
            p { "Calls a function of a module of the instance's system. Blank rows are ignored." }
            @for (i, row) in rows.enumerate() {
                @let p = format!("{FUNCTIONS}[{i}]");
                fieldset {
                    legend { "Function " (i + 1) }
                    (input("text", &format!("{p}.mod"), "Module", &row.module, error,
                        Extra { list: Some("dl-modules"), placeholder: Some("Display_1"), ..Extra::default() }))
                    (input("text", &format!("{p}.method"), "Method", &row.method, error,
                        Extra { list: Some("dl-functions"), ..Extra::default() }))
                    (textarea(&format!("{p}.args"), "Arguments (JSON object)", &row.args, 3, error,
                        Some("Named arguments, e.g. {\"level\": 10}; values may be placeholders.")))
                }
            }
        }
    }
}

fn mailers_section(draft: &Draft, error: &FieldError) -> Markup {
    let blank = MailerRow::default();
    let rows = draft.mailers.iter().chain(std::iter::repeat_n(&blank, BLANK_MAILERS));
    html! {
        details open[!draft.mailers.is_empty() || has_error(error, MAILERS)] {
            summary { "Emails (" (draft.mailers.len()) ")" }
            p { "Sends one email per address, with the trigger's name as subject. Blank rows are ignored." }
            @for (i, row) in rows.enumerate() {
                @let p = format!("{MAILERS}[{i}]");
                fieldset {
                    legend { "Email " (i + 1) }
                    (input("text", &format!("{p}.emails"), "Addresses", &row.emails, error,
                        Extra { hint: Some("Separated by commas."), placeholder: Some("ops@example.com"),
                            ..Extra::default() }))
                    (page::textarea(&format!("{p}.content"), "Content", &row.content, error))
                }
            }
        }
    }
}

fn requests_section(draft: &Draft, error: &FieldError) -> Markup {
    let blank = RequestRow {
        method: "POST".to_owned(),
        url: String::new(),
        headers: String::new(),
        body: String::new(),
        timeout: String::new(),
    };
    let rows = draft.requests.iter().chain(std::iter::repeat_n(&blank, BLANK_REQUESTS));
    let methods: Vec<(&str, &str)> = WebhookMethod::ALL.iter().map(|m| (m.as_str(), m.as_str())).collect();
    html! {
        details open[!draft.requests.is_empty() || has_error(error, REQUESTS)] {
            summary { "HTTP requests (" (draft.requests.len()) ")" }
            p { "Sends an HTTP request; a 2xx answer is success. Blank rows are ignored." }
            @for (i, row) in rows.enumerate() {
                @let p = format!("{REQUESTS}[{i}]");
                fieldset {
                    legend { "Request " (i + 1) }
                    (select(&format!("{p}.method"), "Method", &methods, &row.method, error))
                    (input("text", &format!("{p}.url"), "URL", &row.url, error,
                        Extra { placeholder: Some("https://example.com/hook"), inputmode: Some("url"),
                            ..Extra::default() }))
                    (textarea(&format!("{p}.headers"), "Headers (JSON object)", &row.headers, 3, error,
                        Some("e.g. {\"Authorization\": \"Bearer …\"}")))
                    (textarea(&format!("{p}.body"), "Body (JSON)", &row.body, 4, error, None))
                    (input("text", &format!("{p}.timeout_ms"), "Timeout (ms)", &row.timeout, error,
                        Extra { inputmode: Some("numeric"), hint: Some("1 to 60000; 10000 when blank."),
                            ..Extra::default() }))
                }
            }
        }
    }
}

/// Suggestions for module names, functions and time zones.
fn datalists(pickers: &Pickers) -> Markup {
    html! {
        datalist id="dl-modules" { @for m in &pickers.modules { option value=(m) {} } }
        datalist id="dl-functions" { @for f in &pickers.functions { option value=(f) {} } }
        datalist id="dl-zones" { @for tz in chrono_tz::TZ_VARIANTS.iter() { option value=(tz.name()) {} } }
    }
}

/// The whole form. `error` is already [`place`]d.
pub fn form(csrf: Markup, action: &str, submit: &str, draft: &Draft, error: &FieldError, pickers: &Pickers) -> Markup {
    let (previews, _) = draft.previews();
    let units = [("ms", "milliseconds (ms)"), ("s", "seconds (s)")];
    html! {
        form.trigger.card method="post" action=(action) {
            (csrf)
            (text("name", "Name", &draft.name, error))
            (text("description", "Description", &draft.description, error))
            @let methods_error = message_for(error, "supported_methods").map(|_| "f-supported_methods-error");
            fieldset id="f-supported_methods" aria-describedby=[methods_error] {
                legend { "Supported methods" }
                @for m in WebhookMethod::ALL {
                    @let id = format!("f-supported_methods-{m}");
                    div.field.check {
                        input id=(id) name="supported_methods" type="checkbox" value=(m.as_str())
                            checked[draft.methods.iter().any(|t| t == m.as_str())];
                        label for=(id) { (m.as_str()) }
                    }
                }
                (group_error(error, "supported_methods"))
            }
            (input("text", "debounce_period", "Debounce", &draft.debounce, error, Extra {
                inputmode: Some("decimal"),
                hint: Some("How long a webhook call or a time condition holds its condition true."),
                ..Extra::default()
            }))
            (select("debounce_unit", "Debounce unit", &units, &draft.unit, error))
            (checkbox("enable_webhook", "Enable webhook", draft.enable_webhook,
                "The trigger's instances accept calls at their webhook URL."))
            (checkbox("any_match", "Any match", draft.any_match,
                "Fire when any one condition holds, instead of all of them."))
            (checkbox("important", "Important", draft.important, "Copied to new instances."))
            h3 { "Conditions" }
            (comparisons_section(draft, error))
            (times_section(draft, error, &previews))
            h3 { "Actions" }
            (functions_section(draft, error))
            (mailers_section(draft, error))
            (requests_section(draft, error))
            h3 { "Webhook calls" }
            details open[!draft.webhook_filter.is_empty() || !draft.webhook_verification.is_empty()
                || has_error(error, "webhook_")] {
                summary { "Payload filter and signature verification" }
                (textarea("webhook_filter", "Payload filter (JSON)", &draft.webhook_filter, 6, error,
                    Some("{\"all\": [rule, …]} or {\"any\": [rule, …]}; blank: every accepted call counts.")))
                (textarea("webhook_verification", "Signature verification (JSON)", &draft.webhook_verification, 6,
                    error,
                    Some("e.g. {\"scheme\": \"github\"}; blank: only the URL secret is checked.")))
            }
            (datalists(pickers))
            p.actions {
                button type="submit" { (submit) }
                " "
                button type="submit" name="intent" value="preview" { "Preview schedules" }
            }
        }
    }
}
