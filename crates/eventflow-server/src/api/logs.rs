//! `GET /v1/functions/{name}/logs`: the logs of every pod of a function,
//! each line prefixed with its pod's name, streamed as `text/plain` chunks or
//! as `text/event-stream` (by `Accept`). The stream ends when every pod's log
//! ends (or, with `follow=true`, when the client goes away: dropping the
//! response drops the Kubernetes log streams).
//!
//! With `follow=true` the function's pods are also watched: a pod that
//! starts running later (scale-up, rollout, restart of a crashed pod by its
//! ReplicaSet) joins the stream with its whole log, so following a function
//! does not go silent when its pods are replaced.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::{rejection::QueryRejection, Query, State},
    http::{header, HeaderMap, HeaderValue},
    response::Response,
};
use eventflow_core::FunctionName;
use eventflow_crd::FUNCTION_LABEL;
use futures::{stream::BoxStream, AsyncBufReadExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    api::{ListParams, LogParams},
    runtime::{watcher, WatchStreamExt},
    Api, ResourceExt,
};

use crate::json::ApiPath as Path;
use crate::{
    auth::TenantAuth,
    error::{ApiError, ApiResult, ErrorBody},
    AppState,
};

pub const MAX_TAIL_LINES: i64 = 10_000;
/// The function's container in its pods (the operator's `build` names it).
const CONTAINER: &str = "function";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    EventStream,
}

/// One output line for `pod`, in the chosen format.
pub fn frame(format: Format, pod: &str, line: &str) -> String {
    match format {
        Format::Text => format!("[{pod}] {line}\n"),
        Format::EventStream => format!("data: [{pod}] {line}\n\n"),
    }
}

/// Interleaves per-pod line streams into one stream of framed chunks, in
/// the order lines arrive. A pod whose stream fails contributes one error
/// line and ends; the others go on.
pub fn merge<S>(format: Format, pods: Vec<(String, S)>) -> impl Stream<Item = String>
where
    S: Stream<Item = std::io::Result<String>> + Send + 'static,
{
    let streams: Vec<BoxStream<'static, String>> = pods
        .into_iter()
        .map(|(pod, lines)| {
            lines
                .scan(false, move |failed, item| {
                    if *failed {
                        return futures::future::ready(None);
                    }
                    let out = match item {
                        Ok(line) => frame(format, &pod, &line),
                        Err(e) => {
                            *failed = true;
                            frame(format, &pod, &format!("error: log stream failed: {e}"))
                        }
                    };
                    futures::future::ready(Some(out))
                })
                .boxed()
        })
        .collect();
    futures::stream::select_all(streams)
}

/// The lines of one pod's log; an error opening it becomes its one item.
async fn open_log(
    pods: &Api<Pod>,
    pod: &str,
    params: &LogParams,
) -> BoxStream<'static, std::io::Result<String>> {
    match pods.log_stream(pod, params).await {
        Ok(reader) => reader.lines().boxed(),
        Err(e) => {
            // Kubernetes' own words (kube's Display repeats them in Debug form).
            let msg = match e {
                kube::Error::Api(ae) => ae.message,
                e => e.to_string(),
            };
            futures::stream::iter([Err(std::io::Error::other(msg))]).boxed()
        }
    }
}

/// For a running pod, a key that changes when its function container is
/// restarted (pod name and restart count): a restarted container's new log
/// is streamed again. `None` while the pod is not running.
fn running_container(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") {
        return None;
    }
    let restarts = status
        .container_statuses
        .iter()
        .flatten()
        .find(|c| c.name == CONTAINER)
        .map_or(0, |c| c.restart_count);
    Some(format!("{}#{restarts}", pod.name_any()))
}

enum Followed {
    Line(String),
    Pod(Box<Pod>),
}

