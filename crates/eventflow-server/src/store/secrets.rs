//! A tenant's secrets. Handlers see names, keys and sizes
//! ([`SecretRow`]); the values are sealed in the catalog
//! ([`crate::keyring`]) and opened only for the sync
//! ([`Store::secret_data`]), which writes the tenant's Kubernetes Secret.

use std::collections::BTreeMap;

use eventflow_core::{
    FunctionName, FunctionSpec, SecretData, SecretName, TenantId, ValidationError,
};
use sha2::{Digest, Sha256};
use sqlx::{any::AnyRow, AnyConnection, Row};

use super::{audit, enqueue, now_ms, Actor, OutboxKind, Result, Store, StoreError, TenantStore};

/// One secret as the API shows it: no values.
#[derive(Debug, Clone)]
pub struct SecretRow {
    pub name: SecretName,
    pub keys: Vec<String>,
    pub size_bytes: i64,
    /// 1 when created, +1 on every replacement.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What [`TenantStore::save_secret`] did.
#[derive(Debug)]
pub enum SecretSaved {
    Created(SecretRow),
    Replaced(SecretRow),
    /// The tenant has as many secrets as it may.
    QuotaUsedUp,
}

/// What [`TenantStore::delete_secret`] did.
#[derive(Debug)]
pub enum SecretDeleted {
    Deleted,
    NotFound,
    /// Functions read it; nothing was deleted.
    InUse(Vec<FunctionName>),
}

const COLUMNS: &str = "name, keys_json, size_bytes, version, created_at, updated_at";

fn context(tenant: impl std::fmt::Display, name: &str) -> String {
    format!("secret/{tenant}/{name}")
}

fn row_from(r: &AnyRow) -> Result<SecretRow> {
    Ok(SecretRow {
        name: SecretName::parse(&r.try_get::<String, _>("name")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        keys: serde_json::from_str(&r.try_get::<String, _>("keys_json")?)?,
        size_bytes: r.try_get("size_bytes")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The tenant's functions whose specs name `secret`, by name.
async fn users(
    conn: &mut AnyConnection,
    tenant: &TenantId,
    secret: &SecretName,
) -> Result<Vec<FunctionName>> {
    let rows =
        sqlx::query("SELECT name, spec_json FROM functions WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant.as_str())
            .fetch_all(conn)
            .await?;
    let mut out = Vec::new();
    for r in &rows {
        let spec: FunctionSpec = serde_json::from_str(&r.try_get::<String, _>("spec_json")?)?;
        if spec.secrets().contains(secret) {
            out.push(super::function_name(r.try_get("name")?)?);
        }
    }
    Ok(out)
}

/// In a function write's transaction: every secret and key the spec names
/// exists in the tenant (422 naming the field otherwise). The tenant's row
/// is locked first on PostgreSQL, as [`TenantStore::delete_secret`] does,
/// so a secret cannot be deleted between this check and the commit.
pub(super) async fn check_refs(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    store: &TenantStore<'_>,
    spec: &FunctionSpec,
) -> Result<()> {
    if spec.secret_env.is_empty() && spec.secret_files.is_empty() {
        return Ok(());
    }
    store.lock_tenant(tx).await?;
    let rows = sqlx::query("SELECT name, keys_json FROM secrets WHERE tenant_id = $1")
        .bind(store.tenant.as_str())
        .fetch_all(&mut **tx)
        .await?;
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        keys.insert(
            r.try_get("name")?,
            serde_json::from_str(&r.try_get::<String, _>("keys_json")?)?,
        );
    }
    let missing = |field: String, name: &str| {
        StoreError::Invalid(ValidationError::new(
            field,
            format!("the tenant has no secret {name:?}"),
        ))
    };
    for (i, e) in spec.secret_env.iter().enumerate() {
        let Some(k) = keys.get(&e.secret) else {
            return Err(missing(format!("secretEnv[{i}].secret"), &e.secret));
        };
        if !k.contains(&e.key) {
            return Err(StoreError::Invalid(ValidationError::new(
                format!("secretEnv[{i}].key"),
                format!("secret {:?} has no key {:?}", e.secret, e.key),
            )));
        }
    }
    for (i, f) in spec.secret_files.iter().enumerate() {
        if !keys.contains_key(f.as_str()) {
            return Err(missing(format!("secretFiles[{i}]"), f.as_str()));
        }
    }
    Ok(())
}

impl TenantStore<'_> {
    /// The tenant's secrets by name, without values.
    pub async fn secrets(&self) -> Result<Vec<SecretRow>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM secrets WHERE tenant_id = $1 ORDER BY name"
        ))
        .bind(self.tenant.as_str())
        .fetch_all(&self.store.pool)
        .await?
        .iter()
        .map(row_from)
        .collect()
    }

    /// One secret without its values, and the functions that read it.
    pub async fn secret(
        &self,
        name: &SecretName,
    ) -> Result<Option<(SecretRow, Vec<FunctionName>)>> {
        let mut conn = self.store.pool.acquire().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM secrets WHERE tenant_id = $1 AND name = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(name.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row.as_ref().map(row_from).transpose()? else {
            return Ok(None);
        };
        let used_by = users(&mut conn, &self.tenant, name).await?;
        Ok(Some((row, used_by)))
    }

    /// Creates or replaces a secret (a new one only while the tenant has
    /// fewer than `max`), sealing its values. Atomic like the function
    /// quota. Enqueues the Kubernetes Secret (and with it the roll of the
    /// functions that read it); audits the keys and size, never a value.
    pub async fn save_secret(
        &self,
        name: &SecretName,
        data: &SecretData,
        max: u32,
        actor: &Actor,
    ) -> Result<SecretSaved> {
        let plain = serde_json::to_vec(&data.clone().into_inner())?;
        let sealed = self
            .store
            .keyring
            .seal(&context(&self.tenant, name.as_str()), &plain)?;
        let keys: Vec<&str> = data.keys().collect();
        let keys_json = serde_json::to_string(&keys)?;
        let size = i64::try_from(data.size()).unwrap_or(i64::MAX);
        let mut tx = self.store.begin_write().await?;
        self.lock_tenant(&mut tx).await?;
        let now = now_ms();
        let replaced = sqlx::query(
            "UPDATE secrets SET data = $1, keys_json = $2, size_bytes = $3, version = version + 1, updated_at = $4 \
             WHERE tenant_id = $5 AND name = $6",
        )
        .bind(&sealed)
        .bind(&keys_json)
        .bind(size)
        .bind(now)
        .bind(self.tenant.as_str())
        .bind(name.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !replaced {
            let inserted = sqlx::query(
                "INSERT INTO secrets (tenant_id, name, data, keys_json, size_bytes, version, created_at, updated_at) \
                 SELECT $1, $2, $3, $4, $5, 1, $6, $6 \
                 WHERE (SELECT COUNT(*) FROM secrets WHERE tenant_id = $1) < $7",
            )
            .bind(self.tenant.as_str())
            .bind(name.as_str())
            .bind(&sealed)
            .bind(&keys_json)
            .bind(size)
            .bind(now)
            .bind(i64::from(max))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.tenant_gone(e))?
            .rows_affected()
                == 1;
            if !inserted {
                return Ok(SecretSaved::QuotaUsedUp);
            }
        }
        enqueue(
            &mut tx,
            OutboxKind::Secret,
            &self.tenant,
            Some(name.as_str()),
        )
        .await?;
        audit(
            &mut tx,
            actor,
            Some(&self.tenant),
            if replaced {
                "secret.replace"
            } else {
                "secret.create"
            },
            name.as_str(),
            serde_json::json!({ "keys": keys, "sizeBytes": size }),
        )
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM secrets WHERE tenant_id = $1 AND name = $2"
        ))
        .bind(self.tenant.as_str())
        .bind(name.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let row = row_from(&row)?;
        tx.commit().await?;
        Ok(if replaced {
            SecretSaved::Replaced(row)
        } else {
            SecretSaved::Created(row)
        })
    }

    /// Deletes a secret no function reads. The check and the delete hold
    /// the tenant's lock, as function writes do when they name secrets.
    pub async fn delete_secret(&self, name: &SecretName, actor: &Actor) -> Result<SecretDeleted> {
        let mut tx = self.store.begin_write().await?;
        self.lock_tenant(&mut tx).await?;
        let used_by = users(&mut tx, &self.tenant, name).await?;
        let exists = sqlx::query("SELECT 1 AS one FROM secrets WHERE tenant_id = $1 AND name = $2")
            .bind(self.tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(SecretDeleted::NotFound);
        }
        if !used_by.is_empty() {
            return Ok(SecretDeleted::InUse(used_by));
        }
        sqlx::query("DELETE FROM secrets WHERE tenant_id = $1 AND name = $2")
            .bind(self.tenant.as_str())
            .bind(name.as_str())
            .execute(&mut *tx)
            .await?;
        enqueue(
            &mut tx,
            OutboxKind::Secret,
            &self.tenant,
            Some(name.as_str()),
        )
        .await?;
        audit(
            &mut tx,
            actor,
            Some(&self.tenant),
            "secret.delete",
            name.as_str(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(SecretDeleted::Deleted)
    }
}

impl Store {
    /// A secret's keys and values: for the sync's Kubernetes Secret only,
    /// never for a handler.
    pub async fn secret_data(
        &self,
        tenant: &TenantId,
        name: &SecretName,
    ) -> Result<Option<SecretData>> {
        let row = sqlx::query("SELECT data FROM secrets WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let plain = self.keyring.open(
            &context(tenant, name.as_str()),
            &row.try_get::<String, _>("data")?,
        )?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&plain)?;
        SecretData::parse(map)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("secret {name}: {}", e.field)))
    }

