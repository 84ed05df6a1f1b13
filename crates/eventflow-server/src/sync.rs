//! Keeps Kubernetes in step with the catalog.
//!
//! The database is the catalog; the custom resources are the desired state
//! handed to the operator. Every catalog write commits an outbox row in the
//! same transaction. This loop:
//!
//! 1. connects to Kubernetes (retrying while it is away),
//! 2. drains the outbox: for each entry it looks at the row *as it is now*
//!    and server-side-applies the `Tenant`/`Function` CR, or deletes it when
//!    the row is gone (level-triggered, so replays and duplicates are harmless),
//! 3. every `resync_interval` compares all rows with all CRs the platform
//!    manages: applies missing or stale CRs, deletes orphans, and copies CR
//!    status back into the rows,
//! 4. watches Function CRs and copies status changes as they happen.
//!
//! A crash between the commit and the apply leaves the outbox row behind, so
//! the next start applies it: nothing a user created is lost.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use eventflow_core::{FunctionName, TenantId};
use eventflow_crd::{
    build_function, build_tenant, Function, Tenant, API_FIELD_MANAGER,
    CATALOG_GENERATION_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
};
use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    api::{DeleteParams, ListParams, Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{watcher, WatchStreamExt},
    Api, Client, CustomResourceExt, ResourceExt,
};
use tokio::sync::{watch, Notify, RwLock};

use crate::{
    api::health::Check,
    metrics::Metrics,
    store::{OutboxEntry, OutboxKind, Store, StoreError},
};

/// Where the Kubernetes connection comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeSource {
    /// No cluster: the API works and functions stay Pending.
    Disabled,
    /// `KUBECONFIG`, `~/.kube/config` or the in-cluster service account.
    Infer,
    /// An explicit kubeconfig file.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{}", kube_message(.0))]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
    #[error("namespace {0} does not exist yet (the operator creates it from the Tenant resource)")]
    NamespaceMissing(String),
    /// This replica no longer holds the sync lease: it stops writing to
    /// Kubernetes (another replica has taken over).
    #[error("the sync lease is held by another replica now")]
    LeaseLost,
}

/// An API refusal as Kubernetes worded it (kube's own `Display` of it adds
/// the whole response again in `Debug` form); other errors as they are.
fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(ae) if !ae.message.is_empty() => format!("{} ({})", ae.message, ae.code),
        other => other.to_string(),
    }
}

impl SyncError {
    /// The reason shown on a function that could not be applied.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncError::NamespaceMissing(_) => "WaitingForNamespace",
            // ResourceQuota admission: `exceeded quota: …` when the tenant's
            // `count/functions.eventflow.io` is used up (someone lowered the
            // Tenant's quota below what exists), `status unknown for quota`
            // while kube-controller-manager has not yet computed the usage
            // (it discovers a new CRD within 30 s, but recomputes a quota
            // created before that only at its full resync, 5 min by default).
            SyncError::Kube(kube::Error::Api(ae))
                if ae.code == 403 && ae.message.contains("status unknown for quota") =>
            {
                "QuotaPending"
            }
            SyncError::Kube(kube::Error::Api(ae))
                if ae.code == 403 && ae.message.contains("exceeded quota") =>
            {
                "QuotaExceeded"
            }
            SyncError::Kube(kube::Error::Api(_)) => "ApplyFailed",
            SyncError::Store(_) | SyncError::LeaseLost => "SyncFailed",
            SyncError::Kube(_) | SyncError::Config(_) => "ClusterUnavailable",
        }
    }

    /// `Reason: message`, the form stored as a function's sync error.
    pub fn record(&self) -> String {
        format!("{}: {self}", self.reason())
    }
}

#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub source: KubeSource,
    pub install_crds: bool,
    pub resync_interval: Duration,
}

/// Annotation naming the catalog that applied a CR. The resync deletes only
/// orphans carrying its own id, so a server pointed at an empty or different
/// database never deletes resources another catalog created.
pub const CATALOG_ID_ANNOTATION: &str = "eventflow.io/catalog-id";

