//! Invoke keys (table `invoke_keys`): per-function keys that allow invoking
//! that one function and nothing else. Looked up by the hash on every use,
//! so a revoked key stops working at once on every server replica.

use eventflow_core::{FunctionName, TenantId};
use sqlx::{any::AnyRow, Row};

use super::{audit, function_name, now_ms, tenant_id, Actor, Result, Store, TenantStore};

/// Most invoke keys one function may have (revoked ones included until
/// deleted with the function).
pub const MAX_INVOKE_KEYS: u32 = 20;

#[derive(Debug, Clone)]
pub struct InvokeKeyRow {
    pub id: String,
    pub function: FunctionName,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// What a valid key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeKeyGrant {
    pub id: String,
    pub tenant: TenantId,
    pub function: FunctionName,
}

/// What [`TenantStore::create_invoke_key`] did.
#[derive(Debug)]
pub enum KeyCreated {
    Row(Box<InvokeKeyRow>),
    NoFunction,
    TooMany,
}

const COLUMNS: &str =
    "id, function_name, name, prefix, created_at, expires_at, revoked_at, last_used_at";

fn from_row(r: &AnyRow) -> Result<InvokeKeyRow> {
    Ok(InvokeKeyRow {
        id: r.try_get("id")?,
        function: function_name(r.try_get("function_name")?)?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl TenantStore<'_> {
    /// Stores a key (its hash) for `function`, unless the function has
    /// [`MAX_INVOKE_KEYS`] already.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_invoke_key(
        &self,
        function: &FunctionName,
        name: &str,
        prefix: &str,
        key_hash: &str,
        expires_at: Option<i64>,
        actor: &Actor,
    ) -> Result<KeyCreated> {
        let mut tx = self.store.begin_write().await?;
        self.lock_tenant(&mut tx).await?;
        let exists =
            sqlx::query("SELECT 1 AS one FROM functions WHERE tenant_id = $1 AND name = $2")
                .bind(self.tenant.as_str())
                .bind(function.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if !exists {
            return Ok(KeyCreated::NoFunction);
        }
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM invoke_keys WHERE tenant_id = $1 AND function_name = $2",
        )
        .bind(self.tenant.as_str())
        .bind(function.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if count >= i64::from(MAX_INVOKE_KEYS) {
            return Ok(KeyCreated::TooMany);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let row = sqlx::query(&format!(
            "INSERT INTO invoke_keys (id, tenant_id, function_name, name, prefix, key_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        ))
        .bind(&id)
        .bind(self.tenant.as_str())
        .bind(function.as_str())
        .bind(name)
        .bind(prefix)
        .bind(key_hash)
        .bind(now_ms())
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        audit(
            &mut tx,
            actor,
            Some(&self.tenant),
            "invoke_key.create",
            &format!("{function}/{id}"),
            serde_json::json!({"name": name, "prefix": prefix, "expiresAt": expires_at}),
        )
        .await?;
        let row = from_row(&row)?;
        tx.commit().await?;
        Ok(KeyCreated::Row(Box::new(row)))
    }

    pub async fn invoke_keys(&self, function: &FunctionName) -> Result<Vec<InvokeKeyRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM invoke_keys WHERE tenant_id = $1 AND function_name = $2 ORDER BY created_at, id"
        ))
        .bind(self.tenant.as_str())
        .bind(function.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Revokes a key of `function`; `false` when there is no such key.
    pub async fn revoke_invoke_key(
        &self,
        function: &FunctionName,
        id: &str,
        actor: &Actor,
    ) -> Result<bool> {
        let mut tx = self.store.begin_write().await?;
        let done = sqlx::query(
            "UPDATE invoke_keys SET revoked_at = COALESCE(revoked_at, $4) \
             WHERE tenant_id = $1 AND function_name = $2 AND id = $3",
        )
        .bind(self.tenant.as_str())
        .bind(function.as_str())
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            audit(
                &mut tx,
                actor,
                Some(&self.tenant),
                "invoke_key.revoke",
                &format!("{function}/{id}"),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(done)
    }
}

impl Store {
    /// The grant of an active key (not revoked, not expired) with this
    /// hash; marks it used.
    pub async fn invoke_key_grant(&self, key_hash: &str) -> Result<Option<InvokeKeyGrant>> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT id, tenant_id, function_name, last_used_at FROM invoke_keys WHERE key_hash = $1 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(key_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let grant = InvokeKeyGrant {
            id: r.try_get("id")?,
            tenant: tenant_id(r.try_get("tenant_id")?)?,
            function: function_name(r.try_get("function_name")?)?,
        };
        // At most once a minute per key: a busy webhook is not a write per
        // call.
        let last: Option<i64> = r.try_get("last_used_at")?;
        if last.is_none_or(|l| now - l > 60_000) {
            sqlx::query("UPDATE invoke_keys SET last_used_at = $2 WHERE id = $1")
                .bind(&grant.id)
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(grant))
    }
}
