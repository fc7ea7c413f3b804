//! Triggers: the list with search, creating one, and a trigger's page: what it is (for everyone), the
//! form that changes it and its deletion (for admins). The form's JSON goes to the engine exactly as
//! the API's body does, so a 422 names the same field; it is shown at the input of that name.

#[path = "trigger_form.rs"]
mod trigger_form;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{action_button, csrf, form_error, page, redirect, refusal, shell, ConsoleError, FieldError};
use super::session::Signed;
use crate::domain::trigger::{Operand, TimeDependent, Trigger, TriggerSpec};
use crate::domain::TriggerId;
use crate::engine::inputs::TriggerIn;
use crate::engine::EngineError;
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::store::PageRequest;
use trigger_form::{debounce_text, next_five, place, Draft, Fields, Pickers};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/triggers", web::get().to(list))
        .route("/triggers", web::post().to(create))
        .route("/triggers/new", web::get().to(new))
        .route("/triggers/{id}", web::get().to(show))
        .route("/triggers/{id}", web::post().to(save))
        .route("/triggers/{id}/delete", web::post().to(delete));
}

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

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn methods_text(spec: &TriggerSpec) -> String {
    spec.supported_methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
}

fn plural(n: usize, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

async fn list(
    signed: Signed,
    search: web::Query<Search>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let q = search.q.trim();
    let query = Some(q.to_owned()).filter(|q| !q.is_empty());
    let found = state.engine.list_triggers(query, PageRequest { offset: 0, limit: 200 }).await?;
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
            p.count { (plural(found.total, "trigger")) }
            @if found.items.is_empty() {
                p.empty { "No triggers yet." }
            } @else {
                ul.triggers {
                    @for t in &found.items {
                        @let s = &t.spec;
                        @let a = &s.actions;
                        li {
                            a href=(path_of(&t.id)) { (s.name) }
                            br;
                            small {
                                span.webhook {
                                    "webhook " @if s.enable_webhook { "on (" (methods_text(s)) ")" } @else { "off" }
                                }
                                " · debounce " span.debounce { (debounce_text(s.debounce_period)) }
                                @let conditions = s.conditions.comparisons.len() + s.conditions.time_dependents.len();
                                " · " (plural(conditions, "condition"))
                                " · " (plural(a.functions.len() + a.mailers.len() + a.requests.len(), "action"))
                            }
                        }
                    }
                }
            }
        },
    );
    Ok(page(StatusCode::OK, body))
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

/// The form of a new trigger, with what was typed and the refusal when there is one.
fn new_page(signed: &Signed, state: &AppState, draft: &Draft, error: FieldError) -> Markup {
    let names = draft.field_names();
    let error = place(error, &names);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    shell(
        "New trigger",
        Some(signed),
        html! {
            p.crumbs { a href="/console/triggers" { "Triggers" } " / " }
            h1 { "New trigger" }
            (notice(&error, &names))
            (trigger_form::form(csrf(signed), "/console/triggers", "Create trigger", draft, &error, &pickers(state)))
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
    let fields = Fields::parse(body);
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

/// The refusal above the (long) form: in full when no input holds its field, else a link to the
/// input where it is shown.
fn notice(error: &FieldError, names: &[&str]) -> Markup {
    html! {
        (form_error(error, names))
        @if let Some((field, _)) = error.as_ref().filter(|(f, _)| names.contains(&f.as_str())) {
            div.error role="alert" {
                p { "Nothing was saved: the server refused one field. "
                    a href=(format!("#{}", trigger_form::field_id(field))) { "Go to the field" } }
            }
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
    let names = draft.field_names();
    let error = place(error, &names);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let action = path_of(&trigger.id);
    let confirm = format!(
        "Delete the trigger “{}”? Its instances in every system are deleted with it ({}), with their runs.",
        spec.name,
        plural(systems.len(), "instance"),
    );
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
                    (notice(&error, &names))
                    (trigger_form::form(csrf(signed), &action, "Save trigger", draft, &error, &pickers(state)))
                }
                section aria-labelledby="danger" {
                    h2 id="danger" { "Delete" }
                    p {
                        "Deleting the trigger also deletes its instances in every system ("
                        (plural(systems.len(), "instance")) ")."
                    }
                    (action_button(signed, &format!("{action}/delete"), "Delete trigger", Some(&confirm)))
                }
            }
        },
    ))
}

fn operand_text(operand: &Operand) -> Markup {
    match operand {
        Operand::Status(s) => html! {
            code { (s.module) "." (s.status) @for k in &s.keys { " → " (k) } }
        },
        Operand::Constant(c) => html! { code { (c.0) } },
    }
}

