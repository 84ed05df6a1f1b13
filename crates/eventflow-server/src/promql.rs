//! The Prometheus backend of the tenant-facing metrics API: fixed,
//! server-built PromQL with the tenant and function labels pinned, sent to
//! the Prometheus the operator configured (`--metrics-prometheus-url`).
//! Nothing a tenant sends becomes part of a query: it names only its own
//! function (already checked against the catalog), a range and a step,
//! both numbers by the time they get here, and label values are
//! validated DNS labels, escaped all the same.
//!
//! Counters are read raw at every step boundary and differenced here (per
//! series, so each server replica's counter and its resets count apart),
//! so the counts are exact where `increase()` would extrapolate and miss a
//! series' first sample. The result fills the same [`Bucket`]s as the
//! embedded store, so both backends answer through the same code.

use std::collections::HashMap;

use eventflow_core::{FunctionName, TenantId};
use serde::Deserialize;

use crate::series::{outcome, Bucket, Point, LATENCY_BOUNDS};

/// Puts one step's value of a gauge query into its bucket (the step's
/// width given).
type SetStep = fn(&mut Bucket, f64, i64);

/// Why Prometheus could not answer.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    #[error("cannot reach Prometheus: {0}")]
    Http(#[from] reqwest::Error),
    #[error("Prometheus refused the query: {0}")]
    Refused(String),
}

/// A configured Prometheus.
#[derive(Debug, Clone)]
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Matrix>,
}

/// One series of a range query: its labels and `[unix seconds, "value"]`.
#[derive(Debug, Deserialize)]
struct Matrix {
    metric: HashMap<String, String>,
    values: Vec<(f64, String)>,
}

/// A PromQL string literal of `s`.
fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The label matchers of one function, or of every function of a tenant.
fn matchers(tenant: &TenantId, name: Option<&FunctionName>) -> String {
    match name {
        Some(n) => format!(
            "tenant={},function={}",
            lit(tenant.as_str()),
            lit(n.as_str())
        ),
        None => format!("tenant={}", lit(tenant.as_str())),
    }
}

/// The CPU (cores, mean over each step) and memory (working set, bytes) of
/// a function's pods, when Prometheus scrapes the kubelets
/// (`/metrics/resource` or cAdvisor).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodUsage {
    pub cpu_cores: Vec<Option<f64>>,
    pub memory_bytes: Vec<Option<f64>>,
}

/// The values of `m` at the `n + 1` step boundaries from `start`.
fn at_boundaries(m: &Matrix, start: i64, step: i64, n: usize) -> Vec<Option<f64>> {
    let mut v = vec![None; n + 1];
    for (t, s) in &m.values {
        let k = ((*t - start as f64) / step as f64).round();
        if k >= 0.0 && (k as usize) <= n {
            v[k as usize] = s.parse::<f64>().ok().filter(|x| x.is_finite());
        }
    }
    v
}

/// What a counter series gained in each of the `n` steps: the difference
/// between the boundaries; from zero where the series starts within a step
/// or was reset (a server replica restarted).
pub fn deltas(at: &[Option<f64>]) -> Vec<f64> {
    at.windows(2)
        .map(|w| match (w[0], w[1]) {
            (Some(a), Some(b)) if b >= a => b - a,
            (_, Some(b)) => b,
            (_, None) => 0.0,
        })
        .collect()
}

