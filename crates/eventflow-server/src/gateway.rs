//! The invoke gateway: `ANY /v1/functions/{name}/invoke[/{*path}]` proxies
//! the request to the function and streams both bodies without buffering
//! them whole (except: through the API server's proxy, and request bodies
//! up to [`REPLAY_LIMIT`] of `minReplicas: 0` functions, kept so a call that
//! reached nothing can go to the pod the activator wakes).
//!
//! * Endpoint resolution is pluggable ([`Resolver`]): in-cluster Service DNS,
//!   the Kubernetes API server's service proxy (for a server running outside
//!   the cluster), or a static map (tests, benchmarks).
//! * Forwarded: method, path, query, body and headers, minus `Authorization`,
//!   the platform's cookies (`eventflow_*`) and hop-by-hop headers; plus
//!   `X-Forwarded-For/-Proto/-Host` and `X-Request-Id`.
//! * Limits: per-function timeout until the response headers (504), 502 when
//!   the upstream fails, 503 + `Retry-After` without ready replicas, and per
//!   tenant a concurrency limit and a rate limit (429 + `Retry-After`).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::activator::{Activator, PodTarget};
use crate::scaler::load::InFlight;
use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::Response,
};
use eventflow_core::{FunctionName, TenantId};
use futures::TryStreamExt;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::json::ApiPath as Path;
use crate::{auth::InvokeCaller, error::ApiError, AppState};

/// How the gateway finds a function's endpoint.
#[derive(Debug, Clone)]
pub enum Resolver {
    /// `http://fn-{name}.tenant-{id}.svc.{domain}` (the server runs in-cluster).
    ServiceDns { cluster_domain: String },
    /// Through the Kubernetes API server's service proxy (outside the
    /// cluster). Request bodies are buffered (up to [`PROXY_BUFFER_LIMIT`]),
    /// responses stream.
    KubeProxy,
    /// Fixed base URLs keyed by `tenant/name`.
    Static(HashMap<String, String>),
}

pub const PROXY_BUFFER_LIMIT: usize = 16 * 1024 * 1024;

/// Where an invocation of one function goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// A base URL the gateway's own HTTP client calls.
    Http(String),
    /// A base path on the Kubernetes API server (its service proxy), called
    /// with the sync loop's client.
    KubeProxy(String),
}

impl Upstream {
    fn base(&self) -> &str {
        match self {
            Upstream::Http(b) | Upstream::KubeProxy(b) => b,
        }
    }
}

impl Resolver {
    /// Where `tenant`'s function `name` is served.
    pub fn upstream(&self, tenant: &TenantId, name: &FunctionName) -> Result<Upstream, ApiError> {
        match self {
            Resolver::ServiceDns { cluster_domain } => Ok(Upstream::Http(format!(
                "http://{}.{}.svc.{cluster_domain}",
                name.k8s_name(),
                tenant.namespace()
            ))),
            Resolver::KubeProxy => Ok(Upstream::KubeProxy(format!(
                "/api/v1/namespaces/{}/services/{}:http/proxy",
                tenant.namespace(),
                name.k8s_name()
            ))),
            Resolver::Static(map) => map
                .get(&format!("{tenant}/{name}"))
                .map(|base| Upstream::Http(base.clone()))
                .ok_or_else(|| {
                    ApiError::BadGateway(format!(
                        "no static endpoint configured for {tenant}/{name}"
                    ))
                }),
        }
    }

    /// Whether endpoints are known without the operator's status (static
    /// endpoints are; a cluster's Service has none until pods are ready).
    fn trusts_unreported(&self) -> bool {
        matches!(self, Resolver::Static(_))
    }

    /// Whether functions at zero can be woken (there is a cluster).
    fn can_wake(&self) -> bool {
        !matches!(self, Resolver::Static(_))
    }

    /// One pod of `tenant`'s, directly (a woken replica, before its
    /// Service has it as an endpoint).
    pub fn pod_upstream(
        &self,
        tenant: &TenantId,
        target: &PodTarget,
    ) -> Result<Upstream, ApiError> {
        match self {
            Resolver::ServiceDns { .. } => Ok(Upstream::Http(if target.ip.contains(':') {
                format!("http://[{}]:{}", target.ip, target.port)
            } else {
                format!("http://{}:{}", target.ip, target.port)
            })),
            Resolver::KubeProxy => Ok(Upstream::KubeProxy(format!(
                "/api/v1/namespaces/{}/pods/{}:{}/proxy",
                tenant.namespace(),
                target.pod,
                target.port
            ))),
            Resolver::Static(_) => Err(ApiError::BadGateway(
                "static endpoints have no pods to wake".into(),
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub resolver: Resolver,
    /// In-flight invocations per tenant.
    pub concurrency_per_tenant: u32,
    /// Sustained invocations per second per tenant (burst = 2×).
    pub rate_per_tenant: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            resolver: Resolver::ServiceDns {
                cluster_domain: "cluster.local".into(),
            },
            concurrency_per_tenant: 64,
            rate_per_tenant: 200,
        }
    }
}

/// What the gateway needs to know of a function, cached briefly so an
/// invocation does not cost a database query.
#[derive(Debug, Clone)]
struct RouteInfo {
    replicas: u32,
    reported: bool,
    ready_replicas: i32,
    timeout: Duration,
    /// `minReplicas: 0`: an invocation without a ready replica wakes it.
    wakes: bool,
    port: u16,
}

impl RouteInfo {
    /// 503 unless the function may have a replica to answer: it is not
    /// scaled to zero, and the operator reports a ready replica (or the
    /// resolver knows endpoints without a report).
    fn ready(&self, name: &FunctionName, trust_unreported: bool) -> Result<(), ApiError> {
        let ready = self.replicas > 0
            && if self.reported {
                self.ready_replicas > 0
            } else {
                trust_unreported
            };
        if ready {
            Ok(())
        } else {
            Err(ApiError::NoReadyReplicas(format!(
                "function {:?} has no ready replicas",
                name.as_str()
            )))
        }
    }
}

/// When a route was read, and what it was (`None`: no such function).
type CachedRoute = (Instant, Option<RouteInfo>);

/// How long a cached [`RouteInfo`] is trusted. Writes through the API
/// invalidate at once; status copied from the cluster shows up within this.
const ROUTE_TTL: Duration = Duration::from_secs(2);

type HttpClient =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

thread_local! {
    /// Each thread's own pool of upstream connections: a connection's task
    /// runs on the runtime of the thread that opened it, so a request
    /// served by one of the server's HTTP workers ([`crate::serve`]) keeps
    /// its upstream call on that worker's thread.
    static HTTP: HttpClient = http_client();
}

/// hyper's client directly: no proxy-from-env, no redirects, no
/// decompression, and bodies pass through as they are.
fn http_client() -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector)
}

