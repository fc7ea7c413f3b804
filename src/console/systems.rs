//! Systems: the list with search, creating one, and a system's page (its modules, the triggers applied
//! to it, editing and deleting it).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::form;
use super::forms::Fields;
use super::page::{
    action_button, csrf, form_error, page, redirect, refusal, shell, text_field, ConsoleError, FieldError,
};
use super::paging::Pager;
use super::session::Signed;
use crate::domain::system::System;
use crate::domain::SystemId;
use crate::engine::inputs::{SystemIn, SystemPatch};
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::store::PageRequest;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/systems", web::get().to(list))
        .route("/systems", web::post().to(create))
        .route("/systems/{id}", web::get().to(show))
        .route("/systems/{id}/edit", web::post().to(edit))
        .route("/systems/{id}/delete", web::post().to(delete));
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
    /// Where the page starts (a field of its own: serde cannot read a number from a query into a flattened struct).
    #[serde(default)]
    offset: usize,
}

/// Systems listed a page at a time.
const PER_PAGE: usize = 100;

/// What a refused create or edit sent, and the field the server named with its message.
#[derive(Default)]
pub struct Draft {
    name: String,
    description: String,
    error: FieldError,
}

async fn list(
    signed: Signed,
    search: web::Query<Search>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let body = list_page(&signed, &state, &search, &Draft::default()).await?;
    Ok(page(StatusCode::OK, body))
}

async fn list_page(signed: &Signed, state: &AppState, search: &Search, draft: &Draft) -> Result<Markup, ConsoleError> {
    let q = search.q.as_str();
    let query = Some(q.trim().to_owned()).filter(|q| !q.is_empty());
    let found = state.engine.list_systems(query, PageRequest { offset: search.offset, limit: PER_PAGE }).await?;
    let kept = [("q", q)];
    let pager = Pager {
        path: "/console/systems",
        query: &kept,
        total: found.total,
        offset: search.offset,
        limit: PER_PAGE,
        noun: "system",
    };
    Ok(shell(
        "Systems",
        Some(signed),
        html! {
            h1 { "Systems" }
            form.search method="get" action="/console/systems" role="search" {
                label for="f-q" { "Search by name" }
                input id="f-q" name="q" type="search" value=(q);
                button type="submit" { "Search" }
            }
            (pager.render())
            @if !found.items.is_empty() {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Modules" } th scope="col" { "Id" } } }
                    tbody {
                        @for system in &found.items {
                            tr {
                                td { a href=(format!("/console/systems/{}", system.id)) { (system.name) } }
                                td { (system.modules.len()) }
                                td.id { code { (system.id) } }
                            }
                        }
                    }
                }
            }
            @if signed.is_admin() { (create_form(signed, draft)) }
        },
    ))
}

fn create_form(signed: &Signed, draft: &Draft) -> Markup {
    html! {
        section.card aria-labelledby="new-system" {
            h2 id="new-system" { "New system" }
            (form_error(&draft.error, &["name", "description"]))
            form method="post" action="/console/systems" {
                (csrf(signed))
                (text_field("name", "Name", &draft.name, &draft.error))
                (text_field("description", "Description", &draft.description, &draft.error))
                button type="submit" { "Create system" }
            }
        }
    }
}

#[derive(Deserialize)]
struct NewSystem {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

async fn create(signed: Signed, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    let input: NewSystem = form(&body)?;
    signed.check_csrf(&input.csrf)?;
    signed.admin()?;
    let description = Some(input.description.clone()).filter(|d| !d.is_empty());
    let system_in = SystemIn { name: input.name.clone(), description, modules: Vec::new() };
    match state.engine.create_system(system_in).await {
        Ok(system) => Ok(redirect(&format!("/console/systems/{}", system.id))),
        Err(e) => {
            let draft = Draft { name: input.name, description: input.description, error: Some(refusal(e)?) };
            let search = Search { q: String::new(), offset: 0 };
            let body = list_page(&signed, &state, &search, &draft).await?;
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, body))
        }
    }
}

async fn show(
    signed: Signed,
    id: web::Path<String>,
    q: web::Query<super::modules::AddQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let id = SystemId::parse(&id).ok_or_else(|| ApiError::not_found("system"))?;
    system_page_with(&signed, &state, id, q.into_inner(), None, StatusCode::OK).await
}

/// A system's page: its details (editable by admins), its modules, the triggers applied to it.
pub async fn system_page_with(
    signed: &Signed,
    state: &AppState,
    id: SystemId,
    add: super::modules::AddQuery,
    edit: Option<Draft>,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let system = state.engine.get_system(id.clone()).await?;
    let modules = state.engine.system_modules(id.clone()).await?;
    let applied = super::instances::section(signed, state, &id).await?;
    let body = shell(
        &system.name,
        Some(signed),
        html! {
            p.crumbs { a href="/console/systems" { "Systems" } " / " }
            h1 { (system.name) }
            @if !system.description.is_empty() { p.description { (system.description) } }
            p.id { "Id " code { (system.id) } }
            (super::modules::section(signed, state, &system, &modules, &add))
            (applied)
            @if signed.is_admin() { (edit_form(signed, &system, edit.as_ref())) }
        },
    );
    Ok(page(status, body))
}

/// The edit form, with a refused edit's values and refusal when there was one.
fn edit_form(signed: &Signed, system: &System, refused: Option<&Draft>) -> Markup {
    let stored = Draft { name: system.name.clone(), description: system.description.clone(), error: None };
    let draft = refused.unwrap_or(&stored);
    let confirm = format!(
        "Delete {}? Its trigger instances and the callouts scoped to it are deleted with it; its modules stay, outside any system.",
        system.name
    );
    html! {
        section.card aria-labelledby="edit-system" {
            h2 id="edit-system" { "Edit system" }
            (form_error(&draft.error, &["name", "description"]))
            form method="post" action=(format!("/console/systems/{}/edit", system.id)) {
                (csrf(signed))
                (text_field("name", "Name", &draft.name, &draft.error))
                (text_field("description", "Description", &draft.description, &draft.error))
                button type="submit" { "Save system" }
            }
            (action_button(signed, &format!("/console/systems/{}/delete", system.id), "Delete system", Some(&confirm)))
        }
    }
}

async fn edit(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let input: NewSystem = form(&body)?;
    signed.check_csrf(&input.csrf)?;
    signed.admin()?;
    let id = SystemId::parse(&id).ok_or_else(|| ApiError::not_found("system"))?;
    let patch = SystemPatch {
        name: Some(input.name.clone()),
        description: Some(Some(input.description.clone())),
        modules: None,
    };
    match state.engine.update_system(id.clone(), patch).await {
        Ok(_) => Ok(redirect(&format!("/console/systems/{id}"))),
        Err(e) => {
            let draft = Draft { name: input.name, description: input.description, error: Some(refusal(e)?) };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            system_page_with(&signed, &state, id, Default::default(), Some(draft), status).await
        }
    }
}

async fn delete(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::for_admin(&body, &signed)?;
    let id = SystemId::parse(&id).ok_or_else(|| ApiError::not_found("system"))?;
    state.engine.delete_system(id).await?;
    Ok(redirect("/console/systems"))
}
