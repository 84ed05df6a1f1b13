//! Keeps Kubernetes in step with the catalog.
//!
//! The database is the catalog; the custom resources are the desired state
//! handed to the operator. Every catalog write commits an outbox row in the
//! same transaction. [`CatalogSync::run`] runs four tasks that publish state
//! to each other through `tokio::sync::watch` channels:
//!
//! - the **connection** task ([`connection`]) connects to Kubernetes, backing
//!   off while it is away, and publishes the client (`None` while
//!   disconnected); anyone who sees the connection fail publishes `None`;
//! - the **lease** task ([`lease`]) takes and renews the database sync lease
//!   while a client is published and publishes whether this replica leads;
//! - the **worker** ([`apply`]) waits on the client, the leadership, catalog
//!   writes and a one-second tick; while leading it drains the outbox (for
//!   each entry it looks at the row *as it is now* and server-side-applies
//!   the `Tenant`/`Function` CR, or deletes it when the row is gone:
//!   level-triggered, so replays and duplicates are harmless) and every
//!   `resync_interval` compares all rows with all CRs the platform manages
//!   (applies missing or stale CRs, deletes orphans, copies status back);
//! - the **status** task ([`status`]) watches Function CRs on the published
//!   client and copies status changes into the catalog as they happen.
//!
//! A crash between the commit and the apply leaves the outbox row behind, so
//! the next start applies it: nothing a user created is lost.

mod apply;
mod connection;
mod lease;
mod reason;
mod registry;
pub mod secrets;
mod status;

use std::{path::PathBuf, sync::Arc, time::Duration};

use kube::Client;
use tokio::sync::watch;

pub use self::{
    lease::{SYNC_LEASE_RENEW, SYNC_LEASE_TTL},
    reason::{SyncFailure, SyncReason},
};
use crate::{
    api::health::Check,
    metrics::Metrics,
    store::{Store, StoreError},
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
    pub fn reason(&self) -> SyncReason {
        match self {
            SyncError::NamespaceMissing(_) => SyncReason::WaitingForNamespace,
            // ResourceQuota admission: `exceeded quota: …` when the tenant's
            // `count/functions.eventflow.io` is used up (someone lowered the
            // Tenant's quota below what exists), `status unknown for quota`
            // while kube-controller-manager has not yet computed the usage
            // (it discovers a new CRD within 30 s, but recomputes a quota
            // created before that only at its full resync, 5 min by default).
            SyncError::Kube(kube::Error::Api(ae))
                if ae.code == 403 && ae.message.contains("status unknown for quota") =>
            {
                SyncReason::QuotaPending
            }
            SyncError::Kube(kube::Error::Api(ae))
                if ae.code == 403 && ae.message.contains("exceeded quota") =>
            {
                SyncReason::QuotaExceeded
            }
            SyncError::Kube(kube::Error::Api(_)) => SyncReason::ApplyFailed,
            SyncError::Store(_) | SyncError::LeaseLost => SyncReason::SyncFailed,
            SyncError::Kube(_) | SyncError::Config(_) => SyncReason::ClusterUnavailable,
        }
    }

    /// What the catalog records about a function this error kept from
    /// being applied.
    pub fn failure(&self) -> SyncFailure {
        SyncFailure {
            reason: self.reason(),
            message: self.to_string(),
        }
    }

    /// Whether the connection itself failed (rather than a request on it):
    /// the client is dropped and the connection task reconnects.
    fn is_connection_error(&self) -> bool {
        matches!(
            self,
            SyncError::Kube(kube::Error::HyperError(_) | kube::Error::Service(_))
        )
    }
}

/// The pause after `failures` failed attempts in a row: 1, 2, 4 … 32 s.
/// Used between connection attempts and between retries of an outbox entry.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(5))
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

/// Applies the catalog to Kubernetes and copies status back (see the
/// module documentation for its tasks).
pub struct CatalogSync {
    store: Store,
    config: SyncConfig,
    metrics: Metrics,
    lease: lease::SyncLease,
    catalog_id: tokio::sync::OnceCell<String>,
    /// The connected client, published by the connection task; `None`
    /// while disconnected.
    client: watch::Sender<Option<Client>>,
    /// Why the connection or the last resync failed, for readiness.
    last_error: std::sync::Mutex<Option<String>>,
    /// Bumped by every catalog write; the connection task and the worker
    /// each wait on it, so a write wakes both and no wake-up is lost.
    writes: watch::Sender<u64>,
}

