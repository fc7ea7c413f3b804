//! Every module, in a system or not: the list with search and a driver filter, and a module's page
//! with its settings, which an admin edits (name, settings, the system it is in) or deletes.
//!
//! Settings the driver marks sensitive are never put in a page: support keys see "hidden", and an
//! admin's form leaves them blank, where blank keeps the stored value.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::forms::{Fields, Systems};
use super::modules::{as_typed, param_input, reference_of, typed};
use super::page::{
    action_button, csrf, form_error, input, page, redirect, refusal, select, shell, ConsoleError, FieldError,
};
use super::paging::Pager;
use super::session::Signed;
use crate::domain::module::ModuleName;
use crate::domain::{ModuleId, SystemId};
use crate::engine::inputs::ModulePatch;
use crate::engine::ModuleView;
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::store::PageRequest;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/modules", web::get().to(list))
        .route("/modules/{id}", web::get().to(show))
        .route("/modules/{id}", web::post().to(save))
        .route("/modules/{id}/delete", web::post().to(delete));
}

/// Modules listed a page at a time.
const PER_PAGE: usize = 100;

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    driver: String,
    /// Where the page starts (a field of its own: serde cannot read a number from a query into a flattened struct).
    #[serde(default)]
    offset: usize,
}

fn module_id(raw: &str) -> Result<ModuleId, ConsoleError> {
    Ok(ModuleId::parse(raw).ok_or_else(|| ApiError::not_found("module"))?)
}

