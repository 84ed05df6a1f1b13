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
use futures::{stream::BoxStream, Stream, StreamExt};
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
/// How often an idle followed event stream gets a comment line, so proxies
/// and browsers do not time it out.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// Limits on followed log streams (`--log-follow-limit`,
/// `--log-follow-max-seconds`).
#[derive(Debug, Clone)]
pub struct LogLimits {
    /// Followed streams one tenant may have open at once (per replica).
    pub follows_per_tenant: usize,
    /// How long a followed stream lasts; then it ends (clients reconnect).
    pub max_follow: std::time::Duration,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            follows_per_tenant: 8,
            max_follow: std::time::Duration::from_secs(3600),
        }
    }
}

/// Open followed streams per tenant.
#[derive(Default)]
pub struct FollowCounts(std::sync::Mutex<HashMap<String, usize>>);

/// One open followed stream; closing it (dropping the response body)
/// frees its place.
pub struct FollowSlot {
    counts: Arc<AppState>,
    tenant: String,
}

impl FollowCounts {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl FollowSlot {
    /// A place for one more followed stream of `tenant`, or 429.
    fn take(state: &Arc<AppState>, tenant: &str) -> ApiResult<Self> {
        let limit = state.config.logs.follows_per_tenant;
        let mut counts = state.log_follows.counts();
        let n = counts.entry(tenant.to_string()).or_default();
        if *n >= limit {
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "tenant {tenant} already follows {limit} log streams (the limit); close one"
                ),
                retry_after: 5,
            });
        }
        *n += 1;
        Ok(Self {
            counts: state.clone(),
            tenant: tenant.to_string(),
        })
    }
}

impl Drop for FollowSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.log_follows.counts();
        if let Some(n) = counts.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.tenant);
            }
        }
    }
}
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

/// Longest line sent as one: a longer one (or output without newlines) is
/// split into pieces of at most this many bytes, cut at a character
/// boundary, so the server never buffers more than this per pod.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Splits `reader` into lines of at most `max` bytes (see
/// [`MAX_LINE_BYTES`]); a final line without a newline is sent too.
pub fn bounded_lines<R>(reader: R, max: usize) -> impl Stream<Item = std::io::Result<String>>
where
    R: futures::AsyncBufRead + Unpin,
{
    futures::stream::unfold(
        (reader, Vec::<u8>::new(), false),
        move |(mut reader, mut pending, done)| async move {
            use futures::AsyncBufReadExt as _;
            if done {
                return None;
            }
            loop {
                if let Some(i) = pending.iter().position(|b| *b == b'\n') {
                    let rest = pending.split_off(i + 1);
                    pending.pop();
                    let line = String::from_utf8_lossy(&pending).into_owned();
                    return Some((Ok(line), (reader, rest, false)));
                }
                if pending.len() >= max {
                    // Cut before a UTF-8 continuation byte.
                    let cut = (1..=max)
                        .rev()
                        .find(|&i| i == pending.len() || pending[i] & 0xC0 != 0x80)
                        .unwrap_or(max);
                    let rest = pending.split_off(cut);
                    let piece = String::from_utf8_lossy(&pending).into_owned();
                    return Some((Ok(piece), (reader, rest, false)));
                }
                let buf = match reader.fill_buf().await {
                    Ok(buf) => buf,
                    Err(e) => return Some((Err(e), (reader, Vec::new(), true))),
                };
                if buf.is_empty() {
                    if pending.is_empty() {
                        return None;
                    }
                    let line = String::from_utf8_lossy(&pending).into_owned();
                    return Some((Ok(line), (reader, Vec::new(), true)));
                }
                let take = buf.len().min(max + 1 - pending.len().min(max));
                pending.extend_from_slice(&buf[..take]);
                reader.consume_unpin(take);
            }
        },
    )
}

/// The lines of one pod's log; an error opening it becomes its one item.
async fn open_log(
    pods: &Api<Pod>,
    pod: &str,
    params: &LogParams,
) -> BoxStream<'static, std::io::Result<String>> {
    match pods.log_stream(pod, params).await {
        Ok(reader) => bounded_lines(reader, MAX_LINE_BYTES).boxed(),
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

/// `lines`, with a comment line every [`KEEP_ALIVE`] in an event stream
/// (`: keep-alive`, which EventSource ignores); a text stream has no
/// comment syntax and gets none. Ends when `lines` ends.
fn with_keep_alives(
    format: Format,
    lines: impl Stream<Item = String> + Send + 'static,
) -> impl Stream<Item = String> + Send + 'static {
    let ticks = futures::stream::unfold(
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE),
        |mut i| async move {
            i.tick().await;
            Some((Some(": keep-alive\n\n".to_string()), i))
        },
    )
    .filter(move |_| futures::future::ready(format == Format::EventStream));
    let lines = lines.map(Some).chain(futures::stream::once(async { None }));
    futures::stream::select(lines, ticks)
        .take_while(|item| futures::future::ready(item.is_some()))
        .filter_map(futures::future::ready)
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
    let slot = if params.follow {
        Some(FollowSlot::take(&state, auth.tenant.as_str())?)
    } else {
        None
    };
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
        let followed = follow_new_pods(
            format,
            pods,
            name.to_string(),
            known,
            merge(format, streams),
        );
        with_keep_alives(format, followed)
            .take_until(shutting_down)
            .take_until(tokio::time::sleep(state.config.logs.max_follow))
            // The slot is freed when the body is dropped.
            .map(move |chunk| {
                let _held = &slot;
                chunk
            })
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

    #[tokio::test]
    async fn long_lines_are_split_and_nothing_is_buffered_without_bound() {
        let lines = |input: &[u8], max| {
            let input = input.to_vec();
            async move {
                bounded_lines(futures::io::Cursor::new(input), max)
                    .map(Result::unwrap)
                    .collect::<Vec<_>>()
                    .await
            }
        };
        assert_eq!(lines(b"a\nbb\n\nlast", 8).await, ["a", "bb", "", "last"]);
        assert_eq!(
            lines(b"abcdefghij\nk\n", 4).await,
            ["abcd", "efgh", "ij", "k"]
        );
        // No newline at all: pieces of at most `max` bytes.
        let endless = vec![b'x'; 100_000];
        let out = lines(&endless, MAX_LINE_BYTES).await;
        assert!(out.iter().all(|l| l.len() <= MAX_LINE_BYTES));
        assert_eq!(out.iter().map(String::len).sum::<usize>(), 100_000);
        // A cut never splits a character.
        let out = lines("ééé\n".as_bytes(), 3).await;
        assert_eq!(out, ["é", "é", "é"]);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_event_streams_get_keep_alives_and_text_streams_do_not() {
        let quiet = || futures::stream::pending::<String>();
        let mut sse = Box::pin(with_keep_alives(Format::EventStream, quiet()));
        assert_eq!(sse.next().await.as_deref(), Some(": keep-alive\n\n"));
        let mut text = Box::pin(with_keep_alives(Format::Text, quiet()));
        let next = tokio::time::timeout(KEEP_ALIVE * 3, text.next()).await;
        assert!(next.is_err(), "a text stream stays silent: {next:?}");
        // The stream ends with its lines.
        let done = with_keep_alives(
            Format::EventStream,
            futures::stream::iter(["a".to_string()]),
        );
        assert_eq!(done.collect::<Vec<_>>().await, ["a"]);
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
