//! `/v1/admin`: tenants and API keys. Admin role only (403 otherwise).

use std::sync::Arc;

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use eventflow_core::{Quantity, TenantId, ValidationError};
use eventflow_crd::{LimitOverrides, QuotaOverrides, TenantSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::json::ApiPath as Path;
use crate::{
    api::functions::rfc3339,
    auth::{generate_api_key, hash_api_key, key_prefix, AdminAuth},
    error::{ApiError, ApiResult, ErrorBody},
    json::ApiJson,
    store::{ApiKeyRow, Role, TenantRow},
    AppState,
};

/// Deserializes an overrides object, refusing keys its type does not have.
/// The CRD types themselves accept and drop unknown keys (so that an older
/// operator can read a newer Tenant), which at the API would silently lose a
/// misspelt limit.
fn strict<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + schemars::JsonSchema,
{
    use serde::de::Error;
    let Some(map) = Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)? else {
        return Ok(None);
    };
    let schema = schemars::schema_for!(T);
    let known: Vec<&String> = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    if let Some(k) = map.keys().find(|k| !known.contains(k)) {
        let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        return Err(D::Error::custom(format!(
            "unknown field `{k}`, expected one of {}",
            expected.join(", ")
        )));
    }
    serde_json::from_value(serde_json::Value::Object(map))
        .map(Some)
        .map_err(D::Error::custom)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTenant {
    /// ResourceQuota overrides, as for creation.
    #[serde(default, deserialize_with = "strict")]
    #[schema(value_type = Option<Object>)]
    pub quota: Option<QuotaOverrides>,
    /// LimitRange overrides, as for creation.
    #[serde(default, deserialize_with = "strict")]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<LimitOverrides>,
    /// Highest replicas one function may ask for (default 20).
    #[serde(default)]
    pub max_replicas: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTenant {
    /// DNS-1123 label, at most 56 characters; the namespace is `tenant-{id}`.
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    /// ResourceQuota overrides: requestsCpu, requestsMemory, limitsCpu,
    /// limitsMemory, pods, persistentVolumeClaims, services, configMaps,
    /// secrets, functions.
    #[serde(default, deserialize_with = "strict")]
    #[schema(value_type = Option<Object>)]
    pub quota: Option<QuotaOverrides>,
    /// LimitRange overrides: defaultRequestCpu, defaultRequestMemory,
    /// defaultLimitCpu, defaultLimitMemory.
    #[serde(default, deserialize_with = "strict")]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<LimitOverrides>,
    /// Highest replicas one function may ask for (default 20).
    #[serde(default)]
    pub max_replicas: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDto {
    pub id: String,
    pub namespace: String,
    pub email: Option<String>,
    #[schema(value_type = Object)]
    pub spec: TenantSpec,
    pub max_replicas: Option<u32>,
    pub created_at: String,
}

impl From<&TenantRow> for TenantDto {
    fn from(t: &TenantRow) -> Self {
        Self {
            id: t.id.to_string(),
            namespace: t.id.namespace(),
            email: t.email.clone(),
            spec: t.spec.clone(),
            max_replicas: t.max_replicas,
            created_at: rfc3339(t.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// The tenant the key signs in as; omit for an admin key.
    #[serde(default)]
    pub tenant: Option<String>,
    pub role: Role,
    /// A label to recognise the key by.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyDto {
    pub id: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub tenant: Option<String>,
    pub role: Role,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<&ApiKeyRow> for ApiKeyDto {
    fn from(k: &ApiKeyRow) -> Self {
        Self {
            id: k.id.clone(),
            prefix: k.prefix.clone(),
            tenant: k.tenant.as_ref().map(ToString::to_string),
            role: k.role,
            name: k.name.clone(),
            created_at: rfc3339(k.created_at),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A new key; `key` is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedApiKey {
    pub key: String,
    #[serde(flatten)]
    pub info: ApiKeyDto,
}

fn check_quantity(field: &str, v: Option<&String>) -> Result<(), ValidationError> {
    if let Some(v) = v {
        Quantity::parse(v).map_err(|e| ValidationError::new(field, e.to_string()))?;
    }
    Ok(())
}

fn check_count(field: &str, v: Option<i32>) -> Result<(), ValidationError> {
    match v {
        Some(n) if n < 0 => Err(ValidationError::new(field, "must not be negative")),
        _ => Ok(()),
    }
}

fn validate_overrides(
    q: Option<&QuotaOverrides>,
    l: Option<&LimitOverrides>,
) -> Result<(), ValidationError> {
    if let Some(q) = q {
        check_quantity("quota.requestsCpu", q.requests_cpu.as_ref())?;
        check_quantity("quota.requestsMemory", q.requests_memory.as_ref())?;
        check_quantity("quota.limitsCpu", q.limits_cpu.as_ref())?;
        check_quantity("quota.limitsMemory", q.limits_memory.as_ref())?;
        check_count("quota.pods", q.pods)?;
        check_count("quota.persistentVolumeClaims", q.persistent_volume_claims)?;
        check_count("quota.services", q.services)?;
        check_count("quota.configMaps", q.config_maps)?;
        check_count("quota.secrets", q.secrets)?;
        check_count("quota.functions", q.functions)?;
    }
    if let Some(l) = l {
        check_quantity("limits.defaultRequestCpu", l.default_request_cpu.as_ref())?;
        check_quantity(
            "limits.defaultRequestMemory",
            l.default_request_memory.as_ref(),
        )?;
        check_quantity("limits.defaultLimitCpu", l.default_limit_cpu.as_ref())?;
        check_quantity("limits.defaultLimitMemory", l.default_limit_memory.as_ref())?;
    }
    Ok(())
}

fn max_replicas(n: Option<i64>) -> Result<Option<u32>, ValidationError> {
    n.map(|n| {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ValidationError::new("maxReplicas", "must be between 1 and 1000"))
    })
    .transpose()
}

/// Create a tenant (with optional quota and limit overrides).
#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin", request_body = CreateTenant,
    responses((status = 201, body = TenantDto), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_tenant(
    State(state): State<Arc<AppState>>,
    admin: AdminAuth,
    ApiJson(req): ApiJson<CreateTenant>,
) -> ApiResult<impl IntoResponse> {
    let id = TenantId::parse(&req.id).map_err(|e| ValidationError::new("id", e.message))?;
    validate_overrides(req.quota.as_ref(), req.limits.as_ref())?;
    let max_replicas = max_replicas(req.max_replicas)?;
    let spec = TenantSpec {
        quota: req.quota,
        limits: req.limits,
    };
    let created = state
        .store
        .ensure_tenant(
            &id,
            req.email.as_deref(),
            &spec,
            max_replicas,
            &admin.principal.actor(),
        )
        .await?;
    if !created {
        return Err(ApiError::Conflict(format!(
            "tenant {:?} already exists",
            id.as_str()
        )));
    }
    state.sync.notify();
    let row = state
        .store
        .get_tenant(&id)
        .await?
        .ok_or_else(|| ApiError::Internal("tenant vanished after insert".into()))?;
    Ok((StatusCode::CREATED, Json(TenantDto::from(&row))))
}

/// List tenants.
#[utoipa::path(get, path = "/v1/admin/tenants", tag = "admin",
    responses((status = 200, body = Vec<TenantDto>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tenants(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
) -> ApiResult<Json<Vec<TenantDto>>> {
    Ok(Json(
        state
            .store
            .list_tenants()
            .await?
            .iter()
            .map(TenantDto::from)
            .collect(),
    ))
}

/// Replace a tenant's overrides. Omitted fields go back to the defaults. The
/// operator applies the new quota and limit range to the tenant's namespace.
/// Lowering a quota below what is in use does not remove anything: new pods
/// or functions beyond it are refused by Kubernetes.
#[utoipa::path(put, path = "/v1/admin/tenants/{id}", tag = "admin", params(("id" = String, Path)),
    request_body = UpdateTenant,
    responses((status = 200, body = TenantDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_tenant(
    State(state): State<Arc<AppState>>,
    admin: AdminAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateTenant>,
) -> ApiResult<Json<TenantDto>> {
    let id = TenantId::parse(&id).map_err(|e| ValidationError::new("id", e.message))?;
    validate_overrides(req.quota.as_ref(), req.limits.as_ref())?;
    let max_replicas = max_replicas(req.max_replicas)?;
    let spec = TenantSpec {
        quota: req.quota,
        limits: req.limits,
    };
    if !state
        .store
        .update_tenant(&id, &spec, max_replicas, &admin.principal.actor())
        .await?
    {
        return Err(ApiError::not_found(format!(
            "tenant {:?} not found",
            id.as_str()
        )));
    }
    state.sync.notify();
    let row = state
        .store
        .get_tenant(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("tenant {:?} not found", id.as_str())))?;
    Ok(Json(TenantDto::from(&row)))
}

/// Delete a tenant, its functions and its keys. The operator removes the
/// namespace once the Tenant resource is gone.
#[utoipa::path(delete, path = "/v1/admin/tenants/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_tenant(
    State(state): State<Arc<AppState>>,
    admin: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = TenantId::parse(&id).map_err(|e| ValidationError::new("id", e.message))?;
    if !state
        .store
        .delete_tenant(&id, &admin.principal.actor())
        .await?
    {
        return Err(ApiError::not_found(format!(
            "tenant {:?} not found",
            id.as_str()
        )));
    }
    state.key_check.clear();
    state.sync.notify();
    Ok(StatusCode::NO_CONTENT)
}

/// Issue an API key. The key is in the response once and never again.
#[utoipa::path(post, path = "/v1/admin/api-keys", tag = "admin", request_body = CreateApiKey,
    responses((status = 201, body = IssuedApiKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_api_key(
    State(state): State<Arc<AppState>>,
    admin: AdminAuth,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> ApiResult<impl IntoResponse> {
    if req.name.trim().is_empty() || req.name.len() > 100 {
        return Err(ValidationError::new("name", "must be 1 to 100 characters").into());
    }
    let tenant = match (req.role, req.tenant) {
        (Role::Admin, None) => None,
        (Role::Admin, Some(_)) => {
            return Err(ValidationError::new("tenant", "admin keys have no tenant").into())
        }
        (Role::Tenant, None) => {
            return Err(ValidationError::new("tenant", "is required for tenant keys").into())
        }
        (Role::Tenant, Some(t)) => {
            let t = TenantId::parse(&t).map_err(|e| ValidationError::new("tenant", e.message))?;
            if state.store.get_tenant(&t).await?.is_none() {
                return Err(ApiError::not_found(format!(
                    "tenant {:?} not found",
                    t.as_str()
                )));
            }
            Some(t)
        }
    };
    let key = generate_api_key();
    let row = state
        .store
        .insert_api_key(
            &hash_api_key(&key),
            &key_prefix(&key),
            tenant.as_ref(),
            req.role,
            req.name.trim(),
            &admin.principal.actor(),
        )
        .await?;
    tracing::info!(key = %row.prefix, role = ?row.role, "API key issued");
    Ok((
        StatusCode::CREATED,
        Json(IssuedApiKey {
            key,
            info: ApiKeyDto::from(&row),
        }),
    ))
}

/// List API keys (never the keys themselves).
#[utoipa::path(get, path = "/v1/admin/api-keys", tag = "admin",
    responses((status = 200, body = Vec<ApiKeyDto>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_api_keys(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
) -> ApiResult<Json<Vec<ApiKeyDto>>> {
    Ok(Json(
        state
            .store
            .list_api_keys()
            .await?
            .iter()
            .map(ApiKeyDto::from)
            .collect(),
    ))
}

/// Revoke an API key: it can no longer be exchanged for tokens, and the
/// tokens it was exchanged for stop working.
#[utoipa::path(delete, path = "/v1/admin/api-keys/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_api_key(
    State(state): State<Arc<AppState>>,
    admin: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !state
        .store
        .revoke_api_key(&id, &admin.principal.actor())
        .await?
    {
        return Err(ApiError::not_found("no active API key with this id"));
    }
    state.key_check.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<crate::audit::AuditEntry>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Read the audit log: who created, changed and deleted what (env values
/// are recorded redacted). Newest first; `tenant` filters.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin",
    params(
        ("tenant" = Option<String>, Query, description = "Only this tenant's entries"),
        ("limit" = Option<i64>, Query, description = "Page size, 1–500 (default 100)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_log(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    query: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<AuditPage>> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let bad = |field: &str, message: &str| ApiError::bad_request(message, Some(field.into()));
    let tenant = q
        .get("tenant")
        .map(|t| TenantId::parse(t).map_err(|_| bad("tenant", "not a tenant id")))
        .transpose()?;
    let limit = crate::api::functions::page_limit(&q, 100, 500)?;
    let before = q
        .get("cursor")
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| bad("cursor", "invalid cursor"))
        })
        .transpose()?;
    let items = state
        .store
        .audit_entries(tenant.as_ref(), before, limit)
        .await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Json(AuditPage { items, next_cursor }))
}

/// One tenant's usage on one day.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageDay {
    pub tenant: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Invocations that reached one of the tenant's functions (through
    /// any server replica's gateway; refused ones do not count).
    pub invocations: i64,
    /// Seconds of ready replicas of the tenant's functions, sampled every
    /// 10 s from their status.
    pub replica_seconds: i64,
}

/// Usage per tenant per day, for metering.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub from: String,
    pub to: String,
    /// By day, then tenant; days without usage are absent.
    pub items: Vec<UsageDay>,
}

/// Usage for metering: invocations and replica-seconds per tenant per UTC
/// day, `from` to `to` (`YYYY-MM-DD`, both included, at most 366 days;
/// default the last 30 days). Kept in the catalog, so it outlives server
/// restarts and deleted tenants.
#[utoipa::path(get, path = "/v1/admin/usage", tag = "admin", operation_id = "get_usage",
    params(
        ("from" = Option<String>, Query, description = "First day, YYYY-MM-DD (default 29 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, YYYY-MM-DD (default today, UTC)"),
        ("tenant" = Option<String>, Query, description = "Only this tenant"),
    ),
    responses((status = 200, body = UsageReport), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn usage(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    query: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> ApiResult<Json<UsageReport>> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    if let Some(other) = q
        .keys()
        .find(|k| !["from", "to", "tenant"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(
            format!("unknown query parameter {other:?} (only from, to and tenant)"),
            Some(other.clone()),
        ));
    }
    let day = |field: &'static str| -> ApiResult<Option<chrono::NaiveDate>> {
        q.get(field)
            .map(|d| {
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    ApiError::Validation(ValidationError::new(field, "must be a day, YYYY-MM-DD"))
                })
            })
            .transpose()
    };
    let to = day("to")?.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = day("from")?.unwrap_or(to - chrono::Days::new(29));
    if from > to {
        return Err(ApiError::Validation(ValidationError::new(
            "from",
            "must not be after `to`",
        )));
    }
    if (to - from).num_days() > 365 {
        return Err(ApiError::Validation(ValidationError::new(
            "from",
            "at most 366 days at once",
        )));
    }
    let tenant = q
        .get("tenant")
        .map(|t| {
            TenantId::parse(t)
                .map_err(|_| ApiError::bad_request("not a tenant id", Some("tenant".into())))
        })
        .transpose()?;
    let (from, to) = (
        from.format("%Y-%m-%d").to_string(),
        to.format("%Y-%m-%d").to_string(),
    );
    let items = state
        .store
        .usage(&from, &to, tenant.as_ref())
        .await?
        .into_iter()
        .map(|r| UsageDay {
            tenant: r.tenant.to_string(),
            day: r.day,
            invocations: r.invocations,
            replica_seconds: r.replica_seconds,
        })
        .collect();
    Ok(Json(UsageReport { from, to, items }))
}