/// `existing`, plus the logs of pods of `function` that start running
/// after it began, or whose container restarted (any key of
/// [`running_container`] not in `known`), until the client goes away.
fn follow_new_pods(
    format: Format,
    pods: Api<Pod>,
    function: String,
    known: HashSet<String>,
    existing: impl Stream<Item = String> + Send + 'static,
) -> impl Stream<Item = String> + Send + 'static {
    let config = watcher::Config::default().labels(&format!("{FUNCTION_LABEL}={function}"));
    let changes = watcher(pods.clone(), config)
        .default_backoff()
        .applied_objects()
        .filter_map(|r| futures::future::ready(r.ok()))
        .map(|p| Followed::Pod(Box::new(p)));
    let mut all = futures::stream::SelectAll::<BoxStream<'static, Followed>>::new();
    all.push(existing.map(Followed::Line).boxed());
    all.push(changes.boxed());
    // A new pod's whole log: it is all newer than the request.
    let params = LogParams {
        follow: true,
        container: Some(CONTAINER.into()),
        ..LogParams::default()
    };
    futures::stream::unfold((all, known), move |(mut all, mut known)| {
        let (pods, params) = (pods.clone(), params.clone());
        async move {
            loop {
                match all.next().await? {
                    Followed::Line(line) => return Some((line, (all, known))),
                    Followed::Pod(pod) => {
                        let Some(key) = running_container(&pod) else {
                            continue;
                        };
                        if !known.insert(key) {
                            continue;
                        }
                        let name = pod.name_any();
                        let lines = open_log(&pods, &name, &params).await;
                        all.push(
                            merge(format, vec![(name, lines)])
                                .map(Followed::Line)
                                .boxed(),
                        );
                    }
                }
            }
        }
    })
}

fn parse_params(q: &HashMap<String, String>) -> ApiResult<LogParams> {
    let bad = |field: &str, msg: &str| {
        ApiError::bad_request(format!("{field} {msg}"), Some(field.to_string()))
    };
    let follow = match q.get("follow").map(String::as_str) {
        None | Some("false" | "0" | "") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(bad("follow", "must be true or false")),
    };
    let tail_lines = q
        .get("tailLines")
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (0..=MAX_TAIL_LINES).contains(n))
        })
        .map(|v| v.ok_or_else(|| bad("tailLines", &format!("must be 0 to {MAX_TAIL_LINES}"))))
        .transpose()?;
    let since_seconds = q
        .get("sinceSeconds")
        .map(|v| v.parse::<i64>().ok().filter(|n| *n > 0))
        .map(|v| v.ok_or_else(|| bad("sinceSeconds", "must be a positive number of seconds")))
        .transpose()?;
    Ok(LogParams {
        follow,
        tail_lines,
        since_seconds,
        container: Some(CONTAINER.into()),
        ..LogParams::default()
    })
}

/// Stream the logs of the function's pods.
#[utoipa::path(get, path = "/v1/functions/{name}/logs", tag = "functions",
    params(
        ("name" = String, Path),
        ("follow" = Option<bool>, Query, description = "Keep streaming new lines"),
        ("tailLines" = Option<i64>, Query, description = "Lines from the end of each pod's log (0–10000)"),
        ("sinceSeconds" = Option<i64>, Query, description = "Only lines newer than this"),
    ),
    responses(
        (status = 200, description = "`[pod] line` per line; `text/event-stream` when asked for", content_type = "text/plain"),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "Kubernetes is not reachable"),
    ),
    security(("bearer" = [])))]
