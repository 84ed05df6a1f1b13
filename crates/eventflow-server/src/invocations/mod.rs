//! Asynchronous invocations: accepted with `Prefer: respond-async` on the
//! invoke route, stored in the catalog before the `202`, and worked off by
//! every server replica.
//!
//! * [`accept`] checks the tenant's rate, the body's size, the callback and
//!   the tenant's queue depth, stores the request and answers `202` with a
//!   `Location` to poll.
//! * [`run`] is each replica's worker: it claims due invocations with a
//!   lease ([`AsyncConfig::lease`], renewed while it works), calls the
//!   function through the same path as a synchronous call
//!   ([`crate::gateway::call`], so the tenant's rate and concurrency limits
//!   and cold starts apply), and records the attempt. Retries follow
//!   [`policy`]; a replica that dies mid-attempt loses nothing: its lease
//!   ends and another replica makes the attempt again (at-least-once; the
//!   function sees `X-EventFlow-Invocation-Id` and `X-EventFlow-Attempt` to
//!   tell).
//! * [`prune`] enforces the retention (age and count per tenant).

pub mod callback;
pub mod policy;
pub mod scheduler;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use eventflow_core::{FunctionName, TenantId};
use prometheus::{IntCounterVec, IntGauge, Opts};
use rand::Rng;
use tokio::sync::{watch, Notify, Semaphore};

use crate::error::ApiError;
use crate::store::{
    now_ms, AttemptResult, Claimed, Enqueued, InvocationStatus, NewInvocation, Next, StoredRequest,
    StoredResponse,
};
use crate::AppState;
use policy::Verdict;

/// The header that names a completion callback.
pub const CALLBACK_HEADER: &str = "eventflow-callback";
/// Sent to the function on every attempt of an asynchronous invocation.
pub const INVOCATION_ID_HEADER: &str = "x-eventflow-invocation-id";
pub const ATTEMPT_HEADER: &str = "x-eventflow-attempt";

#[derive(Debug, Clone)]
pub struct AsyncConfig {
    /// Attempts running at once on one replica.
    pub workers: u32,
    /// How often a replica looks for due work when nothing woke it.
    pub poll: Duration,
    /// How long a claimed invocation stays with its replica without a
    /// renewal (renewed every third of it).
    pub lease: Duration,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// Attempts when the function's spec does not say.
    pub default_max_attempts: u32,
    /// Queued and running invocations per tenant (429 beyond).
    pub queue_per_tenant: u32,
    /// Largest request body accepted (413 beyond).
    pub body_limit: usize,
    /// Longest response body kept (the rest is cut, `truncated` set).
    pub response_limit: usize,
    /// Finished invocations are kept this long...
    pub retention: Duration,
    /// ... and at most this many per tenant (the newest).
    pub retention_count: u32,
    pub callbacks: callback::CallbackPolicy,
    /// The shortest time allowed between two runs of a schedule.
    pub min_schedule_interval_seconds: u32,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        Self {
            workers: 32,
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(300),
            default_max_attempts: 5,
            queue_per_tenant: 10_000,
            body_limit: 1024 * 1024,
            response_limit: 256 * 1024,
            retention: Duration::from_secs(7 * 24 * 3600),
            retention_count: 10_000,
            callbacks: callback::CallbackPolicy::default(),
            min_schedule_interval_seconds: 60,
        }
    }
}

/// The worker's shared state on one replica.
pub struct Invocations {
    /// Woken when this replica enqueues (other replicas poll).
    wake: Notify,
    /// What this replica works on (their leases are renewed).
    running: Mutex<HashSet<i64>>,
    attempts: IntCounterVec,
    queued: IntGauge,
    in_progress: IntGauge,
    oldest_age: IntGauge,
}

impl Invocations {
    /// Wakes this replica's worker (new work was queued here).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn new(registry: &prometheus::Registry) -> Self {
        let attempts = IntCounterVec::new(
            Opts::new(
                "eventflow_async_attempts_total",
                "Attempts of asynchronous invocations made by this replica, by outcome (succeeded, retry, failed, dead, released)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            let _ = registry.register(Box::new(g.clone()));
            g
        };
        let _ = registry.register(Box::new(attempts.clone()));
        Self {
            wake: Notify::new(),
            running: Mutex::new(HashSet::new()),
            attempts,
            queued: gauge(
                "eventflow_async_queue_depth",
                "Asynchronous invocations waiting for an attempt (all tenants)",
            ),
            in_progress: gauge(
                "eventflow_async_running",
                "Asynchronous invocations with an attempt under way (all replicas)",
            ),
            oldest_age: gauge(
                "eventflow_async_oldest_queued_age_seconds",
                "Age of the oldest queued asynchronous invocation",
            ),
        }
    }
}

