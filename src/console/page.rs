//! The console's page shell, its answers (pages, redirects, refusals) and their security headers.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use maud::{html, Markup, DOCTYPE};

use super::session::Signed;
use crate::http::errors::ApiError;

/// No inline script or style, nothing from elsewhere, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why a console request was not served as asked.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: to the sign-in page.
    #[error("sign in first")]
    SignIn,
    #[error("this form has expired or did not come from this console; reload the page and try again")]
    Csrf,
    #[error("this key may only read")]
    Forbidden,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<crate::engine::EngineError> for ConsoleError {
    fn from(e: crate::engine::EngineError) -> Self {
        Self::Api(e.into())
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Csrf | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignIn = self {
            return redirect("/console/sign-in");
        }
        let (code, message) = match self {
            Self::Api(ApiError::Internal(detail)) => {
                tracing::error!(error = %detail, "console request failed");
                ("internal_error", "Something went wrong on the server; it has been logged.".to_owned())
            }
            Self::Api(e) => (e.code(), e.to_string()),
            Self::Csrf => ("csrf", self.to_string()),
            _ => ("forbidden", self.to_string()),
        };
        let body = shell(
            "Error",
            None,
            html! {
                h1 { "That did not work" }
                div.error role="alert" { p { (message) } p.code { "code: " (code) } }
                p { a href="/console/" { "Back to the console" } }
            },
        );
        page(self.status_code(), body)
    }
}

/// An HTML answer with the console's headers.
pub fn page(status: StatusCode, body: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.into_string())
}

/// After a form: to `to` with a GET.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// The document around a page: navigation for a signed-in user, sign-out with its CSRF token.
pub fn shell(title: &str, signed: Option<&Signed>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Switchboard" }
                link rel="stylesheet" href="/console/assets/console.css";
                script type="module" src="/console/assets/console.js" {}
            }
            body {
                header.top {
                    a.brand href="/console/" { "Switchboard" }
                    @if let Some(signed) = signed {
                        nav aria-label="Main" {
                            a href="/console/systems" { "Systems" }
                            a href="/console/modules" { "Modules" }
                            a href="/console/triggers" { "Triggers" }
                            a href="/console/webhooks" { "Outbound webhooks" }
                            a href="/console/callouts" { "Callouts" }
                            @if signed.is_admin() { a href="/console/api-keys" { "API keys" } }
                            a href="/console/events" { "Live events" }
                        }
                        span.role { (if signed.is_admin() { "admin" } else { "support (read only)" }) }
                        form.signout method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(signed.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

/// A hidden input carrying the session's CSRF token.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// The field a 422 named and the server's message: shown next to that field, or above the form when
/// no field of it has the name.
pub type FieldError = Option<(String, String)>;

/// The message for `name`, when the 422 named it.
fn message_for<'a>(error: &'a FieldError, name: &str) -> Option<&'a str> {
    error.as_ref().filter(|(field, _)| field == name).map(|(_, m)| m.as_str())
}

fn field_id(name: &str) -> String {
    format!("f-{}", name.replace(['.', '[', ']'], "-"))
}

/// A labelled input of `kind` (`text`, `number`, `url`, `password`…), with the server's message for
/// it when a 422 named it.
pub fn input(kind: &str, name: &str, label: &str, value: &str, error: &FieldError) -> Markup {
    let id = field_id(name);
    let message = message_for(error, name);
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) aria-invalid=[message.map(|_| "true")]
                aria-describedby=[message.map(|_| format!("{id}-error"))];
            @if let Some(message) = message { p.field-error id=(format!("{id}-error")) { (message) } }
        }
    }
}

/// A labelled text input; see [`input`].
pub fn text_field(name: &str, label: &str, value: &str, error: &FieldError) -> Markup {
    input("text", name, label, value, error)
}

/// A labelled multi-line input; see [`input`].
pub fn textarea(name: &str, label: &str, value: &str, error: &FieldError) -> Markup {
    let id = field_id(name);
    let message = message_for(error, name);
    html! {
        div.field {
            label for=(id) { (label) }
            textarea id=(id) name=(name) rows="6" aria-invalid=[message.map(|_| "true")]
                aria-describedby=[message.map(|_| format!("{id}-error"))] { (value) }
            @if let Some(message) = message { p.field-error id=(format!("{id}-error")) { (message) } }
        }
    }
}

/// A labelled checkbox sending `name=on` when ticked.
pub fn checkbox(name: &str, label: &str, checked: bool) -> Markup {
    let id = field_id(name);
    html! {
        div.field.check {
            input id=(id) name=(name) type="checkbox" checked[checked];
            label for=(id) { (label) }
        }
    }
}

/// A labelled drop-down of `(value, text)` options; see [`input`].
pub fn select(name: &str, label: &str, options: &[(String, String)], selected: &str, error: &FieldError) -> Markup {
    let id = field_id(name);
    let message = message_for(error, name);
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) aria-invalid=[message.map(|_| "true")]
                aria-describedby=[message.map(|_| format!("{id}-error"))] {
                @for (value, text) in options {
                    option value=(value) selected[value == selected] { (text) }
                }
            }
            @if let Some(message) = message { p.field-error id=(format!("{id}-error")) { (message) } }
        }
    }
}

/// The server's refusal above a form, when the field it names is not one of the form's `fields`.
pub fn form_error(error: &FieldError, fields: &[&str]) -> Markup {
    html! {
        @if let Some((field, message)) = error.as_ref().filter(|(f, _)| !fields.contains(&f.as_str())) {
            div.error role="alert" {
                p { (message) }
                @if !field.is_empty() { p.code { "field: " (field) } }
            }
        }
    }
}

/// A one-button form that POSTs to `action` (with the CSRF token), asking `confirm` first when given.
pub fn action_button(signed: &Signed, action: &str, text: &str, confirm: Option<&str>) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (csrf(signed))
            button type="submit" { (text) }
        }
    }
}

/// A value with a button that copies it.
pub fn copyable(id: &str, label: &str, value: &str) -> Markup {
    html! {
        div.copyable {
            span.label { (label) }
            code id=(id) { (value) }
            button type="button" data-copy=(id) aria-label=(format!("Copy {label}")) { "Copy" }
        }
    }
}

/// A refused change's field and message when the server answered 422, else the error as a page.
pub fn refusal(e: crate::engine::EngineError) -> Result<(String, String), ConsoleError> {
    match ApiError::from(e) {
        ApiError::Client { status, field, message, .. } if status == StatusCode::UNPROCESSABLE_ENTITY => {
            Ok((field.unwrap_or_default(), message))
        }
        other => Err(other.into()),
    }
}
