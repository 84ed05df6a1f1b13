//! The kinds of objects the controllers own, each list written once.
//!
//! [`FUNCTION_CHILDREN`] lists the kinds a Function owns. Everything that
//! goes over those kinds is derived from it:
//!
//! * which of a Function's children the controller's caches hold
//!   ([`ChildKind::cached`]; every listed kind must have a cache, see
//!   `crate::cache`, whose watches are also the controller's triggers);
//! * the apply step ([`Applier`]): it records the kind of every object it
//!   applies; after a spec change it deletes the Function's object of each
//!   listed kind it did not apply (the HPA, once `spec.autoscaling` is gone);
//! * the Tenant's orphan sweep ([`sweep_orphans`]): objects of each listed
//!   kind, labelled by the platform, whose Function no longer exists.
//!
//! This follows Stackable operator-rs's `ClusterResources` (record what was
//! applied, delete the rest of each listed kind), with this operator's two
//! narrower deletions: by name while the Function lives, by label once it
//! is gone.
//!
//! [`TENANT_CHILDREN`] lists the kinds a Tenant owns, for the Tenant
//! controller's watches. The Tenant reconciler applies its fixed objects in
//! order (the Namespace first) and has nothing to sweep: their names never
//! change.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;

use eventflow_crd::{
    Function, Tenant, FUNCTION_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, TENANT_LABEL,
};
use futures::future::BoxFuture;
use futures::FutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::NamespaceResourceScope;
use kube::api::ListParams;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use eventflow_kube::delete_if_exists;

use crate::cache::{Cached, Caches};
use crate::service_ip::{self, ServiceIps};
use crate::{apply, Result};

/// Declares a trait that stands for its bounds: every type meeting them
/// has it.
macro_rules! bounds_alias {
    ($(#[$doc:meta])* $name:ident: $($bounds:tt)+) => {
        $(#[$doc])*
        pub(crate) trait $name: $($bounds)+ {}
        impl<K: $($bounds)+> $name for K {}
    };
}

bounds_alias!(
    /// A built-in kind (namespaced or cluster-scoped) a controller watches.
    Kind: Resource<DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + Debug
        + DeserializeOwned
        + Send
        + Sync
        + 'static
);

bounds_alias!(
    /// A namespaced kind the operator applies as a Function's child.
    Child: Kind + Resource<Scope = NamespaceResourceScope> + Serialize
);

/// Deletions of one kind, boxed so that every kind fits one table.
type Deletions<'a> = BoxFuture<'a, Result<()>>;

/// One kind of Function child: whether the controller's caches hold one, how one of
/// its objects is deleted, and how its orphans are swept.
#[derive(Clone, Copy)]
pub(crate) struct ChildKind {
    /// The Kubernetes kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Whether the Function controller's caches hold the object.
    pub cached: fn(&Caches, &str, &str) -> bool,
    delete: for<'a> fn(&'a Client, &'a str, &'a str) -> Deletions<'a>,
    sweep: for<'a> fn(&'a Client, &'a str, &'a BTreeSet<String>) -> Deletions<'a>,
}

impl ChildKind {
    const fn of<K: Cached>() -> Self {
        Self {
            kind: <K as k8s_openapi::Resource>::KIND,
            cached: K::cached,
            delete: delete::<K>,
            sweep: sweep::<K>,
        }
    }
}

/// Every kind a Function owns, once (the order the sweep goes through).
pub(crate) const FUNCTION_CHILDREN: [ChildKind; 4] = [
    ChildKind::of::<Deployment>(),
    ChildKind::of::<Service>(),
    ChildKind::of::<ServiceAccount>(),
    ChildKind::of::<HorizontalPodAutoscaler>(),
];

/// The watch on objects the platform manages (its label on them).
pub(crate) fn managed_by_platform() -> watcher::Config {
    crate::reconcile::watch_config().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"))
}

fn delete<'a, K: Child>(client: &'a Client, ns: &'a str, name: &'a str) -> Deletions<'a> {
    async move {
        delete_if_exists(&Api::<K>::namespaced(client.clone(), ns), name).await?;
        Ok(())
    }
    .boxed()
}

/// Applies one Function's children and records the kind of each, so that
/// [`Applier::delete_unapplied`] can remove what the Function no longer has.
pub(crate) struct Applier {
    client: Client,
    namespace: String,
    applied: BTreeSet<&'static str>,
}

