//! Revisions: each change of a function's spec, numbered by its generation
//! (table `function_revisions`), written in the function write's own
//! transaction, never changed afterwards.

use eventflow_core::{FunctionName, FunctionSpec};
use sqlx::{any::AnyRow, Row};

use super::{Actor, Result, TenantStore};

#[derive(Debug, Clone)]
pub struct RevisionRow {
    pub revision: i64,
    pub spec: FunctionSpec,
    pub actor: String,
    pub created_at: i64,
    /// The revision this one restored, when it is a rollback.
    pub rollback_of: Option<i64>,
    /// The image digest the node resolved while it ran this revision.
    pub image_digest: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<RevisionRow> {
    Ok(RevisionRow {
        revision: r.try_get("revision")?,
        spec: serde_json::from_str(&r.try_get::<String, _>("spec_json")?)?,
        actor: r.try_get("actor")?,
        created_at: r.try_get("created_at")?,
        rollback_of: r.try_get("rollback_of")?,
        image_digest: r.try_get("image_digest")?,
    })
}

/// Records revision `revision` of `function` in `tx`.
pub(super) async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    store: &TenantStore<'_>,
    function: &FunctionName,
    revision: i64,
    spec: &FunctionSpec,
    actor: &Actor,
    rollback_of: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO function_revisions (tenant_id, function_name, revision, spec_json, actor, created_at, rollback_of) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(store.tenant.as_str())
    .bind(function.as_str())
    .bind(revision)
    .bind(serde_json::to_string(spec)?)
    .bind(&actor.0)
    .bind(super::now_ms())
    .bind(rollback_of)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl TenantStore<'_> {
    /// `function`'s revisions, newest first: `limit` of them below `before`.
    pub async fn revisions(
        &self,
        function: &FunctionName,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<RevisionRow>> {
        let rows = sqlx::query(
            "SELECT revision, spec_json, actor, created_at, rollback_of, image_digest FROM function_revisions \
             WHERE tenant_id = $1 AND function_name = $2 AND revision < $3 ORDER BY revision DESC LIMIT $4",
        )
        .bind(self.tenant.as_str())
        .bind(function.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.store.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn revision(
        &self,
        function: &FunctionName,
        revision: i64,
    ) -> Result<Option<RevisionRow>> {
        let row = sqlx::query(
            "SELECT revision, spec_json, actor, created_at, rollback_of, image_digest FROM function_revisions \
             WHERE tenant_id = $1 AND function_name = $2 AND revision = $3",
        )
        .bind(self.tenant.as_str())
        .bind(function.as_str())
        .bind(revision)
        .fetch_optional(&self.store.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }
}

impl super::Store {
    /// Records the image digest the node resolved for revision `revision`
    /// (the catalog generation the Function CR was applied from), once: a
    /// revision's digest never changes afterwards. True if it was recorded.
    pub async fn record_image_digest(
        &self,
        tenant: &eventflow_core::TenantId,
        function: &FunctionName,
        revision: i64,
        digest: &str,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE function_revisions SET image_digest = $1 \
             WHERE tenant_id = $2 AND function_name = $3 AND revision = $4 AND image_digest IS NULL",
        )
        .bind(digest)
        .bind(tenant.as_str())
        .bind(function.as_str())
        .bind(revision)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }
}
