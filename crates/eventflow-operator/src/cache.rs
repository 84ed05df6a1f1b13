//! What the Function controller reads from its watches instead of asking the
//! API server on every reconcile.
//!
//! The watches the controller needs anyway (to be woken when a child or a
//! pod changes) feed reflector stores, so a reconcile reads its Deployment,
//! the existence of its other children and its pods from memory. With
//! [`Caches::fresh`] a reconcile skips the server-side applies when what it
//! would send is what it last sent, every child is still there and nobody
//! changed the Deployment's spec since: a Function's children are applied
//! once when it is created or changed (and again every [`RESYNC`] or after
//! an operator restart), not on every pod event. On 500 functions that
//! is the difference between the operator keeping up and the API server
//! spending its time on no-op applies.
//!
//! What is kept is trimmed as it arrives ([`trim_deployment`],
//! [`trim_pod`], [`trim_service`], [`trim_meta`]): no `managedFields`, no
//! pod templates, no labels or annotations the reconcile does not read, no
//! pod spec beyond each container's name and image, no pod status beyond
//! its `Ready` condition and its containers' states, no Service spec but
//! its ClusterIP. The Function itself is kept without its
//! `managedFields` too (the controller's own store).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventflow_crd::Function;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus, Service, ServiceAccount,
    ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{metadata_watcher, watcher, Controller, WatchStreamExt};
use kube::{Api, Client, Resource};

use crate::build::FunctionChildren;
use crate::children::{managed_by_platform, Child, ChildKind, FUNCTION_CHILDREN};

/// How long an apply counts as fresh: after this a reconcile applies the
/// children again even if nothing seems changed, which puts back labels or
/// annotations someone edited (edits to a Deployment's spec are noticed at
/// once, by its generation).
pub const RESYNC: Duration = Duration::from_secs(300);

/// How long after an apply a child missing from the cache counts as on its
/// way (its watch has not delivered it yet) rather than gone: a reconcile
/// in that window applies nothing and looks again when it ends. With 500
/// new Functions the Deployment watch lagged the Service's and the
/// ServiceAccount's, and every reconcile those triggered applied all three
/// again (0.6 extra applies per Function).
pub const IN_FLIGHT: Duration = Duration::from_secs(15);

/// How long a reconcile waits for the watches' first lists.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// What the last apply of one Function sent, and when.
#[derive(Debug, Clone)]
struct Applied {
    /// [`children_hash`] of what was sent.
    hash: u64,
    /// The Deployment's `metadata.generation` the apply answered.
    generation: Option<i64>,
    /// The ClusterIP the Service was applied with, if it named one.
    service_ip: Option<String>,
    at: Instant,
}

/// The reflector stores of the Function controller, and what it last applied.
pub struct Caches {
    deployments: Store<Deployment>,
    pods: Store<Pod>,
    services: Store<Service>,
    accounts: Store<PartialObjectMeta<ServiceAccount>>,
    hpas: Store<PartialObjectMeta<HorizontalPodAutoscaler>>,
    /// By the Function's uid (a Function deleted and created again under
    /// the same name is another one, with nothing applied yet).
    applied: Mutex<HashMap<String, Applied>>,
    /// [`IN_FLIGHT`], or another window (tests).
    in_flight: Duration,
}

/// The writing halves of [`Caches`]: fed by the controller's watches
/// ([`Writers::watch`]), or by hand in tests.
pub struct Writers {
    pub deployments: reflector::store::Writer<Deployment>,
    pub pods: reflector::store::Writer<Pod>,
    pub services: reflector::store::Writer<Service>,
    pub accounts: reflector::store::Writer<PartialObjectMeta<ServiceAccount>>,
    pub hpas: reflector::store::Writer<PartialObjectMeta<HorizontalPodAutoscaler>>,
}

/// A child kind whose objects the caches hold (at least their metadata).
pub(crate) trait Cached: Child {
    /// Whether the caches hold the object `name` in `ns`.
    fn cached(caches: &Caches, ns: &str, name: &str) -> bool;
}

