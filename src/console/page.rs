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

/// A labelled text input, with the server's message for it when a 422 named it.
pub fn text_field(name: &str, label: &str, value: &str, error: Option<&(String, String)>) -> Markup {
    let id = format!("f-{name}");
    let message = error.filter(|(field, _)| field == name).map(|(_, m)| m);
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type="text" value=(value) aria-invalid=[message.map(|_| "true")]
                aria-describedby=[message.map(|_| format!("{id}-error"))];
            @if let Some(message) = message {
                p.field-error id=(format!("{id}-error")) { (message) }
            }
        }
    }
}
