//! EventFlow's operator: turns `Tenant` and `Function` custom resources into
//! isolated namespaces and running workloads.
//!
//! * [`tenant`]: `Tenant` (cluster-scoped) → Namespace `tenant-{id}` with
//!   restricted Pod Security labels, ResourceQuota, LimitRange and
//!   NetworkPolicies; a finalizer deletes the namespace.
//! * [`function`]: `Function` (namespaced) → ServiceAccount, Deployment,
//!   Service and optional HPA `fn-{name}`, and the Function's status.
//! * [`build`]: the desired objects, built by pure functions.
//! * [`cache`]: what the Function controller reads from its watches (its
//!   children, its pods) and what it last applied, so that an unchanged
//!   Function costs the API server nothing.
//! * `children` (internal): the kinds each CR owns, listed once; the
//!   watches, the Function's applier and the orphan sweep derive from them.
//! * `reconcile` (internal): what both controllers share: the run loop,
//!   the timing of each reconcile, the status write.
//! * [`placement`]: the tolerations and node selector the operator may add
//!   to function pods (`--pod-toleration`, `--pod-node-selector`).
//! * [`service_ip`]: the ClusterIPs of function Services, picked by the
//!   operator in the cluster's Service range (`--service-ips`).
//! * [`cli`]: the flags of `eventflow-operator` and `eventflow operator`.
//! * [`leader`]: leader election on a Lease; only the holder runs controllers.
//! * [`metrics`]: Prometheus metrics, `/metrics` and `/healthz`.
//!
//! Every object is applied with server-side apply under one field manager,
//! [`FIELD_MANAGER`], with `force`, and owned by its CR through an
//! ownerReference. See `docs/OPERATOR.md`.

pub mod build;
pub mod cache;
mod children;
pub mod cli;
mod error;
pub mod function;
pub mod leader;
pub mod metrics;
pub mod placement;
mod reconcile;
pub mod service_ip;
pub mod status;
pub mod tenant;
#[cfg(test)]
mod testing;
pub mod validate;

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{FutureExt, Shared};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

pub use build::{FunctionSettings, NetworkSettings, ServiceAccountRef};
pub use error::{Error, Result};
pub use leader::LeaseConfig;
pub use metrics::Metrics;
pub use placement::{NodeSelectorLabel, PlacementError, PodToleration, TaintEffect};
pub use service_ip::{ServiceIpMode, ServiceIps};

/// The one server-side-apply field manager of every object the operator writes.
pub const FIELD_MANAGER: &str = "eventflow-operator";

/// How the operator runs.
#[derive(Clone)]
pub struct Config {
    pub client: Client,
    /// Where `/metrics` and `/healthz` listen; `None`: no listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Leader election; `None`: run the controllers unconditionally.
    pub lease: Option<LeaseConfig>,
    pub network: NetworkSettings,
    /// Tolerations and node selector of function pods (default: none).
    pub functions: FunctionSettings,
    /// Only reconcile Tenants and Functions matching this label selector
    /// (default: all). Lets several operators share a cluster, as the tests do.
    pub label_selector: Option<String>,
    /// Reconciliations run at once per controller.
    pub concurrency: u16,
    /// The server's ServiceAccount, bound in every tenant namespace to
    /// read that tenant's pods and logs (default
    /// `eventflow-system/eventflow-server`).
    pub server_account: ServiceAccountRef,
    /// Where function Services' ClusterIPs come from (default: picked in
    /// the dynamic band of the cluster's ServiceCIDR `kubernetes`).
    pub service_ips: ServiceIpMode,
}

impl Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("metrics_listen", &self.metrics_listen)
            .field("lease", &self.lease)
            .field("network", &self.network)
            .field("functions", &self.functions)
            .field("label_selector", &self.label_selector)
            .field("server_account", &self.server_account)
            .field("service_ips", &self.service_ips)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults: metrics on 127.0.0.1:9090, no leader election, platform
    /// namespace `eventflow-system`, no tolerations or node selector on
    /// function pods, all objects, 8 concurrent reconciles, ClusterIPs
    /// picked in the cluster's Service range.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9090))),
            lease: None,
            network: NetworkSettings::default(),
            functions: FunctionSettings::default(),
            label_selector: None,
            concurrency: 8,
            server_account: ServiceAccountRef::default(),
            service_ips: ServiceIpMode::default(),
        }
    }
}

/// State shared by the reconcilers.
pub struct Context {
    pub client: Client,
    pub network: NetworkSettings,
    pub functions: FunctionSettings,
    pub metrics: Arc<Metrics>,
    /// See [`Config::server_account`].
    pub server_account: ServiceAccountRef,
    /// Where the operator picks function Services' ClusterIPs; `None`: the
    /// API server allocates them (see [`service_ip`]).
    pub service_ips: Option<ServiceIps>,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        network: NetworkSettings,
        functions: FunctionSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            client,
            network,
            functions,
            metrics,
            server_account: ServiceAccountRef::default(),
            service_ips: None,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The same context picking function ClusterIPs from `ips`.
    pub fn with_service_ips(mut self, ips: Option<ServiceIps>) -> Self {
        self.service_ips = ips;
        self
    }