fn as_u32(x: f64) -> u32 {
    x.round().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// Checks a Prometheus base URL: http(s), no query or fragment; returns
/// it without a trailing slash.
pub fn check_url(s: &str) -> Result<String, String> {
    let u = reqwest::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.query().is_some() || u.fragment().is_some() {
        return Err("must be http(s)://host[:port][/path], without a query".into());
    }
    Ok(s.trim_end_matches('/').to_string())
}

impl Prometheus {
    /// A Prometheus at `base` (e.g. `http://prometheus:9090`).
    pub fn new(base: &str) -> Result<Self, PromError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// `query_range` of `promql` at `start`, `start + step`, … `end`.
    async fn range(
        &self,
        promql: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Matrix>, PromError> {
        let resp = self
            .http
            .post(format!("{}/api/v1/query_range", self.base))
            .form(&[
                ("query", promql.to_string()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("step", step.to_string()),
            ])
            .send()
            .await?;
        let status = resp.status();
        let answer: Answer = resp.json().await.map_err(|e| {
            if status.is_success() {
                PromError::Http(e)
            } else {
                PromError::Refused(format!("HTTP {status}"))
            }
        })?;
        if answer.status != "success" {
            return Err(PromError::Refused(
                answer.error.unwrap_or_else(|| format!("HTTP {status}")),
            ));
        }
        Ok(answer.data.map(|d| d.result).unwrap_or_default())
    }

    /// Counter gains per step of every series `promql` selects, added
    /// into `into[key][step]` where `key` is the series' label `by` (""
    /// for all) and `add` puts a gain into a bucket.
    #[allow(clippy::too_many_arguments)]
    async fn gains(
        &self,
        promql: &str,
        by: Option<&str>,
        start: i64,
        step: i64,
        n: usize,
        into: &mut HashMap<String, Vec<Bucket>>,
        add: impl Fn(&HashMap<String, String>, f64, &mut Bucket),
    ) -> Result<(), PromError> {
        let end = start + step * n as i64;
        for m in self.range(promql, start, end, step).await? {
            let key = by
                .and_then(|l| m.metric.get(l).cloned())
                .unwrap_or_default();
            let buckets = into
                .entry(key)
                .or_insert_with(|| vec![Bucket::default(); n]);
            for (b, g) in buckets
                .iter_mut()
                .zip(deltas(&at_boundaries(&m, start, step, n)))
            {
                if g > 0.0 {
                    add(&m.metric, g, b);
                }
            }
        }
        Ok(())
    }

    /// The buckets of the `n` steps from `start` of one function, or of
    /// every function of the tenant keyed by name: calls by outcome, the
    /// latency histogram, cold starts and replicas.
    pub async fn buckets(
        &self,
        tenant: &TenantId,
        name: Option<&FunctionName>,
        start: i64,
        step: i64,
        n: usize,
    ) -> Result<HashMap<String, Vec<Bucket>>, PromError> {
        let sel = matchers(tenant, name);
        let by = Some("function");
        let mut out: HashMap<String, Vec<Bucket>> = HashMap::new();
        self.gains(
            &format!("eventflow_function_invocations_total{{{sel}}}"),
            by,
            start,
            step,
            n,
            &mut out,
            |m, g, b| {
                let code = m.get("code").and_then(|c| c.parse().ok()).unwrap_or(0);
                let o = outcome(code);
                b.calls[o] = b.calls[o].saturating_add(as_u32(g));
            },
        )
        .await?;
        // The histogram's buckets are cumulative: each `le` gains what
        // took at most that long; the per-bucket counts are told apart
        // once every `le` is in.
        let mut cumulative: HashMap<String, Vec<Bucket>> = HashMap::new();
        self.gains(
            &format!("eventflow_function_invocation_duration_seconds_bucket{{{sel}}}"),
            by,
            start,
            step,
            n,
            &mut cumulative,
            |m, g, b| {
                let le = m.get("le").map(String::as_str).unwrap_or("+Inf");
                let i = LATENCY_BOUNDS
                    .iter()
                    .position(|x| le.parse::<f64>().ok() == Some(*x))
                    .unwrap_or(LATENCY_BOUNDS.len());
                b.latency[i] = b.latency[i].saturating_add(as_u32(g));
            },
        )
        .await?;
        for (key, steps) in cumulative {
            let target = out.entry(key).or_insert_with(|| vec![Bucket::default(); n]);
            for (t, c) in target.iter_mut().zip(steps) {
                let mut below = 0u32;
                for i in 0..c.latency.len() {
                    t.latency[i] = c.latency[i].saturating_sub(below);
                    below = below.max(c.latency[i]);
                }
            }
        }
        self.gains(
            &format!("eventflow_function_cold_starts_total{{{sel},outcome=\"ready\"}}"),
            by,
            start,
            step,
            n,
            &mut out,
            |_, g, b| b.cold_starts = b.cold_starts.saturating_add(as_u32(g)),
        )
        .await?;
        self.gains(
            &format!("eventflow_function_cold_start_duration_seconds_sum{{{sel}}}"),
            by,
            start,
            step,
            n,
            &mut out,
            |_, g, b| b.cold_start_ms = b.cold_start_ms.saturating_add((g * 1000.0) as u64),
        )
        .await?;
        // Replicas: every server replica exports the same gauge, so the
        // largest over them, over each step.
        let replicas = |over: &str, state: &str| {
            format!(
                "max by (function) ({over}(eventflow_function_replicas{{{sel},state={}}}[{step}s]))",
                lit(state)
            )
        };
        let gauges: [(String, SetStep); 3] = [
            (replicas("max_over_time", "desired"), |b, v, _| {
                b.replicas_max = u16::try_from(as_u32(v)).unwrap_or(u16::MAX);
            }),
            (replicas("max_over_time", "ready"), |b, v, _| {
                b.ready_max = u16::try_from(as_u32(v)).unwrap_or(u16::MAX);
            }),
            (replicas("avg_over_time", "ready"), |b, v, step| {
                b.ready_seconds = as_u32(v * step as f64);
            }),
        ];
        for (q, set) in gauges {
            for (m, values) in self.per_step(&q, start, step, n).await? {
                let key = m.get("function").cloned().unwrap_or_default();
                let steps = out.entry(key).or_insert_with(|| vec![Bucket::default(); n]);
                for (b, v) in steps.iter_mut().zip(values) {
                    if let Some(v) = v {
                        set(b, v, step);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Each series of `promql` (a gauge-like query over a `[step]`
    /// window) evaluated at the end of each of the `n` steps from `start`:
    /// its labels and one value per step (`None` where it has none).
    async fn per_step(
        &self,
        promql: &str,
        start: i64,
        step: i64,
        n: usize,
    ) -> Result<Vec<(HashMap<String, String>, Vec<Option<f64>>)>, PromError> {
        let first_end = start + step;
        Ok(self
            .range(promql, first_end, start + step * n as i64, step)
            .await?
            .into_iter()
            .map(|m| {
                let values = at_boundaries(&m, first_end, step, n - 1);
                (m.metric, values)
            })
            .collect())
    }

    /// The CPU and memory of one function's pods per step, from the
    /// kubelets' metrics (`None` where Prometheus has none).
    pub async fn pod_usage(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        start: i64,
        step: i64,
        n: usize,
    ) -> Result<PodUsage, PromError> {
        // The Deployment's pods are `fn-{name}-{hash}-{suffix}`; neither
        // part has a dash, so no other function's pods match.
        let pods = format!(
            "namespace={},pod=~{},container={}",
            lit(&tenant.namespace()),
            lit(&format!("{}-[a-z0-9]+-[a-z0-9]+", name.k8s_name())),
            lit("function"),
        );
        let window = step.max(60);
        let one = |q: String| async move {
            let series = self.per_step(&q, start, step, n).await?;
            Ok::<_, PromError>(
                series
                    .into_iter()
                    .next()
                    .map_or_else(|| vec![None; n], |(_, values)| values),
            )
        };
        Ok(PodUsage {
            cpu_cores: one(format!(
                "sum(rate(container_cpu_usage_seconds_total{{{pods}}}[{window}s]))"
            ))
            .await?,
            memory_bytes: one(format!(
                "sum(max_over_time(container_memory_working_set_bytes{{{pods}}}[{window}s]))"
            ))
            .await?,
        })
    }
}

/// Points from `start` every `step` from buckets (missing ones empty).
pub fn points(buckets: Option<Vec<Bucket>>, start: i64, step: i64, n: usize) -> Vec<Point> {
    let buckets = buckets.unwrap_or_else(|| vec![Bucket::default(); n]);
    buckets
        .into_iter()
        .enumerate()
        .map(|(i, bucket)| Point {
            start: start + i as i64 * step,
            bucket,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_quoted_so_nothing_escapes_the_matcher() {
        assert_eq!(lit(r#"a"} or up{x="#), r#""a\"} or up{x=""#);
        assert_eq!(lit(r"a\"), r#""a\\""#);
        let t = TenantId::parse("acme").unwrap();
        let f = FunctionName::parse("f").unwrap();
        assert_eq!(matchers(&t, Some(&f)), r#"tenant="acme",function="f""#);
        assert_eq!(matchers(&t, None), r#"tenant="acme""#);
    }

    #[test]
    fn counters_gain_per_step_across_starts_and_resets() {
        // Absent, appears at 3, grows to 5, stays, reset to 2, gone.
        let at = [None, Some(3.0), Some(5.0), Some(5.0), Some(2.0), None];
        assert_eq!(deltas(&at), vec![3.0, 2.0, 0.0, 2.0, 0.0]);
    }
}