fn has<K: Resource<DynamicType = ()> + Clone>(store: &Store<K>, ns: &str, name: &str) -> bool {
    store.get(&ObjectRef::new(name).within(ns)).is_some()
}

impl Cached for Deployment {
    fn cached(c: &Caches, ns: &str, name: &str) -> bool {
        has(&c.deployments, ns, name)
    }
}
impl Cached for Service {
    fn cached(c: &Caches, ns: &str, name: &str) -> bool {
        has(&c.services, ns, name)
    }
}
impl Cached for ServiceAccount {
    fn cached(c: &Caches, ns: &str, name: &str) -> bool {
        has(&c.accounts, ns, name)
    }
}
impl Cached for HorizontalPodAutoscaler {
    fn cached(c: &Caches, ns: &str, name: &str) -> bool {
        has(&c.hpas, ns, name)
    }
}

impl Caches {
    /// Empty caches and their writers.
    pub fn new() -> (Self, Writers) {
        let (deployments, dw) = reflector::store();
        let (pods, pw) = reflector::store();
        let (services, sw) = reflector::store();
        let (accounts, aw) = reflector::store();
        let (hpas, hw) = reflector::store();
        (
            Self {
                deployments,
                pods,
                services,
                accounts,
                hpas,
                applied: Mutex::new(HashMap::new()),
                in_flight: IN_FLIGHT,
            },
            Writers {
                deployments: dw,
                pods: pw,
                services: sw,
                accounts: aw,
                hpas: hw,
            },
        )
    }

    /// Takes a child missing from the cache as on its way for `window`
    /// after an apply, instead of [`IN_FLIGHT`].
    pub fn set_in_flight(&mut self, window: Duration) {
        self.in_flight = window;
    }

    /// Waits until every watch has listed once (at most [`SYNC_TIMEOUT`]);
    /// `false` if one has not.
    pub async fn synced(&self) -> bool {
        let all = async {
            let _ = futures::join!(
                self.deployments.wait_until_ready(),
                self.pods.wait_until_ready(),
                self.services.wait_until_ready(),
                self.accounts.wait_until_ready(),
                self.hpas.wait_until_ready(),
            );
        };
        tokio::time::timeout(SYNC_TIMEOUT, all).await.is_ok()
    }

    /// The cached Deployment `name` in `ns` (trimmed: no pod template).
    pub fn deployment(&self, ns: &str, name: &str) -> Option<Arc<Deployment>> {
        self.deployments.get(&ObjectRef::new(name).within(ns))
    }

    /// The ClusterIP of the Function's Service: the cached Service's, or
    /// (until its watch brings it) the one the last apply named.
    pub(crate) fn service_ip(&self, function: &FunctionKey<'_>) -> Option<String> {
        let cached = self
            .services
            .get(&ObjectRef::new(function.child).within(function.ns))
            .and_then(|s| s.spec.as_ref()?.cluster_ip.clone())
            .filter(|ip| !ip.is_empty() && ip != "None");
        cached.or_else(|| {
            let applied = self.applied.lock().expect("applied map");
            applied.get(function.uid)?.service_ip.clone()
        })
    }

