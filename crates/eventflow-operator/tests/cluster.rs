//! Tier 3: the operator against the real testenv control plane (testenv/up).
//! These tests FAIL when testenv is not running.
//!
//! Each test runs its own operator in-process, scoped by a label to the
//! Tenants and Functions the test creates, so tests run in parallel and
//! never touch other developers' objects.

mod common;

use std::time::Duration;

use common::*;
use eventflow_crd::{Phase, QuotaOverrides};
use eventflow_operator::build;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    LimitRange, Namespace, Pod, ResourceQuota, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

async fn rv<K>(api: &Api<K>, name: &str) -> String
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get(name).await.unwrap().resource_version().unwrap()
}

/// The operator's own write record on an object: its managedFields entries
/// (fields and time). A no-op server-side apply leaves them as they are,
/// while writes by other controllers (kube-controller-manager's quota status
/// recalculation) do not touch them, so they tell whether the operator wrote.
async fn operator_writes<K>(api: &Api<K>, name: &str) -> String
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let obj = api.get(name).await.unwrap();
    let mine: Vec<_> = obj
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some(eventflow_operator::FIELD_MANAGER))
        .collect();
    assert!(!mine.is_empty(), "{name} was not applied by the operator");
    serde_json::to_string(&mine).unwrap()
}