/// Whether the caller asked for an asynchronous invocation
/// (`Prefer: respond-async`, RFC 7240).
pub fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            p.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("respond-async"))
        })
}

/// Whether a request header is kept for the function. Authorization,
/// cookies, `Prefer`, the callback and hop-by-hop headers never are; the
/// platform's own forwarding headers are set again on each attempt.
pub fn keeps_header(name: &str) -> bool {
    const KEPT: [&str; 7] = [
        "content-type",
        "content-encoding",
        "content-language",
        "accept",
        "accept-encoding",
        "accept-language",
        "user-agent",
    ];
    let n = name.to_ascii_lowercase();
    KEPT.contains(&n.as_str())
        || (n.starts_with("x-")
            && !n.starts_with("x-forwarded-")
            && !n.starts_with("x-eventflow-")
            && n != "x-real-ip")
}

/// `POST /v1/functions/{name}/invoke[/…]` with `Prefer: respond-async`.
pub async fn accept(
    state: &Arc<AppState>,
    tenant: &TenantId,
    name: &FunctionName,
    req: Request,
    rate: crate::gateway::Rate,
) -> Result<Response, ApiError> {
    let cfg = &state.config.invocations;
    if rate == crate::gateway::Rate::Count {
        state.gateway.admit(tenant)?;
    }
    let tenants = state.store.tenant(tenant);
    let function = tenants
        .get(name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("function {:?} not found", name.as_str())))?;
    let (parts, body) = req.into_parts();
    let callback_url = match parts.headers.get(CALLBACK_HEADER) {
        None => None,
        Some(v) => {
            let text = v.to_str().map_err(|_| {
                ApiError::bad_request(
                    "the callback URL must be ASCII",
                    Some("EventFlow-Callback".into()),
                )
            })?;
            Some(cfg.callbacks.check_url(text).map_err(|why| {
                ApiError::bad_request(
                    format!("callback refused: {why}"),
                    Some("EventFlow-Callback".into()),
                )
            })?)
        }
    };
    let body = axum::body::to_bytes(body, cfg.body_limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge {
            limit: cfg.body_limit,
        })?;
    let headers = parts
        .headers
        .iter()
        .filter(|(n, _)| keeps_header(n.as_str()))
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let request = StoredRequest {
        method: parts.method.as_str().to_string(),
        path: crate::gateway::raw_suffix(parts.uri.path())
            .unwrap_or("")
            .to_string(),
        query: parts.uri.query().map(str::to_string),
        headers,
        body: body.to_vec(),
    };
    let max_attempts = function
        .spec
        .retry
        .and_then(|r| r.max_attempts)
        .unwrap_or(cfg.default_max_attempts);
    let inv = NewInvocation {
        name: name.clone(),
        source: "api".into(),
        request,
        callback_url,
        max_attempts,
    };
    let row = match tenants.enqueue(inv, cfg.queue_per_tenant).await? {
        Enqueued::Row(r) => r,
        Enqueued::QueueFull { limit } => {
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "the tenant's queue of asynchronous invocations is full ({limit} queued or running)"
                ),
                retry_after: 5,
            })
        }
        Enqueued::NoFunction => {
            return Err(ApiError::not_found(format!(
                "function {:?} not found",
                name.as_str()
            )))
        }
    };
    state.invocations.wake();
    let location = format!("/v1/invocations/{}", row.id);
    let dto = crate::api::invocations::InvocationDto::from_row(&row, None);
    let mut resp = (StatusCode::ACCEPTED, axum::Json(dto)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().insert(
        "preference-applied",
        HeaderValue::from_static("respond-async"),
    );
    Ok(resp)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// This replica's worker: claims and runs due invocations until `shutdown`
/// turns true, then lets the attempts under way finish (their leases are
/// renewed meanwhile) for as long as `drain` allows.
pub async fn run(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>, drain: Duration) {
    let cfg = state.config.invocations.clone();
    let slots = Arc::new(Semaphore::new(cfg.workers.max(1) as usize));
    let renewer = tokio::spawn(renew_leases(state.clone()));
    let mut tick = tokio::time::interval(cfg.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.invocations.wake.notified() => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        // Claim while there are free slots and due work.
        loop {
            let free = slots.available_permits();
            if free == 0 {
                break;
            }
            let lease_until = now_ms() + ms(cfg.lease);
            let claimed = match state
                .store
                .claim_invocations(state.sync.replica(), lease_until, free as i64)
                .await
            {
                Ok(c) => {
                    failures = 0;
                    c
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(60) {
                        tracing::warn!(error = %e, "could not claim asynchronous invocations");
                    }
                    break;
                }
            };
            let n = claimed.len();
            for c in claimed {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    break;
                };
                state
                    .invocations
                    .running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(c.row.seq);
                let state = state.clone();
                tokio::spawn(async move {
                    let seq = c.row.seq;
                    attempt(&state, c).await;
                    state
                        .invocations
                        .running
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&seq);
                    drop(permit);
                    // A slot is free: claim the next one now, not at the
                    // next poll.
                    state.invocations.wake();
                });
            }
            if n < free {
                break;
            }
        }
    }
    let deadline = tokio::time::Instant::now() + drain;
    let all = cfg.workers.max(1);
    let _ = tokio::time::timeout_at(deadline, slots.acquire_many(all)).await;
    renewer.abort();
}

