//! The Function controller.

use std::sync::Arc;
use std::time::Duration;

use eventflow_crd::{Function, Phase, MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Event, Pod, Service, ServiceAccount};
use k8s_openapi::chrono::{Duration as ChronoDuration, Utc};
use kube::api::ListParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};

use crate::reconcile::{run_controller, timed, trigger_watch, write_status};
use crate::status::{self, Observed};
use crate::{apply, build, delete_if_exists, now, validate, Context, Error, Result, StopSignal};

/// Metric label of this controller.
pub const CONTROLLER: &str = "function";
/// How often a function that is not Running is looked at again (pod changes
/// trigger a reconcile; `FailedCreate` events do not).
pub const PROGRESS_REQUEUE: Duration = Duration::from_secs(10);
/// How often a Failed function (quota, image, crash loop) is looked at again.
pub const FAILED_REQUEUE: Duration = Duration::from_secs(30);
/// How often a Running function is re-checked without any change.
pub const STEADY_REQUEUE: Duration = Duration::from_secs(300);
/// A Deployment younger than this has no failures worth looking for yet.
const YOUNG_SECONDS: i64 = 3;
/// `FailedCreate` events older than this are ignored.
const EVENT_WINDOW_MINUTES: i64 = 10;

/// Runs the Function controller until `stop`.
pub async fn run(ctx: Arc<Context>, selector: Option<String>, concurrency: u16, stop: StopSignal) {
    let client = ctx.client.clone();
    let owned =
        watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    let controller = Controller::new(
        Api::<Function>::all(client.clone()),
        trigger_watch(selector.as_deref()),
    )
    .owns(Api::<Deployment>::all(client.clone()), owned.clone())
    .owns(Api::<Service>::all(client.clone()), owned.clone())
    .owns(Api::<ServiceAccount>::all(client.clone()), owned.clone())
    .owns(
        Api::<HorizontalPodAutoscaler>::all(client.clone()),
        owned.clone(),
    )
    // Pods belong to ReplicaSets, not to the Function: map them by label, so
    // a crash, an OOM kill or a failed pull shows in the status at once.
    .watches(Api::<Pod>::all(client.clone()), owned, |pod| {
        let function = pod.labels().get(eventflow_crd::FUNCTION_LABEL).cloned();
        let ns = pod.namespace();
        function.zip(ns).map(|(name, ns)| {
            kube::runtime::reflector::ObjectRef::<Function>::new(&name).within(&ns)
        })
    });
    run_controller(controller, CONTROLLER, reconcile, ctx, concurrency, stop).await;
}

/// Reconciles one Function, as a pipeline:
///
/// 1. **fetch**: the Function comes from the controller's cache (a deleted
///    Function needs nothing: its children are garbage-collected through
///    their ownerReferences);
/// 2. **validate** (pure, [`validate::function`]): namespace `tenant-{id}`,
///    name and spec by `eventflow-core`'s rules; an invalid spec sets phase
///    `Failed` / reason `InvalidSpec` and waits for a change;
/// 3. **build** (pure, cannot fail, [`build`]): ServiceAccount, Deployment
///    (its pods with the operator's tolerations and node selector, if set),
///    Service and, with autoscaling, the HPA, all owned by the Function;
/// 4. **apply**: server-side apply with field manager
///    [`crate::FIELD_MANAGER`] and `force`, the four objects concurrently;
///    the HPA is deleted when autoscaling is unset (checked after spec
///    changes);
/// 5. **observe**: the applied Deployment's status; unless all replicas are
///    ready (or the Deployment is seconds old), the pods (image pull / crash
///    loop) and the ReplicaSets' `FailedCreate` events (quota);
/// 6. **status** (pure, [`status::derive`]): written with `patch_status`
///    only when it differs from the current one, so reconciling an
///    unchanged Function writes nothing.
pub async fn reconcile(f: Arc<Function>, ctx: Arc<Context>) -> Result<Action> {
    timed(CONTROLLER, f.as_ref(), &ctx, reconcile_inner(&f, &ctx)).await
}

