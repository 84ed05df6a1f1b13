//! The shipped manifests: RBAC without wildcards or Secrets; the platform's
//! own workloads pass the restricted Pod Security profile (checked by the
//! real admission plugin in testenv with dry-run pods); the Helm chart's CRDs
//! equal deploy/crds.

mod common;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use serde::Deserialize;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn docs(path: &str) -> Vec<serde_yaml::Value> {
    let text =
        std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn k8s_docs() -> Vec<serde_yaml::Value> {
    let mut names: Vec<_> = std::fs::read_dir(format!("{ROOT}/deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|n| docs(&format!("deploy/k8s/{n}")))
        .collect()
}

fn kind(v: &serde_yaml::Value) -> &str {
    v.get("kind").and_then(|k| k.as_str()).unwrap_or_default()
}

#[test]
fn cluster_roles_have_no_wildcards_and_read_no_secrets() {
    let roles: Vec<ClusterRole> = k8s_docs()
        .into_iter()
        .filter(|d| kind(d) == "ClusterRole")
        .map(|d| serde_yaml::from_value(d).unwrap())
        .collect();
    assert_eq!(roles.len(), 4);
    for r in roles {
        let name = r.metadata.name.clone().unwrap();
        assert_ne!(name, "cluster-admin");
        for rule in r.rules.unwrap() {
            let all = rule
                .api_groups
                .iter()
                .flatten()
                .chain(rule.resources.iter().flatten())
                .chain(rule.verbs.iter());
            for s in all {
                assert!(!s.contains('*'), "{name}: wildcard {s}");
            }
            // Secrets: only the server's, in tenant namespaces, written
            // (create, patch, delete), never read; the admission policy
            // limits the names and types.
            for res in rule.resources.iter().flatten() {
                if res.starts_with("secrets") {
                    assert_eq!(name, "eventflow-server-tenant", "{name}: {res}");
                    assert_eq!(res, "secrets");
                    assert_eq!(rule.verbs, ["create", "patch", "delete"], "{name}");
                }
            }
            assert!(rule.non_resource_urls.is_none(), "{name}");
            // Privilege-granting verbs only on named objects: the operator
            // may bind the server's tenant role and nothing else.
            for verb in ["bind", "escalate", "impersonate"] {
                if rule.verbs.iter().any(|v| v == verb) {
                    assert_eq!(
                        rule.resource_names.as_deref(),
                        Some(&["eventflow-server-tenant".to_string()][..]),
                        "{name}: {verb}"
                    );
                }
            }
        }
    }
    // Cluster-wide the server touches nothing but the CRs; pods, their logs,
    // the scale, the quota's status and the pull Secret only through eventflow-server-tenant, bound per
    // tenant namespace.
    assert_eq!(
        role_resources("eventflow-server"),
        ["functions", "functions/status", "tenants", "tenants/status"]
    );
    assert_eq!(
        role_resources("eventflow-server-tenant"),
        [
            "deployments/scale",
            "pods",
            "pods/log",
            "resourcequotas",
            "secrets"
        ]
    );
    let bound_cluster_wide: Vec<String> = k8s_docs()
        .into_iter()
        .filter(|d| kind(d) == "ClusterRoleBinding")
        .map(|d| d["roleRef"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !bound_cluster_wide
            .iter()
            .any(|r| r == "eventflow-server-tenant"),
        "{bound_cluster_wide:?}"
    );
}

/// The sorted resources of a shipped ClusterRole.
fn role_resources(name: &str) -> Vec<String> {
    let role: ClusterRole = k8s_docs()
        .into_iter()
        .filter(|d| kind(d) == "ClusterRole")
        .map(|d| serde_yaml::from_value::<ClusterRole>(d).unwrap())
        .find(|r| r.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no ClusterRole {name}"));
    let mut resources: Vec<String> = role
        .rules
        .unwrap()
        .into_iter()
        .flat_map(|r| r.resources.unwrap_or_default())
        .collect();
    resources.sort();
    resources
}

#[test]
fn admission_policies_name_the_shipped_service_accounts_and_deny() {
    let docs = docs("deploy/k8s/15-admission.yaml");
    let policies: Vec<&str> = docs
        .iter()
        .filter(|d| kind(d) == "ValidatingAdmissionPolicy")
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    let bound: Vec<&str> = docs
        .iter()
        .filter(|d| kind(d) == "ValidatingAdmissionPolicyBinding")
        .map(|d| {
            let actions = d["spec"]["validationActions"].as_sequence().unwrap();
            assert_eq!(actions.len(), 1);
            assert_eq!(actions[0].as_str(), Some("Deny"));
            d["spec"]["policyName"].as_str().unwrap()
        })
        .collect();
    assert_eq!(policies.len(), 4);
    assert_eq!(policies, bound, "every policy has its binding");
    for d in docs
        .iter()
        .filter(|d| kind(d) == "ValidatingAdmissionPolicy")
    {
        assert_eq!(d["spec"]["failurePolicy"].as_str(), Some("Fail"));
    }
    // The ServiceAccounts the policies name are the ones 10-rbac.yaml binds.
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/k8s/15-admission.yaml")).unwrap();
    for sa in ["eventflow-operator", "eventflow-server"] {
        assert!(
            text.contains(&format!("system:serviceaccount:eventflow-system:{sa}")),
            "{sa}"
        );
        assert!(k8s_docs().iter().any(|d| kind(d) == "ServiceAccount"
            && d["metadata"]["name"].as_str() == Some(sa)
            && d["metadata"]["namespace"].as_str() == Some("eventflow-system")));
    }
}

fn templates() -> Vec<(String, PodTemplateSpec)> {
    k8s_docs()
        .into_iter()
        .filter(|d| matches!(kind(d), "Deployment" | "StatefulSet"))
        .map(|d| {
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            let t: PodTemplateSpec = serde_yaml::from_value(d["spec"]["template"].clone()).unwrap();
            (name, t)
        })
        .collect()
}

#[test]
fn platform_workloads_set_the_restricted_fields() {
    let t = templates();
    assert_eq!(t.len(), 3, "operator, server, postgres");
    for (name, t) in t {
        let spec = t.spec.unwrap();
        let psc = spec.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true), "{name}");
        assert!(psc.run_as_user.unwrap() > 0, "{name}");
        assert_eq!(
            psc.seccomp_profile.unwrap().type_,
            "RuntimeDefault",
            "{name}"
        );
        for c in spec.containers {
            let sc = c.security_context.unwrap();
            assert_eq!(sc.allow_privilege_escalation, Some(false), "{name}");
            assert_eq!(sc.read_only_root_filesystem, Some(true), "{name}");
            assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"], "{name}");
            let r = c.resources.unwrap();
            assert!(r.requests.is_some() && r.limits.is_some(), "{name}");
        }
    }
}

#[tokio::test]
async fn platform_workloads_pass_restricted_pod_security_admission() {
    let client = common::setup().await;
    let labels = BTreeMap::from([
        (
            "pod-security.kubernetes.io/enforce".to_string(),
            "restricted".to_string(),
        ),
        (
            "pod-security.kubernetes.io/enforce-version".to_string(),
            eventflow_operator::build::PSA_VERSION.to_string(),
        ),
    ]);
    let ns = eventflow_testenv::fresh_namespace_with_labels(&client, "opmanifests", labels).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    for (name, t) in templates() {
        let mut spec = t.spec.unwrap();
        // The ServiceAccounts are not created here; admission is what counts.
        spec.service_account_name = None;
        // volumeClaimTemplates become volumes in a StatefulSet; stand in with emptyDirs.
        let mut volumes = spec.volumes.take().unwrap_or_default();
        for c in &spec.containers {
            for m in c.volume_mounts.iter().flatten() {
                if !volumes.iter().any(|v| v.name == m.name) {
                    volumes.push(k8s_openapi::api::core::v1::Volume {
                        name: m.name.clone(),
                        empty_dir: Some(Default::default()),
                        ..Default::default()
                    });
                }
            }
        }
        spec.volumes = Some(volumes);
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            ..Pod::default()
        };
        pods.create(&dry_run, &pod)
            .await
            .unwrap_or_else(|e| panic!("{name} rejected by restricted PSA: {e}"));
    }
    // A pod that is not restricted is rejected: the check is real.
    let mut bad: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bad"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    bad.metadata.namespace = Some(ns.name().to_string());
    assert!(pods.create(&dry_run, &bad).await.is_err());
    ns.cleanup().await;
}

#[test]
fn helm_chart_crds_equal_deploy_crds() {
    let a = std::fs::read_to_string(format!("{ROOT}/deploy/crds/eventflow.io.yaml")).unwrap();
    let b = std::fs::read_to_string(format!(
        "{ROOT}/deploy/helm/eventflow/crds/eventflow.io.yaml"
    ))
    .unwrap();
    assert!(
        a == b,
        "deploy/helm/eventflow/crds/eventflow.io.yaml must be a symlink to deploy/crds/eventflow.io.yaml"
    );
}

/// The operator runs its own binary, and the image installs it where the
/// manifests look for it, built with the size profile.
#[test]
fn the_operator_runs_the_binary_the_image_installs() {
    let binary = "/usr/local/bin/eventflow-operator";
    let t = templates();
    let (_, operator) = t
        .iter()
        .find(|(name, _)| name == "eventflow-operator")
        .expect("the operator's Deployment");
    let container = &operator.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container.command.as_deref(),
        Some(&[binary.to_string()][..])
    );
    assert_eq!(container.args, None, "no `eventflow operator` subcommand");
    let helm = std::fs::read_to_string(format!(
        "{ROOT}/deploy/helm/eventflow/templates/operator.yaml"
    ))
    .unwrap();
    assert!(
        helm.contains(&format!("command: [\"{binary}\"]")),
        "the chart runs another command"
    );
    let dockerfile = std::fs::read_to_string(format!("{ROOT}/deploy/docker/Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(
            "--profile release-operator --locked -p eventflow-operator --bin eventflow-operator"
        ) && dockerfile.contains(&format!("/eventflow-operator {binary}")),
        "the image does not build and install {binary}"
    );
}
