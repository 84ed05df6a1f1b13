//! `GET /v1/functions/{name}/logs`: the logs of every pod of a function,
//! each line prefixed with its pod's name, streamed as `text/plain` chunks or
//! as `text/event-stream` (by `Accept`). The stream ends when every pod's log
//! ends (or, with `follow=true`, when the client goes away: dropping the
//! response drops the Kubernetes log streams).

use std::{collections::HashMap, sync::Arc};

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
    Api, ResourceExt,
};

use crate::json::ApiPath as Path;
use crate::{
    auth::TenantAuth,
    error::{ApiError, ApiResult, ErrorBody},
    AppState,
};

pub const MAX_TAIL_LINES: i64 = 10_000;

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
        container: Some("function".into()),
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
    let client = state.sync.client().await.ok_or_else(|| {
        ApiError::Unavailable("Kubernetes is not reachable; logs come from the cluster".into())
    })?;
    let pods: Api<Pod> = Api::namespaced(client, &auth.tenant.namespace());
    let list = pods
        .list(&ListParams::default().labels(&format!("{FUNCTION_LABEL}={name}")))
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot list the function's pods: {e}")))?;
    let mut streams = Vec::new();
    for pod in list.items {
        let pod_name = pod.name_any();
        let lines: BoxStream<'static, std::io::Result<String>> = match pods
            .log_stream(&pod_name, &params)
            .await
        {
            Ok(reader) => reader.lines().boxed(),
            Err(e) => futures::stream::iter([Err(std::io::Error::other(e.to_string()))]).boxed(),
        };
        streams.push((pod_name, lines));
    }
    let pod_count = streams.len();
    let body = merge(format, streams).map(Ok::<_, std::convert::Infallible>);
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