    /// The cached pods of `function` in `ns` (by the function label).
    pub fn pods(&self, ns: &str, function: &str) -> Vec<Pod> {
        self.pods
            .state()
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(eventflow_crd::FUNCTION_LABEL))
                    .is_some_and(|f| f == function)
            })
            .map(|p| Pod::clone(p))
            .collect()
    }

    /// Whether the Function's children need an apply: not when the last
    /// apply sent `hash` less than [`RESYNC`] ago, the Deployment's
    /// generation is still the one that apply answered, and `in_cache` says
    /// the cache holds a child of each wanted kind and of no other. Within
    /// [`IN_FLIGHT`] of that apply a wanted child the cache lacks is taken
    /// as on its way.
    pub(crate) fn fresh(&self, function: &FunctionKey<'_>, hash: u64, in_cache: InCache) -> Fresh {
        let (applied_hash, generation, at) = {
            let map = self.applied.lock().expect("applied map");
            let Some(a) = map.get(function.uid) else {
                return Fresh::No(Stale::NeverApplied);
            };
            (a.hash, a.generation, a.at)
        };
        if applied_hash != hash {
            return Fresh::No(Stale::Changed);
        }
        if at.elapsed() >= RESYNC {
            return Fresh::No(Stale::Resync);
        }
        if in_cache.unwanted {
            return Fresh::No(Stale::ChildrenDiffer);
        }
        let deployment = self.deployment(function.ns, function.child);
        match deployment {
            Some(d) if !in_cache.missing => {
                if d.metadata.generation == generation {
                    Fresh::Yes(d)
                } else {
                    Fresh::No(Stale::DeploymentEdited)
                }
            }
            _ if at.elapsed() < self.in_flight => Fresh::Arriving(self.in_flight),
            Some(_) => Fresh::No(Stale::ChildrenDiffer),
            None => Fresh::No(Stale::DeploymentNotCached),
        }
    }

    /// Records that `hash` was applied to the Function now, the
    /// Deployment answered `generation` and the Service was applied with
    /// `service_ip`. Entries past [`RESYNC`] (mostly deleted Functions')
    /// are dropped on the way.
    pub(crate) fn record(
        &self,
        function: &FunctionKey<'_>,
        hash: u64,
        generation: Option<i64>,
        service_ip: Option<String>,
    ) {
        let mut map = self.applied.lock().expect("applied map");
        map.retain(|_, a| a.at.elapsed() < RESYNC);
        map.insert(
            function.uid.to_owned(),
            Applied {
                hash,
                generation,
                service_ip,
                at: Instant::now(),
            },
        );
    }

    /// Forgets what was applied to the Function (a failed apply may have
    /// changed some children and not others).
    pub(crate) fn forget(&self, function: &FunctionKey<'_>) {
        self.applied
            .lock()
            .expect("applied map")
            .remove(function.uid);
    }
}

/// Which Function a cache lookup is for.
pub(crate) struct FunctionKey<'a> {
    pub ns: &'a str,
    pub uid: &'a str,
    /// Its children's name (`fn-{name}`).
    pub child: &'a str,
}

/// A hash of everything a reconcile would apply (the children as JSON), so
/// that an unchanged Function is recognised. A different operator version
/// may hash differently: that costs one apply per Function, nothing else.
pub(crate) fn children_hash(children: &FunctionChildren) -> u64 {
    let mut h = DefaultHasher::new();
    let json = |v: serde_json::Result<Vec<u8>>| v.unwrap_or_default();
    json(serde_json::to_vec(&children.service_account)).hash(&mut h);
    json(serde_json::to_vec(&children.deployment)).hash(&mut h);
    json(serde_json::to_vec(&children.service)).hash(&mut h);
    children
        .hpa
        .as_ref()
        .map(|hpa| json(serde_json::to_vec(hpa)))
        .hash(&mut h);
    h.finish()
}

/// Which of a Function's child kinds the cache holds, against the kinds
/// its children are built of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InCache {
    /// A wanted kind has no child in the cache.
    pub missing: bool,
    /// A kind no longer wanted still has one.
    pub unwanted: bool,
}

impl InCache {
    /// Compares `wanted` with what `cached` says of each kind of
    /// [`FUNCTION_CHILDREN`].
    pub(crate) fn of(wanted: &BTreeSet<&str>, cached: impl Fn(&ChildKind) -> bool) -> Self {
        let mut found = Self {
            missing: false,
            unwanted: false,
        };
        for kind in FUNCTION_CHILDREN.iter() {
            match (wanted.contains(kind.kind), cached(kind)) {
                (true, false) => found.missing = true,
                (false, true) => found.unwanted = true,
                _ => {}
            }
        }
        found
    }
}

/// What [`Caches::fresh`] says of a Function's children.
#[derive(Debug, Clone)]
pub(crate) enum Fresh {
    /// As last applied, all in the cache: the cached Deployment.
    Yes(Arc<Deployment>),
    /// Applied moments ago, not all in the cache yet: look again after
    /// this long (their watch events trigger a reconcile anyway).
    Arriving(Duration),
    /// To be applied, and why.
    No(Stale),
}

