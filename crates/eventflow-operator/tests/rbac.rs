//! The shipped RBAC (deploy/k8s/10-rbac.yaml) and admission policies
//! (deploy/k8s/15-admission.yaml) applied in testenv: the operator runs
//! under its ServiceAccount's identity (impersonation) through the happy
//! path; both ServiceAccounts can write only in tenant namespaces and the
//! server reads pods and logs only there (`kubectl auth can-i` and dry-run
//! requests as either identity); a pre-existing namespace named like a
//! tenant's is neither adopted nor deleted.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use eventflow_crd::{Tenant, TenantSpec};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};

fn kubectl(args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(eventflow_testenv::kubeconfig_path())
        .args(args)
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// `kubectl auth can-i VERB RESOURCE [--subresource] --as USER (-n NS | -A)`.
fn can_i(user: &str, verb: &str, resource: &str, sub: &str, ns: Option<&str>) -> bool {
    let as_user = format!("--as={user}");
    let sub_arg = format!("--subresource={sub}");
    let mut args = vec!["auth", "can-i", verb, resource, as_user.as_str()];
    match ns {
        Some(ns) => args.extend(["-n", ns]),
        None => args.push("-A"),
    }
    if !sub.is_empty() {
        args.push(&sub_arg);
    }
    kubectl(&args).0
}

/// Resource rules (not non-resource URLs) of `can-i --list` that contain a
/// wildcard or Secrets.
fn wildcards_or_secrets(listing: &str, who: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for line in listing.lines().skip(1) {
        let resource = line.split_whitespace().next().unwrap_or_default();
        if resource.is_empty() || line.trim_start().starts_with('[') {
            continue; // non-resource URLs (discovery), granted to everyone
        }
        if line.contains('*') || resource.starts_with("secrets") {
            bad.push(format!("{who}: {line}"));
        }
    }
    bad
}

fn user(sa: &str) -> String {
    format!("system:serviceaccount:{OPERATOR_SA_NAMESPACE}:{sa}")
}

/// Binds the shipped `eventflow-server` ClusterRole to the tests' server
/// ServiceAccount (as deploy/k8s/10-rbac.yaml binds it to the real one).
async fn bind_server(admin: &Client) {
    let crb: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "eventflow-server-tests"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "eventflow-server"},
        "subjects": [{"kind": "ServiceAccount", "name": SERVER_SA, "namespace": OPERATOR_SA_NAMESPACE}]
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .patch(
            "eventflow-server-tests",
            &PatchParams::apply("eventflow-tests").force(),
            &Patch::Apply(&crb),
        )
        .await
        .expect("bind the server's ClusterRole");
}

fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: ns.map(Into::into),
        ..ObjectMeta::default()
    }
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

/// The outcome of one write, for the failure list: `Ok` when allowed, the
/// API's message when refused.
fn outcome<T>(r: Result<T, kube::Error>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(s.message),
        Err(e) => panic!("unexpected error (not a refusal): {e}"),
    }
}

/// Records a failure unless `r` was refused by one of the shipped
/// admission policies (not merely by RBAC).
fn expect_policy_denial(what: &str, r: Result<(), String>, failures: &mut Vec<String>) {
    match r {
        Ok(()) => failures.push(format!("{what}: allowed")),
        Err(m) if m.contains("ValidatingAdmissionPolicy 'eventflow-tests-") => {}
        Err(m) => failures.push(format!("{what}: refused, but not by the policy: {m}")),
    }
}

fn deployment(name: &str, ns: &str) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/x:1"}]}
            }
        }
    }))
    .unwrap()
}

fn server_binding(ns: &str, role: &str, sa: &str) -> RoleBinding {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "probe", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": OPERATOR_SA_NAMESPACE}]
    }))
    .unwrap()
}

