//! Asynchronous invocations in the catalog: the durable queue and each
//! invocation's record (table `invocations`), and its attempts (table
//! `invocation_attempts`).
//!
//! Why not a job-queue crate: the record the API shows *is* the queue entry,
//! and a cron slot must be claimed in the same transaction that enqueues its
//! invocation; apalis and the other Rust queues keep their jobs in their own
//! tables through a pool of their own, typed per database, so neither could
//! hold on both of our backends (one `Any` pool). The queue is a table with
//! a lease: PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, SQLite (one
//! writer at a time) with the same `UPDATE … RETURNING` without it.

use eventflow_core::{FunctionName, TenantId};
use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, Row};

use super::{
    audit, function_name, now_ms, tenant_id, Actor, Backend, Result, Store, StoreError, TenantStore,
};

/// Where an invocation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvocationStatus {
    /// Waiting for its (next) attempt.
    Queued,
    /// An attempt is under way.
    Running,
    /// The function answered 1xx–3xx.
    Succeeded,
    /// The function answered 4xx (except 429), or the function is gone:
    /// not retried.
    Failed,
    /// Every attempt failed in a way worth retrying.
    Dead,
}

impl InvocationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Dead)
    }
}

/// What the caller asked for, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    pub method: String,
    /// The sub-path after `/invoke` (`""` or `/…`).
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A new invocation.
#[derive(Debug, Clone)]
pub struct NewInvocation {
    pub name: FunctionName,
    /// `api`, or `schedule:NAME`.
    pub source: String,
    pub request: StoredRequest,
    pub callback_url: Option<String>,
    pub max_attempts: u32,
}

/// The function's answer to the last attempt, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was longer than what is kept.
    pub truncated: bool,
}

/// One invocation's record.
#[derive(Debug, Clone)]
pub struct InvocationRow {
    pub seq: i64,
    pub id: String,
    pub tenant: TenantId,
    pub name: FunctionName,
    pub status: InvocationStatus,
    pub source: String,
    pub request: StoredRequest,
    pub callback_url: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub response: Option<StoredResponse>,
    pub last_error: Option<String>,
    pub callback_status: Option<String>,
}

/// One attempt of an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub n: u32,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: Option<u16>,
    /// `succeeded`, `retry`, `failed` or `lost`; `None` while running.
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub replica: String,
}

/// How an attempt ended, and what becomes of the invocation.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub response: Option<StoredResponse>,
    pub next: Next,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Final: succeeded, failed or dead.
    Done(InvocationStatus),
    /// Queued again for `at` (Unix ms).
    RetryAt(i64),
}

/// What [`TenantStore::enqueue`] did.
#[derive(Debug)]
pub enum Enqueued {
    Row(Box<InvocationRow>),
    /// The tenant already has `limit` queued or running.
    QueueFull {
        limit: u32,
    },
    /// The function does not exist (any more).
    NoFunction,
}

const COLUMNS: &str = "seq, id, tenant_id, function_name, status, source, method, path, query, \
     headers_json, body, callback_url, attempts, max_attempts, next_attempt_at, created_at, \
     updated_at, finished_at, response_status, response_headers, response_body, \
     response_truncated, last_error, callback_status";

fn headers_from(json: Option<String>) -> Result<Vec<(String, String)>> {
    Ok(match json {
        Some(j) => serde_json::from_str(&j)?,
        None => Vec::new(),
    })
}

fn u32_of(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn row_to_invocation(r: &AnyRow) -> Result<InvocationRow> {
    let status: String = r.try_get("status")?;
    let response_status: Option<i64> = r.try_get("response_status")?;
    let response = match response_status {
        Some(s) => Some(StoredResponse {
            status: u16::try_from(s).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            headers: headers_from(r.try_get("response_headers")?)?,
            body: r
                .try_get::<Option<Vec<u8>>, _>("response_body")?
                .unwrap_or_default(),
            truncated: r.try_get::<i64, _>("response_truncated")? != 0,
        }),
        None => None,
    };
    Ok(InvocationRow {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        tenant: tenant_id(r.try_get("tenant_id")?)?,
        name: function_name(r.try_get("function_name")?)?,
        status: InvocationStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("invocation status {status:?}")))?,
        source: r.try_get("source")?,
        request: StoredRequest {
            method: r.try_get("method")?,
            path: r.try_get("path")?,
            query: r.try_get("query")?,
            headers: headers_from(Some(r.try_get("headers_json")?))?,
            body: r.try_get("body")?,
        },
        callback_url: r.try_get("callback_url")?,
        attempts: u32_of(r.try_get("attempts")?),
        max_attempts: u32_of(r.try_get("max_attempts")?),
        next_attempt_at: r.try_get("next_attempt_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        finished_at: r.try_get("finished_at")?,
        response,
        last_error: r.try_get("last_error")?,
        callback_status: r.try_get("callback_status")?,
    })
}

