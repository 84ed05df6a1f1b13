//! Request-based scaling: functions whose `autoscaling` has a
//! `targetConcurrency` (always the case with `minReplicas` 0) get their
//! replica count from here, not from an HPA.
//!
//! * Every server replica counts the invocations its gateway has in flight
//!   ([`load::Load`]) and publishes them to the catalog once a
//!   [`ScalerConfig::interval`] (table `function_load`).
//! * The replica that holds the sync lease sums the fresh rows of all
//!   replicas and decides per function ([`decide`]: load, bounds,
//!   stabilisation, idle → zero). It sets the Deployment's `scale`
//!   subresource when the count changes and records the decision on the
//!   function (shown in the API's status).
//! * Waking a function at zero does not wait for this loop: the gateway's
//!   activator ([`crate::activator`]) scales it to one itself, at once, and
//!   this loop leaves it alone until then ([`decide::activator_wakes`]).

pub mod decide;
pub mod load;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use eventflow_core::{FunctionName, TenantId};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use prometheus::{IntGaugeVec, Opts};
use tokio::sync::watch;

use crate::store::{now_ms, FunctionRow};
use crate::AppState;
use decide::{Inputs, Stabiliser};

/// Field manager of the scaler's writes to the `scale` subresource.
pub const SCALER_FIELD_MANAGER: &str = "eventflow-scaler";

#[derive(Debug, Clone)]
pub struct ScalerConfig {
    /// How often load is published and decisions are made.
    pub interval: Duration,
    /// Idle period before a `minReplicas: 0` function goes to zero, unless
    /// its spec gives `idleSeconds`.
    pub idle_default: Duration,
    /// Scale-down stabilisation window.
    pub scale_down_window: Duration,
    /// Invocations one replica holds per function while it wakes up
    /// (429 beyond).
    pub queue_limit: u32,
}

impl Default for ScalerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            idle_default: Duration::from_secs(300),
            scale_down_window: Duration::from_secs(30),
            queue_limit: 100,
        }
    }
}

type Key = (TenantId, FunctionName);

/// How long a remembered replica count is trusted.
const REREAD_MS: i64 = 30_000;

/// What the leader remembers per function between rounds.
#[derive(Debug, Default)]
struct Memory {
    stabiliser: Stabiliser,
    /// The replicas last set or read (`None`: read the scale first), and
    /// when: re-read after [`REREAD_MS`], in case something else (the
    /// activator of another replica, a person) changed it.
    applied: Option<(u32, i64)>,
    /// When this leader started watching the function.
    watched_since: i64,
    /// The last round that saw the function starting: replicas asked for,
    /// none ready yet, not failed. Its idle period counts from there, so a
    /// start slower than the idle period is not taken back before the
    /// function ever answered.
    starting_at: i64,
}

/// Whether `f` is starting: replicas asked for (`current`), none ready,
/// and the operator reports it `Pending` or `Deploying` (a function that
/// cannot start is `Failed` and still goes to zero after its idle period;
/// one without a reported status is judged on its requests alone).
fn starting(f: &FunctionRow, current: u32) -> bool {
    use eventflow_crd::Phase;
    current > 0
        && f.status.ready_replicas == 0
        && matches!(f.status.phase, Some(Phase::Pending | Phase::Deploying))
}

pub struct Scaler {
    desired: IntGaugeVec,
    memory: Mutex<HashMap<Key, Memory>>,
}