/// Renews this replica's leases every third of the lease, and refreshes
/// the queue gauges.
async fn renew_leases(state: Arc<AppState>) {
    let lease = state.config.invocations.lease;
    let mut tick = tokio::time::interval((lease / 3).max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        let seqs: Vec<i64> = state
            .invocations
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        if !seqs.is_empty() {
            let until = now_ms() + ms(lease);
            if let Err(e) = state
                .store
                .renew_invocation_leases(state.sync.replica(), &seqs, until)
                .await
            {
                tracing::warn!(error = %e, "could not renew the leases of asynchronous invocations");
            }
        }
        if let Ok(stats) = state.store.queue_stats().await {
            let inv = &state.invocations;
            inv.queued.set(stats.queued);
            inv.in_progress.set(stats.running);
            inv.oldest_age.set(
                stats
                    .oldest_queued_at
                    .map_or(0, |t| (now_ms() - t).max(0) / 1000),
            );
        }
    }
}

/// The request one attempt sends through the gateway.
fn attempt_request(c: &Claimed) -> Result<Request, String> {
    let r = &c.row.request;
    let mut uri = format!("/v1/functions/{}/invoke{}", c.row.name, r.path);
    if let Some(q) = &r.query {
        uri.push('?');
        uri.push_str(q);
    }
    let mut builder = axum::http::Request::builder()
        .method(r.method.as_str())
        .uri(&uri);
    for (n, v) in &r.headers {
        builder = builder.header(n.as_str(), v.as_str());
    }
    builder
        .header(INVOCATION_ID_HEADER, c.row.id.as_str())
        .header(ATTEMPT_HEADER, c.attempt.to_string())
        .header("x-request-id", format!("{}-{}", c.row.id, c.attempt))
        .body(Body::from(r.body.clone()))
        .map_err(|e| format!("the stored request is not valid: {e}"))
}

