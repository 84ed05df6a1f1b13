//! Waking a function at zero replicas: the gateway holds its invocations
//! here instead of refusing them.
//!
//! The first invocation of a `minReplicas: 0` function without a ready
//! replica starts a **cold start** on this server replica: it sets the
//! Deployment's scale to one at once (no scaler interval on the way) and
//! watches the function's pods. Readiness is found actively: as soon as a
//! pod has an address, the activator connects to the function's port every
//! 25 ms, and the kubelet's Ready condition (whichever comes first) ends
//! the wait. Every invocation that arrives meanwhile waits for the same
//! cold start, up to [`crate::scaler::ScalerConfig::queue_limit`] per
//! function (429 + `Retry-After` beyond) and each within its function's
//! timeout (504). Then they go straight to that pod, and for
//! [`WARM_FOR`] afterwards, until the catalog has caught up with the new
//! replica and the normal route (the Service) takes over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use eventflow_core::{FunctionName, TenantId};
use eventflow_crd::FUNCTION_LABEL;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::store::now_ms;
use crate::AppState;

/// How long a woken pod is used directly.
pub const WARM_FOR: Duration = Duration::from_secs(10);
/// A cold start that takes longer than this has failed.
const WAKE_LIMIT: Duration = Duration::from_secs(300);
/// How often a candidate pod's port is tried.
const PROBE_EVERY: Duration = Duration::from_millis(25);

/// A pod that answers on the function's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTarget {
    pub pod: String,
    pub ip: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
enum Wake {
    Starting,
    Ready { target: PodTarget, at: Instant },
    Failed(String),
}

struct ColdStart {
    wake: watch::Sender<Wake>,
    waiting: AtomicU32,
}

impl ColdStart {
    fn new() -> Self {
        Self {
            wake: watch::channel(Wake::Starting).0,
            waiting: AtomicU32::new(0),
        }
    }

    /// Counts one more held invocation (released when the guard drops):
    /// 429 while it is still starting and `limit` invocations wait already.
    fn join<'a>(
        &'a self,
        name: &FunctionName,
        limit: u32,
        gauge: prometheus::IntGauge,
    ) -> Result<Queued<'a>, ApiError> {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.inc();
        let held = Queued { cold: self, gauge };
        if queued > limit && matches!(&*self.wake.borrow(), Wake::Starting) {
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "function {:?} is starting and already holds {limit} invocations",
                    name.as_str()
                ),
                retry_after: 1,
            });
        }
        Ok(held)
    }

    /// Waits for the end of the cold start: the pod, 504 at `deadline`,
    /// 503 when it failed.
    async fn outcome(
        &self,
        name: &FunctionName,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<PodTarget, ApiError> {
        let mut rx = self.wake.subscribe();
        let woke =
            tokio::time::timeout_at(deadline, rx.wait_for(|w| !matches!(w, Wake::Starting))).await;
        match woke {
            Err(_) => Err(ApiError::GatewayTimeout(timeout.as_secs())),
            Ok(Err(_)) => Err(ApiError::Unavailable(format!(
                "function {:?} could not be woken",
                name.as_str()
            ))),
            Ok(Ok(w)) => match &*w {
                Wake::Ready { target, .. } => Ok(target.clone()),
                Wake::Failed(m) => Err(ApiError::Unavailable(m.clone())),
                Wake::Starting => unreachable!("waited for a state other than Starting"),
            },
        }
    }

    /// Whether a new invocation may join it: still starting, or woken
    /// within [`WARM_FOR`].
    fn usable(&self) -> bool {
        match &*self.wake.borrow() {
            Wake::Starting => true,
            Wake::Ready { at, .. } => at.elapsed() < WARM_FOR,
            Wake::Failed(_) => false,
        }
    }
}

type Key = (TenantId, FunctionName);

pub struct Activator {
    starts: Mutex<HashMap<Key, Arc<ColdStart>>>,
    cold_starts: IntCounterVec,
    cold_start_seconds: HistogramVec,
    queue_depth: IntGaugeVec,
}

/// Counts one held invocation until dropped.
struct Queued<'a> {
    cold: &'a ColdStart,
    gauge: prometheus::IntGauge,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.cold.waiting.fetch_sub(1, Ordering::SeqCst);
        self.gauge.dec();
    }
}

