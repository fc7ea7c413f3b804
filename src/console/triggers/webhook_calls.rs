//! The form's part about webhook calls: which calls count (the payload filter) and how their
//! signature is checked (verification), both as the API's JSON.

use maud::{html, Markup};

use super::draft::Draft;
use super::inputs::{has_error, json_textarea};
use crate::console::page::FieldError;

pub fn webhook_calls_section(draft: &Draft, error: &FieldError) -> Markup {
    let open =
        !draft.webhook_filter.is_empty() || !draft.webhook_verification.is_empty() || has_error(error, "webhook_");
    html! {
        details open[open] {
            summary { "Payload filter and signature verification" }
            (json_textarea("webhook_filter", "Payload filter (JSON)", &draft.webhook_filter, 6, error,
                Some("{\"all\": [rule, …]} or {\"any\": [rule, …]}; blank: every accepted call counts.")))
            (json_textarea("webhook_verification", "Signature verification (JSON)", &draft.webhook_verification, 6,
                error, Some("e.g. {\"scheme\": \"github\"}; blank: only the URL secret is checked.")))
        }
    }
}
