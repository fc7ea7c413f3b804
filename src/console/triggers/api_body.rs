//! A [`Draft`] as the API's JSON body (`TriggerIn`). The form reads only what it must (numbers, JSON
//! text, dates, a status reference's module); everything else is left to the engine, so that a 422
//! names the same field as the API's would.

use std::str::FromStr;

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use super::draft::{Draft, FunctionRow, MailerRow, RequestRow, Side, TimeRow, COMPARISONS, FUNCTIONS, REQUESTS, TIMES};
use super::posted::blank;
use crate::domain::module::ModuleRef;

/// The field at fault and why.
type Fault = (String, String);

fn fault(field: &str, message: &str) -> Fault {
    (field.to_owned(), message.to_owned())
}

impl Draft {
    /// The API's JSON body for this draft, or the field at fault and why.
    pub fn to_json(&self) -> Result<Value, Fault> {
        if self.methods.is_empty() {
            return Err(fault("supported_methods", "tick at least one method"));
        }
        let mut body = Map::new();
        body.insert("name".into(), json!(self.name));
        if !self.description.is_empty() {
            body.insert("description".into(), json!(self.description));
        }
        body.insert("supported_methods".into(), json!(self.methods));
        body.insert("debounce_period".into(), json!(debounce_ms(&self.debounce, &self.unit)?));
        body.insert("enable_webhook".into(), json!(self.enable_webhook));
        body.insert("any_match".into(), json!(self.any_match));
        body.insert("important".into(), json!(self.important));
        body.insert("conditions".into(), self.conditions()?);
        body.insert("actions".into(), self.actions()?);
        for (name, text) in
            [("webhook_filter", &self.webhook_filter), ("webhook_verification", &self.webhook_verification)]
        {
            if let Some(value) = json_text(text, name)? {
                body.insert(name.into(), value);
            }
        }
        Ok(Value::Object(body))
    }

    fn conditions(&self) -> Result<Value, Fault> {
        let comparisons = (self.comparisons.iter().enumerate())
            .map(|(i, row)| {
                let p = format!("{COMPARISONS}[{i}]");
                let left = operand(&row.left, &format!("{p}.left"))?;
                let right = operand(&row.right, &format!("{p}.right"))?;
                Ok(json!({ "left": left, "operator": row.operator, "right": right }))
            })
            .collect::<Result<Vec<_>, Fault>>()?;
        let times = (self.times.iter().enumerate())
            .map(|(i, row)| time_dependent(row, &format!("{TIMES}[{i}]")))
            .collect::<Result<Vec<_>, Fault>>()?;
        Ok(json!({ "comparisons": comparisons, "time_dependents": times }))
    }

    fn actions(&self) -> Result<Value, Fault> {
        let functions = (self.functions.iter().enumerate())
            .map(|(i, row)| function(row, &format!("{FUNCTIONS}[{i}]")))
            .collect::<Result<Vec<_>, Fault>>()?;
        let mailers: Vec<Value> = self.mailers.iter().map(mailer).collect();
        let requests = (self.requests.iter().enumerate())
            .map(|(i, row)| request(row, &format!("{REQUESTS}[{i}]")))
            .collect::<Result<Vec<_>, Fault>>()?;
        Ok(json!({ "functions": functions, "mailers": mailers, "requests": requests }))
    }
}

/// A number of `unit`s (`ms` or `s`) as whole milliseconds.
fn debounce_ms(raw: &str, unit: &str) -> Result<u64, Fault> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(0);
    }
    let invalid = || fault("debounce_period", "must be a number of milliseconds or seconds, 0 or more");
    let n: f64 = raw.parse().map_err(|_| invalid())?;
    if !n.is_finite() || n < 0.0 {
        return Err(invalid());
    }
    let ms = if unit == "s" { n * 1000.0 } else { n };
    if (ms - ms.round()).abs() > 1e-6 {
        return Err(fault("debounce_period", "must be a whole number of milliseconds"));
    }
    // A value past u64 saturates, and the engine refuses it with its bounds.
    Ok(ms.round() as u64)
}

/// JSON text, or `None` when blank.
fn json_text(raw: &str, field: &str) -> Result<Option<Value>, Fault> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(raw).map(Some).map_err(|e| fault(field, &format!("is not valid JSON: {e}")))
}

/// A side of a comparison: a status reference when a module or status is given, else the constant.
fn operand(side: &Side, field: &str) -> Result<Value, Fault> {
    let by_status = !blank(&[&side.module, &side.status, &side.keys]);
    let constant = side.constant.trim();
    match (by_status, constant.is_empty()) {
        (true, false) => Err(fault(field, "give either a module and status or a constant, not both")),
        (false, true) => Err(fault(field, "give a module and status, or a constant")),
        (false, false) => serde_json::from_str(constant)
            .map_err(|_| fault(field, "must be JSON: a number, a \"string\" in double quotes, true, false or null")),
        (true, true) => status_ref(side, field),
    }
}

