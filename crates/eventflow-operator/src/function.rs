//! The Function controller.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use eventflow_core::FunctionSpec;
use eventflow_crd::{Function, Phase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Resource, ResourceExt};

use crate::build::FunctionChildren;
use crate::cache::{self, children_hash, Caches, Fresh, FunctionKey, InCache, Writers};
use crate::children::{Applier, ChildKind};
use crate::reconcile::{run_controller, timed, trigger_watch, write_status, Shared};
use crate::service_ip::ServiceIps;
use crate::status::{self, Observed};
use crate::{build, now, validate, Context, Error, Result, StopSignal};

/// Metric label of this controller.
pub const CONTROLLER: &str = "function";
/// How often a function that is not Running is looked at again (pod and
/// Deployment changes trigger a reconcile anyway).
pub const PROGRESS_REQUEUE: Duration = Duration::from_secs(10);
/// How often a Failed function (quota, image, crash loop) is looked at again.
pub const FAILED_REQUEUE: Duration = Duration::from_secs(30);
/// How often a Running function is re-checked without any change.
pub const STEADY_REQUEUE: Duration = Duration::from_secs(300);

/// What the Function controller's reconciles share: the operator's
/// [`Context`] and the controller's [`Caches`].
pub struct FunctionContext {
    pub base: Arc<Context>,
    pub caches: Caches,
}

impl FunctionContext {
    /// `base` with empty caches, and the caches' writers.
    pub fn new(base: Arc<Context>) -> (Self, Writers) {
        let (caches, writers) = Caches::new();
        (Self { base, caches }, writers)
    }
}

impl Shared for FunctionContext {
    fn context(&self) -> &Context {
        &self.base
    }
}

/// Runs the Function controller until `stop`. Its watches: the Functions
/// (kept without managedFields; a reconcile only when their spec or uid
/// changed, see [`generation_of_uid`]), and the children and pods that feed
/// [`Caches`], each also a trigger (pods belong to ReplicaSets, not to the
/// Function: they are mapped by label, so a crash, an OOM kill or a failed
/// pull shows in the status at once).
pub async fn run(ctx: Arc<Context>, selector: Option<String>, concurrency: u16, stop: StopSignal) {
    let client = ctx.client.clone();
    let (functions, writer) = reflector::store();
    let trigger = watcher(
        Api::<Function>::all(client.clone()),
        trigger_watch(selector.as_deref()),
    )
    .default_backoff()
    .modify(cache::trim_function)
    .reflect(writer)
    .applied_objects()
    .predicate_filter(generation_of_uid);
    let (fctx, writers) = FunctionContext::new(ctx);
    let controller = writers.watch(
        Controller::for_stream(trigger, functions),
        &client,
        pod_function,
    );
    run_controller(
        controller,
        CONTROLLER,
        reconcile,
        Arc::new(fctx),
        concurrency,
        stop,
    )
    .await;
}

/// What a change to a Function must change to trigger a reconcile: its
/// generation (its spec) or its uid (deleted and created again under the
/// same name, generation 1 again). The status writes of the reconcile
/// itself do not trigger another: with 500 new Functions each triggered a
/// reconcile that found some children not yet in the cache and applied
/// them all again.
fn generation_of_uid(f: &Function) -> Option<u64> {
    let mut h = DefaultHasher::new();
    (f.meta().uid.as_deref(), f.meta().generation).hash(&mut h);
    Some(h.finish())
}