/// Inserts one invocation in `tx` (the caller checked the function and
/// the queue's depth).
pub(super) async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    inv: &NewInvocation,
    now: i64,
) -> Result<InvocationRow> {
    let id = uuid::Uuid::new_v4().to_string();
    let row = sqlx::query(&format!(
        "INSERT INTO invocations (id, tenant_id, function_name, status, source, method, path, query, \
         headers_json, body, callback_url, max_attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12) RETURNING {COLUMNS}"
    ))
    .bind(&id)
    .bind(tenant.as_str())
    .bind(inv.name.as_str())
    .bind(&inv.source)
    .bind(&inv.request.method)
    .bind(&inv.request.path)
    .bind(inv.request.query.as_deref())
    .bind(serde_json::to_string(&inv.request.headers)?)
    .bind(inv.request.body.clone())
    .bind(inv.callback_url.as_deref())
    .bind(i64::from(inv.max_attempts))
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    row_to_invocation(&row)
}

impl TenantStore<'_> {
    /// Stores a new invocation, queued for now, unless the tenant already
    /// has `queue_limit` queued or running (counted with the tenant's row
    /// locked, so concurrent calls cannot pass the limit together).
    pub async fn enqueue(&self, inv: NewInvocation, queue_limit: u32) -> Result<Enqueued> {
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        self.lock_tenant(&mut tx).await?;
        let exists = sqlx::query("SELECT 1 FROM functions WHERE tenant_id = $1 AND name = $2")
            .bind(self.tenant.as_str())
            .bind(inv.name.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(Enqueued::NoFunction);
        }
        let depth: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM invocations WHERE tenant_id = $1 AND status IN ('queued', 'running')",
        )
        .bind(self.tenant.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if depth >= i64::from(queue_limit) {
            return Ok(Enqueued::QueueFull { limit: queue_limit });
        }
        let row = insert(&mut tx, &self.tenant, &inv, now).await?;
        tx.commit().await?;
        Ok(Enqueued::Row(Box::new(row)))
    }

    /// One of this tenant's invocations, by id.
    pub async fn invocation(&self, id: &str) -> Result<Option<(InvocationRow, Vec<AttemptRow>)>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM invocations WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .fetch_optional(&self.store.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let inv = row_to_invocation(&row)?;
        let attempts = sqlx::query(
            "SELECT n, started_at, finished_at, status, outcome, error, replica \
             FROM invocation_attempts WHERE invocation_seq = $1 ORDER BY n",
        )
        .bind(inv.seq)
        .fetch_all(&self.store.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AttemptRow {
                n: u32_of(r.try_get("n")?),
                started_at: r.try_get("started_at")?,
                finished_at: r.try_get("finished_at")?,
                status: r
                    .try_get::<Option<i64>, _>("status")?
                    .and_then(|s| u16::try_from(s).ok()),
                outcome: r.try_get("outcome")?,
                error: r.try_get("error")?,
                replica: r.try_get("replica")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(Some((inv, attempts)))
    }

    /// A function's invocations, newest first: `limit` of them older than
    /// the cursor `before` (a `seq`), optionally of one status.
    pub async fn invocations(
        &self,
        name: &FunctionName,
        status: Option<InvocationStatus>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<InvocationRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM invocations WHERE tenant_id = $1 AND function_name = $2 \
             AND seq < $3 AND ($4 IS NULL OR status = $4) ORDER BY seq DESC LIMIT $5"
        ))
        .bind(self.tenant.as_str())
        .bind(name.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(status.map(InvocationStatus::as_str))
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(row_to_invocation).collect()
    }

    /// Queues a `dead` or `failed` invocation again with `more` attempts on
    /// top of those it had. `Ok(None)`: no such invocation; `Err` of the
    /// status when it is not finished that way.
    pub async fn redrive(
        &self,
        id: &str,
        more: u32,
        actor: &Actor,
    ) -> Result<Option<Result<InvocationRow, InvocationStatus>>> {
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE invocations SET status = 'queued', max_attempts = attempts + $3, \
             next_attempt_at = $4, updated_at = $4, finished_at = NULL \
             WHERE tenant_id = $1 AND id = $2 AND status IN ('dead', 'failed') RETURNING {COLUMNS}"
        ))
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(i64::from(more))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let out = match row {
            Some(r) => {
                let row = row_to_invocation(&r)?;
                audit(
                    &mut tx,
                    actor,
                    Some(&self.tenant),
                    "invocation.redrive",
                    &format!("{}/{}", row.name, row.id),
                    serde_json::json!({"maxAttempts": row.max_attempts}),
                )
                .await?;
                Some(Ok(row))
            }
            None => {
                let status: Option<String> =
                    sqlx::query("SELECT status FROM invocations WHERE tenant_id = $1 AND id = $2")
                        .bind(self.tenant.as_str())
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.try_get("status"))
                        .transpose()?;
                status.map(|s| Err(InvocationStatus::parse(&s).unwrap_or(InvocationStatus::Queued)))
            }
        };
        tx.commit().await?;
        Ok(out)
    }
}

