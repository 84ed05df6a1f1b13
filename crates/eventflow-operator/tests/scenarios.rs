//! Tier 2: reconcile scenarios against a scripted API (no cluster). The mock
//! answers only the calls a scenario expects, fails on any other call, and
//! the scenario fails when an expected call never came.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::http::{Method, Request, Response, StatusCode};
use eventflow_crd::{Function, FunctionStatus, Phase};
use eventflow_operator::cache::{self, Writers};
use eventflow_operator::function::FunctionContext;
use eventflow_operator::{
    function, status, Context, FunctionSettings, Metrics, NetworkSettings, ServiceIps,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use k8s_openapi::api::core::v1::{Service, ServiceAccount, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::client::Body as KubeBody;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::watcher::Event;
use kube::Client;
use kube::Resource;

type Calls = Arc<Mutex<Vec<(Method, String)>>>;

/// What the scripted API server answers.
#[derive(Clone)]
struct Script {
    /// The Deployment returned by the apply (status as the cluster would have it).
    deployment: Deployment,
    /// Captured status patch bodies.
    status_patches: Arc<Mutex<Vec<serde_json::Value>>>,
    /// The ClusterIP each Service apply named (`None`: none).
    service_ips: Arc<Mutex<Vec<Option<String>>>>,
    /// Service applies still to refuse as naming a taken address.
    refuse_ips: Arc<Mutex<usize>>,
}

impl Script {
    fn new(deployment: Deployment) -> Self {
        Self {
            deployment,
            status_patches: Arc::default(),
            service_ips: Arc::default(),
            refuse_ips: Arc::default(),
        }
    }
}

fn json(code: StatusCode, v: serde_json::Value) -> Response<AxumBody> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(AxumBody::from(v.to_string()))
        .unwrap()
}

fn not_found() -> Response<AxumBody> {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

async fn answer(script: Script, calls: Calls, req: Request<KubeBody>) -> Response<AxumBody> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    calls.lock().unwrap().push((method.clone(), path.clone()));
    let body = axum::body::to_bytes(AxumBody::new(req.into_body()), usize::MAX)
        .await
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match (method, path.as_str()) {
        (Method::PATCH, p) if p.ends_with("/functions/hello/status") => {
            script.status_patches.lock().unwrap().push(sent.clone());
            let mut f = function_cr(1, None);
            f.status = serde_json::from_value(sent["status"].clone()).ok();
            json(StatusCode::OK, serde_json::to_value(&f).unwrap())
        }
        (Method::PATCH, p) if p.ends_with("/services/fn-hello") => {
            let ip = sent["spec"]["clusterIP"].as_str().map(str::to_owned);
            script.service_ips.lock().unwrap().push(ip);
            let mut refuse = script.refuse_ips.lock().unwrap();
            if *refuse > 0 {
                *refuse -= 1;
                return json(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "Invalid", "code": 422,
                        "message": "spec.clusterIPs: Invalid value: provided IP is already allocated"}),
                );
            }
            json(StatusCode::OK, sent)
        }
        // After a refusal: the Service does not exist yet.
        (Method::GET, p) if p.ends_with("/services/fn-hello") => not_found(),
        (Method::PATCH, p) if p.ends_with("/deployments/fn-hello") => json(
            StatusCode::OK,
            serde_json::to_value(&script.deployment).unwrap(),
        ),
        // Server-side apply of the other children: echo the applied object.
        (Method::PATCH, _) => json(StatusCode::OK, sent),
        (Method::DELETE, p) if p.ends_with("/horizontalpodautoscalers/fn-hello") => not_found(),
        (m, p) => panic!("unexpected call {m} {p}"),
    }
}

fn mock_client(script: Script, calls: Calls) -> Client {
    let svc = tower::service_fn(move |req: Request<KubeBody>| {
        let (script, calls) = (script.clone(), calls.clone());
        async move { Ok::<_, std::convert::Infallible>(answer(script, calls, req).await) }
    });
    Client::new(svc, "default")
}