pub struct Gateway {
    config: GatewayConfig,
    /// `None`: the function does not exist (cached as well).
    /// By tenant, then function: looked up by `&str` without allocating.
    routes: Mutex<HashMap<TenantId, HashMap<FunctionName, CachedRoute>>>,
    slots: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
    rate: crate::limits::TenantRate,
    invocations: IntCounterVec,
    duration: HistogramVec,
    /// Holds invocations of functions at zero while they wake.
    pub activator: Activator,
    /// What this replica served of each function, for the metrics API's
    /// embedded store.
    pub series: crate::series::Series,
    /// Functions found to take public invocations, and when (trusted for
    /// [`PUBLIC_TTL`]; dropped when the function changes).
    public: Mutex<HashMap<(String, String), Instant>>,
    /// Catalog lookups the public route makes for names it has not found
    /// public lately, over all tenants: made-up tenant names each have a
    /// fresh per-tenant budget, so this bounds the queries they cause.
    public_lookups: crate::limits::TenantRate,
}

/// How long a function found public is trusted without a lookup.
const PUBLIC_TTL: Duration = Duration::from_secs(10);
/// Public-route lookups per second over all tenants (burst twice that).
const PUBLIC_LOOKUPS_PER_SECOND: u32 = 200;

impl Gateway {
    pub fn new(config: GatewayConfig, registry: &prometheus::Registry) -> Self {
        let rate = crate::limits::TenantRate::new(config.rate_per_tenant, "invocations");
        let invocations = IntCounterVec::new(
            Opts::new(
                "eventflow_function_invocations_total",
                "Function invocations by outcome",
            ),
            &["tenant", "function", "code"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "eventflow_function_invocation_duration_seconds",
                "Time until the function's response headers",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ]),
            &["tenant", "function"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(invocations.clone()));
        let _ = registry.register(Box::new(duration.clone()));
        Self {
            config,
            routes: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            rate,
            invocations,
            duration,
            activator: Activator::new(registry),
            series: crate::series::Series::default(),
            public: Mutex::new(HashMap::new()),
            public_lookups: crate::limits::TenantRate::new(PUBLIC_LOOKUPS_PER_SECOND, "lookups"),
        }
    }

    /// Forgets a cached route (after the function changed or was deleted).
    pub fn invalidate(&self, tenant: &TenantId, name: &FunctionName) {
        if let Some(r) = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(tenant.as_str())
        {
            r.remove(name.as_str());
        }
        let key = (tenant.to_string(), name.to_string());
        self.public
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
    }

    /// Whether `tenant`'s function `name` takes public invocations: from
    /// the cache, else (within the global lookup budget) the catalog.
    async fn is_public(
        &self,
        state: &AppState,
        tenant: &TenantId,
        name: &FunctionName,
    ) -> Result<bool, ApiError> {
        let key = (tenant.to_string(), name.to_string());
        let fresh = self
            .public
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .is_some_and(|at| at.elapsed() < PUBLIC_TTL);
        if fresh {
            return Ok(true);
        }
        self.public_lookups.check("public route")?;
        let public = state
            .store
            .tenant(tenant)
            .get(name)
            .await?
            .is_some_and(|f| f.spec.public_invoke);
        let mut cache = self
            .public
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if public {
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(key, Instant::now());
        } else {
            cache.remove(&key);
        }
        Ok(public)
    }