    /// A mark of the versions of the secrets `spec` reads (`None` when it
    /// reads none): it changes when one of them is replaced, created or
    /// deleted, and the Function CR carries it so that the pods roll.
    pub async fn secrets_revision(
        &self,
        tenant: &TenantId,
        spec: &FunctionSpec,
    ) -> Result<Option<String>> {
        let names = spec.secrets();
        if names.is_empty() {
            return Ok(None);
        }
        let rows = sqlx::query("SELECT name, version FROM secrets WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await?;
        let versions: BTreeMap<String, i64> = rows
            .iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("version")?)))
            .collect::<Result<_>>()?;
        let mut h = Sha256::new();
        for n in &names {
            let v = versions.get(n.as_str()).copied().unwrap_or(0);
            h.update(format!("{n}={v};"));
        }
        Ok(Some(hex::encode(&h.finalize()[..8])))
    }

    /// The tenant's functions that read `secret`.
    pub async fn functions_using_secret(
        &self,
        tenant: &TenantId,
        secret: &SecretName,
    ) -> Result<Vec<FunctionName>> {
        let mut conn = self.pool.acquire().await?;
        users(&mut conn, tenant, secret).await
    }

    /// Every tenant's secrets by name (the resync re-applies them).
    pub async fn all_secrets(&self) -> Result<Vec<(TenantId, SecretName)>> {
        sqlx::query("SELECT tenant_id, name FROM secrets ORDER BY tenant_id, name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    super::tenant_id(r.try_get("tenant_id")?)?,
                    SecretName::parse(&r.try_get::<String, _>("name")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ))
            })
            .collect()
    }

    /// Re-seals under the current key every secret and registry password
    /// sealed by an old key, and seals registry passwords stored before
    /// sealing existed. Each row is rewritten only if it is unchanged
    /// since it was read. Returns how many rows were rewritten.
    pub async fn reseal(&self) -> Result<usize> {
        if self.keyring.current_id().is_none() {
            return Ok(0);
        }
        let mut count = 0;
        let rows = sqlx::query("SELECT tenant_id, name, data FROM secrets")
            .fetch_all(&self.pool)
            .await?;
        for r in &rows {
            let (tenant, name, data): (String, String, String) = (
                r.try_get("tenant_id")?,
                r.try_get("name")?,
                r.try_get("data")?,
            );
            if self.keyring.is_current(&data) {
                continue;
            }
            let ctx = context(&tenant, &name);
            let resealed = self.keyring.seal(&ctx, &self.keyring.open(&ctx, &data)?)?;
            count += sqlx::query(
                "UPDATE secrets SET data = $1 WHERE tenant_id = $2 AND name = $3 AND data = $4",
            )
            .bind(resealed)
            .bind(&tenant)
            .bind(&name)
            .bind(&data)
            .execute(&self.pool)
            .await?
            .rows_affected() as usize;
        }
        let rows = sqlx::query("SELECT tenant_id, registry, password FROM registry_credentials")
            .fetch_all(&self.pool)
            .await?;
        for r in &rows {
            let (tenant, registry, password): (String, String, String) = (
                r.try_get("tenant_id")?,
                r.try_get("registry")?,
                r.try_get("password")?,
            );
            if self.keyring.is_current(&password) {
                continue;
            }
            let ctx = super::registry::context(&tenant, &registry);
            let plain = if crate::keyring::Keyring::is_sealed(&password) {
                self.keyring.open(&ctx, &password)?
            } else {
                password.clone().into_bytes()
            };
            count += sqlx::query(
                "UPDATE registry_credentials SET password = $1 \
                 WHERE tenant_id = $2 AND registry = $3 AND password = $4",
            )
            .bind(self.keyring.seal(&ctx, &plain)?)
            .bind(&tenant)
            .bind(&registry)
            .bind(&password)
            .execute(&self.pool)
            .await?
            .rows_affected() as usize;
        }
        Ok(count)
    }
}
