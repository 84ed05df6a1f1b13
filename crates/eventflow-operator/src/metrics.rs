//! Prometheus metrics and the `/metrics` + `/healthz` listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The operator's metrics, in their own registry (several operators can run
/// in one process, as the tests do).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reconciles: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    writes: IntCounterVec,
    applies: IntCounterVec,
    leader: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "eventflow_operator_reconciles_total",
                "Reconciliations run, by controller.",
            ),
            &["controller"],
        )
        .expect("valid metric");
        let errors = IntCounterVec::new(
            Opts::new(
                "eventflow_operator_reconcile_errors_total",
                "Failed reconciliations, by controller and error kind.",
            ),
            &["controller", "kind"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "eventflow_operator_reconcile_duration_seconds",
                "Duration of reconciliations, by controller.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["controller"],
        )
        .expect("valid metric");
        let writes = IntCounterVec::new(
            Opts::new(
                "eventflow_operator_status_writes_total",
                "Status patches written, by controller (unchanged status is not written).",
            ),
            &["controller"],
        )
        .expect("valid metric");
        let applies = IntCounterVec::new(
            Opts::new(
                "eventflow_operator_child_applies_total",
                "Reconciliations that server-side applied an object's children, by controller (a Function whose children are as last applied is not applied again).",
            ),
            &["controller"],
        )
        .expect("valid metric");
        let leader = IntGauge::new(
            "eventflow_operator_leader",
            "1 while this process holds the Lease and runs the controllers.",
        )
        .expect("valid metric");
        for c in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(errors.clone()),
            Box::new(duration.clone()),
            Box::new(writes.clone()),
            Box::new(applies.clone()),
            Box::new(leader.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            reconciles,
            errors,
            duration,
            writes,
            applies,
            leader,
        }
    }

    pub(crate) fn reconciled(&self, controller: &str, took: Duration) {
        self.reconciles.with_label_values(&[controller]).inc();
        self.duration
            .with_label_values(&[controller])
            .observe(took.as_secs_f64());
    }

    pub(crate) fn failed(&self, controller: &str, kind: &str) {
        self.errors.with_label_values(&[controller, kind]).inc();
    }

    pub(crate) fn status_written(&self, controller: &str) {
        self.writes.with_label_values(&[controller]).inc();
    }

    pub(crate) fn applied(&self, controller: &str) {
        self.applies.with_label_values(&[controller]).inc();
    }

    pub(crate) fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Reconciliations run so far by `controller` ("tenant" or "function").
    pub fn reconciles(&self, controller: &str) -> u64 {
        self.reconciles.with_label_values(&[controller]).get()
    }

    /// Status patches written so far by `controller`.
    pub fn status_writes(&self, controller: &str) -> u64 {
        self.writes.with_label_values(&[controller]).get()
    }

    /// Reconciliations of `controller` that applied children so far.
    pub fn applies(&self, controller: &str) -> u64 {
        self.applies.with_label_values(&[controller]).get()
    }

    /// Whether this process currently runs the controllers.
    pub fn is_leader(&self) -> bool {
        self.leader.get() == 1
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

async fn metrics(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        m.render(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

/// The admin router: `/metrics` and `/healthz` (the process is alive; it
/// answers whether or not it is the leader).
pub fn router(m: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(m)
}

/// Binds the admin listener (so a bad address fails at start-up).
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, crate::Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| crate::Error::Listen { addr, source })
}