#[tokio::test]
async fn tenant_namespace_has_quota_limits_netpols_psa_and_repairs_deleted_quota() {
    let client = setup().await;
    let scope = suffix();
    let op = TestOperator::start(&client, &scope).await;
    let tenant = TestTenant::create(&client, &scope, None).await;
    tenant.wait_ready().await;
    let ns_name = tenant.namespace();

    let ns = Api::<Namespace>::all(client.clone())
        .get(&ns_name)
        .await
        .unwrap();
    let labels = ns.labels();
    assert_eq!(labels["eventflow.io/tenant"], tenant.id);
    for mode in ["enforce", "warn", "audit"] {
        assert_eq!(
            labels[&format!("pod-security.kubernetes.io/{mode}")],
            "restricted"
        );
        assert_eq!(
            labels[&format!("pod-security.kubernetes.io/{mode}-version")],
            build::PSA_VERSION
        );
    }
    assert_eq!(ns.owner_references()[0].kind, "Tenant");

    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns_name);
    let quota = quotas.get(build::QUOTA_NAME).await.unwrap();
    let hard = quota.spec.unwrap().hard.unwrap();
    assert_eq!(hard["pods"].0, "50");
    assert_eq!(hard["requests.cpu"].0, "10");
    assert_eq!(hard["limits.memory"].0, "40Gi");
    assert_eq!(hard["count/functions.eventflow.io"].0, "50");

    let lr = Api::<LimitRange>::namespaced(client.clone(), &ns_name)
        .get(build::LIMIT_RANGE_NAME)
        .await
        .unwrap();
    let item = &lr.spec.unwrap().limits[0];
    assert_eq!(item.default_request.as_ref().unwrap()["cpu"].0, "100m");
    assert_eq!(item.default.as_ref().unwrap()["memory"].0, "512Mi");

    let netpols: Vec<String> = Api::<NetworkPolicy>::namespaced(client.clone(), &ns_name)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    for p in [
        build::NETPOL_DEFAULT_DENY,
        build::NETPOL_ALLOW_INGRESS,
        build::NETPOL_ALLOW_EGRESS,
    ] {
        assert!(netpols.contains(&p.to_string()), "{p} missing: {netpols:?}");
    }
    // The API server's own addresses are outside the internet egress rule.
    let slices = Api::<k8s_openapi::api::discovery::v1::EndpointSlice>::namespaced(
        client.clone(),
        "default",
    )
    .list(&ListParams::default().labels("kubernetes.io/service-name=kubernetes"))
    .await
    .unwrap();
    // testenv's API server publishes no endpoints (it listens on loopback),
    // so here it is the Service's ClusterIP; a cluster's endpoints count too.
    let cluster_ip =
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), "default")
            .get("kubernetes")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.cluster_ip)
            .unwrap();
    let api_ips: Vec<String> = slices
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter().flat_map(|e| e.addresses.clone()))
        .chain([cluster_ip])
        .filter(|ip| !ip.contains(':'))
        .collect();
    let egress = Api::<NetworkPolicy>::namespaced(client.clone(), &ns_name)
        .get(build::NETPOL_ALLOW_EGRESS)
        .await
        .unwrap();
    let except: Vec<String> = egress
        .spec
        .and_then(|s| s.egress)
        .into_iter()
        .flatten()
        .flat_map(|r| r.to.into_iter().flatten())
        .filter_map(|p| p.ip_block.and_then(|b| b.except))
        .flatten()
        .collect();
    for ip in &api_ips {
        assert!(
            except.contains(&format!("{ip}/32")),
            "{ip} not excluded: {except:?}"
        );
    }

    // Status, then: a second reconcile of an unchanged Tenant writes nothing.
    let tenants = Api::<eventflow_crd::Tenant>::all(client.clone());
    wait_for("tenant status Ready", LONG, || async {
        let t = tenants.get(&tenant.id).await.ok()?;
        (t.status?.phase.as_deref() == Some("Ready")).then_some(())
    })
    .await;
    // Not the quota's resourceVersion: kube-controller-manager rewrites the
    // quota's status on its own schedule (every 20 s in testenv).
    let quota_writes = operator_writes(&quotas, build::QUOTA_NAME).await;
    let before = op.metrics.reconciles("tenant");
    tenants
        .patch(
            &tenant.id,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"touch": "1"}}})),
        )
        .await
        .unwrap();
    let tenant_rv = rv(&tenants, &tenant.id).await;
    wait_for("a tenant reconcile", LONG, || async {
        (op.metrics.reconciles("tenant") > before).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        rv(&tenants, &tenant.id).await,
        tenant_rv,
        "status rewritten"
    );
    assert_eq!(
        operator_writes(&quotas, build::QUOTA_NAME).await,
        quota_writes,
        "quota rewritten"
    );

    // Deleting the quota by hand gets it recreated (a new object: new uid).
    let quota_uid = quotas.get(build::QUOTA_NAME).await.unwrap().uid();
    quotas
        .delete(build::QUOTA_NAME, &DeleteParams::default())
        .await
        .unwrap();
    wait_for("quota recreated", LONG, || async {
        let q = quotas.get_opt(build::QUOTA_NAME).await.ok()??;
        (q.uid() != quota_uid).then_some(())
    })
    .await;
    // Editing a network policy by hand is put back.
    let netpol_api = Api::<NetworkPolicy>::namespaced(client.clone(), &ns_name);
    netpol_api
        .delete(build::NETPOL_DEFAULT_DENY, &DeleteParams::default())
        .await
        .unwrap();
    wait_for("default-deny recreated", LONG, || async {
        netpol_api.get_opt(build::NETPOL_DEFAULT_DENY).await.ok()?
    })
    .await;

    // Weakening the namespace's Pod Security by hand is put back.
    let ns_api = Api::<Namespace>::all(client.clone());
    ns_api
        .patch(
            &ns_name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {
                "pod-security.kubernetes.io/enforce": "privileged"}}})),
        )
        .await
        .unwrap();
    wait_for("PSA label restored", LONG, || async {
        let ns = ns_api.get(&ns_name).await.ok()?;
        (ns.labels().get("pod-security.kubernetes.io/enforce")? == "restricted").then_some(())
    })
    .await;

    // Deleting the Tenant deletes the namespace (finalizer).
    let id = tenant.id.clone();
    tenant.delete_and_wait().await;
    wait_for("namespace deleted or terminating", LONG, || async {
        match ns_api.get_opt(&format!("tenant-{id}")).await.ok()? {
            None => Some(()),
            Some(ns) => ns.metadata.deletion_timestamp.map(|_| ()),
        }
    })
    .await;
    op.stop().await;
}