pub struct Sync {
    store: Store,
    /// This replica's name in the sync lease.
    identity: String,
    /// When this replica last took or renewed the sync lease (`None`: it
    /// does not hold it).
    lease_renewed: std::sync::Mutex<Option<std::time::Instant>>,
    catalog_id: tokio::sync::OnceCell<String>,
    config: SyncConfig,
    metrics: Metrics,
    client: RwLock<Option<Client>>,
    last_error: RwLock<Option<String>>,
    wake: Notify,
}

fn label_selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(ae) if ae.code == 404)
}

/// How long the sync lease lasts without renewal. The holder renews it
/// every round (about once a second); a replica that dies is replaced after
/// this.
pub const SYNC_LEASE_TTL: Duration = Duration::from_secs(15);
/// The holder renews the lease when its last renewal is older than this,
/// checked before every write to Kubernetes; so every write starts with at
/// least `SYNC_LEASE_TTL - SYNC_LEASE_RENEW` (12 s) of the lease left.
pub const SYNC_LEASE_RENEW: Duration = Duration::from_secs(3);

/// The pause after `failures` failed connection attempts in a row.
fn reconnect_delay(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.clamp(0, 5))
}

fn retry_delay(attempts: i64) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 5))
}

/// The pod name in Kubernetes (`HOSTNAME`), else "eventflow".
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "eventflow".into())
}

impl Sync {
    pub fn new(store: Store, config: SyncConfig, metrics: Metrics) -> Self {
        Self {
            store,
            identity: format!(
                "{}-{}-{}",
                hostname(),
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            lease_renewed: std::sync::Mutex::new(None),
            catalog_id: tokio::sync::OnceCell::new(),
            config,
            metrics,
            client: RwLock::new(None),
            last_error: RwLock::new(None),
            wake: Notify::new(),
        }
    }

    async fn catalog_id(&self) -> Result<&str, SyncError> {
        Ok(self
            .catalog_id
            .get_or_try_init(|| self.store.catalog_id())
            .await?
            .as_str())
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

    /// Wakes the loop after a catalog write.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// The connected Kubernetes client, if any (for log streaming and the
    /// API-server proxy resolver).
    pub async fn client(&self) -> Option<Client> {
        self.client.read().await.clone()
    }

    pub async fn health(&self) -> Check {
        if self.config.source == KubeSource::Disabled {
            return Check {
                status: "disabled",
                message: "no Kubernetes configured (--kubernetes off)".into(),
            };
        }
        match (&*self.client.read().await, &*self.last_error.read().await) {
            (Some(_), None) => Check {
                status: "ok",
                message: "connected".into(),
            },
            (_, Some(e)) => Check {
                status: "error",
                message: e.clone(),
            },
            (None, None) => Check {
                status: "error",
                message: "connecting".into(),
            },
        }
    }

    async fn connect(&self) -> Result<Client, SyncError> {
        let config = match &self.config.source {
            KubeSource::Disabled => return Err(SyncError::Config("Kubernetes is disabled".into())),
            KubeSource::Infer => kube::Config::infer().await.map_err(|e| {
                tracing::debug!(error = %e, "kubeconfig inference failed");
                SyncError::Config(
                    "no Kubernetes configuration found (give --kubeconfig, set KUBECONFIG, or run in a cluster)"
                        .into(),
                )
            })?,
            KubeSource::File(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| {
                    SyncError::Config(format!("cannot read kubeconfig {}: {e}", path.display()))
                })?;
                kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| {
                        SyncError::Config(format!("invalid kubeconfig {}: {e}", path.display()))
                    })?
            }
        };
        let client = Client::try_from(config)?;
        client.apiserver_version().await?;
        if self.config.install_crds {
            let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
            let pp = PatchParams::apply(API_FIELD_MANAGER).force();
            for crd in [Tenant::crd(), Function::crd()] {
                crds.patch(&crd.name_any(), &pp, &Patch::Apply(&crd))
                    .await?;
            }
        }
        Ok(client)
    }

