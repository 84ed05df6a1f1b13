//! `/v1/secrets`: the tenant's named secrets. Values are write-only: the
//! API accepts them and returns names, keys and sizes only (responses,
//! errors, the audit log and the server's logs never carry a value). A
//! function reads a secret through `secretEnv` or `secretFiles`.

use std::{collections::BTreeMap, sync::Arc};

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use eventflow_core::{SecretData, SecretName, MAX_SECRETS};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::functions::rfc3339;
use crate::json::ApiPath as Path;
use crate::{
    auth::TenantAuth,
    error::{ApiError, ApiResult, ErrorBody},
    json::QuietJson,
    store::{SecretDeleted, SecretRow, SecretSaved},
    AppState,
};

/// Body of `PUT /v1/secrets/{name}`: the whole secret (a replacement drops
/// keys it does not name).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRequest {
    /// Keys (letters, digits, `-`, `_`, `.`; up to 64 of them) and their
    /// values (text; keys and values together at most 64 KiB). Never
    /// returned.
    #[schema(example = json!({"password": "s3cr3t"}))]
    pub data: BTreeMap<String, String>,
}

/// A secret without its values.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretDto {
    pub name: String,
    /// Its keys, sorted.
    pub keys: Vec<String>,
    /// Bytes of keys and values.
    pub size_bytes: i64,
    /// 1 when created, +1 on every replacement.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// The functions that read it (only on `GET /v1/secrets/{name}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_by: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList {
    pub items: Vec<SecretDto>,
}

impl From<&SecretRow> for SecretDto {
    fn from(r: &SecretRow) -> Self {
        Self {
            name: r.name.to_string(),
            keys: r.keys.clone(),
            size_bytes: r.size_bytes,
            version: r.version,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            used_by: None,
        }
    }
}

fn name_of(name: &str) -> ApiResult<SecretName> {
    Ok(SecretName::parse(name)?)
}

/// List the tenant's secrets (names, keys and sizes; never values).
#[utoipa::path(get, path = "/v1/secrets", tag = "secrets", operation_id = "list_secrets",
    responses((status = 200, body = SecretList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
) -> ApiResult<Json<SecretList>> {
    let rows = auth.functions(&state.store).secrets().await?;
    Ok(Json(SecretList {
        items: rows.iter().map(SecretDto::from).collect(),
    }))
}

/// One secret (never its values) and the functions that read it.
#[utoipa::path(get, path = "/v1/secrets/{name}", tag = "secrets", operation_id = "get_secret",
    params(("name" = String, Path)),
    responses((status = 200, body = SecretDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<SecretDto>> {
    let name = name_of(&name)?;
    let Some((row, used_by)) = auth.functions(&state.store).secret(&name).await? else {
        return Err(ApiError::not_found(format!(
            "no secret {:?}",
            name.as_str()
        )));
    };
    let mut dto = SecretDto::from(&row);
    dto.used_by = Some(used_by.iter().map(ToString::to_string).collect());
    Ok(Json(dto))
}

/// Create or replace a secret. The functions that read it roll onto the
/// new values (their pods are replaced one by one).
#[utoipa::path(put, path = "/v1/secrets/{name}", tag = "secrets", operation_id = "put_secret",
    params(("name" = String, Path, description = "1–56 lowercase letters, digits and '-'")),
    request_body = SecretRequest,
    responses(
        (status = 200, body = SecretDto, description = "Replaced"),
        (status = 201, body = SecretDto, description = "Created"),
        (status = 400, body = ErrorBody, description = "Not a JSON object of string values (the error never quotes the body)"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The tenant has 40 secrets"),
        (status = 422, body = ErrorBody, description = "`name` or `data` (a key, the count or the size) is invalid"),
    ),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    QuietJson(body): QuietJson<SecretRequest>,
) -> ApiResult<impl IntoResponse> {
    let name = name_of(&name)?;
    let data = SecretData::parse(body.data)?;
    let saved = auth
        .functions(&state.store)
        .save_secret(&name, &data, MAX_SECRETS, &auth.actor())
        .await?;
    let (status, row) = match saved {
        SecretSaved::Created(row) => (StatusCode::CREATED, row),
        SecretSaved::Replaced(row) => (StatusCode::OK, row),
        SecretSaved::QuotaUsedUp => {
            return Err(ApiError::QuotaExceeded(format!(
                "a tenant may keep {MAX_SECRETS} secrets; delete one first"
            )))
        }
    };
    state.sync.notify();
    tracing::info!(tenant = %auth.tenant, secret = %name, keys = row.keys.len(), "secret saved");
    Ok((status, Json(SecretDto::from(&row))))
}

/// Delete a secret no function reads (409 naming those that do).
#[utoipa::path(delete, path = "/v1/secrets/{name}", tag = "secrets", operation_id = "delete_secret",
    params(("name" = String, Path)),
    responses(
        (status = 204),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Functions read it; the message names them"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let name = name_of(&name)?;
    match auth
        .functions(&state.store)
        .delete_secret(&name, &auth.actor())
        .await?
    {
        SecretDeleted::Deleted => {}
        SecretDeleted::NotFound => {
            return Err(ApiError::not_found(format!(
                "no secret {:?}",
                name.as_str()
            )))
        }
        SecretDeleted::InUse(functions) => {
            let names: Vec<&str> = functions.iter().map(|f| f.as_str()).collect();
            let (who, whose) = if names.len() == 1 {
                ("function", "its")
            } else {
                ("functions", "their")
            };
            return Err(ApiError::Conflict(format!(
                "secret {:?} is used by {who} {}; remove it from {whose} secretEnv and secretFiles first",
                name.as_str(),
                names.join(", ")
            )));
        }
    }
    state.sync.notify();
    tracing::info!(tenant = %auth.tenant, secret = %name, "secret deleted");
    Ok(StatusCode::NO_CONTENT)
}