/// A module status reference. Its module is checked here: inside an untagged operand, serde would
/// only say that the side matches neither shape, at the side.
fn status_ref(side: &Side, field: &str) -> Result<Value, Fault> {
    let module = side.module.trim();
    if module.is_empty() {
        return Err(fault(&format!("{field}.mod"), "must name a module, e.g. Display_1"));
    }
    ModuleRef::parse(module).map_err(|e| fault(&format!("{field}.mod"), &e.message))?;
    let mut status = Map::new();
    status.insert("mod".into(), json!(module));
    status.insert("status".into(), json!(side.status.trim()));
    let keys = side.keys.trim();
    if keys.starts_with('[') {
        let list: Value = serde_json::from_str(keys)
            .map_err(|e| fault(&format!("{field}.keys"), &format!("is not valid JSON: {e}")))?;
        status.insert("keys".into(), list);
    } else if !keys.is_empty() {
        let list: Vec<&str> = keys.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
        status.insert("keys".into(), json!(list));
    }
    Ok(Value::Object(status))
}

fn time_zone(raw: &str, field: &str) -> Result<Tz, Fault> {
    match raw.trim() {
        "" => Ok(Tz::UTC),
        name => Tz::from_str(name).map_err(|_| fault(field, &format!("{name:?} is not an IANA time zone"))),
    }
}

/// A cron row, or an `at` row with its date and time read in the row's time zone.
fn time_dependent(row: &TimeRow, prefix: &str) -> Result<Value, Fault> {
    let (cron, at) = (row.cron.trim(), row.at.trim());
    match (cron.is_empty(), at.is_empty()) {
        (false, false) => Err(fault(&format!("{prefix}.time"), "give a cron expression or a date and time, not both")),
        (true, true) => Err(fault(&format!("{prefix}.cron"), "give a cron expression or a date and time")),
        (false, true) => {
            let timezone = Some(row.timezone.trim()).filter(|t| !t.is_empty());
            Ok(json!({ "type": "cron", "cron": cron, "timezone": timezone }))
        }
        (true, false) => {
            let tz = time_zone(&row.timezone, &format!("{prefix}.timezone"))?;
            Ok(json!({ "type": "at", "time": epoch_seconds(at, tz, &format!("{prefix}.time"))? }))
        }
    }
}

/// A `datetime-local` value (seconds optional) read in `tz`.
fn epoch_seconds(at: &str, tz: Tz, field: &str) -> Result<i64, Fault> {
    let naive = NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M"))
        .or_else(|_| NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M"))
        .map_err(|_| fault(field, "must be a date and time, e.g. 2030-01-31T09:00"))?;
    let local = tz
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| fault(field, "does not exist in that time zone (a daylight-saving change)"))?;
    Ok(local.timestamp())
}

fn function(row: &FunctionRow, prefix: &str) -> Result<Value, Fault> {
    let mut f = Map::new();
    f.insert("mod".into(), json!(row.module.trim()));
    f.insert("method".into(), json!(row.method.trim()));
    if let Some(args) = json_text(&row.args, &format!("{prefix}.args"))? {
        f.insert("args".into(), args);
    }
    Ok(Value::Object(f))
}

/// Addresses separated by commas, semicolons or spaces.
fn mailer(row: &MailerRow) -> Value {
    let emails: Vec<&str> =
        row.emails.split(|c: char| c == ',' || c == ';' || c.is_whitespace()).filter(|e| !e.is_empty()).collect();
    json!({ "emails": emails, "content": row.content })
}

fn request(row: &RequestRow, prefix: &str) -> Result<Value, Fault> {
    let mut r = Map::new();
    r.insert("method".into(), json!(row.method));
    r.insert("url".into(), json!(row.url.trim()));
    if let Some(headers) = json_text(&row.headers, &format!("{prefix}.headers"))? {
        r.insert("headers".into(), headers);
    }
    if let Some(body) = json_text(&row.body, &format!("{prefix}.body"))? {
        r.insert("body".into(), body);
    }
    let timeout = row.timeout.trim();
    if !timeout.is_empty() {
        let ms = timeout
            .parse::<u64>()
            .map_err(|_| fault(&format!("{prefix}.timeout_ms"), "must be a whole number of milliseconds"))?;
        r.insert("timeout_ms".into(), json!(ms));
    }
    Ok(Value::Object(r))
}