fn function_cr(replicas: i32, status: Option<FunctionStatus>) -> Function {
    let spec = eventflow_core::FunctionSpec::parse(
        eventflow_core::RawFunctionSpec {
            image: Some("registry.example/hello:1".into()),
            replicas: Some(i64::from(replicas)),
            ..Default::default()
        },
        eventflow_core::SpecLimits::default(),
    )
    .unwrap();
    let mut f = Function::new("hello", eventflow_crd::FunctionSpec::from(&spec));
    f.metadata.namespace = Some("tenant-acme".into());
    f.metadata.uid = Some("00000000-0000-0000-0000-0000000000aa".into());
    f.metadata.generation = Some(3);
    f.status = status;
    f
}

fn deployment(ready: i32, age_seconds: i64) -> Deployment {
    let mut d = Deployment::default();
    d.metadata.name = Some("fn-hello".into());
    d.metadata.namespace = Some("tenant-acme".into());
    d.metadata.generation = Some(1);
    d.metadata.creation_timestamp = Some(Time(
        k8s_openapi::chrono::Utc::now() - k8s_openapi::chrono::Duration::seconds(age_seconds),
    ));
    d.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(ready),
        updated_replicas: Some(ready),
        ready_replicas: Some(ready),
        ..DeploymentStatus::default()
    });
    d
}

/// A Function controller's context on the scripted API, its caches listed
/// (empty), their writers and the calls the API saw.
fn context(script: Script) -> (Arc<FunctionContext>, Writers, Calls) {
    context_with(script, None, cache::IN_FLIGHT)
}

/// [`context_settled`], the operator picking ClusterIPs in the dynamic band
/// of `10.96.0.0/16` (returned too).
fn context_picking(script: Script) -> (Arc<FunctionContext>, Writers, Calls, ServiceIps) {
    let band = ServiceIps::dynamic_band("10.96.0.0/16".parse().unwrap()).expect("a band");
    let (ctx, writers, calls) = context_with(script, Some(band), Duration::ZERO);
    (ctx, writers, calls, band)
}

/// [`context`] where a child missing from the cache is taken as gone at
/// once, as it is [`cache::IN_FLIGHT`] after the apply.
fn context_settled(script: Script) -> (Arc<FunctionContext>, Writers, Calls) {
    context_with(script, None, Duration::ZERO)
}

/// [`context`], the operator picking ClusterIPs from `ips`, a child missing
/// from the cache taken as on its way for `in_flight` after an apply.
fn context_with(
    script: Script,
    ips: Option<ServiceIps>,
    in_flight: Duration,
) -> (Arc<FunctionContext>, Writers, Calls) {
    let calls: Calls = Arc::default();
    let client = mock_client(script, calls.clone());
    let ctx = Arc::new(
        Context::new(
            client,
            NetworkSettings::default(),
            FunctionSettings::default(),
            Arc::new(Metrics::new()),
        )
        .with_service_ips(ips),
    );
    let (mut fctx, mut writers) = FunctionContext::new(ctx);
    fctx.caches.set_in_flight(in_flight);
    writers.mark_listed();
    (Arc::new(fctx), writers, calls)
}

/// One reconcile of `f`; the calls it made (taken out of `calls`).
async fn reconcile(
    f: &Function,
    ctx: &Arc<FunctionContext>,
    calls: &Calls,
) -> BTreeSet<(Method, String)> {
    reconcile_action(f, ctx, calls).await.0
}

/// [`reconcile`], and when it asks to be run again.
async fn reconcile_action(
    f: &Function,
    ctx: &Arc<FunctionContext>,
    calls: &Calls,
) -> (BTreeSet<(Method, String)>, Action) {
    let action = function::reconcile(Arc::new(f.clone()), ctx.clone())
        .await
        .expect("reconcile succeeds");
    let calls = std::mem::take(&mut *calls.lock().unwrap());
    (calls.into_iter().collect(), action)
}

async fn run(f: Function, script: Script) -> BTreeSet<(Method, String)> {
    let (ctx, _writers, calls) = context(script);
    reconcile(&f, &ctx, &calls).await
}

