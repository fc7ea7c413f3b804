//! Callouts: the list with a create form, and a callout's page (its settings, edit, rotate the secret,
//! delete) with its log. The signing secret appears only in the answer to the POST that made it;
//! support keys read everything, URLs as support keys see them, and are offered no control.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::display::{log_page, secret_once, shown_url, when, when_ms};
use super::forms::{admin_action, list_items, not_saved, parse_system, refused, CheckGroup, Fields, Systems};
use super::page::{
    action_button, checkbox, csrf, form_error, page, redirect, select, shell, text_field, ConsoleError, FieldError,
};
use super::paging::{Offset, Pager};
use super::session::Signed;
use crate::domain::callout::{Callout, CalloutMatch, CalloutOn, CalloutSpec, FailurePolicy, ModulePattern};
use crate::domain::callout_input::CalloutPatch;
use crate::domain::callout_log::LogEntry;
use crate::domain::ids::CalloutId;
use crate::domain::{parse_http_url, parse_name, TriggerId, ValidationError};
use crate::http::errors::ApiError;
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/callouts", web::get().to(list))
        .route("/callouts", web::post().to(create))
        .route("/callouts/{id}", web::get().to(show))
        .route("/callouts/{id}", web::post().to(update))
        .route("/callouts/{id}/rotate-secret", web::post().to(rotate_secret))
        .route("/callouts/{id}/delete", web::post().to(delete));
}

/// Callouts listed, and log entries shown on a callout's page, a page at a time.
const PER_PAGE: usize = 200;

/// The form's fields, by the names a refusal gives them.
const FIELDS: [&str; 10] = [
    "name",
    "url",
    "on",
    "system_id",
    "match.modules",
    "match.methods",
    "match.triggers",
    "timeout_ms",
    "failure_policy",
    "enabled",
];

fn callout_id(raw: &str) -> Result<CalloutId, ConsoleError> {
    CalloutId::parse(raw).ok_or_else(|| ApiError::not_found("callout").into())
}

fn path_of(id: &CalloutId) -> String {
    format!("/console/callouts/{id}")
}

fn on_name(on: CalloutOn) -> &'static str {
    match on {
        CalloutOn::Exec => "exec",
        CalloutOn::Actions => "actions",
    }
}

fn policy_name(policy: FailurePolicy) -> &'static str {
    match policy {
        FailurePolicy::Deny => "deny",
        FailurePolicy::Allow => "allow",
    }
}

/// What a form sent (or a callout holds), and the field a refusal named with its message.
struct Draft {
    name: String,
    url: String,
    on: Vec<String>,
    system_id: String,
    modules: String,
    methods: String,
    triggers: String,
    timeout_ms: String,
    failure_policy: String,
    enabled: bool,
    error: FieldError,
}

impl Draft {
    fn blank() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            on: vec!["exec".to_owned()],
            system_id: String::new(),
            modules: String::new(),
            methods: String::new(),
            triggers: String::new(),
            timeout_ms: crate::domain::callout::DEFAULT_TIMEOUT_MS.to_string(),
            failure_policy: "deny".to_owned(),
            enabled: true,
            error: None,
        }
    }

    fn of(callout: &Callout) -> Self {
        let s = &callout.spec;
        Self {
            name: s.name.clone(),
            url: s.url.clone(),
            on: s.on.iter().map(|o| on_name(*o).to_owned()).collect(),
            system_id: s.system_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            modules: modules_of(&s.matching).join(", "),
            methods: s.matching.methods.join(", "),
            triggers: s.matching.triggers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            timeout_ms: s.timeout_ms.to_string(),
            failure_policy: policy_name(s.failure_policy).to_owned(),
            enabled: s.enabled,
            error: None,
        }
    }

    fn sent(fields: &Fields, error: (String, String)) -> Self {
        Self {
            name: fields.get("name").to_owned(),
            url: fields.get("url").to_owned(),
            on: fields.all("on"),
            system_id: fields.get("system_id").to_owned(),
            modules: fields.get("match.modules").to_owned(),
            methods: fields.get("match.methods").to_owned(),
            triggers: fields.get("match.triggers").to_owned(),
            timeout_ms: fields.get("timeout_ms").to_owned(),
            failure_policy: fields.get("failure_policy").to_owned(),
            enabled: fields.ticked("enabled"),
            error: Some(error),
        }
    }
}