impl Applier {
    pub(crate) fn new(client: Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            applied: BTreeSet::new(),
        }
    }

    /// Records `obj`'s kind as applied and returns its server-side apply
    /// ([`crate::apply`]), sent when awaited (alone or joined with others).
    pub(crate) fn apply<'a, K: Child>(
        &mut self,
        obj: &'a K,
    ) -> impl Future<Output = Result<K>> + 'a {
        self.applied.insert(K::KIND);
        let api = Api::<K>::namespaced(self.client.clone(), &self.namespace);
        async move { Ok(apply(&api, obj).await?) }
    }

    /// [`Applier::apply`] for the function Service: a ClusterIP the API
    /// server refuses is picked again from `ips`
    /// ([`crate::service_ip::apply_service`]).
    pub(crate) fn apply_service<'a>(
        &mut self,
        svc: &'a Service,
        ips: Option<ServiceIps>,
    ) -> impl Future<Output = Result<Service>> + 'a {
        self.applied
            .insert(<Service as k8s_openapi::Resource>::KIND);
        let api = Api::<Service>::namespaced(self.client.clone(), &self.namespace);
        async move { Ok(service_ip::apply_service(&api, svc, ips).await?) }
    }

    /// The kinds recorded as applied so far.
    #[cfg(test)]
    pub(crate) fn applied(&self) -> &BTreeSet<&'static str> {
        &self.applied
    }

    /// Deletes the object `name` of every kind of [`FUNCTION_CHILDREN`] not
    /// recorded as applied (a 404 counts as deleted). Which kinds is decided
    /// now; the deletions are sent when the returned future is awaited.
    pub(crate) fn delete_unapplied(&self, name: &str) -> impl Future<Output = Result<()>> {
        let stale: Vec<ChildKind> = FUNCTION_CHILDREN
            .iter()
            .filter(|k| !self.applied.contains(k.kind))
            .copied()
            .collect();
        let (client, ns, name) = (self.client.clone(), self.namespace.clone(), name.to_owned());
        async move {
            for k in stale {
                (k.delete)(&client, &ns, &name).await?;
            }
            Ok(())
        }
    }
}

/// Deletes function children in the tenant namespace `ns` (labelled by the
/// platform) whose Function does not exist any more, e.g. when their
/// ownerReferences were removed by hand: every kind of [`FUNCTION_CHILDREN`].
pub(crate) async fn sweep_orphans(client: &Client, ns: &str) -> Result<()> {
    let functions: BTreeSet<String> = Api::<Function>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    for k in &FUNCTION_CHILDREN {
        (k.sweep)(client, ns, &functions).await?;
    }
    Ok(())
}

/// Whether `obj`, a function child, belongs to none of `functions` (by its
/// function label; an object without one belongs to none).
fn is_orphan<K: Resource>(obj: &K, functions: &BTreeSet<String>) -> bool {
    let owner = obj
        .labels()
        .get(FUNCTION_LABEL)
        .cloned()
        .unwrap_or_default();
    !functions.contains(&owner)
}

fn sweep<'a, K: Child>(
    client: &'a Client,
    ns: &'a str,
    functions: &'a BTreeSet<String>,
) -> Deletions<'a> {
    async move {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        let lp = ListParams::default().labels(&format!(
            "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{FUNCTION_LABEL}"
        ));
        for obj in api.list(&lp).await?.items {
            if is_orphan(&obj, functions) {
                tracing::info!(namespace = ns, name = %obj.name_any(), kind = %K::KIND, "deleting orphan");
                delete_if_exists(&api, &obj.name_any()).await?;
            }
        }
        Ok(())
    }
    .boxed()
}

/// One kind of Tenant child: how the Tenant controller watches it.
#[derive(Clone, Copy)]
pub(crate) struct TenantChildKind {
    /// The Kubernetes kind, e.g. `ResourceQuota` (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub kind: &'static str,
    watch: fn(Controller<Tenant>, &Client, &watcher::Config) -> Controller<Tenant>,
}

impl TenantChildKind {
    const fn of<K: Kind + Serialize + Default>() -> Self {
        Self {
            kind: <K as k8s_openapi::Resource>::KIND,
            watch: watches::<K>,
        }
    }
}

fn watches<K: Kind + Serialize + Default>(
    controller: Controller<Tenant>,
    client: &Client,
    wc: &watcher::Config,
) -> Controller<Tenant> {
    let changes =
        spec_changes(watcher(Api::<K>::all(client.clone()), wc.clone()).default_backoff());
    controller.watches_stream(changes, owner_of)
}

