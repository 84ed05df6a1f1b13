//! The status task: copies Function CR status into the catalog as it
//! changes, on whichever client the connection task publishes.

use std::sync::Arc;

use eventflow_core::{FunctionName, TenantId};
use eventflow_crd::{Function, FunctionStatus, Phase};
use futures::StreamExt;
use kube::{
    runtime::{watcher, WatchStreamExt},
    Api, Client, ResourceExt,
};

use super::{apply::label_selector, CatalogSync};
use crate::store::{Store, StoreError};

/// Watches with the published client, starting over on every new one.
/// Ends when the client channel closes (the aborting caller ends it first).
pub(super) async fn follow(sync: Arc<CatalogSync>) {
    let mut published = sync.client.subscribe();
    loop {
        let client = published.borrow_and_update().clone();
        if let Some(client) = client {
            tokio::select! {
                () = copy_status(&sync.store, client) => {}
                r = published.changed() => if r.is_err() { return },
            }
        } else if published.changed().await.is_err() {
            return;
        }
    }
}

async fn copy_status(store: &Store, client: Client) {
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
        let (Some(ns), Some(status)) = (f.namespace(), f.status.as_ref()) else {
            continue;
        };
        if let (Some(t), Ok(n)) = (
            TenantId::from_namespace(&ns),
            FunctionName::parse(&f.name_any()),
        ) {
            if let Err(e) = record(store, &t, &n, &f, status).await {
                tracing::warn!(error = %e, "could not record Function status");
            }
        }
    }
}

/// Copies `status` (of the CR `cr`) into the catalog, and the image digest
/// it reports onto the revision it runs: the catalog generation the CR was
/// applied from, once the operator has observed that spec and runs it.
pub(super) async fn record(
    store: &Store,
    tenant: &TenantId,
    name: &FunctionName,
    cr: &Function,
    status: &FunctionStatus,
) -> Result<(), StoreError> {
    store.record_status(tenant, name, status).await?;
    let current = status.phase == Some(Phase::Running)
        && status.observed_generation.is_some()
        && status.observed_generation == cr.metadata.generation;
    if let (true, Some(digest)) = (current, status.image_digest.as_deref()) {
        let revision = super::apply::applied_generation(cr);
        if revision > 0
            && store
                .record_image_digest(tenant, name, revision, digest)
                .await?
        {
            tracing::info!(tenant = %tenant, function = %name, revision, digest, "revision runs image digest");
        }
    }
    Ok(())
}