impl Activator {
    pub fn new(registry: &prometheus::Registry) -> Self {
        let cold_starts = IntCounterVec::new(
            Opts::new(
                "eventflow_function_cold_starts_total",
                "Wakes by an invocation: outcome ready (woken from zero: a cold start), failed, or running (it had replicas already)",
            ),
            &["tenant", "function", "outcome"],
        )
        .expect("valid metric");
        let cold_start_seconds = HistogramVec::new(
            HistogramOpts::new(
                "eventflow_function_cold_start_duration_seconds",
                "From the first held invocation to a replica answering on its port",
            )
            .buckets(vec![
                0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0,
            ]),
            &["tenant", "function"],
        )
        .expect("valid metric");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "eventflow_function_queue_depth",
                "Invocations held while the function wakes up (this replica)",
            ),
            &["tenant", "function"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(cold_starts.clone()));
        let _ = registry.register(Box::new(cold_start_seconds.clone()));
        let _ = registry.register(Box::new(queue_depth.clone()));
        Self {
            starts: Mutex::new(HashMap::new()),
            cold_starts,
            cold_start_seconds,
            queue_depth,
        }
    }

    /// Holds an invocation of `name` until a replica answers on `port`:
    /// joins the cold start in progress or begins one. 429 when `limit`
    /// invocations already wait, 504 at `deadline`, 503 when the cold start
    /// fails (no cluster, the pods never start).
    pub async fn wait(
        &self,
        state: &Arc<AppState>,
        tenant: &TenantId,
        name: &FunctionName,
        port: u16,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<PodTarget, ApiError> {
        let key = (tenant.clone(), name.clone());
        let (cold, begun) = {
            let mut starts = self.starts.lock().unwrap_or_else(PoisonError::into_inner);
            match starts.get(&key) {
                Some(c) if c.usable() => (Arc::clone(c), false),
                _ => {
                    let c = Arc::new(ColdStart::new());
                    starts.insert(key, Arc::clone(&c));
                    (c, true)
                }
            }
        };
        if begun {
            tokio::spawn(wake(
                Arc::clone(state),
                tenant.clone(),
                name.clone(),
                port,
                Arc::clone(&cold),
            ));
        }
        let gauge = self
            .queue_depth
            .with_label_values(&[tenant.as_str(), name.as_str()]);
        let _held = cold.join(name, state.config.scaling.queue_limit, gauge)?;
        cold.outcome(name, deadline, timeout).await
    }
}

/// One cold start: scale to one, find a pod that answers, tell the waiters.
async fn wake(
    state: Arc<AppState>,
    tenant: TenantId,
    name: FunctionName,
    port: u16,
    cold: Arc<ColdStart>,
) {
    let began = Instant::now();
    let began_ms = now_ms();
    let activator = &state.gateway.activator;
    let labels = [tenant.as_str(), name.as_str()];
    let outcome =
        match tokio::time::timeout(WAKE_LIMIT, bring_up(&state, &tenant, &name, port)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no replica answered within {} s",
                WAKE_LIMIT.as_secs()
            )),
        };
    match outcome {
        // Its replicas were there (the caller saw none ready, or its
        // Service reached nothing): no cold start to count.
        Ok((target, false)) => {
            activator
                .cold_starts
                .with_label_values(&[labels[0], labels[1], "running"])
                .inc();
            cold.wake.send_replace(Wake::Ready {
                target,
                at: Instant::now(),
            });
        }
        Ok((target, true)) => {
            let took = began.elapsed();
            activator
                .cold_starts
                .with_label_values(&[labels[0], labels[1], "ready"])
                .inc();
            activator
                .cold_start_seconds
                .with_label_values(&labels)
                .observe(took.as_secs_f64());
            tracing::info!(tenant = %tenant, function = %name, pod = %target.pod, ms = took.as_millis() as u64, "cold start: a replica answers");
            cold.wake.send_replace(Wake::Ready {
                target,
                at: Instant::now(),
            });
            let ms = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
            state.gateway.series.cold_start(
                &tenant,
                &name,
                chrono::Utc::now().timestamp(),
                u64::try_from(ms).unwrap_or(0),
            );
            if let Err(e) = state
                .store
                .record_cold_start(&tenant, &name, began_ms, ms)
                .await
            {
                tracing::warn!(error = %e, "could not record the cold start");
            }
        }
        Err(message) => {
            activator
                .cold_starts
                .with_label_values(&[labels[0], labels[1], "failed"])
                .inc();
            tracing::warn!(tenant = %tenant, function = %name, error = %message, "cold start failed");
            cold.wake.send_replace(Wake::Failed(message));
        }
    }
}

async fn bring_up(
    state: &AppState,
    tenant: &TenantId,
    name: &FunctionName,
    port: u16,
) -> Result<(PodTarget, bool), String> {
    let client = state
        .sync
        .client()
        .ok_or_else(|| "Kubernetes is not reachable".to_string())?;
    let ns = tenant.namespace();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let woke = scale_to_one(&deployments, &name.k8s_name()).await?;
    if woke {
        state.scaler.forget(tenant, name);
    }
    let target = ready_pod(&Api::<Pod>::namespaced(client, &ns), name, port).await?;
    Ok((target, woke))
}

