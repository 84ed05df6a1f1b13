//! The worker: while this replica leads, drains the outbox and runs the
//! periodic resync, applying Tenant and Function CRs.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use eventflow_core::{FunctionName, SecretName, TenantId};
use eventflow_crd::{
    build_function, build_tenant, Function, Tenant, API_FIELD_MANAGER,
    CATALOG_GENERATION_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PULL_SECRET,
};
use eventflow_kube::{delete_if_exists, is_not_found};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    api::{ListParams, Patch, PatchParams},
    Api, Client, ResourceExt,
};
use tokio::{sync::watch, time::Instant};

use super::{backoff, stopped, CatalogSync, SyncError, CATALOG_ID_ANNOTATION};
use crate::store::{FunctionRow, OutboxEntry, OutboxKind};

/// How often the worker looks at the outbox while nothing wakes it
/// (entries waiting for a retry become due).
const TICK: Duration = Duration::from_secs(1);

pub(super) fn label_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
}

fn stamp(meta: &mut kube::api::ObjectMeta, catalog: &str) {
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(CATALOG_ID_ANNOTATION.to_string(), catalog.to_string());
}

fn ours(meta: &kube::api::ObjectMeta, catalog: &str) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(CATALOG_ID_ANNOTATION))
        .is_some_and(|id| id == catalog)
}

