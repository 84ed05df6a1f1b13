//! Prometheus metrics: HTTP requests by matched route and status, and a
//! latency histogram; sync counters. Served at `/metrics`.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};
use std::sync::Arc;

use crate::AppState;

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub sync_applies: IntCounterVec,
    pub outbox_pending: IntGauge,
    pub sync_leader: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "eventflow_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "eventflow_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )
        .expect("valid metric");
        let sync_applies = IntCounterVec::new(
            Opts::new(
                "eventflow_sync_operations_total",
                "Kubernetes sync operations by kind and result",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        let outbox_pending =
            IntGauge::new("eventflow_outbox_pending", "Outbox entries not yet applied")
                .expect("valid metric");
        let sync_leader = IntGauge::new(
            "eventflow_sync_leader",
            "1 while this replica holds the sync lease (applies the catalog to Kubernetes)",
        )
        .expect("valid metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(sync_applies.clone()),
            Box::new(outbox_pending.clone()),
            Box::new(sync_leader.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            sync_applies,
            outbox_pending,
            sync_leader,
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Records every request under its matched route (never the raw path, which
/// would explode label cardinality).
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    // Nothing allocated per request: the matched path is shared, the
    // method and status are static text for the usual ones.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status();
    let labels = [route, method.as_str(), status.as_str()];
    state.metrics.http_requests.with_label_values(&labels).inc();
    state
        .metrics
        .http_duration
        .with_label_values(&labels[..2])
        .observe(start.elapsed().as_secs_f64());
    resp
}

pub async fn handler(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if let Ok(n) = state.store.outbox_len().await {
        state.metrics.outbox_pending.set(n);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
