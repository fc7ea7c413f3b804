//! The whole trigger form: its parts in order, the suggestions its inputs offer, and its buttons
//! (save, or preview the schedules first).

use maud::{html, Markup};

use super::actions::{functions_section, mailers_section, requests_section};
use super::basics::basics;
use super::conditions::comparisons_section;
use super::draft::Draft;
use super::times::times_section;
use super::webhook_calls::webhook_calls_section;
use crate::console::page::FieldError;

/// Names of modules and functions the registered drivers declare, offered as suggestions.
pub struct Pickers {
    pub modules: Vec<String>,
    pub functions: Vec<String>,
}

/// Suggestions for module names, functions and time zones.
fn datalists(pickers: &Pickers) -> Markup {
    html! {
        datalist id="dl-modules" { @for m in &pickers.modules { option value=(m) {} } }
        datalist id="dl-functions" { @for f in &pickers.functions { option value=(f) {} } }
        datalist id="dl-zones" { @for tz in chrono_tz::TZ_VARIANTS.iter() { option value=(tz.name()) {} } }
    }
}

/// The whole form. `error` is already [`place`](super::draft::place)d.
pub fn form(csrf: Markup, action: &str, submit: &str, draft: &Draft, error: &FieldError, pickers: &Pickers) -> Markup {
    let (previews, _) = draft.previews();
    html! {
        form.trigger.card method="post" action=(action) {
            (csrf)
            (basics(draft, error))
            h3 { "Conditions" }
            (comparisons_section(draft, error))
            (times_section(draft, error, &previews))
            h3 { "Actions" }
            (functions_section(draft, error))
            (mailers_section(draft, error))
            (requests_section(draft, error))
            h3 { "Webhook calls" }
            (webhook_calls_section(draft, error))
            (datalists(pickers))
            p.actions {
                button type="submit" { (submit) }
                " "
                button type="submit" name="intent" value="preview" { "Preview schedules" }
            }
        }
    }
}
