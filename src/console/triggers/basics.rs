//! The form's first part: name, description, supported methods, the debounce period in its unit, and
//! the three switches (webhook, any match, important). The debounce period is shown in whole seconds
//! when it is some, else in milliseconds.

use maud::{html, Markup};

use super::draft::Draft;
use super::inputs::{input_with, options, switch, Extra};
use crate::console::forms::CheckGroup;
use crate::console::page::{select, text_field, FieldError};
use crate::domain::methods::WebhookMethod;

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

pub fn basics(draft: &Draft, error: &FieldError) -> Markup {
    let methods: Vec<(&str, &str)> = WebhookMethod::ALL.iter().map(|m| (m.as_str(), m.as_str())).collect();
    let methods = CheckGroup { name: "supported_methods", legend: "Supported methods", choices: &methods, class: None };
    let units = options(&[("ms", "milliseconds (ms)"), ("s", "seconds (s)")]);
    let debounce = Extra {
        inputmode: Some("decimal"),
        hint: Some("How long a webhook call or a time condition holds its condition true."),
        ..Extra::default()
    };
    html! {
        (text_field("name", "Name", &draft.name, error))
        (text_field("description", "Description", &draft.description, error))
        (methods.render(&draft.methods, error))
        (input_with("text", "debounce_period", "Debounce", &draft.debounce, error, debounce))
        (select("debounce_unit", "Debounce unit", &units, &draft.unit, error))
        (switch("enable_webhook", "Enable webhook", draft.enable_webhook,
            "The trigger's instances accept calls at their webhook URL."))
        (switch("any_match", "Any match", draft.any_match, "Fire when any one condition holds, instead of all of them."))
        (switch("important", "Important", draft.important, "Copied to new instances."))
    }
}