pub async fn logs(
    State(state): State<Arc<AppState>>,
    auth: TenantAuth,
    Path(name): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text(), None))?;
    let name = FunctionName::parse(&name)?;
    if auth.functions(&state.store).get(&name).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "function {:?} not found",
            name.as_str()
        )));
    }
    let params = parse_params(&q)?;
    let format = match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        Some(a) if a.contains("text/event-stream") => Format::EventStream,
        _ => Format::Text,
    };
    let client = state.sync.client().ok_or_else(|| {
        ApiError::Unavailable("Kubernetes is not reachable; logs come from the cluster".into())
    })?;
    let pods: Api<Pod> = Api::namespaced(client, &auth.tenant.namespace());
    let list = pods
        .list(&ListParams::default().labels(&format!("{FUNCTION_LABEL}={name}")))
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot list the function's pods: {e}")))?;
    let mut streams = Vec::new();
    let mut known = HashSet::new();
    for pod in list.items {
        // Following, a pod that is not running yet is left to the watcher,
        // which adds it when it runs (its log cannot be read before).
        let key = running_container(&pod);
        if params.follow && key.is_none() {
            continue;
        }
        known.extend(key);
        let pod_name = pod.name_any();
        let lines = open_log(&pods, &pod_name, &params).await;
        streams.push((pod_name, lines));
    }
    let pod_count = streams.len();
    let body: BoxStream<'static, String> = if params.follow {
        // A followed stream has no end of its own: it ends when the client
        // goes away, or when the server shuts down (so the drain can finish).
        let mut shutdown = state.shutdown.subscribe();
        let shutting_down = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        follow_new_pods(
            format,
            pods,
            name.to_string(),
            known,
            merge(format, streams),
        )
        .take_until(shutting_down)
        .boxed()
    } else {
        merge(format, streams).boxed()
    };
    let body = body.map(Ok::<_, std::convert::Infallible>);
    let content_type = match format {
        Format::Text => "text/plain; charset=utf-8",
        Format::EventStream => "text/event-stream",
    };
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-eventflow-pods", HeaderValue::from(pod_count));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn merges_pods_and_reports_a_failing_one() {
        let a = futures::stream::iter(vec![Ok("one".to_string()), Ok("two".to_string())]);
        let b = futures::stream::iter(vec![
            Ok("hello".to_string()),
            Err(std::io::Error::other("connection reset")),
            Ok("never".to_string()),
        ]);
        let out: Vec<String> = merge(
            Format::Text,
            vec![("pod-a".into(), a.boxed()), ("pod-b".into(), b.boxed())],
        )
        .collect()
        .await;
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "[pod-a] one\n",
                "[pod-a] two\n",
                "[pod-b] error: log stream failed: connection reset\n",
                "[pod-b] hello\n"
            ]
        );
        // Order within one pod is kept.
        let a_lines: Vec<_> = out.iter().filter(|l| l.starts_with("[pod-a]")).collect();
        assert_eq!(a_lines, ["[pod-a] one\n", "[pod-a] two\n"]);
    }

    #[test]
    fn a_running_pod_is_keyed_by_its_restarts() {
        let pod = |phase: &str, restarts: i32| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "fn-a-1"},
                "status": {"phase": phase, "containerStatuses": [
                    {"name": "sidecar", "restartCount": 9, "ready": true, "image": "x", "imageID": ""},
                    {"name": "function", "restartCount": restarts, "ready": true, "image": "x", "imageID": ""}
                ]}
            }))
            .unwrap()
        };
        assert_eq!(running_container(&pod("Pending", 0)), None);
        assert_eq!(
            running_container(&pod("Running", 0)).as_deref(),
            Some("fn-a-1#0")
        );
        // A restarted container is a new log to stream.
        assert_eq!(
            running_container(&pod("Running", 2)).as_deref(),
            Some("fn-a-1#2")
        );
        assert_eq!(running_container(&pod("Succeeded", 2)), None);
    }

    #[test]
    fn event_stream_framing_and_params() {
        assert_eq!(frame(Format::EventStream, "p", "x"), "data: [p] x\n\n");
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let p = parse_params(&q(&[
            ("follow", "true"),
            ("tailLines", "10"),
            ("sinceSeconds", "60"),
        ]))
        .unwrap();
        assert!(p.follow);
        assert_eq!(p.tail_lines, Some(10));
        assert_eq!(p.since_seconds, Some(60));
        for bad in [
            ("follow", "maybe"),
            ("tailLines", "-1"),
            ("tailLines", "99999"),
            ("sinceSeconds", "0"),
        ] {
            assert!(parse_params(&q(&[bad])).is_err(), "{bad:?}");
        }
    }
}
