//! EventFlow's API server: authentication, the `/v1` API, the catalog store
//! and the Kubernetes sync. [`startup::Server`] builds a server from its
//! [`startup::Settings`] and runs it until stopped; [`app`] builds the
//! router (tests call it in-process); [`serve`] runs it with graceful
//! shutdown.

pub mod activator;
pub mod api;
pub mod audit;
pub mod auth;
pub mod dev_host;
pub mod error;
pub mod gateway;
pub mod invocations;
pub mod json;
pub mod keyring;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod promql;
pub mod sampler;
pub mod scaler;
pub mod series;
pub mod startup;
pub mod store;
pub mod sync;
mod web;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use axum::{
    extract::DefaultBodyLimit,
    middleware,
    routing::{any, get, post},
    Router,
};
use eventflow_core::{QuotaSpec, TenantId};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use crate::auth::{AuthMode, JwtKeys};
use crate::{
    error::ApiError,
    metrics::Metrics,
    store::Store,
    sync::{CatalogSync, SyncConfig},
};

/// Everything the running server is configured with (built by
/// [`startup::Server::build`], or directly by tests).
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub auth_mode: AuthMode,
    pub web_dir: Option<PathBuf>,
    pub sync: SyncConfig,
    pub gateway: gateway::GatewayConfig,
    /// How long readiness fails before the listener stops on SIGTERM, so
    /// load balancers stop sending new requests first.
    pub shutdown_delay: Duration,
    /// Sample function images offered on `GET /v1/samples` (`--sample-image`).
    pub samples: Vec<api::samples::SampleImage>,
    /// Host names dev mode answers besides the loopback ones
    /// (`--allowed-host`; see [`dev_host`]).
    pub allowed_hosts: Vec<String>,
    /// How long audit entries are kept (`None`: for ever).
    pub audit_retention: Option<Duration>,
    /// Requests per second per tenant (and per admin) on every
    /// authenticated route but invoke, which has its own (`--api-rate`).
    pub api_rate: u32,
    /// Limits on followed log streams.
    pub logs: api::logs::LogLimits,
    /// Request-based scaling and waking functions at zero.
    pub scaling: scaler::ScalerConfig,
    /// Asynchronous invocations: workers, retries, limits, retention.
    pub invocations: invocations::AsyncConfig,
    /// The Prometheus the metrics API asks (`--metrics-prometheus-url`);
    /// `None`: the embedded store.
    pub prometheus_url: Option<String>,
}

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub jwt: JwtKeys,
    pub key_check: crate::auth::KeyCheck,
    /// The per-tenant rate of authenticated requests ([`Config::api_rate`]).
    pub api_rate: limits::TenantRate,
    /// Open followed log streams per tenant.
    pub log_follows: api::logs::FollowCounts,
    pub metrics: Metrics,
    pub sync: Arc<CatalogSync>,
    pub gateway: gateway::Gateway,
    /// In-flight invocations per function on this replica (the scaler's input).
    pub load: Arc<scaler::load::Load>,
    pub scaler: scaler::Scaler,
    /// Samples replicas into the series and the usage table.
    pub sampler: sampler::Sampler,
    /// The metrics API's backend when not the embedded store.
    pub prometheus: Option<promql::Prometheus>,
    /// This replica's worker of asynchronous invocations.
    pub invocations: invocations::Invocations,
    pub shutting_down: AtomicBool,
    /// Turns true when shutdown begins; endless responses (followed logs)
    /// end on it so that the graceful drain can finish.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(config: Config, store: Store, jwt: JwtKeys) -> Arc<Self> {
        let metrics = Metrics::new();
        let sync = Arc::new(CatalogSync::new(
            store.clone(),
            config.sync.clone(),
            metrics.clone(),
        ));
        let gateway = gateway::Gateway::new(config.gateway.clone(), &metrics.registry);
        let scaler = scaler::Scaler::new(&metrics.registry);
        let sampler = sampler::Sampler::new(&metrics.registry);
        let prometheus = config
            .prometheus_url
            .as_deref()
            .map(|u| promql::Prometheus::new(u).expect("an HTTP client with default TLS settings"));
        let invocations = invocations::Invocations::new(&metrics.registry);
        let api_rate = limits::TenantRate::new(config.api_rate, "requests");
        Arc::new(Self {
            gateway,
            config,
            store,
            jwt,
            key_check: crate::auth::KeyCheck::default(),
            api_rate,
            log_follows: api::logs::FollowCounts::default(),
            metrics,
            sync,
            load: Arc::default(),
            scaler,
            sampler,
            prometheus,
            invocations,
            shutting_down: AtomicBool::new(false),
            shutdown: tokio::sync::watch::channel(false).0,
        })
    }

    /// Fails readiness from now on and ends followed log streams.
    pub fn begin_shutdown(&self) {
        self.shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shutdown.send_replace(true);
    }

    /// The tenant's quota: defaults with its overrides applied.
    pub async fn tenant_quota(&self, tenant: &TenantId) -> Result<QuotaSpec, ApiError> {
        let mut q = QuotaSpec::default();
        if let Some(o) = self
            .store
            .get_tenant(tenant)
            .await?
            .and_then(|t| t.spec.quota)
        {
            let count = |v: Option<i32>, d: u32| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(d);
            q.requests_cpu = o.requests_cpu.unwrap_or(q.requests_cpu);
            q.requests_memory = o.requests_memory.unwrap_or(q.requests_memory);
            q.limits_cpu = o.limits_cpu.unwrap_or(q.limits_cpu);
            q.limits_memory = o.limits_memory.unwrap_or(q.limits_memory);
            q.pods = count(o.pods, q.pods);
            q.persistent_volume_claims =
                count(o.persistent_volume_claims, q.persistent_volume_claims);
            q.services = count(o.services, q.services);
            q.config_maps = count(o.config_maps, q.config_maps);
            q.secrets = count(o.secrets, q.secrets);
            q.functions = count(o.functions, q.functions);
        }
        Ok(q)
    }
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn openapi_json() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::json(),
    )
}

