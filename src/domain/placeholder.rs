//! Values of an action that are known only when its run executes.
//!
//! A JSON value may be a placeholder object — `{"$payload": "/pointer"}` (the firing call's JSON body),
//! `{"$status": {"mod": "Display_1", "status": "power"}}` (a module status when the run starts) or
//! `{"$fire": "trigger_count" | "fired_at" | "instance_id" | "system_id"}` — and a string may hold
//! templates: `{{payload./a/b}}`, `{{status.Display_1.power}}`, `{{fire.trigger_count}}`. Both are
//! checked when the trigger is saved and resolved when the run executes.

use serde_json::{Map, Value};

use super::module::ModuleRef;
use super::ValidationError;

const PAYLOAD: &str = "$payload";
const STATUS: &str = "$status";
const FIRE: &str = "$fire";
const FIRE_FIELDS: [&str; 4] = ["trigger_count", "fired_at", "instance_id", "system_id"];

/// One value a placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    Payload(String),
    /// A module status by module reference (`Display_1`) and status name.
    Status(String, String),
    Fire(String),
}

impl Placeholder {
    /// The key a status placeholder's value is kept under in a run (`Display_1.power`).
    pub fn status_key(module: &str, status: &str) -> String {
        format!("{module}.{status}")
    }
}

/// What placeholders resolve against.
pub trait Values {
    fn payload(&self, pointer: &str) -> Value;
    fn status(&self, key: &str) -> Value;
    fn fire(&self, field: &str) -> Value;
}

/// Values that resolve every placeholder to `null`: for checking the shape of what surrounds them.
pub struct Sample;

impl Values for Sample {
    fn payload(&self, _: &str) -> Value {
        Value::Null
    }
    fn status(&self, _: &str) -> Value {
        Value::Null
    }
    fn fire(&self, _: &str) -> Value {
        Value::Null
    }
}

/// Every placeholder in a value, checked; the error names the place relative to the value.
pub fn collect(value: &Value) -> Result<Vec<Placeholder>, ValidationError> {
    let mut found = Vec::new();
    walk(value, &mut found)?;
    Ok(found)
}

/// Every template in a string, checked.
pub fn collect_in_str(text: &str) -> Result<Vec<Placeholder>, ValidationError> {
    templates(text).map(|t| t.and_then(parse_template)).collect()
}

fn walk(value: &Value, found: &mut Vec<Placeholder>) -> Result<(), ValidationError> {
    match value {
        Value::String(text) => found.extend(collect_in_str(text)?),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, found).map_err(|e| e.within(&format!("[{i}]")))?;
            }
        }
        Value::Object(map) => match placeholder_object(map) {
            Some(parsed) => found.push(parsed?),
            None => {
                for (key, item) in map {
                    walk(item, found).map_err(|e| e.within(key))?;
                }
            }
        },
        _ => {}
    }
    Ok(())
}

/// `Some` when the object is meant as a placeholder (its only key starts with `$`).
fn placeholder_object(map: &Map<String, Value>) -> Option<Result<Placeholder, ValidationError>> {
    let (key, arg) = map.iter().next().filter(|(k, _)| map.len() == 1 && k.starts_with('$'))?;
    let invalid = |message: &str| Err(ValidationError::new(key.as_str(), message));
    Some(match (key.as_str(), arg) {
        (PAYLOAD, Value::String(pointer)) => {
            super::check_json_pointer(pointer).map(|()| Placeholder::Payload(pointer.clone())).or_else(|m| invalid(&m))
        }
        (PAYLOAD, _) => invalid("must be a JSON Pointer string"),
        (STATUS, Value::Object(status)) => status_placeholder(status).map_err(|e| e.within(key)),
        (STATUS, _) => invalid("must be {\"mod\": \"Display_1\", \"status\": \"power\"}"),
        (FIRE, Value::String(field)) if FIRE_FIELDS.contains(&field.as_str()) => Ok(Placeholder::Fire(field.clone())),
        (FIRE, _) => invalid(&format!("must be one of {}", FIRE_FIELDS.join(", "))),
        _ => invalid("is not a placeholder: use $payload, $status or $fire"),
    })
}

fn status_placeholder(status: &Map<String, Value>) -> Result<Placeholder, ValidationError> {
    if let Some(extra) = status.keys().find(|k| !matches!(k.as_str(), "mod" | "status")) {
        return Err(ValidationError::new(extra.as_str(), "is not a field of a status placeholder"));
    }
    let module = match status.get("mod") {
        Some(Value::String(raw)) => ModuleRef::parse(raw).map_err(|e| e.within("mod"))?,
        _ => return Err(ValidationError::new("mod", "must be a module reference such as Display_1")),
    };
    match status.get("status") {
        Some(Value::String(name)) if !name.is_empty() => Ok(Placeholder::Status(module.to_string(), name.clone())),
        _ => Err(ValidationError::new("status", "must be a status name")),
    }
}

/// The `{{…}}` templates of a string, in order; an unclosed `{{` is an error.
fn templates(text: &str) -> impl Iterator<Item = Result<&str, ValidationError>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find("{{")?;
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            rest = "";
            return Some(Err(ValidationError::new("", "has a `{{` without its `}}`")));
        };
        rest = &after[end + 2..];
        Some(Ok(&after[..end]))
    })
}

