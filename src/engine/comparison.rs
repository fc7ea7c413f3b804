//! Evaluating a comparison between module status values and constants.
//!
//! A missing status makes the comparison false (not an error). Ordering operators compare numbers
//! with numbers and strings with strings; any other pairing is false and counts as a comparison error.
//! `equal`/`not_equal` compare any two values (numbers by value, so `1 == 1.0`). `and`, `or` and
//! `exclusive_or` work on truthiness: everything but `false` and `null` is truthy.

use serde_json::Value;

use crate::domain::trigger::{Comparison, Operand, Operator, StatusRef};
use crate::domain::webhook_filter::compare_values;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub value: bool,
    /// The two sides could not be compared with this operator.
    pub error: bool,
}

impl Evaluation {
    fn ok(value: bool) -> Self {
        Self { value, error: false }
    }
}

/// `lookup` answers a status reference with the module's value at `status`, or `None`.
pub fn evaluate(cmp: &Comparison, lookup: impl Fn(&StatusRef) -> Option<Value>) -> Evaluation {
    let side = |operand: &Operand| match operand {
        Operand::Constant(c) => Some(c.0.clone()),
        Operand::Status(s) => lookup(s).and_then(|v| dig(v, &s.keys)),
    };
    match (side(&cmp.left), side(&cmp.right)) {
        (Some(left), Some(right)) => compare(&left, cmp.operator, &right),
        _ => Evaluation::ok(false),
    }
}

/// Follows `keys` into nested objects (and arrays, by index).
fn dig(mut value: Value, keys: &[String]) -> Option<Value> {
    for key in keys {
        value = match value {
            Value::Object(mut map) => map.remove(key)?,
            Value::Array(mut items) => {
                let i: usize = key.parse().ok()?;
                if i >= items.len() {
                    return None;
                }
                items.swap_remove(i)
            }
            _ => return None,
        };
    }
    Some(value)
}

/// Trigger comparisons and webhook filters share one implementation of the value semantics.
pub fn compare(left: &Value, op: Operator, right: &Value) -> Evaluation {
    match compare_values(left, op, right) {
        Some(value) => Evaluation::ok(value),
        None => Evaluation { value: false, error: true },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn op(name: &str) -> Operator {
        serde_json::from_value(json!(name)).unwrap()
    }

    #[test]
    fn every_operator_over_every_type_mix() {
        let t = (true, false);
        let f = (false, false);
        let err = (false, true);
        let cases: Vec<(Value, &str, Value, (bool, bool))> = vec![
            (json!(1), "equal", json!(1.0), t),
            (json!(1), "equal", json!("1"), f),
            (json!("a"), "equal", json!("a"), t),
            (json!(null), "equal", json!(null), t),
            (json!({"a": 1}), "equal", json!({"a": 1}), t),
            (json!(true), "not_equal", json!(false), t),
            (json!(2), "not_equal", json!(2), f),
            (json!(3), "greater_than", json!(2.5), t),
            (json!(2), "greater_than", json!(2), f),
            (json!(2), "greater_than_or_equal", json!(2), t),
            (json!(1), "less_than", json!(2), t),
            (json!(2), "less_than_or_equal", json!(2), t),
            (json!(3), "less_than_or_equal", json!(2), f),
            (json!("b"), "greater_than", json!("a"), t),
            (json!("a"), "less_than", json!("b"), t),
            (json!(1), "greater_than", json!("1"), err),
            (json!(true), "less_than", json!(false), err),
            (json!(null), "greater_than_or_equal", json!(0), err),
            (json!([1]), "less_than_or_equal", json!([2]), err),
            (json!(true), "and", json!(1), t),
            (json!(true), "and", json!(null), f),
            (json!(0), "and", json!(""), t),
            (json!(false), "or", json!(null), f),
            (json!(false), "or", json!("x"), t),
            (json!(true), "exclusive_or", json!(false), t),
            (json!(true), "exclusive_or", json!("yes"), f),
            (json!(null), "exclusive_or", json!(false), f),
        ];
        for (left, name, right, (value, error)) in cases {
            let got = compare(&left, op(name), &right);
            assert_eq!((got.value, got.error), (value, error), "{left} {name} {right}");
        }
    }

    #[test]
    fn status_references_follow_nested_keys_and_missing_values_are_false() {
        let cmp: Comparison = serde_json::from_value(json!({
            "left": {"mod": "Sensor_1", "status": "readings", "keys": ["room", "0"]},
            "operator": "greater_than",
            "right": 20
        }))
        .unwrap();
        let with = |v: Value| move |_: &StatusRef| Some(v.clone());
        assert_eq!(evaluate(&cmp, with(json!({"room": [21, 5]}))), Evaluation::ok(true));
        assert_eq!(evaluate(&cmp, with(json!({"room": [19]}))), Evaluation::ok(false));
        assert_eq!(evaluate(&cmp, with(json!({"room": []}))), Evaluation::ok(false), "missing index");
        assert_eq!(evaluate(&cmp, with(json!({"hall": [30]}))), Evaluation::ok(false), "missing key");
        assert_eq!(evaluate(&cmp, |_| None), Evaluation::ok(false), "missing status");
        assert_eq!(evaluate(&cmp, with(json!({"room": ["hot"]}))), Evaluation { value: false, error: true });
    }
}
