//! API keys, for admins only: the list, creating one (its key shown once, in the answer to the POST),
//! and deleting one. Only a key's hash is stored, so the key itself can never be shown again.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::outbound::{not_saved, refused, secret_once, when, Fields};
use super::page::{
    action_button, count, csrf, form_error, page, redirect, select, shell, text_field, ConsoleError, FieldError,
};
use super::session::Signed;
use crate::domain::api_key::{ApiKey, Role};
use crate::domain::{ApiKeyId, ValidationError};
use crate::engine::inputs::ApiKeyIn;
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::store::PageRequest;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api-keys", web::get().to(list))
        .route("/api-keys", web::post().to(create))
        .route("/api-keys/{id}/delete", web::post().to(delete));
}

/// Keys listed.
const SHOWN: usize = 500;

const FIELDS: [&str; 2] = ["name", "role"];

/// What a refused create sent, and the field the server named with its message.
struct Draft {
    name: String,
    role: String,
    error: FieldError,
}

async fn list(signed: Signed, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    signed.admin()?;
    let draft = Draft { name: String::new(), role: "support".to_owned(), error: None };
    Ok(page(StatusCode::OK, list_page(&signed, &state, &draft, None).await?))
}

async fn list_page(
    signed: &Signed,
    state: &AppState,
    draft: &Draft,
    created: Option<(&ApiKey, &str)>,
) -> Result<Markup, ConsoleError> {
    let found = state.engine.list_api_keys(PageRequest { offset: 0, limit: SHOWN }).await?;
    let roles = [("support", "support (read only)"), ("admin", "admin (may change everything)")]
        .map(|(v, t)| (v.to_owned(), t.to_owned()));
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
            (count(found.total, found.items.len(), "stored key"))
            @if found.items.is_empty() {
                p.empty { "No stored keys (a configured admin key is not listed)." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Key" } th scope="col" { "Role" } th scope="col" { "Actions" } } }
                    tbody {
                        @for key in &found.items {
                            tr {
                                td { strong { (key.name) } br; small { "created " (when(key.created_at)) } br; code { (key.id) } }
                                td { (key.role) }
                                td { (action_button(signed, &format!("/console/api-keys/{}/delete", key.id), "Delete",
                                    Some(&format!("Delete the key {}? Anything using it stops working at once.", key.name)))) }
                            }
                        }
                    }
                }
            }
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
        },
    ))
}

fn parse_role(raw: &str) -> Result<Role, ValidationError> {
    match raw {
        "admin" => Ok(Role::Admin),
        "support" => Ok(Role::Support),
        _ => Err(ValidationError::new("role", "must be admin or support")),
    }
}

async fn create(signed: Signed, body: web::Bytes, state: web::Data<AppState>) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::parse(&body)?;
    fields.check_csrf(&signed)?;
    signed.admin()?;
    let created = async {
        let input = ApiKeyIn { name: fields.get("name").to_owned(), role: parse_role(fields.get("role"))? };
        Ok::<_, ApiError>(state.engine.create_api_key(input).await?)
    }
    .await;
    let fresh = Draft { name: String::new(), role: "support".to_owned(), error: None };
    match created {
        Ok((key, plaintext)) => {
            Ok(page(StatusCode::CREATED, list_page(&signed, &state, &fresh, Some((&key, &plaintext))).await?))
        }
        Err(e) => {
            let error = Some(refused(e, &FIELDS)?);
            let draft = Draft { name: fields.get("name").to_owned(), role: fields.get("role").to_owned(), error };
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, list_page(&signed, &state, &draft, None).await?))
        }
    }
}

async fn delete(
    signed: Signed,
    id: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::parse(&body)?.check_csrf(&signed)?;
    signed.admin()?;
    let id = ApiKeyId::parse(&id).ok_or_else(|| ApiError::not_found("API key"))?;
    state.engine.delete_api_key(id).await?;
    Ok(redirect("/console/api-keys"))
}