    /// What the gateway knows of `name`: from the cache while fresh (a
    /// function that does not exist is cached too, so probing unknown names
    /// costs no query each), else from the catalog.
    async fn route(
        &self,
        state: &AppState,
        tenant: &TenantId,
        name: &FunctionName,
    ) -> Result<RouteInfo, ApiError> {
        let not_found = || ApiError::not_found(format!("function {:?} not found", name.as_str()));
        if let Some((at, info)) = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant.as_str())
            .and_then(|r| r.get(name.as_str()))
        {
            if at.elapsed() < ROUTE_TTL {
                return info.clone().ok_or_else(not_found);
            }
        }
        let info = state
            .store
            .tenant(tenant)
            .get(name)
            .await?
            .map(|row| RouteInfo {
                replicas: row.spec.replicas,
                reported: row.status.phase.is_some(),
                ready_replicas: row.status.ready_replicas,
                timeout: Duration::from_secs(u64::from(row.spec.timeout_seconds)),
                wakes: row
                    .spec
                    .autoscaling
                    .as_ref()
                    .is_some_and(|a| a.by_requests() && a.min_replicas == 0),
                port: row.spec.port,
            });
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if routes.values().map(HashMap::len).sum::<usize>() > 100_000 {
            routes.clear();
        }
        routes
            .entry(tenant.clone())
            .or_default()
            .insert(name.clone(), (Instant::now(), info.clone()));
        info.ok_or_else(not_found)
    }

    /// Whether the route cache knows `name` as an existing function.
    fn known(&self, tenant: &TenantId, name: &FunctionName) -> bool {
        self.routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant.as_str())
            .and_then(|r| r.get(name.as_str()))
            .is_some_and(|(_, info)| info.is_some())
    }

    fn slot(&self, tenant: &TenantId) -> Result<OwnedSemaphorePermit, ApiError> {
        let sem = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match slots.get(tenant.as_str()) {
                Some(s) => s.clone(),
                None => slots
                    .entry(tenant.clone())
                    .or_insert_with(|| {
                        Arc::new(Semaphore::new(self.config.concurrency_per_tenant as usize))
                    })
                    .clone(),
            }
        };
        sem.try_acquire_owned()
            .map_err(|_| ApiError::TooManyRequests {
                message: format!(
                    "tenant {tenant} has {} invocations in flight (the limit)",
                    self.config.concurrency_per_tenant
                ),
                retry_after: 1,
            })
    }

    pub(crate) fn admit(&self, tenant: &TenantId) -> Result<(), ApiError> {
        self.rate.check(tenant.as_str())
    }
}

/// Headers never forwarded in either direction (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

// The forwarding headers' names, parsed once (a `&str` name is parsed
// again on every insert).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
}

/// The prefix of the platform's own cookie names: never forwarded to a
/// function, never set by one.
const PLATFORM_COOKIE_PREFIX: &str = "eventflow_";

/// Drops `Set-Cookie` headers that set a platform cookie.
fn strip_platform_cookies(headers: &mut HeaderMap) {
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let name = v.to_str().unwrap_or("").split('=').next().unwrap_or("");
            !name
                .trim()
                .to_ascii_lowercase()
                .starts_with(PLATFORM_COOKIE_PREFIX)
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for v in kept {
        headers.append(header::SET_COOKIE, v);
    }
}

/// Refuses a sub-path with a `.` or `..` segment, also when percent-encoded
/// (`%2e%2e`, `..%2f`): through the API server's service proxy such a path
/// could leave the function's proxy prefix, and a function should see the
/// path its caller means.
fn check_sub_path(suffix: Option<&str>) -> Result<(), ApiError> {
    let Some(suffix) = suffix else {
        return Ok(());
    };
    let decoded = percent_encoding::percent_decode_str(suffix).decode_utf8_lossy();
    if decoded
        .split(['/', '\\'])
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(ApiError::bad_request(
            "the invoke path may not contain . or .. segments",
            None,
        ));
    }
    Ok(())
}

/// The headers sent upstream.
pub fn upstream_headers(mut h: HeaderMap, client: Option<SocketAddr>) -> HeaderMap {
    let host = h.get(header::HOST).cloned();
    strip_hop_by_hop(&mut h);
    h.remove(header::AUTHORIZATION);
    // Kubernetes impersonation: through the API server's service proxy
    // these would act with the server's own credentials.
    let impersonation: Vec<HeaderName> = h
        .keys()
        .filter(|n| n.as_str().starts_with("impersonate-"))
        .cloned()
        .collect();
    for n in impersonation {
        h.remove(n);
    }
    h.remove(header::HOST);
    h.remove(header::CONTENT_LENGTH);
    // Keep the caller's cookies, drop the platform's.
    let cookies: Vec<String> = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.starts_with(PLATFORM_COOKIE_PREFIX))
        .map(str::to_string)
        .collect();
    h.remove(header::COOKIE);
    if !cookies.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
            h.insert(header::COOKIE, v);
        }
    }
    if let Some(addr) = client {
        let prior = h
            .get(&X_FORWARDED_FOR)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let value = match prior {
            Some(p) => format!("{p}, {}", addr.ip()),
            None => addr.ip().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(X_FORWARDED_FOR, v);
        }
    }
    if let Some(host) = host {
        h.insert(X_FORWARDED_HOST, host);
    }
    h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    // The request id (set by the request-id layer), once.
    if let Some(id) = h.get(&X_REQUEST_ID).cloned() {
        h.insert(X_REQUEST_ID, id);
    }
    h
}

/// The request path after `/v1/functions/{name}/invoke`, exactly as sent
/// (percent-encoding kept), so the function sees the path the caller wrote.
pub(crate) fn raw_suffix(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1/functions/")?;
    let (_, after_name) = rest.split_once('/')?;
    let suffix = after_name.strip_prefix("invoke")?;
    (!suffix.is_empty()).then_some(suffix)
}

