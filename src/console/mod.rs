//! The console: a backoffice for admins, served by the binary itself at `/console/`. Pages are
//! rendered on the server (maud escapes every value); the one stylesheet and one script module are
//! compiled in. Sign-in exchanges an API key for a session; every form carries the session's CSRF token.

mod api_keys;
mod callouts;
mod display;
mod events;
mod forms;
mod inspector;
mod instances;
mod module_settings;
mod modules;
mod outbound;
mod page;
mod paging;
mod session;
mod systems;
mod triggers;

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use maud::html;
use serde::Deserialize;

use crate::config::ConsoleConfig;
use crate::http::AppState;
use page::{page, redirect, shell, ConsoleError, CSP};
pub use session::Sessions;
use session::{cookie, Signed};

/// The console's routes and headers; nothing at all when it is disabled.
pub fn routes(config: &ConsoleConfig, sessions: web::Data<Sessions>) -> impl FnOnce(&mut web::ServiceConfig) {
    let enabled = config.enabled;
    move |cfg| {
        if !enabled {
            return;
        }
        cfg.route("/", web::get().to(|| async { redirect("/console/") }));
        cfg.service(
            web::scope("/console")
                .app_data(sessions)
                .wrap(
                    DefaultHeaders::new()
                        .add((header::CONTENT_SECURITY_POLICY, CSP))
                        .add((header::X_FRAME_OPTIONS, "DENY"))
                        .add((header::REFERRER_POLICY, "no-referrer"))
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ConsoleError::Api(crate::http::errors::ApiError::bad_request("invalid_query", e.to_string())).into()
                }))
                .default_service(web::to(|| async {
                    ConsoleError::Api(crate::http::errors::ApiError::not_found("page")).error_response()
                }))
                .route("", web::get().to(|| async { redirect("/console/") }))
                .route("/", web::get().to(home))
                .route("/sign-in", web::get().to(sign_in_page))
                .route("/sign-in", web::post().to(sign_in))
                .route("/sign-out", web::post().to(sign_out))
                .route("/assets/{name}", web::get().to(asset))
                .configure(systems::routes)
                .configure(instances::routes)
                .configure(inspector::routes)
                .configure(modules::routes)
                .configure(module_settings::routes)
                .configure(events::routes)
                .configure(triggers::routes)
                .configure(outbound::routes)
                .configure(callouts::routes)
                .configure(api_keys::routes),
        );
    }
}

/// Sessions idle for `session_idle_minutes` end.
pub fn sessions(config: &ConsoleConfig) -> web::Data<Sessions> {
    web::Data::new(Sessions::new(Duration::from_secs(config.session_idle_minutes.saturating_mul(60))))
}

async fn home(signed: Result<Signed, ConsoleError>) -> HttpResponse {
    match signed {
        Ok(_) => redirect("/console/systems"),
        Err(_) => redirect("/console/sign-in"),
    }
}

fn sign_in_form(message: Option<&str>) -> maud::Markup {
    shell(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            p { "Sign in with an API key. An admin key may change everything; a support key may only read." }
            @if let Some(message) = message {
                div.error role="alert" { p { (message) } }
            }
            form.card method="post" action="/console/sign-in" {
                div.field {
                    label for="f-key" { "API key" }
                    input id="f-key" name="key" type="password" autocomplete="current-password" required;
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn sign_in_page() -> HttpResponse {
    page(StatusCode::OK, sign_in_form(None))
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    key: String,
}

async fn sign_in(
    req: HttpRequest,
    form: web::Bytes,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
) -> HttpResponse {
    if !session::same_origin(&req) {
        return ConsoleError::Csrf.error_response();
    }
    let key = serde_urlencoded::from_bytes::<SignInForm>(&form).map(|f| f.key.trim().to_owned()).unwrap_or_default();
    if let Some(old) = req.cookie(session::COOKIE) {
        sessions.end(old.value());
    }
    if state.engine.authenticate(&key).is_none() {
        let form = sign_in_form(Some("That key is not known. Check it and try again."));
        return page(StatusCode::UNAUTHORIZED, form);
    }
    let token = sessions.start(key);
    let mut res = redirect("/console/systems");
    let _ = res.add_cookie(&cookie(&req, token, None));
    res
}

/// A form that carries nothing but its CSRF token.
#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    req: HttpRequest,
    signed: Signed,
    form: web::Bytes,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, ConsoleError> {
    let presented = serde_urlencoded::from_bytes::<CsrfForm>(&form).map(|f| f.csrf).unwrap_or_default();
    signed.check_csrf(&presented)?;
    sessions.end(&signed.token);
    let mut res = redirect("/console/sign-in");
    let _ = res.add_cookie(&cookie(&req, String::new(), Some(Duration::ZERO)));
    Ok(res)
}

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, kind) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok().content_type(kind).insert_header((header::CACHE_CONTROL, "no-cache")).body(body)
}

/// A form's fields, or a page saying the form could not be read.
fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ConsoleError> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        ConsoleError::Api(crate::http::errors::ApiError::bad_request("invalid_form", format!("the form: {e}")))
    })
}