/// The Function a pod belongs to, by its function label.
fn pod_function(pod: Pod) -> Option<ObjectRef<Function>> {
    let function = pod.labels().get(eventflow_crd::FUNCTION_LABEL).cloned();
    let ns = pod.namespace();
    function
        .zip(ns)
        .map(|(name, ns)| ObjectRef::<Function>::new(&name).within(&ns))
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
/// 4. **apply**: nothing when [`Caches::fresh`] says the children are as
///    last applied; otherwise server-side apply with field manager
///    [`crate::FIELD_MANAGER`] and `force`, the objects concurrently, each
///    one's kind recorded; after a spec change (or when the cache holds a
///    child of a kind no longer wanted) the Function's object of every
///    child kind not applied is deleted (the HPA when autoscaling is unset;
///    the kinds are listed once, in the `children` module);
/// 5. **observe** (no API call): the Deployment's status and conditions
///    (as applied, or from the cache; a quota refusal shows as its
///    `ReplicaFailure` condition) and the pods from the cache (image pull,
///    crash loop, OOM kill);
/// 6. **status** (pure, [`status::derive`]): written with `patch_status`
///    only when it differs from the current one, so reconciling an
///    unchanged Function writes nothing.
pub async fn reconcile(f: Arc<Function>, ctx: Arc<FunctionContext>) -> Result<Action> {
    timed(CONTROLLER, f.as_ref(), &ctx.base, reconcile_inner(&f, &ctx)).await
}

async fn reconcile_inner(f: &Function, fctx: &FunctionContext) -> Result<Action> {
    let (ctx, caches) = (fctx.base.as_ref(), &fctx.caches);
    // 1. fetch
    if f.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = f.namespace().unwrap_or_default();
    let functions: Api<Function> = Api::namespaced(ctx.client.clone(), &ns);
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
    if !caches.synced().await {
        return Err(Error::NotSynced);
    }
    let child = name.k8s_name();
    let uid = f.meta().uid.clone().unwrap_or_default();
    let key = FunctionKey {
        ns: &ns,
        uid: &uid,
        child: &child,
    };
    // 3. build (with the Service's ClusterIP, when the operator picks them:
    // the one it has, else a new one)
    let service_ip = ctx.service_ips.map(|ips| {
        caches
            .service_ip(&key)
            .unwrap_or_else(|| ips.pick(&mut rand::thread_rng()).to_string())
    });
    let children = build::function_children(
        tenant,
        name,
        spec,
        &ctx.functions,
        &owner,
        valid.secrets_revision.as_deref(),
        service_ip.as_deref(),
    );
    // 4. apply (unless what was last applied is still there)
    let hash = children_hash(&children);
    let wanted = kinds(&children);
    let in_cache = InCache::of(&wanted, |kind: &ChildKind| {
        (kind.cached)(caches, &ns, &child)
    });
    let deployment = match caches.fresh(&key, hash, in_cache) {
        Fresh::Yes(d) => Deployment::clone(&d),
        // The reconcile that applied them wrote the status; the Deployment's
        // watch event brings the next one.
        Fresh::Arriving(window) => return Ok(Action::requeue(window)),
        Fresh::No(why) => {
            tracing::debug!(function = %name, namespace = %ns, ?why, "applying the children");
            let spec_changed =
                f.status.as_ref().and_then(|s| s.observed_generation) != f.meta().generation;
            let stale = spec_changed || in_cache.unwanted;
            let mut applier = Applier::new(ctx.client.clone(), &ns);
            let applied =
                apply_children(&mut applier, &children, &child, stale, ctx.service_ips).await;
            match applied {
                Ok((d, service)) => {
                    let ip = service.spec.and_then(|s| s.cluster_ip);
                    // A refused address was picked again: remember the
                    // hash of what was applied, which the next reconcile
                    // builds (with the address now in the cache).
                    let hash = match (&ip, &service_ip) {
                        (Some(applied), Some(built)) if applied != built => {
                            let mut sent = children.clone();
                            if let Some(spec) = sent.service.spec.as_mut() {
                                spec.cluster_ip = Some(applied.clone());
                            }
                            children_hash(&sent)
                        }
                        _ => hash,
                    };
                    caches.record(&key, hash, d.metadata.generation, ip);
                    ctx.metrics.applied(CONTROLLER);
                    d
                }
                Err(e) => {
                    caches.forget(&key);
                    return Err(e);
                }
            }
        }
    };
    // 5. observe
    let desired = desired_replicas(spec, &deployment);
    let pods = caches.pods(&ns, name.as_str());
    // 6. status
    let mut st = status::derive(
        f.status.as_ref(),
        f.meta().generation,
        desired,
        build::function_url(tenant, name, &ctx.functions),
        &Observed {
            deployment: Some(&deployment),
            pods: &pods,
        },
        &now(),
    );
    if st.phase == Some(Phase::Running) {
        st.image_digest = status::image_digest(&spec.image, &pods);
    }
    let phase = st.phase;
    write_status(&functions, f, st, CONTROLLER, ctx).await?;
    Ok(match phase {
        Some(Phase::Running | Phase::Idle) => Action::requeue(STEADY_REQUEUE),
        Some(Phase::Failed) => Action::requeue(FAILED_REQUEUE),
        _ => Action::requeue(PROGRESS_REQUEUE),
    })
}

/// Step 4: the server-side applies of `children`, all at once, recorded in
/// `applier` before anything is sent. After a spec change the Function's
/// objects of the kinds not applied are deleted too: an HPA exists only if
/// autoscaling was set, and removing it bumps the generation. A ClusterIP
/// the API server refuses is picked again from `ips`
/// ([`crate::service_ip::apply_service`]). Returns the applied Deployment
/// and Service.
fn apply_children<'a>(
    applier: &mut Applier,
    children: &'a FunctionChildren,
    name: &str,
    spec_changed: bool,
    ips: Option<ServiceIps>,
) -> impl Future<Output = Result<(Deployment, Service)>> + 'a {
    let sa = applier.apply(&children.service_account);
    let deployment = applier.apply(&children.deployment);
    let service = applier.apply_service(&children.service, ips);
    let hpa = children.hpa.as_ref().map(|h| applier.apply(h));
    let stale = spec_changed.then(|| applier.delete_unapplied(name));
    async move {
        let (_, deployment, service, _, _) =
            futures::try_join!(sa, deployment, service, optional(hpa), optional(stale))?;
        Ok((deployment, service))
    }
}

/// Awaits `f` if there is one.
async fn optional<T>(f: Option<impl Future<Output = Result<T>>>) -> Result<Option<T>> {
    match f {
        Some(f) => f.await.map(Some),
        None => Ok(None),
    }
}

