//! `GET /v1/functions/{name}/metrics`: one function's time series for its
//! tenant: calls by outcome, latency percentiles, the most calls in flight
//! cold starts, replicas and (with Prometheus) CPU and memory, per step
//! over a range; and `GET /v1/metrics`, the tenant's overview. Answered
//! from Prometheus when one is configured ([`crate::promql`]: fixed
//! queries with the tenant and function pinned), else from the embedded
//! store ([`crate::series`]: what this replica's gateway served). The
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
    promql,
    series::{self, Bucket, Point},
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
    /// The most calls in flight at once when one reached the function
    /// (embedded store only: `null` from Prometheus).
    pub in_flight_max: Option<u32>,
    pub cold_starts: u32,
    /// Mean cold-start duration, `null` without one.
    pub cold_start_ms_avg: Option<f64>,
    /// The most replicas asked for (the function's status) in the step.
    pub replicas: u32,
    /// The most ready replicas in the step.
    pub ready_replicas: u32,
    /// Ready replicas on average over the step.
    pub ready_replicas_avg: f64,
    /// CPU of the function's pods in cores, mean over the step (`null`:
    /// not known; needs Prometheus scraping the kubelets).
    pub cpu_cores: Option<f64>,
    /// Working-set memory of the function's pods in bytes, the most in
    /// the step (`null`: not known, as `cpuCores`).
    pub memory_bytes: Option<f64>,
}

/// The whole range at once.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSummary {
    pub calls: CallCounts,
    pub calls_per_second: f64,
    pub latency_ms: Option<LatencyMs>,
    pub in_flight_max: Option<u32>,
    pub cold_starts: u32,
    pub cold_start_ms_avg: Option<f64>,
    /// Seconds of ready replicas over the range (what metering bills).
    pub replica_seconds: u64,
}

/// A function's series.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionMetrics {
    pub function: String,
    /// Where the series come from: `prometheus` (every server replica, as
    /// scraped), or `embedded` (this server replica's gateway, kept in
    /// memory: 10 s resolution for the last hour, 5 min for the last 24 h).
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

/// A checked range and step, and the steps they make.
struct Window {
    range_s: i64,
    step_s: i64,
    /// The first step's start.
    start: i64,
    n: usize,
}

/// Checks the query parameters: only `range` and `step` (400 naming any
/// other), valid for the backend (422 naming the field).
fn window(state: &AppState, q: &HashMap<String, String>) -> ApiResult<Window> {
    if let Some(other) = q.keys().find(|k| *k != "range" && *k != "step") {
        return Err(ApiError::bad_request(
            format!("unknown query parameter {other:?} (only range and step)"),
            Some(other.clone()),
        ));
    }
    let (range_s, step_s) = series::check_query(
        q.get("range").map_or("1h", String::as_str),
        q.get("step").map(String::as_str),
        state.prometheus.is_none(),
    )
    .map_err(|e| ApiError::Validation(ValidationError::new(e.field, e.message)))?;
    let now = chrono::Utc::now().timestamp();
    let end = now - now.rem_euclid(step_s) + step_s;
    Ok(Window {
        range_s,
        step_s,
        start: end - range_s,
        n: usize::try_from(range_s / step_s).unwrap_or(0),
    })
}

fn backend(state: &AppState) -> String {
    if state.prometheus.is_some() {
        "prometheus".into()
    } else {
        "embedded".into()
    }
}

fn point(
    p: &Point,
    step_s: i64,
    embedded: bool,
    usage: Option<(Option<f64>, Option<f64>)>,
) -> MetricsPoint {
    let (cpu_cores, memory_bytes) = usage.unwrap_or_default();
    MetricsPoint {
        at: rfc3339(p.start * 1000),
        calls: counts(&p.bucket),
        calls_per_second: per_second(&p.bucket, step_s),
        latency_ms: latency(&p.bucket),
        in_flight_max: embedded.then_some(p.bucket.in_flight_max),
        cold_starts: p.bucket.cold_starts,
        cold_start_ms_avg: cold_avg(&p.bucket),
        replicas: u32::from(p.bucket.replicas_max),
        ready_replicas: u32::from(p.bucket.ready_max),
        ready_replicas_avg: f64::from(p.bucket.ready_seconds) / step_s as f64,
        cpu_cores,
        memory_bytes,
    }
}

fn summary(points: &[Point], range_s: i64, embedded: bool) -> MetricsSummary {
    let mut all = Bucket::default();
    for p in points {
        all.add(&p.bucket);
    }
    MetricsSummary {
        calls: counts(&all),
        calls_per_second: per_second(&all, range_s),
        latency_ms: latency(&all),
        in_flight_max: embedded.then_some(all.in_flight_max),
        cold_starts: all.cold_starts,
        cold_start_ms_avg: cold_avg(&all),
        replica_seconds: u64::from(all.ready_seconds),
    }
}

