//! Triggers: the list with search, creating one, and a trigger's page: what it is (for everyone), the
//! form that changes it and its deletion (for admins). The form's JSON goes to the engine exactly as
//! the API's body does, so a 422 names the same field; it is shown at the input of that name.

mod actions;
mod api_body;
mod basics;
mod conditions;
mod draft;
mod form;
mod inputs;
mod posted;
mod summary;
mod times;
mod webhook_calls;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::display::plural;
use super::forms::{admin_action, field_id};
use super::page::{action_button, csrf, form_error, page, redirect, refusal, shell, ConsoleError, FieldError};
use super::paging::{Offset, Pager};
use super::session::Signed;
use crate::domain::trigger::{Trigger, TriggerSpec};
use crate::domain::TriggerId;
use crate::engine::inputs::TriggerIn;
use crate::engine::EngineError;
use crate::http::errors::ApiError;
use crate::http::AppState;
use basics::debounce_text;
use draft::{place, Draft};
use form::Pickers;
use posted::PostedFields;
use summary::{methods_text, summary};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/triggers", web::get().to(list))
        .route("/triggers", web::post().to(create))
        .route("/triggers/new", web::get().to(new))
        .route("/triggers/{id}", web::get().to(show))
        .route("/triggers/{id}", web::post().to(save))
        .route("/triggers/{id}/delete", web::post().to(delete));
}

/// Triggers listed a page at a time (`tests/api/console_triggers.rs` makes one more than a page).
const PER_PAGE: usize = 50;

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

fn trigger_id(raw: &str) -> Result<TriggerId, ConsoleError> {
    Ok(TriggerId::parse(raw).ok_or_else(|| ApiError::not_found("trigger"))?)
}

fn path_of(id: &TriggerId) -> String {
    format!("/console/triggers/{id}")
}

async fn list(
    signed: Signed,
    search: web::Query<Search>,
    at: web::Query<Offset>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let q = search.q.trim();
    let query = Some(q.to_owned()).filter(|q| !q.is_empty());
    let found = state.engine.list_triggers(query, at.request(PER_PAGE)).await?;
    let pager = Pager {
        path: "/console/triggers",
        query: &[("q", q)],
        total: found.total,
        offset: at.offset,
        limit: PER_PAGE,
        noun: "trigger",
    };
    let body = shell(
        "Triggers",
        Some(&signed),
        html! {
            h1 { "Triggers" }
            @if signed.is_admin() { p { a href="/console/triggers/new" { "New trigger" } } }
            form.search method="get" action="/console/triggers" role="search" {
                label for="f-q" { "Search by name" }
                input id="f-q" name="q" type="search" value=(q);
                button type="submit" { "Search" }
            }
            (pager.render())
            @if found.total == 0 {
                p.empty { "No triggers yet." }
            } @else if !found.items.is_empty() {
                ul.triggers { @for t in &found.items { (list_item(t)) } }
            }
        },
    );
    Ok(page(StatusCode::OK, body))
}

/// A trigger in the list: its name, linked, and what it does in one line.
fn list_item(t: &Trigger) -> Markup {
    let s = &t.spec;
    let a = &s.actions;
    let conditions = s.conditions.comparisons.len() + s.conditions.time_dependents.len();
    html! {
        li {
            a href=(path_of(&t.id)) { (s.name) }
            br;
            small {
                span.webhook {
                    "webhook " @if s.enable_webhook { "on (" (methods_text(s)) ")" } @else { "off" }
                }
                " · debounce " span.debounce { (debounce_text(s.debounce_period)) }
                " · " (plural(conditions, "condition"))
                " · " (plural(a.functions.len() + a.mailers.len() + a.requests.len(), "action"))
            }
        }
    }
}

fn pickers(state: &AppState) -> Pickers {
    let drivers = state.engine.drivers();
    let mut modules: Vec<String> = drivers.all().map(|d| d.default_module_name.clone()).collect();
    let mut functions: Vec<String> = drivers.all().flat_map(|d| d.functions.iter().map(|f| f.name.clone())).collect();
    for v in [&mut modules, &mut functions] {
        v.sort();
        v.dedup();
    }
    Pickers { modules, functions }
}

/// The form with `draft`, to `action`, and the refusal above it: placed at its input when the form has one.
fn form_with_refusal(
    signed: &Signed,
    state: &AppState,
    action: &str,
    submit: &str,
    draft: &Draft,
    error: FieldError,
) -> Markup {
    let names = draft.field_names();
    let error = place(error, &names);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    html! {
        (notice(&error, &names))
        (form::form(csrf(signed), action, submit, draft, &error, &pickers(state)))
    }
}

/// The refusal above the (long) form: in full when no input holds its field, else a link to the
/// input where it is shown.
fn notice(error: &FieldError, names: &[&str]) -> Markup {
    html! {
        (form_error(error, names))
        @if let Some((field, _)) = error.as_ref().filter(|(f, _)| names.contains(&f.as_str())) {
            div.error role="alert" {
                p { "Nothing was saved: the server refused one field. "
                    a href=(format!("#{}", field_id(field))) { "Go to the field" } }
            }
        }
    }
}

/// The form of a new trigger, with what was typed and the refusal when there is one.
fn new_page(signed: &Signed, state: &AppState, draft: &Draft, error: FieldError) -> Markup {
    shell(
        "New trigger",
        Some(signed),
        html! {
            p.crumbs { a href="/console/triggers" { "Triggers" } " / " }
            h1 { "New trigger" }
            (form_with_refusal(signed, state, "/console/triggers", "Create trigger", draft, error))
        },
    )
}

