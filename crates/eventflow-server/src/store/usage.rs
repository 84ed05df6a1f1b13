//! Usage for metering (table `tenant_usage`): per tenant per UTC day, the
//! invocations that reached a function and the replica-seconds of ready
//! replicas. Writers only add ([`Store::add_usage`]), so every server
//! replica can add what it saw without coordinating.

use eventflow_core::TenantId;
use sqlx::Row;

use super::{tenant_id, Result, Store};

/// One tenant's usage on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub tenant: TenantId,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub invocations: i64,
    pub replica_seconds: i64,
}

/// What to add to one tenant's day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    pub tenant: TenantId,
    pub day: String,
    pub invocations: i64,
    pub replica_seconds: i64,
}

impl Store {
    /// Adds each delta to its tenant's day (made if need be), in one
    /// transaction.
    pub async fn add_usage(&self, deltas: &[UsageDelta]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for d in deltas {
            sqlx::query(
                "INSERT INTO tenant_usage (tenant_id, day, invocations, replica_seconds) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, day) DO UPDATE SET \
                 invocations = tenant_usage.invocations + excluded.invocations, \
                 replica_seconds = tenant_usage.replica_seconds + excluded.replica_seconds",
            )
            .bind(d.tenant.as_str())
            .bind(&d.day)
            .bind(d.invocations)
            .bind(d.replica_seconds)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Usage of the days `from..=to` (`YYYY-MM-DD`), of one tenant or all,
    /// by day then tenant.
    pub async fn usage(
        &self,
        from: &str,
        to: &str,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<UsageRow>> {
        let rows = sqlx::query(
            "SELECT tenant_id, day, invocations, replica_seconds FROM tenant_usage \
             WHERE day >= $1 AND day <= $2 AND ($3 = '' OR tenant_id = $3) \
             ORDER BY day, tenant_id",
        )
        .bind(from)
        .bind(to)
        .bind(tenant.map_or("", TenantId::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    tenant: tenant_id(r.try_get("tenant_id")?)?,
                    day: r.try_get("day")?,
                    invocations: r.try_get("invocations")?,
                    replica_seconds: r.try_get("replica_seconds")?,
                })
            })
            .collect()
    }
}