fn modules_of(matching: &CalloutMatch) -> Vec<String> {
    matching.modules.iter().cloned().map(String::from).collect()
}

/// The form as a callout's settings, checked in the order the form shows its fields.
fn spec_of(fields: &Fields) -> Result<CalloutSpec, ValidationError> {
    let name = parse_name("name", fields.get("name"))?;
    let url = fields.get("url").trim().to_owned();
    parse_http_url(&url).map_err(|m| ValidationError::new("url", m))?;
    let on = fields
        .all("on")
        .iter()
        .map(|raw| match raw.as_str() {
            "exec" => Ok(CalloutOn::Exec),
            "actions" => Ok(CalloutOn::Actions),
            _ => Err(ValidationError::new("on", format!("{raw} is neither exec nor actions"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let system_id = parse_system(fields.get("system_id"))?;
    let modules = list_items(fields.get("match.modules"))
        .iter()
        .map(|raw| {
            ModulePattern::parse(raw)
                .map_err(|e| ValidationError::new("match.modules", format!("{raw}: {}", e.message)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let methods = list_items(fields.get("match.methods"));
    let triggers = list_items(fields.get("match.triggers"))
        .iter()
        .map(|raw| {
            TriggerId::parse(raw)
                .ok_or_else(|| ValidationError::new("match.triggers", format!("{raw} is not a trigger id (trigger-…)")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let timeout_ms = fields
        .get("timeout_ms")
        .trim()
        .parse()
        .map_err(|_| ValidationError::new("timeout_ms", "must be a whole number of milliseconds"))?;
    let failure_policy = match fields.get("failure_policy") {
        "deny" => FailurePolicy::Deny,
        "allow" => FailurePolicy::Allow,
        _ => return Err(ValidationError::new("failure_policy", "must be deny or allow")),
    };
    CalloutSpec {
        name,
        url,
        on,
        system_id,
        matching: CalloutMatch { modules, methods, triggers },
        timeout_ms,
        failure_policy,
        enabled: fields.ticked("enabled"),
    }
    .validated()
}

fn on_text(spec: &CalloutSpec) -> String {
    spec.on.iter().map(|o| on_name(*o)).collect::<Vec<_>>().join(", ")
}

async fn list(
    signed: Signed,
    at: web::Query<Offset>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Ok(page(StatusCode::OK, list_page(&signed, &state, &Draft::blank(), *at).await?))
}

async fn list_page(signed: &Signed, state: &AppState, draft: &Draft, at: Offset) -> Result<Markup, ConsoleError> {
    let found = state.engine.list_callouts(at.request(PER_PAGE)).await?;
    let systems = Systems::load(state).await?;
    let pager = Pager {
        path: "/console/callouts",
        query: &[],
        total: found.total,
        offset: at.offset,
        limit: PER_PAGE,
        noun: "callout",
    };
    Ok(shell(
        "Callouts",
        Some(signed),
        html! {
            h1 { "Callouts" }
            (not_saved(&draft.error, &FIELDS))
            p { "Outside services asked, before an exec or a run of actions goes ahead, whether it may." }
            (pager.render())
            @if found.total == 0 {
                p.empty { "No callouts yet." }
            } @else if !found.items.is_empty() {
                table {
                    thead { tr { th scope="col" { "Callout" } th scope="col" { "Asked before" } th scope="col" { "State" } } }
                    tbody {
                        @for callout in &found.items {
                            tr {
                                td { a href=(path_of(&callout.id)) { (callout.spec.name) } br; code { (shown_url(signed, &callout.spec.url)) } }
                                td { (on_text(&callout.spec)) br; (systems.show(callout.spec.system_id.as_ref())) }
                                td { (if callout.spec.enabled { "Enabled" } else { "Disabled" }) }
                            }
                        }
                    }
                }
            }
            @if signed.is_admin() {
                section.card aria-labelledby="new-callout" {
                    h2 id="new-callout" { "New callout" }
                    (callout_form(signed, "/console/callouts", &systems, draft, "Create callout"))
                }
            }
        },
    ))
}

/// The create and the edit form: the same fields.
fn callout_form(signed: &Signed, action: &str, systems: &Systems, draft: &Draft, submit: &str) -> Markup {
    let error = &draft.error;
    let on = CheckGroup {
        name: "on",
        legend: "Asked before",
        choices: &[("exec", "An exec (a webhook exec or an admin module call)"), ("actions", "A run of actions")],
        class: None,
    };
    let policies = [("deny", "Deny the call"), ("allow", "Allow the call")].map(|(v, t)| (v.to_owned(), t.to_owned()));
    html! {
        (form_error(error, &FIELDS))
        form method="post" action=(action) {
            (csrf(signed))
            (text_field("name", "Name", &draft.name, error))
            (text_field("url", "URL", &draft.url, error))
            (on.render(&draft.on, error))
            (select("system_id", "System", &systems.options(), &draft.system_id, error))
            p { small { "Each list is comma-separated; an empty list does not narrow. Modules are references, \
                where * stands for any run of characters (Display_*)." } }
            (text_field("match.modules", "Match modules", &draft.modules, error))
            (text_field("match.methods", "Match methods", &draft.methods, error))
            (text_field("match.triggers", "Match triggers", &draft.triggers, error))
            (text_field("timeout_ms", "Timeout (ms, 100 to 10000)", &draft.timeout_ms, error))
            (select("failure_policy", "When it cannot be asked", &policies, &draft.failure_policy, error))
            (checkbox("enabled", "Enabled", draft.enabled))
            button type="submit" { (submit) }
        }
    }
}

async fn create(signed: Signed, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::for_admin(&body, &signed)?;
    let created = async { Ok::<_, ApiError>(state.engine.create_callout(spec_of(&fields)?).await?) }.await;
    match created {
        Ok(callout) => {
            let view = View { secret: Some(("Signing secret", callout.secret.expose())), ..View::default() };
            Ok(page(StatusCode::CREATED, callout_page(&signed, &state, &callout, view).await?))
        }
        Err(e) => {
            let draft = Draft::sent(&fields, refused(e, &FIELDS)?);
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, list_page(&signed, &state, &draft, Offset::default()).await?))
        }
    }
}

async fn show(
    signed: Signed,
    id: web::Path<String>,
    at: web::Query<Offset>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let callout = state.engine.get_callout(callout_id(&id)?).await?;
    let view = View { log_at: *at, ..View::default() };
    Ok(page(StatusCode::OK, callout_page(&signed, &state, &callout, view).await?))
}

/// What a callout's page shows besides the callout.
#[derive(Default)]
struct View {
    /// A secret just made, shown this once: its label and value.
    secret: Option<(&'static str, String)>,
    /// The edit form as a refused POST sent it.
    draft: Option<Draft>,
    /// Which page of the log.
    log_at: Offset,
}

async fn callout_page(
    signed: &Signed,
    state: &AppState,
    callout: &Callout,
    view: View,
) -> Result<Markup, ConsoleError> {
    let log = state.engine.callout_log(callout.id.clone(), view.log_at.request(PER_PAGE)).await?;
    let systems = Systems::load(state).await?;
    let draft = view.draft.unwrap_or_else(|| Draft::of(callout));
    let path = path_of(&callout.id);
    let at = view.log_at;
    let pager =
        Pager { path: &path, query: &[], total: log.total, offset: at.offset, limit: PER_PAGE, noun: "request" };
    Ok(shell(
        &callout.spec.name,
        Some(signed),
        html! {
            p.crumbs { a href="/console/callouts" { "Callouts" } " / " }
            h1 { (callout.spec.name) }
            (not_saved(&draft.error, &FIELDS))
            @if let Some((label, secret)) = &view.secret {
                (secret_once(label, secret, &path))
            }
            (facts(signed, callout, &systems))
            @if signed.is_admin() {
                section aria-labelledby="actions" {
                    h2 id="actions" { "Actions" }
                    (action_button(signed, &format!("{path}/rotate-secret"), "Rotate secret",
                        Some("Rotate the signing secret? The new one is shown once; the old one keeps signing for the grace period.")))
                    (action_button(signed, &format!("{path}/delete"), "Delete callout",
                        Some("Delete this callout? Its log goes with it, and calls are no longer asked about.")))
                }
            }
            h2 id="log" { "Log" }
            (log_page(&pager, &log.items, ["Time", "Call", "Outcome"], log_row, "It has not been asked yet."))
            @if signed.is_admin() {
                section.card aria-labelledby="edit" {
                    h2 id="edit" { "Edit" }
                    (callout_form(signed, &path, &systems, &draft, "Save changes"))
                }
            }
        },
    ))
}

/// What a callout is.
fn facts(signed: &Signed, callout: &Callout, systems: &Systems) -> Markup {
    let s = &callout.spec;
    let listed = |items: Vec<String>| if items.is_empty() { "any".to_owned() } else { items.join(", ") };
    html! {
        dl.facts {
            dt { "Id" } dd { code { (callout.id) } }
            dt { "URL" } dd { code { (shown_url(signed, &s.url)) } }
            dt { "Asked before" } dd { (on_text(s)) }
            dt { "System" } dd { (systems.show(s.system_id.as_ref())) }
            dt { "Modules" } dd { (listed(modules_of(&s.matching))) }
            dt { "Methods" } dd { (listed(s.matching.methods.clone())) }
            dt { "Triggers" } dd {
                (listed(s.matching.triggers.iter().map(ToString::to_string).collect()))
            }
            dt { "Timeout" } dd { (s.timeout_ms) " ms" }
            dt { "When it cannot be asked" } dd { (policy_name(s.failure_policy)) " the call" }
            dt { "State" } dd { (if s.enabled { "Enabled" } else { "Disabled" }) }
            dt { "Created" } dd { (when(callout.created_at)) }
            dt { "Updated" } dd { (when(callout.updated_at)) }
        }
    }
}

/// One request to the callout: when, about what, what came back, what was decided, and for whom.
fn log_row(entry: &LogEntry) -> Markup {
    html! {
        tr {
            td { (when_ms(entry.at)) }
            td {
                (on_name(entry.action))
                @if let Some(module) = &entry.module {
                    " " code { (module) @if let Some(method) = &entry.method { "." (method) } }
                }
                @if let Some(instance) = &entry.trigger_instance { br; "instance " code { (instance) } }
                @if let Some(run) = &entry.run { br; "run " code { (run) } }
                @if let Some(id) = &entry.request_id { br; "request " code { (id) } }
            }
            td {
                strong { (entry.decision.as_str()) } " · " (if entry.allowed { "allowed" } else { "refused" })
                br;
                @match (entry.status, &entry.error) {
                    (_, Some(error)) => { (error) }
                    (Some(status), None) => { "HTTP " (status) }
                    (None, None) => { "no answer" }
                }
                " · " (entry.latency_ms) " ms"
                @if let Some(reason) = &entry.reason { br; "reason: " (reason) }
            }
        }
    }
}

async fn update(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::for_admin(&body, &signed)?;
    let id = callout_id(&id)?;
    let updated = async {
        let s = spec_of(&fields)?;
        let patch = CalloutPatch {
            name: Some(s.name),
            url: Some(s.url),
            on: Some(s.on),
            system_id: Some(s.system_id),
            matching: Some(s.matching),
            timeout_ms: Some(s.timeout_ms),
            failure_policy: Some(s.failure_policy),
            enabled: Some(s.enabled),
        };
        Ok::<_, ApiError>(state.engine.update_callout(id.clone(), patch).await?)
    }
    .await;
    match updated {
        Ok(callout) => Ok(redirect(&path_of(&callout.id))),
        Err(e) => {
            let draft = Draft::sent(&fields, refused(e, &FIELDS)?);
            let callout = state.engine.get_callout(id).await?;
            let view = View { draft: Some(draft), ..View::default() };
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, callout_page(&signed, &state, &callout, view).await?))
        }
    }
}

async fn rotate_secret(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let id = admin_action(&signed, &body, &id, callout_id)?;
    let callout = state.engine.rotate_callout_secret(id).await?;
    let view = View { secret: Some(("New signing secret", callout.secret.expose())), ..View::default() };
    Ok(page(StatusCode::OK, callout_page(&signed, &state, &callout, view).await?))
}

async fn delete(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let id = admin_action(&signed, &body, &id, callout_id)?;
    state.engine.delete_callout(id).await?;
    Ok(redirect("/console/callouts"))
}
