//! Asynchronous invocations' records: `GET /v1/invocations/{id}`, a
//! function's history (`GET /v1/functions/{name}/invocations`) and
//! re-driving one that ended `dead` or `failed`. Starting one is the invoke
//! route with `Prefer: respond-async` (see [`crate::invocations`]).

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    Json,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use eventflow_core::FunctionName;
use serde::Serialize;
use utoipa::ToSchema;

use super::functions::{number_cursor, page_limit, rfc3339, split_page};
use crate::json::ApiPath as Path;
use crate::{
    auth::TenantAuth,
    error::{ApiError, ApiResult, ErrorBody},
    store::{AttemptRow, InvocationRow, InvocationStatus, StoredResponse},
    AppState,
};

/// A body as kept: text when it is UTF-8, else base64.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

impl StoredBody {
    fn of(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(t) => Self {
                body: Some(t.to_string()),
                body_base64: None,
            },
            Err(_) => Self {
                body: None,
                body_base64: Some(STANDARD.encode(bytes)),
            },
        }
    }
}

/// The function's answer to the last attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvocationResponseDto {
    pub status: u16,
    /// `[name, value]` pairs, as the function sent them.
    pub headers: Vec<(String, String)>,
    #[serde(flatten)]
    pub body: StoredBody,
    /// The body was longer than the server keeps (256 KiB by default).
    pub truncated: bool,
}

impl From<&StoredResponse> for InvocationResponseDto {
    fn from(r: &StoredResponse) -> Self {
        Self {
            status: r.status,
            headers: r.headers.clone(),
            body: StoredBody::of(&r.body),
            truncated: r.truncated,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptDto {
    /// 1-based.
    pub n: u32,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The function's HTTP status, when it answered.
    pub status: Option<u16>,
    /// `succeeded`, `retry`, `failed` or `lost` (its server stopped);
    /// absent while under way.
    pub outcome: Option<String>,
    pub error: Option<String>,
}

impl From<&AttemptRow> for AttemptDto {
    fn from(a: &AttemptRow) -> Self {
        Self {
            n: a.n,
            started_at: rfc3339(a.started_at),
            finished_at: a.finished_at.map(rfc3339),
            status: a.status,
            outcome: a.outcome.clone(),
            error: a.error.clone(),
        }
    }
}

/// One asynchronous invocation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvocationDto {
    pub id: String,
    pub function: String,
    pub status: InvocationStatus,
    /// `api`, or `schedule:NAME` for a cron trigger.
    pub source: String,
    pub method: String,
    /// The sub-path after `/invoke` and the query, as sent.
    pub path: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub created_at: String,
    pub updated_at: String,
    /// When the next attempt is due (queued only).
    pub next_attempt_at: Option<String>,
    pub finished_at: Option<String>,
    pub last_error: Option<String>,
    pub response: Option<InvocationResponseDto>,
    /// The completion callback's URL, if one was named.
    pub callback_url: Option<String>,
    /// `delivered: 200`, `failed: …` or `refused: …` once it was tried.
    pub callback_status: Option<String>,
    /// Every attempt, oldest first (`GET /v1/invocations/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptDto>>,
}

impl InvocationDto {
    pub fn from_row(r: &InvocationRow, attempts: Option<&[AttemptRow]>) -> Self {
        let mut path = r.request.path.clone();
        if let Some(q) = &r.request.query {
            path.push('?');
            path.push_str(q);
        }
        Self {
            id: r.id.clone(),
            function: r.name.to_string(),
            status: r.status,
            source: r.source.clone(),
            method: r.request.method.clone(),
            path,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            next_attempt_at: (r.status == InvocationStatus::Queued)
                .then(|| rfc3339(r.next_attempt_at)),
            finished_at: r.finished_at.map(rfc3339),
            last_error: r.last_error.clone(),
            response: r.response.as_ref().map(InvocationResponseDto::from),
            callback_url: r.callback_url.clone(),
            callback_status: r.callback_status.clone(),
            attempt_log: attempts.map(|a| a.iter().map(AttemptDto::from).collect()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvocationList {
    pub items: Vec<InvocationDto>,
    /// Pass as `cursor` for the next (older) page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("invocation {id:?} not found"))
}

/// One invocation of the caller's tenant, with every attempt.
#[utoipa::path(get, path = "/v1/invocations/{id}", tag = "invocations", operation_id = "get_invocation",
    params(("id" = String, Path)),
    responses((status = 200, body = InvocationDto), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<InvocationDto>> {
    let (row, attempts) = auth
        .functions(&state.store)
        .invocation(&id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(InvocationDto::from_row(&row, Some(&attempts))))
}

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// A function's invocations, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/functions/{name}/invocations", tag = "invocations", operation_id = "list_invocations",
    params(
        ("name" = String, Path),
        ("status" = Option<String>, Query, description = "Only this status: queued, running, succeeded, failed or dead"),
        ("limit" = Option<i64>, Query, description = "Page size, 1–200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses((status = 200, body = InvocationList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<InvocationList>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let name = FunctionName::parse(&name)?;
    let limit = page_limit(&q, DEFAULT_PAGE, MAX_PAGE)?;
    let status = match q.get("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(InvocationStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "status must be queued, running, succeeded, failed or dead",
                Some("status".into()),
            )
        })?),
    };
    let before = number_cursor(&q)?;
    let store = auth.functions(&state.store);
    if store.get(&name).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "function {:?} not found",
            name.as_str()
        )));
    }
    let rows = store.invocations(&name, status, before, limit + 1).await?;
    let (rows, next_cursor) = split_page(rows, limit, |r| r.seq);
    Ok(Json(InvocationList {
        items: rows
            .iter()
            .map(|r| InvocationDto::from_row(r, None))
            .collect(),
        next_cursor,
    }))
}

/// Queue a `dead` or `failed` invocation again, with as many attempts as
/// its function allows on top of those it had. Its history is kept.
#[utoipa::path(post, path = "/v1/invocations/{id}/redrive", tag = "invocations", operation_id = "redrive_invocation",
    params(("id" = String, Path)),
    responses(
        (status = 200, body = InvocationDto),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not dead or failed"),
    ),
    security(("bearer" = [])))]
pub async fn redrive(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<InvocationDto>> {
    let store = auth.functions(&state.store);
    let (row, _) = store.invocation(&id).await?.ok_or_else(|| not_found(&id))?;
    let more = store
        .get(&row.name)
        .await?
        .and_then(|f| f.spec.retry.and_then(|r| r.max_attempts))
        .unwrap_or(state.config.invocations.default_max_attempts);
    match store.redrive(&id, more, &auth.actor()).await? {
        None => Err(not_found(&id)),
        Some(Err(status)) => Err(ApiError::Conflict(format!(
            "invocation {id:?} is {}: only dead or failed invocations can be re-driven",
            status.as_str()
        ))),
        Some(Ok(row)) => {
            state.invocations.wake();
            Ok(Json(InvocationDto::from_row(&row, None)))
        }
    }
}