/// What of an object a Tenant reconcile reacts to: everything but its
/// status and bookkeeping (`resourceVersion`, `managedFields`), hashed.
fn spec_hash<K: Serialize>(obj: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

/// The objects of a watch whose spec, metadata (or existence) changed:
/// an object applied, listed or deleted whose [`spec_hash`] differs from
/// what the watch last saw of it. A ResourceQuota's status changes with
/// every pod, Service or Function created in its namespace; without this
/// each of those changes would be a Tenant reconcile that applies every
/// tenant object again. When the watch lists again (after the API server
/// dropped it, e.g. `410 Gone`), only the objects that changed meanwhile
/// pass, and each one gone meanwhile passes as a stub with its name and
/// tenant label: without that, one re-list would reconcile every tenant.
fn spec_changes<K: Kind + Serialize + Default>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    use futures::StreamExt;
    /// What a watch last saw of an object: its hash, and its tenant.
    struct Seen {
        hash: u64,
        tenant: Option<String>,
    }
    let seen_of = |obj: &K| Seen {
        hash: spec_hash(obj),
        tenant: obj.labels().get(TENANT_LABEL).cloned(),
    };
    let mut seen: std::collections::HashMap<ObjectRef<K>, Seen> = Default::default();
    // While a list is under way: what the watch saw before it.
    let mut before: std::collections::HashMap<ObjectRef<K>, Seen> = Default::default();
    events
        .map(move |event| {
            let event = match event {
                Ok(e) => e,
                Err(e) => return vec![Err(e)],
            };
            let objects = match event {
                watcher::Event::Apply(obj) => {
                    let s = seen_of(&obj);
                    let hash = s.hash;
                    let changed =
                        seen.insert(ObjectRef::from_obj(&obj), s).map(|s| s.hash) != Some(hash);
                    changed.then_some(obj).into_iter().collect()
                }
                watcher::Event::InitApply(obj) => {
                    let s = seen_of(&obj);
                    let hash = s.hash;
                    let key = ObjectRef::from_obj(&obj);
                    let changed = before.remove(&key).map(|s| s.hash) != Some(hash);
                    seen.insert(key, s);
                    changed.then_some(obj).into_iter().collect()
                }
                watcher::Event::Delete(obj) => {
                    seen.remove(&ObjectRef::from_obj(&obj));
                    vec![obj]
                }
                watcher::Event::Init => {
                    before = std::mem::take(&mut seen);
                    Vec::new()
                }
                watcher::Event::InitDone => std::mem::take(&mut before)
                    .into_iter()
                    .map(|(gone, s)| gone_stub::<K>(gone, s.tenant))
                    .collect(),
            };
            objects.into_iter().map(Ok).collect()
        })
        .flat_map(futures::stream::iter)
}

/// An object that is gone, as far as a trigger needs to know it: its name,
/// namespace and tenant label.
fn gone_stub<K: Kind + Default>(gone: ObjectRef<K>, tenant: Option<String>) -> K {
    let mut obj = K::default();
    let meta = obj.meta_mut();
    meta.name = Some(gone.name);
    meta.namespace = gone.namespace;
    meta.labels = tenant.map(|t| std::collections::BTreeMap::from([(TENANT_LABEL.to_string(), t)]));
    obj
}

/// Every kind a Tenant owns, once.
pub(crate) const TENANT_CHILDREN: [TenantChildKind; 5] = [
    TenantChildKind::of::<Namespace>(),
    TenantChildKind::of::<ResourceQuota>(),
    TenantChildKind::of::<LimitRange>(),
    TenantChildKind::of::<NetworkPolicy>(),
    TenantChildKind::of::<RoleBinding>(),
];

/// The Tenant a namespaced or cluster-scoped child belongs to, by its label.
/// (Controller::owns cannot map namespaced children to a cluster-scoped
/// owner, so children are watched and mapped by the tenant label.)
fn owner_of<K: Resource>(obj: K) -> Option<ObjectRef<Tenant>> {
    let id = obj.meta().labels.as_ref()?.get(TENANT_LABEL)?;
    Some(ObjectRef::new(id))
}

