//! Outbound webhook subscriptions: the list with a create form, and a subscription's page (its state,
//! edit, enable after a pause, send a test event, rotate the secret, delete) with its delivery log.
//!
//! The signing secret appears only in the answer to the POST that made it (create, rotate): it is
//! never kept in the session or put in a URL. Support keys read everything, URLs as
//! [`url_for_support`](crate::outbound::subscription::url_for_support) shows them, and are offered no
//! control.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::display::{log_page, plural, secret_once, shown_url, when};
use super::forms::{admin_action, not_saved, parse_system, refused, secret_field, CheckGroup, Fields, Systems};
use super::page::{
    action_button, checkbox, csrf, form_error, page, redirect, select, shell, text_field, ConsoleError, FieldError,
};
use super::paging::{Offset, Pager};
use super::session::Signed;
use crate::domain::ids::SubscriptionId;
use crate::domain::{parse_name, ValidationError};
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::outbound::delivery::DeliveryAttempt;
use crate::outbound::subscription::{
    AuthHeader, AuthHeaderName, AuthHeaderValue, EventFilter, EventPattern, EventType, NewSubscription, Subscription,
    SubscriptionPatch, WebhookUrl,
};
use crate::outbound::{catalog, Outbound, OutboundError};
use crate::store::Page;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks", web::get().to(list))
        .route("/webhooks", web::post().to(create))
        .route("/webhooks/{id}", web::get().to(show))
        .route("/webhooks/{id}", web::post().to(update))
        .route("/webhooks/{id}/enable", web::post().to(enable))
        .route("/webhooks/{id}/test", web::post().to(send_test))
        .route("/webhooks/{id}/rotate-secret", web::post().to(rotate_secret))
        .route("/webhooks/{id}/delete", web::post().to(delete));
}

/// Subscriptions listed, and delivery attempts shown on a subscription's page, a page at a time.
const PER_PAGE: usize = 200;

/// The create form's fields, by the names a refusal gives them.
const CREATE_FIELDS: [&str; 7] =
    ["name", "url", "events", "system_id", "auth_header.name", "auth_header.value", "enabled"];
/// The edit form's fields.
const EDIT_FIELDS: [&str; 5] = ["name", "url", "events", "system_id", "enabled"];

fn api(e: OutboundError) -> ConsoleError {
    ConsoleError::Api(e.into())
}

fn subscription_id(raw: &str) -> Result<SubscriptionId, ConsoleError> {
    SubscriptionId::parse(raw).ok_or_else(|| ApiError::not_found("webhook subscription").into())
}

fn path_of(id: &SubscriptionId) -> String {
    format!("/console/webhooks/{id}")
}

/// What a form sent (or a subscription holds), and the field a refusal named with its message.
struct Draft {
    name: String,
    url: String,
    events: Vec<String>,
    system_id: String,
    auth_name: String,
    enabled: bool,
    error: FieldError,
}

impl Draft {
    fn blank() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            events: Vec::new(),
            system_id: String::new(),
            auth_name: String::new(),
            enabled: true,
            error: None,
        }
    }

    /// The edit form of a stored subscription.
    fn of(sub: &Subscription) -> Self {
        Self {
            name: sub.name.clone(),
            url: sub.url.as_str().to_owned(),
            events: event_names(&sub.events).into_iter().map(str::to_owned).collect(),
            system_id: sub.system_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            auth_name: String::new(),
            enabled: sub.enabled,
            error: None,
        }
    }

    /// What a refused form sent (never the auth header's value), to show again.
    fn sent(fields: &Fields, error: (String, String)) -> Self {
        Self {
            name: fields.get("name").to_owned(),
            url: fields.get("url").to_owned(),
            events: fields.all("events"),
            system_id: fields.get("system_id").to_owned(),
            auth_name: fields.get("auth_header.name").to_owned(),
            enabled: fields.ticked("enabled"),
            error: Some(error),
        }
    }
}

fn event_names(filter: &EventFilter) -> Vec<&'static str> {
    Vec::<EventPattern>::from(filter.clone())
        .into_iter()
        .map(|p| match p {
            EventPattern::All => "*",
            EventPattern::Only(t) => t.as_str(),
        })
        .collect()
}