/// An invocation a worker claimed: its record and the attempt it is on.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub row: InvocationRow,
    /// The number of this attempt (1-based).
    pub attempt: u32,
}

/// The queue as a whole, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub queued: i64,
    pub running: i64,
    /// Unix ms of the oldest queued invocation's creation.
    pub oldest_queued_at: Option<i64>,
}

impl Store {
    /// Claims up to `limit` due invocations for `replica` until
    /// `lease_until`: queued ones whose next attempt is due, and running ones
    /// whose lease ended (their replica died; that attempt is marked
    /// `lost`). Each gets its attempt counted and an attempt row.
    pub async fn claim_invocations(
        &self,
        replica: &str,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        let now = now_ms();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&format!(
            "UPDATE invocations SET status = 'running', lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1, updated_at = $3 WHERE seq IN (\
             SELECT seq FROM invocations WHERE (status = 'queued' AND next_attempt_at <= $3) \
             OR (status = 'running' AND lease_until < $3) ORDER BY next_attempt_at, seq LIMIT $4{lock}) \
             RETURNING {COLUMNS}"
        ))
        .bind(replica)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for r in &rows {
            let row = row_to_invocation(r)?;
            sqlx::query(
                "UPDATE invocation_attempts SET outcome = 'lost', finished_at = $2, \
                 error = 'the server working on it stopped before it ended' \
                 WHERE invocation_seq = $1 AND outcome IS NULL",
            )
            .bind(row.seq)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO invocation_attempts (invocation_seq, n, started_at, replica) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(row.seq)
            .bind(i64::from(row.attempts))
            .bind(now)
            .bind(replica)
            .execute(&mut *tx)
            .await?;
            let attempt = row.attempts;
            claimed.push(Claimed { row, attempt });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Extends `replica`'s leases on the invocations it is working on.
    pub async fn renew_invocation_leases(
        &self,
        replica: &str,
        seqs: &[i64],
        lease_until: i64,
    ) -> Result<()> {
        for chunk in seqs.chunks(200) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            sqlx::query(&format!(
                "UPDATE invocations SET lease_until = $2 WHERE lease_owner = $1 \
                 AND status = 'running' AND seq IN ({list})"
            ))
            .bind(replica)
            .bind(lease_until)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Records how attempt `attempt` of `seq` ended. The invocation itself
    /// changes only while `replica` still holds it on that attempt (a
    /// replica whose lease expired and was taken over cannot overwrite the
    /// newer attempt). Returns the record when it changed.
    pub async fn finish_attempt(
        &self,
        seq: i64,
        attempt: u32,
        replica: &str,
        result: &AttemptResult,
    ) -> Result<Option<InvocationRow>> {
        let now = now_ms();
        let outcome = match result.next {
            Next::Done(InvocationStatus::Succeeded) => "succeeded",
            Next::RetryAt(_) => "retry",
            Next::Done(_) => "failed",
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE invocation_attempts SET finished_at = $3, status = $4, outcome = $5, error = $6 \
             WHERE invocation_seq = $1 AND n = $2",
        )
        .bind(seq)
        .bind(i64::from(attempt))
        .bind(now)
        .bind(result.status.map(i64::from))
        .bind(outcome)
        .bind(result.error.as_deref())
        .execute(&mut *tx)
        .await?;
        let (status, next_at, finished_at) = match result.next {
            Next::Done(s) => (s, now, Some(now)),
            Next::RetryAt(at) => (InvocationStatus::Queued, at, None),
        };
        let (r_status, r_headers, r_body, r_trunc) = match &result.response {
            Some(r) => (
                Some(i64::from(r.status)),
                Some(serde_json::to_string(&r.headers)?),
                Some(r.body.clone()),
                i64::from(r.truncated),
            ),
            None => (None, None, None, 0),
        };
        let row = sqlx::query(&format!(
            "UPDATE invocations SET status = $4, next_attempt_at = $5, finished_at = $6, \
             lease_owner = NULL, lease_until = NULL, updated_at = $7, \
             response_status = $8, response_headers = $9, response_body = $10, \
             response_truncated = $11, last_error = $12 \
             WHERE seq = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running' \
             RETURNING {COLUMNS}"
        ))
        .bind(seq)
        .bind(replica)
        .bind(i64::from(attempt))
        .bind(status.as_str())
        .bind(next_at)
        .bind(finished_at)
        .bind(now)
        .bind(r_status)
        .bind(r_headers)
        .bind(r_body)
        .bind(r_trunc)
        .bind(result.error.as_deref())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(row_to_invocation).transpose()
    }

    /// Gives a claimed invocation back without counting the attempt (the
    /// platform's own limits stopped it, not the function), due at `at`.
    pub async fn release_invocation(
        &self,
        seq: i64,
        attempt: u32,
        replica: &str,
        at: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let released = sqlx::query(
            "UPDATE invocations SET status = 'queued', attempts = attempts - 1, next_attempt_at = $4, \
             lease_owner = NULL, lease_until = NULL, updated_at = $5 \
             WHERE seq = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running'",
        )
        .bind(seq)
        .bind(replica)
        .bind(i64::from(attempt))
        .bind(at)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if released == 1 {
            sqlx::query("DELETE FROM invocation_attempts WHERE invocation_seq = $1 AND n = $2")
                .bind(seq)
                .bind(i64::from(attempt))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records what the completion callback did.
    pub async fn record_callback(&self, seq: i64, outcome: &str) -> Result<()> {
        sqlx::query("UPDATE invocations SET callback_status = $2 WHERE seq = $1")
            .bind(seq)
            .bind(outcome)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn queue_stats(&self) -> Result<QueueStats> {
        let r = sqlx::query(
            "SELECT \
             CAST(COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS BIGINT) AS queued, \
             CAST(COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) AS BIGINT) AS running, \
             MIN(CASE WHEN status = 'queued' THEN created_at END) AS oldest \
             FROM invocations WHERE status IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            queued: r.try_get("queued")?,
            running: r.try_get("running")?,
            oldest_queued_at: r.try_get("oldest")?,
        })
    }

    /// Deletes finished invocations that ended before `before`, and those
    /// beyond the newest `keep` finished ones of each tenant. Returns how
    /// many.
    pub async fn prune_invocations(&self, before: i64, keep: i64) -> Result<u64> {
        let mut removed = sqlx::query(
            "DELETE FROM invocations WHERE status IN ('succeeded', 'failed', 'dead') AND finished_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let over: Vec<String> = sqlx::query(
            "SELECT tenant_id FROM invocations WHERE status IN ('succeeded', 'failed', 'dead') \
             GROUP BY tenant_id HAVING COUNT(*) > $1",
        )
        .bind(keep)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get("tenant_id"))
        .collect::<Result<_, _>>()?;
        for tenant in over {
            // The seq of the keep-th newest finished one: everything older goes.
            let cut: Option<i64> = sqlx::query(
                "SELECT seq FROM invocations WHERE tenant_id = $1 AND status IN ('succeeded', 'failed', 'dead') \
                 ORDER BY seq DESC LIMIT 1 OFFSET $2",
            )
            .bind(&tenant)
            .bind(keep - 1)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("seq"))
            .transpose()?;
            if let Some(cut) = cut {
                removed += sqlx::query(
                    "DELETE FROM invocations WHERE tenant_id = $1 AND seq < $2 \
                     AND status IN ('succeeded', 'failed', 'dead')",
                )
                .bind(&tenant)
                .bind(cut)
                .execute(&self.pool)
                .await?
                .rows_affected();
            }
        }
        Ok(removed)
    }
}