/// Dry-run writes as the operator: refused by the policies outside tenant
/// namespaces, allowed inside (so the refusals are the policies', not a
/// blanket denial).
async fn operator_writes(op: &Client, tenant_ns: &str, other_ns: &str, failures: &mut Vec<String>) {
    let deployments = |ns: &str| Api::<Deployment>::namespaced(op.clone(), ns);
    for ns in ["kube-system", "default", other_ns] {
        let r = deployments(ns)
            .create(&dry_run(), &deployment("probe", ns))
            .await;
        expect_policy_denial(
            &format!("operator creates a Deployment in {ns}"),
            outcome(r),
            failures,
        );
    }
    let r = Api::<Service>::namespaced(op.clone(), "default")
        .delete(
            "kubernetes",
            &DeleteParams {
                dry_run: true,
                ..DeleteParams::default()
            },
        )
        .await;
    expect_policy_denial(
        "operator deletes Service default/kubernetes",
        outcome(r),
        failures,
    );
    let namespaces = Api::<Namespace>::all(op.clone());
    let r = namespaces
        .create(
            &dry_run(),
            &Namespace {
                metadata: meta("not-a-tenant", None),
                ..Namespace::default()
            },
        )
        .await;
    expect_policy_denial(
        "operator creates namespace not-a-tenant",
        outcome(r),
        failures,
    );
    // Labels that make it look like a tenant's, on the wrong name.
    let fake: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "tenant-x", "labels": {
            "app.kubernetes.io/managed-by": "eventflow", "eventflow.io/tenant": "y"}}
    }))
    .unwrap();
    let r = namespaces.create(&dry_run(), &fake).await;
    expect_policy_denial(
        "operator creates tenant-x labelled for tenant y",
        outcome(r),
        failures,
    );
    let r = namespaces
        .patch(
            other_ns,
            &PatchParams {
                dry_run: true,
                ..PatchParams::default()
            },
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {
                "app.kubernetes.io/managed-by": "eventflow", "eventflow.io/tenant": "x"}}})),
        )
        .await;
    expect_policy_denial(
        &format!("operator labels {other_ns} as a tenant's"),
        outcome(r),
        failures,
    );
    for ns in [other_ns, OPERATOR_SA_NAMESPACE] {
        let r = namespaces
            .delete(
                ns,
                &DeleteParams {
                    dry_run: true,
                    ..DeleteParams::default()
                },
            )
            .await;
        expect_policy_denial(
            &format!("operator deletes namespace {ns}"),
            outcome(r),
            failures,
        );
    }
    let bindings = |ns: &str| Api::<RoleBinding>::namespaced(op.clone(), ns);
    let r = bindings(tenant_ns)
        .create(
            &dry_run(),
            &server_binding(tenant_ns, "eventflow-server-tenant", OPERATOR_SA),
        )
        .await;
    expect_policy_denial(
        "operator binds the server's tenant role to itself",
        outcome(r),
        failures,
    );
    let r = bindings("kube-system")
        .create(
            &dry_run(),
            &server_binding("kube-system", "eventflow-server-tenant", SERVER_SA),
        )
        .await;
    expect_policy_denial(
        "operator binds the server's tenant role in kube-system",
        outcome(r),
        failures,
    );
    let r = bindings(tenant_ns)
        .create(&dry_run(), &server_binding(tenant_ns, "admin", SERVER_SA))
        .await;
    if outcome(r).is_ok() {
        failures.push("operator binds ClusterRole admin in a tenant namespace: allowed".into());
    }
    // Inside the tenant namespace the same kinds of writes are allowed.
    let allowed = [
        (
            "Deployment",
            outcome(
                deployments(tenant_ns)
                    .create(&dry_run(), &deployment("probe", tenant_ns))
                    .await,
            ),
        ),
        (
            "server RoleBinding",
            outcome(
                bindings(tenant_ns)
                    .create(
                        &dry_run(),
                        &server_binding(tenant_ns, "eventflow-server-tenant", SERVER_SA),
                    )
                    .await,
            ),
        ),
        (
            "ServiceAccount",
            outcome(
                Api::<ServiceAccount>::namespaced(op.clone(), tenant_ns)
                    .create(
                        &dry_run(),
                        &ServiceAccount {
                            metadata: meta("probe", None),
                            ..ServiceAccount::default()
                        },
                    )
                    .await,
            ),
        ),
    ];
    for (what, r) in allowed {
        if let Err(m) = r {
            failures.push(format!(
                "operator may not create a {what} in its tenant namespace: {m}"
            ));
        }
    }
}