fn target(base: &str, path: Option<&str>, query: Option<&str>) -> String {
    let mut url = base.trim_end_matches('/').to_string();
    url.push('/');
    if let Some(p) = path {
        url.push_str(p.trim_start_matches('/'));
    }
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Invoke the function at its root path. Any method; the body streams both
/// ways. Platform errors carry `X-EventFlow-Error`. The bearer is a
/// tenant's token or an invoke key of this function (`efi_…`, see
/// /v1/functions/{name}/invoke-keys).
#[utoipa::path(post, path = "/v1/functions/{name}/invoke", tag = "invoke",
    params(("name" = String, Path), ("Prefer" = Option<String>, Header, description = "`respond-async`: store the request and answer 202 at once (an asynchronous invocation, retried; see /v1/invocations)"), ("EventFlow-Callback" = Option<String>, Header, description = "With respond-async: a URL that receives the result when it ends (https, public addresses only unless the platform allows more)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Passed to the function as sent"),
    responses(
        (status = 200, description = "The function's own response (any status, headers and body)"),
        (status = 202, body = crate::api::invocations::InvocationDto, description = "With Prefer: respond-async: stored and queued; Location names the invocation"),
        (status = 400, body = crate::error::ErrorBody, description = "A `.` or `..` path segment, or a callback the platform does not allow (field EventFlow-Callback)"),
        (status = 401, body = crate::error::ErrorBody, description = "No token or key, or an invoke key that is unknown, revoked or expired"),
        (status = 403, body = crate::error::ErrorBody, description = "An invoke key of another function"),
        (status = 404, body = crate::error::ErrorBody, description = "No such function in your tenant"),
        (status = 413, body = crate::error::ErrorBody, description = "An asynchronous request's body is larger than the platform keeps"),
        (status = 429, body = crate::error::ErrorBody, description = "Tenant concurrency or rate limit (Retry-After)"),
        (status = 502, body = crate::error::ErrorBody, description = "The function could not be reached"),
        (status = 503, body = crate::error::ErrorBody, description = "No ready replicas (Retry-After)"),
        (status = 504, body = crate::error::ErrorBody, description = "No response headers within timeoutSeconds"),
    ),
    security(("bearer" = [])))]
pub async fn invoke_root(
    state: State<Arc<AppState>>,
    auth: InvokeCaller,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    invoke(state, auth, name, req).await
}

/// Invoke the function at a sub-path (query string kept). Any method.
#[utoipa::path(post, path = "/v1/functions/{name}/invoke/{path}", tag = "invoke",
    params(("name" = String, Path), ("Prefer" = Option<String>, Header, description = "`respond-async`: store the request and answer 202 at once (an asynchronous invocation, retried; see /v1/invocations)"), ("EventFlow-Callback" = Option<String>, Header, description = "With respond-async: a URL that receives the result when it ends (https, public addresses only unless the platform allows more)"), ("path" = String, Path, description = "Everything after /invoke/, forwarded as sent")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Passed to the function as sent"),
    responses(
        (status = 200, description = "The function's own response (any status, headers and body)"),
        (status = 202, body = crate::api::invocations::InvocationDto, description = "With Prefer: respond-async: stored and queued; Location names the invocation"),
        (status = 400, body = crate::error::ErrorBody, description = "A `.` or `..` path segment, or a callback the platform does not allow (field EventFlow-Callback)"),
        (status = 401, body = crate::error::ErrorBody, description = "No token or key, or an invoke key that is unknown, revoked or expired"),
        (status = 403, body = crate::error::ErrorBody, description = "An invoke key of another function"),
        (status = 404, body = crate::error::ErrorBody, description = "No such function in your tenant"),
        (status = 413, body = crate::error::ErrorBody, description = "An asynchronous request's body is larger than the platform keeps"),
        (status = 429, body = crate::error::ErrorBody, description = "Tenant concurrency or rate limit (Retry-After)"),
        (status = 502, body = crate::error::ErrorBody, description = "The function could not be reached"),
        (status = 503, body = crate::error::ErrorBody, description = "No ready replicas (Retry-After)"),
        (status = 504, body = crate::error::ErrorBody, description = "No response headers within timeoutSeconds"),
    ),
    security(("bearer" = [])))]
pub async fn invoke_path(
    state: State<Arc<AppState>>,
    auth: InvokeCaller,
    Path((name, path)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    let _ = path; // forwarded as sent (still percent-encoded), see `raw_suffix`
    invoke(state, auth, name, req).await
}

/// Invoke a function that opted in (`publicInvoke: true`) without a token,
/// for webhooks: the same gateway, under the tenant's rate and concurrency
/// limits. Any method and sub-path; `Prefer: respond-async` works too. A
/// function that did not opt in, or does not exist, is 404 alike.
#[utoipa::path(post, path = "/v1/public/{tenant}/{name}/invoke", tag = "invoke",
    params(("tenant" = String, Path), ("name" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Passed to the function as sent"),
    responses(
        (status = 200, description = "The function's own response (any status, headers and body)"),
        (status = 202, body = crate::api::invocations::InvocationDto, description = "With Prefer: respond-async"),
        (status = 404, body = crate::error::ErrorBody, description = "No such function, or it does not take public invocations"),
        (status = 429, body = crate::error::ErrorBody, description = "The tenant's rate or concurrency limit (Retry-After)"),
        (status = 502, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody),
        (status = 504, body = crate::error::ErrorBody),
    ))]
pub async fn public_root(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    public(state, tenant, name, req).await
}

/// [`public_root`] at a sub-path (query kept).
#[utoipa::path(post, path = "/v1/public/{tenant}/{name}/invoke/{path}", tag = "invoke",
    params(("tenant" = String, Path), ("name" = String, Path), ("path" = String, Path, description = "Everything after /invoke/, forwarded as sent")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Passed to the function as sent"),
    responses(
        (status = 200, description = "The function's own response (any status, headers and body)"),
        (status = 202, body = crate::api::invocations::InvocationDto, description = "With Prefer: respond-async"),
        (status = 404, body = crate::error::ErrorBody, description = "No such function, or it does not take public invocations"),
        (status = 429, body = crate::error::ErrorBody, description = "The tenant's rate or concurrency limit (Retry-After)"),
    ))]