/// Why [`Caches::fresh`] says a Function's children are to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stale {
    /// Nothing applied by this process, or not in the last [`RESYNC`].
    NeverApplied,
    /// The children built now differ from those last applied.
    Changed,
    /// The last apply is [`RESYNC`] old.
    Resync,
    /// The Deployment is still not in the cache [`IN_FLIGHT`] after the
    /// apply.
    DeploymentNotCached,
    /// The Deployment's generation moved since the apply (its spec was
    /// written by someone else).
    DeploymentEdited,
    /// A child of a kind no longer wanted is in the cache, or one wanted
    /// is still missing [`IN_FLIGHT`] after the apply.
    ChildrenDiffer,
}

/// A Deployment as the cache keeps it: of its metadata what identifies it,
/// its generation, age and owner (the watch maps it to its Function by the
/// ownerReference); no pod template (the reconcile reads `spec.replicas`
/// and the status).
pub fn trim_deployment(d: &mut Deployment) {
    d.metadata = ObjectMeta {
        name: d.metadata.name.take(),
        namespace: d.metadata.namespace.take(),
        uid: d.metadata.uid.take(),
        resource_version: d.metadata.resource_version.take(),
        generation: d.metadata.generation,
        creation_timestamp: d.metadata.creation_timestamp.take(),
        deletion_timestamp: d.metadata.deletion_timestamp.take(),
        owner_references: d.metadata.owner_references.take(),
        ..ObjectMeta::default()
    };
    if let Some(spec) = d.spec.as_mut() {
        spec.template = Default::default();
    }
}

/// A pod as the cache keeps it, only what the status derivation reads: its
/// name, function label and deletion; each container's name and image (for
/// the image digest); its `Ready` condition and its containers' statuses
/// (state, last termination, restarts, image ID). A running pod
/// serialises to less than half of what it did (`tests` below).
pub fn trim_pod(p: &mut Pod) {
    let function = p
        .metadata
        .labels
        .as_mut()
        .and_then(|l| l.remove_entry(eventflow_crd::FUNCTION_LABEL));
    p.metadata = ObjectMeta {
        name: p.metadata.name.take(),
        namespace: p.metadata.namespace.take(),
        uid: p.metadata.uid.take(),
        resource_version: p.metadata.resource_version.take(),
        deletion_timestamp: p.metadata.deletion_timestamp.take(),
        labels: function.map(|l| BTreeMap::from([l])),
        ..ObjectMeta::default()
    };
    if let Some(spec) = p.spec.as_mut() {
        *spec = PodSpec {
            containers: spec
                .containers
                .iter_mut()
                .map(|c| Container {
                    name: std::mem::take(&mut c.name),
                    image: c.image.take(),
                    ..Container::default()
                })
                .collect(),
            ..PodSpec::default()
        };
    }
    if let Some(status) = p.status.as_mut() {
        let ready = status
            .conditions
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.type_ == "Ready")
            .map(|c| PodCondition {
                type_: c.type_,
                status: c.status,
                ..PodCondition::default()
            })
            .collect();
        let containers = status
            .container_statuses
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|c| ContainerStatus {
                name: c.name,
                image_id: c.image_id,
                restart_count: c.restart_count,
                ready: c.ready,
                state: c.state,
                last_state: c.last_state,
                ..ContainerStatus::default()
            })
            .collect();
        *status = PodStatus {
            conditions: Some(ready),
            container_statuses: Some(containers),
            ..PodStatus::default()
        };
    }
}

/// A Service as the cache keeps it: metadata without managedFields, and
/// of its spec only the ClusterIP (which every later apply names again).
pub fn trim_service(s: &mut Service) {
    s.metadata.managed_fields = None;
    s.spec = s.spec.take().map(|spec| ServiceSpec {
        cluster_ip: spec.cluster_ip,
        ..ServiceSpec::default()
    });
    s.status = None;
}