/// Resolves once `shutdown` turns true or its sender is dropped.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl CatalogSync {
    pub fn new(store: Store, config: SyncConfig, metrics: Metrics) -> Self {
        Self {
            lease: lease::SyncLease::new(store.clone(), metrics.clone()),
            store,
            config,
            metrics,
            catalog_id: tokio::sync::OnceCell::new(),
            client: watch::channel(None).0,
            last_error: std::sync::Mutex::new(None),
            writes: watch::channel(0).0,
        }
    }

    /// Wakes the tasks after a catalog write.
    pub fn notify(&self) {
        self.writes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The connected Kubernetes client, if any (for log streaming and the
    /// API-server proxy resolver).
    pub fn client(&self) -> Option<Client> {
        self.client.borrow().clone()
    }

    /// Whether this replica holds the sync lease, as the lease task last
    /// found (the scaler decides only there).
    pub fn leads(&self) -> bool {
        *self.lease.subscribe().borrow()
    }

    /// This replica's name (in the sync lease and the load rows).
    pub fn replica(&self) -> &str {
        self.lease.identity()
    }

    /// Reports that `client` failed at the connection level: it is
    /// withdrawn and the connection task reconnects.
    fn disconnect(&self) {
        self.client.send_replace(None);
    }

    fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().expect("last_error lock") = e;
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("last_error lock").clone()
    }

    pub fn health(&self) -> Check {
        if self.config.source == KubeSource::Disabled {
            return Check {
                status: "disabled",
                message: "no Kubernetes configured (--kubernetes off)".into(),
            };
        }
        match (self.client.borrow().is_some(), self.last_error()) {
            (true, None) => Check {
                status: "ok",
                message: "connected".into(),
            },
            (_, Some(e)) => Check {
                status: "error",
                message: e,
            },
            (false, None) => Check {
                status: "error",
                message: "connecting".into(),
            },
        }
    }

    /// Runs until `shutdown` turns true (or its sender is dropped). Every
    /// replica connects (logs and the gateway need the client) and copies
    /// status back; only the holder of the sync lease drains the outbox and
    /// runs the resync, so replicas do not race each other's applies and
    /// orphan deletions. Only a replica connected to Kubernetes competes for
    /// the lease: one that loses the cluster gives it up to one that has it.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        if self.config.source == KubeSource::Disabled {
            tracing::warn!("Kubernetes sync disabled: functions are stored but not deployed");
            return;
        }
        let status = tokio::spawn(status::follow(Arc::clone(&self)));
        tokio::join!(
            self.connection(shutdown.clone()),
            self.lease.run(self.client.subscribe(), shutdown.clone()),
            self.worker(shutdown),
        );
        status.abort();
        // After the worker has stopped writing, and unconditionally: a
        // database error may have hidden that we still hold it.
        self.lease.release().await;
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
        assert_eq!(
            pending.failure(),
            SyncFailure {
                reason: SyncReason::QuotaPending,
                message: r#"functions.eventflow.io "f1" is forbidden: status unknown for quota: eventflow-quota, resources: count/functions.eventflow.io (403)"#.into()
            }
        );
        let exceeded = api_error(
            403,
            r#"functions.eventflow.io "f2" is forbidden: exceeded quota: eventflow-quota, requested: count/functions.eventflow.io=1, used: count/functions.eventflow.io=1, limited: count/functions.eventflow.io=1"#,
        );
        assert_eq!(exceeded.reason(), SyncReason::QuotaExceeded);
        // Other refusals, and quota words outside a 403, stay generic.
        assert_eq!(
            api_error(403, "forbidden by RBAC").reason(),
            SyncReason::ApplyFailed
        );
        assert_eq!(
            api_error(422, "exceeded quota").reason(),
            SyncReason::ApplyFailed
        );
        assert_eq!(
            SyncError::NamespaceMissing("tenant-a".into()).reason(),
            SyncReason::WaitingForNamespace
        );
    }

    #[test]
    fn backoff_doubles_up_to_32_seconds() {
        let secs: Vec<u64> = (0..8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(backoff(u32::MAX), Duration::from_secs(32));
    }

    #[test]
    fn only_connection_failures_drop_the_client() {
        assert!(!api_error(500, "boom").is_connection_error());
        assert!(!SyncError::Config("no kubeconfig".into()).is_connection_error());
        assert!(!SyncError::LeaseLost.is_connection_error());
    }
}