/// The invoke gateway's routes: their responses are the function's own.
fn invoke_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/functions/{name}/invoke", any(gateway::invoke_root))
        .route(
            "/v1/functions/{name}/invoke/{*path}",
            any(gateway::invoke_path),
        )
        .route(
            "/v1/public/{tenant}/{name}/invoke",
            any(gateway::public_root),
        )
        .route(
            "/v1/public/{tenant}/{name}/invoke/{*path}",
            any(gateway::public_path),
        )
        // The gateway counts invocations itself (`--invoke-rate`).
        .layer(axum::Extension(auth::OwnRateLimit))
}

/// The route table: every endpoint of the platform's own and its handler.
fn routes() -> Router<Arc<AppState>> {
    use api::{
        admin, auth, function_metrics, functions, health, invocations, invoke_keys, me, registries,
        revisions, samples, secrets,
    };
    Router::new()
        .route("/auth/config", get(auth::config))
        .route("/auth/token", post(auth::token))
        .route("/v1/me", get(me::me))
        .route("/v1/samples", get(samples::list))
        .route(
            "/v1/functions",
            get(functions::list).post(functions::create),
        )
        .route(
            "/v1/functions/{name}",
            get(functions::get)
                .put(functions::replace)
                .patch(functions::patch)
                .delete(functions::delete),
        )
        .route(
            "/v1/admin/tenants",
            get(admin::list_tenants).post(admin::create_tenant),
        )
        .route(
            "/v1/admin/tenants/{id}",
            axum::routing::put(admin::update_tenant).delete(admin::delete_tenant),
        )
        .route(
            "/v1/admin/api-keys",
            get(admin::list_api_keys).post(admin::create_api_key),
        )
        .route("/v1/admin/audit", get(admin::audit_log))
        .route("/v1/admin/usage", get(admin::usage))
        .route(
            "/v1/admin/api-keys/{id}",
            axum::routing::delete(admin::revoke_api_key),
        )
        .route("/v1/functions/{name}/logs", get(api::logs::logs))
        .route("/v1/functions/{name}/revisions", get(revisions::list))
        .route(
            "/v1/functions/{name}/revisions/{revision}",
            get(revisions::get),
        )
        .route(
            "/v1/functions/{name}/revisions/{revision}/diff",
            get(revisions::diff_revisions),
        )
        .route("/v1/functions/{name}/rollback", post(revisions::rollback))
        .route(
            "/v1/functions/{name}/invoke-keys",
            get(invoke_keys::list).post(invoke_keys::create),
        )
        .route(
            "/v1/functions/{name}/invoke-keys/{id}",
            axum::routing::delete(invoke_keys::revoke),
        )
        .route("/v1/invocations/{id}", get(invocations::get))
        .route("/v1/invocations/{id}/redrive", post(invocations::redrive))
        .route("/v1/functions/{name}/invocations", get(invocations::list))
        .route("/v1/functions/{name}/metrics", get(function_metrics::get))
        .route("/v1/metrics", get(function_metrics::tenant))
        .route("/v1/registry-credentials", get(registries::list))
        .route(
            "/v1/registry-credentials/{registry}",
            axum::routing::put(registries::put).delete(registries::delete),
        )
        .route("/v1/secrets", get(secrets::list))
        .route(
            "/v1/secrets/{name}",
            get(secrets::get).put(secrets::put).delete(secrets::delete),
        )
        .route("/v1", any(api_not_found))
        .route("/v1/{*rest}", any(api_not_found))
        .route("/auth/{*rest}", any(api_not_found))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi_json))
}