    async fn set_error(&self, e: Option<String>) {
        *self.last_error.write().await = e;
    }

    /// Whether this replica holds the sync lease, taking or renewing it
    /// when the last renewal is older than [`SYNC_LEASE_RENEW`]. Called
    /// before every write to Kubernetes, so a long round stops writing when
    /// the lease has passed to another replica.
    async fn hold_lease(&self) -> bool {
        if let Some(at) = *self.lease_renewed.lock().expect("lease lock") {
            if at.elapsed() < SYNC_LEASE_RENEW {
                return true;
            }
        }
        let asked = std::time::Instant::now();
        let held = match self
            .store
            .try_sync_lease(&self.identity, SYNC_LEASE_TTL)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take or renew the sync lease");
                false
            }
        };
        *self.lease_renewed.lock().expect("lease lock") = held.then_some(asked);
        held
    }

    /// Gives the lease up (if held; the SQL checks the holder).
    async fn release_lease(&self) {
        *self.lease_renewed.lock().expect("lease lock") = None;
        if let Err(e) = self.store.release_sync_lease(&self.identity).await {
            tracing::warn!(error = %e, "could not release the sync lease");
        }
        self.metrics.sync_leader.set(0);
    }

    /// [`Self::hold_lease`], logging and reporting changes of role.
    async fn lead(&self, was_leader: Option<bool>) -> bool {
        let leader = self.hold_lease().await;
        if Some(leader) != was_leader {
            if leader {
                tracing::info!(identity = %self.identity, "holding the sync lease: this replica applies the catalog to Kubernetes");
            } else {
                tracing::info!(identity = %self.identity, "not holding the sync lease (another replica has it, or the database is away); standing by");
            }
        }
        self.metrics.sync_leader.set(i64::from(leader));
        leader
    }

    /// Runs until `shutdown` turns true (or its sender is dropped). Every
    /// replica connects (logs and the gateway need the client) and copies
    /// status back; only the holder of the sync lease drains the outbox and
    /// runs the resync, so replicas do not race each other's applies and
    /// orphan deletions. Only a replica connected to Kubernetes competes for
    /// the lease: one that loses the cluster gives it up to one that has it.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        if self.config.source == KubeSource::Disabled {
            tracing::warn!("Kubernetes sync disabled: functions are stored but not deployed");
            return;
        }
        let mut leader = false;
        let mut first = true;
        // When the next full resync is due; a failed one is retried sooner.
        let mut next_resync = tokio::time::Instant::now();
        let retry = self.config.resync_interval.min(Duration::from_secs(5));
        let mut watcher_task: Option<tokio::task::JoinHandle<()>> = None;
        // Failed connection attempts in a row: while Kubernetes is away the
        // loop waits 2, 4, … 32 s between attempts (an API write still wakes
        // it at once), instead of reconnecting and rewriting every pending
        // function's reason every second.
        let mut connect_failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let client = self.client.read().await.clone();
            let client = match client {
                Some(c) => Some(c),
                None => match self.connect().await {
                    Ok(c) => {
                        connect_failures = 0;
                        tracing::info!("connected to Kubernetes");
                        *self.client.write().await = Some(c.clone());
                        self.set_error(None).await;
                        next_resync = tokio::time::Instant::now();
                        if let Some(t) = watcher_task.take() {
                            t.abort();
                        }
                        watcher_task =
                            Some(tokio::spawn(Arc::clone(&self).watch_status(c.clone())));
                        Some(c)
                    }
                    Err(e) => {
                        connect_failures = connect_failures.saturating_add(1);
                        let msg = e.to_string();
                        if self.last_error.read().await.as_deref() != Some(msg.as_str()) {
                            tracing::warn!(error = %msg, "Kubernetes unavailable; will retry");
                        }
                        self.set_error(Some(msg.clone())).await;
                        self.mark_unsynced(&e.record()).await;
                        None
                    }
                },
            };
            let was_leader = leader;
            if client.is_some() {
                leader = self.lead((!first).then_some(leader)).await;
                first = false;
            } else if leader {
                tracing::info!("Kubernetes is unreachable: giving the sync lease up");
                self.release_lease().await;
                leader = false;
            }
            if leader && !was_leader {
                // Another replica may have changed things while we stood by.
                next_resync = tokio::time::Instant::now();
            }
            if let Some(client) = client.filter(|_| leader) {
                if let Err(e) = self.drain_outbox(&client).await {
                    tracing::warn!(error = %e, "outbox drain failed");
                }
                if tokio::time::Instant::now() >= next_resync && self.hold_lease().await {
                    match self.resync(&client).await {
                        Err(SyncError::LeaseLost) => {
                            // Another replica took over mid-round; the next
                            // round stands by.
                            next_resync = tokio::time::Instant::now() + retry;
                        }
                        Ok(()) => {
                            self.set_error(None).await;
                            next_resync = tokio::time::Instant::now() + self.config.resync_interval;
                        }
                        Err(e) => {
                            next_resync = tokio::time::Instant::now() + retry;
                            tracing::warn!(error = %e, "resync failed");
                            self.set_error(Some(e.to_string())).await;
                            if matches!(
                                e,
                                SyncError::Kube(
                                    kube::Error::HyperError(_) | kube::Error::Service(_)
                                )
                            ) {
                                // Connection-level failure: reconnect next round.
                                *self.client.write().await = None;
                            }
                        }
                    }
                }
            }
            let pause = if self.client.read().await.is_some() {
                Duration::from_secs(1)
            } else {
                reconnect_delay(connect_failures)
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
                // A dropped sender means shutdown too.
                r = shutdown.changed() => if r.is_err() { break; },
            }
        }
        if let Some(t) = watcher_task {
            t.abort();
        }
        // Unconditionally: a DB error may have hidden that we still hold it.
        self.release_lease().await;
    }

    /// Without a cluster, record the reason on every outbox entry's function
    /// so the API can show why it is pending.
    async fn mark_unsynced(&self, msg: &str) {
        let Ok(entries) = self.store.due_outbox(500).await else {
            return;
        };
        for e in entries {
            if let (OutboxKind::Function, Some(name)) = (&e.kind, &e.name) {
                let _ = self.store.record_apply(&e.tenant, name, 0, Some(msg)).await;
            }
        }
    }

    async fn drain_outbox(&self, client: &Client) -> Result<(), SyncError> {
        loop {
            let entries = self.store.due_outbox(100).await?;
            if entries.is_empty() {
                return Ok(());
            }
            for entry in entries {
                let kind = if entry.kind == OutboxKind::Tenant {
                    "tenant"
                } else {
                    "function"
                };
                match self.apply_entry(client, &entry).await {
                    Ok(()) => {
                        self.metrics
                            .sync_applies
                            .with_label_values(&[kind, "ok"])
                            .inc();
                        self.store.complete_outbox(entry.id).await?;
                    }
                    // A long drain must not outlive the lease: `sync_tenant`
                    // and `sync_function` check it before writing; stop as
                    // soon as another replica has it (the next round stands
                    // by), recording nothing on the entry.
                    Err(SyncError::LeaseLost) => return Ok(()),
                    Err(e) => {
                        self.metrics
                            .sync_applies
                            .with_label_values(&[kind, "error"])
                            .inc();
                        let msg = e.to_string();
                        tracing::warn!(tenant = %entry.tenant, name = ?entry.name, error = %msg, "apply failed; will retry");
                        if let Some(name) = &entry.name {
                            self.store
                                .record_apply(&entry.tenant, name, 0, Some(&e.record()))
                                .await?;
                        }
                        self.store
                            .retry_outbox(entry.id, &msg, retry_delay(entry.attempts))
                            .await?;
                        if matches!(
                            e,
                            SyncError::Kube(kube::Error::HyperError(_) | kube::Error::Service(_))
                        ) {
                            *self.client.write().await = None;
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    async fn apply_entry(&self, client: &Client, entry: &OutboxEntry) -> Result<(), SyncError> {
        match (&entry.kind, &entry.name) {
            (OutboxKind::Tenant, _) => self.sync_tenant(client, &entry.tenant).await,
            (OutboxKind::Function, Some(name)) => {
                self.sync_function(client, &entry.tenant, name).await
            }
            (OutboxKind::Function, None) => Ok(()),
        }
    }

    async fn sync_tenant(&self, client: &Client, tenant: &TenantId) -> Result<(), SyncError> {
        if !self.hold_lease().await {
            return Err(SyncError::LeaseLost);
        }
        let api: Api<Tenant> = Api::all(client.clone());
        match self.store.get_tenant(tenant).await? {
            Some(row) => {
                let mut cr = build_tenant(tenant, row.spec);
                Self::stamp(&mut cr.metadata, self.catalog_id().await?);
                api.patch(
                    tenant.as_str(),
                    &PatchParams::apply(API_FIELD_MANAGER).force(),
                    &Patch::Apply(&cr),
                )
                .await?;
            }
            None => match api.delete(tenant.as_str(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(())
    }

    async fn sync_function(
        &self,
        client: &Client,
        tenant: &TenantId,
        name: &FunctionName,
    ) -> Result<(), SyncError> {
        if !self.hold_lease().await {
            return Err(SyncError::LeaseLost);
        }
        let api: Api<Function> = Api::namespaced(client.clone(), &tenant.namespace());
        match self.store.function_for_sync(tenant, name).await? {
            Some(row) => {
                // The Tenant CR first, so the operator creates the namespace.
                self.sync_tenant(client, tenant).await?;
                let mut cr = build_function(tenant, name, &row.spec, row.generation);
                Self::stamp(&mut cr.metadata, self.catalog_id().await?);
                match api
                    .patch(
                        name.as_str(),
                        &PatchParams::apply(API_FIELD_MANAGER).force(),
                        &Patch::Apply(&cr),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {
                        return Err(SyncError::NamespaceMissing(tenant.namespace()))
                    }
                    Err(e) => return Err(e.into()),
                }
                self.store
                    .record_apply(tenant, name, row.generation, None)
                    .await?;
            }
            None => match api.delete(name.as_str(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            },
        }
        Ok(())
    }

    /// Compares every catalog row with every managed CR and repairs the
    /// difference in both directions.
    async fn resync(&self, client: &Client) -> Result<(), SyncError> {
        let lp = ListParams::default().labels(&label_selector());
        // Tenants.
        let tenant_api: Api<Tenant> = Api::all(client.clone());
        let crs: Vec<Tenant> = tenant_api.list(&lp).await?.items;
        let rows = self.store.list_tenants().await?;
        let row_ids: std::collections::HashSet<String> =
            rows.iter().map(|r| r.id.to_string()).collect();
        let cr_ids: std::collections::HashSet<String> =
            crs.iter().map(ResourceExt::name_any).collect();
        for row in &rows {
            if !cr_ids.contains(row.id.as_str()) {
                tracing::info!(tenant = %row.id, "resync: creating missing Tenant");
                self.sync_tenant(client, &row.id).await?;
            }
        }
        let catalog = self.catalog_id().await?.to_string();
        for cr in &crs {
            if !row_ids.contains(&cr.name_any()) && Self::ours(&cr.metadata, &catalog) {
                if let Ok(t) = TenantId::parse(&cr.name_any()) {
                    tracing::info!(tenant = %t, "resync: deleting orphaned Tenant");
                    self.sync_tenant(client, &t).await?;
                }
            }
        }
        // Functions.
        let fn_api: Api<Function> = Api::all(client.clone());
        let crs: Vec<Function> = fn_api.list(&lp).await?.items;
        let mut by_key: HashMap<(String, String), Function> = crs
            .into_iter()
            .filter_map(|f| Some(((f.namespace()?, f.name_any()), f)))
            .collect();
        for row in self.store.all_functions().await? {
            let key = (row.tenant.namespace(), row.name.to_string());
            match by_key.remove(&key) {
                None => {
                    tracing::info!(tenant = %row.tenant, function = %row.name, "resync: creating missing Function");
                    if let Err(e) = self.sync_function(client, &row.tenant, &row.name).await {
                        if matches!(e, SyncError::LeaseLost) {
                            return Err(e);
                        }
                        self.store
                            .record_apply(&row.tenant, &row.name, 0, Some(&e.record()))
                            .await?;
                    }
                }
                Some(cr) => {
                    let applied: i64 = cr
                        .annotations()
                        .get(CATALOG_GENERATION_ANNOTATION)
                        .and_then(|g| g.parse().ok())
                        .unwrap_or(0);
                    if applied < row.generation {
                        self.sync_function(client, &row.tenant, &row.name).await?;
                    } else if row.applied_generation < row.generation {
                        self.store
                            .record_apply(&row.tenant, &row.name, applied, None)
                            .await?;
                    }
                    if let Some(status) = cr.status {
                        if status != row.status {
                            self.store
                                .record_status(&row.tenant, &row.name, &status)
                                .await?;
                        }
                    }
                }
            }
        }
        for ((ns, name), cr) in by_key {
            if !Self::ours(&cr.metadata, &catalog) {
                continue;
            }
            if let (Some(t), Ok(n)) = (TenantId::from_namespace(&ns), FunctionName::parse(&name)) {
                tracing::info!(tenant = %t, function = %n, "resync: deleting orphaned Function");
                self.sync_function(client, &t, &n).await?;
            }
        }
        Ok(())
    }

    /// Copies Function CR status into the catalog as it changes.
    async fn watch_status(self: Arc<Self>, client: Client) {
        let api: Api<Function> = Api::all(client);
        let cfg = watcher::Config::default().labels(&label_selector());
        let mut stream = watcher(api, cfg)
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(item) = stream.next().await {
            let f = match item {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!(error = %e, "Function watch error (retrying)");
                    continue;
                }
            };
            let (Some(ns), Some(status)) = (f.namespace(), f.status.clone()) else {
                continue;
            };
            if let (Some(t), Ok(n)) = (
                TenantId::from_namespace(&ns),
                FunctionName::parse(&f.name_any()),
            ) {
                if let Err(e) = self.store.record_status(&t, &n, &status).await {
                    tracing::warn!(error = %e, "could not record Function status");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, message: &str) -> SyncError {
        SyncError::Kube(kube::Error::Api(kube::core::ErrorResponse {
            status: "Failure".into(),
            message: message.into(),
            reason: "Forbidden".into(),
            code,
        }))
    }

    #[test]
    fn quota_refusals_get_their_own_reasons() {
        // Messages as kube-apiserver's ResourceQuota admission words them.
        let pending = api_error(
            403,
            r#"functions.eventflow.io "f1" is forbidden: status unknown for quota: eventflow-quota, resources: count/functions.eventflow.io"#,
        );
        assert_eq!(pending.reason(), "QuotaPending");
        assert_eq!(
            pending.record(),
            r#"QuotaPending: functions.eventflow.io "f1" is forbidden: status unknown for quota: eventflow-quota, resources: count/functions.eventflow.io (403)"#
        );
        let exceeded = api_error(
            403,
            r#"functions.eventflow.io "f2" is forbidden: exceeded quota: eventflow-quota, requested: count/functions.eventflow.io=1, used: count/functions.eventflow.io=1, limited: count/functions.eventflow.io=1"#,
        );
        assert_eq!(exceeded.reason(), "QuotaExceeded");
        // Other refusals, and quota words outside a 403, stay generic.
        assert_eq!(api_error(403, "forbidden by RBAC").reason(), "ApplyFailed");
        assert_eq!(api_error(422, "exceeded quota").reason(), "ApplyFailed");
        assert_eq!(
            SyncError::NamespaceMissing("tenant-a".into()).reason(),
            "WaitingForNamespace"
        );
    }
}