fn path_of(id: &ModuleId) -> String {
    format!("/console/modules/{id}")
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn list(
    signed: Signed,
    q: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let found = state
        .engine
        .list_modules(non_empty(&q.q), None, non_empty(&q.driver), PageRequest { offset: q.offset, limit: PER_PAGE })
        .await?;
    let mut drivers = vec![(String::new(), "Any driver".to_owned())];
    drivers.extend(state.engine.drivers().all().map(|d| (d.name.clone(), d.name.clone())));
    let query = [("q", q.q.as_str()), ("driver", q.driver.as_str())];
    let pager = Pager {
        path: "/console/modules",
        query: &query,
        total: found.total,
        offset: q.offset,
        limit: PER_PAGE,
        noun: "module",
    };
    let body = shell(
        "Modules",
        Some(&signed),
        html! {
            h1 { "Modules" }
            p { "Every module, in a system or not. A module is added to a system from the system's page." }
            form.search method="get" action="/console/modules" role="search" {
                label for="f-q" { "Search by name" }
                input id="f-q" name="q" type="search" value=(q.q);
                (select("driver", "Driver", &drivers, &q.driver, &None))
                button type="submit" { "Search" }
            }
            (pager.render())
            @if !found.items.is_empty() {
                table {
                    thead { tr { th scope="col" { "Module" } th scope="col" { "Driver" } th scope="col" { "System" } th scope="col" { "Id" } } }
                    tbody { @for view in &found.items { (row(view)) } }
                }
            }
        },
    );
    Ok(page(StatusCode::OK, body))
}

fn row(view: &ModuleView) -> Markup {
    let module = &view.module;
    html! {
        tr {
            td { a href=(path_of(&module.id)) { (view.name) } }
            td { (module.driver) }
            td {
                @match &module.control_system_id {
                    Some(system) => a href=(format!("/console/systems/{system}")) { code { (system) } },
                    None => "none",
                }
            }
            td.id { code { (module.id) } }
        }
    }
}

/// `Display_2` in a system, the bare name outside one.
fn label_of(view: &ModuleView) -> String {
    if view.index.is_some() {
        reference_of(view)
    } else {
        view.name.clone()
    }
}

/// The module with its index in its system, which names it there (`Display_2`).
async fn placed(state: &AppState, id: ModuleId) -> Result<ModuleView, ConsoleError> {
    let view = state.engine.get_module(id).await?;
    let Some(system) = view.module.control_system_id.clone() else {
        return Ok(view);
    };
    let in_system = state.engine.system_modules(system).await?;
    Ok(in_system.into_iter().find(|v| v.module.id == view.module.id).unwrap_or(view))
}

async fn show(
    signed: Signed,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let view = placed(&state, module_id(&path)?).await?;
    let body = module_page(&signed, &state, &view, &Draft::of(&view.module)).await?;
    Ok(page(StatusCode::OK, body))
}

/// What the edit form shows: the stored values, or what a refused form sent, with the refusal.
struct Draft {
    custom_name: String,
    system: String,
    settings: Map<String, Value>,
    error: FieldError,
}

impl Draft {
    fn of(module: &crate::domain::module::Module) -> Self {
        Self {
            custom_name: module.custom_name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default(),
            system: module.control_system_id.as_ref().map(ToString::to_string).unwrap_or_default(),
            settings: module.settings.clone(),
            error: None,
        }
    }
}

async fn module_page(
    signed: &Signed,
    state: &AppState,
    view: &ModuleView,
    draft: &Draft,
) -> Result<Markup, ConsoleError> {
    let module = &view.module;
    let edit = if signed.is_admin() { Some(edit_form(signed, state, view, draft).await?) } else { None };
    let title = label_of(view);
    Ok(shell(
        &title,
        Some(signed),
        html! {
            p.crumbs { a href="/console/modules" { "Modules" } " / " }
            h1 { (title) }
            p.id { (module.driver) " · " code { (module.id) } }
            @match (&module.control_system_id, view.index) {
                (Some(system), Some(_)) => p {
                    "In system " a href=(format!("/console/systems/{system}")) { code { (system) } }
                    " as " a href=(format!("/console/systems/{system}/{}", reference_of(view))) { (reference_of(view)) " (status and functions)" }
                },
                _ => p { "Not in any system." },
            }
            h2 id="settings" { "Settings" }
            (settings_list(state, view))
            @if let Some(edit) = edit { (edit) }
        },
    ))
}

/// The stored settings; sensitive ones as "hidden", whoever reads.
fn settings_list(state: &AppState, view: &ModuleView) -> Markup {
    let settings = &view.module.settings;
    let descriptor = state.engine.drivers().get(&view.module.driver);
    let sensitive = |name: &str| descriptor.is_some_and(|d| d.settings.iter().any(|p| p.sensitive && p.name == name));
    html! {
        @if settings.is_empty() {
            p.empty { "No settings." }
        } @else {
            dl aria-labelledby="settings" {
                @for (name, value) in settings {
                    dt { (name) }
                    dd { @if sensitive(name) { em { "hidden" } } @else { code { (value) } } }
                }
            }
        }
    }
}

async fn edit_form(
    signed: &Signed,
    state: &AppState,
    view: &ModuleView,
    draft: &Draft,
) -> Result<Markup, ConsoleError> {
    let module = &view.module;
    let params = state.engine.drivers().get(&module.driver).map(|d| d.settings.clone()).unwrap_or_default();
    let systems = Systems::load(state).await?.options_after("No system");
    let fields: Vec<String> = params.iter().map(|p| format!("settings.{}", p.name)).collect();
    let names: Vec<&str> = fields.iter().map(String::as_str).chain(["custom_name", "control_system_id"]).collect();
    let confirm = format!("Delete {}? It leaves its system, and calls to it fail from now on.", label_of(view));
    Ok(html! {
        section.card aria-labelledby="edit-module" {
            h2 id="edit-module" { "Edit" }
            (form_error(&draft.error, &names))
            form method="post" action=(path_of(&module.id)) {
                (csrf(signed))
                (input("text", "custom_name", &format!("Name (blank: {})", default_name(state, &module.driver)), &draft.custom_name, &draft.error))
                (select("control_system_id", "System", &systems, &draft.system, &draft.error))
                @for param in &params {
                    @if param.sensitive {
                        @let name = format!("settings.{}", param.name);
                        (input("password", &name, &format!("{} (blank keeps the stored value)", param.name), "", &draft.error))
                    } @else {
                        (param_input("settings", param, draft.settings.get(&param.name), &draft.error))
                    }
                }
                button type="submit" { "Save module" }
            }
        }
        (action_button(signed, &format!("{}/delete", path_of(&module.id)), "Delete module", Some(&confirm)))
    })
}

fn default_name(state: &AppState, driver: &str) -> String {
    state.engine.drivers().get(driver).map(|d| d.default_module_name.clone()).unwrap_or_default()
}

async fn save(
    signed: Signed,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::for_admin(&body, &signed)?;
    let field = |name: &str| fields.get(name).trim().to_owned();
    let id = module_id(&path)?;
    let view = placed(&state, id.clone()).await?;
    let draft = |error: (String, String)| Draft {
        custom_name: field("custom_name"),
        system: field("control_system_id"),
        settings: as_typed(&fields, "settings"),
        error: Some(error),
    };
    match patch_of(&state, &view, &fields) {
        Ok(patch) => match state.engine.update_module(id.clone(), patch).await {
            Ok(_) => Ok(redirect(&path_of(&id))),
            Err(e) => refused(&signed, &state, &view, &draft(refusal(e)?)).await,
        },
        Err(error) => refused(&signed, &state, &view, &draft(error)).await,
    }
}

async fn refused(
    signed: &Signed,
    state: &AppState,
    view: &ModuleView,
    draft: &Draft,
) -> Result<HttpResponse, ConsoleError> {
    Ok(page(StatusCode::UNPROCESSABLE_ENTITY, module_page(signed, state, view, draft).await?))
}

/// The change the form asks for. The settings it does not show (undeclared ones) and blank sensitive
/// ones keep their stored values.
fn patch_of(state: &AppState, view: &ModuleView, fields: &Fields) -> Result<ModulePatch, (String, String)> {
    let field = |name: &str| fields.get(name).trim().to_owned();
    let module = &view.module;
    let params = state.engine.drivers().get(&module.driver).map(|d| d.settings.clone()).unwrap_or_default();
    let mut settings = module.settings.clone();
    for param in &params {
        let blank = field(&format!("settings.{}", param.name)).is_empty();
        if !(param.sensitive && blank) {
            settings.remove(&param.name);
        }
    }
    let shown: Vec<_> =
        params.iter().filter(|p| !p.sensitive || !field(&format!("settings.{}", p.name)).is_empty()).cloned().collect();
    settings.extend(typed(fields, "settings", &shown)?);
    let custom_name = match field("custom_name").as_str() {
        "" => None,
        name => Some(
            ModuleName::parse(name).map_err(|e| ("custom_name".to_owned(), format!("custom_name: {}", e.message)))?,
        ),
    };
    let system = match field("control_system_id").as_str() {
        "" => None,
        raw => Some(
            SystemId::parse(raw)
                .ok_or_else(|| ("control_system_id".to_owned(), "control_system_id: no such system".to_owned()))?,
        ),
    };
    Ok(ModulePatch {
        driver: None,
        custom_name: Some(custom_name),
        // Unchanged, so that saving other fields keeps the module's place in its system's order.
        control_system_id: (system != module.control_system_id).then_some(system),
        settings: Some(settings),
    })
}

async fn delete(
    signed: Signed,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::for_admin(&body, &signed)?;
    let id = module_id(&path)?;
    let system = state.engine.get_module(id.clone()).await?.module.control_system_id.clone();
    state.engine.delete_module(id).await?;
    Ok(redirect(&system.map_or_else(|| "/console/modules".to_owned(), |s| format!("/console/systems/{s}"))))
}