/// The metrics listener's application: `/metrics` (Prometheus) alone. It
/// names every tenant and function, so it is served apart from the API
/// (`--metrics-listen`, loopback by default), never on the public listener.
pub fn metrics_app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::handler))
        .fallback(api_not_found)
        .with_state(state)
}

/// The whole HTTP application.
///
/// The layers are composed with `ServiceBuilder` and given to the router in
/// two `layer` calls: axum boxes a route's service once per `layer` call and
/// clones that box on every request, so each separate call was an
/// allocation and a dynamic dispatch more per request (docs/PERFORMANCE.md).
pub fn app(state: Arc<AppState>) -> Router {
    let api = routes()
        .layer(middleware::from_fn(web::security_headers))
        .merge(invoke_routes())
        .layer(
            // Route-level: `track` labels by the matched route.
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    metrics::track,
                ))
                .layer(DefaultBodyLimit::max(json::BODY_LIMIT)),
        );
    let router = match &state.config.web_dir {
        Some(dir) => api.merge(web::router(dir).layer(middleware::from_fn(web::security_headers))),
        None => api.fallback(api_not_found),
    };
    router
        .layer(
            tower::ServiceBuilder::new()
                .layer(catch_panics())
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(tower::util::option_layer(
                    // Only dev mode checks the Host header (DNS rebinding).
                    (state.config.auth_mode == AuthMode::Dev)
                        .then(|| middleware::from_fn_with_state(state.clone(), dev_host::check)),
                ))
                .map_response(axum::response::IntoResponse::into_response)
                .layer(TraceLayer::new_for_http().make_span_with(
                    |req: &axum::http::Request<_>| {
                        let request_id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id)
                    },
                )),
        )
        .with_state(state)
}

/// A handler that panics answers 500 with the usual error envelope (the
/// panic is logged) instead of dropping the connection.
fn catch_panics() -> CatchPanicLayer<fn(Box<dyn std::any::Any + Send>) -> axum::response::Response>
{
    fn respond(panic: Box<dyn std::any::Any + Send>) -> axum::response::Response {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        axum::response::IntoResponse::into_response(ApiError::Internal(format!(
            "handler panicked: {what}"
        )))
    }
    CatchPanicLayer::custom(respond as fn(_) -> _)
}

/// Deletes audit entries older than `keep`, at start and then hourly (any
/// replica may: the DELETE is idempotent).
async fn prune_audit_log(state: Arc<AppState>, keep: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        let before = chrono::Utc::now()
            .timestamp_millis()
            .saturating_sub(keep_ms);
        match state.store.prune_audit(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "audit log: entries past the retention deleted"),
            Err(e) => tracing::warn!(error = %e, "audit log retention failed; will retry"),
        }
    }
}

