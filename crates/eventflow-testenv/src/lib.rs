//! Test helper for the local Kubernetes control plane that `testenv/up` starts
//! (real etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
//! kwok-simulated node; see `docs/DEVELOPMENT.md`, section "testenv").
//!
//! ```no_run
//! # async fn demo() {
//! let client = eventflow_testenv::client().await;
//! let ns = eventflow_testenv::fresh_namespace(&client, "operator").await;
//! // ... create objects in ns.name() ...
//! ns.cleanup().await; // or just drop it
//! # }
//! ```
//!
//! The kubeconfig is `$EVENTFLOW_TESTENV_KUBECONFIG` if set, else
//! `${EVENTFLOW_TESTENV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eventflow/testenv/state}/kubeconfig`,
//! the file `testenv/up` writes. `KUBECONFIG` is deliberately ignored, so tests
//! never run against whatever cluster a developer's shell points at.
//!
//! When testenv is not running, [`client`] panics with a message saying how to
//! start it. It never skips: a test that needs a cluster and silently passes
//! without one proves nothing (with or without `CI` set).
//!
//! ## The simulated node
//!
//! Beside a real kubelet node, testenv has a kwok node (`testenv-node-0`)
//! on which any image "runs" without a container. It carries the taint
//! `kwok.x-k8s.io/node=fake:NoSchedule` ([`SIMULATED_NODE_TAINT_KEY`] and
//! the next constants) and the label `type=kwok` ([`SIMULATED_NODE_LABEL_KEY`],
//! [`SIMULATED_NODE_LABEL_VALUE`]), so real workloads land on the real node.
//! A test whose pods use made-up images (`registry.example/hello:1`,
//! `nginx`, ...) and must reach Running opts in to it:
//!
//! * an operator: [`SIMULATED_NODE_OPERATOR_ARGS`] for `eventflow operator`,
//!   or [`SIMULATED_NODE_TOLERATION`] and [`SIMULATED_NODE_SELECTOR`] (the
//!   same flag values) parsed into the operator's settings;
//! * a pod the test creates itself: [`simulated_node_toleration`] and
//!   [`simulated_node_selector`] in its spec, or [`place_on_simulated_node`].

pub mod prometheus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, PodSpec, ServiceAccount, Taint, Toleration};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Environment variable naming the testenv kubeconfig explicitly.
pub const KUBECONFIG_ENV: &str = "EVENTFLOW_TESTENV_KUBECONFIG";

/// Key of the taint on testenv's simulated (kwok) node.
pub const SIMULATED_NODE_TAINT_KEY: &str = "kwok.x-k8s.io/node";
/// Value of the taint on testenv's simulated node.
pub const SIMULATED_NODE_TAINT_VALUE: &str = "fake";
/// Effect of the taint on testenv's simulated node.
pub const SIMULATED_NODE_TAINT_EFFECT: &str = "NoSchedule";
/// Label key only testenv's simulated nodes carry (with
/// [`SIMULATED_NODE_LABEL_VALUE`]).
pub const SIMULATED_NODE_LABEL_KEY: &str = "type";
/// Value of [`SIMULATED_NODE_LABEL_KEY`] on testenv's simulated nodes.
pub const SIMULATED_NODE_LABEL_VALUE: &str = "kwok";
/// The toleration of the simulated node's taint, as an
/// `eventflow operator --pod-toleration` value (`KEY=VALUE:EFFECT`).
pub const SIMULATED_NODE_TOLERATION: &str = "kwok.x-k8s.io/node=fake:NoSchedule";
/// The simulated node's label, as an `eventflow operator
/// --pod-node-selector` value (`KEY=VALUE`).
pub const SIMULATED_NODE_SELECTOR: &str = "type=kwok";
/// `eventflow operator` flags that put every function pod on the simulated
/// node: tolerate its taint, and require its label (so pods never land on
/// the real node, where made-up images cannot be pulled).
pub const SIMULATED_NODE_OPERATOR_ARGS: [&str; 4] = [
    "--pod-toleration",
    SIMULATED_NODE_TOLERATION,
    "--pod-node-selector",
    SIMULATED_NODE_SELECTOR,
];

/// The toleration of the simulated node's taint, for a pod spec.
pub fn simulated_node_toleration() -> Toleration {
    Toleration {
        key: Some(SIMULATED_NODE_TAINT_KEY.into()),
        operator: Some("Equal".into()),
        value: Some(SIMULATED_NODE_TAINT_VALUE.into()),
        effect: Some(SIMULATED_NODE_TAINT_EFFECT.into()),
        toleration_seconds: None,
    }
}

/// The node selector that only matches simulated nodes, for a pod spec.
pub fn simulated_node_selector() -> BTreeMap<String, String> {
    BTreeMap::from([(
        SIMULATED_NODE_LABEL_KEY.to_string(),
        SIMULATED_NODE_LABEL_VALUE.to_string(),
    )])
}