fn operator_text(operator: crate::domain::trigger::Operator) -> String {
    let value = serde_json::to_value(operator).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    trigger_form::OPERATORS.iter().find(|(v, _)| *v == value).map_or(value, |(_, text)| (*text).to_owned())
}

/// What a trigger is, read only.
fn summary(spec: &TriggerSpec) -> Markup {
    let c = &spec.conditions;
    let a = &spec.actions;
    html! {
        dl.summary {
            dt { "Webhook" } dd id="summary-webhook" { @if spec.enable_webhook { "enabled" } @else { "disabled" } }
            dt { "Supported methods" } dd id="summary-methods" { (methods_text(spec)) }
            dt { "Debounce" } dd id="summary-debounce" { (debounce_text(spec.debounce_period)) }
            dt { "Any match" } dd {
                (yes_no(spec.any_match)) " — "
                @if spec.any_match { "fires when any condition holds" } @else { "fires when all conditions hold" }
            }
            dt { "Important" } dd { (yes_no(spec.important)) }
        }
        h2 { "Conditions" }
        @if c.comparisons.is_empty() && c.time_dependents.is_empty() && !spec.enable_webhook {
            p.empty { "No conditions: this trigger never fires." }
        }
        @if spec.enable_webhook { p { "A call to an instance's webhook URL." } }
        @if !c.comparisons.is_empty() {
            h3 { "Comparisons" }
            ol {
                @for cmp in &c.comparisons {
                    li { (operand_text(&cmp.left)) " " (operator_text(cmp.operator)) " " (operand_text(&cmp.right)) }
                }
            }
        }
        @if !c.time_dependents.is_empty() {
            h3 { "Time conditions" }
            ol {
                @for (i, td) in c.time_dependents.iter().enumerate() {
                    li {
                        @match td {
                            TimeDependent::At { time } => {
                                "Once at " (at_text(*time))
                            }
                            TimeDependent::Cron { cron, timezone } => {
                                @let zone = timezone.as_deref().filter(|t| !t.is_empty()).unwrap_or("UTC");
                                "Cron " code { (cron) } " in " (zone)
                                @if let Ok(times) = next_five(cron, timezone.as_deref().unwrap_or(""), "") {
                                    (trigger_form::next_times(&format!("summary-next-{i}"), &times))
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Actions" }
        @if a.is_empty() { p.empty { "No actions." } }
        @if !a.functions.is_empty() {
            h3 { "Functions" }
            ol {
                @for f in &a.functions {
                    li {
                        code { (f.module) "." (f.method) }
                        @if !f.args.is_empty() { " with " code { (serde_json::Value::Object(f.args.clone())) } }
                    }
                }
            }
        }
        @if !a.mailers.is_empty() {
            h3 { "Emails" }
            ol { @for m in &a.mailers { li { "To " (m.emails.join(", ")) ": " q { (m.content) } } } }
        }
        @if !a.requests.is_empty() {
            h3 { "HTTP requests" }
            ol {
                @for r in &a.requests {
                    li {
                        (r.method) " " code { (r.url) }
                        @if !r.headers.is_empty() {
                            "; headers " (r.headers.keys().cloned().collect::<Vec<_>>().join(", "))
                        }
                        @if let Some(body) = &r.body { "; body " code { (body) } }
                        "; timeout " (r.timeout_ms()) " ms"
                    }
                }
            }
        }
        h2 { "Webhook calls" }
        dl {
            dt { "Payload filter" }
            dd { @match &spec.webhook_filter {
                Some(f) => code { (serde_json::to_string(f).unwrap_or_default()) },
                None => "none: every accepted call counts",
            } }
            dt { "Signature verification" }
            dd { @match &spec.webhook_verification {
                Some(v) => code { (serde_json::to_string(v).unwrap_or_default()) },
                None => "none: only the URL secret is checked",
            } }
        }
    }
}

fn at_text(epoch_seconds: i64) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_opt(epoch_seconds, 0)
        .single()
        .map_or_else(|| epoch_seconds.to_string(), |t| t.format("%a %Y-%m-%d %H:%M:%S UTC").to_string())
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

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn delete(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let input: CsrfOnly = super::form(&body)?;
    signed.check_csrf(&input.csrf)?;
    signed.admin()?;
    state.engine.delete_trigger(trigger_id(&id)?).await?;
    Ok(redirect("/console/triggers"))
}