/// Sets the Deployment's replicas to one if it has none, with the read
/// `resourceVersion` as a precondition, so a count the scaler raised in the
/// meantime is never lowered.
/// `true` when it was at zero as this wake began (a cold start, even if
/// another server replica's activator raised it first), `false` when it
/// already had replicas.
async fn scale_to_one(deployments: &Api<Deployment>, deployment: &str) -> Result<bool, String> {
    let mut at_zero = false;
    for _ in 0..5 {
        let scale = deployments
            .get_scale(deployment)
            .await
            .map_err(|e| format!("reading the scale of {deployment}: {e}"))?;
        if scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0) > 0 {
            return Ok(at_zero);
        }
        at_zero = true;
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": scale.metadata.resource_version},
            "spec": {"replicas": 1},
        });
        match deployments
            .patch_scale(
                deployment,
                &PatchParams::apply(crate::scaler::SCALER_FIELD_MANAGER),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(format!("scaling {deployment} to one replica: {e}")),
        }
    }
    Err(format!(
        "scaling {deployment} to one replica: too many conflicts"
    ))
}

/// The first pod of the function that answers on `port` (a TCP connection
/// from here) or that the kubelet reports Ready, whichever comes first.
async fn ready_pod(pods: &Api<Pod>, name: &FunctionName, port: u16) -> Result<PodTarget, String> {
    let cfg = watcher::Config::default().labels(&format!("{FUNCTION_LABEL}={name}"));
    let mut events = watcher(pods.clone(), cfg).applied_objects().boxed();
    let mut candidates: HashMap<String, String> = HashMap::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tokio::select! {
            ev = events.try_next() => {
                let pod = match ev {
                    Ok(Some(p)) => p,
                    Ok(None) => return Err("the pod watch ended".into()),
                    Err(e) => return Err(format!("watching the pods: {e}")),
                };
                let pod_name = pod.metadata.name.clone().unwrap_or_default();
                let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
                if pod.metadata.deletion_timestamp.is_some() || ip.is_none() {
                    candidates.remove(&pod_name);
                    continue;
                }
                let ip = ip.unwrap_or_default();
                if kubelet_ready(&pod) {
                    return Ok(PodTarget { pod: pod_name, ip, port });
                }
                candidates.insert(pod_name, ip);
            }
            _ = tick.tick() => {
                for (pod, ip) in &candidates {
                    if answers(ip, port).await {
                        return Ok(PodTarget { pod: pod.clone(), ip: ip.clone(), port });
                    }
                }
            }
        }
    }
}

fn kubelet_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether something accepts connections on `ip:port` (within 100 ms).
async fn answers(ip: &str, port: u16) -> bool {
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    matches!(
        tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect((ip, port))
        )
        .await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge() -> prometheus::IntGauge {
        prometheus::IntGauge::new("q", "q").unwrap()
    }

    #[tokio::test]
    async fn a_starting_function_holds_up_to_the_limit_then_answers_429() {
        let name = FunctionName::parse("f").unwrap();
        let cold = ColdStart::new();
        let g = gauge();
        let held: Vec<_> = (0..3)
            .map(|_| cold.join(&name, 3, g.clone()).unwrap())
            .collect();
        assert_eq!(g.get(), 3);
        let Err(e) = cold.join(&name, 3, g.clone()) else {
            panic!("a fourth invocation was held")
        };
        assert_eq!(e.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(g.get(), 3, "the refused one is not counted");
        drop(held);
        assert_eq!((g.get(), cold.waiting.load(Ordering::SeqCst)), (0, 0));
        // Woken: joining is no longer limited (nothing waits any more).
        cold.wake.send_replace(Wake::Ready {
            target: PodTarget {
                pod: "p".into(),
                ip: "10.0.0.1".into(),
                port: 8080,
            },
            at: Instant::now(),
        });
        let _many: Vec<_> = (0..5)
            .map(|_| cold.join(&name, 3, g.clone()).unwrap())
            .collect();
    }

    #[tokio::test]
    async fn held_invocations_get_the_pod_504_at_their_deadline_or_503_on_failure() {
        let name = FunctionName::parse("f").unwrap();
        let cold = ColdStart::new();
        let t = Duration::from_millis(50);
        let e = cold
            .outcome(&name, Instant::now() + t, t)
            .await
            .unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::GATEWAY_TIMEOUT);
        let target = PodTarget {
            pod: "p".into(),
            ip: "10.0.0.1".into(),
            port: 8080,
        };
        let waiting = cold.outcome(&name, Instant::now() + Duration::from_secs(5), t);
        let wake = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cold.wake.send_replace(Wake::Ready {
                target: target.clone(),
                at: Instant::now(),
            });
        };
        let (got, ()) = tokio::join!(waiting, wake);
        assert_eq!(got.unwrap(), target);
        let failed = ColdStart::new();
        failed.wake.send_replace(Wake::Failed("no cluster".into()));
        let e = failed
            .outcome(&name, Instant::now() + t, t)
            .await
            .unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.to_string().contains("no cluster"));
        assert!(!failed.usable(), "a failed cold start is not joined");
    }
}