pub async fn public_path(
    State(state): State<Arc<AppState>>,
    Path((tenant, name, path)): Path<(String, String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    let _ = path; // forwarded as sent, see `public`
    public(state, tenant, name, req).await
}

async fn public(
    state: Arc<AppState>,
    tenant: String,
    name: String,
    req: Request,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("no such public function");
    let tenant = TenantId::parse(&tenant).map_err(|_| not_found())?;
    let name = FunctionName::parse(&name).map_err(|_| not_found())?;
    // The tenant's rate first, then (for names not lately found public) a
    // lookup budget shared by all: probing made-up names costs few queries.
    state.gateway.admit(&tenant)?;
    if !state.gateway.is_public(&state, &tenant, &name).await? {
        return Err(not_found());
    }
    // The same request at the tenant's own invoke path, sub-path and query
    // exactly as sent.
    let (mut parts, body) = req.into_parts();
    let prefix = format!("/v1/public/{tenant}/{name}/invoke");
    let suffix = parts
        .uri
        .path()
        .strip_prefix(&prefix)
        .unwrap_or("")
        .to_string();
    let mut uri = format!("/v1/functions/{name}/invoke{suffix}");
    if let Some(q) = parts.uri.query() {
        uri.push('?');
        uri.push_str(q);
    }
    parts.uri = uri
        .parse()
        .map_err(|_| ApiError::bad_request("invalid path", None))?;
    // No credentials of anyone's reach the function from here.
    parts.headers.remove(header::AUTHORIZATION);
    let req = Request::from_parts(parts, body);
    // Its rate was counted above, before the lookup.
    dispatch(&state, &tenant, &name, req, Rate::Counted).await
}

/// Counts an invocation's outcome per tenant, function and status code.
struct Outcome<'a> {
    gw: &'a Gateway,
    tenant: &'a TenantId,
    name: &'a FunctionName,
}

impl Outcome<'_> {
    /// Counts a call that ended before it reached the function.
    fn record(&self, code: StatusCode) {
        self.count(code, None);
    }

    /// Counts a call, with its latency and the calls in flight when it
    /// reached the function: in Prometheus and in the embedded series.
    fn count(&self, code: StatusCode, timed: Option<(f64, u32)>) {
        self.gw
            .invocations
            .with_label_values(&[self.tenant.as_str(), self.name.as_str(), code.as_str()])
            .inc();
        self.gw.series.call(
            self.tenant,
            self.name,
            chrono::Utc::now().timestamp(),
            code.as_u16(),
            timed.map(|t| t.0),
            timed.map_or(0, |t| t.1),
        );
    }

    /// Passes `r` on, counting an error under its status.
    fn check<T>(&self, r: Result<T, ApiError>) -> Result<T, ApiError> {
        r.inspect_err(|e| self.record(e.status()))
    }
}

/// The path's segments (400), the tenant's rate (429), route lookup (404),
/// readiness (503, unless a `minReplicas: 0` function can be woken), the
/// tenant's concurrency limit (429), the cold start if any (429 beyond the
/// queue, 504 past the timeout), the upstream (502 without one), then the
/// call itself within what is left of the function's timeout.
async fn invoke(
    State(state): State<Arc<AppState>>,
    auth: InvokeCaller,
    name: String,
    req: Request,
) -> Result<Response, ApiError> {
    let name = FunctionName::parse(&name)?;
    if let InvokeCaller::Key(grant) = &auth {
        if grant.function != name {
            return Err(ApiError::forbidden(
                "this invoke key may only invoke its own function",
            ));
        }
    }
    dispatch(&state, auth.tenant(), &name, req, Rate::Count).await
}

/// Whether the tenant's invocation rate is still to be counted for a call
/// (the public route counts it before its lookup, and only once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    Count,
    Counted,
}

/// An invocation as the routes take it: the sub-path checked, then stored
/// for later with `Prefer: respond-async`, else called now.
async fn dispatch(
    state: &Arc<AppState>,
    tenant: &TenantId,
    name: &FunctionName,
    req: Request,
    rate: Rate,
) -> Result<Response, ApiError> {
    check_sub_path(raw_suffix(req.uri().path()))?;
    if crate::invocations::prefers_async(req.headers()) {
        return crate::invocations::accept(state, tenant, name, req, rate).await;
    }
    call_with(state, tenant, name, req, rate).await
}

/// One synchronous invocation of `tenant`'s function `name`: `req`'s path
/// is `/v1/functions/{name}/invoke[/…]` (the sub-path is checked). The
/// asynchronous workers call this too, so every limit applies to them.
pub async fn call(
    state: &Arc<AppState>,
    tenant: &TenantId,
    name: &FunctionName,
    req: Request,
) -> Result<Response, ApiError> {
    call_with(state, tenant, name, req, Rate::Count).await
}