/// The simulated node's taint, for extra simulated nodes a test adds.
pub fn simulated_node_taint() -> Taint {
    Taint {
        key: SIMULATED_NODE_TAINT_KEY.into(),
        value: Some(SIMULATED_NODE_TAINT_VALUE.into()),
        effect: SIMULATED_NODE_TAINT_EFFECT.into(),
        time_added: None,
    }
}

/// Puts a pod on the simulated node: adds [`simulated_node_toleration`] and
/// [`simulated_node_selector`] to `spec`.
pub fn place_on_simulated_node(spec: &mut PodSpec) {
    spec.tolerations
        .get_or_insert_with(Vec::new)
        .push(simulated_node_toleration());
    spec.node_selector
        .get_or_insert_with(BTreeMap::new)
        .extend(simulated_node_selector());
}

/// How long [`try_client`] waits for the API server to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`fresh_namespace`] waits for the namespace's default ServiceAccount.
const SERVICE_ACCOUNT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the testenv could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig file is missing or unreadable.
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A client could not be built from the kubeconfig.
    #[error("cannot build a client from {path}: {source}")]
    Client {
        path: PathBuf,
        #[source]
        source: kube::Error,
    },
    /// The API server did not answer.
    #[error("API server in {path} is not reachable: {reason}")]
    Unreachable { path: PathBuf, reason: String },
    /// A Kubernetes API call failed.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// The kubeconfig `testenv/up` writes (see the crate docs for the lookup order).
pub fn kubeconfig_path() -> PathBuf {
    if let Some(p) = std::env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let state = match std::env::var_os("EVENTFLOW_TESTENV_DIR").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("eventflow").join("testenv").join("state")
        }
    };
    state.join("kubeconfig")
}

async fn client_from(path: &Path) -> Result<Client, Error> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
        path: path.to_owned(),
        source,
    })?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::Kubeconfig {
            path: path.to_owned(),
            source,
        })?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    // The same client the server and the operator build (HTTP/2).
    eventflow_kube::build_client(config).map_err(|source| Error::Client {
        path: path.to_owned(),
        source,
    })
}

/// A client for the running testenv, or why there is none.
pub async fn try_client() -> Result<Client, Error> {
    let path = kubeconfig_path();
    let client = client_from(&path).await?;
    match tokio::time::timeout(CONNECT_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(e)) => Err(Error::Unreachable {
            path,
            reason: error_chain(&e),
        }),
        Err(_) => Err(Error::Unreachable {
            path,
            reason: format!("no answer within {CONNECT_TIMEOUT:?}"),
        }),
    }
}

/// `e` and its sources, so that "client error (Connect)" says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A client for the running testenv.
///
/// # Panics
/// When testenv is not running or not reachable, with a message that says how
/// to start it. Tests that need a cluster fail rather than skip.
pub async fn client() -> Client {
    match try_client().await {
        Ok(client) => client,
        Err(e) => panic!("{}", not_running_message(&e)),
    }
}

fn not_running_message(e: &Error) -> String {
    let ci = if std::env::var_os("CI").is_some() {
        " (CI is set: .ci/run must start testenv before the tests)"
    } else {
        ""
    };
    format!(
        "testenv is not running: run testenv/up (then `eval \"$(testenv/env)\"` for kubectl), \
         or set {KUBECONFIG_ENV} to its kubeconfig{ci}. Cause: {e}"
    )
}