#[tokio::test]
async fn tenant_finalizer_works_when_the_namespace_is_already_gone() {
    let client = setup().await;
    let scope = suffix();
    let op = TestOperator::start(&client, &scope).await;
    let tenant = TestTenant::create(&client, &scope, None).await;
    tenant.wait_ready().await;
    // Stop the operator, delete the namespace by hand and wait until gone.
    op.stop().await;
    let ns_api = Api::<Namespace>::all(client.clone());
    ns_api
        .delete(&tenant.namespace(), &DeleteParams::default())
        .await
        .unwrap();
    wait_for("namespace gone", Duration::from_secs(120), || async {
        matches!(ns_api.get_opt(&tenant.namespace()).await, Ok(None)).then_some(())
    })
    .await;
    // Delete the Tenant while no operator runs: the finalizer holds it.
    Api::<eventflow_crd::Tenant>::all(client.clone())
        .delete(&tenant.id, &DeleteParams::default())
        .await
        .unwrap();
    let op = TestOperator::start(&client, &scope).await;
    tenant.delete_and_wait().await;
    op.stop().await;
}

#[tokio::test]
async fn function_runs_scales_repairs_and_is_deleted_with_its_children() {
    let client = setup().await;
    let scope = suffix();
    let op = TestOperator::start(&client, &scope).await;
    let tenant = TestTenant::create(&client, &scope, None).await;
    tenant.wait_ready().await;
    let ns = tenant.namespace();

    tenant.create_function("hello", 2).await;
    let f = tenant.wait_running("hello", 2).await;
    let status = f.status.unwrap();
    assert_eq!(
        status.url.as_deref(),
        Some(format!("http://fn-hello.{ns}.svc.cluster.local").as_str())
    );
    assert_eq!(status.conditions[0].type_, "Ready");
    assert_eq!(status.conditions[0].status, "True");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let d = deployments.get("fn-hello").await.unwrap();
    assert_eq!(d.owner_references()[0].kind, "Function");
    let sa = accounts.get("fn-hello").await.unwrap();
    assert_eq!(sa.automount_service_account_token, Some(false));
    let svc = services.get("fn-hello").await.unwrap();
    // The operator named the Service's ClusterIP (its apply owns the
    // field), picked in the dynamic band of testenv's Service range.
    let named_by_operator = svc.managed_fields().iter().any(|m| {
        m.manager.as_deref() == Some(eventflow_operator::FIELD_MANAGER)
            && m.operation.as_deref() == Some("Apply")
            && m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0["f:spec"].get("f:clusterIP").is_some())
    });
    assert!(named_by_operator, "{:?}", svc.managed_fields());
    let spec = svc.spec.unwrap();
    let range = Api::<k8s_openapi::api::networking::v1::ServiceCIDR>::all(client.clone())
        .get(eventflow_operator::service_ip::DEFAULT_SERVICE_CIDR)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.cidrs)
        .unwrap()[0]
        .parse()
        .unwrap();
    let band = eventflow_operator::ServiceIps::dynamic_band(range);
    let ip = spec.cluster_ip.as_deref().unwrap();
    assert!(band.unwrap().contains(ip.parse().unwrap()), "{ip}");
    assert_eq!(spec.ports.unwrap()[0].port, 80);
    // The pods really run as the restricted profile allows (PSA enforced).
    let running = pods
        .list(&ListParams::default().labels("eventflow.io/function=hello"))
        .await
        .unwrap();
    assert_eq!(running.items.len(), 2);
    assert!(running
        .items
        .iter()
        .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running")));

    // A second reconcile of an unchanged Function writes nothing. It is
    // triggered by an annotation on the Service, a field the operator does
    // not own (one on the Function itself triggers none: only its spec and
    // uid do, see `function::tests`).
    let functions = tenant.functions();
    let before = op.metrics.reconciles("function");
    let writes = op.metrics.status_writes("function");
    let touch = Patch::Merge(serde_json::json!({"metadata": {"annotations": {"touch": "1"}}}));
    let applies = op.metrics.applies("function");
    services
        .patch("fn-hello", &PatchParams::default(), &touch)
        .await
        .unwrap();
    let fn_rv = rv(&functions, "hello").await;
    let dep_rv = rv(&deployments, "fn-hello").await;
    let svc_rv = rv(&services, "fn-hello").await;
    let sa_rv = rv(&accounts, "fn-hello").await;
    wait_for("a function reconcile", LONG, || async {
        (op.metrics.reconciles("function") > before).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        rv(&functions, "hello").await,
        fn_rv,
        "Function status rewritten"
    );
    assert_eq!(
        rv(&deployments, "fn-hello").await,
        dep_rv,
        "Deployment rewritten"
    );
    assert_eq!(rv(&services, "fn-hello").await, svc_rv, "Service rewritten");
    assert_eq!(
        rv(&accounts, "fn-hello").await,
        sa_rv,
        "ServiceAccount rewritten"
    );
    assert_eq!(op.metrics.status_writes("function"), writes);
    assert_eq!(op.metrics.applies("function"), applies);

    // Scaling changes it.
    tenant.set_replicas("hello", 3).await;
    tenant.wait_running("hello", 3).await;
    tenant.set_replicas("hello", 1).await;
    tenant.wait_running("hello", 1).await;

    // Hand edits are put back: a deleted Service, a scaled Deployment.
    services
        .delete("fn-hello", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("service recreated", LONG, || async {
        services.get_opt("fn-hello").await.ok()?
    })
    .await;
    deployments
        .patch(
            "fn-hello",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    wait_for("deployment replicas put back", LONG, || async {
        let d = deployments.get("fn-hello").await.ok()?;
        (d.spec?.replicas == Some(1)).then_some(())
    })
    .await;

    // Autoscaling on: an HPA; off: deleted.
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    functions
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"autoscaling": {
                "minReplicas": 1, "maxReplicas": 3, "targetCpuPercent": 60}}})),
        )
        .await
        .unwrap();
    let hpa = wait_for("hpa created", LONG, || async {
        hpas.get_opt("fn-hello").await.ok()?
    })
    .await;
    assert_eq!(hpa.spec.unwrap().max_replicas, 3);
    functions
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"autoscaling": null}})),
        )
        .await
        .unwrap();
    wait_for("hpa deleted", LONG, || async {
        matches!(hpas.get_opt("fn-hello").await, Ok(None)).then_some(())
    })
    .await;

    // Deleting the Function removes Deployment, Service, ServiceAccount and pods.
    functions
        .delete("hello", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("children garbage-collected", LONG, || async {
        let d = deployments.get_opt("fn-hello").await.ok()?;
        let s = services.get_opt("fn-hello").await.ok()?;
        let a = accounts.get_opt("fn-hello").await.ok()?;
        let p = pods
            .list(&ListParams::default().labels("eventflow.io/function=hello"))
            .await
            .ok()?;
        (d.is_none() && s.is_none() && a.is_none() && p.items.is_empty()).then_some(())
    })
    .await;

    tenant.delete_and_wait().await;
    op.stop().await;
}

