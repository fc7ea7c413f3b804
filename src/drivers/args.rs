//! Binding admin-supplied arguments to a function's declared parameters.

use serde_json::{Map, Value};

use super::sdk::{Args, FunctionDescriptor};
use crate::domain::ValidationError;

/// Accepts a positional array (in parameter order) or an object by name; checks presence and types.
pub fn bind(function: &FunctionDescriptor, raw: Value) -> Result<Args, ValidationError> {
    let named: Map<String, Value> = match raw {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        Value::Array(values) => {
            if values.len() > function.params.len() {
                return Err(ValidationError::new(
                    "args",
                    format!("{} takes at most {} arguments", function.name, function.params.len()),
                ));
            }
            function.params.iter().map(|p| p.name.clone()).zip(values).collect()
        }
        _ => return Err(ValidationError::new("args", "must be a JSON array or object")),
    };
    for name in named.keys() {
        if !function.params.iter().any(|p| &p.name == name) {
            return Err(ValidationError::new(
                format!("args.{name}"),
                format!("{} has no such parameter", function.name),
            ));
        }
    }
    for param in &function.params {
        match named.get(&param.name).filter(|v| !v.is_null()) {
            None if param.required => {
                return Err(ValidationError::new(format!("args.{}", param.name), "is required"));
            }
            Some(value) if !param.json_type.admits(value) => {
                return Err(ValidationError::new(
                    format!("args.{}", param.name),
                    format!("must be of type {}", serde_json::to_string(&param.json_type).unwrap_or_default()),
                ));
            }
            _ => {}
        }
    }
    Ok(Args(named))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::drivers::sdk::{JsonType, Param};

    fn volume() -> FunctionDescriptor {
        FunctionDescriptor::new("volume", "")
            .param(Param::required("level", JsonType::Integer))
            .param(Param::optional("ramp", JsonType::Boolean))
    }

    #[test]
    fn positional_and_named_arguments_bind_alike() {
        let positional = bind(&volume(), json!([30, true])).unwrap();
        let named = bind(&volume(), json!({"level": 30, "ramp": true})).unwrap();
        assert_eq!(positional, named);
    }

    #[test]
    fn bad_arguments_name_the_parameter() {
        for (raw, field) in [
            (json!([]), "args.level"),
            (json!({"level": "loud"}), "args.level"),
            (json!({"level": 1.5}), "args.level"),
            (json!({"level": 1, "speed": 2}), "args.speed"),
            (json!([1, true, 3]), "args"),
            (json!("x"), "args"),
        ] {
            assert_eq!(bind(&volume(), raw.clone()).unwrap_err().field, field, "{raw}");
        }
    }
}