fn parse_template(raw: &str) -> Result<Placeholder, ValidationError> {
    let invalid = |message: String| ValidationError::new("", format!("`{{{{{raw}}}}}` {message}"));
    let (source, rest) =
        raw.trim().split_once('.').ok_or_else(|| invalid("must be payload./…, status.… or fire.…".into()))?;
    match source {
        "payload" => super::check_json_pointer(rest).map(|()| Placeholder::Payload(rest.to_owned())).map_err(invalid),
        "status" => {
            let (module, status) = rest
                .split_once('.')
                .ok_or_else(|| invalid("must name a module and a status: status.Display_1.power".into()))?;
            let module = ModuleRef::parse(module).map_err(|e| invalid(e.message))?;
            if status.is_empty() {
                return Err(invalid("must name a status".into()));
            }
            Ok(Placeholder::Status(module.to_string(), status.to_owned()))
        }
        "fire" if FIRE_FIELDS.contains(&rest) => Ok(Placeholder::Fire(rest.to_owned())),
        "fire" => Err(invalid(format!("must name one of {}", FIRE_FIELDS.join(", ")))),
        _ => Err(invalid("must start with payload., status. or fire.".into())),
    }
}

/// The value with every placeholder replaced; templates in strings are interpolated with `encode`
/// applied to each inserted text (percent-encoding in a URL, say).
pub fn resolve(value: &Value, values: &dyn Values) -> Value {
    match value {
        Value::String(text) => Value::String(interpolate(text, values, &|s| s.to_owned())),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, values)).collect()),
        Value::Object(map) => match placeholder_object(map) {
            Some(Ok(placeholder)) => lookup(&placeholder, values),
            _ => Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve(v, values))).collect()),
        },
        other => other.clone(),
    }
}

/// The text with its templates replaced: strings as they are, other values as JSON, missing values
/// (null) as nothing; `encode` is applied to each inserted text.
pub fn interpolate(text: &str, values: &dyn Values, encode: &dyn Fn(&str) -> String) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        if let Ok(placeholder) = parse_template(&after[..end]) {
            let inserted = match lookup(&placeholder, values) {
                Value::Null => String::new(),
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.push_str(&encode(&inserted));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn lookup(placeholder: &Placeholder, values: &dyn Values) -> Value {
    match placeholder {
        Placeholder::Payload(pointer) => values.payload(pointer),
        Placeholder::Status(module, status) => values.status(&Placeholder::status_key(module, status)),
        Placeholder::Fire(field) => values.fire(field),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Fixed;

    impl Values for Fixed {
        fn payload(&self, pointer: &str) -> Value {
            json!({"door": {"id": "d 1", "open": true}}).pointer(pointer).cloned().unwrap_or(Value::Null)
        }
        fn status(&self, key: &str) -> Value {
            if key == "Display_1.power" {
                json!(true)
            } else {
                Value::Null
            }
        }
        fn fire(&self, field: &str) -> Value {
            json!(field.len())
        }
    }

    #[test]
    fn objects_and_templates_resolve_and_the_rest_is_kept() {
        let value = json!({
            "open": {"$payload": "/door/open"},
            "power": {"$status": {"mod": "Display_1", "status": "power"}},
            "count": {"$fire": "trigger_count"},
            "text": "door {{payload./door/id}} is {{payload./door/open}}, fire {{fire.trigger_count}}{{payload./none}}",
            "list": [{"$payload": "/door/id"}, 1],
            "plain": {"a": "b"}
        });

        let resolved = resolve(&value, &Fixed);

        assert_eq!(
            resolved,
            json!({
                "open": true, "power": true, "count": 13,
                "text": "door d 1 is true, fire 13",
                "list": ["d 1", 1], "plain": {"a": "b"}
            })
        );
        assert_eq!(collect(&value).unwrap().len(), 8);
        let encoded = interpolate("/doors/{{payload./door/id}}", &Fixed, &|s| s.replace(' ', "%20"));
        assert_eq!(encoded, "/doors/d%201");
    }

    #[test]
    fn bad_placeholders_name_their_place() {
        let cases = [
            (json!({"a": {"$payload": "door"}}), "a.$payload"),
            (json!({"a": {"$payload": 3}}), "a.$payload"),
            (json!({"a": [0, {"$fire": "count"}]}), "a[1].$fire"),
            (json!({"$status": {"mod": "", "status": "power"}}), "$status.mod"),
            (json!({"$status": {"mod": "Display_1"}}), "$status.status"),
            (json!({"$status": {"mod": "Display_1", "status": "p", "x": 1}}), "$status.x"),
            (json!({"$secret": "x"}), "$secret"),
            (json!({"t": "{{payload.door}}"}), "t"),
            (json!({"t": "{{status.Display_1}}"}), "t"),
            (json!({"t": "{{fire.nothing}}"}), "t"),
            (json!({"t": "{{other.x}}"}), "t"),
            (json!({"t": "open {{payload./a"}), "t"),
        ];
        for (value, field) in cases {
            let error = collect(&value).expect_err(&value.to_string());
            assert_eq!(error.field, field, "{value}: {error}");
        }
    }
}