/// The metadata of the child `fn-hello` of kind `K`, as its watch has it.
fn child_meta<K: Resource<DynamicType = ()> + Default>() -> PartialObjectMeta<K> {
    let mut m = PartialObjectMeta::<K>::default();
    m.metadata.name = Some("fn-hello".into());
    m.metadata.namespace = Some("tenant-acme".into());
    m
}

/// The Service `fn-hello` as its watch has it: metadata and ClusterIP.
fn service_child(ip: &str) -> Service {
    let mut s = Service {
        metadata: child_meta::<Service>().metadata,
        ..Service::default()
    };
    s.spec = Some(ServiceSpec {
        cluster_ip: Some(ip.into()),
        ..ServiceSpec::default()
    });
    s
}

/// The watches deliver the three children as the script applied them, the
/// Service with ClusterIP `ip`.
fn deliver_children(writers: &mut Writers, script: &Script, ip: &str) {
    writers
        .deployments
        .apply_watcher_event(&Event::Apply(script.deployment.clone()));
    writers
        .services
        .apply_watcher_event(&Event::Apply(service_child(ip)));
    writers
        .accounts
        .apply_watcher_event(&Event::Apply(child_meta::<ServiceAccount>()));
}

fn call(m: Method, p: &str) -> (Method, String) {
    (m, p.to_string())
}

const NS: &str = "/api/v1/namespaces/tenant-acme";
const APPS: &str = "/apis/apps/v1/namespaces/tenant-acme";
const HPA: &str = "/apis/autoscaling/v2/namespaces/tenant-acme";
const FNS: &str = "/apis/eventflow.io/v1alpha1/namespaces/tenant-acme";

#[tokio::test]
async fn new_function_applies_children_removes_stale_hpa_and_writes_status() {
    let script = Script::new(deployment(0, 0));
    let calls = run(function_cr(2, None), script.clone()).await;
    let expected: BTreeSet<_> = [
        call(Method::PATCH, &format!("{NS}/serviceaccounts/fn-hello")),
        call(Method::PATCH, &format!("{APPS}/deployments/fn-hello")),
        call(Method::PATCH, &format!("{NS}/services/fn-hello")),
        call(
            Method::DELETE,
            &format!("{HPA}/horizontalpodautoscalers/fn-hello"),
        ),
        call(Method::PATCH, &format!("{FNS}/functions/hello/status")),
    ]
    .into();
    assert_eq!(calls, expected);
    let patches = script.status_patches.lock().unwrap();
    let st: FunctionStatus = serde_json::from_value(patches[0]["status"].clone()).unwrap();
    assert_eq!(st.phase, Some(Phase::Deploying));
    assert_eq!((st.replicas, st.ready_replicas), (2, 0));
    assert_eq!(st.observed_generation, Some(3));
    // Not picking ClusterIPs: the Service names none.
    assert_eq!(*script.service_ips.lock().unwrap(), [None]);
}

#[tokio::test]
async fn a_new_service_names_a_picked_clusterip_and_every_later_apply_the_same() {
    let script = Script::new(deployment(0, 0));
    let (ctx, mut writers, calls, band) = context_picking(script.clone());
    let f = function_cr(2, None);
    reconcile(&f, &ctx, &calls).await;
    // When the watches have not brought the children (past the in-flight
    // window), a reconcile applies again, naming the address the first
    // apply named.
    reconcile(&f, &ctx, &calls).await;
    // A Service the watch shows with its own address (say the API server
    // allocated it before): that address is named.
    writers
        .services
        .apply_watcher_event(&Event::Apply(service_child("10.96.3.3")));
    reconcile(&f, &ctx, &calls).await;
    let sent = script.service_ips.lock().unwrap().clone();
    let first = sent[0].clone().expect("an address named");
    assert!(band.contains(first.parse().unwrap()), "{first}");
    assert_eq!(
        sent,
        [Some(first.clone()), Some(first), Some("10.96.3.3".into())]
    );
}

#[tokio::test]
async fn unready_older_deployment_reads_nothing_but_from_the_cache() {
    let script = Script::new(deployment(1, 60));
    let calls = run(function_cr(2, None), script).await;
    let reads: Vec<_> = calls.iter().filter(|c| c.0 == Method::GET).collect();
    assert!(reads.is_empty(), "{reads:?}");
}

