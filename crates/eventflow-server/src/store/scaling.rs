//! Request-based scaling in the catalog: each server replica's view of
//! the load ([`LoadRow`], table `function_load`), summed over the replicas
//! for the scaler ([`Store::load_totals`]), and what the scaler and the
//! gateway's cold starts record on the function ([`Scaling`]).

use std::collections::HashMap;

use eventflow_core::{FunctionName, TenantId};
use sqlx::{any::AnyRow, Row};

use super::{function_name, now_ms, tenant_id, Result, Store};

/// The scaler's last decision and the last cold start of one function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scaling {
    pub desired_replicas: Option<u32>,
    pub scaled_at: Option<i64>,
    /// Why, e.g. `Load`, `Idle`, `MinReplicas`, `MaxReplicas`.
    pub reason: Option<String>,
    pub cold_start_at: Option<i64>,
    pub cold_start_ms: Option<i64>,
}

pub(super) fn from_row(row: &AnyRow) -> Result<Scaling> {
    let desired: Option<i64> = row.try_get("scale_desired")?;
    Ok(Scaling {
        desired_replicas: desired.and_then(|d| u32::try_from(d).ok()),
        scaled_at: row.try_get("scale_at")?,
        reason: row.try_get("scale_reason")?,
        cold_start_at: row.try_get("cold_start_at")?,
        cold_start_ms: row.try_get("cold_start_ms")?,
    })
}

/// One replica's load on one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadRow {
    pub tenant: TenantId,
    pub name: FunctionName,
    pub in_flight: u32,
    /// Unix ms of the last request that started (0: none seen).
    pub last_request_at: i64,
}

/// The load on one function over every replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadTotal {
    /// In-flight invocations of the replicas that reported recently.
    pub in_flight: u32,
    /// The latest request any replica saw (0: none).
    pub last_request_at: i64,
}

impl Store {
    /// Writes `replica`'s load rows (upsert).
    pub async fn publish_load(&self, replica: &str, rows: &[LoadRow]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO function_load (replica, tenant_id, name, in_flight, last_request_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (replica, tenant_id, name) DO UPDATE SET \
                 in_flight = excluded.in_flight, last_request_at = excluded.last_request_at, updated_at = excluded.updated_at",
            )
            .bind(replica)
            .bind(r.tenant.as_str())
            .bind(r.name.as_str())
            .bind(i64::from(r.in_flight))
            .bind(r.last_request_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The load per function summed over the replicas (the sum cast back
    /// to BIGINT: PostgreSQL sums BIGINTs as NUMERIC): in-flight counts
    /// only from rows written at or after `fresh_since` (a replica that
    /// stopped reporting has no requests in flight), the latest request
    /// from any row.
    pub async fn load_totals(
        &self,
        fresh_since: i64,
    ) -> Result<HashMap<(TenantId, FunctionName), LoadTotal>> {
        let rows = sqlx::query(
            "SELECT tenant_id, name, \
             CAST(SUM(CASE WHEN updated_at >= $1 THEN in_flight ELSE 0 END) AS BIGINT) AS in_flight, \
             MAX(last_request_at) AS last_request_at \
             FROM function_load GROUP BY tenant_id, name",
        )
        .bind(fresh_since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let in_flight: i64 = r.try_get("in_flight")?;
                Ok((
                    (
                        tenant_id(r.try_get("tenant_id")?)?,
                        function_name(r.try_get("name")?)?,
                    ),
                    LoadTotal {
                        in_flight: u32::try_from(in_flight.max(0)).unwrap_or(u32::MAX),
                        last_request_at: r.try_get("last_request_at")?,
                    },
                ))
            })
            .collect()
    }

    /// Drops load rows not written since `before` (replicas long gone).
    pub async fn prune_load(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM function_load WHERE updated_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Records the scaler's decision on the function (if it still exists).
    pub async fn record_scale(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        desired: u32,
        reason: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE functions SET scale_desired = $1, scale_at = $2, scale_reason = $3 \
             WHERE tenant_id = $4 AND name = $5",
        )
        .bind(i64::from(desired))
        .bind(now_ms())
        .bind(reason)
        .bind(tenant.as_str())
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a cold start: when it began and how long until the first
    /// replica answered.
    pub async fn record_cold_start(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        at: i64,
        duration_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE functions SET cold_start_at = $1, cold_start_ms = $2 \
             WHERE tenant_id = $3 AND name = $4",
        )
        .bind(at)
        .bind(duration_ms)
        .bind(tenant.as_str())
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
