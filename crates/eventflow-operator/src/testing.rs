//! Unit-test helpers: a client whose API server is a closure.

use std::sync::{Arc, Mutex};

use axum::body::Body as AxumBody;
use axum::http::{header, Method, Request, Response, StatusCode};
use kube::client::Body as KubeBody;
use kube::Client;

/// One request the scripted API server received.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    /// e.g. `/api/v1/namespaces/x/services/y`.
    pub path: String,
    /// e.g. `fieldManager=…&force=true`, or empty.
    pub query: String,
    pub content_type: Option<String>,
    pub body: serde_json::Value,
}

pub(crate) type Calls = Arc<Mutex<Vec<Call>>>;

type Answer = dyn Fn(&Call) -> (StatusCode, serde_json::Value) + Send + Sync;

/// A client whose every request is recorded in the returned [`Calls`] and
/// answered by `answer`. Needs a Tokio runtime.
pub(crate) fn client(
    answer: impl Fn(&Call) -> (StatusCode, serde_json::Value) + Send + Sync + 'static,
) -> (Client, Calls) {
    let calls: Calls = Arc::default();
    let answer: Arc<Answer> = Arc::new(answer);
    let recorded = calls.clone();
    let svc = tower::service_fn(move |req: Request<KubeBody>| {
        let (answer, recorded) = (answer.clone(), recorded.clone());
        async move {
            let call = read(req).await;
            let (code, body) = answer(&call);
            recorded.lock().expect("calls lock").push(call);
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .status(code)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(AxumBody::from(body.to_string()))
                    .expect("a valid response"),
            )
        }
    });
    (Client::new(svc, "default"), calls)
}

async fn read(req: Request<KubeBody>) -> Call {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(AxumBody::new(req.into_body()), usize::MAX)
        .await
        .expect("a readable request body");
    Call {
        method,
        path,
        query,
        content_type,
        body: serde_json::from_slice(&bytes).unwrap_or_default(),
    }
}

/// A client that must not be used: every request fails the test.
pub(crate) fn unused_client() -> Client {
    client(|c| panic!("unexpected call {} {}", c.method, c.path)).0
}
