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
//! pod templates, no pod spec beyond each container's name and image, no
//! Service spec but its ClusterIP. The Function itself is kept without its
//! `managedFields` too (the controller's own store).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventflow_crd::Function;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Service, ServiceAccount, ServiceSpec};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{metadata_watcher, watcher, Controller, WatchStreamExt};
use kube::{Api, Client, Resource};

use crate::build::FunctionChildren;
use crate::children::{managed_by_platform, Child};

/// How long an apply counts as fresh: after this a reconcile applies the
/// children again even if nothing seems changed, which puts back labels or
/// annotations someone edited (edits to a Deployment's spec are noticed at
/// once, by its generation).
pub const RESYNC: Duration = Duration::from_secs(300);

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

    /// The cached Deployment, if the Function's children
    /// need no apply: the last apply sent `hash` less than [`RESYNC`] ago,
    /// the Deployment's generation is still the one that apply answered, and
    /// every child kind `present` says is there (and only those). `None`:
    /// apply.
    pub(crate) fn fresh(
        &self,
        function: &FunctionKey<'_>,
        hash: u64,
        present: impl FnOnce() -> bool,
    ) -> Option<Arc<Deployment>> {
        let (applied_hash, generation, at) = {
            let map = self.applied.lock().expect("applied map");
            let a = map.get(function.uid)?;
            (a.hash, a.generation, a.at)
        };
        if applied_hash != hash || at.elapsed() >= RESYNC {
            return None;
        }
        let d = self.deployment(function.ns, function.child)?;
        (d.metadata.generation == generation && present()).then_some(d)
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

/// A Deployment as the cache keeps it: no managedFields, no pod template
/// (the reconcile reads metadata, `spec.replicas` and the status).
pub fn trim_deployment(d: &mut Deployment) {
    d.metadata.managed_fields = None;
    if let Some(spec) = d.spec.as_mut() {
        spec.template = Default::default();
    }
}

/// A pod as the cache keeps it: metadata without managedFields, each
/// container's name and image (for the image digest), the status.
pub fn trim_pod(p: &mut Pod) {
    p.metadata.managed_fields = None;
    if let Some(spec) = p.spec.as_mut() {
        *spec = PodSpec {
            containers: spec
                .containers
                .iter()
                .map(|c| Container {
                    name: c.name.clone(),
                    image: c.image.clone(),
                    ..Container::default()
                })
                .collect(),
            ..PodSpec::default()
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
