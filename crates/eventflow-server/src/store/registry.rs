//! A tenant's registry credentials. Handlers see names and metadata only
//! ([`RegistryCredentialRow`]); the password leaves the catalog only to the
//! sync ([`Store::registry_auths`]), which writes the tenant's pull Secret.

use eventflow_core::{RegistryHost, RegistryLogin, TenantId};
use sqlx::{any::AnyRow, Row};

use super::{audit, enqueue, now_ms, Actor, OutboxKind, Result, Store, StoreError, TenantStore};

/// One credential as the API shows it: no password.
#[derive(Debug, Clone)]
pub struct RegistryCredentialRow {
    pub registry: RegistryHost,
    pub username: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One credential with its password, for the pull Secret. `Debug` does not
/// show the password.
#[derive(Clone)]
pub struct RegistryAuth {
    pub registry: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("registry", &self.registry)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What [`TenantStore::save_registry_credential`] did.
#[derive(Debug)]
pub enum Saved {
    Created(RegistryCredentialRow),
    Replaced(RegistryCredentialRow),
    /// The tenant has as many credentials as it may.
    QuotaUsedUp,
}

/// What a sealed password is bound to (see [`crate::keyring`]).
pub(super) fn context(tenant: &str, registry: &str) -> String {
    format!("registry/{tenant}/{registry}")
}

fn row_from(r: &AnyRow) -> Result<RegistryCredentialRow> {
    Ok(RegistryCredentialRow {
        registry: RegistryHost::parse(&r.try_get::<String, _>("registry")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        username: r.try_get("username")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl TenantStore<'_> {
    /// The tenant's credentials by registry, without passwords.
    pub async fn registry_credentials(&self) -> Result<Vec<RegistryCredentialRow>> {
        sqlx::query(
            "SELECT registry, username, created_at, updated_at FROM registry_credentials \
             WHERE tenant_id = $1 ORDER BY registry",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&self.store.pool)
        .await?
        .iter()
        .map(row_from)
        .collect()
    }

    /// Creates or replaces the login for `registry`; a new one only while
    /// the tenant has fewer than `max`. Atomic like the function quota (the
    /// tenant's row locked on PostgreSQL). Enqueues the pull Secret and
    /// audits the registry and user name, never the password.
    pub async fn save_registry_credential(
        &self,
        registry: &RegistryHost,
        login: &RegistryLogin,
        max: u32,
        actor: &Actor,
    ) -> Result<Saved> {
        let sealed = self.store.keyring.seal(
            &context(self.tenant.as_str(), registry.as_str()),
            login.password.as_bytes(),
        )?;
        let mut tx = self.store.begin_write().await?;
        self.lock_tenant(&mut tx).await?;
        let now = now_ms();
        let replaced = sqlx::query(
            "UPDATE registry_credentials SET username = $1, password = $2, updated_at = $3 \
             WHERE tenant_id = $4 AND registry = $5",
        )
        .bind(&login.username)
        .bind(&sealed)
        .bind(now)
        .bind(self.tenant.as_str())
        .bind(registry.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !replaced {
            let inserted = sqlx::query(
                "INSERT INTO registry_credentials (tenant_id, registry, username, password, created_at, updated_at) \
                 SELECT $1, $2, $3, $4, $5, $5 \
                 WHERE (SELECT COUNT(*) FROM registry_credentials WHERE tenant_id = $1) < $6",
            )
            .bind(self.tenant.as_str())
            .bind(registry.as_str())
            .bind(&login.username)
            .bind(&sealed)
            .bind(now)
            .bind(i64::from(max))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.tenant_gone(e))?
            .rows_affected()
                == 1;
            if !inserted {
                return Ok(Saved::QuotaUsedUp);
            }
        }
        enqueue(&mut tx, OutboxKind::Registry, &self.tenant, None).await?;
        audit(
            &mut tx,
            actor,
            Some(&self.tenant),
            if replaced {
                "registry_credential.replace"
            } else {
                "registry_credential.create"
            },
            registry.as_str(),
            serde_json::json!({ "username": login.username }),
        )
        .await?;
        let row = sqlx::query(
            "SELECT registry, username, created_at, updated_at FROM registry_credentials \
             WHERE tenant_id = $1 AND registry = $2",
        )
        .bind(self.tenant.as_str())
        .bind(registry.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let row = row_from(&row)?;
        tx.commit().await?;
        Ok(if replaced {
            Saved::Replaced(row)
        } else {
            Saved::Created(row)
        })
    }

    /// Deletes the login for `registry`; false when there is none.
    pub async fn delete_registry_credential(
        &self,
        registry: &RegistryHost,
        actor: &Actor,
    ) -> Result<bool> {
        let mut tx = self.store.begin_write().await?;
        let deleted =
            sqlx::query("DELETE FROM registry_credentials WHERE tenant_id = $1 AND registry = $2")
                .bind(self.tenant.as_str())
                .bind(registry.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if deleted {
            enqueue(&mut tx, OutboxKind::Registry, &self.tenant, None).await?;
            audit(
                &mut tx,
                actor,
                Some(&self.tenant),
                "registry_credential.delete",
                registry.as_str(),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

impl Store {
    /// A tenant's credentials with their passwords (opened; one stored
    /// before sealing existed is read as it is until [`Store::reseal`]
    /// seals it): for the sync's pull Secret only, never for a handler.
    pub async fn registry_auths(&self, tenant: &TenantId) -> Result<Vec<RegistryAuth>> {
        sqlx::query(
            "SELECT registry, username, password FROM registry_credentials \
             WHERE tenant_id = $1 ORDER BY registry",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let registry: String = r.try_get("registry")?;
            let stored: String = r.try_get("password")?;
            let password = if crate::keyring::Keyring::is_sealed(&stored) {
                let plain = self
                    .keyring
                    .open(&context(tenant.as_str(), &registry), &stored)?;
                String::from_utf8(plain)
                    .map_err(|_| StoreError::Corrupt(format!("password for {registry}")))?
            } else {
                stored
            };
            Ok(RegistryAuth {
                registry,
                username: r.try_get("username")?,
                password,
            })
        })
        .collect()
    }

    /// Tenants that have at least one credential (their Secrets are
    /// re-applied by the periodic resync).
    pub async fn tenants_with_registry_credentials(&self) -> Result<Vec<TenantId>> {
        sqlx::query("SELECT DISTINCT tenant_id FROM registry_credentials ORDER BY tenant_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| super::tenant_id(r.try_get("tenant_id")?))
            .collect()
    }
}
