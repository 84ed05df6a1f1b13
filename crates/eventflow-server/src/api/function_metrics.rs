//! `GET /v1/functions/{name}/metrics`: one function's time series for its
//! tenant: calls by outcome, latency percentiles, the most calls in flight
//! and cold starts, per step over a range. Answered from the embedded
//! store ([`crate::series`]): what this replica's gateway served. The
//! tenant names only its own function, a range and a step; nothing it
//! sends becomes a query of any kind.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{rejection::QueryRejection, Query, State},
    Json,
};
use eventflow_core::{FunctionName, ValidationError};
use serde::Serialize;
use utoipa::ToSchema;

use super::functions::rfc3339;
use crate::json::ApiPath as Path;
use crate::{
    auth::TenantAuth,
    error::{ApiError, ApiResult, ErrorBody},
    series::{self, Bucket},
    AppState,
};

/// Calls by outcome in one step.
#[derive(Debug, Default, Clone, Serialize, ToSchema)]
pub struct CallCounts {
    /// 2xx and 3xx answers of the function.
    #[serde(rename = "2xx")]
    pub ok: u64,
    /// 4xx (429 apart), from the function or the gateway.
    #[serde(rename = "4xx")]
    pub client_error: u64,
    /// Refused by the tenant's rate or concurrency limit, or a full
    /// cold-start queue.
    #[serde(rename = "429")]
    pub throttled: u64,
    /// 5xx (503 and 504 apart): the function's, or 502 when it could not
    /// be reached.
    #[serde(rename = "5xx")]
    pub server_error: u64,
    /// No ready replica.
    #[serde(rename = "503")]
    pub unavailable: u64,
    /// Past the function's timeout.
    #[serde(rename = "504")]
    pub timeout: u64,
}

/// Latency percentiles in milliseconds (until the function's response
/// headers), estimated from a histogram as Prometheus does.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LatencyMs {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// One step of the series.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsPoint {
    /// The step's start (it covers `[at, at + stepSeconds)`).
    pub at: String,
    pub calls: CallCounts,
    /// Calls per second over the step.
    pub calls_per_second: f64,
    /// `null` when no call reached the function in the step.
    pub latency_ms: Option<LatencyMs>,
    /// The most calls in flight at once when one reached the function.
    pub in_flight_max: u32,
    pub cold_starts: u32,
    /// Mean cold-start duration, `null` without one.
    pub cold_start_ms_avg: Option<f64>,
}

/// The whole range at once.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSummary {
    pub calls: CallCounts,
    pub calls_per_second: f64,
    pub latency_ms: Option<LatencyMs>,
    pub in_flight_max: u32,
    pub cold_starts: u32,
    pub cold_start_ms_avg: Option<f64>,
}

/// A function's series.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionMetrics {
    pub function: String,
    /// Where the series come from: `embedded` (this server replica's
    /// gateway, kept in memory: 10 s resolution for the last hour, 5 min
    /// for the last 24 h).
    pub backend: String,
    pub range_seconds: i64,
    pub step_seconds: i64,
    pub points: Vec<MetricsPoint>,
    pub summary: MetricsSummary,
    /// Replicas now, from the function's status.
    pub replicas: i32,
    pub ready_replicas: i32,
}

fn counts(b: &Bucket) -> CallCounts {
    let c = |i: usize| u64::from(b.calls[i]);
    CallCounts {
        ok: c(0),
        client_error: c(1),
        throttled: c(2),
        server_error: c(3) + c(6),
        unavailable: c(4),
        timeout: c(5),
    }
}

fn latency(b: &Bucket) -> Option<LatencyMs> {
    let ms = |q| {
        b.latency_quantile(q)
            .map(|s| (s * 1000.0 * 1000.0).round() / 1000.0)
    };
    Some(LatencyMs {
        p50: ms(0.5)?,
        p95: ms(0.95)?,
        p99: ms(0.99)?,
    })
}

fn cold_avg(b: &Bucket) -> Option<f64> {
    (b.cold_starts > 0).then(|| b.cold_start_ms as f64 / f64::from(b.cold_starts))
}

fn per_second(b: &Bucket, seconds: i64) -> f64 {
    b.total_calls() as f64 / seconds as f64
}

/// A function's calls by outcome, latency percentiles, calls in flight and
/// cold starts over `range` (15m–24h, default 1h) every `step` (a multiple
/// of 10 s; of 5 min beyond the last hour; at most 1,000 points; default
/// about 60 points).
#[utoipa::path(get, path = "/v1/functions/{name}/metrics", tag = "metrics", operation_id = "get_function_metrics",
    params(
        ("name" = String, Path),
        ("range" = Option<String>, Query, description = "How far back: 15m to 24h (e.g. 15m, 1h, 6h, 24h); default 1h"),
        ("step" = Option<String>, Query, description = "Width of each point, e.g. 10s, 1m, 5m; default: about 60 points"),
    ),
    responses(
        (status = 200, body = FunctionMetrics),
        (status = 400, body = ErrorBody, description = "A query parameter other than range and step"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such function in the caller's tenant"),
        (status = 422, body = ErrorBody, description = "`range` or `step` is invalid"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<FunctionMetrics>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    if let Some(other) = q.keys().find(|k| *k != "range" && *k != "step") {
        return Err(ApiError::bad_request(
            format!("unknown query parameter {other:?} (only range and step)"),
            Some(other.clone()),
        ));
    }
    let name = FunctionName::parse(&name)?;
    let (range_s, step_s) = series::check_query(
        q.get("range").map_or("1h", String::as_str),
        q.get("step").map(String::as_str),
    )
    .map_err(|e| ApiError::Validation(ValidationError::new(e.field, e.message)))?;
    let Some(row) = auth.functions(&state.store).get(&name).await? else {
        return Err(ApiError::not_found(format!(
            "function {:?} not found",
            name.as_str()
        )));
    };
    let now = chrono::Utc::now().timestamp();
    let points = state
        .gateway
        .series
        .query(&auth.tenant, &name, now, range_s, step_s);
    let mut all = Bucket::default();
    for p in &points {
        all.add(&p.bucket);
    }
    Ok(Json(FunctionMetrics {
        function: name.to_string(),
        backend: "embedded".into(),
        range_seconds: range_s,
        step_seconds: step_s,
        points: points
            .iter()
            .map(|p| MetricsPoint {
                at: rfc3339(p.start * 1000),
                calls: counts(&p.bucket),
                calls_per_second: per_second(&p.bucket, step_s),
                latency_ms: latency(&p.bucket),
                in_flight_max: p.bucket.in_flight_max,
                cold_starts: p.bucket.cold_starts,
                cold_start_ms_avg: cold_avg(&p.bucket),
            })
            .collect(),
        summary: MetricsSummary {
            calls: counts(&all),
            calls_per_second: per_second(&all, range_s),
            latency_ms: latency(&all),
            in_flight_max: all.in_flight_max,
            cold_starts: all.cold_starts,
            cold_start_ms_avg: cold_avg(&all),
        },
        replicas: row.status.replicas,
        ready_replicas: row.status.ready_replicas,
    }))
}
