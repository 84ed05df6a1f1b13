//! Cron triggers: every server replica looks for due slots and fires each
//! as an asynchronous invocation. A slot is claimed in the transaction that
//! enqueues its invocation (see [`crate::store::Store::fire_slot`]), so it
//! fires once however many replicas see it. A slot fired late by up to
//! 10 s is followed by each slot after it; after a longer gap (the
//! platform was down) the schedule goes on from now, so the missed slots
//! fire once, not once each.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::{now_ms, DueSlot, NewInvocation, StoredRequest};
use crate::AppState;

/// How late a slot may fire and still be followed by each slot after it.
const CATCH_UP_MS: i64 = 10_000;

/// Sent to the function on each run of a schedule.
pub const SCHEDULE_HEADER: &str = "x-eventflow-schedule";
pub const SCHEDULED_TIME_HEADER: &str = "x-eventflow-scheduled-time";

/// Fires due slots until `shutdown` turns true.
pub async fn run(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        let now = now_ms();
        match state.store.due_slots(now, 100).await {
            Ok(slots) => {
                failures = 0;
                for slot in slots {
                    if let Err(e) = fire(&state, &slot, now).await {
                        tracing::warn!(tenant = %slot.tenant, function = %slot.function, schedule = %slot.name, error = %e, "could not fire a schedule");
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(60) {
                    tracing::warn!(error = %e, "could not read the due schedules");
                }
            }
        }
        // Until the next slot, but at least every second (another replica
        // or a new function may have added an earlier one).
        let wait = match state.store.next_slot().await {
            Ok(Some(next)) => (next - now_ms()).clamp(10, 1000),
            _ => 1000,
        };
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(1000))) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

async fn fire(state: &AppState, slot: &DueSlot, now: i64) -> Result<(), crate::store::StoreError> {
    let function = state.store.tenant(&slot.tenant).get(&slot.function).await?;
    let schedule = function
        .as_ref()
        .and_then(|f| f.spec.schedules.iter().find(|s| s.name == slot.name));
    let (Some(f), Some(schedule)) = (function.as_ref(), schedule) else {
        // Removed meanwhile; the function's write removes the row too.
        return state.store.skip_slot(slot, None).await;
    };
    // A slot late by a little (this replica was busy) is followed by the
    // next one in turn, so none is skipped; after a longer gap (the
    // platform was down) the schedule goes on from now: the missed slots
    // fire once, as this one.
    let after = if now - slot.at <= CATCH_UP_MS {
        slot.at
    } else {
        now
    };
    let next = schedule.next_after(after);
    let body = schedule.body.clone().unwrap_or_default();
    let content_type = if serde_json::from_str::<serde_json::Value>(&body).is_ok() {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let inv = NewInvocation {
        name: slot.function.clone(),
        source: format!("schedule:{}", schedule.name),
        request: StoredRequest {
            method: "POST".into(),
            path: String::new(),
            query: None,
            headers: vec![
                ("content-type".into(), content_type.into()),
                (SCHEDULE_HEADER.into(), schedule.name.clone()),
                (
                    SCHEDULED_TIME_HEADER.into(),
                    crate::api::functions::rfc3339(slot.at),
                ),
            ],
            body: body.into_bytes(),
        },
        callback_url: None,
        max_attempts: f
            .spec
            .retry
            .and_then(|r| r.max_attempts)
            .unwrap_or(state.config.invocations.default_max_attempts),
    };
    if let Some(row) = state.store.fire_slot(slot, next, &inv).await? {
        tracing::info!(tenant = %slot.tenant, function = %slot.function, schedule = %slot.name, invocation = %row.id, late_ms = now - slot.at, "schedule fired");
        state.invocations.wake();
    }
    Ok(())
}