/// The catalog generation a Function CR was applied from (0 if unknown).
pub(super) fn applied_generation(cr: &Function) -> i64 {
    cr.annotations()
        .get(CATALOG_GENERATION_ANNOTATION)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

impl CatalogSync {
    /// Waits on the published client, the leadership, catalog writes and a
    /// tick; runs a round whenever it is connected and leads. A new client
    /// or a newly won lease makes the resync due at once (another replica
    /// may have changed things while this one stood by).
    pub(super) async fn worker(&self, mut shutdown: watch::Receiver<bool>) {
        let mut client = self.client.subscribe();
        let mut leader = self.lease.subscribe();
        let mut writes = self.writes.subscribe();
        let mut next_resync = Instant::now();
        loop {
            let connected = client.borrow_and_update().clone();
            let leads = *leader.borrow_and_update();
            if let Some(c) = connected.filter(|_| leads) {
                self.round(&c, &mut next_resync).await;
            }
            tokio::select! {
                _ = writes.changed() => {}
                _ = leader.changed() => if *leader.borrow() { next_resync = Instant::now() },
                _ = client.changed() => if client.borrow().is_some() { next_resync = Instant::now() },
                () = tokio::time::sleep(TICK) => {}
                () = stopped(&mut shutdown) => return,
            }
        }
    }

    /// Drains the outbox, then resyncs if that is due.
    async fn round(&self, client: &Client, next_resync: &mut Instant) {
        if let Err(e) = self.drain_outbox(client).await {
            tracing::warn!(error = %e, "outbox drain failed");
        }
        if Instant::now() < *next_resync || !self.lease.hold().await {
            return;
        }
        let retry = self.config.resync_interval.min(Duration::from_secs(5));
        match self.resync(client).await {
            Ok(()) => {
                self.set_error(None);
                *next_resync = Instant::now() + self.config.resync_interval;
            }
            // Another replica took over mid-round; this one stands by.
            Err(SyncError::LeaseLost) => *next_resync = Instant::now() + retry,
            Err(e) => {
                *next_resync = Instant::now() + retry;
                tracing::warn!(error = %e, "resync failed");
                self.set_error(Some(e.to_string()));
                if e.is_connection_error() {
                    self.disconnect();
                }
            }
        }
    }

    async fn catalog_id(&self) -> Result<&str, SyncError> {
        Ok(self
            .catalog_id
            .get_or_try_init(|| self.store.catalog_id())
            .await?
            .as_str())
    }

    async fn drain_outbox(&self, client: &Client) -> Result<(), SyncError> {
        loop {
            let entries = self.store.due_outbox(100).await?;
            if entries.is_empty() {
                return Ok(());
            }
            for entry in entries {
                if !self.apply_outbox_entry(client, &entry).await? {
                    return Ok(());
                }
            }
        }
    }

    /// Applies one entry and completes it, or records the failure and
    /// schedules a retry. `false`: stop draining (the lease is lost, or the
    /// connection failed and is being re-established).
    async fn apply_outbox_entry(
        &self,
        client: &Client,
        entry: &OutboxEntry,
    ) -> Result<bool, SyncError> {
        let kind = entry.kind.as_str();
        let result = match (&entry.kind, &entry.name) {
            (OutboxKind::Tenant, _) => self.sync_tenant(client, &entry.tenant).await,
            (OutboxKind::Registry, _) => self.sync_pull_secret(client, &entry.tenant).await,
            (OutboxKind::Function, Some(name)) => {
                self.sync_function(client, &entry.tenant, name).await
            }
            (OutboxKind::Secret, Some(name)) => self.sync_secret(client, &entry.tenant, name).await,
            (OutboxKind::Function | OutboxKind::Secret, None) => Ok(()),
        };
        if !matches!(result, Err(SyncError::LeaseLost)) {
            let outcome = if result.is_ok() { "ok" } else { "error" };
            self.metrics
                .sync_applies
                .with_label_values(&[kind, outcome])
                .inc();
        }
        match result {
            // A long drain must not outlive the lease: `sync_tenant` and
            // `sync_function` check it before writing; stop as soon as
            // another replica has it, recording nothing on the entry.
            Err(SyncError::LeaseLost) => return Ok(false),
            Ok(()) => self.store.complete_outbox(entry.id).await?,
            Err(e) => {
                tracing::warn!(tenant = %entry.tenant, name = ?entry.name, error = %e, "apply failed; will retry");
                if let (OutboxKind::Function, Some(name)) = (&entry.kind, &entry.name) {
                    self.store
                        .record_apply_failure(&entry.tenant, name, &e.failure())
                        .await?;
                }
                let attempts = u32::try_from(entry.attempts).unwrap_or(u32::MAX);
                self.store
                    .retry_outbox(entry.id, &e.to_string(), backoff(attempts))
                    .await?;
                if e.is_connection_error() {
                    self.disconnect();
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    async fn sync_tenant(&self, client: &Client, tenant: &TenantId) -> Result<(), SyncError> {
        if !self.lease.hold().await {
            return Err(SyncError::LeaseLost);
        }
        let api: Api<Tenant> = Api::all(client.clone());
        let Some(row) = self.store.get_tenant(tenant).await? else {
            return Ok(delete_if_exists(&api, tenant.as_str()).await?);
        };
        let mut cr = build_tenant(tenant, row.spec);
        stamp(&mut cr.metadata, self.catalog_id().await?);
        api.patch(
            tenant.as_str(),
            &PatchParams::apply(API_FIELD_MANAGER).force(),
            &Patch::Apply(&cr),
        )
        .await?;
        Ok(())
    }

    /// The tenant's pull Secret from its registry credentials (an empty
    /// one without). Nothing for a deleted tenant: its namespace goes.
    async fn sync_pull_secret(&self, client: &Client, tenant: &TenantId) -> Result<(), SyncError> {
        if !self.lease.hold().await {
            return Err(SyncError::LeaseLost);
        }
        if self.store.get_tenant(tenant).await?.is_none() {
            return Ok(());
        }
        let secret =
            super::registry::pull_secret(tenant, &self.store.registry_auths(tenant).await?);
        let api: Api<Secret> = Api::namespaced(client.clone(), &tenant.namespace());
        let pp = PatchParams::apply(API_FIELD_MANAGER).force();
        match api.patch(PULL_SECRET, &pp, &Patch::Apply(&secret)).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Err(SyncError::NamespaceMissing(tenant.namespace())),
            Err(e) => Err(e.into()),
        }
    }

    /// One of the tenant's secrets as its Kubernetes Secret (deleted when
    /// the secret is gone), then every function that reads it, so that
    /// their pods roll onto the new values: the Secret is written first.
    async fn sync_secret(
        &self,
        client: &Client,
        tenant: &TenantId,
        name: &FunctionName,
    ) -> Result<(), SyncError> {
        if !self.lease.hold().await {
            return Err(SyncError::LeaseLost);
        }
        if self.store.get_tenant(tenant).await?.is_none() {
            return Ok(());
        }
        let Ok(secret) = SecretName::parse(name.as_str()) else {
            return Ok(());
        };
        self.apply_secret(client, tenant, &secret).await?;
        for function in self.store.functions_using_secret(tenant, &secret).await? {
            self.sync_function(client, tenant, &function).await?;
        }
        Ok(())
    }

    async fn sync_function(
        &self,
        client: &Client,
        tenant: &TenantId,
        name: &FunctionName,
    ) -> Result<(), SyncError> {
        if !self.lease.hold().await {
            return Err(SyncError::LeaseLost);
        }
        let api: Api<Function> = Api::namespaced(client.clone(), &tenant.namespace());
        let Some(row) = self.store.function_for_sync(tenant, name).await? else {
            return Ok(delete_if_exists(&api, name.as_str()).await?);
        };
        // The Tenant CR first, so the operator creates the namespace.
        self.sync_tenant(client, tenant).await?;
        let mut cr = build_function(tenant, name, &row.spec, row.generation);
        cr.spec.secrets_revision = self.store.secrets_revision(tenant, &row.spec).await?;
        stamp(&mut cr.metadata, self.catalog_id().await?);
        let pp = PatchParams::apply(API_FIELD_MANAGER).force();
        match api.patch(name.as_str(), &pp, &Patch::Apply(&cr)).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {
                return Err(SyncError::NamespaceMissing(tenant.namespace()))
            }
            Err(e) => return Err(e.into()),
        }
        self.store
            .record_applied(tenant, name, row.generation)
            .await?;
        Ok(())
    }

    /// Compares every catalog row with every managed CR and repairs the
    /// difference in both directions.
    async fn resync(&self, client: &Client) -> Result<(), SyncError> {
        let catalog = self.catalog_id().await?.to_string();
        self.resync_tenants(client, &catalog).await?;
        self.resync_functions(client, &catalog).await?;
        self.resync_pull_secrets(client).await?;
        self.resync_secrets(client).await
    }

    /// Re-applies every tenant's secrets (an unchanged apply writes
    /// nothing), so a Secret removed or edited by hand comes back. Only
    /// the Secrets: the functions' CRs carry their revision already.
    async fn resync_secrets(&self, client: &Client) -> Result<(), SyncError> {
        for (tenant, name) in self.store.all_secrets().await? {
            if !self.lease.hold().await {
                return Err(SyncError::LeaseLost);
            }
            match self.apply_secret(client, &tenant, &name).await {
                Err(SyncError::NamespaceMissing(ns)) => {
                    tracing::debug!(namespace = %ns, "resync: secret waits for its namespace");
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Writes the Kubernetes Secret of one of the tenant's secrets, or
    /// deletes it when the catalog has none.
    async fn apply_secret(
        &self,
        client: &Client,
        tenant: &TenantId,
        secret: &SecretName,
    ) -> Result<(), SyncError> {
        let api: Api<Secret> = Api::namespaced(client.clone(), &tenant.namespace());
        let Some(data) = self.store.secret_data(tenant, secret).await? else {
            return Ok(delete_if_exists(&api, &secret.k8s_name()).await?);
        };
        let object = super::secrets::tenant_secret(tenant, secret, &data);
        let pp = PatchParams::apply(API_FIELD_MANAGER).force();
        match api
            .patch(&secret.k8s_name(), &pp, &Patch::Apply(&object))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Err(SyncError::NamespaceMissing(tenant.namespace())),
            Err(e) => Err(e.into()),
        }
    }

    /// Re-applies the pull Secret of every tenant that has credentials (an
    /// unchanged apply writes nothing), so a Secret removed by hand comes
    /// back. Tenants without credentials have an empty one, which changes
    /// no pull; it is written when the tenant is created.
    async fn resync_pull_secrets(&self, client: &Client) -> Result<(), SyncError> {
        for tenant in self.store.tenants_with_registry_credentials().await? {
            match self.sync_pull_secret(client, &tenant).await {
                Err(SyncError::NamespaceMissing(ns)) => {
                    tracing::debug!(namespace = %ns, "resync: pull Secret waits for its namespace");
                }
                other => other?,
            }
        }
        Ok(())
    }

    async fn resync_tenants(&self, client: &Client, catalog: &str) -> Result<(), SyncError> {
        let lp = ListParams::default().labels(&label_selector());
        let crs: Vec<Tenant> = Api::<Tenant>::all(client.clone()).list(&lp).await?.items;
        let rows = self.store.list_tenants().await?;
        let row_ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let cr_ids: HashSet<String> = crs.iter().map(ResourceExt::name_any).collect();
        for row in rows.iter().filter(|r| !cr_ids.contains(r.id.as_str())) {
            tracing::info!(tenant = %row.id, "resync: creating missing Tenant");
            self.sync_tenant(client, &row.id).await?;
        }
        for cr in &crs {
            if row_ids.contains(cr.name_any().as_str()) || !ours(&cr.metadata, catalog) {
                continue;
            }
            if let Ok(t) = TenantId::parse(&cr.name_any()) {
                tracing::info!(tenant = %t, "resync: deleting orphaned Tenant");
                self.sync_tenant(client, &t).await?;
            }
        }
        Ok(())
    }

    async fn resync_functions(&self, client: &Client, catalog: &str) -> Result<(), SyncError> {
        let lp = ListParams::default().labels(&label_selector());
        let crs = Api::<Function>::all(client.clone()).list(&lp).await?.items;
        let mut by_key: HashMap<(String, String), Function> = crs
            .into_iter()
            .filter_map(|f| Some(((f.namespace()?, f.name_any()), f)))
            .collect();
        for row in self.store.all_functions().await? {
            let key = (row.tenant.namespace(), row.name.to_string());
            match by_key.remove(&key) {
                None => self.create_missing_function(client, &row).await?,
                Some(cr) => self.repair_function(client, &row, cr).await?,
            }
        }
        for ((ns, name), cr) in by_key {
            if !ours(&cr.metadata, catalog) {
                continue;
            }
            if let (Some(t), Ok(n)) = (TenantId::from_namespace(&ns), FunctionName::parse(&name)) {
                tracing::info!(tenant = %t, function = %n, "resync: deleting orphaned Function");
                self.sync_function(client, &t, &n).await?;
            }
        }
        Ok(())
    }

    /// A row without a CR: apply it; a failure is recorded on the row and
    /// the resync goes on with the others.
    async fn create_missing_function(
        &self,
        client: &Client,
        row: &FunctionRow,
    ) -> Result<(), SyncError> {
        tracing::info!(tenant = %row.tenant, function = %row.name, "resync: creating missing Function");
        match self.sync_function(client, &row.tenant, &row.name).await {
            Ok(()) => Ok(()),
            Err(SyncError::LeaseLost) => Err(SyncError::LeaseLost),
            Err(e) => Ok(self
                .store
                .record_apply_failure(&row.tenant, &row.name, &e.failure())
                .await?),
        }
    }

    /// A row with its CR: re-apply a stale CR, record an apply the catalog
    /// missed, and copy the CR's status back.
    async fn repair_function(
        &self,
        client: &Client,
        row: &FunctionRow,
        cr: Function,
    ) -> Result<(), SyncError> {
        let applied = applied_generation(&cr);
        if applied < row.generation {
            self.sync_function(client, &row.tenant, &row.name).await?;
        } else if row.applied_generation < row.generation {
            self.store
                .record_applied(&row.tenant, &row.name, applied)
                .await?;
        }
        if let Some(status) = cr.status.as_ref().filter(|s| **s != row.status) {
            super::status::record(&self.store, &row.tenant, &row.name, &cr, status).await?;
        }
        Ok(())
    }
}
