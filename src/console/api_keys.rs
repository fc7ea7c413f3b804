//! API keys, for admins only: the list, creating one (its key shown once, in the answer to the POST),
//! and deleting one. Only a key's hash is stored, so the key itself can never be shown again.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::display::{secret_once, when};
use super::forms::{admin_action, not_saved, refused, Fields};
use super::page::{
    action_button, csrf, form_error, page, redirect, select, shell, text_field, ConsoleError, FieldError,
};
use super::paging::{Offset, Pager};
use super::session::Signed;
use crate::domain::api_key::{ApiKey, Role};
use crate::domain::{ApiKeyId, ValidationError};
use crate::engine::inputs::ApiKeyIn;
use crate::http::errors::ApiError;
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api-keys", web::get().to(list))
        .route("/api-keys", web::post().to(create))
        .route("/api-keys/{id}/delete", web::post().to(delete));
}

/// Keys listed a page at a time.
const PER_PAGE: usize = 500;

const FIELDS: [&str; 2] = ["name", "role"];

/// What a refused create sent, and the field the server named with its message.
struct Draft {
    name: String,
    role: String,
    error: FieldError,
}

impl Draft {
    /// The form of a new key: a support key.
    fn blank() -> Self {
        Self { name: String::new(), role: "support".to_owned(), error: None }
    }
}

async fn list(
    signed: Signed,
    at: web::Query<Offset>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    signed.admin()?;
    Ok(page(StatusCode::OK, list_page(&signed, &state, &Draft::blank(), None, *at).await?))
}

async fn list_page(
    signed: &Signed,
    state: &AppState,
    draft: &Draft,
    created: Option<(&ApiKey, &str)>,
    at: Offset,
) -> Result<Markup, ConsoleError> {
    let found = state.engine.list_api_keys(at.request(PER_PAGE)).await?;
    let pager = Pager {
        path: "/console/api-keys",
        query: &[],
        total: found.total,
        offset: at.offset,
        limit: PER_PAGE,
        noun: "stored key",
    };
    Ok(shell(
        "API keys",
        Some(signed),
        html! {
            h1 { "API keys" }
            (not_saved(&draft.error, &FIELDS))
            p { "Keys for the API and this console. Only a hash of each key is stored: a key is shown once, when it is \
                created. Deleting a key ends its use at once, its console sessions included." }
            @if let Some((key, plaintext)) = created {
                div.result role="status" { p { "Created the " (key.role) " key " strong { (key.name) } "." } }
                (secret_once("API key", plaintext, "/console/api-keys"))
            }
            (pager.render())
            @if found.total == 0 {
                p.empty { "No stored keys (a configured admin key is not listed)." }
            } @else if !found.items.is_empty() {
                table {
                    thead { tr { th scope="col" { "Key" } th scope="col" { "Role" } th scope="col" { "Actions" } } }
                    tbody { @for key in &found.items { (key_row(signed, key)) } }
                }
            }
            (new_key_form(signed, draft))
        },
    ))
}

/// A stored key: its name, when it was made, its id, its role, and its delete button.
fn key_row(signed: &Signed, key: &ApiKey) -> Markup {
    let confirm = format!("Delete the key {}? Anything using it stops working at once.", key.name);
    html! {
        tr {
            td { strong { (key.name) } br; small { "created " (when(key.created_at)) } br; code { (key.id) } }
            td { (key.role) }
            td { (action_button(signed, &format!("/console/api-keys/{}/delete", key.id), "Delete", Some(&confirm))) }
        }
    }
}

fn new_key_form(signed: &Signed, draft: &Draft) -> Markup {
    let roles = [("support", "support (read only)"), ("admin", "admin (may change everything)")]
        .map(|(v, t)| (v.to_owned(), t.to_owned()));
    html! {
        section.card aria-labelledby="new-key" {
            h2 id="new-key" { "New key" }
            (form_error(&draft.error, &FIELDS))
            form method="post" action="/console/api-keys" {
                (csrf(signed))
                (text_field("name", "Name", &draft.name, &draft.error))
                (select("role", "Role", &roles, &draft.role, &draft.error))
                button type="submit" { "Create key" }
            }
        }
    }
}

fn api_key_id(raw: &str) -> Result<ApiKeyId, ConsoleError> {
    ApiKeyId::parse(raw).ok_or_else(|| ApiError::not_found("API key").into())
}

fn parse_role(raw: &str) -> Result<Role, ValidationError> {
    match raw {
        "admin" => Ok(Role::Admin),
        "support" => Ok(Role::Support),
        _ => Err(ValidationError::new("role", "must be admin or support")),
    }
}

async fn create(signed: Signed, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::for_admin(&body, &signed)?;
    let created = async {
        let input = ApiKeyIn { name: fields.get("name").to_owned(), role: parse_role(fields.get("role"))? };
        Ok::<_, ApiError>(state.engine.create_api_key(input).await?)
    }
    .await;
    let first = Offset::default();
    match created {
        Ok((key, plaintext)) => {
            let body = list_page(&signed, &state, &Draft::blank(), Some((&key, &plaintext)), first).await?;
            Ok(page(StatusCode::CREATED, body))
        }
        Err(e) => {
            let error = Some(refused(e, &FIELDS)?);
            let draft = Draft { name: fields.get("name").to_owned(), role: fields.get("role").to_owned(), error };
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, list_page(&signed, &state, &draft, None, first).await?))
        }
    }
}

async fn delete(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let id = admin_action(&signed, &body, &id, api_key_id)?;
    state.engine.delete_api_key(id).await?;
    Ok(redirect("/console/api-keys"))
}
