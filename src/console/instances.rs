//! Triggers applied to a system: applying one, and an instance's page with its webhook URL, the exec
//! URL builder, its switches, secret rotation and its state, kept live by the event stream.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::display::secret_once;
use super::form;
use super::forms::Fields;
use super::page::{action_button, checkbox, copyable, csrf, input, page, redirect, select, shell, ConsoleError};
use super::session::Signed;
use crate::domain::instance::{InstanceState, TriggerInstance};
use crate::domain::trigger::Trigger;
use crate::domain::{InstanceId, SystemId, TriggerId};
use crate::engine::inputs::{InstanceIn, InstancePatch};
use crate::engine::InstanceRecord;
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::store::{InstanceFilter, PageRequest};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/systems/{id}/triggers", web::post().to(apply))
        .route("/systems/{id}/triggers/{trig}", web::get().to(show))
        .route("/systems/{id}/triggers/{trig}/switch", web::post().to(switch))
        .route("/systems/{id}/triggers/{trig}/rotate", web::post().to(rotate))
        .route("/systems/{id}/triggers/{trig}/delete", web::post().to(delete))
        .route("/systems/{id}/triggers/{trig}/signing-secret", web::post().to(set_signing_secret));
}

fn ids(path: &(String, String)) -> Result<(SystemId, InstanceId), ConsoleError> {
    let system = SystemId::parse(&path.0).ok_or_else(|| ApiError::not_found("system"))?;
    let instance = InstanceId::parse(&path.1).ok_or_else(|| ApiError::not_found("trigger instance"))?;
    Ok((system, instance))
}

fn instance_path(system: &SystemId, instance: &InstanceId) -> String {
    format!("/console/systems/{system}/triggers/{instance}")
}

/// The system page's section: the triggers applied to it, and the form that applies one.
pub async fn section(signed: &Signed, state: &AppState, system: &SystemId) -> Result<Markup, ConsoleError> {
    let all = PageRequest { offset: 0, limit: 500 };
    let applied = state.engine.list_instances(system.clone(), InstanceFilter::default(), all).await?;
    let triggers = state.engine.list_triggers(None, all).await?;
    let names: BTreeMap<&TriggerId, &str> = triggers.items.iter().map(|t| (&t.id, t.spec.name.as_str())).collect();
    let options: Vec<(String, String)> =
        triggers.items.iter().map(|t| (t.id.to_string(), t.spec.name.clone())).collect();
    Ok(html! {
        h2 id="applied" { "Triggers applied" }
        @if applied.items.is_empty() {
            p.empty { "No trigger is applied to this system." }
        } @else {
            table aria-labelledby="applied" {
                thead { tr { th scope="col" { "Trigger" } th scope="col" { "State" } th scope="col" { "Fired" } } }
                tbody {
                    @for (inst, st) in &applied.items {
                        tr {
                            td { a href=(instance_path(system, &inst.id)) { (names.get(&inst.trigger_id).copied().unwrap_or("(deleted)")) } }
                            td { (switches_text(inst)) }
                            td { (st.trigger_count) }
                        }
                    }
                }
            }
        }
        @if signed.is_admin() && !options.is_empty() {
            section.card aria-labelledby="apply" {
                h3 id="apply" { "Apply a trigger" }
                form method="post" action=(format!("/console/systems/{system}/triggers")) {
                    (csrf(signed))
                    (select("trigger_id", "Trigger", &options, "", &None))
                    (checkbox("enabled", "Enabled", true))
                    (checkbox("exec_enabled", "Exec enabled (webhook calls may call modules)", false))
                    button type="submit" { "Apply trigger" }
                }
            }
        }
    })
}

fn switches_text(inst: &TriggerInstance) -> String {
    let enabled = if inst.enabled { "enabled" } else { "disabled" };
    let exec = if inst.exec_enabled { ", exec enabled" } else { "" };
    let important = if inst.important { ", important" } else { "" };
    format!("{enabled}{exec}{important}")
}

#[derive(Deserialize)]
struct ApplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    trigger_id: String,
    enabled: Option<String>,
    exec_enabled: Option<String>,
}

async fn apply(
    signed: Signed,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let f: ApplyForm = form(&body)?;
    signed.check_csrf(&f.csrf)?;
    signed.admin()?;
    let system = SystemId::parse(&path).ok_or_else(|| ApiError::not_found("system"))?;
    let trigger_id = TriggerId::parse(&f.trigger_id).ok_or_else(|| ApiError::not_found("trigger"))?;
    let input = InstanceIn {
        trigger_id,
        enabled: f.enabled.is_some(),
        exec_enabled: f.exec_enabled.is_some(),
        important: None,
    };
    let (inst, _) = state.engine.apply_trigger(system.clone(), input).await?;
    Ok(redirect(&instance_path(&system, &inst.id)))
}

/// The exec URL builder's choices, from the page's query.
#[derive(Deserialize, Default)]
struct ExecQuery {
    #[serde(default, rename = "mod")]
    module: String,
    #[serde(default)]
    index: String,
    #[serde(default)]
    method: String,
}

