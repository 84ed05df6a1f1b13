//! `/v1/functions/{name}/invoke-keys`: keys that may invoke this one
//! function and nothing else, for webhooks and outside schedulers. The key
//! is shown once, when it is made; only its SHA-256 is kept.

use std::sync::Arc;

use axum::{extract::State, http::StatusCode, Json};
use eventflow_core::{FunctionName, ValidationError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::functions::rfc3339;
use crate::json::{ApiJson, ApiPath as Path};
use crate::{
    auth::{generate_invoke_key, hash_api_key, key_prefix, TenantAuth},
    error::{ApiError, ApiResult, ErrorBody},
    store::{now_ms, InvokeKeyRow, KeyCreated, MAX_INVOKE_KEYS},
    AppState,
};

/// Longest an invoke key may be made to last: a year.
const MAX_TTL_SECONDS: i64 = 366 * 24 * 3600;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InvokeKeyRequest {
    /// What the key is for, e.g. `github-webhook` (1–64 printable characters).
    pub name: String,
    /// Seconds until it stops working, 60 to a year; absent: until revoked.
    pub expires_in_seconds: Option<i64>,
}

/// A key, without the key.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvokeKeyDto {
    pub id: String,
    pub function: String,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Updated at most once a minute.
    pub last_used_at: Option<String>,
    /// Neither revoked nor expired.
    pub active: bool,
}

impl From<&InvokeKeyRow> for InvokeKeyDto {
    fn from(k: &InvokeKeyRow) -> Self {
        let now = now_ms();
        Self {
            id: k.id.clone(),
            function: k.function.to_string(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            active: k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now),
        }
    }
}

/// A new key: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewInvokeKey {
    /// Send it as `Authorization: Bearer <key>` to the function's invoke
    /// route. Shown once.
    pub key: String,
    #[serde(flatten)]
    pub info: InvokeKeyDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvokeKeyList {
    pub items: Vec<InvokeKeyDto>,
}

fn no_function(name: &FunctionName) -> ApiError {
    ApiError::not_found(format!("function {:?} not found", name.as_str()))
}

/// Make an invoke key for one function.
#[utoipa::path(post, path = "/v1/functions/{name}/invoke-keys", tag = "functions", operation_id = "create_invoke_key",
    params(("name" = String, Path)),
    request_body = InvokeKeyRequest,
    responses((status = 201, body = NewInvokeKey), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody, description = "The function has 20 keys"), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<InvokeKeyRequest>,
) -> ApiResult<(StatusCode, Json<NewInvokeKey>)> {
    let name = FunctionName::parse(&name)?;
    let key_name = body.name.trim();
    if key_name.is_empty() || key_name.len() > 64 || key_name.chars().any(char::is_control) {
        return Err(ValidationError::new("name", "1–64 characters, no control characters").into());
    }
    let expires_at = match body.expires_in_seconds {
        None => None,
        Some(s) if (60..=MAX_TTL_SECONDS).contains(&s) => Some(now_ms() + s * 1000),
        Some(_) => {
            return Err(ValidationError::new(
                "expiresInSeconds",
                format!("must be between 60 and {MAX_TTL_SECONDS}"),
            )
            .into())
        }
    };
    let key = generate_invoke_key();
    let created = auth
        .functions(&state.store)
        .create_invoke_key(
            &name,
            key_name,
            &key_prefix(&key),
            &hash_api_key(&key),
            expires_at,
            &auth.actor(),
        )
        .await?;
    match created {
        KeyCreated::Row(row) => Ok((
            StatusCode::CREATED,
            Json(NewInvokeKey {
                key,
                info: InvokeKeyDto::from(row.as_ref()),
            }),
        )),
        KeyCreated::NoFunction => Err(no_function(&name)),
        KeyCreated::TooMany => Err(ApiError::QuotaExceeded(format!(
            "function {:?} has {MAX_INVOKE_KEYS} invoke keys, the most it may have (revoked ones count until the function is deleted)",
            name.as_str()
        ))),
    }
}

/// List a function's invoke keys (never the keys).
#[utoipa::path(get, path = "/v1/functions/{name}/invoke-keys", tag = "functions", operation_id = "list_invoke_keys",
    params(("name" = String, Path)),
    responses((status = 200, body = InvokeKeyList), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<InvokeKeyList>> {
    let name = FunctionName::parse(&name)?;
    let store = auth.functions(&state.store);
    if store.get(&name).await?.is_none() {
        return Err(no_function(&name));
    }
    let rows = store.invoke_keys(&name).await?;
    Ok(Json(InvokeKeyList {
        items: rows.iter().map(InvokeKeyDto::from).collect(),
    }))
}

/// Revoke an invoke key: it stops working at once, on every server replica.
#[utoipa::path(delete, path = "/v1/functions/{name}/invoke-keys/{id}", tag = "functions", operation_id = "revoke_invoke_key",
    params(("name" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let name = FunctionName::parse(&name)?;
    if auth
        .functions(&state.store)
        .revoke_invoke_key(&name, &id, &auth.actor())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("invoke key {id:?} not found")))
    }
}
