//! Leader election on a `coordination.k8s.io/v1` Lease.
//!
//! The holder writes its identity and `renewTime` every `renew_interval`;
//! writes are `replace` calls carrying the `resourceVersion` read just
//! before, so two candidates can never both win (the loser gets 409). A
//! candidate takes over a lease that is free (no holder: released on
//! shutdown) or whose record it has seen unchanged for `lease_duration`,
//! measured on its own clock (no clock-skew assumptions, as client-go).
//! A holder that cannot renew for `renew_deadline` (< `lease_duration`)
//! gives up and stops its controllers before anyone else can take over.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::chrono::Utc;
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::time::Instant;

/// Where the Lease lives and how it is held.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This candidate's identity (default: hostname and pid).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_interval: Duration,
    pub renew_deadline: Duration,
    /// Pause between attempts while another candidate holds the lease.
    pub retry_interval: Duration,
}

impl LeaseConfig {
    /// Defaults: 15 s lease, renewed every 5 s, given up after 10 s without
    /// a successful renewal; candidates retry every 2 s.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_interval: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(10),
            retry_interval: Duration::from_secs(2),
        }
    }
}

pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The lease record last seen (resourceVersion) and when it was first seen.
    observed: Option<(String, Instant)>,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl LeaderElector {
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
        }
    }

    fn secs(d: Duration) -> i32 {
        i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// One attempt to acquire or renew. `Ok(true)`: we hold the lease now.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Utc::now());
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            return self.create(now).await;
        };
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let duration = Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(15)).unwrap_or(15),
        );
        let expired = self
            .observed
            .as_ref()
            .is_some_and(|(_, seen)| seen.elapsed() >= duration);
        let mine = holder == self.cfg.identity;
        if !(mine || holder.is_empty() || expired) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(LeaseSpec {
            acquire_time: if mine {
                spec.acquire_time
            } else {
                Some(now.clone())
            },
            lease_transitions: Some(if mine { transitions } else { transitions + 1 }),
            ..self.held_spec(now)
        });
        let replaced = self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await;
        self.outcome(replaced)
    }

    /// The spec of a lease this candidate holds from `now`.
    fn held_spec(&self, now: MicroTime) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(Self::secs(self.cfg.lease_duration)),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }
    }

    /// Creates the lease, held by this candidate.
    async fn create(&mut self, now: MicroTime) -> Result<bool, kube::Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.cfg.name.clone()),
                namespace: Some(self.cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(self.held_spec(now)),
        };
        let created = self.api.create(&PostParams::default(), &lease).await;
        self.outcome(created)
    }

    /// A write won (we hold it), lost to another candidate (conflict), or
    /// failed.
    fn outcome(&mut self, written: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
        match written {
            Ok(lease) => {
                self.observe(&lease);
                Ok(true)
            }
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the lease's namespace is known not to exist (an error
    /// looking it up counts as not known).
    async fn namespace_missing(&self) -> bool {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
            Api::all(self.api.clone().into_client());
        matches!(namespaces.get_opt(&self.cfg.namespace).await, Ok(None))
    }

    fn observe(&mut self, lease: &Lease) {
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        match &self.observed {
            Some((seen, _)) if *seen == rv => {}
            _ => self.observed = Some((rv, Instant::now())),
        }
    }

    /// Returns once this candidate holds the lease. Retries forever, backing
    /// off while the API server is unreachable; fails at once when the
    /// lease's namespace does not exist (retrying cannot help).
    pub async fn acquire(&mut self) -> Result<(), crate::Error> {
        let mut failures: u32 = 0;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.cfg.name, identity = %self.cfg.identity, "acquired the lease");
                    return Ok(());
                }
                // A refusal (404 from creating the Lease, or 403 because no
                // RoleBinding can exist there): is the namespace missing?
                Err(kube::Error::Api(ae))
                    if matches!(ae.code, 403 | 404) && self.namespace_missing().await =>
                {
                    return Err(crate::Error::LeaseNamespaceMissing(
                        self.cfg.namespace.clone(),
                    ));
                }
                Ok(false) => {
                    failures = 0;
                    tokio::time::sleep(self.cfg.retry_interval).await;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = self.cfg.retry_interval * 2u32.saturating_pow(failures.min(4));
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot reach the lease");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Renews the lease until it is lost (someone else holds it, or no
    /// renewal succeeded for `renew_deadline`), then returns.
    pub async fn hold(&mut self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.cfg.renew_interval).await;
            let attempt =
                tokio::time::timeout(self.cfg.renew_deadline, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(true)) => last_renewed = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::warn!(lease = %self.cfg.name, "the lease was taken over");
                    return;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew the lease"),
                Err(_) => tracing::warn!("renewing the lease timed out"),
            }
            if last_renewed.elapsed() >= self.cfg.renew_deadline {
                tracing::warn!(lease = %self.cfg.name, "no renewal within the deadline: giving up leadership");
                return;
            }
        }
    }

    /// Gives the lease up (on shutdown) so another candidate can take over
    /// at once. Best effort.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.cfg.name, "released the lease"),
            Err(e) => tracing::warn!(error = %e, "cannot release the lease"),
        }
    }
}