async fn new(signed: Signed, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    signed.admin()?;
    Ok(page(StatusCode::OK, new_page(&signed, &state, &Draft::default(), None)))
}

/// What a posted form asks: to save the draft, or to see its schedules first.
enum Posted {
    Preview(Draft, FieldError),
    Save(Draft, Box<Result<TriggerIn, EngineError>>),
}

/// Reads a posted trigger form: CSRF first, then the admin check, then the draft and its JSON read
/// into the API's input type (a refusal names the field as the API's would).
fn read_form(signed: &Signed, body: &[u8]) -> Result<Posted, ConsoleError> {
    let fields = PostedFields::parse(body);
    signed.check_csrf(fields.get("csrf"))?;
    signed.admin()?;
    let draft = Draft::from_fields(&fields);
    if fields.get("intent") == "preview" {
        let error = draft.to_json().err().or_else(|| draft.previews().1);
        return Ok(Posted::Preview(draft, error));
    }
    let input = match draft.to_json() {
        Ok(json) => crate::domain::from_json::<TriggerIn>(&json).map_err(EngineError::from),
        Err((field, message)) => Err(EngineError::Invalid(crate::domain::ValidationError::new(field, message))),
    };
    Ok(Posted::Save(draft, Box::new(input)))
}

async fn create(signed: Signed, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    let (draft, input) = match read_form(&signed, &body)? {
        Posted::Preview(draft, error) => return Ok(page(StatusCode::OK, new_page(&signed, &state, &draft, error))),
        Posted::Save(draft, input) => (draft, input),
    };
    let created = match *input {
        Ok(input) => state.engine.create_trigger(input).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(trigger) => Ok(redirect(&path_of(&trigger.id))),
        Err(e) => {
            let error = Some(refusal(e)?);
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, new_page(&signed, &state, &draft, error)))
        }
    }
}

/// Where a trigger is applied: `(system id, system name)`.
async fn applied_in(state: &AppState, id: &TriggerId) -> Result<Vec<(String, String)>, ConsoleError> {
    let instances = state.engine.trigger_instances(id.clone()).await?;
    let mut systems = Vec::with_capacity(instances.len());
    for (instance, _) in instances {
        let system = instance.control_system_id;
        let name = match state.engine.get_system(system.clone()).await {
            Ok(s) => s.name,
            Err(_) => system.to_string(),
        };
        systems.push((system.to_string(), name));
    }
    Ok(systems)
}

/// A trigger's page: what it is, then (for admins) the form with `draft` and its refusal, and delete.
async fn trigger_page(
    signed: &Signed,
    state: &AppState,
    trigger: &Trigger,
    draft: Option<&Draft>,
    error: FieldError,
) -> Result<Markup, ConsoleError> {
    let systems = applied_in(state, &trigger.id).await?;
    let spec = &trigger.spec;
    let stored = Draft::from_spec(spec);
    let draft = draft.unwrap_or(&stored);
    let action = path_of(&trigger.id);
    Ok(shell(
        &spec.name,
        Some(signed),
        html! {
            p.crumbs { a href="/console/triggers" { "Triggers" } " / " }
            h1 { (spec.name) }
            @if !spec.description.is_empty() { p.description { (spec.description) } }
            p.id { "Id " code { (trigger.id) } }
            (summary(spec))
            h2 { "Applied in" }
            @if systems.is_empty() {
                p.empty { "No system uses this trigger." }
            } @else {
                ul.applied {
                    @for (id, name) in &systems { li { a href=(format!("/console/systems/{id}")) { (name) } } }
                }
            }
            @if signed.is_admin() {
                section aria-labelledby="edit" {
                    h2 id="edit" { "Change this trigger" }
                    (form_with_refusal(signed, state, &action, "Save trigger", draft, error))
                }
                (deletion(signed, &action, spec, systems.len()))
            }
        },
    ))
}

/// The delete button, whose confirmation says how many instances go with the trigger.
fn deletion(signed: &Signed, action: &str, spec: &TriggerSpec, instances: usize) -> Markup {
    let confirm = format!(
        "Delete the trigger “{}”? Its instances in every system are deleted with it ({}), with their runs.",
        spec.name,
        plural(instances, "instance"),
    );
    html! {
        section aria-labelledby="danger" {
            h2 id="danger" { "Delete" }
            p { "Deleting the trigger also deletes its instances in every system (" (plural(instances, "instance")) ")." }
            (action_button(signed, &format!("{action}/delete"), "Delete trigger", Some(&confirm)))
        }
    }
}

async fn show(signed: Signed, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    let trigger = state.engine.get_trigger(trigger_id(&id)?).await?;
    Ok(page(StatusCode::OK, trigger_page(&signed, &state, &trigger, None, None).await?))
}

async fn save(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted = read_form(&signed, &body)?;
    let id = trigger_id(&id)?;
    let trigger = state.engine.get_trigger(id.clone()).await?;
    let (draft, input) = match posted {
        Posted::Preview(draft, error) => {
            let body = trigger_page(&signed, &state, &trigger, Some(&draft), error).await?;
            return Ok(page(StatusCode::OK, body));
        }
        Posted::Save(draft, input) => (draft, input),
    };
    let saved = match *input {
        Ok(input) => state.engine.replace_trigger(id.clone(), input).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(trigger) => Ok(redirect(&path_of(&trigger.id))),
        Err(e) => {
            let error = Some(refusal(e)?);
            let body = trigger_page(&signed, &state, &trigger, Some(&draft), error).await?;
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, body))
        }
    }
}

async fn delete(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let id = admin_action(&signed, &body, &id, trigger_id)?;
    state.engine.delete_trigger(id).await?;
    Ok(redirect("/console/triggers"))
}