/// The server: reads pods and logs only in tenant namespaces (through the
/// operator's RoleBinding), writes Functions only there.
async fn server_access(tenant: &TestTenant, other_ns: &str, failures: &mut Vec<String>) {
    let srv = user(SERVER_SA);
    let tenant_ns = tenant.namespace();
    let ns = Some(tenant_ns.as_str());
    for (verb, resource, sub, where_, expected) in [
        ("get", "pods", "log", ns, true),
        ("list", "pods", "", ns, true),
        ("get", "pods", "log", Some("kube-system"), false),
        ("list", "pods", "", Some("kube-system"), false),
        ("get", "pods", "log", None, false),
        ("list", "pods", "", None, false),
        ("create", "tenants.eventflow.io", "", None, true),
        ("delete", "functions.eventflow.io", "", ns, true),
        ("patch", "functions.eventflow.io", "status", ns, false),
        ("create", "deployments.apps", "", ns, false),
        ("create", "namespaces", "", None, false),
        ("create", "pods", "", ns, false),
        ("create", "pods", "exec", ns, false),
        ("get", "secrets", "", ns, false),
        ("list", "secrets", "", ns, false),
    ] {
        let allowed = can_i(&srv, verb, resource, sub, where_);
        if allowed != expected {
            failures.push(format!(
                "server: {verb} {resource} {sub} in {}: allowed={allowed}",
                where_.unwrap_or("all namespaces")
            ));
        }
    }
    let server = impersonating(&srv, OPERATOR_SA_NAMESPACE).await;
    let mut f = tenant.function("probe", 1);
    f.metadata.namespace = Some(other_ns.into());
    let r = Api::<eventflow_crd::Function>::namespaced(server.clone(), other_ns)
        .create(&dry_run(), &f)
        .await;
    expect_policy_denial(
        &format!("server creates a Function in {other_ns}"),
        outcome(r),
        failures,
    );
    // The pull Secret and the tenant's secrets (eventflow-secret-*, Opaque):
    // those names and types, in tenant namespaces only.
    let apply_typed = |ns: &str, name: &str, type_: &str| {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "type": type_,
            "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}
        }))
        .unwrap();
        let api = Api::<Secret>::namespaced(server.clone(), ns);
        let name = name.to_string();
        async move {
            let pp = PatchParams {
                dry_run: true,
                ..PatchParams::apply("eventflow-api").force()
            };
            api.patch(&name, &pp, &Patch::Apply(&secret)).await
        }
    };
    let apply = |ns: &str, name: &str| apply_typed(ns, name, "kubernetes.io/dockerconfigjson");
    if let Err(m) = outcome(apply_typed(&tenant_ns, "eventflow-secret-db", "Opaque").await) {
        failures.push(format!("server may not write a tenant's secret: {m}"));
    }
    for (ns, name, type_) in [
        (
            tenant_ns.as_str(),
            "eventflow-secret-db",
            "kubernetes.io/dockerconfigjson",
        ),
        (tenant_ns.as_str(), "other", "Opaque"),
        (other_ns, "eventflow-secret-db", "Opaque"),
    ] {
        if outcome(apply_typed(ns, name, type_).await).is_ok() {
            failures.push(format!(
                "server writes Secret {name} ({type_}) in {ns}: allowed"
            ));
        }
    }
    if let Err(m) = outcome(apply(&tenant_ns, eventflow_crd::PULL_SECRET).await) {
        failures.push(format!("server may not write the pull Secret: {m}"));
    }
    let r = apply(&tenant_ns, "other").await;
    if outcome(r).is_ok() {
        failures.push("server writes Secret other in a tenant namespace: allowed".into());
    }
    for ns in [other_ns, "kube-system"] {
        let r = apply(ns, eventflow_crd::PULL_SECRET).await;
        if outcome(r).is_ok() {
            failures.push(format!("server writes the pull Secret in {ns}: allowed"));
        }
    }
    let f = tenant.function("probe", 1);
    let r = Api::<eventflow_crd::Function>::namespaced(server, &tenant_ns)
        .create(&dry_run(), &f)
        .await;
    if let Err(m) = outcome(r) {
        failures.push(format!(
            "server may not create a Function in its tenant namespace: {m}"
        ));
    }
}