/// The events a subscription wants, in words.
fn events_text(filter: &EventFilter) -> String {
    let names = event_names(filter);
    names.iter().map(|n| if *n == "*" { "all events (*)" } else { n }).collect::<Vec<_>>().join(", ")
}

fn parse_events(chosen: &[String]) -> Result<EventFilter, ValidationError> {
    if chosen.is_empty() {
        return Err(ValidationError::new("events", "choose at least one event type, or All events"));
    }
    let patterns = chosen
        .iter()
        .map(|raw| match raw.as_str() {
            "*" => Ok(EventPattern::All),
            _ => EventType::parse(raw)
                .map(EventPattern::Only)
                .ok_or_else(|| ValidationError::new("events", format!("{raw} is not an event type"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    EventFilter::try_from(patterns).map_err(|m| ValidationError::new("events", m))
}

fn parse_url(raw: &str) -> Result<WebhookUrl, ValidationError> {
    if raw.trim().is_empty() {
        return Err(ValidationError::new("url", "is required"));
    }
    WebhookUrl::parse(raw.trim()).map_err(|m| ValidationError::new("url", m))
}

/// The create form as the service takes it, checked in the order the form shows its fields.
fn new_subscription(fields: &Fields) -> Result<NewSubscription, ValidationError> {
    let name = parse_name("name", fields.get("name"))?;
    let url = parse_url(fields.get("url"))?;
    let events = parse_events(&fields.all("events"))?;
    let system_id = parse_system(fields.get("system_id"))?;
    let (header, value) = (fields.get("auth_header.name").trim(), fields.get("auth_header.value"));
    let auth_header = match (header.is_empty(), value.is_empty()) {
        (true, true) => None,
        (false, true) => return Err(ValidationError::new("auth_header.value", "is required with a header name")),
        (true, false) => return Err(ValidationError::new("auth_header.name", "is required with a header value")),
        (false, false) => Some(AuthHeader {
            name: AuthHeaderName::try_from(header.to_owned())
                .map_err(|m| ValidationError::new("auth_header.name", m))?,
            value: AuthHeaderValue::try_from(value.to_owned())
                .map_err(|m| ValidationError::new("auth_header.value", m))?,
        }),
    };
    Ok(NewSubscription { name, url, events, system_id, enabled: fields.ticked("enabled"), auth_header })
}

/// The edit form as a PATCH: it sets every field it shows (the auth header stays as it is).
fn patch_of(fields: &Fields) -> Result<SubscriptionPatch, ValidationError> {
    let name = parse_name("name", fields.get("name"))?;
    Ok(SubscriptionPatch {
        name: Some(name),
        url: Some(parse_url(fields.get("url"))?),
        events: Some(parse_events(&fields.all("events"))?),
        system_id: Some(parse_system(fields.get("system_id"))?),
        enabled: Some(fields.ticked("enabled")),
        auth_header: None,
    })
}

async fn list(
    signed: Signed,
    at: web::Query<Offset>,
    state: web::Data<AppState>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ConsoleError> {
    let body = list_page(&signed, &state, &outbound, &Draft::blank(), *at).await?;
    Ok(page(StatusCode::OK, body))
}

async fn list_page(
    signed: &Signed,
    state: &AppState,
    outbound: &Outbound,
    draft: &Draft,
    at: Offset,
) -> Result<Markup, ConsoleError> {
    let found = outbound.list(None, at.request(PER_PAGE)).await.map_err(api)?;
    let systems = Systems::load(state).await?;
    let pager = Pager {
        path: "/console/webhooks",
        query: &[],
        total: found.total,
        offset: at.offset,
        limit: PER_PAGE,
        noun: "subscription",
    };
    Ok(shell(
        "Outbound webhooks",
        Some(signed),
        html! {
            h1 { "Outbound webhooks" }
            (not_saved(&draft.error, &CREATE_FIELDS))
            p { "Subscriptions receive the engine's events as signed POSTs, in order, retried after failures." }
            (pager.render())
            @if found.total == 0 {
                p.empty { "No subscriptions yet." }
            } @else if !found.items.is_empty() {
                table {
                    thead { tr { th scope="col" { "Subscription" } th scope="col" { "Events" } th scope="col" { "State" } } }
                    tbody {
                        @for sub in &found.items {
                            tr {
                                td { a href=(path_of(&sub.id)) { (sub.name) } br; code { (shown_url(signed, sub.url.as_str())) } }
                                td { (events_text(&sub.events)) }
                                td { (state_of(sub)) }
                            }
                        }
                    }
                }
            }
            @if signed.is_admin() { (create_form(signed, &systems, draft)) }
        },
    ))
}

/// Enabled, disabled or paused (since when, and why).
fn state_of(sub: &Subscription) -> Markup {
    html! {
        @if sub.enabled { @if sub.paused_at.is_none() { "Enabled" } } @else { "Disabled" }
        @if let Some(at) = sub.paused_at {
            @if !sub.enabled { ", " }
            strong { "Paused" } " since " (when(at))
            " after " (plural(sub.consecutive_failures as usize, "failure"))
            @if let Some(reason) = &sub.last_failure_reason { ": " span.reason { (reason) } }
        }
    }
}

/// Check boxes for every event type of the catalogue, with "All events" first.
fn events_fieldset(chosen: &[String], error: &FieldError) -> Markup {
    let types = catalog::event_types();
    let choices: Vec<(&str, &str)> =
        std::iter::once(("*", "All events (*)")).chain(types.iter().map(|t| (t.event, t.event))).collect();
    CheckGroup { name: "events", legend: "Events", choices: &choices, class: Some("events") }.render(chosen, error)
}

fn create_form(signed: &Signed, systems: &Systems, draft: &Draft) -> Markup {
    html! {
        section.card aria-labelledby="new-subscription" {
            h2 id="new-subscription" { "New subscription" }
            (form_error(&draft.error, &CREATE_FIELDS))
            form method="post" action="/console/webhooks" {
                (csrf(signed))
                (text_field("name", "Name", &draft.name, &draft.error))
                (text_field("url", "URL", &draft.url, &draft.error))
                (events_fieldset(&draft.events, &draft.error))
                (select("system_id", "System", &systems.options(), &draft.system_id, &draft.error))
                p { small { "An extra header every delivery carries, for receivers that want a credential of their own \
                    (optional). Its value is never shown again." } }
                (text_field("auth_header.name", "Auth header name", &draft.auth_name, &draft.error))
                (secret_field("auth_header.value", "Auth header value", &draft.error))
                (checkbox("enabled", "Enabled", draft.enabled))
                button type="submit" { "Create subscription" }
            }
        }
    }
}

async fn create(
    signed: Signed,
    body: web::Bytes,
    state: web::Data<AppState>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::for_admin(&body, &signed)?;
    let created = async { Ok::<_, ApiError>(outbound.create(new_subscription(&fields)?).await?) }.await;
    match created {
        Ok(sub) => {
            let secret = sub.secret.expose();
            let view = View { secret: Some(("Signing secret", secret)), ..View::default() };
            let body = subscription_page(&signed, &state, &outbound, &sub, view).await?;
            Ok(page(StatusCode::CREATED, body))
        }
        Err(e) => {
            let draft = Draft::sent(&fields, refused(e, &CREATE_FIELDS)?);
            let body = list_page(&signed, &state, &outbound, &draft, Offset::default()).await?;
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, body))
        }
    }
}

#[derive(Deserialize)]
struct ShowQuery {
    /// The event id of a test just sent, whose outcome the page announces.
    #[serde(default)]
    tested: String,
}

async fn show(
    signed: Signed,
    id: web::Path<String>,
    at: web::Query<Offset>,
    req: HttpRequest,
    state: web::Data<AppState>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ConsoleError> {
    let sub = outbound.get(subscription_id(&id)?).await.map_err(api)?;
    // A query that cannot be read announces nothing.
    let tested = serde_urlencoded::from_str::<ShowQuery>(req.query_string()).map(|q| q.tested).unwrap_or_default();
    let view = View { tested: Some(tested).filter(|t| !t.is_empty()), log_at: *at, ..View::default() };
    Ok(page(StatusCode::OK, subscription_page(&signed, &state, &outbound, &sub, view).await?))
}

/// What a subscription's page shows besides the subscription.
#[derive(Default)]
struct View {
    /// A secret just made, shown this once: its label and value.
    secret: Option<(&'static str, String)>,
    /// The edit form as a refused POST sent it.
    draft: Option<Draft>,
    tested: Option<String>,
    /// Which page of the delivery log.
    log_at: Offset,
}

async fn subscription_page(
    signed: &Signed,
    state: &AppState,
    outbound: &Outbound,
    sub: &Subscription,
    view: View,
) -> Result<Markup, ConsoleError> {
    let log = outbound.deliveries(sub.id.clone(), view.log_at.request(PER_PAGE)).await.map_err(api)?;
    let systems = Systems::load(state).await?;
    let tested = view.tested.as_deref().and_then(|t| log.items.iter().find(|a| a.event_id == t));
    let draft = view.draft.unwrap_or_else(|| Draft::of(sub));
    Ok(shell(
        &sub.name,
        Some(signed),
        html! {
            p.crumbs { a href="/console/webhooks" { "Outbound webhooks" } " / " }
            h1 { (sub.name) }
            (not_saved(&draft.error, &EDIT_FIELDS))
            @if let Some((label, secret)) = &view.secret {
                (secret_once(label, secret, &path_of(&sub.id)))
            }
            @if let Some(attempt) = tested {
                div.result role="status" { p { "Test event sent: " (outcome(attempt)) "." } }
            }
            (facts(signed, sub, &systems))
            @if signed.is_admin() { (controls(signed, sub)) }
            h2 id="deliveries" { "Delivery log" }
            (delivery_log(sub, &log, view.log_at))
            @if signed.is_admin() { (edit_form(signed, sub, &systems, &draft)) }
        },
    ))
}

/// What a subscription is.
fn facts(signed: &Signed, sub: &Subscription, systems: &Systems) -> Markup {
    html! {
        dl.facts {
            dt { "Id" } dd { code { (sub.id) } }
            dt { "URL" } dd { code { (shown_url(signed, sub.url.as_str())) } }
            dt { "Events" } dd { (events_text(&sub.events)) }
            dt { "System" } dd { (systems.show(sub.system_id.as_ref())) }
            dt { "Auth header" } dd {
                @match &sub.auth_header {
                    Some(h) => { code { (h.name.as_str()) } " (its value is never shown)" }
                    None => { "None" }
                }
            }
            dt { "State" } dd { (state_of(sub)) }
            dt { "Created" } dd { (when(sub.created_at)) }
            dt { "Updated" } dd { (when(sub.updated_at)) }
        }
    }
}

/// An admin's buttons: enable when deliveries are held, send a test, rotate the secret, delete.
fn controls(signed: &Signed, sub: &Subscription) -> Markup {
    let path = path_of(&sub.id);
    html! {
        @if sub.paused_at.is_some() || !sub.enabled {
            section.card aria-labelledby="resume" {
                h2 id="resume" { "Deliveries are held" }
                @if let (Some(at), reason) = (sub.paused_at, &sub.last_failure_reason) {
                    p { "Paused at " (when(at)) " after " (plural(sub.consecutive_failures as usize, "consecutive failure")) ": "
                        (reason.as_deref().unwrap_or("no reason was recorded")) }
                    p { "Events keep queueing while it is paused. Enabling it delivers them, oldest first." }
                } @else {
                    p { "It is disabled: no events are queued for it." }
                }
                (action_button(signed, &format!("{path}/enable"), "Enable", None))
            }
        }
        section aria-labelledby="actions" {
            h2 id="actions" { "Actions" }
            (action_button(signed, &format!("{path}/test"), "Send test event", None))
            (action_button(signed, &format!("{path}/rotate-secret"), "Rotate secret",
                Some("Rotate the signing secret? The new one is shown once; the old one keeps signing for the grace period.")))
            (action_button(signed, &format!("{path}/delete"), "Delete subscription",
                Some("Delete this subscription? Its queued events and delivery log go with it.")))
        }
    }
}

/// One page of the delivery attempts, newest first, with links to the other pages.
fn delivery_log(sub: &Subscription, log: &Page<DeliveryAttempt>, at: Offset) -> Markup {
    let path = path_of(&sub.id);
    let pager =
        Pager { path: &path, query: &[], total: log.total, offset: at.offset, limit: PER_PAGE, noun: "attempt" };
    log_page(&pager, &log.items, ["Time", "Event", "Outcome"], attempt_row, "No delivery attempted yet.")
}

fn attempt_row(attempt: &DeliveryAttempt) -> Markup {
    html! {
        tr {
            td { (when(attempt.attempted_at)) }
            td { code { (attempt.event_type) } @if attempt.attempt > 1 { " (attempt " (attempt.attempt) ")" } }
            td {
                @match attempt.status_code { Some(code) => { "HTTP " (code) } None => { "no answer" } }
                " · " (if attempt.success { "delivered" } else { "failed" })
                " · " (attempt.duration_ms) " ms"
                @if let Some(error) = &attempt.error { br; (error) }
            }
        }
    }
}

/// An attempt's outcome in words.
fn outcome(attempt: &DeliveryAttempt) -> String {
    let status = attempt.status_code.map(|c| format!("HTTP {c}")).unwrap_or_else(|| "no answer".to_owned());
    match (attempt.success, &attempt.error) {
        (true, _) => format!("delivered ({status} in {} ms)", attempt.duration_ms),
        (false, Some(error)) => format!("failed after {} ms: {error}", attempt.duration_ms),
        (false, None) => format!("failed: the receiver answered {status}"),
    }
}

fn edit_form(signed: &Signed, sub: &Subscription, systems: &Systems, draft: &Draft) -> Markup {
    html! {
        section.card aria-labelledby="edit" {
            h2 id="edit" { "Edit" }
            (form_error(&draft.error, &EDIT_FIELDS))
            form method="post" action=(path_of(&sub.id)) {
                (csrf(signed))
                (text_field("name", "Name", &draft.name, &draft.error))
                (text_field("url", "URL", &draft.url, &draft.error))
                (events_fieldset(&draft.events, &draft.error))
                (select("system_id", "System", &systems.options(), &draft.system_id, &draft.error))
                (checkbox("enabled", "Enabled", draft.enabled))
                button type="submit" { "Save changes" }
            }
        }
    }
}

async fn update(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::for_admin(&body, &signed)?;
    let id = subscription_id(&id)?;
    let updated = async { Ok::<_, ApiError>(outbound.update(id.clone(), patch_of(&fields)?).await?) }.await;
    match updated {
        Ok(sub) => Ok(redirect(&path_of(&sub.id))),
        Err(e) => {
            let draft = Draft::sent(&fields, refused(e, &EDIT_FIELDS)?);
            let sub = outbound.get(id).await.map_err(api)?;
            let view = View { draft: Some(draft), ..View::default() };
            let body = subscription_page(&signed, &state, &outbound, &sub, view).await?;
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, body))
        }
    }
}

async fn enable(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ConsoleError> {
    let id = admin_action(&signed, &body, &id, subscription_id)?;
    let sub = outbound.enable(id).await.map_err(api)?;
    Ok(redirect(&path_of(&sub.id)))
}

async fn send_test(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ConsoleError> {
    let id = admin_action(&signed, &body, &id, subscription_id)?;
    let attempt = outbound.send_test(id.clone()).await.map_err(api)?;
    let tested: String = form_urlencoded::byte_serialize(attempt.event_id.as_bytes()).collect();
    Ok(redirect(&format!("{}?tested={tested}#deliveries", path_of(&id))))
}

async fn rotate_secret(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ConsoleError> {
    let id = admin_action(&signed, &body, &id, subscription_id)?;
    let sub = outbound.rotate_secret(id).await.map_err(api)?;
    let view = View { secret: Some(("New signing secret", sub.secret.expose())), ..View::default() };
    Ok(page(StatusCode::OK, subscription_page(&signed, &state, &outbound, &sub, view).await?))
}

async fn delete(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    outbound: web::Data<Outbound>,
) -> Result<HttpResponse, ConsoleError> {
    let id = admin_action(&signed, &body, &id, subscription_id)?;
    outbound.delete(id).await.map_err(api)?;
    Ok(redirect("/console/webhooks"))
}
