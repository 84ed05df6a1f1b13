//! The sampler: every [`series::FINE`] seconds, on every server replica,
//! reads each function's replicas from the catalog (the status the
//! operator reports) into the embedded series and the
//! `eventflow_function_replicas` gauge (for Prometheus), and adds usage to
//! the `tenant_usage` table: the invocations this replica's gateway passed
//! on and, on the leading replica only (so they count once), the
//! replica-seconds of ready replicas.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use eventflow_core::{FunctionName, TenantId};
use prometheus::{IntGaugeVec, Opts};
use tokio::sync::watch;

use crate::{
    series,
    store::{now_ms, UsageDelta},
    AppState,
};

/// The sampler's gauges and what it set last.
pub struct Sampler {
    replicas: IntGaugeVec,
    set: Mutex<HashSet<(TenantId, FunctionName)>>,
}

impl Sampler {
    pub fn new(registry: &prometheus::Registry) -> Self {
        let replicas = IntGaugeVec::new(
            Opts::new(
                "eventflow_function_replicas",
                "Replicas of each function from its status: state desired (asked for) or ready (the same on every server replica)",
            ),
            &["tenant", "function", "state"],
        )
        .expect("valid metric");
        let _ = registry.register(Box::new(replicas.clone()));
        Self {
            replicas,
            set: Mutex::new(HashSet::new()),
        }
    }
}

/// The UTC day (`YYYY-MM-DD`) of a Unix time in seconds.
pub fn day_of(at_s: i64) -> String {
    chrono::DateTime::from_timestamp(at_s, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// Samples until `shutdown` turns true, then writes the invocations not
/// yet written.
pub async fn run(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_secs(series::FINE as u64);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<tokio::time::Instant> = None;
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.wait_for(|s| *s) => true,
        };
        if stop {
            write_usage(&state, now_ms() / 1000, HashMap::new()).await;
            return;
        }
        let now = tokio::time::Instant::now();
        // What this sample stands for: the time since the last one, at most
        // two intervals (a stalled task does not bill the gap).
        let seconds = last.map_or(interval, |l| (now - l).min(interval * 2));
        last = Some(now);
        let seconds = u32::try_from(seconds.as_secs_f64().round() as u64).unwrap_or(0);
        let leads = state.sync.leads();
        if let Err(e) = sample(&state, seconds, leads).await {
            tracing::warn!(error = %e, "could not sample the functions' replicas");
        }
    }
}

/// One sample standing for the last `seconds`; replica-seconds are added
/// to the usage only when this replica `leads`.
pub async fn sample(
    state: &AppState,
    seconds: u32,
    leads: bool,
) -> Result<(), crate::store::StoreError> {
    let now_s = now_ms() / 1000;
    let rows = state.store.all_functions().await?;
    let mut replica_seconds: HashMap<TenantId, i64> = HashMap::new();
    let mut seen = HashSet::with_capacity(rows.len());
    for f in &rows {
        let desired = u32::try_from(f.status.replicas).unwrap_or(0);
        let ready = u32::try_from(f.status.ready_replicas).unwrap_or(0);
        state
            .gateway
            .series
            .replicas(&f.tenant, &f.name, now_s, desired, ready, seconds);
        let g = &state.sampler.replicas;
        g.with_label_values(&[f.tenant.as_str(), f.name.as_str(), "desired"])
            .set(i64::from(desired));
        g.with_label_values(&[f.tenant.as_str(), f.name.as_str(), "ready"])
            .set(i64::from(ready));
        seen.insert((f.tenant.clone(), f.name.clone()));
        if ready > 0 {
            *replica_seconds.entry(f.tenant.clone()).or_default() +=
                i64::from(ready) * i64::from(seconds);
        }
    }
    {
        let mut set = state
            .sampler
            .set
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (t, n) in set.difference(&seen) {
            for s in ["desired", "ready"] {
                let _ = state
                    .sampler
                    .replicas
                    .remove_label_values(&[t.as_str(), n.as_str(), s]);
            }
        }
        *set = seen;
    }
    if !leads {
        replica_seconds.clear();
    }
    write_usage(state, now_s, replica_seconds).await;
    Ok(())
}

/// Adds this replica's invocations since the last write, and
/// `replica_seconds`, to today's usage; invocations that could not be
/// written wait for the next.
async fn write_usage(state: &AppState, now_s: i64, replica_seconds: HashMap<TenantId, i64>) {
    let invocations = state.gateway.series.take_invocations();
    if invocations.is_empty() && replica_seconds.is_empty() {
        return;
    }
    let day = day_of(now_s);
    let mut deltas: HashMap<TenantId, UsageDelta> = HashMap::new();
    for (t, n) in &invocations {
        entry(&mut deltas, t, &day).invocations += n;
    }
    for (t, s) in &replica_seconds {
        entry(&mut deltas, t, &day).replica_seconds += s;
    }
    let deltas: Vec<UsageDelta> = deltas.into_values().collect();
    if let Err(e) = state.store.add_usage(&deltas).await {
        tracing::warn!(error = %e, "could not add to the tenants' usage");
        state.gateway.series.return_invocations(invocations);
    }
}

fn entry<'a>(
    deltas: &'a mut HashMap<TenantId, UsageDelta>,
    t: &TenantId,
    day: &str,
) -> &'a mut UsageDelta {
    deltas.entry(t.clone()).or_insert_with(|| UsageDelta {
        tenant: t.clone(),
        day: day.to_string(),
        invocations: 0,
        replica_seconds: 0,
    })
}