async fn call_with(
    state: &Arc<AppState>,
    tenant: &TenantId,
    name: &FunctionName,
    req: Request,
    rate: Rate,
) -> Result<Response, ApiError> {
    let gw = &state.gateway;
    let name = name.clone();
    let outcome = Outcome {
        gw,
        tenant,
        name: &name,
    };
    // The rate first, so unknown names count too (and cost no query when
    // over it); counted per function only for a function known to exist,
    // so probing names cannot grow the metric's labels.
    if rate == Rate::Count {
        if let Err(e) = gw.admit(tenant) {
            if gw.known(tenant, &name) {
                outcome.record(e.status());
            }
            return Err(e);
        }
    }
    let route = gw.route(state, tenant, &name).await?;
    let ready = route.ready(&name, gw.config.resolver.trusts_unreported());
    let wake = ready.is_err() && route.wakes && gw.config.resolver.can_wake();
    if !wake {
        outcome.check(ready)?;
    }
    let permit = outcome.check(gw.slot(tenant))?;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + route.timeout;
    // Counted for the scaler from here, also while held for a cold start.
    let in_flight = state.load.start(tenant, &name);
    let upstream = if wake {
        let target = outcome.check(
            gw.activator
                .wait(state, tenant, &name, route.port, deadline, route.timeout)
                .await,
        )?;
        gw.config.resolver.pod_upstream(tenant, &target)
    } else {
        gw.config.resolver.upstream(tenant, &name)
    };
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let resp = match upstream {
        // A timeout names the function's whole timeout, not what a cold
        // start left of it.
        Ok(upstream) => forward(
            state,
            &upstream,
            req,
            left,
            route.wakes.then_some(Wakeable {
                tenant,
                name: &name,
                port: route.port,
            }),
        )
        .await
        .map_err(|e| match e {
            ApiError::GatewayTimeout(_) => ApiError::GatewayTimeout(route.timeout.as_secs()),
            e => e,
        }),
        Err(e) => Err(e),
    };
    let took = started.elapsed().as_secs_f64();
    gw.duration
        .with_label_values(&[tenant.as_str(), name.as_str()])
        .observe(took);
    let timed = Some((took, state.load.in_flight(tenant, &name)));
    let resp = resp.inspect_err(|e| outcome.count(e.status(), timed))?;
    outcome.count(resp.status(), timed);
    Ok(hold_until_streamed(resp, (permit, in_flight)))
}

/// The tenant's concurrency permit (and the in-flight count) is held until
/// the response body has been streamed.
fn hold_until_streamed(resp: Response, held: (OwnedSemaphorePermit, InFlight)) -> Response {
    let (parts, body) = resp.into_parts();
    let body = http_body_util::BodyExt::map_frame(body, move |frame| {
        let _held = &held;
        frame
    });
    Response::from_parts(parts, Body::new(body))
}

/// How long an invocation waits, in kube-proxy mode, for the Service to get
/// an endpoint (the endpoints lag behind the pod's readiness by a moment).
const NO_ENDPOINT_WAIT: Duration = Duration::from_secs(5);

/// A function that can be woken from zero: its identity and port.
#[derive(Clone, Copy)]
struct Wakeable<'a> {
    tenant: &'a TenantId,
    name: &'a FunctionName,
    port: u16,
}