/// A namespace that exists for one test. Deleted by [`TestNamespace::cleanup`]
/// or, failing that, when dropped.
pub struct TestNamespace {
    client: Client,
    name: String,
    kubeconfig: PathBuf,
    armed: bool,
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

impl TestNamespace {
    /// The generated name, e.g. `operator-x7k2p`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client the namespace was created with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Deletes the namespace now (the server removes its contents in the
    /// background) and disarms the delete-on-drop.
    ///
    /// # Panics
    /// When the delete request fails for a reason other than "already gone".
    pub async fn cleanup(mut self) {
        self.armed = false;
        if let Err(e) = delete_namespace(self.client.clone(), &self.name).await {
            panic!("deleting test namespace {}: {e}", self.name);
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down (its
        // client with it). Delete from a short-lived thread with its own
        // runtime and its own client, and wait for it so nothing leaks.
        let name = std::mem::take(&mut self.name);
        let path = self.kubeconfig.clone();
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = client_from(&path).await.map_err(|e| e.to_string())?;
                delete_namespace(client, &name)
                    .await
                    .map_err(|e| format!("deleting test namespace {name}: {e}"))
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("eventflow-testenv: {e}"),
            Err(_) => eprintln!("eventflow-testenv: namespace cleanup thread panicked"),
        }
    }
}

async fn delete_namespace(client: Client, name: &str) -> Result<(), kube::Error> {
    match Api::<Namespace>::all(client)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates a uniquely named namespace `{prefix}-xxxxx` and waits until pods can
/// be created in it (its default ServiceAccount exists).
///
/// # Panics
/// When the namespace cannot be created (for example, `prefix` is not a valid
/// DNS label prefix) or is not ready in time.
pub async fn fresh_namespace(client: &Client, prefix: &str) -> TestNamespace {
    fresh_namespace_with_labels(client, prefix, BTreeMap::new()).await
}

/// Like [`fresh_namespace`], with labels, for example
/// `pod-security.kubernetes.io/enforce=restricted`.
///
/// # Panics
/// As [`fresh_namespace`].
pub async fn fresh_namespace_with_labels(
    client: &Client,
    prefix: &str,
    labels: BTreeMap<String, String>,
) -> TestNamespace {
    match try_fresh_namespace(client, prefix, labels).await {
        Ok(ns) => ns,
        Err(e) => panic!("creating a test namespace with prefix {prefix:?}: {e}"),
    }
}

/// The fallible form of [`fresh_namespace_with_labels`].
pub async fn try_fresh_namespace(
    client: &Client,
    prefix: &str,
    labels: BTreeMap<String, String>,
) -> Result<TestNamespace, Error> {
    let ns = Namespace {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", prefix.trim_end_matches('-'))),
            labels: Some(labels).filter(|l| !l.is_empty()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let created = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let name = created.metadata.name.unwrap_or_default();
    // From here on the guard owns the namespace, so an early return deletes it.
    let guard = TestNamespace {
        client: client.clone(),
        name,
        kubeconfig: kubeconfig_path(),
        armed: true,
    };
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), &guard.name);
    let deadline = tokio::time::Instant::now() + SERVICE_ACCOUNT_TIMEOUT;
    loop {
        if accounts.get_opt("default").await?.is_some() {
            return Ok(guard);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Timeout(format!(
                "the default ServiceAccount in namespace {} (is kube-controller-manager running?)",
                guard.name
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long [`wait_until_quota_counts`] waits: the quota controller's
/// discovery period (30 s) plus margin.
const QUOTA_COUNT_TIMEOUT: Duration = Duration::from_secs(120);

/// Waits until kube-controller-manager's quota controller computes usage for
/// `resource` (for example `count/functions.eventflow.io`), which it does
/// only after its periodic discovery (every 30 s) has seen the CRD. Until
/// then, creating such an object in a namespace whose ResourceQuota limits
/// it is refused with "status unknown for quota". Tests that install CRDs
/// and at once create tenants call this first.
///
/// It creates a probe ResourceQuota in a fresh namespace, and re-creates it
/// every few seconds (a quota is computed on creation; one created before
/// discovery would wait for the next full resync), until its status shows
/// the resource as used.
///
/// # Panics
/// When the usage is not computed within two minutes.
pub async fn wait_until_quota_counts(client: &Client, resource: &str) {
    use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let ns = fresh_namespace(client, "quota-probe").await;
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), ns.name());
    let deadline = tokio::time::Instant::now() + QUOTA_COUNT_TIMEOUT;
    for attempt in 0u32.. {
        let name = format!("probe-{attempt}");
        let quota = ResourceQuota {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(ResourceQuotaSpec {
                hard: Some(BTreeMap::from([(
                    resource.to_string(),
                    Quantity("1000".into()),
                )])),
                ..ResourceQuotaSpec::default()
            }),
            ..ResourceQuota::default()
        };
        quotas
            .create(&PostParams::default(), &quota)
            .await
            .unwrap_or_else(|e| panic!("creating the quota probe: {e}"));
        for _ in 0..25 {
            let counted = quotas
                .get(&name)
                .await
                .ok()
                .and_then(|q| q.status?.used)
                .is_some_and(|used| used.contains_key(resource));
            if counted {
                ns.cleanup().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = quotas.delete(&name, &DeleteParams::default()).await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "kube-controller-manager did not compute quota usage for {resource} within {QUOTA_COUNT_TIMEOUT:?} (is it running?)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_forms_spell_the_same_taint_and_label() {
        assert_eq!(
            SIMULATED_NODE_TOLERATION,
            format!(
                "{SIMULATED_NODE_TAINT_KEY}={SIMULATED_NODE_TAINT_VALUE}:{SIMULATED_NODE_TAINT_EFFECT}"
            )
        );
        assert_eq!(
            SIMULATED_NODE_SELECTOR,
            format!("{SIMULATED_NODE_LABEL_KEY}={SIMULATED_NODE_LABEL_VALUE}")
        );
        let taint = simulated_node_taint();
        let t = simulated_node_toleration();
        assert_eq!(t.key.as_deref(), Some(taint.key.as_str()));
        assert_eq!(t.value, taint.value);
        assert_eq!(t.effect.as_deref(), Some(taint.effect.as_str()));
    }

    #[test]
    fn placing_a_pod_keeps_what_it_had() {
        let mut spec = PodSpec {
            node_selector: Some(BTreeMap::from([("disk".into(), "ssd".into())])),
            ..PodSpec::default()
        };
        place_on_simulated_node(&mut spec);
        assert_eq!(spec.tolerations, Some(vec![simulated_node_toleration()]));
        assert_eq!(spec.node_selector.unwrap().len(), 2);
    }
}