/// Reads up to `limit` bytes of a response body; `true` when there was more.
async fn read_limited(body: Body, limit: usize) -> Result<(Vec<u8>, bool), String> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the function's answer: {e}"))?;
        if let Ok(data) = frame.into_data() {
            let room = limit - out.len();
            if data.len() > room {
                out.extend_from_slice(&data[..room]);
                return Ok((out, true));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok((out, false))
}

/// Makes one attempt of a claimed invocation and records it.
async fn attempt(state: &Arc<AppState>, c: Claimed) {
    let cfg = &state.config.invocations;
    let replica = state.sync.replica();
    let (seq, n, max) = (c.row.seq, c.attempt, c.row.max_attempts);
    let record = |verdict: Verdict, status: Option<u16>, error: Option<String>, response| {
        let delay = policy::backoff_ms(
            n,
            ms(cfg.retry_base),
            ms(cfg.retry_cap),
            rand::thread_rng().gen::<f64>(),
        );
        AttemptResult {
            status,
            error,
            response,
            next: policy::next(verdict, n, max, now_ms(), delay),
        }
    };
    let result = if n > max {
        // The last attempt's replica died before recording it.
        AttemptResult {
            status: None,
            error: Some("the last attempt was lost (its server stopped)".into()),
            response: None,
            next: Next::Done(InvocationStatus::Dead),
        }
    } else {
        match attempt_request(&c) {
            Err(e) => record(Verdict::Failed, None, Some(e), None),
            Ok(req) => match crate::gateway::call(state, &c.row.tenant, &c.row.name, req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let (parts, body) = resp.into_parts();
                    let headers = parts
                        .headers
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                        })
                        .collect();
                    match read_limited(body, cfg.response_limit).await {
                        Ok((body, truncated)) => record(
                            policy::on_status(status),
                            Some(status),
                            (status >= 400).then(|| format!("the function answered {status}")),
                            Some(StoredResponse {
                                status,
                                headers,
                                body,
                                truncated,
                            }),
                        ),
                        Err(e) => record(Verdict::Retry, Some(status), Some(e), None),
                    }
                }
                Err(e) => {
                    let status = e.status().as_u16();
                    match policy::on_platform_error(status) {
                        Verdict::Release => {
                            state
                                .invocations
                                .attempts
                                .with_label_values(&["released"])
                                .inc();
                            let wait = 200 + rand::thread_rng().gen_range(0..800);
                            if let Err(e) = state
                                .store
                                .release_invocation(seq, n, replica, now_ms() + wait)
                                .await
                            {
                                tracing::warn!(error = %e, "could not give an invocation back");
                            }
                            return;
                        }
                        v => record(v, None, Some(e.to_string()), None),
                    }
                }
            },
        }
    };
    let label = match result.next {
        Next::Done(InvocationStatus::Succeeded) => "succeeded",
        Next::Done(InvocationStatus::Dead) => "dead",
        Next::Done(_) => "failed",
        Next::RetryAt(_) => "retry",
    };
    state.invocations.attempts.with_label_values(&[label]).inc();
    match state.store.finish_attempt(seq, n, replica, &result).await {
        Ok(Some(row)) => {
            if let Next::RetryAt(_) = result.next {
                // Wake a worker for the retry when it is due.
            } else if row.callback_url.is_some() {
                let state = state.clone();
                tokio::spawn(async move { callback::deliver(&state, &row).await });
            }
        }
        Ok(None) => {
            tracing::info!(invocation = %c.row.id, attempt = n, "another replica took this invocation over; its result stands")
        }
        Err(e) => {
            tracing::warn!(invocation = %c.row.id, error = %e, "could not record an attempt; the lease will run out and it is tried again")
        }
    }
}

/// Enforces the retention once a minute until `shutdown`.
pub async fn prune(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let cfg = state.config.invocations.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let before = now_ms() - ms(cfg.retention);
        match state
            .store
            .prune_invocations(before, i64::from(cfg.retention_count.max(1)))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "invocations past the retention deleted"),
            Err(e) => tracing::warn!(error = %e, "invocation retention failed; will retry"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respond_async_is_found_among_other_preferences() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("prefer", HeaderValue::from_str(v).unwrap());
            prefers_async(&h)
        };
        assert!(with("respond-async"));
        assert!(with("return=minimal, Respond-Async"));
        assert!(with("respond-async; wait=10"));
        assert!(!with("return=representation"));
        assert!(!with("respond-asyncx"));
        assert!(!prefers_async(&HeaderMap::new()));
    }

    #[test]
    fn only_content_and_custom_headers_are_kept() {
        for kept in ["Content-Type", "accept", "X-Trace", "user-agent"] {
            assert!(keeps_header(kept), "{kept}");
        }
        for dropped in [
            "authorization",
            "cookie",
            "prefer",
            "eventflow-callback",
            "x-forwarded-for",
            "x-eventflow-attempt",
            "connection",
            "host",
            "content-length",
        ] {
            assert!(!keeps_header(dropped), "{dropped}");
        }
    }
}