#[tokio::test]
async fn quota_exceeded_is_reported_and_the_other_tenant_is_unaffected() {
    let client = setup().await;
    let scope = suffix();
    let op = TestOperator::start(&client, &scope).await;
    let small = TestTenant::create(
        &client,
        &scope,
        Some(QuotaOverrides {
            pods: Some(2),
            ..QuotaOverrides::default()
        }),
    )
    .await;
    let other = TestTenant::create(&client, &scope, None).await;
    small.wait_ready().await;
    other.wait_ready().await;

    small.create_function("big", 4).await;
    other.create_function("fine", 3).await;

    let api = small.functions();
    let cond = wait_for("QuotaExceeded condition", LONG, || async {
        let s = api.get("big").await.ok()?.status?;
        let c = s.conditions.first()?.clone();
        (c.reason == "QuotaExceeded").then_some((s, c))
    })
    .await;
    assert_eq!(cond.0.phase, Some(Phase::Failed));
    assert_eq!(cond.1.status, "False");
    assert!(
        cond.1.message.contains("exceeded quota"),
        "{}",
        cond.1.message
    );
    assert!(cond.0.ready_replicas <= 2);

    other.wait_running("fine", 3).await;

    // Fitting into the quota again clears the condition.
    small.set_replicas("big", 2).await;
    small.wait_running("big", 2).await;

    small.delete_and_wait().await;
    other.delete_and_wait().await;
    op.stop().await;
}

