//! `/v1/functions`: the tenant's functions. Every handler takes
//! [`TenantAuth`] and reaches the catalog only through it.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    http::StatusCode,
    response::IntoResponse,
    Json,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, SecondsFormat, Utc};
use eventflow_core::{EnvVar, FunctionName, FunctionSpec, RawFunctionSpec, ValidationError};
use eventflow_crd::{Condition, Phase};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::json::ApiPath as Path;
use crate::sync::SyncReason;
use crate::{
    auth::TenantAuth,
    error::{ApiError, ApiResult, ErrorBody},
    json::{from_value, ApiJson, JsonObject},
    store::{Created, FunctionRow},
    AppState,
};

/// Fields the platform sets; a client that sends them is told so.
const PLATFORM_FIELDS: [&str; 7] = [
    "namespace",
    "tenant",
    "status",
    "generation",
    "createdAt",
    "updatedAt",
    "metadata",
];

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

/// Body of `POST /v1/functions` (and `PUT`, where `name` is optional).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionRequest {
    /// DNS-1123 label, 1–60 characters.
    #[schema(example = "alice-app")]
    pub name: String,
    #[serde(flatten)]
    pub spec: RawFunctionSpec,
}

/// Body of `PATCH /v1/functions/{name}`: any of replicas, image, env.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionPatch {
    pub replicas: Option<i64>,
    pub image: Option<String>,
    pub env: Option<Vec<EnvVar>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDto {
    pub name: String,
    pub tenant: String,
    pub namespace: String,
    pub spec: FunctionSpec,
    pub status: FunctionStatusDto,
    /// Catalog version of the spec; bumped on every change.
    pub generation: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// Where a function is in its life: `Pending` (not yet applied, or waiting
/// for the operator), `Deploying`, `Running` (all replicas ready), `Idle`
/// (scaled to zero replicas; with `minReplicas` 0 an invocation wakes it)
/// or `Failed` (see `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Phase)]
pub enum PhaseDto {
    Pending,
    Deploying,
    Running,
    Failed,
    Idle,
}

impl From<Phase> for PhaseDto {
    fn from(p: Phase) -> Self {
        match p {
            Phase::Pending => PhaseDto::Pending,
            Phase::Deploying => PhaseDto::Deploying,
            Phase::Running => PhaseDto::Running,
            Phase::Failed => PhaseDto::Failed,
            Phase::Idle => PhaseDto::Idle,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatusDto {
    pub phase: PhaseDto,
    /// Why the function is not (yet) Running, e.g. `Syncing`,
    /// `ClusterUnavailable`, `ImagePullBackOff`, `QuotaExceeded`.
    pub reason: Option<String>,
    pub message: Option<String>,
    pub replicas: i32,
    pub ready_replicas: i32,
    /// In-cluster URL of the function's Service.
    pub url: Option<String>,
    pub conditions: Vec<ConditionDto>,
    /// Whether the current generation has been applied to the cluster.
    pub synced: bool,
    /// Request-based scaling (`autoscaling.targetConcurrency`, or
    /// `minReplicas` 0): the scaler's last decision and the last cold start.
    pub scaling: Option<ScalingDto>,
    /// The cron triggers' last and next runs (on one function's `GET`,
    /// create and update; not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedules: Option<Vec<ScheduleStatusDto>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleStatusDto {
    pub name: String,
    /// The next slot; absent when the expression never fires again.
    pub next_run_time: Option<String>,
    pub last_run_time: Option<String>,
    /// The asynchronous invocation of the last run.
    pub last_invocation_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingDto {
    /// Replicas the scaler last set.
    pub desired_replicas: Option<u32>,
    pub last_scale_time: Option<String>,
    /// Why: `Load`, `Idle` (to zero), `MinReplicas`, `MaxReplicas` (the
    /// load wants more than maxReplicas), `Stabilising` (held after the
    /// load fell), `TenantMaxReplicas` or `Quota` (the tenant's limits hold
    /// it lower).
    pub last_scale_reason: Option<String>,
    /// When the last invocation woke the function from zero.
    pub last_cold_start_time: Option<String>,
    /// How long until a replica answered, in ms.
    pub last_cold_start_ms: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConditionDto {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionList {
    pub items: Vec<FunctionDto>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status_of(row: &FunctionRow) -> FunctionStatusDto {
    let s = &row.status;
    let synced = row.applied_generation >= row.generation;
    let conditions: Vec<ConditionDto> = s
        .conditions
        .iter()
        .map(|c: &Condition| ConditionDto {
            type_: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_transition_time: c.last_transition_time.clone(),
        })
        .collect();
    let ready = s.conditions.iter().find(|c| c.type_ == "Ready");
    let pending = |reason: SyncReason, message: String| {
        (Phase::Pending, Some(reason.to_string()), Some(message))
    };
    let (phase, reason, message) = if !synced {
        match &row.sync_failure {
            Some(f) => pending(
                f.reason,
                format!("not yet applied to Kubernetes: {}; retrying", f.message),
            ),
            None => pending(
                SyncReason::Syncing,
                "waiting to be applied to Kubernetes".into(),
            ),
        }
    } else if let Some(phase) = s.phase {
        let (reason, message) = match ready {
            Some(c) if c.status != "True" => (Some(c.reason.clone()), Some(c.message.clone())),
            _ => (None, None),
        };
        (phase, reason, message)
    } else {
        pending(
            SyncReason::AwaitingOperator,
            "applied to Kubernetes; waiting for the operator to report status".into(),
        )
    };
    let by_requests = row
        .spec
        .autoscaling
        .as_ref()
        .is_some_and(eventflow_core::Autoscaling::by_requests);
    let sc = &row.scaling;
    FunctionStatusDto {
        phase: phase.into(),
        reason,
        message,
        replicas: s.replicas,
        ready_replicas: s.ready_replicas,
        url: s.url.clone(),
        conditions,
        synced,
        scaling: by_requests.then(|| ScalingDto {
            desired_replicas: sc.desired_replicas,
            last_scale_time: sc.scaled_at.map(rfc3339),
            last_scale_reason: sc.reason.clone(),
            last_cold_start_time: sc.cold_start_at.map(rfc3339),
            last_cold_start_ms: sc.cold_start_ms,
        }),
        schedules: None,
    }
}

/// One function as the API shows it alone: with its schedules' state.
pub(crate) async fn one(
    state: &AppState,
    auth: &TenantAuth,
    row: &FunctionRow,
) -> ApiResult<FunctionDto> {
    let mut dto = FunctionDto::from(row);
    if !row.spec.schedules.is_empty() {
        let states = auth
            .functions(&state.store)
            .schedule_states(&row.name)
            .await?;
        dto.status.schedules = Some(
            states
                .into_iter()
                .map(|s| ScheduleStatusDto {
                    name: s.name,
                    next_run_time: s.next_at.map(rfc3339),
                    last_run_time: s.last_at.map(rfc3339),
                    last_invocation_id: s.last_invocation_id,
                })
                .collect(),
        );
    }
    Ok(dto)
}

impl From<&FunctionRow> for FunctionDto {
    fn from(row: &FunctionRow) -> Self {
        Self {
            name: row.name.to_string(),
            tenant: row.tenant.to_string(),
            namespace: row.tenant.namespace(),
            spec: row.spec.clone(),
            status: status_of(row),
            generation: row.generation,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

fn parse_name(name: &str) -> ApiResult<FunctionName> {
    Ok(FunctionName::parse(name)?)
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("function {name:?} not found"))
}

/// Splits a request object into its name and raw spec, refusing fields the
/// platform owns.
fn split_request(
    mut body: serde_json::Map<String, serde_json::Value>,
) -> ApiResult<(Option<String>, RawFunctionSpec)> {
    for f in PLATFORM_FIELDS {
        if body.contains_key(f) {
            return Err(ApiError::bad_request(
                format!("{f} is set by the platform and cannot be given"),
                Some(f.to_string()),
            ));
        }
    }
    let name = match body.remove("name") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err(ValidationError::new("name", "must be a string").into()),
    };
    let raw: RawFunctionSpec = from_value(serde_json::Value::Object(body))?;
    Ok((name, raw))
}

pub(crate) async fn spec_limits(
    state: &AppState,
    auth: &TenantAuth,
) -> ApiResult<eventflow_core::SpecLimits> {
    let tenant = state.store.get_tenant(&auth.tenant).await?;
    Ok(eventflow_core::SpecLimits {
        max_replicas: tenant
            .and_then(|t| t.max_replicas)
            .unwrap_or(eventflow_core::SpecLimits::default().max_replicas),
        min_schedule_interval_seconds: state.config.invocations.min_schedule_interval_seconds,
    })
}

/// The `limit` query parameter of a paged list: `default` when absent,
/// else 1 to `max` (400 naming `limit` otherwise).
pub(crate) fn page_limit(q: &HashMap<String, String>, default: i64, max: i64) -> ApiResult<i64> {
    match q.get("limit") {
        None => Ok(default),
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be 1 to {max}"), Some("limit".into()))
            }),
    }
}

/// The `cursor` of a list paged by a number, newest first (the rows below
/// it): absent, or a positive number (400 naming `cursor` otherwise).
pub(crate) fn number_cursor(q: &HashMap<String, String>) -> ApiResult<Option<i64>> {
    match q.get("cursor").filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("invalid cursor", Some("cursor".into()))),
    }
}

/// Rows read with `limit + 1`: the page of at most `limit`, and the next
/// page's cursor (the last row's `key`) when there are more.
pub(crate) fn split_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> i64,
) -> (Vec<T>, Option<String>) {
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > page;
    rows.truncate(page);
    let next = if more {
        rows.last().map(|r| key(r).to_string())
    } else {
        None
    };
    (rows, next)
}

/// List the caller's functions, by name, a page at a time.
#[utoipa::path(get, path = "/v1/functions", tag = "functions",
    params(
        ("limit" = Option<i64>, Query, description = "Page size, 1–200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses((status = 200, body = FunctionList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<FunctionList>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let limit = page_limit(&q, DEFAULT_PAGE, MAX_PAGE)?;
    let after = match q.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                // Cursors are function names; anything else (a NUL byte
                // included) is not one of ours.
                .filter(|n| FunctionName::parse(n).is_ok())
                .ok_or_else(|| ApiError::bad_request("invalid cursor", Some("cursor".into())))?,
        ),
    };
    let page = auth
        .functions(&state.store)
        .list(limit, after.as_deref())
        .await?;
    Ok(Json(FunctionList {
        items: page.items.iter().map(FunctionDto::from).collect(),
        next_cursor: page.next_after.map(|n| URL_SAFE_NO_PAD.encode(n)),
    }))
}

/// Create a function. It is stored at once and applied to Kubernetes
/// asynchronously; `status.synced` tells when it has been.
#[utoipa::path(post, path = "/v1/functions", tag = "functions",
    request_body = FunctionRequest,
    responses(
        (status = 201, body = FunctionDto),
        (status = 400, body = ErrorBody, description = "Malformed JSON, unknown or platform-owned field"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "The tenant's function quota is used up"),
        (status = 409, body = ErrorBody, description = "A function with this name exists"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A field is invalid; `field` names it"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    JsonObject(body): JsonObject,
) -> ApiResult<impl IntoResponse> {
    let (name, raw) = split_request(body)?;
    let name = parse_name(
        name.as_deref()
            .ok_or_else(|| ValidationError::new("name", "is required"))?,
    )?;
    let spec = FunctionSpec::parse(raw, spec_limits(&state, &auth).await?)?;
    let functions = auth.functions(&state.store);
    let quota = state.tenant_quota(&auth.tenant).await?;
    eventflow_core::check_fits_quota(&spec, &quota)?;
    let row = match functions
        .create(&name, &spec, quota.functions, &auth.actor())
        .await?
    {
        Created::Row(row) => row,
        Created::NameTaken => {
            return Err(ApiError::Conflict(format!(
                "function {:?} already exists",
                name.as_str()
            )))
        }
        Created::QuotaUsedUp => {
            return Err(ApiError::QuotaExceeded(format!(
                "function quota used up: the tenant may have {} function{} (delete one, or ask an admin to raise the quota)",
                quota.functions,
                if quota.functions == 1 { "" } else { "s" }
            )))
        }
    };
    state.sync.notify();
    // The gateway may have cached the name as missing.
    state.gateway.invalidate(&auth.tenant, &name);
    tracing::info!(tenant = %auth.tenant, function = %name, "function created");
    Ok((StatusCode::CREATED, Json(one(&state, &auth, &row).await?)))
}

/// Get one function with its status.
#[utoipa::path(get, path = "/v1/functions/{name}", tag = "functions",
    params(("name" = String, Path)),
    responses((status = 200, body = FunctionDto), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<FunctionDto>> {
    let name = parse_name(&name)?;
    let row = auth
        .functions(&state.store)
        .get(&name)
        .await?
        .ok_or_else(|| not_found(name.as_str()))?;
    Ok(Json(one(&state, &auth, &row).await?))
}

async fn save(
    state: &AppState,
    auth: &TenantAuth,
    name: &FunctionName,
    spec: FunctionSpec,
) -> ApiResult<Json<FunctionDto>> {
    save_with(state, auth, name, spec, None).await
}

/// Stores a new spec (a new revision; `rollback_of` when it restores one).
pub(crate) async fn save_with(
    state: &AppState,
    auth: &TenantAuth,
    name: &FunctionName,
    spec: FunctionSpec,
    rollback_of: Option<i64>,
) -> ApiResult<Json<FunctionDto>> {
    eventflow_core::check_fits_quota(&spec, &state.tenant_quota(&auth.tenant).await?)?;
    let row = auth
        .functions(&state.store)
        .update_with(name, &spec, &auth.actor(), rollback_of)
        .await?
        .ok_or_else(|| not_found(name.as_str()))?;
    state.sync.notify();
    state.gateway.invalidate(&auth.tenant, name);
    tracing::info!(tenant = %auth.tenant, function = %name, generation = row.generation, "function updated");
    Ok(Json(one(state, auth, &row).await?))
}

/// Replace a function's spec. Omitted fields take their defaults.
#[utoipa::path(put, path = "/v1/functions/{name}", tag = "functions",
    params(("name" = String, Path)),
    request_body = FunctionRequest,
    responses((status = 200, body = FunctionDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<FunctionDto>> {
    let name = parse_name(&name)?;
    let (body_name, raw) = split_request(body)?;
    if body_name.is_some_and(|n| n != name.as_str()) {
        return Err(ValidationError::new("name", "must match the name in the path").into());
    }
    // 404 before 422: another tenant's function must not be probed by errors.
    if auth.functions(&state.store).get(&name).await?.is_none() {
        return Err(not_found(name.as_str()));
    }
    let spec = FunctionSpec::parse(raw, spec_limits(&state, &auth).await?)?;
    save(&state, &auth, &name, spec).await
}

/// Change replicas, image or env; other fields keep their values.
#[utoipa::path(patch, path = "/v1/functions/{name}", tag = "functions",
    params(("name" = String, Path)),
    request_body = FunctionPatch,
    responses((status = 200, body = FunctionDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn patch(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<FunctionPatch>,
) -> ApiResult<Json<FunctionDto>> {
    let name = parse_name(&name)?;
    let row = auth
        .functions(&state.store)
        .get(&name)
        .await?
        .ok_or_else(|| not_found(name.as_str()))?;
    let mut raw = row.spec.to_raw();
    if let Some(r) = patch.replicas {
        raw.replicas = Some(r);
    }
    if let Some(i) = patch.image {
        raw.image = Some(i);
    }
    if let Some(e) = patch.env {
        raw.env = Some(e);
    }
    let spec = FunctionSpec::parse(raw, spec_limits(&state, &auth).await?)?;
    if spec == row.spec {
        return Ok(Json(one(&state, &auth, &row).await?));
    }
    save(&state, &auth, &name, spec).await
}

/// Delete a function. Its custom resource (and with it Deployment, Service
/// and pods) is removed from Kubernetes asynchronously.
#[utoipa::path(delete, path = "/v1/functions/{name}", tag = "functions",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let name = parse_name(&name)?;
    if !auth
        .functions(&state.store)
        .delete(&name, &auth.actor())
        .await?
    {
        return Err(not_found(name.as_str()));
    }
    state.sync.notify();
    state.gateway.invalidate(&auth.tenant, &name);
    state.gateway.series.forget(&auth.tenant, &name);
    tracing::info!(tenant = %auth.tenant, function = %name, "function deleted");
    Ok(StatusCode::NO_CONTENT)
}