/// Sends `req` to `upstream` with the forwarded headers, at the same
/// sub-path and query. Through the API server's proxy (the body is
/// buffered there anyway), a Service without an endpoint is not the
/// function's answer: nothing reached the function, so the request is sent
/// again, to the Service once it has an endpoint (within
/// [`NO_ENDPOINT_WAIT`]) or, for a `wakeable` function whose replicas are
/// gone, to the pod the activator wakes.
async fn forward(
    state: &Arc<AppState>,
    upstream: &Upstream,
    req: Request,
    timeout: Duration,
    wakeable: Option<Wakeable<'_>>,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let client_addr = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let headers = upstream_headers(std::mem::take(&mut parts.headers), client_addr);
    let (suffix, query) = (raw_suffix(parts.uri.path()), parts.uri.query());
    let url = target(upstream.base(), suffix, query);
    match upstream {
        Upstream::Http(_) => {
            let gw = &state.gateway;
            let (Some(w), Some(len)) = (wakeable, replayable_len(&body)) else {
                return forward_http(&url, parts.method, headers, body, timeout)
                    .await
                    .map_err(ApiError::from);
            };
            // A function that can go to zero may have just gone there while
            // this replica still saw it ready: keep the (small) body, so a
            // call that reached nothing can go to the pod the activator
            // wakes instead.
            let deadline = tokio::time::Instant::now() + timeout;
            let bytes = axum::body::to_bytes(body, len).await.map_err(|e| {
                ApiError::bad_request(format!("could not read the request body: {e}"), None)
            })?;
            let first = forward_http(
                &url,
                parts.method.clone(),
                headers.clone(),
                Body::from(bytes.clone()),
                timeout,
            )
            .await;
            match first {
                Err(HttpError::Unreachable(e)) => {
                    tracing::info!(tenant = %w.tenant, function = %w.name, error = %e, "the function's Service reached nothing; waking a replica");
                    let woken = gw
                        .activator
                        .wait(state, w.tenant, w.name, w.port, deadline, timeout)
                        .await?;
                    let pod = gw.config.resolver.pod_upstream(w.tenant, &woken)?;
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    forward_http(
                        &target(pod.base(), suffix, query),
                        parts.method,
                        headers,
                        Body::from(bytes),
                        left,
                    )
                    .await
                    .map_err(ApiError::from)
                }
                other => other.map_err(ApiError::from),
            }
        }
        Upstream::KubeProxy(_) => {
            let client = state
                .sync
                .client()
                .ok_or_else(|| ApiError::BadGateway("Kubernetes is not reachable".into()))?;
            let bytes = axum::body::to_bytes(body, PROXY_BUFFER_LIMIT)
                .await
                .map_err(|_| ApiError::PayloadTooLarge {
                    limit: PROXY_BUFFER_LIMIT,
                })?;
            let deadline = tokio::time::Instant::now() + timeout;
            let patience = tokio::time::Instant::now() + NO_ENDPOINT_WAIT.min(timeout);
            let mut url = url;
            loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let sent = forward_kube(
                    &client,
                    &url,
                    parts.method.clone(),
                    headers.clone(),
                    bytes.clone(),
                    left,
                )
                .await;
                match (sent, wakeable) {
                    (Err(ApiError::NoReadyReplicas(_)), Some(w)) => {
                        let woken = state
                            .gateway
                            .activator
                            .wait(state, w.tenant, w.name, w.port, deadline, timeout)
                            .await?;
                        let pod = state
                            .gateway
                            .config
                            .resolver
                            .pod_upstream(w.tenant, &woken)?;
                        url = target(pod.base(), suffix, query);
                    }
                    (Err(ApiError::NoReadyReplicas(m)), None) => {
                        if tokio::time::Instant::now() >= patience {
                            return Err(ApiError::NoReadyReplicas(m));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    (other, _) => return other,
                }
            }
        }
    }
}

/// The function's response as the caller gets it: without hop-by-hop
/// headers, without `X-EventFlow-Error`, which marks the platform's own
/// errors only (a function cannot pass its answer off as one), and without
/// `Set-Cookie` for the platform's cookie names (`eventflow_*`: the
/// dashboard shares the origin). Every other header a function sets passes.
fn downstream(status: u16, mut headers: HeaderMap, body: Body) -> Response {
    strip_hop_by_hop(&mut headers);
    headers.remove(crate::error::ERROR_HEADER);
    strip_platform_cookies(&mut headers);
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    *resp.headers_mut() = headers;
    resp
}

/// Largest request body the gateway keeps, for a `minReplicas: 0`
/// function called through Service DNS, so that it can send the call again
/// to a woken pod (see [`forward`]). Larger or chunked bodies stream.
pub const REPLAY_LIMIT: u64 = 1024 * 1024;

/// The size of a request body small enough, and of known size, to keep for
/// a second attempt.
fn replayable_len(body: &Body) -> Option<usize> {
    axum::body::HttpBody::size_hint(body)
        .exact()
        .filter(|n| *n <= REPLAY_LIMIT)
        .and_then(|n| usize::try_from(n).ok())
}

/// Why a call through the gateway's HTTP client got no answer.
#[derive(Debug)]
enum HttpError {
    /// Nothing was reached (no address, connection refused or timed
    /// out): the request was not sent, so it may be sent elsewhere.
    Unreachable(String),
    /// The connection broke after the request was (maybe) sent.
    Failed(String),
    Timeout(Duration),
}

impl From<HttpError> for ApiError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Unreachable(e) | HttpError::Failed(e) => {
                ApiError::BadGateway(format!("the function did not answer: {e}"))
            }
            HttpError::Timeout(t) => ApiError::GatewayTimeout(t.as_secs()),
        }
    }
}

/// The whole chain of an error's causes, for the message.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn forward_http(
    url: &str,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .body(body)
        .map_err(|e| HttpError::Failed(format!("invalid upstream URL: {e}")))?;
    *req.headers_mut() = headers;
    let call = HTTP.with(|http| http.request(req));
    let resp = match tokio::time::timeout(timeout, call).await {
        Err(_) => return Err(HttpError::Timeout(timeout)),
        Ok(Err(e)) => {
            let text = error_chain(&e);
            tracing::warn!(error = %text, "upstream request failed");
            return Err(if e.is_connect() {
                HttpError::Unreachable(text)
            } else {
                HttpError::Failed(text)
            });
        }
        Ok(Ok(r)) => r,
    };
    let (parts, body) = resp.into_parts();
    Ok(downstream(
        parts.status.as_u16(),
        parts.headers,
        Body::new(body),
    ))
}

/// The API server's own answer when a Service has no ready endpoint (its
/// proxy says so in a `Status` with reason `ServiceUnavailable`).
fn is_no_endpoints(status: u16, body: &[u8]) -> bool {
    status == 503
        && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
            v["kind"] == "Status"
                && v["reason"] == "ServiceUnavailable"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no endpoints available"))
        })
}

/// Largest JSON 503 body read, in kube-proxy mode, to tell the API server's
/// "no endpoints" from a function's own 503 (a function's larger JSON 503
/// is answered 502).
const STATUS_BODY_LIMIT: usize = 64 * 1024;

