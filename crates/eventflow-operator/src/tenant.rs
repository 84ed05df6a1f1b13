//! The Tenant controller.

use std::sync::Arc;
use std::time::Duration;

use eventflow_core::TenantId;
use eventflow_crd::{Condition, Tenant, TenantStatus};
use futures::TryFutureExt;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{finalizer, Event};
use kube::{Api, Resource, ResourceExt};

use crate::children::{sweep_orphans, watch_tenant_children};
use crate::reconcile::{run_controller, timed, trigger_watch, write_status};
use crate::validate::ValidTenant;
use eventflow_kube::is_not_found;

use crate::{apply, build, now, validate, Context, Error, Result, StopSignal};

/// Metric label of this controller.
pub const CONTROLLER: &str = "tenant";
/// Finalizer on Tenants: deletes the tenant's namespace.
pub const FINALIZER: &str = "eventflow.io/namespace";
/// How often an unchanged Tenant is re-checked.
pub const STEADY_REQUEUE: Duration = Duration::from_secs(300);

/// Runs the Tenant controller until `stop`.
pub async fn run(ctx: Arc<Context>, selector: Option<String>, concurrency: u16, stop: StopSignal) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<Tenant>::all(client.clone()),
        trigger_watch(selector.as_deref()),
    );
    let controller = watch_tenant_children(controller, &client);
    run_controller(controller, CONTROLLER, reconcile, ctx, concurrency, stop).await;
}

/// Reconciles one Tenant, as a pipeline:
///
/// 1. **fetch**: the Tenant comes from the controller's cache; the
///    finalizer [`FINALIZER`] is added first (kube's `finalizer` helper);
///    a deleted Tenant goes to [`cleanup`] instead;
/// 2. **validate** (pure, [`validate::tenant`]): the name is a tenant id,
///    overrides are quantities and counts; invalid → status `Failed`, wait
///    for a change;
/// 3. **build** (pure, cannot fail, [`build`]): Namespace `tenant-{id}`
///    (restricted Pod Security labels), ResourceQuota, LimitRange, the
///    NetworkPolicies and the RoleBinding that lets the server read the
///    tenant's pods and logs, all owned by the Tenant;
/// 4. **apply**: never to an existing `tenant-{id}` that is not the
///    tenant's (status `Failed`/`NamespaceTaken`); server-side apply with field manager
///    [`crate::FIELD_MANAGER`] and `force`, then delete function children
///    in the namespace whose Function no longer exists (label-based orphan
///    sweep over every kind a Function owns, on top of ownerReference
///    garbage collection);
/// 5. **status**: `patch_status` only when it changed.
pub async fn reconcile(t: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    let work = finalizer(&api, FINALIZER, t.clone(), |event| async {
        match event {
            Event::Apply(t) => apply_tenant(&t, &ctx).await,
            Event::Cleanup(t) => cleanup(&t, &ctx).await,
        }
    })
    .map_err(|e| Error::Finalizer(Box::new(e)));
    timed(CONTROLLER, t.as_ref(), &ctx, work).await
}

async fn apply_tenant(t: &Tenant, ctx: &Context) -> Result<Action> {
    let tenants: Api<Tenant> = Api::all(ctx.client.clone());
    // 2. validate
    let valid = match validate::tenant(t) {
        Ok(v) => v,
        Err(invalid) => {
            let st = tenant_status(
                t,
                "Failed",
                None,
                "False",
                "InvalidSpec",
                invalid.to_string(),
            );
            write_status(&tenants, t, st, CONTROLLER, ctx).await?;
            return Err(Error::Invalid(invalid));
        }
    };
    let owner = t
        .controller_owner_ref(&())
        .expect("a Tenant read from the API has a name and uid");
    // 3. build, 4. apply
    let quota = match apply_children(ctx, &valid, &owner).await {
        Err(taken @ Error::NamespaceTaken(_)) => {
            let st = tenant_status(
                t,
                "Failed",
                None,
                "False",
                "NamespaceTaken",
                taken.to_string(),
            );
            write_status(&tenants, t, st, CONTROLLER, ctx).await?;
            return Err(taken);
        }
        other => other?,
    };
    // 5. status
    let quota_ready = quota.status.as_ref().is_some_and(|s| s.hard.is_some());
    let st = ready_status(t, valid.id.namespace(), quota_ready);
    write_status(&tenants, t, st, CONTROLLER, ctx).await?;
    Ok(Action::requeue(if quota_ready {
        STEADY_REQUEUE
    } else {
        Duration::from_secs(1)
    }))
}

