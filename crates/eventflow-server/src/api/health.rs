//! `/healthz` (liveness) and `/readyz` (readiness, with each dependency named).

use std::sync::{atomic::Ordering, Arc};

use axum::{extract::State, http::StatusCode, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    pub checks: Checks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub database: Check,
    pub kubernetes: Check,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// `ok`, `error` or `disabled`.
    pub status: &'static str,
    pub message: String,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready to serve: the database answers and the server is not shutting
/// down. Kubernetes reachability is reported but does not fail readiness,
/// since the API keeps working (and queues changes) while the cluster is away.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Readiness>) {
    let database = match state.store.ping().await {
        Ok(()) => Check {
            status: "ok",
            message: format!("{:?} reachable", state.store.backend()),
        },
        Err(e) => Check {
            status: "error",
            message: e.to_string(),
        },
    };
    let kubernetes = state.sync.health();
    let shutting_down = state.shutting_down.load(Ordering::SeqCst);
    let ready = database.status == "ok" && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            status: if ready { "ready" } else { "not ready" },
            checks: Checks {
                database,
                kubernetes,
            },
        }),
    )
}
