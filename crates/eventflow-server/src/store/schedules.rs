//! Where each cron trigger stands (table `schedules`): kept in line with
//! the function's spec by every function write, and moved on by the
//! schedulers, one slot at a time, in the transaction that enqueues the
//! slot's invocation.

use eventflow_core::{FunctionName, Schedule, TenantId};
use sqlx::Row;

use super::invocations::{insert, NewInvocation};
use super::{function_name, tenant_id, InvocationRow, Result, Store, TenantStore};

/// One schedule's state, for the function's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleState {
    pub name: String,
    /// The next slot (Unix ms); `None` when it never fires again.
    pub next_at: Option<i64>,
    pub last_at: Option<i64>,
    pub last_invocation_id: Option<String>,
}

/// A slot that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSlot {
    pub tenant: TenantId,
    pub function: FunctionName,
    pub name: String,
    /// The slot (Unix ms).
    pub at: i64,
}

/// Brings `function`'s schedule rows in line with its spec, in `tx`: rows
/// of removed schedules go; a new schedule, or one whose expression or
/// zone changed, gets its next slot after `now`; unchanged ones keep
/// theirs.
pub(super) async fn sync(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    function: &FunctionName,
    schedules: &[Schedule],
    now: i64,
) -> Result<()> {
    let existing = sqlx::query(
        "SELECT name, cron, time_zone FROM schedules WHERE tenant_id = $1 AND function_name = $2",
    )
    .bind(tenant.as_str())
    .bind(function.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let mut current: Vec<(String, String, Option<String>)> = Vec::new();
    for r in &existing {
        current.push((
            r.try_get("name")?,
            r.try_get("cron")?,
            r.try_get("time_zone")?,
        ));
    }
    for (name, _, _) in &current {
        if !schedules.iter().any(|s| &s.name == name) {
            sqlx::query(
                "DELETE FROM schedules WHERE tenant_id = $1 AND function_name = $2 AND name = $3",
            )
            .bind(tenant.as_str())
            .bind(function.as_str())
            .bind(name)
            .execute(&mut **tx)
            .await?;
        }
    }
    for s in schedules {
        let unchanged = current
            .iter()
            .any(|(n, c, z)| n == &s.name && c == &s.cron && z == &s.time_zone);
        if unchanged {
            continue;
        }
        sqlx::query(
            "INSERT INTO schedules (tenant_id, function_name, name, cron, time_zone, next_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, function_name, name) DO UPDATE SET \
             cron = excluded.cron, time_zone = excluded.time_zone, next_at = excluded.next_at",
        )
        .bind(tenant.as_str())
        .bind(function.as_str())
        .bind(&s.name)
        .bind(&s.cron)
        .bind(s.time_zone.as_deref())
        .bind(s.next_after(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl TenantStore<'_> {
    /// The state of `function`'s schedules, by name.
    pub async fn schedule_states(&self, function: &FunctionName) -> Result<Vec<ScheduleState>> {
        let rows = sqlx::query(
            "SELECT name, next_at, last_at, last_invocation_id FROM schedules \
             WHERE tenant_id = $1 AND function_name = $2 ORDER BY name",
        )
        .bind(self.tenant.as_str())
        .bind(function.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScheduleState {
                    name: r.try_get("name")?,
                    next_at: r.try_get("next_at")?,
                    last_at: r.try_get("last_at")?,
                    last_invocation_id: r.try_get("last_invocation_id")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Slots due at `now`, earliest first.
    pub async fn due_slots(&self, now: i64, limit: i64) -> Result<Vec<DueSlot>> {
        let rows = sqlx::query(
            "SELECT tenant_id, function_name, name, next_at FROM schedules \
             WHERE next_at <= $1 ORDER BY next_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueSlot {
                    tenant: tenant_id(r.try_get("tenant_id")?)?,
                    function: function_name(r.try_get("function_name")?)?,
                    name: r.try_get("name")?,
                    at: r.try_get("next_at")?,
                })
            })
            .collect()
    }

    /// The earliest slot of any schedule (Unix ms).
    pub async fn next_slot(&self) -> Result<Option<i64>> {
        Ok(sqlx::query("SELECT MIN(next_at) AS n FROM schedules")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Fires `slot`: moves the schedule on to `next` and enqueues `inv`, in
    /// one transaction, only if the slot is still the schedule's next one
    /// (another replica may have fired it). `Ok(None)` when it had.
    pub async fn fire_slot(
        &self,
        slot: &DueSlot,
        next: Option<i64>,
        inv: &NewInvocation,
    ) -> Result<Option<InvocationRow>> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE schedules SET next_at = $5, last_at = $4 \
             WHERE tenant_id = $1 AND function_name = $2 AND name = $3 AND next_at = $4",
        )
        .bind(slot.tenant.as_str())
        .bind(slot.function.as_str())
        .bind(&slot.name)
        .bind(slot.at)
        .bind(next)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            return Ok(None);
        }
        let row = insert(&mut tx, &slot.tenant, inv, super::now_ms()).await?;
        sqlx::query(
            "UPDATE schedules SET last_invocation_id = $4 \
             WHERE tenant_id = $1 AND function_name = $2 AND name = $3",
        )
        .bind(slot.tenant.as_str())
        .bind(slot.function.as_str())
        .bind(&slot.name)
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(row))
    }

    /// Moves a schedule whose slot cannot fire (its function or schedule
    /// changed meanwhile) on to `next`, if the slot is still its next.
    pub async fn skip_slot(&self, slot: &DueSlot, next: Option<i64>) -> Result<()> {
        sqlx::query(
            "UPDATE schedules SET next_at = $5 \
             WHERE tenant_id = $1 AND function_name = $2 AND name = $3 AND next_at = $4",
        )
        .bind(slot.tenant.as_str())
        .bind(slot.function.as_str())
        .bind(&slot.name)
        .bind(slot.at)
        .bind(next)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
