//! What the Tenant and Function controllers share: how a controller is run,
//! the bookkeeping around each reconcile (timing, metrics, backoff reset)
//! and the status write.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::runtime::controller::{Action, Controller};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Context, Result, StopSignal, FIELD_MANAGER};

/// Objects per page when a watch lists (at start, and again when the API
/// server dropped it). kube's default, 500, keeps a page of whole objects
/// (managedFields and all) in memory until the last of them is trimmed and
/// stored, for every watched kind at once: an operator restarted with 500
/// functions in place peaked at 54.8 to 70.3 MiB, with pages of 50 at
/// 28.4 MiB (docs/PERFORMANCE.md).
pub(crate) const LIST_PAGE_SIZE: u32 = 50;

/// What every watch of the operator starts from: [`LIST_PAGE_SIZE`].
pub(crate) fn watch_config() -> kube::runtime::watcher::Config {
    kube::runtime::watcher::Config::default().page_size(LIST_PAGE_SIZE)
}

/// The watch on a controller's own kind: every object, or only those
/// matching `selector` (`--label-selector`).
pub(crate) fn trigger_watch(selector: Option<&str>) -> kube::runtime::watcher::Config {
    let wc = watch_config();
    match selector {
        Some(s) => wc.labels(s),
        None => wc,
    }
}

/// The settings both controllers run with: a 200 ms debounce (a burst of
/// child events is one reconcile) and `concurrency` reconciles at once.
pub(crate) fn controller_config(concurrency: u16) -> kube::runtime::controller::Config {
    kube::runtime::controller::Config::default()
        .debounce(Duration::from_millis(200))
        .concurrency(concurrency)
}

/// Logs what a controller's result stream reports as failed (the error
/// policy has already counted and scheduled the retry).
async fn log_failure<T, E: std::fmt::Display>(
    controller: &'static str,
    r: std::result::Result<T, E>,
) {
    if let Err(e) = r {
        tracing::debug!(controller, error = %e, "controller event");
    }
}

/// What a controller's reconciles share: the operator's [`Context`], and
/// whatever else the controller keeps (the Function controller's caches).
pub(crate) trait Shared: Send + Sync + 'static {
    fn context(&self) -> &Context;
}

impl Shared for Context {
    fn context(&self) -> &Context {
        self
    }
}

/// Runs `controller` (its watches already set up) until `stop`: with
/// [`controller_config`], `reconcile` for every object that changed, and
/// [`Context::error_policy`] when a reconcile fails. `name` is the
/// controller's metric label.
pub(crate) async fn run_controller<K, C, F>(
    controller: Controller<K>,
    name: &'static str,
    reconcile: fn(Arc<K>, Arc<C>) -> F,
    ctx: Arc<C>,
    concurrency: u16,
    stop: StopSignal,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    C: Shared,
    F: Future<Output = Result<Action>> + Send + 'static,
{
    controller
        .with_config(controller_config(concurrency))
        .graceful_shutdown_on(stop)
        .run(
            reconcile,
            move |obj, e, ctx| ctx.context().error_policy(name, obj.as_ref(), e),
            ctx,
        )
        .for_each(|r| log_failure(name, r))
        .await;
}

/// One reconcile of `obj` by `controller`: runs `work`, counts it and its
/// duration (`eventflow_operator_reconciles_total`,
/// `eventflow_operator_reconcile_duration_seconds`), logs the outcome at
/// debug level and, on success, resets the object's backoff.
pub(crate) async fn timed<K: Resource>(
    controller: &'static str,
    obj: &K,
    ctx: &Context,
    work: impl Future<Output = Result<Action>>,
) -> Result<Action> {
    let started = Instant::now();
    let result = work.await;
    ctx.metrics.reconciled(controller, started.elapsed());
    tracing::debug!(
        controller,
        name = %obj.name_any(),
        namespace = ?obj.namespace(),
        took = ?started.elapsed(),
        ok = result.is_ok(),
        action = ?result.as_ref().ok(),
        "reconciled"
    );
    if result.is_ok() {
        ctx.succeeded(controller, obj);
    }
    result
}

/// The server-side-apply body of `K`'s status subresource: apiVersion, kind
/// and the status, nothing else (so the operator's field manager owns only
/// status fields there).
pub(crate) fn status_patch<K: Resource<DynamicType = ()>>(
    status: &impl Serialize,
) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    })
}

