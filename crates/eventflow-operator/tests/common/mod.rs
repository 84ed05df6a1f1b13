//! Helpers for the testenv tests: an in-process operator scoped to the test's
//! own objects (by a label), unique tenants, and polling.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventflow_crd::{Function, FunctionSpec, QuotaOverrides, Tenant, TenantSpec};
use eventflow_operator::{Config, FunctionSettings, LeaseConfig, Metrics, Operator};
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
    // Tenant quotas count Functions; make sure kube-controller-manager does
    // before a test creates one (see `wait_until_quota_counts`).
    eventflow_testenv::wait_until_quota_counts(client, "count/functions.eventflow.io").await;
}

/// An operator running in this process.
pub struct TestOperator {
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<eventflow_operator::Result<()>>,
    pub metrics: Arc<Metrics>,
}

/// Namespace of the ServiceAccount the tests' operators run as.
pub const OPERATOR_SA_NAMESPACE: &str = "eventflow-optest";
pub const OPERATOR_SA: &str = "operator";
/// The ServiceAccount (in [`OPERATOR_SA_NAMESPACE`]) the tests' operators
/// bind the server's tenant role to, and the tests check as the server.
pub const SERVER_SA: &str = "server";
const RBAC_YAML: &str = include_str!("../../../../deploy/k8s/10-rbac.yaml");
const ADMISSION_YAML: &str = include_str!("../../../../deploy/k8s/15-admission.yaml");

/// deploy/k8s/15-admission.yaml with the tests' ServiceAccounts in place of
/// the shipped ones and the names prefixed `eventflow-tests-`; nothing else
/// changed.
pub fn test_admission_yaml() -> String {
    let yaml = ADMISSION_YAML
        .replace(
            "eventflow-system:eventflow-operator",
            &format!("{OPERATOR_SA_NAMESPACE}:{OPERATOR_SA}"),
        )
        .replace(
            "eventflow-system:eventflow-server",
            &format!("{OPERATOR_SA_NAMESPACE}:{SERVER_SA}"),
        )
        .replace("  name: eventflow-", "  name: eventflow-tests-")
        .replace("policyName: eventflow-", "policyName: eventflow-tests-");
    assert!(
        !yaml.contains("eventflow-system:"),
        "15-admission.yaml names a ServiceAccount the tests do not substitute"
    );
    yaml
}

/// Applies [`test_admission_yaml`]: every write of the tests' operator and
/// server ServiceAccounts goes through the shipped policies.
pub async fn install_admission_policies(admin: &Client) {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    use serde::Deserialize;
    let ssa = PatchParams::apply("eventflow-tests").force();
    let yaml = test_admission_yaml();
    let mut applied = 0;
    for doc in serde_yaml::Deserializer::from_str(&yaml) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        match v.get("kind").and_then(|k| k.as_str()) {
            Some("ValidatingAdmissionPolicy") => {
                let p: ValidatingAdmissionPolicy = serde_yaml::from_value(v).unwrap();
                Api::<ValidatingAdmissionPolicy>::all(admin.clone())
                    .patch(p.metadata.name.as_deref().unwrap(), &ssa, &Patch::Apply(&p))
                    .await
                    .expect("apply shipped ValidatingAdmissionPolicy");
            }
            Some("ValidatingAdmissionPolicyBinding") => {
                let b: ValidatingAdmissionPolicyBinding = serde_yaml::from_value(v).unwrap();
                Api::<ValidatingAdmissionPolicyBinding>::all(admin.clone())
                    .patch(b.metadata.name.as_deref().unwrap(), &ssa, &Patch::Apply(&b))
                    .await
                    .expect("apply shipped ValidatingAdmissionPolicyBinding");
            }
            other => panic!("unexpected kind {other:?} in 15-admission.yaml"),
        }
        applied += 1;
    }
    assert_eq!(applied, 8, "four policies and their bindings");
}

/// A client acting as `user` (impersonation; testenv's admin may impersonate).
pub async fn impersonating(user: &str, sa_namespace: &str) -> Client {
    let kc = kube::config::Kubeconfig::read_from(eventflow_testenv::kubeconfig_path()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    config.auth_info.impersonate = Some(user.to_string());
    config.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{sa_namespace}"),
        "system:authenticated".into(),
    ]);
    eventflow_kube::build_client(config).unwrap()
}

