//! HTTP access to the EventFlow API: one `reqwest` client, bearer auth, and
//! the mapping of transport failures and error envelopes to [`CliError`].

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::CliError;

/// Upper bound on what is read of an error response.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Per-request timeout for plain JSON calls (not for invoke and logs).
const JSON_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Envelope {
    error: Detail,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(default)]
    code: String,
    message: String,
    #[serde(default)]
    field: Option<String>,
}

/// Checks and normalises a server URL (`http(s)://host[:port][/prefix]`, no trailing slash).
pub fn normalize_url(url: &str) -> Result<String, CliError> {
    let parsed = Url::parse(url.trim()).map_err(|e| {
        CliError::Usage(format!(
            "invalid server URL {url:?}: {e} (expected e.g. http://127.0.0.1:8080)"
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(CliError::Usage(format!(
            "invalid server URL {url:?}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(CliError::Usage(format!(
            "invalid server URL {url:?}: no query or fragment allowed"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

impl Api {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, CliError> {
        let base = normalize_url(base)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("eventflow-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { base, token, http })
    }

    /// A request to `path` (starting with `/`) with the bearer token, if any.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Sends, mapping transport failures; any status comes back as is.
    pub async fn send(&self, rb: RequestBuilder) -> Result<Response, CliError> {
        rb.send().await.map_err(|e| self.transport_error(e))
    }

    /// Sends and fails on a non-success status with the server's message.
    pub async fn send_ok(&self, rb: RequestBuilder) -> Result<Response, CliError> {
        let resp = self.send(rb).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(error_from_response(resp).await)
        }
    }

    /// A JSON call: `body` serialised when given; the JSON answer, or
    /// `Value::Null` for an empty one (204).
    pub async fn json<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Value, CliError> {
        let mut rb = self.request(method, path).timeout(JSON_TIMEOUT);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = self.send(rb).await?;
        self.read_json(resp).await
    }

    /// The JSON of a response (`Value::Null` when empty), or its error.
    pub async fn read_json(&self, resp: Response) -> Result<Value, CliError> {
        if !resp.status().is_success() {
            return Err(error_from_response(resp).await);
        }
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::other(format!("the server sent invalid JSON: {e}")))
    }

    pub fn transport_error(&self, e: reqwest::Error) -> CliError {
        if e.is_connect() || e.is_timeout() {
            let reason = if e.is_timeout() {
                "timed out".to_string()
            } else {
                root_cause(&e)
            };
            CliError::Unreachable {
                url: self.base.clone(),
                reason,
            }
        } else if e.is_builder() {
            CliError::Usage(format!("invalid request: {}", root_cause(&e)))
        } else {
            CliError::other(format!(
                "request to {} failed: {}",
                self.base,
                root_cause(&e)
            ))
        }
    }
}

/// The innermost error message (e.g. "Connection refused (os error 111)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string().trim().to_string()
}

/// Reads at most `limit` bytes of a body.
pub async fn read_capped(resp: Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// The platform's error envelope, if `body` is one.
pub fn parse_envelope(status: StatusCode, body: &[u8]) -> Option<CliError> {
    let env: Envelope = serde_json::from_slice(body).ok()?;
    Some(CliError::from_status(
        status.as_u16(),
        &env.error.code,
        env.error.message,
        env.error.field,
    ))
}

/// Turns a failing response into an error, using the envelope when present.
pub async fn error_from_response(resp: Response) -> CliError {
    let status = resp.status();
    let body = read_capped(resp, ERROR_BODY_LIMIT).await;
    parse_envelope(status, &body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        let mut message = format!(
            "the server answered {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        if !text.is_empty() {
            let snippet: String = text.chars().take(200).collect();
            message.push_str(": ");
            message.push_str(&snippet);
        }
        CliError::from_status(status.as_u16(), "", message, None)
    })
}