#[tokio::test]
async fn an_address_picked_again_is_what_the_next_reconcile_compares_with() {
    let script = Script::new(deployment(1, 60));
    *script.refuse_ips.lock().unwrap() = 1;
    let (ctx, mut writers, calls, _) = context_picking(script.clone());
    let f = function_cr(2, None);
    reconcile(&f, &ctx, &calls).await;
    let sent = script.service_ips.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "refused, then picked again: {sent:?}");
    let applied = sent[1].clone().expect("an address named");
    assert_ne!(Some(applied.clone()), sent[0]);
    // The watches bring the children as applied: nothing to send.
    deliver_children(&mut writers, &script, &applied);
    let again = reconcile(&f, &ctx, &calls).await;
    assert!(
        again
            .iter()
            .all(|c| c.0 != Method::PATCH || c.1.starts_with(FNS)),
        "{again:?}"
    );
    assert_eq!(ctx.base.metrics.applies("function"), 1);
}

#[tokio::test]
async fn children_applied_moments_ago_are_waited_for_not_applied_again() {
    let script = Script::new(deployment(1, 60));
    let (ctx, mut writers, calls) = context(script.clone());
    let f = function_cr(2, None);
    let (first, _) = reconcile_action(&f, &ctx, &calls).await;
    assert_eq!(ctx.base.metrics.applies("function"), 1);
    assert!(first.contains(&call(
        Method::PATCH,
        &format!("{APPS}/deployments/fn-hello")
    )));
    // The Service's and the ServiceAccount's watch events come first and
    // trigger a reconcile before the Deployment's: it sends nothing and
    // looks again when the window ends.
    writers
        .services
        .apply_watcher_event(&Event::Apply(service_child("10.96.3.3")));
    writers
        .accounts
        .apply_watcher_event(&Event::Apply(child_meta::<ServiceAccount>()));
    let (sent, action) = reconcile_action(&f, &ctx, &calls).await;
    assert_eq!(sent, BTreeSet::new());
    assert_eq!(action, Action::requeue(cache::IN_FLIGHT));
    assert_eq!(ctx.base.metrics.applies("function"), 1);
    // The Deployment arrives: the status is derived from it, nothing applied.
    writers
        .deployments
        .apply_watcher_event(&Event::Apply(script.deployment.clone()));
    let (sent, action) = reconcile_action(&f, &ctx, &calls).await;
    assert!(
        sent.iter()
            .all(|c| c.0 != Method::PATCH || c.1.starts_with(FNS)),
        "{sent:?}"
    );
    assert_ne!(action, Action::requeue(cache::IN_FLIGHT));
    // A Service deleted within the window is waited for too, and put back
    // once the window is over (the context below has none).
    writers
        .services
        .apply_watcher_event(&Event::Delete(service_child("10.96.3.3")));
    let (sent, action) = reconcile_action(&f, &ctx, &calls).await;
    assert_eq!(
        (sent, action),
        (BTreeSet::new(), Action::requeue(cache::IN_FLIGHT))
    );
}