/// Serves until SIGTERM/SIGINT: readiness fails first, then in-flight
/// requests finish, then the sync loop stops and the pool closes.
///
/// Connections are served by `workers` threads, each running its own
/// single-threaded runtime and accepting from the same listening socket, as
/// nginx's worker processes do: a request's work, and the upstream
/// connection the gateway takes from that thread's pool, stay on one
/// thread, with no hand-offs or wake-ups between threads. The background
/// loops (sync, scaler, workers of asynchronous invocations, …) and the
/// metrics listener run on the caller's runtime.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    metrics_listener: tokio::net::TcpListener,
    workers: usize,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sync_task = tokio::spawn(state.sync.clone().run(stop_rx.clone()));
    let scaler_task = tokio::spawn(scaler::run(state.clone(), stop_rx.clone()));
    let sampler_task = tokio::spawn(sampler::run(state.clone(), stop_rx.clone()));
    // Attempts under way get the shutdown delay to finish; what is left is
    // picked up by another replica when its lease ends.
    let worker_task = tokio::spawn(invocations::run(
        state.clone(),
        stop_rx.clone(),
        state.config.shutdown_delay,
    ));
    let pruner_task = tokio::spawn(invocations::prune(state.clone(), stop_rx.clone()));
    let scheduler_task = tokio::spawn(invocations::scheduler::run(state.clone(), stop_rx));
    let retention_task = state
        .config
        .audit_retention
        .map(|keep| tokio::spawn(prune_audit_log(state.clone(), keep)));
    let metrics_task = tokio::spawn({
        let app = metrics_app(state.clone());
        async move {
            if let Err(e) = axum::serve(metrics_listener, app).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        }
    });
    let mut http = HttpWorkers::start(listener.into_std()?, app(state.clone()), workers)?;
    let early = tokio::select! {
        _ = eventflow_kube::shutdown_signal() => None,
        r = http.next_done() => Some(r),
    };
    if let Some(Err(e)) = &early {
        tracing::error!(error = %e, "an HTTP worker stopped; shutting down");
    }
    tracing::info!("shutdown requested: failing readiness, draining requests");
    state.begin_shutdown();
    // The sync loop stops now and releases its lease, so that a standby
    // replica applies what the draining requests still write, instead of
    // waiting for the lease to expire after this process is gone.
    let _ = stop_tx.send(true);
    tokio::time::sleep(state.config.shutdown_delay).await;
    let result = http.drain().await.and(early.unwrap_or(Ok(())));
    let _ = sync_task.await;
    let _ = scaler_task.await;
    let _ = sampler_task.await;
    let _ = worker_task.await;
    let _ = pruner_task.await;
    let _ = scheduler_task.await;
    metrics_task.abort();
    if let Some(t) = retention_task {
        t.abort();
    }
    state.store.close().await;
    http.end().await;
    tracing::info!("server stopped");
    result
}

/// The threads that serve HTTP connections (see [`serve`]).
struct HttpWorkers {
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Each worker's result once it has stopped serving.
    done: futures::stream::FuturesUnordered<tokio::sync::oneshot::Receiver<std::io::Result<()>>>,
    /// `true`: stop accepting, finish the open requests.
    drain: tokio::sync::watch::Sender<bool>,
    /// `true`: end the runtimes.
    end: tokio::sync::watch::Sender<bool>,
}

impl HttpWorkers {
    fn start(listener: std::net::TcpListener, app: Router, n: usize) -> std::io::Result<Self> {
        let (drain, drain_rx) = tokio::sync::watch::channel(false);
        let (end, end_rx) = tokio::sync::watch::channel(false);
        let mut workers = Self {
            threads: Vec::new(),
            done: Default::default(),
            drain,
            end,
        };
        for i in 0..n.max(1) {
            let listener = listener.try_clone()?;
            let app = app.clone();
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            let (drain, mut end) = (drain_rx.clone(), end_rx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("http-worker-{i}"))
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = done_tx.send(Err(e));
                            return;
                        }
                    };
                    rt.block_on(async move {
                        let _ = done_tx.send(serve_http(listener, app, drain).await);
                        // Connections opened on this thread may outlive its
                        // requests and be used from others: the database
                        // pool's, the HTTP clients'. Their I/O is driven by
                        // this runtime, so it runs until the server is done.
                        let _ = end.wait_for(|e| *e).await;
                    });
                })?;
            workers.threads.push(thread);
            workers.done.push(done_rx);
        }
        Ok(workers)
    }

    /// Waits for a worker to stop serving (before a shutdown: a failure).
    async fn next_done(&mut self) -> std::io::Result<()> {
        use futures::StreamExt;
        match self.done.next().await {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("an HTTP worker thread panicked")),
            None => std::future::pending().await,
        }
    }

    /// Stops accepting and waits for the open requests to finish.
    async fn drain(&mut self) -> std::io::Result<()> {
        let _ = self.drain.send(true);
        let mut result = Ok(());
        while !self.done.is_empty() {
            if let Err(e) = self.next_done().await {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Ends the workers' runtimes (after everything that may use their
    /// connections is done).
    async fn end(self) {
        let _ = self.end.send(true);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// One worker's accept loop, until `drain` turns `true`.
async fn serve_http(
    listener: std::net::TcpListener,
    app: Router,
    mut drain: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    // No Nagle delay on the answers (the gateway's upstream sockets have
    // TCP_NODELAY too): a response whose head and body go out as two
    // writes would otherwise wait for the client's ACK.
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = drain.wait_for(|d| *d).await;
    })
    .await
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request, routing::get, Router};
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_error_envelope() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    panic!("boom");
                    #[allow(unreachable_code)]
                    ""
                }),
            )
            .layer(super::catch_panics());
        let resp = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()["x-eventflow-error"], "internal");
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal");
        assert_eq!(
            v["error"]["message"], "internal server error",
            "no detail leaks"
        );
    }
}
