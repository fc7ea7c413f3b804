//! The trigger form's inputs that page.rs does not offer: an input with suggestions, a hint, a
//! placeholder or a phone keyboard; JSON text; a check box with a hint. Each carries the server's
//! message when a 422 named it, as page.rs's inputs do.

use maud::{html, Markup};

use crate::console::forms::{field_id, message_for};
use crate::console::page::FieldError;

/// What an input may carry beyond its name, label and value.
#[derive(Default, Clone, Copy)]
pub struct Extra<'a> {
    /// A `datalist` of suggestions.
    pub list: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub placeholder: Option<&'a str>,
    /// The keyboard a phone shows (`decimal`, `numeric`, `url`).
    pub inputmode: Option<&'a str>,
}

/// `aria-describedby` for an input with a hint, a message, both or neither.
fn described_by(id: &str, hint: bool, message: bool) -> Option<String> {
    let parts: Vec<String> =
        [hint.then(|| format!("{id}-hint")), message.then(|| format!("{id}-error"))].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A labelled input of `kind` with `extra`; a `datetime-local` one takes seconds.
pub fn input_with(kind: &str, name: &str, label: &str, value: &str, error: &FieldError, extra: Extra) -> Markup {
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

/// A labelled text area for JSON: `rows` high, not spell-checked, with an optional hint.
pub fn json_textarea(name: &str, label: &str, value: &str, rows: u8, error: &FieldError, hint: Option<&str>) -> Markup {
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

/// A labelled check box with a hint below it.
pub fn switch(name: &str, label: &str, checked: bool, hint: &str) -> Markup {
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

/// `(value, text)` pairs as page.rs's drop-down takes them.
pub fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(v, t)| ((*v).to_owned(), (*t).to_owned())).collect()
}

/// Whether a 422 named a field under `prefix`: its section opens.
pub fn has_error(error: &FieldError, prefix: &str) -> bool {
    error.as_ref().is_some_and(|(f, _)| f.starts_with(prefix))
}

/// A list of rows in a section of its own, open when it holds some or a 422 named one of its fields:
/// the filled rows, then `blanks` copies of `blank`, each in a numbered fieldset.
pub struct Rows<'a, T> {
    /// The list's JSON path (`actions.functions`): its rows' inputs are named `{list}[{i}].…`.
    pub list: &'a str,
    /// The section's title (`Functions`) and a row's legend (`Function`).
    pub title: &'a str,
    pub legend: &'a str,
    pub intro: Markup,
    pub filled: &'a [T],
    pub blank: T,
    pub blanks: usize,
}

impl<T> Rows<'_, T> {
    /// The section, with `inputs(i, prefix, row)` in the fieldset of row `i`, whose inputs are named
    /// `{prefix}.…`.
    pub fn render(&self, error: &FieldError, inputs: impl Fn(usize, &str, &T) -> Markup) -> Markup {
        let rows = self.filled.iter().chain(std::iter::repeat_n(&self.blank, self.blanks));
        html! {
            details open[!self.filled.is_empty() || has_error(error, self.list)] {
                summary { (self.title) " (" (self.filled.len()) ")" }
                (self.intro)
                @for (i, row) in rows.enumerate() {
                    fieldset {
                        legend { (self.legend) " " (i + 1) }
                        (inputs(i, &format!("{}[{i}]", self.list), row))
                    }
                }
            }
        }
    }
}
