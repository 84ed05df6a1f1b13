//! A function's revisions: every change of its spec, numbered by its
//! generation; the difference between two; and rolling back to one.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    Json,
};
use eventflow_core::{FunctionName, FunctionSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::functions::{number_cursor, page_limit, rfc3339, split_page, FunctionDto};
use crate::json::{ApiJson, ApiPath as Path};
use crate::{
    auth::TenantAuth,
    error::{ApiError, ApiResult, ErrorBody},
    store::RevisionRow,
    AppState,
};

/// One revision of a function's spec.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionDto {
    /// The function's generation this spec had.
    pub revision: i64,
    pub spec: FunctionSpec,
    /// Who made the change: the token's subject (a user id, or
    /// `key:PREFIX` for an API key).
    pub actor: String,
    pub created_at: String,
    /// The revision this one restored, when it is a rollback.
    pub rollback_of: Option<i64>,
    /// The image digest (`sha256:…`) the node resolved while it ran this
    /// revision, where known (recorded once every ready pod ran it on one
    /// digest; unknown for a revision that never ran).
    pub image_digest: Option<String>,
    /// Whether this is the function's spec now.
    pub current: bool,
}

impl RevisionDto {
    fn of(r: &RevisionRow, current: i64) -> Self {
        Self {
            revision: r.revision,
            spec: r.spec.clone(),
            actor: r.actor.clone(),
            created_at: rfc3339(r.created_at),
            rollback_of: r.rollback_of,
            image_digest: r.image_digest.clone(),
            current: r.revision == current,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionList {
    pub items: Vec<RevisionDto>,
    /// Pass as `cursor` for older revisions; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One field that differs between two revisions.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpecChange {
    /// Where, e.g. `image`, `env[0].value`, `autoscaling.maxReplicas`.
    pub path: String,
    /// The value in the older revision (absent: not set there); any JSON.
    pub from: Option<Value>,
    /// The value in the newer one (absent: not set there); any JSON.
    pub to: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionDiff {
    pub from: i64,
    pub to: i64,
    pub changes: Vec<SpecChange>,
}

/// Body of `POST /v1/functions/{name}/rollback`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The revision whose spec becomes the function's spec again.
    pub revision: i64,
}

/// The fields that differ between two specs as JSON, depth first, in key
/// order. Objects are compared key by key; lists of the same length item by
/// item; lists of different lengths as a whole.
pub fn diff(from: &Value, to: &Value) -> Vec<SpecChange> {
    let mut out = Vec::new();
    walk("", Some(from), Some(to), &mut out);
    out
}

fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<SpecChange>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
            for (i, (xa, yb)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), Some(xa), Some(yb), out);
            }
        }
        (a, b) if a != b => out.push(SpecChange {
            path: path.to_string(),
            from: a.cloned(),
            to: b.cloned(),
        }),
        _ => {}
    }
}

async fn current_generation(
    state: &AppState,
    auth: &TenantAuth,
    name: &FunctionName,
) -> ApiResult<crate::store::FunctionRow> {
    auth.functions(&state.store)
        .get(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("function {:?} not found", name.as_str())))
}

fn no_revision(name: &FunctionName, n: i64) -> ApiError {
    ApiError::not_found(format!("function {:?} has no revision {n}", name.as_str()))
}

