//! Systems: the list with search, creating one, and a system's page (its modules, the triggers applied
//! to it, editing and deleting it).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::form;
use super::page::{
    action_button, csrf, form_error, page, redirect, refusal, shell, text_field, ConsoleError, FieldError,
};
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
}

/// What a refused create sent, and the field the server named with its message.
#[derive(Default)]
struct Draft {
    name: String,
    description: String,
    error: FieldError,
}

async fn list(
    signed: Signed,
    search: web::Query<Search>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let body = list_page(&signed, &state, &search.q, &Draft::default()).await?;
    Ok(page(StatusCode::OK, body))
}

async fn list_page(signed: &Signed, state: &AppState, q: &str, draft: &Draft) -> Result<Markup, ConsoleError> {
    let query = Some(q.trim().to_owned()).filter(|q| !q.is_empty());
    let found = state.engine.list_systems(query, PageRequest { offset: 0, limit: 200 }).await?;
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
            p.count { (found.total) " system" @if found.total != 1 { "s" } }
            @if found.items.is_empty() {
                p.empty { "No systems yet." }
            } @else {
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
            let body = list_page(&signed, &state, "", &draft).await?;
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
    system_page_with(&signed, &state, id, q.into_inner(), StatusCode::OK).await
}

/// A system's page: its details (editable by admins), its modules, the triggers applied to it.
pub async fn system_page_with(
    signed: &Signed,
    state: &AppState,
    id: SystemId,
    add: super::modules::AddQuery,
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
            @if signed.is_admin() { (edit_form(signed, &system)) }
        },
    );
    Ok(page(status, body))
}

fn edit_form(signed: &Signed, system: &System) -> Markup {
    let confirm = format!(
        "Delete {}? Its trigger instances and the callouts scoped to it are deleted with it; its modules stay, outside any system.",
        system.name
    );
    html! {
        section.card aria-labelledby="edit-system" {
            h2 id="edit-system" { "Edit system" }
            form method="post" action=(format!("/console/systems/{}/edit", system.id)) {
                (csrf(signed))
                (text_field("name", "Name", &system.name, &None))
                (text_field("description", "Description", &system.description, &None))
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
    let patch = SystemPatch { name: Some(input.name), description: Some(Some(input.description)), modules: None };
    state.engine.update_system(id.clone(), patch).await?;
    Ok(redirect(&format!("/console/systems/{id}")))
}

async fn delete(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let f: super::CsrfForm = form(&body)?;
    signed.check_csrf(&f.csrf)?;
    signed.admin()?;
    let id = SystemId::parse(&id).ok_or_else(|| ApiError::not_found("system"))?;
    state.engine.delete_system(id).await?;
    Ok(redirect("/console/systems"))
}