#[tokio::test]
async fn invalid_function_is_failed_with_the_reason() {
    let client = setup().await;
    let scope = suffix();
    let op = TestOperator::start(&client, &scope).await;
    let tenant = TestTenant::create(&client, &scope, None).await;
    tenant.wait_ready().await;
    let mut f = tenant.function("bad", 1);
    f.spec.image = "Not A Valid Image".into();
    tenant
        .functions()
        .create(&Default::default(), &f)
        .await
        .unwrap();
    let api = tenant.functions();
    let c = wait_for("InvalidSpec condition", LONG, || async {
        let s = api.get("bad").await.ok()?.status?;
        let c = s.conditions.first()?.clone();
        (s.phase == Some(Phase::Failed) && c.reason == "InvalidSpec").then_some(c)
    })
    .await;
    assert!(c.message.contains("spec.image"), "{}", c.message);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &tenant.namespace());
    assert!(deployments.get_opt("fn-bad").await.unwrap().is_none());
    tenant.delete_and_wait().await;
    op.stop().await;
}

#[tokio::test]
async fn stopped_operator_converges_on_restart_with_nothing_orphaned() {
    let client = setup().await;
    let scope = suffix();
    let op = TestOperator::start(&client, &scope).await;
    let tenant = TestTenant::create(&client, &scope, None).await;
    tenant.wait_ready().await;
    tenant.create_function("keep", 1).await;
    tenant.create_function("gone", 1).await;
    tenant.wait_running("keep", 1).await;
    tenant.wait_running("gone", 1).await;
    op.stop().await;

    // While no operator runs: create, edit, delete.
    tenant.create_function("new", 2).await;
    tenant.set_replicas("keep", 2).await;
    tenant
        .functions()
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    let ns = tenant.namespace();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    // Someone also deletes the quota meanwhile.
    Api::<ResourceQuota>::namespaced(client.clone(), &ns)
        .delete(build::QUOTA_NAME, &DeleteParams::default())
        .await
        .unwrap();

    let op = TestOperator::start(&client, &scope).await;
    tenant.wait_running("new", 2).await;
    tenant.wait_running("keep", 2).await;
    tenant.wait_ready().await;
    wait_for("only keep and new remain", LONG, || async {
        let mut names: Vec<String> = deployments
            .list(&ListParams::default().labels("app.kubernetes.io/managed-by=eventflow"))
            .await
            .ok()?
            .items
            .iter()
            .map(ResourceExt::name_any)
            .collect();
        names.sort();
        (names == ["fn-keep", "fn-new"]).then_some(())
    })
    .await;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    wait_for("service of gone removed", LONG, || async {
        matches!(services.get_opt("fn-gone").await, Ok(None)).then_some(())
    })
    .await;
    tenant.delete_and_wait().await;
    op.stop().await;
}

/// A Function written by hand with nothing but an image (as `kubectl apply`
/// would send it) gets the API's defaults from the CRD and runs.
#[tokio::test]
async fn a_hand_written_minimal_function_gets_defaults_and_runs() {
    use kube::api::{ApiResource, DynamicObject};
    let client = setup().await;
    let scope = suffix();
    let op = TestOperator::start(&client, &scope).await;
    let tenant = TestTenant::create(&client, &scope, None).await;
    tenant.wait_ready().await;
    let ar = ApiResource::erase::<eventflow_crd::Function>(&());
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), &tenant.namespace(), &ar);
    let obj: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "eventflow.io/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "minimal", "labels": {SCOPE_LABEL: scope}},
        "spec": {"image": "registry.example/hello:1"}
    }))
    .unwrap();
    raw.create(&Default::default(), &obj)
        .await
        .expect("the API server accepts a Function with only an image");
    let f = tenant.wait_running("minimal", 1).await;
    assert_eq!(f.spec.replicas, 1);
    assert_eq!(f.spec.port, 8080);
    assert_eq!(f.spec.timeout_seconds, 30);
    assert_eq!(f.spec.resources.requests.cpu, "100m");
    assert_eq!(f.spec.resources.limits.memory, "512Mi");
    tenant.delete_and_wait().await;
    op.stop().await;
}
