use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Admin;
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery, PageQuery};
use super::openapi::{AdminKeyRequired, InvalidQuery, JsonBodyErrors, NotFound};
use super::views::{page_response, ApiKeyOut};
use super::AppState;
use crate::domain::ApiKeyId;
use crate::engine::inputs::ApiKeyIn;

fn key_id(raw: &str) -> Result<ApiKeyId, ApiError> {
    path_id(raw, ApiKeyId::parse, "API key")
}

/// List API keys
#[utoipa::path(
    get,
    path = "/api/engine/v2/api_keys",
    tag = "api keys",
    operation_id = "list_api_keys",
    params(
        PageQuery,
    ),
    responses(
        (
            status = 200,
            description = "One page of keys (never the keys themselves)",
            body = [ApiKeyOut],
            headers(("X-Total-Count" = u64, description = "The number of matches before paging")),
        ),
        InvalidQuery,
        AdminKeyRequired,
    )
)]
pub async fn list(_: Admin, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = state.engine.list_api_keys(q.page()?).await?;
    Ok(page_response(page, ApiKeyOut::from))
}

/// Create an API key
///
/// The answer is the only place the key itself ever appears; only its hash is stored.
#[utoipa::path(
    post,
    path = "/api/engine/v2/api_keys",
    tag = "api keys",
    operation_id = "create_api_key",
    request_body(
        content = ApiKeyIn,
        example = json!({"name": "backoffice", "role": "support"}),
    ),
    responses(
        (status = 201, description = "The key, with `key` (`sbk_…`)", body = ApiKeyOut),
        JsonBodyErrors,
        AdminKeyRequired,
    )
)]
pub async fn create(
    _: Admin,
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input: ApiKeyIn = json_body(&req, body).await?;
    let (key, plaintext) = state.engine.create_api_key(input).await?;
    Ok(HttpResponse::Created().json(ApiKeyOut { key: Some(plaintext), ..ApiKeyOut::from(key) }))
}

/// Get an API key
#[utoipa::path(
    get,
    path = "/api/engine/v2/api_keys/{id}",
    tag = "api keys",
    operation_id = "get_api_key",
    params(("id" = String, Path, description = "API key id (`key-…`)")),
    responses(
        (status = 200, description = "The key's record (never the key itself)", body = ApiKeyOut),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn get(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let key = state.engine.get_api_key(key_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ApiKeyOut::from(key)))
}

/// Delete an API key
#[utoipa::path(
    delete,
    path = "/api/engine/v2/api_keys/{id}",
    tag = "api keys",
    operation_id = "delete_api_key",
    params(("id" = String, Path, description = "API key id (`key-…`)")),
    responses(
        (status = 204, description = "Deleted; the key stops working"),
        NotFound,
        AdminKeyRequired,
    )
)]
pub async fn delete(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.delete_api_key(key_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
