//! `/v1/registry-credentials`: the tenant's logins to private container
//! registries. The node uses them to pull the tenant's images; the API
//! accepts a password and never returns it (responses, errors, the audit
//! log and the server's logs carry the registry and user name only).

use std::sync::Arc;

use axum::{http::StatusCode, response::IntoResponse, Json};
use eventflow_core::{RegistryHost, RegistryLogin, MAX_REGISTRY_CREDENTIALS};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::functions::rfc3339;
use crate::json::ApiPath as Path;
use crate::{
    auth::TenantAuth,
    error::{ApiError, ApiResult, ErrorBody},
    json::ApiJson,
    store::{RegistryCredentialRow, Saved},
    AppState,
};
use axum::extract::State;

/// Body of `PUT /v1/registry-credentials/{registry}`. The password (or
/// access token) is write-only.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryCredentialRequest {
    /// 1–256 bytes, no `:` and no control characters.
    #[schema(example = "robot$ci")]
    pub username: String,
    /// 1–4096 bytes, no control characters. Never returned.
    #[schema(example = "ghp_…", format = Password)]
    pub password: String,
}

/// A stored login, without its password.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCredentialDto {
    /// Registry host as in image references, e.g. `ghcr.io`.
    pub registry: String,
    pub username: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryCredentialList {
    pub items: Vec<RegistryCredentialDto>,
}

impl From<&RegistryCredentialRow> for RegistryCredentialDto {
    fn from(r: &RegistryCredentialRow) -> Self {
        Self {
            registry: r.registry.to_string(),
            username: r.username.clone(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// List the tenant's registry logins (never their passwords).
#[utoipa::path(get, path = "/v1/registry-credentials", tag = "registry-credentials", operation_id = "list_registry_credentials",
    responses((status = 200, body = RegistryCredentialList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
) -> ApiResult<Json<RegistryCredentialList>> {
    let rows = auth.functions(&state.store).registry_credentials().await?;
    Ok(Json(RegistryCredentialList {
        items: rows.iter().map(RegistryCredentialDto::from).collect(),
    }))
}

/// Set the login for one registry (creates or replaces it). Every function
/// of the tenant pulls with it from then on; functions deployed before
/// use it on their next pull (every start, `imagePullPolicy: Always`).
#[utoipa::path(put, path = "/v1/registry-credentials/{registry}", tag = "registry-credentials", operation_id = "put_registry_credential",
    params(("registry" = String, Path, description = "Registry host, e.g. `ghcr.io` or `registry.example.com:5000`")),
    request_body = RegistryCredentialRequest,
    responses(
        (status = 200, body = RegistryCredentialDto, description = "Replaced"),
        (status = 201, body = RegistryCredentialDto, description = "Created"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The tenant has 20 registry logins"),
        (status = 422, body = ErrorBody, description = "`registry`, `username` or `password` is invalid"),
    ),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(registry): Path<String>,
    ApiJson(body): ApiJson<RegistryCredentialRequest>,
) -> ApiResult<impl IntoResponse> {
    let registry = RegistryHost::parse(&registry)?;
    let login = RegistryLogin::parse(body.username, body.password)?;
    let saved = auth
        .functions(&state.store)
        .save_registry_credential(&registry, &login, MAX_REGISTRY_CREDENTIALS, &auth.actor())
        .await?;
    let (status, row) = match saved {
        Saved::Created(row) => (StatusCode::CREATED, row),
        Saved::Replaced(row) => (StatusCode::OK, row),
        Saved::QuotaUsedUp => {
            return Err(ApiError::QuotaExceeded(format!(
                "a tenant may keep {MAX_REGISTRY_CREDENTIALS} registry logins; delete one first"
            )))
        }
    };
    state.sync.notify();
    tracing::info!(tenant = %auth.tenant, registry = %registry, "registry credential saved");
    Ok((status, Json(RegistryCredentialDto::from(&row))))
}

/// Delete the login for one registry.
#[utoipa::path(delete, path = "/v1/registry-credentials/{registry}", tag = "registry-credentials", operation_id = "delete_registry_credential",
    params(("registry" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(registry): Path<String>,
) -> ApiResult<StatusCode> {
    let registry = RegistryHost::parse(&registry)?;
    if !auth
        .functions(&state.store)
        .delete_registry_credential(&registry, &auth.actor())
        .await?
    {
        return Err(ApiError::not_found(format!(
            "no registry credential for {registry:?}",
            registry = registry.as_str()
        )));
    }
    state.sync.notify();
    tracing::info!(tenant = %auth.tenant, registry = %registry, "registry credential deleted");
    Ok(StatusCode::NO_CONTENT)
}