async fn show(
    signed: Signed,
    path: web::Path<(String, String)>,
    exec: web::Query<ExecQuery>,
    calls: web::Query<super::inspector::CallFilter>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (system, id) = ids(&path)?;
    render(&signed, &state, (system, id), &exec, &calls, None).await
}

/// The instance's page; `new_secret` is a signing secret just generated, shown on this answer only.
async fn render(
    signed: &Signed,
    state: &AppState,
    (system, id): (SystemId, InstanceId),
    exec: &ExecQuery,
    calls: &super::inspector::CallFilter,
    new_secret: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let record = state.engine.get_instance(system.clone(), id.clone()).await?;
    let trigger = state.engine.get_trigger(record.0.trigger_id.clone()).await?;
    let modules = state.engine.system_modules(system.clone()).await?;
    let inspector = super::inspector::section(state, &(system, id), calls).await?;
    let view = InstanceView { record: &record, trigger: &trigger, modules: &modules, exec, new_secret };
    Ok(page(StatusCode::OK, instance_page(signed, state, &view, inspector)))
}

/// What an instance's page shows.
struct InstanceView<'a> {
    record: &'a InstanceRecord,
    trigger: &'a Trigger,
    modules: &'a [crate::engine::ModuleView],
    exec: &'a ExecQuery,
    /// A signing secret Switchboard just generated, shown this once.
    new_secret: Option<&'a str>,
}

fn instance_page(signed: &Signed, state: &AppState, view: &InstanceView, inspector: Markup) -> Markup {
    let (inst, st) = view.record;
    let name = view.trigger.spec.name.as_str();
    let base = instance_path(&inst.control_system_id, &inst.id);
    shell(
        name,
        Some(signed),
        html! {
            p.crumbs { a href="/console/systems" { "Systems" } " / " a href=(format!("/console/systems/{}", inst.control_system_id)) { "System" } " / " }
            h1 { (name) }
            p.id { "Instance " code { (inst.id) } " · " (switches_text(inst)) }
            (live_state(inst, st))
            h2 { "Webhook" }
            @if let Some(secret) = view.new_secret {
                (secret_once("Signing secret", secret, &base))
            }
            @if signed.is_admin() {
                (copyable("webhook-url", "Webhook URL", &webhook_url(state, inst)))
                (exec_builder(state, inst, view.modules, view.exec))
            } @else {
                p { "The webhook URL holds the instance's secret: only admin keys see it." }
            }
            @if signed.is_admin() {
                h2 { "Switches" }
                (action_button(signed, &format!("{base}/switch?enabled={}", !inst.enabled), if inst.enabled { "Disable" } else { "Enable" }, None))
                (action_button(signed, &format!("{base}/switch?exec_enabled={}", !inst.exec_enabled), if inst.exec_enabled { "Turn exec off" } else { "Turn exec on" }, None))
                (action_button(signed, &format!("{base}/switch?important={}", !inst.important), if inst.important { "Mark not important" } else { "Mark important" }, None))
                (action_button(signed, &format!("{base}/rotate"), "Rotate the webhook secret", Some("Rotate the secret? Callers using the current URL are refused from now on.")))
                (action_button(signed, &format!("{base}/delete"), "Remove from system", Some(&format!("Remove {name} from this system? Its webhook URL stops working, and its calls and runs are deleted with it."))))
            }
            @if view.trigger.spec.webhook_verification.is_some() { (signing_secret(signed, inst, &base)) }
            (inspector)
        },
    )
}

/// Whether the instance has the secret its trigger's signature scheme needs; an admin sets one.
fn signing_secret(signed: &Signed, inst: &TriggerInstance, base: &str) -> Markup {
    html! {
        section.card aria-labelledby="signing" {
            h2 id="signing" { "Signature verification" }
            p {
                @if inst.signing_secret.is_some() { "A signing secret is set: calls must carry the sender's signature." }
                @else { "No signing secret is set yet: calls are refused until one is." }
            }
            @if let Some(until) = inst.previous_signing_secret.as_ref().map(|p| p.valid_until) {
                p { "The secret it replaced still verifies until " (utc_seconds(until)) "." }
            }
            @if signed.is_admin() {
                form method="post" action=(format!("{base}/signing-secret")) data-confirm="Replace the signing secret? The current one keeps verifying for the grace period." {
                    (csrf(signed))
                    (input("password", "secret", "Signing secret from the sender (blank: Switchboard generates one)", "", &None))
                    button type="submit" { "Set signing secret" }
                }
            }
        }
    }
}