/// A function's calls by outcome, latency percentiles, calls in flight,
/// cold starts, replicas and (with Prometheus) CPU and memory over `range`
/// (15m–24h with the embedded store, to 7d with Prometheus; default 1h)
/// every `step` (a multiple of 10 s; with the embedded store, of 5 min
/// beyond the last hour; at most 1,000 points; default about 60 points).
#[utoipa::path(get, path = "/v1/functions/{name}/metrics", tag = "metrics", operation_id = "get_function_metrics",
    params(
        ("name" = String, Path),
        ("range" = Option<String>, Query, description = "How far back: 15m to 24h with the embedded store, to 7d with Prometheus (e.g. 15m, 1h, 6h, 24h, 7d); default 1h"),
        ("step" = Option<String>, Query, description = "Width of each point, e.g. 10s, 1m, 5m; default: about 60 points"),
    ),
    responses(
        (status = 200, body = FunctionMetrics),
        (status = 400, body = ErrorBody, description = "A query parameter other than range and step"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "No such function in the caller's tenant"),
        (status = 422, body = ErrorBody, description = "`range` or `step` is invalid"),
        (status = 503, body = ErrorBody, description = "Prometheus did not answer"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<FunctionMetrics>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let w = window(&state, &q)?;
    let name = FunctionName::parse(&name)?;
    let Some(row) = auth.functions(&state.store).get(&name).await? else {
        return Err(ApiError::not_found(format!(
            "function {:?} not found",
            name.as_str()
        )));
    };
    let embedded = state.prometheus.is_none();
    let (points, usage) = match &state.prometheus {
        None => (
            state.gateway.series.query(
                &auth.tenant,
                &name,
                w.start + w.range_s - w.step_s,
                w.range_s,
                w.step_s,
            ),
            None,
        ),
        Some(p) => {
            let mut b = p
                .buckets(&auth.tenant, Some(&name), w.start, w.step_s, w.n)
                .await?;
            let usage = p
                .pod_usage(&auth.tenant, &name, w.start, w.step_s, w.n)
                .await?;
            (
                promql::points(b.remove(name.as_str()), w.start, w.step_s, w.n),
                Some(usage),
            )
        }
    };
    Ok(Json(FunctionMetrics {
        function: name.to_string(),
        backend: backend(&state),
        range_seconds: w.range_s,
        step_seconds: w.step_s,
        points: points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let u = usage.as_ref().map(|u| {
                    (
                        u.cpu_cores.get(i).copied().flatten(),
                        u.memory_bytes.get(i).copied().flatten(),
                    )
                });
                point(p, w.step_s, embedded, u)
            })
            .collect(),
        summary: summary(&points, w.range_s, embedded),
        replicas: row.status.replicas,
        ready_replicas: row.status.ready_replicas,
    }))
}

/// One step of the tenant's overview.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPoint {
    /// The step's start (it covers `[at, at + stepSeconds)`).
    pub at: String,
    /// Calls to all of the tenant's functions by outcome.
    pub calls: CallCounts,
    pub calls_per_second: f64,
    /// Pods: the sum over functions of each one's most replicas in the
    /// step (what counts against the quota's `pods`).
    pub pods: u32,
    /// Ready replicas on average over the step, all functions together.
    pub ready_replicas_avg: f64,
    /// CPU requested by those pods, millicores (at each function's
    /// requests today), against the quota's `requests.cpu`.
    pub requests_cpu_millicores: u64,
    /// Memory requested by those pods, bytes, against `requests.memory`.
    pub requests_memory_bytes: u64,
}

/// One function's totals over the range.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionTotals {
    pub name: String,
    pub calls: CallCounts,
    /// Calls answered 5xx, 503 or 504.
    pub errors: u64,
    /// `errors` over all calls (0 without calls).
    pub error_ratio: f64,
    pub latency_ms: Option<LatencyMs>,
    pub cold_starts: u32,
    pub replica_seconds: u64,
}

/// The hard limits the overview's series are measured against.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaLimits {
    pub pods: u32,
    pub functions: u32,
    pub requests_cpu_millicores: u64,
    pub requests_memory_bytes: u64,
}

/// A tenant's overview: all its functions together over time, each one's
/// totals (the busiest first), and its quota.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantMetrics {
    pub tenant: String,
    /// As in [`FunctionMetrics`].
    pub backend: String,
    pub range_seconds: i64,
    pub step_seconds: i64,
    pub points: Vec<TenantPoint>,
    /// Every function of the tenant, by calls (most first), then name.
    pub functions: Vec<FunctionTotals>,
    pub quota: QuotaLimits,
}

impl CallCounts {
    /// Calls answered 5xx, 503 or 504.
    fn errors(&self) -> u64 {
        self.server_error + self.unavailable + self.timeout
    }

