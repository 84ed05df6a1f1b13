//! The shipped RBAC (deploy/k8s/10-rbac.yaml) applied in testenv: the
//! operator runs under its ServiceAccount's identity (impersonation) through
//! the happy path, and `kubectl auth can-i --list` for both ServiceAccounts
//! shows no wildcard and no Secrets.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::Api;

const RBAC: &str = include_str!("../../../deploy/k8s/10-rbac.yaml");

fn shipped_cluster_roles() -> Vec<ClusterRole> {
    serde_yaml::Deserializer::from_str(RBAC)
        .filter_map(|doc| {
            let v = serde_yaml::Value::deserialize(doc).ok()?;
            (v.get("kind")?.as_str()? == "ClusterRole")
                .then(|| serde_yaml::from_value(v).expect("ClusterRole parses"))
        })
        .collect()
}

use serde::Deserialize;

fn subject(ns: &str, name: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        name: name.into(),
        namespace: Some(ns.into()),
        api_group: None,
    }
}

fn role_ref(name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: "ClusterRole".into(),
        name: name.into(),
    }
}

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

#[tokio::test]
async fn operator_runs_under_its_shipped_cluster_role_and_rbac_is_least_privilege() {
    let admin = setup().await;
    let ns = eventflow_testenv::fresh_namespace(&admin, "oprbac").await;
    let scope = suffix();
    // Apply the shipped ClusterRoles as they are.
    let roles = shipped_cluster_roles();
    assert_eq!(roles.len(), 3);
    let cr_api = Api::<ClusterRole>::all(admin.clone());
    for r in &roles {
        cr_api
            .patch(
                r.metadata.name.as_deref().unwrap(),
                &PatchParams::apply("eventflow-tests").force(),
                &Patch::Apply(r),
            )
            .await
            .unwrap();
    }
    let sa_api = Api::<ServiceAccount>::namespaced(admin.clone(), ns.name());
    for name in ["operator", "server"] {
        sa_api
            .create(
                &PostParams::default(),
                &ServiceAccount {
                    metadata: ObjectMeta {
                        name: Some(name.into()),
                        ..ObjectMeta::default()
                    },
                    ..ServiceAccount::default()
                },
            )
            .await
            .unwrap();
    }
    let crb_api = Api::<ClusterRoleBinding>::all(admin.clone());
    let bindings = [
        (
            format!("eventflow-operator-test-{scope}"),
            "eventflow-operator",
            "operator",
        ),
        (
            format!("eventflow-server-test-{scope}"),
            "eventflow-server",
            "server",
        ),
    ];
    for (name, role, sa) in &bindings {
        crb_api
            .create(
                &PostParams::default(),
                &ClusterRoleBinding {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        labels: Some(BTreeMap::from([(SCOPE_LABEL.into(), scope.clone())])),
                        ..ObjectMeta::default()
                    },
                    role_ref: role_ref(role),
                    subjects: Some(vec![subject(ns.name(), sa)]),
                },
            )
            .await
            .unwrap();
    }
    Api::<RoleBinding>::namespaced(admin.clone(), ns.name())
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: ObjectMeta {
                    name: Some("leader-election".into()),
                    ..ObjectMeta::default()
                },
                role_ref: role_ref("eventflow-operator-leader-election"),
                subjects: Some(vec![subject(ns.name(), "operator")]),
            },
        )
        .await
        .unwrap();

    // The operator, as system:serviceaccount:<ns>:operator, with leader election.
    let op_user = format!("system:serviceaccount:{}:operator", ns.name());
    let op_client = impersonating(&op_user, ns.name()).await;
    let mut cfg = TestOperator::config_with_client(op_client, &scope);
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
    tenant.delete_and_wait().await;
    op.stop().await;

    let mut failures: Vec<String> = Vec::new();
    // can-i --list: no wildcard, no secrets, for both ServiceAccounts.
    let srv_user = format!("system:serviceaccount:{}:server", ns.name());
    for user in [&op_user, &srv_user] {
        let as_user = format!("--as={user}");
        let (ok, listing) = kubectl(&["auth", "can-i", "--list", &as_user, "-n", ns.name()]);
        if !ok {
            failures.push(format!("kubectl auth can-i --list failed for {user}"));
        }
        eprintln!("can-i --list {user}:\n{listing}");
        failures.extend(wildcards_or_secrets(&listing, user));
        let (allowed, _) = kubectl(&["auth", "can-i", "get", "secrets", &as_user, "-A"]);
        if allowed {
            failures.push(format!("{user} may read secrets"));
        }
        let (allowed, _) = kubectl(&["auth", "can-i", "create", "clusterrolebindings", &as_user]);
        if allowed {
            failures.push(format!("{user} may create clusterrolebindings"));
        }
    }
    // The server: Tenant/Function CRs, pods and pod logs; nothing else.
    let srv = format!("--as={srv_user}");
    for (verb, resource, sub, expected) in [
        ("create", "tenants.eventflow.io", "", true),
        ("delete", "functions.eventflow.io", "", true),
        ("get", "pods", "", true),
        ("get", "pods", "log", true),
        ("patch", "functions.eventflow.io", "status", false),
        ("create", "deployments.apps", "", false),
        ("create", "namespaces", "", false),
        ("create", "pods", "", false),
        ("create", "pods", "exec", false),
    ] {
        let sub_arg = format!("--subresource={sub}");
        let mut args = vec!["auth", "can-i", verb, resource, srv.as_str(), "-A"];
        if !sub.is_empty() {
            args.push(&sub_arg);
        }
        let (allowed, _) = kubectl(&args);
        if allowed != expected {
            failures.push(format!(
                "server: {verb} {resource} {sub}: allowed={allowed}"
            ));
        }
    }

    for (name, _, _) in &bindings {
        let _ = crb_api.delete(name, &DeleteParams::default()).await;
    }
    ns.cleanup().await;
    assert!(failures.is_empty(), "{failures:#?}");
}
