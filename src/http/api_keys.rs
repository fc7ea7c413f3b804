use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Admin;
use super::errors::ApiError;
use super::input::{json_body, path_id, query, ListQuery};
use super::views::{page_response, ApiKeyOut};
use super::AppState;
use crate::domain::ApiKeyId;
use crate::engine::inputs::ApiKeyIn;

fn key_id(raw: &str) -> Result<ApiKeyId, ApiError> {
    path_id(raw, ApiKeyId::parse, "API key")
}

pub async fn list(_: Admin, req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let q: ListQuery = query(&req)?;
    let page = state.engine.list_api_keys(q.page()?).await?;
    Ok(page_response(page, ApiKeyOut::from))
}

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

pub async fn get(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let key = state.engine.get_api_key(key_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(ApiKeyOut::from(key)))
}

pub async fn delete(_: Admin, id: web::Path<String>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.delete_api_key(key_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