/// The replicas the Function should have: its spec's, or with autoscaling
/// the HPA's choice as the applied Deployment carries it.
fn desired_replicas(spec: &FunctionSpec, deployment: &Deployment) -> i32 {
    match &spec.autoscaling {
        Some(_) => deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(0),
        None => i32::try_from(spec.replicas).unwrap_or(i32::MAX),
    }
}

/// The kinds [`apply_children`] applies for `children`.
fn kinds(children: &FunctionChildren) -> BTreeSet<&'static str> {
    use k8s_openapi::Resource as _;
    let mut kinds = BTreeSet::from([ServiceAccount::KIND, Deployment::KIND, Service::KIND]);
    if children.hpa.is_some() {
        kinds.insert(HorizontalPodAutoscaler::KIND);
    }
    kinds
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::{Method, StatusCode};
    use eventflow_core::spec::RawAutoscaling;
    use eventflow_core::{FunctionName, RawFunctionSpec, SpecLimits, TenantId};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;
    use crate::children::FUNCTION_CHILDREN;
    use crate::testing;
    use crate::FunctionSettings;

    fn children(autoscaling: bool) -> FunctionChildren {
        let raw = RawFunctionSpec {
            image: Some("ghcr.io/acme/hello:1".into()),
            autoscaling: autoscaling.then_some(RawAutoscaling {
                min_replicas: Some(1),
                max_replicas: Some(3),
                target_cpu_percent: Some(70),
                ..RawAutoscaling::default()
            }),
            ..RawFunctionSpec::default()
        };
        let spec = FunctionSpec::parse(raw, SpecLimits::default()).expect("valid spec");
        build::function_children(
            &TenantId::parse("acme").unwrap(),
            &FunctionName::parse("hello").unwrap(),
            &spec,
            &FunctionSettings::default(),
            &OwnerReference::default(),
            None,
            None,
        )
    }

    #[tokio::test]
    async fn a_full_function_applies_exactly_the_listed_child_kinds() {
        let mut applier = Applier::new(testing::unused_client(), "tenant-acme");
        let full = children(true);
        // Recorded when the step is set up; dropped unsent.
        drop(apply_children(&mut applier, &full, "fn-hello", true, None));
        let listed: BTreeSet<&str> = FUNCTION_CHILDREN.iter().map(|k| k.kind).collect();
        assert_eq!(applier.applied(), &listed);
        // What the cache check expects to find is what is applied.
        assert_eq!(&kinds(&full), applier.applied());
        let mut applier = Applier::new(testing::unused_client(), "tenant-acme");
        let plain = children(false);
        drop(apply_children(
            &mut applier,
            &plain,
            "fn-hello",
            false,
            None,
        ));
        assert_eq!(&kinds(&plain), applier.applied());
    }

    /// DELETE paths the apply step sends for a Function without autoscaling.
    async fn deletions(spec_changed: bool) -> Vec<String> {
        let (client, calls) = testing::client(|call| match call.method {
            Method::PATCH => (StatusCode::OK, call.body.clone()),
            _ => (
                StatusCode::NOT_FOUND,
                serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": "not found"}),
            ),
        });
        let mut applier = Applier::new(client, "tenant-acme");
        let plain = children(false);
        apply_children(&mut applier, &plain, "fn-hello", spec_changed, None)
            .await
            .expect("applied");
        let calls = calls.lock().unwrap();
        assert_eq!(
            calls.iter().filter(|c| c.method == Method::PATCH).count(),
            3
        );
        calls
            .iter()
            .filter(|c| c.method == Method::DELETE)
            .map(|c| c.path.clone())
            .collect()
    }

    #[tokio::test]
    async fn after_a_spec_change_the_kinds_not_applied_are_deleted() {
        assert_eq!(
            deletions(true).await,
            ["/apis/autoscaling/v2/namespaces/tenant-acme/horizontalpodautoscalers/fn-hello"]
        );
        assert!(deletions(false).await.is_empty());
    }

    #[test]
    fn only_a_new_generation_or_uid_triggers_a_reconcile() {
        let spec = FunctionSpec::parse(
            RawFunctionSpec {
                image: Some("ghcr.io/acme/hello:1".into()),
                ..RawFunctionSpec::default()
            },
            SpecLimits::default(),
        )
        .expect("valid spec");
        let mut f = Function::new("hello", eventflow_crd::FunctionSpec::from(&spec));
        f.metadata.uid = Some("u-1".into());
        f.metadata.generation = Some(1);
        let first = generation_of_uid(&f);
        // The reconcile's own status write, an annotation: no trigger.
        let mut touched = f.clone();
        touched.status = Some(eventflow_crd::FunctionStatus {
            phase: Some(Phase::Running),
            ..eventflow_crd::FunctionStatus::default()
        });
        touched.metadata.annotations = Some([("touch".into(), "1".into())].into());
        touched.metadata.resource_version = Some("43".into());
        assert_eq!(generation_of_uid(&touched), first);
        // A spec change, or the same name created again: a trigger.
        let mut changed = f.clone();
        changed.metadata.generation = Some(2);
        assert_ne!(generation_of_uid(&changed), first);
        let mut again = f.clone();
        again.metadata.uid = Some("u-2".into());
        assert_ne!(generation_of_uid(&again), first);
    }
}
