//! The sync lease: which server replica applies the catalog to Kubernetes.
//! The lease task takes and renews it while this replica is connected and
//! publishes whether it leads; the worker also checks it before every write
//! ([`SyncLease::hold`]), so a long round stops writing when the lease has
//! passed to another replica.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use kube::Client;
use tokio::sync::watch;

use super::stopped;
use crate::{metrics::Metrics, store::Store};

/// How long the sync lease lasts without renewal. The holder renews it
/// every round (about once a second); a replica that dies is replaced after
/// this.
pub const SYNC_LEASE_TTL: Duration = Duration::from_secs(15);
/// The holder renews the lease when its last renewal is older than this,
/// checked before every write to Kubernetes; so every write starts with at
/// least `SYNC_LEASE_TTL - SYNC_LEASE_RENEW` (12 s) of the lease left.
pub const SYNC_LEASE_RENEW: Duration = Duration::from_secs(3);

/// How often the lease task looks at the lease.
const LEASE_TICK: Duration = Duration::from_secs(1);

pub(super) struct SyncLease {
    store: Store,
    metrics: Metrics,
    /// This replica's name in the lease.
    identity: String,
    /// When this replica last took or renewed the lease (`None`: it does
    /// not hold it).
    renewed: Mutex<Option<Instant>>,
    /// Whether this replica leads, as the lease task last found.
    leader: watch::Sender<bool>,
}

impl SyncLease {
    pub(super) fn new(store: Store, metrics: Metrics) -> Self {
        Self {
            store,
            metrics,
            // Unique even for two stores in one process (tests).
            identity: format!(
                "{}-{}",
                eventflow_kube::replica_identity("eventflow"),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            renewed: Mutex::new(None),
            leader: watch::channel(false).0,
        }
    }

    pub(super) fn identity(&self) -> &str {
        &self.identity
    }

    /// Leadership as the lease task publishes it.
    pub(super) fn subscribe(&self) -> watch::Receiver<bool> {
        self.leader.subscribe()
    }

    /// Whether this replica holds the lease, taking or renewing it when the
    /// last renewal is older than [`SYNC_LEASE_RENEW`].
    pub(super) async fn hold(&self) -> bool {
        if let Some(at) = *self.renewed.lock().expect("lease lock") {
            if at.elapsed() < SYNC_LEASE_RENEW {
                return true;
            }
        }
        let asked = Instant::now();
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
        *self.renewed.lock().expect("lease lock") = held.then_some(asked);
        held
    }

    /// Gives the lease up (if held; the SQL checks the holder).
    pub(super) async fn release(&self) {
        *self.renewed.lock().expect("lease lock") = None;
        if let Err(e) = self.store.release_sync_lease(&self.identity).await {
            tracing::warn!(error = %e, "could not release the sync lease");
        }
        self.metrics.sync_leader.set(0);
        self.leader.send_replace(false);
    }

    /// Takes or renews the lease while a client is published, gives it up
    /// when the cluster is lost, and publishes leadership; until `shutdown`
    /// (the final release is the caller's, after its writes have stopped).
    pub(super) async fn run(
        &self,
        mut client: watch::Receiver<Option<Client>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut known = None;
        loop {
            let connected = client.borrow_and_update().is_some();
            known = Some(if connected {
                self.lead(known).await
            } else {
                self.stand_down(known).await
            });
            tokio::select! {
                () = tokio::time::sleep(LEASE_TICK) => {}
                r = client.changed() => if r.is_err() { return },
                () = stopped(&mut shutdown) => return,
            }
        }
    }

    /// [`Self::hold`], logging and publishing changes of role.
    async fn lead(&self, known: Option<bool>) -> bool {
        let leader = self.hold().await;
        if Some(leader) != known {
            if leader {
                tracing::info!(identity = %self.identity, "holding the sync lease: this replica applies the catalog to Kubernetes");
            } else {
                tracing::info!(identity = %self.identity, "not holding the sync lease (another replica has it, or the database is away); standing by");
            }
        }
        self.metrics.sync_leader.set(i64::from(leader));
        self.leader
            .send_if_modified(|l| std::mem::replace(l, leader) != leader);
        leader
    }

    /// Without a cluster this replica does not lead.
    async fn stand_down(&self, known: Option<bool>) -> bool {
        if known == Some(true) {
            tracing::info!("Kubernetes is unreachable: giving the sync lease up");
            self.release().await;
        }
        false
    }
}