    /// The same context with another server ServiceAccount.
    pub fn with_server_account(mut self, account: ServiceAccountRef) -> Self {
        self.server_account = account;
        self
    }

    fn key<K: Resource>(controller: &str, obj: &K) -> String {
        format!(
            "{controller}/{}/{}",
            obj.meta().namespace.as_deref().unwrap_or(""),
            obj.meta().name.as_deref().unwrap_or("")
        )
    }

    fn succeeded<K: Resource>(&self, controller: &str, obj: &K) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(&Self::key(controller, obj));
        }
    }

    /// `error_policy`: permanent errors wait for the object to change;
    /// transient ones retry with exponential backoff (1 s doubling to 5 min).
    pub fn error_policy<K: Resource>(&self, controller: &str, obj: &K, err: &Error) -> Action {
        self.metrics.failed(controller, err.kind());
        if err.is_permanent() {
            tracing::warn!(controller, object = %Self::key(controller, obj), error = %err, "permanent error: waiting for a change");
            return Action::await_change();
        }
        let n = match self.failures.lock() {
            Ok(mut f) => {
                let n = f.entry(Self::key(controller, obj)).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        let delay =
            Duration::from_secs(1u64 << n.saturating_sub(1).min(8)).min(Duration::from_secs(300));
        tracing::info!(controller, object = %Self::key(controller, obj), error = %err, retry_in = ?delay, "reconcile failed");
        Action::requeue(delay)
    }
}

/// A future that resolves when the controllers should stop.
pub type StopSignal =
    Shared<futures::future::Map<oneshot::Receiver<()>, fn(Result<(), oneshot::error::RecvError>)>>;

fn stop_signal() -> (oneshot::Sender<()>, StopSignal) {
    let (tx, rx) = oneshot::channel();
    let ignore: fn(Result<(), oneshot::error::RecvError>) = |_| {};
    (tx, rx.map(ignore).shared())
}

/// Server-side apply of a complete desired object, with the operator's
/// field manager and `force` (the operator owns these fields).
pub(crate) async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K, kube::Error>
where
    K: Resource + Serialize + DeserializeOwned + Clone + Debug,
{
    api.patch(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
}

/// RFC 3339 "now" for condition transition times.
pub(crate) fn now() -> String {
    k8s_openapi::chrono::Utc::now().to_rfc3339_opts(k8s_openapi::chrono::SecondsFormat::Secs, true)
}

/// The operator: controllers, leader election and the admin listener.
pub struct Operator {
    config: Config,
    metrics: Arc<Metrics>,
}

impl Operator {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// The operator's metrics (also served on `/metrics`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Runs until `shutdown` resolves: takes the lease (if configured), runs
    /// both controllers while holding it, stops them when it is lost and
    /// competes again; on shutdown stops the controllers (letting running
    /// reconciles finish) and releases the lease.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let Operator { config, metrics } = self;
        let admin = Admin::start(config.metrics_listen, metrics.clone()).await?;
        let ctx = Arc::new(
            Context::new(
                config.client.clone(),
                config.network.clone(),
                config.functions.clone(),
                metrics,
            )
            .with_server_account(config.server_account.clone())
            .with_service_ips(ServiceIps::resolve(&config.service_ips, &config.client).await),
        );
        let mut elector = config
            .lease
            .clone()
            .map(|l| leader::LeaderElector::new(config.client.clone(), l));
        let mut shutdown = std::pin::pin!(shutdown);
        let mut failed = None;
        loop {
            if let Some(e) = elector.as_mut() {
                tokio::select! {
                    _ = &mut shutdown => break,
                    acquired = e.acquire() => if let Err(err) = acquired {
                        failed = Some(err);
                        break;
                    },
                }
            }
            match lead(&config, &ctx, elector.as_mut(), shutdown.as_mut()).await {
                Stop::Shutdown => break,
                Stop::LostLease => {
                    tracing::warn!("lost leadership: controllers stopped, competing again");
                }
                Stop::Ended => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
        if let Some(e) = elector.as_mut() {
            e.release().await;
        }
        admin.stop().await;
        tracing::info!("operator stopped");
        failed.map_or(Ok(()), Err)
    }
}

/// The `/metrics` and `/healthz` listener, when one is configured.
struct Admin {
    stop: oneshot::Sender<()>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Admin {
    async fn start(listen: Option<SocketAddr>, metrics: Arc<Metrics>) -> Result<Self> {
        let (stop, admin_stop) = stop_signal();
        let task = match listen {
            Some(addr) => {
                let listener = metrics::bind(addr).await?;
                tracing::info!(addr = %listener.local_addr().map_err(|source| Error::Listen { addr, source })?, "metrics and health listening");
                let app = metrics::router(metrics);
                Some(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(admin_stop)
                        .await
                    {
                        tracing::error!(error = %e, "admin listener failed");
                    }
                }))
            }
            None => None,
        };
        Ok(Self { stop, task })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

/// Why the controllers stopped: shutdown, lost lease, or they ended on their
/// own (a panic in a reconciler): then they are restarted.
enum Stop {
    Shutdown,
    LostLease,
    Ended,
}

/// One term of running the controllers (while holding the lease, if there is
/// an `elector`): until shutdown, a lost lease or their unexpected end; then
/// stops them, letting running reconciles finish (5 s at most).
async fn lead<S: Future<Output = ()>>(
    config: &Config,
    ctx: &Arc<Context>,
    elector: Option<&mut leader::LeaderElector>,
    mut shutdown: std::pin::Pin<&mut S>,
) -> Stop {
    ctx.metrics.set_leader(true);
    let (stop_tx, stop) = stop_signal();
    let mut controllers = tokio::spawn(run_controllers(
        ctx.clone(),
        config.label_selector.clone(),
        config.concurrency,
        stop,
    ));
    let why = match elector {
        Some(e) => tokio::select! {
            _ = &mut shutdown => Stop::Shutdown,
            _ = e.hold() => Stop::LostLease,
            r = &mut controllers => {
                tracing::error!(result = ?r.err(), "controllers ended unexpectedly");
                Stop::Ended
            }
        },
        None => tokio::select! {
            _ = &mut shutdown => Stop::Shutdown,
            r = &mut controllers => {
                tracing::error!(result = ?r.err(), "controllers ended unexpectedly");
                Stop::Ended
            }
        },
    };
    let _ = stop_tx.send(());
    if !matches!(why, Stop::Ended)
        && tokio::time::timeout(Duration::from_secs(5), &mut controllers)
            .await
            .is_err()
    {
        tracing::warn!("controllers did not stop in time: aborting them");
        controllers.abort();
    }
    ctx.metrics.set_leader(false);
    why
}

/// How often a missing CRD is looked for again.
const CRD_POLL: Duration = Duration::from_secs(5);

/// Waits until the API server serves both EventFlow resources (`Tenant`,
/// `Function`), checking every `poll`. Without this, controllers started
/// before `kubectl apply -f deploy/crds/` only log kube's "404 page not
/// found" and back off. Errors other than 404 (API server away) do not
/// wait here: the controllers ride those out themselves. Returns `false`
/// when `stop` resolves first.
pub async fn wait_for_crds(
    client: &Client,
    poll: Duration,
    stop: impl Future<Output = ()>,
) -> bool {
    let mut stop = std::pin::pin!(stop);
    let lp = kube::api::ListParams::default().limit(1);
    let mut polls = 0u32;
    loop {
        // Raced against `stop`: a hung API server must not delay shutdown.
        let probe = async {
            let tenants = Api::<eventflow_crd::Tenant>::all(client.clone())
                .list_metadata(&lp)
                .await;
            let functions = Api::<eventflow_crd::Function>::all(client.clone())
                .list_metadata(&lp)
                .await;
            (tenants, functions)
        };
        let (tenants, functions) = tokio::select! {
            _ = &mut stop => return false,
            r = probe => r,
        };
        let missing: Vec<&str> = [
            ("tenants.eventflow.io", tenants.err()),
            ("functions.eventflow.io", functions.err()),
        ]
        .into_iter()
        .filter_map(|(name, e)| e.filter(eventflow_kube::is_not_found).map(|_| name))
        .collect();
        if missing.is_empty() {
            if polls > 0 {
                tracing::info!("EventFlow CRDs are installed now");
            }
            return true;
        }
        if polls.is_multiple_of(12) {
            tracing::warn!(
                missing = ?missing,
                "the EventFlow CRDs are not installed; waiting for them (install with `eventflow crds | kubectl apply --server-side -f -` or deploy/crds/eventflow.io.yaml)"
            );
        }
        polls += 1;
        tokio::select! {
            _ = &mut stop => return false,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

async fn run_controllers(
    ctx: Arc<Context>,
    selector: Option<String>,
    concurrency: u16,
    stop: StopSignal,
) {
    if !wait_for_crds(&ctx.client, CRD_POLL, stop.clone()).await {
        return;
    }
    tracing::info!("starting the Tenant and Function controllers");
    futures::join!(
        tenant::run(ctx.clone(), selector.clone(), concurrency, stop.clone()),
        function::run(ctx, selector, concurrency, stop),
    );
    tracing::info!("controllers stopped");
}

/// A client from `kubeconfig`, else inferred (`KUBECONFIG`, `~/.kube/config`,
/// in-cluster ServiceAccount). Does not contact the API server.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<Client> {
    Ok(eventflow_kube::client(kubeconfig).await?)
}

/// Runs the operator until SIGTERM/Ctrl-C. What [`cli::run`] calls.
pub async fn run(config: Config) -> Result<()> {
    Operator::new(config)
        .run(eventflow_kube::shutdown_signal())
        .await
}
