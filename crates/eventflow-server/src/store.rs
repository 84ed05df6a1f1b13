//! The catalog: tenants, API keys, functions, the outbox and the audit log,
//! in PostgreSQL (production) or SQLite (embedded default) through sqlx's
//! `Any` driver. Migrations are embedded and applied at start-up.
//!
//! Function access goes through [`TenantStore`], which is only obtainable for
//! one tenant: there is no query that reads a function without its tenant.
//! Platform-wide reads needed by the Kubernetes sync live on [`Store`] and are
//! not exposed to HTTP handlers.
//!
//! Every write that changes desired state also inserts an outbox row in the
//! same transaction; the sync loop applies it to Kubernetes (see `sync/`).

use std::{str::FromStr, time::Duration};

use crate::sync::{SyncFailure, SyncReason};
use chrono::Utc;
use eventflow_core::{FunctionName, FunctionSpec, TenantId};
use eventflow_crd::{FunctionStatus, TenantSpec};
use serde::{Deserialize, Serialize};
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions, AnyRow},
    AnyPool, Row,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unsupported database URL (expected postgres:// or sqlite:): {0}")]
    UnsupportedUrl(String),
    /// A write for a tenant that was deleted (its token is older).
    #[error("tenant {0} no longer exists")]
    TenantGone(TenantId),
    /// A write the catalog's state refuses (a function naming a secret the
    /// tenant does not have).
    #[error("{0}")]
    Invalid(#[from] eventflow_core::ValidationError),
    /// Sealing or opening an encrypted value failed.
    #[error("{0}")]
    Keyring(#[from] crate::keyring::KeyringError),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Tenant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Tenant => "tenant",
        }
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "admin" => Ok(Role::Admin),
            "tenant" => Ok(Role::Tenant),
            other => Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: TenantId,
    pub email: Option<String>,
    pub spec: TenantSpec,
    pub max_replicas: Option<u32>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: String,
    pub prefix: String,
    pub tenant: Option<TenantId>,
    pub role: Role,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct FunctionRow {
    pub tenant: TenantId,
    pub name: FunctionName,
    pub spec: FunctionSpec,
    /// Bumped on every change of the spec.
    pub generation: i64,
    /// Highest generation known to be applied as a CR.
    pub applied_generation: i64,
    /// Status copied back from the Function CR.
    pub status: FunctionStatus,
    /// Why the last attempt to apply the CR failed, if it did.
    pub sync_failure: Option<SyncFailure>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The scaler's last decision and the last cold start.
    pub scaling: Scaling,
}

/// What [`TenantStore::create`] did.
#[derive(Debug)]
pub enum Created {
    Row(Box<FunctionRow>),
    /// A function with this name exists.
    NameTaken,
    /// The tenant has as many functions as its quota allows.
    QuotaUsedUp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxKind {
    Tenant,
    Function,
    /// The tenant's pull Secret, from its registry credentials.
    Registry,
    /// One of the tenant's secrets (`name` is the secret's), then the
    /// functions that read it.
    Secret,
}

impl OutboxKind {
    /// The `kind` column's value (and the sync metrics' label).
    pub fn as_str(&self) -> &'static str {
        match self {
            OutboxKind::Tenant => "tenant",
            OutboxKind::Function => "function",
            OutboxKind::Registry => "registry",
            OutboxKind::Secret => "secret",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        [
            OutboxKind::Tenant,
            OutboxKind::Function,
            OutboxKind::Registry,
            OutboxKind::Secret,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("outbox kind {s:?}")))
    }
}

#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: i64,
    pub kind: OutboxKind,
    pub tenant: TenantId,
    /// The function's name, or for [`OutboxKind::Secret`] the secret's
    /// (secret names are function names too: the same label, shorter).
    pub name: Option<FunctionName>,
    pub attempts: i64,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Seals secret values and registry passwords ([`Store::with_keyring`]).
    keyring: std::sync::Arc<crate::keyring::Keyring>,
}

fn tenant_id(s: String) -> Result<TenantId> {
    TenantId::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn function_name(s: String) -> Result<FunctionName> {
    FunctionName::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn opt_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

const FUNCTION_COLUMNS: &str = "tenant_id, name, spec_json, generation, applied_generation, status_json, sync_reason, sync_message, created_at, updated_at, scale_desired, scale_at, scale_reason, cold_start_at, cold_start_ms";

fn sync_failure(row: &AnyRow) -> Result<Option<SyncFailure>> {
    let reason: Option<String> = row.try_get("sync_reason")?;
    let Some(reason) = reason else {
        return Ok(None);
    };
    let reason = SyncReason::parse(&reason)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown sync reason {reason:?}")))?;
    Ok(Some(SyncFailure {
        reason,
        message: row
            .try_get::<Option<String>, _>("sync_message")?
            .unwrap_or_default(),
    }))
}

fn function_from_row(row: &AnyRow) -> Result<FunctionRow> {
    Ok(FunctionRow {
        tenant: tenant_id(row.try_get("tenant_id")?)?,
        name: function_name(row.try_get("name")?)?,
        spec: serde_json::from_str(&row.try_get::<String, _>("spec_json")?)?,
        generation: row.try_get("generation")?,
        applied_generation: row.try_get("applied_generation")?,
        status: serde_json::from_str(&row.try_get::<String, _>("status_json")?)?,
        sync_failure: sync_failure(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        scaling: scaling::from_row(row)?,
    })
}

fn tenant_from_row(row: &AnyRow) -> Result<TenantRow> {
    Ok(TenantRow {
        id: tenant_id(row.try_get("id")?)?,
        email: row.try_get("email")?,
        spec: serde_json::from_str(&row.try_get::<String, _>("spec_json")?)?,
        max_replicas: opt_u32(row.try_get("max_replicas")?),
        created_at: row.try_get("created_at")?,
    })
}

fn key_from_row(row: &AnyRow) -> Result<ApiKeyRow> {
    let tenant: Option<String> = row.try_get("tenant_id")?;
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        prefix: row.try_get("prefix")?,
        tenant: tenant.map(tenant_id).transpose()?,
        role: row.try_get::<String, _>("role")?.parse()?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor,
    tenant: Option<&TenantId>,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, tenant_id, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_ms())
    .bind(&actor.0)
    .bind(tenant.map(|t| t.to_string()))
    .bind(action)
    .bind(target)
    .bind(detail.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn enqueue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: OutboxKind,
    tenant: &TenantId,
    name: Option<&str>,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (kind, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(kind.as_str())
        .bind(tenant.as_str())
        .bind(name)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Connects and applies the embedded migrations.
    /// `url` is `postgres://…` or `sqlite:…` (the file is created if missing).
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let options = AnyConnectOptions::from_str(url)?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(5));
        if backend == Backend::Sqlite {
            pool_options = pool_options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options.connect_with(options).await?;
        let store = Self {
            pool,
            backend,
            keyring: std::sync::Arc::new(crate::keyring::Keyring::none()),
        };
        store.migrate().await?;
        store.redact_old_audit_entries().await?;
        Ok(store)
    }

    /// The store with `keyring` to seal and open secret values and registry
    /// passwords (without one, those reads and writes fail).
    pub fn with_keyring(mut self, keyring: crate::keyring::Keyring) -> Self {
        self.keyring = std::sync::Arc::new(keyring);
        self
    }

    /// Entries written before env values were redacted get redacted, once
    /// (marked in `meta`), in one transaction.
    async fn redact_old_audit_entries(&self) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let marked = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('audit_env_redacted', '1') ON CONFLICT (key) DO NOTHING",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if marked {
            let rows =
                sqlx::query("SELECT id, detail FROM audit_log WHERE action LIKE 'function.%'")
                    .fetch_all(&mut *tx)
                    .await?;
            for row in rows {
                let detail: serde_json::Value =
                    serde_json::from_str(&row.try_get::<String, _>("detail")?)?;
                sqlx::query("UPDATE audit_log SET detail = $1 WHERE id = $2")
                    .bind(crate::audit::redact_spec(detail).to_string())
                    .bind(row.try_get::<i64, _>("id")?)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes audit entries older than `before` (ms since the epoch);
    /// returns how many.
    pub async fn prune_audit(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Audit entries, newest first: `limit` of them with an id below
    /// `before` (a cursor), of one tenant or all.
    pub async fn audit_entries(
        &self,
        tenant: Option<&TenantId>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<crate::audit::AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, tenant_id, action, target, detail FROM audit_log \
             WHERE ($1 IS NULL OR tenant_id = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant.map(TenantId::as_str))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::audit::AuditEntry {
                    id: r.try_get("id")?,
                    at: crate::api::functions::rfc3339(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    tenant: r.try_get("tenant_id")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)?,
                })
            })
            .collect()
    }

    async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// This catalog's id, created on first use. Stamped on every custom
    /// resource the sync applies (see `sync/`).
    pub async fn catalog_id(&self) -> Result<String> {
        let fresh = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('catalog_id', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&fresh)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query("SELECT value FROM meta WHERE key = 'catalog_id'")
                .fetch_one(&self.pool)
                .await?
                .try_get("value")?,
        )
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that reads and then writes. On SQLite it takes the
    /// write lock at once (`BEGIN IMMEDIATE`): a deferred transaction that
    /// read before another connection committed a write could not write
    /// afterwards (`SQLITE_BUSY`, which the busy timeout does not wait
    /// out), so concurrent writers queue on the lock instead.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Function queries for one tenant. The API obtains this only from the
    /// authenticated tenant (see `auth::TenantAuth`).
    pub fn tenant(&self, tenant: &TenantId) -> TenantStore<'_> {
        TenantStore {
            store: self,
            tenant: tenant.clone(),
        }
    }

    // ---- tenants -------------------------------------------------------

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<TenantRow>> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantRow>> {
        let rows = sqlx::query("SELECT * FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// Creates the tenant if it does not exist. Returns whether it was created.
    pub async fn ensure_tenant(
        &self,
        id: &TenantId,
        email: Option<&str>,
        spec: &TenantSpec,
        max_replicas: Option<u32>,
        actor: &Actor,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, email, spec_json, max_replicas, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(email)
        .bind(serde_json::to_string(spec)?)
        .bind(max_replicas.map(i64::from))
        .bind(now_ms())
        .bind(&actor.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            enqueue(&mut tx, OutboxKind::Tenant, id, None).await?;
            // Its (empty) pull Secret, which every function pod names.
            enqueue(&mut tx, OutboxKind::Registry, id, None).await?;
            audit(
                &mut tx,
                actor,
                Some(id),
                "tenant.create",
                id.as_str(),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Replaces a tenant's overrides (admin). False when there is no such
    /// tenant.
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        spec: &TenantSpec,
        max_replicas: Option<u32>,
        actor: &Actor,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let updated =
            sqlx::query("UPDATE tenants SET spec_json = $1, max_replicas = $2 WHERE id = $3")
                .bind(serde_json::to_string(spec)?)
                .bind(max_replicas.map(i64::from))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if updated {
            enqueue(&mut tx, OutboxKind::Tenant, id, None).await?;
            audit(
                &mut tx,
                actor,
                Some(id),
                "tenant.update",
                id.as_str(),
                serde_json::to_value(spec)?,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes a tenant with its functions and keys; the sync removes the
    /// Tenant CR (and with it, through the operator, the namespace).
    pub async fn delete_tenant(&self, id: &TenantId, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let names: Vec<String> = sqlx::query("SELECT name FROM functions WHERE tenant_id = $1")
            .bind(id.as_str())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()?;
        sqlx::query("DELETE FROM functions WHERE tenant_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM registry_credentials WHERE tenant_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if deleted {
            for n in names {
                enqueue(
                    &mut tx,
                    OutboxKind::Function,
                    id,
                    Some(function_name(n)?.as_str()),
                )
                .await?;
            }
            enqueue(&mut tx, OutboxKind::Tenant, id, None).await?;
            audit(
                &mut tx,
                actor,
                Some(id),
                "tenant.delete",
                id.as_str(),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    // ---- API keys -------------------------------------------------------

    pub async fn insert_api_key(
        &self,
        hash: &str,
        prefix: &str,
        tenant: Option<&TenantId>,
        role: Role,
        name: &str,
        actor: &Actor,
    ) -> Result<ApiKeyRow> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, prefix, hash, tenant_id, role, name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&id)
        .bind(prefix)
        .bind(hash)
        .bind(tenant.map(|t| t.to_string()))
        .bind(role.as_str())
        .bind(name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT * FROM api_keys WHERE hash = $1")
            .bind(hash)
            .fetch_one(&mut *tx)
            .await?;
        let key = key_from_row(&row)?;
        if key.id == id {
            audit(
                &mut tx,
                actor,
                tenant,
                "api_key.create",
                &id,
                serde_json::json!({"role": role.as_str(), "name": name, "prefix": prefix}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(key)
    }

    /// The active (not revoked) key with this hash.
    pub async fn find_active_api_key(&self, hash: &str) -> Result<Option<ApiKeyRow>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE hash = $1 AND revoked_at IS NULL")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        let key = row.as_ref().map(key_from_row).transpose()?;
        if let Some(k) = &key {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(&k.id)
                .execute(&self.pool)
                .await?;
        }
        Ok(key)
    }

    /// Whether the key with this id exists and is not revoked.
    pub async fn api_key_active(&self, id: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT id FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    pub async fn revoke_api_key(&self, id: &str, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let revoked =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if revoked {
            audit(
                &mut tx,
                actor,
                None,
                "api_key.revoke",
                id,
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    // ---- sync (platform-wide; not reachable from handlers) --------------

    /// Outbox entries that are due, oldest first.
    pub async fn due_outbox(&self, limit: i64) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT id, kind, tenant_id, name, attempts FROM outbox WHERE not_before <= $1 ORDER BY id LIMIT $2",
        )
        .bind(now_ms())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind = OutboxKind::parse(&r.try_get::<String, _>("kind")?)?;
                let name: Option<String> = r.try_get("name")?;
                Ok(OutboxEntry {
                    id: r.try_get("id")?,
                    kind,
                    tenant: tenant_id(r.try_get("tenant_id")?)?,
                    name: name.map(function_name).transpose()?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Takes or renews the sync lease for `holder` until now + `ttl`.
    /// True when `holder` holds it now: it was free, expired, or already
    /// `holder`'s. One conditional UPDATE, so two replicas cannot both win.
    pub async fn try_sync_lease(&self, holder: &str, ttl: Duration) -> Result<bool> {
        let now = now_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let taken = sqlx::query(
            "UPDATE sync_lease SET holder = $1, expires_at = $2 \
             WHERE id = 1 AND (holder = $1 OR expires_at < $3)",
        )
        .bind(holder)
        .bind(now.saturating_add(ttl_ms))
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Gives the sync lease up, if `holder` has it, so another replica can
    /// take it at once.
    pub async fn release_sync_lease(&self, holder: &str) -> Result<()> {
        sqlx::query("UPDATE sync_lease SET expires_at = 0 WHERE id = 1 AND holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn outbox_len(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM outbox")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    pub async fn complete_outbox(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM outbox WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn retry_outbox(&self, id: i64, error: &str, delay: Duration) -> Result<()> {
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, not_before = $2 WHERE id = $3")
            .bind(error)
            .bind(now_ms().saturating_add(delay_ms))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A function by tenant and name, for the sync loop.
    pub async fn function_for_sync(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
    ) -> Result<Option<FunctionRow>> {
        self.tenant(tenant).get(name).await
    }

    /// Every (tenant, function) pair in the catalog, for the periodic resync.
    pub async fn all_functions(&self) -> Result<Vec<FunctionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions ORDER BY tenant_id, name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(function_from_row).collect()
    }

    /// Records that the CR for `generation` was applied: clears the last
    /// failure and raises the applied generation (never lowers it).
    pub async fn record_applied(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        generation: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE functions SET sync_reason = NULL, sync_message = NULL, \
             applied_generation = CASE WHEN applied_generation > $1 THEN applied_generation ELSE $1 END \
             WHERE tenant_id = $2 AND name = $3",
        )
        .bind(generation)
        .bind(tenant.as_str())
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records why the last attempt to apply the function failed (a write
    /// only when it differs from what is recorded).
    pub async fn record_apply_failure(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        failure: &SyncFailure,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE functions SET sync_reason = $1, sync_message = $2 \
             WHERE tenant_id = $3 AND name = $4 \
             AND (sync_reason IS NULL OR sync_reason <> $1 OR sync_message <> $2)",
        )
        .bind(failure.reason.as_str())
        .bind(&failure.message)
        .bind(tenant.as_str())
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Copies a CR's status into the catalog. Returns whether the row existed.
    pub async fn record_status(
        &self,
        tenant: &TenantId,
        name: &FunctionName,
        status: &FunctionStatus,
    ) -> Result<bool> {
        Ok(
            sqlx::query("UPDATE functions SET status_json = $1 WHERE tenant_id = $2 AND name = $3")
                .bind(serde_json::to_string(status)?)
                .bind(tenant.as_str())
                .bind(name.as_str())
                .execute(&self.pool)
                .await?
                .rows_affected()
                == 1,
        )
    }
}

/// Function queries scoped to one tenant.
mod invocations;
mod invoke_keys;
mod registry;
mod revisions;
mod scaling;
mod schedules;
mod secrets;
mod usage;
pub use invocations::{
    AttemptResult, AttemptRow, Claimed, Enqueued, InvocationRow, InvocationStatus, NewInvocation,
    Next, QueueStats, StoredRequest, StoredResponse,
};
pub use invoke_keys::{InvokeKeyGrant, InvokeKeyRow, KeyCreated, MAX_INVOKE_KEYS};
pub use registry::{RegistryAuth, RegistryCredentialRow, Saved};
pub use revisions::RevisionRow;
pub use scaling::{LoadRow, LoadTotal, Scaling};
pub use schedules::{DueSlot, ScheduleState};
pub use secrets::{SecretDeleted, SecretRow, SecretSaved};
pub use usage::{UsageDelta, UsageRow};

pub struct TenantStore<'a> {
    store: &'a Store,
    tenant: TenantId,
}

/// A page of functions: the rows and the name to continue after.
pub struct Page {
    pub items: Vec<FunctionRow>,
    pub next_after: Option<String>,
}

impl TenantStore<'_> {
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant
    }

    /// Serialises writes that count the tenant's rows against a quota: on
    /// PostgreSQL the tenant's row is locked until `tx` ends (SQLite has a
    /// single writer already).
    async fn lock_tenant(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
        if self.store.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
                .bind(self.tenant.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// An insert's error: a missing tenant row (foreign key) is
    /// [`StoreError::TenantGone`].
    fn tenant_gone(&self, e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::TenantGone(self.tenant.clone())
            }
            other => other.into(),
        }
    }

    pub async fn get(&self, name: &FunctionName) -> Result<Option<FunctionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions WHERE tenant_id = $1 AND name = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(name.as_str())
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(function_from_row).transpose()
    }

    pub async fn list(&self, limit: i64, after: Option<&str>) -> Result<Page> {
        let rows = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions WHERE tenant_id = $1 AND name > $2 ORDER BY name LIMIT $3"
        ))
        .bind(self.tenant.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit + 1)
        .fetch_all(&self.store.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(function_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_after = if items.len() as i64 > limit {
            items.truncate(usize::try_from(limit).unwrap_or(0));
            items.last().map(|f| f.name.to_string())
        } else {
            None
        };
        Ok(Page { items, next_after })
    }

    /// All of the tenant's specs, for usage accounting.
    pub async fn all(&self) -> Result<Vec<FunctionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions WHERE tenant_id = $1 ORDER BY name"
        ))
        .bind(self.tenant.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(function_from_row).collect()
    }

    /// Inserts a function unless the name is taken or the tenant already
    /// has `max_functions`. The count and the insert are one atomic step:
    /// one statement under SQLite's single writer, and on PostgreSQL after
    /// locking the tenant's row, so parallel creates cannot exceed it.
    pub async fn create(
        &self,
        name: &FunctionName,
        spec: &FunctionSpec,
        max_functions: u32,
        actor: &Actor,
    ) -> Result<Created> {
        let mut tx = self.store.begin_write().await?;
        self.lock_tenant(&mut tx).await?;
        let inserted = sqlx::query(
            "INSERT INTO functions (tenant_id, name, spec_json, generation, applied_generation, status_json, created_at, updated_at) \
             SELECT $1, $2, $3, 1, 0, '{}', $4, $4 \
             WHERE (SELECT COUNT(*) FROM functions WHERE tenant_id = $1) < $5 \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(self.tenant.as_str())
        .bind(name.as_str())
        .bind(serde_json::to_string(spec)?)
        .bind(now_ms())
        .bind(i64::from(max_functions))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.tenant_gone(e))?
        .rows_affected()
            == 1;
        if !inserted {
            let exists =
                sqlx::query("SELECT 1 AS one FROM functions WHERE tenant_id = $1 AND name = $2")
                    .bind(self.tenant.as_str())
                    .bind(name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            return Ok(if exists {
                Created::NameTaken
            } else {
                Created::QuotaUsedUp
            });
        }
        self.finish_write(tx, name, spec, actor, "function.create", None)
            .await
            .map(|row| Created::Row(Box::new(row)))
    }

    /// Replaces the spec, bumping the generation; `None` when absent.
    pub async fn update(
        &self,
        name: &FunctionName,
        spec: &FunctionSpec,
        actor: &Actor,
    ) -> Result<Option<FunctionRow>> {
        self.update_with(name, spec, actor, None).await
    }

    /// [`Self::update`] that restores revision `rollback_of` (recorded on
    /// the new revision and in the audit log).
    pub async fn update_with(
        &self,
        name: &FunctionName,
        spec: &FunctionSpec,
        actor: &Actor,
        rollback_of: Option<i64>,
    ) -> Result<Option<FunctionRow>> {
        let mut tx = self.store.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE functions SET spec_json = $1, generation = generation + 1, updated_at = $2 \
             WHERE tenant_id = $3 AND name = $4",
        )
        .bind(serde_json::to_string(spec)?)
        .bind(now_ms())
        .bind(self.tenant.as_str())
        .bind(name.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !updated {
            return Ok(None);
        }
        let action = if rollback_of.is_some() {
            "function.rollback"
        } else {
            "function.update"
        };
        self.finish_write(tx, name, spec, actor, action, rollback_of)
            .await
            .map(Some)
    }

    /// The rest of a create or update, in its transaction: the outbox entry,
    /// the audit record, and the row as stored.
    async fn finish_write(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        name: &FunctionName,
        spec: &FunctionSpec,
        actor: &Actor,
        action: &str,
        rollback_of: Option<i64>,
    ) -> Result<FunctionRow> {
        secrets::check_refs(&mut tx, self, spec).await?;
        enqueue(
            &mut tx,
            OutboxKind::Function,
            &self.tenant,
            Some(name.as_str()),
        )
        .await?;
        schedules::sync(&mut tx, &self.tenant, name, &spec.schedules, now_ms()).await?;
        audit(
            &mut tx,
            actor,
            Some(&self.tenant),
            action,
            name.as_str(),
            crate::audit::redact_spec(serde_json::to_value(spec)?),
        )
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {FUNCTION_COLUMNS} FROM functions WHERE tenant_id = $1 AND name = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(name.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let row = function_from_row(&row)?;
        revisions::record(
            &mut tx,
            self,
            name,
            row.generation,
            spec,
            actor,
            rollback_of,
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn delete(&self, name: &FunctionName, actor: &Actor) -> Result<bool> {
        let mut tx = self.store.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM functions WHERE tenant_id = $1 AND name = $2")
            .bind(self.tenant.as_str())
            .bind(name.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if deleted {
            enqueue(
                &mut tx,
                OutboxKind::Function,
                &self.tenant,
                Some(name.as_str()),
            )
            .await?;
            audit(
                &mut tx,
                actor,
                Some(&self.tenant),
                "function.delete",
                name.as_str(),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

/// A database URL with any password removed, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.split('?').next().unwrap_or(url).to_string(),
    }
}