async fn forward_kube(
    client: &kube::Client,
    path: &str,
    method: axum::http::Method,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
    timeout: Duration,
) -> Result<Response, ApiError> {
    let mut builder = axum::http::Request::builder().method(method).uri(path);
    for (k, v) in &headers {
        builder = builder.header(k, v);
    }
    let req = builder
        .body(kube::client::Body::from(bytes.to_vec()))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let resp = match tokio::time::timeout(timeout, client.send(req)).await {
        Err(_) => return Err(ApiError::GatewayTimeout(timeout.as_secs())),
        Ok(Err(e)) => {
            return Err(ApiError::BadGateway(format!(
                "the function did not answer: {e}"
            )))
        }
        Ok(Ok(r)) => r,
    };
    let (parts, body) = resp.into_parts();
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if parts.status.as_u16() == 503 && json {
        let limited = http_body_util::Limited::new(body, STATUS_BODY_LIMIT);
        if let Ok(collected) = http_body_util::BodyExt::collect(limited).await {
            let bytes = collected.to_bytes();
            if is_no_endpoints(503, &bytes) {
                return Err(ApiError::NoReadyReplicas(
                    "the function's Service has no ready endpoint".into(),
                ));
            }
            return Ok(downstream(503, parts.headers, Body::from(bytes)));
        }
        return Err(ApiError::BadGateway(
            "the function's 503 answer could not be read".into(),
        ));
    }
    let stream = http_body_util::BodyDataStream::new(body).map_err(std::io::Error::other);
    Ok(downstream(
        parts.status.as_u16(),
        parts.headers,
        Body::from_stream(stream),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (TenantId, FunctionName) {
        (
            TenantId::parse("acme").unwrap(),
            FunctionName::parse("hello").unwrap(),
        )
    }

    #[test]
    fn each_resolver_names_its_upstream() {
        let (t, n) = ids();
        let dns = Resolver::ServiceDns {
            cluster_domain: "example.internal".into(),
        };
        assert_eq!(
            dns.upstream(&t, &n).unwrap(),
            Upstream::Http("http://fn-hello.tenant-acme.svc.example.internal".into())
        );
        assert_eq!(
            Resolver::KubeProxy.upstream(&t, &n).unwrap(),
            Upstream::KubeProxy(
                "/api/v1/namespaces/tenant-acme/services/fn-hello:http/proxy".into()
            )
        );
        let fixed = Resolver::Static(HashMap::from([(
            "acme/hello".to_string(),
            "http://127.0.0.1:9".to_string(),
        )]));
        assert_eq!(
            fixed.upstream(&t, &n).unwrap(),
            Upstream::Http("http://127.0.0.1:9".into())
        );
        let other = FunctionName::parse("other").unwrap();
        let e = fixed.upstream(&t, &other).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        assert!(e.to_string().contains("acme/other"), "{e}");
    }

    #[test]
    fn a_route_is_ready_with_a_ready_replica_or_trusted_endpoints() {
        let (_, n) = ids();
        let route = |replicas, reported, ready_replicas| RouteInfo {
            replicas,
            reported,
            ready_replicas,
            timeout: Duration::from_secs(1),
            wakes: false,
            port: 8080,
        };
        assert!(route(1, true, 1).ready(&n, false).is_ok());
        assert!(
            route(1, true, 0).ready(&n, true).is_err(),
            "reported: the report decides"
        );
        assert!(
            route(1, false, 0).ready(&n, false).is_err(),
            "no report, cluster resolver"
        );
        assert!(
            route(1, false, 0).ready(&n, true).is_ok(),
            "no report, static endpoints"
        );
        let stopped = route(0, true, 1).ready(&n, true).unwrap_err();
        assert_eq!(stopped.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn only_the_api_servers_no_endpoints_status_is_no_endpoints() {
        let api = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no endpoints available for service \"fn-zero\"","reason":"ServiceUnavailable","code":503}"#;
        assert!(is_no_endpoints(503, api));
        assert!(!is_no_endpoints(502, api));
        assert!(!is_no_endpoints(503, br#"{"error":"busy"}"#));
        assert!(!is_no_endpoints(503, b"no endpoints available"));
        let other = br#"{"kind":"Status","reason":"ServiceUnavailable","message":"the server is shutting down"}"#;
        assert!(!is_no_endpoints(503, other));
    }

    #[test]
    fn the_target_keeps_the_sub_path_and_query() {
        assert_eq!(
            target("http://h/", Some("/a%20b/c"), Some("x=1")),
            "http://h/a%20b/c?x=1"
        );
        assert_eq!(target("/api/proxy", None, None), "/api/proxy/");
        assert_eq!(raw_suffix("/v1/functions/f/invoke/a%2Fb"), Some("/a%2Fb"));
        assert_eq!(raw_suffix("/v1/functions/f/invoke"), None);
    }

    #[test]
    fn only_small_bodies_of_known_size_are_kept_for_a_second_attempt() {
        assert_eq!(replayable_len(&Body::empty()), Some(0));
        assert_eq!(replayable_len(&Body::from(vec![7u8; 10])), Some(10));
        let limit = usize::try_from(REPLAY_LIMIT).unwrap();
        assert_eq!(replayable_len(&Body::from(vec![7u8; limit])), Some(limit));
        assert_eq!(replayable_len(&Body::from(vec![7u8; limit + 1])), None);
        let chunked = futures::stream::iter([Ok::<_, std::io::Error>(
            axum::body::Bytes::from_static(b"x"),
        )]);
        assert_eq!(replayable_len(&Body::from_stream(chunked)), None);
    }

    #[tokio::test]
    async fn a_call_that_reached_nothing_is_told_from_one_that_broke() {
        let call = |url: String| async move {
            forward_http(
                &url,
                axum::http::Method::POST,
                HeaderMap::new(),
                Body::from("hello"),
                Duration::from_secs(5),
            )
            .await
        };
        // Nothing listens: refused, so the request can go elsewhere.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = call(format!("http://127.0.0.1:{port}/")).await;
        assert!(
            matches!(refused, Err(HttpError::Unreachable(_))),
            "{refused:?}"
        );
        // Accepted, then closed without an answer: maybe sent, not resent.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await;
        });
        let broke = call(format!("http://{addr}/")).await;
        assert!(matches!(broke, Err(HttpError::Failed(_))), "{broke:?}");
        let e = ApiError::from(broke.unwrap_err());
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
    }
}