/// Metadata as the cache keeps it: without managedFields.
pub fn trim_meta<K>(m: &mut PartialObjectMeta<K>) {
    m.metadata.managed_fields = None;
}

/// A Function as the controller's store keeps it: without managedFields.
pub fn trim_function(f: &mut Function) {
    f.metadata.managed_fields = None;
}

impl Writers {
    /// Marks every cache as listed (empty until objects are applied to it):
    /// what the watches' first lists do, for tests that feed the caches by
    /// hand.
    pub fn mark_listed(&mut self) {
        self.deployments
            .apply_watcher_event(&watcher::Event::InitDone);
        self.pods.apply_watcher_event(&watcher::Event::InitDone);
        self.services.apply_watcher_event(&watcher::Event::InitDone);
        self.accounts.apply_watcher_event(&watcher::Event::InitDone);
        self.hpas.apply_watcher_event(&watcher::Event::InitDone);
    }

    /// Adds the watches that feed the caches to `controller`, each one a
    /// trigger too: the children by their ownerReference, the pods by
    /// their function label (`pod_function`). Only objects the platform
    /// manages are watched.
    pub fn watch(
        self,
        controller: Controller<Function>,
        client: &Client,
        pod_function: fn(Pod) -> Option<ObjectRef<Function>>,
    ) -> Controller<Function> {
        let wc = managed_by_platform();
        controller
            .owns_stream(
                watcher(Api::<Deployment>::all(client.clone()), wc.clone())
                    .default_backoff()
                    .modify(trim_deployment)
                    .reflect(self.deployments)
                    .touched_objects(),
            )
            .owns_stream(
                watcher(Api::<Service>::all(client.clone()), wc.clone())
                    .default_backoff()
                    .modify(trim_service)
                    .reflect(self.services)
                    .touched_objects(),
            )
            .owns_stream(
                metadata_watcher(Api::<ServiceAccount>::all(client.clone()), wc.clone())
                    .default_backoff()
                    .modify(trim_meta)
                    .reflect(self.accounts)
                    .touched_objects(),
            )
            .owns_stream(
                metadata_watcher(
                    Api::<HorizontalPodAutoscaler>::all(client.clone()),
                    wc.clone(),
                )
                .default_backoff()
                .modify(trim_meta)
                .reflect(self.hpas)
                .touched_objects(),
            )
            .watches_stream(
                watcher(Api::<Pod>::all(client.clone()), wc)
                    .default_backoff()
                    .modify(trim_pod)
                    .reflect(self.pods)
                    .touched_objects()
                    .boxed(),
                pod_function,
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{self, Observed};

    const DIGEST: &str = "sha256:2f4e1b8c9d0a7e6f5c4b3a29180716f5e4d3c2b1a0f9e8d7c6b5a4938271605f";

    /// A pod as the API server sends it: a ready one running the image, or
    /// one whose container crash-loops after an OOM kill.
    fn pod(name: &str, crashing: bool) -> Pod {
        let state = if crashing {
            serde_json::json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}})
        } else {
            serde_json::json!({"running": {"startedAt": "2026-12-02T10:00:01Z"}})
        };
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name, "namespace": "tenant-acme", "uid": "u-1",
                "resourceVersion": "42", "generateName": "fn-hello-5d9f-",
                "labels": {"eventflow.io/function": "hello", "eventflow.io/tenant": "acme",
                           "app.kubernetes.io/managed-by": "eventflow", "pod-template-hash": "5d9f"},
                "annotations": {"eventflow.io/secrets-revision": "3"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": "fn-hello-5d9f", "uid": "u-rs", "controller": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]
            },
            "spec": {"containers": [{"name": "function", "image": "registry.example/hello:1",
                                     "ports": [{"name": "http", "containerPort": 8080}],
                                     "env": [{"name": "PORT", "value": "8080"}]}],
                     "nodeName": "testenv-node-1", "serviceAccountName": "fn-hello"},
            "status": {
                "phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.0.7",
                "podIPs": [{"ip": "10.244.0.7"}], "qosClass": "Guaranteed",
                "startTime": "2026-12-02T10:00:00Z",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-02T10:00:00Z"},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-12-02T10:00:00Z"},
                    {"type": "Ready", "status": if crashing { "False" } else { "True" },
                     "lastTransitionTime": "2026-12-02T10:00:02Z"},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-12-02T10:00:02Z"}
                ],
                "containerStatuses": [{
                    "name": "function", "image": "registry.example/hello:1",
                    "imageID": format!("registry.example/hello@{DIGEST}"),
                    "containerID": "containerd://abc", "ready": !crashing, "started": !crashing,
                    "restartCount": if crashing { 4 } else { 0 },
                    "state": state,
                    "lastState": if crashing {
                        serde_json::json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
                            "startedAt": "2026-12-02T10:00:01Z", "finishedAt": "2026-12-02T10:00:09Z"}})
                    } else { serde_json::json!({}) }
                }]
            }
        }))
        .unwrap()
    }

    fn trimmed(p: &Pod) -> Pod {
        let mut t = p.clone();
        trim_pod(&mut t);
        t
    }

    #[test]
    fn a_trimmed_pod_tells_the_status_what_the_whole_pod_does() {
        for pods in [
            vec![pod("a", false), pod("b", false)],
            vec![pod("a", false), pod("b", true)],
        ] {
            let small: Vec<Pod> = pods.iter().map(trimmed).collect();
            let observed = |pods| Observed {
                deployment: None,
                pods,
            };
            assert_eq!(
                status::failure(&observed(&small)),
                status::failure(&observed(&pods))
            );
            assert_eq!(
                status::image_digest("registry.example/hello:1", &small),
                status::image_digest("registry.example/hello:1", &pods)
            );
            // The watch maps it to its Function by this label.
            assert_eq!(
                small[0].metadata.labels,
                Some(BTreeMap::from([(
                    eventflow_crd::FUNCTION_LABEL.to_string(),
                    "hello".to_string()
                )]))
            );
        }
        let crashing = [pod("b", true)];
        let (reason, _) = status::failure(&Observed {
            deployment: None,
            pods: &crashing.each_ref().map(trimmed),
        })
        .expect("a failure");
        assert_eq!(reason, status::REASON_OOM_KILLED);
        let full = serde_json::to_vec(&pod("a", false)).unwrap().len();
        let small = serde_json::to_vec(&trimmed(&pod("a", false)))
            .unwrap()
            .len();
        assert!(small * 2 < full, "{small} of {full} bytes");
    }

    #[test]
    fn a_trimmed_deployment_keeps_what_the_reconcile_and_the_watch_read() {
        let mut d: Deployment = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "fn-hello", "namespace": "tenant-acme", "generation": 4,
                         "creationTimestamp": "2026-12-02T10:00:00Z",
                         "labels": {"eventflow.io/function": "hello"},
                         "annotations": {"deployment.kubernetes.io/revision": "2"},
                         "ownerReferences": [{"apiVersion": "eventflow.io/v1alpha1", "kind": "Function",
                                              "name": "hello", "uid": "u-f", "controller": true}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"eventflow.io/function": "hello"}},
                     "template": {"spec": {"containers": [{"name": "function", "image": "x"}]}}},
            "status": {"observedGeneration": 4, "replicas": 2, "readyReplicas": 1,
                       "conditions": [{"type": "Available", "status": "False"}]}
        }))
        .unwrap();
        let status = d.status.clone();
        trim_deployment(&mut d);
        assert_eq!(d.metadata.generation, Some(4));
        assert!(d.metadata.creation_timestamp.is_some());
        assert_eq!(
            d.metadata.owner_references.as_ref().unwrap()[0].name,
            "hello"
        );
        assert_eq!((d.metadata.labels, d.metadata.annotations), (None, None));
        assert_eq!(d.spec.as_ref().unwrap().replicas, Some(2));
        assert_eq!(d.spec.unwrap().template, Default::default());
        assert_eq!(d.status, status);
    }
}