async fn reconcile_inner(f: &Function, ctx: &Context) -> Result<Action> {
    // 1. fetch
    if f.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = f.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let functions: Api<Function> = Api::namespaced(client.clone(), &ns);
    // 2. validate
    let valid = match validate::function(f) {
        Ok(v) => v,
        Err(invalid) => {
            let st = status::invalid(
                f.status.as_ref(),
                f.meta().generation,
                invalid.to_string(),
                &now(),
            );
            write_status(&functions, f, st, CONTROLLER, ctx).await?;
            return Err(Error::Invalid(invalid));
        }
    };
    let (tenant, name, spec) = (&valid.tenant, &valid.name, &valid.spec);
    let owner = f
        .controller_owner_ref(&())
        .expect("a Function read from the API has a name and uid");
    // 3. build
    let sa = build::service_account(tenant, name, &owner);
    let deployment = build::deployment(tenant, name, spec, &ctx.functions, &owner);
    let service = build::service(tenant, name, &owner);
    let hpa = build::hpa(tenant, name, spec, &owner);
    // 4. apply (independent objects, applied concurrently). The HPA is
    // deleted only after a spec change: an HPA exists only if autoscaling
    // was set, and removing it bumps the generation.
    let sas = Api::<ServiceAccount>::namespaced(client.clone(), &ns);
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let services = Api::<Service>::namespaced(client.clone(), &ns);
    let hpas = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns);
    let spec_changed = f.status.as_ref().and_then(|s| s.observed_generation) != f.meta().generation;
    let hpa_op = async {
        match &hpa {
            Some(h) => apply(&hpas, h).await.map(|_| ()),
            None if spec_changed => delete_if_exists(&hpas, &name.k8s_name()).await,
            None => Ok(()),
        }
    };
    let (_, deployment, _, ()) = futures::try_join!(
        apply(&sas, &sa),
        apply(&deployments, &deployment),
        apply(&services, &service),
        hpa_op,
    )?;
    // 5. observe
    let desired = match &spec.autoscaling {
        Some(_) => deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(0),
        None => i32::try_from(spec.replicas).unwrap_or(i32::MAX),
    };
    let ready = deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    // Failures need pods and events; none can exist for a Deployment this young.
    let young = deployment
        .metadata
        .creation_timestamp
        .as_ref()
        .is_some_and(|t| Utc::now() - t.0 < ChronoDuration::seconds(YOUNG_SECONDS));
    // Pods unless the Deployment is brand new (a Running function reports
    // its restarts), events only when replicas are missing.
    let pods = if young {
        Vec::new()
    } else {
        let pods_api = Api::<Pod>::namespaced(client.clone(), &ns);
        let pod_lp =
            ListParams::default().labels(&format!("{}={}", eventflow_crd::FUNCTION_LABEL, name));
        pods_api.list(&pod_lp).await?.items
    };
    let events = if ready >= desired || young {
        Vec::new()
    } else {
        let events_api = Api::<Event>::namespaced(client.clone(), &ns);
        let event_lp =
            ListParams::default().fields("involvedObject.kind=ReplicaSet,reason=FailedCreate");
        let prefix = format!("{}-", name.k8s_name());
        let cutoff = Utc::now() - ChronoDuration::minutes(EVENT_WINDOW_MINUTES);
        events_api
            .list(&event_lp)
            .await?
            .items
            .into_iter()
            .filter(|e| {
                e.involved_object
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .filter(|e| event_time(e).is_some_and(|t| t >= cutoff))
            .collect()
    };
    // 6. status
    let st = status::derive(
        f.status.as_ref(),
        f.meta().generation,
        desired,
        build::function_url(tenant, name),
        &Observed {
            deployment: Some(&deployment),
            pods: &pods,
            failed_create_events: &events,
        },
        &now(),
    );
    let phase = st.phase;
    write_status(&functions, f, st, CONTROLLER, ctx).await?;
    Ok(match phase {
        Some(Phase::Running) => Action::requeue(STEADY_REQUEUE),
        Some(Phase::Failed) => Action::requeue(FAILED_REQUEUE),
        _ => Action::requeue(PROGRESS_REQUEUE),
    })
}

fn event_time(e: &Event) -> Option<k8s_openapi::chrono::DateTime<Utc>> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or_else(|| e.last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}
