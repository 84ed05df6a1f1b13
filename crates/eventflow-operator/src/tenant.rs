//! The Tenant controller.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use eventflow_core::TenantId;
use eventflow_crd::{
    Condition, Function, Tenant, TenantStatus, FUNCTION_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    TENANT_LABEL,
};
use futures::TryFutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::ListParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{finalizer, Event};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::reconcile::{run_controller, timed, trigger_watch, write_status};
use crate::{apply, build, delete_if_exists, now, validate, Context, Error, Result, StopSignal};

/// Metric label of this controller.
pub const CONTROLLER: &str = "tenant";
/// Finalizer on Tenants: deletes the tenant's namespace.
pub const FINALIZER: &str = "eventflow.io/namespace";
/// How often an unchanged Tenant is re-checked.
pub const STEADY_REQUEUE: Duration = Duration::from_secs(300);

/// The Tenant a namespaced or cluster-scoped child belongs to, by its label.
/// (Controller::owns cannot map namespaced children to a cluster-scoped
/// owner, so children are watched and mapped by the tenant label.)
fn owner_of<K: Resource>(obj: K) -> Option<ObjectRef<Tenant>> {
    let id = obj.meta().labels.as_ref()?.get(TENANT_LABEL)?;
    Some(ObjectRef::new(id))
}

/// Runs the Tenant controller until `stop`.
pub async fn run(ctx: Arc<Context>, selector: Option<String>, concurrency: u16, stop: StopSignal) {
    let client = ctx.client.clone();
    // Tenant-level children only: function children carry the function label.
    let owned = watcher::Config::default().labels(&format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{TENANT_LABEL},!{FUNCTION_LABEL}"
    ));
    let controller = Controller::new(
        Api::<Tenant>::all(client.clone()),
        trigger_watch(selector.as_deref()),
    )
    .watches(
        Api::<Namespace>::all(client.clone()),
        owned.clone(),
        owner_of,
    )
    .watches(
        Api::<ResourceQuota>::all(client.clone()),
        owned.clone(),
        owner_of,
    )
    .watches(
        Api::<LimitRange>::all(client.clone()),
        owned.clone(),
        owner_of,
    )
    .watches(Api::<NetworkPolicy>::all(client.clone()), owned, owner_of);
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
///    (restricted Pod Security labels), ResourceQuota, LimitRange and the
///    NetworkPolicies, all owned by the Tenant;
/// 4. **apply**: server-side apply with field manager
///    [`crate::FIELD_MANAGER`] and `force`, then delete function children
///    in the namespace whose Function no longer exists (label-based orphan
///    sweep, on top of ownerReference garbage collection);
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
    let client = ctx.client.clone();
    let tenants: Api<Tenant> = Api::all(client.clone());
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
    let id = &valid.id;
    let ns = id.namespace();
    // 3. build
    let namespace = build::namespace(id, &owner);
    let quota = build::resource_quota(id, &valid.quota, &owner);
    let limits = build::limit_range(id, &valid.limits, &owner);
    let policies = build::network_policies(id, &ctx.network, &owner);
    // 4. apply
    apply(&Api::<Namespace>::all(client.clone()), &namespace).await?;
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
    sweep_orphans(ctx, id).await?;
    // 5. status. Until the quota controller has computed the quota's usage,
    // the API server rejects every object the quota counts (Functions too),
    // so the tenant is Ready only then.
    let quota_ready = quota.status.as_ref().is_some_and(|s| s.hard.is_some());
    let st = if quota_ready {
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
    };
    write_status(&tenants, t, st, CONTROLLER, ctx).await?;
    Ok(Action::requeue(if quota_ready {
        STEADY_REQUEUE
    } else {
        Duration::from_secs(1)
    }))
}

/// Deletes the tenant's namespace (and with it everything in it). Succeeds
/// when the namespace is already gone, or the Tenant's name was never valid.
pub async fn cleanup(t: &Tenant, ctx: &Context) -> Result<Action> {
    if let Ok(id) = TenantId::parse(&t.name_any()) {
        delete_if_exists(&Api::<Namespace>::all(ctx.client.clone()), &id.namespace()).await?;
        tracing::info!(tenant = %id, "tenant deleted: namespace deletion requested");
    }
    Ok(Action::await_change())
}

/// Deletes function children (labelled by the platform) whose Function does
/// not exist any more, e.g. when ownerReferences were removed by hand.
async fn sweep_orphans(ctx: &Context, id: &TenantId) -> Result<()> {
    let ns = id.namespace();
    let client = ctx.client.clone();
    let functions: BTreeSet<String> = Api::<Function>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    let lp = ListParams::default().labels(&format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{FUNCTION_LABEL}"
    ));
    sweep::<Deployment>(&client, &ns, &lp, &functions).await?;
    sweep::<Service>(&client, &ns, &lp, &functions).await?;
    sweep::<ServiceAccount>(&client, &ns, &lp, &functions).await?;
    sweep::<HorizontalPodAutoscaler>(&client, &ns, &lp, &functions).await?;
    Ok(())
}

async fn sweep<K>(
    client: &kube::Client,
    ns: &str,
    lp: &ListParams,
    functions: &BTreeSet<String>,
) -> Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    for obj in api.list(lp).await?.items {
        let owner = obj
            .labels()
            .get(FUNCTION_LABEL)
            .cloned()
            .unwrap_or_default();
        if !functions.contains(&owner) {
            tracing::info!(namespace = ns, name = %obj.name_any(), kind = %K::kind(&()), "deleting orphan");
            delete_if_exists(&api, &obj.name_any()).await?;
        }
    }
    Ok(())
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