/// Writes `status` to `obj`'s status subresource, unless it equals the
/// status `obj` already has: server-side apply of [`status_patch`] with
/// [`FIELD_MANAGER`] and `force`. Each write counts in
/// `eventflow_operator_status_writes_total{controller}`.
pub(crate) async fn write_status<K>(
    api: &Api<K>,
    obj: &K,
    status: K::Status,
    controller: &'static str,
    ctx: &Context,
) -> Result<()>
where
    K: Resource<DynamicType = ()> + HasStatus + Clone + DeserializeOwned + Debug,
    K::Status: PartialEq + Serialize,
{
    if obj.status() == Some(&status) {
        return Ok(());
    }
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&status_patch::<K>(&status)),
    )
    .await?;
    ctx.metrics.status_written(controller);
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};
    use eventflow_crd::{Tenant, TenantSpec, TenantStatus};

    use super::*;
    use crate::{testing, Error, FunctionSettings, Metrics, NetworkSettings};

    fn context(client: kube::Client) -> Context {
        Context::new(
            client,
            NetworkSettings::default(),
            FunctionSettings::default(),
            Arc::new(Metrics::new()),
        )
    }

    fn tenant(status: Option<TenantStatus>) -> Tenant {
        let mut t = Tenant::new("acme", TenantSpec::default());
        t.status = status;
        t
    }

    fn ready() -> TenantStatus {
        TenantStatus {
            phase: Some("Ready".into()),
            namespace: Some("tenant-acme".into()),
            conditions: Vec::new(),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn the_status_patch_holds_api_version_kind_and_status_only() {
        assert_eq!(
            status_patch::<Tenant>(&ready()),
            serde_json::json!({
                "apiVersion": "eventflow.io/v1alpha1",
                "kind": "Tenant",
                "status": {"phase": "Ready", "namespace": "tenant-acme", "observedGeneration": 1},
            })
        );
    }

    #[tokio::test]
    async fn an_unchanged_status_is_not_written() {
        let ctx = context(testing::unused_client());
        let api: Api<Tenant> = Api::all(ctx.client.clone());
        write_status(&api, &tenant(Some(ready())), ready(), "tenant", &ctx)
            .await
            .expect("nothing to write");
        assert_eq!(ctx.metrics.status_writes("tenant"), 0);
    }

    #[tokio::test]
    async fn a_changed_status_is_server_side_applied_to_the_status_subresource() {
        let answer = serde_json::to_value(tenant(Some(ready()))).unwrap();
        let (client, calls) = testing::client(move |_| (StatusCode::OK, answer.clone()));
        let ctx = context(client);
        let api: Api<Tenant> = Api::all(ctx.client.clone());
        write_status(&api, &tenant(None), ready(), "tenant", &ctx)
            .await
            .expect("written");
        let calls = calls.lock().unwrap();
        let [call] = calls.as_slice() else {
            panic!("one call expected: {calls:?}");
        };
        assert_eq!(call.method, Method::PATCH);
        assert_eq!(call.path, "/apis/eventflow.io/v1alpha1/tenants/acme/status");
        let mut query: Vec<&str> = call.query.split('&').filter(|p| !p.is_empty()).collect();
        query.sort_unstable();
        assert_eq!(query, ["fieldManager=eventflow-operator", "force=true"]);
        assert_eq!(
            call.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(call.body, status_patch::<Tenant>(&ready()));
        assert_eq!(ctx.metrics.status_writes("tenant"), 1);
    }

    #[tokio::test]
    async fn every_reconcile_is_counted_and_only_success_resets_the_backoff() {
        let ctx = context(testing::unused_client());
        let t = tenant(None);
        let fail = || Error::Kube(kube::Error::LinesCodecMaxLineLengthExceeded);
        let retry = |secs| Action::requeue(Duration::from_secs(secs));
        assert_eq!(ctx.error_policy("tenant", &t, &fail()), retry(1));
        assert_eq!(ctx.error_policy("tenant", &t, &fail()), retry(2));
        let failed = timed("tenant", &t, &ctx, async { Err(fail()) }).await;
        assert!(failed.is_err());
        assert_eq!(ctx.error_policy("tenant", &t, &fail()), retry(4));
        let done = timed("tenant", &t, &ctx, async { Ok(Action::await_change()) }).await;
        assert_eq!(done.expect("ok"), Action::await_change());
        assert_eq!(ctx.metrics.reconciles("tenant"), 2);
        assert_eq!(ctx.error_policy("tenant", &t, &fail()), retry(1));
    }
}