#[tokio::test]
async fn operator_and_server_are_confined_to_tenant_namespaces_by_the_shipped_rbac_and_policies() {
    let admin = setup().await;
    let op_client = operator_client(&admin).await; // shipped RBAC + policies
    bind_server(&admin).await;
    let ns = eventflow_testenv::fresh_namespace(&admin, "oprbac").await;
    bind_leader_election(&admin, ns.name()).await;
    let scope = suffix();
    let mut cfg = TestOperator::config_with_client(op_client.clone(), &scope);
    cfg.lease = Some(fast_lease(ns.name(), "eventflow-operator", "rbac"));
    let op = TestOperator::start_with(cfg);
    wait_for("operator leads under its RBAC", LONG, || async {
        op.metrics.is_leader().then_some(())
    })
    .await;
    let tenant = TestTenant::create(&admin, &scope, None).await;
    tenant.wait_ready().await;
    tenant.create_function("hello", 2).await;
    tenant.wait_running("hello", 2).await;
    tenant.set_replicas("hello", 1).await;
    tenant.wait_running("hello", 1).await;

    let mut failures: Vec<String> = Vec::new();
    operator_writes(&op_client, &tenant.namespace(), ns.name(), &mut failures).await;
    server_access(&tenant, ns.name(), &mut failures).await;

    tenant.delete_and_wait().await;
    op.stop().await;

    // can-i --list: no wildcard, no secrets, for both ServiceAccounts.
    for who in [user(OPERATOR_SA), user(SERVER_SA)] {
        let as_user = format!("--as={who}");
        let (ok, listing) = kubectl(&["auth", "can-i", "--list", &as_user, "-n", ns.name()]);
        if !ok {
            failures.push(format!("kubectl auth can-i --list failed for {who}"));
        }
        eprintln!("can-i --list {who}:\n{listing}");
        failures.extend(wildcards_or_secrets(&listing, &who));
        if can_i(&who, "get", "secrets", "", None) {
            failures.push(format!("{who} may read secrets"));
        }
        if can_i(&who, "create", "clusterrolebindings", "", None) {
            failures.push(format!("{who} may create clusterrolebindings"));
        }
    }
    ns.cleanup().await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The operator's own rule, not only the admission policy: it runs as
/// testenv's admin here, which no policy restricts.
#[tokio::test]
async fn a_pre_existing_namespace_named_like_a_tenant_is_neither_adopted_nor_deleted() {
    let admin = setup().await;
    let scope = suffix();
    let op = TestOperator::start_with(TestOperator::config_with_client(admin.clone(), &scope));
    let id = format!("op{}", suffix());
    let ns_name = format!("tenant-{id}");
    let namespaces = Api::<Namespace>::all(admin.clone());
    let mut existing = Namespace {
        metadata: meta(&ns_name, None),
        ..Namespace::default()
    };
    existing.metadata.labels = Some(BTreeMap::from([("team".into(), "someone-else".into())]));
    namespaces
        .create(&PostParams::default(), &existing)
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), &ns_name)
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: meta("precious", None),
                ..ConfigMap::default()
            },
        )
        .await
        .unwrap();

    let mut t = Tenant::new(&id, TenantSpec::default());
    t.metadata.labels = Some(BTreeMap::from([(SCOPE_LABEL.into(), scope.clone())]));
    let tenants = Api::<Tenant>::all(admin.clone());
    tenants.create(&PostParams::default(), &t).await.unwrap();
    let status = wait_for("tenant Failed/NamespaceTaken", LONG, || async {
        let s = tenants.get(&id).await.ok()?.status?;
        (s.phase.as_deref() == Some("Failed")).then_some(s)
    })
    .await;
    let condition = &status.conditions[0];
    assert_eq!(condition.reason, "NamespaceTaken");
    assert!(
        condition.message.contains(&ns_name),
        "{}",
        condition.message
    );
    let ns = namespaces.get(&ns_name).await.unwrap();
    let labels = ns.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("someone-else"));
    assert!(
        !labels.contains_key(eventflow_crd::TENANT_LABEL),
        "adopted: {labels:?}"
    );
    assert!(
        ns.metadata.owner_references.is_none(),
        "adopted: {:?}",
        ns.metadata.owner_references
    );
    let quotas = Api::<ResourceQuota>::namespaced(admin.clone(), &ns_name);
    assert!(quotas
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());

    // Deleting the Tenant leaves the namespace alone.
    tenants.delete(&id, &DeleteParams::default()).await.unwrap();
    wait_for("tenant deleted", LONG, || async {
        matches!(tenants.get_opt(&id).await, Ok(None)).then_some(())
    })
    .await;
    let ns = namespaces.get(&ns_name).await.unwrap();
    assert!(
        ns.metadata.deletion_timestamp.is_none(),
        "the namespace is being deleted"
    );
    Api::<ConfigMap>::namespaced(admin.clone(), &ns_name)
        .get("precious")
        .await
        .expect("its ConfigMap is still there");
    op.stop().await;
    namespaces
        .delete(&ns_name, &DeleteParams::background())
        .await
        .unwrap();
}
