//! The status task: copies Function CR status into the catalog as it
//! changes, on whichever client the connection task publishes.

use std::sync::Arc;

use eventflow_core::{FunctionName, TenantId};
use eventflow_crd::Function;
use futures::StreamExt;
use kube::{
    runtime::{watcher, WatchStreamExt},
    Api, Client, ResourceExt,
};

use super::{apply::label_selector, CatalogSync};
use crate::store::Store;

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
            if let Err(e) = store.record_status(&t, &n, status).await {
                tracing::warn!(error = %e, "could not record Function status");
            }
        }
    }
}