/// Adds a watch on every kind of [`TENANT_CHILDREN`], limited to the
/// platform's tenant-level objects (function children carry the function
/// label and are left to the Function controller).
pub(crate) fn watch_tenant_children(
    controller: Controller<Tenant>,
    client: &Client,
) -> Controller<Tenant> {
    let wc = crate::reconcile::watch_config().labels(&format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{TENANT_LABEL},!{FUNCTION_LABEL}"
    ));
    TENANT_CHILDREN
        .iter()
        .fold(controller, |c, k| (k.watch)(c, client, &wc))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use axum::http::{Method, StatusCode};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    use super::*;
    use crate::build::{self, LimitDefaults, NetworkSettings};
    use crate::testing;

    fn kinds<const N: usize>(kinds: [&'static str; N]) -> BTreeSet<&'static str> {
        let set = BTreeSet::from(kinds);
        assert_eq!(set.len(), N, "a kind is listed twice: {kinds:?}");
        set
    }

    fn kind_of<K: k8s_openapi::Resource>(_: &K) -> &'static str {
        K::KIND
    }

    #[test]
    fn the_tenant_list_is_what_the_tenant_builders_make() {
        let id = eventflow_core::TenantId::parse("acme").unwrap();
        let owner = OwnerReference::default();
        let quota = eventflow_core::QuotaSpec::default();
        let built = [
            kind_of(&build::namespace(&id, &owner)),
            kind_of(&build::resource_quota(&id, &quota, &owner)),
            kind_of(&build::limit_range(&id, &LimitDefaults::default(), &owner)),
            kind_of(&build::network_policies(&id, &NetworkSettings::default(), &owner)[0]),
            kind_of(&build::server_role_binding(
                &id,
                &Default::default(),
                &owner,
            )),
        ];
        assert_eq!(kinds(TENANT_CHILDREN.map(|k| k.kind)), kinds(built));
    }

    fn labelled(function: &str) -> ObjectMeta {
        ObjectMeta {
            labels: Some(BTreeMap::from([(FUNCTION_LABEL.into(), function.into())])),
            ..ObjectMeta::default()
        }
    }

    /// Tenant `tenant`'s quota: `pods` the hard limit, `used` its status.
    fn quota(tenant: &str, pods: &str, used: &str, rv: &str) -> ResourceQuota {
        use k8s_openapi::api::core::v1::{ResourceQuotaSpec, ResourceQuotaStatus};
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        ResourceQuota {
            metadata: ObjectMeta {
                name: Some("quota".into()),
                namespace: Some(format!("tenant-{tenant}")),
                labels: Some(BTreeMap::from([(TENANT_LABEL.into(), tenant.into())])),
                resource_version: Some(rv.into()),
                ..ObjectMeta::default()
            },
            spec: Some(ResourceQuotaSpec {
                hard: Some(BTreeMap::from([("pods".into(), Quantity(pods.into()))])),
                ..ResourceQuotaSpec::default()
            }),
            status: Some(ResourceQuotaStatus {
                used: Some(BTreeMap::from([("pods".into(), Quantity(used.into()))])),
                ..ResourceQuotaStatus::default()
            }),
        }
    }

    #[tokio::test]
    async fn tenant_children_trigger_on_what_changed_but_their_status() {
        use futures::StreamExt;
        let quota = |pods: &str, used: &str, rv: &str| quota("acme", pods, used, rv);
        let events = futures::stream::iter([
            watcher::Event::Init,
            watcher::Event::InitApply(quota("10", "0", "1")),
            watcher::Event::InitDone,
            watcher::Event::Apply(quota("10", "1", "2")),
            watcher::Event::Apply(quota("10", "2", "3")),
            watcher::Event::Apply(quota("20", "2", "4")),
            watcher::Event::Apply(quota("20", "3", "5")),
            watcher::Event::Delete(quota("20", "3", "5")),
        ])
        .map(Ok);
        let seen: Vec<String> = spec_changes(events)
            .map(|q| {
                let q = q.expect("no error");
                q.metadata.resource_version.unwrap_or_default()
            })
            .collect()
            .await;
        // Listed, the hard limit changed, deleted; the status updates are not triggers.
        assert_eq!(seen, ["1", "4", "5"]);
    }

    #[tokio::test]
    async fn a_relist_passes_only_what_changed_or_went_meanwhile() {
        use futures::StreamExt;
        let quota = |tenant: &str, pods: &str, used: &str| {
            quota(tenant, pods, used, &format!("{tenant}-{pods}-{used}"))
        };
        let events = futures::stream::iter([
            watcher::Event::Init,
            watcher::Event::InitApply(quota("same", "10", "0")),
            watcher::Event::InitApply(quota("changed", "10", "0")),
            watcher::Event::InitApply(quota("gone", "10", "0")),
            watcher::Event::InitDone,
            // The watch is dropped and lists again: one quota's status
            // moved, one's limit changed, one was deleted, one is new.
            watcher::Event::Init,
            watcher::Event::InitApply(quota("same", "10", "7")),
            watcher::Event::InitApply(quota("changed", "20", "0")),
            watcher::Event::InitApply(quota("new", "10", "0")),
            watcher::Event::InitDone,
            // After the list, a status update is no trigger, a spec change is.
            watcher::Event::Apply(quota("same", "10", "8")),
            watcher::Event::Apply(quota("same", "30", "8")),
        ])
        .map(Ok);
        let seen: Vec<(String, String, Option<String>)> = spec_changes(events)
            .map(|q| {
                let q = q.expect("no error");
                (
                    q.labels().get(TENANT_LABEL).cloned().unwrap_or_default(),
                    q.namespace().unwrap_or_default(),
                    q.metadata.resource_version,
                )
            })
            .collect()
            .await;
        let gone = ("gone".to_string(), "tenant-gone".to_string(), None);
        let listed = |tenant: &str, rv: &str| {
            (
                tenant.to_string(),
                format!("tenant-{tenant}"),
                Some(rv.to_string()),
            )
        };
        assert_eq!(
            seen,
            [
                listed("same", "same-10-0"),
                listed("changed", "changed-10-0"),
                listed("gone", "gone-10-0"),
                listed("changed", "changed-20-0"),
                listed("new", "new-10-0"),
                gone,
                listed("same", "same-30-8"),
            ]
        );
        // Each passes to its own tenant.
        assert_eq!(owner_of(gone_stub_of("gone")), Some(ObjectRef::new("gone")));
    }

    fn gone_stub_of(tenant: &str) -> ResourceQuota {
        gone_stub(
            ObjectRef::<ResourceQuota>::new("quota").within(&format!("tenant-{tenant}")),
            Some(tenant.into()),
        )
    }

    #[test]
    fn a_child_is_an_orphan_unless_its_function_exists() {
        let functions = BTreeSet::from(["kept".to_string()]);
        let child = |metadata| Service {
            metadata,
            ..Service::default()
        };
        assert!(!is_orphan(&child(labelled("kept")), &functions));
        assert!(is_orphan(&child(labelled("gone")), &functions));
        assert!(is_orphan(&child(ObjectMeta::default()), &functions));
    }

    /// A tenant namespace with the Function `kept` and, of every kind, the
    /// children `fn-kept` and `fn-gone`.
    fn namespace_with_an_orphan(call: &testing::Call) -> (StatusCode, serde_json::Value) {
        let list = |items: serde_json::Value| serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items});
        let child = |name: &str| {
            serde_json::json!({"metadata": {"name": format!("fn-{name}"),
                "labels": {FUNCTION_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY_VALUE}}})
        };
        match call.method {
            Method::GET if call.path.ends_with("/functions") => (
                StatusCode::OK,
                list(serde_json::json!([{"apiVersion": "eventflow.io/v1alpha1",
                    "kind": "Function", "metadata": {"name": "kept"}, "spec": {"image": "x"}}])),
            ),
            Method::GET => (
                StatusCode::OK,
                list(serde_json::json!([child("kept"), child("gone")])),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": "not found"}),
            ),
        }
    }

    #[tokio::test]
    async fn the_sweep_deletes_the_orphans_of_every_listed_kind() {
        let (client, calls) = testing::client(namespace_with_an_orphan);
        sweep_orphans(&client, "tenant-acme").await.expect("swept");
        let calls = calls.lock().unwrap();
        let deleted: BTreeSet<&str> = calls
            .iter()
            .filter(|c| c.method == Method::DELETE)
            .map(|c| c.path.as_str())
            .collect();
        assert_eq!(
            deleted,
            BTreeSet::from([
                "/apis/apps/v1/namespaces/tenant-acme/deployments/fn-gone",
                "/api/v1/namespaces/tenant-acme/services/fn-gone",
                "/api/v1/namespaces/tenant-acme/serviceaccounts/fn-gone",
                "/apis/autoscaling/v2/namespaces/tenant-acme/horizontalpodautoscalers/fn-gone",
            ])
        );
        let listed = calls.iter().filter(|c| c.method == Method::GET).count();
        assert_eq!(listed, 1 + FUNCTION_CHILDREN.len());
        assert_eq!(
            deleted.len(),
            kinds(FUNCTION_CHILDREN.map(|k| k.kind)).len()
        );
    }
}