/// Applies the shipped ClusterRoles (deploy/k8s/10-rbac.yaml, as they are)
/// and admission policies ([`install_admission_policies`]), and binds
/// `eventflow-operator` to the tests' operator ServiceAccount.
pub async fn install_operator_rbac(admin: &Client) {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    use serde::Deserialize;
    let ssa = PatchParams::apply("eventflow-tests").force();
    for doc in serde_yaml::Deserializer::from_str(RBAC_YAML) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        if v.get("kind").and_then(|k| k.as_str()) == Some("ClusterRole") {
            let r: ClusterRole = serde_yaml::from_value(v).unwrap();
            Api::<ClusterRole>::all(admin.clone())
                .patch(r.metadata.name.as_deref().unwrap(), &ssa, &Patch::Apply(&r))
                .await
                .expect("apply shipped ClusterRole");
        }
    }
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": OPERATOR_SA_NAMESPACE}
    }))
    .unwrap();
    Api::<Namespace>::all(admin.clone())
        .patch(OPERATOR_SA_NAMESPACE, &ssa, &Patch::Apply(&ns))
        .await
        .expect("apply test namespace");
    let sa: ServiceAccount = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": OPERATOR_SA, "namespace": OPERATOR_SA_NAMESPACE}
    }))
    .unwrap();
    Api::<ServiceAccount>::namespaced(admin.clone(), OPERATOR_SA_NAMESPACE)
        .patch(OPERATOR_SA, &ssa, &Patch::Apply(&sa))
        .await
        .expect("apply operator ServiceAccount");
    let server_sa: ServiceAccount = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": SERVER_SA, "namespace": OPERATOR_SA_NAMESPACE}
    }))
    .unwrap();
    Api::<ServiceAccount>::namespaced(admin.clone(), OPERATOR_SA_NAMESPACE)
        .patch(SERVER_SA, &ssa, &Patch::Apply(&server_sa))
        .await
        .expect("apply server ServiceAccount");
    install_admission_policies(admin).await;
    let crb: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "eventflow-operator-tests"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "eventflow-operator"},
        "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": OPERATOR_SA_NAMESPACE}]
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .patch("eventflow-operator-tests", &ssa, &Patch::Apply(&crb))
        .await
        .expect("apply ClusterRoleBinding");
}

/// Lets the tests' operator ServiceAccount hold leases in `namespace`
/// (the shipped leader-election ClusterRole, bound there).
pub async fn bind_leader_election(admin: &Client, namespace: &str) {
    use k8s_openapi::api::rbac::v1::RoleBinding;
    let rb: RoleBinding = serde_json::from_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "eventflow-operator-leader-election", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "eventflow-operator-leader-election"},
        "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SA, "namespace": OPERATOR_SA_NAMESPACE}]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), namespace)
        .patch(
            "eventflow-operator-leader-election",
            &PatchParams::apply("eventflow-tests").force(),
            &Patch::Apply(&rb),
        )
        .await
        .expect("bind leader election");
}

/// The client the tests' operators use: the operator ServiceAccount under
/// the shipped RBAC (default), or testenv's admin when
/// `EVENTFLOW_OPERATOR_TEST_IDENTITY=admin`.
pub async fn operator_client(admin: &Client) -> Client {
    if std::env::var("EVENTFLOW_OPERATOR_TEST_IDENTITY").as_deref() == Ok("admin") {
        return admin.clone();
    }
    install_operator_rbac(admin).await;
    impersonating(
        &format!("system:serviceaccount:{OPERATOR_SA_NAMESPACE}:{OPERATOR_SA}"),
        OPERATOR_SA_NAMESPACE,
    )
    .await
}

/// Function pods on testenv's simulated (kwok) node: the tests' functions
/// use made-up images (`registry.example/hello:1`) that only "run" there;
/// on the real node they would never pull. The same values as
/// `eventflow operator --pod-toleration … --pod-node-selector …`.
pub fn simulated_node_settings() -> FunctionSettings {
    FunctionSettings::parse(
        &[eventflow_testenv::SIMULATED_NODE_TOLERATION],
        &[eventflow_testenv::SIMULATED_NODE_SELECTOR],
    )
    .expect("testenv's simulated node flags parse")
}

impl TestOperator {
    /// Config for an operator scoped to `scope`, running as the operator
    /// ServiceAccount (see [`operator_client`]).
    pub async fn config(admin: &Client, scope: &str) -> Config {
        Self::config_with_client(operator_client(admin).await, scope)
    }

    /// Every test operator puts function pods on the simulated node
    /// ([`simulated_node_settings`]): the tests wait for made-up images to
    /// run. A test meant for the real node sets `functions` back to the
    /// default.
    pub fn config_with_client(client: Client, scope: &str) -> Config {
        let mut cfg = Config::new(client);
        cfg.metrics_listen = None;
        cfg.functions = simulated_node_settings();
        cfg.label_selector = Some(format!("{SCOPE_LABEL}={scope}"));
        cfg.concurrency = 4;
        cfg.server_account = eventflow_operator::ServiceAccountRef {
            namespace: OPERATOR_SA_NAMESPACE.into(),
            name: SERVER_SA.into(),
        };
        cfg
    }

    pub async fn start(admin: &Client, scope: &str) -> Self {
        Self::start_with(Self::config(admin, scope).await)
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

    /// Whether the operator task has ended (it should not on its own).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
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
            eventflow_core::SpecLimits {
                max_replicas: 100,
                ..Default::default()
            },
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

/// Removes a Tenant without an operator: deletes it, strips the finalizer
/// (after the delete, so no operator can add it back), deletes the namespace.
pub async fn force_delete_tenant(client: &Client, id: &str) {
    let api = Api::<Tenant>::all(client.clone());
    let _ = api.delete(id, &DeleteParams::default()).await;
    let _ = api
        .patch(
            id,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
        )
        .await;
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&format!("tenant-{id}"), &DeleteParams::background())
        .await;
}

impl Drop for TestOperator {
    /// A test that fails mid-way must not leave its operator running.
    fn drop(&mut self) {
        self.handle.abort();
    }
}
