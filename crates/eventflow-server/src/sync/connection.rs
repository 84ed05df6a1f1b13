//! The connection task: connects to Kubernetes and publishes the client.

use std::time::Duration;

use eventflow_crd::{Function, Tenant, API_FIELD_MANAGER};
use eventflow_kube::ClientError;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    api::{Patch, PatchParams},
    Api, Client, CustomResourceExt, ResourceExt,
};
use tokio::sync::watch;

use super::{backoff, stopped, CatalogSync, KubeSource, SyncError};
use crate::store::OutboxKind;

impl CatalogSync {
    /// Keeps a client published. While Kubernetes is away it waits 2, 4 …
    /// 32 s between attempts (a catalog write still wakes it at once),
    /// instead of reconnecting and rewriting every pending function's
    /// reason every second. Once connected it waits until someone withdraws
    /// the client (a connection-level failure) and reconnects a second
    /// later.
    pub(super) async fn connection(&self, mut shutdown: watch::Receiver<bool>) {
        let mut published = self.client.subscribe();
        let mut writes = self.writes.subscribe();
        let mut failures: u32 = 0;
        loop {
            let pause = if published.borrow_and_update().is_some() {
                tokio::select! {
                    _ = published.wait_for(|c| c.is_none()) => {}
                    () = stopped(&mut shutdown) => return,
                }
                Duration::from_secs(1)
            } else {
                match self.connect().await {
                    Ok(client) => {
                        failures = 0;
                        tracing::info!("connected to Kubernetes");
                        self.set_error(None);
                        self.client.send_replace(Some(client));
                        continue;
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        self.connection_failed(&e).await;
                        backoff(failures)
                    }
                }
            };
            tokio::select! {
                _ = writes.changed() => {}
                () = tokio::time::sleep(pause) => {}
                () = stopped(&mut shutdown) => return,
            }
        }
    }

    async fn connection_failed(&self, e: &SyncError) {
        let msg = e.to_string();
        if self.last_error().as_deref() != Some(msg.as_str()) {
            tracing::warn!(error = %msg, "Kubernetes unavailable; will retry");
        }
        self.set_error(Some(msg));
        self.mark_unsynced(e).await;
    }

    /// Without a cluster, record the reason on every outbox entry's function
    /// so the API can show why it is pending.
    async fn mark_unsynced(&self, e: &SyncError) {
        let Ok(entries) = self.store.due_outbox(500).await else {
            return;
        };
        let failure = e.failure();
        for entry in entries {
            if let (OutboxKind::Function, Some(name)) = (&entry.kind, &entry.name) {
                let _ = self
                    .store
                    .record_apply_failure(&entry.tenant, name, &failure)
                    .await;
            }
        }
    }

    async fn connect(&self) -> Result<Client, SyncError> {
        let kubeconfig = match &self.config.source {
            KubeSource::Disabled => return Err(SyncError::Config("Kubernetes is disabled".into())),
            KubeSource::Infer => None,
            KubeSource::File(path) => Some(path.as_path()),
        };
        let client = eventflow_kube::client(kubeconfig)
            .await
            .map_err(|e| match e {
                ClientError::Infer(e) => {
                    tracing::debug!(error = %e, "kubeconfig inference failed");
                    SyncError::Config(
                        "no Kubernetes configuration found (give --kubeconfig, set KUBECONFIG, or run in a cluster)"
                            .into(),
                    )
                }
                other => SyncError::Config(other.to_string()),
            })?;
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
}
