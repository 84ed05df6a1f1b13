//! Helpers for the testenv tests: an in-process operator scoped to the test's
//! own objects (by a label), unique tenants, and polling.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventflow_crd::{Function, FunctionSpec, QuotaOverrides, Tenant, TenantSpec};
use eventflow_operator::{Config, LeaseConfig, Metrics, Operator};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rand::Rng;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Label that scopes a test's Tenants/Functions to the test's operator.
pub const SCOPE_LABEL: &str = "eventflow-test/scope";

pub fn suffix() -> String {
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
        .collect()
}

/// Logs to the test output (captured unless --nocapture), filtered by
/// `EVENTFLOW_LOG` (default: warnings).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVENTFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A testenv client, with the EventFlow CRDs installed (idempotent).
pub async fn setup() -> Client {
    init_tracing();
    let client = eventflow_testenv::client().await;
    install_crds(&client).await;
    client
}

pub async fn install_crds(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::CustomResourceExt;
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in [Tenant::crd(), Function::crd()] {
        let name = crd.metadata.name.clone().unwrap();
        api.patch(
            &name,
            &PatchParams::apply("eventflow-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        wait_for(&format!("CRD {name} established"), LONG, || async {
            let c = api.get(&name).await.ok()?;
            c.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await;
    }
}

/// An operator running in this process.
pub struct TestOperator {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<eventflow_operator::Result<()>>,
    pub metrics: Arc<Metrics>,
}

impl TestOperator {
    pub fn config(client: Client, scope: &str) -> Config {
        let mut cfg = Config::new(client);
        cfg.metrics_listen = None;
        cfg.label_selector = Some(format!("{SCOPE_LABEL}={scope}"));
        cfg.concurrency = 4;
        cfg
    }

    pub fn start(client: Client, scope: &str) -> Self {
        Self::start_with(Self::config(client, scope))
    }

    pub fn start_with(cfg: Config) -> Self {
        let op = Operator::new(cfg);
        let metrics = op.metrics();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(op.run(async move {
            let _ = rx.await;
        }));
        Self {
            stop: Some(tx),
            handle,
            metrics,
        }
    }

    /// Graceful stop (SIGTERM-like): controllers stop, the lease is released.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.handle)
            .await
            .expect("operator stops within 20s")
            .expect("operator task")
            .expect("operator result");
    }

    /// Abrupt stop, like a killed process: nothing is released.
    pub fn kill(self) {
        self.handle.abort();
    }
}

pub fn fast_lease(namespace: &str, name: &str, identity: &str) -> LeaseConfig {
    let mut l = LeaseConfig::new(namespace, name, identity);
    l.lease_duration = Duration::from_secs(4);
    l.renew_interval = Duration::from_secs(1);
    l.renew_deadline = Duration::from_secs(3);
    l.retry_interval = Duration::from_millis(500);
    l
}

/// Polls `f` every 250 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub const LONG: Duration = Duration::from_secs(90);

/// A Tenant created for one test, deleted (finalizer stripped, namespace
/// deleted) on drop if the test did not clean up.
pub struct TestTenant {
    pub id: String,
    pub scope: String,
    client: Client,
}

impl TestTenant {
    pub fn namespace(&self) -> String {
        format!("tenant-{}", self.id)
    }

    pub async fn create(client: &Client, scope: &str, quota: Option<QuotaOverrides>) -> Self {
        let id = format!("op{}", suffix());
        let mut t = Tenant::new(
            &id,
            TenantSpec {
                quota,
                limits: None,
            },
        );
        t.metadata.labels = Some(BTreeMap::from([(
            SCOPE_LABEL.to_string(),
            scope.to_string(),
        )]));
        Api::<Tenant>::all(client.clone())
            .create(&PostParams::default(), &t)
            .await
            .expect("create Tenant");
        Self {
            id,
            scope: scope.to_string(),
            client: client.clone(),
        }
    }

    /// Waits until the namespace and its quota exist and the Tenant is Ready.
    pub async fn wait_ready(&self) {
        let quotas: Api<k8s_openapi::api::core::v1::ResourceQuota> =
            Api::namespaced(self.client.clone(), &self.namespace());
        let tenants = Api::<Tenant>::all(self.client.clone());
        wait_for("tenant Ready with its quota", LONG, || async {
            quotas
                .get_opt(eventflow_operator::build::QUOTA_NAME)
                .await
                .ok()
                .flatten()?
                .status?
                .hard?;
            let t = tenants.get(&self.id).await.ok()?;
            (t.status?.phase.as_deref() == Some("Ready")).then_some(())
        })
        .await;
    }

    pub fn function(&self, name: &str, replicas: i32) -> Function {
        let spec = eventflow_core::FunctionSpec::parse(
            eventflow_core::RawFunctionSpec {
                image: Some("registry.example/hello:1".into()),
                replicas: Some(i64::from(replicas)),
                ..Default::default()
            },
            eventflow_core::SpecLimits { max_replicas: 100 },
        )
        .expect("valid spec");
        let mut f = Function::new(name, FunctionSpec::from(&spec));
        f.metadata.namespace = Some(self.namespace());
        f.metadata.labels = Some(BTreeMap::from([(
            SCOPE_LABEL.to_string(),
            self.scope.clone(),
        )]));
        f
    }

    pub fn functions(&self) -> Api<Function> {
        Api::namespaced(self.client.clone(), &self.namespace())
    }

    pub async fn create_function(&self, name: &str, replicas: i32) -> Function {
        self.functions()
            .create(&PostParams::default(), &self.function(name, replicas))
            .await
            .expect("create Function")
    }

    pub async fn set_replicas(&self, name: &str, replicas: i32) {
        self.functions()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
            )
            .await
            .expect("scale Function");
    }

    /// Waits until the function is Running with `replicas` ready.
    pub async fn wait_running(&self, name: &str, replicas: i32) -> Function {
        let api = self.functions();
        wait_for(
            &format!("function {name} Running with {replicas} ready"),
            LONG,
            || async {
                let f = api.get_opt(name).await.ok().flatten()?;
                let s = f.status.clone()?;
                (s.phase == Some(eventflow_crd::Phase::Running)
                    && s.ready_replicas == replicas
                    && s.replicas == replicas
                    && s.observed_generation == f.metadata.generation)
                    .then_some(f)
            },
        )
        .await
    }

    /// Deletes the Tenant (the operator must be running to remove the
    /// finalizer) and waits until it is gone.
    pub async fn delete_and_wait(self) {
        let api = Api::<Tenant>::all(self.client.clone());
        let _ = api.delete(&self.id, &DeleteParams::default()).await;
        wait_for("tenant deleted", LONG, || async {
            matches!(api.get_opt(&self.id).await, Ok(None)).then_some(())
        })
        .await;
        std::mem::forget(self);
    }
}

impl Drop for TestTenant {
    fn drop(&mut self) {
        let id = std::mem::take(&mut self.id);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let client = eventflow_testenv::try_client().await.ok()?;
                force_delete_tenant(&client, &id).await;
                Some(())
            })
        })
        .join();
    }
}

/// Removes a Tenant without an operator: strips the finalizer, deletes the
/// Tenant and its namespace.
pub async fn force_delete_tenant(client: &Client, id: &str) {
    let api = Api::<Tenant>::all(client.clone());
    let _ = api
        .patch(
            id,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
        )
        .await;
    let _ = api.delete(id, &DeleteParams::default()).await;
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&format!("tenant-{id}"), &DeleteParams::background())
        .await;
}