/// The API server's addresses as `/32`s (`/128`s), from the EndpointSlices
/// of `default/kubernetes`, plus that Service's ClusterIP. Empty, with a
/// warning, when they cannot be read (the other exclusions still hold).
async fn api_server_cidrs(client: &kube::Client) -> Vec<String> {
    use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
    let host = |ip: &str| format!("{ip}/{}", if ip.contains(':') { 128 } else { 32 });
    let lp = kube::api::ListParams::default().labels("kubernetes.io/service-name=kubernetes");
    let mut cidrs = match Api::<EndpointSlice>::namespaced(client.clone(), "default")
        .list(&lp)
        .await
    {
        Ok(list) => list
            .items
            .iter()
            .flat_map(|s| s.endpoints.iter().flat_map(|e| e.addresses.iter()))
            .map(|ip| host(ip))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the API server's endpoints; tenants' egress policies do not exclude them");
            Vec::new()
        }
    };
    if let Ok(Some(svc)) = Api::<Service>::namespaced(client.clone(), "default")
        .get_opt("kubernetes")
        .await
    {
        cidrs.extend(svc.spec.and_then(|s| s.cluster_ip).map(|ip| host(&ip)));
    }
    cidrs.sort();
    cidrs.dedup();
    cidrs
}

/// Steps 3 and 4: builds the tenant's objects, applies them one by one (the
/// Namespace first, the others live in it), then sweeps the namespace's
/// orphaned function children. Returns the applied ResourceQuota.
async fn apply_children(
    ctx: &Context,
    valid: &ValidTenant,
    owner: &OwnerReference,
) -> Result<ResourceQuota> {
    let client = ctx.client.clone();
    let id = &valid.id;
    let ns = id.namespace();
    // 3. build
    let namespace = build::namespace(id, owner);
    let quota = build::resource_quota(id, &valid.quota, owner);
    let limits = build::limit_range(id, &valid.limits, owner);
    let network = build::NetworkSettings {
        api_server_cidrs: api_server_cidrs(&client).await,
        ..ctx.network.clone()
    };
    let policies = build::network_policies(id, &network, owner);
    let server_binding = build::server_role_binding(id, &ctx.server_account, owner);
    // 4. apply: never to a namespace of that name that is not the tenant's
    let namespaces = Api::<Namespace>::all(client.clone());
    if let Some(existing) = namespaces.get_opt(&ns).await? {
        if !build::is_tenant_namespace(&existing, id) {
            return Err(Error::NamespaceTaken(ns));
        }
    }
    apply(&namespaces, &namespace).await?;
    let quota = apply(
        &Api::<ResourceQuota>::namespaced(client.clone(), &ns),
        &quota,
    )
    .await?;
    apply(&Api::<LimitRange>::namespaced(client.clone(), &ns), &limits).await?;
    let netpols = Api::<NetworkPolicy>::namespaced(client.clone(), &ns);
    for p in &policies {
        apply(&netpols, p).await?;
    }
    apply(
        &Api::<RoleBinding>::namespaced(client.clone(), &ns),
        &server_binding,
    )
    .await?;
    sweep_orphans(&client, &ns).await?;
    Ok(quota)
}

/// Step 5's status of a valid Tenant whose objects were applied. Until the
/// quota controller has computed the quota's usage, the API server rejects
/// every object the quota counts (Functions too), so the tenant is Ready
/// only then.
fn ready_status(t: &Tenant, ns: String, quota_ready: bool) -> TenantStatus {
    if quota_ready {
        tenant_status(
            t,
            "Ready",
            Some(ns),
            "True",
            "NamespaceReady",
            "namespace, quota, limits and network policies applied".into(),
        )
    } else {
        tenant_status(
            t,
            "Provisioning",
            Some(ns),
            "False",
            "QuotaPending",
            "waiting for the quota controller to compute the quota".into(),
        )
    }
}

/// Deletes the tenant's namespace (and with it everything in it), only if
/// it is the tenant's ([`build::is_tenant_namespace`]; the delete carries
/// the namespace's uid as a precondition, so a namespace replaced in the
/// meantime is not deleted either). Succeeds when the namespace is already
/// gone, is not the tenant's (left alone, with a warning), or the Tenant's
/// name was never valid.
pub async fn cleanup(t: &Tenant, ctx: &Context) -> Result<Action> {
    let Ok(id) = TenantId::parse(&t.name_any()) else {
        return Ok(Action::await_change());
    };
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    let ns = id.namespace();
    match namespaces.get_opt(&ns).await? {
        None => {}
        Some(existing) if !build::is_tenant_namespace(&existing, &id) => {
            tracing::warn!(tenant = %id, namespace = %ns, "tenant deleted: its namespace name is taken by a namespace that is not the tenant's; left alone");
        }
        Some(existing) => {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: existing.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match namespaces.delete(&ns, &dp).await {
                Ok(_) => {
                    tracing::info!(tenant = %id, "tenant deleted: namespace deletion requested")
                }
                Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Action::await_change())
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn tenant_status(
    t: &Tenant,
    phase: &str,
    namespace: Option<String>,
    status: &str,
    reason: &str,
    message: String,
) -> TenantStatus {
    let previous = t.status.as_ref().and_then(|s| s.conditions.first());
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Some(now()),
    };
    TenantStatus {
        phase: Some(phase.into()),
        namespace,
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time,
            observed_generation: t.meta().generation,
        }],
        observed_generation: t.meta().generation,
    }
}