#[tokio::test]
async fn unchanged_running_function_writes_no_status_and_reads_only_its_pods() {
    let d = deployment(2, 600);
    let previous = status::derive(
        None,
        Some(3),
        2,
        "http://fn-hello.tenant-acme.svc.cluster.local".into(),
        &status::Observed {
            deployment: Some(&d),
            pods: &[],
        },
        "2026-01-01T00:00:00Z",
    );
    assert_eq!(previous.phase, Some(Phase::Running));
    let script = Script::new(d);
    let (ctx, mut writers, calls) = context_settled(script.clone());
    let f = function_cr(2, Some(previous));
    // After an operator start nothing has been applied by this process: the
    // three applies (no-ops on a real API server) and nothing else: no HPA
    // delete (spec unchanged), no events, no pods (from the cache), no
    // status write.
    let applies: BTreeSet<_> = [
        call(Method::PATCH, &format!("{NS}/serviceaccounts/fn-hello")),
        call(Method::PATCH, &format!("{APPS}/deployments/fn-hello")),
        call(Method::PATCH, &format!("{NS}/services/fn-hello")),
    ]
    .into();
    assert_eq!(reconcile(&f, &ctx, &calls).await, applies);
    assert_eq!(ctx.base.metrics.applies("function"), 1);
    // The watches deliver the children: the next reconcile (a pod event, a
    // requeue) sends nothing at all.
    deliver_children(&mut writers, &script, "10.96.3.3");
    assert_eq!(reconcile(&f, &ctx, &calls).await, BTreeSet::new());
    assert_eq!(ctx.base.metrics.applies("function"), 1);
    // Someone deletes the Service: everything is applied again.
    writers
        .services
        .apply_watcher_event(&Event::Delete(service_child("10.96.3.3")));
    assert_eq!(reconcile(&f, &ctx, &calls).await, applies);
    writers
        .services
        .apply_watcher_event(&Event::Apply(service_child("10.96.3.3")));
    assert_eq!(reconcile(&f, &ctx, &calls).await, BTreeSet::new());
    // Someone edits the Deployment's spec (its generation moves on): applied again.
    let mut edited = script.deployment.clone();
    edited.metadata.generation = Some(2);
    writers
        .deployments
        .apply_watcher_event(&Event::Apply(edited));
    assert_eq!(reconcile(&f, &ctx, &calls).await, applies);
    // A spec change (another image) is applied, with the stale-HPA delete.
    writers
        .deployments
        .apply_watcher_event(&Event::Apply(script.deployment.clone()));
    let mut changed = f.clone();
    changed.spec.image = "registry.example/hello:2".into();
    changed.metadata.generation = Some(4);
    let mut expected = applies.clone();
    expected.insert(call(
        Method::DELETE,
        &format!("{HPA}/horizontalpodautoscalers/fn-hello"),
    ));
    let sent = reconcile(&changed, &ctx, &calls).await;
    assert!(sent.is_superset(&expected), "{sent:?}");
    // Only the spec change moved the status (its observedGeneration).
    let patches = script.status_patches.lock().unwrap();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0]["status"]["observedGeneration"], 4);
}

/// An API server on which the EventFlow resources appear after
/// `missing_polls` polls (each lists tenants, then functions; kube-apiserver answers an
/// unknown resource with a plain-text `404 page not found`).
fn crds_later_client(missing_polls: usize, calls: Calls) -> Client {
    let svc = tower::service_fn(move |req: Request<KubeBody>| {
        let calls = calls.clone();
        async move {
            let path = req.uri().path().to_string();
            let n = {
                let mut c = calls.lock().unwrap();
                c.push((req.method().clone(), path.clone()));
                c.iter().filter(|(_, p)| p.ends_with("/tenants")).count()
            };
            assert!(
                path == "/apis/eventflow.io/v1alpha1/tenants"
                    || path == "/apis/eventflow.io/v1alpha1/functions",
                "unexpected call {path}"
            );
            let resp = if n <= missing_polls {
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .header("content-type", "text/plain")
                    .body(AxumBody::from("404 page not found\n"))
                    .unwrap()
            } else {
                json(
                    StatusCode::OK,
                    serde_json::json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                        "metadata": {}, "items": []}),
                )
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    Client::new(svc, "default")
}

#[tokio::test]
async fn controllers_wait_for_the_crds_to_be_installed() {
    let calls: Calls = Arc::default();
    let client = crds_later_client(3, calls.clone());
    let poll = std::time::Duration::from_millis(10);
    let installed =
        eventflow_operator::wait_for_crds(&client, poll, futures::future::pending()).await;
    assert!(installed);
    let function_lists = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, p)| p.ends_with("/functions"))
        .count();
    assert_eq!(function_lists, 4, "3 polls while missing, then found");
}

#[tokio::test]
async fn waiting_for_crds_ends_on_stop() {
    let client = crds_later_client(usize::MAX, Arc::default());
    let poll = std::time::Duration::from_millis(10);
    let stop = tokio::time::sleep(std::time::Duration::from_millis(100));
    assert!(!eventflow_operator::wait_for_crds(&client, poll, stop).await);
}