/// A function's revisions, newest first.
#[utoipa::path(get, path = "/v1/functions/{name}/revisions", tag = "functions", operation_id = "list_revisions",
    params(
        ("name" = String, Path),
        ("limit" = Option<i64>, Query, description = "Page size, 1–200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses((status = 200, body = RevisionList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<RevisionList>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let name = FunctionName::parse(&name)?;
    let limit = page_limit(&q, 50, 200)?;
    let before = number_cursor(&q)?;
    let f = current_generation(&state, &auth, &name).await?;
    let rows = auth
        .functions(&state.store)
        .revisions(&name, before, limit + 1)
        .await?;
    let (rows, next_cursor) = split_page(rows, limit, |r| r.revision);
    Ok(Json(RevisionList {
        items: rows
            .iter()
            .map(|r| RevisionDto::of(r, f.generation))
            .collect(),
        next_cursor,
    }))
}

/// One revision.
#[utoipa::path(get, path = "/v1/functions/{name}/revisions/{revision}", tag = "functions", operation_id = "get_revision",
    params(("name" = String, Path), ("revision" = i64, Path)),
    responses((status = 200, body = RevisionDto), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path((name, revision)): Path<(String, i64)>,
) -> ApiResult<Json<RevisionDto>> {
    let name = FunctionName::parse(&name)?;
    let f = current_generation(&state, &auth, &name).await?;
    let r = auth
        .functions(&state.store)
        .revision(&name, revision)
        .await?
        .ok_or_else(|| no_revision(&name, revision))?;
    Ok(Json(RevisionDto::of(&r, f.generation)))
}

/// What changed from revision `against` (default: the one before) to this
/// one.
#[utoipa::path(get, path = "/v1/functions/{name}/revisions/{revision}/diff", tag = "functions", operation_id = "diff_revisions",
    params(("name" = String, Path), ("revision" = i64, Path),
        ("against" = Option<i64>, Query, description = "The older revision (default: the one before)")),
    responses((status = 200, body = RevisionDiff), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn diff_revisions(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path((name, revision)): Path<(String, i64)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<RevisionDiff>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let name = FunctionName::parse(&name)?;
    current_generation(&state, &auth, &name).await?;
    let store = auth.functions(&state.store);
    let to = store
        .revision(&name, revision)
        .await?
        .ok_or_else(|| no_revision(&name, revision))?;
    let from = match q.get("against").filter(|a| !a.is_empty()) {
        Some(a) => {
            let n = a.parse::<i64>().map_err(|_| {
                ApiError::bad_request("against must be a revision number", Some("against".into()))
            })?;
            store
                .revision(&name, n)
                .await?
                .ok_or_else(|| no_revision(&name, n))?
        }
        None => store
            .revisions(&name, Some(revision), 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "revision {revision} of {:?} is its first: name one to compare with in `against`",
                    name.as_str()
                ))
            })?,
    };
    let json = |spec: &FunctionSpec| {
        serde_json::to_value(spec).map_err(|e| ApiError::Internal(e.to_string()))
    };
    let changes = diff(&json(&from.spec)?, &json(&to.spec)?);
    Ok(Json(RevisionDiff {
        from: from.revision,
        to: to.revision,
        changes,
    }))
}

/// Roll back: make an earlier revision's spec the function's spec again.
/// This is a change like any other: a new revision (equal to the old spec,
/// with `rollbackOf`), applied to the cluster as a rolling update. When
/// that spec is already the current one, nothing changes.
#[utoipa::path(post, path = "/v1/functions/{name}/rollback", tag = "functions", operation_id = "rollback_function",
    params(("name" = String, Path)),
    request_body = RollbackRequest,
    responses((status = 200, body = FunctionDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RollbackRequest>,
) -> ApiResult<Json<FunctionDto>> {
    let name = FunctionName::parse(&name)?;
    let f = current_generation(&state, &auth, &name).await?;
    let old = auth
        .functions(&state.store)
        .revision(&name, body.revision)
        .await?
        .ok_or_else(|| no_revision(&name, body.revision))?;
    // The old spec must still pass today's rules (limits may have changed).
    let spec = FunctionSpec::parse(
        old.spec.to_raw(),
        super::functions::spec_limits(&state, &auth).await?,
    )?;
    if spec == f.spec {
        return Ok(Json(super::functions::one(&state, &auth, &f).await?));
    }
    super::functions::save_with(&state, &auth, &name, spec, Some(body.revision)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_diff_names_each_changed_field() {
        let a = json!({"image": "echo:1", "replicas": 1, "env": [{"name": "A", "value": "1"}],
                       "autoscaling": {"maxReplicas": 3}});
        let b = json!({"image": "echo:2", "replicas": 1, "env": [{"name": "A", "value": "2"}],
                       "timeoutSeconds": 60});
        let d = diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["autoscaling", "env[0].value", "image", "timeoutSeconds"]
        );
        assert_eq!(d[2].from, Some(json!("echo:1")));
        assert_eq!(d[2].to, Some(json!("echo:2")));
        assert_eq!(d[0].to, None, "removed");
        assert_eq!(d[3].from, None, "added");
        // Lists of another length change as a whole.
        let c = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        let d = diff(&json!({"env": [{"name": "A", "value": "1"}]}), &c);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "env");
        assert!(diff(&a, &a).is_empty());
    }
}