/// The instance's state, with `data-live` hooks the script updates from the event stream.
fn live_state(inst: &TriggerInstance, st: &InstanceState) -> Markup {
    html! {
        section.card.live aria-labelledby="state" data-live-instance=(inst.id) data-live-system=(inst.control_system_id) {
            h2 id="state" { "State" }
            dl {
                dt { "Triggered" } dd data-live="triggered" { (st.triggered) }
                dt { "Times fired" } dd data-live="trigger_count" { (st.trigger_count) }
                dt { "Last fired" } dd data-live="last_fired_at" { (st.last_fired_at.map(utc_seconds).unwrap_or_else(|| "never".into())) }
                dt { "Action errors" } dd data-live="action_errors" { (st.action_errors) }
            }
            h3 { "Conditions" }
            ul data-live="conditions" {
                @for (condition, value) in st.conditions.iter() { li { (condition) ": " (value) } }
            }
        }
    }
}

fn webhook_url(state: &AppState, inst: &TriggerInstance) -> String {
    format!("{}/api/engine/v2/webhook/{}/notify?secret={}", state.public_url, inst.id, inst.webhook_secret.expose())
}

/// Module, index and webhook method pickers from the system's modules; both URL forms once chosen.
fn exec_builder(
    state: &AppState,
    inst: &TriggerInstance,
    modules: &[crate::engine::ModuleView],
    q: &ExecQuery,
) -> Markup {
    let names: Vec<String> = modules.iter().map(|m| m.name.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let methods: Vec<String> = modules
        .iter()
        .filter_map(|m| state.engine.drivers().get(&m.module.driver))
        .flat_map(|d| d.functions.iter().filter(|f| f.webhook).map(|f| f.name.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let options = |values: &[String]| values.iter().map(|v| (v.clone(), v.clone())).collect::<Vec<_>>();
    // Only choices the pickers offer make URLs; anything else in the query is ignored.
    let chosen = names.contains(&q.module) && methods.contains(&q.method);
    let index = q.index.parse::<u32>().ok().filter(|i| *i >= 1).unwrap_or(1);
    let query_form =
        format!("{}&exec=true&mod={}&index={index}&method={}", webhook_url(state, inst), q.module, q.method);
    let path_form = format!(
        "{}/api/engine/v2/webhook/{}/notify/{}/{}/{index}/{}",
        state.public_url,
        inst.id,
        inst.webhook_secret.expose(),
        q.module,
        q.method
    );
    html! {
        section.card aria-labelledby="exec" {
            h3 id="exec" { "Exec URL builder" }
            @if !inst.exec_enabled { p { "Exec is off for this instance: turn it on for these URLs to reach a module." } }
            form method="get" {
                (select("mod", "Module", &options(&names), &q.module, &None))
                div.field {
                    label for="f-index" { "Index" }
                    input id="f-index" name="index" type="number" min="1" value=(index.to_string());
                }
                (select("method", "Webhook method", &options(&methods), &q.method, &None))
                button type="submit" { "Build exec URLs" }
            }
            @if chosen {
                (copyable("exec-query-url", "Exec URL (query form)", &query_form))
                (copyable("exec-path-url", "Exec URL (path form)", &path_form))
            }
        }
    }
}

#[derive(Deserialize)]
struct SwitchQuery {
    enabled: Option<bool>,
    exec_enabled: Option<bool>,
    important: Option<bool>,
}

async fn switch(
    signed: Signed,
    path: web::Path<(String, String)>,
    q: web::Query<SwitchQuery>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::for_admin(&body, &signed)?;
    let (system, id) = ids(&path)?;
    let patch = InstancePatch { enabled: q.enabled, exec_enabled: q.exec_enabled, important: q.important };
    state.engine.update_instance(system.clone(), id.clone(), patch).await?;
    Ok(redirect(&instance_path(&system, &id)))
}

async fn rotate(
    signed: Signed,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::for_admin(&body, &signed)?;
    let (system, id) = ids(&path)?;
    state.engine.rotate_secret(system.clone(), id.clone()).await?;
    Ok(redirect(&instance_path(&system, &id)))
}

async fn delete(
    signed: Signed,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::for_admin(&body, &signed)?;
    let (system, id) = ids(&path)?;
    state.engine.delete_instance(system.clone(), id).await?;
    Ok(redirect(&format!("/console/systems/{system}")))
}

#[derive(Deserialize)]
struct SecretForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    secret: String,
}

async fn set_signing_secret(
    signed: Signed,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let f: SecretForm = form(&body)?;
    signed.check_csrf(&f.csrf)?;
    signed.admin()?;
    let (system, id) = ids(&path)?;
    let provided = Some(f.secret.trim().to_owned()).filter(|s| !s.is_empty());
    let set = state.engine.set_signing_secret(system.clone(), id.clone(), provided).await?;
    let Some(secret) = set.secret else {
        return Ok(redirect(&instance_path(&system, &id)));
    };
    // Generated: shown on this answer only, never kept in a URL or the session.
    render(&signed, &state, (system, id), &ExecQuery::default(), &Default::default(), Some(&secret)).await
}

/// Epoch seconds as a UTC date and time, as the live updates write it too.
fn utc_seconds(at: u64) -> String {
    let at = chrono::DateTime::from_timestamp(i64::try_from(at).unwrap_or(0), 0);
    at.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
}