impl Scaler {
    pub fn new(registry: &prometheus::Registry) -> Self {
        let desired = IntGaugeVec::new(
            Opts::new(
                "eventflow_function_desired_replicas",
                "Replicas the scaler wants for request-scaled functions (the leading replica only)",
            ),
            &["tenant", "function"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(desired.clone()));
        Self {
            desired,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets the replica count remembered for one function (the
    /// activator changed it).
    pub fn forget(&self, tenant: &TenantId, name: &FunctionName) {
        if let Some(m) = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&(tenant.clone(), name.clone()))
        {
            m.applied = None;
        }
    }

    fn forget_all(&self) {
        self.memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.desired.reset();
    }
}

/// Publishes this replica's load every interval and, while it leads,
/// decides. Runs until `shutdown` turns true.
pub async fn run(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let interval = state.config.scaling.interval;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let rows = state.load.changes();
        if let Err(e) = state.store.publish_load(state.sync.replica(), &rows).await {
            tracing::warn!(error = %e, "could not publish the gateway's load");
        }
        let client = state.sync.client();
        match client {
            Some(client) if state.sync.leads() => {
                if let Err(e) = round(&state, &client).await {
                    tracing::warn!(error = %e, "scaling round failed");
                }
            }
            _ => state.scaler.forget_all(),
        }
        if last_prune.elapsed() > Duration::from_secs(600) {
            last_prune = tokio::time::Instant::now();
            let _ = state.store.prune_load(now_ms() - 3_600_000).await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// One decision per request-scaled function.
async fn round(state: &AppState, client: &Client) -> Result<(), RoundError> {
    let cfg = &state.config.scaling;
    let now = now_ms();
    let fresh_since = now - i64::try_from(cfg.interval.as_millis() * 3).unwrap_or(3000) - 2000;
    let totals = state.store.load_totals(fresh_since).await?;
    let functions: Vec<FunctionRow> = state
        .store
        .all_functions()
        .await?
        .into_iter()
        .filter(|f| f.spec.autoscaling.as_ref().is_some_and(|a| a.by_requests()))
        .collect();
    let live: std::collections::HashSet<Key> = functions
        .iter()
        .map(|f| (f.tenant.clone(), f.name.clone()))
        .collect();
    state
        .scaler
        .memory
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|k, _| live.contains(k));
    for f in functions {
        let key = (f.tenant.clone(), f.name.clone());
        let total = totals.get(&key).copied().unwrap_or_default();
        if let Err(e) = decide_one(state, client, &f, total, now).await {
            tracing::warn!(tenant = %f.tenant, function = %f.name, error = %e, "scaling failed");
        }
    }
    Ok(())
}

async fn decide_one(
    state: &AppState,
    client: &Client,
    f: &FunctionRow,
    total: crate::store::LoadTotal,
    now: i64,
) -> Result<(), RoundError> {
    let cfg = &state.config.scaling;
    let Some(a) = f.spec.autoscaling.as_ref() else {
        return Ok(());
    };
    let key = (f.tenant.clone(), f.name.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &f.tenant.namespace());
    let deployment = f.name.k8s_name();
    let known = {
        let mut memory = state
            .scaler
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let m = memory.entry(key.clone()).or_insert_with(|| Memory {
            watched_since: now,
            ..Memory::default()
        });
        m.applied
            .filter(|(_, at)| now.saturating_sub(*at) < REREAD_MS)
            .map(|(c, _)| c)
    };
    let current = match known {
        Some(c) => c,
        None => match deployments.get_scale(&deployment).await {
            Ok(s) => s
                .spec
                .and_then(|s| s.replicas)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(0),
            // No Deployment yet: the operator has not applied it.
            Err(e) if eventflow_kube::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        },
    };
    if decide::activator_wakes(current, total.in_flight) {
        return Ok(());
    }
    let idle = a
        .idle_seconds
        .map_or(cfg.idle_default, |s| Duration::from_secs(u64::from(s)));
    let (desired, reason) = {
        let mut memory = state
            .scaler
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let m = memory.entry(key.clone()).or_default();
        if starting(f, current) {
            m.starting_at = now;
        }
        let inputs = Inputs {
            now_ms: now,
            min_replicas: a.min_replicas,
            max_replicas: a.max_replicas,
            target_concurrency: a.target_concurrency.unwrap_or(1),
            in_flight: total.in_flight,
            active_since_ms: total
                .last_request_at
                .max(f.updated_at)
                .max(m.watched_since)
                .max(m.starting_at),
            idle_ms: i64::try_from(idle.as_millis()).unwrap_or(i64::MAX),
        };
        let window = i64::try_from(cfg.scale_down_window.as_millis()).unwrap_or(i64::MAX);
        let d = m.stabiliser.decide(&inputs, current, window);
        if known.is_none() {
            m.applied = Some((current, now));
        }
        d
    };
    let (desired, reason) = if desired > current {
        let tenant_max = state
            .store
            .get_tenant(&f.tenant)
            .await?
            .and_then(|t| t.max_replicas)
            .unwrap_or(eventflow_core::SpecLimits::default().max_replicas);
        let room = quota_room(client, f).await?;
        decide::cap((desired, reason), current, tenant_max, room)
    } else {
        (desired, reason)
    };
    state
        .scaler
        .desired
        .with_label_values(&[f.tenant.as_str(), f.name.as_str()])
        .set(i64::from(desired));
    let recorded = f.scaling.desired_replicas != Some(desired)
        || f.scaling.reason.as_deref() != Some(reason.as_str());
    if desired != current {
        let replicas = i32::try_from(desired).unwrap_or(i32::MAX);
        deployments
            .patch_scale(
                &deployment,
                &PatchParams::apply(SCALER_FIELD_MANAGER),
                &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
            )
            .await?;
        tracing::info!(tenant = %f.tenant, function = %f.name, from = current, to = desired, %reason, in_flight = total.in_flight, "scaled");
        if let Some(m) = state
            .scaler
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&key)
        {
            m.applied = Some((desired, now));
        }
    }
    if recorded {
        state
            .store
            .record_scale(&f.tenant, &f.name, desired, reason.as_str())
            .await?;
    }
    Ok(())
}

/// How many more pods of `f` the tenant's ResourceQuota has room for, from
/// the quota's own status (what the API server counts). `None` when the
/// quota or its status is not there yet.
async fn quota_room(client: &Client, f: &FunctionRow) -> Result<Option<u32>, RoundError> {
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &f.tenant.namespace());
    let Some(quota) = quotas.get_opt(eventflow_kube::TENANT_QUOTA_NAME).await? else {
        return Ok(None);
    };
    let Some(status) = quota.status else {
        return Ok(None);
    };
    let nanos = |m: Option<std::collections::BTreeMap<String, Quantity>>| {
        m.unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| {
                eventflow_core::Quantity::parse(&v.0)
                    .ok()
                    .map(|q| (k, q.nanos()))
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (hard, used) = (nanos(status.hard), nanos(status.used));
    let r = &f.spec.resources;
    let per_pod = [
        ("pods", 1_000_000_000),
        ("requests.cpu", r.requests.cpu.nanos()),
        ("requests.memory", r.requests.memory.nanos()),
        ("limits.cpu", r.limits.cpu.nanos()),
        ("limits.memory", r.limits.memory.nanos()),
    ];
    Ok(decide::quota_room(&hard, &used, &per_pod))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_starting_while_asked_for_replicas_are_not_ready_and_it_has_not_failed() {
        let mut f = FunctionRow {
            tenant: TenantId::parse("a").unwrap(),
            name: FunctionName::parse("f").unwrap(),
            spec: eventflow_core::FunctionSpec::parse(
                eventflow_core::RawFunctionSpec {
                    image: Some("nginx".into()),
                    ..Default::default()
                },
                eventflow_core::SpecLimits::default(),
            )
            .unwrap(),
            generation: 1,
            applied_generation: 1,
            status: eventflow_crd::FunctionStatus::default(),
            sync_failure: None,
            created_at: 0,
            updated_at: 0,
            scaling: crate::store::Scaling::default(),
        };
        assert!(
            !starting(&f, 1),
            "no status reported: requests alone decide"
        );
        f.status.phase = Some(eventflow_crd::Phase::Deploying);
        assert!(starting(&f, 1));
        assert!(!starting(&f, 0), "at zero nothing starts");
        f.status.ready_replicas = 1;
        assert!(!starting(&f, 1), "ready");
        f.status.ready_replicas = 0;
        f.status.phase = Some(eventflow_crd::Phase::Failed);
        assert!(!starting(&f, 1), "failed: the idle period runs");
    }
}
