//! What the console's forms share beyond page.rs's labelled inputs: reading a posted form whose names
//! may repeat ([`Fields`]), the checks an admin's POST goes through, a refusal shown at its field, and
//! the inputs page.rs does not offer (a group of check boxes, a secret, the system drop-down).

use actix_web::http::StatusCode;
use maud::{html, Markup};

use super::form;
use super::page::{ConsoleError, FieldError};
use super::session::Signed;
use crate::domain::{SystemId, ValidationError};
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::store::PageRequest;

/// A form's fields in the order sent; a name may repeat (a group of check boxes).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Self, ConsoleError> {
        form(body).map(Self)
    }

    /// A form that changes something: read, then its CSRF token checked, then that the key may
    /// change things.
    pub fn for_admin(body: &[u8], signed: &Signed) -> Result<Self, ConsoleError> {
        let fields = Self::parse(body)?;
        fields.check_csrf(signed)?;
        signed.admin()?;
        Ok(fields)
    }

    /// The first value sent for `name`, or `""`.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// Every value sent for `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    /// The fields named `{prefix}.…`, by the rest of their name.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0.iter().filter_map(move |(k, v)| Some((k.strip_prefix(prefix)?.strip_prefix('.')?, v.as_str())))
    }

    /// Whether a check box was ticked.
    pub fn ticked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// Refuses the form unless it carries this session's CSRF token.
    pub fn check_csrf(&self, signed: &Signed) -> Result<(), ConsoleError> {
        signed.check_csrf(self.get("csrf"))
    }
}

/// Reads an action's form (a button that POSTs): its CSRF token first, then that the key may change
/// things, then the id in the path, with `parse`.
pub fn admin_action<Id>(
    signed: &Signed,
    body: &[u8],
    id: &str,
    parse: fn(&str) -> Result<Id, ConsoleError>,
) -> Result<Id, ConsoleError> {
    Fields::for_admin(body, signed)?;
    parse(id)
}

/// `sys-…`, or none for an empty field.
pub fn parse_system(raw: &str) -> Result<Option<SystemId>, ValidationError> {
    match raw.trim() {
        "" => Ok(None),
        raw => SystemId::parse(raw).map(Some).ok_or_else(|| ValidationError::new("system_id", "is not a system id")),
    }
}

/// The items of a comma- or space-separated list.
pub fn list_items(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A refused change's field and message when it is a 422, else the error as a page. A field one of
/// the form's `fields` holds (`match.methods` for `match.methods[2]`) is named by it.
pub fn refused(e: ApiError, fields: &[&str]) -> Result<(String, String), ConsoleError> {
    match e {
        ApiError::Client { status, field, message, .. } if status == StatusCode::UNPROCESSABLE_ENTITY => {
            let field = field.unwrap_or_default();
            let base = field.split('[').next().unwrap_or_default();
            let field = match fields.contains(&field.as_str()) || !fields.contains(&base) {
                true => field,
                false => base.to_owned(),
            };
            Ok((field, message))
        }
        other => Err(other.into()),
    }
}

/// The `id` of the input named `name`, as page.rs gives it.
pub fn field_id(name: &str) -> String {
    format!("f-{}", name.replace(['.', '[', ']'], "-"))
}

/// The server's message for the input named `name`, when a 422 named it.
pub fn message_for<'a>(error: &'a FieldError, name: &str) -> Option<&'a str> {
    error.as_ref().filter(|(field, _)| field == name).map(|(_, m)| m.as_str())
}

/// Above a page whose form was refused: the server's message, and a link to the field it names when
/// the form (with `fields`) has it. The message is shown at the field too.
pub fn not_saved(error: &FieldError, fields: &[&str]) -> Markup {
    html! {
        @if let Some((field, message)) = error {
            div.error role="alert" {
                p { "Nothing was saved: " (message) }
                @if fields.contains(&field.as_str()) {
                    p { a href=(format!("#{}", field_id(field))) { "Go to the field" } }
                }
            }
        }
    }
}

/// A labelled password input that is never filled in again, nor by the browser.
pub fn secret_field(name: &str, label: &str, error: &FieldError) -> Markup {
    let id = field_id(name);
    let message = message_for(error, name);
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type="password" autocomplete="new-password" aria-invalid=[message.map(|_| "true")]
                aria-describedby=[message.map(|_| format!("{id}-error"))];
            @if let Some(message) = message { p.field-error id=(format!("{id}-error")) { (message) } }
        }
    }
}

/// Check boxes that share a name, one per choice.
pub struct CheckGroup<'a> {
    pub name: &'a str,
    pub legend: &'a str,
    /// `(value, label)` of each box; a value `*` gets the id `f-{name}-all`.
    pub choices: &'a [(&'a str, &'a str)],
    /// A class of the fieldset (`events` sets them in columns).
    pub class: Option<&'a str>,
}

impl CheckGroup<'_> {
    /// The group in a fieldset, `chosen` ticked, with the server's message when a 422 named it.
    pub fn render(&self, chosen: &[String], error: &FieldError) -> Markup {
        let id = field_id(self.name);
        let message = message_for(error, self.name);
        html! {
            fieldset class=[self.class] id=(id) aria-describedby=[message.map(|_| format!("{id}-error"))] {
                legend { (self.legend) }
                @if let Some(message) = message { p.field-error id=(format!("{id}-error")) { (message) } }
                @for (value, label) in self.choices {
                    @let id = field_id(&format!("{}-{}", self.name, if *value == "*" { "all" } else { value }));
                    div.field.check {
                        input id=(id) name=(self.name) type="checkbox" value=(value)
                            checked[chosen.iter().any(|c| c == value)];
                        label for=(id) { (label) }
                    }
                }
            }
        }
    }
}

/// The systems, for the drop-down that scopes a subscription or a callout and to name them.
pub struct Systems(Vec<(SystemId, String)>);

impl Systems {
    pub async fn load(state: &AppState) -> Result<Self, ConsoleError> {
        let found = state.engine.list_systems(None, PageRequest { offset: 0, limit: 1000 }).await?;
        Ok(Self(found.items.into_iter().map(|s| (s.id, s.name)).collect()))
    }

    /// The drop-down's options: every system, or one.
    pub fn options(&self) -> Vec<(String, String)> {
        self.options_after("Every system")
    }

    /// The drop-down's options: `none` (the empty value), then each system.
    pub fn options_after(&self, none: &str) -> Vec<(String, String)> {
        std::iter::once((String::new(), none.to_owned()))
            .chain(self.0.iter().map(|(id, name)| (id.to_string(), name.clone())))
            .collect()
    }

    /// A system by name, linked to its page.
    pub fn show(&self, id: Option<&SystemId>) -> Markup {
        html! {
            @match id {
                None => { "Every system" }
                Some(id) => {
                    @let name = self.0.iter().find(|(s, _)| s == id).map_or(id.as_str(), |(_, n)| n.as_str());
                    a href=(format!("/console/systems/{id}")) { (name) }
                }
            }
        }
    }
}