    fn total(&self) -> u64 {
        self.ok + self.client_error + self.throttled + self.errors()
    }
}

/// The caller's tenant over `range` every `step` (as for a function): calls
/// by outcome, pods and requested CPU and memory against the quota, and
/// each function's totals, busiest first.
#[utoipa::path(get, path = "/v1/metrics", tag = "metrics", operation_id = "get_tenant_metrics",
    params(
        ("range" = Option<String>, Query, description = "As for a function's metrics; default 1h"),
        ("step" = Option<String>, Query, description = "As for a function's metrics"),
    ),
    responses(
        (status = 200, body = TenantMetrics),
        (status = 400, body = ErrorBody, description = "A query parameter other than range and step"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`range` or `step` is invalid"),
        (status = 503, body = ErrorBody, description = "Prometheus did not answer"),
    ),
    security(("bearer" = [])))]
pub async fn tenant(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<TenantMetrics>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let w = window(&state, &q)?;
    let rows = auth.functions(&state.store).all().await?;
    let quota = state.tenant_quota(&auth.tenant).await?;
    let mut by_name: HashMap<String, Vec<Point>> = match &state.prometheus {
        None => state
            .gateway
            .series
            .query_tenant(
                &auth.tenant,
                w.start + w.range_s - w.step_s,
                w.range_s,
                w.step_s,
            )
            .into_iter()
            .map(|(n, p)| (n.to_string(), p))
            .collect(),
        Some(p) => p
            .buckets(&auth.tenant, None, w.start, w.step_s, w.n)
            .await?
            .into_iter()
            .map(|(n, b)| (n, promql::points(Some(b), w.start, w.step_s, w.n)))
            .collect(),
    };
    let mut points: Vec<(Bucket, TenantPoint)> = (0..w.n)
        .map(|i| {
            (
                Bucket::default(),
                TenantPoint {
                    at: rfc3339((w.start + i as i64 * w.step_s) * 1000),
                    calls: CallCounts::default(),
                    calls_per_second: 0.0,
                    pods: 0,
                    ready_replicas_avg: 0.0,
                    requests_cpu_millicores: 0,
                    requests_memory_bytes: 0,
                },
            )
        })
        .collect();
    let mut functions = Vec::with_capacity(rows.len());
    for row in &rows {
        let series = by_name.remove(row.name.as_str()).unwrap_or_default();
        let cpu = u64::try_from(row.spec.resources.requests.cpu.millis()).unwrap_or(u64::MAX);
        let memory =
            u64::try_from(row.spec.resources.requests.memory.millis() / 1000).unwrap_or(u64::MAX);
        for ((sum, tp), p) in points.iter_mut().zip(&series) {
            let pods = u64::from(p.bucket.replicas_max);
            sum.add(&p.bucket);
            // The tenant's pods are the sum over functions, not the most.
            tp.pods = tp.pods.saturating_add(u32::from(p.bucket.replicas_max));
            tp.requests_cpu_millicores = tp
                .requests_cpu_millicores
                .saturating_add(pods.saturating_mul(cpu));
            tp.requests_memory_bytes = tp
                .requests_memory_bytes
                .saturating_add(pods.saturating_mul(memory));
        }
        let s = summary(&series, w.range_s, true);
        functions.push(FunctionTotals {
            name: row.name.to_string(),
            errors: s.calls.errors(),
            error_ratio: match s.calls.total() {
                0 => 0.0,
                total => s.calls.errors() as f64 / total as f64,
            },
            calls: s.calls,
            latency_ms: s.latency_ms,
            cold_starts: s.cold_starts,
            replica_seconds: s.replica_seconds,
        });
    }
    functions.sort_by(|a, b| {
        b.calls
            .total()
            .cmp(&a.calls.total())
            .then_with(|| a.name.cmp(&b.name))
    });
    let ms = |q: &str| {
        eventflow_core::Quantity::parse(q)
            .map(|q| u64::try_from(q.millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    };
    Ok(Json(TenantMetrics {
        tenant: auth.tenant.to_string(),
        backend: backend(&state),
        range_seconds: w.range_s,
        step_seconds: w.step_s,
        points: points
            .into_iter()
            .map(|(sum, mut tp)| {
                tp.calls = counts(&sum);
                tp.calls_per_second = per_second(&sum, w.step_s);
                tp.ready_replicas_avg = f64::from(sum.ready_seconds) / w.step_s as f64;
                tp
            })
            .collect(),
        functions,
        quota: QuotaLimits {
            pods: quota.pods,
            functions: quota.functions,
            requests_cpu_millicores: ms(&quota.requests_cpu),
            requests_memory_bytes: ms(&quota.requests_memory) / 1000,
        },
    }))
}
